// Stripe Billing in the stand-in: customers and their saved cards, products, prices,
// subscriptions (every status Stripe has), invoices with their payments, proration and the
// preview of the next invoice, and Checkout in subscription mode. Shapes follow the API version
// the pinned SDK sends (stripe@23.1.0, 2026-10-28.endive): billing periods live on subscription
// items (`items.data[].current_period_start/end`), an invoice names its subscription under
// `parent.subscription_details.subscription`, its payments are `invoice_payment` objects
// (`expand[]=payments`), and the client secret for Elements is `confirmation_secret`
// (`expand[]=latest_invoice.confirmation_secret`).
//
// Time: each subscription has its own simulated clock (real time plus what /_test/ advanced
// it by), so renewals, trials and prorations can be exercised without waiting. Events are
// stamped with real time, as Stripe stamps them.
//
// Simplifications: one currency per customer, no taxes, discounts or tiers; payment retries
// happen only when a test asks (/_test/invoices/:id/retry); every saved card is a Visa.

import type { Bank, Origin } from "./bank.ts";
import { NO_REQUEST } from "./bank.ts";
import { invalidParam, missingParam, resourceMissing, stateError, StripeError } from "./errors.ts";
import { type Metadata, Reader } from "./params.ts";
import {
  type Charge,
  newId,
  now,
  page,
  type PaymentIntent,
  randomString,
  type Store,
  type StripeObject,
} from "./state.ts";

// --- objects -------------------------------------------------------------------------------

export interface Customer extends StripeObject {
  object: "customer";
  balance: number;
  email: string | null;
  name: string | null;
  invoice_prefix: string;
  next_invoice_sequence: number;
  invoice_settings: { default_payment_method: string | null; [field: string]: unknown };
  metadata: Metadata;
  deleted?: true;
}

export interface PaymentMethod extends StripeObject {
  object: "payment_method";
  customer: string | null;
  type: "card";
}

export interface Product extends StripeObject {
  object: "product";
  active: boolean;
  name: string;
  metadata: Metadata;
  updated: number;
  deleted?: true;
}

export interface Price extends StripeObject {
  object: "price";
  active: boolean;
  currency: string;
  lookup_key: string | null;
  metadata: Metadata;
  nickname: string | null;
  product: string;
  recurring: { interval: Interval; interval_count: number; [field: string]: unknown } | null;
  type: "one_time" | "recurring";
  unit_amount: number;
}

export type Interval = "day" | "week" | "month" | "year";

export interface SubscriptionItem {
  id: string;
  object: "subscription_item";
  created: number;
  current_period_start: number;
  current_period_end: number;
  price: Price;
  quantity: number;
  subscription: string;
  [field: string]: unknown;
}

export type SubscriptionStatus =
  | "incomplete"
  | "incomplete_expired"
  | "trialing"
  | "active"
  | "past_due"
  | "canceled"
  | "unpaid"
  | "paused";

export interface Subscription extends StripeObject {
  object: "subscription";
  status: SubscriptionStatus;
  customer: string;
  currency: string;
  items: {
    object: "list";
    data: SubscriptionItem[];
    has_more: false;
    total_count: number;
    url: string;
  };
  latest_invoice: string | null;
  default_payment_method: string | null;
  cancel_at: number | null;
  cancel_at_period_end: boolean;
  canceled_at: number | null;
  ended_at: number | null;
  trial_start: number | null;
  trial_end: number | null;
  pause_collection: {
    behavior: "keep_as_draft" | "mark_uncollectible" | "void";
    resumes_at: number | null;
  } | null;
  metadata: Metadata;
  status_details?: Record<string, unknown>;
}

export type InvoiceStatus = "draft" | "open" | "paid" | "void" | "uncollectible";

export interface InvoiceLine {
  id: string;
  object: "line_item";
  amount: number;
  currency: string;
  description: string;
  period: { start: number; end: number };
  quantity: number;
  [field: string]: unknown;
}

export interface Invoice extends StripeObject {
  object: "invoice";
  status: InvoiceStatus;
  customer: string;
  currency: string;
  amount_due: number;
  amount_paid: number;
  amount_remaining: number;
  attempt_count: number;
  attempted: boolean;
  billing_reason: string;
  lines: { object: "list"; data: InvoiceLine[]; has_more: false; total_count: number; url: string };
  number: string | null;
  parent: {
    subscription_details: { subscription: string; metadata: Metadata } | null;
    [f: string]: unknown;
  } | null;
  period_start: number;
  period_end: number;
  starting_balance: number;
  ending_balance: number | null;
  subtotal: number;
  total: number;
  status_transitions: {
    finalized_at: number | null;
    marked_uncollectible_at: number | null;
    paid_at: number | null;
    voided_at: number | null;
  };
  metadata: Metadata;
}

export interface InvoicePayment extends StripeObject {
  object: "invoice_payment";
  invoice: string;
  amount_paid: number | null;
  amount_requested: number;
  status: "open" | "paid" | "canceled";
  payment: { type: "payment_intent"; payment_intent: string; charge?: string };
}

/** What the stand-in keeps beside a subscription and does not show. */
interface SubscriptionState {
  /** Seconds the subscription's clock is ahead of real time. */
  offset: number;
  /** Proration lines waiting for the next invoice. */
  pending: InvoiceLine[];
  trialWillEndSent: boolean;
  upcomingSent: boolean;
  endBehavior: "pause" | "cancel" | "create_invoice";
  saveDefault: boolean;
  /** A `payment_behavior=pending_if_incomplete` change waiting for its invoice to be paid. */
  pendingInvoice: string | null;
  pendingChanges: ItemRequest[] | null;
}

/** How a saved card behaves when charged (the test card it was made from). */
type CardBehaviour = "succeeded" | "failed" | "requires_action";

export class BillingState {
  readonly subscriptions = new Map<string, SubscriptionState>();
  readonly cards = new Map<string, CardBehaviour>();
  /** Invoice id by its payment intent's id. */
  readonly invoiceOfIntent = new Map<string, string>();
  /** The payment intent of an invoice. */
  readonly intentOfInvoice = new Map<string, string>();
}

// --- helpers -------------------------------------------------------------------------------

export interface BillingCtx {
  bank: Bank;
  store: Store;
  reader: Reader;
  origin: Origin;
  baseUrl: string;
  params: string[];
}

function billing(store: Store): BillingState {
  const holder = store as unknown as { billing?: BillingState };
  holder.billing ??= new BillingState();
  return holder.billing;
}

function subState(store: Store, id: string): SubscriptionState {
  const state = billing(store).subscriptions.get(id);
  if (!state) throw resourceMissing("subscription", id);
  return state;
}

/** The subscription's clock: real time plus what tests advanced it by. */
function clock(store: Store, sub: Subscription): number {
  return now() + subState(store, sub.id).offset;
}

/** Adds `count` intervals to a Unix time, month ends clamped as Stripe clamps them (Jan 31 → Feb 28). */
export function addInterval(time: number, interval: Interval, count: number): number {
  const date = new Date(time * 1000);
  if (interval === "day") return time + count * 86400;
  if (interval === "week") return time + count * 7 * 86400;
  const months = interval === "month" ? count : count * 12;
  const day = date.getUTCDate();
  const target = new Date(Date.UTC(
    date.getUTCFullYear(),
    date.getUTCMonth() + months,
    1,
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
  ));
  const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0))
    .getUTCDate();
  target.setUTCDate(Math.min(day, last));
  return Math.floor(target.getTime() / 1000);
}

function periodOf(sub: Subscription): { start: number; end: number } {
  const item = sub.items.data[0];
  return { start: item.current_period_start, end: item.current_period_end };
}

function customerOf(store: Store, id: string, param = "customer"): Customer {
  const customer = store.get<Customer>("customer", id, param);
  if (customer.deleted) throw resourceMissing("customer", id, param);
  return customer;
}

/** Stripe's ids are unique across kinds; a found object of another kind is still "No such …". */
function priceOf(store: Store, id: string, param: string): Price {
  return store.get<Price>("price", id, param);
}

function productName(store: Store, price: Price): string {
  const product = store.find(price.product) as Product | undefined;
  return product?.name ?? price.product;
}

function emit(
  ctx: { bank: Bank },
  type: string,
  object: StripeObject,
  origin: Origin,
  previous?: Record<string, unknown>,
) {
  ctx.bank.emit(type, object, origin, previous);
}

/** Runs a change on an object and sends `type` with `previous_attributes` if anything changed. */
function update<T extends StripeObject>(
  ctx: { bank: Bank },
  object: T,
  type: string,
  origin: Origin,
  change: (o: T) => void,
): T {
  return ctx.bank.update(object, change, type, origin);
}

// --- customers -----------------------------------------------------------------------------

