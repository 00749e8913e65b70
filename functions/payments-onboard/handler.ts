// POST /payments-onboard { return_url, refresh_url }: a seller sets up payouts. Creates the
// caller's Stripe Express account once (idempotency key account:<user id>, recorded by
// public.register_payment_account) and answers with an account_onboarding link. The two
// URLs must be on an allowed origin (PAYMENTS_ALLOWED_REDIRECT_ORIGINS). A seller with a
// verified MFA factor needs an aal2 session (403 two_factor_required).
import { z } from "npm:zod@4.6.7";
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { allowedRedirectOrigins, checkRedirect } from "../_shared/payments/redirects.ts";
import { type StripeApi } from "../_shared/payments/stripe.ts";
import { asJson, call, type Db } from "../_shared/platform/rpc.ts";
import { readJson } from "../_shared/http/request.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { requireRequiredAal } from "../_shared/platform/assurance.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { onboardRequest } from "../_shared/payments/requests.ts";

interface PaymentAccountRow {
  user_id: string | null;
  stripe_account_id: string | null;
  charges_enabled: boolean | null;
  payouts_enabled: boolean | null;
  can_receive_transfers: boolean | null;
}

export interface OnboardDeps {
  db: Db;
  stripe: StripeApi;
  allowedOrigins: string[];
}

export async function onboardSeller(
  { db, stripe, allowedOrigins }: OnboardDeps,
  user: { id: string; email?: string },
  body: z.infer<typeof onboardRequest>,
) {
  checkRedirect("return_url", body.return_url, allowedOrigins);
  checkRedirect("refresh_url", body.refresh_url, allowedOrigins);
  // A row of nulls when the seller has no account yet: the generated type, a table's row,
  // cannot say so, hence PaymentAccountRow.
  let account: PaymentAccountRow = await call(db, "seller_payment_account", {
    acting_user: user.id,
  });
  let created = false;
  if (!account.stripe_account_id) {
    const stripeAccount = await stripe.accounts.create({
      type: "express",
      ...(user.email ? { email: user.email } : {}),
      capabilities: { transfers: { requested: true } },
      metadata: { user_id: user.id },
    }, { idempotencyKey: `account:${user.id}` });
    account = await call(db, "register_payment_account", {
      acting_user: user.id,
      stripe_account_id: stripeAccount.id,
      account: asJson(stripeAccount),
    });
    created = true;
  }
  const link = await stripe.accountLinks.create({
    account: account.stripe_account_id!,
    type: "account_onboarding",
    return_url: body.return_url,
    refresh_url: body.refresh_url,
  });
  return {
    created,
    body: {
      account_id: account.stripe_account_id!,
      onboarding_url: link.url,
      expires_at: link.expires_at,
      charges_enabled: account.charges_enabled ?? false,
      payouts_enabled: account.payouts_enabled ?? false,
      can_receive_transfers: account.can_receive_transfers ?? false,
    },
  };
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user, client } = await requireUser(req);
  // Payouts move money: a seller with a verified factor onboards from an aal2 session.
  await requireRequiredAal(client);
  const body = await readJson(req, onboardRequest);
  const result = await onboardSeller(
    { db: serviceClient(), stripe: stripeClient(), allowedOrigins: allowedRedirectOrigins() },
    user,
    body,
  );
  return json(result.body, result.created ? 201 : 200);
});
