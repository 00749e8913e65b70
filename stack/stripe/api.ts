// The subset of Stripe's REST API (v1) the stand-in answers, with Stripe's parameters, object
// shapes and errors. Each handler returns the response object; the server applies `expand[]`,
// idempotency and the error format (see ../stripe.ts).

import type { Bank, Origin } from "./bank.ts";
import { billingRoutes, requireAction, savedCardFor, subscriptionSession } from "./billing.ts";
import { invalidParam, missingParam, resourceMissing, stateError } from "./errors.ts";
import { Reader } from "./params.ts";
import {
  type Account,
  type BalanceTransaction,
  type Charge,
  type CheckoutSession,
  type Dispute,
  type LineItem,
  newId,
  now,
  page,
  type PaymentIntent,
  type Refund,
  type Store,
  type StripeObject,
  type Transfer,
  type TransferReversal,
} from "./state.ts";
import type { StripeEvent, Webhooks } from "./webhooks.ts";

export interface Ctx {
  bank: Bank;
  store: Store;
  webhooks: Webhooks;
  reader: Reader;
  origin: Origin;
  /** The stand-in's own URL (`http://127.0.0.1:<port>`), for the URLs it hands out. */
  baseUrl: string;
  /** The captures of the route's pattern. */
  params: string[];
}

export type Handler = (ctx: Ctx) => unknown | Promise<unknown>;
export type Route = [method: string, pattern: RegExp, handler: Handler];

/** The minimum charge amounts Stripe enforces for a few currencies (minor units). */
const MINIMUM_AMOUNT: Record<string, number> = {
  usd: 50,
  eur: 50,
  cad: 50,
  aud: 50,
  gbp: 30,
  chf: 50,
  jpy: 50,
  krw: 100,
};

function checkMinimum(amount: number, currency: string, param = "amount"): void {
  const minimum = MINIMUM_AMOUNT[currency] ?? 1;
  if (amount < minimum) {
    throw invalidParam(
      `Amount must be at least ${minimum} ${currency} (minor units)`,
      param,
      "amount_too_small",
    );
  }
}

const DEFAULT_CURRENCY: Record<string, string> = {
  US: "usd",
  KR: "krw",
  GB: "gbp",
  CA: "cad",
  AU: "aud",
  JP: "jpy",
  CH: "chf",
};

// --- accounts (Connect, Express) -----------------------------------------------------------

function createAccount({ reader: r, store }: Ctx): Account {
  r.allow(
    "type",
    "country",
    "email",
    "capabilities",
    "business_type",
    "business_profile",
    "metadata",
    "controller",
    "default_currency",
    "settings",
    "tos_acceptance",
    "individual",
    "company",
    "external_account",
  );
  const type = r.oneOf("type", ["express", "standard", "custom"] as const) ?? "standard";
  const country = (r.string("country") || "US").toUpperCase();
  const capabilities: Account["capabilities"] = {};
  const requested = r.object("capabilities");
  for (const name of Object.keys(requested?.params ?? {})) {
    if (requested!.object(name)?.boolean("requested")) capabilities[name] = "inactive";
  }
  const due = [
    "business_profile.url",
    "external_account",
    "representative.first_name",
    "representative.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
  ];
  return store.put<Account>({
    id: newId("acct"),
    object: "account",
    business_profile: {
      mcc: null,
      name: null,
      product_description: null,
      support_email: null,
      url: null,
      ...(r.object("business_profile")?.params ?? {}),
    },
    business_type: r.string("business_type") ?? null,
    capabilities,
    charges_enabled: false,
    country,
    created: now(),
    default_currency: r.currency("default_currency") ?? DEFAULT_CURRENCY[country] ?? "eur",
    details_submitted: false,
    email: r.string("email") ?? null,
    external_accounts: {
      object: "list",
      data: [],
      has_more: false,
      total_count: 0,
      url: "/v1/accounts/external_accounts",
    },
    future_requirements: {
      alternatives: [],
      current_deadline: null,
      currently_due: [],
      disabled_reason: null,
      errors: [],
      eventually_due: [],
      past_due: [],
      pending_verification: [],
    },
    livemode: false,
    metadata: r.metadata(),
    payouts_enabled: false,
    requirements: {
      alternatives: [],
      current_deadline: null,
      currently_due: due,
      disabled_reason: "requirements.past_due",
      errors: [],
      eventually_due: due,
      past_due: due,
      pending_verification: [],
    },
    tos_acceptance: { date: null },
    type,
  });
}

