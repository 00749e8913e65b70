// realtime.messages as Supabase Realtime keeps and reads it.
//
// Partitions: Realtime's janitor creates the daily partitions messages_YYYY_MM_DD from
// yesterday to three days ahead (Realtime.Tenants.create_messages_partitions) and drops those
// older than 72 hours (Realtime.Messages.delete_old_messages); without today's partition an
// insert fails and realtime.send only warns.
//
// Broadcast from the database: Realtime creates the publication
// supabase_realtime_messages_publication for realtime.messages and a temporary pgoutput slot,
// and turns each committed INSERT into a broadcast to the row's topic, private or public, with
// metadata {id} (Realtime.Tenants.ReplicationConnection). The stand-in reads the same
// publication through a temporary pgoutput slot of its own, polled with
// pg_logical_slot_get_binary_changes on a dedicated connection, so it sees committed rows
// only, in commit order.
//
// Replay: the newest `limit` (1 to 25) private broadcasts of a topic since a time, oldest first
// (Realtime.Messages.replay).

import pg from "pg";

export const PUBLICATION = "supabase_realtime_messages_publication";
const SLOT_PREFIX = "supabase_realtime_messages_replication_slot_";
const RETENTION_HOURS = 72;
/** How long the poller waits after an empty poll: briefly while messages flow, longer when quiet. */
const BUSY_POLL_MS = 15;
const QUIET_POLL_MS = 50;
const QUIET_AFTER_MS = 2000;
const RECONNECT_MS = 1000;

function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** Creates yesterday's to today+3's partitions and drops those older than 72 hours. */
export async function maintainPartitions(db: pg.Pool | pg.Client, now = new Date()): Promise<void> {
  const day = 24 * 60 * 60 * 1000;
  for (let offset = -1; offset <= 3; offset++) {
    const date = new Date(now.getTime() + offset * day);
    const start = isoDate(date);
    const end = isoDate(new Date(date.getTime() + day));
    const name = `messages_${start.replaceAll("-", "_")}`;
    await db.query(
      `create table if not exists realtime.${name} partition of realtime.messages
       for values from ('${start}') to ('${end}')`,
    ).catch((error: { code?: string }) => {
      if (error.code !== "42P07") throw error;
    });
    await db.query(`alter table realtime.${name} owner to supabase_realtime_admin`);
  }
  const limit = isoDate(new Date(now.getTime() - RETENTION_HOURS * 60 * 60 * 1000));
  const { rows } = await db.query<{ relname: string }>(
    `select child.relname from pg_inherits
     join pg_class parent on pg_inherits.inhparent = parent.oid
     join pg_class child on pg_inherits.inhrelid = child.oid
     join pg_namespace nsp on nsp.oid = child.relnamespace
     where parent.relname = 'messages' and nsp.nspname = 'realtime'`,
  );
  for (const { relname } of rows) {
    const match = /^messages_(\d{4})_(\d{2})_(\d{2})$/.exec(relname);
    if (match && `${match[1]}-${match[2]}-${match[3]}` < limit) {
      await db.query(`drop table if exists realtime.${relname}`);
    }
  }
}

/** A committed row of realtime.messages, as the replication stream gives it. */
export interface MessageRow {
  id: string;
  topic: string;
  event: string;
  private: boolean;
  /** JSON text, or null when the row carries binary_payload. */
  payload: string | null;
  binaryPayload: Buffer | null;
}

interface Relation {
  namespace: string;
  name: string;
  columns: string[];
}

/** Reads pgoutput (protocol 1) messages: Relation and Insert are what matters here. */
class PgOutputReader {
  private offset = 0;
  constructor(private readonly data: Buffer) {}
  byte(): number {
    return this.data[this.offset++];
  }
  int16(): number {
    const value = this.data.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }
  int32(): number {
    const value = this.data.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }
  string(): string {
    const end = this.data.indexOf(0, this.offset);
    const value = this.data.toString("utf8", this.offset, end);
    this.offset = end + 1;
    return value;
  }
  bytes(length: number): Buffer {
    const value = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }
}

function hexBytea(text: string): Buffer {
  return text.startsWith("\\x") ? Buffer.from(text.slice(2), "hex") : Buffer.from(text, "binary");
}

export interface MessageStream {
  close(): Promise<void>;
}

/**
 * Streams committed inserts into realtime.messages to `deliver`, in commit order. Reconnects
 * (re-creating the partitions, publication and slot) when the database goes away, as it does
 * on `npm run db:reset`.
 */
