// Realtime's socket as raw frames, for what supabase-js cannot express: the refusals of a
// connection (Realtime answers the upgrade with an HTTP status and a JSON {error}), the Phoenix
// protocol in both versions (1.0.0 objects, 2.0.0 arrays and binary user broadcasts),
// heartbeats, replies to unknown topics, leave and close.

import { afterEach, describe, expect, test } from "vitest";
import { ANON_KEY } from "../support/clients.ts";
import {
  openSocket,
  quiet,
  type RawSocket,
  refusedConnection,
  signToken,
} from "../support/realtime.ts";

const sockets: RawSocket[] = [];
async function socket(vsn: "1.0.0" | "2.0.0", key = ANON_KEY): Promise<RawSocket> {
  const opened = await openSocket(vsn, key);
  sockets.push(opened);
  return opened;
}
afterEach(() => {
  for (const opened of sockets.splice(0)) opened.close();
});

const topicName = () => `rt-protocol-${Math.random().toString(36).slice(2, 10)}`;
type V2 = [string | null, string | null, string, string, Record<string, unknown>];
type V1 = { topic: string; event: string; payload: Record<string, unknown>; ref: string | null };

/** A kind-3 frame as supabase-js builds it for `send({type: 'broadcast', event, payload})`. */
function userBroadcastPush(
  joinRef: string,
  ref: string,
  topic: string,
  event: string,
  payload: unknown,
) {
  const fields = [joinRef, ref, topic, event, ""].map((value) => Buffer.from(value, "utf8"));
  return Buffer.concat([
    Buffer.from([3, ...fields.map((field) => field.length), 1]),
    ...fields,
    Buffer.from(JSON.stringify(payload), "utf8"),
  ]);
}

describe("connecting", () => {
  test("a missing, malformed, wrongly signed or expired key is refused with Realtime's status and message", async () => {
    const [missing, malformed, forged, expired, missingClaims] = await Promise.all([
      refusedConnection("vsn=2.0.0"),
      refusedConnection("apikey=not-a-key&vsn=2.0.0"),
      signToken({ role: "anon" }, 3600, "another-secret-of-at-least-32-characters!").then((key) =>
        refusedConnection(`apikey=${key}&vsn=2.0.0`)
      ),
      signToken({ role: "anon" }, -10).then((key) => refusedConnection(`apikey=${key}&vsn=2.0.0`)),
      signToken({ sub: "someone" }, 3600).then((key) =>
        refusedConnection(`apikey=${key}&vsn=2.0.0`)
      ),
    ]);
    expect(missing).toEqual({ status: 401, body: { error: "API key is missing" } });
    expect(malformed).toEqual({
      status: 401,
      body: { error: "The token provided is not a valid JWT" },
    });
    expect(forged).toEqual({ status: 401, body: { error: "Failed to validate JWT signature" } });
    expect(expired).toEqual({ status: 401, body: { error: "Token has expired" } });
    expect(missingClaims).toEqual({
      status: 401,
      body: { error: "Fields `role` and `exp` are required in JWT" },
    });
  });

  test("a protocol version the server does not speak is refused with a bare 403", async () => {
    expect(await refusedConnection(`apikey=${ANON_KEY}&vsn=3.0.0`)).toEqual({
      status: 403,
      body: null,
    });
  });

  test("the x-api-key header is taken before the apikey parameter", async () => {
    const refused = await refusedConnection(`apikey=${ANON_KEY}&vsn=2.0.0`, {
      "x-api-key": "nope",
    });
    expect(refused).toEqual({
      status: 401,
      body: { error: "The token provided is not a valid JWT" },
    });
  });
});

