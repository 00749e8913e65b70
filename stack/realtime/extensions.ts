// How the Realtime stand-in (stack/realtime/server.ts) hands Postgres Changes to its module
// (stack/realtime/postgres-changes.ts), and what that module may do back. The server owns the
// socket, the Phoenix protocol, tokens and the channel's lifetime; the module owns WAL decoding,
// realtime.subscription-like state and per-subscriber RLS.
//
// The sequence, as Supabase Realtime runs it (lib/realtime_web/channels/realtime_channel.ex):
//   1. phx_join with config.postgres_changes: the server verifies the token, computes one
//      numeric id per binding (the client's binding object, hashed: `bindingId`), and answers
//      the join at once with the bindings echoed in the client's order plus `id`.
//   2. Right after the reply it calls `subscribe(channel, bindings, claims)`. The module
//      resolves with `{ ok: true }` once it will deliver changes, or `{ ok: false, message }`;
//      the server pushes the `system` message either way ({extension: "postgres_changes",
//      status: "ok", message: "Subscribed to PostgreSQL", channel} or status "error" with the
//      message). An error does not close the channel (Realtime does not either).
//   3. A change is pushed with `channel.push("postgres_changes", { ids, data })`: `ids` are the
//      ids (from `bindings[i].id`) of this channel's bindings that match, `data` the record as
//      Realtime builds it (schema, table, commit_timestamp, type, columns, record, old_record,
//      errors). The server serializes for the socket's protocol version.
//   4. An `access_token` message with a new valid token calls `updateClaims(channel.key, claims)`
//      (Realtime re-subscribes with the new claims; the module pushes the `system` message of
//      that re-subscription itself, as the server does for the first); a token that expires or
//      is refused closes the channel, which calls `unsubscribe`.
//   5. phx_leave, a closed channel or a closed socket call `unsubscribe(channel.key)` once.
//
// Topics and authorization, for code that builds on the server (messaging): a channel
// `supabase.channel(name, { config: { private: true } })` joins topic `realtime:<name>`;
// `realtime.topic()` is `<name>` while the policies on realtime.messages run, with the
// caller's role (`role`), `request.jwt.claims`, `request.jwt.claim.sub` and `.role` and
// `request.headers` set as Realtime sets them (readAuthorizations and writeAuthorizations in
// stack/realtime/authorization.ts), so `auth.uid()` and `auth.jwt()` work in policies. SELECT
// policies (extension 'broadcast' or 'presence') decide joining and receiving, INSERT policies
// sending and tracking presence; a refused send is dropped without an answer. Messages sent
// from the database with realtime.send(payload, event, <name>, true) reach private
// subscribers of <name>; postgres_changes bindings are authorized by the tables' own RLS,
// never by realtime.messages.

import type pg from "pg";

/** JWT claims as verified by the server; `role` and `exp` are always present. */
export type Claims = Record<string, unknown> & { role: string; exp: number };

/** A `postgres_changes` binding as the client sent it in the join's config, plus its id. */
export interface PostgresChangesBinding {
  /** `*`, `INSERT`, `UPDATE` or `DELETE`. */
  event: string;
  schema: string;
  table?: string;
  filter?: string;
  /** The id the join reply gave this binding; changes name it in `ids`. */
  id: number;
  /** Anything else the client sent in the binding object, untouched. */
  [key: string]: unknown;
}

/** One joined channel on one socket, as the module sees it. */
export interface ChannelHandle {
  /** Unique per join (socket and join_ref): the key for updateClaims and unsubscribe. */
  readonly key: string;
  /** The full topic, `realtime:<name>`. */
  readonly topic: string;
  /** Pushes a server message to this channel's subscriber; a no-op once the channel closed. */
  push(event: string, payload: Record<string, unknown>): void;
  /** Whether the channel is still joined. */
  readonly open: boolean;
}

export type SubscribeResult = { ok: true } | { ok: false; message: string };

export interface PostgresChangesModule {
  subscribe(
    channel: ChannelHandle,
    bindings: PostgresChangesBinding[],
    claims: Claims,
  ): Promise<SubscribeResult>;
  updateClaims(key: string, claims: Claims): Promise<void>;
  unsubscribe(key: string): Promise<void>;
  /** Stops the module's work (replication, timers, connections): the stack is stopping. */
  close(): Promise<void>;
}

export interface PostgresChangesOptions {
  /** The stack's pool (superuser). */
  pool: pg.Pool;
  /** The database URL, for a dedicated replication or polling connection. */
  dbUrl: string;
}

/** What stack/realtime/postgres-changes.ts exports. */
export type CreatePostgresChanges = (
  options: PostgresChangesOptions,
) => Promise<PostgresChangesModule>;

/**
 * The id of a binding: Realtime uses `:erlang.phash2(params)`, a 27-bit hash of the client's
 * binding object; the client only compares it with what later messages carry, so any stable
 * non-negative integer of the same range will do. FNV-1a over the object's JSON with its keys
 * sorted, reduced to 27 bits.
 */
export function bindingId(binding: Record<string, unknown>): number {
  const canonical = JSON.stringify(
    Object.fromEntries(Object.entries(binding).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(canonical, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash & 0x7ffffff;
}
