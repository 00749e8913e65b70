// The api_read class, counted by the gateway in front of PostgREST (reads run read-only, where
// the database cannot count): per signed-in user and per forwarded client address, with the
// X-RateLimit-* headers counting down, the 101st read of a minute refused with 429,
// Retry-After and PostgREST's error body (supabase-js reads it as any PostgREST error), staff,
// admins and the service role not counted, and a tier staff give a user taking effect within
// the gateway's refresh time.
import { randomInt } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { ANON_KEY, eventually, SERVICE_ROLE_KEY, SUPABASE_URL } from "../support/clients.ts";

const READ = `${SUPABASE_URL}/rest/v1/currencies?select=code&limit=1`;

async function read(bearer: string, forwardedFor?: string) {
  const response = await fetch(READ, {
    headers: {
      apikey: ANON_KEY,
      Authorization: `Bearer ${bearer}`,
      ...(forwardedFor ? { "X-Forwarded-For": forwardedFor } : {}),
    },
  });
  const body = await response.json();
  const header = (name: string) => response.headers.get(name);
  return {
    status: response.status,
    body,
    limit: header("x-ratelimit-limit"),
    remaining: header("x-ratelimit-remaining") === null
      ? null
      : Number(header("x-ratelimit-remaining")),
    reset: header("x-ratelimit-reset") === null ? null : Number(header("x-ratelimit-reset")),
    retryAfter: header("retry-after"),
    policy: header("ratelimit-policy"),
  };
}

/** Waits, if needed, so that `seconds` remain in the current clock minute. */
async function withinOneMinute(seconds: number): Promise<void> {
  const left = 60 - new Date().getUTCSeconds();
  if (left < seconds) await new Promise((resolve) => setTimeout(resolve, left * 1000 + 200));
}

let staff: TestUser;

beforeAll(async () => {
  staff = await signUpWithRole("reads-staff", "staff");
});

describe("reads rate-limited at the gateway (api_read)", () => {
  it("counts a user's reads down and refuses the 101st of a minute with 429 and Retry-After", async () => {
    const user = await signUp("reads-user");
    await withinOneMinute(25);
    const first = await read(user.accessToken);
    expect(first.status).toBe(200);
    expect(first.limit).toBe("100");
    expect(first.remaining).toBe(99);
    expect(first.policy).toBe('"api_read";q=100;w=60');
    const second = await read(user.accessToken);
    expect(second.remaining).toBe(98);
    for (let i = 3; i <= 100; i++) {
      const r = await read(user.accessToken);
      expect(r.status).toBe(200);
      expect(r.remaining).toBe(100 - i);
    }
    const refused = await read(user.accessToken);
    expect(refused.status).toBe(429);
    expect(refused.remaining).toBe(0);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
    expect(refused.body).toEqual({
      code: "PT429",
      message:
        `rate limit reached: 100 reads per minute for the standard tier; retry in ${refused.retryAfter} s`,
      details: null,
      hint: null,
    });
    // supabase-js sees it as a PostgREST error.
    const { error } = await user.client.from("currencies").select("code").limit(1);
    expect(error?.code).toBe("PT429");
  });

  it("counts signed-out reads by the forwarded client address", async () => {
    // Addresses of the shared range (RFC 6598), drawn at random: no other test reads from them.
    const address = `100.64.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    await withinOneMinute(5);
    const first = await read(ANON_KEY, address);
    expect(first.limit).toBe("100");
    const second = await read(ANON_KEY, address);
    expect(second.remaining).toBe(first.remaining! - 1);
    const other = await read(ANON_KEY, `100.65.${randomInt(0, 256)}.${randomInt(1, 255)}`);
    expect(other.remaining).toBe(99);
  });

  it("does not count staff or the service role", async () => {
    for (let i = 0; i < 3; i++) {
      const asStaff = await read(staff.accessToken);
      expect(asStaff.status).toBe(200);
      expect(asStaff.limit).toBeNull();
      const asService = await read(SERVICE_ROLE_KEY);
      expect(asService.status).toBe(200);
      expect(asService.limit).toBeNull();
    }
  });

  it("takes a tier staff give a user (premium, then trusted) within the gateway's refresh", async () => {
    const user = await signUp("reads-tiered");
    expect((await read(user.accessToken)).limit).toBe("100");
    const premium = await staff.client.rpc("set_rate_limit_override", {
      tier: "premium",
      reason: "issue 19: a premium read limit",
      user_id: user.id,
    });
    expect(premium.error).toBeNull();
    await eventually("the premium read limit", async () => {
      const r = await read(user.accessToken);
      return r.limit === "300" ? r : undefined;
    }, 8_000);
    const trusted = await staff.client.rpc("set_rate_limit_override", {
      tier: "trusted",
      reason: "issue 19: a load-test account",
      user_id: user.id,
    });
    expect(trusted.error).toBeNull();
    await eventually("reads no longer counted", async () => {
      const r = await read(user.accessToken);
      return r.status === 200 && r.limit === null ? r : undefined;
    }, 8_000);
  });
});