function createCustomer({ reader: r, store, bank, origin }: BillingCtx): Customer {
  r.allow(
    "email",
    "name",
    "description",
    "metadata",
    "phone",
    "address",
    "payment_method",
    "invoice_settings",
    "preferred_locales",
    "shipping",
    "tax_exempt",
    "invoice_prefix",
  );
  const prefix = r.string("invoice_prefix") ??
    randomString(8).toUpperCase().replace(/[^A-Z0-9]/g, "X");
  if (!/^[A-Z0-9]{3,12}$/.test(prefix)) {
    throw invalidParam(
      "Invoice prefix must be 3-12 uppercase letters or numbers.",
      "invoice_prefix",
    );
  }
  const customer = store.put<Customer>({
    id: newId("cus").slice(0, 18),
    object: "customer",
    address: null,
    balance: 0,
    created: now(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: r.string("description") || null,
    discount: null,
    email: r.string("email") || null,
    invoice_prefix: prefix,
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: r.metadata(),
    name: r.string("name") || null,
    next_invoice_sequence: 1,
    phone: r.string("phone") || null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: "none",
    test_clock: null,
  });
  const settings = r.object("invoice_settings");
  settings?.allow("default_payment_method", "custom_fields", "footer", "rendering_options");
  emit({ bank }, "customer.created", customer, origin);
  const pm = r.string("payment_method");
  if (pm) attach({ store, bank }, pm, customer, origin, "payment_method");
  const defaultPm = settings?.string("default_payment_method");
  if (defaultPm) {
    const found = ownPaymentMethod(
      store,
      customer,
      defaultPm,
      "invoice_settings[default_payment_method]",
    );
    update({ bank }, customer, "customer.updated", origin, (c) => {
      c.invoice_settings = { ...c.invoice_settings, default_payment_method: found.id };
    });
  }
  return customer;
}

function updateCustomer({ reader: r, store, bank, origin, params }: BillingCtx): Customer {
  r.allow(
    "email",
    "name",
    "description",
    "metadata",
    "phone",
    "address",
    "invoice_settings",
    "preferred_locales",
    "shipping",
    "tax_exempt",
    "balance",
  );
  const customer = customerOf(store, params[0], "id");
  const settings = r.object("invoice_settings");
  settings?.allow("default_payment_method", "custom_fields", "footer", "rendering_options");
  let defaultPm: string | null | undefined;
  if (settings?.has("default_payment_method")) {
    const id = settings.string("default_payment_method");
    defaultPm = id
      ? ownPaymentMethod(store, customer, id, "invoice_settings[default_payment_method]").id
      : null;
  }
  return update({ bank }, customer, "customer.updated", origin, (c) => {
    if (r.has("email")) c.email = r.string("email") || null;
    if (r.has("name")) c.name = r.string("name") || null;
    if (r.has("description")) c.description = r.string("description") || null;
    if (r.has("phone")) c.phone = r.string("phone") || null;
    if (r.has("balance")) c.balance = r.integer("balance") ?? 0;
    c.metadata = r.metadata(c.metadata);
    if (defaultPm !== undefined) {
      c.invoice_settings = { ...c.invoice_settings, default_payment_method: defaultPm };
    }
  });
}

function deleteCustomer({ reader, store, bank, origin, params }: BillingCtx) {
  reader.allow();
  const customer = customerOf(store, params[0], "id");
  for (const sub of store.all<Subscription>("subscription")) {
    if (sub.customer === customer.id && !["canceled", "incomplete_expired"].includes(sub.status)) {
      endSubscription({ store, bank }, sub, origin, "cancellation_requested");
    }
  }
  customer.deleted = true;
  emit({ bank }, "customer.deleted", customer, origin);
  return { id: customer.id, object: "customer", deleted: true };
}

function getCustomer({ reader, store, params }: BillingCtx) {
  reader.allow();
  const customer = store.get<Customer>("customer", params[0]);
  // Stripe answers a deleted customer's id with the deletion stub.
  return customer.deleted ? { id: customer.id, object: "customer", deleted: true } : customer;
}

function listCustomers({ reader: r, store }: BillingCtx) {
  r.allow("limit", "starting_after", "ending_before", "created", "email", "test_clock");
  const email = r.string("email");
  const items = store.all<Customer>("customer").filter((c) =>
    !c.deleted && (email === undefined || c.email === email)
  );
  return page("/v1/customers", items, r);
}

// --- payment methods -----------------------------------------------------------------------

/** Stripe's test payment methods a test may attach, and how the card behaves when charged. */
const TEST_CARDS: Record<
  string,
  { behaviour: CardBehaviour | "decline_on_attach"; last4: string }
> = {
  pm_card_visa: { behaviour: "succeeded", last4: "4242" },
  pm_card_mastercard: { behaviour: "succeeded", last4: "4444" },
  pm_card_chargeCustomerFail: { behaviour: "failed", last4: "0341" },
  pm_card_chargeDeclined: { behaviour: "decline_on_attach", last4: "0002" },
  pm_card_authenticationRequired: { behaviour: "requires_action", last4: "3184" },
};

function ownPaymentMethod(
  store: Store,
  customer: Customer,
  id: string,
  param: string,
): PaymentMethod {
  const pm = store.find(id);
  if (!pm || pm.object !== "payment_method" || (pm as PaymentMethod).customer !== customer.id) {
    throw invalidParam(
      `The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`,
      param,
      "resource_missing",
    );
  }
  return pm as PaymentMethod;
}

/** Attaches a test card (`pm_card_visa` …) to a customer: a new `pm_` saved card; events as Stripe's. */
export function attach(
  ctx: { store: Store; bank: Bank },
  testCard: string,
  customer: Customer,
  origin: Origin,
  param = "payment_method",
): PaymentMethod {
  const existing = ctx.store.find(testCard) as PaymentMethod | undefined;
  if (existing?.object === "payment_method") {
    if (existing.customer && existing.customer !== customer.id) {
      throw stateError(
        "The payment method you provided has already been attached to a customer.",
        "payment_method_unexpected_state",
        param,
      );
    }
    return update(ctx, existing, "payment_method.updated", origin, (pm) => {
      pm.customer = customer.id;
    });
  }
  const card = TEST_CARDS[testCard];
  if (!card) throw resourceMissing("PaymentMethod", testCard, param);
  if (card.behaviour === "decline_on_attach") {
    throw new StripeError(
      402,
      "card_error",
      "Your card was declined.",
      "card_declined",
      param,
      true,
      {
        decline_code: "generic_decline",
      },
    );
  }
  const created = now();
  const pm = ctx.store.put<PaymentMethod>({
    id: newId("pm"),
    object: "payment_method",
    allow_redisplay: "unspecified",
    billing_details: {
      address: {
        city: null,
        country: null,
        line1: null,
        line2: null,
        postal_code: null,
        state: null,
      },
      email: customer.email,
      name: customer.name,
      phone: null,
      tax_id: null,
    },
    card: {
      brand: testCard === "pm_card_mastercard" ? "mastercard" : "visa",
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: "pass" },
      country: "US",
      display_brand: testCard === "pm_card_mastercard" ? "mastercard" : "visa",
      exp_month: 12,
      exp_year: new Date().getUTCFullYear() + 3,
      fingerprint: randomString(16),
      funding: "credit",
      generated_from: null,
      last4: card.last4,
      networks: { available: ["visa"], preferred: null },
      regulated_status: "unregulated",
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created,
    customer: customer.id,
    customer_account: null,
    livemode: false,
    metadata: {},
    type: "card",
  });
  billing(ctx.store).cards.set(pm.id, card.behaviour);
  emit(ctx, "payment_method.attached", pm, origin);
  return pm;
}

/**
 * The saved card a customer's intent is confirmed with: a `pm_` of that customer, or a test card
 * attached now when the intent saves it (`setup_future_usage`); null for a one-off test card.
 */
export function savedCardFor(
  ctx: { store: Store; bank: Bank; origin: Origin },
  pi: PaymentIntent,
  paymentMethod: string,
): { id: string; outcome: CardBehaviour } | null {
  const customer = ctx.store.get<Customer>("customer", pi.customer as string);
  let pm = ctx.store.find(paymentMethod) as PaymentMethod | undefined;
  if (pm?.object === "payment_method") {
    ownPaymentMethod(ctx.store, customer, paymentMethod, "payment_method");
  } else if (pi.setup_future_usage && TEST_CARDS[paymentMethod]) {
    pm = attach(ctx, paymentMethod, customer, ctx.origin);
  } else return null;
  return { id: pm.id, outcome: cardBehaviour(ctx.store, pm.id) };
}

/**
 * A customer's intent confirmed with a card that needs 3-D Secure: Stripe answers the intent in
 * `requires_action` (`next_action.type: use_stripe_sdk`) for the client to authenticate with
 * Stripe.js, without an error; an invoice's intent also sends `invoice.payment_action_required`.
 */
export function requireAction(
  ctx: { store: Store; bank: Bank; origin: Origin },
  pi: PaymentIntent,
  paymentMethod: string,
): PaymentIntent {
  Object.assign(pi, {
    status: "requires_action",
    payment_method: paymentMethod,
    next_action: { type: "use_stripe_sdk", use_stripe_sdk: { type: "three_d_secure_redirect" } },
    last_payment_error: null,
  });
  emit(ctx, "payment_intent.requires_action", pi, ctx.origin);
  const invoiceId = billing(ctx.store).invoiceOfIntent.get(pi.id);
  if (invoiceId) {
    const invoice = ctx.store.get<Invoice>("invoice", invoiceId);
    emit(ctx, "invoice.payment_action_required", invoice, ctx.origin);
  }
  return pi;
}

function attachRoute({ reader: r, store, bank, origin, params }: BillingCtx): PaymentMethod {
  r.allow("customer", "customer_account");
  const customer = customerOf(store, r.string("customer", true));
  return attach({ store, bank }, params[0], customer, origin, "payment_method");
}

function detachRoute({ reader: r, store, bank, origin, params }: BillingCtx): PaymentMethod {
  r.allow();
  const pm = store.get<PaymentMethod>("payment_method", params[0], "payment_method");
  if (!pm.customer) {
    throw stateError(
      "The payment method you provided is not attached to a customer so detachment is impossible.",
      "payment_method_unexpected_state",
    );
  }
  const customer = store.get<Customer>("customer", pm.customer);
  if (customer.invoice_settings.default_payment_method === pm.id) {
    update({ bank }, customer, "customer.updated", origin, (c) => {
      c.invoice_settings = { ...c.invoice_settings, default_payment_method: null };
    });
  }
  const previous = { customer: pm.customer };
  pm.customer = null;
  emit({ bank }, "payment_method.detached", pm, origin, previous);
  return pm;
}

// --- products and prices -------------------------------------------------------------------

function createProduct({ reader: r, store, bank, origin }: BillingCtx): Product {
  r.allow(
    "id",
    "name",
    "active",
    "description",
    "metadata",
    "images",
    "marketing_features",
    "statement_descriptor",
    "tax_code",
    "unit_label",
    "url",
    "shippable",
    "default_price_data",
  );
  const id = r.string("id") || newId("prod").slice(0, 19);
  if (store.find(id)) {
    throw invalidParam(`Product already exists.`, "id", "resource_already_exists");
  }
  const created = now();
  const product = store.put<Product>({
    id,
    object: "product",
    active: r.boolean("active") ?? true,
    created,
    default_price: null,
    description: r.string("description") || null,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: r.metadata(),
    name: r.string("name", true),
    package_dimensions: null,
    shippable: null,
    statement_descriptor: null,
    tax_code: null,
    tax_details: null,
    type: "service",
    unit_label: null,
    updated: created,
    url: null,
  });
  emit({ bank }, "product.created", product, origin);
  return product;
}

function updateProduct({ reader: r, store, bank, origin, params }: BillingCtx): Product {
  r.allow(
    "name",
    "active",
    "description",
    "metadata",
    "images",
    "marketing_features",
    "default_price",
    "statement_descriptor",
    "tax_code",
    "unit_label",
    "url",
    "shippable",
  );
  const product = store.get<Product>("product", params[0]);
  if (product.deleted) throw resourceMissing("product", params[0]);
  const defaultPrice = r.string("default_price");
  if (defaultPrice) {
    const price = priceOf(store, defaultPrice, "default_price");
    if (price.product !== product.id) {
      throw invalidParam(
        `The price ${defaultPrice} does not belong to this product.`,
        "default_price",
      );
    }
  }
  if (r.has("name") && !r.string("name")) r.string("name", true);
  return update({ bank }, product, "product.updated", origin, (p) => {
    if (r.has("name")) p.name = r.string("name")!;
    if (r.has("active")) p.active = r.boolean("active") ?? p.active;
    if (r.has("description")) p.description = r.string("description") || null;
    if (r.has("default_price")) p.default_price = defaultPrice || null;
    p.metadata = r.metadata(p.metadata);
    p.updated = now();
  });
}

function deleteProduct({ reader, store, bank, origin, params }: BillingCtx) {
  reader.allow();
  const product = store.get<Product>("product", params[0]);
  if (product.deleted) throw resourceMissing("product", params[0]);
  if (store.all<Price>("price").some((price) => price.product === product.id)) {
    throw stateError(
      "This product cannot be deleted because it has one or more user-created prices.",
    );
  }
  product.deleted = true;
  emit({ bank }, "product.deleted", product, origin);
  return { id: product.id, object: "product", deleted: true };
}

const INTERVAL_MAX: Record<Interval, number> = { day: 365, week: 52, month: 12, year: 1 };

function createPrice({ reader: r, store, bank, origin }: BillingCtx): Price {
  r.allow(
    "currency",
    "unit_amount",
    "unit_amount_decimal",
    "product",
    "product_data",
    "recurring",
    "active",
    "metadata",
    "nickname",
    "lookup_key",
    "transfer_lookup_key",
    "tax_behavior",
    "billing_scheme",
    "currency_options",
    "custom_unit_amount",
    "tiers",
    "tiers_mode",
    "transform_quantity",
  );
  const currency = r.currency("currency", true);
  const unitAmount = r.integer("unit_amount");
  if (unitAmount === undefined) throw missingParam("unit_amount");
  if (unitAmount < 0) {
    throw invalidParam(
      "This value must be greater than or equal to 0.",
      "unit_amount",
      "parameter_invalid_integer",
    );
  }
  let productId = r.string("product");
  const productData = r.object("product_data");
  if (!productId && !productData) throw missingParam("product");
  if (productId && productData) {
    throw invalidParam(
      "You may only specify one of these parameters: product, product_data.",
      "product",
      "parameters_exclusive",
    );
  }
  if (productId) {
    const product = store.get<Product>("product", productId, "product");
    if (product.deleted) throw resourceMissing("product", productId, "product");
  }
  const recurring = r.object("recurring");
  let recurringValue: Price["recurring"] = null;
  if (recurring) {
    recurring.allow("interval", "interval_count", "usage_type", "meter", "trial_period_days");
    const interval = recurring.oneOf("interval", ["day", "week", "month", "year"] as const, true);
    const count = recurring.integer("interval_count") ?? 1;
    if (count < 1 || count > INTERVAL_MAX[interval]) {
      throw invalidParam(
        "Invalid recurring interval: the maximum interval is one year (1 year, 12 months, 52 weeks or 365 days).",
        "recurring[interval_count]",
      );
    }
    recurringValue = {
      interval,
      interval_count: count,
      meter: null,
      trial_period_days: null,
      usage_type: "licensed",
    };
  }
  const lookupKey = r.string("lookup_key") || null;
  const transfer = r.boolean("transfer_lookup_key") ?? false;
  const holder = lookupKey
    ? store.all<Price>("price").find((p) => p.lookup_key === lookupKey)
    : undefined;
  if (holder && !transfer) {
    throw invalidParam(
      `A price (\`${holder.id}\`) already uses that lookup key.`,
      "lookup_key",
    );
  }
  if (productData) {
    productData.allow(
      "name",
      "active",
      "metadata",
      "statement_descriptor",
      "tax_code",
      "unit_label",
    );
    const product = createProduct({
      reader: productData,
      store,
      bank,
      origin,
      baseUrl: "",
      params: [],
    });
    productId = product.id;
  }
  const created = now();
  if (holder) {
    update({ bank }, holder, "price.updated", origin, (p) => {
      p.lookup_key = null;
    });
  }
  const price = store.put<Price>({
    id: newId("price"),
    object: "price",
    active: r.boolean("active") ?? true,
    billing_scheme: "per_unit",
    created,
    currency,
    custom_unit_amount: null,
    livemode: false,
    lookup_key: lookupKey,
    metadata: r.metadata(),
    nickname: r.string("nickname") || null,
    product: productId!,
    recurring: recurringValue,
    tax_behavior: r.oneOf("tax_behavior", ["exclusive", "inclusive", "unspecified"] as const) ??
      "unspecified",
    tiers_mode: null,
    transform_quantity: null,
    type: recurringValue ? "recurring" : "one_time",
    unit_amount: unitAmount,
    unit_amount_decimal: String(unitAmount),
  });
  emit({ bank }, "price.created", price, origin);
  return price;
}

/** Prices are immutable but for these: anything else (`unit_amount`, `currency`, …) is `parameter_unknown`. */
function updatePrice({ reader: r, store, bank, origin, params }: BillingCtx): Price {
  r.allow(
    "active",
    "metadata",
    "nickname",
    "lookup_key",
    "transfer_lookup_key",
    "tax_behavior",
    "currency_options",
  );
  const price = priceOf(store, params[0], "price");
  const lookupKey = r.has("lookup_key") ? r.string("lookup_key") || null : undefined;
  const transfer = r.boolean("transfer_lookup_key") ?? false;
  const holder = lookupKey
    ? store.all<Price>("price").find((p) => p.lookup_key === lookupKey && p.id !== price.id)
    : undefined;
  if (holder && !transfer) {
    throw invalidParam(`A price (\`${holder.id}\`) already uses that lookup key.`, "lookup_key");
  }
  if (holder) {
    update({ bank }, holder, "price.updated", origin, (p) => {
      p.lookup_key = null;
    });
  }
  return update({ bank }, price, "price.updated", origin, (p) => {
    if (r.has("active")) p.active = r.boolean("active") ?? p.active;
    if (r.has("nickname")) p.nickname = r.string("nickname") || null;
    if (lookupKey !== undefined) p.lookup_key = lookupKey;
    p.metadata = r.metadata(p.metadata);
  });
}

function listPrices({ reader: r, store }: BillingCtx) {
  r.allow(
    "limit",
    "starting_after",
    "ending_before",
    "created",
    "active",
    "product",
    "currency",
    "type",
    "lookup_keys",
    "recurring",
  );
  const active = r.boolean("active");
  const product = r.string("product");
  const currency = r.currency("currency");
  const type = r.oneOf("type", ["one_time", "recurring"] as const);
  const keys = r.params.lookup_keys;
  const lookupKeys = keys === undefined ? null : (Array.isArray(keys) ? keys : [keys]).map(String);
  const recurring = r.object("recurring");
  recurring?.allow("interval", "usage_type", "meter");
  const interval = recurring?.oneOf("interval", ["day", "week", "month", "year"] as const);
  const items = store.all<Price>("price").filter((p) =>
    (active === undefined || p.active === active) &&
    (!product || p.product === product) &&
    (!currency || p.currency === currency) &&
    (!type || p.type === type) &&
    (!lookupKeys || (p.lookup_key !== null && lookupKeys.includes(p.lookup_key))) &&
    (!interval || p.recurring?.interval === interval)
  );
  return page("/v1/prices", items, r);
}

function listProducts({ reader: r, store }: BillingCtx) {
  r.allow(
    "limit",
    "starting_after",
    "ending_before",
    "created",
    "active",
    "ids",
    "shippable",
    "url",
  );
  const active = r.boolean("active");
  const ids = r.params.ids;
  const idList = ids === undefined ? null : (Array.isArray(ids) ? ids : [ids]).map(String);
  const items = store.all<Product>("product").filter((p) =>
    !p.deleted && (active === undefined || p.active === active) &&
    (!idList || idList.includes(p.id))
  );
  return page("/v1/products", items, r);
}

// --- subscriptions -------------------------------------------------------------------------

function planOf(price: Price) {
  return {
    id: price.id,
    object: "plan",
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: String(price.unit_amount),
    billing_scheme: "per_unit",
    created: price.created,
    currency: price.currency,
    interval: price.recurring!.interval,
    interval_count: price.recurring!.interval_count,
    livemode: false,
    metadata: price.metadata,
    meter: null,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: "licensed",
  };
}

function item(
  subscription: string,
  price: Price,
  quantity: number,
  start: number,
  end: number,
): SubscriptionItem {
  return {
    id: newId("si").slice(0, 17),
    object: "subscription_item",
    billing_thresholds: null,
    created: now(),
    current_period_end: end,
    current_period_start: start,
    discounts: [],
    metadata: {},
    plan: planOf(price),
    price: structuredClone(price),
    quantity,
    subscription,
    tax_rates: [],
  };
}

interface ItemRequest {
  price: Price;
  quantity: number;
}

function readItems(r: Reader, store: Store, param = "items"): ItemRequest[] {
  const items = r.objects(param);
  return items.map((entry, index) => {
    entry.allow(
      "price",
      "quantity",
      "metadata",
      "price_data",
      "discounts",
      "tax_rates",
      "billing_thresholds",
      "id",
      "deleted",
      "clear_usage",
    );
    const price = priceOf(store, entry.string("price", true), `${param}[${index}][price]`);
    if (!price.active) {
      throw invalidParam(
        `The price specified is inactive. This field only accepts active prices.`,
        `${param}[${index}][price]`,
      );
    }
    if (!price.recurring) {
      throw invalidParam(
        `The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`,
        `${param}[${index}][price]`,
      );
    }
    return { price, quantity: entry.amount("quantity") ?? 1 };
  });
}

function checkSameInterval(items: ItemRequest[], param: string) {
  const first = items[0].price;
  for (const { price } of items) {
    if (
      price.currency !== first.currency ||
      price.recurring!.interval !== first.recurring!.interval ||
      price.recurring!.interval_count !== first.recurring!.interval_count
    ) {
      throw invalidParam(
        "The price specified has a different currency or billing interval from the other prices on this subscription.",
        param,
      );
    }
  }
}

interface NewSubscription {
  customer: Customer;
  items: ItemRequest[];
  paymentMethod: PaymentMethod | null;
  paymentBehavior:
    | "allow_incomplete"
    | "default_incomplete"
    | "error_if_incomplete"
    | "pending_if_incomplete";
  trialEnd: number | null;
  metadata: Metadata;
  description: string | null;
  cancelAtPeriodEnd: boolean;
  endBehavior: SubscriptionState["endBehavior"];
  saveDefault: boolean;
  /** Outcome of the first payment for a one-off card (Checkout): the saved card decides otherwise. */
}

/** Creates a subscription and its first invoice, paying it as `payment_behavior` says. */
export function startSubscription(
  ctx: { store: Store; bank: Bank },
  spec: NewSubscription,
  origin: Origin,
): Subscription {
  const { store } = ctx;
  const start = now();
  const first = spec.items[0].price.recurring!;
  const trial = spec.trialEnd !== null && spec.trialEnd > start;
  const end = trial ? spec.trialEnd! : addInterval(start, first.interval, first.interval_count);
  const id = newId("sub").slice(0, 28);
  const sub = store.put<Subscription>({
    id,
    object: "subscription",
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: end === start ? start : (trial ? end : start),
    billing_cycle_anchor_config: null,
    billing_mode: {
      flexible: { proration_discounts: "included" },
      type: "flexible",
      updated_at: start,
    },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: spec.cancelAtPeriodEnd ? end : null,
    cancel_at_period_end: spec.cancelAtPeriodEnd,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, reason: null },
    collection_method: "charge_automatically",
    created: start,
    currency: spec.items[0].price.currency,
    customer: spec.customer.id,
    customer_account: null,
    days_until_due: null,
    default_payment_method: spec.paymentMethod?.id ?? null,
    default_source: null,
    default_tax_rates: [],
    description: spec.description,
    discounts: [],
    ended_at: null,
    invoice_settings: { account_tax_ids: null, issuer: { type: "self" } },
    items: {
      object: "list",
      data: spec.items.map((i) => item(id, i.price, i.quantity, start, end)),
      has_more: false,
      total_count: spec.items.length,
      url: `/v1/subscription_items?subscription=${id}`,
    },
    latest_invoice: null,
    livemode: false,
    managed_payments: null,
    metadata: spec.metadata,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: spec.saveDefault ? "on_subscription" : "off",
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: start,
    status: trial ? "trialing" : "incomplete",
    test_clock: null,
    transfer_data: null,
    trial_end: trial ? spec.trialEnd : null,
    trial_settings: { end_behavior: { missing_payment_method: spec.endBehavior } },
    trial_start: trial ? start : null,
  });
  billing(store).subscriptions.set(id, {
    offset: 0,
    pending: [],
    trialWillEndSent: false,
    upcomingSent: false,
    endBehavior: spec.endBehavior,
    saveDefault: spec.saveDefault,
    pendingInvoice: null,
    pendingChanges: null,
  });
  emit(ctx, "customer.subscription.created", sub, origin);
  const lines = trial
    ? sub.items.data.map((i) =>
      periodLine(store, sub, i, start, end, 0, `Trial period for ${productName(store, i.price)}`)
    )
    : sub.items.data.map((i) => periodLine(store, sub, i, start, end));
  const invoice = createInvoice(
    ctx,
    sub,
    lines,
    "subscription_create",
    { start, end: start },
    origin,
  );
  finalize(ctx, invoice, origin);
  if (trial) {
    if (spec.trialEnd! - start <= 3 * 86400) {
      billing(store).subscriptions.get(id)!.trialWillEndSent = true;
      emit(ctx, "customer.subscription.trial_will_end", sub, origin);
    }
    return sub;
  }
  if (spec.paymentBehavior !== "default_incomplete" && invoice.amount_due > 0) {
    if (!spec.paymentMethod) {
      throw stateError(
        "This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://docs.stripe.com/billing/subscriptions/payment-methods-setting#payment-method-priority.",
        "resource_missing",
      );
    }
    attemptPayment(ctx, invoice, spec.paymentMethod.id, origin);
  }
  return sub;
}

