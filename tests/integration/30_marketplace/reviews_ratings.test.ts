import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { client } from "../support/clients.ts";
import { completeOrder, publishService } from "../support/marketplace.ts";

describe("reviews and ratings (000) through supabase-js", () => {
  let seller: TestUser;
  let buyer: TestUser;
  let stranger: TestUser;
  let packageId: string;
  let orderId: string;

  const orderPackage = async (who: TestUser) => {
    const { data, error } = await who.client.rpc("order_service_package", {
      package_id: packageId,
    });
    if (error) throw error;
    return data.id;
  };

  beforeAll(async () => {
    [seller, buyer, stranger] = await Promise.all([
      signUp("rv-seller"),
      signUp("rv-buyer"),
      signUp("rv-stranger"),
    ]);
    ({ packageId } = await publishService(seller, {
      title: "Trouser hemming",
      category: "alterations",
      tags: [`run-${randomUUID().slice(0, 8)}`],
    }));
    orderId = await orderPackage(buyer);
  });

  it("opens reviews only once the order is completed", async () => {
    const early = await buyer.client.rpc("review_order", { order_id: orderId, rating: 5 });
    expect(early).toMatchObject({ status: 409, error: { code: "PT409" } });
    await completeOrder(orderId, seller, buyer);
    const { data } = await buyer.client.from("orders").select("status").eq("id", orderId).single();
    expect(data).toEqual({ status: "completed" });
  });

  it("lets each party review the other once, with author and subject derived", async () => {
    const mine = await buyer.client.rpc("review_order", {
      order_id: orderId,
      rating: 5,
      comment: "Sharp work",
    });
    expect(mine.error).toBeNull();
    expect(mine.data).toMatchObject({
      author_id: buyer.id,
      subject_id: seller.id,
      author_role: "buyer",
      rating: 5,
    });

    expect((await buyer.client.rpc("review_order", { order_id: orderId, rating: 1 })).error?.code)
      .toBe("23505");
    expect(
      (await stranger.client.rpc("review_order", { order_id: orderId, rating: 1 })).error?.code,
    ).toBe("PT404");
    expect((await buyer.client.rpc("review_order", { order_id: orderId, rating: 0 })).error?.code)
      .toBe("23514");
    // No direct inserts, so no way to name the subject (or review yourself).
    const direct = await buyer.client.from("reviews").insert({
      order_id: orderId,
      rating: 5,
      subject_id: buyer.id,
      author_role: "seller",
    });
    expect(direct.error?.code).toBe("42501");

    const theirs = await seller.client.rpc("review_order", { order_id: orderId, rating: 4 });
    expect(theirs.data?.subject_id).toBe(buyer.id);
  });

  it("shows reviews and the aggregates to anyone", async () => {
    const anon = client();
    const list = await anon
      .from("reviews")
      .select("rating, comment, author_role")
      .eq("subject_id", seller.id)
      .order("created_at", { ascending: false });
    expect(list.data).toEqual([{ rating: 5, comment: "Sharp work", author_role: "buyer" }]);
    const profile = await anon.from("public_profiles").select("rating_avg, review_count").eq(
      "id",
      seller.id,
    ).single();
    expect(profile.data).toEqual({ rating_avg: 5, review_count: 1 });
  });

  it("lets the author edit but not hide, and nobody else edit", async () => {
    const edit = await buyer.client.from("reviews").update({ rating: 4 }).eq(
      "subject_id",
      seller.id,
    ).select("rating, edited_at").single();
    expect(edit.data?.rating).toBe(4);
    expect(edit.data?.edited_at).not.toBeNull();
    expect(
      (await buyer.client.from("reviews").update({ is_hidden: true } as never).eq(
        "subject_id",
        seller.id,
      )).error?.code,
    ).toBe("42501");
    const bySubject = await seller.client.from("reviews").update({ rating: 5 }).eq(
      "subject_id",
      seller.id,
    ).select();
    expect(bySubject.data).toEqual([]);
    expect(
      (await buyer.client.rpc("moderate_review", { review_id: orderId, hidden: true, reason: "x" }))
        .error?.code,
    ).toBe("42501");
  });

  it("keeps the aggregates exact under concurrent reviews", async () => {
    const buyers = await Promise.all(
      Array.from({ length: 4 }, (_, i) => signUp(`rv-concurrent-${i}`)),
    );
    const orders = await Promise.all(buyers.map(orderPackage));
    for (const [i, id] of orders.entries()) await completeOrder(id, seller, buyers[i]);

    const ratings = [1, 2, 3, 5];
    const results = await Promise.all(
      buyers.map((b, i) =>
        b.client.rpc("review_order", { order_id: orders[i], rating: ratings[i] })
      ),
    );
    expect(results.map((r) => r.error)).toEqual([null, null, null, null]);

    // 4 (the first buyer's edited review) + 1 + 2 + 3 + 5 = 15 over 5
    const profile = await client().from("public_profiles").select("rating_avg, review_count").eq(
      "id",
      seller.id,
    ).single();
    expect(profile.data).toEqual({ rating_avg: 3, review_count: 5 });
  });
});
