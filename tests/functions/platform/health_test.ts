import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { handler, probe, serviceProbes, subPath } from "../../../functions/health/handler.ts";
import { VERSION } from "../../../functions/_shared/platform/version.ts";
import { withFakeSupabase } from "./fake_supabase.ts";
import { withEnv } from "./with_env.ts";

const fakeUser = {
  user: { id: "00000000-0000-4000-8000-000000000001", email: "u@example.com" },
  password: "pw",
  objects: {},
};
const status = {
  database: "up",
  latest_migration: { version: "20261130170011", name: "operations__request_log_jobs" },
  maintenance: { enabled: false },
};

Deno.test("GET /health answers ok with the version, commit, time, database and maintenance", async () => {
  await withFakeSupabase(
    { ...fakeUser, rpc: { platform_status: { status: 200, body: status } } },
    async () => {
      await withEnv({ GIT_COMMIT: "0123456789abcdef0123456789abcdef01234567" }, async () => {
        const res = await handler(new Request("http://localhost/health"));
        strictEqual(res.status, 200);
        strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
        const body = await res.json();
        deepStrictEqual(Object.keys(body).sort(), [
          "commit",
          "database",
          "maintenance",
          "status",
          "time",
          "version",
        ]);
        strictEqual(body.status, "ok");
        strictEqual(body.version, VERSION);
        strictEqual(body.commit, "0123456789abcdef0123456789abcdef01234567");
        strictEqual(body.database, "up");
        deepStrictEqual(body.maintenance, { enabled: false });
        strictEqual(new Date(body.time).toISOString(), body.time);
      });
    },
  );
});

Deno.test("GET /health still answers 200, saying degraded, when the database cannot be asked", async () => {
  await withFakeSupabase({
    ...fakeUser,
    rpc: { platform_status: { status: 503, body: { message: "down" } } },
  }, async () => {
    const res = await handler(new Request("http://localhost/health"));
    strictEqual(res.status, 200);
    const body = await res.json();
    strictEqual(body.status, "degraded");
    strictEqual(body.database, "unreachable");
    strictEqual(body.version, VERSION);
  });
});

Deno.test("GET /health/version answers the version, the commit (null when not set) and the latest migration", async () => {
  await withFakeSupabase(
    { ...fakeUser, rpc: { platform_status: { status: 200, body: status } } },
    async () => {
      await withEnv({ GIT_COMMIT: undefined }, async () => {
        const res = await handler(new Request("http://localhost/functions/v1/health/version"));
        strictEqual(res.status, 200);
        deepStrictEqual(await res.json(), {
          version: VERSION,
          commit: null,
          latest_migration: status.latest_migration,
        });
      });
    },
  );
});

Deno.test("the staff paths need a session (401) and refuse a user the database refuses (403)", async () => {
  await withFakeSupabase({
    ...fakeUser,
    refusals: {
      "rpc/health_details": {
        status: 403,
        code: "42501",
        message: "reading the platform's health and figures needs the operations.read permission",
      },
    },
  }, async () => {
    const anon = await handler(new Request("http://localhost/health/detailed"));
    strictEqual(anon.status, 401);
    strictEqual((await anon.json()).error.code, "unauthorized");
    const user = await handler(
      new Request("http://localhost/health/detailed", {
        headers: { Authorization: "Bearer user-token" },
      }),
    );
    strictEqual(user.status, 403);
    const body = await user.json();
    strictEqual(
      body.error.message,
      "reading the platform's health and figures needs the operations.read permission",
    );
  });
});

Deno.test("stats and metrics refuse bad query parameters before asking the database (400)", async () => {
  for (
    const url of [
      "health/stats?table_limit=0",
      "health/stats?table_limit=abc",
      "health/metrics?window_minutes=1441",
    ]
  ) {
    const res = await handler(new Request(`http://localhost/${url}`));
    strictEqual(res.status, 400, url);
    strictEqual((await res.json()).error.code, "invalid_request");
  }
});

Deno.test("an unknown sub-path is 404", async () => {
  const res = await handler(new Request("http://localhost/health/nothing"));
  strictEqual(res.status, 404);
  strictEqual((await res.json()).error.code, "not_found");
});

Deno.test("the sub-path is what follows the slug, with or without /functions/v1", () => {
  strictEqual(subPath(new URL("http://x/health")), "");
  strictEqual(subPath(new URL("http://x/health/detailed?x=1")), "detailed");
  strictEqual(subPath(new URL("http://x/functions/v1/health/stats")), "stats");
});

Deno.test("the detailed health reaches each service with one cheap request, Stripe only with a key", () => {
  const variables = {
    SUPABASE_URL: "http://api.local/",
    SUPABASE_ANON_KEY: "anon",
    SUPABASE_SERVICE_ROLE_KEY: "service",
  };
  deepStrictEqual(serviceProbes(variables).map((p) => [p.name, p.url]), [
    ["postgrest", "http://api.local/rest/v1/currencies?select=code&limit=1"],
    ["auth", "http://api.local/auth/v1/health"],
    ["storage", "http://api.local/storage/v1/bucket"],
    ["realtime", "http://api.local/realtime/v1/api/broadcast"],
    ["functions", "http://api.local/functions/v1/health/version"],
  ]);
  const withStripe = serviceProbes({
    ...variables,
    STRIPE_SECRET_KEY: "sk_test_x",
    STRIPE_API_BASE: "http://stripe.local",
  });
  deepStrictEqual(withStripe.at(-1)?.url, "http://stripe.local/v1/balance");
});

Deno.test("a probe reports a 5xx as down, and a service that does not answer in time as down", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (new URL(req.url).pathname === "/slow") {
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return new Response("x", { status: new URL(req.url).pathname === "/broken" ? 502 : 200 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const up = await probe("up", `${base}/ok`);
    ok(up.ok);
    strictEqual(up.status, 200);
    const broken = await probe("broken", `${base}/broken`);
    ok(!broken.ok);
    strictEqual(broken.status, 502);
    const slow = await probe("slow", `${base}/slow`, {}, 50);
    ok(!slow.ok);
    strictEqual(slow.status, null);
    strictEqual(slow.error, "no answer within 50 ms");
  } finally {
    await server.shutdown();
  }
});

Deno.test("the version functions report is package.json's", async () => {
  const packageJson = JSON.parse(
    await Deno.readTextFile(new URL("../../../package.json", import.meta.url)),
  );
  strictEqual(VERSION, packageJson.version);
});

Deno.test("other methods than GET get 405 in the error format", async () => {
  const res = await handler(new Request("http://localhost/health", { method: "POST" }));
  strictEqual(res.status, 405);
  strictEqual(res.headers.get("Allow"), "GET");
  strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
  const body = await res.json();
  strictEqual(body.error.code, "method_not_allowed");
  strictEqual(typeof body.error.message, "string");
});

Deno.test("a CORS preflight is answered with the headers supabase-js sends", async () => {
  const res = await handler(new Request("http://localhost/health", { method: "OPTIONS" }));
  strictEqual(res.status, 204);
  await res.body?.cancel();
  strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
  const allowed = res.headers.get("Access-Control-Allow-Headers")?.split(/,\s*/) ?? [];
  for (const header of ["authorization", "x-client-info", "apikey", "content-type"]) {
    ok(allowed.includes(header), `Access-Control-Allow-Headers lacks ${header}`);
  }
  ok(res.headers.get("Access-Control-Allow-Methods")?.includes("POST"));
});
