// Reconciliation of the shop's money with Stripe (issue 17), called by payments-reconcile beside
// the commission orders' escrow. The database's half, ops.shop_reconciliation(), gives one row
// per paid checkout: the shop payment's amounts and Stripe ids, its transfers and refunds, and
// its own problems (the ledger against those rows). This adds Stripe's half: the payment
// intent's latest charge and its balance transaction (captured, refunded, the fee), every
// transfer of the transfer group checkout_<id> and every refund of the payment intent, each
// matched to our row by its Stripe id: missing on either side, amounts and statuses compared.
// Findings use the escrow report's format ({ order_id, currency, status, problems }) with
// subject "checkout" and the checkout's id as order_id, so one run records both.
import type Stripe from "npm:stripe@23.1.0";
import { call, type Db } from "../platform/rpc.ts";
import { compareAll, readPages, stripeProblem } from "../payments/reconcile.ts";

type Options = Stripe.RequestOptions;

/** What the comparison asks Stripe (a real client satisfies it). */
export interface ShopReconcileStripe {
  paymentIntents: {
    retrieve(
      id: string,
      params?: Stripe.PaymentIntentRetrieveParams,
      options?: Options,
    ): Promise<Stripe.PaymentIntent>;
  };
  transfers: {
    list(
      params?: Stripe.TransferListParams,
      options?: Options,
    ): Promise<Stripe.ApiList<Stripe.Transfer>>;
  };
  refunds: {
    list(
      params?: Stripe.RefundListParams,
      options?: Options,
    ): Promise<Stripe.ApiList<Stripe.Refund>>;
  };
}

/** The fields of an ops.shop_reconciliation() row the comparison reads. */
export interface ShopReconciliationRow {
  checkout_id: string;
  currency: string;
  status: string;
  stripe_payment_intent_id: string | null;
  stripe_charge_id: string | null;
  stripe_late_refund_id: string | null;
  amount_captured: number;
  amount_refunded: number;
  /** The fee we recorded (and posted), null until known. */
  stripe_fee: number | null;
  /** The fee the ledger holds for the charge (fee:<charge>). */
  ledger_fee: number;
  transfers: {
    shop_order_id: string;
    amount: number;
    stripe_transfer_id: string | null;
    reversed: number;
    cancelled: boolean;
  }[];
  refunds: {
    refund_id: string;
    shop_order_id: string | null;
    amount: number;
    status: string;
    stripe_refund_id: string | null;
  }[];
  problems: string[] | null;
}

/** A checkout's findings, in the format of the escrow's (record_reconciliation_run stores both). */
export type ShopFinding = {
  subject: "checkout";
  order_id: string;
  currency: string;
  status: string;
  problems: string[];
};

/** Checkouts compared at once: three Stripe reads each (see RECONCILE_CONCURRENCY). */
export const SHOP_RECONCILE_CONCURRENCY = 4;

async function listAll<T extends { id: string }>(
  page: (startingAfter?: string) => Promise<Stripe.ApiList<T>>,
): Promise<T[]> {
  const all: T[] = [];
  let after: string | undefined;
  do {
    const { data, has_more } = await page(after);
    all.push(...data);
    after = has_more ? data.at(-1)?.id : undefined;
  } while (after);
  return all;
}

/**
 * One checkout beside Stripe. A Stripe error about its objects is one of its problems; Stripe
 * unreachable or refusing the key stops the run (502), as for the escrow.
 */
