// Postgres Changes for the Realtime stand-in, as Supabase Realtime's postgres_cdc_rls extension
// does them: each binding of a joined channel becomes rows of realtime.subscription (one per
// table of the supabase_realtime publication it matches, with the subscriber's claims), and one
// poller drains a temporary wal2json slot through realtime.list_changes, which runs
// realtime.apply_rls per change (sql/baseline/41_realtime_postgres_changes.sql): committed
// changes only, in commit order, each delivered to the subscriptions whose filters match and
// whose role and policies show them the row. Differences from Realtime: one node; the poller
// looks for tables in the publication every second (Realtime every 60 s) and `subscribe`
// waits for the slot before it answers, so a change committed after "Subscribed to PostgreSQL"
// is never missed; no retry of failed subscriptions; no rate limits.

import pg from "pg";
import type {
  ChannelHandle,
  Claims,
  CreatePostgresChanges,
  PostgresChangesBinding,
  PostgresChangesModule,
  SubscribeResult,
} from "./extensions.ts";
import {
  exceptionMessage,
  notEnabledMessage,
  parseSubscriptionParams,
  postgrexMessage,
  type SubscriptionParams,
} from "./postgres-changes-params.ts";

const PUBLICATION = "supabase_realtime";
const SLOT = "supabase_realtime_replication_slot";
/** Realtime's defaults: poll_interval_ms, poll_max_changes, poll_max_record_bytes. */
const POLL_INTERVAL_MS = 100;
const IDLE_MULTIPLIER = 5;
const MAX_CHANGES = 100;
const MAX_RECORD_BYTES = 1024 * 1024;
const CHECK_PUBLICATION_MS = 1000;

/** SQLSTATEs of a connection the server ended or a database that is gone. */
const CONNECTION_LOST = ["57P01", "57P02", "57P03", "3D000"];

class MissingBaseline extends Error {
  constructor() {
    super(
      "the database has no realtime.list_changes (sql/baseline/41_realtime_postgres_changes.sql): it predates Postgres Changes; `npm run db:reset` rebuilds it",
    );
  }
}

/** Realtime's system message when it cannot reach the database to subscribe (an inspected tuple). */
const DATABASE_UNAVAILABLE = '{:error, "Too many database timeouts"}';

type Written = { ok: true } | { ok: false; message: string; retry?: boolean };

interface Subscriber {
  channel: ChannelHandle;
  claims: Claims;
  /** In the client's order: the binding's id, its realtime.subscription id and its params. */
  bindings: { id: number; subscriptionId: string; params: SubscriptionParams | null }[];
  parseError: string | null;
}

const INSERT_SUBSCRIPTION = `
  with sub_tables as (
    select pg_catalog.format('%I.%I', pub.schemaname, pub.tablename)::regclass as entity
    from pg_catalog.pg_publication_tables pub
    where pub.pubname = $1
      and pub.schemaname like (case $2 when '*' then '%' else $2 end) escape ''
      and pub.tablename like (case $3 when '*' then '%' else $3 end) escape ''
  )
  insert into realtime.subscription as x
    (subscription_id, entity, filters, claims, action_filter, selected_columns)
  select
    $4::text::uuid,
    sub_tables.entity,
    (select coalesce(
        pg_catalog.array_agg(row(c, o::realtime.equality_op, v, n)::realtime.user_defined_filter),
        '{}'::realtime.user_defined_filter[])
      from unnest($6::text[], $7::text[], $8::text[], $9::boolean[]) as f(c, o, v, n)),
    $5,
    $10,
    $11
  from sub_tables
  on conflict (subscription_id, entity, filters, action_filter, coalesce(selected_columns, '{}'))
  do update set claims = excluded.claims, created_at = now()
  returning id`;

