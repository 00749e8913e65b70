// The stack's Postgres: a private cluster in the profile's data folder, and the rebuild of
// its database from the platform baseline (sql/baseline), the migrations (applied by the
// real Supabase CLI) and the seed.

import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import pg from "pg";
import { repoRoot, type StackConfig } from "./config.ts";
import { apiKeys } from "./keys.ts";
import { isRoot, PG_BIN } from "./prerequisites.ts";
import type { ChildSpec } from "./supervisor.ts";

/** Postgres refuses to run as root: as root, run its programs as the postgres user. */
function asPostgres(command: string, args: string[]): { command: string; args: string[] } {
  if (!isRoot()) return { command, args };
  return {
    command: "setpriv",
    args: ["--reuid=postgres", "--regid=postgres", "--init-groups", command, ...args],
  };
}

/**
 * Creates the cluster if the data folder has none. initdb writes to a temporary folder that
 * is renamed into place only when complete, so an interrupted first start leaves nothing
 * half-made behind.
 */
export function ensureCluster(config: StackConfig): void {
  if (existsSync(join(config.pgDataDir, "PG_VERSION"))) return;
  const staging = `${config.pgDataDir}.initdb`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(dirname(config.pgDataDir), { recursive: true });
  if (isRoot()) {
    mkdirSync(staging, { mode: 0o700 });
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
    chownSync(staging, uid, gid);
  }
  const initdb = asPostgres(`${PG_BIN}/initdb`, [
    "-D",
    staging,
    "-U",
    "postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
  ]);
  execFileSync(initdb.command, initdb.args, { stdio: "pipe" });
  renameSync(staging, config.pgDataDir);
}

export function postgresProcess(config: StackConfig): ChildSpec {
  const settings: Record<string, string> = {
    port: String(config.ports.db),
    listen_addresses: "127.0.0.1",
    unix_socket_directories: "",
    shared_preload_libraries: "pg_cron",
    "cron.database_name": "postgres",
    // Logical decoding (wal2json) for the Realtime stand-in's Postgres Changes: one temporary
    // slot per running stack, with room for more.
    wal_level: "logical",
    max_replication_slots: "10",
    max_wal_senders: "10",
    max_connections: "200",
    log_min_messages: "warning",
    // The test and bench profiles' data is thrown away after each run: trade durability for speed.
    // Logical decoding (Realtime's broadcasts from the database, Postgres Changes) reads only
    // flushed WAL: without synchronous commits the WAL writer's delay (200 ms by default) would
    // hold every change back that long, so it flushes every 10 ms instead.
    ...(config.profile !== "dev"
      ? {
        fsync: "off",
        synchronous_commit: "off",
        full_page_writes: "off",
        wal_writer_delay: "10ms",
      }
      : {}),
  };
  const args = [
    "-D",
    config.pgDataDir,
    ...Object.entries(settings).flatMap(([key, value]) => ["-c", `${key}=${value}`]),
  ];
  const { command, args: finalArgs } = asPostgres(`${PG_BIN}/postgres`, args);
  return { name: "postgres", command, args: finalArgs };
}

