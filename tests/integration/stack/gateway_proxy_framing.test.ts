// The gateway's proxying (stack/gateway.ts over stack/upstream.ts), in process, against
// upstreams written byte by byte: how answers are framed (length, chunked, until close, no
// body), which headers pass, request bodies both ways of framing, early answers to large
// bodies, connections the upstream closes, an upstream that is down or dies mid-answer, a
// slow client, and a client that leaves. The black-box side (through the running stack) is in
// gateway_keys_cors_functions.test.ts.

import { createHash } from "node:crypto";
import { request as httpRequest, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createGateway, namesVersion } from "../../../stack/gateway.ts";
import { sendJson } from "../../../stack/http.ts";

const ANON = "anon-key-for-the-proxy-tests";
const SERVICE = "service-key-for-the-proxy-tests";

/** One request as the upstream received it: its head and the body with framing undone. */
interface Received {
  method: string;
  target: string;
  headers: [string, string][];
  body: Buffer;
  /** The body as it came over the wire (with chunk framing, if any). */
  wire: Buffer;
}

type Answer = (request: Received, socket: Socket) => void;

/**
 * A raw HTTP/1.1 upstream: it parses each request (length or chunked body) and lets the test
 * write whatever bytes it likes in answer. `early` answers as soon as the head has arrived.
 */
class RawUpstream {
  readonly server = createTcpServer((socket) => this.serve(socket));
  connections = 0;
  closed = 0;
  received: Received[] = [];
  answer: Answer = (_request, socket) => socket.write("HTTP/1.1 204 No Content\r\n\r\n");
  early: Answer | null = null;

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private serve(socket: Socket): void {
    this.connections++;
    socket.on("close", () => this.closed++);
    socket.on("error", () => {});
    let buffer = Buffer.alloc(0);
    let answeredEarly = false;
    let current: (Received & { framing: "length" | "chunked" | "none"; left: number }) | null =
      null;
    socket.on("data", (chunk: Buffer) => {
      if (answeredEarly) return; // read and ignored, as a server that answered early does
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!current) {
          const end = buffer.indexOf("\r\n\r\n");
          if (end < 0) return;
          const [line, ...lines] = buffer.toString("latin1", 0, end).split("\r\n");
          const [method, target] = line.split(" ");
          const headers = lines.map((l) => {
            const colon = l.indexOf(":");
            return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()] as [
              string,
              string,
            ];
          });
          const get = (name: string) => headers.find(([n]) => n === name)?.[1];
          const framing = get("transfer-encoding")
            ? "chunked"
            : get("content-length")
            ? "length"
            : "none";
          current = {
            method,
            target,
            headers,
            body: Buffer.alloc(0),
            wire: Buffer.alloc(0),
            framing,
            left: Number(get("content-length") ?? 0),
          };
          buffer = buffer.subarray(end + 4);
          if (this.early) {
            answeredEarly = true;
            this.early(current, socket);
            return;
          }
        }
        if (current.framing === "length") {
          const take = Math.min(current.left, buffer.length);
          current.body = Buffer.concat([current.body, buffer.subarray(0, take)]);
          current.wire = current.body;
          current.left -= take;
          buffer = buffer.subarray(take);
          if (current.left > 0) return;
        } else if (current.framing === "chunked") {
          let offset = 0;
          const parts: Buffer[] = [];
          let done = false;
          for (;;) {
            const lineEnd = buffer.indexOf("\r\n", offset);
            if (lineEnd < 0) break;
            const size = parseInt(buffer.toString("latin1", offset, lineEnd), 16);
            if (size === 0) {
              if (buffer.length < lineEnd + 4) break;
              offset = lineEnd + 4;
              done = true;
              break;
            }
            if (buffer.length < lineEnd + 2 + size + 2) break;
            parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
            offset = lineEnd + 2 + size + 2;
          }
          if (!done) return;
          current.wire = buffer.subarray(0, offset);
          current.body = Buffer.concat(parts);
          buffer = buffer.subarray(offset);
        }
        const finished: Received = current;
        current = null;
        this.received.push(finished);
        this.answer(finished, socket);
      }
    });
  }
}

const upstream = new RawUpstream();
let gateway: Server;
let gatewayUrl: string;

