// POST /commerce-refund { shop_order_id, amount?, reason? }: cancels or refunds a paid shop
// order (003 POST /payments/{id}/refund, 001/003 order cancel). The buyer cancels before
// shipment, in full; the seller cancels in full with a reason; commerce staff refund any amount
// up to what is left (partial allowed) with a reason. The seller's transfer is reversed for
// their share (the refund less its commission share), then Stripe refunds the buyer; a full
// refund cancels a paid order (restocked) or refunds a shipped one, and releases the coupon
// when the whole checkout is cancelled. Exactly once: one claim in flight per order (409 for a
// concurrent request), keys shop_refund:<id> and shop_reversal:<id>, a refunded order answers
// 200 with its refund. A caller with a verified MFA factor needs an aal2 session.
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { refundRequest, refundShopOrder } from "../_shared/commerce/payments.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { requireRequiredAal } from "../_shared/platform/assurance.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user, client } = await requireUser(req);
  await requireRequiredAal(client);
  const body = await readJson(req, refundRequest);
  const result = await refundShopOrder(
    { db: serviceClient(), stripe: stripeClient() },
    user.id,
    body,
  );
  return json(result.body, result.created ? 201 : 200);
});
