import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { handler } from "../../../functions/identity-admin-update-user/handler.ts";
import { type FakeSupabase, withFakeSupabase } from "../platform/fake_supabase.ts";

const staff = "5b0c8c9e-2f57-4b8e-9d3a-0c2f1e7a6b11";
const target = "9e1d2c3b-4a5f-4e6d-8c7b-6a5f4e3d2c1b";

function put(body: unknown, token: string | null = "user-token", method = "PUT"): Request {
  return new Request("http://localhost/identity-admin-update-user", {
    method,
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const profile = {
  id: target,
  username: "tess_t",
  display_name: "Tess",
  bio: "",
  first_name: "Tessa",
  last_name: "T",
  phone: "+14155550123",
};

function state(overrides: {
  rpc?: Record<string, { status: number; body: unknown }>;
  auth?: Record<string, { status: number; body: unknown }>;
} = {}) {
  const targetJson = {
    id: target,
    aud: "authenticated",
    role: "authenticated",
    email: "tess@example.com",
    phone: "14155550123",
    app_metadata: {},
    user_metadata: {},
    created_at: "2026-01-01T00:00:00Z",
  };
  return {
    user: { id: staff, email: "staff@example.com" },
    password: "x",
    objects: {},
    rpc: { admin_edit_user: { status: 200, body: profile }, ...overrides.rpc },
    auth: {
      [`PUT /auth/v1/admin/users/${target}`]: { status: 200, body: targetJson },
      [`GET /auth/v1/admin/users/${target}`]: { status: 200, body: targetJson },
      ...overrides.auth,
    },
  };
}

const calls = (fake: FakeSupabase, path: string) => fake.requests.filter((r) => r.path === path);

Deno.test("edits the profile through ops.admin_edit_user as the caller, then the e-mail and phone through Auth", async () => {
  await withFakeSupabase(state(), async (fake) => {
    const res = await handler(put({
      user_id: target,
      display_name: "Tess",
      email: "tess@example.com",
      phone: "+14155550123",
    }));
    strictEqual(res.status, 200);
    deepStrictEqual(await res.json(), {
      user: { id: target, email: "tess@example.com", phone: "14155550123" },
      profile,
    });
    const [rpc] = calls(fake, "/rest/v1/rpc/admin_edit_user");
    strictEqual(rpc.schema, "ops");
    strictEqual(rpc.authorization, "Bearer service-role-key");
    deepStrictEqual(JSON.parse(rpc.body), {
      acting_user: staff,
      user_id: target,
      changes: { display_name: "Tess", email: "tess@example.com", phone: "+14155550123" },
    });
    const [update] = calls(fake, `/auth/v1/admin/users/${target}`).filter((r) =>
      r.method === "PUT"
    );
    deepStrictEqual(JSON.parse(update.body), {
      email: "tess@example.com",
      email_confirm: true,
      phone: "+14155550123",
      phone_confirm: true,
    });
    // The database's half comes first: a refusal there never leaves Auth changed.
    ok(fake.requests.indexOf(rpc) < fake.requests.indexOf(update));
  });
});

Deno.test("profile fields alone do not touch Auth's user", async () => {
  await withFakeSupabase(state(), async (fake) => {
    const res = await handler(put({ user_id: target, bio: "Tailor" }));
    strictEqual(res.status, 200);
    strictEqual(
      calls(fake, `/auth/v1/admin/users/${target}`).filter((r) => r.method === "PUT").length,
      0,
    );
  });
});

Deno.test("the database's refusals are the error format's: 403 without users.manage, 404, 409", async () => {
  for (
    const [code, message, status, errorCode] of [
      ["42501", "permission denied: users.manage is required to edit users", 403, "forbidden"],
      ["PT404", `user ${target} not found`, 404, "not_found"],
      ["23505", "this e-mail address is already registered by another user", 409, "conflict"],
    ] as const
  ) {
    await withFakeSupabase(
      state({
        rpc: {
          admin_edit_user: { status: status, body: { code, message, details: null, hint: null } },
        },
      }),
      async (fake) => {
        const res = await handler(put({ user_id: target, email: "taken@example.com" }));
        strictEqual(res.status, status);
        deepStrictEqual((await res.json()).error, { code: errorCode, message });
        strictEqual(calls(fake, `/auth/v1/admin/users/${target}`).length, 0);
      },
    );
  }
});

Deno.test("Auth finding the address taken after all is a 409 conflict", async () => {
  await withFakeSupabase(
    state({
      auth: {
        [`PUT /auth/v1/admin/users/${target}`]: {
          status: 422,
          body: {
            code: 422,
            error_code: "email_exists",
            msg: "A user with this email address has already been registered",
          },
        },
      },
    }),
    async () => {
      const res = await handler(put({ user_id: target, email: "raced@example.com" }));
      strictEqual(res.status, 409);
      deepStrictEqual((await res.json()).error, {
        code: "conflict",
        message: "A user with this email address has already been registered",
      });
    },
  );
});

Deno.test("bad requests are 400 before anything is asked; no session is 401; other methods 405", async () => {
  await withFakeSupabase(state(), async (fake) => {
    for (
      const body of [
        { user_id: target },
        { user_id: "not-a-uuid", bio: "x" },
        { user_id: target, phone: "555" },
        { user_id: target, username: "No Spaces" },
        { user_id: target, account_status: "active" },
        { user_id: target, email: "nope" },
        "not json",
      ]
    ) {
      const res = await handler(put(body));
      strictEqual(res.status, 400, JSON.stringify(body));
      strictEqual((await res.json()).error.code, "invalid_request");
    }
    strictEqual(fake.requests.length, 0);
    const unsigned = await handler(put({ user_id: target, bio: "x" }, null));
    strictEqual(unsigned.status, 401);
    const post = await handler(put({ user_id: target, bio: "x" }, "user-token", "POST"));
    strictEqual(post.status, 405);
    strictEqual(post.headers.get("Allow"), "PUT");
  });
});

Deno.test("a caller with a verified factor on an aal1 session is refused before the database is asked", async () => {
  await withFakeSupabase(
    state({ rpc: { has_required_aal: { status: 200, body: false } } }),
    async (fake) => {
      const res = await handler(put({ user_id: target, bio: "x" }));
      strictEqual(res.status, 403);
      strictEqual((await res.json()).error.code, "two_factor_required");
      strictEqual(calls(fake, "/rest/v1/rpc/admin_edit_user").length, 0);
    },
  );
});

Deno.test("service tooling (the admin CLI) acts for the staff account it names; a user may not name one", async () => {
  await withFakeSupabase(state(), async (fake) => {
    const res = await handler(
      put({ acting_user: staff, user_id: target, bio: "x" }, "service-role-key"),
    );
    strictEqual(res.status, 200);
    const [rpc] = calls(fake, "/rest/v1/rpc/admin_edit_user");
    deepStrictEqual(JSON.parse(rpc.body), {
      acting_user: staff,
      user_id: target,
      changes: { bio: "x" },
    });
    // No user session to look up or assurance level to ask about.
    strictEqual(calls(fake, "/auth/v1/user").length, 0);
    strictEqual(calls(fake, "/rest/v1/rpc/has_required_aal").length, 0);

    const unnamed = await handler(put({ user_id: target, bio: "x" }, "service-role-key"));
    strictEqual(unnamed.status, 400);
    strictEqual(
      (await unnamed.json()).error.message,
      "acting_user is required with the service-role key: the staff account the tool acts for",
    );
    const posing = await handler(put({ acting_user: staff, user_id: target, bio: "x" }));
    strictEqual(posing.status, 400);
    strictEqual((await posing.json()).error.message, "acting_user is for service tooling only");
    strictEqual(calls(fake, "/rest/v1/rpc/admin_edit_user").length, 1);
  });
});
