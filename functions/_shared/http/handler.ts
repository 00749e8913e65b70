// Every function's handler goes through createHandler, so each one answers CORS preflights,
// sends CORS headers, reports errors in the project's one format, and is held to the rate
// limits and maintenance mode (platform/limits.ts): one database call before the handler, its
// X-RateLimit-* headers on every answer, 429 or 503 instead of the handler past a limit or
// during maintenance.
import { corsHeaders, preflightResponse } from "./cors.ts";
import { errorResponse } from "./errors.ts";
import { checkFunctionRequest, refusalOf, type RequestCheck } from "../platform/limits.ts";
import { logRequest } from "../platform/request-log.ts";

export type RequestHandler = (req: Request) => Response | Promise<Response>;

export interface HandlerOptions {
  /**
   * The rate limit and maintenance check: checkFunctionRequest unless given; false only for
   * stripe-webhook (Stripe is never throttled, its events are taken during maintenance).
   */
  limits?: RequestCheck | false;
}

export function createHandler(
  handle: RequestHandler,
  options: HandlerOptions = {},
): (req: Request) => Promise<Response> {
  const check = options.limits === false ? null : options.limits ?? checkFunctionRequest;
  return async (req) => {
    const begun = performance.now();
    if (req.method === "OPTIONS") return preflightResponse();
    let response: Response;
    let limitHeaders: Record<string, string> = {};
    try {
      const decision = check ? await check(req) : null;
      if (decision) limitHeaders = decision.headers;
      const refusal = refusalOf(decision);
      response = refusal ? errorResponse(refusal) : await handle(req);
    } catch (err) {
      response = errorResponse(err);
    }
    // A new Response: the handler's headers may be immutable (e.g. from fetch()).
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(corsHeaders)) {
      if (!headers.has(name)) headers.set(name, value);
    }
    for (const [name, value] of Object.entries(limitHeaders)) {
      if (!headers.has(name)) headers.set(name, value);
    }
    // A browser's script reads only the headers a cross-origin answer exposes.
    const limitNames = Object.keys(limitHeaders);
    if (limitNames.length > 0 && !headers.has("access-control-expose-headers")) {
      headers.set("access-control-expose-headers", limitNames.join(", "));
    }
    logRequest(req, response.status, begun); // the request log (platform/request-log.ts), off the request path
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  };
}
