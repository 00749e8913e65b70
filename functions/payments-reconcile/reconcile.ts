// Reconciliation, Stripe's half. The database's half, public.payments_reconciliation(), gives
// one row per order with the escrow record's amounts, the Stripe ids we recorded and its own
// problems (the ledger against the escrow row). This adds what Stripe says happened: the
// charge by the id we recorded (amount_captured, amount_refunded) and every transfer in the
// order's transfer group order_<id> (amount, amount_reversed), each compared with the escrow
// row. Used by payments-reconcile, the one implementation (the admin CLI calls that function).
import type Stripe from "npm:stripe@23.1.0";
import { type StripeApi } from "../_shared/payments/stripe.ts";
import { compareAll, stripeProblem } from "../_shared/payments/reconcile.ts";

/**
 * The fields of a public.payments_reconciliation() row the comparison reads. The generated type
 * calls every column of a function's table non-null; the Stripe ids are null until recorded.
 */
export interface ReconciliationRow {
  order_id: string;
  currency: string;
  status: string;
  stripe_charge_id: string | null;
  amount_captured: number;
  amount_refunded: number;
  amount_transferred: number;
  amount_reversed: number;
  /** The database's own findings (ledger against escrow). */
  problems: string[] | null;
}

/**
 * One order's result: the database's problems, then Stripe's, in words an operator reads.
 * A type, not an interface, so it is Json (record_reconciliation_run stores them as jsonb).
 */
export type Finding = {
  order_id: string;
  currency: string;
  status: string;
  problems: string[];
};

/** What the comparison asks Stripe: a charge by id, transfers by group. */
export type ReconcileStripe = Pick<StripeApi, "charges" | "transfers">;

/**
 * Orders compared at once. Each takes two or more Stripe requests; one at a time, a thousand
 * orders would outlast an edge function's wall-clock limit, while a few at a time stay well
 * under Stripe's read rate limit (25 requests/s in test mode, 100 live).
 */
export const RECONCILE_CONCURRENCY = 4;

async function transfersOf(stripe: ReconcileStripe, orderId: string): Promise<Stripe.Transfer[]> {
  const transfers: Stripe.Transfer[] = [];
  let startingAfter: string | undefined;
  do {
    const page = await stripe.transfers.list({
      transfer_group: `order_${orderId}`,
      limit: 100,
      ...(startingAfter ? { starting_after: startingAfter } : {}),
    });
    transfers.push(...page.data);
    startingAfter = page.has_more ? page.data.at(-1)?.id : undefined;
  } while (startingAfter);
  return transfers;
}

/**
 * One order beside Stripe. A Stripe error about this order's objects (say, a charge Stripe
 * does not know) is one of its problems; Stripe being unreachable or refusing the key stops
 * the whole run with a 502, since every other order would fail the same way.
 */
export async function compareWithStripe(
  stripe: ReconcileStripe,
  row: ReconciliationRow,
): Promise<Finding> {
  const problems = [...(row.problems ?? [])];
  try {
    if (row.stripe_charge_id) {
      const charge = await stripe.charges.retrieve(row.stripe_charge_id);
      if (charge.amount_captured !== row.amount_captured) {
        problems.push(`Stripe captured ${charge.amount_captured} <> escrow ${row.amount_captured}`);
      }
      if (charge.amount_refunded !== row.amount_refunded) {
        problems.push(`Stripe refunded ${charge.amount_refunded} <> escrow ${row.amount_refunded}`);
      }
    } else if (row.amount_captured > 0) {
      problems.push(`escrow captured ${row.amount_captured} without a Stripe charge`);
    }
    const transfers = await transfersOf(stripe, row.order_id);
    const transferred = transfers.reduce((sum, t) => sum + t.amount, 0);
    const reversed = transfers.reduce((sum, t) => sum + t.amount_reversed, 0);
    if (transferred !== row.amount_transferred) {
      problems.push(`Stripe transferred ${transferred} <> escrow ${row.amount_transferred}`);
    }
    if (reversed !== row.amount_reversed) {
      problems.push(`Stripe reversed ${reversed} <> escrow ${row.amount_reversed}`);
    }
  } catch (err) {
    problems.push(stripeProblem(err));
  }
  return { order_id: row.order_id, currency: row.currency, status: row.status, problems };
}

/** Every row compared with Stripe, a few at a time; the findings in the rows' order. */
export async function reconcileWithStripe(
  stripe: ReconcileStripe,
  rows: ReconciliationRow[],
  concurrency = RECONCILE_CONCURRENCY,
): Promise<Finding[]> {
  return await compareAll(rows, concurrency, (row) => compareWithStripe(stripe, row));
}
