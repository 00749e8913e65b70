// The stripe-webhook's billing hook. After ops.process_stripe_event has stored a verified
// event (and applied its payments part), billing events are applied here through
// ops.apply_billing_event:
//   - customer.subscription.*: the subscription is re-fetched from Stripe (stripe-sync-engine's
//     revalidation) unless the event already shows it ended, and applied with the time of the
//     fetch as its event time, so the last fetch (Stripe's current state) wins whatever order
//     and however often events arrive; a fetch that fails falls back to the event's object;
//   - checkout.session.* in mode=subscription with a subscription: the same, for that
//     subscription (the mirror does not wait for customer.subscription.* events); once
//     completed, the customer's other open subscription Checkout Sessions of the same plan
//     family (metadata.plan_family, set by billing-subscribe) are expired, so a second tab or
//     an older link cannot start a second subscription of the family;
//   - invoice.*: the event's invoice (its status rank orders snapshots); a paid invoice also
//     brings Stripe's fee on its charge (invoice payment -> payment intent -> charge ->
//     balance transaction) for the ledger.
//   - refund.created / refund.updated that the payments branch did not take (not a commission
//     order's or a shop checkout's refund): the invoice the refund's payment intent paid is
//     looked up (invoice payments by payment intent, the current API's way from a charge to its
//     invoice) and a succeeded refund posted as ours are, once per refund id
//     (ops.record_stripe_subscription_refund): refunds made in Stripe's Dashboard.
// Runs on duplicate deliveries too: everything it does is idempotent.
import type Stripe from "npm:stripe@23.1.0";
import { asJson, call, type Db } from "../platform/rpc.ts";
import type { BillingStripe } from "./stripe-billing.ts";

const ENDED = new Set(["canceled", "incomplete_expired"]);
const PAID_EVENTS = new Set(["invoice.paid", "invoice.payment_succeeded"]);

/** Whether an event is billing's: customer.subscription.*, invoice.*, subscription-mode checkout. */
export function isBillingEvent(event: Stripe.Event): boolean {
  if (event.type.startsWith("customer.subscription.") || event.type.startsWith("invoice.")) {
    return true;
  }
  if (event.type.startsWith("checkout.session.")) {
    return (event.data.object as Stripe.Checkout.Session).mode === "subscription";
  }
  return false;
}

async function currentSubscription(
  stripe: BillingStripe,
  id: string,
): Promise<Stripe.Subscription | null> {
  try {
    return await stripe.subscriptions.retrieve(id);
  } catch (err) {
    console.error(`subscription ${id} could not be re-fetched, the event's copy is used:`, err);
    return null;
  }
}

async function invoiceFee(
  stripe: BillingStripe,
  invoice: Stripe.Invoice,
): Promise<{ charge: string; balance_transaction: Stripe.BalanceTransaction } | null> {
  try {
    const payments = await stripe.invoicePayments.list({ invoice: invoice.id! });
    const paid = payments.data.find((p) => p.status === "paid");
    const intentId = paid?.payment?.payment_intent;
    if (typeof intentId !== "string") return null;
    const intent = await stripe.paymentIntents.retrieve(intentId, {
      expand: ["latest_charge.balance_transaction"],
    });
    const charge = intent.latest_charge;
    if (!charge || typeof charge === "string") return null;
    const txn = charge.balance_transaction;
    if (!txn || typeof txn === "string") return null;
    return { charge: charge.id, balance_transaction: txn };
  } catch (err) {
    console.error(`the fee of invoice ${invoice.id} is unavailable, left for a later event:`, err);
    return null;
  }
}

/**
 * Expires the customer's other open subscription Checkout Sessions of the completed one's plan
 * family. A failure is logged, not thrown: the subscription is paid either way, and a session
 * left open is refused at completion by nothing but its own expiry (24 hours).
 */