export async function waitForPostgres(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query("select 1");
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`Postgres did not accept connections: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/** Runs a SQL file; `options` are extra PGOPTIONS settings (e.g. `-c check_function_bodies=off`). */
export function psqlFile(url: string, file: string, options = ""): void {
  execFileSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-q", "-X", "-f", file], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, PGOPTIONS: `-c client_min_messages=warning ${options}`.trim() },
  });
}

export function supabaseCli(args: string[]): string {
  return execFileSync(join(repoRoot, "node_modules", ".bin", "supabase"), args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      PGSSLMODE: "disable",
      SUPABASE_TELEMETRY_DISABLED: "1",
      DO_NOT_TRACK: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  }).toString();
}

/** What hosted Supabase already has (roles, auth, storage, realtime, extensions): sql/baseline. */
export function applyBaseline(url: string): void {
  const baselineDir = join(repoRoot, "sql", "baseline");
  for (const file of readdirSync(baselineDir).filter((name) => name.endsWith(".sql")).sort()) {
    psqlFile(url, join(baselineDir, file));
  }
}

/**
 * Whether pg_cron's scheduler runs. It is a background worker connected to
 * `cron.database_name` (postgres) from Postgres' start: dropping that database ends it for
 * good (it exits cleanly when terminated, so Postgres does not start it again), and only a
 * restart of Postgres brings it back.
 */
export async function cronLauncherRunning(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const { rows } = await client.query(
      "select 1 from pg_stat_activity where backend_type = 'pg_cron launcher'",
    );
    return rows.length > 0;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Waits until pg_cron's scheduler runs (after Postgres started or restarted). */
export async function waitForCronLauncher(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cronLauncherRunning(url))) {
    if (Date.now() > deadline) {
      throw new Error(`pg_cron's scheduler did not start within ${timeoutMs / 1000}s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Rebuilds the `postgres` database from nothing: what `supabase db reset` does for the
 * Docker stack. Roles are cluster-wide and survive; the baseline re-creates everything else.
 *
 * `emptyCluster`: the cluster was just made by initdb, so its `postgres` database is empty and
 * is built in place. Dropping it would end pg_cron's scheduler, connected to it since Postgres
 * started (see cronLauncherRunning); a reset that does drop it is followed by a restart of
 * Postgres (the running stack's, on SIGUSR2: `npm run db:reset`).
 */
export async function resetDatabase(
  config: StackConfig,
  options: { emptyCluster?: boolean } = {},
): Promise<void> {
  if (!options.emptyCluster) await recreateDatabase(config);
  await buildDatabase(config);
}

async function recreateDatabase(config: StackConfig): Promise<void> {
  const admin = new pg.Client({
    connectionString: config.dbUrl.replace(/\/postgres$/, "/template1"),
  });
  await admin.connect();
  try {
    // A running stack's Realtime stand-in reads the database through temporary logical slots,
    // which `drop database … with (force)` refuses to drop under: end the sessions holding
    // them (their slots go with them; the stand-in reconnects to the new database).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await admin.query(
        `select pg_terminate_backend(active_pid) from pg_replication_slots
         where database = 'postgres' and active_pid is not null`,
      );
      if (rows.length === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await admin.query("drop database if exists postgres with (force)");
    await admin.query("create database postgres");
  } finally {
    await admin.end();
  }
}

async function buildDatabase(config: StackConfig): Promise<void> {
  applyBaseline(config.dbUrl);
  supabaseCli(["migration", "up", "--yes", `--remote=${config.dbUrl}`]);
  const seed = join(repoRoot, "supabase", "seed.sql");
  if (existsSync(seed)) psqlFile(config.dbUrl, seed);
  const client = new pg.Client({ connectionString: config.dbUrl });
  await client.connect();
  try {
    // Scheduled jobs call edge functions through pg_net with the project URL and the
    // service-role key kept in Vault (supabase/schemas/00_platform/60_scheduled_jobs.sql); hosted, an operator stores
    // them once (README, Deploy). Locally the stack knows both.
    const { serviceRoleKey } = await apiKeys(config.jwtSecret);
    await client.query(
      "select vault.create_secret($1, 'project_url', 'API URL the scheduler calls edge functions at')",
      [config.apiUrl],
    );
    await client.query(
      "select vault.create_secret($1, 'service_role_key', 'key the scheduler calls edge functions with')",
      [serviceRoleKey],
    );
    // Tests decide when a job runs (ops.run_scheduled_job), so none starts in the middle
    // of a test that expects to be the one releasing or refunding: the test stack keeps the
    // schedules but pauses them (and so does the bench's, so no job runs beside what it times).
    if (config.profile !== "dev") {
      await client.query("select cron.alter_job(jobid, active => false) from cron.job");
    }
    await client.query("notify pgrst, 'reload schema'");
  } finally {
    await client.end();
  }
}
