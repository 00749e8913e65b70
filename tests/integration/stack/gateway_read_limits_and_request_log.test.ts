// The gateway's api_read limit and its request log, over HTTP against a gateway built here
// with a stand-in PostgREST, a policy source the test controls and a clock it moves: fixed
// minute and hour windows per subject (the verified token's user, else the client address),
// the X-RateLimit-* and IETF RateLimit headers, 429 with Retry-After in PostgREST's error
// format, unlimited tiers and the service role never counted, writes left to the database,
// policies re-read after their refresh time, and failing open when the database cannot say.
// The log: one row per request with a path template, the status (429 included), the role and
// tier, written in one batch.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createGateway } from "../../../stack/gateway.ts";
import { ReadLimiter, type ReadLimitSource, type ReadPolicy } from "../../../stack/read-limits.ts";
import { pathTemplate, RequestLog } from "../../../stack/request-log.ts";

const SECRET = "a-secret-for-the-read-limit-tests-32-characters";
const key = new TextEncoder().encode(SECRET);

function token(claims: Record<string, unknown>, secret = key): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(
    secret,
  );
}

let anonKey: string;
let serviceKey: string;
let userA: string;
let userB: string;
let staffToken: string;
let forged: string;

// The policy source: what the database would answer.
let limits: Map<string, ReadPolicy>;
let uploads: Map<string, ReadPolicy>;
let failing = false;
let policyReads = 0;
const source: ReadLimitSource = {
  policies() {
    policyReads++;
    if (failing) return Promise.reject(new Error("connection refused"));
    return Promise.resolve({
      limits: new Map(limits),
      uploads: new Map(uploads),
      unlimited: new Set(["trusted", "staff", "admin"]),
    });
  },
  tier(userId, address) {
    if (failing) return Promise.reject(new Error("connection refused"));
    if (userId === "staff-user") return Promise.resolve("staff");
    if (userId) return Promise.resolve("standard");
    return Promise.resolve(address === "127.0.0.9" ? "trusted" : "anonymous");
  },
};

// The clock: 10 s into a minute (and into an hour) unless a test moves it.
let now = Date.UTC(2026, 10, 30, 12, 0, 10);
let upstream: Server;
let upstreamHits = 0;
let storageHits = 0;
let gateway: Server;
let base: string;
const written: string[] = [];
let log: RequestLog;
let limiter: ReadLimiter;

