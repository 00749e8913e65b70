// The request bodies of the payments functions, as zod schemas: the contract their callers
// (the app, the admin CLI, the schedules, the integration tests) build against. Here, not in
// types/, because Node cannot load a module that imports "npm:zod@4.6.7", and Deno (and the
// per-function deploy bundles) cannot resolve a bare "zod" without an import map.
import { z } from "npm:zod@4.6.7";

const redirectUrl = z.url({ protocol: /^https?$/ });

/** POST /payments-onboard. */
export const onboardRequest = z.object({
  return_url: redirectUrl,
  refresh_url: redirectUrl,
});

/** POST /payments-initiate. Not strict: unknown fields (an amount, a currency) are dropped. */
export const initiateRequest = z.object({
  order_id: z.uuid(),
  mode: z.enum(["checkout", "payment_intent"]).default("checkout"),
  success_url: redirectUrl.optional(),
  cancel_url: redirectUrl.optional(),
});

/** The scheduler's body for payments-release and payments-refund (service role only). */
const dueRequest = z.strictObject({
  due: z.literal(true),
  limit: z.int().min(1).max(1000).optional(),
});

/** POST /payments-release: one order's escrow, or { due: true } from the scheduler. */
export const releaseRequest = z.union([z.strictObject({ order_id: z.uuid() }), dueRequest]);

/** POST /payments-refund: one order's refund. */
export const refundRequest = z.strictObject({
  order_id: z.uuid(),
  amount: z.int().positive().optional(),
  reason: z.string().trim().min(1).max(1000),
});

/** POST /payments-refund { due: true } from the scheduler. */
export const dueRefundsRequest = dueRequest;

/** POST /payments-resolve-dispute. */
export const resolveRequest = z.strictObject({
  order_id: z.uuid(),
  resolution: z.enum(["refund", "release"]),
  refund_amount: z.int().positive().optional(),
  note: z.string().trim().min(1).max(5000).optional(),
});

/** POST /payments-reconcile (service role only: the schedule, the admin CLI). */
export const reconcileRequest = z.strictObject({
  days: z.int().min(1).max(3650).default(180),
  limit: z.int().min(1).max(100_000).default(20_000),
  // As payments_reconciliation_runs.triggered_by allows: a short lowercase word.
  triggered_by: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/).default("schedule"),
});
