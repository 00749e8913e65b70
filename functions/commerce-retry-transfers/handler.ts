// POST /commerce-retry-transfers with the service-role key: the scheduled retry of the shop's
// seller transfers (job commerce-transfers-retry, every 5 minutes). { due: true, limit? }
// settles every checkout ops.due_shop_transfers lists (a transfer Stripe refused, or whose
// seller could not receive transfers, once its backoff is over or the seller can; a claim left
// by a crash); { checkout_id } settles one now (an operator, npm run admin). Each transfer is
// claimed under its payment's lock and made with its attempt's key, so overlapping runs and
// retries pay a seller once. Answers { checkouts, transfers, failed }.
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import {
  type CommerceDeps,
  retryDueTransfers,
  retryTransfersRequest,
  settleCheckout,
} from "../_shared/commerce/payments.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { isServiceRole, serviceClient } from "../_shared/platform/supabase.ts";

/** The handler, given where its database and Stripe come from (unit tests pass fakes). */
export function retryTransfersHandler(deps: () => CommerceDeps) {
  return createHandler(async (req) => {
    if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
    if (!isServiceRole(req)) {
      throw new HttpError(
        "forbidden",
        "Transfers are retried with the service-role key only (the schedule, the admin CLI)",
      );
    }
    const body = await readJson(req, retryTransfersRequest);
    if ("due" in body) return json(await retryDueTransfers(deps(), body.limit));
    const settled = await settleCheckout(deps(), body.checkout_id);
    return json({ checkouts: 1, transfers: settled.transfers, failed: settled.failed });
  });
}

export const handler = retryTransfersHandler(() => ({
  db: serviceClient(),
  stripe: stripeClient(),
}));
