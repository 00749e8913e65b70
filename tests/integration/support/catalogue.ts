// The shop's catalogue for integration tests: a seller with an open shop, a shipping profile
// that ships everywhere, and an active physical product with stock.

import { signUpWithRole, type TestUser } from "./auth.ts";
import { admin } from "./clients.ts";

/** A new user with the seller role and an active shop (shops.id = their user id). */
export async function openShop(label: string): Promise<TestUser> {
  const seller = await signUpWithRole(label, "seller");
  await admin().from("shops").insert({
    id: seller.id,
    shop_name: `${label} shop`,
    category: "general",
  })
    .throwOnError();
  return seller;
}

/** A shipping profile of the seller's shop in the currency, with one rate for every country. */
export async function shippingProfile(seller: TestUser, currency = "USD"): Promise<string> {
  const { data: profile } = await seller.client.from("shipping_profiles")
    .insert({ name: "Standard", currency }).select("id").single().throwOnError();
  await seller.client.from("shipping_rates").insert({
    profile_id: profile!.id,
    country: "*",
    first_item: 500,
    additional_item: 100,
    min_days: 2,
    max_days: 5,
  }).throwOnError();
  return profile!.id;
}

/** An active physical product of the seller's shop with on_hand units in stock. */
export async function activeProduct(
  seller: TestUser,
  fields: {
    title: string;
    price: number;
    currency?: string;
    description?: string;
    category_id?: string;
  },
  onHand: number,
): Promise<string> {
  const profileId = await shippingProfile(seller, fields.currency ?? "USD");
  const { data } = await seller.client.from("products").insert({
    currency: "USD",
    ...fields,
    kind: "physical",
    status: "active",
    shipping_profile_id: profileId,
  }).select("id").single().throwOnError();
  if (onHand > 0) {
    await seller.client.rpc("adjust_inventory", {
      product_id: data!.id,
      quantity_delta: onHand,
      reason: "initial stock",
    }).throwOnError();
  }
  return data!.id;
}
