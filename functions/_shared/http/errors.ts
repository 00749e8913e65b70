// The project's one error format, `{ "error": { "code", "message", "details"? } }`, and
// the mapping from whatever a handler throws to a response in it. The codes, their statuses
// and meanings are one typed list in types/error-codes.ts, shared with the Node clients.
import { z } from "npm:zod@4.6.7";
import { ERROR_CODES, type ErrorBody, type ErrorCode } from "../../../types/error-codes.ts";

export {
  ERROR_CODES,
  type ErrorBody,
  type ErrorCode,
  isErrorCode,
} from "../../../types/error-codes.ts";

/**
 * An error meant for the caller: its code, message and details are sent as they are, with the
 * code's status from ERROR_CODES.
 */
export class HttpError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: HeadersInit,
  ) {
    super(message);
    this.name = "HttpError";
    this.status = ERROR_CODES[code].status;
  }
}

export function methodNotAllowed(method: string, allowed: string[]): HttpError {
  return new HttpError(
    "method_not_allowed",
    `Method ${method} is not allowed; use ${allowed.join(" or ")}`,
    undefined,
    { Allow: allowed.join(", ") },
  );
}

export function json(body: unknown, status = 200, headers?: HeadersInit): Response {
  return Response.json(body, { status, headers });
}

function errorBody(code: ErrorCode, message: string, details?: unknown): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

export function errorResponse(err: unknown): Response {
  if (err instanceof HttpError) {
    return json(errorBody(err.code, err.message, err.details), err.status, err.headers);
  }
  if (err instanceof z.ZodError) {
    const issues = err.issues.map(({ code, path, message }) => ({ code, path, message }));
    return json(errorBody("invalid_request", "The request is not valid", issues), 400);
  }
  // Anything else is a bug or an outage: the details go to the function's log, where only
  // the project can read them, and never to the caller.
  console.error("Unhandled error:", err);
  return json(errorBody("internal_error", "Internal server error"), 500);
}
