// The api_read and upload rate limits, counted in the gateway (issue 19). PostgREST runs GET and HEAD in a
// read-only transaction, where the pre-request hook that counts writes cannot write a counter,
// so reads are counted in front of PostgREST, as Kong's rate-limiting plugin does with
// `policy: local`: in memory, in fixed clock windows (a minute and an hour, as the database's
// counter for the other classes: private.hit_rate_limit), per subject.
//
// - The subject: the verified JWT's `sub` (a signed-in user), else the client's address as
//   the database takes it for the other classes (private.request_address: the first
//   X-Forwarded-For entry, which the proxy in front sets). Signed out and without one, a read
//   is not counted, as writes are not (and as GoTrue limits nothing without an address).
// - The tier: private.rate_limit_tier(user, address) (an operator's override, admin/staff by
//   role, premium by plan, else standard; anonymous by address), cached per subject a few
//   seconds. Unlimited tiers (trusted, staff, admin) and the service role are not counted.
// - The limits: public.rate_limit_policies' api_read rows, read again every few seconds, so a
//   change staff make takes effect within that time.
// - A limited read answers X-RateLimit-Limit/-Remaining/-Reset and the IETF draft's
//   RateLimit-Policy and RateLimit fields for the window with fewer requests left; the read
//   beyond a limit is refused with 429, Retry-After (until that window ends) and PostgREST's
//   error body (code PT429), as a write refused by the database is.
// - The database unreachable: reads pass uncounted (fail open, as Kong's fault_tolerant), and
//   the gateway says so once on stderr.
//
// Uploads (the upload class: Storage object uploads, signed uploads and copies, as the
// storage.objects policy counts them, signed-in users only) are counted the same way, apart
// from reads, so that the upload beyond the limit gets 429 and the headers from here before
// Storage's policy (the backstop on hosted Supabase) would refuse it with 403.
//
// Counts live in one gateway process: a second gateway would count apart (Kong's `local`
// policy has the same property; `cluster`/`redis` share counts). docs/domains/operations.md
// has the Kong configuration for self-hosting and what hosted Supabase offers.

import { jwtVerify } from "jose";

export const READ_CLASS = "api_read";
export const UPLOAD_CLASS = "upload";
/** The classes the gateway counts. */
export type LimitClass = typeof READ_CLASS | typeof UPLOAD_CLASS;

export interface ReadPolicy {
  perMinute: number;
  perHour: number;
}

/** What the limiter needs from the database. */
export interface ReadLimitSource {
  /**
   * The api_read limit (`limits`) and the upload limit (`uploads`) of each limited tier, and
   * which tiers are unlimited.
   */
  policies(): Promise<LimitPolicies>;
  /** The tier of a user (by id) or, without one, of an address. */
  tier(userId: string | null, address: string | null): Promise<string>;
}

export interface LimitPolicies {
  limits: Map<string, ReadPolicy>;
  uploads?: Map<string, ReadPolicy>;
  unlimited: Set<string>;
}

export interface Caller {
  role: string | null;
  sub: string | null;
}

export type ReadDecision =
  | { counted: false; tier: string | null }
  | {
    counted: true;
    class: LimitClass;
    tier: string;
    allowed: boolean;
    limit: number;
    remaining: number;
    /** Seconds until the window described ends. */
    reset: number;
    window: 60 | 3600;
  };

interface Counter {
  minuteStart: number;
  minuteHits: number;
  hourStart: number;
  hourHits: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;

export interface ReadLimiterOptions {
  jwtSecret: string;
  source: ReadLimitSource;
  /** How long policies and tiers are kept before being read again (ms). */
  refreshMs?: number;
  now?: () => number;
}

export class ReadLimiter {
  private readonly key: Uint8Array;
  private readonly source: ReadLimitSource;
  private readonly refreshMs: number;
  private readonly now: () => number;
  private readonly callers = new Map<string, { caller: Caller | null; until: number }>();
  private readonly tiers = new Map<string, { tier: string; until: number }>();
  private readonly counters = new Map<string, Counter>();
  private policy: (LimitPolicies & { until: number }) | null = null;
  private loading: Promise<void> | null = null;
  private warned = false;
  private lastSweep = 0;

