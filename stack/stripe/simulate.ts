// The stand-in's own endpoints under /_test/ (not Stripe's): what customers, banks and
// cardholders do in Stripe's world (pay a Checkout Session, settle a bank debit, finish
// onboarding, dispute a charge), and control of webhook delivery for deterministic tests.
// Bodies are JSON; answers are JSON. Each simulation answers with the objects it changed and
// `events`: the ids of the events it recorded, in creation order.

import { z } from "zod";
import { NO_REQUEST } from "./bank.ts";
import { checkoutSession, type Ctx } from "./api.ts";
import {
  advance,
  completeSubscriptionSession,
  endTrial,
  exhaustRetries,
  expireIncomplete,
  expirePendingUpdate,
  type Invoice,
  remind,
  retryInvoice,
  type Subscription,
} from "./billing.ts";
import { invalidParam, resourceMissing, stateError } from "./errors.ts";
import type { Account, Charge, CheckoutSession, Dispute, PaymentIntent, Refund } from "./state.ts";
import { shuffle, type StripeEvent } from "./webhooks.ts";

export interface TestCtx extends Ctx {
  body: unknown;
  query: URLSearchParams;
}

/** What a /_test/ handler answers: a JSON body, an optional status, or a redirect. */
export type TestResult = { status?: number; body?: unknown; redirect?: string };
export type TestRoute = [
  method: string,
  pattern: RegExp,
  handler: (ctx: TestCtx) => TestResult | Promise<TestResult>,
];

function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw invalidParam(
    `${issue.path.join(".") || "body"}: ${issue.message}`,
    issue.path.join(".") || undefined,
  );
}

/** Runs a simulation and reports the ids of the events it recorded. */
function recording(ctx: Ctx, run: () => Record<string, unknown>): TestResult {
  const before = ctx.webhooks.events.length;
  const result = run();
  return {
    body: { ...result, events: ctx.webhooks.events.slice(before).map((event) => event.id) },
  };
}

const ID = "([A-Za-z0-9_]+)";

function completeCheckout(ctx: TestCtx): TestResult {
  const body = parse(
    z.object({
      outcome: z.enum(["paid", "async_pending", "failed"]).default("paid"),
      email: z.string().email().optional(),
      name: z.string().optional(),
    }).strict(),
    ctx.body,
  );
  const session = checkoutSession(ctx, ctx.params[0]);
  if (session.status !== "open") {
    throw stateError(`This Checkout Session is no longer open (status ${session.status}).`);
  }
  const subscription = ctx.store.sessions.get(session.id)?.subscription;
  if (subscription) {
    if (body.outcome === "async_pending") {
      throw invalidParam("outcome: async_pending is for payment mode", "outcome");
    }
    return recording(ctx, () => {
      const outcome = body.outcome === "failed" ? "failed" : "paid";
      const made = completeSubscriptionSession(ctx, session, subscription, { ...body, outcome });
      if (!made.subscription) return { checkout_session: session };
      const email = body.email ?? session.customer_email ?? made.customer.email;
      Object.assign(session, {
        status: "complete",
        payment_status: made.invoice && made.invoice.amount_due > 0
          ? "paid"
          : "no_payment_required",
        url: null,
        customer: made.customer.id,
        subscription: made.subscription.id,
        invoice: made.invoice?.id ?? null,
        customer_details: {
          address: null,
          email,
          name: body.name ?? null,
          phone: null,
          tax_exempt: "none",
          tax_ids: [],
        },
      });
      ctx.bank.emit("checkout.session.completed", session, NO_REQUEST);
      return {
        checkout_session: session,
        customer: made.customer,
        subscription: made.subscription,
        invoice: made.invoice,
      };
    });
  }
  return recording(ctx, () => {
    const { bank, store } = ctx;
    const details = store.sessions.get(session.id)!;
    // A declined attempt leaves the session open with its intent; the next attempt reuses it.
    let pi = session.payment_intent
      ? store.get<PaymentIntent>("payment_intent", session.payment_intent)
      : null;
    if (!pi) {
      pi = bank.createPaymentIntent({
        amount: session.amount_total,
        currency: session.currency,
        metadata: { ...details.paymentIntentData.metadata },
        transfer_group: details.paymentIntentData.transfer_group,
        description: details.paymentIntentData.description,
        automatic_payment_methods: null,
        payment_method_types: ["card"],
        receipt_email: null,
      }, NO_REQUEST);
      session.payment_intent = pi.id;
    }
    const email = body.email ?? session.customer_email ?? "customer@example.com";
    const outcome = body.outcome === "paid"
      ? "succeeded"
      : body.outcome === "failed"
      ? "failed"
      : "processing";
    const charge = bank.pay(pi, outcome, NO_REQUEST, email);
    if (body.outcome !== "failed") {
      Object.assign(session, {
        status: "complete",
        payment_status: body.outcome === "paid" ? "paid" : "unpaid",
        url: null,
        customer_details: {
          address: null,
          email,
          name: body.name ?? null,
          phone: null,
          tax_exempt: "none",
          tax_ids: [],
        },
      });
      bank.emit("checkout.session.completed", session, NO_REQUEST);
    }
    return { checkout_session: session, payment_intent: pi, charge };
  });
}

