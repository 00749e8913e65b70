import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { handler } from "../../../functions/account-export/handler.ts";
import { withFakeSupabase } from "../platform/fake_supabase.ts";

const uid = "3f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6b";

function post(token: string | null = "user-token"): Request {
  return new Request("http://localhost/account-export", {
    method: "POST",
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
}

Deno.test("other methods than POST get 405 in the error format", async () => {
  const res = await handler(new Request("http://localhost/account-export"));
  strictEqual(res.status, 405);
  strictEqual(res.headers.get("Allow"), "POST");
  strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
  strictEqual((await res.json()).error.code, "method_not_allowed");
});

Deno.test("a CORS preflight is answered without a session", async () => {
  const res = await handler(new Request("http://localhost/account-export", { method: "OPTIONS" }));
  strictEqual(res.status, 204);
  await res.body?.cancel();
  strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
});

Deno.test("a request without a session is refused with 401", async () => {
  const res = await handler(post(null));
  strictEqual(res.status, 401);
  strictEqual((await res.json()).error.code, "unauthorized");
});

Deno.test("the export is read as the caller, about the caller, and written by the service role", async () => {
  const state = {
    user: { id: uid, email: "exporter@example.com" },
    password: "unused",
    adminRoles: [],
    objects: { avatars: [`${uid}/face.png`, `${uid}/shop/logo.png`, "someone-else/face.png"] },
  };
  await withFakeSupabase(state, async (fake) => {
    const res = await handler(post());
    strictEqual(res.status, 200);
    const body = await res.json();
    ok(new RegExp(`^${uid}/export-[0-9T-]+Z\\.json$`).test(body.path), body.path);
    strictEqual(body.expires_in, 3600);
    ok(body.signed_url.startsWith(`${fake.url}/storage/v1/object/sign/account-exports/`));

    // Staff may see other users' rows, so every read names the caller, with their token.
    const reads = fake.requests.filter((r) => r.path.startsWith("/rest/v1/"));
    strictEqual(reads.length, 6);
    for (const read of reads) {
      ok(read.search.includes(`=eq.${uid}`), `${read.path}${read.search} is not the caller's`);
      strictEqual(read.authorization, "Bearer user-token");
    }

    const upload = fake.requests.find((r) =>
      r.path.startsWith("/storage/v1/object/account-exports/")
    );
    strictEqual(upload?.authorization, "Bearer service-role-key");
    const document = JSON.parse(fake.state.uploads[`account-exports/${body.path}`]);
    strictEqual(document.user.id, uid);
    strictEqual(document.user.email, "exporter@example.com");
    strictEqual(
      JSON.stringify(document.storage_objects.map((o: { name: string }) => o.name)),
      JSON.stringify([`${uid}/face.png`, `${uid}/shop/logo.png`]),
    );
  });
});

// A read the database refuses is answered as every function answers it (orThrow): the
// caller's 4xx, not a 500; a code the project does not map stays the server's 500.
const refusals = [
  { code: "42501", status: 403, error: "forbidden", message: "permission denied for table" },
  { code: "P0002", status: 404, error: "not_found", message: "profile not found" },
  { code: "XX000", status: 500, error: "internal_error", message: "internal error" },
] as const;

for (const { code, status, error, message } of refusals) {
  Deno.test(`a read refused with ${code} is ${status} ${error}, and nothing is stored`, async () => {
    const state = {
      user: { id: uid, email: "exporter@example.com" },
      password: "unused",
      adminRoles: [],
      objects: {},
      refusals: { private_profiles: { status: status === 500 ? 500 : 403, code, message } },
    };
    const consoleError = console.error;
    console.error = () => {}; // the 500 is logged
    try {
      await withFakeSupabase(state, async (fake) => {
        const res = await handler(post());
        strictEqual(res.status, status);
        const body = await res.json();
        strictEqual(body.error.code, error);
        if (status < 500) strictEqual(body.error.message, message);
        deepStrictEqual(fake.state.uploads, {});
      });
    } finally {
      console.error = consoleError;
    }
  });
}