function createSubscription({ reader: r, store, bank, origin }: BillingCtx): Subscription {
  r.allow(
    "customer",
    "items",
    "default_payment_method",
    "payment_behavior",
    "trial_period_days",
    "trial_end",
    "metadata",
    "description",
    "cancel_at_period_end",
    "collection_method",
    "payment_settings",
    "proration_behavior",
    "trial_settings",
    "expand",
    "currency",
    "off_session",
    "billing_cycle_anchor",
    "days_until_due",
    "automatic_tax",
    "billing_mode",
    "trial_from_plan",
  );
  const customer = customerOf(store, r.string("customer", true));
  const items = readItems(r, store);
  if (items.length === 0) throw missingParam("items");
  checkSameInterval(items, "items");
  const collection = r.oneOf(
    "collection_method",
    ["charge_automatically", "send_invoice"] as const,
  );
  if (collection === "send_invoice") {
    throw invalidParam(
      "The local Stripe stand-in supports collection_method=charge_automatically only.",
      "collection_method",
    );
  }
  const behavior = r.oneOf(
    "payment_behavior",
    [
      "allow_incomplete",
      "default_incomplete",
      "error_if_incomplete",
      "pending_if_incomplete",
    ] as const,
  ) ?? "allow_incomplete";
  const pmId = r.string("default_payment_method") ||
    customer.invoice_settings.default_payment_method;
  const pm = pmId ? ownPaymentMethod(store, customer, pmId, "default_payment_method") : null;
  const trialDays = r.integer("trial_period_days");
  const trialEndRaw = r.string("trial_end");
  if (trialDays !== undefined && trialEndRaw !== undefined) {
    throw invalidParam(
      "You may only specify one of these parameters: trial_end, trial_period_days.",
      "trial_end",
      "parameters_exclusive",
    );
  }
  let trialEnd: number | null = null;
  if (trialDays !== undefined) {
    if (trialDays < 0 || trialDays > 730) {
      throw invalidParam("Trial period days must be between 0 and 730.", "trial_period_days");
    }
    trialEnd = trialDays > 0 ? now() + trialDays * 86400 : null;
  } else if (trialEndRaw !== undefined && trialEndRaw !== "now") {
    trialEnd = r.integer("trial_end")!;
    if (trialEnd <= now() + 1) {
      throw invalidParam(
        "Invalid timestamp: must be an integer Unix timestamp in the future.",
        "trial_end",
      );
    }
  }
  const settings = r.object("payment_settings");
  settings?.allow("save_default_payment_method", "payment_method_types", "payment_method_options");
  const save =
    settings?.oneOf("save_default_payment_method", ["on_subscription", "off"] as const) ===
      "on_subscription";
  const trialSettings = r.object("trial_settings");
  const endBehavior = trialSettings?.object("end_behavior")?.oneOf(
    "missing_payment_method",
    ["pause", "cancel", "create_invoice"] as const,
  ) ?? "create_invoice";
  const spec: NewSubscription = {
    customer,
    items,
    paymentMethod: pm,
    paymentBehavior: behavior,
    trialEnd,
    metadata: r.metadata(),
    description: r.string("description") || null,
    cancelAtPeriodEnd: r.boolean("cancel_at_period_end") ?? false,
    endBehavior,
    saveDefault: save,
  };
  if (
    behavior === "error_if_incomplete" && !trialEnd && pm &&
    cardBehaviour(store, pm.id) !== "succeeded"
  ) {
    // Stripe answers 402 and keeps nothing of the subscription.
    throw cardError(cardBehaviour(store, pm.id));
  }
  return startSubscription({ store, bank }, spec, origin);
}