function settleCheckout(ctx: TestCtx): TestResult {
  const body = parse(z.object({ outcome: z.enum(["succeeded", "failed"]) }).strict(), ctx.body);
  const session = ctx.store.get<CheckoutSession>("checkout.session", ctx.params[0]);
  if (
    session.status !== "complete" || session.payment_status !== "unpaid" || !session.payment_intent
  ) {
    throw stateError(
      `This Checkout Session has no pending payment (status ${session.status}, payment_status ${session.payment_status}).`,
    );
  }
  const pi = ctx.store.get<PaymentIntent>("payment_intent", session.payment_intent);
  return recording(ctx, () => {
    const charge = ctx.bank.settle(pi, body.outcome, NO_REQUEST);
    if (body.outcome === "succeeded") {
      session.payment_status = "paid";
      ctx.bank.emit("checkout.session.async_payment_succeeded", session, NO_REQUEST);
    } else {
      ctx.bank.emit("checkout.session.async_payment_failed", session, NO_REQUEST);
    }
    return { checkout_session: session, payment_intent: pi, charge };
  });
}

function confirmIntent(ctx: TestCtx): TestResult {
  const body = parse(
    z.object({
      outcome: z.enum(["succeeded", "failed", "processing"]).default("succeeded"),
      email: z.string().optional(),
    }).strict(),
    ctx.body,
  );
  const pi = ctx.store.get<PaymentIntent>("payment_intent", ctx.params[0]);
  return recording(ctx, () => {
    const charge = ctx.bank.pay(pi, body.outcome, NO_REQUEST, body.email ?? null);
    return { payment_intent: pi, charge };
  });
}

function settleIntent(ctx: TestCtx): TestResult {
  const body = parse(z.object({ outcome: z.enum(["succeeded", "failed"]) }).strict(), ctx.body);
  const pi = ctx.store.get<PaymentIntent>("payment_intent", ctx.params[0]);
  return recording(
    ctx,
    () => ({ charge: ctx.bank.settle(pi, body.outcome, NO_REQUEST), payment_intent: pi }),
  );
}

const onboardingSchema = z.object({
  charges_enabled: z.boolean().default(true),
  payouts_enabled: z.boolean().default(true),
  details_submitted: z.boolean().default(true),
}).strict();

/** The account holder finishes (or half-finishes) onboarding: `account.updated`. */
function onboard(ctx: Ctx, account: Account, settings: z.infer<typeof onboardingSchema>): Account {
  return ctx.bank.update(
    account,
    (a) => {
      const capabilities = { ...a.capabilities };
      capabilities.card_payments = settings.charges_enabled
        ? "active"
        : (capabilities.card_payments ?? "inactive");
      capabilities.transfers = settings.payouts_enabled
        ? "active"
        : (capabilities.transfers ?? "inactive");
      if (!settings.charges_enabled && capabilities.card_payments === "active") {
        capabilities
          .card_payments = "inactive";
      }
      if (!settings.payouts_enabled && capabilities.transfers === "active") {
        capabilities
          .transfers = "inactive";
      }
      a.capabilities = capabilities;
      a.charges_enabled = settings.charges_enabled;
      a.payouts_enabled = settings.payouts_enabled;
      a.details_submitted = settings.details_submitted;
      const due = settings.charges_enabled && settings.payouts_enabled ? [] : ["external_account"];
      a.requirements = {
        ...a.requirements,
        currently_due: due,
        eventually_due: due,
        past_due: due,
        disabled_reason: due.length ? "requirements.past_due" : null,
      };
    },
    "account.updated",
    NO_REQUEST,
  );
}

