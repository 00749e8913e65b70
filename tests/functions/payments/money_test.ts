// Release, refund and dispute resolution with a fake Stripe: what is sent (amounts from the
// database's claim, never the body), with which idempotency keys, in which order, and that
// a refused request sends nothing.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { errorResponse } from "../../../functions/_shared/http/errors.ts";
import {
  dueRefundsRequest,
  refundRequest,
  releaseRequest,
  resolveRequest,
} from "../../../functions/_shared/payments/requests.ts";
import {
  CANCELLATION_REFUND_REASON,
  refundDue,
  refundOrder,
} from "../../../functions/payments-refund/handler.ts";
import { releaseDue, releaseOrder } from "../../../functions/payments-release/handler.ts";
import { resolveDispute } from "../../../functions/payments-resolve-dispute/handler.ts";
import { dbError, fakeDb, fakeStripe, statusOf, stripeError } from "./fake_payments.ts";

const orderId = "7d3c1f0e-4b6a-4f3e-9a51-2f8c0b1d2e3f";
const buyer = "0b6f3a8e-2c1d-4e5f-8a9b-1c2d3e4f5a6b";
const refundId = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d";

const releaseClaim = {
  state: "claimed",
  order_id: orderId,
  amount: 8100,
  currency: "eur",
  commission: 900,
  destination: "acct_1Qseller",
  source_transaction: "ch_1",
  payment_intent: "pi_1",
  transfer_group: `order_${orderId}`,
  idempotency_key: `transfer:${orderId}`,
};

const refundClaim = (reversal: number) => ({
  refund_id: refundId,
  order_id: orderId,
  amount: 1000,
  currency: "eur",
  payment_intent: "pi_1",
  charge: "ch_1",
  reason: "goodwill",
  reversal_amount: reversal,
  transfer_id: reversal > 0 ? "tr_1" : null,
  idempotency_key: `refund:${refundId}`,
  reversal_idempotency_key: `reversal:${refundId}`,
});

Deno.test("a release transfers the claimed amount from the charge, keyed transfer:<order>", async () => {
  const { db, calls } = fakeDb({ claim_release: releaseClaim, record_release: "applied" });
  const fake = fakeStripe();
  const result = await releaseOrder({ db, stripe: fake.stripe }, buyer, orderId);
  deepStrictEqual(result, {
    order_id: orderId,
    status: "released",
    transfer_id: "tr_test1",
    amount: 8100,
    currency: "eur",
    commission: 900,
    already_released: false,
  });
  deepStrictEqual(fake.calls, [{
    method: "transfers.create",
    idempotencyKey: `transfer:${orderId}`,
    params: {
      amount: 8100,
      currency: "eur",
      destination: "acct_1Qseller",
      transfer_group: `order_${orderId}`,
      source_transaction: "ch_1",
      metadata: { order_id: orderId },
    },
  }]);
  deepStrictEqual(calls.map((c) => c.fn), ["claim_release", "record_release"]);
  deepStrictEqual(calls[1].args, { order_id: orderId, transfer_id: "tr_test1", amount: 8100 });
});

Deno.test("a release body carries only the order: an amount is refused", () => {
  strictEqual(releaseRequest.safeParse({ order_id: orderId }).success, true);
  strictEqual(releaseRequest.safeParse({ order_id: orderId, amount: 1 }).success, false);
});

Deno.test("without a charge id yet, the PaymentIntent's latest charge is the source", async () => {
  const { db } = fakeDb({
    claim_release: { ...releaseClaim, source_transaction: null },
    record_release: "applied",
  });
  const fake = fakeStripe();
  await releaseOrder({ db, stripe: fake.stripe }, buyer, orderId);
  deepStrictEqual(fake.calls.map((c) => c.method), ["paymentIntents.retrieve", "transfers.create"]);
  strictEqual(
    (fake.calls[1].params as { source_transaction: string }).source_transaction,
    "ch_latest",
  );
});

Deno.test("an order already released answers with its transfer and sends nothing", async () => {
  const { db } = fakeDb({
    claim_release: {
      state: "released",
      order_id: orderId,
      transfer_id: "tr_1",
      amount: 8100,
      currency: "eur",
      commission: 900,
    },
  });
  const fake = fakeStripe();
  const result = await releaseOrder({ db, stripe: fake.stripe }, buyer, orderId);
  strictEqual(result.already_released, true);
  strictEqual(fake.calls.length, 0);
});

Deno.test("a refused release (disputed, in flight, not the buyer, unknown) sends nothing to Stripe", async () => {
  for (const [code, status] of [["PT409", 409], ["42501", 403], ["PT404", 404]] as const) {
    const { db } = fakeDb({ claim_release: dbError(code, "refused") });
    const fake = fakeStripe();
    strictEqual(await statusOf(releaseOrder({ db, stripe: fake.stripe }, buyer, orderId)), status);
    strictEqual(fake.calls.length, 0);
  }
});