describe("vsn 2.0.0", () => {
  test("heartbeats are answered on the phoenix topic", async () => {
    const raw = await socket("2.0.0");
    raw.send([null, "7", "phoenix", "heartbeat", {}]);
    expect(await raw.next((f) => Array.isArray(f) && f[1] === "7")).toEqual([
      null,
      "7",
      "phoenix",
      "phx_reply",
      { status: "ok", response: {} },
    ]);
  });

  test("a join is answered with the postgres_changes list; a push to a topic not joined is refused", async () => {
    const raw = await socket("2.0.0");
    const topic = `realtime:${topicName()}`;
    raw.send(["1", "1", topic, "phx_join", { config: { broadcast: { self: true } } }]);
    expect(await raw.next((f) => Array.isArray(f) && f[1] === "1")).toEqual([
      "1",
      "1",
      topic,
      "phx_reply",
      { status: "ok", response: { postgres_changes: [] } },
    ]);
    raw.send(["9", "2", "realtime:never-joined", "broadcast", { type: "broadcast", event: "e" }]);
    expect(await raw.next((f) => Array.isArray(f) && f[1] === "2")).toEqual([
      "9",
      "2",
      "realtime:never-joined",
      "phx_reply",
      { status: "error", response: { reason: "unmatched topic" } },
    ]);
  });

  test("a binary broadcast push reaches 2.0.0 sockets as a kind-4 frame and 1.0.0 sockets as JSON", async () => {
    const topic = `realtime:${topicName()}`;
    const [sender, binaryReader, jsonReader] = await Promise.all([
      socket("2.0.0"),
      socket("2.0.0"),
      socket("1.0.0"),
    ]);
    sender.send(["1", "1", topic, "phx_join", {}]);
    binaryReader.send(["1", "1", topic, "phx_join", {}]);
    jsonReader.send({ topic, event: "phx_join", payload: {}, ref: "1", join_ref: "1" });
    await Promise.all([
      sender.next((f) => Array.isArray(f) && f[1] === "1"),
      binaryReader.next((f) => Array.isArray(f) && f[1] === "1"),
      jsonReader.next((f) => (f as V1).ref === "1"),
    ]);
    sender.sendBinary(userBroadcastPush("1", "2", topic, "moved", { x: 1, name: "é" }));

    const frame = (await binaryReader.next(Buffer.isBuffer)) as Buffer;
    const [kind, topicSize, eventSize, metaSize, encoding] = frame;
    expect([kind, topicSize, eventSize, metaSize, encoding]).toEqual([4, topic.length, 5, 0, 1]);
    expect(frame.subarray(5, 5 + topicSize).toString()).toBe(topic);
    expect(frame.subarray(5 + topicSize, 5 + topicSize + eventSize).toString()).toBe("moved");
    expect(JSON.parse(frame.subarray(5 + topicSize + eventSize).toString())).toEqual({
      x: 1,
      name: "é",
    });
    expect(await jsonReader.next((f) => (f as V1).event === "broadcast")).toEqual({
      topic,
      event: "broadcast",
      payload: { event: "moved", payload: { x: 1, name: "é" }, type: "broadcast" },
      ref: null,
      join_ref: null,
    });
    // self is false by default: the sender hears nothing of its own broadcast.
    await quiet();
    expect(sender.frames.filter((f) => Buffer.isBuffer(f) || (f as V2)[3] === "broadcast"))
      .toEqual([]);
  });

  test("a join without a topic name is refused", async () => {
    const raw = await socket("2.0.0");
    raw.send(["1", "1", "realtime:", "phx_join", {}]);
    expect(await raw.next((f) => Array.isArray(f) && f[1] === "1")).toEqual([
      "1",
      "1",
      "realtime:",
      "phx_reply",
      { status: "error", response: { reason: "TopicNameRequired: You must provide a topic name" } },
    ]);
  });
});

describe("vsn 1.0.0", () => {
  test("JSON objects: join, text broadcast with ack, leave and close", async () => {
    const topic = `realtime:${topicName()}`;
    const [sender, reader] = await Promise.all([socket("1.0.0"), socket("1.0.0")]);
    sender.send({
      topic,
      event: "phx_join",
      payload: { config: { broadcast: { ack: true } } },
      ref: "1",
      join_ref: "1",
    });
    reader.send({ topic, event: "phx_join", payload: {}, ref: "1", join_ref: "1" });
    expect(await sender.next((f) => (f as V1).ref === "1")).toEqual({
      topic,
      event: "phx_reply",
      payload: { status: "ok", response: { postgres_changes: [] } },
      ref: "1",
      join_ref: "1",
    });
    await reader.next((f) => (f as V1).ref === "1");

    sender.send({
      topic,
      event: "broadcast",
      payload: { type: "broadcast", event: "typed", payload: { text: "hi" } },
      ref: "2",
      join_ref: "1",
    });
    expect(await sender.next((f) => (f as V1).ref === "2")).toMatchObject({
      event: "phx_reply",
      payload: { status: "ok", response: {} },
    });
    expect(await reader.next((f) => (f as V1).event === "broadcast")).toEqual({
      topic,
      event: "broadcast",
      payload: { type: "broadcast", event: "typed", payload: { text: "hi" } },
      ref: null,
      join_ref: null,
    });

    reader.send({ topic, event: "phx_leave", payload: {}, ref: "3", join_ref: "1" });
    expect(await reader.next((f) => (f as V1).ref === "3")).toMatchObject({
      event: "phx_reply",
      payload: { status: "ok", response: {} },
    });
    expect(await reader.next((f) => (f as V1).event === "phx_close")).toMatchObject({
      topic,
      payload: {},
    });
    // Left: the next broadcast does not reach it.
    sender.send({
      topic,
      event: "broadcast",
      payload: { type: "broadcast", event: "typed", payload: { text: "again" } },
      ref: "4",
      join_ref: "1",
    });
    await sender.next((f) => (f as V1).ref === "4");
    await quiet();
    expect(reader.frames.filter((f) => (f as V1).event === "broadcast")).toHaveLength(1);
  });
});