async function expireOtherSessions(
  stripe: BillingStripe,
  completed: Stripe.Checkout.Session,
): Promise<void> {
  const customer = typeof completed.customer === "string"
    ? completed.customer
    : completed.customer?.id;
  const family = completed.metadata?.plan_family;
  if (!customer || !family) return;
  try {
    const open = await stripe.checkout.sessions.list({ customer, status: "open", limit: 100 });
    for (const other of open.data) {
      if (
        other.id === completed.id || other.mode !== "subscription" ||
        other.metadata?.plan_family !== family
      ) continue;
      try {
        await stripe.checkout.sessions.expire(other.id, undefined, {
          idempotencyKey: `billing_checkout_expire:${other.id}`,
        });
      } catch (err) {
        console.error(`open session ${other.id} of customer ${customer} not expired:`, err);
      }
    }
  } catch (err) {
    console.error(`the open sessions of customer ${customer} could not be listed:`, err);
  }
}

/** Applies a stored billing event; answers ops.apply_billing_event's outcome. */
export async function applyBillingEvent(
  { db, stripe }: { db: Db; stripe: BillingStripe },
  event: Stripe.Event,
): Promise<string> {
  // The fetch time with its milliseconds: a later fetch wins over an earlier one in the same second.
  const now = Date.now() / 1000;
  let subscriptionId: string | null = null;
  if (event.type.startsWith("customer.subscription.")) {
    const sub = event.data.object as Stripe.Subscription;
    if (!ENDED.has(sub.status)) subscriptionId = sub.id;
  } else if (event.type.startsWith("checkout.session.")) {
    const session = event.data.object as Stripe.Checkout.Session;
    const sub = session.subscription;
    subscriptionId = typeof sub === "string" ? sub : sub?.id ?? null;
    if (!subscriptionId) return "ignored: no subscription on the session yet";
  }
  if (event.type === "checkout.session.completed" && subscriptionId) {
    await expireOtherSessions(stripe, event.data.object as Stripe.Checkout.Session);
  }
  if (subscriptionId) {
    const fetched = await currentSubscription(stripe, subscriptionId);
    if (fetched) {
      const snapshot = {
        ...event,
        type: event.type.startsWith("checkout.session.")
          ? "customer.subscription.updated"
          : event.type,
        created: Math.max(event.created, now),
        data: { object: fetched },
      };
      return await call(db, "apply_billing_event", { event: asJson(snapshot) });
    }
    if (event.type.startsWith("checkout.session.")) return "ignored: subscription unavailable";
  }
  let fee = null;
  if (PAID_EVENTS.has(event.type)) {
    fee = await invoiceFee(stripe, event.data.object as Stripe.Invoice);
  }
  return await call(db, "apply_billing_event", {
    event: asJson(event),
    ...(fee ? { fee: asJson(fee) } : {}),
  });
}

const REFUND_EVENTS = new Set(["refund.created", "refund.updated"]);

/**
 * Whether a refund event is left for billing: the payments branch (ops.process_stripe_event)
 * answered that it is neither a commission order's nor a shop checkout's refund.
 */
export function isUnclaimedRefund(event: Stripe.Event, outcome: string | null): boolean {
  return REFUND_EVENTS.has(event.type) && !!outcome?.startsWith("ignored: not a refund we made");
}

/**
 * A refund of a subscription invoice's charge made outside our API: the invoice its payment
 * intent paid, then ops.record_stripe_subscription_refund. A Stripe failure throws (the webhook
 * answers 500 and Stripe retries: the stored outcome still leaves the event to billing).
 */
export async function applyBillingRefund(
  { db, stripe }: { db: Db; stripe: BillingStripe },
  eventId: string,
  refund: Stripe.Refund,
): Promise<string> {
  const intent = typeof refund.payment_intent === "string"
    ? refund.payment_intent
    : refund.payment_intent?.id;
  if (!intent) return "ignored: a refund without a payment intent";
  const payments = await stripe.invoicePayments.list({
    payment: { type: "payment_intent", payment_intent: intent },
    limit: 1,
  });
  const invoice = payments.data[0]?.invoice;
  const invoiceId = typeof invoice === "string" ? invoice : invoice?.id;
  if (!invoiceId) return "ignored: not a refund of a subscription invoice";
  return await call(db, "record_stripe_subscription_refund", {
    event_id: eventId,
    stripe_invoice_id: invoiceId,
    refund: asJson(refund),
  });
}