function cardBehaviour(store: Store, pm: string | null): CardBehaviour {
  return (pm && billing(store).cards.get(pm)) || "succeeded";
}

function cardError(behaviour: CardBehaviour): StripeError {
  return behaviour === "requires_action"
    ? new StripeError(
      402,
      "card_error",
      "This payment requires additional user action before it can be completed successfully.",
      "invoice_payment_intent_requires_action",
      undefined,
      true,
    )
    : new StripeError(
      402,
      "card_error",
      "Your card was declined.",
      "card_declined",
      undefined,
      true,
      { decline_code: "generic_decline" },
    );
}

function retrieveSubscription({ reader, store, params }: BillingCtx): Subscription {
  reader.allow();
  return store.get<Subscription>("subscription", params[0]);
}

function listSubscriptions({ reader: r, store }: BillingCtx) {
  r.allow(
    "limit",
    "starting_after",
    "ending_before",
    "created",
    "customer",
    "status",
    "price",
    "collection_method",
    "current_period_start",
    "current_period_end",
    "test_clock",
    "automatic_tax",
  );
  const customer = r.string("customer");
  const price = r.string("price");
  const status = r.oneOf(
    "status",
    [
      "active",
      "all",
      "canceled",
      "ended",
      "incomplete",
      "incomplete_expired",
      "past_due",
      "paused",
      "trialing",
      "unpaid",
    ] as const,
  );
  const items = store.all<Subscription>("subscription").filter((s) => {
    if (customer && s.customer !== customer) return false;
    if (price && !s.items.data.some((i) => i.price.id === price)) return false;
    if (status === undefined) return s.status !== "canceled" && s.status !== "incomplete_expired";
    if (status === "all") return true;
    if (status === "ended") return s.status === "canceled" || s.status === "incomplete_expired";
    return s.status === status;
  });
  return page("/v1/subscriptions", items, r);
}

/** Credit for the unused time of the current items and debit for the new ones, to the second. */
function prorations(
  store: Store,
  sub: Subscription,
  changes: ItemRequest[] | null,
  at: number,
  itemIds: string[],
): InvoiceLine[] {
  const { start, end } = periodOf(sub);
  const span = end - start;
  const fraction = span > 0 ? (end - Math.max(start, Math.min(at, end))) / span : 0;
  const when = new Date(Math.max(start, Math.min(at, end)) * 1000).toUTCString().slice(5, 16);
  const lines: InvoiceLine[] = [];
  sub.items.data.forEach((current, index) => {
    if (!itemIds.includes(current.id)) return;
    const credit = -Math.round(current.price.unit_amount * current.quantity * fraction);
    lines.push(
      prorationLine(
        store,
        sub,
        current,
        current.price,
        current.quantity,
        credit,
        at,
        end,
        `Unused time on ${current.quantity} × ${productName(store, current.price)} after ${when}`,
      ),
    );
    const next = changes?.[index];
    if (next) {
      const debit = Math.round(next.price.unit_amount * next.quantity * fraction);
      lines.push(
        prorationLine(
          store,
          sub,
          current,
          next.price,
          next.quantity,
          debit,
          at,
          end,
          `Remaining time on ${next.quantity} × ${productName(store, next.price)} after ${when}`,
        ),
      );
    }
  });
  return lines;
}

function prorationLine(
  store: Store,
  sub: Subscription,
  current: SubscriptionItem,
  price: Price,
  quantity: number,
  amount: number,
  at: number,
  end: number,
  description: string,
): InvoiceLine {
  void store;
  return {
    id: newId("il"),
    object: "line_item",
    amount,
    currency: price.currency,
    description,
    discount_amounts: [],
    discountable: false,
    discounts: [],
    invoice: null,
    livemode: false,
    metadata: {},
    parent: {
      invoice_item_details: null,
      subscription_item_details: {
        invoice_item: newId("ii"),
        proration: true,
        proration_details: { credited_items: null },
        subscription: sub.id,
        subscription_item: current.id,
      },
      type: "subscription_item_details",
    },
    period: { end, start: Math.min(at, end) },
    pretax_credit_amounts: [],
    pricing: {
      price_details: { price: price.id, product: price.product },
      type: "price_details",
      unit_amount_decimal: String(price.unit_amount),
    },
    quantity,
    quantity_decimal: String(quantity),
    subtotal: amount,
    taxes: [],
  };
}

function periodLine(
  store: Store,
  sub: Subscription,
  i: SubscriptionItem,
  start: number,
  end: number,
  unitAmount = i.price.unit_amount,
  description = `${i.quantity} × ${
    productName(store, i.price)
  } (at ${unitAmount} ${i.price.currency} / ${i.price.recurring!.interval})`,
): InvoiceLine {
  const amount = unitAmount * i.quantity;
  return {
    id: newId("il"),
    object: "line_item",
    amount,
    currency: i.price.currency,
    description,
    discount_amounts: [],
    discountable: true,
    discounts: [],
    invoice: null,
    livemode: false,
    metadata: {},
    parent: {
      invoice_item_details: null,
      subscription_item_details: {
        invoice_item: null,
        proration: false,
        proration_details: { credited_items: null },
        subscription: sub.id,
        subscription_item: i.id,
      },
      type: "subscription_item_details",
    },
    period: { end, start },
    pretax_credit_amounts: [],
    pricing: {
      price_details: { price: i.price.id, product: i.price.product },
      type: "price_details",
      unit_amount_decimal: String(unitAmount),
    },
    quantity: i.quantity,
    quantity_decimal: String(i.quantity),
    subtotal: amount,
    taxes: [],
  };
}

function updateSubscription(ctx: BillingCtx): Subscription {
  const { reader: r, store, bank, origin, params } = ctx;
  r.allow(
    "items",
    "proration_behavior",
    "proration_date",
    "cancel_at_period_end",
    "cancel_at",
    "pause_collection",
    "metadata",
    "default_payment_method",
    "description",
    "trial_end",
    "payment_behavior",
    "cancellation_details",
    "payment_settings",
    "expand",
    "billing_cycle_anchor",
    "off_session",
    "collection_method",
    "trial_settings",
  );
  const sub = store.get<Subscription>("subscription", params[0]);
  if (sub.status === "canceled" || sub.status === "incomplete_expired") {
    const onlyAllowed = Object.keys(r.params).every((k) =>
      ["metadata", "cancellation_details", "expand"].includes(k)
    );
    if (!onlyAllowed) {
      throw stateError(
        "A canceled subscription can only update its cancellation_details and metadata.",
        "invalid_canceled_subscription_fields",
      );
    }
  }
  const behavior =
    r.oneOf("proration_behavior", ["create_prorations", "none", "always_invoice"] as const) ??
      "create_prorations";
  const state = subState(store, sub.id);
  const at = r.integer("proration_date") ?? clock(store, sub);
  const customer = store.get<Customer>("customer", sub.customer);
  // Item changes: `items[i][id]` names the item to change (its price and/or quantity).
  const entries = r.objects("items");
  const changes: ItemRequest[] = sub.items.data.map((i) => ({
    price: i.price,
    quantity: i.quantity,
  }));
  const changedIds: string[] = [];
  entries.forEach((entry, index) => {
    entry.allow(
      "id",
      "price",
      "quantity",
      "metadata",
      "deleted",
      "discounts",
      "tax_rates",
      "price_data",
      "billing_thresholds",
      "clear_usage",
    );
    const itemId = entry.string("id");
    const position = itemId ? sub.items.data.findIndex((i) => i.id === itemId) : -1;
    if (itemId && position < 0) {
      throw invalidParam(
        `No such subscription item: '${itemId}'`,
        `items[${index}][id]`,
        "resource_missing",
      );
    }
    if (!itemId) {
      throw invalidParam(
        "The stand-in changes existing items only: pass items[i][id].",
        `items[${index}][id]`,
      );
    }
    const priceId = entry.string("price");
    let price = changes[position].price;
    if (priceId) {
      price = priceOf(store, priceId, `items[${index}][price]`);
      if (!price.active) {
        throw invalidParam(
          "The price specified is inactive. This field only accepts active prices.",
          `items[${index}][price]`,
        );
      }
      if (!price.recurring) {
        throw invalidParam(
          "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
          `items[${index}][price]`,
        );
      }
    }
    changes[position] = { price, quantity: entry.amount("quantity") ?? changes[position].quantity };
    changedIds.push(itemId);
  });
  if (changedIds.length > 0) checkSameInterval(changes, "items");
  const pmId = r.has("default_payment_method")
    ? r.string("default_payment_method") || null
    : undefined;
  const pm = pmId
    ? ownPaymentMethod(store, customer, pmId, "default_payment_method")
    : pmId === undefined
    ? undefined
    : null;
  const pause = r.has("pause_collection") ? r.object("pause_collection") : undefined;
  let pauseValue: Subscription["pause_collection"] | undefined;
  if (pause !== undefined) {
    if (pause === null || Object.keys(pause.params).length === 0) pauseValue = null;
    else {
      pause.allow("behavior", "resumes_at");
      pauseValue = {
        behavior: pause.oneOf(
          "behavior",
          ["keep_as_draft", "mark_uncollectible", "void"] as const,
          true,
        ),
        resumes_at: pause.integer("resumes_at") ?? null,
      };
    }
  }
  const trialEndNow = r.string("trial_end") === "now";
  const lines = changedIds.length > 0 && behavior !== "none" && sub.status !== "trialing"
    ? prorations(store, sub, changes, at, changedIds)
    : [];
  const paymentBehavior = r.oneOf(
    "payment_behavior",
    [
      "allow_incomplete",
      "default_incomplete",
      "error_if_incomplete",
      "pending_if_incomplete",
    ] as const,
  );
  if (paymentBehavior === "pending_if_incomplete" && lines.length > 0) {
    return pendingUpdate({ store, bank }, sub, r, changes, lines, at, origin);
  }
  update({ bank }, sub, "customer.subscription.updated", origin, (s) => {
    changes.forEach((change, index) => {
      const current = s.items.data[index];
      if (change.price.id !== current.price.id || change.quantity !== current.quantity) {
        s.items.data[index] = {
          ...current,
          price: structuredClone(change.price),
          plan: planOf(change.price),
          quantity: change.quantity,
        };
      }
    });
    if (r.has("cancel_at_period_end")) {
      s.cancel_at_period_end = r.boolean("cancel_at_period_end") ?? false;
      s.cancel_at = s.cancel_at_period_end ? periodOf(s).end : null;
    }
    if (r.has("cancel_at")) {
      // A timestamp, or (2025-07-30.basil) `min_period_end`/`max_period_end`, which resolve to
      // the items' period end at once; either way `cancel_at_period_end` is false.
      const raw = r.string("cancel_at");
      s.cancel_at = raw === "min_period_end" || raw === "max_period_end" ||
          raw === "max_billed_until"
        ? periodOf(s).end
        : r.integer("cancel_at") ?? null;
      s.cancel_at_period_end = false;
    }
    if (pauseValue !== undefined) s.pause_collection = pauseValue;
    s.metadata = r.metadata(s.metadata);
    if (pm !== undefined) s.default_payment_method = pm ? pm.id : null;
    if (r.has("description")) s.description = r.string("description") || null;
    const details = r.object("cancellation_details");
    if (details) {
      s.cancellation_details = {
        ...(s.cancellation_details as object),
        comment: details.string("comment") || null,
        feedback: details.string("feedback") || null,
      };
    }
  });
  if (lines.length > 0) {
    if (behavior === "always_invoice") {
      const invoice = createInvoice(
        { store, bank },
        sub,
        [...state.pending.splice(0), ...lines],
        "subscription_update",
        { start: at, end: at },
        origin,
      );
      finalize({ store, bank }, invoice, origin);
      if (invoice.amount_due > 0) {
        attemptPayment(
          { store, bank },
          invoice,
          sub.default_payment_method ?? customer.invoice_settings.default_payment_method,
          origin,
        );
      }
    } else {
      state.pending.push(...lines);
    }
  }
  if (trialEndNow && sub.status === "trialing") endTrial({ store, bank }, sub, undefined, origin);
  return sub;
}

