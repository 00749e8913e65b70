// POST /payments-refund { order_id, amount?, reason }: refunds an order's payment. An admin
// may refund any amount (minor units) up to what is refundable (captured less refunded);
// without an admin, either party of a paid order cancelled before delivery gets a full
// refund. After release, the seller's share (the refund less its commission) is first
// reversed from their transfer. Keys refund:<refund id> and reversal:<refund id>.
//
// POST /payments-refund { due: true } with the service role key: the scheduled path (job
// payments-refund-due). Refunds, in full and as the system, every paid order cancelled
// before delivery that nobody has asked to refund (public.due_refunds()).
//
// A signed-in caller with a verified MFA factor needs an aal2 session (403 two_factor_required).
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import {
  executeRefund,
  type PaymentsDeps,
  refundClaim,
  type RefundResult,
  settleDue,
} from "../_shared/payments/escrow.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { callJson } from "../_shared/platform/rpc.ts";
import { readJson } from "../_shared/http/request.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { requireRequiredAal } from "../_shared/platform/assurance.ts";
import { isServiceRole, requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { dueRefundsRequest, refundRequest } from "../_shared/payments/requests.ts";

/** Refunds one order for userId (null: the system, by policy). */
export async function refundOrder(
  deps: PaymentsDeps,
  userId: string | null,
  body: z.infer<typeof refundRequest>,
): Promise<RefundResult> {
  // Without an amount (left out: the SQL default, null), all that is refundable.
  const claim = await callJson(deps.db, "claim_refund", {
    order_id: body.order_id,
    acting_user: userId,
    amount: body.amount,
    reason: body.reason,
  }, refundClaim);
  return executeRefund(deps, claim);
}

export const CANCELLATION_REFUND_REASON = "order cancelled before delivery";

export async function refundDue(deps: PaymentsDeps, limit = 100) {
  const { settled, failed } = await settleDue(
    deps.db,
    "due_refunds",
    limit,
    (orderId) => refundOrder(deps, null, { order_id: orderId, reason: CANCELLATION_REFUND_REASON }),
  );
  return { refunded: settled, failed };
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const deps = () => ({ db: serviceClient(), stripe: stripeClient() });
  if (isServiceRole(req)) {
    const body = await readJson(req, dueRefundsRequest);
    return json(await refundDue(deps(), body.limit));
  }
  const { user, client } = await requireUser(req);
  // Refunds move money: a caller with a verified factor refunds from an aal2 session.
  await requireRequiredAal(client);
  const body = await readJson(req, z.union([refundRequest, dueRefundsRequest]));
  if ("due" in body) {
    throw new HttpError("forbidden", "Only the scheduler refunds due escrows");
  }
  return json(await refundOrder(deps(), user.id, body));
});
