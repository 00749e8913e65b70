// POST /billing-subscribe { plan_price_id, flow?, … } (signed in). Two flows:
//   - "checkout" (the default) { success_url, cancel_url }: a Stripe Checkout Session in
//     mode=subscription for the plan's price, with the plan's trial days → 201 { url,
//     session_id, customer_id };
//   - "elements" (003 POST /payments/intent): the subscription is created at Stripe with
//     payment_behavior=default_incomplete and payment_settings.save_default_payment_method=
//     on_subscription, so it waits (incomplete) for its first invoice's payment, and the answer
//     carries that invoice's PaymentIntent and its client secret (API 2026-10-28: the invoice's
//     confirmation_secret) for Stripe Elements, or for billing-confirm-payment (003 POST
//     /payments/confirm) → 201 { flow, stripe_subscription_id, status, payment_intent_id,
//     client_secret, amount_due, currency, customer_id }. Asking again while it waits answers the
//     same subscription (another price of the family cancels the waiting one first); with a
//     trial nothing is due (client_secret null). Unpaid for 23 hours, Stripe ends it
//     (incomplete_expired).
// Refused before anything is sent to Stripe (ops.billing_subscribe_check): an unknown or
// inactive plan or price (404), an archived or not yet mirrored price, or a live subscription
// in the same plan family (409); for Checkout also an incomplete one waiting for its first
// payment (409: confirm it, or replace it through the Elements flow). The user's Stripe Customer is created once (idempotency key
// customer:<user id>) and recorded in billing_customers (ops.register_billing_customer keeps
// the first when two requests race). The subscription is mirrored by the webhook.
import type Stripe from "npm:stripe@23.1.0";
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { allowedRedirectOrigins, checkRedirect } from "../_shared/payments/redirects.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { stripeHttpError } from "../_shared/payments/stripe-errors.ts";
import { call, callJson, type Db } from "../_shared/platform/rpc.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { subscribeRequest } from "../_shared/billing/requests.ts";
import { billingKeys, type BillingStripe } from "../_shared/billing/stripe-billing.ts";

const checked = z.object({
  plan_id: z.string(),
  plan_family: z.string(),
  plan_price_id: z.string(),
  stripe_price_id: z.string(),
  trial_days: z.number(),
  stripe_customer_id: z.string().nullable(),
  waiting_subscription: z.string().nullable(),
});

type Checked = z.infer<typeof checked>;
type Body = z.infer<typeof subscribeRequest>;

export async function subscribe(
  { db, stripe, allowedOrigins }: { db: Db; stripe: BillingStripe; allowedOrigins: string[] },
  user: { id: string; email?: string },
  body: Body,
) {
  if (body.flow === "checkout") {
    checkRedirect("success_url", body.success_url, allowedOrigins);
    checkRedirect("cancel_url", body.cancel_url, allowedOrigins);
  }
  const plan = await callJson(db, "billing_subscribe_check", {
    acting_user: user.id,
    plan_price_id: body.plan_price_id,
  }, checked);
  if (body.flow === "checkout" && plan.waiting_subscription) {
    // Completed, the Checkout would make a second subscription in the family beside it.
    throw new HttpError(
      "conflict",
      `subscription ${plan.waiting_subscription} is waiting for its first payment: confirm it (billing-confirm-payment) or subscribe with flow elements to replace it`,
    );
  }
  try {
    let customer = plan.stripe_customer_id;
    if (!customer) {
      const created = await stripe.customers.create({
        ...(user.email ? { email: user.email } : {}),
        metadata: { user_id: user.id },
      }, { idempotencyKey: billingKeys.customer(user.id) });
      customer = await call(db, "register_billing_customer", {
        acting_user: user.id,
        stripe_customer_id: created.id,
      });
    }
    if (body.flow === "elements") {
      return await subscribeForElements(stripe, user, plan, customer);
    }
    // plan_family: once one session of the family is paid, the webhook expires the others.
    const metadata = {
      user_id: user.id,
      plan_price_id: plan.plan_price_id,
      plan_family: plan.plan_family,
    };
    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      customer,
      client_reference_id: user.id,
      line_items: [{ price: plan.stripe_price_id, quantity: 1 }],
      subscription_data: {
        metadata,
        ...(plan.trial_days > 0 ? { trial_period_days: plan.trial_days } : {}),
      },
      metadata,
      success_url: body.success_url,
      cancel_url: body.cancel_url,
    });
    return { url: session.url, session_id: session.id, customer_id: customer };
  } catch (err) {
    throw stripeHttpError(err);
  }
}

