import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  claimedRole,
  flushRequestLog,
  functionSlug,
  logRequest,
} from "../../../functions/_shared/platform/request-log.ts";
import { withFakeSupabase } from "./fake_supabase.ts";
import { withEnv } from "./with_env.ts";

const fake = {
  user: { id: "00000000-0000-4000-8000-000000000001", email: "u@example.com" },
  password: "pw",
  objects: {},
  rpc: { record_requests: { status: 200, body: 2 } },
};

function jwt(payload: Record<string, unknown>): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${part({ alg: "HS256" })}.${part(payload)}.signature`;
}

Deno.test("a row names the function's slug, never its sub-path or query", () => {
  strictEqual(functionSlug("http://x/accept-bid?token=secret"), "accept-bid");
  strictEqual(functionSlug("http://x/functions/v1/health/detailed"), "health");
  strictEqual(functionSlug("http://x/"), "unknown");
});

Deno.test("the role is the one the token claims, if it is one of the API's", () => {
  strictEqual(claimedRole(`Bearer ${jwt({ role: "authenticated", sub: "u" })}`), "authenticated");
  strictEqual(claimedRole(`Bearer ${jwt({ role: "postgres" })}`), null);
  strictEqual(claimedRole("Bearer not-a-jwt"), null);
  strictEqual(claimedRole(null), null);
});

Deno.test("off unless FUNCTIONS_REQUEST_LOG=on: nothing is buffered or written", async () => {
  await withFakeSupabase(fake, async ({ requests }) => {
    await withEnv({ FUNCTIONS_REQUEST_LOG: undefined }, async () => {
      logRequest(new Request("http://x/accept-bid", { method: "POST" }), 201, performance.now());
      await flushRequestLog();
    });
    strictEqual(requests.length, 0);
  });
});

Deno.test("on: rows are buffered and written in one ops.record_requests call", async () => {
  await withFakeSupabase(fake, async ({ requests }) => {
    await withEnv({ FUNCTIONS_REQUEST_LOG: "on" }, async () => {
      const headers = { Authorization: `Bearer ${jwt({ role: "service_role" })}` };
      logRequest(
        new Request("http://x/accept-bid", { method: "POST", headers }),
        201,
        performance.now(),
      );
      logRequest(new Request("http://x/health/detailed?x=1"), 403, performance.now() - 12);
      await flushRequestLog();
    });
    strictEqual(requests.length, 1);
    strictEqual(requests[0].path, "/rest/v1/rpc/record_requests");
    strictEqual(requests[0].schema, "ops");
    const { entries } = JSON.parse(requests[0].body);
    deepStrictEqual(
      entries.map((
        e: Record<string, unknown>,
      ) => [e.source, e.route_class, e.method, e.path, e.status, e.role]),
      [
        ["functions", "functions", "POST", "/functions/v1/accept-bid", 201, "service_role"],
        ["functions", "functions", "GET", "/functions/v1/health", 403, null],
      ],
    );
    strictEqual(entries[1].duration_ms >= 12, true);
  });
});