function updateAccount({ reader: r, store, bank, origin, params }: Ctx): Account {
  r.allow(
    "email",
    "metadata",
    "business_profile",
    "capabilities",
    "business_type",
    "settings",
    "tos_acceptance",
    "default_currency",
    "individual",
    "company",
    "external_account",
  );
  const account = store.get<Account>("account", params[0], "account");
  return bank.update(
    account,
    (a) => {
      if (r.has("email")) a.email = r.string("email") || null;
      a.metadata = r.metadata(a.metadata);
      const profile = r.object("business_profile");
      if (profile) a.business_profile = { ...(a.business_profile as object), ...profile.params };
      const requested = r.object("capabilities");
      for (const name of Object.keys(requested?.params ?? {})) {
        const wanted = requested!.object(name)?.boolean("requested");
        if (wanted && !a.capabilities[name]) {
          a.capabilities = {
            ...a.capabilities,
            [name]: "inactive",
          };
        }
      }
      if (r.has("business_type")) a.business_type = r.string("business_type") || null;
    },
    "account.updated",
    origin,
  );
}

function deleteAccount({ store, params }: Ctx) {
  const account = store.get<Account>("account", params[0], "account");
  account.deleted = true;
  return { id: account.id, object: "account", deleted: true };
}

function createAccountLink({ reader: r, store, baseUrl }: Ctx) {
  r.allow("account", "refresh_url", "return_url", "type", "collect", "collection_options");
  const accountId = r.string("account", true);
  const type = r.oneOf("type", ["account_onboarding", "account_update"] as const, true);
  const refreshUrl = r.string("refresh_url", true);
  const returnUrl = r.string("return_url", true);
  store.get<Account>("account", accountId, "account");
  const created = now();
  const query = new URLSearchParams({ return_url: returnUrl, refresh_url: refreshUrl, type });
  return {
    object: "account_link",
    created,
    expires_at: created + 300,
    url: `${baseUrl}/_test/connect/onboarding/${accountId}?${query}`,
  };
}

// --- Checkout Sessions ---------------------------------------------------------------------

