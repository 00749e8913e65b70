// The realtime scenario: broadcasts sent through the database (realtime.send, each its own
// committed transaction) to subscribers of private topics authorized by a policy on
// realtime.messages, as an app's triggers and channels would use them; and idle sockets kept
// alive by heartbeats. Subscribers are raw vsn 2.0.0 sockets (kind-4 frames decoded by hand),
// so the load generator spends little of the machine on parsing.
//
// Measured: deliveries per second with sends as fast as SENDERS connections commit them;
// delivery latency (from the send's statement being issued, which commits it, to receipt; p50,
// p99) at a steady TARGET_DELIVERIES per second; the stack's CPU per delivery by process; and
// the memory the stack holds per idle socket (before and after IDLE_SOCKETS joined sockets,
// after each has sent a heartbeat: heap and external memory after a full garbage collection;
// RSS is printed too, but the collector's timing moves it more than a thousand sockets do);
// then Postgres Changes' delivery latency under per-subscriber RLS (realtime_postgres_changes.ts).

import { SignJWT } from "jose";
import pg from "pg";
import WebSocket from "ws";
import { postgresChangesLatency } from "./realtime_postgres_changes.ts";
import type { Scenario } from "./scenarios.ts";
import { type BenchStack, count, cpuPer, progress } from "./support.ts";

const SUBSCRIBERS = 200;
const TOPICS = 50;
const THROUGHPUT_SENDS = 5_000;
const SENDERS = 16;
const TARGET_DELIVERIES = 1_000;
const LATENCY_SECONDS = 10;
const IDLE_SOCKETS = 1_000;
/** supabase-js's heartbeat interval. */
const HEARTBEAT_MS = 25_000;

function socketUrl(stack: BenchStack): string {
  return `${
    stack.apiUrl.replace(/^http/, "ws")
  }/realtime/v1/websocket?apikey=${stack.anonKey}&vsn=2.0.0`;
}

/** Opens a socket and joins `topic` with `payload`; resolves once the join is answered ok. */
function joined(url: string, topic: string, payload: unknown): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once("error", reject);
    socket.once("open", () => socket.send(JSON.stringify(["1", "1", topic, "phx_join", payload])));
    const onJoin = (data: Buffer, binary: boolean) => {
      if (binary) return;
      const [, ref, , event, body] = JSON.parse(data.toString("utf8"));
      if (ref !== "1" || event !== "phx_reply") return;
      socket.off("message", onJoin);
      if (body.status === "ok") resolve(socket);
      else reject(new Error(`join refused: ${JSON.stringify(body.response)}`));
    };
    socket.on("message", onJoin);
  });
}

