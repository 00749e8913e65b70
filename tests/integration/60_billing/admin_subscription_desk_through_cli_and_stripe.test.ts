// The admin's subscription desk end to end: the admin CLI lists subscriptions (filters, JSON),
// reads stats, and modifies (plan change, pause, resume), refunds and force cancels through
// billing-admin-subscription, which makes billing-manage-subscription's Stripe calls at the
// stand-in as the staff account --as names; each action is audited with that account; the
// mirror follows by webhook. A subscriber gets 403 from the desk, a stranger 404; the CLI
// refuses to act without a staff account. Also: billing statement and billing invoices send.

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { admin, callFunction, eventually } from "../support/clients.ts";
import { runAdminCli } from "../support/admin_cli.ts";
import { APP_URL, drainWebhooks, stripeControl } from "../support/stripe.ts";

const urls = { success_url: `${APP_URL}/subscribed`, cancel_url: `${APP_URL}/plans` };

let staff: TestUser;
const prices: Record<string, string> = {};
let slug: string;

async function subscribe(user: TestUser, planPriceId: string): Promise<string> {
  const started = await callFunction(user.client, "billing-subscribe", {
    plan_price_id: planPriceId,
    ...urls,
  });
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  const done = await stripeControl(`checkout/sessions/${started.body.session_id}/complete`, {
    outcome: "paid",
  });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return done.body.subscription.id as string;
}

async function settled(stripeId: string, check: (row: Record<string, unknown>) => boolean) {
  await drainWebhooks();
  return await eventually(`subscription ${stripeId}`, async () => {
    const { data } = await admin().from("subscriptions").select("*").eq(
      "stripe_subscription_id",
      stripeId,
    )
      .maybeSingle();
    return data && check(data) ? data : undefined;
  });
}

async function cli(args: string[]) {
  const run = await runAdminCli([...args, "--as", staff.email]);
  expect(run.code, run.stderr).toBe(0);
  return run;
}

beforeAll(async () => {
  await stripeControl("webhooks/resume", { discard_held: false });
  staff = await signUpWithRole("desk-staff", "staff");
  slug = `desk-${Date.now().toString(36)}`;
  const created = await staff.client.rpc("create_plan", {
    slug,
    name: "Desk plan",
    fields: {
      prices: [{ billing_period: "month", currency: "KRW", amount: 12000 }, {
        billing_period: "year",
        currency: "KRW",
        amount: 120000,
      }],
    },
  });
  expect(created.error).toBeNull();
  for (const p of (created.data as { prices: { id: string; billing_period: string }[] }).prices) {
    prices[p.billing_period] = p.id;
  }
  const synced = await callFunction(staff.client, "billing-sync-plans", {});
  expect(synced.status, JSON.stringify(synced.body)).toBe(200);
});

