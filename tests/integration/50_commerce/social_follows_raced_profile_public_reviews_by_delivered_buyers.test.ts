// The shop's social side through supabase-js (001): following and unfollowing a shop, the
// follower count under 30 users following and unfollowing at once (count = rows), the
// public shop profile read anonymously, and a product review by the buyer of a delivered
// shop order (refused precisely before delivery, for a stranger and the second time).

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { activeProduct, openShop } from "../support/catalogue.ts";
import { admin, client, withDatabase } from "../support/clients.ts";

/** Runs `make` n times, at most `width` at once (signing up many users at once is not the race under test). */
async function inBatches<T>(
  n: number,
  width: number,
  make: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += width) {
    out.push(
      ...await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, j) => make(i + j))),
    );
  }
  return out;
}

/** The shop's follower_count and its follow rows, as the service role sees them. */
async function countAndRows(shopId: string): Promise<{ count: number; rows: number }> {
  const { data: shop } = await admin().from("shops").select("follower_count").eq("id", shopId)
    .single()
    .throwOnError();
  const { count } = await admin().from("shop_follows").select("*", { count: "exact", head: true })
    .eq("shop_id", shopId).throwOnError();
  return { count: shop!.follower_count, rows: count ?? -1 };
}

describe("shop follows and the public shop profile", () => {
  let seller: TestUser;
  let fan: TestUser;
  let stranger: TestUser;

  beforeAll(async () => {
    [seller, fan, stranger] = await Promise.all([
      openShop("so-seller"),
      signUp("so-fan"),
      signUp("so-stranger"),
    ]);
    await activeProduct(seller, { title: "Social vase", price: 1200 }, 3);
  });

  it("follows once however often asked, lists the user's shops, shows followers to the seller only", async () => {
    const first = await fan.client.rpc("follow_shop", { shop_id: seller.id });
    expect(first.error).toBeNull();
    expect(first.data).toMatchObject({ user_id: fan.id, shop_id: seller.id });
    const again = await fan.client.rpc("follow_shop", { shop_id: seller.id });
    expect(again.data?.created_at).toBe(first.data?.created_at);
    expect(await countAndRows(seller.id)).toEqual({ count: 1, rows: 1 });

    const mine = await fan.client.from("shop_follows")
      .select("created_at, shop:shop_profiles(id, shop_name, follower_count)")
      .eq("user_id", fan.id).order("created_at", { ascending: false });
    expect(mine.error).toBeNull();
    expect(mine.data).toEqual([{
      created_at: first.data?.created_at,
      shop: { id: seller.id, shop_name: "so-seller shop", follower_count: 1 },
    }]);

    const followers = await seller.client.from("shop_follows").select("user_id").eq(
      "shop_id",
      seller.id,
    );
    expect(followers.data).toEqual([{ user_id: fan.id }]);
    const seen = await stranger.client.from("shop_follows").select("user_id").eq(
      "shop_id",
      seller.id,
    );
    expect(seen.data).toEqual([]);

    const own = await seller.client.rpc("follow_shop", { shop_id: seller.id });
    expect(own).toMatchObject({
      status: 409,
      error: { code: "PT409", message: "you cannot follow your own shop" },
    });
    const anon = await client().rpc("follow_shop", { shop_id: seller.id });
    expect(anon.status).toBe(401);
    expect(anon.error?.code).toBe("42501");

    expect((await fan.client.rpc("unfollow_shop", { shop_id: seller.id })).data).toBe(true);
    expect((await fan.client.rpc("unfollow_shop", { shop_id: seller.id })).data).toBe(false);
    expect(await countAndRows(seller.id)).toEqual({ count: 0, rows: 0 });
  });

  it("keeps the count equal to the rows under 30 users following and unfollowing at once", async () => {
    const users = await inBatches(30, 10, (i) => signUp(`so-race-${i}`));
    // Everyone follows twice at once: 60 concurrent calls, 30 follows.
    const follows = await Promise.all(
      users.flatMap((u) => [u, u]).map((u) => u.client.rpc("follow_shop", { shop_id: seller.id })),
    );
    expect(follows.filter((r) => r.error)).toEqual([]);
    expect(await countAndRows(seller.id)).toEqual({ count: 30, rows: 30 });

    // Then at once: the first 15 unfollow (twice each), the other 15 follow again and
    // unfollow-follow, in whatever order the server runs them.
    const mixed = await Promise.all(
      users.flatMap((u, i) =>
        i < 15
          ? [
            u.client.rpc("unfollow_shop", { shop_id: seller.id }),
            u.client.rpc("unfollow_shop", { shop_id: seller.id }),
          ]
          : [
            u.client.rpc("follow_shop", { shop_id: seller.id }),
            u.client.rpc("unfollow_shop", { shop_id: seller.id }),
            u.client.rpc("follow_shop", { shop_id: seller.id }),
          ]
      ),
    );
    expect(mixed.filter((r) => r.error)).toEqual([]);
    const after = await countAndRows(seller.id);
    expect(after.count).toBe(after.rows);
    expect(after.rows).toBeGreaterThanOrEqual(0);
    expect(after.rows).toBeLessThanOrEqual(15);
  });

  it("shows the shop's public profile to anyone, anon included", async () => {
    const { count } = await countAndRows(seller.id);
    const { data, error } = await client().from("shop_profiles")
      .select(
        "id, shop_name, logo_path, rating_avg, review_count, follower_count, product_count, created_at",
      )
      .eq("id", seller.id).single();
    expect(error).toBeNull();
    expect(data).toMatchObject({
      id: seller.id,
      shop_name: "so-seller shop",
      logo_path: null,
      rating_avg: null,
      review_count: 0,
      follower_count: count,
      product_count: 1,
    });
  });
});

