// The shop's payment logic (functions/_shared/commerce/payments.ts) against the payments tests'
// fakes: one Checkout Session per checkout with the database's amount and lines; the open
// session returned; transfers made with their keys and recorded; a refused transfer's claim
// dropped; a late payment refunded instead of paid out; a refund reversing the seller's share
// first, a refunded order answered without calling Stripe, a refused refund abandoned; Stripe's
// fee read once from the payment intent (latest_charge.balance_transaction) and recorded, its
// charge used as the transfers' source; a retry's own key; the scheduled retry of due transfers;
// a session made for a checkout cancelled meanwhile expired at once.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  checkoutOfEvent,
  checkoutPayRequest,
  payCheckout,
  refundRequest,
  refundShopOrder,
  retryDueTransfers,
  retryTransfersRequest,
  sessionExpiry,
  settleCheckout,
} from "../../../functions/_shared/commerce/payments.ts";
import { dbError, fakeDb, fakeStripe, statusOf, stripeError } from "../payments/fake_payments.ts";

const checkoutId = "5a0e7c1b-3d2f-4a6b-9c8d-7e6f5a4b3c2d";
const buyer = "0b6f3a8e-2c1d-4e5f-8a9b-1c2d3e4f5a6b";
const orderA = "1a2b3c4d-0000-4000-8000-00000000000a";
const orderB = "1a2b3c4d-0000-4000-8000-00000000000b";
const urls = {
  success_url: "http://127.0.0.1:3000/paid",
  cancel_url: "http://127.0.0.1:3000/cart",
};

const started = {
  existing: false,
  checkout_id: checkoutId,
  amount: 7599,
  currency: "usd",
  attempt: 2,
  lines: [
    { shop_order_id: orderA, name: "Shop A (1 items)", amount: 5600 },
    { shop_order_id: orderB, name: "Shop B (1 items)", amount: 1999 },
  ],
  transfer_group: `checkout_${checkoutId}`,
  expires_at: 1763812800,
  idempotency_key: `shop_checkout:${checkoutId}:2`,
};

Deno.test("an amount in the body is dropped: one session for the checkout's lines and key", async () => {
  const body = checkoutPayRequest.parse({ checkout_id: checkoutId, amount: 1 });
  strictEqual("amount" in body, false);
  const { db, calls } = fakeDb({ begin_shop_payment: started, record_shop_payment_session: null });
  const fake = fakeStripe();
  const result = await payCheckout({ db, stripe: fake.stripe }, buyer, { ...body, ...urls });
  strictEqual(result.created, true);
  strictEqual(fake.calls.length, 1);
  const call = fake.calls[0];
  strictEqual(call.method, "checkout.sessions.create");
  strictEqual(call.idempotencyKey, `shop_checkout:${checkoutId}:2`);
  const params = call.params as Record<string, unknown> & {
    line_items: { price_data: { unit_amount: number } }[];
    payment_intent_data: { transfer_group: string; metadata: Record<string, string> };
  };
  deepStrictEqual(params.line_items.map((l) => l.price_data.unit_amount), [5600, 1999]);
  strictEqual(params.payment_intent_data.transfer_group, `checkout_${checkoutId}`);
  deepStrictEqual(params.payment_intent_data.metadata, { checkout_id: checkoutId });
  strictEqual(params.client_reference_id, checkoutId);
  deepStrictEqual(calls.map((c) => c.fn), ["begin_shop_payment", "record_shop_payment_session"]);
  strictEqual(calls[1].args.attempt, 2);
});

Deno.test("a session made for a checkout cancelled meanwhile is expired, and the refusal answered 409", async () => {
  const message =
    `checkout ${checkoutId} is cancelled: payment session cs_test1 is not recorded, expire it`;
  const { db } = fakeDb({
    begin_shop_payment: started,
    record_shop_payment_session: dbError("PT409", message),
  });
  const fake = fakeStripe();
  const failure = await payCheckout({ db, stripe: fake.stripe }, buyer, {
    checkout_id: checkoutId,
    ...urls,
  }).then(() => null, (err) => err);
  strictEqual(failure?.status, 409);
  strictEqual(failure?.message, message);
  deepStrictEqual(fake.calls.map((c) => [c.method, c.idempotencyKey]), [
    ["checkout.sessions.create", `shop_checkout:${checkoutId}:2`],
    ["checkout.sessions.expire", `shop_checkout_expire:${checkoutId}:cs_test1`],
  ]);
  deepStrictEqual((fake.calls[1].params as { id: string }).id, "cs_test1");
});

