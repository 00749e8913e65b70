// Reconciliation with a fake Stripe: each kind of difference in the words the admin CLI has
// always printed, a Stripe error about one order as that order's problem, Stripe unreachable
// or refusing the key as the end of the run (nothing recorded); and payments-reconcile's edge:
// the service-role key only, POST only, the run recorded through record_reconciliation_run.
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { HttpError } from "../../../functions/_shared/http/errors.ts";
import {
  compareWithStripe,
  type ReconcileStripe,
  reconcileWithStripe,
  type ReconciliationRow,
} from "../../../functions/payments-reconcile/reconcile.ts";
import { serviceClient } from "../../../functions/_shared/platform/supabase.ts";
import { handler, reconcileHandler } from "../../../functions/payments-reconcile/handler.ts";
import { fakeStripe, stripeError, type StripeObjects } from "./fake_payments.ts";
import { type FakeSupabase, withFakeSupabase } from "../platform/fake_supabase.ts";
import { withEnv } from "../platform/with_env.ts";

const orderId = "7d3c1f0e-4b6a-4f3e-9a51-2f8c0b1d2e3f";
const otherId = "11111111-2222-4333-8444-555555555555";

/** A released order with one partial refund after release, as the database reports it. */
function row(overrides: Partial<ReconciliationRow> = {}): ReconciliationRow {
  return {
    order_id: orderId,
    currency: "EUR",
    status: "released",
    stripe_charge_id: "ch_1",
    amount_captured: 50_000,
    amount_refunded: 10_000,
    amount_transferred: 45_000,
    amount_reversed: 9_000,
    problems: [],
    ...overrides,
  };
}

/** What Stripe holds when it agrees with row(). */
function agreeing(id = orderId): StripeObjects {
  return {
    charges: { ch_1: { amount_captured: 50_000, amount_refunded: 10_000 } },
    transfers: [{
      id: "tr_1",
      transfer_group: `order_${id}`,
      amount: 45_000,
      amount_reversed: 9_000,
    }],
  };
}

Deno.test("an order Stripe agrees with has no problems; the database's own ones are kept first", async () => {
  const fake = fakeStripe({}, agreeing());
  deepStrictEqual(await compareWithStripe(fake.stripe, row()), {
    order_id: orderId,
    currency: "EUR",
    status: "released",
    problems: [],
  });
  deepStrictEqual(fake.calls.map((c) => [c.method, c.params]), [
    ["charges.retrieve", { id: "ch_1" }],
    ["transfers.list", { transfer_group: `order_${orderId}`, limit: 100 }],
  ]);
  const ledger = "ledger refunded 0 <> escrow 10000";
  const finding = await compareWithStripe(fake.stripe, row({ problems: [ledger] }));
  deepStrictEqual(finding.problems, [ledger]);
});

Deno.test("each disagreement with Stripe is named as the CLI always named it", async () => {
  const fake = fakeStripe({}, {
    charges: { ch_1: { amount_captured: 50_100, amount_refunded: 11_234 } },
    transfers: [{
      id: "tr_1",
      transfer_group: `order_${orderId}`,
      amount: 46_000,
      amount_reversed: 0,
    }],
  });
  deepStrictEqual((await compareWithStripe(fake.stripe, row())).problems, [
    "Stripe captured 50100 <> escrow 50000",
    "Stripe refunded 11234 <> escrow 10000",
    "Stripe transferred 46000 <> escrow 45000",
    "Stripe reversed 0 <> escrow 9000",
  ]);
});

Deno.test("captured money without a charge id is a problem; transfers are still compared", async () => {
  const fake = fakeStripe({}, agreeing());
  const finding = await compareWithStripe(fake.stripe, row({ stripe_charge_id: null }));
  deepStrictEqual(finding.problems, ["escrow captured 50000 without a Stripe charge"]);
  deepStrictEqual(fake.calls.map((c) => c.method), ["transfers.list"]);
  // Nothing captured and no charge: a payment not made yet, nothing to say.
  const unpaid = row({
    stripe_charge_id: null,
    amount_captured: 0,
    amount_refunded: 0,
    amount_transferred: 0,
    amount_reversed: 0,
  });
  deepStrictEqual((await compareWithStripe(fakeStripe().stripe, unpaid)).problems, []);
});

Deno.test("transfers are summed over every page of the order's transfer group", async () => {
  const transfers = Array.from({ length: 150 }, (_, i) => ({
    id: `tr_${i}`,
    transfer_group: `order_${orderId}`,
    amount: 300,
    amount_reversed: i < 60 ? 150 : 0,
  }));
  transfers.push({
    id: "tr_other",
    transfer_group: `order_${otherId}`,
    amount: 1,
    amount_reversed: 0,
  });
  const fake = fakeStripe({}, { ...agreeing(), transfers });
  const finding = await compareWithStripe(fake.stripe, row());
  deepStrictEqual(finding.problems, []);
  deepStrictEqual(fake.calls.filter((c) => c.method === "transfers.list").map((c) => c.params), [
    { transfer_group: `order_${orderId}`, limit: 100 },
    { transfer_group: `order_${orderId}`, limit: 100, starting_after: "tr_99" },
  ]);
});

