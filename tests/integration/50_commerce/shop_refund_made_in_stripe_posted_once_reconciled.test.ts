// A checkout's charge refunded outside our API (the Stripe Dashboard; here stripe.refunds.create
// straight on the charge, which the stand-in treats as a Dashboard refund), through the
// stand-in's refund.created / charge.refunded webhooks with the real SDK: posted once against
// the platform (shop_external_refund:<re_…>, platform_commission -> the checkout's refunds),
// no transfer reversed, listed for commerce staff only, not posted again when its event comes
// back; our own refund (commerce-refund) is posted under its own key only; payments-reconcile
// then finds nothing for the checkout. Also: commerce-checkout-pay for a checkout that is no
// longer awaiting payment answers 409 (the session refusal itself is pgTAP's).

import { beforeAll, describe, expect, it } from "vitest";
import { signUpWithRole, type TestUser } from "../support/auth.ts";
import { activeProduct, openShop } from "../support/catalogue.ts";
import { admin, callFunction, SERVICE_ROLE_KEY, SUPABASE_URL } from "../support/clients.ts";
import { buyerWithAddress, onboard, pay, payAndComplete } from "../support/shop_payments.ts";
import { drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";

async function postings(prefix: string): Promise<Record<string, Record<string, number>>> {
  const { data } = await admin().from("ledger_transactions")
    .select("idempotency_key, ledger_entries(amount, ledger_accounts(kind))")
    .like("idempotency_key", `${prefix}%`).throwOnError();
  const byKey: Record<string, Record<string, number>> = {};
  for (const t of data!) {
    byKey[t.idempotency_key] = {};
    for (const e of t.ledger_entries) byKey[t.idempotency_key][e.ledger_accounts!.kind] = e.amount;
  }
  return byKey;
}

describe("a shop checkout refunded in Stripe's Dashboard", () => {
  let seller: TestUser;
  let staff: TestUser;
  let buyer: TestUser;
  let checkoutId: string;
  let chargeId: string;
  let orderId: string;

  beforeAll(async () => {
    [seller, staff] = await Promise.all([
      openShop("dash-refund-seller"),
      signUpWithRole("dash-refund-staff", "staff"),
    ]);
    await onboard(seller);
    const lamp = await activeProduct(seller, { title: "Dashboard lamp", price: 4000 }, 10);
    const placed = await buyerWithAddress("dash-refund-buyer");
    buyer = placed.buyer;
    const { data: checkout } = await buyer.client.rpc("place_order", {
      items: [{ product_id: lamp, quantity: 1 }],
      address_id: placed.addressId,
    }).throwOnError();
    checkoutId = checkout!.id;
    const completed = await payAndComplete(buyer, checkoutId);
    chargeId = completed.charge.id;
    const { data: order } = await admin().from("shop_orders").select("id")
      .eq("checkout_id", checkoutId).single().throwOnError();
    orderId = order!.id;
  });

  it("is posted once against the platform, listed for staff, and our own refund only under its key", async () => {
    const refund = await stripeSdk().refunds.create({ charge: chargeId, amount: 500 });
    expect(refund.status).toBe("succeeded");
    await drainWebhooks();
    const key = `shop_external_refund:${refund.id}`;
    expect(await postings(key)).toEqual({ [key]: { platform_commission: -500, refunds: 500 } });

    // Its refund.created delivered again: nothing more.
    const { data: events } = await admin().from("stripe_events").select("id, outcome")
      .eq("type", "refund.created").contains("payload", { data: { object: { id: refund.id } } })
      .throwOnError();
    expect(events!.map((e) => e.outcome)).toEqual([
      "applied: refunded in Stripe, borne by the platform, open for staff",
    ]);
    expect((await stripeControl(`events/${events![0].id}/deliver`, {})).status).toBe(200);
    await drainWebhooks();
    expect(Object.keys(await postings("shop_external_refund:"))).toContain(key);
    expect(await postings(key)).toEqual({ [key]: { platform_commission: -500, refunds: 500 } });

    const { data: listed } = await staff.client.from("shop_external_refunds")
      .select("stripe_refund_id, amount, resolved_at").eq("checkout_id", checkoutId).throwOnError();
    expect(listed).toEqual([{ stripe_refund_id: refund.id, amount: 500, resolved_at: null }]);
    for (const other of [buyer, seller]) {
      const { data } = await other.client.from("shop_external_refunds").select("stripe_refund_id")
        .throwOnError();
      expect(data).toEqual([]);
    }
    // No transfer reversed: the seller's transfer is whole.
    const { data: transfer } = await admin().from("shop_transfers")
      .select("stripe_transfer_id, cancelled_at").eq("shop_order_id", orderId).single()
      .throwOnError();
    expect(transfer!.cancelled_at).toBeNull();
    const reversed = await stripeSdk().transfers.retrieve(transfer!.stripe_transfer_id!);
    expect(reversed.amount_reversed).toBe(0);

    // Our own refund: its webhooks post nothing more than commerce-refund did.
    const ours = await callFunction(staff.client, "commerce-refund", {
      shop_order_id: orderId,
      amount: 300,
      reason: "scratched",
    });
    expect(ours.status, JSON.stringify(ours.body)).toBe(201);
    await drainWebhooks();
    expect(Object.keys(await postings(`shop_external_refund:${ours.body.stripe_refund_id}`)))
      .toEqual([]);
    expect(Object.keys(await postings(`shop_refund:${ours.body.refund_id}`))).toHaveLength(1);
    const { data: payment } = await admin().from("shop_payments")
      .select("amount_refunded, status").eq("checkout_id", checkoutId).single().throwOnError();
    expect(payment).toEqual({ amount_refunded: 800, status: "partially_refunded" });
  });

  it("leaves payments-reconcile nothing to report for the checkout", async () => {
    const response = await fetch(`${SUPABASE_URL}/functions/v1/payments-reconcile`, {
      method: "POST",
      headers: { Authorization: `Bearer ${SERVICE_ROLE_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ days: 1, triggered_by: "test" }),
    });
    const body = await response.json();
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.differences.filter((d: { order_id: string }) => d.order_id === checkoutId))
      .toEqual([]);
  });

  it("answers 409 when paying a checkout that is no longer awaiting payment", async () => {
    const again = await pay(buyer, checkoutId);
    expect(again.status, JSON.stringify(again.body)).toBe(409);
    expect(again.body.error.code).toBe("conflict");
  });
});
