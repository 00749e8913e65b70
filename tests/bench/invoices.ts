// The invoices scenario (issue 18): invoice numbers under contention and PDF renders. DRAFTS
// draft invoices of one series (create_invoice as a billing staff user, untimed), then all
// issued at once through rpc('issue_invoice') by ISSUERS concurrent requests: issues per
// second, every number distinct and the series consecutive with no gap (the counter row
// serialises them). Then RENDERS of those invoices rendered through the billing-invoice-pdf
// function, RENDERERS at a time (each a first render: PDF built, stored, signed URL): renders
// per second. Then the refunds of subscription invoices on a ledger of LEDGER postings (one in a
// hundred a subscription refund): the milliseconds of the reconciliation's per-invoice sum
// (private.subscription_invoice_ledger_refunded) and of a user's statement entries
// (private.statement_entries), both through private.subscription_invoice_refunds and its index;
// seeded and measured in one transaction that is rolled back, so the ledger stays as it was.
// No target: measured.

import pg from "pg";
import type { Scenario } from "./scenarios.ts";
import { type BenchStack, count, cpuPer, progress, seconds } from "./support.ts";

const DRAFTS = 1_000;
const ISSUERS = 20;
const RENDERS = 200;
const RENDERERS = 8;
const LEDGER = 200_000;
const REFUNDED = 50; // the customer's refunded subscription invoices
const LOOKUPS = 200;

/** A staff user (billing.manage) signed in with a password, its token carrying the role. */
async function staffToken(
  stack: BenchStack,
  db: pg.Client,
): Promise<{ id: string; token: string }> {
  const email = `bench-billing-staff-${Date.now()}@example.com`;
  const password = "Bench-Password-1";
  const created = await fetch(`${stack.apiUrl}/auth/v1/admin/users`, {
    method: "POST",
    headers: {
      apikey: stack.serviceRoleKey,
      authorization: `Bearer ${stack.serviceRoleKey}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ email, password, email_confirm: true }),
  });
  if (!created.ok) {
    throw new Error(`creating ${email} failed: ${created.status} ${await created.text()}`);
  }
  const { id } = (await created.json()) as { id: string };
  await db.query(
    `insert into public.user_roles (user_id, role_id) select $1, r.id from public.roles r where r.name = 'staff'`,
    [id],
  );
  const response = await fetch(`${stack.apiUrl}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { apikey: stack.anonKey, "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) throw new Error(`sign-in failed: ${response.status} ${await response.text()}`);
  return { id, token: ((await response.json()) as { access_token: string }).access_token };
}

/** Runs `work` over the items, `width` at once; answers per second and failures. */
async function concurrently<T, R>(
  label: string,
  items: T[],
  width: number,
  work: (item: T) => Promise<R>,
): Promise<{ results: R[]; perSecond: number; seconds: number }> {
  const line = progress(`  ${label}`);
  const results: R[] = new Array(items.length);
  let next = 0;
  const begun = performance.now();
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
      if ((i + 1) % 50 === 0) line.update(`${i + 1}/${items.length}`);
    }
  }));
  const elapsed = (performance.now() - begun) / 1000;
  const perSecond = items.length / elapsed;
  line.done(`${count(items.length)} in ${elapsed.toFixed(1)} s: ${perSecond.toFixed(0)}/s`);
  return { results, perSecond, seconds: elapsed };
}

/**
 * Milliseconds of the reconciliation's refunded sum per invoice and of one user's statement
 * entries, on a ledger of LEDGER postings, seeded in a transaction that is rolled back (the
 * ledger is append-only; its balance check runs at commit, which never comes).
 */
