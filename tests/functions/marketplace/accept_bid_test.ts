import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { acceptBidRequest } from "../../../functions/_shared/marketplace/requests.ts";
import { handler } from "../../../functions/accept-bid/handler.ts";
import { withFakeSupabase } from "../platform/fake_supabase.ts";

const post = (body: unknown, token: string | null = "user-token") =>
  new Request("http://localhost/accept-bid", {
    method: "POST",
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    body: JSON.stringify(body),
  });

Deno.test("accept-bid answers only POST, in the error format", async () => {
  const res = await handler(new Request("http://localhost/accept-bid"));
  strictEqual(res.status, 405);
  strictEqual(res.headers.get("Allow"), "POST");
  strictEqual((await res.json()).error.code, "method_not_allowed");
});

Deno.test("accept-bid refuses a request without a session before reading it", async () => {
  const res = await handler(post({ bid_id: crypto.randomUUID() }, null));
  strictEqual(res.status, 401);
  strictEqual((await res.json()).error.code, "unauthorized");
});

Deno.test("accept-bid's body is exactly one bid id", () => {
  strictEqual(acceptBidRequest.safeParse({ bid_id: crypto.randomUUID() }).success, true);
  strictEqual(acceptBidRequest.safeParse({ bid_id: "42" }).success, false);
  strictEqual(acceptBidRequest.safeParse({}).success, false);
  // Anything else (an amount, another user) is refused, not ignored.
  strictEqual(
    acceptBidRequest.safeParse({ bid_id: crypto.randomUUID(), acting_user: crypto.randomUUID() })
      .success,
    false,
  );
});

Deno.test("accept_bid refusing is the caller's 4xx, with the database's message", async (t) => {
  const refusals = [
    { code: "42501", status: 403, error: "forbidden", message: "only the project owner accepts" },
    { code: "PT409", status: 409, error: "conflict", message: "the project is closed" },
    { code: "PT404", status: 404, error: "not_found", message: "bid not found" },
  ];
  for (const { code, status, error, message } of refusals) {
    await t.step(code, async () => {
      const state = {
        user: { id: crypto.randomUUID(), email: "owner@example.com" },
        password: "unused",
        objects: {},
        rpc: { accept_bid: { status: 400, body: { code, message, details: null, hint: null } } },
      };
      await withFakeSupabase(state, async (fake) => {
        const res = await handler(post({ bid_id: crypto.randomUUID() }));
        strictEqual(res.status, status);
        deepStrictEqual(await res.json(), { error: { code: error, message } });
        const call = fake.requests.find((r) => r.path === "/rest/v1/rpc/accept_bid");
        strictEqual(call?.authorization, "Bearer service-role-key");
      });
    });
  }
});
