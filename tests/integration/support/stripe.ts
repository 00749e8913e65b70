// The stack's Stripe stand-in (STRIPE_API_BASE), through the Stripe SDK as the functions use it
// and through its /_test/ controls, and sellers who have finished Stripe's onboarding there.
// The variables are read when first needed, so test files that skip without the stand-in
// still load.

import Stripe from "stripe";
import { expect } from "vitest";
import { signUp, type TestUser } from "./auth.ts";
import { callFunction, type JsonBody, requireEnv } from "./clients.ts";

/** The Stripe SDK pointed at the stack's Stripe stand-in (STRIPE_API_BASE), as the functions are. */
export function stripeSdk(key = requireEnv("STRIPE_SECRET_KEY")): Stripe {
  const base = new URL(requireEnv("STRIPE_API_BASE"));
  return new Stripe(key, {
    host: base.hostname,
    port: Number(base.port),
    protocol: "http",
    maxNetworkRetries: 0,
  });
}

/** Calls one of the Stripe stand-in's /_test/ endpoints (simulations and webhook controls). */
export async function stripeControl(
  path: string,
  body?: unknown,
  method = body === undefined ? "GET" : "POST",
): Promise<{ status: number; body: JsonBody }> {
  const response = await fetch(`${requireEnv("STRIPE_API_BASE")}/_test/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Waits until the stand-in has delivered every pending webhook event. */
export async function drainWebhooks(): Promise<void> {
  const { status, body } = await stripeControl("webhooks/drain", { timeout_ms: 20_000 });
  expect(status, JSON.stringify(body)).toBe(200);
}

/** A seller who has set up payouts (payments-onboard) and finished Stripe's onboarding at the stand-in. */
export async function signUpOnboardedSeller(label: string): Promise<TestUser> {
  const seller = await signUp(label, { is_tailor: true });
  const onboard = await callFunction(seller.client, "payments-onboard", {
    return_url: "http://127.0.0.1:3000/payouts/done",
    refresh_url: "http://127.0.0.1:3000/payouts/retry",
  });
  expect(onboard.status, JSON.stringify(onboard.body)).toBe(201);
  await stripeControl(`accounts/${onboard.body.account_id}/onboard`, {});
  await drainWebhooks();
  return seller;
}

/** Where the app's pages live in tests: Stripe may send browsers back there (config.toml's site_url). */
export const APP_URL = "http://127.0.0.1:3000";

/** Pays an order through Checkout as the buyer would, and lets the webhooks land; returns the charge id. */
export async function payThroughCheckout(buyer: TestUser, orderId: string): Promise<string> {
  const initiated = await callFunction(buyer.client, "payments-initiate", {
    order_id: orderId,
    success_url: `${APP_URL}/paid`,
    cancel_url: `${APP_URL}/cancelled`,
  });
  expect(initiated.status, JSON.stringify(initiated.body)).toBe(201);
  const completed = await stripeControl(
    `checkout/sessions/${initiated.body.checkout_session_id}/complete`,
    { outcome: "paid" },
  );
  expect(completed.status, JSON.stringify(completed.body)).toBe(200);
  await drainWebhooks();
  return completed.body.charge.id as string;
}
