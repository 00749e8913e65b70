// Postgres Changes as Supabase Realtime delivers them, through supabase-js's realtime client:
// inserts, updates and deletes with their shapes; each filter operator; committed changes
// only, in commit order; bindings Realtime refuses, with its system message. The table is the
// test's own, in the supabase_realtime publication (support/postgres_changes.ts).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, withDatabase } from "../support/clients.ts";
import {
  createTestTable,
  dropTestTable,
  insertRows,
  listen,
  type Row,
  warmUp,
} from "../support/postgres_changes.ts";

const ISO_UTC_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let table: string;
let owner: TestUser;

beforeAll(async () => {
  table = await createTestTable("delivery");
  owner = await signUp("pc-delivery");
  await warmUp(admin(), table, owner.id);
}, 120_000);

afterAll(async () => {
  await dropTestTable(table);
});

describe("postgres_changes delivery", () => {
  it("delivers an insert, an update and a delete with Realtime's shapes to the row's owner", async () => {
    const listener = await listen(owner.client, [{ event: "*", schema: "public", table }]);
    try {
      expect(listener.systems.find((s) => s.extension === "postgres_changes")).toMatchObject({
        extension: "postgres_changes",
        status: "ok",
        message: "Subscribed to PostgreSQL",
      });
      // Realtime checks an insert or update against the row as it is when it polls, so each
      // step waits for the previous one to arrive.
      const [id] = await insertRows(table, [
        { owner_id: owner.id, title: "first", amount: 3, secret: "hidden" },
      ]);
      await listener.waitFor(1);
      await withDatabase((db) =>
        db.query(`update public.${table} set title = 'renamed', amount = 4 where id = $1`, [id])
      );
      await listener.waitFor(2);
      await withDatabase((db) => db.query(`delete from public.${table} where id = $1`, [id]));
      const [insert, update, remove] = await listener.waitFor(3);
      expect(insert).toEqual({
        schema: "public",
        table,
        commit_timestamp: expect.stringMatching(ISO_UTC_MS),
        eventType: "INSERT",
        new: { id, owner_id: owner.id, title: "first", amount: 3 },
        old: {},
        errors: null,
      });
      expect(update).toEqual({
        schema: "public",
        table,
        commit_timestamp: expect.stringMatching(ISO_UTC_MS),
        eventType: "UPDATE",
        new: { id, owner_id: owner.id, title: "renamed", amount: 4 },
        // The old row's identity: its primary key, as the table has the default replica identity.
        old: { id },
        errors: null,
      });
      expect(remove).toEqual({
        schema: "public",
        table,
        commit_timestamp: expect.stringMatching(ISO_UTC_MS),
        eventType: "DELETE",
        new: {},
        old: { id },
        errors: null,
      });
    } finally {
      await listener.close();
    }
  });

  it("routes each change to the bindings of its event only", async () => {
    const listener = await listen(owner.client, [
      { event: "INSERT", schema: "public", table },
      { event: "UPDATE", schema: "public", table },
      { event: "DELETE", schema: "public", table },
    ]);
    try {
      const [id] = await insertRows(table, [{ owner_id: owner.id, title: "routed" }]);
      await listener.waitFor(1);
      await withDatabase((db) =>
        db.query(`update public.${table} set amount = 1 where id = $1`, [id])
      );
      await listener.waitFor(2);
      await withDatabase((db) => db.query(`delete from public.${table} where id = $1`, [id]));
      await listener.waitFor(3);
      expect(listener.of(0).map((c) => c.eventType)).toEqual(["INSERT"]);
      expect(listener.of(1).map((c) => c.eventType)).toEqual(["UPDATE"]);
      expect(listener.of(2).map((c) => c.eventType)).toEqual(["DELETE"]);
    } finally {
      await listener.close();
    }
  });

  it("subscribes a binding without a table to every table of the schema in the publication", async () => {
    const listener = await listen(owner.client, [{ event: "INSERT", schema: "public" }]);
    try {
      expect(listener.systems.find((s) => s.extension === "postgres_changes")?.status).toBe("ok");
      const [id] = await insertRows(table, [{ owner_id: owner.id, title: "schema-wide" }]);
      const changes = await listener.waitFor(1);
      expect(changes.find((c) => c.table === table)).toMatchObject({
        schema: "public",
        table,
        eventType: "INSERT",
        new: { id, title: "schema-wide" },
      });
    } finally {
      await listener.close();
    }
  });

  it("applies each filter operator: eq, neq, lt, lte, gt, gte, in", async () => {
    const filters = [
      "amount=eq.5",
      "amount=neq.5",
      "amount=lt.5",
      "amount=lte.5",
      "amount=gt.5",
      "amount=gte.5",
      "amount=in.(1,5)",
    ];
    const listener = await listen(owner.client, [
      ...filters.map((filter) => ({ event: "INSERT" as const, schema: "public", table, filter })),
      { event: "INSERT", schema: "public", table },
    ]);
    try {
      await insertRows(
        table,
        [1, 5, 9, 100].map((amount) => ({
          owner_id: owner.id,
          title: `amount ${amount}`,
          amount,
        })),
      );
      // The unfiltered binding's fourth change comes after everything the others receive.
      await listener.waitFor(4, filters.length);
      const amounts = (binding: number) => listener.of(binding).map((c) => (c.new as Row).amount);
      expect(filters.map((_, i) => amounts(i))).toEqual([
        [5],
        [1, 9, 100],
        [1],
        [1, 5],
        [9, 100],
        [5, 9, 100],
        [1, 5],
      ]);
    } finally {
      await listener.close();
    }
  });

  it("matches a delete against its old row: a filter on a non-key column misses it unless the table's replica identity is full", async () => {
    const listener = await listen(owner.client, [
      { event: "DELETE", schema: "public", table, filter: "amount=eq.42" },
      { event: "DELETE", schema: "public", table },
    ]);
    try {
      const [first, second] = await insertRows(table, [
        { owner_id: owner.id, title: "forty-two", amount: 42 },
        { owner_id: owner.id, title: "forty-two again", amount: 42 },
      ]);
      // Default replica identity: the delete carries the key only, so amount=eq.42 cannot hold.
      await withDatabase((db) => db.query(`delete from public.${table} where id = $1`, [first]));
      await listener.waitFor(1, 1);
      await withDatabase((db) => db.query(`alter table public.${table} replica identity full`));
      try {
        await withDatabase((db) => db.query(`delete from public.${table} where id = $1`, [second]));
        await listener.waitFor(2, 1);
      } finally {
        await withDatabase((db) =>
          db.query(`alter table public.${table} replica identity default`)
        );
      }
      // The filtered binding got the second delete only, and (under RLS) its key only.
      expect(listener.of(0).map((c) => c.old)).toEqual([{ id: second }]);
      expect(listener.of(1).map((c) => c.old)).toEqual([{ id: first }, { id: second }]);
    } finally {
      await listener.close();
    }
  });

  it("sends a change over 1 MB as Realtime does: Error 413 and only the values of 64 bytes or less", async () => {
    const listener = await listen(owner.client, [{ event: "INSERT", schema: "public", table }]);
    try {
      const [id] = await insertRows(table, [
        { owner_id: owner.id, title: "x".repeat(1_100_000), amount: 8 },
      ]);
      const [change] = await listener.waitFor(1);
      expect(change).toMatchObject({
        eventType: "INSERT",
        new: { id, owner_id: owner.id, amount: 8 },
        errors: ["Error 413: Payload Too Large"],
      });
      expect(change.new).not.toHaveProperty("title");
    } finally {
      await listener.close();
    }
  });

  it("delivers committed changes only, in commit order", async () => {
    const listener = await listen(owner.client, [{ event: "INSERT", schema: "public", table }]);
    try {
      await withDatabase(async (db) => {
        await db.query("begin");
        await insertRows(table, [{ owner_id: owner.id, title: "rolled back" }], db);
        await db.query("rollback");
      });
      // Two transactions: the one that inserts first commits last.
      await withDatabase((first) =>
        withDatabase(async (second) => {
          await first.query("begin");
          await insertRows(table, [{ owner_id: owner.id, title: "inserted first" }], first);
          await second.query("begin");
          await insertRows(table, [{ owner_id: owner.id, title: "inserted second" }], second);
          await second.query("commit");
          await first.query("commit");
        })
      );
      await insertRows(table, [{ owner_id: owner.id, title: "last" }]);
      const changes = await listener.waitFor(3);
      expect(changes.map((c) => (c.new as Row).title)).toEqual([
        "inserted second",
        "inserted first",
        "last",
      ]);
    } finally {
      await listener.close();
    }
  });

  it("refuses a filter with an unknown operator with Realtime's system message, and delivers nothing to it", async () => {
    const refused = await listen(owner.client, [
      { event: "INSERT", schema: "public", table, filter: "amount=foo.5" },
    ]);
    const valid = await listen(owner.client, [{ event: "INSERT", schema: "public", table }]);
    try {
      expect(refused.systems.filter((s) => s.extension === "postgres_changes")).toEqual([
        {
          extension: "postgres_changes",
          status: "error",
          message: 'Error parsing `filter` params: ["foo", "5"]',
          channel: refused.channel.subTopic,
        },
      ]);
      await insertRows(table, [{ owner_id: owner.id, title: "after refusal", amount: 5 }]);
      await valid.waitFor(1);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(refused.changes).toEqual([]);
    } finally {
      await refused.close();
      await valid.close();
    }
  });

  it("refuses a filter on a column the role may not select, and a table outside the publication", async () => {
    const secret = await listen(owner.client, [
      { event: "*", schema: "public", table, filter: "secret=eq.x" },
    ]);
    const outside = await listen(owner.client, [
      { event: "INSERT", schema: "public", table: "profiles" },
    ]);
    try {
      const [secretError] = secret.systems.filter((s) => s.extension === "postgres_changes");
      expect(secretError.status).toBe("error");
      expect(secretError.message).toMatch(
        /^Unable to subscribe to changes with given parameters\. An exception happened so please check your connect parameters: \[.*\]\. Exception: .*invalid column for filter secret/s,
      );
      const [outsideError] = outside.systems.filter((s) => s.extension === "postgres_changes");
      expect(outsideError.status).toBe("error");
      expect(outsideError.message).toMatch(
        /^Unable to subscribe to changes with given parameters\. Please check Realtime is enabled for the given connect parameters: \[event: INSERT, schema: public, table: profiles/,
      );
    } finally {
      await secret.close();
      await outside.close();
    }
  });
});
