// The Phoenix socket protocol as Supabase Realtime speaks it: vsn 1.0.0 (JSON objects,
// Phoenix.Socket.V1.JSONSerializer) and 2.0.0 (JSON arrays plus binary frames,
// RealtimeWeb.Socket.V2Serializer). Clients push text frames, and with vsn 2.0.0 kind-3 binary
// frames for broadcasts ("user broadcast push"); the server answers in text, and delivers user
// broadcasts to 2.0.0 sockets as kind-4 binary frames. Header fields are UTF-8 with one-byte
// length prefixes, so each is at most 255 bytes.

export type Vsn = "1.0.0" | "2.0.0";

export interface Frame {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: unknown;
}

/** A broadcast as it travels to subscribers: the user's event and payload, and its metadata. */
export type Broadcast =
  /** A JSON broadcast (a Phoenix.Socket.Broadcast): its payload is `{type, event, payload, meta?}`. */
  | { kind: "json"; payload: Record<string, unknown> }
  /**
   * A user broadcast (RealtimeWeb.Socket.UserBroadcast): the event, the payload's bytes (JSON
   * text when `json`), and metadata (`{id}` for messages from the database).
   */
  | {
    kind: "user";
    event: string;
    json: boolean;
    body: Buffer;
    meta: Record<string, unknown> | null;
  };

const USER_BROADCAST_PUSH = 3;
const USER_BROADCAST = 4;

export class ProtocolError extends Error {}

/** A kind-3 frame's content: the user event, its payload bytes and whether they are JSON. */
export interface UserBroadcastPush {
  joinRef: string;
  ref: string;
  topic: string;
  event: string;
  json: boolean;
  body: Buffer;
}

export function decodeText(vsn: Vsn, text: string): Frame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError("frame is not JSON");
  }
  if (vsn === "2.0.0") {
    if (!Array.isArray(value) || value.length < 5) throw new ProtocolError("expected V2 array");
    const [joinRef, ref, topic, event, payload] = value;
    return { joinRef: refString(joinRef), ref: refString(ref), topic, event, payload };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ProtocolError("expected a JSON object");
  }
  const message = value as Record<string, unknown>;
  return {
    joinRef: refString(message.join_ref),
    ref: refString(message.ref),
    topic: message.topic as string,
    event: message.event as string,
    payload: message.payload,
  };
}

function refString(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

/** Decodes a binary frame of a 2.0.0 socket; only kind 3 carries something the server acts on. */
export function decodeBinary(data: Buffer): UserBroadcastPush | null {
  if (data.length < 1) throw new ProtocolError("empty binary frame");
  if (data[0] !== USER_BROADCAST_PUSH) return null;
  if (data.length < 7) throw new ProtocolError("truncated user broadcast push");
  const sizes = [data[1], data[2], data[3], data[4], data[5]];
  const encoding = data[6];
  let offset = 7;
  const fields: Buffer[] = [];
  for (const size of sizes) {
    if (offset + size > data.length) throw new ProtocolError("truncated user broadcast push");
    fields.push(data.subarray(offset, offset + size));
    offset += size;
  }
  const [joinRef, ref, topic, event] = fields.map((field) => field.toString("utf8"));
  // fields[4] is the client's metadata: Realtime decodes it and then drops it (build_broadcast).
  return { joinRef, ref, topic, event, json: encoding !== 0, body: data.subarray(offset) };
}

/** A server message or reply as a frame for the socket's protocol version. */
export function encodeMessage(vsn: Vsn, frame: Frame): string {
  if (vsn === "2.0.0") {
    return JSON.stringify([frame.joinRef, frame.ref, frame.topic, frame.event, frame.payload]);
  }
  return JSON.stringify({
    topic: frame.topic,
    event: frame.event,
    payload: frame.payload,
    ref: frame.ref,
    join_ref: frame.joinRef,
  });
}

export function encodeReply(
  vsn: Vsn,
  joinRef: string | null,
  ref: string | null,
  topic: string,
  status: "ok" | "error",
  response: unknown,
): string {
  return encodeMessage(vsn, {
    joinRef,
    ref,
    topic,
    event: "phx_reply",
    payload: { status, response },
  });
}

/**
 * A broadcast for a socket: JSON broadcasts as text; user broadcasts as kind 4 on 2.0.0, as the
 * equivalent JSON broadcast on 1.0.0, and not at all to 1.0.0 when binary (Realtime's
 * UserBroadcast.convert_to_json_broadcast refuses those). `null` means: not deliverable.
 */
export function encodeBroadcast(
  vsn: Vsn,
  topic: string,
  broadcast: Broadcast,
): string | Buffer | null {
  if (broadcast.kind === "json") {
    return encodeMessage(vsn, {
      joinRef: null,
      ref: null,
      topic,
      event: "broadcast",
      payload: broadcast.payload,
    });
  }
  if (vsn === "2.0.0") {
    const topicBytes = Buffer.from(topic, "utf8");
    const eventBytes = Buffer.from(broadcast.event, "utf8");
    const metaBytes = broadcast.meta ? Buffer.from(JSON.stringify(broadcast.meta), "utf8") : null;
    const metaSize = metaBytes?.length ?? 0;
    if (topicBytes.length > 255 || eventBytes.length > 255 || metaSize > 255) return null;
    const header = Buffer.from([
      USER_BROADCAST,
      topicBytes.length,
      eventBytes.length,
      metaSize,
      broadcast.json ? 1 : 0,
    ]);
    return Buffer.concat([
      header,
      topicBytes,
      eventBytes,
      metaBytes ?? Buffer.alloc(0),
      broadcast.body,
    ]);
  }
  if (!broadcast.json) return null;
  // The payload is spliced in as JSON text, as Realtime does with a Jason.Fragment.
  const meta = broadcast.meta ? `,"meta":${JSON.stringify(broadcast.meta)}` : "";
  const payload = `{"event":${JSON.stringify(broadcast.event)},"payload":${
    broadcast.body.toString("utf8")
  },"type":"broadcast"${meta}}`;
  return `{"topic":${
    JSON.stringify(topic)
  },"event":"broadcast","payload":${payload},"ref":null,"join_ref":null}`;
}