beforeAll(async () => {
  await new Promise<void>((resolve) => upstream.server.listen(0, "127.0.0.1", resolve));
  gateway = createGateway({
    anonKey: ANON,
    serviceRoleKey: SERVICE,
    // Both proxied services go to the same raw upstream here.
    postgrestPort: upstream.port,
    functionsPort: upstream.port,
    auth: (_req, res) => Promise.resolve(sendJson(res, 200, { service: "auth" })),
    storage: (_req, res) => Promise.resolve(sendJson(res, 200, { service: "storage" })),
  });
  await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});

afterAll(async () => {
  gateway.closeAllConnections();
  await new Promise((resolve) => gateway.close(resolve));
  await new Promise((resolve) => upstream.server.close(resolve));
});

afterEach(() => {
  upstream.answer = (_request, socket) => socket.write("HTTP/1.1 204 No Content\r\n\r\n");
  upstream.early = null;
  upstream.received = [];
});

const rest = (path: string, init: RequestInit = {}) =>
  fetch(`${gatewayUrl}/rest/v1${path}`, {
    ...init,
    headers: { apikey: ANON, ...init.headers as Record<string, string> },
  });

describe("answers through the gateway", () => {
  it("passes bodies framed by length, by chunks (extensions, trailers) and by closing", async () => {
    const connectionsBefore = upstream.connections;
    upstream.answer = (request, socket) => {
      if (request.target === "/length") {
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world");
      } else if (request.target === "/chunked") {
        // Split across writes, with a chunk extension and a trailer.
        socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhel");
        setTimeout(() => socket.write("lo\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n"), 20);
      } else {
        socket.end("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end");
      }
    };
    for (const [path, body] of [["/length", "hello world"], ["/chunked", "hello world"]]) {
      const response = await rest(path);
      expect([response.status, await response.text()]).toEqual([200, body]);
    }
    const closing = await rest("/close");
    expect([closing.status, await closing.text()]).toEqual([200, "until the end"]);
    // The first two answers reused one kept-alive connection; the closed one needed another.
    const again = await rest("/length");
    expect(await again.text()).toBe("hello world");
    expect(upstream.connections - connectionsBefore).toBe(2);
  });

  it("sends no body for HEAD, 204 and 304, and keeps the connection in step", async () => {
    upstream.answer = (request, socket) => {
      if (request.method === "HEAD") {
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n");
      } else if (request.target === "/none") {
        socket.write("HTTP/1.1 204 No Content\r\n\r\n");
      } else if (request.target === "/same") {
        socket.write('HTTP/1.1 304 Not Modified\r\netag: "1"\r\n\r\n');
      } else socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    };
    const head = await rest("/x", { method: "HEAD" });
    expect([head.status, head.headers.get("content-length"), await head.text()])
      .toEqual([200, "5", ""]);
    const none = await rest("/none");
    expect([none.status, await none.text()]).toEqual([204, ""]);
    const same = await rest("/same");
    expect([same.status, same.headers.get("etag")]).toEqual([304, '"1"']);
    const after = await rest("/after");
    expect([after.status, await after.text()]).toEqual([200, "ok"]);
  });

  it("skips interim 1xx answers", async () => {
    upstream.answer = (_request, socket) =>
      socket.write(
        "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\n!",
      );
    const response = await rest("/x");
    expect([response.status, await response.text()]).toEqual([201, "!"]);
  });

  it("keeps repeated headers, drops hop-by-hop ones and versioned server headers, sets CORS", async () => {
    upstream.answer = (_request, socket) =>
      socket.write(
        [
          "HTTP/1.1 200 OK",
          "Server: postgrest/12.0.2",
          "Set-Cookie: a=1",
          "Set-Cookie: b=2",
          "Keep-Alive: timeout=30",
          "Access-Control-Allow-Origin: https://upstream.example",
          "Content-Range: 0-0/*",
          "Content-Length: 2",
          "",
          "[]",
        ].join("\r\n"),
      );
    const raw = await rawGet(`/rest/v1/x`, { apikey: ANON });
    const names = raw.headers.map(([name]) => name.toLowerCase());
    expect(names).not.toContain("server");
    expect(raw.headers.filter(([name]) => name === "Set-Cookie").map(([, v]) => v))
      .toEqual(["a=1", "b=2"]);
    expect(raw.headers.filter(([name]) => name.toLowerCase() === "keep-alive").map(([, v]) => v))
      .toEqual(["timeout=5"]); // Node's own, for the client's connection, not the upstream's
    expect(raw.headers.filter(([name]) => name.toLowerCase() === "access-control-allow-origin"))
      .toEqual([["access-control-allow-origin", "*"]]);
    expect(raw.headers).toContainEqual(["Content-Range", "0-0/*"]);
    expect(raw.body).toBe("[]");

    upstream.answer = (_request, socket) =>
      socket.write("HTTP/1.1 200 OK\r\nserver: cloudflare\r\ncontent-length: 0\r\n\r\n");
    const unversioned = await rest("/x");
    expect(unversioned.headers.get("server")).toBe("cloudflare");
  });

  it("tells which server headers name a version", () => {
    expect(["postgrest/12.0.2", "kong/2.8.1", "Deno/2.9.6", "nginx/1.25"].map(namesVersion))
      .toEqual([true, true, true, true]);
    expect(["cloudflare", "postgrest", "envoy"].map(namesVersion)).toEqual([false, false, false]);
  });
});

