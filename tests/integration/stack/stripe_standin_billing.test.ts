// Stripe Billing in the local Stripe stand-in, through the real Stripe SDK (stripe@23.1.0,
// API 2026-10-28.endive): customers and saved cards, products and immutable prices, Checkout
// in subscription mode with its webhook events, subscriptions renewed, failing and recovered
// through the /_test/ clock, plan changes with a proration preview, cancellation at period end,
// pause and resume, the Elements flow (default_incomplete + confirmation_secret), and a refund
// of an invoice's charge. Skipped when the functions talk to Stripe itself (no STRIPE_API_BASE).

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";
import { beforeAll, describe, expect, test } from "vitest";
import { requireEnv } from "../support/clients.ts";
import { drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";

const API_BASE = process.env.STRIPE_API_BASE;
const control = stripeControl;

async function failure(promise: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await promise;
  } catch (error) {
    return error as Stripe.errors.StripeError;
  }
  throw new Error("expected the call to fail");
}

interface StandInEvent {
  id: string;
  type: string;
  data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> };
}

const eventTypes = async (ids: string[]) => {
  const all = (await control("events")).body.data as StandInEvent[];
  const byId = new Map(all.map((e) => [e.id, e]));
  return ids.map((id) => byId.get(id)!);
};

describe.skipIf(!API_BASE)("Stripe Billing in the stand-in", () => {
  let stripe: Stripe;
  let monthly: Stripe.Price;
  let pro: Stripe.Price;
  let product: Stripe.Product;

  beforeAll(async () => {
    stripe = stripeSdk();
    product = await stripe.products.create({ name: "Plan Basic", metadata: { plan: "basic" } });
    monthly = await stripe.prices.create({
      product: product.id,
      currency: "usd",
      unit_amount: 1000,
      recurring: { interval: "month" },
    });
    pro = await stripe.prices.create({
      product_data: { name: "Plan Pro" },
      currency: "usd",
      unit_amount: 2000,
      recurring: { interval: "month" },
    });
  });

  async function customerWithCard(card = "pm_card_visa") {
    const customer = await stripe.customers.create({
      email: `c${Date.now()}@example.com`,
      name: "김민수",
    });
    const pm = await stripe.paymentMethods.attach(card, { customer: customer.id });
    await stripe.customers.update(customer.id, {
      invoice_settings: { default_payment_method: pm.id },
    });
    return { customer, pm };
  }

  test("customers: create, retrieve, update, list by email, delete; saved cards", async () => {
    const email = `list-${Date.now()}@example.com`;
    const customer = await stripe.customers.create({
      email,
      name: "Kim",
      metadata: { user_id: "u1" },
    });
    expect(customer).toMatchObject({
      object: "customer",
      email,
      balance: 0,
      metadata: { user_id: "u1" },
    });
    expect(customer.id).toMatch(/^cus_/);
    const listed = await stripe.customers.list({ email });
    expect(listed.data.map((c) => c.id)).toEqual([customer.id]);
    const pm = await stripe.paymentMethods.attach("pm_card_visa", { customer: customer.id });
    expect(pm).toMatchObject({ object: "payment_method", customer: customer.id, type: "card" });
    expect(pm.card?.last4).toBe("4242");
    const updated = await stripe.customers.update(customer.id, {
      invoice_settings: { default_payment_method: pm.id },
    });
    expect(updated.invoice_settings.default_payment_method).toBe(pm.id);

    const declined = await failure(
      stripe.paymentMethods.attach("pm_card_chargeDeclined", { customer: customer.id }),
    );
    expect(declined).toMatchObject({
      type: "StripeCardError",
      code: "card_declined",
      statusCode: 402,
    });
    const notOwn = await failure(stripe.customers.update(customer.id, {
      invoice_settings: { default_payment_method: "pm_nope" },
    }));
    expect(notOwn).toMatchObject({
      code: "resource_missing",
      param: "invoice_settings[default_payment_method]",
    });
    const missing = await failure(stripe.customers.retrieve("cus_missing"));
    expect(missing).toMatchObject({
      statusCode: 404,
      code: "resource_missing",
      message: "No such customer: 'cus_missing'",
    });
    const unknown = await failure(
      stripe.customers.create({ colour: "red" } as Stripe.CustomerCreateParams),
    );
    expect(unknown).toMatchObject({ code: "parameter_unknown", param: "colour" });

    const deleted = await stripe.customers.del(customer.id);
    expect(deleted).toEqual({ id: customer.id, object: "customer", deleted: true });
    expect(await stripe.customers.retrieve(customer.id)).toMatchObject({ deleted: true });
    expect((await stripe.customers.list({ email })).data).toEqual([]);
  });

  test("products and prices: create, list, retrieve; prices immutable but for active, metadata, lookup_key", async () => {
    const price = await stripe.prices.create({
      product: product.id,
      currency: "krw",
      unit_amount: 99000,
      recurring: { interval: "year" },
      lookup_key: `basic_yearly_${Date.now()}`,
    });
    expect(price).toMatchObject({
      object: "price",
      active: true,
      type: "recurring",
      currency: "krw",
      unit_amount: 99000,
      product: product.id,
      recurring: { interval: "year", interval_count: 1, usage_type: "licensed" },
    });
    expect(String(price.unit_amount_decimal)).toBe("99000");
    expect((await stripe.prices.retrieve(price.id)).id).toBe(price.id);
    const immutable = await failure(
      stripe.prices.update(price.id, { unit_amount: 5 } as Stripe.PriceUpdateParams),
    );
    expect(immutable).toMatchObject({
      statusCode: 400,
      code: "parameter_unknown",
      param: "unit_amount",
    });
    const taken = await failure(stripe.prices.create({
      product: product.id,
      currency: "krw",
      unit_amount: 1000,
      recurring: { interval: "year" },
      lookup_key: price.lookup_key!,
    }));
    expect(taken.param).toBe("lookup_key");
    const moved = await stripe.prices.create({
      product: product.id,
      currency: "krw",
      unit_amount: 109000,
      recurring: { interval: "year" },
      lookup_key: price.lookup_key!,
      transfer_lookup_key: true,
    });
    expect((await stripe.prices.retrieve(price.id)).lookup_key).toBeNull();
    expect((await stripe.prices.list({ lookup_keys: [moved.lookup_key!] })).data.map((p) => p.id))
      .toEqual([moved.id]);
    const archived = await stripe.prices.update(price.id, {
      active: false,
      metadata: { archived: "yes" },
    });
    expect(archived).toMatchObject({ active: false, metadata: { archived: "yes" } });
    expect((await stripe.prices.list({ product: product.id, active: false })).data.map((p) => p.id))
      .toContain(price.id);
    const badInterval = await failure(stripe.prices.create({
      product: product.id,
      currency: "usd",
      unit_amount: 100,
      recurring: { interval: "month", interval_count: 13 },
    }));
    expect(badInterval.param).toBe("recurring[interval_count]");
    const noProduct = await failure(
      stripe.prices.create({ product: "prod_missing", currency: "usd", unit_amount: 1 }),
    );
    expect(noProduct).toMatchObject({ code: "resource_missing", param: "product" });
    const { customer } = await customerWithCard();
    const inactive = await failure(
      stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] }),
    );
    expect(inactive).toMatchObject({ param: "items[0][price]" });
    expect(inactive.message).toContain("inactive");
    const productDelete = await failure(stripe.products.del(product.id));
    expect(productDelete.statusCode).toBe(400);
    const renamed = await stripe.products.update(product.id, { description: "Basic" });
    expect(renamed.description).toBe("Basic");
    expect((await stripe.products.list({ active: true, limit: 100 })).data.map((p) => p.id))
      .toContain(product.id);
  });

  test("checkout in subscription mode: the session, then the subscription, its paid first invoice and the events", async () => {
    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: monthly.id, quantity: 2 }],
      subscription_data: { metadata: { plan: "basic", user_id: "u-42" } },
      customer_email: "buyer@example.com",
      success_url: "http://127.0.0.1:3000/ok",
      cancel_url: "http://127.0.0.1:3000/no",
    });
    expect(session).toMatchObject({
      mode: "subscription",
      status: "open",
      amount_total: 2000,
      subscription: null,
      payment_intent: null,
    });
    const failed = await control(`checkout/sessions/${session.id}/complete`, { outcome: "failed" });
    expect(failed.body.events).toEqual([]);
    const done = await control(`checkout/sessions/${session.id}/complete`, {
      outcome: "paid",
      name: "Buyer",
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    const events = await eventTypes(done.body.events);
    expect(events.map((e) => e.type)).toEqual([
      "customer.created",
      "payment_method.attached",
      "customer.subscription.created",
      "invoice.created",
      "invoice.finalized",
      "payment_intent.created",
      "charge.succeeded",
      "payment_intent.succeeded",
      "invoice.paid",
      "invoice.payment_succeeded",
      "customer.subscription.updated",
      "checkout.session.completed",
    ]);
    expect(events[2].data.object.status).toBe("incomplete");
    expect(events[10].data.previous_attributes).toMatchObject({ status: "incomplete" });
    const completed = await stripe.checkout.sessions.retrieve(session.id, {
      expand: ["subscription"],
    });
    const sub = completed.subscription as Stripe.Subscription;
    expect(completed).toMatchObject({ status: "complete", payment_status: "paid" });
    expect(sub).toMatchObject({
      status: "active",
      metadata: { plan: "basic", user_id: "u-42" },
      cancel_at_period_end: false,
    });
    const item = sub.items.data[0];
    expect(item).toMatchObject({
      object: "subscription_item",
      quantity: 2,
      price: { id: monthly.id },
    });
    expect(item.current_period_end).toBeGreaterThan(item.current_period_start);
    expect((sub as unknown as Record<string, unknown>).current_period_end).toBeUndefined();
    const invoice = await stripe.invoices.retrieve(sub.latest_invoice as string, {
      expand: ["payments"],
    });
    expect(invoice).toMatchObject({
      status: "paid",
      amount_due: 2000,
      amount_paid: 2000,
      billing_reason: "subscription_create",
      parent: { type: "subscription_details", subscription_details: { subscription: sub.id } },
    });
    expect(invoice.number).toMatch(/^[A-Z0-9]{3,12}-0001$/);
    expect(invoice.lines.data[0]).toMatchObject({
      amount: 2000,
      quantity: 2,
      pricing: { price_details: { price: monthly.id } },
    });
    const payment = invoice.payments!.data[0];
    expect(payment).toMatchObject({
      status: "paid",
      amount_paid: 2000,
      payment: { type: "payment_intent" },
    });
    const pi = await stripe.paymentIntents.retrieve(payment.payment.payment_intent as string, {
      expand: ["latest_charge.balance_transaction"],
    });
    const charge = pi.latest_charge as Stripe.Charge;
    expect(charge.customer).toBe(sub.customer);
    expect(charge.balance_transaction as Stripe.BalanceTransaction).toMatchObject({
      amount: 2000,
      fee: 88,
      net: 1912,
    });
    // A refund of the invoice's charge works as any refund.
    const refund = await stripe.refunds.create({ payment_intent: pi.id, amount: 500 });
    expect(refund).toMatchObject({ status: "succeeded", amount: 500, charge: charge.id });
    const byCustomer = await stripe.subscriptions.list({ customer: sub.customer as string });
    expect(byCustomer.data.map((s) => s.id)).toEqual([sub.id]);
    expect(
      (await stripe.subscriptions.list({ price: monthly.id, status: "active", limit: 100 })).data
        .map((s) => s.id),
    ).toContain(sub.id);
    expect(
      (await stripe.invoices.list({ subscription: sub.id, status: "paid" })).data.map((i) => i.id),
    ).toEqual([invoice.id]);
  });

  test("renewal: paid; declined (past_due, invoice.payment_failed); recovered by paying the invoice", async () => {
    const { customer } = await customerWithCard();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    expect(sub.status).toBe("active");
    const firstEnd = sub.items.data[0].current_period_end;

    const renewed = await control(`subscriptions/${sub.id}/advance`, {});
    expect((await eventTypes(renewed.body.events)).map((e) => e.type)).toEqual([
      "customer.subscription.updated",
      "invoice.created",
      "invoice.finalized",
      "payment_intent.created",
      "charge.succeeded",
      "payment_intent.succeeded",
      "invoice.paid",
      "invoice.payment_succeeded",
    ]);
    const after = await stripe.subscriptions.retrieve(sub.id);
    expect(after.items.data[0].current_period_start).toBe(firstEnd);
    const cycle = await stripe.invoices.retrieve(after.latest_invoice as string);
    expect(cycle).toMatchObject({
      billing_reason: "subscription_cycle",
      status: "paid",
      period_end: firstEnd,
    });
    expect(cycle.number).toMatch(/-0002$/);

    const declined = await control(`subscriptions/${sub.id}/advance`, { outcome: "failed" });
    const types = (await eventTypes(declined.body.events)).map((e) => e.type);
    expect(types).toEqual([
      "customer.subscription.updated",
      "invoice.created",
      "invoice.finalized",
      "payment_intent.created",
      "charge.failed",
      "payment_intent.payment_failed",
      "invoice.payment_failed",
      "customer.subscription.updated",
    ]);
    expect(declined.body.subscription.status).toBe("past_due");
    const open = declined.body.latest_invoice;
    expect(open).toMatchObject({ status: "open", attempt_count: 1, attempted: true });
    const alreadyPaid = await failure(stripe.invoices.pay(cycle.id));
    expect(alreadyPaid.statusCode).toBe(400);

    const paid = await stripe.invoices.pay(open.id);
    expect(paid.status).toBe("paid");
    expect((await stripe.subscriptions.retrieve(sub.id)).status).toBe("active");
    const recovery = (await control(`events?object_id=${open.id}`)).body.data as StandInEvent[];
    expect(recovery.map((e) => e.type)).toContain("invoice.paid");

    // Retries exhausted: the subscription is canceled (or unpaid, as settings say).
    const again = await control(`subscriptions/${sub.id}/advance`, { outcome: "failed" });
    const exhausted = await control(`invoices/${again.body.latest_invoice.id}/exhaust_retries`, {
      subscription_status: "unpaid",
    });
    expect(exhausted.body.subscription.status).toBe("unpaid");
    const retried = await control(`invoices/${again.body.latest_invoice.id}/retry`, {
      outcome: "succeeded",
    });
    expect(retried.body.invoice.status).toBe("paid");
    expect(retried.body.subscription.status).toBe("active");
  });

  test("a card that fails on charge: the first invoice leaves the subscription incomplete, then incomplete_expired", async () => {
    const { customer } = await customerWithCard("pm_card_chargeCustomerFail");
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    expect(sub.status).toBe("incomplete");
    const strict = await failure(stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      payment_behavior: "error_if_incomplete",
    }));
    expect(strict).toMatchObject({ statusCode: 402, code: "card_declined" });
    const expired = await control(`subscriptions/${sub.id}/expire_incomplete`, {});
    expect(expired.body.subscription.status).toBe("incomplete_expired");
    expect(expired.body.latest_invoice.status).toBe("void");
    expect((await stripe.subscriptions.list({ customer: customer.id })).data).toEqual([]);
    expect(
      (await stripe.subscriptions.list({ customer: customer.id, status: "ended" })).data.length,
    ).toBe(2 - 1);
  });

  test("Elements: default_incomplete gives the first invoice's confirmation_secret; confirming it activates", async () => {
    const customer = await stripe.customers.create({ email: "elements@example.com" });
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: pro.id }],
      payment_behavior: "default_incomplete",
      payment_settings: { save_default_payment_method: "on_subscription" },
      expand: ["latest_invoice.confirmation_secret"],
    });
    expect(sub.status).toBe("incomplete");
    const invoice = sub.latest_invoice as Stripe.Invoice;
    expect(invoice.status).toBe("open");
    const secret = invoice.confirmation_secret!;
    expect(secret.type).toBe("payment_intent");
    const piId = secret.client_secret.split("_secret_")[0];
    const pi = await stripe.paymentIntents.confirm(piId, { payment_method: "pm_card_visa" });
    expect(pi.status).toBe("succeeded");
    const active = await stripe.subscriptions.retrieve(sub.id);
    expect(active.status).toBe("active");
    expect((await stripe.invoices.retrieve(invoice.id)).status).toBe("paid");
    // The confirmed card is saved on the customer and becomes the subscription's default.
    const saved = await stripe.customers.listPaymentMethods(customer.id);
    expect(saved.data.length).toBe(1);
    expect(active.default_payment_method).toBe(saved.data[0].id);
    expect(pi.latest_charge as string).toMatch(/^ch_/);
  });

  test("invoices: finalize, void, mark_uncollectible and pay refuse the wrong status; unknown ids are resource_missing", async () => {
    const missing = await failure(stripe.subscriptions.retrieve("sub_missing"));
    expect(missing).toMatchObject({
      statusCode: 404,
      code: "resource_missing",
      message: "No such subscription: 'sub_missing'",
    });
    const noInvoice = await failure(stripe.invoices.retrieve("in_missing"));
    expect(noInvoice).toMatchObject({ statusCode: 404, code: "resource_missing" });
    const noCustomer = await failure(
      stripe.subscriptions.create({ customer: "cus_missing", items: [{ price: monthly.id }] }),
    );
    expect(noCustomer).toMatchObject({
      statusCode: 404,
      code: "resource_missing",
      param: "customer",
    });
    const noPrice = await failure(
      stripe.subscriptions.create({ customer: "cus_missing", items: [{ price: "price_missing" }] }),
    );
    expect(noPrice.statusCode).toBe(404);
    const cardless = await stripe.customers.create({ email: "cardless@example.com" });
    const noCard = await failure(
      stripe.subscriptions.create({ customer: cardless.id, items: [{ price: monthly.id }] }),
    );
    expect(noCard.statusCode).toBe(400);
    expect(noCard.message).toMatch(/no attached payment source or default payment method/);
    const oneTime = await stripe.prices.create({
      product: product.id,
      currency: "usd",
      unit_amount: 500,
    });
    const notRecurring = await failure(
      stripe.subscriptions.create({ customer: cardless.id, items: [{ price: oneTime.id }] }),
    );
    expect(notRecurring).toMatchObject({ param: "items[0][price]" });

    const { customer } = await customerWithCard();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const paid = sub.latest_invoice as string;
    expect(await failure(stripe.invoices.finalizeInvoice(paid))).toMatchObject({
      statusCode: 400,
      code: "invoice_not_editable",
    });
    expect(await failure(stripe.invoices.voidInvoice(paid))).toMatchObject({
      statusCode: 400,
      code: "invoice_not_editable",
    });
    expect((await failure(stripe.invoices.markUncollectible(paid))).statusCode).toBe(400);
    const declined = await control(`subscriptions/${sub.id}/advance`, { outcome: "failed" });
    const open = declined.body.latest_invoice.id as string;
    const uncollectible = await stripe.invoices.markUncollectible(open);
    expect(uncollectible.status).toBe("uncollectible");
    const voided = await stripe.invoices.voidInvoice(open);
    expect(voided).toMatchObject({ status: "void" });
    expect(voided.status_transitions.voided_at).not.toBeNull();
    expect((await failure(stripe.invoices.pay(open))).statusCode).toBe(400);
    const types = ((await control(`events?object_id=${open}`)).body.data as StandInEvent[]).map((
      e,
    ) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(["invoice.marked_uncollectible", "invoice.voided"]),
    );
  });

  test("plan change: the preview's prorations equal the invoice always_invoice makes", async () => {
    const { customer } = await customerWithCard();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const item = sub.items.data[0];
    const { current_period_start: start, current_period_end: end } = item;
    const at = start + Math.floor((end - start) / 2);
    const preview = await stripe.invoices.createPreview({
      customer: customer.id,
      subscription: sub.id,
      subscription_details: {
        items: [{ id: item.id, price: pro.id }],
        proration_behavior: "always_invoice",
        proration_date: at,
      },
    });
    const amounts = preview.lines.data.map((l) => l.amount);
    const left = (end - at) / (end - start);
    expect(amounts).toEqual([-Math.round(1000 * left), Math.round(2000 * left)]);
    expect(preview.lines.data.every((l) => l.parent?.subscription_item_details?.proration)).toBe(
      true,
    );
    const changed = await stripe.subscriptions.update(sub.id, {
      items: [{ id: item.id, price: pro.id }],
      proration_behavior: "always_invoice",
      proration_date: at,
    });
    expect(changed.items.data[0].price.id).toBe(pro.id);
    const invoice = await stripe.invoices.retrieve(changed.latest_invoice as string);
    expect(invoice).toMatchObject({
      billing_reason: "subscription_update",
      status: "paid",
      total: preview.total,
    });

    // create_prorations: the prorations wait for the renewal invoice; none: nothing prorated.
    const down = await stripe.subscriptions.update(sub.id, {
      items: [{ id: item.id, price: monthly.id }],
      proration_date: at,
    });
    expect(down.latest_invoice).toBe(invoice.id);
    const renewal = await control(`subscriptions/${sub.id}/advance`, {});
    const lines = renewal.body.latest_invoice.lines.data as { amount: number }[];
    expect(lines.map((l) => l.amount)).toEqual([
      -Math.round(2000 * left),
      Math.round(1000 * left),
      1000,
    ]);
    const unknownItem = await failure(
      stripe.subscriptions.update(sub.id, { items: [{ id: "si_missing", price: pro.id }] }),
    );
    expect(unknownItem).toMatchObject({ code: "resource_missing", param: "items[0][id]" });
  });

  test("cancel at period end, then the period advanced: customer.subscription.deleted; immediate cancel", async () => {
    const { customer } = await customerWithCard();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const set = await stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
    expect(set).toMatchObject({
      cancel_at_period_end: true,
      cancel_at: sub.items.data[0].current_period_end,
      status: "active",
    });
    const ended = await control(`subscriptions/${sub.id}/advance`, {});
    expect((await eventTypes(ended.body.events)).map((e) => e.type)).toEqual([
      "customer.subscription.deleted",
    ]);
    expect(ended.body.subscription).toMatchObject({
      status: "canceled",
      cancellation_details: { reason: "cancellation_requested" },
    });
    const again = await failure(stripe.subscriptions.cancel(sub.id));
    expect(again.statusCode).toBe(400);
    const frozen = await failure(
      stripe.subscriptions.update(sub.id, { cancel_at_period_end: false }),
    );
    expect(frozen).toMatchObject({ statusCode: 400, code: "invalid_canceled_subscription_fields" });
    expect((await stripe.subscriptions.update(sub.id, { metadata: { note: "gone" } })).metadata)
      .toMatchObject({ note: "gone" });
    const both = await failure(stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      trial_period_days: 3,
      trial_end: Math.floor(Date.now() / 1000) + 86400 * 5,
    }));
    expect(both).toMatchObject({ code: "parameters_exclusive", param: "trial_end" });

    const third = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const atEnd = await stripe.subscriptions.update(third.id, { cancel_at: "max_period_end" });
    expect(atEnd).toMatchObject({
      cancel_at: third.items.data[0].current_period_end,
      cancel_at_period_end: false,
    });
    const kept = await stripe.subscriptions.update(third.id, { cancel_at: "" });
    expect(kept.cancel_at).toBeNull();

    const other = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const canceled = await stripe.subscriptions.cancel(other.id, {
      prorate: true,
      invoice_now: true,
      cancellation_details: { comment: "moving away", feedback: "too_expensive" },
    });
    expect(canceled).toMatchObject({
      status: "canceled",
      cancellation_details: { feedback: "too_expensive" },
    });
    const final = await stripe.invoices.retrieve(canceled.latest_invoice as string);
    expect(final.total).toBeLessThanOrEqual(0);
    expect((await stripe.customers.retrieve(customer.id) as Stripe.Customer).balance).toBe(
      final.total,
    );
  });

  test("pause and resume (new pause API), pause_collection, trials with trial_will_end", async () => {
    const { customer } = await customerWithCard();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const paused = await stripe.subscriptions.pause(sub.id, { type: "subscription" });
    expect(paused.status).toBe("paused");
    expect(paused.status_details?.paused.subscription.type).toBe("pause_requested");
    const skipped = await control(`subscriptions/${sub.id}/advance`, {});
    expect((await eventTypes(skipped.body.events)).map((e) => e.type)).toEqual([
      "customer.subscription.updated",
    ]);
    const resumed = await stripe.subscriptions.resume(sub.id, {
      billing_cycle_anchor: { type: "now" },
    });
    expect(resumed.status).toBe("active");
    const notPaused = await failure(stripe.subscriptions.resume(sub.id));
    expect(notPaused.statusCode).toBe(400);
    const types = ((await control(`events?object_id=${sub.id}`)).body.data as StandInEvent[]).map((
      e,
    ) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(["customer.subscription.paused", "customer.subscription.resumed"]),
    );

    const collection = await stripe.subscriptions.update(sub.id, {
      pause_collection: { behavior: "void" },
    });
    expect(collection).toMatchObject({ status: "active", pause_collection: { behavior: "void" } });
    const voided = await control(`subscriptions/${sub.id}/advance`, {});
    expect(voided.body.latest_invoice.status).toBe("void");
    const cleared = await stripe.subscriptions.update(sub.id, { pause_collection: "" });
    expect(cleared.pause_collection).toBeNull();

    const trial = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      trial_period_days: 14,
    });
    expect(trial).toMatchObject({ status: "trialing" });
    expect(await stripe.invoices.retrieve(trial.latest_invoice as string)).toMatchObject({
      status: "paid",
      amount_due: 0,
    });
    const reminded = await control(`subscriptions/${trial.id}/remind`, {});
    expect((await eventTypes(reminded.body.events)).map((e) => e.type)).toEqual([
      "customer.subscription.trial_will_end",
    ]);
    const trialEnded = await control(`subscriptions/${trial.id}/advance`, {});
    expect(trialEnded.body.subscription.status).toBe("active");
    expect(trialEnded.body.latest_invoice).toMatchObject({ status: "paid", amount_paid: 1000 });
    const upcoming = await control(`subscriptions/${trial.id}/remind`, {});
    const [event] = await eventTypes(upcoming.body.events);
    expect(event.type).toBe("invoice.upcoming");
    expect(event.data.object.id).toBeUndefined();

    const shortTrial = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      trial_period_days: 2,
    });
    const shortEvents =
      ((await control(`events?object_id=${shortTrial.id}`)).body.data as StandInEvent[]).map((e) =>
        e.type
      );
    expect(shortEvents).toContain("customer.subscription.trial_will_end");
    await drainWebhooks();
  });
  test("a card needing authentication: renewal leaves the invoice open with invoice.payment_action_required", async () => {
    const { customer } = await customerWithCard();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const card = await stripe.paymentMethods.attach("pm_card_authenticationRequired", {
      customer: customer.id,
    });
    await stripe.subscriptions.update(sub.id, { default_payment_method: card.id });
    const renewal = await control(`subscriptions/${sub.id}/advance`, {});
    const types = (await eventTypes(renewal.body.events)).map((e) => e.type);
    expect(types).toEqual([
      "customer.subscription.updated",
      "invoice.created",
      "invoice.finalized",
      "payment_intent.created",
      "payment_intent.requires_action",
      "invoice.payment_action_required",
      "customer.subscription.updated",
    ]);
    expect(renewal.body.subscription.status).toBe("past_due");
    const invoice = await stripe.invoices.retrieve(renewal.body.latest_invoice.id, {
      expand: ["payments"],
    });
    const pi = await stripe.paymentIntents.retrieve(
      invoice.payments!.data[0].payment.payment_intent as string,
    );
    expect(pi.status).toBe("requires_action");
    // The customer authenticates (the client confirms the intent): the invoice is paid.
    const confirmed = await control(`payment_intents/${pi.id}/confirm`, { outcome: "succeeded" });
    expect(confirmed.status).toBe(200);
    expect((await stripe.invoices.retrieve(invoice.id)).status).toBe("paid");
    expect((await stripe.subscriptions.retrieve(sub.id)).status).toBe("active");
  });

  test("a trial ending without a card pauses (trial_settings end_behavior pause) or opens an unpaid invoice", async () => {
    const customer = await stripe.customers.create({ email: "trial@example.com" });
    const pausing = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      trial_period_days: 7,
      trial_settings: { end_behavior: { missing_payment_method: "pause" } },
    });
    const ended = await control(`subscriptions/${pausing.id}/end_trial`, {});
    expect((await eventTypes(ended.body.events)).map((e) => e.type)).toEqual([
      "customer.subscription.trial_will_end",
      "customer.subscription.updated",
      "customer.subscription.paused",
    ]);
    expect(ended.body.subscription).toMatchObject({
      status: "paused",
      status_details: { paused: { subscription: { type: "trial_end_without_payment_method" } } },
    });
    const invoicing = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      trial_period_days: 7,
    });
    const unpaid = await control(`subscriptions/${invoicing.id}/end_trial`, {});
    expect(unpaid.body.subscription.status).toBe("past_due");
    expect(unpaid.body.latest_invoice).toMatchObject({ status: "open", amount_due: 1000 });
    const all = await stripe.subscriptions.list({ customer: customer.id, status: "all" });
    expect(all.data.map((s) => s.id).sort()).toEqual([pausing.id, invoicing.id].sort());
  });

  test("checkout's events reach a webhook endpoint signed, and can be held and released shuffled", async () => {
    const secret = requireEnv("STRIPE_WEBHOOK_SECRET");
    const received: { type: string; verified: boolean }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        let verified = true;
        try {
          stripe.webhooks.constructEvent(raw, String(req.headers["stripe-signature"]), secret);
        } catch {
          verified = false;
        }
        received.push({ type: JSON.parse(raw).type, verified });
        res.writeHead(200).end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    await drainWebhooks();
    await control("webhooks/endpoint", {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    });
    try {
      await control("webhooks/pause", {});
      const session = await stripe.checkout.sessions.create({
        mode: "subscription",
        line_items: [{ price: pro.id, quantity: 1 }],
        subscription_data: { trial_period_days: 14 },
        success_url: "http://127.0.0.1:3000/ok",
      });
      const done = await control(`checkout/sessions/${session.id}/complete`, {});
      expect(done.body.checkout_session.payment_status).toBe("no_payment_required");
      expect(done.body.subscription.status).toBe("trialing");
      const released = await control("webhooks/deliver", { order: "shuffled", seed: 7 });
      expect([...released.body.queued].sort()).toEqual([...done.body.events].sort());
      await control("webhooks/resume", {});
      await drainWebhooks();
      expect(received.every((r) => r.verified)).toBe(true);
      expect(received.map((r) => r.type).sort()).toEqual(
        (await eventTypes(done.body.events)).map((e) => e.type).sort(),
      );
    } finally {
      await control("webhooks/resume", { discard_held: true });
      await control("webhooks/endpoint", { url: null });
      await new Promise((resolve) => server.close(resolve));
    }
  });
  test("pending_if_incomplete: a declined plan change waits as pending_update, applied once paid, or expires", async () => {
    const { customer, pm: visa } = await customerWithCard();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
    });
    const failing = await stripe.paymentMethods.attach("pm_card_chargeCustomerFail", {
      customer: customer.id,
    });
    await stripe.subscriptions.update(sub.id, { default_payment_method: failing.id });
    const item = sub.items.data[0];
    const waiting = await stripe.subscriptions.update(sub.id, {
      items: [{ id: item.id, price: pro.id }],
      proration_behavior: "always_invoice",
      payment_behavior: "pending_if_incomplete",
    });
    expect(waiting.status).toBe("active");
    expect(waiting.items.data[0].price.id).toBe(monthly.id);
    expect(waiting.pending_update?.subscription_items?.[0].price.id).toBe(pro.id);
    const refused = await failure(stripe.subscriptions.update(sub.id, {
      items: [{ id: item.id, price: pro.id }],
      proration_behavior: "always_invoice",
      payment_behavior: "pending_if_incomplete",
      metadata: { a: "b" },
    }));
    expect(refused.param).toBe("metadata");
    const invoice = waiting.latest_invoice as string;
    expect((await stripe.invoices.retrieve(invoice)).status).toBe("open");
    await stripe.invoices.pay(invoice, { payment_method: visa.id });
    const applied = await stripe.subscriptions.retrieve(sub.id);
    expect(applied.items.data[0].price.id).toBe(pro.id);
    expect(applied.pending_update).toBeNull();
    const types = ((await control(`events?object_id=${sub.id}`)).body.data as StandInEvent[]).map((
      e,
    ) => e.type);
    expect(types).toContain("customer.subscription.pending_update_applied");

    const again = await stripe.subscriptions.update(sub.id, {
      items: [{ id: item.id, price: monthly.id }],
      proration_behavior: "always_invoice",
      payment_behavior: "pending_if_incomplete",
    });
    // Down a plan the proration is a credit: nothing to charge, applied at once.
    expect(again.items.data[0].price.id).toBe(monthly.id);
    expect(again.pending_update).toBeNull();
    // The credit sits on the customer's balance; another customer's change is left to expire.
    expect((await stripe.customers.retrieve(customer.id) as Stripe.Customer).balance).toBeLessThan(
      0,
    );
    const second = await customerWithCard();
    const other = await stripe.subscriptions.create({
      customer: second.customer.id,
      items: [{ price: monthly.id }],
    });
    const declining = await stripe.paymentMethods.attach("pm_card_chargeCustomerFail", {
      customer: second.customer.id,
    });
    await stripe.subscriptions.update(other.id, { default_payment_method: declining.id });
    const up = await stripe.subscriptions.update(other.id, {
      items: [{ id: other.items.data[0].id, price: pro.id }],
      proration_behavior: "always_invoice",
      payment_behavior: "pending_if_incomplete",
    });
    expect(up.pending_update).not.toBeNull();
    const expired = await control(`subscriptions/${other.id}/expire_pending_update`, {});
    expect((await eventTypes(expired.body.events)).map((e) => e.type)).toEqual([
      "payment_intent.canceled",
      "invoice.voided",
      "customer.subscription.updated",
      "customer.subscription.pending_update_expired",
    ]);
    expect(expired.body.subscription).toMatchObject({ pending_update: null, status: "active" });
    expect(expired.body.subscription.items.data[0].price.id).toBe(monthly.id);
  });
});
