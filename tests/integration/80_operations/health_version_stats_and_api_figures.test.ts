// Health, version and stats through the health function, and the API health figures from the
// request log the gateway and the functions write: the public paths for anyone, the staff
// paths for holders of operations.read (and the service role) only.
import { readdirSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import {
  ANON_KEY,
  callFunction,
  client,
  eventually,
  type JsonBody,
  SERVICE_ROLE_KEY,
  SUPABASE_URL,
} from "../support/clients.ts";

const latestMigration = readdirSync(new URL("../../../supabase/migrations/", import.meta.url))
  .filter((name) => /^\d{14}_.+\.sql$/.test(name))
  .sort()
  .at(-1)!;

async function get(path: string, bearer: string | null = null) {
  const response = await fetch(`${SUPABASE_URL}/functions/v1/${path}`, {
    headers: { apikey: ANON_KEY, ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}) },
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as JsonBody };
}

let user: TestUser;
let staff: TestUser;

beforeAll(async () => {
  [user, staff] = await Promise.all([
    signUp("health-user"),
    signUpWithRole("health-staff", "staff"),
  ]);
});

describe("health, version and system stats", () => {
  it("GET /health: up, the version, the commit, the database and the maintenance state, for anyone", async () => {
    const { status, body } = await get("health");
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "ok", version: "0.1.0", database: "up" });
    expect(body.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(body).toHaveProperty("maintenance");
  });

  it("GET /health/version: the package version, the commit and the latest migration applied", async () => {
    const { status, body } = await get("health/version");
    expect(status).toBe(200);
    expect(body.version).toBe("0.1.0");
    expect(body.latest_migration.version).toBe(latestMigration.slice(0, 14));
  });

  it("GET /health/detailed: every service reachable, jobs and outbox lag, for staff only", async () => {
    expect((await get("health/detailed")).status).toBe(401);
    const refused = await get("health/detailed", user.accessToken);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toBe(
      "reading the platform's health and figures needs the operations.read permission",
    );

    const { status, body } = await get("health/detailed", staff.accessToken);
    expect(status).toBe(200);
    expect(body.status).toBe("ok");
    expect(body.checks.map((c: JsonBody) => [c.name, c.ok])).toEqual([
      ["database", true],
      ["postgrest", true],
      ["auth", true],
      ["storage", true],
      ["realtime", true],
      ["functions", true],
      ["stripe", true],
    ]);
    expect(body.database.status).toBe("up");
    expect(body.database.max_connections).toBeGreaterThan(0);
    expect(body.scheduled_jobs.map((j: JsonBody) => j.name)).toContain(
      "operations-prune-request-log",
    );
    expect(Object.keys(body.outbox).sort()).toEqual([
      "oldest_due_notification_seconds",
      "oldest_queued_email_seconds",
      "oldest_unprocessed_seconds",
      "pending_notifications",
      "queued_emails",
      "unprocessed_events",
    ]);
    // The service role (monitoring, the admin CLI) may ask too.
    expect((await get("health/detailed", SERVICE_ROLE_KEY)).status).toBe(200);
  });

  it("GET /health/stats: sizes, row estimates, connections, cache hit ratio; statements only with pg_stat_statements", async () => {
    expect((await get("health/stats", user.accessToken)).status).toBe(403);
    expect((await get("health/stats?table_limit=500", staff.accessToken)).status).toBe(400);
    const { status, body } = await get("health/stats?table_limit=5", staff.accessToken);
    expect(status).toBe(200);
    expect(body.database.size_bytes).toBeGreaterThan(0);
    expect(body.tables).toHaveLength(5);
    expect(Object.keys(body.tables[0]).sort()).toEqual([
      "index_bytes",
      "name",
      "row_estimate",
      "schema",
      "table_bytes",
      "total_bytes",
    ]);
    expect(body.connections.total).toBeGreaterThan(0);
    expect(body.cache_hit_ratio).toBeGreaterThan(0);
    expect(typeof body.statements.available).toBe("boolean");
    if (!body.statements.available) expect(body.statements.note).toMatch(/pg_stat_statements/);
  });
});

describe("the API health figures (004 /api/admin/metrics/health)", () => {
  it("count the requests the gateway and the functions log, with errors apart and latency percentiles", async () => {
    // The whole day: a shorter window drops old rows as it slides, so its counts can fall
    // while other tests' requests age out of it; the day holds every request of this stack.
    const figures = async () => {
      const { data, error } = await staff.client.rpc("api_health", { window_minutes: 1440 });
      if (error) throw error;
      return data as JsonBody;
    };
    const classOf = (f: JsonBody, name: string) =>
      f.by_route_class.find((c: JsonBody) => c.route_class === name) ??
        { requests: 0, errors_4xx: 0 };
    const before = await figures();

    // Five reads, one of them a 404, and two function calls.
    const anon = client();
    for (let i = 0; i < 4; i++) await anon.from("countries").select("code").limit(1).throwOnError();
    await fetch(`${SUPABASE_URL}/rest/v1/no_such_table`, { headers: { apikey: ANON_KEY } });
    await callFunction(anon, "health", undefined, "GET");
    await callFunction(anon, "health/version", undefined, "GET");

    const after = await eventually("the request log to be written", async () => {
      const f = await figures();
      return classOf(f, "rest").requests >= classOf(before, "rest").requests + 5 &&
          classOf(f, "functions").requests >= classOf(before, "functions").requests + 2
        ? f
        : undefined;
    });
    expect(classOf(after, "rest").errors_4xx).toBeGreaterThanOrEqual(
      classOf(before, "rest").errors_4xx + 1,
    );
    expect(after.totals.p50_ms).toBeLessThanOrEqual(after.totals.p95_ms);
    expect(after.totals.p95_ms).toBeLessThanOrEqual(after.totals.p99_ms);
    expect(after.uptime_seconds).toBeGreaterThan(0);
    expect(after.database.replication.replicas).toBe(0);

    const { error } = await user.client.rpc("api_health", { window_minutes: 5 });
    expect(error?.code).toBe("42501");
    const bad = await staff.client.rpc("api_health", { window_minutes: 0 });
    expect(bad.error?.message).toBe(
      "window_minutes must be between 1 and 1440 (the request log keeps 24 hours), got 0",
    );
    // Through the function too, as 003's admin route would be mapped.
    const viaFunction = await get("health/metrics?window_minutes=1440", staff.accessToken);
    expect(viaFunction.status).toBe(200);
    expect(viaFunction.body.totals.requests).toBeGreaterThanOrEqual(after.totals.requests);
  });
});
