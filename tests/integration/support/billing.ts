// Stripe Billing helpers for the billing integration tests: staff plans mirrored to Stripe, a
// user's subscription through Checkout or Elements at the stand-in, and the mirror read back.

import { expect } from "vitest";
import type { TestUser } from "./auth.ts";
import { callFunction, eventually, type JsonBody } from "./clients.ts";
import { APP_URL, drainWebhooks, stripeControl } from "./stripe.ts";

export const checkoutUrls = {
  success_url: `${APP_URL}/subscribed`,
  cancel_url: `${APP_URL}/plans`,
};

export interface Plan {
  id: string;
  slug: string;
  /** The monthly KRW price's id. */
  monthly: string;
}

/** A plan with a monthly KRW price, made by staff (not yet mirrored to Stripe). */
export async function createPlan(
  staff: TestUser,
  label: string,
  amount: number,
  fields: Record<string, unknown> = {},
): Promise<Plan> {
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

/** Mirrors every plan to Stripe (billing-sync-plans) as staff. */
export async function syncPlans(staff: TestUser): Promise<void> {
  const synced = await callFunction(staff.client, "billing-sync-plans", {});
  expect(synced.status, JSON.stringify(synced.body)).toBe(200);
}

/** The user's mirrored subscription of a Stripe subscription id, as they read it. */
export async function mirrorOf(user: TestUser, stripeId: string) {
  const { data, error } = await user.client.from("subscriptions").select("*")
    .eq("stripe_subscription_id", stripeId).maybeSingle();
  expect(error).toBeNull();
  return data;
}

/** Waits for the webhooks, then for the mirror to show the status. */
export async function settled(user: TestUser, stripeId: string, status: string) {
  await drainWebhooks();
  return await eventually(`subscription ${stripeId} ${status}`, async () => {
    const row = await mirrorOf(user, stripeId);
    return row?.status === status ? row : undefined;
  });
}

/** Subscribes through billing-subscribe's Checkout flow and completes it at the stand-in. */
export async function subscribeByCheckout(user: TestUser, planPriceId: string): Promise<string> {
  const started = await callFunction(user.client, "billing-subscribe", {
    plan_price_id: planPriceId,
    ...checkoutUrls,
  });
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  const done = await stripeControl(`checkout/sessions/${started.body.session_id}/complete`, {
    outcome: "paid",
  });
  expect(done.status, JSON.stringify(done.body)).toBe(200);
  return done.body.subscription.id as string;
}

/** billing-manage-subscription. */
export async function manage(
  user: TestUser,
  body: Record<string, unknown>,
): Promise<{ status: number; body: JsonBody }> {
  return await callFunction(user.client, "billing-manage-subscription", body);
}
