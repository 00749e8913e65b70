// POST /payments-release { order_id }: the buyer of a completed order (or an admin) releases
// its escrow: price less refunds less the order's commission is transferred to the seller's
// connected account (source_transaction = the charge, transfer_group order_<id>, key
// transfer:<order id>). Exactly once: concurrent calls get 409 while one is in flight, a
// released order answers with its transfer, and the ledger books it once.
//
// POST /payments-release { due: true } with the service role key: the scheduled path. Releases
// every escrow public.due_releases() lists (auto-completed orders, and completed orders whose
// buyer never called this), as the system.
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import {
  executeRelease,
  type PaymentsDeps,
  releaseClaim,
  type ReleaseResult,
  settleDue,
} from "../_shared/payments/escrow.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { callJson } from "../_shared/platform/rpc.ts";
import { readJson } from "../_shared/http/request.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { isServiceRole, requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { releaseRequest } from "../_shared/payments/requests.ts";

/** Releases one order's escrow for actingUser (null: the system). */
export async function releaseOrder(
  deps: PaymentsDeps,
  actingUser: string | null,
  orderId: string,
): Promise<ReleaseResult> {
  const claim = await callJson(deps.db, "claim_release", {
    order_id: orderId,
    acting_user: actingUser,
  }, releaseClaim);
  return executeRelease(deps, claim);
}

export async function releaseDue(deps: PaymentsDeps, limit = 100) {
  const { settled, failed } = await settleDue(
    deps.db,
    "due_releases",
    limit,
    (orderId) => releaseOrder(deps, null, orderId),
  );
  return { released: settled, failed };
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const deps = () => ({ db: serviceClient(), stripe: stripeClient() });
  if (isServiceRole(req)) {
    const body = await readJson(req, releaseRequest);
    if ("due" in body) return json(await releaseDue(deps(), body.limit));
    return json(await releaseOrder(deps(), null, body.order_id));
  }
  const { user } = await requireUser(req);
  const body = await readJson(req, releaseRequest);
  if ("due" in body) {
    throw new HttpError("forbidden", "Only the scheduler releases due escrows");
  }
  return json(await releaseOrder(deps(), user.id, body.order_id));
});
