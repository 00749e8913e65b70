// What every benchmark scenario uses: the stack in a child process, progress lines, HTTP
// load with autocannon (alternating the two sides of a comparison), and seeding in batches.

import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import autocannon from "autocannon";
import { SignJWT } from "jose";
import pg from "pg";
import { repoRoot } from "../../stack/config.ts";
import type { BenchStackInfo } from "./stack.ts";

// ---------------------------------------------------------------------------------------
// Progress: rewritten in place on a terminal; in a log, a line at most every five seconds.

export interface Progress {
  update(text: string): void;
  done(text: string): void;
}

export function progress(label: string): Progress {
  const tty = process.stdout.isTTY === true;
  let last = 0;
  return {
    update(text) {
      if (tty) {
        process.stdout.write(`\r${label} ${text}\x1b[K`);
      } else if (Date.now() - last >= 5_000) {
        last = Date.now();
        console.log(`${label} ${text}`);
      }
    },
    done(text) {
      if (tty) process.stdout.write(`\r${label} ${text}\x1b[K\n`);
      else console.log(`${label} ${text}`);
    },
  };
}

export const count = (n: number) => n.toLocaleString("en-US");
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------------------------------
// The stack: tests/bench/stack.ts in a child process, stopped with the benchmark.

/** The stack process's memory after a full garbage collection, in bytes. */
export interface StackMemory {
  rss: number;
  heapUsed: number;
  external: number;
}

export interface BenchStack extends BenchStackInfo {
  /** CPU time each part of the stack has used so far, in ms, by process name. */
  cpu(): Map<string, number>;
  /** Asks the stack process to collect garbage and report its memory. */
  memory(): Promise<StackMemory>;
  stop(): Promise<void>;
}

