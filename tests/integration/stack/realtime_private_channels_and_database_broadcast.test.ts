// Private channels, authorized as Supabase Realtime authorizes them: the SELECT policies on
// realtime.messages decide who joins and receives, the INSERT policies who sends and tracks
// presence, re-checked when the client refreshes its token; refused sends are dropped
// silently (asserted as non-delivery). Broadcasts from the database (realtime.send,
// send_binary, broadcast_changes) reach subscribers once committed, in commit order, and
// private channels can replay them. The policies are this file's own test policies
// (support/realtime.ts), created and dropped here; SUPABASE_DB_URL also sends from the
// database, as a trigger or a function of the project would.

import type { RealtimeChannel } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { ANON_KEY, type Client, client, SUPABASE_URL, withDatabase } from "../support/clients.ts";
import {
  closed,
  createTopicPolicies,
  quiet,
  received,
  refusedJoin,
  signToken,
  subscribed,
  type TopicPolicies,
  until,
  waitForCount,
} from "../support/realtime.ts";

let policies: TopicPolicies;
let reader: TestUser;
let writer: TestUser;
let stranger: TestUser;
const opened: Client[] = [];

beforeAll(async () => {
  policies = await createTopicPolicies("rt-private-test");
  [reader, writer, stranger] = await Promise.all([
    signUp("rt-reader"),
    signUp("rt-writer"),
    signUp("rt-stranger"),
  ]);
  opened.push(reader.client, writer.client, stranger.client);
});
afterAll(async () => {
  for (const c of opened) await c.removeAllChannels();
  await policies.drop();
});

type Message = { type: string; event: string; payload: Record<string, unknown>; meta?: Json };
type Json = Record<string, unknown>;

function privateChannel(c: Client, name: string, config: Json = {}): RealtimeChannel {
  return c.channel(name, { config: { private: true, ...config } });
}

/** A topic the reader and writer may read and only the writer may write. */
const sharedTopic = () => policies.topic([reader.id, writer.id], [writer.id]);

describe("joining", () => {
  test("a reader joins; a user the policies do not list, and anon, are refused with Realtime's reason", async () => {
    const name = sharedTopic();
    const anon = client();
    opened.push(anon);
    await subscribed(privateChannel(reader.client, name));
    const reason =
      `Unauthorized: You do not have permissions to read from this Channel topic: ${name}`;
    const [strangerReason, anonReason] = await Promise.all([
      refusedJoin(privateChannel(stranger.client, name)),
      refusedJoin(privateChannel(anon, name)),
    ]);
    expect(strangerReason).toBe(reason);
    expect(anonReason).toBe(reason);
  });

  test("an expired token is refused at join", async () => {
    const c = client();
    opened.push(c);
    await c.realtime.setAuth(
      await signToken({ role: "authenticated", sub: reader.id, aud: "authenticated" }, -30),
    );
    const reason = await refusedJoin(privateChannel(c, sharedTopic()));
    expect(reason).toMatch(/^InvalidJWTToken: Token has expired \d+ seconds ago$/);
  });
});

