import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { initiateRequest } from "../../../functions/_shared/payments/requests.ts";
import { initiatePayment } from "../../../functions/payments-initiate/handler.ts";
import { onboardSeller } from "../../../functions/payments-onboard/handler.ts";
import { dbError, fakeDb, fakeStripe, statusOf } from "./fake_payments.ts";

const orderId = "7d3c1f0e-4b6a-4f3e-9a51-2f8c0b1d2e3f";
const buyer = "0b6f3a8e-2c1d-4e5f-8a9b-1c2d3e4f5a6b";
const allowedOrigins = ["http://127.0.0.1:3000"];
const urls = {
  success_url: "http://127.0.0.1:3000/paid",
  cancel_url: "http://127.0.0.1:3000/cart",
};

const started = (mode: string) => ({
  existing: false,
  mode,
  order_id: orderId,
  title: "Wedding dress",
  amount: 9000,
  currency: "eur",
  attempt: 1,
  transfer_group: `order_${orderId}`,
  idempotency_key: `${mode}:${orderId}:1`,
});

Deno.test("an amount in the body is dropped: the Checkout Session is for the order's amount", async () => {
  const body = initiateRequest.parse({ order_id: orderId, amount: 1, currency: "usd", ...urls });
  strictEqual("amount" in body, false);
  const { db, calls } = fakeDb({
    begin_payment: started("checkout"),
    record_payment_session: null,
  });
  const fake = fakeStripe();
  const result = await initiatePayment({ db, stripe: fake.stripe, allowedOrigins }, buyer, body);
  strictEqual(result.created, true);
  deepStrictEqual(result.body, {
    checkout_session_id: "cs_test1",
    url: "https://checkout.stripe.com/c/pay/cs_test1",
  });
  deepStrictEqual(calls[0], {
    fn: "begin_payment",
    args: { order_id: orderId, acting_user: buyer, mode: "checkout" },
  });
  strictEqual(fake.calls.length, 1);
  const [create] = fake.calls;
  strictEqual(create.method, "checkout.sessions.create");
  strictEqual(create.idempotencyKey, `checkout:${orderId}:1`);
  deepStrictEqual(create.params, {
    mode: "payment",
    client_reference_id: orderId,
    line_items: [{
      quantity: 1,
      price_data: { currency: "eur", unit_amount: 9000, product_data: { name: "Wedding dress" } },
    }],
    payment_intent_data: { transfer_group: `order_${orderId}`, metadata: { order_id: orderId } },
    metadata: { order_id: orderId, attempt: "1" },
    ...urls,
  });
  strictEqual(calls[1].fn, "record_payment_session");
  strictEqual(calls[1].args.checkout_session_id, "cs_test1");
});

Deno.test("calling again while the session is open returns it without calling Stripe", async () => {
  const { db } = fakeDb({
    begin_payment: {
      existing: true,
      mode: "checkout",
      checkout_session_id: "cs_open",
      url: "https://checkout.stripe.com/c/pay/cs_open",
    },
  });
  const fake = fakeStripe();
  const result = await initiatePayment(
    { db, stripe: fake.stripe, allowedOrigins },
    buyer,
    initiateRequest.parse({ order_id: orderId, ...urls }),
  );
  deepStrictEqual(result, {
    created: false,
    body: { checkout_session_id: "cs_open", url: "https://checkout.stripe.com/c/pay/cs_open" },
  });
  strictEqual(fake.calls.length, 0);
});

Deno.test("Elements clients get a PaymentIntent for the order's amount, keyed by the order", async () => {
  const { db } = fakeDb({ begin_payment: started("payment_intent"), record_payment_session: null });
  const fake = fakeStripe();
  const result = await initiatePayment(
    { db, stripe: fake.stripe, allowedOrigins },
    buyer,
    initiateRequest.parse({ order_id: orderId, mode: "payment_intent", amount: 5 }),
  );
  deepStrictEqual(result.body, {
    payment_intent_id: "pi_test1",
    client_secret: "pi_test1_secret_x",
  });
  strictEqual(fake.calls[0].idempotencyKey, `payment_intent:${orderId}:1`);
  deepStrictEqual(fake.calls[0].params, {
    amount: 9000,
    currency: "eur",
    transfer_group: `order_${orderId}`,
    metadata: { order_id: orderId },
    automatic_payment_methods: { enabled: true },
  });
});