Deno.test("Stripe refusing a transfer drops the claim and answers 409 with Stripe's reason", async () => {
  const { db, calls } = fakeDb({ claim_release: releaseClaim, abandon_release: null });
  const fake = fakeStripe({
    "transfers.create": stripeError("StripeInvalidRequestError", 400, "Insufficient funds"),
  });
  const res = errorResponse(
    await releaseOrder({ db, stripe: fake.stripe }, buyer, orderId).catch((e) => e),
  );
  strictEqual(res.status, 409);
  deepStrictEqual((await res.json()).error, {
    code: "payment_provider_refused",
    message: "Stripe refused the request: Insufficient funds",
    details: { stripe_type: "StripeInvalidRequestError", stripe_code: "test_error" },
  });
  deepStrictEqual(calls.map((c) => c.fn), ["claim_release", "abandon_release"]);
});

Deno.test("Stripe refusing our key or failing is a 502, not the caller's conflict", async () => {
  for (
    const [type, statusCode] of [["StripeAuthenticationError", 401], [
      "StripeAPIError",
      500,
    ]] as const
  ) {
    const { db } = fakeDb({ claim_release: releaseClaim, abandon_release: null });
    const fake = fakeStripe({ "transfers.create": stripeError(type, statusCode, "no") });
    strictEqual(
      await statusOf(releaseOrder({ db, stripe: fake.stripe }, buyer, orderId)),
      502,
      type,
    );
  }
});

Deno.test("a claim in an unexpected shape is the server's 500, and nothing goes to Stripe", async () => {
  const { amount: _amount, ...withoutAmount } = releaseClaim;
  const consoleError = console.error;
  console.error = () => {};
  try {
    for (const claim of [withoutAmount, { ...releaseClaim, state: "pending" }, null]) {
      const { db } = fakeDb({ claim_release: claim });
      const fake = fakeStripe();
      strictEqual(await statusOf(releaseOrder({ db, stripe: fake.stripe }, buyer, orderId)), 500);
      deepStrictEqual(fake.calls, []);
    }
  } finally {
    console.error = consoleError;
  }
});

Deno.test("a network failure keeps the claim, so a retry repeats the same key", async () => {
  const { db, calls } = fakeDb({ claim_release: releaseClaim });
  const fake = fakeStripe({
    "transfers.create": stripeError("StripeConnectionError", undefined, "socket hang up"),
  });
  strictEqual(await statusOf(releaseOrder({ db, stripe: fake.stripe }, buyer, orderId)), 502);
  deepStrictEqual(calls.map((c) => c.fn), ["claim_release"]);
});

Deno.test("the scheduled path releases every due escrow as the system and reports failures", async () => {
  const other = "11111111-2222-4333-8444-555555555555";
  const { db, calls } = fakeDb({
    due_releases: [orderId, other],
    claim_release: (args: Record<string, unknown>) =>
      args.order_id === orderId
        ? releaseClaim
        : dbError("PT409", "seller cannot receive transfers"),
    record_release: "applied",
  });
  const fake = fakeStripe();
  const result = await releaseDue({ db, stripe: fake.stripe });
  strictEqual(result.released.length, 1);
  deepStrictEqual(result.failed, [{
    order_id: other,
    error: { code: "conflict", message: "seller cannot receive transfers" },
  }]);
  strictEqual(calls.find((c) => c.fn === "claim_release")!.args.acting_user, null);
  strictEqual(fake.calls.length, 1);
});

Deno.test("the scheduled path refunds every order cancelled before delivery, in full, as the system", async () => {
  const other = "11111111-2222-4333-8444-555555555555";
  const { db, calls } = fakeDb({
    due_refunds: [orderId, other],
    claim_refund: (args: Record<string, unknown>) =>
      args.order_id === orderId
        ? refundClaim(0)
        : dbError("PT409", `a refund of order ${other} is in progress`),
    record_refund: "applied",
  });
  const fake = fakeStripe();
  const result = await refundDue({ db, stripe: fake.stripe }, 50);
  deepStrictEqual(result.refunded.map((r) => r.order_id), [orderId]);
  deepStrictEqual(result.failed, [{
    order_id: other,
    error: { code: "conflict", message: `a refund of order ${other} is in progress` },
  }]);
  deepStrictEqual(calls[0], { fn: "due_refunds", args: { max_rows: 50 } });
  deepStrictEqual(calls.find((c) => c.fn === "claim_refund")!.args, {
    order_id: orderId,
    acting_user: null,
    reason: CANCELLATION_REFUND_REASON, // no amount: the SQL default, all that is refundable
  });
  deepStrictEqual(fake.calls.map((c) => c.method), ["refunds.create"]);
  // Only { due: true } (and a limit) is the scheduler's request.
  strictEqual(dueRefundsRequest.safeParse({ due: true, amount: 5 }).success, false);
});

