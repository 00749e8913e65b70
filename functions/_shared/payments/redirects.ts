// The allow-list for URLs Stripe sends a browser back to (onboarding's return and refresh
// URLs, Checkout's success and cancel URLs).
import { z } from "npm:zod@4.6.7";
import { HttpError } from "../http/errors.ts";

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
    throw new HttpError("invalid_request", `${name} must be on an allowed origin`, {
      allowed_origins: allowed,
    });
  }
}
