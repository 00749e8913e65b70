// The stripe-webhook's billing hook (functions/_shared/billing/webhook.ts) with a fake Stripe:
// which events are billing's, a subscription re-fetched and applied at the fetch time, an ended
// one applied as the event has it, a paid invoice's fee found through its payment, and a
// failed re-fetch falling back to the event's object.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type Stripe from "npm:stripe@23.1.0";
import { applyBillingEvent, isBillingEvent } from "../../../functions/_shared/billing/webhook.ts";
import type { BillingStripe } from "../../../functions/_shared/billing/stripe-billing.ts";
import { fakeDb } from "../payments/fake_payments.ts";

function event(type: string, object: Record<string, unknown>, created = 1000): Stripe.Event {
  return {
    id: "evt_1",
    object: "event",
    type,
    created,
    data: { object },
  } as unknown as Stripe.Event;
}

function fakeBilling(subscription: Record<string, unknown> | Error) {
  const calls: string[] = [];
  const stripe = {
    subscriptions: {
      retrieve: (id: string) => {
        calls.push(`subscriptions.retrieve ${id}`);
        return subscription instanceof Error
          ? Promise.reject(subscription)
          : Promise.resolve(subscription);
      },
    },
    invoicePayments: {
      list: (params: { invoice: string }) => {
        calls.push(`invoicePayments.list ${params.invoice}`);
        return Promise.resolve({
          data: [{ status: "paid", payment: { payment_intent: "pi_1" } }],
        });
      },
    },
    paymentIntents: {
      retrieve: (id: string) => {
        calls.push(`paymentIntents.retrieve ${id}`);
        return Promise.resolve({
          latest_charge: { id: "ch_1", balance_transaction: { fee: 317, currency: "krw" } },
        });
      },
    },
  } as unknown as BillingStripe;
  return { stripe, calls };
}

Deno.test("billing events: subscriptions, invoices and subscription-mode checkouts only", () => {
  ok(isBillingEvent(event("customer.subscription.updated", {})));
  ok(isBillingEvent(event("invoice.paid", {})));
  ok(isBillingEvent(event("checkout.session.completed", { mode: "subscription" })));
  ok(!isBillingEvent(event("checkout.session.completed", { mode: "payment" })));
  ok(!isBillingEvent(event("charge.succeeded", {})));
});

Deno.test("a live subscription is re-fetched and applied with the fetch time", async () => {
  const database = fakeDb({ apply_billing_event: "applied" });
  const current = { id: "sub_1", object: "subscription", status: "active" };
  const { stripe, calls } = fakeBilling(current);
  const before = Date.now() / 1000;
  const outcome = await applyBillingEvent(
    { db: database.db, stripe },
    event("customer.subscription.created", { id: "sub_1", status: "incomplete" }),
  );
  strictEqual(outcome, "applied");
  deepStrictEqual(calls, ["subscriptions.retrieve sub_1"]);
  const sent = database.calls[0].args.event as { created: number; data: { object: unknown } };
  deepStrictEqual(sent.data.object, current);
  ok(sent.created >= before, "the event time is the fetch time");
});

Deno.test("an ended subscription is applied as the event has it, without a fetch", async () => {
  const database = fakeDb({ apply_billing_event: "applied" });
  const { stripe, calls } = fakeBilling({});
  await applyBillingEvent(
    { db: database.db, stripe },
    event("customer.subscription.deleted", { id: "sub_1", status: "canceled" }),
  );
  deepStrictEqual(calls, []);
  strictEqual((database.calls[0].args.event as { created: number }).created, 1000);
});

Deno.test("a failed re-fetch falls back to the event's object", async () => {
  const database = fakeDb({ apply_billing_event: "applied" });
  const { stripe } = fakeBilling(new Error("down"));
  await applyBillingEvent(
    { db: database.db, stripe },
    event("customer.subscription.updated", { id: "sub_1", status: "active", seen: true }),
  );
  const sent = database.calls[0].args.event as { data: { object: { seen: boolean } } };
  strictEqual(sent.data.object.seen, true);
});

Deno.test("a paid invoice brings the fee of its charge", async () => {
  const database = fakeDb({ apply_billing_event: "applied, posted, fee posted" });
  const { stripe, calls } = fakeBilling({});
  await applyBillingEvent(
    { db: database.db, stripe },
    event("invoice.paid", { id: "in_1", object: "invoice", status: "paid" }),
  );
  deepStrictEqual(calls, ["invoicePayments.list in_1", "paymentIntents.retrieve pi_1"]);
  deepStrictEqual(database.calls[0].args.fee, {
    charge: "ch_1",
    balance_transaction: { fee: 317, currency: "krw" },
  });
});

Deno.test("a subscription-mode checkout without a subscription yet is ignored", async () => {
  const database = fakeDb({});
  const { stripe } = fakeBilling({});
  strictEqual(
    await applyBillingEvent(
      { db: database.db, stripe },
      event("checkout.session.completed", { mode: "subscription", subscription: null }),
    ),
    "ignored: no subscription on the session yet",
  );
  strictEqual(database.calls.length, 0);
});
