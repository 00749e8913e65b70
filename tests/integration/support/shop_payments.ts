// Paying shop checkouts in tests: sellers onboarded at the Stripe stand-in, buyers with an
// address, a checkout paid through commerce-checkout-pay and completed at the stand-in.
import { expect } from "vitest";
import { signUp, type TestUser } from "./auth.ts";
import { admin, callFunction } from "./clients.ts";
import { APP_URL, drainWebhooks, stripeControl } from "./stripe.ts";

/** Sets up payouts for a seller (payments-onboard) and finishes onboarding at the stand-in. */
export async function onboard(seller: TestUser): Promise<string> {
  const onboarded = await callFunction(seller.client, "payments-onboard", {
    return_url: `${APP_URL}/payouts/done`,
    refresh_url: `${APP_URL}/payouts/retry`,
  });
  expect(onboarded.status, JSON.stringify(onboarded.body)).toBe(201);
  await stripeControl(`accounts/${onboarded.body.account_id}/onboard`, {});
  await drainWebhooks();
  return onboarded.body.account_id as string;
}

/** A new buyer with a US address. */
export async function buyerWithAddress(
  label: string,
): Promise<{ buyer: TestUser; addressId: string }> {
  const buyer = await signUp(label);
  const { data } = await buyer.client.from("addresses").insert({
    full_name: "Pay Buyer",
    address_line1: "1 Main St",
    city: "New York",
    country_code: "US",
  }).select("id").single().throwOnError();
  return { buyer, addressId: data!.id };
}

/** commerce-checkout-pay for a checkout. */
export function pay(buyer: TestUser, checkoutId: string) {
  return callFunction(buyer.client, "commerce-checkout-pay", {
    checkout_id: checkoutId,
    success_url: `${APP_URL}/paid`,
    cancel_url: `${APP_URL}/cancelled`,
  });
}

/** Pays a checkout with the stand-in's test card and lets the webhooks land; returns the completion. */
export async function payAndComplete(buyer: TestUser, checkoutId: string) {
  const started = await pay(buyer, checkoutId);
  expect(started.status, JSON.stringify(started.body)).toBe(201);
  const completed = await stripeControl(
    `checkout/sessions/${started.body.checkout_session_id}/complete`,
    { outcome: "paid" },
  );
  expect(completed.status, JSON.stringify(completed.body)).toBe(200);
  await drainWebhooks();
  return completed.body;
}

/** A product's available units. */
export async function available(productId: string): Promise<number> {
  const { data } = await admin().from("inventory_levels").select("available")
    .eq("product_id", productId).single().throwOnError();
  return data!.available!;
}