function dispute(ctx: TestCtx): TestResult {
  const body = parse(
    z.object({
      amount: z.number().int().positive().optional(),
      reason: z.enum([
        "fraudulent",
        "duplicate",
        "product_not_received",
        "product_unacceptable",
        "subscription_canceled",
        "unrecognized",
        "credit_not_processed",
        "general",
      ]).default("fraudulent"),
    }).strict(),
    ctx.body,
  );
  const charge = ctx.store.get<Charge>("charge", ctx.params[0]);
  return recording(
    ctx,
    () => ({ dispute: ctx.bank.withTransactions(ctx.bank.dispute(charge, body, NO_REQUEST)) }),
  );
}

function updateDispute(ctx: TestCtx): TestResult {
  const body = parse(
    z.object({
      status: z.enum([
        "needs_response",
        "under_review",
        "warning_needs_response",
        "warning_under_review",
      ]),
    }).strict(),
    ctx.body,
  );
  const found = ctx.store.get<Dispute>("dispute", ctx.params[0]);
  return recording(ctx, () => ({
    dispute: ctx.bank.withTransactions(ctx.bank.updateDispute(found, (d) => {
      d.status = body.status;
    }, NO_REQUEST)),
  }));
}

function closeDispute(ctx: TestCtx): TestResult {
  const body = parse(z.object({ outcome: z.enum(["won", "lost"]) }).strict(), ctx.body);
  const found = ctx.store.get<Dispute>("dispute", ctx.params[0]);
  return recording(
    ctx,
    () => ({
      dispute: ctx.bank.withTransactions(ctx.bank.closeDispute(found, body.outcome, NO_REQUEST)),
    }),
  );
}

// --- billing ---------------------------------------------------------------------------------

const cardOutcome = z.enum(["succeeded", "failed", "requires_action"]).optional();

function subscriptionRoute(
  run: (ctx: TestCtx, sub: Subscription, body: Record<string, unknown>) => void,
  schema: z.ZodType<Record<string, unknown>> = z.object({}).strict(),
) {
  return (ctx: TestCtx): TestResult => {
    const body = parse(schema, ctx.body);
    const sub = ctx.store.get<Subscription>("subscription", ctx.params[0]);
    return recording(ctx, () => {
      run(ctx, sub, body);
      const invoice = sub.latest_invoice ? ctx.store.find(sub.latest_invoice) : null;
      return { subscription: sub, latest_invoice: invoice };
    });
  };
}

function invoiceRoute(
  run: (ctx: TestCtx, invoice: Invoice, body: Record<string, unknown>) => void,
  schema: z.ZodType<Record<string, unknown>>,
) {
  return (ctx: TestCtx): TestResult => {
    const body = parse(schema, ctx.body);
    const invoice = ctx.store.get<Invoice>("invoice", ctx.params[0]);
    return recording(ctx, () => {
      run(ctx, invoice, body);
      const subId = invoice.parent?.subscription_details?.subscription;
      return { invoice, subscription: subId ? ctx.store.find(subId) : null };
    });
  };
}

type Outcome = "succeeded" | "failed" | "requires_action" | undefined;

// --- webhook control -------------------------------------------------------------------------

function eventMatches(query: URLSearchParams): (event: StripeEvent) => boolean {
  const types = query.getAll("type").flatMap((value) => value.split(","));
  const objects = query.getAll("object_id").flatMap((value) => value.split(","));
  return (event) =>
    (types.length === 0 || types.includes(event.type)) &&
    (objects.length === 0 || objects.includes(event.data.object.id));
}

function listEvents({ webhooks, query }: TestCtx): TestResult {
  let events = webhooks.events;
  const after = query.get("after");
  if (after) {
    const index = events.findIndex((event) => event.id === after);
    if (index < 0) throw resourceMissing("event", after, "after");
    events = events.slice(index + 1);
  }
  const data = events.filter(eventMatches(query));
  return { body: { object: "list", data, has_more: false, url: "/_test/events" } };
}

