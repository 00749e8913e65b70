// A subscription invoice's charge refunded outside our API (Stripe's Dashboard; here
// stripe.refunds.create straight on the invoice's payment intent) through the stand-in's
// refund.created webhook with the real SDK: stripe-webhook finds the invoice the payment intent
// paid (invoice payments by payment intent) and posts the refund as ours are
// (subscription_refund:<in_…>:<re_…>, subscription_revenue -> subscription_refunds), once,
// however often the event comes; stripe_invoices.amount_refunded follows; payments-reconcile then
// reports nothing for the invoice. And: once one subscription Checkout Session is paid, the
// user's other open session of the same plan family is expired by the webhook.

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { admin, callFunction, SERVICE_ROLE_KEY, SUPABASE_URL } from "../support/clients.ts";
import { drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";
import {
  checkoutUrls,
  createPlan,
  type Plan,
  settled,
  subscribeByCheckout,
  syncPlans,
} from "../support/billing.ts";

let staff: TestUser;
let plan: Plan;

beforeAll(async () => {
  await stripeControl("webhooks/resume", { discard_held: false });
  staff = await signUpWithRole("billing-dash-refund-staff", "staff");
  plan = await createPlan(staff, "dashrefund", 9900);
  await syncPlans(staff);
});

async function legs(key: string) {
  const { data } = await admin().from("ledger_transactions")
    .select("ledger_entries(amount, ledger_accounts(kind))").eq("idempotency_key", key)
    .throwOnError();
  return data!.map((t) =>
    Object.fromEntries(t.ledger_entries.map((e) => [e.ledger_accounts!.kind, e.amount]))
  );
}

describe("a subscription invoice refunded in Stripe's Dashboard", () => {
  it("is posted once as our refunds are, and reconciliation finds nothing", async () => {
    const user = await signUp("billing-dash-refunded");
    const subId = await subscribeByCheckout(user, plan.monthly);
    await settled(user, subId, "active");
    const { data: invoice } = await user.client.from("stripe_invoices").select(
      "id, stripe_invoice_id",
    )
      .eq("stripe_subscription_id", subId).eq("status", "paid").single().throwOnError();
    const payments = await stripeSdk().invoicePayments.list({
      invoice: invoice!.stripe_invoice_id,
    });
    const intent = payments.data.find((p) => p.status === "paid")!.payment.payment_intent as string;

    const refund = await stripeSdk().refunds.create({ payment_intent: intent, amount: 2500 });
    expect(refund.status).toBe("succeeded");
    await drainWebhooks();
    const key = `subscription_refund:${invoice!.stripe_invoice_id}:${refund.id}`;
    expect(await legs(key)).toEqual([{ subscription_revenue: -2500, subscription_refunds: 2500 }]);
    const { data: events } = await admin().from("stripe_events").select("id, outcome")
      .eq("type", "refund.created").contains("payload", { data: { object: { id: refund.id } } })
      .throwOnError();
    expect(events!.map((e) => e.outcome)).toEqual(["billing: refund posted"]);

    // Delivered again: nothing more.
    expect((await stripeControl(`events/${events![0].id}/deliver`, {})).status).toBe(200);
    await drainWebhooks();
    expect(await legs(key)).toHaveLength(1);
    const { data: mirrored } = await user.client.from("stripe_invoices").select("amount_refunded")
      .eq("id", invoice!.id).single().throwOnError();
    expect(mirrored!.amount_refunded).toBe(2500);

    const response = await fetch(`${SUPABASE_URL}/functions/v1/payments-reconcile`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${SERVICE_ROLE_KEY}`,
        apikey: SERVICE_ROLE_KEY,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ days: 1, triggered_by: "billing-dash-refund-test" }),
    });
    const body = await response.json();
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.differences.filter((d: { order_id: string }) => d.order_id === invoice!.id))
      .toEqual([]);
  });
});

describe("two open subscription Checkout Sessions of one family", () => {
  it("expires the other once one is paid", async () => {
    const user = await signUp("billing-two-tabs");
    const sessions: string[] = [];
    for (const price of [plan.monthly, plan.monthly]) {
      const started = await callFunction(user.client, "billing-subscribe", {
        plan_price_id: price,
        ...checkoutUrls,
      });
      expect(started.status, JSON.stringify(started.body)).toBe(201);
      sessions.push(started.body.session_id);
    }
    expect(new Set(sessions).size).toBe(2);
    const done = await stripeControl(`checkout/sessions/${sessions[0]}/complete`, {
      outcome: "paid",
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    await settled(user, done.body.subscription.id, "active");
    expect((await stripeSdk().checkout.sessions.retrieve(sessions[0])).status).toBe("complete");
    expect((await stripeSdk().checkout.sessions.retrieve(sessions[1])).status).toBe("expired");
  });
});
