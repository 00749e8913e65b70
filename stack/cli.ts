// `npm start`, `npm run stop`, `npm run status`, `npm run db:reset`: the Docker-less stack's
// command line. `start` runs in the foreground until Ctrl-C or `npm run stop`.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { type Profile, type StackConfig, stackConfig } from "./config.ts";
import pg from "pg";
import {
  ensureCluster,
  postgresProcess,
  resetDatabase,
  waitForCronLauncher,
  waitForPostgres,
} from "./postgres.ts";
import { ensurePrerequisites } from "./prerequisites.ts";
import { assertPortFree, runningPid, StackError, startStack, waitForHttp } from "./stack.ts";
import { Supervisor } from "./supervisor.ts";

async function start(config: StackConfig): Promise<void> {
  const begun = Date.now();
  const stack = await startStack(config, {
    onCrash: (message) => {
      console.error(`\nThe stack stopped: ${message}`);
      process.exit(1);
    },
  });
  process.stdout.write(stack.statusEnv);
  console.log(
    `\nStarted in ${
      ((Date.now() - begun) / 1000).toFixed(1)
    }s. Logs: ${config.logDir}. Ctrl-C or \`npm run stop\` stops it.`,
  );
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    console.log("Stopping...");
    await stack.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  // `npm run db:reset` asks for this once it has rebuilt the database (see reset below).
  process.on("SIGUSR2", () => {
    const begun = Date.now();
    stack.restartPostgres().then(
      () => console.log(`Postgres restarted in ${((Date.now() - begun) / 1000).toFixed(1)}s.`),
      (error) => console.error(`Restarting Postgres failed: ${(error as Error).message}`),
    );
  });
}

async function postmasterStart(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query("select pg_postmaster_start_time()::text as started");
    return rows[0].started;
  } finally {
    await client.end();
  }
}

/**
 * Rebuilding the database of a running stack drops it, which ends pg_cron's scheduler for
 * good (stack/postgres.ts, cronLauncherRunning): the stack restarts its Postgres when sent
 * SIGUSR2, and this waits for the new Postgres, its scheduler and PostgREST.
 */
async function restartRunningPostgres(config: StackConfig, pid: number): Promise<void> {
  const before = await postmasterStart(config.dbUrl);
  process.kill(pid, "SIGUSR2");
  const deadline = Date.now() + 60_000;
  for (;;) {
    const started = await postmasterStart(config.dbUrl).catch(() => before);
    if (started !== before) break;
    if (Date.now() > deadline) {
      throw new StackError("The stack did not restart Postgres within 60s.");
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await waitForCronLauncher(config.dbUrl);
  await waitForHttp(
    `http://127.0.0.1:${config.ports.api + 12}/ready`,
    "PostgREST",
    (s) => s === 200,
    30_000,
  );
}

async function stop(config: StackConfig): Promise<void> {
  const pid = runningPid(config);
  if (pid === null) {
    console.log(`The ${config.profile} stack is not running.`);
    return;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 30_000;
  while (runningPid(config) !== null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (runningPid(config) !== null) {
    throw new StackError(`The stack (pid ${pid}) did not stop within 30s.`);
  }
  console.log("Stopped.");
}

function status(config: StackConfig): void {
  if (runningPid(config) === null || !existsSync(config.statusFile)) {
    console.error(`The ${config.profile} stack is not running. Start it with \`npm start\`.`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(readFileSync(config.statusFile, "utf8"));
}

/** Rebuilds the database; if the stack is not running, starts Postgres just for that. */
async function reset(config: StackConfig): Promise<void> {
  const begun = Date.now();
  const pid = runningPid(config);
  if (pid !== null) {
    await resetDatabase(config);
    await restartRunningPostgres(config, pid);
  } else {
    ensurePrerequisites();
    await assertPortFree(config.ports.db);
    mkdirSync(config.logDir, { recursive: true });
    ensureCluster(config);
    const postgres = new Supervisor(config.logDir, (name, exit, logTail) => {
      console.error(`${name} stopped unexpectedly (${exit}):\n${logTail}`);
      process.exit(1);
    });
    postgres.start(postgresProcess(config));
    try {
      await waitForPostgres(config.dbUrl);
      await resetDatabase(config);
    } finally {
      await postgres.stop();
    }
  }
  console.log(
    `Database rebuilt (baseline, migrations, seed) in ${
      ((Date.now() - begun) / 1000).toFixed(1)
    }s.`,
  );
}

const [command, ...flags] = process.argv.slice(2);
const profile: Profile = flags.includes("--test") ? "test" : "dev";
const config = stackConfig(profile);
const commands: Record<string, (c: StackConfig) => Promise<void> | void> = {
  start,
  stop,
  status,
  reset,
};

if (!commands[command]) {
  console.error("usage: tsx stack/cli.ts start|stop|status|reset [--test]");
  process.exit(2);
}
try {
  await commands[command](config);
} catch (error) {
  console.error(error instanceof StackError ? error.message : error);
  process.exit(1);
}
