// Starts and stops the whole Docker-less stack for one profile: Postgres, PostgREST, the
// Deno functions router, the gateway with the auth, storage and realtime stand-ins in
// process, the Stripe stand-in and the mail catcher (in process, on their own ports) and
// pg_net's worker (in process).

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { parseEnv } from "node:util";
import pg from "pg";
import { createAuthHandler } from "./auth/index.ts";
import { repoRoot, type StackConfig } from "./config.ts";
import { createGateway } from "./gateway.ts";
import { databaseReadLimitSource, ReadLimiter } from "./read-limits.ts";
import { RequestLog } from "./request-log.ts";
import { type ApiKeys, apiKeys } from "./keys.ts";
import { type MailCatcher, startMailCatcher } from "./mail/index.ts";
import { type NetWorker, startNetWorker } from "./net-worker.ts";
import { denoBinary, postgrestBinary } from "./binaries.ts";
import { denoEnvironment, DenoFetchError, fetchDenoDependencies } from "./deno.ts";
import {
  ensureCluster,
  postgresProcess,
  resetDatabase,
  waitForCronLauncher,
  waitForPostgres,
} from "./postgres.ts";
import { ensurePrerequisites } from "./prerequisites.ts";
import { createRealtime, type RealtimeStandIn } from "./realtime/server.ts";
import { createStorageHandler } from "./storage.ts";
import { createStripeStandIn, localStripeKeys, type StripeStandIn } from "./stripe.ts";
import { Supervisor } from "./supervisor.ts";

/** What the functions use to reach Stripe; `apiBase` is null when they talk to Stripe itself. */
export interface StripeSettings {
  secretKey: string;
  webhookSecret: string | null;
  apiBase: string | null;
  /** What the stand-in signs its webhook deliveries with. */
  standInWebhookSecret: string;
}

export interface RunningStack {
  config: StackConfig;
  keys: ApiKeys;
  stripe: StripeSettings;
  /** The `KEY="value"` lines `supabase status -o env` prints. */
  statusEnv: string;
  /**
   * Restarts Postgres (a fast shutdown) and waits for it, pg_cron's scheduler and PostgREST:
   * after `npm run db:reset` dropped the database, which ends the scheduler.
   */
  restartPostgres(): Promise<void>;
  stop(): Promise<void>;
}

export class StackError extends Error {}

/** The pid of the stack already running for this profile, if any (stale pid files are ignored). */
export function runningPid(config: StackConfig): number | null {
  if (!existsSync(config.pidFile)) return null;
  const pid = Number(readFileSync(config.pidFile, "utf8").trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

export function statusEnv(config: StackConfig, keys: ApiKeys, stripe: StripeSettings): string {
  const values: Record<string, string> = {
    ANON_KEY: keys.anonKey,
    API_URL: config.apiUrl,
    DB_URL: config.dbUrl,
    FUNCTIONS_URL: `${config.apiUrl}/functions/v1`,
    JWT_SECRET: config.jwtSecret,
    MAILPIT_URL: config.mail.url,
    REST_URL: `${config.apiUrl}/rest/v1`,
    SERVICE_ROLE_KEY: keys.serviceRoleKey,
    STORAGE_URL: `${config.apiUrl}/storage/v1`,
    ...(stripe.apiBase ? { STRIPE_API_BASE: stripe.apiBase } : {}),
    STRIPE_SECRET_KEY: stripe.secretKey,
    ...(stripe.webhookSecret ? { STRIPE_WEBHOOK_SECRET: stripe.webhookSecret } : {}),
  };
  return Object.entries(values).map(([key, value]) => `${key}="${value}"`).join("\n") + "\n";
}

const reservedPortsFile = "/proc/sys/net/ipv4/ip_local_reserved_ports";

/**
 * Takes the stack's ports out of Linux's range for outgoing connections
 * (net.ipv4.ip_local_reserved_ports), adding them to what is reserved already, so no client's
 * connection, the suite's own included, can be given one of them before the server that owns it
 * listens. Only root may; elsewhere (and off Linux) nothing changes and assertPortFree's wait
 * remains the only guard.
 */
export function reserveFromEphemeralRange(ports: number[]): void {
  try {
    const current = readFileSync(reservedPortsFile, "utf8").trim();
    const listed = current === "" ? [] : current.split(",");
    const reserved = new Set<number>();
    for (const part of listed) {
      const [from, to = from] = part.split("-").map(Number);
      for (let port = from; port <= to; port++) reserved.add(port);
    }
    const missing = ports.filter((port) => !reserved.has(port));
    if (missing.length === 0) return;
    writeFileSync(reservedPortsFile, [...listed, ...missing.map(String)].join(","));
  } catch {
    // Not root, not Linux, or /proc/sys read-only (a container): nothing to do.
  }
}

/**
 * Refuses a port a server listens on. The stack's ports lie inside Linux's range for outgoing
 * connections (32768-60999), so a port nothing listens on can be held for a moment by some
 * client's connection: that clears within seconds, and is waited out rather than refused.
 */
export async function assertPortFree(port: number): Promise<void> {
  for (let attempt = 1;; attempt++) {
    const error = await tryListen(port);
    if (!error) return;
    if (error.code !== "EADDRINUSE") throw error;
    const owner = listenerOn(port);
    if (owner || attempt === 10) {
      throw new StackError(
        `Port ${port} is already in use by ${
          owner ?? "another process"
        }. Stop it, or free the port.`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function tryListen(port: number): Promise<NodeJS.ErrnoException | null> {
  const server: Server = createServer();
  return new Promise((resolve) => {
    server.once("error", (error: NodeJS.ErrnoException) => resolve(error));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(null)));
  });
}

/** The process listening on `port` ("name (pid N)"), if `ss` can tell. */
function listenerOn(port: number): string | null {
  try {
    const line = execFileSync("ss", ["-Hltnp", `sport = :${port}`]).toString();
    const match = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    if (match) return `${match[1]} (pid ${match[2]})`;
    if (line.trim() !== "") return "another process";
  } catch {
    // ss is missing or not permitted: say nothing about the owner
  }
  return null;
}

export async function waitForHttp(
  url: string,
  name: string,
  isReady: (status: number) => boolean,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (isReady(response.status)) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new StackError(`${name} did not become ready within ${timeoutMs / 1000}s`);
}

/** The commit the working tree is at (null outside a git checkout), for GET /health/version. */
function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], {
      cwd: repoRoot,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    })
      .trim() || null;
  } catch {
    return null;
  }
}

