// Postgres Changes under row-level security, as Supabase Realtime applies it per subscriber:
// each subscriber receives inserts and updates of the rows their policies show them (checked
// as their role with their JWT's claims when the change is read), never columns their role
// may not select; deletes reach every subscriber with the primary key only; a new token given
// to the channel (access_token) is used from then on. Non-delivery is asserted against a later
// change the same subscriber does receive: Realtime delivers in commit order.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, client, withDatabase } from "../support/clients.ts";
import {
  type Change,
  createTestTable,
  dropTestTable,
  insertRows,
  listen,
  type Row,
  warmUp,
} from "../support/postgres_changes.ts";

let table: string;
let alice: TestUser;
let bob: TestUser;

const titles = (changes: Change[]) => changes.map((c) => (c.new as Partial<Row>).title);

beforeAll(async () => {
  table = await createTestTable("rls");
  alice = await signUp("pc-rls-alice");
  bob = await signUp("pc-rls-bob");
  await warmUp(admin(), table, alice.id);
}, 120_000);

afterAll(async () => {
  await dropTestTable(table);
});

describe("postgres_changes under RLS", () => {
  it("delivers a row to the subscriber whose policies show it, and not to one whose policies do not", async () => {
    const aliceListens = await listen(alice.client, [{ event: "INSERT", schema: "public", table }]);
    const bobListens = await listen(bob.client, [{ event: "INSERT", schema: "public", table }]);
    try {
      await insertRows(table, [
        { owner_id: alice.id, title: "alice's" },
        { owner_id: bob.id, title: "bob's" },
      ]);
      // Each one's own row comes after the other's: had the other's been delivered, it would be here.
      expect(titles(await aliceListens.waitFor(1))).toEqual(["alice's"]);
      expect(titles(await bobListens.waitFor(1))).toEqual(["bob's"]);
      await insertRows(table, [{ owner_id: alice.id, title: "alice's again" }]);
      expect(titles(await aliceListens.waitFor(2))).toEqual(["alice's", "alice's again"]);
      expect(titles(bobListens.changes.map((c) => c.payload))).toEqual(["bob's"]);
    } finally {
      await aliceListens.close();
      await bobListens.close();
    }
  });

  it("decides an update by the row as it is now: a row handed to another user reaches them, not its former owner", async () => {
    const [handed, kept] = await insertRows(table, [
      { owner_id: alice.id, title: "handed over" },
      { owner_id: alice.id, title: "kept" },
    ]);
    const aliceListens = await listen(alice.client, [{ event: "UPDATE", schema: "public", table }]);
    const bobListens = await listen(bob.client, [{ event: "UPDATE", schema: "public", table }]);
    try {
      await withDatabase(async (db) => {
        await db.query(`update public.${table} set owner_id = $1 where id = $2`, [bob.id, handed]);
        await db.query(`update public.${table} set amount = 1 where id = $1`, [kept]);
      });
      const [toBob] = await bobListens.waitFor(1);
      expect(toBob).toMatchObject({
        eventType: "UPDATE",
        new: { id: handed, owner_id: bob.id },
        old: { id: handed },
      });
      expect((await aliceListens.waitFor(1)).map((c) => (c.new as Row).id)).toEqual([kept]);
    } finally {
      await aliceListens.close();
      await bobListens.close();
    }
  });

  it("drops the columns the subscriber's role may not select; the service role gets them all", async () => {
    const aliceListens = await listen(alice.client, [{ event: "*", schema: "public", table }]);
    const serviceListens = await listen(admin(), [{ event: "*", schema: "public", table }]);
    try {
      const [id] = await insertRows(table, [
        { owner_id: alice.id, title: "with a secret", amount: 7, secret: "s3cret" },
      ]);
      const [fromAlice] = await aliceListens.waitFor(1);
      expect(fromAlice.new).toEqual({ id, owner_id: alice.id, title: "with a secret", amount: 7 });
      const [fromService] = await serviceListens.waitFor(1);
      expect(fromService.new).toEqual({
        id,
        owner_id: alice.id,
        title: "with a secret",
        amount: 7,
        secret: "s3cret",
      });
    } finally {
      await aliceListens.close();
      await serviceListens.close();
    }
  });

  it("delivers deletes to every subscriber, with the primary key only, even under replica identity full", async () => {
    const aliceListens = await listen(alice.client, [{ event: "DELETE", schema: "public", table }]);
    try {
      const [bobsRow] = await insertRows(table, [{ owner_id: bob.id, title: "bob's to delete" }]);
      await withDatabase((db) => db.query(`delete from public.${table} where id = $1`, [bobsRow]));
      const [removed] = await aliceListens.waitFor(1);
      expect(removed).toMatchObject({
        eventType: "DELETE",
        new: {},
        old: { id: bobsRow },
        errors: null,
      });

      await withDatabase((db) => db.query(`alter table public.${table} replica identity full`));
      try {
        const [alicesRow] = await insertRows(table, [
          { owner_id: alice.id, title: "alice's to delete", secret: "x" },
        ]);
        await withDatabase((db) =>
          db.query(`delete from public.${table} where id = $1`, [alicesRow])
        );
        const [, second] = await aliceListens.waitFor(2);
        expect(second).toMatchObject({ eventType: "DELETE", old: { id: alicesRow } });
        expect(Object.keys(second.old)).toEqual(["id"]);
      } finally {
        await withDatabase((db) =>
          db.query(`alter table public.${table} replica identity default`)
        );
      }
    } finally {
      await aliceListens.close();
    }
  });

  it("re-evaluates with a new access token given to the channel", async () => {
    const listener = await listen(alice.client, [{ event: "INSERT", schema: "public", table }]);
    try {
      await insertRows(table, [
        { owner_id: bob.id, title: "bob's before" },
        { owner_id: alice.id, title: "alice's before" },
      ]);
      expect(titles(await listener.waitFor(1))).toEqual(["alice's before"]);

      // The channel now carries Bob's token: Realtime re-subscribes with his claims and says so.
      await alice.client.realtime.setAuth(bob.accessToken);
      const resubscribed = await listener.nextSystem(1);
      expect(resubscribed).toMatchObject({
        extension: "postgres_changes",
        status: "ok",
        message: "Subscribed to PostgreSQL",
      });
      await insertRows(table, [
        { owner_id: alice.id, title: "alice's after" },
        { owner_id: bob.id, title: "bob's after" },
      ]);
      expect(titles(await listener.waitFor(2))).toEqual(["alice's before", "bob's after"]);
    } finally {
      await listener.close();
    }
  });

  it("tells a subscriber whose role may not select the key that it is unauthorized, with no data", async () => {
    // No session: the channel joins with the anon key, role anon, which has no privilege on the table.
    const listener = await listen(client(), [{ event: "INSERT", schema: "public", table }]);
    try {
      await insertRows(table, [{ owner_id: alice.id, title: "secret to anon" }]);
      const [change] = await listener.waitFor(1);
      expect(change).toMatchObject({
        schema: "public",
        table,
        eventType: "INSERT",
        new: {},
        errors: ["Error 401: Unauthorized"],
      });
    } finally {
      await listener.close();
    }
  });
});
