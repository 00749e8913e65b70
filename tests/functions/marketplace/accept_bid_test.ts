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

/** A body accepting a bid at the terms the owner read. */
const terms = (bid_id: string = crypto.randomUUID()) => ({
  bid_id,
  amount: 55000,
  duration_days: 21,
});

Deno.test("accept-bid refuses a request without a session before reading it", async () => {
  const res = await handler(post(terms(), null));
  strictEqual(res.status, 401);
  strictEqual((await res.json()).error.code, "unauthorized");
});

Deno.test("accept-bid's body is the bid and the terms the owner accepts, nothing else", () => {
  strictEqual(acceptBidRequest.safeParse(terms()).success, true);
  const refused: [string, unknown][] = [
    ["a bid id alone: the owner must say what they accept", { bid_id: crypto.randomUUID() }],
    ["no amount", { bid_id: crypto.randomUUID(), duration_days: 21 }],
    ["no duration", { bid_id: crypto.randomUUID(), amount: 55000 }],
    ["a bid id that is not a uuid", { ...terms(), bid_id: "42" }],
    ["an amount of zero", { ...terms(), amount: 0 }],
    ["a negative amount", { ...terms(), amount: -1 }],
    ["a fractional amount", { ...terms(), amount: 550.5 }],
    ["an amount as text", { ...terms(), amount: "55000" }],
    ["an amount beyond a safe integer", { ...terms(), amount: 2 ** 53 }],
    ["a duration of zero days", { ...terms(), duration_days: 0 }],
    ["a duration over a year", { ...terms(), duration_days: 366 }],
    ["another user", { ...terms(), acting_user: crypto.randomUUID() }],
    ["nothing", {}],
  ];
  for (const [what, body] of refused) {
    strictEqual(acceptBidRequest.safeParse(body).success, false, what);
  }
});

Deno.test("accept-bid passes the terms the owner accepts to accept_bid, for the caller", async () => {
  const user = { id: crypto.randomUUID(), email: "owner@example.com" };
  const state = {
    user,
    password: "unused",
    objects: {},
    rpc: {
      accept_bid: {
        status: 409,
        body: { code: "PT409", message: "changed", details: null, hint: null },
      },
    },
  };
  await withFakeSupabase(state, async (fake) => {
    const body = terms();
    strictEqual((await handler(post(body))).status, 409);
    const call = fake.requests.find((r) => r.path === "/rest/v1/rpc/accept_bid");
    deepStrictEqual(JSON.parse(call!.body), { ...body, acting_user: user.id });
  });
});

Deno.test("accept_bid refusing is the caller's 4xx, with the database's message", async (t) => {
  const refusals = [
    { code: "42501", status: 403, error: "forbidden", message: "only the project owner accepts" },
    { code: "PT409", status: 409, error: "conflict", message: "the project is closed" },
    {
      code: "PT409",
      status: 409,
      error: "conflict",
      message: "bid 1 has changed: it now asks 99999999 for 21 days, not 55000 for 21 days",
    },
    { code: "22023", status: 400, error: "invalid_request", message: "needs the terms" },
    { code: "PT404", status: 404, error: "not_found", message: "bid not found" },
  ];
  for (const { code, status, error, message } of refusals) {
    await t.step(`${code}: ${message}`, async () => {
      const state = {
        user: { id: crypto.randomUUID(), email: "owner@example.com" },
        password: "unused",
        objects: {},
        rpc: { accept_bid: { status: 400, body: { code, message, details: null, hint: null } } },
      };
      await withFakeSupabase(state, async (fake) => {
        const res = await handler(post(terms()));
        strictEqual(res.status, status);
        deepStrictEqual(await res.json(), { error: { code: error, message } });
        const call = fake.requests.find((r) => r.path === "/rest/v1/rpc/accept_bid");
        strictEqual(call?.authorization, "Bearer service-role-key");
      });
    });
  }
});
