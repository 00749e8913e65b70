// Cancelling a checkout before paying (functions/_shared/commerce/cancel.ts) with the payments
// tests' fake database: the database decides first (its refusal answered as is, Stripe never
// called), then the open session is expired with a key derived from the checkout and session;
// a session Stripe no longer holds open is answered with its status; no pending session, no
// Stripe call; an unknown body key is refused.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type Stripe from "npm:stripe@23.1.0";
import {
  cancelCheckout,
  cancelCheckoutRequest,
} from "../../../functions/_shared/commerce/cancel.ts";
import { dbError, fakeDb, statusOf, stripeError } from "../payments/fake_payments.ts";

const checkoutId = "5a0e7c1b-3d2f-4a6b-9c8d-7e6f5a4b3c2d";
const cancelled = { id: checkoutId, status: "cancelled" };

function expirer(outcome: Error | null = null) {
  const calls: { id: string; key?: string }[] = [];
  return {
    calls,
    stripe: {
      checkout: {
        sessions: {
          expire(
            id: string,
            _params?: unknown,
            options?: { idempotencyKey?: string },
          ): Promise<Stripe.Checkout.Session> {
            calls.push({ id, key: options?.idempotencyKey });
            return outcome
              ? Promise.reject(outcome)
              : Promise.resolve({ id, status: "expired" } as Stripe.Checkout.Session);
          },
        },
      },
    },
  };
}

Deno.test("the database cancels, then the open session is expired with its key", async () => {
  const { db, calls } = fakeDb({ cancel_checkout: cancelled });
  const fake = expirer();
  const result = await cancelCheckout(
    { db, stripe: fake.stripe, pendingSessionOf: () => Promise.resolve("cs_1") },
    cancelCheckoutRequest.parse({ checkout_id: checkoutId, reason: "changed my mind" }),
  );
  deepStrictEqual(calls, [{
    fn: "cancel_checkout",
    args: { checkout_id: checkoutId, reason: "changed my mind" },
  }]);
  deepStrictEqual(fake.calls, [{ id: "cs_1", key: `shop_checkout_expire:${checkoutId}:cs_1` }]);
  deepStrictEqual(result, {
    checkout: cancelled,
    stripe_session: { id: "cs_1", status: "expired" },
  });
});

Deno.test("a refusal of the database is answered as is and Stripe is not called", async () => {
  const { db } = fakeDb({
    cancel_checkout: dbError(
      "PT409",
      `checkout ${checkoutId} is paid: it cannot be cancelled, ask for a refund of its shop orders instead`,
    ),
  });
  const fake = expirer();
  strictEqual(
    await statusOf(cancelCheckout(
      { db, stripe: fake.stripe, pendingSessionOf: () => Promise.resolve("cs_1") },
      { checkout_id: checkoutId },
    )),
    409,
  );
  strictEqual(fake.calls.length, 0);
});

Deno.test("a session Stripe no longer holds open is answered with its status", async () => {
  const { db } = fakeDb({ cancel_checkout: cancelled });
  const fake = expirer(stripeError(
    "StripeInvalidRequestError",
    400,
    'Only Checkout Sessions with a status in ["open"] can be expired. This session has a status of complete.',
  ));
  const result = await cancelCheckout(
    { db, stripe: fake.stripe, pendingSessionOf: () => Promise.resolve("cs_2") },
    { checkout_id: checkoutId },
  );
  deepStrictEqual(result.stripe_session, { id: "cs_2", status: "complete" });
});

Deno.test("no pending session: no Stripe call; unknown body keys refused", async () => {
  const { db } = fakeDb({ cancel_checkout: cancelled });
  const fake = expirer();
  const result = await cancelCheckout(
    { db, stripe: fake.stripe, pendingSessionOf: () => Promise.resolve(null) },
    { checkout_id: checkoutId },
  );
  strictEqual(result.stripe_session, null);
  strictEqual(fake.calls.length, 0);
  strictEqual(
    cancelCheckoutRequest.safeParse({ checkout_id: checkoutId, amount: 1 }).success,
    false,
  );
});