async function refundLookups(
  db: pg.Client,
  userId: string,
): Promise<{ reconcileMs: number; statementMs: number; statementRows: number }> {
  await db.query("begin");
  try {
    const line = progress(`  ledger of ${count(LEDGER)} postings (untimed setup)`);
    await db.query(
      `insert into public.billing_customers (user_id, stripe_customer_id) values ($1, 'cus_bench_refunds')
       on conflict do nothing`,
      [userId],
    );
    await db.query(
      `select private.apply_invoice_snapshot(jsonb_build_object('id', 'evt_bench_' || g, 'object', 'event',
         'created', 1700000000 + g, 'type', 'invoice.paid', 'data', jsonb_build_object('object', jsonb_build_object(
           'id', 'in_bench_refunded' || g, 'object', 'invoice', 'customer', 'cus_bench_refunds', 'status', 'paid',
           'currency', 'krw', 'created', 1700000000 + g, 'number', 'BENCH-' || g, 'billing_reason', 'subscription_cycle',
           'subtotal', 9900, 'total', 9900, 'amount_due', 9900, 'amount_paid', 9900, 'amount_remaining', 0,
           'status_transitions', jsonb_build_object('paid_at', 1700000000 + g)))))
         from generate_series(1, $1::integer) g`,
      [REFUNDED],
    );
    await db.query(
      `select private.post_subscription_refund('in_bench_refunded' || g, jsonb_build_object('id', 're_bench' || g,
         'object', 'refund', 'amount', 1000, 'currency', 'krw', 'status', 'succeeded'))
         from generate_series(1, $1::integer) g`,
      [REFUNDED],
    );
    await db.query(
      `with accounts as (
         select private.ledger_account('subscription_revenue', 'KRW') revenue,
                private.ledger_account('subscription_refunds', 'KRW') refunds,
                private.ledger_account('stripe_fees', 'KRW') fees,
                private.ledger_account('platform_commission', 'KRW') commission
       ), t as (
         insert into public.ledger_transactions (idempotency_key, description, entries_digest)
         select case when g % 100 = 0 then 'subscription_refund:in_bench_other' || g || ':re_other' || g
                     else 'payment:bench' || g end, 'bench', 'bench'
           from generate_series(1, $1::integer) g
         returning id, starts_with(idempotency_key, 'subscription_refund:') refund
       )
       insert into public.ledger_entries (transaction_id, account_id, amount, currency)
       select t.id, x.account, x.amount, 'KRW' from t cross join accounts a cross join lateral (values
         (case when t.refund then a.revenue else a.fees end, -100::bigint),
         (case when t.refund then a.refunds else a.commission end, 100::bigint)) x (account, amount)`,
      [LEDGER],
    );
    await db.query("analyze public.ledger_transactions");
    await db.query("analyze public.ledger_entries");
    line.done("seeded");

    let begun = performance.now();
    const { rows: [sums] } = await db.query<{ total: string }>(
      `select sum(private.subscription_invoice_ledger_refunded('in_bench_refunded' || (1 + g % $2::integer), 'KRW')) total
         from generate_series(1, $1::integer) g`,
      [LOOKUPS, REFUNDED],
    );
    const reconcileMs = (performance.now() - begun) / LOOKUPS;
    if (Number(sums.total) !== LOOKUPS * 1000) {
      throw new Error(`the refunded sums came to ${sums.total}, not ${LOOKUPS * 1000}`);
    }
    begun = performance.now();
    const { rows: [entries] } = await db.query<{ n: number }>(
      `select count(*) filter (where kind = 'subscription_refund')::int n from private.statement_entries($1)`,
      [userId],
    );
    const statementMs = performance.now() - begun;
    if (entries.n !== REFUNDED) {
      throw new Error(`the statement listed ${entries.n} refunds, not ${REFUNDED}`);
    }
    console.log(
      `  refunded sum per invoice ${
        reconcileMs.toFixed(2)
      } ms (${LOOKUPS} invoices); statement entries with ${REFUNDED} refunds ${
        statementMs.toFixed(1)
      } ms`,
    );
    return { reconcileMs, statementMs, statementRows: entries.n };
  } finally {
    await db.query("rollback");
  }
}