Deno.test("a second call returns the open session without calling Stripe", async () => {
  const { db } = fakeDb({
    begin_shop_payment: {
      existing: true,
      checkout_id: checkoutId,
      checkout_session_id: "cs_open",
      url: "https://x/cs_open",
    },
  });
  const fake = fakeStripe();
  const result = await payCheckout({ db, stripe: fake.stripe }, buyer, {
    checkout_id: checkoutId,
    ...urls,
  });
  strictEqual(result.created, false);
  strictEqual(result.body.checkout_session_id, "cs_open");
  strictEqual(fake.calls.length, 0);
});

Deno.test("another's checkout is 404, one not awaiting payment 409", async () => {
  for (const [code, status] of [["PT404", 404], ["PT409", 409]] as const) {
    const { db } = fakeDb({ begin_shop_payment: dbError(code, "refused") });
    strictEqual(
      await statusOf(
        payCheckout({ db, stripe: fakeStripe().stripe }, buyer, {
          checkout_id: checkoutId,
          ...urls,
        }),
      ),
      status,
    );
  }
});

Deno.test("the session's expiry is within Stripe's bounds: 30 minutes to a day", () => {
  const now = 1_000_000;
  strictEqual(sessionExpiry(now + 600, now), now + 30 * 60 + 5);
  strictEqual(sessionExpiry(now + 3600, now), now + 3600);
  strictEqual(sessionExpiry(now + 90_000, now), now + 24 * 3600);
});

const claim = (order: string, destination: string, amount: number) => ({
  shop_order_id: order,
  amount,
  currency: "usd",
  destination,
  source_transaction: null,
  payment_intent: "pi_1",
  transfer_group: `checkout_${checkoutId}`,
  idempotency_key: `shop_transfer:${order}`,
});

Deno.test("settling: one transfer per claim with its key and the charge, each recorded; a refused one abandoned", async () => {
  const { db, calls } = fakeDb({
    shop_fee_due: null,
    claim_shop_late_refund: null,
    claim_shop_transfers: [claim(orderA, "acct_A", 5100), claim(orderB, "acct_B", 1899)],
    record_shop_transfer: "applied",
    abandon_shop_transfer: null,
  });
  const fake = fakeStripe();
  const result = await settleCheckout({ db, stripe: fake.stripe }, checkoutId);
  const transfers = fake.calls.filter((c) => c.method === "transfers.create");
  deepStrictEqual(transfers.map((c) => c.idempotencyKey), [
    `shop_transfer:${orderA}`,
    `shop_transfer:${orderB}`,
  ]);
  deepStrictEqual(
    transfers.map((c) => (c.params as { source_transaction: string }).source_transaction),
    ["ch_latest", "ch_latest"],
  );
  strictEqual(fake.calls.filter((c) => c.method === "paymentIntents.retrieve").length, 1);
  strictEqual(result.transfers.length, 2);
  strictEqual(calls.filter((c) => c.fn === "record_shop_transfer").length, 2);

  const refused = fakeDb({
    shop_fee_due: null,
    claim_shop_late_refund: null,
    claim_shop_transfers: [claim(orderA, "acct_A", 5100)],
    abandon_shop_transfer: null,
  });
  const failing = fakeStripe({
    "transfers.create": stripeError("StripeInvalidRequestError", 400, "insufficient capabilities"),
  });
  const out = await settleCheckout({ db: refused.db, stripe: failing.stripe }, checkoutId);
  strictEqual(out.failed.length, 1);
  deepStrictEqual(refused.calls.map((c) => c.fn), [
    "shop_fee_due",
    "claim_shop_late_refund",
    "claim_shop_transfers",
    "abandon_shop_transfer",
  ]);
});

Deno.test("a late payment is refunded in full and nothing is paid out", async () => {
  const { db, calls } = fakeDb({
    shop_fee_due: null,
    claim_shop_late_refund: {
      checkout_id: checkoutId,
      amount: 7599,
      payment_intent: "pi_late",
      reason: "paid after the checkout was expired: its stock had been released",
      idempotency_key: `shop_late_refund:${checkoutId}`,
    },
    record_shop_late_refund: "applied",
  });
  const fake = fakeStripe();
  const result = await settleCheckout({ db, stripe: fake.stripe }, checkoutId);
  deepStrictEqual(fake.calls.map((c) => [c.method, c.idempotencyKey]), [[
    "refunds.create",
    `shop_late_refund:${checkoutId}`,
  ]]);
  strictEqual(result.transfers.length, 0);
  deepStrictEqual(calls.map((c) => c.fn), [
    "shop_fee_due",
    "claim_shop_late_refund",
    "record_shop_late_refund",
  ]);
});

