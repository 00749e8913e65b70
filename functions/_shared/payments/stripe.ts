// The one place functions get a Stripe client, and the subset of its API the payments
// functions call (StripeApi: a real client satisfies it, unit tests pass a fake that records
// calls). With STRIPE_API_BASE set (the local stack sets it to its Stripe stand-in), the SDK
// talks to that server; without it, to Stripe itself with the STRIPE_SECRET_KEY given (a
// test-mode key in development). Variables are validated when called, like env(): a missing
// key fails loudly instead of reaching Stripe as "".
import Stripe from "npm:stripe@23.1.0";
import { z } from "npm:zod@4.6.7";

const stripeEnvSchema = z.object({
  STRIPE_SECRET_KEY: z.string({ error: "missing" }).regex(/^(sk|rk)_(test|live)_\S+$/, {
    error: "not a Stripe secret key (sk_test_… or sk_live_…)",
  }),
  STRIPE_API_BASE: z.url({ protocol: /^https?$/, error: "not an http(s) URL" }).optional(),
});

const webhookSecretSchema = z.string({ error: "missing" }).regex(/^whsec_\S+$/, {
  error: "not a webhook signing secret (whsec_…)",
});

export type StripeEnv = z.infer<typeof stripeEnvSchema>;

function failure(error: z.ZodError): Error {
  const problems = error.issues.map((issue) =>
    `${String(issue.path[0] ?? "STRIPE_WEBHOOK_SECRET")} (${issue.message})`
  );
  return new Error(`Missing or invalid environment variables: ${problems.join(", ")}`);
}

export function parseStripeEnv(variables: Record<string, string | undefined>): StripeEnv {
  // An empty STRIPE_API_BASE means "not set", never a URL of "".
  const input = { ...variables, STRIPE_API_BASE: variables.STRIPE_API_BASE || undefined };
  const result = stripeEnvSchema.safeParse(input);
  if (!result.success) throw failure(result.error);
  return result.data;
}

/** How the SDK reaches the API: Stripe's own host, or the base URL's host, port and protocol. */
export function stripeConfig(variables: StripeEnv): Stripe.StripeConfig {
  const config: Stripe.StripeConfig = { httpClient: Stripe.createFetchHttpClient() };
  if (!variables.STRIPE_API_BASE) return config;
  const base = new URL(variables.STRIPE_API_BASE);
  const protocol = base.protocol === "https:" ? "https" : "http";
  return {
    ...config,
    host: base.hostname,
    port: base.port ? Number(base.port) : protocol === "https" ? 443 : 80,
    protocol,
  };
}

/**
 * STRIPE_SECRET_KEY and STRIPE_API_BASE, validated. A function that calls Stripe calls this in
 * its index.ts before Deno.serve, so a deployment without the key fails at start-up.
 */
export function stripeEnv(): StripeEnv {
  return parseStripeEnv({
    STRIPE_SECRET_KEY: Deno.env.get("STRIPE_SECRET_KEY"),
    STRIPE_API_BASE: Deno.env.get("STRIPE_API_BASE"),
  });
}

type Options = Stripe.RequestOptions;

/** The Stripe API surface the payments functions call (a real Stripe client satisfies it). */
export interface StripeApi {
  accounts: {
    create(params: Stripe.AccountCreateParams, options?: Options): Promise<Stripe.Account>;
  };
  accountLinks: {
    create(params: Stripe.AccountLinkCreateParams, options?: Options): Promise<Stripe.AccountLink>;
  };
  checkout: {
    sessions: {
      create(
        params: Stripe.Checkout.SessionCreateParams,
        options?: Options,
      ): Promise<Stripe.Checkout.Session>;
      expire(
        id: string,
        params?: Stripe.Checkout.SessionExpireParams,
        options?: Options,
      ): Promise<Stripe.Checkout.Session>;
    };
  };
  paymentIntents: {
    create(
      params: Stripe.PaymentIntentCreateParams,
      options?: Options,
    ): Promise<Stripe.PaymentIntent>;
    retrieve(
      id: string,
      params?: Stripe.PaymentIntentRetrieveParams,
      options?: Options,
    ): Promise<Stripe.PaymentIntent>;
  };
  charges: {
    retrieve(
      id: string,
      params?: Stripe.ChargeRetrieveParams,
      options?: Options,
    ): Promise<Stripe.Charge>;
  };
  transfers: {
    create(params: Stripe.TransferCreateParams, options?: Options): Promise<Stripe.Transfer>;
    list(
      params?: Stripe.TransferListParams,
      options?: Options,
    ): Promise<Stripe.ApiList<Stripe.Transfer>>;
    createReversal(
      id: string,
      params?: Stripe.TransferCreateReversalParams,
      options?: Options,
    ): Promise<Stripe.TransferReversal>;
  };
  refunds: { create(params: Stripe.RefundCreateParams, options?: Options): Promise<Stripe.Refund> };
  balanceTransactions: {
    retrieve(
      id: string,
      params?: Stripe.BalanceTransactionRetrieveParams,
      options?: Options,
    ): Promise<Stripe.BalanceTransaction>;
  };
}

/**
 * The id of a payment intent's latest charge, or null while it has none: the transfer's
 * source_transaction when the payment was confirmed by checkout.session.completed alone, which
 * carries no charge id.
 */
export async function latestChargeOf(
  stripe: Pick<StripeApi, "paymentIntents">,
  paymentIntentId: string,
): Promise<string | null> {
  const intent = await stripe.paymentIntents.retrieve(paymentIntentId);
  return typeof intent.latest_charge === "string"
    ? intent.latest_charge
    : intent.latest_charge?.id ?? null;
}

/**
 * A payment intent's latest charge and its balance transaction (Stripe's fee), read in one
 * request with `latest_charge.balance_transaction` expanded; null while it has no charge. The
 * balance transaction is null while Stripe has not made it (or when a fake answers ids only).
 * The shop's payments post the fee from it (ops.record_shop_stripe_fee), as the webhook posts a
 * commission order's (private.post_stripe_fee, the one rule for both).
 */
export async function latestChargeWithFee(
  stripe: Pick<StripeApi, "paymentIntents">,
  paymentIntentId: string,
): Promise<{ charge: string; balance_transaction: Stripe.BalanceTransaction | null } | null> {
  const intent = await stripe.paymentIntents.retrieve(paymentIntentId, {
    expand: ["latest_charge.balance_transaction"],
  });
  const charge = intent.latest_charge;
  if (!charge) return null;
  if (typeof charge === "string") return { charge, balance_transaction: null };
  const txn = charge.balance_transaction;
  return { charge: charge.id, balance_transaction: txn && typeof txn !== "string" ? txn : null };
}

/** A Stripe client for this request, from STRIPE_SECRET_KEY and the optional STRIPE_API_BASE. */
export function stripeClient(): Stripe {
  const variables = stripeEnv();
  return new Stripe(variables.STRIPE_SECRET_KEY, stripeConfig(variables));
}

/** The webhook endpoint's signing secret (whsec_…), validated like the other variables. */
export function stripeWebhookSecret(): string {
  const result = webhookSecretSchema.safeParse(Deno.env.get("STRIPE_WEBHOOK_SECRET"));
  if (!result.success) throw failure(result.error);
  return result.data;
}

/** Deno has no Node crypto for the SDK: webhooks are verified with constructEventAsync and this. */
export const stripeCryptoProvider = Stripe.createSubtleCryptoProvider();

export { Stripe };
