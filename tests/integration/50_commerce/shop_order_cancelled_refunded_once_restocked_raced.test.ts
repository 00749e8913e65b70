// Cancelling and refunding paid shop orders through commerce-refund and the Stripe stand-in: the
// buyer cancels a paid order before shipment: the seller's transfer is reversed for their share,
// the buyer refunded in full, the stock restocked, the ledger balanced, the coupon of a wholly
// cancelled checkout released; 5 concurrent cancellations give one refund (the others 409 or the
// same refund). Staff refund part of a shipped order; the buyer cannot cancel it; a stranger
// gets 404.

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { activeProduct, openShop } from "../support/catalogue.ts";
import { admin, callFunction, withDatabase } from "../support/clients.ts";
import { available, buyerWithAddress, onboard, payAndComplete } from "../support/shop_payments.ts";
import { drainWebhooks, stripeSdk } from "../support/stripe.ts";

describe("cancelling and refunding shop orders", () => {
  let seller: TestUser;
  let account: string;
  let vase: string;

  beforeAll(async () => {
    seller = await openShop("refund-seller");
    account = await onboard(seller);
    vase = await activeProduct(seller, { title: "Refund vase", price: 4000 }, 20);
  });

  async function paidOrder(label: string) {
    const { buyer, addressId } = await buyerWithAddress(label);
    const { data: checkout } = await buyer.client.rpc("place_order", {
      items: [{ product_id: vase, quantity: 2 }],
      address_id: addressId,
    }).throwOnError();
    const completed = await payAndComplete(buyer, checkout!.id);
    const { data: order } = await buyer.client.from("shop_orders")
      .select("id, total, commission_amount, status").eq("checkout_id", checkout!.id).single()
      .throwOnError();
    expect(order!.status).toBe("paid");
    return {
      buyer,
      checkout: checkout!,
      order: order!,
      paymentIntent: completed.payment_intent.id as string,
    };
  }

  it("cancels a paid order once under 5 concurrent requests: reversal, refund, restock, ledger", async () => {
    const { buyer, checkout, order, paymentIntent } = await paidOrder("refund-buyer");
    const before = await available(vase);

    const stranger = await signUp("refund-stranger");
    const notFound = await callFunction(stranger.client, "commerce-refund", {
      shop_order_id: order.id,
    });
    expect(notFound.status).toBe(404);
    expect(notFound.body.error.message).toBe(`shop order ${order.id} not found`);

    const answers = await Promise.all(
      Array.from(
        { length: 5 },
        () => callFunction(buyer.client, "commerce-refund", { shop_order_id: order.id }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201), JSON.stringify(answers.map((a) => a.body)))
      .toHaveLength(1);
    for (const a of answers.filter((x) => x.status === 409)) {
      expect(a.body.error.message).toBe(`a refund of shop order ${order.id} is in progress`);
    }
    expect(statuses.every((s) => s === 201 || s === 200 || s === 409)).toBe(true);
    const again = await callFunction(buyer.client, "commerce-refund", { shop_order_id: order.id });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ already_refunded: true, amount: order.total });

    const stripe = stripeSdk();
    const refunds = await stripe.refunds.list({ payment_intent: paymentIntent });
    expect(refunds.data.map((r) => r.amount)).toEqual([order.total]);
    const transfers = await stripe.transfers.list({ transfer_group: `checkout_${checkout.id}` });
    expect(transfers.data).toHaveLength(1);
    expect(transfers.data[0].destination).toBe(account);
    expect(transfers.data[0].amount_reversed).toBe(order.total - order.commission_amount!);

    const { data: cancelled } = await buyer.client.from("shop_orders").select("status")
      .eq("id", order.id).single().throwOnError();
    expect(cancelled!.status).toBe("cancelled");
    expect(await available(vase)).toBe(before + 2);

    await drainWebhooks();
    const book = await withDatabase(async (db) =>
      (await db.query(
        `select private.checkout_ledger_balance('refunds', 'USD', $1) as refunds,
                private.checkout_ledger_balance('escrow', 'USD', $1) as escrow,
                (select count(*) from public.ledger_transactions where idempotency_key like 'shop_refund:%'
                    and idempotency_key in (select 'shop_refund:' || id from public.shop_refunds where shop_order_id = $2)) as postings`,
        [checkout.id, order.id],
      )).rows[0]
    );
    expect(book).toEqual({ refunds: String(order.total), escrow: "0", postings: "1" });
    const { data: payment } = await buyer.client.from("my_shop_payments").select(
      "status, amount_refunded",
    )
      .eq("checkout_id", checkout.id).single().throwOnError();
    expect(payment).toEqual({ status: "refunded", amount_refunded: order.total });
  });

  it("lets staff refund part of a shipped order; the buyer can no longer cancel it", async () => {
    const { buyer, order, paymentIntent } = await paidOrder("refund-partial");
    await seller.client.rpc("ship_shop_order", {
      order_id: order.id,
      carrier: "DHL",
      tracking_number: "JD01",
    })
      .throwOnError();
    const late = await callFunction(buyer.client, "commerce-refund", { shop_order_id: order.id });
    expect(late.status).toBe(409);
    expect(late.body.error.message).toBe(
      `shop order ${order.id} is shipped: the buyer cancels only before shipment`,
    );

    const staff = await signUpWithRole("refund-staff", "staff");
    const noReason = await callFunction(staff.client, "commerce-refund", {
      shop_order_id: order.id,
      amount: 1000,
    });
    expect(noReason.status).toBe(400);
    const partial = await callFunction(staff.client, "commerce-refund", {
      shop_order_id: order.id,
      amount: 1000,
      reason: "one vase arrived chipped",
    });
    expect(partial.status, JSON.stringify(partial.body)).toBe(201);
    const refunds = await stripeSdk().refunds.list({ payment_intent: paymentIntent });
    expect(refunds.data.map((r) => r.amount)).toEqual([1000]);
    const { data: still } = await admin().from("shop_orders").select("status").eq("id", order.id)
      .single()
      .throwOnError();
    expect(still!.status).toBe("shipped");
    const tooMuch = await callFunction(staff.client, "commerce-refund", {
      shop_order_id: order.id,
      amount: order.total,
      reason: "everything",
    });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.error.message).toBe(
      `the refund must be between 1 and ${
        order.total - 1000
      } (what is left of shop order ${order.id}), not ${order.total}`,
    );
  });
});