export function streamMessages(
  dbUrl: string,
  deliver: (row: MessageRow) => void,
  onError: (error: Error) => void = () => {},
): MessageStream {
  let client: pg.Client | null = null;
  let closed = false;
  let wake: (() => void) | null = null;
  const slot = `${SLOT_PREFIX}${process.pid}`;
  const relations = new Map<number, Relation>();
  let lastChange = 0;

  async function connect(): Promise<pg.Client> {
    const next = new pg.Client({ connectionString: dbUrl, application_name: "realtime-stand-in" });
    next.on("error", () => {});
    await next.connect();
    // Each poll would write "starting logical decoding for slot" to the server log (at LOG,
    // which log_min_messages ranks above ERROR): dozens of lines a second. This session's
    // errors reach the stand-in as query errors anyway.
    await next.query("set log_min_messages = fatal");
    await maintainPartitions(next);
    // As Realtime's ReplicationConnection: the publication holds realtime.messages and nothing else.
    const { rows } = await next.query<{ tables: string[] | null }>(
      `select array_agg(schemaname || '.' || tablename) as tables
       from pg_publication_tables where pubname = $1`,
      [PUBLICATION],
    );
    const exists =
      (await next.query("select 1 from pg_publication where pubname = $1", [PUBLICATION]))
        .rowCount === 1;
    const tables = rows[0]?.tables ?? [];
    const onlyMessages = tables.every((table) => table.startsWith("realtime.messages"));
    if (exists && !onlyMessages) await next.query(`drop publication ${PUBLICATION}`);
    if (!exists || !onlyMessages) {
      await next.query(`create publication ${PUBLICATION} for table realtime.messages`);
    }
    await next.query("select pg_create_logical_replication_slot($1, 'pgoutput', true)", [slot]);
    relations.clear();
    return next;
  }

  function handle(data: Buffer): void {
    const reader = new PgOutputReader(data);
    const type = String.fromCharCode(reader.byte());
    if (type === "R") {
      const id = reader.int32();
      const namespace = reader.string();
      const name = reader.string();
      reader.byte(); // replica identity
      const count = reader.int16();
      const columns: string[] = [];
      for (let i = 0; i < count; i++) {
        reader.byte(); // flags
        columns.push(reader.string());
        reader.int32(); // type oid
        reader.int32(); // type modifier
      }
      relations.set(id, { namespace, name, columns });
      return;
    }
    if (type !== "I") return;
    const relation = relations.get(reader.int32());
    if (!relation || relation.namespace !== "realtime" || !relation.name.startsWith("messages")) {
      return;
    }
    reader.byte(); // 'N'
    const count = reader.int16();
    const values: Record<string, string | null> = {};
    for (let i = 0; i < count; i++) {
      const kind = String.fromCharCode(reader.byte());
      if (kind === "t" || kind === "b") {
        values[relation.columns[i]] = reader.bytes(reader.int32()).toString("utf8");
      } else values[relation.columns[i]] = null;
    }
    // Realtime skips a row missing any of these (get_or_error) or without a payload.
    const { id, topic, event } = values;
    if (!id || !topic || !event || values.private === null || values.private === undefined) return;
    const binary = values.binary_payload ?? null;
    if (binary === null && values.payload === null) return;
    deliver({
      id,
      topic,
      event,
      private: values.private === "t",
      payload: binary === null ? values.payload : null,
      binaryPayload: binary === null ? null : hexBytea(binary),
    });
  }

  async function run(): Promise<void> {
    while (!closed) {
      try {
        client ??= await connect();
        const { rows } = await client.query<{ data: Buffer }>(
          `select data from pg_logical_slot_get_binary_changes($1, null, null,
             'proto_version', '1', 'publication_names', $2)`,
          [slot, PUBLICATION],
        );
        for (const row of rows) handle(row.data);
        if (rows.length > 0) lastChange = Date.now();
        else await sleep(Date.now() - lastChange < QUIET_AFTER_MS ? BUSY_POLL_MS : QUIET_POLL_MS);
      } catch (error) {
        if (closed) return;
        onError(error as Error);
        await client?.end().catch(() => {});
        client = null;
        await sleep(RECONNECT_MS);
      }
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  const running = run();
  return {
    async close() {
      closed = true;
      wake?.();
      await running;
      await client?.end().catch(() => {});
    },
  };
}

export interface ReplayedMessage {
  id: string;
  event: string;
  payload: unknown;
  binaryPayload: Buffer | null;
}

/** Realtime.Messages.replay: `since` in milliseconds since the epoch, `limit` capped to 1..25. */
export async function replayMessages(
  pool: pg.Pool,
  topic: string,
  since: number,
  limit: number,
): Promise<ReplayedMessage[]> {
  const capped = Math.max(Math.min(limit, 25), 1);
  const { rows } = await pool.query<
    { id: string; event: string; payload: unknown; binary_payload: Buffer | null }
  >(
    `select id, event, payload, binary_payload from realtime.messages
     where topic = $1 and private is true and extension = 'broadcast'
       and inserted_at >= (to_timestamp($2::float8 / 1000) at time zone 'UTC')
       and inserted_at < (now() at time zone 'UTC') + interval '1 minute'
     order by inserted_at desc limit $3`,
    [topic, since, capped],
  );
  return rows.reverse().map((row) => ({
    id: row.id,
    event: row.event,
    payload: row.payload,
    binaryPayload: row.binary_payload,
  }));
}
