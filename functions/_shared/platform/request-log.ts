// The functions' half of the request log (supabase/schemas/80_operations/40_request_log.sql):
// createHandler reports every answered request here; rows are buffered and written off the
// request path, one ops.record_requests call per second (or per 100 rows), locally and on
// hosted Supabase alike. On hosted Supabase the write is handed to EdgeRuntime.waitUntil so
// the worker lives until it is done.
//
// On when FUNCTIONS_REQUEST_LOG is "on": the local stack sets it; on a hosted project,
// `supabase secrets set FUNCTIONS_REQUEST_LOG=on`. Off otherwise, so unit tests calling a
// handler directly write nothing and leave no timer behind.
//
// A row: the function's slug (never its sub-path or query), method, status, duration, and the
// role the bearer token claims (anon, authenticated or service_role: read, not verified, as a
// figure only; verify_jwt or requireUser decide who may do what). No user id, no token.
import { serviceClient } from "./supabase.ts";
import { call } from "./rpc.ts";

type Row = {
  at: string;
  source: "functions";
  route_class: "functions";
  method: string;
  path: string;
  status: number;
  duration_ms: number;
  role: string | null;
  tier: null;
};

const FLUSH_MS = 1000;
const BATCH_ROWS = 100;
const MAX_BUFFERED = 10_000;
const ROLES = new Set(["anon", "authenticated", "service_role"]);

let buffer: Row[] = [];
/** The timed write waiting to happen, and what settles the promise a hosted worker waits on. */
let scheduled: { timer: ReturnType<typeof setTimeout>; settle: () => void } | null = null;

/** The function's slug: the first segment of the path that is not /functions/v1. */
export function functionSlug(url: string): string {
  const segments = new URL(url).pathname.split("/").filter((s) => s !== "");
  const start = segments[0] === "functions" && segments[1] === "v1" ? 2 : 0;
  const slug = segments[start] ?? "";
  return /^[A-Za-z0-9_-]{1,64}$/.test(slug) ? slug : "unknown";
}

/** The role a bearer token claims (its payload read, not verified), if it is one of the API's. */
export function claimedRole(authorization: string | null): string | null {
  const match = /^Bearer\s+[^.\s]+\.([^.\s]+)\.[^.\s]+$/i.exec(authorization ?? "");
  if (!match) return null;
  try {
    const json = atob(match[1].replace(/-/g, "+").replace(/_/g, "/"));
    const role = (JSON.parse(json) as { role?: unknown }).role;
    return typeof role === "string" && ROLES.has(role) ? role : null;
  } catch {
    return null;
  }
}

/** Whether this deployment writes the request log. */
function enabled(): boolean {
  return Deno.env.get("FUNCTIONS_REQUEST_LOG") === "on";
}

/** Records one answered request; `begun` is performance.now() when it arrived. */
export function logRequest(req: Request, status: number, begun: number): void {
  if (!enabled()) return;
  if (buffer.length >= MAX_BUFFERED) buffer.shift();
  buffer.push({
    at: new Date().toISOString(),
    source: "functions",
    route_class: "functions",
    method: /^[A-Z]{1,10}$/.test(req.method) ? req.method : "OTHER",
    path: `/functions/v1/${functionSlug(req.url)}`,
    status,
    duration_ms: Math.round((performance.now() - begun) * 1000) / 1000,
    role: claimedRole(req.headers.get("Authorization")),
    tier: null,
  });
  if (buffer.length >= BATCH_ROWS) return void keepAlive(flushRequestLog());
  if (scheduled === null) {
    // One write a second at most; the promise keeps a hosted worker alive until it is done.
    let settle = () => {};
    const done = new Promise<void>((resolve) => (settle = resolve));
    scheduled = { timer: setTimeout(() => void flushRequestLog(), FLUSH_MS), settle };
    keepAlive(done);
  }
}

/** Writes what is buffered now (tests and the timer call it). */
export async function flushRequestLog(): Promise<void> {
  const pending = scheduled;
  scheduled = null;
  if (pending) clearTimeout(pending.timer);
  const entries = buffer;
  buffer = [];
  try {
    if (entries.length > 0) await call(serviceClient(), "record_requests", { entries });
  } catch (error) {
    // Figures only: never in the way of an answer.
    console.error("request log not written:", error instanceof Error ? error.message : error);
  } finally {
    pending?.settle();
  }
}

/** On hosted Supabase, keeps the worker alive until the write is done. */
function keepAlive(work: Promise<void>): Promise<void> {
  const runtime = (globalThis as { EdgeRuntime?: { waitUntil?: (p: Promise<unknown>) => void } })
    .EdgeRuntime;
  runtime?.waitUntil?.(work);
  return work;
}
