// The stand-in's in-memory state: Stripe objects by id (ids with Stripe's prefixes), list
// pages in Stripe's shape, and `expand[]`. Everything is forgotten when the stack stops.

import { randomBytes } from "node:crypto";
import { invalidParam, resourceMissing } from "./errors.ts";
import type { SubscriptionSessionDetails } from "./billing.ts";
import type { Metadata, Reader } from "./params.ts";

/** Every Stripe object: an id with its type's prefix, `object`, `created`, `livemode: false`. */
export interface StripeObject {
  id: string;
  object: string;
  created: number;
  livemode: false;
  // Stripe objects carry many fields; each kind below names the ones the stand-in changes.
  [field: string]: unknown;
}

export interface Account extends StripeObject {
  object: "account";
  type: string;
  email: string | null;
  capabilities: Record<string, "active" | "inactive" | "pending">;
  charges_enabled: boolean;
  payouts_enabled: boolean;
  details_submitted: boolean;
  requirements: Record<string, unknown>;
  metadata: Metadata;
}

export interface CheckoutSession extends StripeObject {
  object: "checkout.session";
  amount_total: number;
  currency: string;
  status: "open" | "complete" | "expired";
  payment_status: "paid" | "unpaid" | "no_payment_required";
  payment_intent: string | null;
  metadata: Metadata;
  customer_details: Record<string, unknown> | null;
  customer_email: string | null;
  expires_at: number;
}

export interface PaymentIntent extends StripeObject {
  object: "payment_intent";
  amount: number;
  amount_received: number;
  currency: string;
  status: string;
  latest_charge: string | null;
  last_payment_error: Record<string, unknown> | null;
  metadata: Metadata;
  transfer_group: string | null;
  description: string | null;
  canceled_at: number | null;
  cancellation_reason: string | null;
}

export interface Charge extends StripeObject {
  object: "charge";
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  balance_transaction: string | null;
  currency: string;
  disputed: boolean;
  paid: boolean;
  payment_intent: string | null;
  refunded: boolean;
  status: "succeeded" | "pending" | "failed";
  transfer_group: string | null;
  metadata: Metadata;
}

export interface BalanceTransaction extends StripeObject {
  object: "balance_transaction";
  amount: number;
  currency: string;
  fee: number;
  net: number;
  source: string;
  type: string;
}

export interface Refund extends StripeObject {
  object: "refund";
  amount: number;
  charge: string;
  currency: string;
  payment_intent: string | null;
  status: "pending" | "succeeded" | "failed" | "canceled";
  balance_transaction: string | null;
  failure_balance_transaction?: string;
  failure_reason?: string;
  metadata: Metadata;
}

export interface Transfer extends StripeObject {
  object: "transfer";
  amount: number;
  amount_reversed: number;
  currency: string;
  destination: string;
  reversed: boolean;
  source_transaction: string | null;
  transfer_group: string | null;
  metadata: Metadata;
}

export interface TransferReversal extends StripeObject {
  object: "transfer_reversal";
  amount: number;
  transfer: string;
  metadata: Metadata;
}

export interface Dispute extends StripeObject {
  object: "dispute";
  amount: number;
  charge: string;
  currency: string;
  status: string;
  balance_transactions: string[];
  payment_intent: string | null;
}

/** A Checkout Session's line item (`object: "item"`: no `created` or `livemode`). */
export interface LineItem {
  id: string;
  object: "item";
  currency: string;
  amount_total: number;
  [field: string]: unknown;
}

/** The parts of a Checkout Session Stripe keeps but does not show on the object. */
export interface SessionDetails {
  lineItems: LineItem[];
  paymentIntentData: {
    metadata: Metadata;
    transfer_group: string | null;
    description: string | null;
  };
  /** A session in subscription mode: its prices and `subscription_data`. */
  subscription?: SubscriptionSessionDetails;
}

const ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function randomString(length: number): string {
  const bytes = randomBytes(length);
  let result = "";
  for (const byte of bytes) result += ALPHANUMERIC[byte % ALPHANUMERIC.length];
  return result;
}

/** `pi_` + 24 characters, like Stripe's ids; Checkout Sessions are `cs_test_` + 58. */
export function newId(prefix: string): string {
  return prefix === "cs_test" ? `cs_test_a1${randomString(56)}` : `${prefix}_${randomString(24)}`;
}

export const now = (): number => Math.floor(Date.now() / 1000);

