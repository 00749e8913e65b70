// The local stack's edge runtime (Deno): one process serving every function of the
// manifest at /<name>/..., as Supabase's edge runtime does behind the API gateway.
//
// Each entrypoint is an ordinary Supabase function that calls Deno.serve. Rather than a
// server per function, the router imports each one with Deno.serve swapped for a stand-in
// that keeps the handler, then calls the handlers from its own server. Unlike Supabase, where
// each function runs in its own isolate, the functions here share module state and globals.
//
// Environment: FUNCTIONS_PORT, FUNCTIONS_MANIFEST (JSON array of { name, entrypoint,
// verifyJwt }, see FunctionSpec in stack/config.ts) and JWT_SECRET. Needs --allow-env,
// --allow-read and --allow-net, plus whatever the functions themselves need.

import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { jwtVerify } from "npm:jose@6.2.17";
import { z } from "npm:zod@4.6.7";

const functionSpecSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, "a function name is letters, digits, - and _"),
  entrypoint: z.string().refine(isAbsolute, "the entrypoint must be an absolute path"),
  verifyJwt: z.boolean(),
});

type FunctionSpec = z.infer<typeof functionSpecSchema>;

const manifestSchema = z
  .string({ error: "is not set" })
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      ctx.issues.push({ code: "custom", message: `is not JSON: ${err}`, input: text });
      return z.NEVER;
    }
  })
  .pipe(z.array(functionSpecSchema))
  .refine(
    (specs) => new Set(specs.map((spec) => spec.name)).size === specs.length,
    "function names must be unique",
  );

const settingsSchema = z.object({
  FUNCTIONS_PORT: z.coerce.number().int().min(1).max(65535),
  FUNCTIONS_MANIFEST: manifestSchema,
  JWT_SECRET: z.string().min(1),
});

function fail(message: string): never {
  console.error(`functions-router: ${message}`);
  Deno.exit(1);
}

function readSettings(): z.infer<typeof settingsSchema> {
  const result = settingsSchema.safeParse({
    FUNCTIONS_PORT: Deno.env.get("FUNCTIONS_PORT"),
    FUNCTIONS_MANIFEST: Deno.env.get("FUNCTIONS_MANIFEST"),
    JWT_SECRET: Deno.env.get("JWT_SECRET"),
  });
  if (!result.success) fail(`bad environment:\n${z.prettifyError(result.error)}`);
  return result.data;
}

// Deno.serve(handler), Deno.serve(options, handler) and Deno.serve({ ...options, handler }).
function handlerOf(first: unknown, second: unknown): Deno.ServeHandler {
  if (typeof first === "function") return first as Deno.ServeHandler;
  if (typeof second === "function") return second as Deno.ServeHandler;
  const handler = (first as { handler?: unknown } | undefined)?.handler;
  if (typeof handler === "function") return handler as Deno.ServeHandler;
  throw new TypeError("Deno.serve was called without a handler");
}

// What a function's Deno.serve returns here: the router owns the one real server, so there
// is nothing for the function to stop, and it is never finished.
function standInServer(addr: Deno.NetAddr): Deno.HttpServer<Deno.NetAddr> {
  return {
    addr,
    finished: new Promise<void>(() => {}),
    ref: () => {},
    unref: () => {},
    shutdown: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}

async function importHandler(spec: FunctionSpec, addr: Deno.NetAddr): Promise<Deno.ServeHandler> {
  const handlers: Deno.ServeHandler[] = [];
  const realServe = Object.getOwnPropertyDescriptor(Deno, "serve")!;
  Object.defineProperty(Deno, "serve", {
    configurable: true,
    value: (first: unknown, second: unknown) => {
      handlers.push(handlerOf(first, second));
      return standInServer(addr);
    },
  });
  try {
    await import(pathToFileURL(spec.entrypoint).href);
  } finally {
    Object.defineProperty(Deno, "serve", realServe);
  }
  if (handlers.length !== 1) {
    throw new Error(
      `${spec.entrypoint} called Deno.serve ${handlers.length} times while loading; ` +
        "a function calls it exactly once, at the top level",
    );
  }
  return handlers[0];
}

const settings = readSettings();
const addr: Deno.NetAddr = {
  transport: "tcp",
  hostname: "127.0.0.1",
  port: settings.FUNCTIONS_PORT,
};
const jwtKey = new TextEncoder().encode(settings.JWT_SECRET);

const functions = new Map<string, { handler: Deno.ServeHandler; verifyJwt: boolean }>();
// One at a time: the stand-in is global, so loading two at once could mix up their handlers.
for (const spec of settings.FUNCTIONS_MANIFEST) {
  try {
    functions.set(spec.name, {
      handler: await importHandler(spec, addr),
      verifyJwt: spec.verifyJwt,
    });
  } catch (err) {
    fail(`cannot load function "${spec.name}": ${err instanceof Error ? err.message : err}`);
  }
}

// As Supabase's gateway checks a function with verify_jwt: any role's token signed with the
// project's secret passes, the anon key included.
async function jwtProblem(req: Request): Promise<string | null> {
  const authorization = req.headers.get("Authorization");
  if (!authorization) return "Missing authorization header";
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (!match) return "Invalid JWT";
  try {
    await jwtVerify(match[1], jwtKey, { algorithms: ["HS256"] });
    return null;
  } catch {
    return "Invalid JWT";
  }
}

async function route(
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  pathname: string,
): Promise<Response> {
  const name = pathname.split("/")[1];
  const fn = functions.get(name);
  if (!fn) {
    return Response.json(
      { code: "NOT_FOUND", message: "Requested function was not found" },
      { status: 404 },
    );
  }
  // Preflights carry no Authorization header; the function answers them itself.
  if (fn.verifyJwt && req.method !== "OPTIONS") {
    const problem = await jwtProblem(req);
    if (problem) return Response.json({ code: 401, message: problem }, { status: 401 });
  }
  try {
    return await fn.handler(req, info);
  } catch (err) {
    // Logged and answered as Deno.serve's default onError would, had the function its own server.
    console.error(`function "${name}" threw:`, err);
    return new Response("Internal Server Error", { status: 500 });
  }
}

// The access log, one line per request, leaves in batches (a write a tenth of a second at most,
// and at SIGTERM) rather than a write per request: under load, a write per request costs this
// process, and the stack's process that copies the pipe into functions.log, a share of each
// request that npm run bench -- webhooks can see.
const encoder = new TextEncoder();
let pendingLog = "";
let flushTimer: ReturnType<typeof setTimeout> | undefined;

function flushLog(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  const bytes = encoder.encode(pendingLog);
  pendingLog = "";
  for (let written = 0; written < bytes.length;) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}

function accessLog(line: string): void {
  pendingLog += `${line}\n`;
  if (pendingLog.length > 64 * 1024) flushLog();
  else flushTimer ??= setTimeout(flushLog, 100);
}

Deno.addSignalListener("SIGTERM", () => {
  flushLog();
  Deno.exit(0);
});

Deno.serve({
  hostname: addr.hostname,
  port: addr.port,
  onListen: () => {
    const names = [...functions.keys()].join(", ") || "no functions";
    console.log(`functions-router listening on http://${addr.hostname}:${addr.port} (${names})`);
  },
}, async (req, info) => {
  const started = performance.now();
  const { pathname } = new URL(req.url);
  const response = await route(req, info, pathname);
  accessLog(
    `${req.method} ${pathname} ${response.status} ${Math.round(performance.now() - started)}ms`,
  );
  return response;
});
