// Carrying out the money claims the database hands out: a release (one Stripe transfer) and
// a refund (a transfer reversal after release, then a Stripe refund). Each step uses the
// claim's idempotency key, and its result is recorded by the same SQL function the webhook
// uses, so the ledger books it once whichever records it first. Used by payments-release,
// payments-refund and payments-resolve-dispute.
import { z } from "npm:zod@4.6.7";
import { type ErrorCode, HttpError } from "../http/errors.ts";
import { call, type Db } from "../platform/rpc.ts";
import { stripeHttpError, stripeRefused } from "./stripe-errors.ts";
import { latestChargeOf, type StripeApi } from "./stripe.ts";

export interface PaymentsDeps {
  db: Db;
  stripe: StripeApi;
}

/** What ops.claim_release (and resolve_dispute's release) answers, as jsonb. */
export const releaseClaim = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("claimed"),
    order_id: z.string(),
    amount: z.int(),
    currency: z.string(),
    commission: z.int(),
    destination: z.string(),
    source_transaction: z.string().nullable(),
    payment_intent: z.string().nullable(),
    transfer_group: z.string(),
    idempotency_key: z.string(),
  }),
  z.object({
    state: z.literal("released"),
    order_id: z.string(),
    transfer_id: z.string(),
    amount: z.int(),
    currency: z.string(),
    commission: z.int(),
  }),
]);

export type ReleaseClaim = z.infer<typeof releaseClaim>;

export interface ReleaseResult {
  order_id: string;
  status: "released";
  transfer_id: string;
  amount: number;
  currency: string;
  commission: number;
  already_released: boolean;
}

export async function executeRelease(
  { db, stripe }: PaymentsDeps,
  claim: ReleaseClaim,
): Promise<ReleaseResult> {
  if (claim.state === "released") {
    const { order_id, transfer_id, amount, currency, commission } = claim;
    return {
      order_id,
      status: "released",
      transfer_id,
      amount,
      currency,
      commission,
      already_released: true,
    };
  }
  try {
    // A payment confirmed by checkout.session.completed alone has no charge id yet.
    let source = claim.source_transaction;
    if (!source && claim.payment_intent) {
      source = await latestChargeOf(stripe, claim.payment_intent);
    }
    const transfer = await stripe.transfers.create({
      amount: claim.amount,
      currency: claim.currency,
      destination: claim.destination,
      transfer_group: claim.transfer_group,
      ...(source ? { source_transaction: source } : {}),
      metadata: { order_id: claim.order_id },
    }, { idempotencyKey: claim.idempotency_key });
    await call(db, "record_release", {
      order_id: claim.order_id,
      transfer_id: transfer.id,
      amount: transfer.amount,
    });
    return {
      order_id: claim.order_id,
      status: "released",
      transfer_id: transfer.id,
      amount: transfer.amount,
      currency: claim.currency,
      commission: claim.commission,
      already_released: false,
    };
  } catch (err) {
    if (stripeRefused(err)) {
      await call(db, "abandon_release", {
        order_id: claim.order_id,
        reason: (err as Error).message,
      });
    }
    throw stripeHttpError(err);
  }
}

/** What ops.claim_refund (and resolve_dispute's refund) answers, as jsonb. */
export const refundClaim = z.object({
  refund_id: z.string(),
  order_id: z.string(),
  amount: z.int(),
  currency: z.string(),
  payment_intent: z.string().nullable(),
  charge: z.string().nullable(),
  reason: z.string(),
  reversal_amount: z.int(),
  transfer_id: z.string().nullable(),
  idempotency_key: z.string(),
  reversal_idempotency_key: z.string(),
});

export type RefundClaim = z.infer<typeof refundClaim>;

export interface RefundResult {
  refund_id: string;
  order_id: string;
  amount: number;
  currency: string;
  status: string;
  stripe_refund_id: string;
  reversal_amount: number;
  stripe_reversal_id: string | null;
}

export async function executeRefund(
  { db, stripe }: PaymentsDeps,
  claim: RefundClaim,
): Promise<RefundResult> {
  const metadata = { order_id: claim.order_id, refund_id: claim.refund_id };
  try {
    let reversalId: string | null = null;
    if (claim.reversal_amount > 0 && claim.transfer_id) {
      const reversal = await stripe.transfers.createReversal(claim.transfer_id, {
        amount: claim.reversal_amount,
        metadata,
      }, { idempotencyKey: claim.reversal_idempotency_key });
      reversalId = reversal.id;
      await call(db, "record_refund_reversal", {
        refund_id: claim.refund_id,
        stripe_reversal_id: reversal.id,
      });
    }
    const refund = await stripe.refunds.create({
      ...(claim.payment_intent
        ? { payment_intent: claim.payment_intent }
        : { charge: claim.charge ?? undefined }),
      amount: claim.amount,
      metadata: { ...metadata, reason: claim.reason.slice(0, 500) },
    }, { idempotencyKey: claim.idempotency_key });
    await call(db, "record_refund", {
      refund_id: claim.refund_id,
      stripe_refund_id: refund.id,
      status: refund.status ?? "pending",
    });
    return {
      refund_id: claim.refund_id,
      order_id: claim.order_id,
      amount: claim.amount,
      currency: claim.currency,
      status: refund.status ?? "pending",
      stripe_refund_id: refund.id,
      reversal_amount: claim.reversal_amount,
      stripe_reversal_id: reversalId,
    };
  } catch (err) {
    if (stripeRefused(err)) {
      await call(db, "abandon_refund", {
        refund_id: claim.refund_id,
        reason: (err as Error).message,
      });
    }
    throw stripeHttpError(err);
  }
}

export interface DueFailure {
  order_id: string;
  error: { code: ErrorCode; message: string };
}

/**
 * The scheduled path of payments-release and payments-refund: settles, one by one, every order
 * a due list (due_releases, due_refunds) names. One order's failure is reported with the
 * others' results and does not stop them; the next run lists it again if it is still due.
 */
export async function settleDue<T>(
  db: Db,
  dueList: "due_releases" | "due_refunds",
  limit: number,
  settle: (orderId: string) => Promise<T>,
): Promise<{ settled: T[]; failed: DueFailure[] }> {
  const due = await call(db, dueList, { max_rows: limit });
  const settled: T[] = [];
  const failed: DueFailure[] = [];
  for (const orderId of due) {
    try {
      settled.push(await settle(orderId));
    } catch (err) {
      if (!(err instanceof HttpError)) console.error(`${dueList}: ${orderId} failed:`, err);
      const error: DueFailure["error"] = err instanceof HttpError
        ? { code: err.code, message: err.message }
        : { code: "internal_error", message: "settling the order failed" };
      failed.push({ order_id: orderId, error });
    }
  }
  return { settled, failed };
}
