// Marketplace fixtures made the way clients make them: published services, commission orders
// from a project and an accepted bid, orders driven to completion.

import type { TestUser } from "./auth.ts";
import { admin, callFunction } from "./clients.ts";

/** Publishes a service of the provider's with one active package; returns both ids. */
export async function publishService(
  provider: TestUser,
  service: { title: string; category: string; tags?: string[]; description?: string },
  pkg: {
    name: string;
    price_amount: number;
    currency: string;
    delivery_days: number;
    revisions?: number | null;
  } = {
    name: "Basic",
    price_amount: 5000,
    currency: "USD",
    delivery_days: 7,
  },
): Promise<{ serviceId: string; packageId: string }> {
  const created = await provider.client.from("services").insert({ ...service, is_published: true })
    .select("id").single();
  if (created.error) throw created.error;
  const added = await provider.client.from("service_packages").insert({
    service_id: created.data.id,
    ...pkg,
  }).select("id").single();
  if (added.error) throw added.error;
  return { serviceId: created.data.id, packageId: added.data.id };
}

/** Drives an order through the real functions: paid (service role), delivered, approved. */
export async function completeOrder(
  orderId: string,
  seller: TestUser,
  buyer: TestUser,
): Promise<void> {
  for (
    const { error } of [
      await admin().schema("ops").rpc("record_order_payment", { order_id: orderId }),
      await seller.client.rpc("submit_delivery", { order_id: orderId, message: "Delivered" }),
      await buyer.client.rpc("approve_delivery", { order_id: orderId }),
    ]
  ) {
    if (error) throw error;
  }
}

/**
 * The body of accept-bid for a bid as the designer read it: its id and the terms they accept
 * (accept-bid refuses with 409 if the bid says otherwise by then).
 */
export function acceptBody(bid: { id: string; amount: number; duration_days: number }) {
  return { bid_id: bid.id, amount: bid.amount, duration_days: bid.duration_days };
}

/**
 * A commission order from an accepted bid, made the way clients make one: the designer posts a
 * project (`title`), the tailor bids `amount`, the designer accepts (accept-bid) what the bid
 * says. Returns the order's id.
 */
export async function acceptedBidOrder(
  designer: TestUser,
  tailor: TestUser,
  amount: number,
  { title = "A commissioned coat", currency = "EUR" }: { title?: string; currency?: string } = {},
): Promise<string> {
  const project = await designer.client
    .from("projects")
    .insert({ title, budget_amount: amount, currency })
    .select("id")
    .single();
  if (project.error) throw project.error;
  const bid = await tailor.client
    .from("bids")
    .insert({ project_id: project.data.id, amount, duration_days: 14 })
    .select("id, amount, duration_days")
    .single();
  if (bid.error) throw bid.error;
  const accepted = await callFunction(designer.client, "accept-bid", acceptBody(bid.data));
  if (accepted.status !== 201) {
    throw new Error(`accept-bid answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  }
  return accepted.body.order.id;
}

/**
 * A commission order awaiting payment: an accepted bid's order whose requirements both parties
 * approved. Returns the order's id.
 */
export async function orderAwaitingPayment(
  designer: TestUser,
  tailor: TestUser,
  amount: number,
  currency = "EUR",
): Promise<string> {
  const orderId = await acceptedBidOrder(designer, tailor, amount, { currency });
  for (const user of [designer, tailor]) {
    const { error } = await user.client.rpc("approve_requirements", { order_id: orderId });
    if (error) throw error;
  }
  return orderId;
}
