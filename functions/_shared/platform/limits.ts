// The edge functions' rate limit and maintenance check (issue 19), run by createHandler before
// every handler: one call to the database's check_function_request as the caller (their JWT,
// or the anon key with the client's X-Forwarded-For passed on), which counts the request in
// the caller's `function` class and says whether maintenance mode refuses it. The answer's
// X-RateLimit-* and RateLimit headers go on the function's answer; past the limit the request
// is answered 429 rate_limited with Retry-After, during maintenance a write by anyone but
// staff 503 maintenance with the message and Retry-After, in the project's error format.
//
// - The service-role key is never counted and makes no call (jobs, the admin CLI).
// - stripe-webhook opts out (createHandler's { limits: false }): Stripe must never be throttled,
//   and its events are accepted during maintenance (they record what already happened at
//   Stripe; refusing them would only make Stripe retry for up to three days).
// - The database unreachable or answering in another shape: the request goes on uncounted
//   (fail open, as Kong's rate-limiting plugin with fault_tolerant), said once on stderr.
import { z } from "npm:zod@4.6.7";
import { HttpError } from "../http/errors.ts";
import { call } from "./rpc.ts";
import { callerClient, isServiceRole } from "./supabase.ts";

/** What the check decided: go on (status 200) adding `headers`, or refuse. */
export interface LimitDecision {
  status: number;
  headers: Record<string, string>;
  message?: string;
  retry_after?: number;
}

const decisionSchema = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.string()),
  message: z.string().optional(),
  retry_after: z.number().int().optional(),
});

/** Checks a request; null when nothing applies (the service role) or the check failed. */
export type RequestCheck = (req: Request) => Promise<LimitDecision | null>;

/** The function's slug: the first path segment (the router's /<slug>/…, Kong's /functions/v1/<slug>/…). */
export function functionSlug(url: string): string {
  const segments = new URL(url).pathname.split("/").filter((s) => s !== "");
  const start = segments[0] === "functions" && segments[1] === "v1" ? 2 : 0;
  return segments[start] ?? "";
}

let warned = false;

/** The check every function runs (createHandler's default). */
export const checkFunctionRequest: RequestCheck = async (req) => {
  try {
    // Inside the try: without the environment (a unit test of a function that needs none)
    // there is nothing to check against.
    if (isServiceRole(req)) return null;
    const answer = await call(callerClient(req), "check_function_request", {
      function_name: functionSlug(req.url),
      method: req.method,
    });
    return decisionSchema.parse(answer);
  } catch (error) {
    // A 401 for a bad token is the handler's to answer; anything else is logged once.
    if (!(error instanceof HttpError && error.status === 401) && !warned) {
      warned = true;
      console.warn("function rate limit check failed; requests pass uncounted:", error);
    }
    return null;
  }
};

/** The refusal a decision says, or null to go on. */
export function refusalOf(decision: LimitDecision | null): HttpError | null {
  if (!decision || decision.status === 200) return null;
  const details = decision.retry_after === undefined
    ? undefined
    : { retry_after: decision.retry_after };
  return decision.status === 503
    ? new HttpError(
      "maintenance",
      decision.message ?? "The platform is in maintenance",
      details,
      decision.headers,
    )
    : new HttpError(
      "rate_limited",
      decision.message ?? "Rate limit reached",
      details,
      decision.headers,
    );
}