describe("requests through the gateway", () => {
  it("sends the upstream its own host, no hop-by-hop headers, and the key as the bearer token", async () => {
    await rawGet("/rest/v1/profiles?select=id", {
      apikey: ANON,
      connection: "keep-alive, x-hop",
      "x-hop": "1",
      "x-keep": "2",
    });
    const [received] = upstream.received;
    expect(received.method).toBe("GET");
    expect(received.target).toBe("/profiles?select=id");
    const headers = Object.fromEntries(received.headers);
    expect(headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(headers.authorization).toBe(`Bearer ${ANON}`);
    expect(headers.apikey).toBe(ANON);
    expect(headers["x-keep"]).toBe("2");
    expect(headers).not.toHaveProperty("x-hop");
    expect(headers).not.toHaveProperty("connection");

    // A caller's own token is kept; a key in the query string is accepted (Kong's key_in_query).
    await fetch(`${gatewayUrl}/rest/v1?apikey=${SERVICE}`, {
      headers: { authorization: "Bearer user-token" },
    });
    expect(upstream.received[1].target).toBe(`/?apikey=${SERVICE}`);
    expect(Object.fromEntries(upstream.received[1].headers).authorization).toBe(
      "Bearer user-token",
    );
  });

  it("forwards bodies with a length as a length and chunked bodies as chunks", async () => {
    upstream.answer = (request, socket) =>
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-length: ${request.body.length}\r\n\r\n${request.body}`,
      );
    const sized = await rest("/rpc/echo", { method: "POST", body: "a body of known length" });
    expect(await sized.text()).toBe("a body of known length");
    expect(Object.fromEntries(upstream.received[0].headers)["content-length"]).toBe("22");

    const parts = ["streamed ", "in ", "three parts"];
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
        controller.close();
      },
    });
    const chunked = await rest("/rpc/echo", {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(await chunked.text()).toBe(parts.join(""));
    const headers = Object.fromEntries(upstream.received[1].headers);
    expect(headers["transfer-encoding"]).toBe("chunked");
    expect(headers).not.toHaveProperty("content-length");
    expect(upstream.received[1].wire.toString()).toMatch(/\r\n0\r\n\r\n$/);
  });

  it("keeps transfer codings other than chunked, both ways", async () => {
    upstream.answer = (_request, socket) =>
      socket.write(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n4\r\nGZIP\r\n0\r\n\r\n",
      );
    const answer = await rawGet(
      "/functions/v1/x",
      { "transfer-encoding": "gzip, chunked" },
      "POST",
      ["not ", "really gzip"],
    );
    const received = upstream.received[0];
    expect(Object.fromEntries(received.headers)["transfer-encoding"]).toBe("gzip, chunked");
    expect(received.body.toString()).toBe("not really gzip");
    expect(answer.headers.filter(([name]) => name.toLowerCase() === "transfer-encoding"))
      .toEqual([["transfer-encoding", "gzip, chunked"]]);
    expect(answer.body).toBe("GZIP");
  });

  it("passes on an answer sent before the body was read, and drains the body", async () => {
    const body = new Uint8Array(5 * 1024 * 1024).fill(120);
    let n = 0;
    upstream.early = (_request, socket) => {
      // Half of the time the upstream closes at once, resetting whatever it has not read.
      const answer = "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\n\r\ntoo big!";
      if (n++ % 2 === 0) socket.end(answer);
      else socket.write(answer);
    };
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${gatewayUrl}/functions/v1/upload`, { method: "POST", body })
        .then(async (r) => `${r.status} ${await r.text()}`, (error) => `${error} ${error.cause}`);
      outcomes.push(response);
    }
    expect(outcomes).toEqual(Array(20).fill("413 too big!"));
    // The client's connection survived: the next request on it is answered.
    upstream.early = null;
    upstream.answer = (_request, socket) =>
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    const after = await fetch(`${gatewayUrl}/functions/v1/after`);
    expect(await after.text()).toBe("ok");
  }, 60_000);
});

