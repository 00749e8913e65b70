// Subscription invoices in the reconciliation (functions/_shared/billing/reconcile.ts) with a
// fake Stripe: an invoice Stripe agrees with has no problems (the database's own come first),
// each disagreement named with the Stripe invoice, a Stripe error about it one of its problems,
// Stripe unreachable the end of the run; rows paged from ops.subscription_reconciliation.
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import {
  compareInvoiceWithStripe,
  reconcileSubscriptions,
  type SubscriptionReconcileStripe,
  type SubscriptionReconciliationRow,
} from "../../../functions/_shared/billing/reconcile.ts";
import { HttpError } from "../../../functions/_shared/http/errors.ts";
import { fakeDb, stripeError } from "../payments/fake_payments.ts";

const id = "55555555-5555-4555-8555-555555555555";

function row(
  overrides: Partial<SubscriptionReconciliationRow> = {},
): SubscriptionReconciliationRow {
  return {
    id,
    stripe_invoice_id: "in_1",
    currency: "KRW",
    status: "paid",
    amount_paid: 9900,
    amount_refunded: 4000,
    problems: [],
    ...overrides,
  };
}

function stripeWith(
  invoice: Record<string, unknown> | Error,
  refunded = 4000,
): { stripe: SubscriptionReconcileStripe; calls: string[] } {
  const calls: string[] = [];
  const stripe = {
    invoices: {
      retrieve: (id: string, params: unknown) => {
        calls.push(`invoices.retrieve ${id} ${JSON.stringify(params)}`);
        return invoice instanceof Error ? Promise.reject(invoice) : Promise.resolve(invoice);
      },
    },
    paymentIntents: {
      retrieve: (id: string, params: unknown) => {
        calls.push(`paymentIntents.retrieve ${id} ${JSON.stringify(params)}`);
        return Promise.resolve({ id, latest_charge: { id: "ch_1", amount_refunded: refunded } });
      },
    },
  } as unknown as SubscriptionReconcileStripe;
  return { stripe, calls };
}

const paidInvoice = {
  id: "in_1",
  status: "paid",
  amount_paid: 9900,
  payments: { data: [{ status: "paid", payment: { payment_intent: "pi_1" } }] },
};

Deno.test("an invoice Stripe agrees with has no problems; the database's own are kept", async () => {
  const { stripe, calls } = stripeWith(paidInvoice);
  deepStrictEqual(await compareInvoiceWithStripe(stripe, row()), {
    subject: "subscription_invoice",
    order_id: id,
    currency: "KRW",
    status: "paid",
    problems: [],
  });
  deepStrictEqual(calls, [
    'invoices.retrieve in_1 {"expand":["payments"]}',
    'paymentIntents.retrieve pi_1 {"expand":["latest_charge"]}',
  ]);
  const own = await compareInvoiceWithStripe(
    stripe,
    row({ problems: ["ledger paid 0 <> invoice 9900"] }),
  );
  deepStrictEqual(own.problems, ["subscription invoice in_1: ledger paid 0 <> invoice 9900"]);
});

Deno.test("each disagreement with Stripe is named with the invoice", async () => {
  const { stripe } = stripeWith({ ...paidInvoice, status: "void", amount_paid: 9000 }, 5000);
  deepStrictEqual((await compareInvoiceWithStripe(stripe, row())).problems, [
    "subscription invoice in_1: Stripe status void <> invoice paid",
    "subscription invoice in_1: Stripe paid 9000 <> invoice 9900",
    "subscription invoice in_1: Stripe refunded 5000 <> invoice 4000",
  ]);
});

Deno.test("a Stripe error about the invoice is its problem; Stripe unreachable stops the run", async () => {
  const missing = stripeWith(
    stripeError("StripeInvalidRequestError", 404, "No such invoice: 'in_1'"),
  );
  deepStrictEqual((await compareInvoiceWithStripe(missing.stripe, row())).problems, [
    "subscription invoice in_1: Stripe: No such invoice: 'in_1'",
  ]);
  const down = stripeWith(stripeError("StripeConnectionError", undefined, "connect ECONNREFUSED"));
  await rejects(compareInvoiceWithStripe(down.stripe, row()), (err: HttpError) => {
    strictEqual(err.status, 502);
    strictEqual(
      err.message,
      "Reconciliation stopped: reaching Stripe failed: connect ECONNREFUSED",
    );
    return true;
  });
});

Deno.test("rows are read from ops.subscription_reconciliation in pages, up to the limit", async () => {
  const rows = [
    row(),
    row({ id: "66666666-6666-4666-8666-666666666666", stripe_invoice_id: "in_2" }),
  ];
  const { db, calls } = fakeDb({ subscription_reconciliation: rows });
  const { stripe } = stripeWith(paidInvoice);
  const all = await reconcileSubscriptions({ db, stripe }, {
    activeSince: "2026-01-01T00:00:00Z",
    limit: 5,
  });
  deepStrictEqual([all.findings.length, all.complete], [2, true]);
  deepStrictEqual(calls[0].args, { active_since: "2026-01-01T00:00:00Z", max_rows: 6 });
  const limited = await reconcileSubscriptions({ db, stripe }, {
    activeSince: "2026-01-01T00:00:00Z",
    limit: 1,
  });
  deepStrictEqual([limited.findings.length, limited.complete], [1, false]);
});