export async function startBenchStack(): Promise<BenchStack> {
  const child: ChildProcess = spawn(
    join(repoRoot, "node_modules", ".bin", "tsx"),
    [join(repoRoot, "tests", "bench", "stack.ts")],
    {
      cwd: repoRoot,
      // global.gc, so that memory() measures live objects rather than the collector's timing.
      env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --expose-gc`.trim() },
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const memoryAnswers: ((memory: StackMemory) => void)[] = [];
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const info = await new Promise<BenchStackInfo>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (line.startsWith('{"ready":')) {
        resolve((JSON.parse(line) as { ready: BenchStackInfo }).ready);
      } else if (line.startsWith('{"memory":')) {
        memoryAnswers.shift()?.((JSON.parse(line) as { memory: StackMemory }).memory);
      } else console.log(`  stack: ${line}`);
    });
    exited.then((code) =>
      reject(new Error(`the bench stack exited (${code}) before it was ready`))
    );
  });
  // A crash while the benchmark runs ends the benchmark: its numbers would mean nothing.
  let stopping = false;
  exited.then((code) => {
    if (!stopping) {
      console.error(`\nThe bench stack stopped unexpectedly (exit ${code}).`);
      process.exit(1);
    }
  });
  return {
    ...info,
    cpu: () => cpuTimes(child.pid!),
    memory: () =>
      new Promise((resolve) => {
        memoryAnswers.push(resolve);
        child.stdin!.write("memory\n");
      }),
    async stop() {
      stopping = true;
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * CPU time (user and system, ms) used by a process tree, by process name (/proc; empty where
 * there is none). The stack's Node process (gateway, Auth and Storage stand-ins) is "node",
 * the functions router "deno"; Postgres counts its exited backends too (reaped by the
 * postmaster).
 */
export function cpuTimes(rootPid: number): Map<string, number> {
  const byPid = new Map<number, { name: string; parent: number; ticks: number }>();
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry));
  } catch {
    return new Map();
  }
  for (const entry of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17)
    const close = stat.lastIndexOf(")");
    const name = stat.slice(stat.indexOf("(") + 1, close);
    const fields = stat.slice(close + 2).split(" ");
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
    byPid.set(Number(entry), {
      name,
      parent: Number(fields[1]),
      ticks: utime + stime + (name === "postgres" ? cutime + cstime : 0),
    });
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, depth = 0; p > 1 && depth < 10; depth++) {
      if (p === rootPid) return true;
      p = byPid.get(p)?.parent ?? 0;
    }
    return false;
  };
  const totals = new Map<string, number>();
  for (const [pid, { name, ticks }] of byPid) {
    if (!inTree(pid)) continue;
    totals.set(name, (totals.get(name) ?? 0) + ticks * 10); // USER_HZ is 100 on Linux
  }
  return totals;
}

/** CPU per unit of work between two cpuTimes() readings, largest first, e.g. "node 1.20 ms". */
export function cpuPer(
  before: Map<string, number>,
  after: Map<string, number>,
  units: number,
): string {
  return [...after.entries()]
    .map(([name, ms]) => [name, (ms - (before.get(name) ?? 0)) / units] as const)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => `${name} ${ms.toFixed(2)} ms`)
    .join(", ");
}

// ---------------------------------------------------------------------------------------
// HTTP load.

export interface Measured {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
  /** The stack's CPU per request, by process: a cost that other load on the machine does not blur. */
  cpuPerRequest: string;
}

export const CONNECTIONS = 50;
/** Each side of a comparison is measured in ROUNDS rounds of ROUND_SECONDS, alternating. */
export const ROUNDS = 2;
export const ROUND_SECONDS = 5;

async function cannon(
  url: string,
  headers: Record<string, string>,
  duration: number,
  onSecond: (second: number) => void,
  requests?: autocannon.Request[],
): Promise<autocannon.Result> {
  return await new Promise((resolve, reject) => {
    const instance = autocannon(
      { url, headers, connections: CONNECTIONS, duration, ...(requests ? { requests } : {}) },
      (error: unknown, result: autocannon.Result) => (error ? reject(error) : resolve(result)),
    );
    let second = 0;
    (instance as unknown as NodeJS.EventEmitter).on("tick", () => onSecond(++second));
  });
}

export interface Side {
  name: string;
  url: string;
  headers: Record<string, string>;
  /** autocannon's request pipeline (another method, a body, a caller per request); else GET url. */
  requests?: autocannon.Request[];
}

/**
 * Loads two sides of a comparison in alternating rounds (after a one-second warm-up of each),
 * so a change in the machine's other load falls on both sides alike.
 */
export async function comparePair(
  label: string,
  stack: BenchStack,
  sides: [Side, Side],
): Promise<[Measured, Measured]> {
  const line = progress(`  ${label}`);
  for (const side of sides) await cannon(side.url, side.headers, 1, () => {}, side.requests);
  const results: autocannon.Result[][] = [[], []];
  const cpu: Map<string, number>[] = [new Map(), new Map()];
  const total = ROUNDS * ROUND_SECONDS * 2;
  let elapsed = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, side] of sides.entries()) {
      const before = stack.cpu();
      results[i].push(
        await cannon(side.url, side.headers, ROUND_SECONDS, () => {
          elapsed += 1;
          line.update(`${elapsed}/${total} s (${side.name})`);
        }, side.requests),
      );
      for (const [name, ms] of stack.cpu()) {
        cpu[i].set(name, (cpu[i].get(name) ?? 0) + ms - (before.get(name) ?? 0));
      }
    }
  }
  line.done(`${total} s measured`);
  return results.map((rounds, i) => {
    const requests = rounds.reduce((sum, r) => sum + r.requests.total, 0);
    const duration = rounds.reduce((sum, r) => sum + r.duration, 0);
    return {
      requestsPerSecond: requests / duration,
      p50: Math.max(...rounds.map((r) => r.latency.p50)),
      p99: Math.max(...rounds.map((r) => r.latency.p99)),
      errors: rounds.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
      requests,
      cpuPerRequest: cpuPer(new Map(), cpu[i], requests),
    };
  }) as [Measured, Measured];
}

export function printMeasured(name: string, m: Measured): void {
  console.log(
    `  ${name.padEnd(26)} ${
      m.requestsPerSecond.toFixed(0).padStart(7)
    } req/s   p50 ${m.p50} ms   p99 ${m.p99} ms   errors ${m.errors}`,
  );
  if (m.cpuPerRequest) console.log(`  ${"".padEnd(26)} CPU per request: ${m.cpuPerRequest}`);
}

// ---------------------------------------------------------------------------------------
// Seeding.

/**
 * Users as Supabase Auth inserts them (auth.users; the sign-up trigger creates their profiles),
 * in batches with progress.
 */
export async function seedUsers(db: pg.Client, prefix: string, total: number): Promise<void> {
  const line = progress(`  seeding ${count(total)} users (${prefix}-*)`);
  line.update(`0/${count(total)}`);
  const begun = performance.now();
  const batch = 250;
  for (let done = 0; done < total; done += batch) {
    await db.query(
      `insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                               raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
       select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
              $1 || '-' || i || '@example.com', '', now(), '{"provider":"email"}',
              jsonb_build_object('display_name', 'Bench user ' || i), now(), now()
       from generate_series($2::int, $3::int) as i`,
      [prefix, done + 1, Math.min(done + batch, total)],
    );
    line.update(`${count(Math.min(done + batch, total))}/${count(total)}`);
  }
  // Load-test accounts: an operator exempts them from the rate limits (the trusted tier), as
  // on production; nothing in the code turns the limits off (docs/domains/operations.md).
  await db.query(
    `insert into public.rate_limit_overrides (user_id, tier, reason)
     select u.id, 'trusted', 'bench load account' from auth.users u
      where u.email like $1 || '-%@example.com'
     on conflict on constraint rate_limit_overrides_user_unique do nothing`,
    [prefix],
  );
  line.done(`done in ${seconds(performance.now() - begun)}`);
}

/**
 * An access token for a seeded user, signed with the stack's JWT secret as Supabase Auth signs
 * one (role authenticated, the user's id as sub), for scenarios that load as many users without
 * a sign-in each.
 */
export async function accessTokenFor(stack: BenchStack, userId: string): Promise<string> {
  return await new SignJWT({ role: "authenticated", sub: userId, aud: "authenticated" })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(stack.jwtSecret));
}

/**
 * Exempts a load-test account from the rate limits as an operator would: the trusted tier,
 * through the staff RPC with the service-role key (docs/domains/operations.md).
 */
export async function trustForLoad(stack: BenchStack, userId: string): Promise<void> {
  const response = await fetch(`${stack.apiUrl}/rest/v1/rpc/set_rate_limit_override`, {
    method: "POST",
    headers: {
      apikey: stack.serviceRoleKey,
      authorization: `Bearer ${stack.serviceRoleKey}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ tier: "trusted", reason: "bench load account", user_id: userId }),
  });
  if (!response.ok) {
    throw new Error(`trusting ${userId} failed: ${response.status} ${await response.text()}`);
  }
}