/** A fake Stripe whose payment intent expands its latest charge and the charge's balance transaction. */
function stripeWithFee(fee: number) {
  const fake = fakeStripe();
  const retrieve = fake.stripe.paymentIntents.retrieve;
  fake.stripe.paymentIntents.retrieve = async (id, params, options) => {
    const intent = await retrieve(id, params, options);
    return {
      ...intent,
      latest_charge: {
        id: "ch_fee",
        object: "charge",
        balance_transaction: { id: "txn_fee", object: "balance_transaction", fee, currency: "usd" },
      },
    } as unknown as typeof intent;
  };
  return fake;
}

Deno.test("settling reads Stripe's fee once from the payment intent, records it and pays from that charge", async () => {
  const { db, calls } = fakeDb({
    shop_fee_due: "pi_1",
    record_shop_stripe_fee: "applied",
    claim_shop_late_refund: null,
    claim_shop_transfers: [claim(orderA, "acct_A", 5100), claim(orderB, "acct_B", 1899)],
    record_shop_transfer: "applied",
  });
  const fake = stripeWithFee(250);
  const result = await settleCheckout({ db, stripe: fake.stripe }, checkoutId);
  const reads = fake.calls.filter((c) => c.method === "paymentIntents.retrieve");
  deepStrictEqual(reads.map((c) => c.params), [{
    id: "pi_1",
    expand: ["latest_charge.balance_transaction"],
  }]);
  const recorded = calls.find((c) => c.fn === "record_shop_stripe_fee")!;
  deepStrictEqual(recorded.args, {
    checkout_id: checkoutId,
    charge_id: "ch_fee",
    balance_transaction: {
      id: "txn_fee",
      object: "balance_transaction",
      fee: 250,
      currency: "usd",
    },
  });
  strictEqual(result.fee, "applied");
  deepStrictEqual(
    fake.calls.filter((c) => c.method === "transfers.create")
      .map((c) => (c.params as { source_transaction: string }).source_transaction),
    ["ch_fee", "ch_fee"],
  );
});

Deno.test("settling leaves the fee for later when Stripe cannot say it, and still pays out", async () => {
  const { db, calls } = fakeDb({
    shop_fee_due: "pi_1",
    claim_shop_late_refund: null,
    claim_shop_transfers: [{ ...claim(orderA, "acct_A", 5100), source_transaction: "ch_known" }],
    record_shop_transfer: "applied",
  });
  const fake = fakeStripe({
    "paymentIntents.retrieve": stripeError("StripeAPIError", 500, "Stripe had a problem"),
  });
  const result = await settleCheckout({ db, stripe: fake.stripe }, checkoutId);
  strictEqual(result.fee, undefined);
  strictEqual(calls.some((c) => c.fn === "record_shop_stripe_fee"), false);
  strictEqual(result.transfers.length, 1);
});

Deno.test("a retried transfer is made with its attempt's key", async () => {
  const { db } = fakeDb({
    shop_fee_due: null,
    claim_shop_late_refund: null,
    claim_shop_transfers: [{
      ...claim(orderB, "acct_B", 1899),
      attempt: 3,
      idempotency_key: `shop_transfer:${orderB}:3`,
    }],
    record_shop_transfer: "applied",
  });
  const fake = fakeStripe();
  await settleCheckout({ db, stripe: fake.stripe }, checkoutId);
  deepStrictEqual(
    fake.calls.filter((c) => c.method === "transfers.create").map((c) => c.idempotencyKey),
    [`shop_transfer:${orderB}:3`],
  );
});

Deno.test("the scheduled retry settles every checkout with a transfer due, and reports refusals", async () => {
  const other = "5a0e7c1b-3d2f-4a6b-9c8d-7e6f5a4b3c2e";
  const { db, calls } = fakeDb({
    due_shop_transfers: [checkoutId, other],
    shop_fee_due: null,
    claim_shop_late_refund: null,
    claim_shop_transfers: (args: Record<string, unknown>) =>
      args.checkout_id === checkoutId
        ? [claim(orderA, "acct_A", 5100)]
        : [{ ...claim(orderB, "acct_B", 1899), transfer_group: `checkout_${other}` }],
    record_shop_transfer: "applied",
    abandon_shop_transfer: null,
  });
  const fake = fakeStripe();
  const create = fake.stripe.transfers.create;
  fake.stripe.transfers.create = (params, options) =>
    params.destination === "acct_B"
      ? Promise.reject(stripeError("StripeInvalidRequestError", 400, "insufficient capabilities"))
      : create(params, options);
  const result = await retryDueTransfers({ db, stripe: fake.stripe }, 25);
  deepStrictEqual(calls.find((c) => c.fn === "due_shop_transfers")!.args, { max_rows: 25 });
  strictEqual(result.checkouts, 2);
  deepStrictEqual(result.transfers.map((t) => t.shop_order_id), [orderA]);
  deepStrictEqual(result.failed, [{ shop_order_id: orderB, message: "insufficient capabilities" }]);
  deepStrictEqual(calls.find((c) => c.fn === "abandon_shop_transfer")!.args, {
    shop_order_id: orderB,
    reason: "insufficient capabilities",
  });
});