export async function compareCheckoutWithStripe(
  stripe: ShopReconcileStripe,
  row: ShopReconciliationRow,
): Promise<ShopFinding> {
  const problems = [...(row.problems ?? [])];
  try {
    if (row.stripe_payment_intent_id) {
      const intent = await stripe.paymentIntents.retrieve(row.stripe_payment_intent_id, {
        expand: ["latest_charge.balance_transaction"],
      });
      const charge = intent.latest_charge;
      if (!charge || typeof charge === "string") {
        if (row.amount_captured > 0) {
          problems.push(`Stripe has no charge for payment intent ${intent.id}`);
        }
      } else {
        if (row.stripe_charge_id && row.stripe_charge_id !== charge.id) {
          problems.push(
            `Stripe charge ${charge.id} <> shop payment charge ${row.stripe_charge_id}`,
          );
        }
        if (charge.amount_captured !== row.amount_captured) {
          problems.push(
            `Stripe captured ${charge.amount_captured} <> shop payment ${row.amount_captured}`,
          );
        }
        if (charge.amount_refunded !== row.amount_refunded) {
          problems.push(
            `Stripe refunded ${charge.amount_refunded} <> shop payment ${row.amount_refunded}`,
          );
        }
        const txn = charge.balance_transaction;
        if (txn && typeof txn !== "string" && txn.fee !== row.ledger_fee) {
          problems.push(`Stripe fee ${txn.fee} <> ledger ${row.ledger_fee}`);
        }
      }

      const refunds = await listAll((after) =>
        stripe.refunds.list({
          payment_intent: intent.id,
          limit: 100,
          ...(after ? { starting_after: after } : {}),
        })
      );
      const ours = new Map(
        row.refunds.filter((r) => r.stripe_refund_id).map((r) => [r.stripe_refund_id!, r]),
      );
      for (const refund of refunds) {
        if (refund.id === row.stripe_late_refund_id) continue;
        const mine = ours.get(refund.id);
        if (!mine) {
          problems.push(
            `Stripe refund ${refund.id} (${refund.amount}) recorded for no shop refund`,
          );
          continue;
        }
        ours.delete(refund.id);
        if (refund.amount !== mine.amount) {
          problems.push(
            `refund ${mine.refund_id}: Stripe refunded ${refund.amount} <> shop refund ${mine.amount}`,
          );
        }
        if ((refund.status === "succeeded") !== (mine.status === "succeeded")) {
          problems.push(
            `refund ${mine.refund_id}: Stripe status ${refund.status} <> shop refund ${mine.status}`,
          );
        }
      }
      for (const missing of ours.values()) {
        problems.push(
          `refund ${missing.refund_id}: ${missing.stripe_refund_id} not in Stripe`,
        );
      }
      if (
        row.stripe_late_refund_id && !refunds.some((r) => r.id === row.stripe_late_refund_id)
      ) {
        problems.push(`late payment refund ${row.stripe_late_refund_id} not in Stripe`);
      }
    } else if (row.amount_captured > 0) {
      problems.push(`shop payment captured ${row.amount_captured} without a Stripe payment intent`);
    }

    const transfers = await listAll((after) =>
      stripe.transfers.list({
        transfer_group: `checkout_${row.checkout_id}`,
        limit: 100,
        ...(after ? { starting_after: after } : {}),
      })
    );
    const byId = new Map(
      row.transfers.filter((t) => t.stripe_transfer_id).map((t) => [t.stripe_transfer_id!, t]),
    );
    for (const transfer of transfers) {
      const mine = byId.get(transfer.id);
      if (!mine) {
        problems.push(
          `Stripe transfer ${transfer.id} (${transfer.amount}) recorded for no shop order`,
        );
        continue;
      }
      byId.delete(transfer.id);
      if (transfer.amount !== mine.amount) {
        problems.push(
          `shop order ${mine.shop_order_id}: Stripe transferred ${transfer.amount} <> shop transfer ${mine.amount}`,
        );
      }
      if (transfer.amount_reversed !== mine.reversed) {
        problems.push(
          `shop order ${mine.shop_order_id}: Stripe reversed ${transfer.amount_reversed} <> shop transfer ${mine.reversed}`,
        );
      }
    }
    for (const missing of byId.values()) {
      problems.push(
        `shop order ${missing.shop_order_id}: transfer ${missing.stripe_transfer_id} not in Stripe`,
      );
    }
  } catch (err) {
    problems.push(stripeProblem(err));
  }
  return {
    subject: "checkout",
    order_id: row.checkout_id,
    currency: row.currency,
    status: row.status,
    problems,
  };
}

/**
 * Every paid checkout active since `activeSince` (and every one whose rows and ledger disagree)
 * compared with Stripe, up to `limit`; complete is false when the limit stopped it.
 */
export async function reconcileShop(
  { db, stripe }: { db: Db; stripe: ShopReconcileStripe },
  { activeSince, limit, concurrency = SHOP_RECONCILE_CONCURRENCY }: {
    activeSince: string;
    limit: number;
    concurrency?: number;
  },
): Promise<{ findings: ShopFinding[]; complete: boolean }> {
  const { rows, complete } = await readPages<ShopReconciliationRow>(
    (after, max) =>
      call(db, "shop_reconciliation", {
        active_since: activeSince,
        ...(after ? { after_checkout_id: after } : {}),
        max_rows: max,
      }) as unknown as Promise<ShopReconciliationRow[]>,
    (row) => row.checkout_id,
    limit,
  );
  const findings = await compareAll(
    rows,
    concurrency,
    (row) => compareCheckoutWithStripe(stripe, row),
  );
  return { findings, complete };
}
