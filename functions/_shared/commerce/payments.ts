// Paying a shop checkout (issue 17): one Stripe Checkout Session for the whole checkout
// (commerce-checkout-pay), then, once the webhook recorded the payment, one Stripe Transfer
// per shop order (the seller's share less commission, source_transaction = the charge) and,
// for a payment that arrived after its checkout expired, its full refund. Every Stripe call
// carries a key derived from our ids and its result is recorded by an ops function that books
// it once (docs/domains/commerce.md, "Payment").
import { z } from "npm:zod@4.6.7";
import { HttpError } from "../http/errors.ts";
import { asJson, call, callJson, type Db } from "../platform/rpc.ts";
import { stripeErrorMessage, stripeHttpError, stripeRefused } from "../payments/stripe-errors.ts";
import { latestChargeOf, latestChargeWithFee, type StripeApi } from "../payments/stripe.ts";

export interface CommerceDeps {
  db: Db;
  stripe: StripeApi;
}

/** POST /commerce-checkout-pay. Not strict: an amount in the body is dropped, never used. */
export const checkoutPayRequest = z.object({
  checkout_id: z.uuid(),
  success_url: z.url({ protocol: /^https?$/ }).optional(),
  cancel_url: z.url({ protocol: /^https?$/ }).optional(),
});

const beginShopPayment = z.union([
  z.object({
    existing: z.literal(true),
    checkout_id: z.string(),
    checkout_session_id: z.string(),
    url: z.string().nullable(),
  }),
  z.object({
    existing: z.literal(false),
    checkout_id: z.string(),
    amount: z.int(),
    currency: z.string(),
    attempt: z.int(),
    lines: z.array(z.object({ shop_order_id: z.string(), name: z.string(), amount: z.int() })),
    transfer_group: z.string(),
    expires_at: z.int(),
    idempotency_key: z.string(),
  }),
]);

export interface CheckoutPayResponse {
  checkout_id: string;
  checkout_session_id: string;
  url: string | null;
}

/** Stripe's bounds for a Checkout Session's expires_at: 30 minutes to 24 hours from now. */
export function sessionExpiry(
  reservationEnds: number,
  now = Math.floor(Date.now() / 1000),
): number {
  return Math.min(Math.max(reservationEnds, now + 30 * 60 + 5), now + 24 * 3600);
}

export async function payCheckout(
  { db, stripe }: CommerceDeps,
  userId: string,
  body: { checkout_id: string; success_url: string; cancel_url: string },
): Promise<{ created: boolean; body: CheckoutPayResponse }> {
  const start = await callJson(db, "begin_shop_payment", {
    checkout_id: body.checkout_id,
    acting_user: userId,
  }, beginShopPayment);
  if (start.existing) {
    return {
      created: false,
      body: {
        checkout_id: start.checkout_id,
        checkout_session_id: start.checkout_session_id,
        url: start.url,
      },
    };
  }
  const metadata = { checkout_id: start.checkout_id };
  let session;
  try {
    session = await stripe.checkout.sessions.create({
      mode: "payment",
      client_reference_id: start.checkout_id,
      line_items: start.lines.map((line) => ({
        quantity: 1,
        price_data: {
          currency: start.currency,
          unit_amount: line.amount,
          product_data: { name: line.name },
        },
      })),
      payment_intent_data: { transfer_group: start.transfer_group, metadata },
      metadata: { ...metadata, attempt: String(start.attempt) },
      expires_at: sessionExpiry(start.expires_at),
      success_url: body.success_url,
      cancel_url: body.cancel_url,
    }, { idempotencyKey: start.idempotency_key });
  } catch (err) {
    throw stripeHttpError(err);
  }
  try {
    await call(db, "record_shop_payment_session", {
      checkout_id: start.checkout_id,
      attempt: start.attempt,
      checkout_session_id: session.id,
      url: session.url ?? undefined,
      expires_at: new Date(session.expires_at * 1000).toISOString(),
    });
  } catch (err) {
    // The checkout was cancelled, expired or paid while the session was made (PT409): nobody
    // must pay the session, so it is expired before the conflict is answered.
    if (err instanceof HttpError && err.code === "conflict") {
      try {
        await stripe.checkout.sessions.expire(session.id, undefined, {
          idempotencyKey: `shop_checkout_expire:${start.checkout_id}:${session.id}`,
        });
      } catch (expireErr) {
        console.error(
          `session ${session.id} of checkout ${start.checkout_id} not expired:`,
          expireErr,
        );
      }
    }
    throw err;
  }
  return {
    created: true,
    body: { checkout_id: start.checkout_id, checkout_session_id: session.id, url: session.url },
  };
}

const transferClaims = z.array(z.object({
  shop_order_id: z.string(),
  amount: z.int(),
  currency: z.string(),
  destination: z.string(),
  source_transaction: z.string().nullable(),
  payment_intent: z.string().nullable(),
  transfer_group: z.string(),
  /** 1 for the first attempt; a retry after a refusal has its own key (…:<attempt>). */
  attempt: z.int().optional(),
  idempotency_key: z.string(),
}));

