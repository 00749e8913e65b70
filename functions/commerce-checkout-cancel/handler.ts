// POST /commerce-checkout-cancel { checkout_id, reason? }: the buyer cancels their checkout before
// paying it. public.cancel_checkout runs as the caller (PT404 another's checkout, PT409 a paid one:
// ask for a refund instead, an expired one, a payment in progress; a second call answers the same
// cancelled checkout), then the checkout's open Stripe Checkout Session is expired (key
// shop_checkout_expire:<checkout>:<session>) so it cannot be paid. Answers 200 { checkout,
// stripe_session: { id, status } | null }.
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { cancelCheckout, cancelCheckoutRequest } from "../_shared/commerce/cancel.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { requireUser } from "../_shared/platform/supabase.ts";

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { client } = await requireUser(req);
  const body = await readJson(req, cancelCheckoutRequest);
  const result = await cancelCheckout({
    db: client,
    stripe: stripeClient(),
    async pendingSessionOf(checkoutId) {
      // The buyer reads their checkout's payment (RLS): a session is worth expiring only while
      // the payment is pending.
      const { data, error } = await client.from("shop_payments")
        .select("stripe_checkout_session_id, status")
        .eq("checkout_id", checkoutId)
        .maybeSingle();
      if (error) throw error;
      return data?.status === "pending" ? data.stripe_checkout_session_id : null;
    },
  }, body);
  return json(result, 200);
});
