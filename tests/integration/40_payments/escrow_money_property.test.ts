// A property test of the money: whatever sequence of allowed operations the parties, an admin
// and Stripe perform on an order (payment, delivery, release, refunds, disputes and their
// resolution, chargebacks, webhooks delivered again), every ledger transaction balances,
// escrow never goes negative, and neither we nor Stripe refund or transfer more than was
// captured. Operations may be refused (4xx); none may fail (5xx).

import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { admin, callFunction } from "../support/clients.ts";
import { orderAwaitingPayment } from "../support/marketplace.ts";
import {
  drainWebhooks,
  signUpOnboardedSeller,
  stripeControl,
  stripeSdk,
} from "../support/stripe.ts";

const APP = "http://127.0.0.1:3000";
const PRICE = 20_000;

type Operation =
  | { kind: "pay" }
  | { kind: "deliver_and_approve" }
  | { kind: "release" }
  | { kind: "refund"; amount: number }
  | { kind: "dispute" }
  | { kind: "resolve"; resolution: "refund" | "release"; amount: number | null }
  | { kind: "chargeback" }
  | { kind: "redeliver_webhooks"; seed: number };

// Weighted so that most sequences pay early and then go somewhere.
const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: "pay" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "deliver_and_approve" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "release" as const }) },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 1, max: PRICE + 1_000 }).map((amount) => ({
      kind: "refund" as const,
      amount,
    })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "dispute" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("resolve" as const),
      resolution: fc.constantFrom("refund" as const, "release" as const),
      amount: fc.option(fc.integer({ min: 1, max: PRICE }), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "chargeback" as const }) },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 0, max: 1_000_000 }).map((seed) => ({
      kind: "redeliver_webhooks" as const,
      seed,
    })),
  },
);

describe("escrow money under random operations (fast-check)", () => {
  let buyer: TestUser;
  let seller: TestUser;
  let operator: TestUser;

  beforeAll(async () => {
    [buyer, seller, operator] = await Promise.all([
      signUp("prop-buyer"),
      signUpOnboardedSeller("prop-seller"),
      signUpWithRole("prop-admin", "admin"),
    ]);
  });

  /** Runs one operation; returns the HTTP status (or 200 for direct RPCs that succeeded). */
  async function run(
    orderId: string,
    op: Operation,
    state: { chargeId: string | null; events: string[] },
  ): Promise<number> {
    switch (op.kind) {
      case "pay": {
        const r = await callFunction(buyer.client, "payments-initiate", {
          order_id: orderId,
          success_url: `${APP}/paid`,
          cancel_url: `${APP}/cancelled`,
        });
        if (r.status >= 300) return r.status;
        const done = await stripeControl(
          `checkout/sessions/${r.body.checkout_session_id}/complete`,
          { outcome: "paid" },
        );
        if (done.status === 200) {
          state.chargeId = done.body.charge?.id ?? state.chargeId;
          state.events.push(...done.body.events);
        }
        return done.status;
      }
      case "deliver_and_approve": {
        const delivered = await seller.client.rpc("submit_delivery", {
          order_id: orderId,
          message: "Done",
        });
        if (delivered.error) return 409;
        const approved = await buyer.client.rpc("approve_delivery", { order_id: orderId });
        return approved.error ? 409 : 200;
      }
      case "release":
        return (await callFunction(buyer.client, "payments-release", { order_id: orderId })).status;
      case "refund":
        return (await callFunction(operator.client, "payments-refund", {
          order_id: orderId,
          amount: op.amount,
          reason: "property test",
        }))
          .status;
      case "dispute": {
        const { error } = await buyer.client.rpc("open_dispute", {
          order_id: orderId,
          reason: "Not what was agreed on",
        });
        return error ? 409 : 200;
      }
      case "resolve":
        return (await callFunction(operator.client, "payments-resolve-dispute", {
          order_id: orderId,
          resolution: op.resolution,
          ...(op.amount === null ? {} : { refund_amount: op.amount }),
        })).status;
      case "chargeback": {
        if (!state.chargeId) return 409;
        const r = await stripeControl(`charges/${state.chargeId}/dispute`, {
          reason: "fraudulent",
        });
        if (r.status === 200) state.events.push(...r.body.events);
        return r.status;
      }
      case "redeliver_webhooks": {
        if (state.events.length === 0) return 200;
        const again = await stripeControl("webhooks/deliver", {
          order: "shuffled",
          events: state.events,
          seed: op.seed,
        });
        return again.status;
      }
    }
  }

  it("keeps the ledger balanced and never moves more than was captured", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 7 }), async (operations) => {
        const orderId = await orderAwaitingPayment(buyer, seller, PRICE);
        const state = { chargeId: null as string | null, events: [] as string[] };
        for (const op of operations) {
          const status = await run(orderId, op, state);
          expect(status, `${op.kind} failed with a server error`).toBeLessThan(500);
        }
        await drainWebhooks();

        const service = admin();
        const { data: entries } = await service.from("ledger_entries")
          .select("amount, currency, transaction_id, ledger_transactions!inner(order_id)")
          .eq("ledger_transactions.order_id", orderId);
        const sums = new Map<string, number>();
        for (const e of entries ?? []) {
          sums.set(
            `${e.transaction_id}/${e.currency}`,
            (sums.get(`${e.transaction_id}/${e.currency}`) ?? 0) + e.amount,
          );
        }
        for (const [key, sum] of sums) expect(sum, `transaction ${key} is unbalanced`).toBe(0);

        const { data: escrowAccount } = await service.from("ledger_balances").select("balance").eq(
          "order_id",
          orderId,
        ).eq("kind", "escrow");
        for (const row of escrowAccount ?? []) expect(row.balance!).toBeGreaterThanOrEqual(0);

        const { data: payment } = await service.from("payment_status").select("*").eq(
          "order_id",
          orderId,
        ).maybeSingle();
        if (payment) {
          expect(payment.amount_refunded! + payment.amount_charged_back!).toBeLessThanOrEqual(
            payment.amount_captured!,
          );
          expect(payment.amount_transferred! - payment.amount_reversed!).toBeLessThanOrEqual(
            payment.amount_captured! - payment.amount_refunded! - payment.commission_amount! +
              payment.amount_reversed!,
          );
        }
        if (state.chargeId) {
          const stripe = stripeSdk();
          const charge = await stripe.charges.retrieve(state.chargeId);
          const transfers = await stripe.transfers.list({ transfer_group: `order_${orderId}` });
          const transferred = transfers.data.reduce(
            (sum, t) => sum + t.amount - t.amount_reversed,
            0,
          );
          expect(charge.amount_refunded + transferred).toBeLessThanOrEqual(charge.amount);
        }
      }),
      { numRuns: 30, endOnFailure: true },
    );
  }, 240_000);
});