/**
 * `payment_behavior=pending_if_incomplete`: the prorations are invoiced and charged now; the
 * items change only once that invoice is paid. Declined, the subscription keeps its items and
 * status and shows `pending_update` (expiring after 23 hours) until the invoice is paid
 * (`customer.subscription.pending_update_applied`) or the update expires
 * (`/_test/subscriptions/:id/expire_pending_update`, `…pending_update_expired`).
 */
function pendingUpdate(
  ctx: { store: Store; bank: Bank },
  sub: Subscription,
  r: Reader,
  changes: ItemRequest[],
  lines: InvoiceLine[],
  at: number,
  origin: Origin,
): Subscription {
  const supported = [
    "items",
    "proration_behavior",
    "proration_date",
    "payment_behavior",
    "expand",
    "trial_end",
    "billing_cycle_anchor",
  ];
  const other = Object.keys(r.params).find((key) => !supported.includes(key));
  if (other) {
    throw invalidParam(
      `When using \`payment_behavior=pending_if_incomplete\`, you can only pass the parameters supported by pending updates (${
        supported.slice(0, 3).join(", ")
      }, …), not ${other}.`,
      other,
    );
  }
  const { store } = ctx;
  const state = subState(store, sub.id);
  const customer = store.get<Customer>("customer", sub.customer);
  const invoice = createInvoice(
    ctx,
    sub,
    lines,
    "subscription_update",
    { start: at, end: at },
    origin,
  );
  state.pendingInvoice = invoice.id;
  state.pendingChanges = changes;
  finalize(ctx, invoice, origin);
  if (invoice.status === "open") {
    attemptPayment(
      ctx,
      invoice,
      sub.default_payment_method ?? customer.invoice_settings.default_payment_method,
      origin,
    );
  }
  if (state.pendingInvoice === invoice.id) {
    update(ctx, sub, "customer.subscription.updated", origin, (s) => {
      s.pending_update = {
        billing_cycle_anchor: null,
        cancel_at_period_end: null,
        discount: null,
        discounts: null,
        expires_at: clock(store, s) + 23 * 3600,
        metadata: null,
        subscription_items: s.items.data.map((i, index) => changedItem(i, changes[index])),
        trial_end: null,
        trial_from_plan: null,
      };
    });
  }
  return sub;
}

function changedItem(current: SubscriptionItem, change: ItemRequest | undefined): SubscriptionItem {
  if (!change || (change.price.id === current.price.id && change.quantity === current.quantity)) {
    return current;
  }
  return {
    ...current,
    price: structuredClone(change.price),
    plan: planOf(change.price),
    quantity: change.quantity,
  };
}

/** The pending update's invoice was paid: the items change now. */
function applyPending(
  ctx: { store: Store; bank: Bank },
  sub: Subscription,
  state: SubscriptionState,
  origin: Origin,
): void {
  const changes = state.pendingChanges ?? [];
  state.pendingInvoice = null;
  state.pendingChanges = null;
  const wasPending = sub.pending_update !== null && sub.pending_update !== undefined;
  update(ctx, sub, "customer.subscription.updated", origin, (s) => {
    s.items.data = s.items.data.map((i, index) => changedItem(i, changes[index]));
    s.pending_update = null;
  });
  if (wasPending) emit(ctx, "customer.subscription.pending_update_applied", sub, origin);
}

/** A pending update was not paid within 23 hours: it lapses and its invoice is voided. */
export function expirePendingUpdate(
  ctx: { store: Store; bank: Bank },
  sub: Subscription,
  origin: Origin,
): void {
  const state = subState(ctx.store, sub.id);
  if (!sub.pending_update || !state.pendingInvoice) {
    throw stateError(`Subscription ${sub.id} has no pending update.`);
  }
  const invoice = ctx.store.get<Invoice>("invoice", state.pendingInvoice);
  state.pendingInvoice = null;
  state.pendingChanges = null;
  if (invoice.status === "open" || invoice.status === "uncollectible") {
    voidNow(ctx, invoice, origin);
  }
  update(ctx, sub, "customer.subscription.updated", origin, (s) => {
    s.pending_update = null;
  });
  emit(ctx, "customer.subscription.pending_update_expired", sub, origin);
}

/** Cancels now: `customer.subscription.deleted`; open invoices stay as they are. */
function endSubscription(
  ctx: { store: Store; bank: Bank },
  sub: Subscription,
  origin: Origin,
  reason: "cancellation_requested" | "payment_failed" | "payment_disputed",
  details?: { comment: string | null; feedback: string | null },
): Subscription {
  const previous = { status: sub.status, canceled_at: sub.canceled_at, ended_at: sub.ended_at };
  const at = clock(ctx.store, sub);
  sub.status = "canceled";
  sub.canceled_at = at;
  sub.ended_at = at;
  sub.cancel_at_period_end = false;
  sub.cancellation_details = {
    comment: details?.comment ?? null,
    feedback: details?.feedback ?? null,
    reason,
  };
  emit(ctx, "customer.subscription.deleted", sub, origin, previous);
  return sub;
}

function cancelSubscription({ reader: r, store, bank, origin, params }: BillingCtx): Subscription {
  r.allow("prorate", "invoice_now", "cancellation_details", "expand");
  const sub = store.get<Subscription>("subscription", params[0]);
  if (sub.status === "canceled" || sub.status === "incomplete_expired") {
    throw stateError(
      `This subscription has already been canceled (status ${sub.status}).`,
    );
  }
  const details = r.object("cancellation_details");
  details?.allow("comment", "feedback");
  const feedback = details?.oneOf(
    "feedback",
    [
      "customer_service",
      "low_quality",
      "missing_features",
      "other",
      "switched_service",
      "too_complex",
      "too_expensive",
      "unused",
    ] as const,
  );
  const prorate = r.boolean("prorate") ?? false;
  const invoiceNow = r.boolean("invoice_now") ?? false;
  const state = subState(store, sub.id);
  const credit = prorate && sub.status !== "trialing"
    ? prorations(store, sub, null, clock(store, sub), sub.items.data.map((i) => i.id))
    : [];
  endSubscription({ store, bank }, sub, origin, "cancellation_requested", {
    comment: details?.string("comment") || null,
    feedback: feedback ?? null,
  });
  if (invoiceNow && (credit.length > 0 || state.pending.length > 0)) {
    const at = clock(store, sub);
    const invoice = createInvoice(
      { store, bank },
      sub,
      [...state.pending.splice(0), ...credit],
      "subscription_update",
      { start: at, end: at },
      origin,
    );
    finalize({ store, bank }, invoice, origin);
    const customer = store.get<Customer>("customer", sub.customer);
    if (invoice.amount_due > 0) {
      attemptPayment(
        { store, bank },
        invoice,
        sub.default_payment_method ?? customer.invoice_settings.default_payment_method,
        origin,
      );
    }
  }
  return sub;
}

/** The new pause API (flexible billing mode): `status=paused`, no invoices until resumed. */
function pauseSubscription({ reader: r, store, bank, origin, params }: BillingCtx): Subscription {
  r.allow("type", "invoicing_behavior", "bill_for", "expand");
  r.oneOf("type", ["subscription"] as const);
  r.oneOf("invoicing_behavior", ["invoice", "pending_invoice_item"] as const);
  const sub = store.get<Subscription>("subscription", params[0]);
  if (!["active", "past_due", "unpaid", "trialing"].includes(sub.status)) {
    throw stateError(
      `You cannot pause a subscription with status \`${sub.status}\`.`,
      undefined,
      "subscription",
    );
  }
  pauseNow({ store, bank }, sub, "pause_requested", origin);
  return sub;
}

function pauseNow(
  ctx: { store: Store; bank: Bank },
  sub: Subscription,
  type: string,
  origin: Origin,
) {
  update(ctx, sub, "customer.subscription.updated", origin, (s) => {
    s.status = "paused";
    s.status_details = {
      paused: {
        subscription: { type },
        transitioned_at: clock(ctx.store, s),
        type: "subscription",
      },
    };
  });
  emit(ctx, "customer.subscription.paused", sub, origin);
}

function resumeSubscription({ reader: r, store, bank, origin, params }: BillingCtx): Subscription {
  r.allow(
    "billing_cycle_anchor",
    "proration_behavior",
    "proration_date",
    "payment_behavior",
    "expand",
  );
  const sub = store.get<Subscription>("subscription", params[0]);
  if (sub.status !== "paused") {
    throw stateError(
      `Subscription ${sub.id} is not paused (status ${sub.status}); only paused subscriptions can be resumed.`,
      undefined,
      "subscription",
    );
  }
  const raw = r.params.billing_cycle_anchor;
  const anchor = raw === undefined
    ? "now"
    : typeof raw === "string"
    ? r.oneOf("billing_cycle_anchor", ["now", "unchanged"] as const)
    : r.object("billing_cycle_anchor")!.oneOf("type", ["now", "unchanged"] as const, true);
  const customer = store.get<Customer>("customer", sub.customer);
  const at = clock(store, sub);
  const interval = sub.items.data[0].price.recurring!;
  update({ bank }, sub, "customer.subscription.updated", origin, (s) => {
    s.status = "active";
    delete s.status_details;
    if (anchor === "now") {
      const end = addInterval(at, interval.interval, interval.interval_count);
      s.items.data = s.items.data.map((i) => ({
        ...i,
        current_period_start: at,
        current_period_end: end,
      }));
      s.billing_cycle_anchor = at;
    }
  });
  emit({ bank }, "customer.subscription.resumed", sub, origin);
  if (anchor === "now") {
    const { start, end } = periodOf(sub);
    const state = subState(store, sub.id);
    const lines = [
      ...state.pending.splice(0),
      ...sub.items.data.map((i) => periodLine(store, sub, i, start, end)),
    ];
    const invoice = createInvoice({ store, bank }, sub, lines, "subscription_cycle", {
      start: at,
      end: at,
    }, origin);
    finalize({ store, bank }, invoice, origin);
    if (invoice.amount_due > 0) {
      attemptPayment(
        { store, bank },
        invoice,
        sub.default_payment_method ?? customer.invoice_settings.default_payment_method,
        origin,
      );
    }
  }
  return sub;
}

// --- invoices ------------------------------------------------------------------------------

function createInvoice(
  ctx: { store: Store; bank: Bank },
  sub: Subscription,
  lines: InvoiceLine[],
  reason: string,
  period: { start: number; end: number },
  origin: Origin,
): Invoice {
  const { store } = ctx;
  const customer = store.get<Customer>("customer", sub.customer);
  const id = newId("in");
  const subtotal = lines.reduce((sum, line) => sum + line.amount, 0);
  const created = now();
  for (const line of lines) line.invoice = id;
  const invoice = store.put<Invoice>({
    id,
    object: "invoice",
    account_country: "US",
    account_name: "Local Stripe stand-in",
    account_tax_ids: null,
    amount_due: 0,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: 0,
    amount_shipping: 0,
    application: null,
    attempt_count: 0,
    attempted: false,
    auto_advance: true,
    automatic_tax: {
      disabled_reason: null,
      enabled: false,
      liability: null,
      provider: null,
      status: null,
    },
    automatically_finalizes_at: null,
    billing_reason: reason,
    collection_method: "charge_automatically",
    created,
    currency: sub.currency,
    custom_fields: null,
    customer: customer.id,
    customer_account: null,
    customer_address: null,
    customer_email: customer.email,
    customer_name: customer.name,
    customer_phone: null,
    customer_shipping: null,
    customer_tax_exempt: "none",
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: null,
    ending_balance: null,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: "self" },
    last_finalization_error: null,
    latest_revision: null,
    lines: {
      object: "list",
      data: lines,
      has_more: false,
      total_count: lines.length,
      url: `/v1/invoices/${id}/lines`,
    },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: null,
    on_behalf_of: null,
    parent: {
      quote_details: null,
      subscription_details: { metadata: { ...sub.metadata }, subscription: sub.id },
      type: "subscription_details",
    },
    payment_settings: {
      default_mandate: null,
      payment_method_options: null,
      payment_method_types: null,
    },
    period_end: period.end,
    period_start: period.start,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: "draft",
    status_transitions: {
      finalized_at: null,
      marked_uncollectible_at: null,
      paid_at: null,
      voided_at: null,
    },
    subtotal,
    subtotal_excluding_tax: subtotal,
    test_clock: null,
    total: subtotal,
    total_discount_amounts: [],
    total_excluding_tax: subtotal,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: created,
  });
  store.includable.set(id, {
    confirmation_secret: () => {
      const pi = billing(store).intentOfInvoice.get(id);
      const intent = pi ? store.find(pi) as PaymentIntent : null;
      return intent ? { client_secret: intent.client_secret, type: "payment_intent" } : null;
    },
    payments: () => {
      const data = store.all<InvoicePayment>("invoice_payment").filter((p) => p.invoice === id);
      return { object: "list", data, has_more: false, url: `/v1/invoice_payments?invoice=${id}` };
    },
  });
  sub.latest_invoice = id;
  emit(ctx, "invoice.created", invoice, origin);
  return invoice;
}

