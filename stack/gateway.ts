// The local API gateway: one URL laid out like a Supabase project's, doing what Kong does
// there. /rest/v1 goes to PostgREST, /functions/v1 to the Deno functions router, /auth/v1,
// /storage/v1 and /realtime/v1 (its WebSocket and REST API) to the in-process stand-ins.
// Like Kong, it requires a project API key on rest and auth, and sends the key as the bearer
// token when a request has none.
//
// It is a thin proxy: everything that can be decided once is decided in createGateway, a
// request is routed by slicing its URL, and PostgREST and the functions are reached through
// stack/upstream.ts (kept-alive connections, bodies streamed both ways, an early answer
// passed on while the rest of the request body is drained). Answers lose a `server` header
// that names a version (PostgREST's `postgrest/12.0.2`).
//
// Given a request log and a read limiter (the stack gives both; the gateway's own tests may
// not), it writes one request-log row per rest, auth, storage and realtime request
// (stack/request-log.ts), counts PostgREST reads against the api_read rate limit and Storage
// object uploads against the upload rate limit (stack/read-limits.ts).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { sendJson, type SubHandler } from "./http.ts";
import {
  type Caller,
  type ReadDecision,
  type ReadLimiter,
  readLimitHeaders,
  UPLOAD_CLASS,
} from "./read-limits.ts";
import type { RealtimeStandIn } from "./realtime/server.ts";
import type { RequestLog, RouteClass } from "./request-log.ts";
import { type AnswerRewrite, requestHead, Upstream } from "./upstream.ts";

export interface GatewayOptions {
  anonKey: string;
  serviceRoleKey: string;
  postgrestPort: number;
  functionsPort: number;
  auth: SubHandler;
  storage: SubHandler;
  /** Absent in gateway tests that need no Realtime: /realtime/v1 then answers 404. */
  realtime?: RealtimeStandIn;
  /** Where rest, auth, storage and realtime requests are logged (absent: not logged). */
  requestLog?: RequestLog;
  /** The api_read limit on PostgREST reads and the upload limit on Storage uploads (absent: not counted). */
  readLimiter?: ReadLimiter;
}

const CORS_HEADERS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
  // The rate limit headers too (issue 19), so a browser's script can read them.
  "access-control-expose-headers":
    "content-range, content-profile, x-supabase-api-version, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, ratelimit, ratelimit-policy, retry-after",
  "access-control-max-age": "3600",
};

/** What proxied answers go through: the gateway's CORS headers replace the upstream's. */
const PROXIED_ANSWER: AnswerRewrite = {
  drop: (name, value) => name in CORS_HEADERS || (name === "server" && namesVersion(value)),
  append: Object.entries(CORS_HEADERS).flat(),
};

/** Whether a `server` header says which version runs (`postgrest/12.0.2`, `kong/2.8.1`). */
export function namesVersion(value: string): boolean {
  return /\d/.test(value);
}

const NO_ROUTE = { message: "no Route matched with those values" };

/**
 * The client's address as the database takes it for the other classes
 * (private.request_address): the first X-Forwarded-For entry, which the proxy in front sets;
 * null without one (nothing to count an anonymous caller by, as GoTrue does).
 */
function clientAddress(req: IncomingMessage): string | null {
  const forwarded = req.headers["x-forwarded-for"];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0].trim();
  return first && isIP(first) ? first : null;
}

/** The bearer token a request carries, or the API key standing in for it. */
function bearerOf(req: IncomingMessage, apikey: string | null | undefined): string | null {
  const header = req.headers.authorization;
  if (header && header.length > 7 && /^bearer /i.test(header)) return header.slice(7).trim();
  return apikey ?? null;
}

/** A read refused by the api_read limit: 429, PostgREST's error body, Retry-After. */
function tooManyReads(res: ServerResponse, decision: ReadDecision & { counted: true }): void {
  sendJson(
    res,
    429,
    {
      code: "PT429",
      message: `rate limit reached: ${decision.limit} reads per ${
        decision.window === 60 ? "minute" : "hour"
      } for the ${decision.tier} tier; retry in ${decision.reset} s`,
      details: null,
      hint: null,
    },
    { ...CORS_HEADERS, ...readLimitHeaders(decision) },
  );
}

