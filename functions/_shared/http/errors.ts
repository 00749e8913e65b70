// The project's one error format, `{ "error": { "code", "message", "details"? } }`, and
// the mapping from whatever a handler throws to a response in it.
import { z } from "npm:zod@4.6.7";

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** An error meant for the caller: its status, code and message are sent as they are. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: HeadersInit,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function methodNotAllowed(method: string, allowed: string[]): HttpError {
  return new HttpError(
    405,
    "method_not_allowed",
    `Method ${method} is not allowed; use ${allowed.join(" or ")}`,
    undefined,
    { Allow: allowed.join(", ") },
  );
}

export function json(body: unknown, status = 200, headers?: HeadersInit): Response {
  return Response.json(body, { status, headers });
}

function errorBody(code: string, message: string, details?: unknown): ErrorBody {
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