/**
 * Finalizes a draft: the number (customer prefix and sequence), the customer's credit balance
 * applied, and for an amount due a payment intent and its `invoice_payment`. A zero amount due
 * is paid at once.
 */
function finalize(ctx: { store: Store; bank: Bank }, invoice: Invoice, origin: Origin): Invoice {
  const { store, bank } = ctx;
  const customer = store.get<Customer>("customer", invoice.customer);
  const at = now();
  invoice.number = `${customer.invoice_prefix}-${
    String(customer.next_invoice_sequence).padStart(4, "0")
  }`;
  customer.next_invoice_sequence += 1;
  invoice.starting_balance = customer.balance;
  const due = invoice.total + customer.balance;
  invoice.amount_due = Math.max(0, due);
  invoice.amount_remaining = invoice.amount_due;
  invoice.ending_balance = Math.min(0, due);
  if (customer.balance !== invoice.ending_balance) {
    update(ctx, customer, "customer.updated", origin, (c) => {
      c.balance = invoice.ending_balance!;
    });
  }
  invoice.status = "open";
  invoice.effective_at = at;
  invoice.status_transitions.finalized_at = at;
  invoice.hosted_invoice_url = `https://invoice.stripe.com/i/local/${invoice.id}`;
  invoice.invoice_pdf = `https://pay.stripe.com/invoice/local/${invoice.id}/pdf`;
  emit(ctx, "invoice.finalized", invoice, origin);
  if (invoice.amount_due > 0) {
    const pi = bank.createPaymentIntent({
      amount: invoice.amount_due,
      currency: invoice.currency,
      metadata: {},
      transfer_group: null,
      description: invoice.billing_reason === "subscription_create"
        ? "Subscription creation"
        : "Subscription update",
      automatic_payment_methods: null,
      payment_method_types: ["card"],
      receipt_email: null,
      customer: customer.id,
      setup_future_usage: invoice.billing_reason === "subscription_create" ? "off_session" : null,
    }, origin);
    billing(store).invoiceOfIntent.set(pi.id, invoice.id);
    billing(store).intentOfInvoice.set(invoice.id, pi.id);
    store.put<InvoicePayment>({
      id: newId("inpay"),
      object: "invoice_payment",
      amount_paid: null,
      amount_requested: invoice.amount_due,
      created: at,
      currency: invoice.currency,
      invoice: invoice.id,
      is_default: true,
      livemode: false,
      payment: { type: "payment_intent", payment_intent: pi.id },
      status: "open",
      status_transitions: { canceled_at: null, paid_at: null },
    });
  } else {
    markPaid(ctx, invoice, null, origin);
  }
  return invoice;
}

function invoicePaymentOf(store: Store, invoice: Invoice): InvoicePayment | undefined {
  return store.all<InvoicePayment>("invoice_payment").find((p) =>
    p.invoice === invoice.id && p.is_default
  );
}

/** Charges the invoice's intent with a saved card: the card decides (see TEST_CARDS). */
function attemptPayment(
  ctx: { store: Store; bank: Bank },
  invoice: Invoice,
  paymentMethod: string | null,
  origin: Origin,
  forced?: CardBehaviour,
): void {
  const { store, bank } = ctx;
  const piId = billing(store).intentOfInvoice.get(invoice.id);
  if (!piId) return;
  const pi = store.get<PaymentIntent>("payment_intent", piId);
  const behaviour = forced ?? cardBehaviour(store, paymentMethod);
  invoice.attempted = true;
  invoice.attempt_count += 1;
  if (!paymentMethod && !forced) {
    invoice.next_payment_attempt = null;
    failInvoice(ctx, invoice, origin, false);
    return;
  }
  if (behaviour === "requires_action") {
    Object.assign(pi, {
      status: "requires_action",
      payment_method: paymentMethod,
      next_action: { type: "use_stripe_sdk", use_stripe_sdk: { type: "three_d_secure_redirect" } },
      last_payment_error: null,
    });
    emit(ctx, "payment_intent.requires_action", pi, origin);
    failInvoice(ctx, invoice, origin, true);
    return;
  }
  // The listener (invoicePaymentSettled) moves the invoice and its subscription.
  bank.pay(pi, behaviour === "succeeded" ? "succeeded" : "failed", origin, null, paymentMethod);
}

/** Payment listener: an invoice's intent was paid or declined, by the stand-in or a client. */
export function invoicePaymentSettled(
  bank: Bank,
  pi: PaymentIntent,
  charge: Charge,
  origin: Origin,
): void {
  const store = bank.store;
  const invoiceId = billing(store).invoiceOfIntent.get(pi.id);
  if (!invoiceId) return;
  const invoice = store.get<Invoice>("invoice", invoiceId);
  if (invoice.status !== "open" && invoice.status !== "uncollectible") return;
  if (pi.status === "succeeded") {
    if (!invoice.attempted) {
      invoice.attempted = true;
      invoice.attempt_count += 1;
    }
    markPaid({ store, bank }, invoice, charge, origin);
  } else {
    if (!invoice.attempted) {
      invoice.attempted = true;
      invoice.attempt_count += 1;
    }
    failInvoice({ store, bank }, invoice, origin, false);
  }
}

function subscriptionOf(store: Store, invoice: Invoice): Subscription | null {
  const id = invoice.parent?.subscription_details?.subscription;
  return id ? store.get<Subscription>("subscription", id) : null;
}

function markPaid(
  ctx: { store: Store; bank: Bank },
  invoice: Invoice,
  charge: Charge | null,
  origin: Origin,
): void {
  const { store } = ctx;
  const at = now();
  invoice.status = "paid";
  invoice.amount_paid = invoice.amount_due;
  invoice.amount_remaining = 0;
  invoice.status_transitions.paid_at = at;
  invoice.next_payment_attempt = null;
  const payment = invoicePaymentOf(store, invoice);
  if (payment) {
    payment.status = "paid";
    payment.amount_paid = invoice.amount_due;
    if (charge) payment.payment.charge = charge.id;
    (payment.status_transitions as Record<string, unknown>).paid_at = at;
  }
  emit(ctx, "invoice.paid", invoice, origin);
  emit(ctx, "invoice.payment_succeeded", invoice, origin);
  const sub = subscriptionOf(store, invoice);
  if (!sub) return;
  const state = subState(store, sub.id);
  const pm = charge?.payment_method as string | undefined;
  update(ctx, sub, "customer.subscription.updated", origin, (s) => {
    if (
      ["incomplete", "past_due", "unpaid"].includes(s.status) && s.latest_invoice === invoice.id
    ) {
      s.status = "active";
    } else if (["incomplete", "past_due", "unpaid"].includes(s.status)) {
      const latest = s.latest_invoice
        ? store.find(s.latest_invoice) as Invoice | undefined
        : undefined;
      if (!latest || latest.status === "paid" || latest.status === "void") s.status = "active";
    }
    if (state.saveDefault && pm && store.find(pm)) s.default_payment_method = pm;
  });
  if (state.pendingInvoice === invoice.id) applyPending(ctx, sub, state, origin);
}

function failInvoice(
  ctx: { store: Store; bank: Bank },
  invoice: Invoice,
  origin: Origin,
  actionRequired: boolean,
): void {
  const { store } = ctx;
  invoice.next_payment_attempt = actionRequired ? null : clockFor(store, invoice) + 3 * 86400;
  emit(
    ctx,
    actionRequired ? "invoice.payment_action_required" : "invoice.payment_failed",
    invoice,
    origin,
  );
  const sub = subscriptionOf(store, invoice);
  if (!sub || sub.latest_invoice !== invoice.id) return;
  // A pending update's invoice leaves the subscription as it was.
  if (billing(store).subscriptions.get(sub.id)?.pendingInvoice === invoice.id) return;
  update(ctx, sub, "customer.subscription.updated", origin, (s) => {
    if (s.status === "active" || s.status === "trialing") s.status = "past_due";
  });
}

function clockFor(store: Store, invoice: Invoice): number {
  const sub = subscriptionOf(store, invoice);
  return sub ? clock(store, sub) : now();
}

function getInvoice({ reader, store, params }: BillingCtx): Invoice {
  reader.allow();
  return store.get<Invoice>("invoice", params[0]);
}

function listInvoices({ reader: r, store }: BillingCtx) {
  r.allow(
    "limit",
    "starting_after",
    "ending_before",
    "created",
    "customer",
    "subscription",
    "status",
    "collection_method",
    "due_date",
  );
  const customer = r.string("customer");
  const subscription = r.string("subscription");
  const status = r.oneOf("status", ["draft", "open", "paid", "uncollectible", "void"] as const);
  const items = store.all<Invoice>("invoice").filter((i) =>
    (!customer || i.customer === customer) &&
    (!subscription || i.parent?.subscription_details?.subscription === subscription) &&
    (!status || i.status === status)
  );
  return page("/v1/invoices", items, r);
}

function payInvoice({ reader: r, store, bank, origin, params }: BillingCtx): Invoice {
  r.allow(
    "payment_method",
    "paid_out_of_band",
    "off_session",
    "forgive",
    "source",
    "mandate",
    "expand",
  );
  const invoice = store.get<Invoice>("invoice", params[0]);
  if (invoice.status === "paid") {
    throw stateError("Invoice is already paid");
  }
  if (invoice.status === "void") {
    throw stateError("This invoice has been voided and cannot be paid.", "invoice_not_editable");
  }
  if (invoice.status === "draft") finalize({ store, bank }, invoice, origin);
  if (invoice.status !== "open" && invoice.status !== "uncollectible") return invoice;
  if (r.boolean("paid_out_of_band")) {
    const payment = invoicePaymentOf(store, invoice);
    const piId = billing(store).intentOfInvoice.get(invoice.id);
    if (piId) {
      const pi = store.get<PaymentIntent>("payment_intent", piId);
      if (pi.status !== "succeeded") {
        Object.assign(pi, {
          status: "canceled",
          canceled_at: now(),
          cancellation_reason: "void_invoice",
        });
      }
    }
    if (payment) payment.status = "canceled";
    markPaid({ store, bank }, invoice, null, origin);
    return invoice;
  }
  const customer = store.get<Customer>("customer", invoice.customer);
  const sub = subscriptionOf(store, invoice);
  const pmParam = r.string("payment_method");
  const pm = pmParam
    ? ownPaymentMethod(store, customer, pmParam, "payment_method").id
    : sub?.default_payment_method ?? customer.invoice_settings.default_payment_method;
  if (!pm) {
    throw stateError(
      "This customer has no attached payment source or default payment method. Please consider adding a default payment method.",
      "resource_missing",
    );
  }
  const behaviour = cardBehaviour(store, pm);
  attemptPayment({ store, bank }, invoice, pm, origin);
  if (behaviour !== "succeeded") throw cardError(behaviour);
  return invoice;
}

function voidInvoice({ reader, store, bank, origin, params }: BillingCtx): Invoice {
  reader.allow("expand");
  const invoice = store.get<Invoice>("invoice", params[0]);
  if (invoice.status !== "open" && invoice.status !== "uncollectible") {
    throw stateError(
      `You can only void invoices with status \`open\` or \`uncollectible\`. This invoice has status \`${invoice.status}\`.`,
      "invoice_not_editable",
    );
  }
  voidNow({ store, bank }, invoice, origin);
  return invoice;
}

function voidNow(ctx: { store: Store; bank: Bank }, invoice: Invoice, origin: Origin) {
  const { store } = ctx;
  invoice.status = "void";
  invoice.status_transitions.voided_at = now();
  invoice.next_payment_attempt = null;
  const piId = billing(store).intentOfInvoice.get(invoice.id);
  if (piId) {
    const pi = store.get<PaymentIntent>("payment_intent", piId);
    if (pi.status !== "succeeded" && pi.status !== "canceled") {
      Object.assign(pi, {
        status: "canceled",
        canceled_at: now(),
        cancellation_reason: "void_invoice",
      });
      emit(ctx, "payment_intent.canceled", pi, origin);
    }
    const payment = invoicePaymentOf(store, invoice);
    if (payment) payment.status = "canceled";
  }
  emit(ctx, "invoice.voided", invoice, origin);
}

function markUncollectible({ reader, store, bank, origin, params }: BillingCtx): Invoice {
  reader.allow("expand");
  const invoice = store.get<Invoice>("invoice", params[0]);
  if (invoice.status !== "open") {
    throw stateError(
      `You can only mark invoices with status \`open\` as uncollectible. This invoice has status \`${invoice.status}\`.`,
      "invoice_not_editable",
    );
  }
  invoice.status = "uncollectible";
  invoice.status_transitions.marked_uncollectible_at = now();
  emit({ bank }, "invoice.marked_uncollectible", invoice, origin);
  return invoice;
}

