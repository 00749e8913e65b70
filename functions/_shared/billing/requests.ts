// The request bodies of the billing-* functions, as zod schemas (see payments/requests.ts for
// why they live here).
import { z } from "npm:zod@4.6.7";

const redirectUrl = z.url({ protocol: /^https?$/ });

/** POST /billing-subscribe. */
export const subscribeRequest = z.object({
  plan_price_id: z.uuid(),
  success_url: redirectUrl,
  cancel_url: redirectUrl,
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
