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

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { sendJson, type SubHandler } from "./http.ts";
import type { RealtimeStandIn } from "./realtime/server.ts";
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
}

const CORS_HEADERS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
  "access-control-expose-headers": "content-range, content-profile, x-supabase-api-version",
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

  function proxyRest(req: IncomingMessage, res: ServerResponse, url: string, path: string) {
    const request = requestHead(req, path, postgrest.host);
    const apikey = request.apikey ?? queryApiKey(url);
    const problem = keyProblem(apikey);
    if (problem) return sendJson(res, 401, { message: problem }, CORS_HEADERS);
    if (!request.hasAuthorization) request.head += `authorization: Bearer ${apikey}\r\n`;
    postgrest.forward(req, res, request, PROXIED_ANSWER, badGateway);
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
        if (problem) return sendJson(res, 401, { message: problem }, CORS_HEADERS);
        if (apikey) req.headers.authorization ??= `Bearer ${apikey}`;
        for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
        return options.auth(req, res, path);
      }
      case "storage": {
        // Public and signed object URLs are fetched bare (an <img src>), so Kong asks Storage
        // for no key; Storage authorizes each request itself. A key present still stands in
        // for a missing JWT.
        const apikey = req.headers.apikey as string | undefined;
        if (apikey && apiKeys.has(apikey)) req.headers.authorization ??= `Bearer ${apikey}`;
        for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
        return options.storage(req, res, path);
      }
      case "realtime":
        if (!options.realtime) return sendJson(res, 404, NO_ROUTE, CORS_HEADERS);
        // Kong passes /realtime/v1 to Realtime without a key check; Realtime checks the token.
        for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
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
  });
  return server;
}
