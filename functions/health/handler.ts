// The platform's health, version and stats (003 GET /health, /health/detailed, /version,
// /admin/system/stats; 004 /api/admin/metrics/health), one function with sub-paths:
//
//   GET /functions/v1/health           public: up, version, commit, the database, maintenance
//   GET /functions/v1/health/version   public: package version, git commit, latest migration
//   GET /functions/v1/health/detailed  staff (operations.read): the database's part
//                                      (public.health_details: jobs, outbox lag) and each
//                                      service's reachability, Stripe's included, each with a
//                                      timeout
//   GET /functions/v1/health/stats     staff: public.system_stats (?table_limit=)
//   GET /functions/v1/health/metrics   staff: public.api_health (?window_minutes=)
//
// verify_jwt is off (the public paths are called without a session); the staff paths ask the
// database as the caller, which refuses (42501 -> 403) without operations.read. The service
// role (admin CLI, monitoring) may call them too.
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { call, type Db } from "../_shared/platform/rpc.ts";
import {
  anonClient,
  isServiceRole,
  requireUser,
  serviceClient,
} from "../_shared/platform/supabase.ts";
import { env } from "../_shared/platform/env.ts";
import { gitCommit, VERSION } from "../_shared/platform/version.ts";

/** One reachability check's answer. */
export interface Probe {
  name: string;
  ok: boolean;
  status: number | null;
  ms: number;
  error?: string;
}

export const PROBE_TIMEOUT_MS = 3000;

/** Fetches with a timeout and reports whether the service answered (any status below 500). */
export async function probe(
  name: string,
  url: string,
  init: RequestInit = {},
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<Probe> {
  const begun = performance.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    const ms = Math.round(performance.now() - begun);
    return { name, ok: response.status < 500, status: response.status, ms };
  } catch (error) {
    const ms = Math.round(performance.now() - begun);
    const timedOut = error instanceof DOMException && error.name === "TimeoutError";
    return {
      name,
      ok: false,
      status: null,
      ms,
      error: timedOut
        ? `no answer within ${timeoutMs} ms`
        : String((error as Error)?.message ?? error),
    };
  }
}

/** The services the detailed health reaches, as requests (one cheap call each). */
export function serviceProbes(variables: {
  SUPABASE_URL: string;
  SUPABASE_ANON_KEY: string;
  SUPABASE_SERVICE_ROLE_KEY: string;
  STRIPE_SECRET_KEY?: string;
  STRIPE_API_BASE?: string;
}): { name: string; url: string; init: RequestInit }[] {
  const base = variables.SUPABASE_URL.replace(/\/$/, "");
  const anon = { apikey: variables.SUPABASE_ANON_KEY };
  const service = {
    apikey: variables.SUPABASE_SERVICE_ROLE_KEY,
    Authorization: `Bearer ${variables.SUPABASE_SERVICE_ROLE_KEY}`,
  };
  const probes = [
    {
      name: "postgrest",
      url: `${base}/rest/v1/currencies?select=code&limit=1`,
      init: { method: "HEAD", headers: anon },
    },
    { name: "auth", url: `${base}/auth/v1/health`, init: { headers: anon } },
    { name: "storage", url: `${base}/storage/v1/bucket`, init: { headers: service } },
    {
      name: "realtime",
      url: `${base}/realtime/v1/api/broadcast`,
      init: {
        method: "POST",
        headers: { ...service, "Content-Type": "application/json" },
        body: JSON.stringify({ messages: [] }),
      },
    },
    { name: "functions", url: `${base}/functions/v1/health/version`, init: { headers: anon } },
  ];
  if (variables.STRIPE_SECRET_KEY) {
    const stripe = (variables.STRIPE_API_BASE || "https://api.stripe.com").replace(/\/$/, "");
    probes.push({
      name: "stripe",
      url: `${stripe}/v1/balance`,
      init: { headers: { Authorization: `Bearer ${variables.STRIPE_SECRET_KEY}` } } as never,
    });
  }
  return probes;
}

const statsQuery = z.object({
  table_limit: z.coerce.number().int().min(1).max(200).default(20),
});
const metricsQuery = z.object({
  window_minutes: z.coerce.number().int().min(1).max(1440).default(60),
});

function queryOf<T>(url: URL, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) {
    throw new HttpError(
      "invalid_request",
      "The query parameters are invalid",
      z.treeifyError(parsed.error),
    );
  }
  return parsed.data;
}

/** The sub-path after the function's slug: "", "version", "detailed", "stats", "metrics". */
export function subPath(url: URL): string {
  const segments = url.pathname.split("/").filter((s) => s !== "");
  const at = segments.indexOf("health");
  return (at < 0 ? segments : segments.slice(at + 1)).join("/");
}

/** The client the staff paths ask the database with: the caller's, or the service role's. */
async function staffDb(req: Request): Promise<Db> {
  if (isServiceRole(req)) return serviceClient();
  return (await requireUser(req)).client;
}

export const handler = createHandler(async (req) => {
  if (req.method !== "GET") throw methodNotAllowed(req.method, ["GET"]);
  const url = new URL(req.url);
  const path = subPath(url);
  switch (path) {
    case "": {
      // The database's status is part of being up; its failure is reported, not thrown.
      const status = await Promise.resolve().then(() => call(anonClient(), "platform_status", {}))
        .catch(() => null);
      const body = {
        status: status ? "ok" : "degraded",
        version: VERSION,
        commit: gitCommit(),
        time: new Date().toISOString(),
        database: status ? "up" : "unreachable",
        maintenance: (status as { maintenance?: unknown } | null)?.maintenance ?? null,
      };
      // 200 either way: the API answers (liveness); the body says what is degraded.
      return json(body);
    }
    case "version": {
      const status = await call(anonClient(), "platform_status", {}) as {
        latest_migration: unknown;
      };
      return json({
        version: VERSION,
        commit: gitCommit(),
        latest_migration: status.latest_migration,
      });
    }
    case "detailed": {
      const db = await staffDb(req);
      const begun = performance.now();
      const database = await call(db, "health_details", {});
      const databaseMs = Math.round(performance.now() - begun);
      const variables = env();
      const services = await Promise.all(
        serviceProbes({
          ...variables,
          STRIPE_SECRET_KEY: Deno.env.get("STRIPE_SECRET_KEY"),
          STRIPE_API_BASE: Deno.env.get("STRIPE_API_BASE"),
        }).map(({ name, url, init }) => probe(name, url, init)),
      );
      const checks: Probe[] = [
        { name: "database", ok: true, status: 200, ms: databaseMs },
        ...services,
      ];
      if (!services.some((s) => s.name === "stripe")) {
        checks.push({
          name: "stripe",
          ok: false,
          status: null,
          ms: 0,
          error: "STRIPE_SECRET_KEY is not set",
        });
      }
      return json({
        ...(database as Record<string, unknown>),
        status: checks.every((c) => c.ok) ? "ok" : "degraded",
        version: VERSION,
        commit: gitCommit(),
        time: new Date().toISOString(),
        checks,
      });
    }
    case "stats": {
      const { table_limit } = queryOf(url, statsQuery);
      const db = await staffDb(req);
      return json(await call(db, "system_stats", { table_limit }));
    }
    case "metrics": {
      const { window_minutes } = queryOf(url, metricsQuery);
      const db = await staffDb(req);
      return json(await call(db, "api_health", { window_minutes }));
    }
    default:
      throw new HttpError(
        "not_found",
        `No health route /${path}: use /health, /health/version, /health/detailed, /health/stats or /health/metrics`,
      );
  }
});