function createCheckoutSession({ reader: r, store, baseUrl }: Ctx): CheckoutSession {
  r.allow(
    "mode",
    "line_items",
    "payment_intent_data",
    "metadata",
    "client_reference_id",
    "success_url",
    "cancel_url",
    "return_url",
    "expires_at",
    "customer_email",
    "customer",
    "payment_method_types",
    "locale",
    "submit_type",
    "currency",
    "ui_mode",
    "allow_promotion_codes",
    "billing_address_collection",
    "customer_creation",
    "automatic_tax",
    "phone_number_collection",
    "consent_collection",
    "custom_text",
    "subscription_data",
  );
  const mode = r.oneOf("mode", ["payment", "setup", "subscription"] as const, true);
  if (mode === "setup") {
    throw invalidParam(
      `The local Stripe stand-in supports mode=payment and mode=subscription, not ${mode}.`,
      "mode",
    );
  }
  if (mode === "payment" && r.has("subscription_data")) {
    throw invalidParam(
      "You can not pass `subscription_data` in `payment` mode.",
      "subscription_data",
    );
  }
  if (mode === "subscription" && r.has("payment_intent_data")) {
    throw invalidParam(
      "You can not pass `payment_intent_data` in `subscription` mode.",
      "payment_intent_data",
    );
  }
  const customerId = r.string("customer") || null;
  if (customerId) store.get<StripeObject>("customer", customerId, "customer");
  if (customerId && r.has("customer_email")) {
    throw invalidParam(
      "You may only specify one of these parameters: customer, customer_email.",
      "customer_email",
      "parameters_exclusive",
    );
  }
  const created = now();
  const id = newId("cs_test");
  const subscription = mode === "subscription" ? subscriptionSession(r, store) : null;
  const items = subscription ? [] : r.objects("line_items");
  if (!subscription && items.length === 0) throw missingParam("line_items");
  const lineItems = subscription
    ? subscription.lineItems as LineItem[]
    : items.map((item, index) => {
      item.allow(
        "price",
        "price_data",
        "quantity",
        "adjustable_quantity",
        "tax_rates",
        "dynamic_tax_rates",
      );
      const priceId = item.string("price");
      if (priceId) throw resourceMissing("price", priceId, `line_items[${index}][price]`);
      const priceData = item.object("price_data");
      if (!priceData) throw missingParam(`line_items[${index}][price_data]`);
      priceData.allow(
        "currency",
        "unit_amount",
        "unit_amount_decimal",
        "product",
        "product_data",
        "tax_behavior",
        "recurring",
      );
      const currency = priceData.currency("currency", true);
      const unitAmount = priceData.integer("unit_amount") ??
        priceData.integer("unit_amount_decimal");
      if (unitAmount === undefined) {
        throw missingParam(`line_items[${index}][price_data][unit_amount]`);
      }
      if (unitAmount < 0) {
        throw invalidParam(
          "This value must be greater than or equal to 0.",
          `line_items[${index}][price_data][unit_amount]`,
        );
      }
      const productData = priceData.object("product_data");
      const product = priceData.string("product");
      if (!productData && !product) {
        throw missingParam(`line_items[${index}][price_data][product_data]`);
      }
      const name = productData?.string("name", true) ?? product!;
      const quantity = item.amount("quantity", true);
      const amount = unitAmount * quantity;
      return {
        id: newId("li"),
        object: "item" as const,
        amount_discount: 0,
        amount_subtotal: amount,
        amount_tax: 0,
        amount_total: amount,
        currency,
        description: name,
        price: {
          id: newId("price"),
          object: "price",
          active: false,
          billing_scheme: "per_unit",
          created,
          currency,
          livemode: false,
          metadata: {},
          product: product ?? newId("prod"),
          recurring: null,
          type: "one_time",
          unit_amount: unitAmount,
          unit_amount_decimal: String(unitAmount),
        },
        quantity,
      } satisfies LineItem;
    });
  const currencies = new Set(lineItems.map((item) => item.currency));
  if (currencies.size > 1) {
    throw invalidParam("All line items must use the same currency.", "line_items");
  }
  const currency = lineItems[0].currency;
  const total = subscription
    ? subscription.amount
    : lineItems.reduce((sum, item) => sum + item.amount_total, 0);
  if (!subscription) checkMinimum(total, currency, "line_items");
  const expiresAt = r.integer("expires_at") ?? created + 86400;
  if (expiresAt < created + 1800) {
    throw invalidParam(
      "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
      "expires_at",
    );
  }
  if (expiresAt > created + 86400) {
    throw invalidParam(
      "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
      "expires_at",
    );
  }
  const pid = r.object("payment_intent_data");
  pid?.allow(
    "metadata",
    "transfer_group",
    "description",
    "capture_method",
    "receipt_email",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "setup_future_usage",
    "on_behalf_of",
    "transfer_data",
    "application_fee_amount",
    "shipping",
  );
  store.sessions.set(id, {
    lineItems,
    paymentIntentData: {
      metadata: pid?.metadata() ?? {},
      transfer_group: pid?.string("transfer_group") || null,
      description: pid?.string("description") || null,
    },
    ...(subscription ? { subscription: subscription.details } : {}),
  });
  return store.put<CheckoutSession>({
    id,
    object: "checkout.session",
    after_expiration: null,
    allow_promotion_codes: null,
    amount_subtotal: total,
    amount_total: total,
    automatic_tax: { enabled: false, liability: null, status: null },
    billing_address_collection: null,
    cancel_url: r.string("cancel_url") ?? null,
    client_reference_id: r.string("client_reference_id") || null,
    client_secret: null,
    created,
    currency,
    customer: customerId,
    customer_creation: subscription ? "always" : "if_required",
    customer_details: null,
    customer_email: r.string("customer_email") || null,
    expires_at: expiresAt,
    invoice: null,
    livemode: false,
    locale: r.string("locale") || null,
    metadata: r.metadata(),
    mode,
    payment_intent: null,
    payment_link: null,
    payment_method_types: ["card"],
    payment_status: "unpaid",
    return_url: r.string("return_url") ?? null,
    status: "open",
    subscription: null,
    submit_type: r.string("submit_type") || null,
    success_url: r.string("success_url") ?? null,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: r.string("ui_mode") || "hosted",
    url: `${baseUrl}/_test/checkout/sessions/${id}`,
  });
}

