// Property: whatever a subscriber and Stripe do, in whatever order and however often Stripe's
// webhooks arrive, the mirror ends equal to Stripe. Each run (fast-check, seeded: the seed and
// the failing sequence are printed on failure; BILLING_PROPERTY_SEED replays one) subscribes a
// new user through Checkout, holds the webhooks, runs a random sequence of operations through
// billing-manage-subscription and the stand-in's clock (change plan, cancel at period end, undo,
// pause, resume, advance a period paid or failed, recover the failed invoice), then delivers
// every held event shuffled (seeded) and a random part of them again, and compares the
// subscriptions row and the stripe_invoices rows with what Stripe (the stand-in) holds.
// Operations Stripe refuses in the state they meet (pausing a paused subscription, advancing a
// cancelled one) are part of the sequence: refused with a 409, never a 5xx.

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";
import {
  createPlan,
  manage,
  mirrorOf,
  type Plan,
  settled,
  subscribeByCheckout,
  syncPlans,
} from "../support/billing.ts";

type Op =
  | "change_plan"
  | "cancel_at_period_end"
  | "resume_renewal"
  | "pause"
  | "resume"
  | "advance_paid"
  | "advance_failed"
  | "recover";

const OPS: Op[] = [
  "change_plan",
  "cancel_at_period_end",
  "resume_renewal",
  "pause",
  "resume",
  "advance_paid",
  "advance_failed",
  "recover",
];

const RUNS = 10;

let staff: TestUser;
let pro: Plan;
let team: Plan;
let stripePrices: Map<string, string>;

beforeAll(async () => {
  await stripeControl("webhooks/resume", { discard_held: false });
  staff = await signUpWithRole("billing-property-staff", "staff");
  pro = await createPlan(staff, "prop-pro", 9900);
  team = await createPlan(staff, "prop-team", 19900);
  await syncPlans(staff);
  const { data } = await staff.client.from("plan_prices").select("id, stripe_price_id")
    .in("id", [pro.monthly, team.monthly]);
  stripePrices = new Map(data!.map((p) => [p.stripe_price_id!, p.id]));
});

afterAll(async () => {
  await stripeControl("webhooks/resume", { discard_held: false });
});

/** Runs one operation; answers the HTTP status it got (200, or Stripe's refusal as 409/400). */
async function run(user: TestUser, rowId: string, subId: string, op: Op): Promise<number> {
  const stripe = stripeSdk();
  switch (op) {
    case "change_plan": {
      const current = await stripe.subscriptions.retrieve(subId);
      const on = stripePrices.get(current.items.data[0].price.id);
      const to = on === pro.monthly ? team.monthly : pro.monthly;
      return (await manage(user, { action: op, subscription_id: rowId, plan_price_id: to })).status;
    }
    case "cancel_at_period_end":
    case "resume_renewal":
    case "pause":
    case "resume":
      return (await manage(user, { action: op, subscription_id: rowId })).status;
    case "advance_paid":
    case "advance_failed":
      return (await stripeControl(`subscriptions/${subId}/advance`, {
        outcome: op === "advance_paid" ? "succeeded" : "failed",
      })).status;
    case "recover": {
      const open = await stripe.invoices.list({ subscription: subId, status: "open", limit: 1 });
      if (open.data.length === 0) return 200;
      return (await stripeControl(`invoices/${open.data[0].id}/retry`, { outcome: "succeeded" }))
        .status;
    }
  }
}

/** The mirror's row and invoices against the stand-in's subscription and invoices. */
async function expectMirrorEqualsStripe(user: TestUser, subId: string) {
  const stripe = stripeSdk();
  const truth = await stripe.subscriptions.retrieve(subId);
  const row = (await mirrorOf(user, subId))!;
  const item = truth.items.data[0];
  expect({
    status: row.status,
    plan_price_id: row.plan_price_id,
    cancel_at_period_end: row.cancel_at_period_end,
    cancel_at: row.cancel_at ? Date.parse(row.cancel_at) / 1000 : null,
    current_period_start: Date.parse(row.current_period_start!) / 1000,
    current_period_end: Date.parse(row.current_period_end!) / 1000,
  }).toEqual({
    status: truth.status,
    plan_price_id: stripePrices.get(item.price.id),
    cancel_at_period_end: truth.cancel_at_period_end,
    cancel_at: truth.cancel_at,
    current_period_start: item.current_period_start,
    current_period_end: item.current_period_end,
  });
  const invoices = await stripe.invoices.list({ subscription: subId, limit: 100 });
  const { data: mirrored } = await user.client.from("stripe_invoices")
    .select("stripe_invoice_id, status, amount_paid, amount_due").eq(
      "stripe_subscription_id",
      subId,
    );
  expect(
    new Map(mirrored!.map((i) => [i.stripe_invoice_id, [i.status, i.amount_paid, i.amount_due]])),
  ).toEqual(
    new Map(invoices.data.map((i) => [i.id!, [i.status, i.amount_paid, i.amount_due]])),
  );
}

describe("the subscription mirror", () => {
  it(
    `equals Stripe after random operations and shuffled, repeated webhooks (${RUNS} runs)`,
    async () => {
      const seed = Number(process.env.BILLING_PROPERTY_SEED ?? Date.now() % 2_147_483_647);
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom(...OPS), { minLength: 4, maxLength: 9 }),
          fc.integer({ min: 1, max: 1_000_000 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          async (ops, shuffleSeed, repeatShare) => {
            const user = await signUp(`billing-property-${n++}`);
            const subId = await subscribeByCheckout(user, pro.monthly);
            const row = await settled(user, subId, "active");
            await stripeControl("webhooks/pause", {});
            try {
              for (const op of ops) {
                const status = await run(user, row.id, subId, op);
                expect([200, 400, 409], `${op} answered ${status}`).toContain(status);
              }
              const held = (await stripeControl("webhooks")).body.held as string[];
              const delivered = await stripeControl("webhooks/deliver", {
                order: "shuffled",
                seed: shuffleSeed,
              });
              expect(delivered.status, JSON.stringify(delivered.body)).toBe(200);
              await drainWebhooks();
              const again = held.filter((_, i) =>
                (i * 7919 + shuffleSeed) % 100 < repeatShare * 100
              );
              if (again.length > 0) {
                await stripeControl("webhooks/deliver", { order: "reversed", events: again });
              }
            } finally {
              await stripeControl("webhooks/resume", { discard_held: false });
            }
            await drainWebhooks();
            await expectMirrorEqualsStripe(user, subId);
          },
        ),
        { numRuns: RUNS, seed, endOnFailure: true },
      );
    },
    120_000,
  );
});
