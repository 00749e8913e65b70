// A stand-in for the parts of Supabase the functions call (Auth, PostgREST, Storage),
// recording every request, so their handlers run end to end without a stack. Tokens: the
// caller is "user-token"; the service role is "service-role-key".
import { withEnv } from "./with_env.ts";

export interface FakeState {
  user: { id: string; email: string };
  password: string;
  /** Object names per bucket. */
  objects: Record<string, string[]>;
  /** Uploaded files' text, by bucket/name. */
  uploads: Record<string, string>;
  /** What GET /rest/v1/<table> answers, by table (other tables: []). */
  rows?: Record<string, unknown[]>;
  /** What POST /rest/v1/rpc/<name> answers, by function name. */
  rpc?: Record<string, { status: number; body: unknown }>;
  /** What Auth answers other routes with, by "METHOD /auth/v1/…" (admin routes, generate_link). */
  auth?: Record<string, { status: number; body: unknown }>;
  /** Tables (or RPCs, as rpc/<name>) whose every request PostgREST refuses, with this SQLSTATE. */
  refusals?: Record<string, { status: number; code: string; message: string }>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  search: string;
  authorization: string | null;
  /** The schema PostgREST was asked for (Content-Profile or Accept-Profile), if any. */
  schema: string | null;
  body: string;
}

export interface FakeSupabase {
  url: string;
  state: FakeState;
  requests: RecordedRequest[];
}

