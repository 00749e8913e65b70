// The request bodies of the billing-* functions, as zod schemas (see payments/requests.ts for
// why they live here).
import { z } from "npm:zod@4.6.7";

const redirectUrl = z.url({ protocol: /^https?$/ });

/**
 * POST /billing-subscribe: `flow` "checkout" (the default: a Stripe Checkout Session, with the
 * URLs Stripe sends the browser back to) or "elements" (a subscription waiting for its first
 * payment, whose client secret the app confirms with Stripe Elements or billing-confirm-payment).
 */
export const subscribeRequest = z.preprocess(
  (body) =>
    body && typeof body === "object" && !Array.isArray(body) && !("flow" in body)
      ? { ...body, flow: "checkout" }
      : body,
  z.discriminatedUnion("flow", [
    z.object({
      flow: z.literal("checkout"),
      plan_price_id: z.uuid(),
      success_url: redirectUrl,
      cancel_url: redirectUrl,
    }),
    z.object({ flow: z.literal("elements"), plan_price_id: z.uuid() }),
  ]),
);

/** POST /billing-confirm-payment (003 POST /payments/confirm). */
export const confirmPaymentRequest = z.object({
  payment_intent_id: z.string().regex(/^pi_[A-Za-z0-9_]+$/, "a Stripe PaymentIntent id (pi_…)"),
  payment_method: z.string().regex(/^pm_[A-Za-z0-9_]+$/, "a Stripe PaymentMethod id (pm_…)"),
});

/** POST /billing-manage-subscription. */
export const manageRequest = z.discriminatedUnion("action", [
  z.object({
    action: z.literal("preview_change"),
    subscription_id: z.uuid(),
    plan_price_id: z.uuid(),
  }),
  z.object({
    action: z.literal("change_plan"),
    subscription_id: z.uuid(),
    plan_price_id: z.uuid(),
    // The preview's proration date, so the change charges what the preview showed.
    proration_date: z.number().int().positive().optional(),
  }),
  z.object({ action: z.literal("cancel_at_period_end"), subscription_id: z.uuid() }),
  z.object({ action: z.literal("resume_renewal"), subscription_id: z.uuid() }),
  z.object({ action: z.literal("pause"), subscription_id: z.uuid() }),
  z.object({ action: z.literal("resume"), subscription_id: z.uuid() }),
  z.object({
    action: z.literal("force_cancel"),
    subscription_id: z.uuid(),
    reason: z.string().trim().min(3).max(500),
    refund: z.boolean().default(false),
  }),
]);
