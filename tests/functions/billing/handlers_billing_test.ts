// The billing-* handlers' logic with a fake Stripe and a fake database: billing-subscribe's
// Elements flow (default_incomplete, save_default_payment_method, the first invoice's intent
// and client secret, a waiting subscription answered again or replaced, the idempotency key
// naming the customer's latest subscription, Checkout refused beside a waiting one),
// billing-confirm-payment (succeeded, requires_action, declined answered precisely; another
// customer's intent 404 without a confirm), billing-manage-subscription's proration behaviour
// from the target plan and a force cancel's refund recorded in the ledger before the cancel.
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import type Stripe from "npm:stripe@23.1.0";
import { HttpError } from "../../../functions/_shared/http/errors.ts";
import type { BillingStripe } from "../../../functions/_shared/billing/stripe-billing.ts";
import { subscribe } from "../../../functions/billing-subscribe/handler.ts";
import { confirmPayment } from "../../../functions/billing-confirm-payment/handler.ts";
import { manageSubscription } from "../../../functions/billing-manage-subscription/handler.ts";
import { fakeDb, statusOf, stripeError } from "../payments/fake_payments.ts";

const user = { id: "11111111-1111-4111-8111-111111111111", email: "u@example.com" };
const priceId = "22222222-2222-4222-8222-222222222222";
const subscriptionId = "33333333-3333-4333-8333-333333333333";

const checked = {
  plan_id: "p1",
  plan_family: "platform",
  plan_price_id: priceId,
  stripe_price_id: "price_pro",
  trial_days: 0,
  stripe_customer_id: "cus_1",
  waiting_subscription: null,
};

interface Call {
  method: string;
  args: unknown[];
}

/** A fake Stripe: each method answers from `answers` (a value or a function of the args). */
function fakeStripe(answers: Record<string, unknown>) {
  const calls: Call[] = [];
  const proxy = (path: string[]): unknown =>
    new Proxy(() => {}, {
      get: (_t, key) => proxy([...path, String(key)]),
      apply: (_t, _this, args) => {
        const method = path.join(".");
        calls.push({ method, args });
        const answer = answers[method];
        if (answer === undefined) return Promise.reject(new Error(`${method} is not faked`));
        const value = typeof answer === "function" ? answer(...args) : answer;
        return value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
      },
    });
  return { stripe: proxy([]) as BillingStripe, calls };
}

const waitingSub = (id: string, price: string, family = "platform") => ({
  id,
  status: "incomplete",
  metadata: { plan_family: family },
  items: { data: [{ price: { id: price } }] },
});

const withFirstInvoice = (id: string) => ({
  id,
  status: "incomplete",
  currency: "krw",
  latest_invoice: {
    amount_due: 9900,
    currency: "krw",
    confirmation_secret: { client_secret: "pi_1_secret_x", type: "payment_intent" },
    payments: { data: [{ is_default: true, payment: { payment_intent: "pi_1" } }] },
  },
});

Deno.test("Elements: a subscription created default_incomplete answers its first invoice's intent", async () => {
  const { db, calls: rpc } = fakeDb({ billing_subscribe_check: checked });
  const { stripe, calls } = fakeStripe({
    "subscriptions.list": (p: { status: string }) => ({
      data: p.status === "all" ? [{ id: "sub_old" }] : [],
    }),
    "subscriptions.create": withFirstInvoice("sub_new"),
  });
  const answer = await subscribe({ db, stripe, allowedOrigins: [] }, user, {
    flow: "elements",
    plan_price_id: priceId,
  });
  deepStrictEqual(answer, {
    flow: "elements",
    stripe_subscription_id: "sub_new",
    status: "incomplete",
    payment_intent_id: "pi_1",
    client_secret: "pi_1_secret_x",
    amount_due: 9900,
    currency: "KRW",
    customer_id: "cus_1",
  });
  const create = calls.find((c) => c.method === "subscriptions.create")!;
  deepStrictEqual(create.args[0], {
    customer: "cus_1",
    items: [{ price: "price_pro", quantity: 1 }],
    payment_behavior: "default_incomplete",
    payment_settings: { save_default_payment_method: "on_subscription" },
    metadata: { user_id: user.id, plan_price_id: priceId, plan_family: "platform" },
    expand: ["latest_invoice.confirmation_secret", "latest_invoice.payments"],
  });
  deepStrictEqual(create.args[1], {
    idempotencyKey: `elements_subscription:${user.id}:${priceId}:sub_old`,
  });
  deepStrictEqual(rpc.map((c) => c.fn), ["billing_subscribe_check"]);
});

