// The shop's money against Stripe, through the functions and the Stripe stand-in (issue 17):
// Stripe's fee on a checkout's charge is posted once (platform_commission -> stripe_fees, key
// fee:<charge>, as a commission order's fee), however often the webhooks come; a seller who
// cannot receive transfers yet gets a failed transfer (attempt counted, retry scheduled, in the
// ops list), is onboarded, and two scheduled retries racing pay them exactly once (one Stripe
// transfer, one posting); payments-reconcile finds nothing wrong with the checkout after a
// payout, a cancellation's reversal and refund, and reports precisely a shop payment whose
// amount was changed in the database and a transfer whose Stripe id was changed (Stripe's
// transfer recorded for no shop order, ours not in Stripe).

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { activeProduct, openShop } from "../support/catalogue.ts";
import {
  admin,
  callFunction,
  SERVICE_ROLE_KEY,
  SUPABASE_URL,
  withDatabase,
} from "../support/clients.ts";
import { buyerWithAddress, onboard, payAndComplete } from "../support/shop_payments.ts";
import { APP_URL, drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";

/** A function called with the service-role key, as the scheduler and the admin CLI call it. */
async function asService(name: string, body: unknown) {
  const response = await fetch(`${SUPABASE_URL}/functions/v1/${name}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${SERVICE_ROLE_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** A ledger transaction's legs by account kind, or null when nothing is posted under the key. */
async function posting(key: string): Promise<Record<string, number> | null> {
  const { data } = await admin().from("ledger_transactions")
    .select("id, ledger_entries(amount, ledger_accounts(kind))").eq("idempotency_key", key)
    .throwOnError();
  if (data!.length === 0) return null;
  expect(data).toHaveLength(1);
  const legs: Record<string, number> = {};
  for (const e of data![0].ledger_entries) legs[e.ledger_accounts!.kind] = e.amount;
  return legs;
}

describe("the shop's money: fees, transfer retries, reconciliation", () => {
  let sellerA: TestUser;
  let sellerB: TestUser;
  let accountA: string;
  let accountB: string;
  let staff: TestUser;
  let lamp: string;
  let mug: string;
  let checkoutId: string;
  let paymentIntent: string;
  let chargeId: string;
  let orderA: { id: string; total: number; commission_amount: number };
  let orderB: { id: string; total: number; commission_amount: number };
  let buyer: TestUser;

  beforeAll(async () => {
    [sellerA, sellerB, staff] = await Promise.all([
      openShop("money-seller-a"),
      openShop("money-seller-b"),
      signUpWithRole("money-staff", "staff"),
    ]);
    accountA = await onboard(sellerA);
    // Seller B starts payouts but has not finished Stripe's onboarding: no transfers yet.
    const started = await callFunction(sellerB.client, "payments-onboard", {
      return_url: `${APP_URL}/payouts/done`,
      refresh_url: `${APP_URL}/payouts/retry`,
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    accountB = started.body.account_id;
    [lamp, mug] = await Promise.all([
      activeProduct(sellerA, { title: "Money lamp", price: 3000 }, 20),
      activeProduct(sellerB, { title: "Money mug", price: 1500 }, 20),
    ]);

    const placed = await buyerWithAddress("money-buyer");
    buyer = placed.buyer;
    const { data: checkout } = await buyer.client.rpc("place_order", {
      items: [{ product_id: lamp, quantity: 1 }, { product_id: mug, quantity: 2 }],
      address_id: placed.addressId,
    }).throwOnError();
    checkoutId = checkout!.id;
    const completed = await payAndComplete(buyer, checkoutId);
    paymentIntent = completed.payment_intent.id;
    chargeId = completed.charge.id;
    // Every event of the payment delivered again, in reverse: nothing more may happen.
    for (const id of [...(completed.events as string[])].reverse()) {
      expect((await stripeControl(`events/${id}/deliver`, {})).status).toBe(200);
    }
    await drainWebhooks();
    const { data: orders } = await admin().from("shop_orders")
      .select("id, shop_id, total, commission_amount").eq("checkout_id", checkoutId).throwOnError();
    orderA = orders!.find((o) => o.shop_id === sellerA.id)! as typeof orderA;
    orderB = orders!.find((o) => o.shop_id === sellerB.id)! as typeof orderB;
  });

  it("posts Stripe's fee on the checkout's charge once, borne by the platform", async () => {
    const intent = await stripeSdk().paymentIntents.retrieve(paymentIntent, {
      expand: ["latest_charge.balance_transaction"],
    });
    const charge = intent.latest_charge as { id: string; balance_transaction: { fee: number } };
    expect(charge.id).toBe(chargeId);
    const fee = charge.balance_transaction.fee;
    expect(fee).toBeGreaterThan(0);
    expect(await posting(`fee:${chargeId}`)).toEqual({
      platform_commission: -fee,
      stripe_fees: fee,
    });
    const { data: payment } = await admin().from("shop_payments")
      .select("stripe_fee, stripe_charge_id").eq("checkout_id", checkoutId).single().throwOnError();
    expect(payment).toEqual({ stripe_fee: fee, stripe_charge_id: chargeId });
    // The webhook saw the fee (charge.succeeded with the checkout in its metadata) or found it
    // already posted by the function that settled the payment: either way, one posting.
    const { data: outcomes } = await admin().from("stripe_events").select("type, outcome")
      .eq("type", "charge.succeeded").contains("payload", { data: { object: { id: chargeId } } })
      .throwOnError();
    expect(outcomes!.map((e) => e.outcome)).toEqual([
      expect.stringMatching(/^(applied|ignored: already recorded)$/),
    ]);
  });

  it("records a failed transfer for a seller who cannot receive payouts, then the retry pays it once", async () => {
    // Seller A was paid at once; seller B's transfer failed without calling Stripe.
    const groups = await stripeSdk().transfers.list({ transfer_group: `checkout_${checkoutId}` });
    expect(groups.data.map((t) => t.amount)).toEqual([orderA.total - orderA.commission_amount]);
    const { data: failing } = await sellerB.client.from("shop_transfers_failing")
      .select("shop_order_id, attempts, last_error, next_attempt_at, gave_up_at").throwOnError();
    expect(failing).toEqual([{
      shop_order_id: orderB.id,
      attempts: 1,
      last_error: "the seller cannot receive transfers yet",
      next_attempt_at: expect.any(String),
      gave_up_at: null,
    }]);
    const { data: staffSees } = await staff.client.from("shop_transfers_failing")
      .select("shop_order_id").eq("checkout_id", checkoutId).throwOnError();
    expect(staffSees).toEqual([{ shop_order_id: orderB.id }]);
    const { data: otherSeller } = await sellerA.client.from("shop_transfers_failing")
      .select("shop_order_id").eq("checkout_id", checkoutId).throwOnError();
    expect(otherSeller).toEqual([]);

    // Only the service role runs the retry; before seller B can receive, nothing is due.
    const stranger = await signUp("money-stranger");
    const refused = await callFunction(stranger.client, "commerce-retry-transfers", { due: true });
    expect([refused.status, refused.body.error.code]).toEqual([403, "forbidden"]);
    const early = await asService("commerce-retry-transfers", { due: true });
    expect(early.status, JSON.stringify(early.body)).toBe(200);
    expect(early.body.transfers.map((t: { shop_order_id: string }) => t.shop_order_id))
      .not.toContain(orderB.id);

    // Seller B finishes onboarding (account.updated: transfers and payouts enabled) and is due
    // at once; two scheduled runs race for the transfer.
    await stripeControl(`accounts/${accountB}/onboard`, {});
    await drainWebhooks();
    const runs = await Promise.all([
      asService("commerce-retry-transfers", { due: true }),
      asService("commerce-retry-transfers", { due: true }),
    ]);
    for (const run of runs) expect(run.status, JSON.stringify(run.body)).toBe(200);
    const paid = runs.flatMap((r) => r.body.transfers)
      .filter((t: { shop_order_id: string }) => t.shop_order_id === orderB.id);
    expect(paid).toHaveLength(1);
    expect(paid[0].amount).toBe(orderB.total - orderB.commission_amount);

    // The job as pg_cron runs it, and the function again: nothing more to pay.
    const { data: requestId } = await admin().schema("ops").rpc("run_scheduled_job", {
      job_name: "commerce-transfers-retry",
    }).throwOnError();
    expect(Number(requestId)).toBeGreaterThan(0);
    await asService("commerce-retry-transfers", { checkout_id: checkoutId });
    await drainWebhooks();

    const after = await stripeSdk().transfers.list({ transfer_group: `checkout_${checkoutId}` });
    expect(after.data.map((t) => [t.destination, t.amount])).toHaveLength(2);
    expect(after.data.map((t) => [t.destination, t.amount])).toEqual(expect.arrayContaining([
      [accountB, orderB.total - orderB.commission_amount],
      [accountA, orderA.total - orderA.commission_amount],
    ]));
    expect(await posting(`shop_transfer:${orderB.id}`)).toEqual({
      seller_payable: -(orderB.total - orderB.commission_amount),
      seller_transfers: orderB.total - orderB.commission_amount,
    });
    const { data: row } = await admin().from("shop_transfers")
      .select("stripe_transfer_id, attempts, last_error").eq("shop_order_id", orderB.id).single()
      .throwOnError();
    expect(row).toEqual({
      stripe_transfer_id: paid[0].transfer_id,
      attempts: 1,
      last_error: "the seller cannot receive transfers yet",
    });
    const { data: stillFailing } = await sellerB.client.from("shop_transfers_failing")
      .select("shop_order_id").throwOnError();
    expect(stillFailing).toEqual([]);
  });

  it("reconciles the checkout with Stripe, then reports a tampered amount and missing transfers precisely", async () => {
    // A cancellation after payout: seller A's share reversed, the buyer refunded.
    const cancelled = await callFunction(buyer.client, "commerce-refund", {
      shop_order_id: orderA.id,
    });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(201);
    await drainWebhooks();

    const clean = await asService("payments-reconcile", { days: 1, triggered_by: "test" });
    expect(clean.status, JSON.stringify(clean.body)).toBe(200);
    expect(clean.body.checkouts).toBeGreaterThan(0);
    expect(clean.body.differences.filter((d: { order_id: string }) => d.order_id === checkoutId))
      .toEqual([]);

    const { data: transfer } = await admin().from("shop_transfers")
      .select("stripe_transfer_id").eq("shop_order_id", orderB.id).single().throwOnError();
    const { rows: [{ captured }] } = await withDatabase((db) =>
      db.query(
        `update public.shop_payments set amount_captured = amount_captured + 1
          where checkout_id = $1 returning amount_captured as captured`,
        [checkoutId],
      )
    );
    await withDatabase((db) =>
      db.query(
        "update public.shop_transfers set stripe_transfer_id = 'tr_gone' where shop_order_id = $1",
        [orderB.id],
      )
    );
    try {
      const tampered = await asService("payments-reconcile", { days: 1, triggered_by: "test" });
      expect(tampered.status, JSON.stringify(tampered.body)).toBe(200);
      const mine = tampered.body.differences.filter((d: { order_id: string }) =>
        d.order_id === checkoutId
      );
      expect(mine).toHaveLength(1);
      const total = Number(captured) - 1;
      expect(mine[0]).toMatchObject({ subject: "checkout", currency: "USD" });
      expect([...mine[0].problems].sort()).toEqual([
        `ledger captured ${total} <> shop payment ${total + 1}`,
        `escrow balance 0 <> captured less paid out less refunded before payout 1`,
        `Stripe captured ${total} <> shop payment ${total + 1}`,
        `Stripe transfer ${transfer!.stripe_transfer_id} (${
          orderB.total - orderB.commission_amount
        }) recorded for no shop order`,
        `shop order ${orderB.id}: transfer tr_gone not in Stripe`,
      ].sort());
      const { data: recorded } = await admin().from("payments_reconciliation_runs")
        .select("orders_checked, differences").eq("id", tampered.body.run_id).single()
        .throwOnError();
      // Paid subscription invoices are compared in the same run (billing's half).
      expect(recorded!.orders_checked).toBe(
        tampered.body.orders + tampered.body.checkouts + (tampered.body.subscription_invoices ?? 0),
      );
      expect(recorded!.differences).toEqual(tampered.body.differences);
    } finally {
      await withDatabase(async (db) => {
        await db.query(
          "update public.shop_payments set amount_captured = amount_captured - 1 where checkout_id = $1",
          [checkoutId],
        );
        await db.query(
          "update public.shop_transfers set stripe_transfer_id = $2 where shop_order_id = $1",
          [orderB.id, transfer!.stripe_transfer_id],
        );
      });
    }
  });
});
