// The local Stripe stand-in, through the real Stripe SDK: idempotency, Stripe's error format,
// the money chain checkout → payment intent → charge → refund → transfer → reversal with its
// amounts enforced, and webhook delivery (signed, in order, shuffled, twice, forged). Runs
// only when the stack's functions use the stand-in (STRIPE_API_BASE is set); with real
// test-mode keys and no STRIPE_API_BASE there is nothing here to test.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { requireEnv } from "../support/clients.ts";
import { drainWebhooks, stripeControl, stripeSdk } from "../support/stripe.ts";

// Optional on purpose: unset, the functions talk to Stripe itself and this file is skipped.
// STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET are required once it runs (requireEnv).
const API_BASE = process.env.STRIPE_API_BASE;
const sdk = stripeSdk;
const control = stripeControl;
const drain = drainWebhooks;

/** The error a promise rejects with (the SDK's typed Stripe errors). */
async function failure(promise: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await promise;
  } catch (error) {
    return error as Stripe.errors.StripeError;
  }
  throw new Error("expected the call to fail");
}

interface Received {
  id: string;
  type: string;
  verified: boolean;
  object: string;
}

/** A webhook endpoint: verifies each delivery as our function will, answers 400 to bad signatures. */
const received: Received[] = [];
let failNext = new Set<string>();
let receiver: Server;

