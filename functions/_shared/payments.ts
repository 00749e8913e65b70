// What the payments functions share: the one SQL call shape (service-role RPCs that take
// acting_user and raise precise SQLSTATEs), the subset of Stripe they use (so unit tests can
// pass a fake that records calls), Stripe errors in the project's error format, and the
// allow-list for URLs Stripe sends a browser back to.
import type Stripe from "npm:stripe@23.1.0";
import { z } from "npm:zod@4.6.7";
import { type DatabaseError, orThrow } from "./database-errors.ts";
import { HttpError } from "./errors.ts";

/** The part of a Supabase client the payments logic uses: RPCs, as the service role. */
export interface Db {
  rpc(
    fn: string,
    args: Record<string, unknown>,
  ): PromiseLike<{ data: unknown; error: DatabaseError | null }>;
}

export async function call<T>(db: Db, fn: string, args: Record<string, unknown>): Promise<T> {
  return orThrow(await db.rpc(fn, args) as { data: T | null; error: DatabaseError | null });
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

interface StripeLikeError {
  type?: string;
  statusCode?: number;
  message: string;
  code?: string;
}

function asStripeError(err: unknown): StripeLikeError | null {
  if (!(err instanceof Error)) return null;
  const e = err as Error & StripeLikeError;
  return typeof e.type === "string" && e.type.startsWith("Stripe") ? e : null;
}

/**
 * Whether Stripe could not be asked at all: no connection, or the key refused (invalid,
 * revoked, or a restricted key without the permission). Unlike an error about one object,
 * every later request would fail the same way.
 */
export function stripeUnreachable(err: unknown): boolean {
  const type = asStripeError(err)?.type;
  return type === "StripeConnectionError" || type === "StripeAuthenticationError" ||
    type === "StripePermissionError";
}

/** Stripe's message when err is a Stripe error (of any kind), else null. */
export function stripeErrorMessage(err: unknown): string | null {
  return asStripeError(err)?.message ?? null;
}

/**
 * Whether Stripe definitely did not do what was asked (a 4xx other than an idempotency
 * conflict or rate limit): the claim may be dropped. Anything else (network, 5xx) may have
 * happened: the claim stays until its lease expires and a retry repeats the same key.
 */
export function stripeRefused(err: unknown): boolean {
  const e = asStripeError(err);
  return !!e && typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500 &&
    e.statusCode !== 409 && e.statusCode !== 429;
}

/**
 * A Stripe failure in the project's error format. Stripe saying no to a well-formed request
 * because of the state of its objects (a charge already refunded or charged back, a balance
 * too low, a card declined) is a 409 `payment_provider_refused`: the caller learns why and
 * nothing happened. Anything else (unreachable, 5xx, our key refused, rate limits,
 * idempotency conflicts) is a 502 `payment_provider_error`. Stripe's type and code go in
 * the details either way.
 */
export function stripeHttpError(err: unknown): unknown {
  const e = asStripeError(err);
  if (!e) return err;
  const details = { stripe_type: e.type, stripe_code: e.code };
  const refusedForState =
    (e.type === "StripeInvalidRequestError" || e.type === "StripeCardError") &&
    (e.statusCode === 400 || e.statusCode === 402 || e.statusCode === 404);
  return refusedForState
    ? new HttpError(
      409,
      "payment_provider_refused",
      `Stripe refused the request: ${e.message}`,
      details,
    )
    : new HttpError(
      502,
      "payment_provider_error",
      `Stripe could not complete the request: ${e.message}`,
      details,
    );
}

/** Origins (scheme://host[:port]) Stripe may send a browser back to, from the environment. */
export function allowedRedirectOrigins(): string[] {
  const raw = Deno.env.get("PAYMENTS_ALLOWED_REDIRECT_ORIGINS");
  const origins = (raw ?? "").split(",").map((o) => o.trim()).filter((o) => o.length > 0);
  const parsed = z.array(z.url({ protocol: /^https?$/ })).min(1).safeParse(origins);
  if (!parsed.success) {
    throw new Error(
      "Missing or invalid environment variables: PAYMENTS_ALLOWED_REDIRECT_ORIGINS (comma-separated http(s) origins)",
    );
  }
  return parsed.data.map((o) => new URL(o).origin);
}

/** Refuses (400) a redirect URL outside the allow-list. */
export function checkRedirect(name: string, url: string, allowed: string[]): void {
  if (!allowed.includes(new URL(url).origin)) {
    throw new HttpError(400, "invalid_request", `${name} must be on an allowed origin`, {
      allowed_origins: allowed,
    });
  }
}
