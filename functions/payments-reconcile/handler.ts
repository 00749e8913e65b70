// POST /payments-reconcile { days?, limit?, triggered_by? } with the service-role key: a
// reconciliation run. pg_cron calls it daily (triggered_by defaults to "schedule"), the admin
// CLI's `reconcile` with triggered_by "cli". Compares every order of
// public.payments_reconciliation() active within the last `days` (created, paid or changed;
// 180 by default, the months in which Stripe still changes a charge) and every order whose
// ledger and escrow rows disagree, page by page, up to `limit` orders, with Stripe
// (reconcile.ts); records the run with public.record_reconciliation_run (which tells
// the marketplace managers when there are differences) and answers
// { run_id, orders, complete, differences: [{ order_id, currency, status, problems }] }
// (complete is false when `limit` stopped it). Stripe unreachable or refusing the key: 502
// and no run recorded. The shop's checkouts (payments, transfers, refunds, fees) are compared
// in the same run by functions/_shared/commerce/reconcile.ts: `checkouts` counts them, their
// differences carry subject "checkout" and the checkout's id as order_id. Stripe Billing's
// paid subscription invoices likewise, by functions/_shared/billing/reconcile.ts:
// `subscription_invoices` counts them, their differences carry subject "subscription_invoice"
// and our stripe_invoices id as order_id.
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { call, type Db } from "../_shared/platform/rpc.ts";
import {
  type Finding,
  type ReconcileStripe,
  reconcileWithStripe,
  type ReconciliationRow,
} from "./reconcile.ts";
import { readJson } from "../_shared/http/request.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { isServiceRole, serviceClient } from "../_shared/platform/supabase.ts";
import { reconcileRequest } from "../_shared/payments/requests.ts";
import { readPages } from "../_shared/payments/reconcile.ts";
import { reconcileShop, type ShopReconcileStripe } from "../_shared/commerce/reconcile.ts";
import {
  reconcileSubscriptions,
  type SubscriptionReconcileStripe,
} from "../_shared/billing/reconcile.ts";

export interface ReconcileDeps {
  /** The service-role client: payments_reconciliation and record_reconciliation_run. */
  db: Db;
  stripe: ReconcileStripe;
  /** The shop's half (ops.shop_reconciliation and Stripe): run when given (the deployed handler). */
  shop?: ShopReconcileStripe;
  /** Subscription invoices' half (ops.subscription_reconciliation and Stripe): run when given. */
  subscriptions?: SubscriptionReconcileStripe;
}

export interface ReconcileResult {
  run_id: string;
  /** Orders compared. */
  orders: number;
  /** Whether every order in the window was compared (false: `limit` stopped the run). */
  complete: boolean;
  /** Shop checkouts compared, when the shop's half ran. */
  checkouts?: number;
  /** Paid subscription invoices compared, when that half ran. */
  subscription_invoices?: number;
  /** The orders (and checkouts) with differences only. */
  differences: Finding[];
}

export async function runReconciliation(
  { db, stripe, shop, subscriptions }: ReconcileDeps,
  { days, limit, triggered_by }: z.infer<typeof reconcileRequest>,
): Promise<ReconcileResult> {
  const startedAt = new Date();
  const activeSince = new Date(startedAt.getTime() - days * 86_400_000).toISOString();
  // Pages by order id, made inside the database function (a limit on its result would not
  // spare it any row).
  const read = await readPages<ReconciliationRow>(
    (after, max) =>
      call(db, "payments_reconciliation", {
        only_problems: false,
        active_since: activeSince,
        after_order_id: after,
        max_rows: max,
      }),
    (row) => row.order_id,
    limit,
  );
  const rows = read.rows;
  let complete = read.complete;
  const findings = await reconcileWithStripe(stripe, rows);
  const differences: Finding[] = findings.filter((f) => f.problems.length > 0);
  const checkouts = shop ? await reconcileShop({ db, stripe: shop }, { activeSince, limit }) : null;
  if (checkouts) {
    differences.push(...checkouts.findings.filter((f) => f.problems.length > 0));
    complete &&= checkouts.complete;
  }
  const invoices = subscriptions
    ? await reconcileSubscriptions({ db, stripe: subscriptions }, { activeSince, limit })
    : null;
  if (invoices) {
    differences.push(...invoices.findings.filter((f) => f.problems.length > 0));
    complete &&= invoices.complete;
  }
  const checked = findings.length + (checkouts?.findings.length ?? 0) +
    (invoices?.findings.length ?? 0);
  const runId = await call(db, "record_reconciliation_run", {
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    orders_checked: checked,
    differences,
    triggered_by,
  });
  return {
    run_id: runId,
    orders: findings.length,
    ...(checkouts ? { checkouts: checkouts.findings.length } : {}),
    ...(invoices ? { subscription_invoices: invoices.findings.length } : {}),
    complete,
    differences,
  };
}

/** The handler, given where its database and Stripe come from (unit tests pass fakes). */
export function reconcileHandler(deps: () => ReconcileDeps) {
  return createHandler(async (req) => {
    if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
    if (!isServiceRole(req)) {
      throw new HttpError(
        "forbidden",
        "Reconciliation runs with the service-role key only (the schedule, the admin CLI)",
      );
    }
    const body = await readJson(req, reconcileRequest);
    return json(await runReconciliation(deps(), body));
  });
}

export const handler = reconcileHandler(() => {
  const stripe = stripeClient();
  return { db: serviceClient(), stripe, shop: stripe, subscriptions: stripe };
});
