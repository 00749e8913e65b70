// The assurance-level guard of the functions that move money or change who may do what
// (payments-onboard, payments-refund, account-delete): the caller's session is asked of the
// database (public.has_required_aal, as the caller); a caller with a verified MFA factor at
// aal1 is refused with 403 two_factor_required before anything is read, written or sent to Stripe.
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { handler as deleteHandler } from "../../../functions/account-delete/handler.ts";
import { handler as onboardHandler } from "../../../functions/payments-onboard/handler.ts";
import { handler as refundHandler } from "../../../functions/payments-refund/handler.ts";
import { HttpError } from "../../../functions/_shared/http/errors.ts";
import {
  AAL2_REQUIRED_MESSAGE,
  requireRequiredAal,
} from "../../../functions/_shared/platform/assurance.ts";
import { userClient } from "../../../functions/_shared/platform/supabase.ts";
import { type FakeSupabase, withFakeSupabase } from "./fake_supabase.ts";

const uid = "5b0c8c9e-2f57-4b8e-9d3a-0c2f1e7a6b11";

function state(aalEnough: boolean | { status: number; body: unknown }) {
  return {
    user: { id: uid, email: "seller@example.com" },
    password: "right-password",
    objects: {},
    rpc: {
      has_required_aal: typeof aalEnough === "boolean"
        ? { status: 200, body: aalEnough }
        : aalEnough,
    },
  };
}

function post(slug: string, body: unknown): Request {
  return new Request(`http://localhost/${slug}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer user-token" },
    body: JSON.stringify(body),
  });
}

/** Every request but reading the caller and asking the rule: none may happen when refused. */
const beyondTheGuard = (fake: FakeSupabase) =>
  fake.requests.filter((r) =>
    r.path !== "/auth/v1/user" && r.path !== "/rest/v1/rpc/has_required_aal"
  );

Deno.test("the guard asks the database as the caller and passes when the session is enough", async () => {
  await withFakeSupabase(state(true), async (fake) => {
    const req = post("payments-onboard", {});
    await requireRequiredAal(userClient(req));
    const asked = fake.requests.find((r) => r.path === "/rest/v1/rpc/has_required_aal");
    strictEqual(asked?.authorization, "Bearer user-token");
    strictEqual(asked?.schema, "public");
    deepStrictEqual(JSON.parse(asked!.body), {});
  });
});

Deno.test("the guard refuses with 403 two_factor_required and the database's words", async () => {
  await withFakeSupabase(state(false), async () => {
    await rejects(
      requireRequiredAal(userClient(post("payments-onboard", {}))),
      (error: unknown) =>
        error instanceof HttpError && error.status === 403 &&
        error.code === "two_factor_required" &&
        error.message === AAL2_REQUIRED_MESSAGE &&
        AAL2_REQUIRED_MESSAGE ===
          "this action needs a two-factor (aal2) session: verify your factor first",
    );
  });
});

Deno.test("a refusal of the question itself is answered as every database refusal is", async () => {
  const refused = { status: 403, body: { code: "42501", message: "permission denied" } };
  await withFakeSupabase(state(refused), async () => {
    await rejects(
      requireRequiredAal(userClient(post("payments-onboard", {}))),
      (error: unknown) =>
        error instanceof HttpError && error.status === 403 && error.code === "forbidden",
    );
  });
});

const guarded: [string, (req: Request) => Promise<Response>, unknown][] = [
  ["payments-onboard", onboardHandler, {
    return_url: "http://127.0.0.1:3000/payouts/done",
    refresh_url: "http://127.0.0.1:3000/payouts/retry",
  }],
  ["payments-refund", refundHandler, {
    order_id: "0f0e0d0c-0b0a-4908-8706-050403020100",
    reason: "changed my mind",
  }],
  ["account-delete", deleteHandler, { password: "right-password", confirm: "DELETE" }],
];

for (const [slug, handler, body] of guarded) {
  Deno.test(`${slug}: an aal1 session of a user with a factor is refused before any work`, async () => {
    await withFakeSupabase(state(false), async (fake) => {
      const res = await handler(post(slug, body));
      strictEqual(res.status, 403);
      deepStrictEqual(await res.json(), {
        error: { code: "two_factor_required", message: AAL2_REQUIRED_MESSAGE },
      });
      deepStrictEqual(beyondTheGuard(fake), []);
    });
  });
}