beforeAll(async () => {
  anonKey = await token({ role: "anon" });
  serviceKey = await token({ role: "service_role" });
  userA = await token({ role: "authenticated", sub: "user-a" });
  userB = await token({ role: "authenticated", sub: "user-b" });
  staffToken = await token({ role: "authenticated", sub: "staff-user" });
  forged = await token(
    { role: "service_role" },
    new TextEncoder().encode("not-the-secret-at-all-32-characters"),
  );

  upstream = createServer((req, res) => {
    upstreamHits++;
    req.resume();
    req.on("end", () => {
      res.writeHead(req.method === "POST" ? 201 : 200, { "content-type": "application/json" });
      res.end("[]");
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  log = new RequestLog((entries) => {
    written.push(entries);
    return Promise.resolve();
  }, { flushMs: 60_000 });
  limiter = new ReadLimiter({ jwtSecret: SECRET, source, refreshMs: 5000, now: () => now });
  gateway = createGateway({
    anonKey,
    serviceRoleKey: serviceKey,
    postgrestPort: (upstream.address() as AddressInfo).port,
    functionsPort: 1,
    auth: (_req, res) => Promise.resolve(void res.end()),
    storage: (req, res) => {
      storageHits++;
      req.resume();
      return new Promise<void>((resolve) => req.on("end", () => resolve(void res.end("{}"))));
    },
    requestLog: log,
    readLimiter: limiter,
  });
  await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => gateway.close(resolve));
  gateway.closeAllConnections();
  await new Promise((resolve) => upstream.close(resolve));
});

let minute = 0;
beforeEach(() => {
  // Each test starts in a fresh hour, 10 s into its first minute, with the default limits.
  minute += 120;
  now = Date.UTC(2026, 10, 30, 12, 0, 10) + minute * 3_600_000;
  failing = false;
  limits = new Map([
    ["anonymous", { perMinute: 3, perHour: 100 }],
    ["standard", { perMinute: 5, perHour: 6 }],
  ]);
  uploads = new Map([
    ["anonymous", { perMinute: 1, perHour: 1 }],
    ["standard", { perMinute: 2, perHour: 10 }],
  ]);
});

async function read(
  bearer: string | null,
  init: { method?: string; path?: string; from?: string | null } = {},
) {
  const headers: Record<string, string> = { apikey: anonKey };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const from = init.from === undefined ? "203.0.113.7" : init.from;
  if (from) headers["x-forwarded-for"] = `${from}, 10.0.0.1`;
  const response = await fetch(`${base}/rest/v1${init.path ?? "/countries?select=code"}`, {
    method: init.method ?? "GET",
    headers,
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : null,
  };
}

describe("the gateway's api_read limit", () => {
  it("counts an anonymous client's reads by its forwarded address, counting down, and refuses past the limit", async () => {
    const before = upstreamHits;
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await read(null);
      expect(r.status).toBe(200);
      seen.push(r.headers.get("x-ratelimit-remaining")!);
      expect(r.headers.get("x-ratelimit-limit")).toBe("3");
      expect(r.headers.get("x-ratelimit-reset")).toBe("50");
      expect(r.headers.get("ratelimit-policy")).toBe('"api_read";q=3;w=60');
    }
    expect(seen).toEqual(["2", "1", "0"]);
    const refused = await read(null);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("50");
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(refused.headers.get("ratelimit")).toBe('"api_read";r=0;t=50');
    expect(refused.headers.get("access-control-allow-origin")).toBe("*");
    expect(refused.body).toEqual({
      code: "PT429",
      message: "rate limit reached: 3 reads per minute for the anonymous tier; retry in 50 s",
      details: null,
      hint: null,
    });
    expect(upstreamHits - before).toBe(3); // the refused read never reached PostgREST

    // Another address is another subject; no address at all is nobody to count.
    expect((await read(null, { from: "198.51.100.4" })).headers.get("x-ratelimit-remaining"))
      .toBe("2");
    for (let i = 0; i < 5; i++) {
      const bare = await read(null, { from: null });
      expect(bare.status).toBe(200);
      expect(bare.headers.get("x-ratelimit-limit")).toBeNull();
    }
    // An operator's override (trusted) for an address: not counted.
    expect((await read(null, { from: "127.0.0.9" })).headers.get("x-ratelimit-limit")).toBeNull();

    now += 50_000; // the next minute
    const again = await read(null);
    expect(again.status).toBe(200);
    expect(again.headers.get("x-ratelimit-remaining")).toBe("2");
  });

  it("counts a signed-in user by the token's sub, apart from other users, and holds the hour's limit too", async () => {
    for (let i = 0; i < 5; i++) expect((await read(userA)).status).toBe(200);
    expect((await read(userA)).status).toBe(429);
    const other = await read(userB);
    expect(other.status).toBe(200);
    expect(other.headers.get("x-ratelimit-remaining")).toBe("4");

    now += 60_000; // a new minute, the same hour: 1 of the hour's 6 is left
    const last = await read(userA);
    expect(last.status).toBe(200);
    expect(last.headers.get("x-ratelimit-limit")).toBe("6");
    expect(last.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(last.headers.get("ratelimit-policy")).toBe('"api_read";q=6;w=3600');
    const refused = await read(userA);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe(String(3600 - 70));
    expect(refused.body.message).toBe(
      "rate limit reached: 6 reads per hour for the standard tier; retry in 3530 s",
    );
  });

  it("never counts the service role, unlimited tiers or writes, and a forged token counts as its address", async () => {
    for (let i = 0; i < 10; i++) {
      const service = await read(serviceKey);
      expect(service.status).toBe(200);
      expect(service.headers.get("x-ratelimit-limit")).toBeNull();
      const staff = await read(staffToken);
      expect(staff.status).toBe(200);
      expect(staff.headers.get("x-ratelimit-limit")).toBeNull();
      const write = await read(userA, { method: "POST", path: "/rpc/anything" });
      expect(write.status).toBe(201);
      expect(write.headers.get("x-ratelimit-limit")).toBeNull();
    }
    // HEAD is a read.
    expect((await read(userA, { method: "HEAD" })).headers.get("x-ratelimit-remaining")).toBe("4");
    // A token not signed with the project's secret proves nobody: the address is counted.
    const forgedRead = await read(forged);
    expect(forgedRead.headers.get("x-ratelimit-limit")).toBe("3");
    expect(forgedRead.headers.get("x-ratelimit-remaining")).toBe("2");
  });

  it("reads the policies again after the refresh time, so a limit staff change takes effect", async () => {
    expect((await read(userA)).headers.get("x-ratelimit-limit")).toBe("5");
    limits.set("standard", { perMinute: 2, perHour: 1000 });
    expect((await read(userA)).headers.get("x-ratelimit-limit")).toBe("5"); // still cached
    now += 5_001;
    const changed = await read(userA);
    expect(changed.headers.get("x-ratelimit-limit")).toBe("2");
    expect(changed.status).toBe(429); // three reads this minute, two allowed now
  });

  it("lets reads through uncounted when the database cannot give the limits (fail open)", async () => {
    now += 10_000; // past every cached policy and tier
    failing = true;
    const reads = policyReads;
    for (let i = 0; i < 5; i++) {
      const r = await read(userB);
      expect(r.status).toBe(200);
      expect(r.headers.get("x-ratelimit-limit")).toBeNull();
    }
    expect(policyReads - reads).toBe(1); // tried again after a second, not on every read
  });
});

describe("the gateway's upload limit", () => {
  async function store(bearer: string | null, method: string, path: string) {
    const headers: Record<string, string> = { apikey: anonKey, "x-forwarded-for": "203.0.113.7" };
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    const response = await fetch(`${base}/storage/v1${path}`, {
      method,
      headers,
      body: method === "GET" ? undefined : "png",
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text ? JSON.parse(text) : null,
    };
  }

  it("counts a user's uploads, signed uploads and copies apart from reads, and refuses past the limit with Storage's 429", async () => {
    const before = storageHits;
    const first = await store(userA, "POST", "/object/avatars/a/1.png");
    expect(first.status).toBe(200);
    expect(first.headers.get("x-ratelimit-limit")).toBe("2");
    expect(first.headers.get("x-ratelimit-remaining")).toBe("1");
    expect(first.headers.get("ratelimit-policy")).toBe('"upload";q=2;w=60');
    // Reads of the same user are another class: the upload count is unchanged.
    expect((await read(userA)).headers.get("x-ratelimit-remaining")).toBe("4");
    // Listing, signing, moving and downloading create nothing: not counted.
    for (
      const [method, path] of [
        ["POST", "/object/list/avatars"],
        ["POST", "/object/list-v2/avatars"],
        ["POST", "/object/sign/avatars/a/1.png"],
        ["POST", "/object/upload/sign/avatars/a/2.png"],
        ["POST", "/object/move"],
        ["GET", "/object/avatars/a/1.png"],
      ]
    ) {
      expect((await store(userA, method, path)).headers.get("x-ratelimit-limit")).toBeNull();
    }
    const signed = await store(userA, "PUT", "/object/upload/sign/avatars/a/2.png?token=t");
    expect(signed.headers.get("x-ratelimit-remaining")).toBe("0");
    const copy = await store(userA, "POST", "/object/copy");
    expect(copy.status).toBe(429);
    expect(copy.headers.get("retry-after")).toBe("50");
    expect(copy.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(copy.headers.get("ratelimit")).toBe('"upload";r=0;t=50');
    expect(copy.headers.get("access-control-allow-origin")).toBe("*");
    expect(copy.body).toEqual({
      statusCode: "429",
      code: "SlowDown",
      error: "too_many_requests",
      message: "rate limit reached: 2 uploads per minute for the standard tier; retry in 50 s",
    });
    expect((await store(userA, "PUT", "/object/avatars/a/1.png")).status).toBe(429);
    expect(storageHits - before).toBe(8); // the refused uploads never reached Storage
    // Another user, the service role, staff and the signed-out (as the policy: users only).
    expect((await store(userB, "POST", "/object/avatars/b/1.png")).headers.get(
      "x-ratelimit-remaining",
    )).toBe("1");
    for (const bearer of [serviceKey, staffToken, null]) {
      for (let i = 0; i < 3; i++) {
        const r = await store(bearer, "POST", "/object/avatars/x/1.png");
        expect(r.status).toBe(200);
        expect(r.headers.get("x-ratelimit-limit")).toBeNull();
      }
    }
    now += 50_000; // the next minute
    expect((await store(userA, "POST", "/object/avatars/a/3.png")).status).toBe(200);
  });
});

describe("the gateway's request log", () => {
  it("writes one row per request in one batch: route template, status, duration, role and tier", async () => {
    await log.flush();
    written.length = 0;
    await read(userA, { path: "/countries?select=code&apikey=secret" });
    await read(serviceKey, { path: "/rpc/place_order?select=*", method: "POST" });
    await read(null, { path: "/designs/123" });
    await (await fetch(`${base}/rest/v1/countries`)).text(); // no key: 401
    await new Promise((resolve) => setTimeout(resolve, 50));
    await log.flush();
    expect(written).toHaveLength(1);
    const rows = JSON.parse(written[0]);
    expect(
      rows.map((
        r: Record<string, unknown>,
      ) => [r.route_class, r.method, r.path, r.status, r.role, r.tier]),
    )
      .toEqual([
        ["rest", "GET", "/rest/v1/countries", 200, "authenticated", "standard"],
        ["rest", "POST", "/rest/v1/rpc/place_order", 201, "service_role", null],
        ["rest", "GET", "/rest/v1/designs/:id", 200, "anon", "anonymous"],
        ["rest", "GET", "/rest/v1/countries", 401, null, null],
      ]);
    for (const row of rows) {
      expect(row.source).toBe("gateway");
      expect(row.duration_ms).toBeGreaterThanOrEqual(0);
      expect(new Date(row.at).toISOString()).toBe(row.at);
    }
  });

  it("keeps the request's own values out of the path", () => {
    expect(pathTemplate("rest", "/profiles?id=eq.5&select=*")).toBe("/rest/v1/profiles");
    expect(pathTemplate("auth", "/admin/users/0b6f6f7e-2a4c-4c55-9d6a-2a1d4c5f6e7a/factors"))
      .toBe("/auth/v1/admin/users/:id/factors");
    expect(
      pathTemplate(
        "storage",
        "/object/avatars/0b6f6f7e-2a4c-4c55-9d6a-2a1d4c5f6e7a/me at home.png",
      ),
    )
      .toBe("/storage/v1/object/avatars/*");
    expect(pathTemplate("storage", "/object/sign/exports/u/secret.pdf?token=abc"))
      .toBe("/storage/v1/object/sign/exports/*");
    expect(pathTemplate("storage", "/object/upload/sign/textures/x.png")).toBe(
      "/storage/v1/object/upload/sign/textures/*",
    );
    expect(pathTemplate("storage", "/bucket")).toBe("/storage/v1/bucket");
    expect(pathTemplate("realtime", "/api/broadcast/thread:42/events/typing"))
      .toBe("/realtime/v1/api/broadcast/*");
    expect(pathTemplate("auth", "/token?grant_type=password")).toBe("/auth/v1/token");
  });

  it("drops the oldest rows rather than grow without bound while writes fail", async () => {
    let calls = 0;
    const small = new RequestLog(() => {
      calls++;
      return Promise.reject(new Error("database down"));
    }, { flushMs: 60_000, batchRows: 1000, maxBuffered: 3 });
    for (let i = 0; i < 5; i++) {
      small.add({
        at: Date.now(),
        routeClass: "rest",
        method: "GET",
        path: `/rest/v1/t${i}`,
        status: 200,
        durationMs: 1,
        role: null,
        tier: null,
      });
    }
    expect(small.dropped).toBe(2);
    await small.close();
    expect(calls).toBe(1);
  });
});