/** The record Realtime builds from one list_changes row (replication_poller.ex generate_record). */
function changeRecord(wal: Record<string, unknown>, errors: string[] | null) {
  const type = wal.type as string;
  const data: Record<string, unknown> = {
    columns: wal.columns ?? [],
    commit_timestamp: wal.commit_timestamp ?? null,
    errors: errors && errors.length > 0 ? errors : null,
  };
  if (type === "UPDATE" || type === "DELETE") data.old_record = wal.old_record ?? {};
  if (type === "INSERT" || type === "UPDATE") data.record = wal.record ?? {};
  data.schema = wal.schema;
  data.table = wal.table;
  data.type = type;
  return data;
}

export const createPostgresChanges: CreatePostgresChanges = async ({ pool, dbUrl }) => {
  const subscribers = new Map<string, Subscriber>();
  /** realtime.subscription's subscription_id → the channel key that owns it. */
  const owners = new Map<string, string>();
  let closed = false;
  let client: pg.Client | null = null;
  let slotReady = false;
  let timer: NodeJS.Timeout | null = null;
  let lastError = "";
  let lastPublicationCheck = 0;
  let slotWaiters: (() => void)[] = [];
  let running: Promise<void> = Promise.resolve();
  let baselineChecked = false;

  // Realtime's manager clears what a previous run left.
  await pool.query("delete from realtime.subscription").catch(() => {});

  function report(error: unknown): void {
    const message = (error as Error).message ?? String(error);
    if (message !== lastError && !closed) {
      lastError = message;
      console.error(`realtime postgres_changes: ${message}`);
    }
  }

  async function connect(): Promise<pg.Client> {
    if (client) return client;
    const next = new pg.Client({ connectionString: dbUrl, application_name: "realtime_rls" });
    next.on("error", () => {});
    await next.connect();
    // This machine's Postgres build (Debian 15.20 here) limits which libraries may decode
    // (output_plugin_libraries, superuser-settable); where that setting exists, allow wal2json
    // for this session only. Stock Postgres has no such setting and needs nothing.
    await next.query(
      `select pg_catalog.set_config('output_plugin_libraries', setting || ', wal2json', false)
       from pg_catalog.pg_settings
       where name = 'output_plugin_libraries' and setting !~ '(^|,\\s*)wal2json(\\s*,|$)'`,
    );
    client = next;
    slotReady = false;
    return next;
  }

  function dropConnection(): void {
    client?.end().catch(() => {});
    client = null;
    slotReady = false;
  }

  /** Creates the temporary slot once the publication has a table (Realtime: the poller's prepare). */
  async function ensureSlot(conn: pg.Client): Promise<boolean> {
    if (slotReady) return true;
    const now = Date.now();
    if (now - lastPublicationCheck < CHECK_PUBLICATION_MS && slotWaiters.length === 0) return false;
    lastPublicationCheck = now;
    const { rows } = await conn.query(
      "select exists (select 1 from pg_catalog.pg_publication_tables where pubname = $1) as any",
      [PUBLICATION],
    );
    if (!rows[0].any) return false;
    await conn.query(
      `select case when not exists (select 1 from pg_catalog.pg_replication_slots where slot_name = $1)
         then (select 1 from pg_catalog.pg_create_logical_replication_slot($1, 'wal2json', true))
         else 1 end`,
      [SLOT],
    );
    slotReady = true;
    return true;
  }

  function dispatch(wal: Record<string, unknown>, ids: string[], errors: string[] | null): void {
    const data = changeRecord(wal, errors);
    const wanted = new Set(ids);
    const channels = new Set<string>();
    for (const subscriptionId of ids) {
      const key = owners.get(subscriptionId);
      if (key !== undefined) channels.add(key);
    }
    for (const key of channels) {
      const subscriber = subscribers.get(key);
      if (!subscriber || !subscriber.channel.open) continue;
      // As Realtime's MessageDispatcher: the channel's matching binding ids, last first.
      const matching: number[] = [];
      for (const binding of subscriber.bindings) {
        if (wanted.has(binding.subscriptionId)) matching.unshift(binding.id);
      }
      if (matching.length > 0) subscriber.channel.push("postgres_changes", { ids: matching, data });
    }
  }

  /** One poll: how many rows reached subscribers and how many changes the slot gave. */
  async function poll(): Promise<{ processed: number; slotChanges: number }> {
    const conn = await connect();
    if (!baselineChecked) {
      const { rows } = await conn.query(
        "select to_regprocedure('realtime.list_changes(name, name, integer, integer)') is not null as present",
      );
      if (!rows[0].present) throw new MissingBaseline();
      baselineChecked = true;
    }
    if (!(await ensureSlot(conn))) return { processed: 0, slotChanges: 0 };
    const waiters = slotWaiters;
    slotWaiters = [];
    for (const wake of waiters) wake();
    const { rows } = await conn.query(
      `select wal, subscription_ids::text[] as subscription_ids, errors, slot_changes_count
       from realtime.list_changes($1, $2, $3, $4)`,
      [PUBLICATION, SLOT, MAX_CHANGES, MAX_RECORD_BYTES],
    );
    let processed = 0;
    for (const row of rows) {
      if (row.wal === null) continue;
      processed++;
      dispatch(row.wal, row.subscription_ids ?? [], row.errors);
    }
    return { processed, slotChanges: Number(rows[0]?.slot_changes_count ?? 0) };
  }

  function schedule(delay: number): void {
    if (closed) return;
    timer = setTimeout(() => {
      timer = null;
      running = poll().then(
        ({ processed, slotChanges }) => {
          lastError = "";
          schedule(
            processed > 0
              ? 0
              : slotChanges > 0
              ? POLL_INTERVAL_MS
              : slotWaiters.length > 0
              ? POLL_INTERVAL_MS
              : POLL_INTERVAL_MS * IDLE_MULTIPLIER,
          );
        },
        (error) => {
          report(error);
          dropConnection();
          if (error instanceof MissingBaseline) return schedule(5000);
          // A failed poll loses the temporary slot (Postgres drops it with the error), so a
          // new one is made. If the connection itself was lost (`npm run db:reset` dropped the
          // database), the live channels' subscriptions are put back too, as Realtime
          // re-subscribes its channels when its poller goes down.
          const code = (error as pg.DatabaseError).code;
          const connectionLost = code === undefined || CONNECTION_LOST.includes(code);
          baselineChecked = baselineChecked && !connectionLost;
          schedule(1000);
          if (connectionLost) resubscribeAll();
        },
      );
    }, delay);
  }

  /** Waits (a few seconds at most) for the slot, so changes after the answer are not missed. */
  function waitForSlot(): Promise<void> {
    if (slotReady) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timeout = setTimeout(resolve, 5000);
      slotWaiters.push(() => {
        clearTimeout(timeout);
        resolve();
      });
      if (timer) {
        clearTimeout(timer);
        timer = null;
        running.then(() => {
          if (!timer && !closed) schedule(0);
        });
      }
    });
  }

  /** Writes a subscriber's rows in one transaction, as Realtime's Subscriptions.create. */
  async function writeSubscriptions(subscriber: Subscriber): Promise<Written> {
    if (subscriber.parseError) return { ok: false, message: subscriber.parseError };
    let db: pg.PoolClient;
    try {
      db = await pool.connect();
    } catch {
      return { ok: false, message: DATABASE_UNAVAILABLE, retry: true };
    }
    let broken = false;
    try {
      await db.query("begin");
      for (const binding of subscriber.bindings) {
        const p = binding.params!;
        let count: number;
        try {
          const result = await db.query(INSERT_SUBSCRIPTION, [
            PUBLICATION,
            p.schema,
            p.table,
            binding.subscriptionId,
            JSON.stringify(subscriber.claims),
            p.filters.map((f) => f[0]),
            p.filters.map((f) => f[1]),
            p.filters.map((f) => f[2]),
            p.filters.map((f) => f[3]),
            p.actionFilter,
            p.selectedColumns,
          ]);
          count = result.rowCount ?? 0;
        } catch (error) {
          if ((error as pg.DatabaseError).code === undefined) throw error;
          await db.query("rollback");
          return {
            ok: false,
            message: exceptionMessage(p, postgrexMessage(error as pg.DatabaseError)),
          };
        }
        if (count === 0) {
          await db.query("rollback");
          return { ok: false, message: notEnabledMessage(p) };
        }
      }
      await db.query("commit");
      return { ok: true };
    } catch (error) {
      await db.query("rollback").catch(() => {});
      // Not the subscription's fault (the connection failed): Realtime reports it as its
      // database timeout and tries again.
      if ((error as pg.DatabaseError).code === undefined) {
        broken = true;
        return { ok: false, message: DATABASE_UNAVAILABLE, retry: true };
      }
      return { ok: false, message: postgrexMessage(error as pg.DatabaseError) };
    } finally {
      // A connection that failed goes, rather than back to the pool.
      db.release(broken);
    }
  }

  function systemMessage(subscriber: Subscriber, result: SubscribeResult): void {
    subscriber.channel.push("system", {
      extension: "postgres_changes",
      status: result.ok ? "ok" : "error",
      message: result.ok ? "Subscribed to PostgreSQL" : result.message,
      channel: subscriber.channel.topic.replace(/^realtime:/, ""),
    });
  }

  /** As Realtime after a database error: subscribe again in 5 to 10 s, saying how it went. */
  function retryLater(subscriber: Subscriber): void {
    if (closed) return;
    setTimeout(async () => {
      if (
        closed || !subscriber.channel.open || subscribers.get(subscriber.channel.key) !== subscriber
      ) {
        return;
      }
      const result = await writeSubscriptions(subscriber);
      systemMessage(subscriber, result);
      if (!result.ok && result.retry) retryLater(subscriber);
    }, 5000 + Math.random() * 5000);
  }

  function resubscribeAll(): void {
    for (const subscriber of subscribers.values()) {
      if (!subscriber.channel.open || subscriber.parseError) continue;
      writeSubscriptions(subscriber).then((result) => {
        if (result.ok) systemMessage(subscriber, result);
      }, report);
    }
  }

  async function removeRows(subscriber: Subscriber): Promise<void> {
    const ids = subscriber.bindings.map((b) => b.subscriptionId);
    for (const id of ids) owners.delete(id);
    await pool.query("delete from realtime.subscription where subscription_id = any($1::uuid[])", [
      ids,
    ]).catch(report);
  }

  schedule(0);

  const module: PostgresChangesModule = {
    async subscribe(channel, bindings: PostgresChangesBinding[], claims) {
      const subscriber: Subscriber = { channel, claims, bindings: [], parseError: null };
      for (const binding of bindings) {
        const { id, ...params } = binding;
        const parsed = parseSubscriptionParams(params);
        if (!parsed.ok && subscriber.parseError === null) subscriber.parseError = parsed.message;
        subscriber.bindings.push({
          id,
          subscriptionId: crypto.randomUUID(),
          params: parsed.ok ? parsed.params : null,
        });
      }
      subscribers.set(channel.key, subscriber);
      for (const b of subscriber.bindings) owners.set(b.subscriptionId, channel.key);
      const result = await writeSubscriptions(subscriber);
      if (result.ok) await waitForSlot();
      if (!channel.open) await module.unsubscribe(channel.key);
      else if (!result.ok && result.retry) retryLater(subscriber);
      return result.ok ? { ok: true } : { ok: false, message: result.message };
    },

    async updateClaims(key, claims) {
      const subscriber = subscribers.get(key);
      if (!subscriber) return;
      subscriber.claims = claims;
      // Realtime re-subscribes with the new claims (the same rows, claims replaced) and says
      // so again; a refusal (e.g. a filter column the new role may not select) is an error
      // message and the previous rows stay.
      const result = await writeSubscriptions(subscriber);
      if (subscriber.channel.open) systemMessage(subscriber, result);
      if (!result.ok && result.retry) retryLater(subscriber);
    },

    async unsubscribe(key) {
      const subscriber = subscribers.get(key);
      if (!subscriber) return;
      subscribers.delete(key);
      await removeRows(subscriber);
    },

    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await running.catch(() => {});
      for (const wake of slotWaiters) wake();
      slotWaiters = [];
      await pool.query("delete from realtime.subscription").catch(() => {});
      await client?.end().catch(() => {});
      client = null;
    },
  };
  return module;
};