/** A session past its `expires_at` expires when next looked at, as Stripe expires it on schedule. */
export function checkoutSession({ store, bank }: Ctx, id: string): CheckoutSession {
  const session = store.get<CheckoutSession>("checkout.session", id);
  if (session.status === "open" && now() >= session.expires_at) {
    session.status = "expired";
    session.url = null;
    bank.emit("checkout.session.expired", session, { id: null, idempotency_key: null });
  }
  return session;
}

function expireCheckoutSession(ctx: Ctx): CheckoutSession {
  ctx.reader.allow();
  const session = checkoutSession(ctx, ctx.params[0]);
  if (session.status !== "open") {
    throw stateError(
      `Only Checkout Sessions with a status in ["open"] can be expired. This session has a status of ${session.status}.`,
    );
  }
  session.status = "expired";
  session.url = null;
  ctx.bank.emit("checkout.session.expired", session, ctx.origin);
  return session;
}

// --- payment intents and charges -----------------------------------------------------------

const DECLINING_PAYMENT_METHODS = [
  "pm_card_chargeDeclined",
  "pm_card_visa_chargeDeclined",
  "pm_card_chargeDeclinedInsufficientFunds",
];

function confirmWith(
  ctx: Ctx,
  pi: PaymentIntent,
  paymentMethod: string | undefined,
): PaymentIntent {
  if (!paymentMethod) {
    throw stateError(
      "You cannot confirm this PaymentIntent because it's missing a payment method. The local stand-in confirms with test payment methods such as pm_card_visa (succeeds) or pm_card_chargeDeclined (declined).",
      "payment_intent_unexpected_state",
    );
  }
  // A customer's intent (a subscription's invoice) pays with a saved card, or saves the test card
  // it is confirmed with when it is set up for future use, as Stripe attaches it then.
  const saved = pi.customer ? savedCardFor(ctx, pi, paymentMethod) : null;
  if (saved?.outcome === "requires_action") return requireAction(ctx, pi, saved.id);
  const outcome = saved
    ? saved.outcome
    : DECLINING_PAYMENT_METHODS.includes(paymentMethod)
    ? "failed"
    : "succeeded";
  ctx.bank.pay(pi, outcome, ctx.origin, null, saved?.id ?? null);
  if (outcome === "failed") throw ctx.bank.cardDeclined(pi);
  return pi;
}

function createPaymentIntent(ctx: Ctx): PaymentIntent {
  const r = ctx.reader;
  r.allow(
    "amount",
    "currency",
    "transfer_group",
    "metadata",
    "automatic_payment_methods",
    "payment_method_types",
    "description",
    "capture_method",
    "confirm",
    "customer",
    "receipt_email",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "setup_future_usage",
    "on_behalf_of",
    "transfer_data",
    "application_fee_amount",
    "payment_method",
    "confirmation_method",
    "shipping",
    "return_url",
    "off_session",
  );
  const amount = r.amount("amount", true);
  const currency = r.currency("currency", true);
  checkMinimum(amount, currency);
  const types = r.params.payment_method_types;
  const automatic = r.object("automatic_payment_methods");
  const pi = ctx.bank.createPaymentIntent({
    amount,
    currency,
    metadata: r.metadata(),
    transfer_group: r.string("transfer_group") || null,
    description: r.string("description") || null,
    automatic_payment_methods: types === undefined || automatic
      ? {
        allow_redirects: automatic?.string("allow_redirects") ?? "always",
        enabled: automatic?.boolean("enabled") ?? true,
      }
      : null,
    payment_method_types: Array.isArray(types) ? types.map(String) : ["card"],
    receipt_email: r.string("receipt_email") || null,
  }, ctx.origin);
  if (r.boolean("confirm")) return confirmWith(ctx, pi, r.string("payment_method"));
  return pi;
}