const lateRefundClaim = z.object({
  checkout_id: z.string(),
  amount: z.int(),
  payment_intent: z.string().nullable(),
  reason: z.string().nullable(),
  idempotency_key: z.string(),
}).nullable();

export interface SettleResult {
  transfers: { shop_order_id: string; transfer_id: string; amount: number }[];
  failed: { shop_order_id: string; message: string }[];
  late_refund: string | null;
  /** Stripe's fee on the charge, when this call recorded it (ops.record_shop_stripe_fee's outcome). */
  fee?: string;
}

/**
 * Stripe's fee on a paid checkout's charge, once (ops.shop_fee_due says whether it is still
 * unknown): the payment intent read with latest_charge.balance_transaction expanded, the fee
 * posted by ops.record_shop_stripe_fee (the rule of every sale's fee: the platform bears it,
 * key fee:<charge>). Answers the charge id for the transfers' source_transaction. A Stripe
 * failure leaves the fee for later (the charge.updated webhook, the next settling): the
 * transfers need not wait for it.
 */
async function recordFee(
  { db, stripe }: CommerceDeps,
  checkoutId: string,
  result: SettleResult,
): Promise<string | null> {
  const intent = await call(db, "shop_fee_due", { checkout_id: checkoutId });
  if (!intent) return null;
  try {
    const found = await latestChargeWithFee(stripe, intent);
    if (found?.balance_transaction) {
      result.fee = await call(db, "record_shop_stripe_fee", {
        checkout_id: checkoutId,
        charge_id: found.charge,
        balance_transaction: asJson(found.balance_transaction),
      });
    }
    return found?.charge ?? null;
  } catch (err) {
    if (stripeErrorMessage(err) === null) throw err;
    console.error(`the fee of checkout ${checkoutId} is unavailable, left for later:`, err);
    return null;
  }
}

/**
 * After the webhook recorded a checkout's payment: the due transfers (claimed, made with
 * their keys, recorded), and the refund of a payment that came after the checkout expired.
 * Safe to run again at any time: what is done is not claimed again.
 */
export async function settleCheckout(
  { db, stripe }: CommerceDeps,
  checkoutId: string,
): Promise<SettleResult> {
  const result: SettleResult = { transfers: [], failed: [], late_refund: null };
  let charge = await recordFee({ db, stripe }, checkoutId, result);
  const late = await callJson(
    db,
    "claim_shop_late_refund",
    { checkout_id: checkoutId },
    lateRefundClaim,
  );
  if (late && late.payment_intent) {
    const refund = await stripe.refunds.create({
      payment_intent: late.payment_intent,
      amount: late.amount,
      metadata: { checkout_id: checkoutId, reason: (late.reason ?? "late payment").slice(0, 500) },
    }, { idempotencyKey: late.idempotency_key });
    await call(db, "record_shop_late_refund", {
      checkout_id: checkoutId,
      stripe_refund_id: refund.id,
    });
    result.late_refund = refund.id;
    return result;
  }
  const claims = await callJson(
    db,
    "claim_shop_transfers",
    { checkout_id: checkoutId },
    transferClaims,
  );
  for (const claim of claims) {
    try {
      charge ??= claim.source_transaction;
      if (!charge && claim.payment_intent) {
        charge = await latestChargeOf(stripe, claim.payment_intent);
      }
      const transfer = await stripe.transfers.create({
        amount: claim.amount,
        currency: claim.currency,
        destination: claim.destination,
        transfer_group: claim.transfer_group,
        ...(charge ? { source_transaction: charge } : {}),
        metadata: { shop_order_id: claim.shop_order_id, checkout_id: checkoutId },
      }, { idempotencyKey: claim.idempotency_key });
      await call(db, "record_shop_transfer", {
        shop_order_id: claim.shop_order_id,
        transfer_id: transfer.id,
        amount: transfer.amount,
        charge_id: charge ?? undefined,
      });
      result.transfers.push({
        shop_order_id: claim.shop_order_id,
        transfer_id: transfer.id,
        amount: transfer.amount,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (stripeRefused(err)) {
        await call(db, "abandon_shop_transfer", {
          shop_order_id: claim.shop_order_id,
          reason: message,
        });
      }
      result.failed.push({ shop_order_id: claim.shop_order_id, message });
    }
  }
  return result;
}

export interface RetryResult {
  /** Checkouts ops.due_shop_transfers listed. */
  checkouts: number;
  transfers: SettleResult["transfers"];
  failed: SettleResult["failed"];
}

/**
 * The scheduled retry (commerce-retry-transfers { due: true }, job commerce-transfers-retry):
 * settles every checkout with a transfer due now. A transfer refused again is counted and
 * rescheduled by abandon_shop_transfer (backoff; given up at the 10th attempt, staff told);
 * each attempt has its own key, and one that got no answer keeps it, so nothing is paid twice.
 * Two runners at once: claims under the payment row's lock give each transfer to one of them.
 */
export async function retryDueTransfers(deps: CommerceDeps, limit = 100): Promise<RetryResult> {
  const due = await call(deps.db, "due_shop_transfers", { max_rows: limit });
  const out: RetryResult = { checkouts: due.length, transfers: [], failed: [] };
  for (const checkoutId of due) {
    const settled = await settleCheckout(deps, checkoutId);
    out.transfers.push(...settled.transfers);
    out.failed.push(...settled.failed);
  }
  return out;
}

/** POST /commerce-retry-transfers: the scheduler's { due: true, limit? } or one { checkout_id }. */
export const retryTransfersRequest = z.union([
  z.strictObject({ due: z.literal(true), limit: z.int().min(1).max(1000).default(100) }),
  z.strictObject({ checkout_id: z.uuid() }),
]);

/** The checkout a Stripe event's object names (metadata.checkout_id), if any. */
export function checkoutOfEvent(event: { data: { object: unknown } }): string | null {
  const object = event.data.object as { metadata?: Record<string, string> | null };
  const id = object?.metadata?.checkout_id;
  return typeof id === "string" && z.uuid().safeParse(id).success ? id : null;
}

export { HttpError };

/** POST /commerce-refund. */
export const refundRequest = z.strictObject({
  shop_order_id: z.uuid(),
  amount: z.int().positive().optional(),
  reason: z.string().trim().min(1).max(1000).optional(),
});

const refundClaim = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("refunded"),
    refund_id: z.string().nullable(),
    shop_order_id: z.string(),
    amount: z.int(),
    currency: z.string(),
    status: z.string(),
  }),
  z.object({
    state: z.literal("claimed"),
    refund_id: z.string(),
    shop_order_id: z.string(),
    amount: z.int(),
    currency: z.string(),
    payment_intent: z.string().nullable(),
    reason: z.string(),
    reversal_amount: z.int(),
    transfer_id: z.string().nullable(),
    idempotency_key: z.string(),
    reversal_idempotency_key: z.string(),
  }),
]);

