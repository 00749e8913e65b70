// GoTrue's rate limits (internal/api/apilimiter, internal/ratelimit). Per-address limits are
// token buckets (tollbooth over golang.org/x/time/rate): `events` per 5 minutes refilled
// continuously, bursts of up to 30, refused with 429 over_request_rate_limit "Request rate
// limit reached". GoTrue keys them by the `sb-forwarded-for` address Supabase's proxy sets
// (with GOTRUE_SECURITY_SB_FORWARDED_FOR_ENABLED, as hosted; or GOTRUE_RATE_LIMIT_HEADER) and
// limits nothing when a request carries neither (performRateLimiting): hosted projects are
// always limited, `supabase start` (sb-forwarded-for off) never.
// The stand-in keys them by `sb-forwarded-for` alike, as the MFA limiter in mfa.ts does.
// The e-mail limit is an interval limiter over the whole instance.

import type { IncomingMessage } from "node:http";
import { AuthError } from "./core.ts";

/** Allows `events` per `intervalSeconds`, counting from when the interval began (ratelimit.IntervalLimiter). */
export class IntervalLimiter {
  private began = Date.now();
  private count = 0;
  constructor(private readonly events: number, private readonly intervalSeconds: number) {}

  allow(now = Date.now()): boolean {
    const interval = this.intervalSeconds * 1000;
    const elapsed = Math.floor((now - this.began) / interval);
    if (elapsed > 0) {
      this.began += elapsed * interval;
      this.count = 0;
    }
    if (this.count < this.events) {
      this.count++;
      return true;
    }
    return false;
  }
}

const BURST = 30;
const WINDOW_SECONDS = 5 * 60;
const FORGET_AFTER_MS = 60 * 60 * 1000; // tollbooth's DefaultExpirationTTL: an hour

/**
 * `events` per 5 minutes per address, bursts of 30 (apilimiter's tollbooth limiters); `window`
 * sets another refill period and burst, as GoTrue's anonymous sign-in limiter has
 * (anonymous_users per hour, bursts of anonymous_users).
 */
export class AddressLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perSecond: number;
  private readonly burst: number;
  constructor(events: number, window: { seconds: number; burst: number } = {
    seconds: WINDOW_SECONDS,
    burst: BURST,
  }) {
    this.perSecond = events / window.seconds;
    this.burst = window.burst;
  }

  /** Refuses the request with GoTrue's 429 when its address has no token left. */
  check(req: IncomingMessage): void {
    const forwarded = req.headers["sb-forwarded-for"];
    const key = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0].trim();
    if (!key) return;
    const now = Date.now();
    for (const [address, bucket] of this.buckets) {
      if (now - bucket.at > FORGET_AFTER_MS) this.buckets.delete(address);
    }
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(
      this.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond,
    );
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) {
      throw new AuthError(429, "over_request_rate_limit", "Request rate limit reached");
    }
    bucket.tokens -= 1;
  }
}