/** One level of a folder, as Storage lists it: subfolders are entries without an id. */
function listing(names: string[], prefix: string, limit: number, offset: number) {
  const folder = prefix.endsWith("/") ? prefix : `${prefix}/`;
  const entries = new Map<string, { name: string; id: string | null; metadata: unknown }>();
  for (const name of names.filter((n) => n.startsWith(folder))) {
    const [first, ...deeper] = name.slice(folder.length).split("/");
    entries.set(
      first,
      deeper.length > 0
        ? { name: first, id: null, metadata: null }
        : { name: first, id: crypto.randomUUID(), metadata: { size: first.length } },
    );
  }
  return [...entries.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .slice(offset, offset + limit);
}

function userJson(state: FakeState) {
  return {
    id: state.user.id,
    aud: "authenticated",
    role: "authenticated",
    email: state.user.email,
    created_at: "2026-01-01T00:00:00Z",
    app_metadata: { provider: "email" },
    user_metadata: {},
  };
}

function answer(state: FakeState, req: Request, path: string, body: string): Response {
  const route = `${req.method} ${path}`;
  const authorization = req.headers.get("Authorization");
  const canned = state.auth?.[route];
  if (canned) return Response.json(canned.body, { status: canned.status });
  if (route === "GET /auth/v1/user") {
    return authorization === "Bearer user-token"
      ? Response.json(userJson(state))
      : Response.json({ code: 403, error_code: "bad_jwt", msg: "invalid JWT" }, { status: 403 });
  }
  if (route === "POST /auth/v1/token") {
    const { email, password } = JSON.parse(body);
    if (email !== state.user.email || password !== state.password) {
      return Response.json(
        { code: 400, error_code: "invalid_credentials", msg: "Invalid login credentials" },
        { status: 400 },
      );
    }
    return Response.json({
      access_token: "reauth-token",
      token_type: "bearer",
      expires_in: 3600,
      expires_at: Math.floor(Date.now() / 1000) + 3600,
      refresh_token: "reauth-refresh",
      user: userJson(state),
    });
  }
  if (route === "POST /auth/v1/logout") return new Response(null, { status: 204 });
  // supabase-js reads the user before deleting it, to answer with it.
  if (path === `/auth/v1/admin/users/${state.user.id}` && ["GET", "DELETE"].includes(req.method)) {
    return Response.json(userJson(state));
  }
  const table = /^\/rest\/v1\/((?:rpc\/)?[^/]+)$/.exec(path)?.[1];
  const refusal = table ? state.refusals?.[table] : undefined;
  if (refusal) {
    const { status, code, message } = refusal;
    return Response.json({ code, message, details: null, hint: null }, { status });
  }
  const rpc = /^\/rest\/v1\/rpc\/([^/]+)$/.exec(path);
  if (req.method === "POST" && rpc && state.rpc?.[rpc[1]]) {
    const { status, body } = state.rpc[rpc[1]];
    return Response.json(body, { status });
  }
  // The assurance-level rule's answer for a caller without a verified MFA factor, unless a
  // test says otherwise through `rpc` (functions/_shared/platform/assurance.ts).
  if (req.method === "POST" && rpc?.[1] === "has_required_aal") return Response.json(true);
  if (req.method === "GET" && path.startsWith("/rest/v1/")) {
    return Response.json(state.rows?.[path.slice("/rest/v1/".length)] ?? []);
  }
  if (req.method === "PATCH" && path.startsWith("/rest/v1/")) {
    return new Response(null, { status: 204 });
  }
  const list = /^\/storage\/v1\/object\/list\/([^/]+)$/.exec(path);
  if (req.method === "POST" && list) {
    const { prefix, limit, offset } = JSON.parse(body);
    return Response.json(listing(state.objects[list[1]] ?? [], prefix, limit, offset));
  }
  const remove = /^\/storage\/v1\/object\/([^/]+)$/.exec(path);
  if (req.method === "DELETE" && remove) {
    const names: string[] = JSON.parse(body).prefixes;
    const bucket = remove[1];
    state.objects[bucket] = (state.objects[bucket] ?? []).filter((n) => !names.includes(n));
    return Response.json(names.map((name) => ({ bucket_id: bucket, name })));
  }
  const signMany = /^\/storage\/v1\/object\/sign\/([^/]+)$/.exec(path);
  if (req.method === "POST" && signMany) {
    const { paths } = JSON.parse(body) as { paths: string[] };
    return Response.json(paths.map((name) => ({
      path: name,
      error: null,
      signedURL: `/object/sign/${signMany[1]}/${name}?token=signed`,
    })));
  }
  const sign = /^\/storage\/v1\/object\/sign\/([^/]+)\/(.+)$/.exec(path);
  if (req.method === "POST" && sign) {
    return Response.json({ signedURL: `/object/sign/${sign[1]}/${sign[2]}?token=signed` });
  }
  const upload = /^\/storage\/v1\/object\/([^/]+)\/(.+)$/.exec(path);
  if (req.method === "POST" && upload) {
    const [, bucket, name] = upload;
    state.objects[bucket] = [...(state.objects[bucket] ?? []), name];
    state.uploads[`${bucket}/${name}`] = body;
    return Response.json({ Key: `${bucket}/${name}`, Id: crypto.randomUUID() });
  }
  return Response.json({ message: `${route} is not faked` }, { status: 404 });
}

/** Runs body with a fake Supabase up and the function environment pointing at it. */
export async function withFakeSupabase(
  state: Omit<FakeState, "uploads">,
  body: (fake: FakeSupabase) => Promise<void>,
): Promise<void> {
  const fakeState: FakeState = { ...state, uploads: {} };
  const requests: RecordedRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const { pathname, search } = new URL(req.url);
    const text = await req.text();
    // createHandler's rate limit check (platform/limits.ts) before every handler: let it pass,
    // unrecorded, so the tests see the requests the handlers themselves make.
    if (pathname === "/rest/v1/rpc/check_function_request") {
      return Response.json({ status: 200, headers: {} });
    }
    requests.push({
      method: req.method,
      path: pathname,
      search: decodeURIComponent(search),
      authorization: req.headers.get("Authorization"),
      schema: req.headers.get("Content-Profile") ?? req.headers.get("Accept-Profile"),
      body: text,
    });
    return answer(fakeState, req, pathname, text);
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    await withEnv({
      SUPABASE_URL: url,
      SUPABASE_ANON_KEY: "anon-key",
      SUPABASE_SERVICE_ROLE_KEY: "service-role-key",
      SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:1/postgres",
    }, () => body({ url, state: fakeState, requests }));
  } finally {
    await server.shutdown();
  }
}
