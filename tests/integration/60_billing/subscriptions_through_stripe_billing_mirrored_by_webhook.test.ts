// Subscriptions through Stripe Billing, end to end over HTTP: staff mirror plans to Stripe
// (billing-sync-plans), a user subscribes through Checkout (billing-subscribe), the stand-in
// completes it and its webhooks fill the subscriptions and stripe_invoices mirrors; renewals,
// a failed renewal and its recovery, a plan change with proration (previewed, then confirmed),
// cancel at period end, a trial, pause and resume, a staff force cancel with refund; and the same final
// state whatever order and however often the events arrive.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { admin, callFunction, client, eventually } from "../support/clients.ts";
import { APP_URL, drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";

const urls = { success_url: `${APP_URL}/subscribed`, cancel_url: `${APP_URL}/plans` };

interface Plan {
  id: string;
  slug: string;
  monthly: string;
}

let staff: TestUser;
let pro: Plan;
let team: Plan;

async function createPlan(label: string, amount: number, fields: Record<string, unknown> = {}) {
  const slug = `${label}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const created = await staff.client.rpc("create_plan", {
    slug,
    name: `${label} plan`,
    fields: { limits: { max_projects: 25 }, features: [`${label} features`], ...fields },
  });
  expect(created.error).toBeNull();
  const id = (created.data as { id: string }).id;
  const price = await staff.client.rpc("set_plan_price", {
    plan_id: id,
    billing_period: "month",
    currency: "KRW",
    amount,
  });
  expect(price.error).toBeNull();
  return { id, slug, monthly: (price.data as { id: string }).id };
}

async function mirrorOf(user: TestUser, stripeId: string) {
  const { data, error } = await user.client.from("subscriptions").select("*")
    .eq("stripe_subscription_id", stripeId).maybeSingle();
  expect(error).toBeNull();
  return data;
}

/** Subscribes through billing-subscribe and completes the Checkout at the stand-in. */
async function subscribe(user: TestUser, planPriceId: string): Promise<string> {
  const started = await callFunction(user.client, "billing-subscribe", {
    plan_price_id: planPriceId,
    ...urls,
  });
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  expect(started.body.url).toMatch(/^https?:\/\//);
  const done = await stripeControl(`checkout/sessions/${started.body.session_id}/complete`, {
    outcome: "paid",
  });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return done.body.subscription.id as string;
}

async function settled(user: TestUser, stripeId: string, status: string) {
  await drainWebhooks();
  return await eventually(`subscription ${stripeId} ${status}`, async () => {
    const row = await mirrorOf(user, stripeId);
    return row?.status === status ? row : undefined;
  });
}

async function manage(user: TestUser, body: Record<string, unknown>) {
  return await callFunction(user.client, "billing-manage-subscription", body);
}

async function entitledPlans(user: TestUser): Promise<string[]> {
  const { data, error } = await user.client.rpc("my_entitlements");
  expect(error).toBeNull();
  return (data as { plans: { slug: string }[] }).plans.map((p) => p.slug);
}

beforeAll(async () => {
  await stripeControl("webhooks/resume", { discard_held: false });
  staff = await signUpWithRole("billing-staff", "staff");
  pro = await createPlan("pro", 9900);
  team = await createPlan("team", 29900);
  const synced = await callFunction(staff.client, "billing-sync-plans", {});
  expect(synced.status, JSON.stringify(synced.body)).toBe(200);
  expect(synced.body.prices_created).toBeGreaterThanOrEqual(2);
});

afterAll(async () => {
  await stripeControl("webhooks/resume", { discard_held: false });
});

describe("billing-sync-plans", () => {
  it("mirrors plans and prices once, archives a replaced price, and refuses non-staff", async () => {
    const { data: plans } = await staff.client.from("plans").select("id, stripe_product_id")
      .in("id", [pro.id, team.id]);
    expect(plans!.every((p) => p.stripe_product_id?.startsWith("prod_"))).toBe(true);
    const { data: price } = await staff.client.from("plan_prices").select("stripe_price_id")
      .eq("id", pro.monthly).single();
    const stripe = stripeSdk();
    const stripePrice = await stripe.prices.retrieve(price!.stripe_price_id!);
    expect(stripePrice.unit_amount).toBe(9900);
    expect(stripePrice.currency).toBe("krw");
    expect(stripePrice.recurring?.interval).toBe("month");

    // A second run creates nothing.
    const again = await callFunction(staff.client, "billing-sync-plans", {});
    expect(again.status).toBe(200);
    expect(again.body.products_created).toBe(0);
    expect(again.body.prices_created).toBe(0);

    // A new amount archives the old price: its Stripe Price goes inactive, the new one is made.
    const extra = await createPlan("archive", 5000);
    await callFunction(staff.client, "billing-sync-plans", {});
    const { data: old } = await staff.client.from("plan_prices").select("stripe_price_id")
      .eq("id", extra.monthly).single();
    const renewed = await staff.client.rpc("set_plan_price", {
      plan_id: extra.id,
      billing_period: "month",
      currency: "KRW",
      amount: 6000,
    });
    expect(renewed.error).toBeNull();
    const third = await callFunction(staff.client, "billing-sync-plans", {});
    expect(third.body.prices_created).toBe(1);
    expect(third.body.prices_archived).toBe(1);
    expect((await stripe.prices.retrieve(old!.stripe_price_id!)).active).toBe(false);

    // A subscriber to the archived price is refused before Stripe is asked.
    const late = await signUp("billing-late");
    const refused = await callFunction(late.client, "billing-subscribe", {
      plan_price_id: extra.monthly,
      ...urls,
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe(
      `plan price ${extra.monthly} is archived: subscribe to the plan's current price`,
    );

    const user = await signUp("billing-not-staff");
    const denied = await callFunction(user.client, "billing-sync-plans", {});
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toBe(
      "mirroring plans to Stripe needs the billing.manage permission",
    );
    const anon = await callFunction(client(), "billing-sync-plans", {});
    expect(anon.status).toBe(401);
  });
});