function updatePaymentIntent({ reader: r, store, params }: Ctx): PaymentIntent {
  r.allow(
    "amount",
    "currency",
    "metadata",
    "description",
    "transfer_group",
    "receipt_email",
    "payment_method",
    "statement_descriptor",
    "shipping",
  );
  const pi = store.get<PaymentIntent>("payment_intent", params[0]);
  const changesMoney = r.has("amount") || r.has("currency") || r.has("transfer_group");
  if (
    changesMoney &&
    !["requires_payment_method", "requires_confirmation", "requires_action"].includes(pi.status)
  ) {
    throw stateError(
      `This PaymentIntent's amount could not be updated because it has a status of ${pi.status}. You may only update the amount of a PaymentIntent with one of the following statuses: requires_payment_method, requires_confirmation, requires_action.`,
      "payment_intent_unexpected_state",
    );
  }
  const amount = r.amount("amount");
  const currency = r.currency("currency");
  if (amount !== undefined) pi.amount = amount;
  if (currency !== undefined) pi.currency = currency;
  checkMinimum(pi.amount, pi.currency);
  pi.metadata = r.metadata(pi.metadata);
  if (r.has("description")) pi.description = r.string("description") || null;
  if (r.has("transfer_group")) pi.transfer_group = r.string("transfer_group") || null;
  if (r.has("receipt_email")) pi.receipt_email = r.string("receipt_email") || null;
  return pi;
}

function confirmPaymentIntent(ctx: Ctx): PaymentIntent {
  ctx.reader.allow(
    "payment_method",
    "return_url",
    "receipt_email",
    "off_session",
    "payment_method_types",
  );
  const pi = ctx.store.get<PaymentIntent>("payment_intent", ctx.params[0]);
  return confirmWith(ctx, pi, ctx.reader.string("payment_method"));
}

function cancelPaymentIntent({ reader: r, store, bank, origin, params }: Ctx): PaymentIntent {
  r.allow("cancellation_reason");
  const pi = store.get<PaymentIntent>("payment_intent", params[0]);
  if (["succeeded", "canceled", "processing"].includes(pi.status)) {
    throw stateError(
      `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action.`,
      "payment_intent_unexpected_state",
    );
  }
  const reason = r.oneOf(
    "cancellation_reason",
    ["duplicate", "fraudulent", "requested_by_customer", "abandoned"] as const,
  );
  Object.assign(pi, {
    status: "canceled",
    canceled_at: now(),
    cancellation_reason: reason ?? null,
  });
  bank.emit("payment_intent.canceled", pi, origin);
  return pi;
}

// --- refunds, transfers, reversals ---------------------------------------------------------

