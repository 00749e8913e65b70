// The invoices scenario (issue 18): invoice numbers under contention and PDF renders. DRAFTS
// draft invoices of one series (create_invoice as a billing staff user, untimed), then all
// issued at once through rpc('issue_invoice') by ISSUERS concurrent requests: issues per
// second, every number distinct and the series consecutive with no gap (the counter row
// serialises them). Then RENDERS of those invoices rendered through the billing-invoice-pdf
// function, RENDERERS at a time (each a first render: PDF built, stored, signed URL): renders
// per second. No target: measured.

import pg from "pg";
import type { Scenario } from "./scenarios.ts";
import { type BenchStack, count, cpuPer, progress, seconds } from "./support.ts";

const DRAFTS = 1_000;
const ISSUERS = 20;
const RENDERS = 200;
const RENDERERS = 8;

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

export const invoices: Scenario = {
  name: "invoices",
  describe: `${
    count(DRAFTS)
  } drafts of one series issued by ${ISSUERS} concurrent requests (rpc issue_invoice), numbers checked consecutive; ${RENDERS} PDF renders through billing-invoice-pdf, ${RENDERERS} at a time`,
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
      },
      checks: [
        { row: "invoices: issued per second, 20 at once", value: issued.perSecond, unit: "/s" },
        { row: "invoices: number gaps", value: gaps, unit: "", below: 1 },
        {
          row: "invoices: PDF renders per second, 8 at once",
          value: rendered.perSecond,
          unit: "/s",
        },
      ],
    };
  },
};
