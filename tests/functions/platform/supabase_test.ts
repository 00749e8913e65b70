import { ok, rejects, strictEqual } from "node:assert/strict";
import { HttpError } from "../../../functions/_shared/http/errors.ts";
import { isServiceRole, requireUser } from "../../../functions/_shared/platform/supabase.ts";
import { withEnv } from "./with_env.ts";

const user = { id: "7d8a4a2e-1f7c-4a53-9d0e-2b1f0c6a9e11", aud: "authenticated", email: "a@b.c" };

// Stands in for Supabase Auth's GET /auth/v1/user, where "user-token" is the only valid token.
function fakeAuth(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (new URL(req.url).pathname !== "/auth/v1/user") return new Response(null, { status: 404 });
    return req.headers.get("Authorization") === "Bearer user-token"
      ? Response.json(user)
      : Response.json({ code: 403, error_code: "bad_jwt", msg: "invalid JWT" }, { status: 403 });
  });
}

function withAuth(url: string, body: () => Promise<void>): Promise<void> {
  return withEnv({
    SUPABASE_URL: url,
    SUPABASE_ANON_KEY: "anon-key",
    SUPABASE_SERVICE_ROLE_KEY: "service-role-key",
    SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:1/postgres",
  }, body);
}

function request(authorization?: string): Request {
  return new Request("http://localhost/fn", {
    headers: authorization ? { Authorization: authorization } : {},
  });
}

async function rejectsUnauthorized(promise: Promise<unknown>): Promise<void> {
  await rejects(promise, (err) => err instanceof HttpError && err.status === 401);
}

Deno.test("requireUser", async (t) => {
  const auth = fakeAuth();
  try {
    await withAuth(`http://127.0.0.1:${auth.addr.port}`, async () => {
      await t.step("returns the user Auth knows for the caller's token", async () => {
        const { user: found, client } = await requireUser(request("Bearer user-token"));
        strictEqual(found.id, user.id);
        ok(client.auth);
      });
      await t.step("refuses a request without a token", async () => {
        await rejectsUnauthorized(requireUser(request()));
      });
      await t.step("refuses a token Auth rejects", async () => {
        await rejectsUnauthorized(requireUser(request("Bearer anon-key")));
      });
    });
  } finally {
    await auth.shutdown();
  }
});

Deno.test("requireUser reports Auth being down as a server error, not a 401", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  await withAuth(`http://127.0.0.1:${port}`, async () => {
    // Not an HttpError, so errorResponse makes it a logged 500.
    await rejects(requireUser(request("Bearer user-token")), (err) => !(err instanceof HttpError));
  });
});

Deno.test("isServiceRole is true for the service-role key only", async () => {
  await withAuth("http://127.0.0.1:1", () => {
    strictEqual(isServiceRole(request("Bearer service-role-key")), true);
    strictEqual(isServiceRole(request("bearer service-role-key")), true);
    for (
      const authorization of [undefined, "Bearer user-token", "Bearer anon-key", "service-role-key"]
    ) {
      strictEqual(isServiceRole(request(authorization)), false, String(authorization));
    }
    strictEqual(isServiceRole(request("Bearer service-role-key-and-more")), false);
    return Promise.resolve();
  });
});
