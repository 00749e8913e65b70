// Paying a shop checkout through supabase-js, the functions and the Stripe stand-in: a cart with
// items of two shops is paid with ONE Checkout Session (a second call returns it; another user
// gets 404), completed at the stand-in; the webhook marks the checkout and both shop orders
// paid, consumes the stock and makes two transfers (each seller's total less commission: the
// platform default for one, a shop rule for the other) in the checkout's transfer group; the
// completion delivered again changes nothing. An expired session expires its checkout (stock
// released); a payment after the checkout expired is refunded in full. The seller ships and
// delivers a paid order; a stranger cannot.

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { activeProduct, openShop } from "../support/catalogue.ts";
import { admin, withDatabase } from "../support/clients.ts";
import { available, buyerWithAddress, onboard, pay } from "../support/shop_payments.ts";
import { drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";

describe("paying a shop checkout", () => {
  let sellerA: TestUser;
  let sellerB: TestUser;
  let accountA: string;
  let accountB: string;
  let lamp: string;
  let mug: string;

  beforeAll(async () => {
    [sellerA, sellerB] = await Promise.all([openShop("pay-seller-a"), openShop("pay-seller-b")]);
    [accountA, accountB] = [await onboard(sellerA), await onboard(sellerB)];
    [lamp, mug] = await Promise.all([
      activeProduct(sellerA, { title: "Paid lamp", price: 2500 }, 50),
      activeProduct(sellerB, { title: "Paid mug", price: 1999 }, 50),
    ]);
    // Seller B's shop pays 5% (a shop rule); seller A the platform default.
    await admin().from("commission_rules").insert({ shop_id: sellerB.id, rate_bps: 500 })
      .throwOnError();
  });

  it("pays two shops with one session and splits it into two transfers less commission, once", async () => {
    const { buyer, addressId } = await buyerWithAddress("pay-buyer");
    await buyer.client.rpc("add_cart_item", { product_id: lamp, quantity: 2 }).throwOnError();
    await buyer.client.rpc("add_cart_item", { product_id: mug }).throwOnError();
    const { data: checkout } = await buyer.client.rpc("checkout_cart", { address_id: addressId })
      .throwOnError();
    const lampBefore = await available(lamp);

    const stranger = await signUp("pay-stranger");
    const refused = await pay(stranger, checkout!.id);
    expect(refused.status).toBe(404);
    expect(refused.body.error.code).toBe("not_found");

    const first = await pay(buyer, checkout!.id);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const again = await pay(buyer, checkout!.id);
    expect(again.status).toBe(200);
    expect(again.body.checkout_session_id).toBe(first.body.checkout_session_id);

    const stripe = stripeSdk();
    const session = await stripe.checkout.sessions.retrieve(first.body.checkout_session_id, {
      expand: ["line_items"],
    });
    expect(session.amount_total).toBe(checkout!.total);
    expect(session.metadata).toMatchObject({ checkout_id: checkout!.id });
    expect(session.line_items!.data).toHaveLength(2);

    const completed = await stripeControl(
      `checkout/sessions/${first.body.checkout_session_id}/complete`,
      { outcome: "paid" },
    );
    expect(completed.status, JSON.stringify(completed.body)).toBe(200);
    await drainWebhooks();

    const { data: paid } = await buyer.client.from("checkouts")
      .select(
        "status, shop_orders(id, shop_id, status, total, commission_amount, shop_order_items(line_total))",
      )
      .eq("id", checkout!.id).single().throwOnError();
    expect(paid!.status).toBe("paid");
    expect(paid!.shop_orders.map((o) => o.status)).toEqual(["paid", "paid"]);
    const byShop = new Map(paid!.shop_orders.map((o) => [o.shop_id, o]));
    const orderA = byShop.get(sellerA.id)!;
    const orderB = byShop.get(sellerB.id)!;
    // Commission per line, half up: 10% of 5000 (default) and 5% of 1999 (shop rule).
    expect(orderA.commission_amount).toBe(500);
    expect(orderB.commission_amount).toBe(100);
    expect(await available(lamp)).toBe(lampBefore); // reserved units are now sold: available unchanged
    const { data: level } = await admin().from("inventory_levels").select("on_hand, reserved")
      .eq("product_id", lamp).single().throwOnError();
    expect(level).toEqual({ on_hand: 48, reserved: 0 });

    const transfers = await stripe.transfers.list({ transfer_group: `checkout_${checkout!.id}` });
    expect(transfers.data.map((t) => [t.destination, t.amount]).sort()).toEqual(
      [[accountA, orderA.total - 500], [accountB, orderB.total - 100]].sort(),
    );
    expect(transfers.data.every((t) => t.source_transaction === completed.body.charge.id)).toBe(
      true,
    );

    // The completion again: one more delivery of the same event, and nothing moves twice.
    const event = (completed.body.events as string[]).at(-1)!;
    const redelivered = await stripeControl(`events/${event}/deliver`, {});
    expect(redelivered.status, JSON.stringify(redelivered.body)).toBe(200);
    await drainWebhooks();
    const after = await stripe.transfers.list({ transfer_group: `checkout_${checkout!.id}` });
    expect(after.data).toHaveLength(2);
    const { data: reservations } = await admin().from("stock_reservations").select("id, status")
      .eq("reference", `checkout:${checkout!.id}`).throwOnError();
    expect(reservations!.map((r) => r.status)).toEqual(["consumed", "consumed"]);
    const { data: sales } = await admin().from("stock_moves").select("id").eq("kind", "sale")
      .in("reference", reservations!.map((r) => `reservation:${r.id}`)).throwOnError();
    expect(sales).toHaveLength(2); // one per product, once

    // The book: the checkout's escrow emptied into the sellers' transfers and the commission.
    const balances = await withDatabase(async (db) =>
      (await db.query(
        `select private.checkout_ledger_balance('escrow', 'USD', $1) as escrow,
                private.checkout_ledger_balance('buyer_funding', 'USD', $1) as funding,
                (select count(*) from public.ledger_transactions t
                  where t.idempotency_key in ('shop_transfer:' || $2, 'shop_transfer:' || $3)) as transfers`,
        [checkout!.id, orderA.id, orderB.id],
      )).rows[0]
    );
    expect(balances).toEqual({ escrow: "0", funding: String(-checkout!.total), transfers: "2" });

    // The buyer's payments list.
    const { data: payments } = await buyer.client.from("my_shop_payments").select("status, amount")
      .eq("checkout_id", checkout!.id).throwOnError();
    expect(payments).toEqual([{ status: "paid", amount: checkout!.total }]);
    const { data: theirs } = await stranger.client.from("my_shop_payments").select("id")
      .eq("checkout_id", checkout!.id).throwOnError();
    expect(theirs).toEqual([]);

    // Fulfilment: the seller ships and delivers; a stranger is refused, the buyer too.
    const denied = await stranger.client.rpc("ship_shop_order", {
      order_id: orderA.id,
      carrier: "UPS",
      tracking_number: "1Z999",
    });
    expect(denied.error).toMatchObject({ code: "PT404" });
    const byBuyer = await buyer.client.rpc("deliver_shop_order", { order_id: orderA.id });
    expect(byBuyer.error).toMatchObject({
      code: "42501",
      message: `only the seller of shop order ${orderA.id} or staff may do this`,
    });
    const { data: shipped } = await sellerA.client.rpc("ship_shop_order", {
      order_id: orderA.id,
      carrier: "UPS",
      tracking_number: "1Z999",
      tracking_url: "https://www.ups.com/track?tracknum=1Z999",
    }).throwOnError();
    expect(shipped).toMatchObject({ status: "shipped", carrier: "UPS", tracking_number: "1Z999" });
    const { data: delivered } = await sellerA.client.rpc("deliver_shop_order", {
      order_id: orderA.id,
    })
      .throwOnError();
    expect(delivered).toMatchObject({ status: "delivered" });
  });

  it("expires the checkout when its session expires, releasing the stock", async () => {
    const { buyer } = await buyerWithAddress("pay-expiring");
    const { data: checkout } = await buyer.client.rpc("place_order", {
      items: [{ product_id: mug, quantity: 3 }],
      address_id: (await buyer.client.from("addresses").select("id").single()).data!.id,
    }).throwOnError();
    const held = await available(mug);
    const started = await pay(buyer, checkout!.id);
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    await stripeSdk().checkout.sessions.expire(started.body.checkout_session_id);
    await drainWebhooks();
    const { data } = await buyer.client.from("checkouts").select("status").eq("id", checkout!.id)
      .single().throwOnError();
    expect(data!.status).toBe("expired");
    expect(await available(mug)).toBe(held + 3);
    const again = await pay(buyer, checkout!.id);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toBe(
      `checkout ${checkout!.id} is expired: only a checkout awaiting payment can be paid`,
    );
  });

  it("refunds in full a payment that arrives after its checkout expired", async () => {
    const { buyer, addressId } = await buyerWithAddress("pay-late");
    const { data: checkout } = await buyer.client.rpc("place_order", {
      items: [{ product_id: lamp, quantity: 1 }],
      address_id: addressId,
    }).throwOnError();
    const started = await pay(buyer, checkout!.id);
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    await withDatabase((db) => db.query("select private.expire_checkout($1)", [checkout!.id]));
    const completed = await stripeControl(
      `checkout/sessions/${started.body.checkout_session_id}/complete`,
      { outcome: "paid" },
    );
    expect(completed.status).toBe(200);
    await drainWebhooks();
    const { data: payment } = await buyer.client.from("shop_payments")
      .select("status, amount_refunded, late_payment_reason").eq("checkout_id", checkout!.id)
      .single().throwOnError();
    expect(payment).toEqual({
      status: "refunded",
      amount_refunded: checkout!.total,
      late_payment_reason: "paid after the checkout was expired: its stock had been released",
    });
    const refunds = await stripeSdk().refunds.list({
      payment_intent: completed.body.payment_intent.id,
    });
    expect(refunds.data.map((r) => r.amount)).toEqual([checkout!.total]);
    const { data: orders } = await admin().from("shop_orders").select("status")
      .eq("checkout_id", checkout!.id).throwOnError();
    expect(orders!.map((o) => o.status)).toEqual(["cancelled"]);
  });
});
