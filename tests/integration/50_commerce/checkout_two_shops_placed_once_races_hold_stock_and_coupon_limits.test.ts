// The checkout through supabase-js: a buyer's cart with items of two shops is previewed and
// placed into one checkout with two shop orders (each seller reads only theirs); a checkout
// submitted twice at once places one set of orders; 50 buyers racing for the last 10 units
// get exactly 10 checkouts, the others the precise refusal and nothing reserved; 20
// checkouts racing a coupon with 5 uses redeem it exactly 5 times.

import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { activeProduct, openShop } from "../support/catalogue.ts";
import { admin, withDatabase } from "../support/clients.ts";

/** A new buyer with a US address; returns the buyer and the address id. */
async function buyerWithAddress(label: string): Promise<{ buyer: TestUser; addressId: string }> {
  const buyer = await signUp(label);
  const { data } = await buyer.client.from("addresses").insert({
    full_name: "Test Buyer",
    address_line1: "1 Main St",
    city: "New York",
    country_code: "US",
  }).select("id").single().throwOnError();
  return { buyer, addressId: data!.id };
}

/** Runs `make` n times, at most `width` at once (signing up 50 users at once is not the race under test). */
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

describe("checkout of a cart with two shops", () => {
  let sellerA: TestUser;
  let sellerB: TestUser;
  let lamp: string;
  let mug: string;

  beforeAll(async () => {
    [sellerA, sellerB] = await Promise.all([openShop("co-seller-a"), openShop("co-seller-b")]);
    [lamp, mug] = await Promise.all([
      activeProduct(sellerA, { title: "Checkout lamp", price: 2500 }, 100),
      activeProduct(sellerB, { title: "Checkout mug", price: 1999 }, 100),
    ]);
  });

  it("previews and places one checkout with one order per shop, read by each party", async () => {
    const { buyer, addressId } = await buyerWithAddress("co-buyer");
    await buyer.client.rpc("add_cart_item", { product_id: lamp, quantity: 2 }).throwOnError();
    await buyer.client.rpc("add_cart_item", { product_id: mug }).throwOnError();

    const { data: preview } = await buyer.client.rpc("preview_checkout", { address_id: addressId })
      .throwOnError();
    const p = preview as Record<string, number> & {
      shops: { shop_id: string; shipping: number; total: number }[];
    };
    expect(p.items_subtotal).toBe(6999);
    // The catalogue fixture's rate: 500 for the first item, 100 for each more, everywhere.
    expect(p.shipping_total).toBe(600 + 500);
    expect(p.shops.map((s) => s.shop_id).sort()).toEqual([sellerA.id, sellerB.id].sort());
    expect(p.total).toBe(p.items_subtotal - p.discount_total + p.shipping_total + p.tax_total);

    const { data: checkout } = await buyer.client.rpc("checkout_cart", { address_id: addressId })
      .throwOnError();
    expect(checkout).toMatchObject({ status: "awaiting_payment", total: p.total, currency: "USD" });

    const { data: orders } = await buyer.client.from("shop_orders")
      .select("shop_id, status, total, shop_order_items(title, quantity, unit_price)")
      .eq("checkout_id", checkout!.id).order("total").throwOnError();
    expect(orders!.map((o) => o.shop_id).sort()).toEqual([sellerA.id, sellerB.id].sort());
    expect(orders!.reduce((sum, o) => sum + o.total, 0)).toBe(p.total);
    expect(
      orders!.flatMap((o) => o.shop_order_items.map((i) => `${i.title} x${i.quantity}`)).sort(),
    )
      .toEqual(["Checkout lamp x2", "Checkout mug x1"]);

    const { data: cart } = await buyer.client.rpc("get_cart").throwOnError();
    expect((cart as { items: unknown[] }).items).toEqual([]);

    const { data: seen } = await sellerA.client.from("shop_orders").select("shop_id").eq(
      "checkout_id",
      checkout!.id,
    )
      .throwOnError();
    expect(seen).toEqual([{ shop_id: sellerA.id }]);
    const { data: groups } = await sellerA.client.from("checkouts").select("id").eq(
      "id",
      checkout!.id,
    ).throwOnError();
    expect(groups).toEqual([]);

    // History with a status filter and a page.
    const page = await buyer.client.from("shop_orders").select("id", { count: "exact" })
      .eq("status", "awaiting_payment").order("created_at", { ascending: false }).range(0, 0);
    expect(page.error).toBeNull();
    expect(page.count).toBe(2);
    expect(page.data).toHaveLength(1);
  });

  it("places one set of orders when the checkout is submitted twice at once", async () => {
    const { buyer, addressId } = await buyerWithAddress("co-double");
    await buyer.client.rpc("add_cart_item", { product_id: lamp }).throwOnError();
    await buyer.client.rpc("add_cart_item", { product_id: mug }).throwOnError();
    const [first, second] = await Promise.all([
      buyer.client.rpc("checkout_cart", { address_id: addressId }),
      buyer.client.rpc("checkout_cart", { address_id: addressId }),
    ]);
    expect(first.error).toBeNull();
    expect(second.error).toBeNull();
    expect(second.data!.id).toBe(first.data!.id);
    const { count: checkouts } = await admin().from("checkouts").select("id", {
      count: "exact",
      head: true,
    })
      .eq("buyer_id", buyer.id);
    const { count: orders } = await admin().from("shop_orders").select("id", {
      count: "exact",
      head: true,
    })
      .eq("buyer_id", buyer.id);
    expect([checkouts, orders]).toEqual([1, 2]);
    const { data: reservations } = await admin().from("stock_reservations").select("quantity")
      .eq("reference", `checkout:${first.data!.id}`);
    expect(reservations).toHaveLength(2);

    // place_order with one idempotency key, twice at once: one checkout.
    const key = randomUUID();
    const body = {
      items: [{ product_id: mug, quantity: 1 }],
      address_id: addressId,
      idempotency_key: key,
    };
    const [a, b] = await Promise.all([
      buyer.client.rpc("place_order", body),
      buyer.client.rpc("place_order", body),
    ]);
    expect(a.error).toBeNull();
    expect(b.data!.id).toBe(a.data!.id);
  });

  it("sells the last 10 units to exactly 10 of 50 racing buyers, telling the others precisely", async () => {
    const seller = await openShop("co-race-stock");
    const scarce = await activeProduct(seller, { title: "Last ten", price: 1000 }, 10);
    const buyers = await inBatches(50, 10, async (i) => {
      const b = await buyerWithAddress(`co-racer-${i}`);
      await b.buyer.client.rpc("add_cart_item", { product_id: scarce }).throwOnError();
      return b;
    });
    const results = await Promise.all(
      buyers.map(({ buyer, addressId }) =>
        buyer.client.rpc("checkout_cart", { address_id: addressId })
      ),
    );
    const won = results.filter((r) => r.error === null);
    const lost = results.filter((r) => r.error !== null);
    expect(won).toHaveLength(10);
    expect(new Set(lost.map((r) => `${r.error!.code} ${r.error!.message}`)))
      .toEqual(new Set([`PT409 product ${scarce} has only 0 available, 1 requested`]));

    const { data: level } = await admin().from("inventory_levels").select(
      "on_hand, reserved, available",
    )
      .eq("product_id", scarce).single().throwOnError();
    expect(level).toEqual({ on_hand: 10, reserved: 10, available: 0 });
    const { count: held } = await admin().from("stock_reservations").select("id", {
      count: "exact",
      head: true,
    })
      .eq("product_id", scarce).eq("status", "active");
    expect(held).toBe(10);
    const { count: orders } = await admin().from("shop_orders").select("id", {
      count: "exact",
      head: true,
    })
      .eq("shop_id", seller.id);
    expect(orders).toBe(10);
    // The losers keep their carts.
    const { data: cart } = await buyers[results.indexOf(lost[0])].buyer.client.rpc("get_cart")
      .throwOnError();
    expect((cart as { items: unknown[] }).items).toHaveLength(1);
  });

  it("redeems a coupon with 5 uses exactly 5 times among 20 racing checkouts", async () => {
    const code = `RACE5${randomUUID().slice(0, 6)}`.toUpperCase().replace(/[^A-Z0-9]/g, "");
    await admin().from("coupons").insert({
      code,
      kind: "percentage",
      percent_bps: 1000,
      usage_limit: 5,
    }).throwOnError();
    const buyers = await inBatches(20, 10, async (i) => {
      const b = await buyerWithAddress(`co-coupon-${i}`);
      await b.buyer.client.rpc("add_cart_item", { product_id: mug }).throwOnError();
      return b;
    });
    const results = await Promise.all(
      buyers.map(({ buyer, addressId }) =>
        buyer.client.rpc("checkout_cart", { address_id: addressId, coupon_code: code })
      ),
    );
    expect(results.filter((r) => r.error === null)).toHaveLength(5);
    expect(
      new Set(results.filter((r) => r.error).map((r) => `${r.error!.code} ${r.error!.message}`)),
    )
      .toEqual(new Set([`PT409 coupon ${code} has been used 5 times, its usage limit`]));
    const { data: coupon } = await admin().from("coupons").select("id, times_used").eq("code", code)
      .single().throwOnError();
    expect(coupon!.times_used).toBe(5);
    const { count } = await admin().from("coupon_redemptions").select("id", {
      count: "exact",
      head: true,
    })
      .eq("coupon_id", coupon!.id);
    expect(count).toBe(5);
  });

  it("releases the stock and the coupon of a checkout left unpaid, through the scheduled job", async () => {
    const { buyer, addressId } = await buyerWithAddress("co-expiry");
    const code = `EXP${randomUUID().slice(0, 8)}`.toUpperCase().replace(/[^A-Z0-9]/g, "");
    await admin().from("coupons").insert({
      code,
      kind: "fixed",
      amount: 100,
      currency: "USD",
      usage_limit: 1,
    }).throwOnError();
    await buyer.client.rpc("add_cart_item", { product_id: lamp, quantity: 3 }).throwOnError();
    const before = await admin().from("inventory_levels").select("reserved").eq("product_id", lamp)
      .single().throwOnError();
    const { data: checkout } = await buyer.client.rpc("checkout_cart", {
      address_id: addressId,
      coupon_code: code,
    })
      .throwOnError();
    // The payment window passes (no API moves a clock).
    await withDatabase((db) =>
      db.query(
        "update public.checkouts set expires_at = now() - interval '1 second' where id = $1",
        [checkout!.id],
      )
    );
    await admin().schema("ops").rpc("run_scheduled_job", { job_name: "commerce-expire-checkouts" })
      .throwOnError();

    const { data: after } = await buyer.client.from("checkouts").select(
      "status, shop_orders(status)",
    )
      .eq("id", checkout!.id).single().throwOnError();
    expect(after).toEqual({ status: "expired", shop_orders: [{ status: "cancelled" }] });
    const level = await admin().from("inventory_levels").select("reserved").eq("product_id", lamp)
      .single().throwOnError();
    expect(level.data!.reserved).toBe(before.data!.reserved);
    const { data: coupon } = await admin().from("coupons").select("times_used").eq("code", code)
      .single().throwOnError();
    expect(coupon!.times_used).toBe(0);
    const { data: valid } = await buyer.client.rpc("validate_coupon", { code }).throwOnError();
    expect(valid).toMatchObject({ code, uses_left: 1 });
  });
});