/** The first invoice's PaymentIntent and client secret of a subscription waiting for them. */
function firstPayment(sub: Stripe.Subscription) {
  const invoice = typeof sub.latest_invoice === "object" ? sub.latest_invoice : null;
  const payment = invoice?.payments?.data.find((p) => p.is_default) ?? invoice?.payments?.data[0];
  const intent = payment?.payment?.payment_intent;
  return {
    payment_intent_id: typeof intent === "string" ? intent : intent?.id ?? null,
    client_secret: invoice?.confirmation_secret?.client_secret ?? null,
    amount_due: invoice?.amount_due ?? 0,
    currency: (invoice?.currency ?? sub.currency).toUpperCase(),
  };
}

const WITH_PAYMENT = ["latest_invoice.confirmation_secret", "latest_invoice.payments"];

/**
 * The Elements flow: a subscription created incomplete (default_incomplete), the card saved on
 * it once paid (save_default_payment_method=on_subscription). One waiting subscription per
 * customer and family: asked again, the waiting one of the same price is answered (a waiting
 * one of another price is cancelled first); the idempotency key names the customer's latest
 * subscription at Stripe, so two racing requests make one subscription, and one made after the
 * last expired is a new one.
 */
async function subscribeForElements(
  stripe: BillingStripe,
  user: { id: string },
  plan: Checked,
  customer: string,
) {
  const waiting = await stripe.subscriptions.list({ customer, status: "incomplete", limit: 100 });
  let sub: Stripe.Subscription | null = null;
  for (const candidate of waiting.data) {
    if (candidate.metadata?.plan_family !== plan.plan_family) continue;
    if (candidate.items.data[0]?.price.id === plan.stripe_price_id && !sub) {
      sub = await stripe.subscriptions.retrieve(candidate.id, { expand: WITH_PAYMENT });
    } else {
      await stripe.subscriptions.cancel(candidate.id, {
        cancellation_details: { comment: "replaced by a subscription to another price" },
      });
    }
  }
  if (!sub) {
    const latest = await stripe.subscriptions.list({ customer, status: "all", limit: 1 });
    sub = await stripe.subscriptions.create({
      customer,
      items: [{ price: plan.stripe_price_id, quantity: 1 }],
      payment_behavior: "default_incomplete",
      payment_settings: { save_default_payment_method: "on_subscription" },
      ...(plan.trial_days > 0 ? { trial_period_days: plan.trial_days } : {}),
      metadata: {
        user_id: user.id,
        plan_price_id: plan.plan_price_id,
        plan_family: plan.plan_family,
      },
      expand: WITH_PAYMENT,
    }, {
      idempotencyKey: billingKeys.elementsSubscription(
        user.id,
        plan.plan_price_id,
        latest.data[0]?.id ?? "none",
      ),
    });
  }
  return {
    flow: "elements" as const,
    stripe_subscription_id: sub.id,
    status: sub.status,
    ...firstPayment(sub),
    customer_id: customer,
  };
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user } = await requireUser(req);
  const body = await readJson(req, subscribeRequest);
  const result = await subscribe(
    { db: serviceClient(), stripe: stripeClient(), allowedOrigins: allowedRedirectOrigins() },
    user,
    body,
  );
  return json(result, 201);
});
