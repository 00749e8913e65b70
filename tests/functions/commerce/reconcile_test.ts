// The shop's half of reconciliation (functions/_shared/commerce/reconcile.ts) against a fake
// Stripe and the payments tests' fake database: a checkout whose charge, fee, transfers,
// reversals and refunds agree has no problems; each kind of disagreement is named with its ids
// and both amounts (missing on either side, amount and status differences); the database's own
// problems come first; Stripe unreachable stops the run (502), a Stripe error about one
// checkout is its problem; paging by checkout id up to the limit.
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import type Stripe from "npm:stripe@23.1.0";
import {
  compareCheckoutWithStripe,
  reconcileShop,
  type ShopReconcileStripe,
  type ShopReconciliationRow,
} from "../../../functions/_shared/commerce/reconcile.ts";
import { HttpError } from "../../../functions/_shared/http/errors.ts";
import { fakeDb, stripeError } from "../payments/fake_payments.ts";

const checkoutId = "5a0e7c1b-3d2f-4a6b-9c8d-7e6f5a4b3c2d";
const orderA = "1a2b3c4d-0000-4000-8000-00000000000a";
const orderB = "1a2b3c4d-0000-4000-8000-00000000000b";
const refundId = "9f9f9f9f-0000-4000-8000-000000000001";

function row(overrides: Partial<ShopReconciliationRow> = {}): ShopReconciliationRow {
  return {
    checkout_id: checkoutId,
    currency: "USD",
    status: "partially_refunded",
    stripe_payment_intent_id: "pi_1",
    stripe_charge_id: "ch_1",
    stripe_late_refund_id: null,
    amount_captured: 7600,
    amount_refunded: 5600,
    stripe_fee: 250,
    ledger_fee: 250,
    transfers: [
      {
        shop_order_id: orderA,
        amount: 5100,
        stripe_transfer_id: "tr_A",
        reversed: 5100,
        cancelled: false,
      },
      {
        shop_order_id: orderB,
        amount: 1899,
        stripe_transfer_id: "tr_B",
        reversed: 0,
        cancelled: false,
      },
    ],
    refunds: [{
      refund_id: refundId,
      shop_order_id: orderA,
      amount: 5600,
      status: "succeeded",
      stripe_refund_id: "re_1",
    }],
    problems: [],
    ...overrides,
  };
}

interface World {
  charge?: { id: string; amount_captured: number; amount_refunded: number; fee: number } | null;
  transfers?: { id: string; amount: number; amount_reversed: number }[];
  refunds?: { id: string; amount: number; status: string }[];
  fail?: Error;
}

function list<T>(data: T[]): Stripe.ApiList<T> {
  return { object: "list", data, has_more: false, url: "/v1/x" } as Stripe.ApiList<T>;
}

/** A Stripe holding one checkout's objects; records what it was asked. */
function fakeStripe(world: World = {}) {
  const asked: string[] = [];
  const charge = world.charge === undefined
    ? { id: "ch_1", amount_captured: 7600, amount_refunded: 5600, fee: 250 }
    : world.charge;
  const stripe: ShopReconcileStripe = {
    paymentIntents: {
      retrieve: (id, params) => {
        asked.push(`paymentIntents.retrieve ${id} ${JSON.stringify(params?.expand)}`);
        if (world.fail) return Promise.reject(world.fail);
        return Promise.resolve({
          id,
          object: "payment_intent",
          latest_charge: charge && {
            id: charge.id,
            object: "charge",
            amount_captured: charge.amount_captured,
            amount_refunded: charge.amount_refunded,
            balance_transaction: { id: "txn_1", object: "balance_transaction", fee: charge.fee },
          },
        } as unknown as Stripe.PaymentIntent);
      },
    },
    transfers: {
      list: (params) => {
        asked.push(`transfers.list ${params?.transfer_group}`);
        return Promise.resolve(list(
          (world.transfers ?? [
            { id: "tr_B", amount: 1899, amount_reversed: 0 },
            { id: "tr_A", amount: 5100, amount_reversed: 5100 },
          ]) as Stripe.Transfer[],
        ));
      },
    },
    refunds: {
      list: (params) => {
        asked.push(`refunds.list ${params?.payment_intent}`);
        return Promise.resolve(
          list(
            (world.refunds ??
              [{ id: "re_1", amount: 5600, status: "succeeded" }]) as Stripe.Refund[],
          ),
        );
      },
    },
  };
  return { stripe, asked };
}

