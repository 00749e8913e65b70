// POST /commerce-checkout-pay { checkout_id, success_url?, cancel_url? }: the buyer pays a
// placed checkout awaiting payment with ONE Stripe Checkout Session (mode=payment) for all
// its shop orders: amount and line items from the database (ops.begin_shop_payment), never
// from the request; transfer_group checkout_<id>; key shop_checkout:<id>:<attempt>; metadata
// { checkout_id }; expires_at at the reservation's end (Stripe's minimum is 30 minutes ahead:
// a payment after the reservation ended is refunded by the webhook). A second call while the
// session is open returns it (200; 201 when made). Refusals: 404 another's or unknown
// checkout, 409 not awaiting payment / already paid / about to expire.
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { checkoutPayRequest, payCheckout } from "../_shared/commerce/payments.ts";
import { allowedRedirectOrigins, checkRedirect } from "../_shared/payments/redirects.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user } = await requireUser(req);
  const body = await readJson(req, checkoutPayRequest);
  const allowed = allowedRedirectOrigins();
  const success_url = body.success_url ?? `${allowed[0]}/checkout/${body.checkout_id}/paid`;
  const cancel_url = body.cancel_url ?? `${allowed[0]}/checkout/${body.checkout_id}`;
  checkRedirect("success_url", success_url, allowed);
  checkRedirect("cancel_url", cancel_url, allowed);
  const result = await payCheckout(
    { db: serviceClient(), stripe: stripeClient() },
    user.id,
    { checkout_id: body.checkout_id, success_url, cancel_url },
  );
  return json(result.body, result.created ? 201 : 200);
});