/** Stripe's processing fee as the stand-in charges it: 2.9% + 30 minor units, rounded. */
export function stripeFee(amount: number): number {
  return Math.round(amount * 0.029) + 30;
}

export class Store {
  private readonly objects = new Map<string, StripeObject>();
  readonly sessions = new Map<string, SessionDetails>();
  /**
   * Fields Stripe returns only when expanded (`includable`: an invoice's `confirmation_secret`
   * and `payments`), by object id and field.
   */
  readonly includable = new Map<string, Record<string, () => unknown>>();

  put<T extends StripeObject>(object: T): T {
    this.objects.set(object.id, object);
    return object;
  }

  find(id: string): StripeObject | undefined {
    return this.objects.get(id);
  }

  /** The object of that kind (`object` field) with that id, or Stripe's 404. */
  get<T extends StripeObject>(kind: T["object"], id: string, param = "id"): T {
    const found = this.objects.get(id);
    if (!found || found.object !== kind) throw resourceMissing(kind, id, param);
    return found as T;
  }

  /** Every object of a kind, newest first (Stripe's list order). */
  all<T extends StripeObject>(kind: T["object"]): T[] {
    const result: T[] = [];
    for (const object of this.objects.values()) {
      if (object.object === kind) result.push(object as T);
    }
    return result.reverse();
  }

  /** Resolves `expand[]` paths (`latest_charge.balance_transaction`, `data.destination`). */
  expand<T>(value: T, paths: string[]): T {
    const copy = structuredClone(value);
    for (const path of paths) {
      if (path.split(".").length > 4) {
        throw invalidParam(
          `You cannot expand more than 4 levels of a property. Property: ${path}`,
          "expand",
        );
      }
      this.expandPath(copy as unknown, path.split("."), path);
    }
    return copy;
  }

  private expandPath(target: unknown, path: string[], full: string): void {
    if (path.length === 0 || target === null || typeof target !== "object") return;
    if (Array.isArray(target)) {
      for (const item of target) this.expandPath(item, path, full);
      return;
    }
    const record = target as Record<string, unknown>;
    const [field, ...rest] = path;
    let value = record[field];
    if (value === undefined && record.object === "checkout.session" && field === "line_items") {
      const items = this.sessions.get(record.id as string)?.lineItems ?? [];
      value = listOf(
        `/v1/checkout/sessions/${record.id}/line_items`,
        structuredClone(items),
        false,
      );
    } else if (value === undefined && this.includable.get(record.id as string)?.[field]) {
      value = structuredClone(this.includable.get(record.id as string)![field]());
    } else if (value === undefined) {
      throw invalidParam(`This property cannot be expanded (${full}).`, "expand");
    } else if (typeof value === "string" && this.objects.has(value)) {
      value = structuredClone(this.objects.get(value));
    } else if (
      Array.isArray(value) &&
      value.some((item) => typeof item === "string" && this.objects.has(item))
    ) {
      value = value.map((item) =>
        (typeof item === "string" && this.objects.get(item))
          ? structuredClone(this.objects.get(item))
          : item
      );
    }
    record[field] = value;
    this.expandPath(value, rest, full);
  }
}

export interface StripeList<T> {
  object: "list";
  data: T[];
  has_more: boolean;
  url: string;
}

export function listOf<T>(url: string, data: T[], hasMore: boolean): StripeList<T> {
  return { object: "list", data, has_more: hasMore, url };
}

/** One page of a list, newest first: `limit` (1-100, default 10), `starting_after`, `ending_before`. */
export function page<T extends { id: string }>(
  url: string,
  items: T[],
  reader: Reader,
): StripeList<T> {
  const limit = reader.integer("limit") ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalidParam(
      "Invalid integer: limit must be between 1 and 100",
      "limit",
      "parameter_invalid_integer",
    );
  }
  const after = reader.string("starting_after");
  const before = reader.string("ending_before");
  let start = 0;
  let end = items.length;
  if (after) {
    const index = items.findIndex((item) => item.id === after);
    if (index < 0) {
      throw invalidParam(`No such object: '${after}'`, "starting_after", "resource_missing");
    }
    start = index + 1;
  } else if (before) {
    const index = items.findIndex((item) => item.id === before);
    if (index < 0) {
      throw invalidParam(`No such object: '${before}'`, "ending_before", "resource_missing");
    }
    end = index;
    start = Math.max(0, end - limit);
  }
  const data = items.slice(start, Math.min(end, start + limit));
  const hasMore = before ? start > 0 : start + data.length < end;
  return listOf(url, data, hasMore);
}