describe("product reviews by buyers of a delivered shop order", () => {
  let seller: TestUser;
  let buyer: TestUser;
  let stranger: TestUser;
  let product: string;
  let orderId: string;

  const moveOrder = (to: string, actor: string) =>
    withDatabase((db) =>
      db.query("select private.transition_shop_order($1, $2, $3)", [orderId, to, actor])
    );

  beforeAll(async () => {
    [seller, buyer, stranger] = await Promise.all([
      openShop("pr-seller"),
      signUp("pr-buyer"),
      signUp("pr-stranger"),
    ]);
    product = await activeProduct(seller, { title: "Reviewed lamp", price: 4000 }, 5);
    const { data: address } = await buyer.client.from("addresses").insert({
      full_name: "Review Buyer",
      address_line1: "1 Main St",
      city: "New York",
      country_code: "US",
    }).select("id").single().throwOnError();
    await buyer.client.rpc("add_cart_item", { product_id: product, quantity: 1 }).throwOnError();
    const { data: checkout } = await buyer.client.rpc("checkout_cart", { address_id: address!.id })
      .throwOnError();
    const { data: order } = await buyer.client.from("shop_orders").select("id").eq(
      "checkout_id",
      checkout!.id,
    )
      .single().throwOnError();
    orderId = order!.id;
    // Payment and fulfilment have their own tests: here the order is moved as they would.
    await moveOrder("paid", "system");
    await moveOrder("shipped", "seller");
  });

  it("opens reviews once the order is delivered, once per buyer, to buyers only", async () => {
    const early = await buyer.client.rpc("review_product", { product_id: product, rating: 5 });
    expect(early).toMatchObject({
      status: 409,
      error: {
        code: "PT409",
        message:
          `your shop order ${orderId} of product ${product} is shipped: reviews open once it is delivered`,
      },
    });
    await moveOrder("delivered", "seller");

    const review = await buyer.client.rpc("review_product", {
      product_id: product,
      rating: 5,
      body: "Bright",
    });
    expect(review.error).toBeNull();
    expect(review.data).toMatchObject({
      author_id: buyer.id,
      shop_id: seller.id,
      shop_order_id: orderId,
      rating: 5,
    });

    const second = await buyer.client.rpc("review_product", { product_id: product, rating: 1 });
    expect(second).toMatchObject({ status: 409, error: { code: "23505" } });
    const outsider = await stranger.client.rpc("review_product", {
      product_id: product,
      rating: 1,
    });
    expect(outsider).toMatchObject({
      status: 403,
      error: {
        code: "42501",
        message: `only a buyer of a delivered order of product ${product} may review it`,
      },
    });
    const bad = await buyer.client.rpc("review_product", { product_id: product, rating: 6 });
    expect(bad).toMatchObject({ status: 400, error: { code: "22023" } });

    const edit = await buyer.client.from("product_reviews").update({ rating: 4 }).eq(
      "id",
      review.data!.id,
    )
      .select("rating, edited_at").single();
    expect(edit.error).toBeNull();
    expect(edit.data?.rating).toBe(4);
    expect(edit.data?.edited_at).not.toBeNull();
  });

  it("shows the review and the ratings to anyone", async () => {
    const anon = client();
    const reviews = await anon.from("product_reviews").select("rating, body").eq(
      "product_id",
      product,
    );
    expect(reviews.data).toEqual([{ rating: 4, body: "Bright" }]);
    const stats = await anon.from("product_review_stats").select("review_count, rating_avg").eq(
      "product_id",
      product,
    )
      .single();
    expect(stats.data).toEqual({ review_count: 1, rating_avg: 4 });
    const profile = await anon.from("shop_profiles").select("rating_avg, review_count").eq(
      "id",
      seller.id,
    ).single();
    expect(profile.data).toEqual({ rating_avg: 4, review_count: 1 });
  });
});
