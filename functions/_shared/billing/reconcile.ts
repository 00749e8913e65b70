// Reconciliation of subscription invoices (Stripe Billing, issue 18), called by
// payments-reconcile beside the commission orders' escrow and the shop's checkouts. The
// database's half, ops.subscription_reconciliation(), gives one row per paid mirrored invoice
// (stripe_invoices): the mirror's amount_paid and amount_refunded, the ledger's (the
// subscription_invoice:<in_…> posting and the subscription_refund:<in_…>:<re_…> ones) and its
// own problems. This adds Stripe's half: the invoice (status, amount_paid) and the charge of
// its paid invoice payment (amount_refunded, which also counts refunds made in Stripe's
// Dashboard that were never posted). Findings use the escrow report's format ({ order_id,
// currency, status, problems }) with subject "subscription_invoice" and our stripe_invoices id
// as order_id, each problem naming the Stripe invoice, so one run records all three.
import type Stripe from "npm:stripe@23.1.0";
import { call, type Db } from "../platform/rpc.ts";
import { compareAll, readPages, stripeProblem } from "../payments/reconcile.ts";

type Options = Stripe.RequestOptions;

/** What the comparison asks Stripe (a real client satisfies it). */
export interface SubscriptionReconcileStripe {
  invoices: {
    retrieve(
      id: string,
      params?: Stripe.InvoiceRetrieveParams,
      options?: Options,
    ): Promise<Stripe.Invoice>;
  };
  paymentIntents: {
    retrieve(
      id: string,
      params?: Stripe.PaymentIntentRetrieveParams,
      options?: Options,
    ): Promise<Stripe.PaymentIntent>;
  };
}

/** The fields of an ops.subscription_reconciliation() row the comparison reads. */
export interface SubscriptionReconciliationRow {
  id: string;
  stripe_invoice_id: string;
  currency: string;
  status: string;
  amount_paid: number;
  amount_refunded: number;
  problems: string[] | null;
}

/** An invoice's findings, in the format of the escrow's (record_reconciliation_run stores all). */
export type SubscriptionFinding = {
  subject: "subscription_invoice";
  order_id: string;
  currency: string;
  status: string;
  problems: string[];
};

/** Invoices compared at once: two Stripe reads each (see RECONCILE_CONCURRENCY). */
export const SUBSCRIPTION_RECONCILE_CONCURRENCY = 4;

/**
 * One invoice beside Stripe. A Stripe error about it is one of its problems; Stripe
 * unreachable or refusing the key stops the run (502), as for the escrow.
 */
export async function compareInvoiceWithStripe(
  stripe: SubscriptionReconcileStripe,
  row: SubscriptionReconciliationRow,
): Promise<SubscriptionFinding> {
  const problems = [...(row.problems ?? [])];
  try {
    const invoice = await stripe.invoices.retrieve(row.stripe_invoice_id, {
      expand: ["payments"],
    });
    if (invoice.status !== row.status) {
      problems.push(`Stripe status ${invoice.status} <> invoice ${row.status}`);
    }
    if (invoice.amount_paid !== row.amount_paid) {
      problems.push(`Stripe paid ${invoice.amount_paid} <> invoice ${row.amount_paid}`);
    }
    const paid = invoice.payments?.data.find((p) => p.status === "paid");
    const intent = paid?.payment?.payment_intent;
    const intentId = typeof intent === "string" ? intent : intent?.id;
    let refunded = 0;
    if (intentId) {
      const pi = await stripe.paymentIntents.retrieve(intentId, { expand: ["latest_charge"] });
      const charge = pi.latest_charge;
      refunded = charge && typeof charge !== "string" ? charge.amount_refunded : 0;
    }
    if (refunded !== row.amount_refunded) {
      problems.push(`Stripe refunded ${refunded} <> invoice ${row.amount_refunded}`);
    }
  } catch (err) {
    problems.push(stripeProblem(err));
  }
  return {
    subject: "subscription_invoice",
    order_id: row.id,
    currency: row.currency,
    status: row.status,
    problems: problems.map((p) => `subscription invoice ${row.stripe_invoice_id}: ${p}`),
  };
}

/**
 * Every paid subscription invoice active since `activeSince` (and every one whose mirror and
 * ledger disagree) compared with Stripe, up to `limit`; complete is false when the limit
 * stopped it.
 */
export async function reconcileSubscriptions(
  { db, stripe }: { db: Db; stripe: SubscriptionReconcileStripe },
  { activeSince, limit, concurrency = SUBSCRIPTION_RECONCILE_CONCURRENCY }: {
    activeSince: string;
    limit: number;
    concurrency?: number;
  },
): Promise<{ findings: SubscriptionFinding[]; complete: boolean }> {
  const { rows, complete } = await readPages<SubscriptionReconciliationRow>(
    (after, max) =>
      call(db, "subscription_reconciliation", {
        active_since: activeSince,
        ...(after ? { after_id: after } : {}),
        max_rows: max,
      }),
    (row) => row.id,
    limit,
  );
  const findings = await compareAll(
    rows,
    concurrency,
    (row) => compareInvoiceWithStripe(stripe, row),
  );
  return { findings, complete };
}
