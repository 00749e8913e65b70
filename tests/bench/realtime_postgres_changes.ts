// Postgres Changes delivery latency, for the realtime scenario (tests/bench/realtime.ts calls
// it): SUBSCRIBERS raw vsn 2.0.0 sockets, each a signed-in user with one INSERT binding on a
// table whose policy shows a user their own rows, as an app's per-user feed would; rows
// inserted at a steady INSERTS_PER_SECOND, each its own transaction, for one random
// subscriber. Realtime checks every insert against every subscriber's policies (here
// SUBSCRIBERS policy checks per insert), so the number says what the poller's RLS fan-out
// costs. Measured: delivery latency from the insert's statement being issued (it commits) to
// its owner's receipt (p50, p99), deliveries, and the stack's CPU per insert by process.

import { SignJWT } from "jose";
import type pg from "pg";
import WebSocket from "ws";
import type { Check } from "./scenarios.ts";
import { type BenchStack, count, cpuPer, progress } from "./support.ts";

const SUBSCRIBERS = 50;
const INSERTS_PER_SECOND = 50;
const SECONDS = 10;
const TABLE = "bench_postgres_changes";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

/** Joins `topic` with one postgres_changes binding; resolves with the socket once subscribed. */
function subscribed(url: string, topic: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once("error", reject);
    socket.once("open", () =>
      socket.send(JSON.stringify(["1", "1", topic, "phx_join", {
        config: { postgres_changes: [{ event: "INSERT", schema: "public", table: TABLE }] },
        access_token: token,
      }])));
    const onSystem = (data: Buffer, binary: boolean) => {
      if (binary) return;
      const [, , , event, body] = JSON.parse(data.toString("utf8"));
      if (event !== "system" || body.extension !== "postgres_changes") return;
      socket.off("message", onSystem);
      if (body.status === "ok") resolve(socket);
      else reject(new Error(`postgres_changes refused: ${body.message}`));
    };
    socket.on("message", onSystem);
  });
}

export interface PostgresChangesLatency {
  numbers: Record<string, number>;
  checks: Check[];
}

export async function postgresChangesLatency(
  stack: BenchStack,
  db: pg.Client,
): Promise<PostgresChangesLatency> {
  // The bench's throw-away database only.
  await db.query(`drop table if exists public.${TABLE}`);
  await db.query(`
    create table public.${TABLE} (
      id bigint generated always as identity primary key,
      owner_id uuid not null,
      body text not null
    );
    alter table public.${TABLE} enable row level security;
    grant select on public.${TABLE} to authenticated;
    create policy "bench: owners read their rows" on public.${TABLE}
      for select to authenticated using (owner_id = (select auth.uid()));
    alter publication supabase_realtime add table public.${TABLE};
  `);
  const url = `${
    stack.apiUrl.replace(/^http/, "ws")
  }/realtime/v1/websocket?apikey=${stack.anonKey}&vsn=2.0.0`;
  const secret = new TextEncoder().encode(stack.jwtSecret);

  const joining = progress("  postgres_changes subscribers");
  const owners: string[] = [];
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const sub = crypto.randomUUID();
      const token = await new SignJWT({ role: "authenticated", sub })
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime("2h")
        .sign(secret);
      const socket = await subscribed(url, `realtime:bench-changes-${i}`, token);
      socket.on("message", (data: Buffer, binary: boolean) => {
        if (binary) return;
        const [, , , event, body] = JSON.parse(data.toString("utf8"));
        if (event !== "postgres_changes") return;
        const begun = sentAt.get(body.data.record.body);
        if (begun !== undefined) latencies.push(performance.now() - begun);
      });
      owners.push(sub);
      sockets.push(socket);
      joining.update(`${i + 1}/${SUBSCRIBERS}`);
    }
    joining.done(`${SUBSCRIBERS} subscribed`);

    const line = progress("  postgres_changes latency");
    const total = INSERTS_PER_SECOND * SECONDS;
    const cpuBefore = stack.cpu();
    const start = performance.now();
    let late = 0;
    for (let n = 0; n < total; n++) {
      const wait = start + (n / INSERTS_PER_SECOND) * 1000 - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      else late++;
      const body = crypto.randomUUID();
      sentAt.set(body, performance.now());
      await db.query(`insert into public.${TABLE} (owner_id, body) values ($1, $2)`, [
        owners[n % SUBSCRIBERS],
        body,
      ]);
      if ((n + 1) % 50 === 0) line.update(`${n + 1}/${total} inserted`);
    }
    const deadline = Date.now() + 10_000;
    while (latencies.length < total && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 0.5);
    const p99 = percentile(sorted, 0.99);
    line.done(
      `p50 ${p50.toFixed(1)} ms, p99 ${
        p99.toFixed(1)
      } ms at ${INSERTS_PER_SECOND} inserts/s × ${SUBSCRIBERS} subscribers' policies (${
        count(latencies.length)
      } of ${count(total)} delivered${late ? `, ${late} inserts late` : ""})`,
    );
    const cpu = cpuPer(cpuBefore, stack.cpu(), total);
    if (cpu) console.log(`    CPU per insert: ${cpu}`);
    return {
      numbers: {
        postgresChangesP50: p50,
        postgresChangesP99: p99,
        postgresChangesDelivered: latencies.length,
        postgresChangesInserted: total,
      },
      checks: [{
        row:
          `realtime: postgres_changes p99 at ${INSERTS_PER_SECOND} inserts/s, ${SUBSCRIBERS} subscribers`,
        value: p99,
        unit: "ms",
        // As Realtime, the poller sleeps 500 ms after a poll that found nothing, so a change
        // may wait that long before its RLS checks; 2026-11-30 on 2 shared cores: p50 224 ms,
        // p99 619 ms, postgres 4.4 ms CPU per insert (50 policy checks).
        below: 750,
      }],
    };
  } finally {
    for (const socket of sockets) socket.close();
    await db.query(`alter publication supabase_realtime drop table public.${TABLE}`).catch(
      () => {},
    );
  }
}
