// Realtime in the integration tests: supabase-js channels subscribed and observed, raw
// Phoenix sockets for what the client cannot express (vsn 1.0.0 frames, connect refusals),
// tokens with a chosen lifetime, and test-only policies on realtime.messages.
//
// Test policies: private-channel tests need someone allowed and someone refused. Each test
// file creates its own pair of policies on realtime.messages (through SUPABASE_DB_URL, as a
// project owner would in the SQL editor) for topics `<prefix>:<readers>:<writers>:<nonce>`,
// readers and writers being user ids joined by `+`, and drops them afterwards. They are
// scaffolding of the tests, never part of the product's migrations.

import { randomUUID } from "node:crypto";
import type { RealtimeChannel } from "@supabase/supabase-js";
import { SignJWT } from "jose";
import ws from "ws";
import { ANON_KEY, SUPABASE_URL, withDatabase } from "./clients.ts";

/** The secret `supabase start` (and the local stack) signs tokens with, unless told otherwise. */
const JWT_SECRET = process.env.SUPABASE_JWT_SECRET ??
  "super-secret-jwt-token-with-at-least-32-characters-long";

export const SOCKET_URL = `${SUPABASE_URL.replace(/^http/, "ws")}/realtime/v1/websocket`;

/** A token for `claims`, signed with the project's secret, valid for `seconds` (negative: expired). */
export async function signToken(
  claims: Record<string, unknown>,
  seconds: number,
  secret = JWT_SECRET,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + seconds)
    .sign(new TextEncoder().encode(secret));
}

/** Subscribes and waits for SUBSCRIBED; fails with the status and error otherwise. */
export function subscribed(channel: RealtimeChannel): Promise<RealtimeChannel> {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, error) => {
      if (status === "SUBSCRIBED") resolve(channel);
      else if (status !== "CLOSED") reject(new Error(`${status}: ${error?.message ?? ""}`));
    });
  });
}

/** Subscribes and waits for the join to be refused; resolves with the server's reason. */
export function refusedJoin(channel: RealtimeChannel): Promise<string> {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, error) => {
      if (status === "CHANNEL_ERROR") {
        // The client rejoins after a refusal; the test has what it needs.
        void channel.unsubscribe();
        resolve(error?.message ?? "");
      } else if (status === "SUBSCRIBED") reject(new Error("the join was accepted"));
    });
  });
}

/** Everything a channel receives of one kind, in order (register before subscribing). */
export function received<T = Record<string, unknown>>(
  channel: RealtimeChannel,
  type: "broadcast" | "system",
  event?: string,
): T[] {
  const list: T[] = [];
  channel.on(
    type as "broadcast",
    (type === "broadcast" ? { event: event ?? "*" } : {}) as { event: string },
    (message: unknown) => list.push(message as T),
  );
  return list;
}

/** Waits until `list` has `count` entries (or more), or fails after `timeoutMs`. */
export async function waitForCount<T>(list: T[], count: number, timeoutMs = 10_000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  while (list.length < count) {
    if (Date.now() > deadline) {
      throw new Error(`expected ${count} messages, got ${list.length}: ${JSON.stringify(list)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return list;
}

/** Waits until `condition` holds, or fails after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${condition}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Silent refusals are asserted as non-delivery: wait this long, then check nothing came. */
export const QUIET_MS = 1500;
export const quiet = () => new Promise((resolve) => setTimeout(resolve, QUIET_MS));

/** The closed state of a channel: the `CLOSED` status after the server closed it. */
export function closed(channel: RealtimeChannel): Promise<void> {
  return new Promise((resolve) => {
    const check = setInterval(() => {
      if (channel.state === "closed") {
        clearInterval(check);
        resolve();
      }
    }, 25);
  });
}

// --- raw sockets -------------------------------------------------------------------------------

export interface RawSocket {
  socket: ws;
  /** Every frame received: text frames parsed, binary frames as Buffers. */
  frames: unknown[];
  send(frame: unknown): void;
  sendBinary(data: Buffer): void;
  /** The first received frame (from `from` on) that `match` accepts. */
  next(match: (frame: unknown) => boolean, timeoutMs?: number): Promise<unknown>;
  close(): void;
}

export function openSocket(vsn: "1.0.0" | "2.0.0", apikey = ANON_KEY): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const socket = new ws(`${SOCKET_URL}?apikey=${encodeURIComponent(apikey)}&vsn=${vsn}`);
    const frames: unknown[] = [];
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      frames.push(isBinary ? Buffer.from(data) : JSON.parse(data.toString("utf8")));
    });
    socket.once("unexpected-response", (_request, response) => {
      reject(new Error(`refused with ${response.statusCode}`));
    });
    socket.once("error", reject);
    socket.once("open", () =>
      resolve({
        socket,
        frames,
        send: (frame) => socket.send(JSON.stringify(frame)),
        sendBinary: (data) => socket.send(data),
        async next(match, timeoutMs = 10_000) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const found = frames.find(match);
            if (found !== undefined) return found;
            if (Date.now() > deadline) {
              throw new Error(`no matching frame among ${JSON.stringify(frames)}`);
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        },
        close: () => socket.close(),
      }));
  });
}

/** How a connection attempt was refused: the HTTP status and JSON body of the upgrade's answer. */
export function refusedConnection(
  query: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = new ws(`${SOCKET_URL}?${query}`, { headers });
    socket.once("open", () => {
      socket.close();
      reject(new Error("the connection was accepted"));
    });
    socket.once("unexpected-response", (_request, response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : null });
      });
    });
    socket.once("error", () => {});
  });
}

// --- test policies -----------------------------------------------------------------------------

export interface TopicPolicies {
  /** A topic name (no `realtime:`) that `readers` may join and read and `writers` may send to. */
  topic(readers: string[], writers: string[]): string;
  drop(): Promise<void>;
}

/**
 * Creates the select and insert policies on realtime.messages for this file's topics
 * (`prefix:<readers>:<writers>:<nonce>`), for signed-in users.
 */
export async function createTopicPolicies(prefix: string): Promise<TopicPolicies> {
  const names = [`${prefix}: listed readers read`, `${prefix}: listed writers write`];
  const pattern = `${prefix}:%`;
  await withDatabase(async (db) => {
    await db.query(`drop policy if exists "${names[0]}" on realtime.messages`);
    await db.query(`drop policy if exists "${names[1]}" on realtime.messages`);
    await db.query(
      `create policy "${names[0]}" on realtime.messages for select to authenticated
       using (realtime.topic() like '${pattern}'
         and (select auth.uid())::text = any(string_to_array(split_part(realtime.topic(), ':', 2), '+')))`,
    );
    await db.query(
      `create policy "${names[1]}" on realtime.messages for insert to authenticated
       with check (realtime.topic() like '${pattern}'
         and (select auth.uid())::text = any(string_to_array(split_part(realtime.topic(), ':', 3), '+')))`,
    );
  });
  return {
    topic: (readers, writers) =>
      `${prefix}:${readers.join("+")}:${writers.join("+")}:${randomUUID().slice(0, 8)}`,
    drop: () =>
      withDatabase(async (db) => {
        for (const name of names) {
          await db.query(`drop policy if exists "${name}" on realtime.messages`);
        }
      }),
  };
}