describe("upstream failures", () => {
  it("sends a bodiless request again when a kept-alive connection turns out closed", async () => {
    // The upstream answers one request per connection and closes the connection, unanswered,
    // when a second request arrives on it (as a server closing an idle connection does).
    const served = new WeakSet<Socket>();
    upstream.answer = (_request, socket) => {
      if (served.has(socket)) return void socket.destroy();
      served.add(socket);
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    };
    for (let i = 0; i < 5; i++) {
      const response = await rest("/x");
      expect([response.status, await response.text()]).toEqual([200, "ok"]);
    }
    // The first was answered; each later one found its connection closed and went again.
    expect(upstream.received.filter((request) => request.method === "GET")).toHaveLength(9);
    // A request with a body is never sent on a reused connection (it could not be sent
    // again): it goes on a new one, is answered, and reaches the upstream exactly once.
    const connectionsBefore = upstream.connections;
    const withBody = await rest("/x", { method: "POST", body: "once" });
    expect([withBody.status, await withBody.text()]).toEqual([200, "ok"]);
    expect(upstream.connections - connectionsBefore).toBe(1);
    expect(upstream.received.filter((request) => request.method === "POST")).toHaveLength(1);
  });

  it("answers 502 when the upstream is down or answers nonsense", async () => {
    const down = createGateway({
      anonKey: ANON,
      serviceRoleKey: SERVICE,
      postgrestPort: await freePort(),
      functionsPort: upstream.port,
      auth: () => Promise.resolve(),
      storage: () => Promise.resolve(),
    });
    await new Promise<void>((resolve) => down.listen(0, "127.0.0.1", resolve));
    const response = await fetch(
      `http://127.0.0.1:${(down.address() as AddressInfo).port}/rest/v1/x`,
      { headers: { apikey: ANON } },
    );
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({
      message: "An invalid response was received from the upstream server",
    });
    down.closeAllConnections();
    await new Promise((resolve) => down.close(resolve));

    upstream.answer = (_request, socket) => socket.end("SSH-2.0-OpenSSH\r\n\r\n");
    expect((await rest("/x")).status).toBe(502);
  });

  it("breaks the client's answer off when the upstream dies in the middle of it", async () => {
    upstream.answer = (_request, socket) => {
      socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part");
      setTimeout(() => socket.destroy(), 20);
    };
    const response = await rest("/x");
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
  });
});

describe("slow and departing clients", () => {
  it("streams a large answer to a slow reader without losing or reordering bytes", async () => {
    const payload = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i, i);
    upstream.answer = (_request, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${payload.length}\r\n\r\n`);
      socket.write(payload);
    };
    const response = await rest("/large");
    const reader = response.body!.getReader();
    const hash = createHash("sha256");
    let length = 0;
    for (let reads = 0;; reads++) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      length += value.length;
      // Read slowly at first, so the gateway has to hold the upstream back.
      if (reads < 20) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(length).toBe(payload.length);
    expect(hash.digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"));
  });

  it("closes the upstream connection when the client leaves before its answer", async () => {
    let upstreamSocket: Socket | null = null;
    upstream.answer = (_request, socket) => {
      upstreamSocket = socket;
      socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n");
    };
    const controller = new AbortController();
    const response = await rest("/stream", { signal: controller.signal });
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("abc");
    controller.abort();
    await until(() => upstreamSocket !== null && (upstreamSocket as Socket).destroyed);
  });
});

/** A GET through node:http, to see the answer's raw header list (fetch merges repeats). */
function rawGet(
  path: string,
  headers: Record<string, string>,
  method = "GET",
  body: string[] = [],
): Promise<{ headers: [string, string][]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${gatewayUrl}${path}`, { method, headers }, (res) => {
      const pairs: [string, string][] = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) {
        pairs.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
      }
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ headers: pairs, body }));
    });
    req.on("error", reject);
    for (const part of body) req.write(part);
    req.end();
  });
}

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(condition()).toBe(true);
}
