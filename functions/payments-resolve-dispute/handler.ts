// POST /payments-resolve-dispute { order_id, resolution, refund_amount?, note? }: an admin
// resolves the buyer's open dispute. public.resolve_dispute marks it resolved and moves the
// order out of `disputed` (refund -> cancelled, release -> completed) in one transaction, and
// hands back the money to move: resolution "refund" refunds refund_amount (default: all that
// is refundable); "release" refunds refund_amount (default none) and releases the rest to
// the seller, less commission. If Stripe fails afterwards, payments-refund and
// payments-release (by an admin) finish the job with the same keys.
import { z } from "npm:zod@4.6.7";
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import {
  executeRefund,
  executeRelease,
  type PaymentsDeps,
  refundClaim,
  releaseClaim,
} from "../_shared/payments/escrow.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { callJson } from "../_shared/platform/rpc.ts";
import { readJson } from "../_shared/http/request.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { resolveRequest } from "../_shared/payments/requests.ts";

/** What public.resolve_dispute answers (jsonb): the resolution and the claims to carry out. */
const resolution = z.object({
  dispute_id: z.string(),
  order_id: z.string(),
  resolution: z.enum(["refund", "release"]),
  order_status: z.string(),
  refund: refundClaim.nullable(),
  release: releaseClaim.nullable(),
});

export async function resolveDispute(
  deps: PaymentsDeps,
  userId: string,
  body: z.infer<typeof resolveRequest>,
) {
  // refund_amount and note left out take their SQL defaults (null).
  const resolved = await callJson(deps.db, "resolve_dispute", {
    order_id: body.order_id,
    acting_user: userId,
    resolution: body.resolution,
    refund_amount: body.refund_amount,
    note: body.note,
  }, resolution);
  const refund = resolved.refund ? await executeRefund(deps, resolved.refund) : null;
  const release = resolved.release ? await executeRelease(deps, resolved.release) : null;
  return {
    dispute_id: resolved.dispute_id,
    order_id: resolved.order_id,
    resolution: resolved.resolution,
    order_status: resolved.order_status,
    refund,
    release,
  };
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user } = await requireUser(req);
  const body = await readJson(req, resolveRequest);
  return json(await resolveDispute({ db: serviceClient(), stripe: stripeClient() }, user.id, body));
});
