// A local stand-in for Supabase Realtime: the Phoenix socket at /realtime/v1/websocket and the
// broadcast REST API at /realtime/v1/api, behaving as Realtime's own code does
// (lib/realtime_web/channels/user_socket.ex, realtime_channel.ex and its broadcast and
// presence handlers, the broadcast controllers): connect-time key and JWT checks with
// Realtime's statuses and bodies, joins with their error reasons (after Realtime's 5 s error
// backoff), broadcast with self and ack, presence, private channels authorized by the policies
// on realtime.messages (authorization.ts), token refresh and expiry, replay, and rows
// committed to realtime.messages delivered to their topic (messages.ts). Postgres Changes
// bindings are handed to stack/realtime/postgres-changes.ts when it exists (extensions.ts).
//
// One process, one node: no clustering, no tenant rate limits (messages, joins, connections
// per second); the per-client presence limit and the channels-per-connection limit are kept.

import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type pg from "pg";
import { type WebSocket, WebSocketServer } from "ws";
import { readBody, sendJson, type SubHandler } from "../http.ts";
import {
  type AuthorizationContext,
  emptyPolicies,
  type Extension,
  type Policies,
  readAuthorizations,
  type TokenCheck,
  verifyToken,
  writeAuthorizations,
} from "./authorization.ts";
import {
  bindingId,
  type ChannelHandle,
  type Claims,
  type CreatePostgresChanges,
  type PostgresChangesBinding,
  type PostgresChangesModule,
} from "./extensions.ts";
import {
  maintainPartitions,
  type MessageStream,
  replayMessages,
  streamMessages,
} from "./messages.ts";
import {
  type Broadcast,
  decodeBinary,
  decodeText,
  encodeBroadcast,
  encodeMessage,
  encodeReply,
  type Frame,
  ProtocolError,
  type UserBroadcastPush,
  type Vsn,
} from "./protocol.ts";

export interface RealtimeOptions {
  pool: pg.Pool;
  dbUrl: string;
  jwtSecret: string;
  /** Realtime's CONNECT_ERROR_BACKOFF_MS and CHANNEL_ERROR_BACKOFF_MS (2 s and 5 s). */
  connectErrorBackoffMs?: number;
  channelErrorBackoffMs?: number;
}

export interface RealtimeStandIn {
  /** Takes over an HTTP upgrade for /realtime/v1/websocket (`url` is the path after /realtime/v1). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: string): void;
  /** The REST API under /realtime/v1 (`path` is what follows it). */
  rest: SubHandler;
  /** Open sockets, for the bench. */
  socketCount(): number;
  close(): Promise<void>;
}

/** The tenant defaults Realtime applies (Realtime.Api.Tenant, config/runtime.exs). */
const MAX_PAYLOAD_BYTES = 3000 * 1000 + 500; // max_payload_size_in_kb 3000, plus its padding
const MAX_CHANNELS_PER_CLIENT = 100;
const CLIENT_PRESENCE_MAX_CALLS = 5;
const CLIENT_PRESENCE_WINDOW_MS = 30_000;
const CONFIRM_TOKEN_MS = 5 * 60 * 1000;
/** Phoenix's websocket timeout: a socket silent this long (no heartbeat) is closed. */
const SOCKET_TIMEOUT_MS = 60_000;
const MAX_FRAME_BYTES = 5_000_000;

type Json = Record<string, unknown>;

interface Connection {
  ws: WebSocket;
  vsn: Vsn;
  /** The API key the socket connected with: the token of a join that brings none. */
  tenantToken: string;
  headers: Record<string, string>;
  channels: Map<string, Channel>;
  /** Per topic, the chain that runs its messages in order (a Phoenix channel's mailbox). */
  queues: Map<string, Promise<void>>;
  lastSeen: number;
  closed: boolean;
}

interface PresenceEntry {
  channel: Channel;
  meta: Json;
}

class Channel implements ChannelHandle {
  open = true;
  policies: Policies | null = null;
  presencePayload: Json | null = null;
  presenceCalls = 0;
  presenceWindowEnd = 0;
  confirmTimer: NodeJS.Timeout | null = null;
  replayed = new Set<string>();
  bindings: PostgresChangesBinding[] = [];

  constructor(
    readonly key: string,
    readonly connection: Connection,
    readonly topic: string,
    readonly name: string,
    readonly joinRef: string | null,
    readonly isPrivate: boolean,
    readonly selfBroadcast: boolean,
    readonly ackBroadcast: boolean,
    public presenceEnabled: boolean,
    readonly presenceKey: string,
    public accessToken: string,
    public claims: Claims,
  ) {}

  get hubKey(): string {
    return `${this.isPrivate ? "private" : "public"}:${this.name}`;
  }