Deno.test("a Stripe error about one order is that order's problem; the others are compared", async () => {
  const fake = fakeStripe({}, agreeing(otherId));
  const findings = await reconcileWithStripe(fake.stripe, [
    row({ stripe_charge_id: "ch_missing" }),
    row({ order_id: otherId }),
  ]);
  deepStrictEqual(findings.map((f) => [f.order_id, f.problems]), [
    [orderId, ["Stripe: No such charge: 'ch_missing'"]],
    [otherId, []],
  ]);
});

Deno.test("Stripe unreachable or refusing the key stops the run with a 502", async () => {
  for (
    const [type, status] of [
      ["StripeConnectionError", undefined],
      ["StripeAuthenticationError", 401],
      ["StripePermissionError", 403],
    ] as const
  ) {
    const fake = fakeStripe(
      { "charges.retrieve": stripeError(type, status, "no way through") },
      agreeing(),
    );
    await rejects(
      reconcileWithStripe(fake.stripe, [row(), row({ order_id: otherId })]),
      (err) =>
        err instanceof HttpError && err.status === 502 && err.code === "payment_provider_error" &&
        err.message === "Reconciliation stopped: reaching Stripe failed: no way through",
      type,
    );
  }
});

Deno.test("a failure that is not Stripe's answer is not dressed up as an order's problem", async () => {
  const fake = fakeStripe({ "transfers.list": new TypeError("bug") }, agreeing());
  await rejects(compareWithStripe(fake.stripe, row()), TypeError);
});

Deno.test("orders are compared four at a time, the findings in the rows' order", async () => {
  const ids = Array.from({ length: 9 }, (_, i) => `00000000-0000-4000-8000-00000000000${i}`);
  const fake = fakeStripe({}, agreeing());
  // Later orders answer sooner, so the comparisons finish out of order.
  let inFlight = 0;
  let mostInFlight = 0;
  const slow: ReconcileStripe = {
    charges: fake.stripe.charges,
    transfers: {
      ...fake.stripe.transfers,
      list: async (params, options) => {
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        const i = ids.indexOf(String(params?.transfer_group).slice("order_".length));
        await new Promise((resolve) => setTimeout(resolve, (ids.length - i) * 3));
        inFlight--;
        return fake.stripe.transfers.list(params, options);
      },
    },
  };
  const rows = ids.map((id, i) =>
    row({ order_id: id, amount_transferred: i + 1, amount_reversed: 0 })
  );
  const findings = await reconcileWithStripe(slow, rows);
  deepStrictEqual(findings.map((f) => f.order_id), ids);
  deepStrictEqual(
    findings.map((f) => f.problems),
    ids.map((_, i) => [`Stripe transferred 0 <> escrow ${i + 1}`]),
  );
  strictEqual(mostInFlight, 4);
  deepStrictEqual(await reconcileWithStripe(fake.stripe, []), []);
});

// ---------------------------------------------------------------------------------------
// The function's edge

const runId = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d";

