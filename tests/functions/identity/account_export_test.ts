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

// What public.export_my_data() answers for the caller: rows by table, and their files.
const personalData = {
  tables: {
    "public.profiles": [{ id: uid, username: "exporter" }],
    "public.designs": [{ id: "d1", owner_id: uid, title: "Coat" }],
  },
  files: [
    {
      bucket: "avatars",
      name: `${uid}/face.png`,
      size: 3,
      mimetype: "image/png",
      created_at: "2026-01-01T00:00:00Z",
    },
    {
      bucket: "deliverables",
      name: "order-1/work.pdf",
      size: 9,
      mimetype: "application/pdf",
      created_at: null,
    },
  ],
};

Deno.test("the export is read by the caller's own RPC, its files signed and the document written by the service role", async () => {
  const state = {
    user: { id: uid, email: "exporter@example.com" },
    password: "unused",
    objects: {},
    rpc: { export_my_data: { status: 200, body: personalData } },
  };
  await withFakeSupabase(state, async (fake) => {
    const res = await handler(post());
    strictEqual(res.status, 200);
    const body = await res.json();
    ok(new RegExp(`^${uid}/export-[0-9T-]+Z\\.json$`).test(body.path), body.path);
    strictEqual(body.expires_in, 3600);
    ok(body.signed_url.startsWith(`${fake.url}/storage/v1/object/sign/account-exports/`));

    // The data is what the database answers for the caller's token, nothing read around it.
    const reads = fake.requests.filter((r) => r.path.startsWith("/rest/v1/"));
    deepStrictEqual(reads.map((r) => `${r.method} ${r.path} ${r.authorization}`), [
      "POST /rest/v1/rpc/export_my_data Bearer user-token",
    ]);

    // One signing call per bucket, by the service role.
    const signs = fake.requests.filter((r) => /^\/storage\/v1\/object\/sign\/[^/]+$/.test(r.path));
    deepStrictEqual(signs.map((r) => r.path).sort(), [
      "/storage/v1/object/sign/avatars",
      "/storage/v1/object/sign/deliverables",
    ]);
    for (const sign of signs) strictEqual(sign.authorization, "Bearer service-role-key");

    const upload = fake.requests.find((r) =>
      r.path.startsWith("/storage/v1/object/account-exports/")
    );
    strictEqual(upload?.authorization, "Bearer service-role-key");
    const document = JSON.parse(fake.state.uploads[`account-exports/${body.path}`]);
    strictEqual(document.user.id, uid);
    strictEqual(document.user.email, "exporter@example.com");
    deepStrictEqual(document.tables, personalData.tables);
    deepStrictEqual(
      document.files.map((
        f: { name: string; signed_url: string },
      ) => [f.name, f.signed_url.includes("token=")]),
      [[`${uid}/face.png`, true], ["order-1/work.pdf", true]],
    );
    strictEqual(document.files_expire_in, 3600);
  });
});

Deno.test("an answer of the wrong shape is the server's 500, and nothing is stored", async () => {
  const state = {
    user: { id: uid, email: "exporter@example.com" },
    password: "unused",
    objects: {},
    rpc: { export_my_data: { status: 200, body: { tables: "not an object" } } },
  };
  const consoleError = console.error;
  console.error = () => {}; // the 500 is logged
  try {
    await withFakeSupabase(state, async (fake) => {
      const res = await handler(post());
      strictEqual(res.status, 500);
      deepStrictEqual(fake.state.uploads, {});
    });
  } finally {
    console.error = consoleError;
  }
});

// The export the database refuses is answered as every function answers it (orThrow): the
// caller's 4xx, not a 500; a code the project does not map stays the server's 500.
const refusals = [
  { code: "42501", status: 403, error: "forbidden", message: "permission denied for table" },
  { code: "PT404", status: 404, error: "not_found", message: "profile not found" },
  { code: "XX000", status: 500, error: "internal_error", message: "internal error" },
] as const;

for (const { code, status, error, message } of refusals) {
  Deno.test(`a read refused with ${code} is ${status} ${error}, and nothing is stored`, async () => {
    const state = {
      user: { id: uid, email: "exporter@example.com" },
      password: "unused",
      adminRoles: [],
      objects: {},
      refusals: { "rpc/export_my_data": { status: status === 500 ? 500 : 403, code, message } },
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
