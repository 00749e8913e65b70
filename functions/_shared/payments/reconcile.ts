// What every half of payments-reconcile does the same way, whatever it compares (escrow orders,
// the shop's checkouts, subscription invoices): read the database's rows page by page up to a
// limit, compare them with Stripe a few at a time, and turn a Stripe error into either one
// row's problem or the end of the run.
import { HttpError } from "../http/errors.ts";
import { stripeErrorMessage, stripeUnreachable } from "./stripe-errors.ts";

/** Rows asked of the database at once (within PostgREST's max_rows, 1000). */
export const RECONCILE_PAGE = 1000;

/**
 * Up to `limit` rows from a keyset-paged database function: `page(after, max)` returns the rows
 * after the key `after` (undefined at first), at most `max`. One more row than `limit` is asked
 * for, so `complete` says whether the limit stopped the reading.
 */
export async function readPages<Row>(
  page: (after: string | undefined, max: number) => Promise<Row[]>,
  keyOf: (row: Row) => string,
  limit: number,
  pageSize = RECONCILE_PAGE,
): Promise<{ rows: Row[]; complete: boolean }> {
  const rows: Row[] = [];
  let after: string | undefined;
  for (;;) {
    const wanted = Math.min(pageSize, limit + 1 - rows.length);
    const found = await page(after, wanted);
    rows.push(...found);
    if (rows.length > limit) {
      rows.length = limit;
      return { rows, complete: false };
    }
    if (found.length < wanted) return { rows, complete: true };
    after = keyOf(found[found.length - 1]);
  }
}

/**
 * `compare` applied to every row, at most `concurrency` at once, the results in the rows'
 * order. The first error stops the run: the other workers finish their row and take no more.
 */
export async function compareAll<Row, Result>(
  rows: Row[],
  concurrency: number,
  compare: (row: Row) => Promise<Result>,
): Promise<Result[]> {
  const results: Result[] = new Array(rows.length);
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && next < rows.length) {
      const i = next++;
      try {
        results[i] = await compare(rows[i]);
      } catch (err) {
        stopped = true;
        throw err;
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, rows.length)) }, worker),
  );
  return results;
}

/**
 * A Stripe error met while comparing one row, as that row's problem (`Stripe: <message>`, say a
 * charge Stripe does not know). Stripe being unreachable or refusing the key ends the whole run
 * with a 502, since every other row would fail the same way; anything that is not Stripe's
 * answer is a bug and is thrown as it is.
 */
export function stripeProblem(err: unknown): string {
  const message = stripeErrorMessage(err);
  if (message === null) throw err;
  if (stripeUnreachable(err)) {
    throw new HttpError(
      "payment_provider_error",
      `Reconciliation stopped: reaching Stripe failed: ${message}`,
      { stripe_type: (err as { type?: string }).type },
    );
  }
  return `Stripe: ${message}`;
}