export const invoices: Scenario = {
  name: "invoices",
  describe: `${
    count(DRAFTS)
  } drafts of one series issued by ${ISSUERS} concurrent requests (rpc issue_invoice), numbers checked consecutive; ${RENDERS} PDF renders through billing-invoice-pdf, ${RENDERERS} at a time; subscription refunds looked up on a ${
    count(LEDGER)
  }-posting ledger (rolled back)`,
  async run(stack, db) {
    const staff = await staffToken(stack, db);
    const customer = await staffToken(stack, db); // any user: the invoices' customer
    const headers = {
      apikey: stack.anonKey,
      authorization: `Bearer ${staff.token}`,
      "content-type": "application/json",
    };
    const rpc = async (name: string, body: unknown) => {
      const response = await fetch(`${stack.apiUrl}/rest/v1/rpc/${name}`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${name} answered ${response.status}: ${text}`);
      return JSON.parse(text) as { id: string; number: string | null };
    };

    const begun = performance.now();
    const drafts = await concurrently(
      "drafts (untimed setup)",
      Array.from({ length: DRAFTS }, (_, i) => i),
      ISSUERS,
      (i) =>
        rpc("create_invoice", {
          customer_id: customer.id,
          currency: "KRW",
          items: [{ description: `Bench fitting ${i}`, quantity: 1, unit_amount: 10000 }],
          customer_name: "김민수",
          tax_rate_bps: 1000,
        }),
    );
    console.log(`  drafts ready in ${seconds(performance.now() - begun)}`);

    const cpuBefore = stack.cpu();
    const issued = await concurrently(
      `issuing ${count(DRAFTS)} at once`,
      drafts.results.map((d) => d.id),
      ISSUERS,
      (invoice_id) => rpc("issue_invoice", { invoice_id }),
    );
    const issueCpu = cpuPer(cpuBefore, stack.cpu(), DRAFTS);
    if (issueCpu) console.log(`    CPU per issue: ${issueCpu}`);
    // Consecutive: one day's series, DRAFTS distinct numbers, no gap from the first to the last.
    const numbers = issued.results.map((r) => r.number!);
    const day = numbers[0].slice(0, 8);
    const positions = numbers.map((n) => Number(n.slice(9))).sort((a, b) => a - b);
    const gaps = positions.filter((p, i) => i > 0 && p !== positions[i - 1] + 1).length;
    const consecutive = new Set(numbers).size === DRAFTS &&
      numbers.every((n) => n.startsWith(`${day}-`)) &&
      gaps === 0 && positions[0] === 1;
    console.log(
      `  numbers ${day}-${String(positions[0]).padStart(4, "0")} … ${day}-${
        String(positions.at(-1)).padStart(4, "0")
      }: ${new Set(numbers).size} distinct, ${gaps} gaps`,
    );
    if (!consecutive) throw new Error("the issued numbers are not consecutive (see above)");

    const pdfCpuBefore = stack.cpu();
    const rendered = await concurrently(
      `rendering ${RENDERS} PDFs`,
      drafts.results.slice(0, RENDERS).map((d) => d.id),
      RENDERERS,
      async (invoice_id) => {
        const response = await fetch(`${stack.apiUrl}/functions/v1/billing-invoice-pdf`, {
          method: "POST",
          headers,
          body: JSON.stringify({ invoice_id }),
        });
        const body = (await response.json()) as { signed_url?: string };
        if (!response.ok || !body.signed_url) {
          throw new Error(
            `billing-invoice-pdf answered ${response.status}: ${JSON.stringify(body)}`,
          );
        }
        return body.signed_url;
      },
    );
    const pdfCpu = cpuPer(pdfCpuBefore, stack.cpu(), RENDERS);
    if (pdfCpu) console.log(`    CPU per render: ${pdfCpu}`);
    const { rows: [stored] } = await db.query<{ n: number }>(
      `select count(*)::int n from storage.objects where bucket_id = 'invoices' and name like $1`,
      [`${customer.id}/%`],
    );
    console.log(`  ${stored.n} PDFs stored in the invoices bucket`);
    if (stored.n !== RENDERS) throw new Error(`${RENDERS} renders stored ${stored.n} files`);

    const refunds = await refundLookups(db, customer.id);

    return {
      numbers: {
        drafts: DRAFTS,
        issuers: ISSUERS,
        issuesPerSecond: issued.perSecond,
        issueSeconds: issued.seconds,
        issueCpu,
        firstNumber: numbers.slice().sort()[0],
        gaps,
        renders: RENDERS,
        renderers: RENDERERS,
        rendersPerSecond: rendered.perSecond,
        renderCpu: pdfCpu,
        ledger: LEDGER,
        refundedSumMs: refunds.reconcileMs,
        statementEntriesMs: refunds.statementMs,
      },
      checks: [
        { row: "invoices: issued per second, 20 at once", value: issued.perSecond, unit: "/s" },
        { row: "invoices: number gaps", value: gaps, unit: "", below: 1 },
        {
          row: "invoices: PDF renders per second, 8 at once",
          value: rendered.perSecond,
          unit: "/s",
        },
        {
          row: "invoices: refunded sum of one, 200k ledger",
          value: refunds.reconcileMs,
          unit: "ms",
        },
        {
          row: "invoices: statement entries, 200k ledger",
          value: refunds.statementMs,
          unit: "ms",
        },
      ],
    };
  },
};