describe("billing-subscribe and the webhook mirror", () => {
  it("subscribes, renews, recovers a failed renewal, changes plan with proration, cancels at period end", async () => {
    const user = await signUp("billing-subscriber");
    const stranger = await signUp("billing-stranger");
    expect(await entitledPlans(user)).not.toContain(pro.slug);

    const subId = await subscribe(user, pro.monthly);
    const active = await settled(user, subId, "active");
    expect(active.plan_price_id).toBe(pro.monthly);
    expect(active.current_period_end).not.toBeNull();
    expect(await entitledPlans(user)).toContain(pro.slug);

    // One Stripe customer, recorded once; the first invoice mirrored and read by its owner only.
    const { data: customers } = await user.client.from("billing_customers").select("*");
    expect(customers).toHaveLength(1);
    const invoices = await eventually("the first invoice paid", async () => {
      const { data } = await user.client.from("stripe_invoices").select("*")
        .eq("stripe_subscription_id", subId);
      return data?.some((i) => i.status === "paid") ? data : undefined;
    });
    expect(invoices[0].amount_paid).toBe(9900);
    expect(invoices[0].currency).toBe("KRW");
    const { data: peek } = await stranger.client.from("stripe_invoices").select("*")
      .eq("stripe_subscription_id", subId);
    expect(peek).toEqual([]);
    expect(await mirrorOf(stranger, subId)).toBeNull();

    // The ledger: the paid invoice and Stripe's fee on it, once each.
    const { data: postings } = await admin().from("ledger_transactions").select("idempotency_key")
      .in("idempotency_key", [`subscription_invoice:${invoices[0].stripe_invoice_id}`]);
    expect(postings).toHaveLength(1);

    // A second subscription in the same family is refused before Stripe is asked.
    const second = await callFunction(user.client, "billing-subscribe", {
      plan_price_id: team.monthly,
      ...urls,
    });
    expect(second.status).toBe(409);
    expect(second.body.error.message).toBe(
      `you already have a live subscription (${active.id}, active) in plan family platform: change its plan instead`,
    );
    const unknown = await callFunction(user.client, "billing-subscribe", {
      plan_price_id: "00000000-0000-4000-8000-000000000000",
      ...urls,
    });
    expect(unknown.status).toBe(404);
    const anon = await callFunction(client(), "billing-subscribe", {
      plan_price_id: pro.monthly,
      ...urls,
    });
    expect(anon.status).toBe(401);

    // Renewal: a new period, a second paid invoice.
    const renewed = await stripeControl(`subscriptions/${subId}/advance`, {});
    expect(renewed.status, JSON.stringify(renewed.body)).toBe(200);
    await drainWebhooks();
    const next = await eventually("the renewed period", async () => {
      const row = await mirrorOf(user, subId);
      return row && row.current_period_start! > active.current_period_start! ? row : undefined;
    });
    expect(next.status).toBe("active");

    // A failed renewal: past_due (still entitled within the grace), then a retry pays it.
    const failed = await stripeControl(`subscriptions/${subId}/advance`, { outcome: "failed" });
    expect(failed.status, JSON.stringify(failed.body)).toBe(200);
    await settled(user, subId, "past_due");
    const retried = await stripeControl(`invoices/${failed.body.latest_invoice.id}/retry`, {
      outcome: "succeeded",
    });
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    await settled(user, subId, "active");
    const { data: recovered } = await user.client.from("stripe_invoices").select("status")
      .eq("stripe_invoice_id", failed.body.latest_invoice.id).single();
    expect(recovered!.status).toBe("paid");

    // Change plan: previewed (prorations, nothing changed), then confirmed.
    const preview = await manage(user, {
      action: "preview_change",
      subscription_id: active.id,
      plan_price_id: team.monthly,
    });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.amount_due).toBeGreaterThan(0);
    expect(preview.body.lines.some((l: { proration: boolean }) => l.proration)).toBe(true);
    expect((await mirrorOf(user, subId))!.plan_price_id).toBe(pro.monthly);
    const same = await manage(user, {
      action: "change_plan",
      subscription_id: active.id,
      plan_price_id: pro.monthly,
    });
    expect(same.status).toBe(409);
    const theirs = await manage(stranger, {
      action: "change_plan",
      subscription_id: active.id,
      plan_price_id: team.monthly,
    });
    expect(theirs.status).toBe(404);
    const changed = await manage(user, {
      action: "change_plan",
      subscription_id: active.id,
      plan_price_id: team.monthly,
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    await drainWebhooks();
    await eventually("the plan change mirrored", async () => {
      const row = await mirrorOf(user, subId);
      return row?.plan_price_id === team.monthly ? row : undefined;
    });
    expect(await entitledPlans(user)).toContain(team.slug);
    const { data: prorated } = await user.client.from("stripe_invoices").select("*")
      .eq("stripe_subscription_id", subId).eq("billing_reason", "subscription_update");
    expect(prorated).toHaveLength(1);
    expect(prorated![0].amount_due).toBe(preview.body.amount_due);

    // Cancel at period end (and undo, and again), then the period ends: canceled, free tier.
    const cancel = await manage(user, {
      action: "cancel_at_period_end",
      subscription_id: active.id,
    });
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    await drainWebhooks();
    await eventually("cancel_at set", async () => {
      const row = await mirrorOf(user, subId);
      return row?.cancel_at ? row : undefined;
    });
    const undo = await manage(user, { action: "resume_renewal", subscription_id: active.id });
    expect(undo.status).toBe(200);
    await drainWebhooks();
    await eventually("cancel_at cleared", async () => {
      const row = await mirrorOf(user, subId);
      return row && !row.cancel_at ? row : undefined;
    });
    await manage(user, { action: "cancel_at_period_end", subscription_id: active.id });
    await drainWebhooks();
    const ended = await stripeControl(`subscriptions/${subId}/advance`, {});
    expect(ended.status, JSON.stringify(ended.body)).toBe(200);
    await settled(user, subId, "canceled");
    expect(await entitledPlans(user)).toEqual(["free"]);

    // Once ended, a new subscription in the family is allowed again.
    const again = await callFunction(user.client, "billing-subscribe", {
      plan_price_id: pro.monthly,
      ...urls,
    });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
  });

  it("pauses and resumes; staff force cancel with a refund; the owner may not force cancel", async () => {
    const user = await signUp("billing-pauser");
    const subId = await subscribe(user, pro.monthly);
    const row = await settled(user, subId, "active");

    const paused = await manage(user, { action: "pause", subscription_id: row.id });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    const pausedRow = await settled(user, subId, "paused");
    expect(pausedRow.paused_reason).toBe("pause_requested");
    const resumed = await manage(user, { action: "resume", subscription_id: row.id });
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    await settled(user, subId, "active");

    const own = await manage(user, {
      action: "force_cancel",
      subscription_id: row.id,
      reason: "fraud suspected",
    });
    expect(own.status).toBe(403);
    const forced = await manage(staff, {
      action: "force_cancel",
      subscription_id: row.id,
      reason: "fraud suspected",
      refund: true,
    });
    expect(forced.status, JSON.stringify(forced.body)).toBe(200);
    expect(forced.body.refund_id).toMatch(/^re_/);
    expect(forced.body.refunded).toBeGreaterThan(0);
    await settled(user, subId, "canceled");
  });

  it("starts a trial of the plan's trial days without a charge", async () => {
    const trial = await createPlan("trial", 19900, { trial_days: 14 });
    await callFunction(staff.client, "billing-sync-plans", {});
    const user = await signUp("billing-trialist");
    const subId = await subscribe(user, trial.monthly);
    const row = await settled(user, subId, "trialing");
    const days = (new Date(row.trial_end!).getTime() - new Date(row.trial_start!).getTime()) /
      86_400_000;
    expect(days).toBe(14);
    expect(await entitledPlans(user)).toContain(trial.slug);
    const { data: invoices } = await user.client.from("stripe_invoices").select("amount_paid")
      .eq("stripe_subscription_id", subId);
    expect(invoices!.every((i) => i.amount_paid === 0)).toBe(true);
  });

  it("creates one Stripe customer when two subscribe requests race", async () => {
    const user = await signUp("billing-racer");
    const [a, b] = await Promise.all([
      callFunction(user.client, "billing-subscribe", { plan_price_id: pro.monthly, ...urls }),
      callFunction(user.client, "billing-subscribe", { plan_price_id: pro.monthly, ...urls }),
    ]);
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    expect(a.body.customer_id).toBe(b.body.customer_id);
    const { data } = await user.client.from("billing_customers").select("stripe_customer_id");
    expect(data).toEqual([{ stripe_customer_id: a.body.customer_id }]);
  });
});

describe("webhook deliveries held, shuffled and repeated", () => {
  it("end in the state Stripe has", async () => {
    const user = await signUp("billing-shuffled");
    await drainWebhooks();
    await stripeControl("webhooks/pause", {});
    let held: string[] = [];
    let subId = "";
    try {
      subId = await subscribe(user, pro.monthly);
      await stripeControl(`subscriptions/${subId}/advance`, {});
      const failed = await stripeControl(`subscriptions/${subId}/advance`, { outcome: "failed" });
      await stripeControl(`invoices/${failed.body.latest_invoice.id}/retry`, {
        outcome: "succeeded",
      });
      await stripeControl(`subscriptions/${subId}/advance`, {});
      const status = await stripeControl("webhooks");
      held = status.body.held as string[];
      expect(held.length).toBeGreaterThan(10);
      const shuffled = await stripeControl("webhooks/deliver", { order: "shuffled", seed: 18 });
      expect(shuffled.status, JSON.stringify(shuffled.body)).toBe(200);
      await drainWebhooks();
      // Every event again, in reverse.
      await stripeControl("webhooks/deliver", { order: "reversed", events: held });
      await drainWebhooks();
    } finally {
      await stripeControl("webhooks/resume", { discard_held: false });
    }
    await drainWebhooks();

    const truth = await stripeSdk().subscriptions.retrieve(subId);
    const row = (await mirrorOf(user, subId))!;
    expect(row.status).toBe(truth.status);
    expect(new Date(row.current_period_end!).getTime() / 1000).toBe(
      truth.items.data[0].current_period_end,
    );
    const stripeInvoices = await stripeSdk().invoices.list({ subscription: subId, limit: 100 });
    const { data: mirrored } = await user.client.from("stripe_invoices")
      .select("stripe_invoice_id, status, amount_paid").eq("stripe_subscription_id", subId);
    const byId = new Map(mirrored!.map((i) => [i.stripe_invoice_id, i]));
    expect(byId.size).toBe(stripeInvoices.data.length);
    for (const invoice of stripeInvoices.data) {
      expect(byId.get(invoice.id!)?.status, invoice.id).toBe(invoice.status);
      expect(byId.get(invoice.id!)?.amount_paid, invoice.id).toBe(invoice.amount_paid);
    }
    // Each paid invoice posted once, whatever the deliveries.
    const paid = stripeInvoices.data.filter((i) => i.status === "paid" && i.amount_paid > 0);
    const { data: postings } = await admin().from("ledger_transactions").select("idempotency_key")
      .in("idempotency_key", paid.map((i) => `subscription_invoice:${i.id}`));
    expect(postings).toHaveLength(paid.length);
  });
});