Deno.test("Elements: a waiting subscription of the price is answered again, one of another price cancelled", async () => {
  const { db } = fakeDb({ billing_subscribe_check: checked });
  const { stripe, calls } = fakeStripe({
    "subscriptions.list": {
      data: [
        waitingSub("sub_other", "price_basic"),
        waitingSub("sub_same", "price_pro"),
        waitingSub("sub_shop", "price_x", "some-product"),
      ],
    },
    "subscriptions.retrieve": withFirstInvoice("sub_same"),
    "subscriptions.cancel": {},
  });
  const answer = await subscribe({ db, stripe, allowedOrigins: [] }, user, {
    flow: "elements",
    plan_price_id: priceId,
  });
  strictEqual((answer as { stripe_subscription_id: string }).stripe_subscription_id, "sub_same");
  deepStrictEqual(calls.map((c) => [c.method, c.args[0]]), [
    ["subscriptions.list", { customer: "cus_1", status: "incomplete", limit: 100 }],
    ["subscriptions.cancel", "sub_other"],
    ["subscriptions.retrieve", "sub_same"],
  ]);
});

Deno.test("Checkout is refused beside a subscription waiting for its first payment, before Stripe", async () => {
  const { db } = fakeDb({
    billing_subscribe_check: { ...checked, waiting_subscription: "sub_wait" },
  });
  const { stripe, calls } = fakeStripe({});
  const attempt = subscribe({ db, stripe, allowedOrigins: ["https://app.example"] }, user, {
    flow: "checkout",
    plan_price_id: priceId,
    success_url: "https://app.example/ok",
    cancel_url: "https://app.example/no",
  });
  await rejects(attempt, (err: HttpError) => {
    strictEqual(err.status, 409);
    strictEqual(
      err.message,
      "subscription sub_wait is waiting for its first payment: confirm it (billing-confirm-payment) or subscribe with flow elements to replace it",
    );
    return true;
  });
  strictEqual(calls.length, 0);
});

const intent = (status: string, extra: Record<string, unknown> = {}) => ({
  id: "pi_1",
  customer: "cus_1",
  amount: 9900,
  currency: "krw",
  status,
  client_secret: "pi_1_secret_x",
  ...extra,
});

Deno.test("confirm: succeeded, requires_action and a decline are answered precisely", async () => {
  const { db } = fakeDb({ billing_customer_of: "cus_1" });
  const body = { payment_intent_id: "pi_1", payment_method: "pm_card_visa" };
  const ok = fakeStripe({
    "paymentIntents.retrieve": intent("requires_payment_method"),
    "paymentIntents.confirm": intent("succeeded"),
  });
  deepStrictEqual(await confirmPayment({ db, stripe: ok.stripe }, user, body), {
    status: "succeeded",
    payment_intent_id: "pi_1",
    amount: 9900,
    currency: "KRW",
  });
  deepStrictEqual(ok.calls[1].args, ["pi_1", { payment_method: "pm_card_visa" }]);

  const action = fakeStripe({
    "paymentIntents.retrieve": intent("requires_payment_method"),
    "paymentIntents.confirm": intent("requires_action", {
      next_action: { type: "use_stripe_sdk" },
    }),
  });
  deepStrictEqual(await confirmPayment({ db, stripe: action.stripe }, user, body), {
    status: "requires_action",
    payment_intent_id: "pi_1",
    amount: 9900,
    currency: "KRW",
    client_secret: "pi_1_secret_x",
    next_action: "use_stripe_sdk",
  });

  const declined = fakeStripe({
    "paymentIntents.retrieve": intent("requires_payment_method"),
    "paymentIntents.confirm": Object.assign(
      stripeError("StripeCardError", 402, "Your card was declined."),
      { code: "card_declined", decline_code: "generic_decline" },
    ),
  });
  await rejects(confirmPayment({ db, stripe: declined.stripe }, user, body), (err: HttpError) => {
    strictEqual(err.status, 409);
    strictEqual(err.code, "payment_provider_refused");
    strictEqual(err.message, "the card was declined: Your card was declined.");
    deepStrictEqual(err.details, {
      stripe_code: "card_declined",
      decline_code: "generic_decline",
      payment_intent_id: "pi_1",
    });
    return true;
  });
});

Deno.test("confirm: another customer's intent, or none, is 404 and nothing is confirmed", async () => {
  const body = { payment_intent_id: "pi_1", payment_method: "pm_card_visa" };
  const theirs = fakeStripe({
    "paymentIntents.retrieve": intent("requires_payment_method", { customer: "cus_2" }),
  });
  strictEqual(
    await statusOf(
      confirmPayment(
        { db: fakeDb({ billing_customer_of: "cus_1" }).db, stripe: theirs.stripe },
        user,
        body,
      ),
    ),
    404,
  );
  deepStrictEqual(theirs.calls.map((c) => c.method), ["paymentIntents.retrieve"]);
  const none = fakeStripe({});
  strictEqual(
    await statusOf(
      confirmPayment(
        { db: fakeDb({ billing_customer_of: null }).db, stripe: none.stripe },
        user,
        body,
      ),
    ),
    404,
  );
  strictEqual(none.calls.length, 0);
  const paid = fakeStripe({ "paymentIntents.retrieve": intent("succeeded") });
  strictEqual(
    await statusOf(
      confirmPayment(
        { db: fakeDb({ billing_customer_of: "cus_1" }).db, stripe: paid.stripe },
        user,
        body,
      ),
    ),
    409,
  );
});