describe("the subscription desk", () => {
  it(
    "lists, modifies, refunds and force cancels through the CLI, audited with the staff account",
    async () => {
      const user = await signUp("desk-subscriber");
      const stranger = await signUp("desk-stranger");
      const stripeId = await subscribe(user, prices.month);
      const row = await settled(stripeId, (r) => r.status === "active");

      const listed = await cli([
        "billing",
        "subscriptions",
        "list",
        "--plan",
        slug,
        "--search",
        user.email,
        "--json",
      ]);
      const page = JSON.parse(listed.stdout);
      expect(page.total).toBe(1);
      expect(page.subscriptions[0]).toMatchObject({
        id: row.id,
        status: "active",
        email: user.email,
        amount: 12000,
      });
      const today = new Date().toISOString().slice(0, 10);
      const stats = await cli([
        "billing",
        "subscriptions",
        "stats",
        "--from",
        today,
        "--to",
        today,
        "--json",
      ]);
      const krw = JSON.parse(stats.stdout).currencies.find((c: { currency: string }) =>
        c.currency === "KRW"
      );
      expect(krw.mrr).toBeGreaterThanOrEqual(12000);
      expect(krw.arr).toBeGreaterThanOrEqual(144000);

      // The subscriber is no desk; a stranger does not see the subscription.
      const own = await callFunction(user.client, "billing-admin-subscription", {
        action: "pause",
        subscription_id: row.id,
      });
      expect(own.status).toBe(403);
      const theirs = await callFunction(stranger.client, "billing-admin-subscription", {
        action: "pause",
        subscription_id: row.id,
      });
      expect(theirs.status).toBe(404);
      const noStaff = await runAdminCli([
        "billing",
        "subscriptions",
        "modify",
        row.id as string,
        "--pause",
        "--as",
        "ops-bot",
      ]);
      expect(noStaff.code).toBe(1);
      expect(noStaff.stderr).toContain("this command acts as your staff account");

      // Modify: the yearly price, then pause and resume.
      await cli(["billing", "subscriptions", "modify", row.id as string, "--price", prices.year]);
      await settled(stripeId, (r) => r.plan_price_id === prices.year);
      await cli(["billing", "subscriptions", "modify", row.id as string, "--pause"]);
      await settled(stripeId, (r) => r.status === "paused");
      await cli(["billing", "subscriptions", "modify", row.id as string, "--resume"]);
      await settled(stripeId, (r) => r.status === "active");

      // Refund the latest paid invoice, once: asking again refunds nothing more.
      const refunded = JSON.parse(
        (await cli([
          "billing",
          "subscriptions",
          "refund",
          row.id as string,
          "--reason",
          "goodwill",
          "--json",
        ])).stdout,
      );
      expect(refunded.refund_id).toMatch(/^re_/);
      expect(refunded.refunded).toBeGreaterThan(0);
      // Posted to the ledger once, as the force cancel's refund is.
      expect(refunded).toMatchObject({ refund_posted: true, amount_refunded: refunded.refunded });
      const { data: posted } = await admin().from("ledger_transactions").select("idempotency_key")
        .like("idempotency_key", `subscription_refund:${refunded.stripe_invoice_id}:%`);
      expect(posted).toHaveLength(1);
      const again = JSON.parse(
        (await cli([
          "billing",
          "subscriptions",
          "refund",
          row.id as string,
          "--reason",
          "goodwill",
          "--json",
        ])).stdout,
      );
      expect(again.refund_id).toBe(refunded.refund_id);
      expect(again.amount_refunded).toBe(refunded.refunded);

      // Force cancel with a reason.
      const canceled = JSON.parse(
        (await cli([
          "billing",
          "subscriptions",
          "cancel",
          row.id as string,
          "--reason",
          "chargeback risk",
          "--json",
        ])).stdout,
      );
      expect(canceled.status).toBe("canceled");
      await settled(stripeId, (r) => r.status === "canceled");

      const { data: audit } = await admin().from("audit_log").select("action, actor_id, after")
        .eq("table_name", "subscriptions").eq("row_id", row.id as string).order("id");
      expect(audit!.map((a) => a.action)).toEqual([
        "billing.change_plan",
        "billing.pause",
        "billing.resume",
        "billing.refund",
        "billing.refund",
        "billing.force_cancel",
      ]);
      expect(audit!.every((a) => a.actor_id === staff.id)).toBe(true);
      expect(audit![5].after).toMatchObject({
        reason: "chargeback risk",
        refund: false,
        status: "canceled",
      });
    },
    120_000,
  );

  it("reads a user's statement and sends an invoice by e-mail from the CLI", async () => {
    const customer = await signUp("desk-customer");
    const created = await staff.client.rpc("create_invoice", {
      customer_id: customer.id,
      currency: "KRW",
      items: [{ description: "Setup", quantity: 1, unit_amount: 50000 }],
    });
    expect(created.error).toBeNull();
    const invoiceId = (created.data as { id: string }).id;
    expect((await staff.client.rpc("issue_invoice", { invoice_id: invoiceId })).error).toBeNull();
    const month = new Date().toISOString().slice(0, 7);
    const statement = await cli([
      "billing",
      "statement",
      customer.email,
      "--month",
      month,
      "--json",
    ]);
    expect(JSON.parse(statement.stdout).currencies).toEqual([{
      currency: "KRW",
      opening_balance: 0,
      charges: 50000,
      payments: 0,
      refunds: 0,
      closing_balance: 50000,
    }]);
    const request = crypto.randomUUID();
    const sent = JSON.parse(
      (await cli(["billing", "invoices", "send", invoiceId, "--request", request, "--json"]))
        .stdout,
    );
    expect(sent).toMatchObject({ to_address: customer.email, sent_by: staff.id, repeated: false });
    const repeated = JSON.parse(
      (await cli(["billing", "invoices", "send", invoiceId, "--request", request, "--json"]))
        .stdout,
    );
    expect(repeated).toMatchObject({ id: sent.id, repeated: true });
  }, 60_000);
});