/** The `id` the bench put in a kind-4 frame's JSON payload (realtime.send keeps a payload's id). */
function messageId(frame: Buffer): string | null {
  if (frame[0] !== 4) return null;
  const [topicSize, eventSize, metaSize] = [frame[1], frame[2], frame[3]];
  return JSON.parse(frame.subarray(5 + topicSize + eventSize + metaSize).toString("utf8")).id;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

export const realtime: Scenario = {
  name: "realtime",
  describe:
    `${SUBSCRIBERS} subscribers on ${TOPICS} private topics, broadcasts sent through realtime.send; ${
      count(IDLE_SOCKETS)
    } idle sockets with heartbeats; postgres_changes latency under RLS`,
  async run(stack, db) {
    // The bench's throw-away database only: who may read bench topics.
    await db.query(
      `drop policy if exists "bench: signed-in users read bench topics" on realtime.messages`,
    );
    await db.query(
      `create policy "bench: signed-in users read bench topics" on realtime.messages
       for select to authenticated using (realtime.topic() like 'bench-topic-%')`,
    );
    const secret = new TextEncoder().encode(stack.jwtSecret);
    const url = socketUrl(stack);

    // Subscribers, each with its own user token, TOPICS topics shared evenly.
    const joining = progress("  subscribers");
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    let deliveries = 0;
    const subscribers: WebSocket[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const token = await new SignJWT({ role: "authenticated", sub: crypto.randomUUID() })
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime("2h")
        .sign(secret);
      const socket = await joined(url, `realtime:bench-topic-${i % TOPICS}`, {
        config: { private: true },
        access_token: token,
      });
      socket.on("message", (data: Buffer, binary: boolean) => {
        if (!binary) return;
        const id = messageId(data);
        if (id === null) return;
        deliveries += 1;
        const begun = sentAt.get(id);
        if (begun !== undefined) latencies.push(performance.now() - begun);
      });
      subscribers.push(socket);
      joining.update(`${i + 1}/${SUBSCRIBERS}`);
    }
    joining.done(`${SUBSCRIBERS} joined`);

    const senders = await Promise.all(Array.from({ length: SENDERS }, async () => {
      const client = new pg.Client({ connectionString: stack.dbUrl });
      await client.connect();
      return client;
    }));
    let sequence = 0;
    /** One broadcast, its own transaction; returns when committed. */
    const send = async (client: pg.Client, timed: boolean) => {
      const n = sequence++;
      const id = crypto.randomUUID();
      if (timed) sentAt.set(id, performance.now());
      await client.query(
        "select realtime.send(jsonb_build_object('id', $1::text, 'n', $2::int), 'tick', $3)",
        [id, n, `bench-topic-${n % TOPICS}`],
      );
    };

    try {
      // Throughput: as fast as SENDERS connections commit.
      const perTopic = SUBSCRIBERS / TOPICS;
      const expected = THROUGHPUT_SENDS * perTopic;
      const line = progress("  throughput");
      deliveries = 0;
      let next = 0;
      const cpuBefore = stack.cpu();
      const begun = performance.now();
      await Promise.all(senders.map(async (client) => {
        while (next < THROUGHPUT_SENDS) {
          next++;
          await send(client, false);
          if (next % 500 === 0) line.update(`${next}/${THROUGHPUT_SENDS} sent`);
        }
      }));
      const deadline = Date.now() + 30_000;
      while (deliveries < expected && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const elapsed = (performance.now() - begun) / 1000;
      const perSecond = deliveries / elapsed;
      line.done(
        `${perSecond.toFixed(0).padStart(7)} deliveries/s (${count(deliveries)} of ${
          count(expected)
        } in ${elapsed.toFixed(1)} s)`,
      );
      const cpu = cpuPer(cpuBefore, stack.cpu(), deliveries);
      if (cpu) console.log(`    CPU per delivery: ${cpu}`);

      // Latency at a steady rate: TARGET_DELIVERIES per second.
      const latencyLine = progress("  latency");
      const sendsPerSecond = TARGET_DELIVERIES / perTopic;
      const total = sendsPerSecond * LATENCY_SECONDS;
      latencies.length = 0;
      deliveries = 0;
      const start = performance.now();
      let issued = 0;
      let idle = 0;
      await Promise.all(senders.map(async (client) => {
        while (issued < total) {
          // Each send is due at its slot; a sender that is early waits for it.
          const due = start + (issued / sendsPerSecond) * 1000;
          issued++;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          else idle++;
          await send(client, true);
          if (issued % 200 === 0) latencyLine.update(`${issued}/${total} sent`);
        }
      }));
      const latencyDeadline = Date.now() + 10_000;
      while (latencies.length < total * perTopic && Date.now() < latencyDeadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const sorted = [...latencies].sort((a, b) => a - b);
      const p50 = percentile(sorted, 0.5);
      const p99 = percentile(sorted, 0.99);
      latencyLine.done(
        `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms at ${TARGET_DELIVERIES} deliveries/s (${
          count(latencies.length)
        } of ${count(total * perTopic)} timed${idle ? `, ${idle} sends late` : ""})`,
      );

      for (const socket of subscribers) socket.close();

      // Idle sockets: joined to a public topic each, one heartbeat each, then their memory.
      const idleLine = progress("  idle sockets");
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const before = await stack.memory();
      const sockets: WebSocket[] = [];
      for (let i = 0; i < IDLE_SOCKETS; i++) {
        sockets.push(await joined(url, `realtime:bench-idle-${i}`, {}));
        if ((i + 1) % 100 === 0) idleLine.update(`${i + 1}/${IDLE_SOCKETS} joined`);
      }
      let heartbeats = 0;
      for (const socket of sockets) {
        socket.on("message", (data: Buffer, binary: boolean) => {
          if (!binary && data.toString("utf8").includes('"phoenix","phx_reply"')) heartbeats++;
        });
      }
      // Each socket beats once within a heartbeat interval, spread over it as clients are.
      const beatDeadline = performance.now() + HEARTBEAT_MS;
      for (let i = 0; i < sockets.length; i++) {
        const due = beatDeadline - HEARTBEAT_MS + (i / sockets.length) * HEARTBEAT_MS;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        sockets[i].send(JSON.stringify([null, String(i), "phoenix", "heartbeat", {}]));
        if ((i + 1) % 100 === 0) idleLine.update(`${i + 1}/${IDLE_SOCKETS} heartbeats sent`);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const after = await stack.memory();
      const live = (m: typeof before) => m.heapUsed + m.external;
      const perSocket = (live(after) - live(before)) / IDLE_SOCKETS;
      const open = sockets.filter((socket) => socket.readyState === WebSocket.OPEN).length;
      idleLine.done(
        `${open}/${IDLE_SOCKETS} open, ${heartbeats} heartbeats answered; ${
          (perSocket / 1024).toFixed(1)
        } KB per idle socket (heap and external memory after GC; stack RSS ${
          (before.rss / 2 ** 20).toFixed(0)
        } → ${(after.rss / 2 ** 20).toFixed(0)} MB, which the collector's timing blurs)`,
      );
      for (const socket of sockets) socket.close();

      // Postgres Changes: delivery latency under per-subscriber RLS (realtime_postgres_changes.ts).
      const changes = await postgresChangesLatency(stack, db);

      return {
        numbers: {
          deliveriesPerSecond: perSecond,
          p50,
          p99,
          idleSockets: open,
          heartbeatsAnswered: heartbeats,
          bytesPerIdleSocket: perSocket,
          rssBefore: before.rss,
          rssAfter: after.rss,
          ...changes.numbers,
        },
        checks: [
          {
            row: "realtime: deliveries per second",
            value: perSecond,
            unit: "/s",
            min: TARGET_DELIVERIES,
          },
          {
            row: `realtime: p99 at ${TARGET_DELIVERIES}/s`,
            value: p99,
            unit: "ms",
            below: 150,
          },
          ...changes.checks,
        ],
      };
    } finally {
      await Promise.all(senders.map((client) => client.end()));
    }
  },
};