/** The project's function secrets: functions/.env, as `supabase functions serve` reads it. */
function functionSecrets(): Record<string, string> {
  const file = join(repoRoot, "functions", ".env");
  return existsSync(file) ? (parseEnv(readFileSync(file, "utf8")) as Record<string, string>) : {};
}

/**
 * The functions' Stripe settings. By default they use the stand-in with keys made up for this
 * run. If functions/.env sets STRIPE_SECRET_KEY (a real test-mode key) and no STRIPE_API_BASE,
 * they talk to Stripe itself with its STRIPE_WEBHOOK_SECRET (from the dashboard or `stripe
 * listen`); the stand-in still runs for its own tests. STRIPE_API_BASE in functions/.env points
 * them at another Stripe-compatible server.
 */
export function stripeSettings(
  config: StackConfig,
  secrets: Record<string, string>,
): StripeSettings {
  const local = localStripeKeys();
  if (secrets.STRIPE_SECRET_KEY && !secrets.STRIPE_API_BASE) {
    return {
      secretKey: secrets.STRIPE_SECRET_KEY,
      webhookSecret: secrets.STRIPE_WEBHOOK_SECRET || null,
      apiBase: null,
      standInWebhookSecret: local.webhookSecret,
    };
  }
  const webhookSecret = secrets.STRIPE_WEBHOOK_SECRET || local.webhookSecret;
  return {
    secretKey: secrets.STRIPE_SECRET_KEY || local.secretKey,
    webhookSecret,
    apiBase: secrets.STRIPE_API_BASE || `http://127.0.0.1:${config.ports.stripe}`,
    standInWebhookSecret: webhookSecret,
  };
}

export interface StartOptions {
  /** Throw away the profile's data folder first (the test profile always does). */
  fresh?: boolean;
  /** Called if a child process dies while the stack is up; the stack is already stopped. */
  onCrash: (message: string) => void;
}

