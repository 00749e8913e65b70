// The codes of the project's one error format, `{ "error": { "code", "message", "details"? } }`,
// each with the HTTP status it is sent with and what it means. The edge functions may send
// these codes only (functions/_shared/http/errors.ts re-exports them); clients and tests can
// import the same list. Plain TypeScript, no imports: Deno and Node both load this file.

export const ERROR_CODES = {
  invalid_request: {
    status: 400,
    meaning: "The request is malformed (not JSON, fails validation) or a value is refused",
  },
  invalid_signature: {
    status: 400,
    meaning: "A webhook's signature header is missing or does not match its payload",
  },
  unauthorized: { status: 401, meaning: "No valid session: sign in (again)" },
  reauthentication_failed: {
    status: 401,
    meaning: "The password given to confirm a sensitive action is not correct",
  },
  forbidden: { status: 403, meaning: "Signed in, but not allowed to do this" },
  two_factor_required: {
    status: 403,
    meaning:
      "The caller has a verified MFA factor and this action (payouts, refunds, roles, account deletion) needs an aal2 session: verify the factor first",
  },
  last_admin_protection: {
    status: 403,
    meaning: "The platform's only admin may not delete their account",
  },
  not_found: { status: 404, meaning: "What the request names does not exist, or is not visible" },
  method_not_allowed: { status: 405, meaning: "The function does not answer this HTTP method" },
  conflict: {
    status: 409,
    meaning: "The resource's state does not allow this now (a duplicate, a wrong state, in flight)",
  },
  payment_provider_refused: {
    status: 409,
    meaning: "Stripe refused because of the state of its objects; nothing happened",
  },
  share_link_expired: { status: 410, meaning: "The share link has expired" },
  link_expired: { status: 410, meaning: "The mailed link has expired; ask for a new one" },
  rate_limited: {
    status: 429,
    meaning: "Too many requests or attempts; try again after Retry-After seconds",
  },
  internal_error: { status: 500, meaning: "A bug or an outage; the details are in the logs" },
  maintenance: {
    status: 503,
    meaning: "Maintenance mode is on: writes are refused until it ends (Retry-After, the message)",
  },
  payment_provider_error: {
    status: 502,
    meaning: "Stripe could not be reached or failed; the request may be retried",
  },
} as const satisfies Record<string, { status: number; meaning: string }>;

/** A `code` the project's error format may carry. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** Whether a value is one of the codes (for a client reading an error body). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}
