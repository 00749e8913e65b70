// POST /billing-confirm-payment { payment_intent_id, payment_method } (signed in; 003 POST
// /payments/confirm): the server-side confirmation of a subscription's payment, the intent that
// billing-subscribe's Elements flow answered (its first invoice), or any other open intent of
// the caller's Stripe Customer. The intent must be the caller's (its customer is theirs in
// billing_customers): otherwise 404, nothing sent to Stripe but the read. The result, exactly:
//   - 200 { status: "succeeded", … }: paid; the invoice is paid and the subscription turns
//     active at Stripe, and in our mirror by webhook;
//   - 200 { status: "requires_action", client_secret, next_action }: the card needs 3-D Secure;
//     the app finishes it with Stripe.js (handleNextAction) and the webhook does the rest;
//   - 200 { status: "processing" }: a payment that settles later (the webhook tells);
//   - 409 payment_provider_refused "the card was declined: <Stripe's message>" with
//     { stripe_code, decline_code, payment_intent_id }: the subscription stays incomplete and
//     the same intent may be confirmed again with another payment method;
//   - 409 conflict when the intent is already paid or canceled.
import type Stripe from "npm:stripe@23.1.0";
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { stripeHttpError } from "../_shared/payments/stripe-errors.ts";
import { call, type Db } from "../_shared/platform/rpc.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { confirmPaymentRequest } from "../_shared/billing/requests.ts";
import type { BillingStripe } from "../_shared/billing/stripe-billing.ts";

type Body = z.infer<typeof confirmPaymentRequest>;

function answer(pi: Stripe.PaymentIntent) {
  const base = {
    payment_intent_id: pi.id,
    amount: pi.amount,
    currency: pi.currency.toUpperCase(),
  };
  switch (pi.status) {
    case "succeeded":
      return { status: "succeeded" as const, ...base };
    case "requires_action":
      return {
        status: "requires_action" as const,
        ...base,
        client_secret: pi.client_secret,
        next_action: pi.next_action?.type ?? null,
      };
    case "processing":
      return { status: "processing" as const, ...base };
    default:
      // requires_payment_method after a decline Stripe did not raise as an error.
      throw new HttpError(
        "payment_provider_refused",
        `the card was declined: ${
          pi.last_payment_error?.message ?? `payment intent ${pi.id} is ${pi.status}`
        }`,
        {
          stripe_code: pi.last_payment_error?.code ?? null,
          decline_code: pi.last_payment_error?.decline_code ?? null,
          payment_intent_id: pi.id,
        },
      );
  }
}

export async function confirmPayment(
  { db, stripe }: { db: Db; stripe: BillingStripe },
  user: { id: string },
  body: Body,
) {
  const customer = await call(db, "billing_customer_of", { acting_user: user.id });
  const notFound = new HttpError("not_found", `payment intent ${body.payment_intent_id} not found`);
  if (!customer) throw notFound;
  let pi: Stripe.PaymentIntent;
  try {
    pi = await stripe.paymentIntents.retrieve(body.payment_intent_id);
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) throw notFound;
    throw stripeHttpError(err);
  }
  const owner = typeof pi.customer === "string" ? pi.customer : pi.customer?.id;
  if (owner !== customer) throw notFound;
  if (pi.status === "succeeded" || pi.status === "canceled" || pi.status === "processing") {
    throw new HttpError(
      "conflict",
      `payment intent ${pi.id} is ${pi.status}: only an unpaid intent is confirmed`,
    );
  }
  try {
    return answer(
      await stripe.paymentIntents.confirm(pi.id, { payment_method: body.payment_method }),
    );
  } catch (err) {
    const e = err as {
      type?: string;
      code?: string;
      message?: string;
      raw?: { decline_code?: string };
      decline_code?: string;
    };
    if (e.type === "StripeCardError") {
      throw new HttpError("payment_provider_refused", `the card was declined: ${e.message}`, {
        stripe_code: e.code ?? null,
        decline_code: e.decline_code ?? e.raw?.decline_code ?? null,
        payment_intent_id: pi.id,
      });
    }
    throw stripeHttpError(err);
  }
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user } = await requireUser(req);
  const body = await readJson(req, confirmPaymentRequest);
  return json(await confirmPayment({ db: serviceClient(), stripe: stripeClient() }, user, body));
});