function createRefund({ reader: r, store, bank, origin }: Ctx): Refund {
  r.allow(
    "charge",
    "payment_intent",
    "amount",
    "reason",
    "metadata",
    "refund_application_fee",
    "reverse_transfer",
    "instructions_email",
    "origin",
  );
  const chargeId = r.string("charge");
  const piId = r.string("payment_intent");
  if (!chargeId && !piId) {
    throw invalidParam(
      "One of the following params should be provided for this request: payment_intent or charge.",
      "charge",
      "parameter_missing",
    );
  }
  if (chargeId && piId) {
    throw invalidParam(
      "You cannot pass both payment_intent and charge. Please pass only one.",
      "payment_intent",
    );
  }
  let charge: Charge;
  if (chargeId) {
    charge = store.get<Charge>("charge", chargeId, "charge");
  } else {
    const pi = store.get<PaymentIntent>("payment_intent", piId!, "payment_intent");
    if (pi.status !== "succeeded" || !pi.latest_charge) {
      throw stateError(
        `This PaymentIntent (${pi.id}) does not have a successful charge to refund.`,
        "charge_not_refundable",
        "payment_intent",
      );
    }
    charge = store.get<Charge>("charge", pi.latest_charge);
  }
  return bank.refund(charge, {
    amount: r.amount("amount"),
    reason: r.oneOf("reason", ["duplicate", "fraudulent", "requested_by_customer"] as const) ??
      null,
    metadata: r.metadata(),
  }, origin);
}

function createTransfer({ reader: r, store, bank, origin }: Ctx): Transfer {
  r.allow(
    "amount",
    "currency",
    "destination",
    "source_transaction",
    "transfer_group",
    "metadata",
    "description",
    "source_type",
  );
  const amount = r.amount("amount", true);
  const currency = r.currency("currency", true);
  const destinationId = r.string("destination", true);
  const destination = store.find(destinationId);
  if (!destination || destination.object !== "account" || destination.deleted) {
    throw resourceMissing("destination", destinationId, "destination");
  }
  const sourceId = r.string("source_transaction");
  const source = sourceId ? store.get<Charge>("charge", sourceId, "source_transaction") : null;
  return bank.transfer({
    amount,
    currency,
    destination: destination as Account,
    source,
    transfer_group: r.string("transfer_group") || null,
    metadata: r.metadata(),
    description: r.string("description") || null,
  }, origin);
}

function updateTransfer({ reader: r, store, bank, origin, params }: Ctx): Transfer {
  r.allow("metadata", "description");
  const transfer = store.get<Transfer>("transfer", params[0]);
  return bank.update(
    transfer,
    (t) => {
      t.metadata = r.metadata(t.metadata);
      if (r.has("description")) t.description = r.string("description") || null;
    },
    "transfer.updated",
    origin,
  );
}

function createReversal({ reader: r, store, bank, origin, params }: Ctx): TransferReversal {
  r.allow("amount", "metadata", "description", "refund_application_fee");
  const transfer = store.get<Transfer>("transfer", params[0]);
  return bank.reverse(transfer, {
    amount: r.amount("amount"),
    metadata: r.metadata(),
    description: r.string("description") || null,
  }, origin);
}

// --- disputes ----------------------------------------------------------------------------

function updateDispute({ reader: r, store, bank, origin, params }: Ctx): Dispute {
  r.allow("evidence", "metadata", "submit");
  const dispute = store.get<Dispute>("dispute", params[0]);
  bank.updateDispute(dispute, (d) => {
    d.metadata = r.metadata(d.metadata as Record<string, string>);
    const evidence = r.object("evidence");
    if (evidence) {
      d.evidence = { ...(d.evidence as object), ...evidence.params };
      (d.evidence_details as Record<string, unknown>).has_evidence = true;
    }
    if (r.boolean("submit") !== false && evidence) {
      d.status = d.status.startsWith("warning") ? "warning_under_review" : "under_review";
      (d.evidence_details as Record<string, number>).submission_count += 1;
    }
  }, origin);
  return bank.withTransactions(dispute);
}

// --- lists ---------------------------------------------------------------------------------

/** A list endpoint: every object of a kind that matches the given query filters. */
function lister<T extends StripeObject>(
  kind: T["object"],
  url: string,
  filters: string[],
  extra: string[] = [],
): Handler {
  return ({ reader: r, store }) => {
    r.allow("limit", "starting_after", "ending_before", "created", ...filters, ...extra);
    const wanted = filters.filter((name) => r.has(name)).map((name) =>
      [name, r.string(name)] as const
    );
    const items = store.all<T>(kind).filter((item) =>
      wanted.every(([name, value]) => item[name] === value)
    );
    return page(url, items, r);
  };
}

