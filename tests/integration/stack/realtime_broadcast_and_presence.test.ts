// Realtime's broadcast and presence on public channels, through supabase-js's realtime client
// as an app uses it: self and ack, the payload limit, the REST endpoints (httpSend's per-event
// endpoint, send()'s fallback to the batch endpoint) and their refusals, binary payloads,
// presence state, diffs, updates and untracks, and the per-client presence limit.

import type { RealtimeChannel } from "@supabase/supabase-js";
import { afterEach, describe, expect, test } from "vitest";
import { ANON_KEY, type Client, client, SUPABASE_URL } from "../support/clients.ts";
import { closed, quiet, received, subscribed, until, waitForCount } from "../support/realtime.ts";

const clients: Client[] = [];
function realtimeClient(): Client {
  const c = client();
  clients.push(c);
  return c;
}
afterEach(async () => {
  for (const c of clients.splice(0)) await c.removeAllChannels();
});

const topicName = (label: string) => `rt-${label}-${Math.random().toString(36).slice(2, 10)}`;
type Message = { type: string; event: string; payload: Record<string, unknown>; meta?: unknown };

describe("broadcast", () => {
  test("reaches the other subscribers of the topic; the sender too only with self", async () => {
    const name = topicName("self");
    const quietSender = realtimeClient().channel(name);
    const echoingSender = realtimeClient().channel(name, { config: { broadcast: { self: true } } });
    const listener = realtimeClient().channel(name);
    const [toQuiet, toEchoing, toListener] = [quietSender, echoingSender, listener].map((ch) =>
      received<Message>(ch, "broadcast", "note")
    );
    await Promise.all([subscribed(quietSender), subscribed(echoingSender), subscribed(listener)]);

    expect(await quietSender.send({ type: "broadcast", event: "note", payload: { n: 1 } }))
      .toBe("ok");
    expect(await echoingSender.send({ type: "broadcast", event: "note", payload: { n: 2 } }))
      .toBe("ok");
    await waitForCount(toListener, 2);
    await quiet();
    expect(toListener).toEqual([
      { type: "broadcast", event: "note", payload: { n: 1 } },
      { type: "broadcast", event: "note", payload: { n: 2 } },
    ]);
    expect(toQuiet).toEqual([{ type: "broadcast", event: "note", payload: { n: 2 } }]);
    expect(toEchoing).toEqual(toListener);
  });

  test("with ack the send is confirmed, and refused with an error above the payload limit", async () => {
    const name = topicName("ack");
    const sender = realtimeClient().channel(name, { config: { broadcast: { ack: true } } });
    const listener = realtimeClient().channel(name);
    const heard = received<Message>(listener, "broadcast", "*");
    await Promise.all([subscribed(sender), subscribed(listener)]);

    expect(await sender.send({ type: "broadcast", event: "small", payload: { ok: true } }))
      .toBe("ok");
    // Realtime's default limit: 3,000 KB per message (max_payload_size_in_kb).
    const large = { blob: "x".repeat(3_100_000) };
    expect(await sender.send({ type: "broadcast", event: "large", payload: large })).toBe("error");
    await waitForCount(heard, 1);
    await quiet();
    expect(heard.map((m) => m.event)).toEqual(["small"]);
  });

  test("a broadcast with a binary payload arrives as bytes", async () => {
    const name = topicName("binary");
    const sender = realtimeClient().channel(name);
    const listener = realtimeClient().channel(name);
    const heard = received<{ event: string; payload: ArrayBuffer }>(listener, "broadcast", "bytes");
    await Promise.all([subscribed(sender), subscribed(listener)]);
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await sender.send({ type: "broadcast", event: "bytes", payload: bytes.buffer });
    const [message] = await waitForCount(heard, 1);
    expect(new Uint8Array(message.payload)).toEqual(bytes);
  });

  test("httpSend posts to the per-event endpoint (202) and subscribers receive it", async () => {
    const name = topicName("http");
    const listener = realtimeClient().channel(name);
    const heard = received<Message>(listener, "broadcast", "rest");
    await subscribed(listener);
    const sender = realtimeClient().channel(name);
    expect(await sender.httpSend("rest", { via: "http" })).toEqual({ success: true });
    expect(await waitForCount(heard, 1)).toEqual([
      { type: "broadcast", event: "rest", payload: { via: "http" } },
    ]);
  });

  test("httpSend with bytes posts them as application/octet-stream; subscribers receive the bytes", async () => {
    const name = topicName("http-binary");
    const listener = realtimeClient().channel(name);
    const heard = received<{ event: string; payload: ArrayBuffer }>(listener, "broadcast", "raw");
    await subscribed(listener);
    const bytes = new Uint8Array([9, 8, 7, 0, 255]);
    expect(await realtimeClient().channel(name).httpSend("raw", bytes.buffer)).toEqual({
      success: true,
    });
    const [message] = await waitForCount(heard, 1);
    expect(new Uint8Array(message.payload)).toEqual(bytes);
  });

  test("send() on a channel that is not joined falls back to the batch endpoint", async () => {
    const name = topicName("fallback");
    const listener = realtimeClient().channel(name);
    const heard = received<Message>(listener, "broadcast", "late");
    await subscribed(listener);
    const unjoined = realtimeClient().channel(name);
    const warn = console.warn;
    console.warn = () => {};
    try {
      expect(await unjoined.send({ type: "broadcast", event: "late", payload: { n: 1 } }))
        .toBe("ok");
    } finally {
      console.warn = warn;
    }
    expect(await waitForCount(heard, 1)).toEqual([
      { type: "broadcast", event: "late", payload: { n: 1 } },
    ]);
  });

  test("the REST endpoints refuse a bad token (401) and a malformed batch (422), and answer 202 otherwise", async () => {
    const name = topicName("rest");
    const listener = realtimeClient().channel(name);
    const heard = received<Message>(listener, "broadcast", "*");
    await subscribed(listener);
    const post = (path: string, body: unknown, key = ANON_KEY) =>
      fetch(`${SUPABASE_URL}/realtime/v1/api/broadcast${path}`, {
        method: "POST",
        headers: {
          apikey: key,
          authorization: `Bearer ${key}`,
          "content-type": "application/json",
        },
        body: JSON.stringify(body),
      });
    const unauthorized = await post("", { messages: [] }, "not-a-token");
    expect([unauthorized.status, await unauthorized.json()]).toEqual([401, {
      message: "Unauthorized",
    }]);
    const missing = await post("", {});
    expect(missing.status).toBe(422);
    const noEvent = await post("", { messages: [{ topic: name, payload: {} }] });
    expect(noEvent.status).toBe(422);
    expect(heard).toEqual([]);

    const accepted = await post("", {
      messages: [{ topic: name, event: "batched", payload: { n: 1 }, id: "m-1" }],
    });
    expect([accepted.status, await accepted.text()]).toEqual([202, ""]);
    expect(await waitForCount(heard, 1)).toEqual([
      { type: "broadcast", event: "batched", payload: { n: 1 }, meta: { id: "m-1" } },
    ]);
  });
  test("the per-event endpoint reads bodies as Realtime's parsers do", async () => {
    const name = topicName("parsers");
    const listener = realtimeClient().channel(name);
    const heard = received<Message>(listener, "broadcast", "*");
    await subscribed(listener);
    const post = (event: string, type: string, body: string) =>
      fetch(`${SUPABASE_URL}/realtime/v1/api/broadcast/${name}/events/${event}`, {
        method: "POST",
        headers: { apikey: ANON_KEY, authorization: `Bearer ${ANON_KEY}`, "content-type": type },
        body,
      });
    const malformed = await post("bad", "application/json", "{not json");
    expect([malformed.status, await malformed.json()]).toEqual([400, "Bad Request"]);
    // A JSON body that is not an object is put under "_json"; a type no parser reads is empty.
    expect((await post("list", "application/json", "[1,2]")).status).toBe(202);
    expect((await post("text", "text/plain", "hello")).status).toBe(202);
    expect(await waitForCount(heard, 2)).toEqual([
      { type: "broadcast", event: "list", payload: { _json: [1, 2] } },
      { type: "broadcast", event: "text", payload: {} },
    ]);
  });
});