function finalizeRoute({ reader, store, bank, origin, params }: BillingCtx): Invoice {
  reader.allow("auto_advance", "expand");
  const invoice = store.get<Invoice>("invoice", params[0]);
  if (invoice.status !== "draft") {
    throw stateError(
      "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
      "invoice_not_editable",
    );
  }
  return finalize({ store, bank }, invoice, origin);
}

/** The next invoice of a subscription, as it would be after an optional change (`subscription_details`). */
function createPreview({ reader: r, store }: BillingCtx) {
  r.allow(
    "customer",
    "subscription",
    "subscription_details",
    "expand",
    "automatic_tax",
    "currency",
    "preview_mode",
    "invoice_items",
    "issuer",
    "on_behalf_of",
    "schedule",
    "schedule_details",
    "customer_details",
    "discounts",
  );
  const subId = r.string("subscription");
  if (!subId) {
    throw invalidParam(
      "The stand-in previews invoices of existing subscriptions only: pass subscription.",
      "subscription",
      "parameter_missing",
    );
  }
  const sub = store.get<Subscription>("subscription", subId, "subscription");
  const customerId = r.string("customer");
  if (customerId && customerId !== sub.customer) {
    throw invalidParam(
      `The subscription ${sub.id} does not belong to customer ${customerId}.`,
      "subscription",
    );
  }
  const details = r.object("subscription_details");
  details?.allow(
    "items",
    "proration_behavior",
    "proration_date",
    "cancel_at_period_end",
    "cancel_at",
    "cancel_now",
    "trial_end",
    "billing_cycle_anchor",
    "default_tax_rates",
    "resume_at",
    "start_date",
  );
  const behavior = details?.oneOf(
    "proration_behavior",
    ["create_prorations", "none", "always_invoice"] as const,
  ) ?? "create_prorations";
  const at = details?.integer("proration_date") ?? clock(store, sub);
  const changes: ItemRequest[] = sub.items.data.map((i) => ({
    price: i.price,
    quantity: i.quantity,
  }));
  const changedIds: string[] = [];
  (details?.objects("items") ?? []).forEach((entry, index) => {
    const itemId = entry.string("id", true);
    const position = sub.items.data.findIndex((i) => i.id === itemId);
    if (position < 0) {
      throw invalidParam(
        `No such subscription item: '${itemId}'`,
        `subscription_details[items][${index}][id]`,
        "resource_missing",
      );
    }
    const priceId = entry.string("price");
    const price = priceId
      ? priceOf(store, priceId, `subscription_details[items][${index}][price]`)
      : changes[position].price;
    changes[position] = { price, quantity: entry.amount("quantity") ?? changes[position].quantity };
    changedIds.push(itemId);
  });
  const state = subState(store, sub.id);
  const prorated = changedIds.length > 0 && behavior !== "none"
    ? prorations(store, sub, changes, at, changedIds)
    : [];
  const { end } = periodOf(sub);
  const interval = changes[0].price.recurring!;
  const nextEnd = addInterval(end, interval.interval, interval.interval_count);
  const next = sub.items.data.map((i, index) =>
    periodLine(
      store,
      sub,
      { ...i, price: changes[index].price, quantity: changes[index].quantity },
      end,
      nextEnd,
      changes[index].price.unit_amount,
    )
  );
  const lines = behavior === "always_invoice" && prorated.length > 0
    ? [...structuredClone(state.pending), ...prorated]
    : [...structuredClone(state.pending), ...prorated, ...next];
  const subtotal = lines.reduce((sum, line) => sum + line.amount, 0);
  const customer = store.get<Customer>("customer", sub.customer);
  const due = subtotal + customer.balance;
  const id = `upcoming_${randomString(24)}`;
  return {
    id,
    object: "invoice",
    amount_due: Math.max(0, due),
    amount_paid: 0,
    amount_remaining: Math.max(0, due),
    billing_reason: behavior === "always_invoice" && prorated.length > 0
      ? "subscription_update"
      : "upcoming",
    collection_method: "charge_automatically",
    created: now(),
    currency: sub.currency,
    customer: sub.customer,
    ending_balance: Math.min(0, due),
    lines: {
      object: "list",
      data: lines.map((l) => ({ ...l, invoice: id })),
      has_more: false,
      total_count: lines.length,
      url: `/v1/invoices/${id}/lines`,
    },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: null,
    parent: {
      quote_details: null,
      subscription_details: {
        metadata: { ...sub.metadata },
        subscription: sub.id,
        ...(prorated.length > 0 ? { subscription_proration_date: at } : {}),
      },
      type: "subscription_details",
    },
    period_end: behavior === "always_invoice" && prorated.length > 0 ? at : end,
    period_start: behavior === "always_invoice" && prorated.length > 0 ? at : periodOf(sub).start,
    starting_balance: customer.balance,
    status: "draft",
    status_transitions: {
      finalized_at: null,
      marked_uncollectible_at: null,
      paid_at: null,
      voided_at: null,
    },
    subtotal,
    subtotal_excluding_tax: subtotal,
    total: subtotal,
    total_excluding_tax: subtotal,
  };
}

// --- lifecycle (used by /_test/) -----------------------------------------------------------

/** Ends a trial: with a payment method the first paid period starts; without one, the end behaviour. */
export function endTrial(
  ctx: { store: Store; bank: Bank },
  sub: Subscription,
  outcome: CardBehaviour | undefined,
  origin: Origin,
): void {
  const { store } = ctx;
  const state = subState(store, sub.id);
  if (!state.trialWillEndSent) {
    state.trialWillEndSent = true;
    emit(ctx, "customer.subscription.trial_will_end", sub, origin);
  }
  const customer = store.get<Customer>("customer", sub.customer);
  const pm = sub.default_payment_method ?? customer.invoice_settings.default_payment_method;
  const at = clock(store, sub);
  // The clock moves to the trial's end if it is not there yet.
  if (sub.trial_end && at < sub.trial_end) state.offset += sub.trial_end - at;
  const start = sub.trial_end && sub.trial_end > at ? sub.trial_end : at;
  if (!pm && state.endBehavior !== "create_invoice") {
    if (state.endBehavior === "cancel") {
      endSubscription(ctx, sub, origin, "cancellation_requested");
    } else {
      update(ctx, sub, "customer.subscription.updated", origin, (s) => {
        s.trial_end = start;
      });
      pauseNow(ctx, sub, "trial_end_without_payment_method", origin);
    }
    return;
  }
  const interval = sub.items.data[0].price.recurring!;
  const end = addInterval(start, interval.interval, interval.interval_count);
  update(ctx, sub, "customer.subscription.updated", origin, (s) => {
    s.status = "active";
    s.trial_end = start;
    s.items.data = s.items.data.map((i) => ({
      ...i,
      current_period_start: start,
      current_period_end: end,
    }));
    s.billing_cycle_anchor = start;
    if (s.cancel_at_period_end) s.cancel_at = end;
  });
  const lines = [
    ...state.pending.splice(0),
    ...sub.items.data.map((i) => periodLine(store, sub, i, start, end)),
  ];
  const invoice = createInvoice(
    ctx,
    sub,
    lines,
    "subscription_cycle",
    { start, end: start },
    origin,
  );
  finalize(ctx, invoice, origin);
  if (invoice.amount_due > 0) attemptPayment(ctx, invoice, pm, origin, outcome);
}

/** The subscription's clock moves to its period's end: renewal, trial end, or the end of a cancellation. */
export function advance(
  ctx: { store: Store; bank: Bank },
  sub: Subscription,
  outcome: CardBehaviour | undefined,
  origin: Origin,
): void {
  const { store } = ctx;
  const state = subState(store, sub.id);
  if (sub.status === "canceled" || sub.status === "incomplete_expired") {
    throw stateError(`Subscription ${sub.id} has ended (status ${sub.status}).`);
  }
  if (sub.status === "incomplete") {
    throw stateError(
      `Subscription ${sub.id} is incomplete: pay its first invoice or expire it (/_test/subscriptions/:id/expire_incomplete).`,
    );
  }
  if (sub.status === "trialing") return endTrial(ctx, sub, outcome, origin);
  const { start, end } = periodOf(sub);
  state.offset += Math.max(0, end - clock(store, sub));
  state.upcomingSent = false;
  if (sub.cancel_at !== null && sub.cancel_at <= end) {
    endSubscription(ctx, sub, origin, "cancellation_requested");
    return;
  }
  const interval = sub.items.data[0].price.recurring!;
  const nextEnd = addInterval(end, interval.interval, interval.interval_count);
  update(ctx, sub, "customer.subscription.updated", origin, (s) => {
    s.items.data = s.items.data.map((i) => ({
      ...i,
      current_period_start: end,
      current_period_end: nextEnd,
    }));
  });
  if (sub.status === "paused") return;
  const lines = [
    ...state.pending.splice(0),
    ...sub.items.data.map((i) => periodLine(store, sub, i, end, nextEnd)),
  ];
  const invoice = createInvoice(ctx, sub, lines, "subscription_cycle", { start, end }, origin);
  const pause = sub.pause_collection;
  if (pause?.behavior === "keep_as_draft") return;
  finalize(ctx, invoice, origin);
  if (pause?.behavior === "void") {
    if (invoice.status === "open") voidNow(ctx, invoice, origin);
    return;
  }
  if (pause?.behavior === "mark_uncollectible") {
    if (invoice.status === "open") {
      invoice.status = "uncollectible";
      invoice.status_transitions.marked_uncollectible_at = now();
      emit(ctx, "invoice.marked_uncollectible", invoice, origin);
    }
    return;
  }
  if (invoice.amount_due > 0) {
    const customer = store.get<Customer>("customer", sub.customer);
    attemptPayment(
      ctx,
      invoice,
      sub.default_payment_method ?? customer.invoice_settings.default_payment_method,
      origin,
      outcome,
    );
  }
}

/** Moves the clock to 3 days before the period (or trial) ends: `trial_will_end` or `invoice.upcoming`. */
export function remind(ctx: { store: Store; bank: Bank }, sub: Subscription, origin: Origin): void {
  const { store } = ctx;
  const state = subState(store, sub.id);
  const end = sub.status === "trialing" ? sub.trial_end! : periodOf(sub).end;
  const target = end - 3 * 86400;
  const at = clock(store, sub);
  if (at < target) state.offset += target - at;
  if (sub.status === "trialing") {
    if (!state.trialWillEndSent) {
      state.trialWillEndSent = true;
      emit(ctx, "customer.subscription.trial_will_end", sub, origin);
    }
    return;
  }
  if (
    !["active", "past_due"].includes(sub.status) || sub.cancel_at_period_end || state.upcomingSent
  ) return;
  state.upcomingSent = true;
  const preview = createPreview({
    reader: new Reader({ subscription: sub.id }),
    store,
    bank: ctx.bank,
    origin,
    baseUrl: "",
    params: [],
  }) as Record<string, unknown>;
  // The upcoming invoice has no id (it does not exist yet).
  const upcoming = { ...preview, id: undefined } as unknown as StripeObject;
  delete (upcoming as Record<string, unknown>).id;
  ctx.bank.emit("invoice.upcoming", upcoming, origin);
}

/** The first invoice was not paid within 23 hours: `incomplete_expired`, the invoice voided. */
export function expireIncomplete(
  ctx: { store: Store; bank: Bank },
  sub: Subscription,
  origin: Origin,
): void {
  if (sub.status !== "incomplete") {
    throw stateError(`Subscription ${sub.id} is not incomplete (status ${sub.status}).`);
  }
  const invoice = sub.latest_invoice ? ctx.store.get<Invoice>("invoice", sub.latest_invoice) : null;
  if (invoice && invoice.status === "open") voidNow(ctx, invoice, origin);
  update(ctx, sub, "customer.subscription.updated", origin, (s) => {
    s.status = "incomplete_expired";
    s.ended_at = clock(ctx.store, s);
  });
}

/** Smart Retries ran out: the subscription becomes canceled, unpaid or stays past_due (settings). */
export function exhaustRetries(
  ctx: { store: Store; bank: Bank },
  invoice: Invoice,
  then: "canceled" | "unpaid" | "past_due",
  invoiceThen: "open" | "uncollectible" | "void",
  origin: Origin,
): void {
  if (invoice.status !== "open") {
    throw stateError(`Invoice ${invoice.id} is not open (status ${invoice.status}).`);
  }
  invoice.next_payment_attempt = null;
  if (invoiceThen === "uncollectible") {
    invoice.status = "uncollectible";
    invoice.status_transitions.marked_uncollectible_at = now();
    emit(ctx, "invoice.marked_uncollectible", invoice, origin);
  } else if (invoiceThen === "void") voidNow(ctx, invoice, origin);
  const sub = subscriptionOf(ctx.store, invoice);
  if (!sub || sub.status === "canceled") return;
  if (then === "canceled") endSubscription(ctx, sub, origin, "payment_failed");
  else if (then === "unpaid") {
    update(ctx, sub, "customer.subscription.updated", origin, (s) => {
      s.status = "unpaid";
    });
  }
}

