// createHandler's rate limit and maintenance check (functions/_shared/platform/limits.ts):
// the headers of a counted request go on the answer, past the limit the handler is not run and
// the answer is 429 rate_limited with Retry-After, in maintenance 503 maintenance with the
// message; the service role makes no check; stripe-webhook opts out; a failed check passes.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { createHandler } from "../../../functions/_shared/http/handler.ts";
import {
  checkFunctionRequest,
  functionSlug,
  type LimitDecision,
} from "../../../functions/_shared/platform/limits.ts";
import { withEnv } from "./with_env.ts";

const counted: LimitDecision = {
  status: 200,
  headers: { "X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "41", "X-RateLimit-Reset": "17" },
};

function handlerWith(decision: LimitDecision | null) {
  let ran = 0;
  const handler = createHandler(() => {
    ran++;
    return Response.json({ ok: true });
  }, { limits: () => Promise.resolve(decision) });
  return { handler, ran: () => ran };
}

Deno.test("a counted request runs the handler and carries the limit headers", async () => {
  const { handler, ran } = handlerWith(counted);
  const res = await handler(new Request("http://localhost/health"));
  strictEqual(res.status, 200);
  strictEqual(ran(), 1);
  strictEqual(res.headers.get("x-ratelimit-remaining"), "41");
  strictEqual(res.headers.get("x-ratelimit-limit"), "100");
  deepStrictEqual(await res.json(), { ok: true });
});

Deno.test("past the limit: 429 rate_limited with Retry-After, the handler not run", async () => {
  const { handler, ran } = handlerWith({
    status: 429,
    message:
      "rate limit reached: 100 function requests per minute for the standard tier; retry in 17 s",
    retry_after: 17,
    headers: { ...counted.headers, "X-RateLimit-Remaining": "0", "Retry-After": "17" },
  });
  const res = await handler(new Request("http://localhost/accept-bid", { method: "POST" }));
  strictEqual(res.status, 429);
  strictEqual(ran(), 0);
  strictEqual(res.headers.get("retry-after"), "17");
  strictEqual(res.headers.get("x-ratelimit-remaining"), "0");
  strictEqual(res.headers.get("access-control-allow-origin"), "*");
  deepStrictEqual(await res.json(), {
    error: {
      code: "rate_limited",
      message:
        "rate limit reached: 100 function requests per minute for the standard tier; retry in 17 s",
      details: { retry_after: 17 },
    },
  });
});

Deno.test("in maintenance: 503 maintenance with the message and Retry-After", async () => {
  const { handler, ran } = handlerWith({
    status: 503,
    message: "Upgrading the database",
    retry_after: 300,
    headers: { "Retry-After": "300" },
  });
  const res = await handler(new Request("http://localhost/payments-refund", { method: "POST" }));
  strictEqual(res.status, 503);
  strictEqual(ran(), 0);
  strictEqual(res.headers.get("retry-after"), "300");
  deepStrictEqual(await res.json(), {
    error: {
      code: "maintenance",
      message: "Upgrading the database",
      details: { retry_after: 300 },
    },
  });
});

Deno.test("no decision (the service role, a failed check): the handler runs without headers", async () => {
  const { handler, ran } = handlerWith(null);
  const res = await handler(new Request("http://localhost/health"));
  strictEqual(res.status, 200);
  strictEqual(ran(), 1);
  strictEqual(res.headers.get("x-ratelimit-limit"), null);
  await res.body?.cancel();
});

Deno.test("limits: false (stripe-webhook) makes no check", async () => {
  const handler = createHandler(() => new Response("ok"), { limits: false });
  const res = await handler(new Request("http://localhost/stripe-webhook", { method: "POST" }));
  strictEqual(res.status, 200);
  strictEqual(res.headers.get("x-ratelimit-limit"), null);
  await res.body?.cancel();
});

Deno.test("the service role's key makes no call; an unreachable database lets the request pass", async () => {
  await withEnv({
    SUPABASE_URL: "http://127.0.0.1:1",
    SUPABASE_ANON_KEY: "anon-key",
    SUPABASE_SERVICE_ROLE_KEY: "service-role-key",
    SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:1/postgres",
  }, async () => {
    const service = new Request("http://localhost/payments-release", {
      method: "POST",
      headers: { Authorization: "Bearer service-role-key" },
    });
    strictEqual(await checkFunctionRequest(service), null);
    const warn = console.warn;
    console.warn = () => {};
    try {
      const user = new Request("http://localhost/health", {
        headers: { Authorization: "Bearer user-token" },
      });
      strictEqual(await checkFunctionRequest(user), null);
    } finally {
      console.warn = warn;
    }
  });
});

Deno.test("the function's slug comes from the path, behind the router or Kong", () => {
  strictEqual(functionSlug("http://localhost/accept-bid"), "accept-bid");
  strictEqual(functionSlug("http://localhost/commerce-download/x/y?z=1"), "commerce-download");
  strictEqual(functionSlug("https://ref.supabase.co/functions/v1/health"), "health");
});
