// POST /billing-subscribe { plan_price_id, success_url, cancel_url } (signed in): a Stripe
// Checkout Session in mode=subscription for the plan's price, with the plan's trial days.
// Refused before anything is sent to Stripe (ops.billing_subscribe_check): an unknown or
// inactive plan or price (404), an archived or not yet mirrored price, or a live subscription
// in the same plan family (409). The user's Stripe Customer is created once (idempotency key
// customer:<user id>) and recorded in billing_customers (ops.register_billing_customer keeps
// the first when two requests race). The subscription is mirrored by the webhook.
// Answers 201 { url, session_id }.
import { z } from "npm:zod@4.6.7";
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
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
  plan_price_id: z.string(),
  stripe_price_id: z.string(),
  trial_days: z.number(),
  stripe_customer_id: z.string().nullable(),
});

export async function subscribe(
  { db, stripe, allowedOrigins }: { db: Db; stripe: BillingStripe; allowedOrigins: string[] },
  user: { id: string; email?: string },
  body: z.infer<typeof subscribeRequest>,
) {
  checkRedirect("success_url", body.success_url, allowedOrigins);
  checkRedirect("cancel_url", body.cancel_url, allowedOrigins);
  const plan = await callJson(db, "billing_subscribe_check", {
    acting_user: user.id,
    plan_price_id: body.plan_price_id,
  }, checked);
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
    const metadata = { user_id: user.id, plan_price_id: plan.plan_price_id };
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