function listEvents({ reader: r, webhooks }: Ctx) {
  r.allow(
    "limit",
    "starting_after",
    "ending_before",
    "created",
    "type",
    "types",
    "delivery_success",
  );
  const type = r.string("type");
  const types = r.params.types;
  const typeList = Array.isArray(types) ? types.map(String) : null;
  const matches = (event: StripeEvent) => {
    if (type) {
      const pattern = new RegExp(`^${type.replace(/[.]/g, "\\.").replace(/\*/g, ".*")}$`);
      if (!pattern.test(event.type)) return false;
    }
    return !typeList || typeList.includes(event.type);
  };
  return page("/v1/events", [...webhooks.events].reverse().filter(matches), r);
}

function balance({ reader: r, store }: Ctx) {
  r.allow();
  const totals = new Map<string, number>();
  for (const txn of store.all<BalanceTransaction>("balance_transaction")) {
    totals.set(txn.currency, (totals.get(txn.currency) ?? 0) + txn.net);
  }
  const entries = [...totals].map(([currency, amount]) => ({
    amount,
    currency,
    source_types: { card: amount },
  }));
  return {
    object: "balance",
    available: entries.length
      ? entries
      : [{ amount: 0, currency: "usd", source_types: { card: 0 } }],
    livemode: false,
    pending: entries.map(({ currency }) => ({ amount: 0, currency, source_types: { card: 0 } })),
  };
}

const get = <T extends StripeObject>(kind: T["object"]): Handler => ({ reader, store, params }) => {
  reader.allow();
  return store.get<T>(kind, params[0]);
};

const ID = "([A-Za-z0-9_]+)";