/**
 * Whether a Storage request (its path under /storage/v1) creates an object, as the upload
 * class counts in the database (the storage.objects insert policy): POST or PUT
 * /object/<bucket>/<name>, PUT /object/upload/sign/<bucket>/<name> (a signed upload) and POST
 * /object/copy; not listing, signing or moving, which create nothing.
 */
export function isUpload(method: string | undefined, path: string): boolean {
  const queryAt = path.indexOf("?");
  const pathname = queryAt < 0 ? path : path.slice(0, queryAt);
  if (method === "POST") {
    if (pathname === "/object/copy") return true;
    return /^\/object\/[^/]+\/.+$/.test(pathname) &&
      !/^\/object\/(list|list-v2|sign|upload\/sign)\//.test(pathname);
  }
  return method === "PUT" && /^\/object\/[^/]+\/.+$/.test(pathname);
}

/**
 * An upload refused by the upload limit: 429, Retry-After and Storage's error body for a 429
 * (its error handler's: statusCode "429", code SlowDown), which storage-js reports as a
 * StorageApiError with status 429.
 */
function tooManyUploads(res: ServerResponse, decision: ReadDecision & { counted: true }): void {
  sendJson(
    res,
    429,
    {
      statusCode: "429",
      code: "SlowDown",
      error: "too_many_requests",
      message: `rate limit reached: ${decision.limit} uploads per ${
        decision.window === 60 ? "minute" : "hour"
      } for the ${decision.tier} tier; retry in ${decision.reset} s`,
    },
    { ...CORS_HEADERS, ...readLimitHeaders(decision) },
  );
}

function badGateway(res: ServerResponse): void {
  sendJson(
    res,
    502,
    { message: "An invalid response was received from the upstream server" },
    CORS_HEADERS,
  );
}

/** The value of an `apikey` query parameter, which Kong's key-auth also accepts. */
function queryApiKey(url: string): string | null {
  const query = url.indexOf("?");
  return query < 0 ? null : new URLSearchParams(url.slice(query + 1)).get("apikey");
}