export async function startStack(
  config: StackConfig,
  options: StartOptions,
): Promise<RunningStack> {
  ensurePrerequisites();
  const other = runningPid(config);
  if (other !== null) {
    throw new StackError(
      `The ${config.profile} stack is already running (pid ${other}). \`npm run status\` prints its URLs and keys; \`npm run stop\` stops it.`,
    );
  }
  const ports = [...Object.values(config.ports), config.ports.api + 12];
  reserveFromEphemeralRange(ports);
  for (const port of ports) await assertPortFree(port);
  // Before anything is served: the functions router then runs from Deno's cache only.
  await fetchDenoDependencies().catch((error) => {
    throw error instanceof DenoFetchError ? new StackError(error.message) : error;
  });

  if (options.fresh) rmSync(config.dataDir, { recursive: true, force: true });
  for (const dir of [config.dataDir, config.logDir, config.storageDir]) {
    mkdirSync(dir, { recursive: true });
  }
  writeFileSync(config.pidFile, `${process.pid}\n`);

  const keys = await apiKeys(config.jwtSecret);
  const supervisor = new Supervisor(config.logDir, (name, exit, logTail) => {
    cleanup();
    options.onCrash(
      `${name} stopped unexpectedly (${exit}). Last lines of ${
        join(config.logDir, `${name}.log`)
      }:\n${logTail}`,
    );
  });
  let pool: pg.Pool | null = null;
  let gateway: ReturnType<typeof createGateway> | null = null;
  let stripeStandIn: StripeStandIn | null = null;
  let mailCatcher: MailCatcher | null = null;
  let netWorker: NetWorker | null = null;
  let realtime: RealtimeStandIn | null = null;

  function cleanup(): void {
    gateway?.close();
    gateway?.closeAllConnections();
    gateway = null;
    stripeStandIn?.close();
    stripeStandIn = null;
    mailCatcher?.close().catch(() => {});
    mailCatcher = null;
    rmSync(config.pidFile, { force: true });
    rmSync(config.statusFile, { force: true });
  }

  async function stop(): Promise<void> {
    cleanup();
    // Never in the way of stopping Postgres: a smart shutdown would wait for its connections.
    await realtime?.close().catch((error) => console.error("realtime:", error));
    realtime = null;
    await netWorker?.close();
    await pool?.end().catch(() => {});
    await supervisor.stop();
  }

  try {
    const newCluster = !existsSync(join(config.pgDataDir, "PG_VERSION"));
    ensureCluster(config);
    supervisor.start(postgresProcess(config));
    await waitForPostgres(config.dbUrl);
    // Built in place: pg_cron's scheduler, connected to the database since Postgres started,
    // would not survive a drop.
    if (newCluster) await resetDatabase(config, { emptyCluster: true });

    pool = new pg.Pool({ connectionString: config.dbUrl, max: 20 });
    // `npm run db:reset` drops the database under the pool's idle connections; the pool
    // replaces them on the next query, so their termination (57P01) is not a crash.
    pool.on("error", () => {});
    supervisor.start({
      name: "postgrest",
      command: postgrestBinary(),
      args: [],
      env: {
        PGRST_DB_URI: config.authenticatorUrl,
        PGRST_DB_SCHEMAS: config.schemas.join(","),
        PGRST_DB_EXTRA_SEARCH_PATH: config.extraSearchPath.join(","),
        PGRST_DB_ANON_ROLE: "anon",
        PGRST_DB_MAX_ROWS: String(config.maxRows),
        PGRST_DB_POOL: "20",
        PGRST_DB_CHANNEL_ENABLED: "true",
        PGRST_JWT_SECRET: config.jwtSecret,
        PGRST_SERVER_HOST: "127.0.0.1",
        PGRST_SERVER_PORT: String(config.ports.postgrest),
        PGRST_ADMIN_SERVER_PORT: String(config.ports.api + 12),
        // The OpenAPI document at /rest/v1/ names the URL clients use (the gateway's), not
        // PostgREST's own loopback address and port.
        PGRST_OPENAPI_SERVER_PROXY_URI: `${config.apiUrl}/rest/v1/`,
        PGRST_LOG_LEVEL: "warn",
        // Keep a verified token's claims until it expires (at most an hour, Auth's token
        // lifetime), as PostgREST 13 and later do by default (jwt-cache-max-entries); 12
        // verifies every request's JWT again unless this is set. A signed-in user's token
        // is three times the size of the API keys, so without it every RLS read paid
        // 0.09-0.14 ms of PostgREST CPU more than the same read as service_role, with it
        // 0.02 ms (`npm run bench -- profiles`).
        PGRST_JWT_CACHE_MAX_LIFETIME: "3600",
      },
    });

    // Before Auth and the functions, which send mail through it.
    mailCatcher = await startMailCatcher({
      host: config.mail.smtpHost,
      httpPort: config.ports.mail,
      smtpPort: config.mail.smtpPort,
    });

    const secrets = functionSecrets();
    const stripe = stripeSettings(config, secrets);
    const functionsEnv: NodeJS.ProcessEnv = {
      ...denoEnvironment(),
      // Where payments may send a browser back to: the app's URLs from config.toml's [auth],
      // unless functions/.env says otherwise.
      PAYMENTS_ALLOWED_REDIRECT_ORIGINS: config.redirectOrigins.join(","),
      // Where functions send mail: the local catcher, unless functions/.env names a real server.
      SMTP_HOST: config.mail.smtpHost,
      SMTP_PORT: String(config.mail.smtpPort),
      SMTP_SENDER: "no-reply@marketplace.local",
      ...secrets,
      STRIPE_SECRET_KEY: stripe.secretKey,
      ...(stripe.webhookSecret ? { STRIPE_WEBHOOK_SECRET: stripe.webhookSecret } : {}),
      ...(stripe.apiBase ? { STRIPE_API_BASE: stripe.apiBase } : {}),
      SUPABASE_URL: config.apiUrl,
      SUPABASE_ANON_KEY: keys.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
      SUPABASE_DB_URL: config.dbUrl,
      // The functions write the request log (functions/_shared/platform/request-log.ts), and
      // report the commit they run (GET /health/version).
      FUNCTIONS_REQUEST_LOG: "on",
      ...(gitCommit() ? { GIT_COMMIT: gitCommit()! } : {}),
      FUNCTIONS_PORT: String(config.ports.functions),
      FUNCTIONS_MANIFEST: JSON.stringify(config.functions),
      JWT_SECRET: config.jwtSecret,
    };
    supervisor.start({
      name: "functions",
      command: denoBinary(),
      args: [
        "run",
        "--cached-only",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--no-prompt",
        join(repoRoot, "stack", "functions-router.ts"),
      ],
      env: functionsEnv,
      cwd: repoRoot,
    });

    realtime = await createRealtime({ pool, dbUrl: config.dbUrl, jwtSecret: config.jwtSecret });
    const db = pool;
    gateway = createGateway({
      requestLog: new RequestLog((entries) =>
        db.query("select ops.record_requests($1::jsonb)", [entries])
      ),
      readLimiter: new ReadLimiter({
        jwtSecret: config.jwtSecret,
        source: databaseReadLimitSource((text, values) => db.query(text, values)),
      }),
      anonKey: keys.anonKey,
      serviceRoleKey: keys.serviceRoleKey,
      postgrestPort: config.ports.postgrest,
      functionsPort: config.ports.functions,
      auth: createAuthHandler({
        pool,
        jwtSecret: config.jwtSecret,
        issuer: `${config.apiUrl}/auth/v1`,
        jwtExpiry: config.jwtExpiry,
        sessions: config.authSessions,
        minimumPasswordLength: config.minimumPasswordLength,
        passwordRequirements: config.passwordRequirements,
        enableSignup: config.enableSignup,
        hooks: config.authHooks,
        email: config.authEmail,
        // As the Supabase CLI does: [auth.email.smtp] when enabled, else the local mail catcher.
        smtp: config.authEmail.smtp ?? {
          host: config.mail.smtpHost,
          port: config.mail.smtpPort,
          user: null,
          pass: null,
          adminEmail: "admin@email.com",
          senderName: null,
        },
      }),
      storage: createStorageHandler({
        pool,
        jwtSecret: config.jwtSecret,
        storageDir: config.storageDir,
        globalFileSizeLimit: config.fileSizeLimit,
      }),
      realtime,
    });
    const server = gateway;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.ports.api, "127.0.0.1", resolve);
    });

    stripeStandIn = createStripeStandIn({
      port: config.ports.stripe,
      webhookSecret: stripe.standInWebhookSecret,
      webhookUrl: process.env.STRIPE_WEBHOOK_URL || `${config.apiUrl}/functions/v1/stripe-webhook`,
    });
    const stripeServer = stripeStandIn.server;
    await new Promise<void>((resolve, reject) => {
      stripeServer.once("error", reject);
      stripeServer.listen(config.ports.stripe, "127.0.0.1", resolve);
    });

    // pg_net's stand-in: scheduled jobs reach edge functions through it.
    netWorker = startNetWorker(pool);

    await Promise.all([
      waitForHttp(
        `http://127.0.0.1:${config.ports.api + 12}/ready`,
        "PostgREST",
        (s) => s === 200,
        30_000,
      ),
      waitForHttp(
        `http://127.0.0.1:${config.ports.functions}/`,
        "The functions router",
        () => true,
        60_000,
      ),
    ]);

    const env = statusEnv(config, keys, stripe);
    writeFileSync(config.statusFile, env);
    const restartPostgres = async () => {
      await supervisor.restart("postgres", "SIGINT");
      await waitForPostgres(config.dbUrl);
      await waitForCronLauncher(config.dbUrl);
      await waitForHttp(
        `http://127.0.0.1:${config.ports.api + 12}/ready`,
        "PostgREST",
        (s) => s === 200,
        30_000,
      );
    };
    return { config, keys, stripe, statusEnv: env, restartPostgres, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