export const apiRoutes: Route[] = [
  ["POST", /^\/v1\/accounts$/, createAccount],
  ["GET", /^\/v1\/accounts$/, lister<Account>("account", "/v1/accounts", [])],
  ["GET", new RegExp(`^/v1/accounts/${ID}$`), get<Account>("account")],
  ["POST", new RegExp(`^/v1/accounts/${ID}$`), updateAccount],
  ["DELETE", new RegExp(`^/v1/accounts/${ID}$`), deleteAccount],
  ["POST", /^\/v1\/account_links$/, createAccountLink],

  ["POST", /^\/v1\/checkout\/sessions$/, createCheckoutSession],
  [
    "GET",
    /^\/v1\/checkout\/sessions$/,
    lister<CheckoutSession>("checkout.session", "/v1/checkout/sessions", [
      "payment_intent",
      "status",
      "customer",
      "client_reference_id",
      "subscription",
    ]),
  ],
  ["GET", new RegExp(`^/v1/checkout/sessions/${ID}$`), (ctx) => {
    ctx.reader.allow();
    return checkoutSession(ctx, ctx.params[0]);
  }],
  ["GET", new RegExp(`^/v1/checkout/sessions/${ID}/line_items$`), ({ reader, store, params }) => {
    reader.allow("limit", "starting_after", "ending_before");
    store.get<CheckoutSession>("checkout.session", params[0]);
    return page(
      `/v1/checkout/sessions/${params[0]}/line_items`,
      store.sessions.get(params[0])?.lineItems ?? [],
      reader,
    );
  }],
  ["POST", new RegExp(`^/v1/checkout/sessions/${ID}/expire$`), expireCheckoutSession],

  ["POST", /^\/v1\/payment_intents$/, createPaymentIntent],
  [
    "GET",
    /^\/v1\/payment_intents$/,
    lister<PaymentIntent>("payment_intent", "/v1/payment_intents", ["customer"]),
  ],
  ["GET", new RegExp(`^/v1/payment_intents/${ID}$`), get<PaymentIntent>("payment_intent")],
  ["POST", new RegExp(`^/v1/payment_intents/${ID}$`), updatePaymentIntent],
  ["POST", new RegExp(`^/v1/payment_intents/${ID}/confirm$`), confirmPaymentIntent],
  ["POST", new RegExp(`^/v1/payment_intents/${ID}/cancel$`), cancelPaymentIntent],

  [
    "GET",
    /^\/v1\/charges$/,
    lister<Charge>("charge", "/v1/charges", ["payment_intent", "transfer_group", "customer"]),
  ],
  ["GET", new RegExp(`^/v1/charges/${ID}$`), get<Charge>("charge")],
  [
    "GET",
    /^\/v1\/balance_transactions$/,
    lister<BalanceTransaction>("balance_transaction", "/v1/balance_transactions", [
      "source",
      "type",
      "currency",
    ]),
  ],
  [
    "GET",
    new RegExp(`^/v1/balance_transactions/${ID}$`),
    get<BalanceTransaction>("balance_transaction"),
  ],
  ["GET", /^\/v1\/balance$/, balance],

  ["POST", /^\/v1\/refunds$/, createRefund],
  ["GET", /^\/v1\/refunds$/, lister<Refund>("refund", "/v1/refunds", ["charge", "payment_intent"])],
  ["GET", new RegExp(`^/v1/refunds/${ID}$`), get<Refund>("refund")],
  ["POST", new RegExp(`^/v1/refunds/${ID}$`), ({ reader: r, store, bank, origin, params }) => {
    r.allow("metadata");
    const refund = store.get<Refund>("refund", params[0]);
    return bank.update(
      refund,
      (x) => {
        x.metadata = r.metadata(x.metadata);
      },
      "refund.updated",
      origin,
    );
  }],

  ["POST", /^\/v1\/transfers$/, createTransfer],
  [
    "GET",
    /^\/v1\/transfers$/,
    lister<Transfer>("transfer", "/v1/transfers", ["transfer_group", "destination"]),
  ],
  ["GET", new RegExp(`^/v1/transfers/${ID}$`), get<Transfer>("transfer")],
  ["POST", new RegExp(`^/v1/transfers/${ID}$`), updateTransfer],
  ["POST", new RegExp(`^/v1/transfers/${ID}/reversals$`), createReversal],
  ["GET", new RegExp(`^/v1/transfers/${ID}/reversals$`), ({ reader, store, params }) => {
    reader.allow("limit", "starting_after", "ending_before");
    store.get<Transfer>("transfer", params[0]);
    const reversals = store.all<TransferReversal>("transfer_reversal").filter((r) =>
      r.transfer === params[0]
    );
    return page(`/v1/transfers/${params[0]}/reversals`, reversals, reader);
  }],
  ["GET", new RegExp(`^/v1/transfers/${ID}/reversals/${ID}$`), ({ reader, store, params }) => {
    reader.allow();
    const reversal = store.get<TransferReversal>("transfer_reversal", params[1]);
    if (reversal.transfer !== params[0]) throw resourceMissing("transfer_reversal", params[1]);
    return reversal;
  }],

  ["GET", /^\/v1\/disputes$/, (ctx) => {
    const list = lister<Dispute>("dispute", "/v1/disputes", ["charge", "payment_intent"])(ctx) as {
      data: Dispute[];
    };
    return { ...list, data: list.data.map((d) => ctx.bank.withTransactions(d)) };
  }],
  ["GET", new RegExp(`^/v1/disputes/${ID}$`), ({ reader, store, bank, params }) => {
    reader.allow();
    return bank.withTransactions(store.get<Dispute>("dispute", params[0]));
  }],
  ["POST", new RegExp(`^/v1/disputes/${ID}$`), updateDispute],
  ["POST", new RegExp(`^/v1/disputes/${ID}/close$`), ({ reader, store, bank, origin, params }) => {
    reader.allow();
    return bank.withTransactions(
      bank.closeDispute(store.get<Dispute>("dispute", params[0]), "lost", origin),
    );
  }],

  ["GET", /^\/v1\/events$/, listEvents],
  ...billingRoutes,
  ["GET", new RegExp(`^/v1/events/${ID}$`), ({ reader, webhooks, params }) => {
    reader.allow();
    const event = webhooks.event(params[0]);
    if (!event) throw resourceMissing("event", params[0]);
    return event;
  }],
];