/** A Smart Retry of an open invoice with the saved card, or an outcome the test chooses. */
export function retryInvoice(
  ctx: { store: Store; bank: Bank },
  invoice: Invoice,
  outcome: CardBehaviour | undefined,
  origin: Origin,
): void {
  if (invoice.status !== "open" && invoice.status !== "uncollectible") {
    throw stateError(`Invoice ${invoice.id} cannot be retried (status ${invoice.status}).`);
  }
  const piId = billing(ctx.store).intentOfInvoice.get(invoice.id);
  if (piId) {
    const pi = ctx.store.get<PaymentIntent>("payment_intent", piId);
    if (pi.status === "requires_action") {
      Object.assign(pi, { status: "requires_payment_method", next_action: null });
    }
  }
  const sub = subscriptionOf(ctx.store, invoice);
  const customer = ctx.store.get<Customer>("customer", invoice.customer);
  attemptPayment(
    ctx,
    invoice,
    sub?.default_payment_method ?? customer.invoice_settings.default_payment_method,
    origin,
    outcome,
  );
}

// --- Checkout in subscription mode -----------------------------------------------------------

export interface SubscriptionSessionDetails {
  items: { price: string; quantity: number }[];
  subscriptionData: {
    metadata: Metadata;
    trial_period_days: number | null;
    description: string | null;
  };
}

/** Reads `line_items[i][price]` + quantity and `subscription_data` of a Checkout Session in subscription mode. */
export function subscriptionSession(
  r: Reader,
  store: Store,
): {
  details: SubscriptionSessionDetails;
  lineItems: Record<string, unknown>[];
  currency: string;
  amount: number;
} {
  const entries = r.objects("line_items");
  if (entries.length === 0) throw missingParam("line_items");
  const items = entries.map((entry, index) => {
    entry.allow(
      "price",
      "quantity",
      "adjustable_quantity",
      "tax_rates",
      "dynamic_tax_rates",
      "price_data",
    );
    if (entry.has("price_data")) {
      throw invalidParam(
        "The stand-in takes line_items[i][price] in subscription mode.",
        `line_items[${index}][price_data]`,
      );
    }
    const price = priceOf(store, entry.string("price", true), `line_items[${index}][price]`);
    if (!price.active) {
      throw invalidParam(
        "The price specified is inactive. This field only accepts active prices.",
        `line_items[${index}][price]`,
      );
    }
    return { price, quantity: entry.amount("quantity", true) };
  });
  if (!items.some((i) => i.price.recurring)) {
    throw invalidParam(
      "You must specify at least one recurring price in `subscription` mode when using prices.",
      "line_items",
    );
  }
  checkSameInterval(items.filter((i) => i.price.recurring), "line_items");
  const data = r.object("subscription_data");
  data?.allow(
    "metadata",
    "trial_period_days",
    "description",
    "trial_end",
    "trial_settings",
    "default_tax_rates",
    "application_fee_percent",
    "on_behalf_of",
    "transfer_data",
    "billing_cycle_anchor",
    "proration_behavior",
    "invoice_settings",
    "billing_mode",
  );
  const trialDays = data?.integer("trial_period_days") ?? null;
  if (trialDays !== null && trialDays < 1) {
    throw invalidParam(
      "This value must be greater than or equal to 1.",
      "subscription_data[trial_period_days]",
    );
  }
  const lineItems = items.map(({ price, quantity }) => ({
    id: newId("li"),
    object: "item",
    amount_discount: 0,
    amount_subtotal: price.unit_amount * quantity,
    amount_tax: 0,
    amount_total: price.unit_amount * quantity,
    currency: price.currency,
    description: productName(store, price),
    price: structuredClone(price),
    quantity,
  }));
  return {
    details: {
      items: items.map((i) => ({ price: i.price.id, quantity: i.quantity })),
      subscriptionData: {
        metadata: data?.metadata() ?? {},
        trial_period_days: trialDays,
        description: data?.string("description") || null,
      },
    },
    lineItems,
    currency: items[0].price.currency,
    amount: trialDays ? 0 : lineItems.reduce((sum, li) => sum + li.amount_total, 0),
  };
}

/**
 * The customer pays a subscription-mode Checkout Session: a customer (created unless the session
 * named one), the card saved as the subscription's default, the subscription and its first
 * invoice (paid, or free during a trial). A declined card leaves the session open.
 */
export function completeSubscriptionSession(
  ctx: { store: Store; bank: Bank },
  session: StripeObject,
  details: SubscriptionSessionDetails,
  body: { outcome: "paid" | "failed"; email?: string; name?: string },
): { customer: Customer; subscription: Subscription | null; invoice: Invoice | null } {
  const { store } = ctx;
  const email = body.email ?? (session.customer_email as string | null) ?? "customer@example.com";
  if (body.outcome === "failed") {
    return { customer: null as unknown as Customer, subscription: null, invoice: null };
  }
  let customer: Customer;
  if (session.customer) customer = store.get<Customer>("customer", session.customer as string);
  else {
    customer = store.put<Customer>({
      id: newId("cus").slice(0, 18),
      object: "customer",
      address: null,
      balance: 0,
      created: now(),
      currency: null,
      default_source: null,
      delinquent: false,
      description: null,
      discount: null,
      email,
      invoice_prefix: randomString(8).toUpperCase().replace(/[^A-Z0-9]/g, "X"),
      invoice_settings: {
        custom_fields: null,
        default_payment_method: null,
        footer: null,
        rendering_options: null,
      },
      livemode: false,
      metadata: {},
      name: body.name ?? null,
      next_invoice_sequence: 1,
      phone: null,
      preferred_locales: [],
      shipping: null,
      tax_exempt: "none",
      test_clock: null,
    });
    emit(ctx, "customer.created", customer, NO_REQUEST);
  }
  const pm = attach(ctx, "pm_card_visa", customer, NO_REQUEST);
  const trialDays = details.subscriptionData.trial_period_days;
  const sub = startSubscription(ctx, {
    customer,
    items: details.items.map((i) => ({
      price: store.get<Price>("price", i.price),
      quantity: i.quantity,
    })),
    paymentMethod: pm,
    paymentBehavior: "allow_incomplete",
    trialEnd: trialDays ? now() + trialDays * 86400 : null,
    metadata: { ...details.subscriptionData.metadata },
    description: details.subscriptionData.description,
    cancelAtPeriodEnd: false,
    endBehavior: "create_invoice",
    saveDefault: false,
  }, NO_REQUEST);
  const invoice = sub.latest_invoice ? store.get<Invoice>("invoice", sub.latest_invoice) : null;
  return { customer, subscription: sub, invoice };
}

// --- routes ----------------------------------------------------------------------------------

export type BillingHandler = (ctx: BillingCtx) => unknown;

const ID = "([A-Za-z0-9_]+)";

/**
 * GET /v1/invoice_payments: by invoice, status, and payment[type] with payment[payment_intent]
 * (which invoice a payment intent paid: the current API's way from a charge to its invoice).
 */
function listInvoicePayments({ reader: r, store }: Parameters<BillingHandler>[0]) {
  r.allow("limit", "starting_after", "ending_before", "created", "invoice", "status", "payment");
  const invoice = r.string("invoice");
  const status = r.string("status");
  const payment = r.object("payment");
  payment?.allow("type", "payment_intent", "payment_record");
  const type = payment?.string("type", true);
  const intent = payment?.string("payment_intent");
  const items = store.all<InvoicePayment>("invoice_payment").filter((p) =>
    (invoice === undefined || p.invoice === invoice) &&
    (status === undefined || p.status === status) &&
    (type === undefined || p.payment.type === type) &&
    (intent === undefined || p.payment.payment_intent === intent)
  );
  return page("/v1/invoice_payments", items, r);
}

export const billingRoutes: [string, RegExp, BillingHandler][] = [
  ["POST", /^\/v1\/customers$/, createCustomer],
  ["GET", /^\/v1\/customers$/, listCustomers],
  ["GET", new RegExp(`^/v1/customers/${ID}$`), getCustomer],
  ["POST", new RegExp(`^/v1/customers/${ID}$`), updateCustomer],
  ["DELETE", new RegExp(`^/v1/customers/${ID}$`), deleteCustomer],
  ["GET", new RegExp(`^/v1/customers/${ID}/payment_methods$`), ({ reader: r, store, params }) => {
    r.allow("limit", "starting_after", "ending_before", "type", "allow_redisplay");
    customerOf(store, params[0]);
    const items = store.all<PaymentMethod>("payment_method").filter((pm) =>
      pm.customer === params[0]
    );
    return page(`/v1/customers/${params[0]}/payment_methods`, items, r);
  }],

  ["GET", new RegExp(`^/v1/payment_methods/${ID}$`), ({ reader, store, params }) => {
    reader.allow();
    return store.get<PaymentMethod>("payment_method", params[0], "payment_method");
  }],
  ["POST", new RegExp(`^/v1/payment_methods/${ID}/attach$`), attachRoute],
  ["POST", new RegExp(`^/v1/payment_methods/${ID}/detach$`), detachRoute],

  ["POST", /^\/v1\/products$/, createProduct],
  ["GET", /^\/v1\/products$/, listProducts],
  ["GET", new RegExp(`^/v1/products/${ID}$`), ({ reader, store, params }) => {
    reader.allow();
    const product = store.get<Product>("product", params[0]);
    if (product.deleted) throw resourceMissing("product", params[0]);
    return product;
  }],
  ["POST", new RegExp(`^/v1/products/${ID}$`), updateProduct],
  ["DELETE", new RegExp(`^/v1/products/${ID}$`), deleteProduct],

  ["POST", /^\/v1\/prices$/, createPrice],
  ["GET", /^\/v1\/prices$/, listPrices],
  ["GET", new RegExp(`^/v1/prices/${ID}$`), ({ reader, store, params }) => {
    reader.allow();
    return priceOf(store, params[0], "price");
  }],
  ["POST", new RegExp(`^/v1/prices/${ID}$`), updatePrice],

  ["POST", /^\/v1\/subscriptions$/, createSubscription],
  ["GET", /^\/v1\/subscriptions$/, listSubscriptions],
  ["GET", new RegExp(`^/v1/subscriptions/${ID}$`), retrieveSubscription],
  ["POST", new RegExp(`^/v1/subscriptions/${ID}$`), updateSubscription],
  ["DELETE", new RegExp(`^/v1/subscriptions/${ID}$`), cancelSubscription],
  ["POST", new RegExp(`^/v1/subscriptions/${ID}/pause$`), pauseSubscription],
  ["POST", new RegExp(`^/v1/subscriptions/${ID}/resume$`), resumeSubscription],
  ["GET", /^\/v1\/subscription_items$/, ({ reader: r, store }) => {
    r.allow("limit", "starting_after", "ending_before", "subscription");
    const sub = store.get<Subscription>(
      "subscription",
      r.string("subscription", true),
      "subscription",
    );
    return page(`/v1/subscription_items`, sub.items.data as unknown as { id: string }[], r);
  }],

  ["POST", /^\/v1\/invoices\/create_preview$/, createPreview],
  ["GET", /^\/v1\/invoices$/, listInvoices],
  ["GET", new RegExp(`^/v1/invoices/${ID}$`), getInvoice],
  ["GET", new RegExp(`^/v1/invoices/${ID}/lines$`), ({ reader, store, params }) => {
    reader.allow("limit", "starting_after", "ending_before");
    const invoice = store.get<Invoice>("invoice", params[0]);
    return page(`/v1/invoices/${invoice.id}/lines`, invoice.lines.data, reader);
  }],
  ["POST", new RegExp(`^/v1/invoices/${ID}/pay$`), payInvoice],
  ["POST", new RegExp(`^/v1/invoices/${ID}/void$`), voidInvoice],
  ["POST", new RegExp(`^/v1/invoices/${ID}/mark_uncollectible$`), markUncollectible],
  ["POST", new RegExp(`^/v1/invoices/${ID}/finalize$`), finalizeRoute],
  ["GET", /^\/v1\/invoice_payments$/, listInvoicePayments],
  ["GET", new RegExp(`^/v1/invoice_payments/${ID}$`), ({ reader, store, params }) => {
    reader.allow();
    return store.get<InvoicePayment>("invoice_payment", params[0]);
  }],
];