Deno.test("the retry's request: the scheduler's due run or one checkout, nothing else", () => {
  deepStrictEqual(retryTransfersRequest.parse({ due: true }), { due: true, limit: 100 });
  deepStrictEqual(retryTransfersRequest.parse({ checkout_id: checkoutId }), {
    checkout_id: checkoutId,
  });
  for (const bad of [{}, { due: false }, { due: true, limit: 0 }, { checkout_id: "x" }]) {
    strictEqual(retryTransfersRequest.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

Deno.test("checkoutOfEvent reads metadata.checkout_id, nothing else", () => {
  strictEqual(
    checkoutOfEvent({ data: { object: { metadata: { checkout_id: checkoutId } } } }),
    checkoutId,
  );
  strictEqual(checkoutOfEvent({ data: { object: { metadata: { order_id: checkoutId } } } }), null);
  strictEqual(checkoutOfEvent({ data: { object: { metadata: { checkout_id: "nope" } } } }), null);
});

const refundClaim = {
  state: "claimed",
  refund_id: "9f9f9f9f-0000-4000-8000-000000000001",
  shop_order_id: orderA,
  amount: 5600,
  currency: "usd",
  payment_intent: "pi_1",
  reason: "changed my mind",
  reversal_amount: 5100,
  transfer_id: "tr_A",
  idempotency_key: "shop_refund:9f9f9f9f-0000-4000-8000-000000000001",
  reversal_idempotency_key: "shop_reversal:9f9f9f9f-0000-4000-8000-000000000001",
};

Deno.test("a refund reverses the seller's share first, then refunds, each with its key, and records both", async () => {
  const body = refundRequest.parse({ shop_order_id: orderA });
  const { db, calls } = fakeDb({ claim_shop_refund: refundClaim, record_shop_refund: "applied" });
  const fake = fakeStripe();
  const result = await refundShopOrder({ db, stripe: fake.stripe }, buyer, body);
  strictEqual(result.created, true);
  deepStrictEqual(fake.calls.map((c) => [c.method, c.idempotencyKey]), [
    ["transfers.createReversal", refundClaim.reversal_idempotency_key],
    ["refunds.create", refundClaim.idempotency_key],
  ]);
  strictEqual((fake.calls[0].params as { amount: number }).amount, 5100);
  const record = calls.find((c) => c.fn === "record_shop_refund")!;
  strictEqual(record.args.refund_id, refundClaim.refund_id);
});

Deno.test("a refunded order is answered without Stripe; a refund Stripe refuses is abandoned (409); concurrent claims 409", async () => {
  const done = fakeDb({
    claim_shop_refund: {
      state: "refunded",
      refund_id: refundClaim.refund_id,
      shop_order_id: orderA,
      amount: 5600,
      currency: "usd",
      status: "cancelled",
    },
  });
  const fake = fakeStripe();
  const result = await refundShopOrder({ db: done.db, stripe: fake.stripe }, buyer, {
    shop_order_id: orderA,
  });
  strictEqual(result.created, false);
  strictEqual(result.body.already_refunded, true);
  strictEqual(fake.calls.length, 0);

  const refused = fakeDb({ claim_shop_refund: refundClaim, abandon_shop_refund: null });
  const failing = fakeStripe({
    "refunds.create": stripeError("StripeInvalidRequestError", 400, "charge_already_refunded"),
  });
  strictEqual(
    await statusOf(
      refundShopOrder({ db: refused.db, stripe: failing.stripe }, buyer, { shop_order_id: orderA }),
    ),
    409,
  );
  strictEqual(refused.calls.at(-1)!.fn, "abandon_shop_refund");

  const busy = fakeDb({
    claim_shop_refund: dbError("PT409", `a refund of shop order ${orderA} is in progress`),
  });
  strictEqual(
    await statusOf(
      refundShopOrder({ db: busy.db, stripe: fakeStripe().stripe }, buyer, {
        shop_order_id: orderA,
      }),
    ),
    409,
  );
});
