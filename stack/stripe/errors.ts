// Stripe's error responses: `{ "error": { "type", "code"?, "message", "param"?, "doc_url"? } }`
// with Stripe's HTTP statuses. Whether Stripe saves an error for idempotent replay depends on
// when it happened: a request that fails validation is not saved (it never began executing),
// one refused by the state of the objects it touches is.

export type StripeErrorType =
  | "invalid_request_error"
  | "idempotency_error"
  | "card_error"
  | "api_error";

export class StripeError extends Error {
  constructor(
    readonly status: number,
    readonly type: StripeErrorType,
    message: string,
    readonly code?: string,
    readonly param?: string,
    /** Saved under the request's idempotency key and replayed, as Stripe does once execution began. */
    readonly saved = false,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  render(): { error: Record<string, unknown> } {
    return {
      error: {
        ...(this.code
          ? {
            code: this.code,
            doc_url: `https://stripe.com/docs/error-codes/${this.code.replace(/_/g, "-")}`,
          }
          : {}),
        message: this.message,
        ...(this.param ? { param: this.param } : {}),
        ...this.extra,
        type: this.type,
      },
    };
  }
}

/** Bad parameters: 400, not saved for idempotent replay. */
export function invalidParam(message: string, param?: string, code?: string): StripeError {
  return new StripeError(400, "invalid_request_error", message, code, param);
}

export function missingParam(param: string): StripeError {
  return invalidParam(`Missing required param: ${param}.`, param, "parameter_missing");
}

/** `No such charge: 'ch_123'`: 404 resource_missing. */
export function resourceMissing(kind: string, id: string, param = "id"): StripeError {
  return new StripeError(
    404,
    "invalid_request_error",
    `No such ${kind}: '${id}'`,
    "resource_missing",
    param,
  );
}

/** Refused by the state of the objects involved (already refunded, not enough funds): 400, saved. */
export function stateError(message: string, code?: string, param?: string): StripeError {
  return new StripeError(400, "invalid_request_error", message, code, param, true);
}