  constructor(options: ReadLimiterOptions) {
    this.key = new TextEncoder().encode(options.jwtSecret);
    this.source = options.source;
    this.refreshMs = options.refreshMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  /** The caller a bearer token proves (null: not a valid token), cached until it expires. */
  callerOf(token: string): Caller | null | Promise<Caller | null> {
    const cached = this.callers.get(token);
    const now = this.now();
    if (cached && cached.until > now) return cached.caller;
    return jwtVerify(token, this.key, { algorithms: ["HS256"] }).then(
      ({ payload }) => {
        const caller = {
          role: typeof payload.role === "string" ? payload.role : null,
          sub: typeof payload.sub === "string" ? payload.sub : null,
        };
        if (this.callers.size >= 10_000) this.callers.clear();
        const expires = typeof payload.exp === "number" ? payload.exp * 1000 : now + HOUR;
        this.callers.set(token, { caller, until: Math.min(expires, now + HOUR) });
        return caller;
      },
      () => {
        if (this.callers.size >= 10_000) this.callers.clear();
        this.callers.set(token, { caller: null, until: now + MINUTE });
        return null;
      },
    );
  }

  /**
   * Counts one request of a class (a read unless told) by `caller` (from its token) coming
   * from `address`, and says whether it may go on. Synchronous when everything it needs is
   * cached (the common case).
   */
  hit(
    caller: Caller | null,
    address: string | null,
    limitClass: LimitClass = READ_CLASS,
  ): ReadDecision | Promise<ReadDecision> {
    if (caller?.role === "service_role") return { counted: false, tier: null };
    const userId = caller?.role === "authenticated" && caller.sub ? caller.sub : null;
    // Uploads are counted per signed-in user only, as the storage policy counts them (anon
    // uploads nothing).
    if (limitClass === UPLOAD_CLASS && !userId) return { counted: false, tier: null };
    // Nobody to count: signed out and no forwarded address (as the database's classes).
    if (!userId && !address) return { counted: false, tier: "anonymous" };
    const subject = userId ?? `ip:${address}`;
    const now = this.now();
    const policy = this.policy;
    const tier = this.tiers.get(subject);
    if (policy && policy.until > now && tier && tier.until > now) {
      return this.count(limitClass, subject, tier.tier, now, policy);
    }
    return this.refresh(subject, userId, address, now).then(() =>
      this.count(
        limitClass,
        subject,
        this.tiers.get(subject)?.tier ?? null,
        this.now(),
        this.policy,
      )
    );
  }

  private async refresh(
    subject: string,
    userId: string | null,
    address: string | null,
    now: number,
  ) {
    try {
      if (!this.policy || this.policy.until <= now) {
        this.loading ??= this.source.policies().then(
          (policies) => {
            this.policy = { ...policies, until: this.now() + this.refreshMs };
          },
        ).finally(() => {
          this.loading = null;
        });
        await this.loading;
      }
      const cached = this.tiers.get(subject);
      if (!cached || cached.until <= now) {
        const tier = await this.source.tier(userId, userId ? null : address);
        if (this.tiers.size >= 100_000) this.tiers.clear();
        this.tiers.set(subject, { tier, until: this.now() + this.refreshMs });
      }
      this.warned = false;
    } catch (error) {
      if (!this.warned) {
        console.error(
          "gateway: rate limits unavailable, reads and uploads pass uncounted:",
          (error as Error)?.message ?? error,
        );
      }
      this.warned = true;
      // Try again in a second rather than on every request.
      this.policy ??= { limits: new Map(), unlimited: new Set(), until: 0 };
      this.policy.until = Math.max(this.policy.until, this.now() + 1000);
      this.tiers.set(subject, { tier: "", until: this.now() + 1000 });
    }
  }

  private count(
    limitClass: LimitClass,
    subject: string,
    tier: string | null,
    now: number,
    policy: LimitPolicies | null,
  ): ReadDecision {
    const table = limitClass === UPLOAD_CLASS ? policy?.uploads : policy?.limits;
    const limits = tier && table ? table.get(tier) : undefined;
    if (!tier || !limits || policy!.unlimited.has(tier)) return { counted: false, tier };
    this.sweep(now);
    const minuteStart = now - (now % MINUTE);
    const hourStart = now - (now % HOUR);
    // Reads keep the bare subject; other classes count apart.
    const key = limitClass === READ_CLASS ? subject : `${limitClass}|${subject}`;
    let counter = this.counters.get(key);
    if (!counter) {
      counter = { minuteStart, minuteHits: 0, hourStart, hourHits: 0 };
      this.counters.set(key, counter);
    }
    if (counter.minuteStart !== minuteStart) {
      counter.minuteStart = minuteStart;
      counter.minuteHits = 0;
    }
    if (counter.hourStart !== hourStart) {
      counter.hourStart = hourStart;
      counter.hourHits = 0;
    }
    const minuteReset = Math.max(1, Math.ceil((minuteStart + MINUTE - now) / 1000));
    const hourReset = Math.max(1, Math.ceil((hourStart + HOUR - now) / 1000));
    // A refused read is not counted, as a refused write rolls its increment back.
    if (counter.hourHits + 1 > limits.perHour) {
      return refused(limitClass, tier, limits.perHour, hourReset, 3600);
    }
    if (counter.minuteHits + 1 > limits.perMinute) {
      return refused(limitClass, tier, limits.perMinute, minuteReset, 60);
    }
    counter.minuteHits++;
    counter.hourHits++;
    const minuteLeft = limits.perMinute - counter.minuteHits;
    const hourLeft = limits.perHour - counter.hourHits;
    return hourLeft < minuteLeft
      ? {
        counted: true,
        class: limitClass,
        tier,
        allowed: true,
        limit: limits.perHour,
        remaining: hourLeft,
        reset: hourReset,
        window: 3600,
      }
      : {
        counted: true,
        class: limitClass,
        tier,
        allowed: true,
        limit: limits.perMinute,
        remaining: minuteLeft,
        reset: minuteReset,
        window: 60,
      };
  }

  /** Forgets counters whose hour has ended, once a minute. */
  private sweep(now: number): void {
    if (now - this.lastSweep < MINUTE) return;
    this.lastSweep = now;
    const hourStart = now - (now % HOUR);
    for (const [subject, counter] of this.counters) {
      if (counter.hourStart !== hourStart) this.counters.delete(subject);
    }
  }
}

function refused(
  limitClass: LimitClass,
  tier: string,
  limit: number,
  reset: number,
  window: 60 | 3600,
): ReadDecision {
  return {
    counted: true,
    class: limitClass,
    tier,
    allowed: false,
    limit,
    remaining: 0,
    reset,
    window,
  };
}

/** The rate-limit headers of a counted read or upload. */
export function readLimitHeaders(
  decision: ReadDecision & { counted: true },
): Record<string, string> {
  const headers: Record<string, string> = {
    "x-ratelimit-limit": String(decision.limit),
    "x-ratelimit-remaining": String(decision.remaining),
    "x-ratelimit-reset": String(decision.reset),
    "ratelimit-policy": `"${decision.class}";q=${decision.limit};w=${decision.window}`,
    "ratelimit": `"${decision.class}";r=${decision.remaining};t=${decision.reset}`,
  };
  if (!decision.allowed) headers["retry-after"] = String(decision.reset);
  return headers;
}

/** The limiter's database reads, through the stack's pool (a superuser connection). */
export function databaseReadLimitSource(
  query: (text: string, values?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>,
): ReadLimitSource {
  return {
    async policies() {
      const { rows } = await query(
        `select t.tier, t.unlimited, p.class, p.per_minute, p.per_hour
           from public.rate_limit_tiers t
           left join public.rate_limit_policies p on p.tier = t.tier and p.class in ($1, $2)`,
        [READ_CLASS, UPLOAD_CLASS],
      );
      const limits = new Map<string, ReadPolicy>();
      const uploads = new Map<string, ReadPolicy>();
      const unlimited = new Set<string>();
      for (const row of rows) {
        if (row.unlimited) unlimited.add(String(row.tier));
        else if (row.per_minute !== null) {
          (row.class === UPLOAD_CLASS ? uploads : limits).set(String(row.tier), {
            perMinute: Number(row.per_minute),
            perHour: Number(row.per_hour),
          });
        }
      }
      return { limits, uploads, unlimited };
    },
    async tier(userId, address) {
      const { rows } = await query("select private.rate_limit_tier($1::uuid, $2::inet) as tier", [
        userId,
        address,
      ]);
      return String(rows[0].tier);
    },
  };
}