  push(event: string, payload: Json): void {
    if (!this.open) return;
    send(
      this.connection,
      encodeMessage(this.connection.vsn, {
        joinRef: null,
        ref: null,
        topic: this.topic,
        event,
        payload,
      }),
    );
  }

  authorizationContext(): AuthorizationContext {
    return { topic: this.name, claims: this.claims, headers: this.connection.headers };
  }
}

function send(connection: Connection, data: string | Buffer): void {
  if (connection.ws.readyState === connection.ws.OPEN) connection.ws.send(data);
}

/** Realtime's FlexibleBoolean: true, "true" (any case) or 1 … as true. */
function flexibleBoolean(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "string") return value.toLowerCase() === "true";
  return false;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A token's problem, as a join's error reason (realtime_channel.ex join/3's else branches). */
function joinTokenReason(check: Extract<TokenCheck, { ok: false }>): string {
  switch (check.problem) {
    case "expired":
    case "missing_claims":
      return `InvalidJWTToken: ${check.message}`;
    case "malformed":
      return `MalformedJWT: ${check.message}`;
    case "signature":
      return `JwtSignatureError: ${check.message}`;
    case "signer":
      return `JwtSignerError: ${check.message}`;
  }
}

/** A token's problem, as the system message that closes a joined channel (access_token, timer). */
function shutdownTokenMessage(check: Extract<TokenCheck, { ok: false }>): string {
  switch (check.problem) {
    case "expired":
    case "malformed":
    case "missing_claims":
      return check.message;
    // Realtime's catch-all branch prints the error term: inspect(:signature_error).
    case "signature":
      return ":signature_error";
    case "signer":
      return ":error_generating_signer";
  }
}

/** The size Realtime weighs a payload at (:erlang.external_size), approximated by its bytes. */
function payloadSize(payload: unknown): number {
  if (Buffer.isBuffer(payload)) return payload.length;
  return Buffer.byteLength(JSON.stringify(payload ?? null));
}

async function loadPostgresChanges(
  options: RealtimeOptions,
): Promise<PostgresChangesModule | null> {
  const file = new URL("./postgres-changes.ts", import.meta.url);
  if (!existsSync(file)) return null;
  try {
    const module = await import(file.href) as { createPostgresChanges?: CreatePostgresChanges };
    if (!module.createPostgresChanges) return null;
    return await module.createPostgresChanges({ pool: options.pool, dbUrl: options.dbUrl });
  } catch (error) {
    // Broadcast and presence go on without it; joins with bindings get a system error.
    console.error("realtime: postgres-changes.ts did not start:", error);
    return null;
  }
}

export async function createRealtime(options: RealtimeOptions): Promise<RealtimeStandIn> {
  const secret = new TextEncoder().encode(options.jwtSecret);
  const pool = options.pool;
  const connectBackoff = options.connectErrorBackoffMs ?? 2000;
  const channelBackoff = options.channelErrorBackoffMs ?? 5000;
  const connections = new Set<Connection>();
  /** Subscribers by topic: `public:<name>` and `private:<name>` are different topics. */
  const hub = new Map<string, Set<Channel>>();
  /** Presence by topic, then presence key: each entry one tracking channel's meta. */
  const presence = new Map<string, Map<string, PresenceEntry[]>>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  const postgresChanges = await loadPostgresChanges(options);
  let channelSerial = 0;

  await maintainPartitions(pool);
  const janitor = setInterval(() => {
    maintainPartitions(pool).catch((error) => console.error("realtime: partitions:", error));
  }, 60 * 60 * 1000);
  janitor.unref();

  const stream: MessageStream = streamMessages(options.dbUrl, (row) => {
    const body = row.binaryPayload ?? Buffer.from(row.payload ?? "null", "utf8");
    if (body.length > MAX_PAYLOAD_BYTES) return;
    publish(
      `${row.private ? "private" : "public"}:${row.topic}`,
      {
        kind: "user",
        event: row.event,
        json: row.binaryPayload === null,
        body,
        meta: { id: row.id },
      },
      null,
      row.id,
    );
  }, (error) => {
    if (!/terminat|ECONNREFUSED|does not exist/i.test(error.message)) {
      console.error("realtime: reading realtime.messages:", error.message);
    }
  });

  const sweeper = setInterval(() => {
    const deadline = Date.now() - SOCKET_TIMEOUT_MS;
    for (const connection of connections) {
      if (connection.lastSeen < deadline) connection.ws.terminate();
    }
  }, 5000);
  sweeper.unref();

  // --- delivery ----------------------------------------------------------------------------

  function publish(hubKey: string, broadcast: Broadcast, from: Channel | null, id: string | null) {
    const subscribers = hub.get(hubKey);
    if (!subscribers) return;
    const encoded = new Map<string, string | Buffer | null>();
    for (const channel of subscribers) {
      if (channel === from || !channel.open) continue;
      if (channel.isPrivate && channel.policies?.broadcast.read !== true) continue;
      if (id !== null && channel.replayed.has(id)) continue;
      const cacheKey = `${channel.connection.vsn} ${channel.topic}`;
      let frame = encoded.get(cacheKey);
      if (frame === undefined) {
        frame = encodeBroadcast(channel.connection.vsn, channel.topic, broadcast);
        encoded.set(cacheKey, frame);
      }
      if (frame !== null) send(channel.connection, frame);
    }
  }

  function presenceReaders(hubKey: string): Channel[] {
    return [...(hub.get(hubKey) ?? [])].filter((channel) =>
      channel.open && (!channel.isPrivate || channel.policies?.presence.read === true)
    );
  }

  function presenceState(hubKey: string): Json {
    const state: Json = {};
    for (const [key, entries] of presence.get(hubKey) ?? []) {
      state[key] = { metas: entries.map((entry) => entry.meta) };
    }
    return state;
  }

  function presenceDiff(hubKey: string, joins: Json, leaves: Json): void {
    for (const channel of presenceReaders(hubKey)) {
      channel.push("presence_diff", { joins, leaves });
    }
  }

  function track(channel: Channel, payload: Json): void {
    const topicPresence = presence.get(channel.hubKey) ?? new Map<string, PresenceEntry[]>();
    presence.set(channel.hubKey, topicPresence);
    const entries = topicPresence.get(channel.presenceKey) ?? [];
    topicPresence.set(channel.presenceKey, entries);
    const phxRef = randomBytes(12).toString("base64");
    const existing = entries.find((entry) => entry.channel === channel);
    if (existing) {
      // Presence.update: the new meta names the one it replaces.
      const previous = existing.meta;
      existing.meta = { ...payload, phx_ref: phxRef, phx_ref_prev: previous.phx_ref };
      presenceDiff(
        channel.hubKey,
        { [channel.presenceKey]: { metas: [existing.meta] } },
        { [channel.presenceKey]: { metas: [previous] } },
      );
    } else {
      const meta = { ...payload, phx_ref: phxRef };
      entries.push({ channel, meta });
      presenceDiff(channel.hubKey, { [channel.presenceKey]: { metas: [meta] } }, {});
    }
    channel.presencePayload = payload;
  }

  function untrack(channel: Channel): void {
    const topicPresence = presence.get(channel.hubKey);
    const entries = topicPresence?.get(channel.presenceKey);
    const index = entries?.findIndex((entry) => entry.channel === channel) ?? -1;
    channel.presencePayload = null;
    if (!topicPresence || !entries || index < 0) return;
    const [removed] = entries.splice(index, 1);
    if (entries.length === 0) topicPresence.delete(channel.presenceKey);
    if (topicPresence.size === 0) presence.delete(channel.hubKey);
    presenceDiff(channel.hubKey, {}, { [channel.presenceKey]: { metas: [removed.meta] } });
  }

  // --- channel lifetime --------------------------------------------------------------------

  /** Ends a channel; `notify` tells the client how: phx_close, or phx_error for a crash. */
  function closeChannel(channel: Channel, notify: "phx_close" | "phx_error" | null): void {
    if (!channel.open) return;
    channel.open = false;
    if (channel.confirmTimer) clearTimeout(channel.confirmTimer);
    const connection = channel.connection;
    if (connection.channels.get(channel.topic) === channel) {
      connection.channels.delete(channel.topic);
    }
    hub.get(channel.hubKey)?.delete(channel);
    if (hub.get(channel.hubKey)?.size === 0) hub.delete(channel.hubKey);
    untrack(channel);
    if (channel.bindings.length > 0 && postgresChanges) {
      postgresChanges.unsubscribe(channel.key).catch((error) =>
        console.error("realtime: postgres_changes unsubscribe:", error)
      );
    }
    if (notify) {
      send(
        connection,
        encodeMessage(connection.vsn, {
          joinRef: channel.joinRef,
          ref: channel.joinRef,
          topic: channel.topic,
          event: notify,
          payload: {},
        }),
      );
    }
  }

  /** Realtime's shutdown_response: a `system` error naming why, then the channel closes. */
  function shutdown(channel: Channel, message: string): void {
    channel.push("system", {
      extension: "system",
      status: "error",
      message,
      channel: channel.name,
    });
    closeChannel(channel, "phx_close");
  }

  function scheduleTokenCheck(channel: Channel): void {
    if (channel.confirmTimer) clearTimeout(channel.confirmTimer);
    const remaining = Number(channel.claims.exp) * 1000 - Date.now();
    channel.confirmTimer = setTimeout(() => {
      enqueue(channel.connection, channel.topic, async () => {
        if (!channel.open) return;
        const check = await verifyToken(channel.accessToken, secret);
        if (check.ok) {
          channel.claims = check.claims;
          scheduleTokenCheck(channel);
        } else shutdown(channel, shutdownTokenMessage(check));
      });
    }, Math.max(0, Math.min(CONFIRM_TOKEN_MS, remaining)));
    channel.confirmTimer.unref();
  }

  function enqueue(connection: Connection, topic: string, work: () => Promise<void>): void {
    const previous = connection.queues.get(topic) ?? Promise.resolve();
    const next = previous.then(work).catch((error) => {
      console.error("realtime:", error);
    });
    connection.queues.set(topic, next);
    void next.then(() => {
      if (connection.queues.get(topic) === next) connection.queues.delete(topic);
    });
  }

  // --- messages from clients ---------------------------------------------------------------

  function reply(
    connection: Connection,
    frame: Pick<Frame, "joinRef" | "ref" | "topic">,
    status: "ok" | "error",
    response: unknown,
  ): void {
    send(
      connection,
      encodeReply(connection.vsn, frame.joinRef, frame.ref, frame.topic, status, response),
    );
  }

  async function join(connection: Connection, frame: Frame): Promise<void> {
    const fail = async (reason: string) => {
      await sleep(channelBackoff);
      reply(connection, frame, "error", { reason });
    };
    const existing = connection.channels.get(frame.topic);
    // Phoenix: a second join of a joined topic closes the first channel.
    if (existing) closeChannel(existing, "phx_close");
    if (frame.topic === "realtime:") {
      return await fail("TopicNameRequired: You must provide a topic name");
    }
    const name = frame.topic.slice("realtime:".length);
    if (connection.channels.size >= MAX_CHANNELS_PER_CLIENT) {
      return await fail("ChannelRateLimitReached: Too many channels");
    }
    const params = isObject(frame.payload) ? frame.payload : {};
    const config = isObject(params.config) ? params.config : {};
    const broadcastConfig = isObject(config.broadcast) ? config.broadcast : {};
    const presenceConfig = isObject(config.presence) ? config.presence : {};
    const isPrivate = flexibleBoolean(config.private);
    const presenceEnabled = flexibleBoolean(presenceConfig.enabled);
    const presenceKey = typeof presenceConfig.key === "string" && presenceConfig.key !== ""
      ? presenceConfig.key
      : randomUUID();
    const offered = params.access_token ?? params.user_token;
    const accessToken = typeof offered === "string" && !offered.startsWith("sb_")
      ? offered
      : connection.tenantToken;

    const check = await verifyToken(accessToken, secret);
    if (!check.ok) return await fail(joinTokenReason(check));

    const channel = new Channel(
      `${++channelSerial}`,
      connection,
      frame.topic,
      name,
      frame.joinRef,
      isPrivate,
      flexibleBoolean(broadcastConfig.self),
      flexibleBoolean(broadcastConfig.ack),
      presenceEnabled,
      presenceKey,
      accessToken,
      check.claims,
    );
    const unauthorized =
      `Unauthorized: You do not have permissions to read from this Channel topic: ${name}`;
    if (isPrivate) {
      try {
        channel.policies = await readAuthorizations(
          pool,
          channel.authorizationContext(),
          emptyPolicies(),
          presenceEnabled ? ["broadcast", "presence"] : ["broadcast"],
        );
      } catch {
        return await fail(unauthorized);
      }
      if (!channel.policies.broadcast.read && !channel.policies.presence.read) {
        return await fail(unauthorized);
      }
    }

    const replay = isObject(broadcastConfig.replay) ? broadcastConfig.replay : null;
    let replayed: Awaited<ReturnType<typeof replayMessages>> = [];
    if (replay) {
      if (isPrivate && channel.policies?.broadcast.read === false) return await fail(unauthorized);
      if (!isPrivate) {
        return await fail("UnableToReplayMessages: Replay is not allowed for public channels");
      }
      const since = replay.since;
      const limit = replay.limit ?? 25;
      if (!Number.isInteger(since) || !Number.isInteger(limit)) {
        return await fail("UnableToReplayMessages: Replay params are not valid");
      }
      try {
        replayed = await replayMessages(pool, name, since as number, limit as number);
      } catch {
        return await fail("UnableToReplayMessages: Realtime was unable to replay messages");
      }
      for (const message of replayed) channel.replayed.add(message.id);
    }

    const rawBindings = Array.isArray(config.postgres_changes)
      ? config.postgres_changes.filter((binding): binding is Json => isObject(binding))
      : [];
    channel.bindings = rawBindings.map((binding) =>
      ({ ...binding, id: bindingId(binding) }) as PostgresChangesBinding
    );

    // The socket may have closed while the join waited on the database.
    if (connection.closed) return;
    connection.channels.set(frame.topic, channel);
    const subscribers = hub.get(channel.hubKey) ?? new Set<Channel>();
    subscribers.add(channel);
    hub.set(channel.hubKey, subscribers);
    reply(connection, frame, "ok", { postgres_changes: channel.bindings });
    scheduleTokenCheck(channel);

    for (const message of replayed) {
      const meta = { replayed: true, id: message.id };
      if (message.binaryPayload) {
        const frameData = encodeBroadcast(connection.vsn, channel.topic, {
          kind: "user",
          event: message.event,
          json: false,
          body: message.binaryPayload,
          meta,
        });
        if (frameData !== null) send(connection, frameData);
      } else {
        channel.push("broadcast", {
          payload: message.payload,
          event: message.event,
          type: "broadcast",
          meta,
        });
      }
    }
    if (presenceEnabled && (!isPrivate || channel.policies?.presence.read)) {
      channel.push("presence_state", presenceState(channel.hubKey));
    }
    if (channel.bindings.length > 0) subscribePostgresChanges(channel);
  }

  function subscribePostgresChanges(channel: Channel): void {
    const system = (status: "ok" | "error", message: string) =>
      channel.push("system", {
        extension: "postgres_changes",
        status,
        message,
        channel: channel.name,
      });
    if (!postgresChanges) {
      system("error", "postgres_changes is not served by the local stack's Realtime stand-in yet");
      return;
    }
    postgresChanges.subscribe(channel, channel.bindings, channel.claims).then((result) => {
      if (result.ok) system("ok", "Subscribed to PostgreSQL");
      else system("error", result.message);
    }, (error) => system("error", String((error as Error).message ?? error)));
  }

  async function broadcastIn(
    channel: Channel,
    frame: Frame,
    user: UserBroadcastPush | null,
  ): Promise<void> {
    if (channel.isPrivate) {
      let policies = channel.policies ?? emptyPolicies();
      if (policies.broadcast.write === null) {
        try {
          policies = await writeAuthorizations(pool, channel.authorizationContext(), policies, [
            "broadcast",
            "presence",
          ]);
        } catch {
          return; // RlsPolicyError: logged by Realtime, nothing sent back
        }
        channel.policies = policies;
      }
      // Denied sends are dropped without a reply, ack or not.
      if (!policies.broadcast.write) return;
    }
    const size = user
      ? user.body.length + Buffer.byteLength(user.event)
      : payloadSize(frame.payload);
    const tooLarge = size > MAX_PAYLOAD_BYTES;
    if (!tooLarge) {
      const broadcast: Broadcast = user
        ? {
          kind: "user",
          event: user.event,
          json: user.json,
          body: Buffer.from(user.body),
          meta: null,
        }
        : { kind: "json", payload: isObject(frame.payload) ? frame.payload : {} };
      publish(channel.hubKey, broadcast, channel.selfBroadcast ? null : channel, null);
    }
    if (channel.ackBroadcast) {
      if (tooLarge) reply(channel.connection, frame, "error", "payload_size_exceeded");
      else reply(channel.connection, frame, "ok", {});
    }
  }

  async function presenceIn(channel: Channel, frame: Frame): Promise<void> {
    const connection = channel.connection;
    const payload = isObject(frame.payload) ? frame.payload : null;
    if (!payload || typeof payload.event !== "string") return reply(connection, frame, "ok", {});
    // The per-client limit: CLIENT_PRESENCE_MAX_CALLS calls in a window from the first.
    const now = Date.now();
    if (now > channel.presenceWindowEnd) {
      channel.presenceCalls = 1;
      channel.presenceWindowEnd = now + CLIENT_PRESENCE_WINDOW_MS;
    } else if (channel.presenceCalls >= CLIENT_PRESENCE_MAX_CALLS) {
      return shutdown(channel, "Client presence rate limit exceeded");
    } else channel.presenceCalls++;

    const event = payload.event.toLowerCase();
    if (event === "untrack") {
      untrack(channel);
      return reply(connection, frame, "ok", {});
    }
    if (event !== "track") return reply(connection, frame, "error", {});
    if (channel.isPrivate && (channel.policies?.presence.write ?? null) === null) {
      try {
        let policies = channel.policies ?? emptyPolicies();
        if (policies.presence.read === null) {
          policies = await readAuthorizations(pool, channel.authorizationContext(), policies, [
            "broadcast",
            "presence",
          ]);
        }
        channel.policies = await writeAuthorizations(
          pool,
          channel.authorizationContext(),
          policies,
          ["broadcast", "presence"],
        );
      } catch {
        return reply(connection, frame, "error", {});
      }
    }
    if (channel.isPrivate && !channel.policies?.presence.write) {
      return reply(connection, frame, "error", {});
    }
    const trackPayload = payload.payload === undefined ? {} : payload.payload;
    if (!isObject(trackPayload)) {
      return reply(connection, frame, "error", { reason: "Presence track payload must be a map" });
    }
    if (
      channel.presencePayload &&
      JSON.stringify(channel.presencePayload) === JSON.stringify(trackPayload)
    ) return reply(connection, frame, "ok", {});
    if (payloadSize(trackPayload) > MAX_PAYLOAD_BYTES) {
      return shutdown(channel, "Track message size exceeded");
    }
    channel.presenceEnabled = true;
    track(channel, trackPayload);
    reply(connection, frame, "ok", {});
  }

  async function accessTokenIn(channel: Channel, frame: Frame): Promise<void> {
    const payload = isObject(frame.payload) ? frame.payload : {};
    const token = payload.access_token;
    if (typeof token !== "string" || token.startsWith("sb_") || token === channel.accessToken) {
      return;
    }
    // The previous policies keep deciding delivery until the new ones are known, as
    // Realtime's fastlane keeps its metadata until the channel has re-checked them.
    const previous = channel.policies;
    channel.accessToken = token;
    const check = await verifyToken(token, secret);
    if (!check.ok) return shutdown(channel, shutdownTokenMessage(check));
    channel.claims = check.claims;
    if (channel.isPrivate) {
      let policies: Policies;
      try {
        policies = await readAuthorizations(
          pool,
          channel.authorizationContext(),
          emptyPolicies(),
          channel.presenceEnabled ? ["broadcast", "presence"] : ["broadcast"],
        );
      } catch {
        return shutdown(
          channel,
          `You do not have permissions to read from this Channel topic: ${channel.name}`,
        );
      }
      channel.policies = policies;
      if (!policies.broadcast.read && !policies.presence.read) {
        return shutdown(
          channel,
          `You do not have permissions to read from this Channel topic: ${channel.name}`,
        );
      }
      const revoked = (before: boolean | null | undefined, after: boolean | null) =>
        before === true && after === false;
      if (
        previous &&
        (revoked(previous.broadcast.read, policies.broadcast.read) ||
          revoked(previous.presence.read, policies.presence.read))
      ) {
        return shutdown(
          channel,
          `You no longer have permission to read from this Channel topic: ${channel.name}`,
        );
      }
    }
    scheduleTokenCheck(channel);
    if (channel.bindings.length > 0 && postgresChanges) {
      await postgresChanges.updateClaims(channel.key, channel.claims);
    }
  }

  function onFrame(connection: Connection, frame: Frame, user: UserBroadcastPush | null): void {
    if (frame.topic === "phoenix" && frame.event === "heartbeat") {
      return reply(connection, frame, "ok", {});
    }
    if (frame.event === "phx_join") {
      if (typeof frame.topic !== "string" || !frame.topic.startsWith("realtime:")) {
        return reply(connection, frame, "error", { reason: "unmatched topic" });
      }
      return enqueue(connection, frame.topic, async () => {
        try {
          await join(connection, frame);
        } catch (error) {
          // Realtime's join/3 rescue: the exception's message as an UnknownErrorOnChannel.
          console.error("realtime: join:", error);
          await sleep(channelBackoff);
          reply(connection, frame, "error", {
            reason: `UnknownErrorOnChannel: ${(error as Error).message}`,
          });
        }
      });
    }
    enqueue(connection, frame.topic, async () => {
      const channel = connection.channels.get(frame.topic);
      if (!channel || !channel.open) {
        return reply(connection, frame, "error", { reason: "unmatched topic" });
      }
      try {
        switch (frame.event) {
          case "phx_leave":
            reply(connection, frame, "ok", {});
            return closeChannel(channel, "phx_close");
          case "broadcast":
            return await broadcastIn(channel, frame, user);
          case "presence":
            return await presenceIn(channel, frame);
          case "access_token":
            return await accessTokenIn(channel, frame);
          default:
            return; // Realtime logs and ignores anything else
        }
      } catch (error) {
        // A Phoenix channel that crashes is gone, and its client is sent phx_error (it rejoins).
        console.error("realtime:", error);
        closeChannel(channel, "phx_error");
      }
    });
  }

  // --- the socket --------------------------------------------------------------------------

  /** Answers an upgrade with an HTTP error: a JSON body, or none (`null`). */
  function refuse(socket: Duplex, status: number, body: unknown): void {
    const text = body === null ? "" : JSON.stringify(body);
    const reason = { 401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error" }[
      status as 401 | 403 | 500
    ] ?? "Error";
    const type = body === null ? "" : "content-type: application/json; charset=utf-8\r\n";
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n${type}` +
        `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
    );
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: string): void {
    const query = new URLSearchParams(url.includes("?") ? url.slice(url.indexOf("?") + 1) : "");
    const vsnParam = query.get("vsn") ?? "1.0.0";
    const vsn: Vsn | null = /^1\.0\.\d+$/.test(vsnParam)
      ? "1.0.0"
      : /^2\.0\.\d+$/.test(vsnParam)
      ? "2.0.0"
      : null;
    socket.on("error", () => {});
    // Phoenix: no serializer for the requested vsn is a bare 403, before the socket's connect.
    if (vsn === null) return refuse(socket, 403, null);
    const headerKey = req.headers["x-api-key"];
    const token = typeof headerKey === "string" ? headerKey : query.get("apikey");
    void (async () => {
      let problem: [number, string] | null = null;
      if (!token) problem = [401, "API key is missing"];
      else {
        const check = await verifyToken(token, secret);
        if (!check.ok) {
          problem = check.problem === "expired" ? [401, "Token has expired"] : [401, check.message];
        }
      }
      if (problem) {
        await sleep(connectBackoff);
        return refuse(socket, problem[0], { error: problem[1] });
      }
      wss.handleUpgrade(req, socket, head, (ws) => accept(ws, vsn, token!, req));
    })().catch((error) => {
      console.error("realtime: upgrade:", error);
      refuse(socket, 500, { error: "Error connecting to Realtime" });
    });
  }

  function accept(ws: WebSocket, vsn: Vsn, token: string, req: IncomingMessage): void {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (name.startsWith("x-") && typeof value === "string") headers[name] = value;
    }
    const connection: Connection = {
      ws,
      vsn,
      tenantToken: token,
      headers,
      channels: new Map(),
      queues: new Map(),
      lastSeen: Date.now(),
      closed: false,
    };
    connections.add(connection);
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      connection.lastSeen = Date.now();
      try {
        if (isBinary) {
          if (vsn === "1.0.0") throw new ProtocolError("binary frame on a 1.0.0 socket");
          const user = decodeBinary(data);
          if (!user) return;
          onFrame(connection, {
            joinRef: user.joinRef,
            ref: user.ref,
            topic: user.topic,
            event: "broadcast",
            payload: null,
          }, user);
        } else onFrame(connection, decodeText(vsn, data.toString("utf8")), null);
      } catch (error) {
        if (!(error instanceof ProtocolError)) console.error("realtime:", error);
        ws.close(1011);
      }
    });
    ws.on("close", () => {
      connection.closed = true;
      connections.delete(connection);
      for (const channel of [...connection.channels.values()]) closeChannel(channel, null);
    });
    ws.on("error", () => {});
  }

  // --- REST ---------------------------------------------------------------------------------

  async function restClaims(req: IncomingMessage): Promise<Claims | null> {
    const authorization = req.headers.authorization;
    let token: string | null = null;
    if (authorization) {
      const [scheme, value] = authorization.split(" ");
      if (scheme?.toLowerCase() === "bearer" && value) token = value;
    }
    token ??= typeof req.headers.apikey === "string" ? req.headers.apikey : null;
    if (!token) return null;
    const check = await verifyToken(token, secret);
    return check.ok ? check.claims : null;
  }

  function requestHeaders(req: IncomingMessage): Record<string, string> {
    return Object.fromEntries(
      Object.entries(req.headers).filter((entry): entry is [string, string] =>
        typeof entry[1] === "string"
      ),
    );
  }

  async function mayWrite(req: IncomingMessage, claims: Claims, topic: string): Promise<boolean> {
    const policies = await writeAuthorizations(
      pool,
      { topic, claims, headers: requestHeaders(req) },
      emptyPolicies(),
      ["broadcast", "presence"] as Extension[],
    );
    return policies.broadcast.write === true;
  }

  // A body that is not JSON is Plug's ParseError, which Phoenix renders as its 400 template:
  // RealtimeWeb.ErrorView has none, so the answer is the status message as a JSON string.

  /** POST /api/broadcast: Realtime.Tenants.BatchBroadcast. */
  async function batchBroadcast(req: IncomingMessage, res: ServerResponse, claims: Claims) {
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req, MAX_FRAME_BYTES)).toString("utf8") || "{}");
    } catch {
      return sendJson(res, 400, "Bad Request");
    }
    const messages = isObject(body) ? body.messages : undefined;
    if (!Array.isArray(messages) || messages.length === 0) {
      return sendJson(res, 422, { errors: { messages: ["can't be blank"] } });
    }
    let invalid = false;
    const errors = messages.map((message) => {
      const problems: Record<string, string[]> = {};
      if (!isObject(message)) return { messages: ["is invalid"] };
      for (const field of ["topic", "event"]) {
        if (message[field] === undefined || message[field] === null || message[field] === "") {
          problems[field] = ["can't be blank"];
        } else if (typeof message[field] !== "string") problems[field] = ["is invalid"];
      }
      if (message.payload === undefined || message.payload === null) {
        problems.payload = ["can't be blank"];
      } else if (!isObject(message.payload)) problems.payload = ["is invalid"];
      else if (payloadSize(message.payload) > MAX_PAYLOAD_BYTES) {
        problems.payload = ["Payload size exceeds tenant limit"];
      }
      if (Object.keys(problems).length > 0) invalid = true;
      return problems;
    });
    if (invalid) return sendJson(res, 422, { errors: { messages: errors } });
    const byTopic = new Map<string, Json[]>();
    for (const message of messages as Json[]) {
      const send = (isPrivate: boolean) =>
        publish(
          `${isPrivate ? "private" : "public"}:${message.topic}`,
          {
            kind: "json",
            payload: {
              payload: message.payload,
              event: message.event,
              type: "broadcast",
              ...(message.id === undefined || message.id === null
                ? {}
                : { meta: { id: message.id } }),
            },
          },
          null,
          typeof message.id === "string" ? message.id : null,
        );
      if (!flexibleBoolean(message.private)) send(false);
      else {
        const list = byTopic.get(message.topic as string) ?? [];
        list.push({ ...message, send } as Json);
        byTopic.set(message.topic as string, list);
      }
    }
    // Private messages: one write check per topic; a refused topic's messages are dropped.
    for (const [topic, list] of byTopic) {
      let allowed = false;
      try {
        allowed = await mayWrite(req, claims, topic);
      } catch {
        allowed = false;
      }
      if (allowed) { for (const message of list) (message.send as (p: boolean) => void)(true); }
    }
    res.writeHead(202, { "content-length": 0 });
    res.end();
  }

  /** POST /api/broadcast/:topic/events/:event: Realtime.Tenants.SingleBroadcast. */
  async function singleBroadcast(
    req: IncomingMessage,
    res: ServerResponse,
    claims: Claims,
    topic: string,
    event: string,
    query: URLSearchParams,
  ) {
    const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    const raw = await readBody(req, MAX_FRAME_BYTES);
    let broadcast: Broadcast;
    if (type === "application/octet-stream") {
      if (raw.length + 100 > MAX_PAYLOAD_BYTES) {
        return sendJson(res, 422, { errors: { payload: ["Payload size exceeds tenant limit"] } });
      }
      broadcast = { kind: "user", event, json: false, body: raw, meta: null };
    } else {
      // Realtime's Plug.Parsers: JSON (a body that is not an object under "_json"), form
      // fields, and every other type passed through unparsed, i.e. an empty payload.
      let payload: unknown = {};
      if (type === "application/json" || type.endsWith("+json")) {
        try {
          payload = raw.length === 0 ? {} : JSON.parse(raw.toString("utf8"));
        } catch {
          return sendJson(res, 400, "Bad Request");
        }
        if (!isObject(payload)) payload = { _json: payload };
      } else if (type === "application/x-www-form-urlencoded") {
        payload = Object.fromEntries(new URLSearchParams(raw.toString("utf8")));
      }
      if (payloadSize(payload) > MAX_PAYLOAD_BYTES) {
        return sendJson(res, 422, { errors: { payload: ["Payload size exceeds tenant limit"] } });
      }
      broadcast = {
        kind: "user",
        event,
        json: true,
        body: Buffer.from(JSON.stringify(payload), "utf8"),
        meta: null,
      };
    }
    const isPrivate = flexibleBoolean(query.get("private"));
    if (isPrivate) {
      let allowed: boolean;
      try {
        allowed = await mayWrite(req, claims, topic);
      } catch {
        return sendJson(res, 422, { message: "RLS policy error" });
      }
      if (!allowed) return sendJson(res, 403, { message: "Unauthorized" });
    }
    publish(`${isPrivate ? "private" : "public"}:${topic}`, broadcast, null, null);
    res.writeHead(202, { "content-length": 0 });
    res.end();
  }

  const rest: SubHandler = async (req, res, path) => {
    const url = new URL(path, "http://realtime.local");
    const single = /^\/api\/broadcast\/([^/]+)\/events\/([^/]+)\/?$/.exec(url.pathname);
    const batch = /^\/api\/broadcast\/?$/.test(url.pathname);
    if ((!single && !batch) || req.method !== "POST") {
      return sendJson(res, 404, { message: "not found" });
    }
    const claims = await restClaims(req);
    if (!claims) return sendJson(res, 401, { message: "Unauthorized" });
    if (batch) return await batchBroadcast(req, res, claims);
    return await singleBroadcast(
      req,
      res,
      claims,
      decodeURIComponent(single![1]),
      decodeURIComponent(single![2]),
      url.searchParams,
    );
  };

  return {
    upgrade,
    rest,
    socketCount: () => connections.size,
    async close() {
      clearInterval(janitor);
      clearInterval(sweeper);
      for (const connection of connections) connection.ws.terminate();
      wss.close();
      await stream.close();
      await postgresChanges?.close().catch((error) =>
        console.error("realtime: postgres-changes.ts close:", error)
      );
    },
  };
}