describe("presence", () => {
  type Presence = Record<string, { presence_ref: string; [key: string]: unknown }[]>;
  const stateOf = (channel: RealtimeChannel) => channel.presenceState() as Presence;

  test("track, update and untrack reach every member as joins and leaves", async () => {
    const name = topicName("presence");
    const alice = realtimeClient().channel(name, { config: { presence: { key: "alice" } } });
    const bob = realtimeClient().channel(name, { config: { presence: { key: "bob" } } });
    const events: { event: string; key: string }[] = [];
    bob.on("presence", { event: "join" }, ({ key }) => events.push({ event: "join", key }));
    bob.on("presence", { event: "leave" }, ({ key }) => events.push({ event: "leave", key }));
    alice.on("presence", { event: "sync" }, () => {});
    await Promise.all([subscribed(alice), subscribed(bob)]);

    expect(await alice.track({ status: "online" })).toBe("ok");
    expect(await bob.track({ status: "away" })).toBe("ok");
    await waitForCount(events, 2);
    await until(() => [alice, bob].every((ch) => stateOf(ch).alice && stateOf(ch).bob));
    expect(stateOf(bob).alice).toEqual([
      { status: "online", presence_ref: expect.any(String) },
    ]);
    expect(stateOf(alice).bob).toEqual([{ status: "away", presence_ref: expect.any(String) }]);

    // Tracking again updates the member's state.
    expect(await alice.track({ status: "busy" })).toBe("ok");
    await until(() => stateOf(bob).alice?.[0]?.status === "busy");
    expect(stateOf(bob).alice).toHaveLength(1);

    expect(await alice.untrack()).toBe("ok");
    await until(() => !stateOf(bob).alice);
    expect(Object.keys(stateOf(bob))).toEqual(["bob"]);
    expect(events.filter((e) => e.key === "alice").map((e) => e.event)).toContain("leave");
  });

  test("a member who joins later gets the presence state", async () => {
    const name = topicName("state");
    const first = realtimeClient().channel(name, { config: { presence: { key: "first" } } });
    first.on("presence", { event: "sync" }, () => {});
    await subscribed(first);
    await first.track({ n: 1 });
    const late = realtimeClient().channel(name, { config: { presence: { key: "late" } } });
    let synced = false;
    late.on("presence", { event: "sync" }, () => (synced = true));
    await subscribed(late);
    await until(() => synced && Boolean(stateOf(late).first));
    expect(stateOf(late).first).toEqual([{ n: 1, presence_ref: expect.any(String) }]);
  });

  test("a client making more than 5 presence calls in 30 s is disconnected from the channel", async () => {
    const name = topicName("limit");
    const chatty = realtimeClient().channel(name, { config: { presence: { key: "chatty" } } });
    chatty.on("presence", { event: "sync" }, () => {});
    const system = received<{ status: string; message: string; extension: string }>(
      chatty,
      "system",
    );
    await subscribed(chatty);
    for (let i = 1; i <= 5; i++) expect(await chatty.track({ i })).toBe("ok");
    void chatty.track({ i: 6 });
    await closed(chatty);
    expect(system).toContainEqual({
      extension: "system",
      status: "error",
      message: "Client presence rate limit exceeded",
      channel: name,
    });
  });
});
