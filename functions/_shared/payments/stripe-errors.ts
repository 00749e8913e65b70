// Stripe's failures in the project's error format, and which of them mean Stripe did not do
// what was asked (a claim may be dropped) or could not be asked at all (stop the run).
import { HttpError } from "../http/errors.ts";

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
    ? new HttpError("payment_provider_refused", `Stripe refused the request: ${e.message}`, details)
    : new HttpError(
      "payment_provider_error",
      `Stripe could not complete the request: ${e.message}`,
      details,
    );
}
