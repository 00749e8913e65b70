// Postgres Changes through supabase-js's realtime client, for the tests of
// tests/integration/stack/realtime_postgres_changes_*: a table of the test's own in the
// supabase_realtime publication (made through SUPABASE_DB_URL, with its grants and policies,
// and taken out again), and listeners that collect what a channel receives.

import { randomUUID } from "node:crypto";
import type {
  RealtimeChannel,
  RealtimePostgresChangesPayload,
  RealtimeSystemPayload,
} from "@supabase/supabase-js";
import type pg from "pg";
import { type Client, withDatabase } from "./clients.ts";

export type Row = {
  id: number;
  owner_id: string;
  title: string;
  amount: number;
  secret: string | null;
};

export type Change = RealtimePostgresChangesPayload<Row>;

/** A `postgres_changes` binding as `.on('postgres_changes', …)` takes it. */
export interface Binding {
  event: "*" | "INSERT" | "UPDATE" | "DELETE";
  schema: string;
  table?: string;
  filter?: string;
}

/**
 * A table of the test's own in the publication: owners (owner_id) read their rows; signed-in
 * users may select every column but `secret`; the service role everything.
 */
export async function createTestTable(label: string): Promise<string> {
  const name = `rt_pc_${label}_${randomUUID().slice(0, 8)}`;
  await withDatabase(async (db) => {
    await db.query(`
      create table public.${name} (
        id bigint generated always as identity primary key,
        owner_id uuid not null,
        title text not null,
        amount integer not null default 0,
        secret text
      );
      alter table public.${name} enable row level security;
      grant select (id, owner_id, title, amount) on public.${name} to authenticated;
      grant select, insert, update, delete on public.${name} to service_role;
      create policy "Owners read their rows" on public.${name}
        for select to authenticated using (owner_id = (select auth.uid()));
      alter publication supabase_realtime add table public.${name};
    `);
  });
  return name;
}

/** Out of the publication first (so no change of it is left to decode), then dropped. */
export async function dropTestTable(name: string): Promise<void> {
  await withDatabase(async (db) => {
    await db.query(`alter publication supabase_realtime drop table public.${name}`);
  });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await withDatabase((db) => db.query(`drop table public.${name}`));
}

/** Writes through the database (as the test's setup does), returning the rows' ids. */
export function insertRows(
  table: string,
  rows: { owner_id: string; title: string; amount?: number; secret?: string }[],
  db?: pg.Client,
): Promise<number[]> {
  const run = async (c: pg.Client) => {
    const ids: number[] = [];
    for (const row of rows) {
      const { rows: [inserted] } = await c.query(
        `insert into public.${table} (owner_id, title, amount, secret) values ($1, $2, $3, $4) returning id`,
        [row.owner_id, row.title, row.amount ?? 0, row.secret ?? null],
      );
      ids.push(Number(inserted.id));
    }
    return ids;
  };
  return db ? run(db) : withDatabase(run);
}

export interface Listener {
  channel: RealtimeChannel;
  /** Every change, with the index of the binding whose callback received it. */
  changes: { binding: number; payload: Change }[];
  systems: RealtimeSystemPayload[];
  /** The changes one binding received. */
  of(binding: number): Change[];
  /** Waits until `count` changes arrived in all (or for the binding), and returns them. */
  waitFor(count: number, binding?: number, timeoutMs?: number): Promise<Change[]>;
  /** Waits for the next `postgres_changes` system message after the `seen` first ones. */
  nextSystem(seen: number, timeoutMs?: number): Promise<RealtimeSystemPayload>;
  close(): Promise<void>;
}

async function until(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Joins a channel with the bindings and waits until it is SUBSCRIBED and the server's
 * postgres_changes `system` message (ok or error) has arrived.
 */
export async function listen(c: Client, bindings: Binding[]): Promise<Listener> {
  const changes: Listener["changes"] = [];
  const systems: RealtimeSystemPayload[] = [];
  let channel = c.channel(`pc-${randomUUID()}`);
  bindings.forEach((binding, index) => {
    channel = channel.on(
      "postgres_changes",
      binding as never,
      (payload: Change) => changes.push({ binding: index, payload }),
    );
  });
  channel = channel.on("system", {}, (payload: RealtimeSystemPayload) => systems.push(payload));
  await new Promise<void>((resolve, reject) => {
    channel.subscribe((status, error) => {
      if (status === "SUBSCRIBED") resolve();
      else if (status !== "CLOSED") reject(error ?? new Error(status));
    });
  });
  const pgSystems = () => systems.filter((s) => s.extension === "postgres_changes");
  const listener: Listener = {
    channel,
    changes,
    systems,
    of: (binding) => changes.filter((c) => c.binding === binding).map((c) => c.payload),
    async waitFor(count, binding, timeoutMs = 15_000) {
      const list = () =>
        binding === undefined ? changes.map((c) => c.payload) : listener.of(binding);
      await until(`${count} change(s)`, () => list().length >= count, timeoutMs);
      return list();
    },
    async nextSystem(seen, timeoutMs = 15_000) {
      await until("a postgres_changes system message", () => pgSystems().length > seen, timeoutMs);
      return pgSystems()[seen];
    },
    async close() {
      await c.removeChannel(channel);
    },
  };
  await listener.nextSystem(0);
  return listener;
}

/**
 * Hosted Realtime creates its replication slot only once its poller has seen a table in the
 * publication (it looks every 60 s), so a fresh table's first changes may come late: until a
 * listener with the service role sees a warm-up row, insert another. Then every test of the
 * file starts with changes flowing.
 */
export async function warmUp(serviceClient: Client, table: string, ownerId: string): Promise<void> {
  const listener = await listen(serviceClient, [{ event: "INSERT", schema: "public", table }]);
  try {
    const [system] = listener.systems.filter((s) => s.extension === "postgres_changes");
    if (system.status !== "ok") throw new Error(`postgres_changes refused: ${system.message}`);
    const deadline = Date.now() + 90_000;
    for (;;) {
      await insertRows(table, [{ owner_id: ownerId, title: "warm-up" }]);
      try {
        await listener.waitFor(1, undefined, 3_000);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
  } finally {
    await listener.close();
  }
}
