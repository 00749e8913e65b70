// Rate limits and maintenance mode (issue 19), black-box over HTTP: PostgREST writes counted by
// the pre-request hook (headers counting down, the 101st refused 429 with Retry-After, 30
// concurrent writes of one user counted exactly 30 times, 20 concurrent writes at the boundary
// letting exactly the limit through), premium by plan,
// admins unlimited, a limit staff change taking effect; the edge functions' shared check; the
// 6th sign-in within a minute; the 11th upload within a minute (429 from the gateway with the
// headers counting down; the storage policy is the backstop on hosted Supabase); maintenance on and off through
// PostgREST and a function, staff never locked out.

import { afterAll, describe, expect, it } from "vitest";
import { admin, ANON_KEY, SUPABASE_URL } from "../support/clients.ts";
import { signIn, signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { TINY_PNG, uploadPng } from "../support/storage.ts";

/** Tests that may first wait for a fresh minute (up to 40 s) get more than vitest's 30 s. */
const MINUTE_TEST_TIMEOUT = 90_000;

/** Waits for a new clock minute when fewer than `seconds` are left: the windows are clock minutes. */
async function freshMinute(seconds = 25): Promise<void> {
  const left = 60 - new Date().getUTCSeconds();
  if (left < seconds) await new Promise((resolve) => setTimeout(resolve, left * 1000 + 300));
}

/** A PATCH of the user's own profile through PostgREST: one api_write. */
function write(user: TestUser, token = user.accessToken): Promise<Response> {
  return fetch(`${SUPABASE_URL}/rest/v1/profiles?id=eq.${user.id}`, {
    method: "PATCH",
    headers: {
      apikey: ANON_KEY,
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Prefer: "return=minimal",
    },
    body: JSON.stringify({ bio: `bio ${Math.random()}` }),
  });
}

async function writes(user: TestUser, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, n - i) }, async () => {
        const res = await write(user);
        await res.arrayBuffer();
        return res.status;
      }),
    );
    statuses.push(...batch);
  }
  return statuses;
}

function callFunction(name: string, token: string, method = "GET"): Promise<Response> {
  return fetch(`${SUPABASE_URL}/functions/v1/${name}`, {
    method,
    headers: { apikey: ANON_KEY, Authorization: `Bearer ${token}` },
  });
}

let staff: TestUser | null = null;
async function staffUser(): Promise<TestUser> {
  staff ??= await signUpWithRole("limits-staff", "staff");
  return staff;
}

afterAll(async () => {
  // Whatever happened, maintenance is off and the premium limit as shipped.
  const s = await staffUser();
  await s.client.rpc("set_maintenance_mode", { enabled: false });
  await s.client.rpc("set_rate_limit", {
    tier: "premium",
    class: "api_write",
    per_minute: 300,
    per_hour: 10000,
  });
});