async function startReceiver(): Promise<string> {
  const stripe = sdk();
  const webhookSecret = requireEnv("STRIPE_WEBHOOK_SECRET");
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const parsed = JSON.parse(raw);
      let verified = true;
      try {
        stripe.webhooks.constructEvent(
          raw,
          String(req.headers["stripe-signature"]),
          webhookSecret,
        );
      } catch {
        verified = false;
      }
      received.push({ id: parsed.id, type: parsed.type, verified, object: parsed.data.object.id });
      if (failNext.has(parsed.id) && verified) {
        failNext.delete(parsed.id);
        res.writeHead(500).end("try again");
        return;
      }
      res.writeHead(verified ? 200 : 400, { "content-type": "application/json" });
      res.end(JSON.stringify(verified ? { received: true } : { error: "bad signature" }));
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/stripe-webhook`;
}

/** An event as the stand-in lists it under /_test/events. */
interface StandInEvent {
  id: string;
  type: string;
  data: { object: Record<string, unknown>; previous_attributes?: Record<string, unknown> };
  request: { id: string | null; idempotency_key: string | null };
}

const eventsFor = async (...ids: string[]) =>
  (await control(`events?object_id=${ids.join(",")}`)).body.data as StandInEvent[];

describe.skipIf(!API_BASE)("the Stripe stand-in", () => {
  // Made in beforeAll: the body of a skipped describe still runs to collect its tests.
  let stripe: Stripe;
  let defaults: { url: string; retry_delays_ms: number[] };

  beforeAll(async () => {
    stripe = sdk();
    const url = await startReceiver();
    defaults = (await control("webhooks")).body;
    await control("webhooks/endpoint", { url, retry_delays_ms: [50, 100] });
  });

  afterAll(async () => {
    await control("webhooks/resume", { discard_held: true });
    await drain();
    await control("webhooks/endpoint", { url: null, retry_delays_ms: defaults.retry_delays_ms });
    await new Promise((resolve) => receiver.close(resolve));
  });

  beforeEach(async () => {
    await drain();
    received.length = 0;
    failNext = new Set();
  });

  /** An Express account that finished onboarding, so it can receive transfers. */
  async function onboardedAccount(): Promise<Stripe.Account> {
    const account = await stripe.accounts.create({
      type: "express",
      country: "US",
      email: "seller@example.com",
      capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
    });
    const { body } = await control(`accounts/${account.id}/onboard`, {});
    return body.account;
  }

  /** A paid Checkout Session of 2 × 2500 cents; answers the session, intent and charge. */
  async function paidCheckout(transferGroup: string) {
    const session = await stripe.checkout.sessions.create({
      mode: "payment",
      line_items: [{
        quantity: 2,
        price_data: { currency: "usd", unit_amount: 2500, product_data: { name: "Logo design" } },
      }],
      payment_intent_data: { transfer_group: transferGroup, metadata: { order_id: transferGroup } },
      metadata: { order_id: transferGroup },
      client_reference_id: transferGroup,
      success_url: "http://127.0.0.1:3000/paid",
      cancel_url: "http://127.0.0.1:3000/cancelled",
    });
    const { status, body } = await control(`checkout/sessions/${session.id}/complete`, {
      outcome: "paid",
    });
    expect(status).toBe(200);
    return {
      session,
      paymentIntent: body.payment_intent as Stripe.PaymentIntent,
      charge: body.charge as Stripe.Charge,
    };
  }

  test("a repeated idempotency key replays the first response; other parameters are refused", async () => {
    const key = `order-${crypto.randomUUID()}`;
    const params = {
      amount: 5000,
      currency: "usd",
      metadata: { order_id: "o-1" },
      transfer_group: "o-1",
    };
    const first = await stripe.paymentIntents.create(params, { idempotencyKey: key });
    const again = await stripe.paymentIntents.create(params, { idempotencyKey: key });
    expect(again.id).toBe(first.id);
    expect(again.client_secret).toBe(first.client_secret);
    expect(again.lastResponse.headers["idempotent-replayed"]).toBe("true");
    expect(first.lastResponse.headers["idempotent-replayed"]).toBeUndefined();
    // The replay did nothing again: one intent, one event.
    expect((await eventsFor(first.id)).map((e) => e.type)).toEqual(["payment_intent.created"]);
    expect((await eventsFor(first.id))[0].request).toEqual({
      id: first.lastResponse.requestId,
      idempotency_key: key,
    });

    const mismatch = await failure(
      stripe.paymentIntents.create({ ...params, amount: 6000 }, { idempotencyKey: key }),
    );
    expect(mismatch).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.message).toMatch(
      /can only be used with the same parameters they were first used with/,
    );

    const otherEndpoint = await failure(
      stripe.refunds.create({ payment_intent: first.id }, { idempotencyKey: key }),
    );
    expect(otherEndpoint).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(otherEndpoint.message).toMatch(/same endpoint/);

    // A request that fails validation never began executing: its key is not used up.
    const fresh = `order-${crypto.randomUUID()}`;
    const invalid = await failure(
      stripe.paymentIntents.create({ amount: 5000 } as never, { idempotencyKey: fresh }),
    );
    expect(invalid.code).toBe("parameter_missing");
    const valid = await stripe.paymentIntents.create({ amount: 5000, currency: "usd" }, {
      idempotencyKey: fresh,
    });
    expect(valid.status).toBe("requires_payment_method");
  });

  test("errors come in Stripe's format and statuses", async () => {
    const missing = await failure(stripe.paymentIntents.create({ amount: 5000 } as never));
    expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect([missing.statusCode, missing.code, missing.param]).toEqual([
      400,
      "parameter_missing",
      "currency",
    ]);
    expect(missing.message).toBe("Missing required param: currency.");

    const unknown = await failure(
      stripe.transfers.create(
        { amount: 100, currency: "usd", destination: "acct_1", colour: "red" } as never,
      ),
    );
    expect([unknown.statusCode, unknown.code, unknown.param]).toEqual([
      400,
      "parameter_unknown",
      "colour",
    ]);

    const notFound = await failure(stripe.charges.retrieve("ch_doesnotexist"));
    expect(notFound).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect([notFound.statusCode, notFound.code, notFound.message]).toEqual([
      404,
      "resource_missing",
      "No such charge: 'ch_doesnotexist'",
    ]);
    expect((notFound.raw as { type?: string }).type).toBe("invalid_request_error");

    const unauthenticated = await fetch(`${API_BASE}/v1/charges`);
    expect(unauthenticated.status).toBe(401);
    expect((await unauthenticated.json()).error).toMatchObject({
      type: "invalid_request_error",
      message: expect.stringMatching(/did not provide an API key/),
    });
    const wrongKey = await failure(sdk("pk_test_publishable").charges.list());
    expect(wrongKey).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(wrongKey.statusCode).toBe(401);

    const unrouted = await fetch(`${API_BASE}/v1/quotes`, {
      headers: { authorization: `Bearer ${requireEnv("STRIPE_SECRET_KEY")}` },
    });
    expect(unrouted.status).toBe(404);
    expect((await unrouted.json()).error.message).toMatch(
      /^Unrecognized request URL \(GET: \/v1\/quotes\)/,
    );

    const declined = await failure(
      stripe.paymentIntents.create({
        amount: 5000,
        currency: "usd",
        payment_method: "pm_card_chargeDeclined",
        confirm: true,
      }),
    );
    expect(declined).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect([declined.statusCode, declined.code, declined.decline_code]).toEqual([
      402,
      "card_declined",
      "generic_decline",
    ]);
    expect(declined.payment_intent?.status).toBe("requires_payment_method");
  });

  test("checkout → payment intent → charge → refund → transfer → reversal, amounts enforced", async () => {
    const group = `order-${crypto.randomUUID()}`;
    const seller = await stripe.accounts.create({
      type: "express",
      country: "US",
      email: "s@example.com",
      capabilities: { transfers: { requested: true } },
    });
    expect(seller).toMatchObject({
      object: "account",
      type: "express",
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      livemode: false,
    });
    expect(seller.id).toMatch(/^acct_/);
    const link = await stripe.accountLinks.create({
      account: seller.id,
      type: "account_onboarding",
      refresh_url: "http://127.0.0.1:3000/refresh",
      return_url: "http://127.0.0.1:3000/return",
    });
    expect(link).toMatchObject({ object: "account_link", url: expect.stringContaining(seller.id) });
    expect(link.expires_at).toBeGreaterThan(link.created);

    const { session, paymentIntent, charge } = await paidCheckout(group);
    expect(session).toMatchObject({
      object: "checkout.session",
      mode: "payment",
      status: "open",
      payment_status: "unpaid",
      amount_total: 5000,
      currency: "usd",
      client_reference_id: group,
      metadata: { order_id: group },
    });
    expect(session.id).toMatch(/^cs_test_/);

    const done = await stripe.checkout.sessions.retrieve(session.id, {
      expand: ["line_items", "payment_intent.latest_charge.balance_transaction"],
    });
    expect(done).toMatchObject({ status: "complete", payment_status: "paid" });
    expect(done.line_items!.data[0]).toMatchObject({
      object: "item",
      quantity: 2,
      amount_total: 5000,
      price: { unit_amount: 2500 },
    });
    const pi = done.payment_intent as Stripe.PaymentIntent;
    expect(pi).toMatchObject({
      id: paymentIntent.id,
      status: "succeeded",
      amount: 5000,
      amount_received: 5000,
      transfer_group: group,
      metadata: { order_id: group },
    });
    const txn = (pi.latest_charge as Stripe.Charge)
      .balance_transaction as Stripe.BalanceTransaction;
    expect(txn).toMatchObject({
      object: "balance_transaction",
      amount: 5000,
      fee: 175,
      net: 4825,
      type: "charge",
      source: charge.id,
    });

    const charges = await stripe.charges.list({
      payment_intent: pi.id,
      expand: ["data.balance_transaction"],
    });
    expect(charges).toMatchObject({ object: "list", has_more: false, url: "/v1/charges" });
    expect(charges.data.map((c) => c.id)).toEqual([charge.id]);
    expect((await stripe.balanceTransactions.retrieve(txn.id)).net).toBe(4825);

    // Refund part of it; more than what is left is refused.
    const refund = await stripe.refunds.create({ charge: charge.id, amount: 1000 });
    expect(refund).toMatchObject({
      object: "refund",
      amount: 1000,
      charge: charge.id,
      payment_intent: pi.id,
      status: "succeeded",
    });
    expect(refund.id).toMatch(/^re_/);
    expect(await stripe.charges.retrieve(charge.id)).toMatchObject({
      amount_refunded: 1000,
      refunded: false,
    });
    const tooMuch = await failure(stripe.refunds.create({ charge: charge.id, amount: 4500 }));
    expect([tooMuch.statusCode, tooMuch.code, tooMuch.param]).toEqual([
      400,
      "amount_too_large",
      "amount",
    ]);

    // Transfers need an onboarded destination and enough of the charge left.
    const notReady = await failure(
      stripe.transfers.create({
        amount: 3000,
        currency: "usd",
        destination: seller.id,
        source_transaction: charge.id,
        transfer_group: group,
      }),
    );
    expect(notReady.code).toBe("insufficient_capabilities_for_transfer");
    const noSuchDestination = await failure(
      stripe.transfers.create({ amount: 3000, currency: "usd", destination: "acct_nobody" }),
    );
    expect([noSuchDestination.statusCode, noSuchDestination.code]).toEqual([
      404,
      "resource_missing",
    ]);
    const onboarded = await control(`accounts/${seller.id}/onboard`, {});
    expect(onboarded.body.account).toMatchObject({
      charges_enabled: true,
      payouts_enabled: true,
      details_submitted: true,
      capabilities: { transfers: "active" },
    });

    const transfer = await stripe.transfers.create({
      amount: 3000,
      currency: "usd",
      destination: seller.id,
      source_transaction: charge.id,
      transfer_group: group,
      metadata: { order_id: group },
    });
    expect(transfer).toMatchObject({
      object: "transfer",
      amount: 3000,
      amount_reversed: 0,
      destination: seller.id,
      source_transaction: charge.id,
      transfer_group: group,
      reversed: false,
    });
    const overdrawn = await failure(
      stripe.transfers.create({
        amount: 1500,
        currency: "usd",
        destination: seller.id,
        source_transaction: charge.id,
        transfer_group: group,
      }),
    );
    expect([overdrawn.statusCode, overdrawn.code]).toEqual([400, "balance_insufficient"]);
    const second = await stripe.transfers.create({
      amount: 1000,
      currency: "usd",
      destination: seller.id,
      source_transaction: charge.id,
      transfer_group: group,
    });
    const listed = await stripe.transfers.list({ transfer_group: group });
    expect(listed.data.map((t) => t.id)).toEqual([second.id, transfer.id]);

    // Reversals up to what is left of the transfer.
    const reversal = await stripe.transfers.createReversal(transfer.id, { amount: 500 });
    expect(reversal).toMatchObject({
      object: "transfer_reversal",
      amount: 500,
      transfer: transfer.id,
    });
    expect(await stripe.transfers.retrieve(transfer.id)).toMatchObject({
      amount_reversed: 500,
      reversed: false,
    });
    const overReversed = await failure(
      stripe.transfers.createReversal(transfer.id, { amount: 3000 }),
    );
    expect([overReversed.statusCode, overReversed.code]).toEqual([400, "amount_too_large"]);
    await stripe.transfers.createReversal(transfer.id);
    expect(await stripe.transfers.retrieve(transfer.id)).toMatchObject({
      amount_reversed: 3000,
      reversed: true,
    });

    // The rest of the charge refunded; then nothing is left to refund.
    await stripe.refunds.create({ payment_intent: pi.id });
    expect(await stripe.charges.retrieve(charge.id)).toMatchObject({
      amount_refunded: 5000,
      refunded: true,
    });
    const again = await failure(stripe.refunds.create({ charge: charge.id }));
    expect([again.statusCode, again.code]).toEqual([400, "charge_already_refunded"]);
    expect((await stripe.refunds.list({ charge: charge.id })).data).toHaveLength(2);

    await drain();
    const types = (await eventsFor(session.id, pi.id, charge.id, transfer.id, seller.id, refund.id))
      .map((e) => e.type);
    expect(types).toEqual([
      "payment_intent.created",
      "charge.succeeded",
      "payment_intent.succeeded",
      "checkout.session.completed",
      "refund.created",
      "charge.refunded",
      "account.updated",
      "transfer.created",
      "transfer.reversed",
      "transfer.reversed",
      "charge.refunded",
    ]);
  });

  test("a bank debit completes the session unpaid and settles later; a declined card leaves it open", async () => {
    const create = () =>
      stripe.checkout.sessions.create({
        mode: "payment",
        line_items: [{
          quantity: 1,
          price_data: { currency: "usd", unit_amount: 8000, product_data: { name: "Tailoring" } },
        }],
        success_url: "http://127.0.0.1:3000/paid",
      });
    const pending = await create();
    const completed = await control(`checkout/sessions/${pending.id}/complete`, {
      outcome: "async_pending",
    });
    expect(completed.body.checkout_session).toMatchObject({
      status: "complete",
      payment_status: "unpaid",
    });
    expect(completed.body.payment_intent.status).toBe("processing");
    const settled = await control(`checkout/sessions/${pending.id}/settle`, {
      outcome: "succeeded",
    });
    expect(settled.body.checkout_session.payment_status).toBe("paid");
    const types = (await eventsFor(pending.id)).map((e) => e.type);
    expect(types).toEqual([
      "checkout.session.completed",
      "checkout.session.async_payment_succeeded",
    ]);
    expect((await eventsFor(pending.id))[0].data.object.payment_status).toBe("unpaid");

    const declined = await create();
    const attempt = await control(`checkout/sessions/${declined.id}/complete`, {
      outcome: "failed",
    });
    expect(attempt.body.checkout_session.status).toBe("open");
    expect(attempt.body.payment_intent).toMatchObject({
      status: "requires_payment_method",
      last_payment_error: { code: "card_declined" },
    });
    expect((await eventsFor(attempt.body.payment_intent.id)).map((e) => e.type)).toEqual([
      "payment_intent.created",
      "payment_intent.payment_failed",
    ]);
    const expired = await stripe.checkout.sessions.expire(declined.id);
    expect(expired.status).toBe("expired");
    const twice = await failure(stripe.checkout.sessions.expire(declined.id));
    expect(twice.statusCode).toBe(400);
    expect((await control(`checkout/sessions/${declined.id}/complete`, {})).status).toBe(400);
  });

  test("webhooks arrive signed, in creation order, and are retried after a failure", async () => {
    const account = await onboardedAccount();
    await control("webhooks/pause", {});
    const { charge } = await paidCheckout(`order-${crypto.randomUUID()}`);
    await stripe.transfers.create({
      amount: 1000,
      currency: "usd",
      destination: account.id,
      source_transaction: charge.id,
    });
    const created: string[] = (await control("webhooks")).body.held;
    expect(created).toHaveLength(5);
    failNext.add(created[0]); // the endpoint answers 500 to the first one once
    await control("webhooks/resume", {});
    await drain();

    const mine = received.filter((r) => created.includes(r.id));
    expect(mine.every((r) => r.verified)).toBe(true);
    const firstArrivals = mine.map((r) => r.id).filter((id, index, all) =>
      all.indexOf(id) === index
    );
    expect(firstArrivals).toEqual(created);
    expect(mine.map((r) => r.type).slice(0, 5)).toEqual([
      "payment_intent.created",
      "charge.succeeded",
      "payment_intent.succeeded",
      "checkout.session.completed",
      "transfer.created",
    ]);
    expect(mine.filter((r) => r.id === created[0])).toHaveLength(2);
    const deliveries = (await control(`deliveries?event=${created[0]}`)).body.data;
    expect(
      deliveries.map((
        d: { attempt: number; status: number; signature: string },
      ) => [d.attempt, d.status, d.signature]),
    ).toEqual([[
      1,
      500,
      "valid",
    ], [2, 200, "valid"]]);
    const event = (await control(`events/${created[0]}`)).body;
    expect(event).toMatchObject({
      object: "event",
      livemode: false,
      pending_webhooks: 0,
      type: "payment_intent.created",
      api_version: expect.any(String),
      request: { id: null, idempotency_key: null },
    });
  });

  test("held events are delivered shuffled, once more, or with a forged signature on request", async () => {
    await control("webhooks/pause", {});
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: "usd" });
    await control(`payment_intents/${pi.id}/confirm`, { outcome: "succeeded" });
    const state = (await control("webhooks")).body;
    expect(state.paused).toBe(true);
    const held: string[] = state.held;
    expect(held).toHaveLength(3);
    await drain();
    expect(received).toEqual([]);

    const { body } = await control("webhooks/deliver", { order: "shuffled", seed: 7 });
    expect([...body.queued].sort()).toEqual([...held].sort());
    await drain();
    expect(received.map((r) => r.id)).toEqual(body.queued);
    expect((await control("webhooks")).body.held).toEqual([]);

    const duplicate = await control(`events/${held[0]}/deliver`, {});
    expect(duplicate.body).toMatchObject({ event: held[0], status: 200, signature: "valid" });
    expect(received.filter((r) => r.id === held[0])).toHaveLength(2);

    const forged = await control(`events/${held[1]}/deliver`, { signature: "forged" });
    expect(forged.body).toMatchObject({ event: held[1], status: 400, signature: "forged" });
    expect(received.at(-1)).toMatchObject({ id: held[1], verified: false });
    const stale = await control(`events/${held[1]}/deliver`, { signature: "stale" });
    expect(stale.body.status).toBe(400);

    await control("webhooks/resume", {});
    const later = await stripe.paymentIntents.create({ amount: 2000, currency: "usd" });
    await drain();
    expect(received.at(-1)).toMatchObject({ object: later.id, verified: true });
  });

  test("held events can be delivered reversed", async () => {
    await control("webhooks/pause", {});
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: "usd" });
    await control(`payment_intents/${pi.id}/confirm`, { outcome: "failed" });
    const held: string[] = (await control("webhooks")).body.held;
    await control("webhooks/deliver", { order: "reversed" });
    await control("webhooks/resume", {});
    await drain();
    expect(received.map((r) => r.id)).toEqual([...held].reverse());
    expect(received.map((r) => r.type)).toEqual([
      "payment_intent.payment_failed",
      "charge.failed",
      "payment_intent.created",
    ]);
  });

  test("a dispute withdraws the amount, blocks refunds, and closes won or lost", async () => {
    const { charge } = await paidCheckout(`order-${crypto.randomUUID()}`);
    const opened = await control(`charges/${charge.id}/dispute`, { reason: "fraudulent" });
    const dispute = opened.body.dispute;
    expect(dispute).toMatchObject({
      object: "dispute",
      amount: 5000,
      charge: charge.id,
      status: "needs_response",
      reason: "fraudulent",
    });
    expect(dispute.balance_transactions[0]).toMatchObject({ amount: -5000, fee: 1500, net: -6500 });
    expect((await stripe.charges.retrieve(charge.id)).disputed).toBe(true);
    const refused = await failure(stripe.refunds.create({ charge: charge.id }));
    expect(refused.code).toBe("charge_disputed");

    await control(`disputes/${dispute.id}/update`, { status: "under_review" });
    const closed = await control(`disputes/${dispute.id}/close`, { outcome: "lost" });
    expect(closed.body.dispute.status).toBe("lost");
    expect((await stripe.disputes.retrieve(dispute.id)).status).toBe("lost");
    const types = (await eventsFor(dispute.id)).map((e) => e.type);
    expect(types).toEqual([
      "charge.dispute.created",
      "charge.dispute.funds_withdrawn",
      "charge.dispute.updated",
      "charge.dispute.closed",
    ]);
    expect((await eventsFor(dispute.id))[2].data.previous_attributes).toEqual({
      status: "needs_response",
    });

    const { charge: won } = await paidCheckout(`order-${crypto.randomUUID()}`);
    const second = (await control(`charges/${won.id}/dispute`, {})).body.dispute;
    const reinstated = await control(`disputes/${second.id}/close`, { outcome: "won" });
    expect(reinstated.body.dispute.balance_transactions.map((t: { net: number }) => t.net)).toEqual(
      [
        -6500,
        6500,
      ],
    );
    expect((await eventsFor(second.id)).map((e) => e.type)).toContain(
      "charge.dispute.funds_reinstated",
    );
  });
});
