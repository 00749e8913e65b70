import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { handler } from "../../../functions/account-delete/handler.ts";
import { type FakeSupabase, withFakeSupabase } from "../platform/fake_supabase.ts";

const uid = "5b0c8c9e-2f57-4b8e-9d3a-0c2f1e7a6b11";
const otherAdmin = "9e1d2c3b-4a5f-4e6d-8c7b-6a5f4e3d2c1b";
const email = "leaver@example.com";
const password = "right-password";

function post(body: unknown, token: string | null = "user-token"): Request {
  return new Request("http://localhost/account-delete", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function errorOf(
  res: Response,
  status: number,
): Promise<{ code: string; details?: { path: string[] }[] }> {
  strictEqual(res.status, status);
  strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
  const body = await res.json();
  strictEqual(typeof body.error.message, "string");
  return body.error;
}

/** The requests that change something: none may happen before the checks pass. */
const writes = (fake: FakeSupabase) =>
  fake.requests.filter((r) => ["DELETE", "PATCH"].includes(r.method));

function fakeState(adminRoles: { user_id: string; expires_at: string | null }[] = []) {
  return {
    user: { id: uid, email },
    password,
    adminRoles,
    objects: {
      avatars: [`${uid}/face.png`, `${uid}/old/2025/face.png`, `${otherAdmin}/face.png`],
      "account-exports": [`${uid}/export-1.json`],
    },
  };
}

Deno.test("other methods than POST get 405 in the error format", async () => {
  const res = await handler(new Request("http://localhost/account-delete"));
  strictEqual(res.headers.get("Allow"), "POST");
  strictEqual((await errorOf(res, 405)).code, "method_not_allowed");
});

Deno.test("a body that is not JSON is an invalid request", async () => {
  const error = await errorOf(await handler(post("{password")), 400);
  strictEqual(error.code, "invalid_request");
});

Deno.test("a body without password and confirmation lists both problems", async () => {
  const error = await errorOf(await handler(post({})), 400);
  strictEqual(error.code, "invalid_request");
  deepStrictEqual(error.details!.map((issue) => issue.path).sort(), [
    ["confirm"],
    ["password"],
  ]);
});

Deno.test("confirm must be exactly DELETE, and the password a non-empty string", async (t) => {
  for (
    const body of [
      { password, confirm: "delete" },
      { password, confirm: true },
      { password: "", confirm: "DELETE" },
      { password: 12345678, confirm: "DELETE" },
    ]
  ) {
    await t.step(JSON.stringify(body), async () => {
      strictEqual((await errorOf(await handler(post(body)), 400)).code, "invalid_request");
    });
  }
});

Deno.test("a valid request without a session is refused with 401", async () => {
  const res = await handler(post({ password, confirm: "DELETE" }, null));
  strictEqual((await errorOf(res, 401)).code, "unauthorized");
});

Deno.test("a wrong password deletes nothing", async () => {
  await withFakeSupabase(fakeState(), async (fake) => {
    const res = await handler(post({ password: "wrong-password", confirm: "DELETE" }));
    strictEqual((await errorOf(res, 401)).code, "reauthentication_failed");
    deepStrictEqual(writes(fake), []);
    strictEqual(fake.state.objects.avatars.length, 3);
  });
});

Deno.test("the platform's last admin cannot delete their account", async () => {
  const expired = new Date(Date.now() - 60_000).toISOString();
  const admins = [{ user_id: uid, expires_at: null }, { user_id: otherAdmin, expires_at: expired }];
  await withFakeSupabase(fakeState(admins), async (fake) => {
    const res = await handler(post({ password, confirm: "DELETE" }));
    strictEqual((await errorOf(res, 403)).code, "last_admin_protection");
    deepStrictEqual(writes(fake), []);
  });
});

Deno.test("an admin can delete their account while another admin remains", async () => {
  const later = new Date(Date.now() + 86_400_000).toISOString();
  const admins = [{ user_id: uid, expires_at: null }, { user_id: otherAdmin, expires_at: later }];
  await withFakeSupabase(fakeState(admins), async () => {
    const res = await handler(post({ password, confirm: "DELETE" }));
    strictEqual(res.status, 200);
    deepStrictEqual(await res.json(), { deleted: true });
  });
});

Deno.test("deleting removes the caller's files, their e-mail from redemptions, then the user", async () => {
  await withFakeSupabase(fakeState(), async (fake) => {
    const res = await handler(post({ password, confirm: "DELETE" }));
    strictEqual(res.status, 200);
    deepStrictEqual(await res.json(), { deleted: true });

    deepStrictEqual(fake.state.objects.avatars, [`${otherAdmin}/face.png`]);
    deepStrictEqual(fake.state.objects["account-exports"], []);
    const redemptions = fake.requests.find((r) => r.path === "/rest/v1/invite_redemptions");
    ok(redemptions?.search.includes(`email=eq.${email}`));
    deepStrictEqual(JSON.parse(redemptions!.body), { email: "" });

    // The service role does the deleting, and the auth user goes last.
    for (const write of writes(fake)) strictEqual(write.authorization, "Bearer service-role-key");
    const last = fake.requests.at(-1)!;
    strictEqual(`${last.method} ${last.path}`, `DELETE /auth/v1/admin/users/${uid}`);
  });
});

// What the database refuses is answered as every function answers it (orThrow): the caller's
// 4xx, not a 500, and the account stays.
Deno.test("the admin check refused with 42501 is 403 forbidden, and nothing is deleted", async () => {
  const refusals = {
    user_roles: { status: 403, code: "42501", message: "permission denied for table user_roles" },
  };
  await withFakeSupabase({ ...fakeState(), refusals }, async (fake) => {
    const res = await handler(post({ password, confirm: "DELETE" }));
    const error = await errorOf(res, 403);
    strictEqual(error.code, "forbidden");
    deepStrictEqual(writes(fake), []);
  });
});

Deno.test("dropping the e-mail from redemptions refused with P0002 is 404, and the user stays", async () => {
  const refusals = {
    invite_redemptions: { status: 404, code: "P0002", message: "invite code not found" },
  };
  await withFakeSupabase({ ...fakeState(), refusals }, async (fake) => {
    const res = await handler(post({ password, confirm: "DELETE" }));
    strictEqual((await errorOf(res, 404)).code, "not_found");
    ok(!fake.requests.some((r) => r.method === "DELETE" && r.path.startsWith("/auth/v1/admin/")));
  });
});
