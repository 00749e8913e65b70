import { strictEqual } from "node:assert/strict";
import { acceptBidRequest, handler } from "../../../functions/accept-bid/handler.ts";

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
