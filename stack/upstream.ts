// The gateway's client for its upstreams (PostgREST and the functions router): HTTP/1.1 over
// kept-alive loopback connections, with the request and response bodies streamed, never
// buffered. It is written for this one job rather than built on node:http's client, whose
// per-request machinery (ClientRequest, the Agent's bookkeeping, IncomingMessage, listeners
// added and removed on every request) cost the gateway about as much CPU again as the rest of
// a proxied request.
//
// What it does that a generic client would not:
// - An answer that arrives before the request body has been sent (a 405, 401 or 400 decided
//   from the headers) is passed on as soon as it is complete; the rest of the client's body is
//   read and discarded, so the client always gets the answer and its connection is not reset.
//   The upstream connection is then closed rather than reused.
// - Response headers are rewritten on the way through: the caller drops some (hop-by-hop ones
//   are always dropped) and appends its own.
// - A request without a body that finds its reused connection closed before any byte of an
//   answer is sent again once on a new connection (the upstream closed an idle connection
//   just as it was taken); nothing else is retried, and a request with a body always goes on
//   a new connection (its connection is kept for reuse afterwards).

import type { IncomingMessage, ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";

/** How the request body travels upstream. */
export type BodyFraming = "none" | "length" | "chunked";

export interface UpstreamRequest {
  /** The request line and header lines, each ending in CRLF, without the blank line. */
  head: string;
  body: BodyFraming;
}

export interface AnswerRewrite {
  /** Whether to drop an upstream response header (`name` lower case). */
  drop(name: string, value: string): boolean;
  /** Headers appended to every answer, as a flat [name, value, ...] list. */
  append: readonly string[];
}

/** What the gateway answers when an upstream cannot be reached or answers nonsense. */
export type BadGateway = (res: ServerResponse) => void;

// Headers about one connection, never forwarded (RFC 9110 §7.6.1), in either direction.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
]);

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE_BYTES = 4096;
// An idle connection older than this is closed rather than reused: the upstreams close idle
// connections themselves after a while (Warp after 30 s), and one taken just as it closes
// would fail a request that has a body.
const MAX_IDLE_MS = 10_000;

/**
 * The request head for an upstream: the client's header lines less hop-by-hop ones, `expect`
 * (Node has already answered 100-continue to the client) and the host, which becomes the
 * upstream's. The body keeps the client's framing: a length stays a length, chunked stays
 * chunked. `apikey` and `authorization` are reported for the gateway's key check.
 */
