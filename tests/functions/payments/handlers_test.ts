// The payments functions' HTTP edges: POST only, a session required (the webhook excepted),
// answers in the error format, before any database or Stripe work.
import { strictEqual } from "node:assert/strict";
import { handler as initiate } from "../../../functions/payments-initiate/handler.ts";
import { handler as onboard } from "../../../functions/payments-onboard/handler.ts";
import { handler as refund } from "../../../functions/payments-refund/handler.ts";
import { handler as release } from "../../../functions/payments-release/handler.ts";
import { handler as resolve } from "../../../functions/payments-resolve-dispute/handler.ts";
import { withEnv } from "../platform/with_env.ts";

const handlers = { initiate, onboard, refund, release, resolve };
const fakeEnv = {
  SUPABASE_URL: "http://127.0.0.1:1",
  SUPABASE_ANON_KEY: "anon-key",
  SUPABASE_SERVICE_ROLE_KEY: "service-role-key",
  SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:1/postgres",
};

Deno.test("every payments function answers only POST", async () => {
  for (const [name, handle] of Object.entries(handlers)) {
    const res = await handle(new Request(`http://localhost/${name}`));
    strictEqual(res.status, 405, name);
    strictEqual((await res.json()).error.code, "method_not_allowed");
  }
});

Deno.test("every payments function refuses a caller without a session", async () => {
  await withEnv(fakeEnv, async () => {
    for (const [name, handle] of Object.entries(handlers)) {
      const res = await handle(
        new Request(`http://localhost/${name}`, {
          method: "POST",
          body: JSON.stringify({ order_id: crypto.randomUUID() }),
        }),
      );
      strictEqual(res.status, 401, name);
      strictEqual((await res.json()).error.code, "unauthorized");
    }
  });
});

Deno.test("the scheduler's due paths check their body before any work", async () => {
  await withEnv(fakeEnv, async () => {
    const asScheduler = (body: unknown) =>
      new Request("http://localhost/due", {
        method: "POST",
        headers: { Authorization: `Bearer ${fakeEnv.SUPABASE_SERVICE_ROLE_KEY}` },
        body: JSON.stringify(body),
      });
    for (const [name, handle] of Object.entries({ refund, release })) {
      const res = await handle(asScheduler({ due: true, limit: 0 }));
      strictEqual(res.status, 400, name);
      strictEqual((await res.json()).error.code, "invalid_request", name);
    }
    // The service role refunds by policy only: amounts are for admins' sessions.
    const res = await refund(
      asScheduler({ order_id: crypto.randomUUID(), amount: 5, reason: "x" }),
    );
    strictEqual(res.status, 400);
  });
});
