// POST /payments-initiate { order_id, mode?, success_url?, cancel_url? }: the buyer pays an
// order awaiting payment. The amount and currency come from the order (public.begin_payment),
// never from the request (an amount in the body is ignored). mode "checkout" (default) makes
// a Checkout Session and answers { checkout_session_id, url }; "payment_intent" (Elements)
// answers { payment_intent_id, client_secret }. Idempotency key checkout:<order>:<attempt>
// (payment_intent:<order>:<attempt>); calling again while the session is open returns it.
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { allowedRedirectOrigins, checkRedirect } from "../_shared/payments/redirects.ts";
import { type StripeApi } from "../_shared/payments/stripe.ts";
import { call, callJson, type Db } from "../_shared/platform/rpc.ts";
import { readJson } from "../_shared/http/request.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { initiateRequest } from "../_shared/payments/requests.ts";

/** What public.begin_payment answers (jsonb): the open session, or the attempt to make. */
const beginPayment = z.union([
  z.object({
    existing: z.literal(true),
    mode: z.literal("checkout"),
    checkout_session_id: z.string(),
    url: z.string(),
  }),
  z.object({
    existing: z.literal(true),
    mode: z.literal("payment_intent"),
    payment_intent_id: z.string(),
  }),
  z.object({
    existing: z.literal(false),
    mode: z.enum(["checkout", "payment_intent"]),
    order_id: z.string(),
    title: z.string(),
    amount: z.int(),
    currency: z.string(),
    attempt: z.int(),
    transfer_group: z.string(),
    idempotency_key: z.string(),
  }),
]);

export type InitiateResponse =
  | { checkout_session_id: string; url: string }
  | { payment_intent_id: string; client_secret: string };

export interface InitiateDeps {
  db: Db;
  stripe: StripeApi;
  allowedOrigins: string[];
}

export async function initiatePayment(
  { db, stripe, allowedOrigins }: InitiateDeps,
  userId: string,
  body: z.infer<typeof initiateRequest>,
): Promise<{ created: boolean; body: InitiateResponse }> {
  if (body.mode === "checkout") {
    if (!body.success_url || !body.cancel_url) {
      throw new HttpError("invalid_request", "A checkout needs success_url and cancel_url");
    }
    checkRedirect("success_url", body.success_url, allowedOrigins);
    checkRedirect("cancel_url", body.cancel_url, allowedOrigins);
  }
  const start = await callJson(db, "begin_payment", {
    order_id: body.order_id,
    acting_user: userId,
    mode: body.mode,
  }, beginPayment);

  if (start.existing) {
    if (start.mode === "checkout") {
      return {
        created: false,
        body: { checkout_session_id: start.checkout_session_id, url: start.url },
      };
    }
    const intent = await stripe.paymentIntents.retrieve(start.payment_intent_id);
    return {
      created: false,
      body: { payment_intent_id: intent.id, client_secret: intent.client_secret! },
    };
  }

  const metadata = { order_id: start.order_id };
  if (start.mode === "checkout") {
    const session = await stripe.checkout.sessions.create({
      mode: "payment",
      client_reference_id: start.order_id,
      line_items: [{
        quantity: 1,
        price_data: {
          currency: start.currency,
          unit_amount: start.amount,
          product_data: { name: start.title },
        },
      }],
      payment_intent_data: { transfer_group: start.transfer_group, metadata },
      metadata: { ...metadata, attempt: String(start.attempt) },
      success_url: body.success_url!,
      cancel_url: body.cancel_url!,
    }, { idempotencyKey: start.idempotency_key });
    // An argument left out takes its SQL default, null: "nothing new to record".
    await call(db, "record_payment_session", {
      order_id: start.order_id,
      attempt: start.attempt,
      checkout_session_id: session.id,
      url: session.url ?? undefined,
      expires_at: new Date(session.expires_at * 1000).toISOString(),
      payment_intent_id: typeof session.payment_intent === "string"
        ? session.payment_intent
        : undefined,
    });
    return { created: true, body: { checkout_session_id: session.id, url: session.url! } };
  }

  const intent = await stripe.paymentIntents.create({
    amount: start.amount,
    currency: start.currency,
    transfer_group: start.transfer_group,
    metadata,
    automatic_payment_methods: { enabled: true },
  }, { idempotencyKey: start.idempotency_key });
  await call(db, "record_payment_session", {
    order_id: start.order_id,
    attempt: start.attempt,
    payment_intent_id: intent.id,
  });
  return {
    created: true,
    body: { payment_intent_id: intent.id, client_secret: intent.client_secret! },
  };
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user } = await requireUser(req);
  const body = await readJson(req, initiateRequest);
  const result = await initiatePayment(
    { db: serviceClient(), stripe: stripeClient(), allowedOrigins: allowedRedirectOrigins() },
    user.id,
    body,
  );
  return json(result.body, result.created ? 201 : 200);
});