Deno.test("a refused payment (wrong state, stranger, seller not ready) sends nothing to Stripe", async () => {
  for (
    const [code, status] of [["PT409", 409], ["PT404", 404], ["42501", 403]] as const
  ) {
    const { db } = fakeDb({ begin_payment: dbError(code, "refused") });
    const fake = fakeStripe();
    const promise = initiatePayment(
      { db, stripe: fake.stripe, allowedOrigins },
      buyer,
      initiateRequest.parse({ order_id: orderId, ...urls }),
    );
    strictEqual(await statusOf(promise), status);
    strictEqual(fake.calls.length, 0);
  }
});

Deno.test("a redirect outside the allow-list is 400 before the database or Stripe hear of it", async () => {
  const { db, calls } = fakeDb({});
  const fake = fakeStripe();
  const promise = initiatePayment(
    { db, stripe: fake.stripe, allowedOrigins },
    buyer,
    initiateRequest.parse({
      order_id: orderId,
      success_url: "https://evil.example/paid",
      cancel_url: urls.cancel_url,
    }),
  );
  strictEqual(await statusOf(promise), 400);
  strictEqual(calls.length, 0);
  strictEqual(fake.calls.length, 0);
});

Deno.test("onboarding creates the Express account once, keyed by the user", async () => {
  const none = {
    user_id: null,
    stripe_account_id: null,
    charges_enabled: null,
    payouts_enabled: null,
    can_receive_transfers: null,
  };
  const { db, calls } = fakeDb({
    seller_payment_account: none,
    register_payment_account: {
      user_id: buyer,
      stripe_account_id: "acct_1Qnew",
      charges_enabled: false,
      payouts_enabled: false,
      can_receive_transfers: false,
    },
  });
  const fake = fakeStripe();
  const body = {
    return_url: "http://127.0.0.1:3000/payouts/done",
    refresh_url: "http://127.0.0.1:3000/payouts/retry",
  };
  const result = await onboardSeller({ db, stripe: fake.stripe, allowedOrigins }, {
    id: buyer,
    email: "s@example.com",
  }, body);
  strictEqual(result.created, true);
  strictEqual(result.body.account_id, "acct_1Qnew");
  strictEqual(result.body.onboarding_url, "https://connect.stripe.com/setup/e/acct_1Qnew/link");
  deepStrictEqual(fake.calls.map((c) => [c.method, c.idempotencyKey]), [
    ["accounts.create", `account:${buyer}`],
    ["accountLinks.create", undefined],
  ]);
  deepStrictEqual(fake.calls[1].params, {
    account: "acct_1Qnew",
    type: "account_onboarding",
    ...body,
  });
  strictEqual(calls[1].fn, "register_payment_account");

  // The second time, the stored account is used.
  const again = fakeDb({
    seller_payment_account: { ...none, user_id: buyer, stripe_account_id: "acct_1Qnew" },
  });
  const fake2 = fakeStripe();
  const second = await onboardSeller({ db: again.db, stripe: fake2.stripe, allowedOrigins }, {
    id: buyer,
  }, body);
  strictEqual(second.created, false);
  deepStrictEqual(fake2.calls.map((c) => c.method), ["accountLinks.create"]);

  // A return URL elsewhere is refused before anything happens.
  const fake3 = fakeStripe();
  const refused = onboardSeller({ db, stripe: fake3.stripe, allowedOrigins }, { id: buyer }, {
    ...body,
    return_url: "https://evil.example/",
  });
  strictEqual(await statusOf(refused), 400);
  strictEqual(fake3.calls.length, 0);
});
