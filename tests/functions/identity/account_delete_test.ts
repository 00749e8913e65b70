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

// What ops.erase_account names: the user's folder in every bucket that keeps files per user.
const folders = [
  { bucket_id: "account-exports", prefix: `${uid}/` },
  { bucket_id: "avatars", prefix: `${uid}/` },
];

function fakeState(rpc: Record<string, { status: number; body: unknown }> = {
  erase_account: { status: 200, body: folders },
}) {
  return {
    user: { id: uid, email },
    password,
    rpc,
    objects: {
      avatars: [`${uid}/face.png`, `${uid}/old/2025/face.png`, `${otherAdmin}/face.png`],
      "account-exports": [`${uid}/export-1.json`],
      // Order folders are not the user's to empty: erasure does not name them.
      deliverables: [`${otherAdmin}/work.pdf`],
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

Deno.test("the platform's only admin cannot delete their account: the database says so", async () => {
  const refusal = {
    status: 403,
    code: "42501",
    message: "the platform's only admin cannot delete their account: make someone else admin first",
  };
  await withFakeSupabase(
    { ...fakeState(), refusals: { "rpc/erase_account": refusal } },
    async (fake) => {
      const res = await handler(post({ password, confirm: "DELETE" }));
      const error = await errorOf(res, 403);
      strictEqual(error.code, "last_admin_protection");
      deepStrictEqual(writes(fake), []);
      strictEqual(fake.state.objects.avatars.length, 3);
    },
  );
});

Deno.test("erasure asks the database first, as the service role, in the ops schema", async () => {
  await withFakeSupabase(fakeState(), async (fake) => {
    const res = await handler(post({ password, confirm: "DELETE" }));
    strictEqual(res.status, 200);
    const erase = fake.requests.find((r) => r.path === "/rest/v1/rpc/erase_account");
    strictEqual(erase?.authorization, "Bearer service-role-key");
    strictEqual(erase?.schema, "ops");
    deepStrictEqual(JSON.parse(erase!.body), { user_id: uid });
    const firstWrite = fake.requests.findIndex((r) => ["DELETE", "PATCH"].includes(r.method));
    ok(
      fake.requests.indexOf(erase!) < firstWrite,
      "the database's half comes before any file goes",
    );
  });
});

Deno.test("deleting empties the folders erasure names, then deletes the user", async () => {
  await withFakeSupabase(fakeState(), async (fake) => {
    const res = await handler(post({ password, confirm: "DELETE" }));
    strictEqual(res.status, 200);
    deepStrictEqual(await res.json(), { deleted: true });

    deepStrictEqual(fake.state.objects.avatars, [`${otherAdmin}/face.png`]);
    deepStrictEqual(fake.state.objects["account-exports"], []);
    deepStrictEqual(fake.state.objects.deliverables, [`${otherAdmin}/work.pdf`]);

    // The service role does the deleting, and the auth user goes last.
    for (const write of writes(fake)) strictEqual(write.authorization, "Bearer service-role-key");
    const last = fake.requests.at(-1)!;
    strictEqual(`${last.method} ${last.path}`, `DELETE /auth/v1/admin/users/${uid}`);
  });
});

// What the database refuses is answered as every function answers it (orThrow): the caller's
// 4xx, not a 500, and the account stays; what it fails at is the server's 500.
Deno.test("erasure refused with PT404 is 404 not_found, and nothing is deleted", async () => {
  const refusals = {
    "rpc/erase_account": { status: 404, code: "PT404", message: `user ${uid} not found` },
  };
  await withFakeSupabase({ ...fakeState(), refusals }, async (fake) => {
    const res = await handler(post({ password, confirm: "DELETE" }));
    const error = await errorOf(res, 404);
    strictEqual(error.code, "not_found");
    deepStrictEqual(writes(fake), []);
  });
});

Deno.test("an account with deals still open is refused with 409 conflict naming them, and nothing is deleted", async () => {
  const message =
    `account ${uid} has 2 open orders (8f1e2d3c-4b5a-4c6d-9e8f-7a6b5c4d3e2f, 1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d) and 150.00 EUR held in escrow: finish or cancel them first`;
  const refusals = { "rpc/erase_account": { status: 409, code: "PT409", message } };
  await withFakeSupabase({ ...fakeState(), refusals }, async (fake) => {
    const res = await handler(post({ password, confirm: "DELETE" }));
    const error = await errorOf(res, 409);
    deepStrictEqual(error, { code: "conflict", message });
    deepStrictEqual(writes(fake), []);
    strictEqual(fake.state.objects.avatars.length, 3);
  });
});

Deno.test("erasure failing with an unmapped error is a 500, and the user stays", async () => {
  const refusals = {
    "rpc/erase_account": { status: 500, code: "XX000", message: "internal error" },
  };
  const consoleError = console.error;
  console.error = () => {}; // the 500 is logged
  try {
    await withFakeSupabase({ ...fakeState(), refusals }, async (fake) => {
      const res = await handler(post({ password, confirm: "DELETE" }));
      strictEqual((await errorOf(res, 500)).code, "internal_error");
      ok(!fake.requests.some((r) => r.method === "DELETE" && r.path.startsWith("/auth/v1/admin/")));
    });
  } finally {
    console.error = consoleError;
  }
});