export function createGateway(options: GatewayOptions): Server {
  const apiKeys = new Set([options.anonKey, options.serviceRoleKey]);
  const postgrest = new Upstream(options.postgrestPort);
  const functions = new Upstream(options.functionsPort);

  /** Kong's key-auth: the request must carry a project key; the key stands in for a missing JWT. */
  function keyProblem(apikey: string | null | undefined): string | null {
    if (!apikey) return "No API key found in request";
    return apiKeys.has(apikey) ? null : "Invalid API key";
  }

  const { requestLog, readLimiter } = options;

  /**
   * Logs the request when its answer is done (or the client went away: 499), with the
   * caller's role and tier as far as the gateway learnt them.
   */
  function logWhenDone(
    req: IncomingMessage,
    res: ServerResponse,
    routeClass: RouteClass,
    path: string,
    caller: Caller | null | undefined,
    tier: string | null,
  ): void {
    const at = Date.now();
    const begun = performance.now();
    res.once("close", () => {
      requestLog!.add({
        at,
        routeClass,
        method: req.method ?? "GET",
        path,
        status: res.writableFinished ? res.statusCode : 499,
        durationMs: performance.now() - begun,
        role: caller?.role ?? null,
        tier,
      });
    });
  }

  /** The caller a request's token proves, when the gateway needs it (logging or limits). */
  function callerOf(
    req: IncomingMessage,
    apikey: string | null | undefined,
  ): Caller | null | Promise<Caller | null> {
    const token = bearerOf(req, apikey);
    if (!token || !readLimiter) return null;
    return readLimiter.callerOf(token);
  }

  function proxyRest(req: IncomingMessage, res: ServerResponse, url: string, path: string) {
    const request = requestHead(req, path, postgrest.host);
    const apikey = request.apikey ?? queryApiKey(url);
    const problem = keyProblem(apikey);
    if (problem) {
      if (requestLog) logWhenDone(req, res, "rest", path, null, null);
      return sendJson(res, 401, { message: problem }, CORS_HEADERS);
    }
    if (!request.hasAuthorization) request.head += `authorization: Bearer ${apikey}\r\n`;
    if (!readLimiter && !requestLog) {
      return postgrest.forward(req, res, request, PROXIED_ANSWER, badGateway);
    }
    const caller = callerOf(req, apikey);
    if (caller instanceof Promise) {
      return caller.then((known) => limitAndForward(req, res, path, request, known));
    }
    limitAndForward(req, res, path, request, caller);
  }

  function limitAndForward(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    request: ReturnType<typeof requestHead>,
    caller: Caller | null,
  ): void | Promise<void> {
    const read = req.method === "GET" || req.method === "HEAD";
    if (!read || !readLimiter) {
      // The functions' own request-log writes are not requests to report.
      if (requestLog && !path.startsWith("/rpc/record_requests")) {
        logWhenDone(req, res, "rest", path, caller, null);
      }
      return postgrest.forward(req, res, request, PROXIED_ANSWER, badGateway);
    }
    const decision = readLimiter.hit(caller, clientAddress(req));
    if (decision instanceof Promise) {
      return decision.then((known) => decided(req, res, path, request, caller, known));
    }
    decided(req, res, path, request, caller, decision);
  }

  function decided(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    request: ReturnType<typeof requestHead>,
    caller: Caller | null,
    decision: ReadDecision,
  ): void {
    if (requestLog) logWhenDone(req, res, "rest", path, caller, decision.tier);
    if (!decision.counted) return postgrest.forward(req, res, request, PROXIED_ANSWER, badGateway);
    if (!decision.allowed) return tooManyReads(res, decision);
    for (const [name, value] of Object.entries(readLimitHeaders(decision))) {
      res.setHeader(name, value);
    }
    postgrest.forward(req, res, request, PROXIED_ANSWER, badGateway);
  }

  /** Logs a request to a stand-in (auth, storage, realtime) once its caller is known. */
  function logStandIn(
    req: IncomingMessage,
    res: ServerResponse,
    routeClass: RouteClass,
    path: string,
    apikey: string | null | undefined,
  ): void {
    if (!requestLog) return;
    const caller = callerOf(req, apikey);
    if (caller instanceof Promise) {
      // Known before the answer is: verifying a token is quicker than any stand-in's work.
      let known: Caller | null = null;
      void caller.then((c) => (known = c));
      const at = Date.now();
      const begun = performance.now();
      res.once("close", () => {
        requestLog.add({
          at,
          routeClass,
          method: req.method ?? "GET",
          path,
          status: res.writableFinished ? res.statusCode : 499,
          durationMs: performance.now() - begun,
          role: known?.role ?? null,
          tier: null,
        });
      });
    } else logWhenDone(req, res, routeClass, path, caller, null);
  }

  /** Counts an upload against the upload limit: refused with 429, else on to Storage with the headers. */
  async function limitUpload(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    apikey: string | undefined,
  ): Promise<void> {
    const caller = await callerOf(req, apikey);
    const decision = await readLimiter!.hit(caller, clientAddress(req), UPLOAD_CLASS);
    if (decision.counted) {
      if (!decision.allowed) {
        // The body is not read: drain it so the connection stays usable.
        req.resume();
        return tooManyUploads(res, decision);
      }
      for (const [name, value] of Object.entries(readLimitHeaders(decision))) {
        res.setHeader(name, value);
      }
    }
    return options.storage(req, res, path);
  }

  /** Routes a request; the stand-ins' handlers are async, the proxied routes are not. */
  function route(req: IncomingMessage, res: ServerResponse): void | Promise<void> {
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        ...CORS_HEADERS,
        "access-control-allow-headers": req.headers["access-control-request-headers"] ??
          "authorization, x-client-info, apikey, content-type",
      });
      return void res.end();
    }
    // /<service>/<version><path>, the path beginning with / (or nothing: /).
    const url = req.url ?? "/";
    const serviceEnd = url.indexOf("/", 1);
    if (serviceEnd < 0) return sendJson(res, 404, NO_ROUTE, CORS_HEADERS);
    let versionEnd = serviceEnd + 1;
    while (versionEnd < url.length && url[versionEnd] !== "/" && url[versionEnd] !== "?") {
      versionEnd++;
    }
    if (url.slice(serviceEnd + 1, versionEnd) !== "v1") {
      return sendJson(res, 404, NO_ROUTE, CORS_HEADERS);
    }
    const tail = url.slice(versionEnd);
    const path = tail === "" ? "/" : tail[0] === "?" ? `/${tail}` : tail;

    switch (url.slice(1, serviceEnd)) {
      case "rest":
        return proxyRest(req, res, url, path);
      case "functions":
        // The edge runtime checks JWTs itself (verify_jwt); Kong does not ask functions for a key.
        return functions.forward(
          req,
          res,
          requestHead(req, path, functions.host),
          PROXIED_ANSWER,
          badGateway,
        );
      case "auth": {
        const apikey = (req.headers.apikey as string | undefined) ?? queryApiKey(url);
        // Kong's open Auth routes (auth-v1-open, -open-callback, -open-authorize in the CLI's
        // kong.yml): a browser follows a mailed link or an OAuth redirect there without a key.
        const open = /^\/(verify|callback|authorize)(\?|\/?$)/.test(path);
        const problem = open ? null : keyProblem(apikey);
        if (problem) {
          if (requestLog) logWhenDone(req, res, "auth", path, null, null);
          return sendJson(res, 401, { message: problem }, CORS_HEADERS);
        }
        if (apikey) req.headers.authorization ??= `Bearer ${apikey}`;
        for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
        logStandIn(req, res, "auth", path, apikey);
        return options.auth(req, res, path);
      }
      case "storage": {
        // Public and signed object URLs are fetched bare (an <img src>), so Kong asks Storage
        // for no key; Storage authorizes each request itself. A key present still stands in
        // for a missing JWT.
        const apikey = req.headers.apikey as string | undefined;
        if (apikey && apiKeys.has(apikey)) req.headers.authorization ??= `Bearer ${apikey}`;
        for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
        logStandIn(req, res, "storage", path, apikey);
        if (!readLimiter || !isUpload(req.method, path)) return options.storage(req, res, path);
        return limitUpload(req, res, path, apikey);
      }
      case "realtime":
        if (!options.realtime) return sendJson(res, 404, NO_ROUTE, CORS_HEADERS);
        // Kong passes /realtime/v1 to Realtime without a key check; Realtime checks the token.
        for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
        logStandIn(req, res, "realtime", path, req.headers.apikey as string | undefined);
        return options.realtime.rest(req, res, path);
      default:
        return sendJson(res, 404, NO_ROUTE, CORS_HEADERS);
    }
  }

  function unexpected(res: ServerResponse, error: unknown): void {
    console.error("gateway:", error);
    if (!res.headersSent) {
      sendJson(res, 500, { message: "An unexpected error occurred" }, CORS_HEADERS);
    } else res.destroy();
  }

  const server = createServer((req, res) => {
    try {
      route(req, res)?.catch((error) => unexpected(res, error));
    } catch (error) {
      unexpected(res, error);
    }
  });
  // WebSocket upgrades: /realtime/v1/websocket only.
  server.on("upgrade", (req, socket, head) => {
    const url = req.url ?? "/";
    if (options.realtime && /^\/realtime\/v1\/websocket\/?(\?|$)/.test(url)) {
      return options.realtime.upgrade(req, socket, head, url.slice("/realtime/v1".length));
    }
    socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
  });
  server.on("close", () => {
    postgrest.close();
    functions.close();
    void requestLog?.close();
  });
  return server;
}