function post(body: unknown, token: string | null): Request {
  return new Request("http://localhost/payments-reconcile", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
}

async function errorOf(res: Response, status: number): Promise<string> {
  strictEqual(res.status, status);
  strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
  return (await res.json()).error.code;
}

/** A fake Supabase whose reconciliation answers `rows` and records runs as runId. */
function withReconciliationDb(
  rows: ReconciliationRow[],
  body: (fake: FakeSupabase) => Promise<void>,
): Promise<void> {
  return withFakeSupabase({
    user: { id: orderId, email: "nobody@example.com" },
    password: "unused",
    objects: {},
    rpc: {
      payments_reconciliation: { status: 200, body: rows },
      record_reconciliation_run: { status: 200, body: runId },
    },
  }, body);
}

const rpcRequests = (fake: FakeSupabase, name: string) =>
  fake.requests.filter((r) => r.path === `/rest/v1/rpc/${name}`);

Deno.test("payments-reconcile answers only POST", async () => {
  const res = await handler(new Request("http://localhost/payments-reconcile"));
  strictEqual(res.headers.get("Allow"), "POST");
  strictEqual(await errorOf(res, 405), "method_not_allowed");
});

Deno.test("payments-reconcile refuses everyone but the service role with 403, before any work", async () => {
  await withReconciliationDb([row()], async (fake) => {
    const reconcile = reconcileHandler(() => {
      throw new Error("no dependency may be made for a refused caller");
    });
    for (const token of ["user-token", "anon-key", null]) {
      strictEqual(await errorOf(await reconcile(post({}, token)), 403), "forbidden", String(token));
      strictEqual(await errorOf(await handler(post({}, token)), 403), "forbidden", String(token));
    }
    strictEqual(fake.requests.length, 0);
  });
});

Deno.test("payments-reconcile with the service role compares, records the run and answers it", async () => {
  const differing = row({ order_id: otherId, problems: ["ledger refunded 0 <> escrow 10000"] });
  await withReconciliationDb([row(), differing], async (fake) => {
    const { stripe } = fakeStripe({}, {
      ...agreeing(),
      transfers: [...agreeing().transfers!, ...agreeing(otherId).transfers!],
    });
    const reconcile = reconcileHandler(() => ({ db: serviceClient(), stripe }));
    const res = await reconcile(
      post({ days: 30, limit: 5, triggered_by: "cli" }, "service-role-key"),
    );
    strictEqual(res.status, 200);
    const expected = [{
      order_id: otherId,
      currency: "EUR",
      status: "released",
      problems: ["ledger refunded 0 <> escrow 10000"],
    }];
    deepStrictEqual(await res.json(), {
      run_id: runId,
      orders: 2,
      complete: true,
      differences: expected,
    });

    // One page (fewer rows than asked for), by order id from the start (no after_order_id),
    // one more than the limit to tell whether it stopped the run; the window is the last 30
    // days.
    const [rows] = rpcRequests(fake, "payments_reconciliation");
    const { active_since, ...page } = JSON.parse(rows.body);
    deepStrictEqual(page, { only_problems: false, max_rows: 6 });
    const age = Date.now() - Date.parse(active_since);
    strictEqual(age >= 30 * 86_400_000 && age < 30 * 86_400_000 + 60_000, true);
    const [recorded] = rpcRequests(fake, "record_reconciliation_run");
    strictEqual(recorded.authorization, "Bearer service-role-key");
    const { started_at, finished_at, ...args } = JSON.parse(recorded.body);
    deepStrictEqual(args, { orders_checked: 2, differences: expected, triggered_by: "cli" });
    strictEqual(Date.parse(started_at) <= Date.parse(finished_at), true);
  });
});

Deno.test("payments-reconcile says when its limit stopped it before the window's end", async () => {
  await withReconciliationDb([row(), row({ order_id: otherId })], async () => {
    const { stripe } = fakeStripe({}, agreeing());
    const res = await reconcileHandler(() => ({ db: serviceClient(), stripe }))(
      post({ limit: 1 }, "service-role-key"),
    );
    const answer = await res.json();
    deepStrictEqual([answer.orders, answer.complete], [1, false]);
  });
});

Deno.test("payments-reconcile defaults to the scheduler's run: 180 days, pages of 1000", async () => {
  await withReconciliationDb([], async (fake) => {
    const res = await reconcileHandler(() => ({
      db: serviceClient(),
      stripe: fakeStripe().stripe,
    }))(
      post({}, "service-role-key"),
    );
    deepStrictEqual(await res.json(), {
      run_id: runId,
      orders: 0,
      complete: true,
      differences: [],
    });
    const [rows] = rpcRequests(fake, "payments_reconciliation");
    strictEqual(JSON.parse(rows.body).max_rows, 1000);
    const age = Date.now() - Date.parse(JSON.parse(rows.body).active_since);
    strictEqual(Math.round(age / 86_400_000), 180);
    strictEqual(
      JSON.parse(rpcRequests(fake, "record_reconciliation_run")[0].body).triggered_by,
      "schedule",
    );
  });
});

Deno.test("payments-reconcile records nothing when Stripe cannot be reached", async () => {
  await withReconciliationDb([row()], async (fake) => {
    const { stripe } = fakeStripe({
      "charges.retrieve": stripeError("StripeConnectionError", undefined, "connect ECONNREFUSED"),
    }, agreeing());
    const res = await reconcileHandler(() => ({ db: serviceClient(), stripe }))(
      post({}, "service-role-key"),
    );
    strictEqual(res.status, 502);
    strictEqual(
      (await res.json()).error.message,
      "Reconciliation stopped: reaching Stripe failed: connect ECONNREFUSED",
    );
    strictEqual(rpcRequests(fake, "record_reconciliation_run").length, 0);
  });
});

Deno.test("payments-reconcile refuses a bad body with 400", async () => {
  await withEnv({
    SUPABASE_URL: "http://127.0.0.1:1",
    SUPABASE_ANON_KEY: "anon-key",
    SUPABASE_SERVICE_ROLE_KEY: "service-role-key",
    SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:1/postgres",
  }, async () => {
    const reconcile = reconcileHandler(() => {
      throw new Error("not reached");
    });
    for (
      const body of [
        { limit: 0 },
        { limit: 1.5 },
        { limit: 100_001 },
        { days: 0 },
        { days: 3651 },
        { triggered_by: "Cron Job" },
        { triggered_by: "" },
        { order_id: orderId },
      ]
    ) {
      strictEqual(
        await errorOf(await reconcile(post(body, "service-role-key")), 400),
        "invalid_request",
        JSON.stringify(body),
      );
    }
  });
});