function deliverHeld(ctx: TestCtx): TestResult {
  const body = parse(
    z.object({
      order: z.enum(["created", "shuffled", "reversed"]).default("created"),
      events: z.array(z.string()).optional(),
      seed: z.number().int().optional(),
    }).strict(),
    ctx.body,
  );
  const ids = body.events ?? [...ctx.webhooks.held];
  for (const id of ids) if (!ctx.webhooks.event(id)) throw resourceMissing("event", id, "events");
  const seed = body.seed ?? Math.floor(Math.random() * 2 ** 31);
  const ordered = body.order === "shuffled"
    ? shuffle(ids, seed)
    : body.order === "reversed"
    ? [...ids].reverse()
    : ids;
  ctx.webhooks.release(ordered);
  return { body: { queued: ordered, ...(body.order === "shuffled" ? { seed } : {}) } };
}

async function deliverOne(ctx: TestCtx): Promise<TestResult> {
  const body = parse(
    z.object({ signature: z.enum(["valid", "forged", "stale"]).default("valid") }).strict(),
    ctx.body,
  );
  const event = ctx.webhooks.event(ctx.params[0]);
  if (!event) throw resourceMissing("event", ctx.params[0]);
  return { body: await ctx.webhooks.deliverOnce(event, body.signature) };
}