Deno.test("a refund before release refunds the PaymentIntent, keyed refund:<refund id>, no reversal", async () => {
  const { db, calls } = fakeDb({ claim_refund: refundClaim(0), record_refund: "applied" });
  const fake = fakeStripe();
  const result = await refundOrder(
    { db, stripe: fake.stripe },
    buyer,
    refundRequest.parse({ order_id: orderId, reason: "cancelled" }),
  );
  strictEqual(result.status, "succeeded");
  deepStrictEqual(fake.calls, [{
    method: "refunds.create",
    idempotencyKey: `refund:${refundId}`,
    params: {
      payment_intent: "pi_1",
      amount: 1000,
      metadata: { order_id: orderId, refund_id: refundId, reason: "goodwill" },
    },
  }]);
  deepStrictEqual(calls[0].args, {
    order_id: orderId,
    acting_user: buyer,
    reason: "cancelled",
  });
  deepStrictEqual(calls[1], {
    fn: "record_refund",
    args: { refund_id: refundId, stripe_refund_id: "re_test1", status: "succeeded" },
  });
});

Deno.test("a refund after release first reverses the seller's share, keyed reversal:<refund id>", async () => {
  const { db, calls } = fakeDb({
    claim_refund: refundClaim(900),
    record_refund_reversal: "applied",
    record_refund: "applied",
  });
  const fake = fakeStripe();
  const result = await refundOrder(
    { db, stripe: fake.stripe },
    buyer,
    refundRequest.parse({ order_id: orderId, amount: 1000, reason: "goodwill" }),
  );
  strictEqual(result.stripe_reversal_id, "trr_test1");
  deepStrictEqual(fake.calls.map((c) => [c.method, c.idempotencyKey]), [
    ["transfers.createReversal", `reversal:${refundId}`],
    ["refunds.create", `refund:${refundId}`],
  ]);
  deepStrictEqual(fake.calls[0].params, {
    id: "tr_1",
    amount: 900,
    metadata: { order_id: orderId, refund_id: refundId },
  });
  deepStrictEqual(calls.map((c) => c.fn), [
    "claim_refund",
    "record_refund_reversal",
    "record_refund",
  ]);
});

Deno.test("a refused refund (above refundable, not allowed, wrong state) sends nothing to Stripe", async () => {
  for (
    const [code, status] of [["22023", 400], ["42501", 403], ["PT409", 409], [
      "PT404",
      404,
    ]] as const
  ) {
    const { db } = fakeDb({ claim_refund: dbError(code, "refused") });
    const fake = fakeStripe();
    const promise = refundOrder(
      { db, stripe: fake.stripe },
      buyer,
      refundRequest.parse({ order_id: orderId, amount: 99999, reason: "x" }),
    );
    strictEqual(await statusOf(promise), status);
    strictEqual(fake.calls.length, 0);
  }
  strictEqual(
    refundRequest.safeParse({ order_id: orderId, amount: 10.5, reason: "x" }).success,
    false,
  );
  strictEqual(
    refundRequest.safeParse({ order_id: orderId, amount: -1, reason: "x" }).success,
    false,
  );
});

Deno.test("resolving a dispute with a split refunds the buyer, then releases the rest", async () => {
  const { db, calls } = fakeDb({
    resolve_dispute: {
      dispute_id: "d1",
      order_id: orderId,
      resolution: "release",
      order_status: "completed",
      refund: { ...refundClaim(0), amount: 3000 },
      release: { ...releaseClaim, amount: 5400, commission: 600 },
    },
    record_refund: "applied",
    record_release: "applied",
  });
  const fake = fakeStripe();
  const result = await resolveDispute(
    { db, stripe: fake.stripe },
    buyer,
    resolveRequest.parse({ order_id: orderId, resolution: "release", refund_amount: 3000 }),
  );
  strictEqual(result.order_status, "completed");
  strictEqual(result.refund?.amount, 3000);
  strictEqual(result.release?.amount, 5400);
  deepStrictEqual(fake.calls.map((c) => [c.method, c.idempotencyKey]), [
    ["refunds.create", `refund:${refundId}`],
    ["transfers.create", `transfer:${orderId}`],
  ]);
  deepStrictEqual(calls[0].args, {
    order_id: orderId,
    acting_user: buyer,
    resolution: "release",
    refund_amount: 3000,
  });
});

Deno.test("a dispute resolution refused (not an admin, no open dispute) sends nothing to Stripe", async () => {
  for (const [code, status] of [["42501", 403], ["PT409", 409]] as const) {
    const { db } = fakeDb({ resolve_dispute: dbError(code, "refused") });
    const fake = fakeStripe();
    const promise = resolveDispute(
      { db, stripe: fake.stripe },
      buyer,
      resolveRequest.parse({ order_id: orderId, resolution: "refund" }),
    );
    strictEqual(await statusOf(promise), status);
    strictEqual(fake.calls.length, 0);
  }
  strictEqual(resolveRequest.safeParse({ order_id: orderId, resolution: "split" }).success, false);
});