const mirrored = {
  id: subscriptionId,
  status: "active",
  stripe_subscription_id: "sub_1",
  stripe_customer_id: "cus_1",
  staff: false,
  owner: true,
};

for (const behaviour of ["create_prorations", "always_invoice", "none"] as const) {
  Deno.test(`change_plan and its preview use the target plan's proration behaviour: ${behaviour}`, async () => {
    const { db } = fakeDb({
      billing_subscription_for: mirrored,
      billing_change_target: {
        plan_price_id: priceId,
        stripe_price_id: "price_team",
        plan_id: "p2",
        proration_behavior: behaviour,
      },
    });
    const { stripe, calls } = fakeStripe({
      "subscriptions.retrieve": { id: "sub_1", items: { data: [{ id: "si_1" }] } },
      "invoices.createPreview": { currency: "krw", amount_due: 0, total: 0, lines: { data: [] } },
      "subscriptions.update": {
        id: "sub_1",
        status: "active",
        cancel_at_period_end: false,
        cancel_at: null,
      },
    });
    const preview = await manageSubscription({ db, stripe }, user, {
      action: "preview_change",
      subscription_id: subscriptionId,
      plan_price_id: priceId,
    }) as { proration_behavior: string };
    strictEqual(preview.proration_behavior, behaviour);
    const changed = await manageSubscription({ db, stripe }, user, {
      action: "change_plan",
      subscription_id: subscriptionId,
      plan_price_id: priceId,
    }) as { proration_behavior: string };
    strictEqual(changed.proration_behavior, behaviour);
    const previewed = calls.find((c) => c.method === "invoices.createPreview")!.args[0] as {
      subscription_details: { proration_behavior: string };
    };
    strictEqual(previewed.subscription_details.proration_behavior, behaviour);
    const updated = calls.find((c) => c.method === "subscriptions.update")!.args[1] as {
      proration_behavior: string;
    };
    strictEqual(updated.proration_behavior, behaviour);
  });
}

Deno.test("force cancel with refund: refunded with its key, posted through the database, then cancelled", async () => {
  const staff = { id: "44444444-4444-4444-8444-444444444444" };
  const { db, calls: rpc } = fakeDb({
    billing_subscription_for: { ...mirrored, staff: true, owner: false },
    record_subscription_refund: { posted: true, amount_refunded: 9900 },
  });
  const refund = {
    id: "re_1",
    object: "refund",
    amount: 9900,
    currency: "krw",
    status: "succeeded",
  };
  const { stripe, calls } = fakeStripe({
    "subscriptions.retrieve": {
      id: "sub_1",
      status: "active",
      latest_invoice: "in_1",
    } as unknown as Stripe.Subscription,
    "invoicePayments.list": { data: [{ status: "paid", payment: { payment_intent: "pi_1" } }] },
    "refunds.create": refund,
    "subscriptions.cancel": {
      id: "sub_1",
      status: "canceled",
      cancel_at_period_end: false,
      cancel_at: null,
    },
  });
  const answer = await manageSubscription({ db, stripe }, staff, {
    action: "force_cancel",
    subscription_id: subscriptionId,
    reason: "fraud suspected",
    refund: true,
  });
  deepStrictEqual(answer, {
    stripe_subscription_id: "sub_1",
    status: "canceled",
    cancel_at_period_end: false,
    cancel_at: null,
    refund_id: "re_1",
    refunded: 9900,
    refund_posted: true,
  });
  deepStrictEqual(calls.map((c) => c.method), [
    "subscriptions.retrieve",
    "invoicePayments.list",
    "refunds.create",
    "subscriptions.cancel",
  ]);
  deepStrictEqual(calls[2].args[1], { idempotencyKey: `force_cancel_refund:${subscriptionId}` });
  deepStrictEqual(rpc.map((c) => [c.fn, c.args]), [
    ["billing_subscription_for", { acting_user: staff.id, subscription_id: subscriptionId }],
    ["record_subscription_refund", { acting_user: staff.id, stripe_invoice_id: "in_1", refund }],
  ]);
});

Deno.test("force cancel: a refund the database refuses to record leaves the subscription for a retry", async () => {
  const { db } = fakeDb({
    billing_subscription_for: { ...mirrored, staff: true, owner: false },
    record_subscription_refund: {
      error: { code: "PT404", message: "subscription invoice in_1 not found" },
    },
  });
  const { stripe, calls } = fakeStripe({
    "subscriptions.retrieve": { id: "sub_1", status: "active", latest_invoice: "in_1" },
    "invoicePayments.list": { data: [{ status: "paid", payment: { payment_intent: "pi_1" } }] },
    "refunds.create": {
      id: "re_1",
      object: "refund",
      amount: 9900,
      currency: "krw",
      status: "succeeded",
    },
  });
  strictEqual(
    await statusOf(manageSubscription({ db, stripe }, { id: "s" }, {
      action: "force_cancel",
      subscription_id: subscriptionId,
      reason: "fraud suspected",
      refund: true,
    })),
    404,
  );
  strictEqual(calls.some((c) => c.method === "subscriptions.cancel"), false);
});
