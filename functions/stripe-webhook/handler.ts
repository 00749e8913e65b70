// POST /stripe-webhook (verify_jwt = false: Stripe signs, it has no JWT). The signature is
// verified on the raw body (constructEventAsync, 300 s tolerance, Web Crypto); a missing or
// bad signature is 400 and nothing is stored. A verified event goes to
// ops.process_stripe_event, which stores it by id and applies it in one transaction:
// duplicates and unhandled types answer 200 (Stripe must not retry them); a database
// failure answers 500 so Stripe retries.
import type Stripe from "npm:stripe@23.1.0";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { type StripeApi } from "../_shared/payments/stripe.ts";
import { asJson, call, type Db } from "../_shared/platform/rpc.ts";
import {
  stripeClient,
  stripeCryptoProvider,
  stripeWebhookSecret,
} from "../_shared/payments/stripe.ts";
import { serviceClient } from "../_shared/platform/supabase.ts";
import { checkoutOfEvent, settleCheckout } from "../_shared/commerce/payments.ts";
import {
  applyBillingEvent,
  applyBillingRefund,
  isBillingEvent,
  isUnclaimedRefund,
} from "../_shared/billing/webhook.ts";
import type { BillingStripe } from "../_shared/billing/stripe-billing.ts";

export interface WebhookDeps {
  db: Db;
  stripe: StripeApi;
  /** Verifies the signature and parses the event (Stripe's constructEventAsync). */
  verify: (payload: string, signature: string) => Promise<Stripe.Event>;
  /** Stripe Billing's calls (subscriptions, invoices): the billing hook runs when given. */
  billing?: BillingStripe;
}

const SHOP_SETTLING_EVENTS = new Set([
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
]);

export function stripeVerifier(stripe: Stripe, secret: string): WebhookDeps["verify"] {
  return (payload, signature) =>
    stripe.webhooks.constructEventAsync(payload, signature, secret, 300, stripeCryptoProvider);
}

export async function handleWebhook(
  { db, stripe, verify, billing }: WebhookDeps,
  req: Request,
): Promise<Response> {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const signature = req.headers.get("Stripe-Signature");
  if (!signature) {
    throw new HttpError("invalid_signature", "The Stripe-Signature header is missing");
  }
  const payload = await req.text();
  let event: Stripe.Event;
  try {
    event = await verify(payload, signature);
  } catch {
    throw new HttpError("invalid_signature", "The Stripe signature does not match the payload");
  }

  // Stripe's fee on a charge is on its balance transaction, which events carry as an id.
  let balanceTransaction: Stripe.BalanceTransaction | null = null;
  if (event.type === "charge.succeeded" || event.type === "charge.updated") {
    const id = event.data.object.balance_transaction;
    if (typeof id === "string") {
      try {
        balanceTransaction = await stripe.balanceTransactions.retrieve(id);
      } catch (err) {
        console.error(`balance transaction ${id} unavailable, fee left for a later event:`, err);
      }
    }
  }

  // The verified payload as Stripe sent it, not a re-serialisation.
  const rows = await call(db, "process_stripe_event", {
    event: JSON.parse(payload),
    balance_transaction: balanceTransaction ? asJson(balanceTransaction) : null,
  });
  const { event_id, event_type, duplicate, outcome } = rows[0];

  // A shop checkout's payment (metadata.checkout_id): once recorded, its sellers' transfers
  // (or a late payment's refund). Also on a duplicate delivery, so a retry finishes what a
  // failed attempt left; claims make every step happen once.
  const checkoutId = checkoutOfEvent(event);
  if (checkoutId && SHOP_SETTLING_EVENTS.has(event.type)) {
    const shop = await settleCheckout({ db, stripe }, checkoutId);
    return json({ received: true, event_id, event_type, duplicate, outcome, shop });
  }
  // A refund neither a commission order's nor a checkout's: a subscription invoice's, made in
  // Stripe's Dashboard (functions/_shared/billing/webhook.ts).
  if (billing && isUnclaimedRefund(event, outcome)) {
    const billed = await applyBillingRefund(
      { db, stripe: billing },
      event_id,
      event.data.object as Stripe.Refund,
    );
    return json({ received: true, event_id, event_type, duplicate, outcome, billing: billed });
  }
  // Subscriptions and their invoices (functions/_shared/billing/webhook.ts), also on duplicates.
  if (billing && isBillingEvent(event)) {
    const billed = await applyBillingEvent({ db, stripe: billing }, event);
    return json({ received: true, event_id, event_type, duplicate, outcome, billing: billed });
  }
  return json({ received: true, event_id, event_type, duplicate, outcome });
}

// Made on the first request and kept for the isolate's life: building a Stripe client and a
// Supabase client costs more of the function's time than verifying and recording an event
// (npm run bench -- webhooks), and neither carries anything from one request to the next (the
// service client has no session; one Stripe client is meant to serve many requests).
let deps: WebhookDeps | null = null;

export const handler = createHandler((req) => {
  if (!deps) {
    const stripe = stripeClient();
    deps = {
      db: serviceClient(),
      stripe,
      billing: stripe,
      verify: stripeVerifier(stripe, stripeWebhookSecret()),
    };
  }
  return handleWebhook(deps, req);
  // Stripe is never rate limited, and its events are taken during maintenance: they record
  // what already happened at Stripe (functions/_shared/platform/limits.ts).
}, { limits: false });