export function requestHead(
  req: IncomingMessage,
  path: string,
  host: string,
): UpstreamRequest & { apikey: string | undefined; hasAuthorization: boolean } {
  let head = `${req.method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  let apikey: string | undefined;
  let hasAuthorization = false;
  let body: BodyFraming = "none";
  let transferCodings = "";
  let connectionTokens: string | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      // Node's parser takes a request's transfer codings only with chunked last, and undoes
      // just the chunking: the body is chunked again on the way up, under the same codings.
      if (lower === "transfer-encoding") {
        body = "chunked";
        transferCodings = transferCodings ? `${transferCodings}, ${raw[i + 1]}` : raw[i + 1];
      } else if (lower === "connection") connectionTokens = raw[i + 1];
      continue;
    }
    if (lower === "host" || lower === "expect") continue;
    if (lower === "content-length") {
      if (body === "none" && raw[i + 1] !== "0") body = "length";
    } else if (lower === "apikey") apikey ??= raw[i + 1];
    else if (lower === "authorization") hasAuthorization = true;
    head += `${name}: ${raw[i + 1]}\r\n`;
  }
  if (body === "chunked") head += `transfer-encoding: ${transferCodings}\r\n`;
  if (connectionTokens !== undefined && !/^\s*(keep-alive|close)\s*$/i.test(connectionTokens)) {
    head = dropConnectionOptions(head, connectionTokens);
  }
  return { head, body, apikey, hasAuthorization };
}

/** Drops the headers a client's `Connection` header names as its own (rare, so done apart). */
function dropConnectionOptions(head: string, tokens: string): string {
  const named = new Set(
    tokens.split(",").map((token) => token.trim().toLowerCase())
      .filter((token) => token !== "" && token !== "close" && token !== "keep-alive"),
  );
  if (named.size === 0) return head;
  return head.split("\r\n").filter((line, index) =>
    index === 0 || !named.has(line.slice(0, line.indexOf(":")).toLowerCase())
  ).join("\r\n");
}

/** One kept-alive connection to an upstream; `exchange` is the request it is carrying. */
class Connection {
  readonly socket: Socket;
  exchange: Exchange | null = null;
  idleSince = 0;
  /** Whether it has carried a request before this one. */
  used = false;

  constructor(readonly upstream: Upstream) {
    const socket = connect({ host: "127.0.0.1", port: upstream.port, noDelay: true });
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      if (this.exchange) this.exchange.onData(chunk);
      else socket.destroy(); // bytes nobody asked for: this connection is out of step
    });
    socket.on("drain", () => this.exchange?.onUpstreamDrain());
    socket.on("end", () => {
      if (this.exchange) this.exchange.onUpstreamEnd();
      else socket.destroy();
    });
    socket.on("error", () => {}); // followed by "close", which decides
    socket.on("close", () => {
      this.upstream.forget(this);
      this.exchange?.onUpstreamClose();
    });
  }
}

/** An upstream server on a loopback port, and its idle connections (most recent last). */
export class Upstream {
  readonly host: string;
  private readonly idle: Connection[] = [];
  private closed = false;

  constructor(readonly port: number, private readonly maxIdle = 128) {
    this.host = `127.0.0.1:${port}`;
  }

  /** Sends `request` upstream and streams the answer into `res`. */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    request: UpstreamRequest,
    rewrite: AnswerRewrite,
    badGateway: BadGateway,
  ): void {
    // A request with a body goes on a new connection: were a reused one closed by the upstream
    // as it was taken, the body could not be sent again (seen as a rare 502 on an insert).
    new Exchange(this, req, res, request, rewrite, badGateway).start(request.body !== "none");
  }

  /** Closes the idle connections; the gateway calls it when it closes. */
  close(): void {
    this.closed = true;
    for (const connection of this.idle.splice(0)) connection.socket.destroy();
  }

  take(fresh: boolean): Connection {
    if (!fresh) {
      const now = performance.now();
      for (let connection = this.idle.pop(); connection; connection = this.idle.pop()) {
        if (now - connection.idleSince < MAX_IDLE_MS) return connection;
        connection.socket.destroy();
      }
    }
    return new Connection(this);
  }

  release(connection: Connection): void {
    connection.exchange = null;
    connection.used = true;
    if (this.closed || this.idle.length >= this.maxIdle || connection.socket.destroyed) {
      connection.socket.destroy();
      return;
    }
    connection.idleSince = performance.now();
    this.idle.push(connection);
  }

  forget(connection: Connection): void {
    const index = this.idle.lastIndexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
  }
}

// Where the parser is in the upstream's answer.
const enum Phase {
  Head,
  Length, // a body of known length: `remaining` bytes left
  ChunkSize, // the line giving the next chunk's size
  ChunkData, // `remaining` bytes of the current chunk left
  ChunkEnd, // the CRLF after a chunk
  Trailers, // trailer lines after the last chunk, up to a blank line
  UntilClose, // a body ended by the connection closing
  Done,
}

/** One request and its answer, between the client's `req`/`res` and an upstream connection. */
class Exchange {
  private connection!: Connection;
  private phase = Phase.Head;
  private pending: Buffer | null = null;
  private remaining = 0;
  private reusable = true;
  /** The whole request body has been written upstream (or there is none). */
  private requestSent: boolean;
  /** Some byte of an answer has arrived. */
  private answered = false;
  private finished = false;
  /** The client's request is paused until the upstream connection drains. */
  private paused = false;
  /** The upstream connection is paused until the client's response drains. */
  private answerPaused = false;
  private listening = false;

  constructor(
    private readonly upstream: Upstream,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly request: UpstreamRequest,
    private readonly rewrite: AnswerRewrite,
    private readonly badGateway: BadGateway,
  ) {
    this.requestSent = request.body === "none";
  }

  start(fresh: boolean): void {
    const connection = this.upstream.take(fresh);
    this.connection = connection;
    connection.exchange = this;
    connection.socket.write(this.request.head + "\r\n");
    if (!this.listening) {
      this.listening = true;
      (this.res as Carrier)[kExchange] = this;
      this.res.once("close", onClientClose);
      if (!this.requestSent) {
        (this.req as Carrier)[kExchange] = this;
        this.req.on("data", onRequestData);
        this.req.once("end", onRequestEnd);
      }
    }
  }

  // --- the request body, client -> upstream

  requestData(chunk: Buffer): void {
    if (chunk.length === 0 || this.finished) return;
    const socket = this.connection.socket;
    let flowing: boolean;
    if (this.request.body === "chunked") {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      flowing = socket.write("\r\n");
      socket.uncork();
    } else flowing = socket.write(chunk);
    if (!flowing) {
      this.paused = true;
      this.req.pause();
    }
  }

  requestEnd(): void {
    this.req.removeListener("data", onRequestData);
    if (this.finished) return;
    if (this.request.body === "chunked") this.connection.socket.write("0\r\n\r\n");
    this.requestSent = true;
  }

  onUpstreamDrain(): void {
    if (this.paused) {
      this.paused = false;
      this.req.resume();
    }
  }

  /** Stops sending the request body: what is left of it is read and thrown away. */
  private discardRequestBody(): void {
    if (this.requestSent) return;
    this.requestSent = true;
    this.reusable = false; // the upstream is somewhere in the middle of our body
    this.req.removeListener("data", onRequestData);
    this.req.removeListener("end", onRequestEnd);
    this.paused = false;
    this.req.resume();
  }

  // --- the answer, upstream -> client

  onData(chunk: Buffer): void {
    this.answered = true;
    let data = chunk;
    if (this.pending) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const res = this.res;
    res.cork();
    try {
      this.parse(data);
    } finally {
      res.uncork();
    }
  }

  private parse(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      switch (this.phase) {
        case Phase.Head: {
          const end = data.indexOf("\r\n\r\n", offset, "latin1");
          if (end < 0) return this.keep(data, offset, MAX_HEAD_BYTES);
          if (!this.answerHead(data.toString("latin1", offset, end))) return;
          offset = end + 4;
          break;
        }
        case Phase.Length:
        case Phase.ChunkData: {
          const length = Math.min(this.remaining, data.length - offset);
          this.send(data.subarray(offset, offset + length));
          offset += length;
          this.remaining -= length;
          if (this.remaining === 0) {
            if (this.phase === Phase.Length) this.phase = Phase.Done;
            else this.phase = Phase.ChunkEnd;
          }
          break;
        }
        case Phase.ChunkSize: {
          const end = data.indexOf("\r\n", offset, "latin1");
          if (end < 0) return this.keep(data, offset, MAX_CHUNK_LINE_BYTES);
          const line = data.toString("latin1", offset, end);
          const extension = line.indexOf(";");
          const digits = (extension < 0 ? line : line.slice(0, extension)).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(digits)) return void this.fail();
          this.remaining = parseInt(digits, 16);
          this.phase = this.remaining === 0 ? Phase.Trailers : Phase.ChunkData;
          offset = end + 2;
          break;
        }
        case Phase.ChunkEnd: {
          if (data.length - offset < 2) return this.keep(data, offset, 2);
          if (data[offset] !== 13 || data[offset + 1] !== 10) return void this.fail();
          offset += 2;
          this.phase = Phase.ChunkSize;
          break;
        }
        case Phase.Trailers: {
          const end = data.indexOf("\r\n", offset, "latin1");
          if (end < 0) return this.keep(data, offset, MAX_HEAD_BYTES);
          if (end === offset) this.phase = Phase.Done;
          offset = end + 2;
          break;
        }
        case Phase.UntilClose:
          this.send(offset === 0 ? data : data.subarray(offset));
          offset = data.length;
          break;
        case Phase.Done:
          // More than the answer: the connection is out of step and not reused.
          this.reusable = false;
          offset = data.length;
          break;
      }
      if (this.phase === Phase.Done) break;
    }
    if (this.phase === Phase.Done) {
      if (offset < data.length) this.reusable = false;
      this.complete();
    }
  }

  /** Keeps an unfinished head or line for the next chunk of data, up to `limit` bytes. */
  private keep(data: Buffer, offset: number, limit: number): void {
    if (data.length - offset > limit) return void this.fail();
    this.pending = data.subarray(offset);
  }

  /** Parses the answer's head and writes the client's; false if it is not a valid head. */
  private answerHead(text: string): boolean {
    if (!text.startsWith("HTTP/1.")) return this.fail();
    let lineEnd = text.indexOf("\r\n");
    const statusLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
    const status = Number(statusLine.slice(9, 12));
    if (
      !Number.isInteger(status) || status < 100 ||
      (statusLine.length > 12 && statusLine[12] !== " ")
    ) {
      return this.fail();
    }
    if (status < 200) {
      // 100 Continue or 103 Early Hints: an interim answer, the final one follows.
      if (status === 101) return this.fail(); // no upgrades through the gateway
      return true;
    }
    let keepAlive = statusLine[7] === "1";
    let transferEncoding: string | undefined;
    let contentLength = -1;
    const headers: string[] = [];
    const rewrite = this.rewrite;
    while (lineEnd >= 0) {
      const start = lineEnd + 2;
      lineEnd = text.indexOf("\r\n", start);
      const line = lineEnd < 0 ? text.slice(start) : text.slice(start, lineEnd);
      const colon = line.indexOf(":");
      if (colon <= 0) return this.fail();
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) {
        if (lower === "transfer-encoding") transferEncoding = value.toLowerCase();
        else if (lower === "connection") {
          const tokens = value.toLowerCase();
          if (tokens.includes("close")) keepAlive = false;
          else if (tokens.includes("keep-alive")) keepAlive = true;
        }
        continue;
      }
      if (lower === "content-length") {
        if (!/^\d{1,15}$/.test(value)) return this.fail();
        contentLength = Number(value);
      }
      if (rewrite.drop(lower, value)) continue;
      headers.push(name, value);
    }
    for (const item of rewrite.append) headers.push(item);

    const noBody = this.req.method === "HEAD" || status === 204 || status === 304;
    if (noBody) this.phase = Phase.Done;
    else if (transferEncoding !== undefined) {
      this.phase = transferEncoding.endsWith("chunked") ? Phase.ChunkSize : Phase.UntilClose;
      // With a transfer coding the length is not the body's (RFC 9112 §6.3).
      if (contentLength >= 0) dropHeader(headers, "content-length");
      // Codings other than chunked (gzip, chunked) stay; Node chunks what it is given again.
      if (this.phase === Phase.ChunkSize && transferEncoding !== "chunked") {
        headers.push("transfer-encoding", transferEncoding);
      }
    } else if (contentLength >= 0) {
      this.remaining = contentLength;
      this.phase = contentLength === 0 ? Phase.Done : Phase.Length;
    } else this.phase = Phase.UntilClose;
    if (this.phase === Phase.UntilClose || !keepAlive) this.reusable = false;

    try {
      this.res.writeHead(status, headers);
    } catch {
      return this.fail(); // a header Node refuses to send
    }
    return true;
  }

  private send(chunk: Buffer): void {
    if (this.res.write(chunk) || this.answerPaused) return;
    // The client reads slower than the upstream sends: stop reading upstream until it drains.
    this.answerPaused = true;
    this.connection.socket.pause();
    this.res.once("drain", onAnswerDrain);
  }

  answerDrain(): void {
    this.answerPaused = false;
    this.connection.socket.resume();
  }

  /** The answer is complete: finish the client's response and free the connection. */
  private complete(): void {
    this.finished = true;
    this.discardRequestBody();
    this.res.removeListener("close", onClientClose);
    this.res.end();
    const connection = this.connection;
    if (this.answerPaused) {
      this.res.removeListener("drain", onAnswerDrain);
      connection.socket.resume();
    }
    if (this.reusable) this.upstream.release(connection);
    else {
      connection.exchange = null;
      connection.socket.destroy();
    }
  }

  /** The upstream answered something that is not HTTP/1.1: a bad gateway. */
  private fail(): false {
    this.abandon();
    if (!this.res.headersSent) this.badGateway(this.res);
    else this.res.destroy();
    return false;
  }

  /** Leaves the upstream connection (closed, never reused) and stops the request body. */
  private abandon(): void {
    this.finished = true;
    this.phase = Phase.Done;
    this.discardRequestBody();
    this.res.removeListener("close", onClientClose);
    this.connection.exchange = null;
    this.connection.socket.destroy();
  }

  onUpstreamEnd(): void {
    if (this.phase === Phase.UntilClose) {
      this.phase = Phase.Done;
      this.reusable = false;
      this.complete();
    } else this.onUpstreamClose();
  }

  onUpstreamClose(): void {
    if (this.finished) return;
    const connection = this.connection;
    connection.exchange = null;
    // A reused connection the upstream had already closed: send a bodiless request again.
    if (!this.answered && connection.used && this.request.body === "none") {
      connection.socket.destroy();
      return this.start(true);
    }
    this.abandon();
    if (!this.res.headersSent) this.badGateway(this.res);
    else this.res.destroy(); // a truncated answer must not look complete
  }

  /** The client went away before its answer was complete. */
  clientClose(): void {
    if (this.finished) return;
    this.finished = true;
    this.connection.exchange = null;
    this.connection.socket.destroy();
  }
}

// The client-side listeners are shared functions that find their exchange on the stream,
// rather than closures made for every request.
const kExchange = Symbol("exchange");
type Carrier = { [kExchange]?: Exchange };

function onRequestData(this: IncomingMessage, chunk: Buffer): void {
  (this as Carrier)[kExchange]?.requestData(chunk);
}

function onRequestEnd(this: IncomingMessage): void {
  (this as Carrier)[kExchange]?.requestEnd();
}

function onAnswerDrain(this: ServerResponse): void {
  (this as Carrier)[kExchange]?.answerDrain();
}

function onClientClose(this: ServerResponse): void {
  (this as Carrier)[kExchange]?.clientClose();
}

function dropHeader(headers: string[], lower: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i].toLowerCase() === lower) headers.splice(i, 2);
  }
}