describe("sending", () => {
  test("a writer's broadcast reaches readers; a reader's is dropped without an answer, even with ack", async () => {
    const name = sharedTopic();
    const readerChannel = privateChannel(reader.client, name, { broadcast: { ack: true } });
    const writerChannel = privateChannel(writer.client, name, { broadcast: { ack: true } });
    const toReader = received<Message>(readerChannel, "broadcast", "*");
    const toWriter = received<Message>(writerChannel, "broadcast", "*");
    await Promise.all([subscribed(readerChannel), subscribed(writerChannel)]);

    expect(await writerChannel.send({ type: "broadcast", event: "said", payload: { n: 1 } }))
      .toBe("ok");
    expect(await waitForCount(toReader, 1)).toEqual([
      { type: "broadcast", event: "said", payload: { n: 1 } },
    ]);
    expect(
      await readerChannel.send({ type: "broadcast", event: "said", payload: { n: 2 } }, {
        timeout: 1500,
      }),
    ).toBe("timed out");
    await quiet();
    expect(toWriter).toEqual([]);
  });

  test("presence: a writer tracks and readers see it; a reader's track is refused", async () => {
    const name = sharedTopic();
    const readerChannel = privateChannel(reader.client, name, { presence: { key: "reader" } });
    const writerChannel = privateChannel(writer.client, name, { presence: { key: "writer" } });
    readerChannel.on("presence", { event: "sync" }, () => {});
    writerChannel.on("presence", { event: "sync" }, () => {});
    await Promise.all([subscribed(readerChannel), subscribed(writerChannel)]);
    expect(await writerChannel.track({ typing: true })).toBe("ok");
    await until(() => Boolean(readerChannel.presenceState().writer));
    expect(await readerChannel.track({ typing: true })).toBe("error");
    await quiet();
    expect(Object.keys(writerChannel.presenceState())).toEqual(["writer"]);
  });

  test("REST: a private httpSend by a non-writer is refused (403); a private batch message is dropped with 202", async () => {
    const name = sharedTopic();
    const readerChannel = privateChannel(reader.client, name);
    const heard = received<Message>(readerChannel, "broadcast", "*");
    await subscribed(readerChannel);

    await expect(privateChannel(reader.client, name).httpSend("rest", { n: 0 })).rejects.toThrow(
      "Unauthorized",
    );
    const batch = await fetch(`${SUPABASE_URL}/realtime/v1/api/broadcast`, {
      method: "POST",
      headers: {
        apikey: ANON_KEY,
        authorization: `Bearer ${reader.accessToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({
        messages: [{ topic: name, event: "rest", payload: {}, private: true }],
      }),
    });
    expect(batch.status).toBe(202);
    expect(await privateChannel(writer.client, name).httpSend("rest", { n: 1 })).toEqual({
      success: true,
    });
    await waitForCount(heard, 1);
    await quiet();
    expect(heard).toEqual([{ type: "broadcast", event: "rest", payload: { n: 1 } }]);
  });
});

describe("token refresh", () => {
  test("a token that no longer may read closes the channel with a system error", async () => {
    const name = sharedTopic();
    const c = client();
    opened.push(c);
    await c.realtime.setAuth(reader.accessToken);
    const channel = privateChannel(c, name);
    const system = received<Json>(channel, "system");
    await subscribed(channel);
    await c.realtime.setAuth(stranger.accessToken);
    await closed(channel);
    expect(system).toContainEqual({
      extension: "system",
      status: "error",
      message: `You do not have permissions to read from this Channel topic: ${name}`,
      channel: name,
    });
  });

  test("a new token that may still read keeps the channel, and its write access is checked again", async () => {
    const name = sharedTopic();
    const c = client();
    opened.push(c);
    await c.realtime.setAuth(reader.accessToken);
    const channel = privateChannel(c, name, { broadcast: { ack: true } });
    const system = received<Json>(channel, "system");
    const listener = privateChannel(writer.client, name);
    const heard = received<Message>(listener, "broadcast", "*");
    await Promise.all([subscribed(channel), subscribed(listener)]);
    // As the reader: dropped (ack never comes).
    expect(
      await channel.send({ type: "broadcast", event: "as", payload: { who: "reader" } }, {
        timeout: 1500,
      }),
    ).toBe("timed out");
    // The same channel with the writer's token: no answer to the token, then sends go through.
    await c.realtime.setAuth(writer.accessToken);
    expect(await channel.send({ type: "broadcast", event: "as", payload: { who: "writer" } }))
      .toBe("ok");
    await waitForCount(heard, 1);
    await quiet();
    expect(heard).toEqual([{ type: "broadcast", event: "as", payload: { who: "writer" } }]);
    expect(system).toEqual([]);
    expect(channel.state).toBe("joined");
  });

  test("a token that expires while joined closes the channel with a system error", async () => {
    const c = client();
    opened.push(c);
    await c.realtime.setAuth(
      await signToken({ role: "authenticated", sub: reader.id, aud: "authenticated" }, 3),
    );
    const channel = privateChannel(c, sharedTopic());
    const system = received<{ message: string; status: string; extension: string }>(
      channel,
      "system",
    );
    await subscribed(channel);
    await closed(channel);
    expect(system).toHaveLength(1);
    expect(system[0]).toMatchObject({ extension: "system", status: "error" });
    expect(system[0].message).toMatch(/^Token has expired \d+ seconds ago$/);
  });
});

describe("broadcast from the database", () => {
  const sql = (text: string, values: unknown[] = []) =>
    withDatabase((db) => db.query(text, values));

  test("realtime.send reaches private subscribers by default, public ones with private false, committed rows only, in commit order", async () => {
    const name = sharedTopic();
    const privateListener = privateChannel(reader.client, name);
    // Another client: supabase-js keeps one channel per topic name and client.
    const publicListener = stranger.client.channel(name);
    const toPrivate = received<Message>(privateListener, "broadcast", "*");
    const toPublic = received<Message>(publicListener, "broadcast", "*");
    await Promise.all([subscribed(privateListener), subscribed(publicListener)]);

    await withDatabase(async (db) => {
      await db.query("begin");
      await db.query("select realtime.send($1, 'rolled-back', $2)", [{ n: 0 }, name]);
      await db.query("rollback");
    });
    // Two transactions, the second committed first: delivery follows the commits.
    await withDatabase((first) =>
      withDatabase(async (second) => {
        await first.query("begin");
        await first.query("select realtime.send($1, 'first-begun', $2)", [{ n: 1 }, name]);
        await second.query("begin");
        await second.query("select realtime.send($1, 'first-committed', $2)", [{ n: 2 }, name]);
        await second.query("commit");
        await first.query("commit");
      })
    );
    await sql("select realtime.send($1, 'public', $2, false)", [{ n: 3 }, name]);

    await waitForCount(toPrivate, 2);
    await waitForCount(toPublic, 1);
    await quiet();
    expect(toPrivate.map((m) => m.event)).toEqual(["first-committed", "first-begun"]);
    expect(toPrivate[0]).toEqual({
      type: "broadcast",
      event: "first-committed",
      payload: { n: 2, id: expect.any(String) },
      meta: { id: toPrivate[0].payload.id },
    });
    expect(toPublic).toEqual([{
      type: "broadcast",
      event: "public",
      payload: { n: 3, id: expect.any(String) },
      meta: { id: expect.any(String) },
    }]);
  });

  test("realtime.send_binary delivers bytes; broadcast_changes delivers the row change", async () => {
    const name = sharedTopic();
    const listener = privateChannel(reader.client, name);
    const heard = received<{ event: string; payload: unknown }>(listener, "broadcast", "*");
    await subscribed(listener);
    await sql("select realtime.send_binary($1, 'bytes', $2)", [Buffer.from([1, 2, 255]), name]);
    await sql(
      `select realtime.broadcast_changes($1, 'row-changed', 'UPDATE', 'things', 'public', n, o)
       from (select 1 as id, 'new' as label) n, (select 1 as id, 'old' as label) o`,
      [name],
    );
    await waitForCount(heard, 2);
    expect(new Uint8Array(heard[0].payload as ArrayBuffer)).toEqual(new Uint8Array([1, 2, 255]));
    expect(heard[1]).toMatchObject({
      event: "row-changed",
      payload: {
        operation: "UPDATE",
        table: "things",
        schema: "public",
        record: { id: 1, label: "new" },
        old_record: { id: 1, label: "old" },
      },
    });
    await expect(
      sql(
        `select realtime.broadcast_changes($1, 'e', 'INSERT', 't', 'public', n, null, 'STATEMENT')
         from (select 1 as id) n`,
        [name],
      ),
    ).rejects.toThrow("function can only be triggered for each row, not for each statement");
  });

  test("a private channel replays the newest stored messages since a time, marked replayed", async () => {
    const name = sharedTopic();
    const since = Date.now() - 1000;
    // The writer hears the three live first: only then have they been dispatched, so none can
    // still reach the reader's channel live after it joins (as on Realtime, where a message
    // whose commit is decoded after a join goes to that joiner too).
    const live = privateChannel(writer.client, name);
    const heardLive = received<Message>(live, "broadcast", "*");
    await subscribed(live);
    for (const n of [1, 2, 3]) await sql("select realtime.send($1, 'stored', $2)", [{ n }, name]);
    await waitForCount(heardLive, 3);
    const channel = privateChannel(reader.client, name, {
      broadcast: { replay: { since, limit: 2 } },
    });
    const heard = received<Message>(channel, "broadcast", "*");
    await subscribed(channel);
    await waitForCount(heard, 2);
    await quiet();
    expect(heard.map((m) => [m.payload.n, m.meta?.replayed])).toEqual([[2, true], [3, true]]);
  });
});