Deno.test("a checkout whose charge, fee, transfers, reversals and refunds agree has no problems", async () => {
  const { stripe, asked } = fakeStripe();
  const finding = await compareCheckoutWithStripe(stripe, row());
  deepStrictEqual(finding, {
    subject: "checkout",
    order_id: checkoutId,
    currency: "USD",
    status: "partially_refunded",
    problems: [],
  });
  deepStrictEqual(asked, [
    'paymentIntents.retrieve pi_1 ["latest_charge.balance_transaction"]',
    "refunds.list pi_1",
    `transfers.list checkout_${checkoutId}`,
  ]);
});

Deno.test("every disagreement is named with its ids and both amounts, after the database's own", async () => {
  const { stripe } = fakeStripe({
    charge: { id: "ch_2", amount_captured: 7600, amount_refunded: 6000, fee: 260 },
    transfers: [
      { id: "tr_X", amount: 100, amount_reversed: 0 },
      { id: "tr_A", amount: 5000, amount_reversed: 4000 },
    ],
    refunds: [{ id: "re_1", amount: 5000, status: "failed" }, {
      id: "re_2",
      amount: 400,
      status: "succeeded",
    }],
  });
  const finding = await compareCheckoutWithStripe(
    stripe,
    row({ problems: ["ledger captured 7600 <> shop payment 7601"] }),
  );
  deepStrictEqual(finding.problems, [
    "ledger captured 7600 <> shop payment 7601",
    "Stripe charge ch_2 <> shop payment charge ch_1",
    "Stripe refunded 6000 <> shop payment 5600",
    "Stripe fee 260 <> ledger 250",
    `refund ${refundId}: Stripe refunded 5000 <> shop refund 5600`,
    `refund ${refundId}: Stripe status failed <> shop refund succeeded`,
    "Stripe refund re_2 (400) recorded for no shop refund",
    "Stripe transfer tr_X (100) recorded for no shop order",
    `shop order ${orderA}: Stripe transferred 5000 <> shop transfer 5100`,
    `shop order ${orderA}: Stripe reversed 4000 <> shop transfer 5100`,
    `shop order ${orderB}: transfer tr_B not in Stripe`,
  ]);
});

Deno.test("our refund missing in Stripe and a late payment's refund are matched by id", async () => {
  const { stripe } = fakeStripe({
    refunds: [{ id: "re_late", amount: 7600, status: "succeeded" }],
  });
  const late = await compareCheckoutWithStripe(
    stripe,
    row({ stripe_late_refund_id: "re_late", refunds: [] }),
  );
  deepStrictEqual(late.problems, []);
  const missing = await compareCheckoutWithStripe(fakeStripe({ refunds: [] }).stripe, row());
  deepStrictEqual(missing.problems, [`refund ${refundId}: re_1 not in Stripe`]);
  const noCharge = await compareCheckoutWithStripe(
    fakeStripe({ charge: null, refunds: [] }).stripe,
    row({ refunds: [] }),
  );
  deepStrictEqual(noCharge.problems, ["Stripe has no charge for payment intent pi_1"]);
});

Deno.test("Stripe unreachable stops the run; a Stripe error about the checkout is its problem", async () => {
  await rejects(
    compareCheckoutWithStripe(
      fakeStripe({ fail: stripeError("StripeConnectionError", undefined, "connect ECONNREFUSED") })
        .stripe,
      row(),
    ),
    (err) =>
      err instanceof HttpError && err.code === "payment_provider_error" &&
      err.message === "Reconciliation stopped: reaching Stripe failed: connect ECONNREFUSED",
  );
  const finding = await compareCheckoutWithStripe(
    fakeStripe({
      fail: stripeError("StripeInvalidRequestError", 404, "No such payment_intent: 'pi_1'"),
    }).stripe,
    row(),
  );
  deepStrictEqual(finding.problems, ["Stripe: No such payment_intent: 'pi_1'"]);
});

Deno.test("reconcileShop pages by checkout id up to the limit and says when it stopped", async () => {
  const ids = ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"];
  const { db, calls } = fakeDb({
    shop_reconciliation: ids.map((id) => row({ checkout_id: id })),
  });
  const { stripe } = fakeStripe();
  const out = await reconcileShop({ db, stripe }, {
    activeSince: "2026-11-01T00:00:00.000Z",
    limit: 1,
  });
  strictEqual(out.complete, false);
  deepStrictEqual(out.findings.map((f) => f.order_id), [ids[0]]);
  deepStrictEqual(calls.map((c) => c.args), [{
    active_since: "2026-11-01T00:00:00.000Z",
    max_rows: 2,
  }]);
});
