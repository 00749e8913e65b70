// POST /payments-refund { order_id, amount?, reason }: refunds an order's payment. An admin
// may refund any amount (minor units) up to what is refundable (captured less refunded);
// without an admin, either party of a paid order cancelled before delivery gets a full
// refund. After release, the seller's share (the refund less its commission) is first
// reversed from their transfer. Keys refund:<refund id> and reversal:<refund id>.
import { z } from "npm:zod@4.6.7";
import { json, methodNotAllowed } from "../_shared/errors.ts";
import {
  executeRefund,
  type PaymentsDeps,
  type RefundClaim,
  type RefundResult,
} from "../_shared/escrow.ts";
import { createHandler } from "../_shared/handler.ts";
import { call } from "../_shared/payments.ts";
import { readJson } from "../_shared/request.ts";
import { stripeClient } from "../_shared/stripe.ts";
import { requireUser, serviceClient } from "../_shared/supabase.ts";

export const refundRequest = z.strictObject({
  order_id: z.uuid(),
  amount: z.int().positive().optional(),
  reason: z.string().trim().min(1).max(1000),
});

export async function refundOrder(
  deps: PaymentsDeps,
  userId: string,
  body: z.infer<typeof refundRequest>,
): Promise<RefundResult> {
  const claim = await call<RefundClaim>(deps.db, "claim_refund", {
    order_id: body.order_id,
    acting_user: userId,
    amount: body.amount ?? null,
    reason: body.reason,
  });
  return executeRefund(deps, claim);
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user } = await requireUser(req);
  const body = await readJson(req, refundRequest);
  return json(await refundOrder({ db: serviceClient(), stripe: stripeClient() }, user.id, body));
});