export interface ShopRefundResult {
  refund_id: string | null;
  shop_order_id: string;
  amount: number;
  currency: string;
  already_refunded: boolean;
  stripe_refund_id?: string;
  stripe_reversal_id?: string | null;
}

/**
 * Cancels or refunds a paid shop order for userId: claim (one in flight per order, PT409 for a
 * concurrent one), the seller's transfer reversed for their share, the Stripe refund, the record
 * (ledger, status, restock, coupon) — each Stripe call keyed by the refund's id, so a retry
 * after a crash repeats nothing.
 */
export async function refundShopOrder(
  { db, stripe }: CommerceDeps,
  userId: string,
  body: z.infer<typeof refundRequest>,
): Promise<{ created: boolean; body: ShopRefundResult }> {
  const claim = await callJson(db, "claim_shop_refund", {
    shop_order_id: body.shop_order_id,
    acting_user: userId,
    amount: body.amount,
    reason: body.reason,
  }, refundClaim);
  if (claim.state === "refunded") {
    return {
      created: false,
      body: {
        refund_id: claim.refund_id,
        shop_order_id: claim.shop_order_id,
        amount: claim.amount,
        currency: claim.currency,
        already_refunded: true,
      },
    };
  }
  const metadata = { shop_order_id: claim.shop_order_id, shop_refund_id: claim.refund_id };
  try {
    let reversalId: string | null = null;
    if (claim.reversal_amount > 0 && claim.transfer_id) {
      const reversal = await stripe.transfers.createReversal(claim.transfer_id, {
        amount: claim.reversal_amount,
        metadata,
      }, { idempotencyKey: claim.reversal_idempotency_key });
      reversalId = reversal.id;
    }
    if (!claim.payment_intent) {
      throw new Error(`shop refund ${claim.refund_id} has no payment intent`);
    }
    const refund = await stripe.refunds.create({
      payment_intent: claim.payment_intent,
      amount: claim.amount,
      metadata: { ...metadata, reason: claim.reason.slice(0, 500) },
    }, { idempotencyKey: claim.idempotency_key });
    await call(db, "record_shop_refund", {
      refund_id: claim.refund_id,
      stripe_refund_id: refund.id,
      stripe_reversal_id: reversalId ?? undefined,
    });
    return {
      created: true,
      body: {
        refund_id: claim.refund_id,
        shop_order_id: claim.shop_order_id,
        amount: claim.amount,
        currency: claim.currency,
        already_refunded: false,
        stripe_refund_id: refund.id,
        stripe_reversal_id: reversalId,
      },
    };
  } catch (err) {
    if (stripeRefused(err)) {
      await call(db, "abandon_shop_refund", {
        refund_id: claim.refund_id,
        reason: (err as Error).message,
      });
    }
    throw stripeHttpError(err);
  }
}