describe("PostgREST writes (the pre-request hook)", () => {
  it(
    "counts a user's writes down in the headers and refuses the 101st with 429 and Retry-After",
    async () => {
      await freshMinute(40);
      const user = await signUp("limits-writer");
      const first = await write(user);
      expect(first.status).toBe(204);
      expect(first.headers.get("x-ratelimit-limit")).toBe("100");
      expect(first.headers.get("x-ratelimit-remaining")).toBe("99");
      const reset = Number(first.headers.get("x-ratelimit-reset"));
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
      expect(first.headers.get("ratelimit-policy")).toBe('"api_write";q=100;w=60');
      // Exposed to a browser's script (CORS).
      expect(first.headers.get("access-control-expose-headers")).toContain("x-ratelimit-remaining");
      expect(first.headers.get("ratelimit")).toMatch(/^"api_write";r=99;t=\d+$/);
      const second = await write(user);
      expect(second.headers.get("x-ratelimit-remaining")).toBe("98");

      expect((await writes(user, 98)).every((s) => s === 204)).toBe(true);
      const refused = await write(user);
      expect(refused.status).toBe(429);
      const retryAfter = Number(refused.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
      expect(await refused.json()).toEqual({
        code: "PT429",
        message:
          `rate limit reached: 100 api_write requests per minute for the standard tier; retry in ${retryAfter} s`,
        details: null,
        hint: null,
      });
      // supabase-js sees PostgREST's error; reads go on.
      const { error } = await user.client.from("profiles").update({ bio: "one more" }).eq(
        "id",
        user.id,
      );
      expect(error?.code).toBe("PT429");
      const read = await user.client.from("profiles").select("id").eq("id", user.id);
      expect(read.error).toBeNull();
    },
    MINUTE_TEST_TIMEOUT,
  );

  it("counts 30 concurrent writes of one user exactly 30 times, each its own count", async () => {
    await freshMinute(40);
    const user = await signUp("limits-counted");
    const raced = await Promise.all(Array.from({ length: 30 }, () => write(user)));
    expect(raced.map((r) => r.status).every((s) => s === 204)).toBe(true);
    // No two read the same count: the answers' remaining are 99 down to 70, each once.
    const remaining = raced.map((r) => Number(r.headers.get("x-ratelimit-remaining")));
    expect(remaining.sort((a, b) => b - a)).toEqual(Array.from({ length: 30 }, (_, i) => 99 - i));
    const next = await write(user);
    expect(next.headers.get("x-ratelimit-remaining")).toBe("69");
  }, MINUTE_TEST_TIMEOUT);

  it("lets exactly the limit through when 20 writes race at the boundary", async () => {
    await freshMinute(40);
    const user = await signUp("limits-racer");
    expect((await writes(user, 90)).every((s) => s === 204)).toBe(true);
    const raced = await Promise.all(Array.from({ length: 20 }, () => write(user)));
    const statuses = raced.map((r) => r.status);
    expect(statuses.filter((s) => s === 204)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
  }, MINUTE_TEST_TIMEOUT);

  it(
    "gives a premium plan's subscriber the premium limit, which staff change at once",
    async () => {
      await freshMinute(20);
      const s = await staffUser();
      const created = await s.client.rpc("create_plan", {
        slug: `limits-premium-${Date.now().toString(36)}`,
        name: "Limits premium",
      });
      expect(created.error).toBeNull();
      const planId = (created.data as { id: string }).id;
      const price = await s.client.rpc("set_plan_price", {
        plan_id: planId,
        billing_period: "month",
        currency: "KRW",
        amount: 19900,
      });
      expect(price.error).toBeNull();
      const plan = { id: planId, monthly: (price.data as { id: string }).id };
      const tier = await s.client.rpc("set_plan_rate_limit_tier", {
        plan_id: plan.id,
        tier: "premium",
      });
      expect(tier.error).toBeNull();
      const user = await signUp("limits-premium");
      await admin().from("subscriptions").insert({
        user_id: user.id,
        plan_id: plan.id,
        plan_price_id: plan.monthly,
        plan_family: "platform",
        status: "active",
        current_period_start: new Date(Date.now() - 86_400_000).toISOString(),
        current_period_end: new Date(Date.now() + 29 * 86_400_000).toISOString(),
        stripe_subscription_id: `sub_limits_${user.id.slice(0, 8)}`,
        stripe_customer_id: "cus_limits",
        stripe_updated_at: new Date().toISOString(),
        stripe_event_id: "evt_limits",
        snapshot: {},
      }).throwOnError();
      const res = await write(user);
      expect(res.status).toBe(204);
      expect(res.headers.get("x-ratelimit-limit")).toBe("300");
      expect(res.headers.get("x-ratelimit-remaining")).toBe("299");

      const changed = await s.client.rpc("set_rate_limit", {
        tier: "premium",
        class: "api_write",
        per_minute: 250,
        per_hour: 5000,
      });
      expect(changed.error).toBeNull();
      const after = await write(user);
      expect(after.headers.get("x-ratelimit-limit")).toBe("250");
      expect(after.headers.get("x-ratelimit-remaining")).toBe("248");

      const refused = await user.client.rpc("set_rate_limit", {
        tier: "premium",
        class: "api_write",
        per_minute: 0,
        per_hour: 5000,
      });
      expect(refused.error?.code).toBe("42501");
    },
    MINUTE_TEST_TIMEOUT,
  );

  it("never counts an admin", async () => {
    const boss = await signUpWithRole("limits-admin", "admin");
    const statuses = await writes(boss, 110);
    expect(statuses.every((s) => s === 204)).toBe(true);
    const res = await write(boss);
    expect(res.headers.get("x-ratelimit-limit")).toBeNull();
  });
});

describe("edge functions (one shared check)", () => {
  it(
    "adds the headers to every answer and refuses the 101st call with 429 in the error format",
    async () => {
      await freshMinute(40);
      const user = await signUp("limits-caller");
      const first = await callFunction("health", user.accessToken);
      expect(first.status).toBe(200);
      await first.arrayBuffer();
      expect(first.headers.get("x-ratelimit-limit")).toBe("100");
      expect(first.headers.get("x-ratelimit-remaining")).toBe("99");
      const second = await callFunction("health", user.accessToken);
      await second.arrayBuffer();
      expect(second.headers.get("x-ratelimit-remaining")).toBe("98");
      for (let i = 0; i < 98; i += 14) {
        await Promise.all(
          Array.from({ length: Math.min(14, 98 - i) }, async () => {
            const res = await callFunction("health", user.accessToken);
            await res.arrayBuffer();
            expect(res.status).toBe(200);
          }),
        );
      }
      const refused = await callFunction("health", user.accessToken);
      expect(refused.status).toBe(429);
      const retryAfter = Number(refused.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
      expect(await refused.json()).toEqual({
        error: {
          code: "rate_limited",
          message:
            `rate limit reached: 100 function requests per minute for the standard tier; retry in ${retryAfter} s`,
          details: { retry_after: retryAfter },
        },
      });
    },
    MINUTE_TEST_TIMEOUT,
  );
});

describe("sign-ins (the auth class, in the access token hook)", () => {
  it("refuses the 6th sign-in of a user within a minute", async () => {
    await freshMinute(30);
    const user = await signUp("limits-signin"); // the first sign-in
    for (let i = 2; i <= 5; i++) {
      const { error } = await signIn(user.email);
      expect(error).toBeNull();
    }
    const sixth = await signIn(user.email);
    expect(sixth.error?.status).toBe(429);
    expect(sixth.error?.message).toMatch(/^Too many sign-ins: 5 per minute; retry in \d+ seconds$/);
    // A refresh is not a sign-in.
    const refreshed = await user.client.auth.refreshSession();
    expect(refreshed.error).toBeNull();
  }, MINUTE_TEST_TIMEOUT);
});

describe("uploads (the upload class, counted by the gateway; a storage policy as backstop)", () => {
  /** One upload through the gateway as Storage's REST API takes it, with its rate-limit headers. */
  async function upload(user: TestUser, path: string) {
    const response = await fetch(`${SUPABASE_URL}/storage/v1/object/avatars/${path}`, {
      method: "POST",
      headers: {
        apikey: ANON_KEY,
        Authorization: `Bearer ${user.accessToken}`,
        "Content-Type": "image/png",
      },
      body: TINY_PNG,
    });
    return {
      status: response.status,
      body: await response.json(),
      limit: response.headers.get("x-ratelimit-limit"),
      remaining: response.headers.get("x-ratelimit-remaining"),
      reset: response.headers.get("x-ratelimit-reset"),
      retryAfter: response.headers.get("retry-after"),
      policy: response.headers.get("ratelimit-policy"),
    };
  }

  it(
    "counts a user's uploads down and refuses the 11th within a minute with 429 and Retry-After",
    async () => {
      await freshMinute(30);
      const user = await signUp("limits-uploader");
      for (let i = 1; i <= 10; i++) {
        const r = await upload(user, `${user.id}/${i}.png`);
        expect(r.status).toBe(200);
        expect(r.limit).toBe("10");
        expect(r.remaining).toBe(String(10 - i));
        expect(Number(r.reset)).toBeGreaterThan(0);
        expect(r.policy).toBe('"upload";q=10;w=60');
      }
      const eleventh = await upload(user, `${user.id}/11.png`);
      expect(eleventh.status).toBe(429);
      expect(eleventh.limit).toBe("10");
      expect(eleventh.remaining).toBe("0");
      expect(Number(eleventh.retryAfter)).toBeGreaterThan(0);
      expect(Number(eleventh.retryAfter)).toBeLessThanOrEqual(60);
      expect(eleventh.body).toEqual({
        statusCode: "429",
        code: "SlowDown",
        error: "too_many_requests",
        message:
          `rate limit reached: 10 uploads per minute for the standard tier; retry in ${eleventh.retryAfter} s`,
      });
      // storage-js reports it as a StorageApiError with status 429; nothing was stored.
      const twelfth = await uploadPng(user, "avatars", `${user.id}/12.png`);
      expect(twelfth.error).toMatchObject({ status: 429, statusCode: "429" });
      const { data } = await admin().storage.from("avatars").list(user.id);
      expect(data?.map((o) => o.name).sort()).toHaveLength(10);
    },
    MINUTE_TEST_TIMEOUT,
  );
});

describe("maintenance mode", () => {
  it("refuses non-staff writes with 503, the message and Retry-After; reads and staff go on; off again", async () => {
    const s = await staffUser();
    const user = await signUp("limits-maintenance");
    const endsAt = new Date(Date.now() + 10 * 60_000).toISOString();
    const on = await s.client.rpc("set_maintenance_mode", {
      enabled: true,
      message: "Upgrading the database",
      ends_at: endsAt,
    });
    try {
      expect(on.error).toBeNull();
      expect(on.data).toMatchObject({ enabled: true, message: "Upgrading the database" });
      const status = await admin().rpc("maintenance_status");
      expect(status.data).toMatchObject({ enabled: true, message: "Upgrading the database" });

      const refused = await write(user);
      expect(refused.status).toBe(503);
      // PostgREST 12 adds a Retry-After of its own to every 503 (its connection-retry
      // counter), before the one the hook sets: the value to use is the last.
      const retryAfter = refused.headers.get("retry-after")!.split(", ").at(-1);
      expect(Number(retryAfter)).toBeGreaterThan(500);
      expect(await refused.json()).toMatchObject({
        code: "PT503",
        message: "Upgrading the database",
      });
      const read = await user.client.from("profiles").select("id").eq("id", user.id);
      expect(read.error).toBeNull();
      expect((await write(s)).status).toBe(204);

      // A function write is refused in the error format; a function read goes on.
      const fnWrite = await callFunction("account-export", user.accessToken, "POST");
      expect(fnWrite.status).toBe(503);
      const retry = Number(fnWrite.headers.get("retry-after"));
      expect(retry).toBeGreaterThan(500);
      expect(await fnWrite.json()).toEqual({
        error: {
          code: "maintenance",
          message: "Upgrading the database",
          details: { retry_after: retry },
        },
      });
      const fnRead = await callFunction("health", user.accessToken);
      expect(fnRead.status).toBe(200);
      await fnRead.arrayBuffer();
    } finally {
      const off = await s.client.rpc("set_maintenance_mode", { enabled: false });
      expect(off.error).toBeNull();
    }
    expect((await write(user)).status).toBe(204);
    const anon = await fetch(`${SUPABASE_URL}/rest/v1/rpc/maintenance_status`, {
      method: "POST",
      headers: { apikey: ANON_KEY, "Content-Type": "application/json" },
      body: "{}",
    });
    expect(await anon.json()).toMatchObject({ enabled: false });
  });
});
