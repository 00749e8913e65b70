// A buyer cancelling a checkout before paying it (issue 17): the database decides
// (public.cancel_checkout, as the buyer, under the checkout's lock: the payment's capture and the
// expiry job take the same lock, so exactly one of them wins), then the open Stripe Checkout
// Session is expired so the buyer cannot pay a cancelled checkout. If Stripe completed the session
// in between, the payment arrives as a payment after the checkout ended and is refunded in full
// (private.apply_shop_capture's late_refund_due, settled by the webhook).
import type Stripe from "npm:stripe@23.1.0";
import { z } from "npm:zod@4.6.7";
import { call, type Db } from "../platform/rpc.ts";
import { stripeHttpError } from "../payments/stripe-errors.ts";

/** POST /commerce-checkout-cancel. */
export const cancelCheckoutRequest = z.strictObject({
  checkout_id: z.uuid(),
  reason: z.string().trim().min(1).max(500).optional(),
});

/** The one Stripe call cancelling needs (a real Stripe client satisfies it). */
export interface SessionExpirer {
  checkout: {
    sessions: {
      expire(
        id: string,
        params?: Stripe.Checkout.SessionExpireParams,
        options?: Stripe.RequestOptions,
      ): Promise<Stripe.Checkout.Session>;
    };
  };
}

export interface CancelDeps {
  /** The caller's own client: the RPC runs as them, under RLS. */
  db: Db;
  stripe: SessionExpirer;
  /** The checkout's Stripe Checkout Session still waiting for a payment, if any. */
  pendingSessionOf(checkoutId: string): Promise<string | null>;
}

export interface CancelCheckoutResult {
  checkout: unknown;
  /** What became of the checkout's Stripe session: none, expired now, or already over. */
  stripe_session: { id: string; status: string } | null;
}

export async function cancelCheckout(
  deps: CancelDeps,
  body: z.infer<typeof cancelCheckoutRequest>,
): Promise<CancelCheckoutResult> {
  const checkout = await call(deps.db, "cancel_checkout", {
    checkout_id: body.checkout_id,
    reason: body.reason,
  });
  const sessionId = await deps.pendingSessionOf(body.checkout_id);
  if (!sessionId) return { checkout, stripe_session: null };
  try {
    const session = await deps.stripe.checkout.sessions.expire(sessionId, undefined, {
      idempotencyKey: `shop_checkout_expire:${body.checkout_id}:${sessionId}`,
    });
    return { checkout, stripe_session: { id: session.id, status: session.status ?? "expired" } };
  } catch (err) {
    // Only an open session can be expired: one already expired or complete is answered as it
    // is (a completed one's payment is refunded when its webhook arrives).
    const e = err as { type?: string; statusCode?: number; message?: string };
    if (e?.type === "StripeInvalidRequestError" && e.statusCode === 400) {
      const status = /status of (\w+)/.exec(e.message ?? "")?.[1] ?? "not_open";
      return { checkout, stripe_session: { id: sessionId, status } };
    }
    throw stripeHttpError(err);
  }
}
