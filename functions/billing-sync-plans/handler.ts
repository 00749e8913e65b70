// POST /billing-sync-plans {} (staff holding billing.manage, or the service role): mirrors the
// plans to Stripe Products and their prices to Stripe Prices, idempotently. A plan without
// stripe_product_id gets a Product (idempotency key plan:<id>), every mirrored Product follows
// its plan's name and active flag; an active price without stripe_price_id gets a Price (key
// plan_price:<id>); an archived price's Price is set active=false (existing subscriptions keep
// it). The Stripe ids are recorded by ops.record_billing_stripe_ids. Answers what it did.
import { z } from "npm:zod@4.6.7";
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { stripeClient } from "../_shared/payments/stripe.ts";
import { stripeHttpError } from "../_shared/payments/stripe-errors.ts";
import { call, callJson, type Db } from "../_shared/platform/rpc.ts";
import { isServiceRole, requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { billingKeys, type BillingStripe } from "../_shared/billing/stripe-billing.ts";

const toSync = z.object({
  plans: z.array(z.object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    active: z.boolean(),
    stripe_product_id: z.string().nullable(),
  })),
  prices: z.array(z.object({
    id: z.string(),
    plan_id: z.string(),
    billing_period: z.enum(["month", "year"]),
    currency: z.string(),
    amount: z.number(),
    active: z.boolean(),
    stripe_price_id: z.string().nullable(),
  })),
});

export async function syncPlans(
  { db, stripe }: { db: Db; stripe: BillingStripe },
  actingUser: string | null,
) {
  const { plans, prices } = await callJson(db, "billing_plans_to_sync", {
    ...(actingUser ? { acting_user: actingUser } : {}),
  }, toSync);
  const done = { products_created: 0, products_updated: 0, prices_created: 0, prices_archived: 0 };
  const productOf = new Map<string, string>();
  try {
    for (const plan of plans) {
      let productId = plan.stripe_product_id;
      if (!productId) {
        const product = await stripe.products.create({
          name: plan.name,
          ...(plan.description ? { description: plan.description } : {}),
          active: plan.active,
          metadata: { plan_id: plan.id },
        }, { idempotencyKey: billingKeys.product(plan.id) });
        productId = product.id;
        await call(db, "record_billing_stripe_ids", {
          plan_id: plan.id,
          stripe_product_id: productId,
        });
        done.products_created++;
      } else {
        await stripe.products.update(productId, { name: plan.name, active: plan.active });
        done.products_updated++;
      }
      productOf.set(plan.id, productId);
    }
    for (const price of prices) {
      if (price.active && !price.stripe_price_id) {
        const created = await stripe.prices.create({
          product: productOf.get(price.plan_id)!,
          currency: price.currency.toLowerCase(),
          unit_amount: price.amount,
          recurring: { interval: price.billing_period },
          metadata: { plan_price_id: price.id, plan_id: price.plan_id },
        }, { idempotencyKey: billingKeys.price(price.id) });
        await call(db, "record_billing_stripe_ids", {
          plan_price_id: price.id,
          stripe_price_id: created.id,
        });
        done.prices_created++;
      } else if (!price.active && price.stripe_price_id) {
        const current = await stripe.prices.retrieve(price.stripe_price_id);
        if (current.active) {
          await stripe.prices.update(price.stripe_price_id, { active: false });
          done.prices_archived++;
        }
      }
    }
  } catch (err) {
    throw stripeHttpError(err);
  }
  return { ...done, plans: plans.length, prices: prices.length };
}

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  let actingUser: string | null = null;
  if (!isServiceRole(req)) actingUser = (await requireUser(req)).user.id;
  return json(await syncPlans({ db: serviceClient(), stripe: stripeClient() }, actingUser));
});
