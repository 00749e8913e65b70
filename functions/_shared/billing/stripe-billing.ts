// Stripe Billing for the billing-* functions and the stripe-webhook's billing hook: the subset
// of the Stripe client they call (a real client satisfies it; tests may pass a fake), and the
// idempotency keys derived from our ids.
import type Stripe from "npm:stripe@23.1.0";

export type BillingStripe = Pick<
  Stripe,
  | "products"
  | "prices"
  | "customers"
  | "checkout"
  | "subscriptions"
  | "invoices"
  | "invoicePayments"
  | "paymentIntents"
  | "refunds"
>;

/** Idempotency keys: one Stripe object per row of ours, however often a call is repeated. */
export const billingKeys = {
  product: (planId: string) => `plan:${planId}`,
  price: (planPriceId: string) => `plan_price:${planPriceId}`,
  customer: (userId: string) => `customer:${userId}`,
  /** An Elements subscription of a user and price, after the customer's latest subscription. */
  elementsSubscription: (userId: string, planPriceId: string, after: string) =>
    `elements_subscription:${userId}:${planPriceId}:${after}`,
  /** A staff force cancel's refund of the subscription's latest paid invoice. */
  forceCancelRefund: (subscriptionId: string) => `force_cancel_refund:${subscriptionId}`,
};