export const testRoutes: TestRoute[] = [
  [
    "GET",
    new RegExp(`^/_test/checkout/sessions/${ID}$`),
    (ctx) => ({ body: checkoutSession(ctx, ctx.params[0]) }),
  ],
  ["POST", new RegExp(`^/_test/checkout/sessions/${ID}/complete$`), completeCheckout],
  ["POST", new RegExp(`^/_test/checkout/sessions/${ID}/settle$`), settleCheckout],
  ["POST", new RegExp(`^/_test/payment_intents/${ID}/confirm$`), confirmIntent],
  ["POST", new RegExp(`^/_test/payment_intents/${ID}/settle$`), settleIntent],
  ["POST", new RegExp(`^/_test/accounts/${ID}/onboard$`), (ctx) => {
    const settings = parse(onboardingSchema, ctx.body);
    const account = ctx.store.get<Account>("account", ctx.params[0]);
    return recording(ctx, () => ({ account: onboard(ctx, account, settings) }));
  }],
  // The URL an account link hands out: "completes" onboarding and goes back to return_url.
  ["GET", new RegExp(`^/_test/connect/onboarding/${ID}$`), (ctx) => {
    const account = ctx.store.get<Account>("account", ctx.params[0]);
    onboard(ctx, account, onboardingSchema.parse({}));
    const returnUrl = ctx.query.get("return_url");
    return returnUrl ? { redirect: returnUrl } : { body: account };
  }],
  ["POST", new RegExp(`^/_test/charges/${ID}/dispute$`), dispute],
  ["POST", new RegExp(`^/_test/disputes/${ID}/update$`), updateDispute],
  ["POST", new RegExp(`^/_test/disputes/${ID}/close$`), closeDispute],
  ["POST", new RegExp(`^/_test/refunds/${ID}/fail$`), (ctx) => {
    const refund = ctx.store.get<Refund>("refund", ctx.params[0]);
    return recording(ctx, () => ({ refund: ctx.bank.failRefund(refund, NO_REQUEST) }));
  }],

  [
    "POST",
    new RegExp(`^/_test/subscriptions/${ID}/advance$`),
    subscriptionRoute(
      (ctx, sub, body) => advance(ctx, sub, body.outcome as Outcome, NO_REQUEST),
      z.object({ outcome: cardOutcome }).strict(),
    ),
  ],
  [
    "POST",
    new RegExp(`^/_test/subscriptions/${ID}/remind$`),
    subscriptionRoute((ctx, sub) => remind(ctx, sub, NO_REQUEST)),
  ],
  [
    "POST",
    new RegExp(`^/_test/subscriptions/${ID}/end_trial$`),
    subscriptionRoute((ctx, sub, body) => {
      if (sub.status !== "trialing") {
        throw stateError(`Subscription ${sub.id} is not trialing (status ${sub.status}).`);
      }
      endTrial(ctx, sub, body.outcome as Outcome, NO_REQUEST);
    }, z.object({ outcome: cardOutcome }).strict()),
  ],
  [
    "POST",
    new RegExp(`^/_test/subscriptions/${ID}/expire_incomplete$`),
    subscriptionRoute((ctx, sub) => expireIncomplete(ctx, sub, NO_REQUEST)),
  ],
  [
    "POST",
    new RegExp(`^/_test/subscriptions/${ID}/expire_pending_update$`),
    subscriptionRoute((ctx, sub) => expirePendingUpdate(ctx, sub, NO_REQUEST)),
  ],
  [
    "POST",
    new RegExp(`^/_test/invoices/${ID}/retry$`),
    invoiceRoute(
      (ctx, invoice, body) => retryInvoice(ctx, invoice, body.outcome as Outcome, NO_REQUEST),
      z.object({ outcome: cardOutcome }).strict(),
    ),
  ],
  [
    "POST",
    new RegExp(`^/_test/invoices/${ID}/exhaust_retries$`),
    invoiceRoute(
      (ctx, invoice, body) =>
        exhaustRetries(
          ctx,
          invoice,
          body.subscription_status as "canceled" | "unpaid" | "past_due",
          body.invoice_status as "open" | "uncollectible" | "void",
          NO_REQUEST,
        ),
      z.object({
        subscription_status: z.enum(["canceled", "unpaid", "past_due"]).default("canceled"),
        invoice_status: z.enum(["open", "uncollectible", "void"]).default("open"),
      }).strict(),
    ),
  ],

  ["GET", /^\/_test\/events$/, listEvents],
  ["GET", new RegExp(`^/_test/events/${ID}$`), (ctx) => {
    const event = ctx.webhooks.event(ctx.params[0]);
    if (!event) throw resourceMissing("event", ctx.params[0]);
    return { body: event };
  }],
  ["POST", new RegExp(`^/_test/events/${ID}/deliver$`), deliverOne],
  ["GET", /^\/_test\/deliveries$/, ({ webhooks, query }) => {
    const event = query.get("event");
    const type = query.get("type");
    const data = webhooks.deliveries.filter((d) =>
      (!event || d.event === event) && (!type || d.type === type)
    );
    return { body: { object: "list", data, has_more: false, url: "/_test/deliveries" } };
  }],
  ["GET", /^\/_test\/webhooks$/, ({ webhooks }) => ({ body: webhooks.status() })],
  ["POST", /^\/_test\/webhooks\/endpoint$/, (ctx) => {
    const body = parse(
      z.object({
        url: z.string().url().nullable(),
        retry_delays_ms: z.array(z.number().int().min(0).max(60_000)).max(10).optional(),
      }).strict(),
      ctx.body,
    );
    ctx.webhooks.url = body.url ?? ctx.webhooks.defaultUrl;
    if (body.retry_delays_ms) ctx.webhooks.retryDelaysMs = body.retry_delays_ms;
    return { body: ctx.webhooks.status() };
  }],
  ["POST", /^\/_test\/webhooks\/pause$/, ({ webhooks }) => {
    webhooks.paused = true;
    return { body: webhooks.status() };
  }],
  ["POST", /^\/_test\/webhooks\/resume$/, (ctx) => {
    const body = parse(z.object({ discard_held: z.boolean().default(false) }).strict(), ctx.body);
    const held = [...ctx.webhooks.held];
    ctx.webhooks.paused = false;
    if (body.discard_held) ctx.webhooks.held = [];
    else ctx.webhooks.release(held);
    return { body: ctx.webhooks.status() };
  }],
  ["POST", /^\/_test\/webhooks\/deliver$/, deliverHeld],
  ["POST", /^\/_test\/webhooks\/drain$/, async (ctx) => {
    const body = parse(
      z.object({ timeout_ms: z.number().int().min(0).max(120_000).default(20_000) }).strict(),
      ctx.body,
    );
    const drained = await ctx.webhooks.drain(body.timeout_ms);
    return { status: drained ? 200 : 504, body: { drained, ...ctx.webhooks.status() } };
  }],
];
