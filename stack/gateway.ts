// The local API gateway: one URL laid out like a Supabase project's, doing what Kong does
// there. /rest/v1 goes to PostgREST, /functions/v1 to the Deno functions router, /auth/v1
// and /storage/v1 to the in-process stand-ins. Like Kong, it requires a project API key on
// rest and auth, and sends the key as the bearer token when a request has none.

import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import { sendJson, type SubHandler } from "./http.ts";

export interface GatewayOptions {
  anonKey: string;
  serviceRoleKey: string;
  postgrestPort: number;
  functionsPort: number;
  auth: SubHandler;
  storage: SubHandler;
}

const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
  "access-control-expose-headers": "content-range, content-profile, x-supabase-api-version",
  "access-control-max-age": "3600",
};

export function createGateway(options: GatewayOptions): Server {
  const apiKeys = new Set([options.anonKey, options.serviceRoleKey]);
  // Reuse upstream connections: a new TCP connection per request would halve throughput.
  const upstreamAgent = new Agent({ keepAlive: true, maxSockets: 128 });

  /** Kong's key-auth: the request must carry a project key; the key stands in for a missing JWT. */
  function admit(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const apikey = (req.headers.apikey as string | undefined) ?? url.searchParams.get("apikey");
    if (!apikey) {
      sendJson(res, 401, { message: "No API key found in request" }, CORS_HEADERS);
      return false;
    }
    if (!apiKeys.has(apikey)) {
      sendJson(res, 401, { message: "Invalid API key" }, CORS_HEADERS);
      return false;
    }
    req.headers.authorization ??= `Bearer ${apikey}`;
    return true;
  }

  function proxy(req: IncomingMessage, res: ServerResponse, port: number, path: string): void {
    const upstream = request(
      {
        host: "127.0.0.1",
        port,
        method: req.method,
        path,
        headers: { ...req.headers, host: `127.0.0.1:${port}` },
        agent: upstreamAgent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...CORS_HEADERS });
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) {
        sendJson(
          res,
          502,
          { message: "An invalid response was received from the upstream server" },
          CORS_HEADERS,
        );
      } else {
        res.destroy();
      }
    });
    req.pipe(upstream);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://gateway.local");
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        ...CORS_HEADERS,
        "access-control-allow-headers": req.headers["access-control-request-headers"] ??
          "authorization, x-client-info, apikey, content-type",
      });
      return void res.end();
    }
    const [, service, version] = url.pathname.split("/");
    const rest = (req.url ?? "/").slice(`/${service}/${version}`.length) || "/";
    if (version !== "v1") {
      return sendJson(res, 404, { message: "no Route matched with those values" }, CORS_HEADERS);
    }

    switch (service) {
      case "functions":
        // The edge runtime checks JWTs itself (verify_jwt); Kong does not ask functions for a key.
        return proxy(req, res, options.functionsPort, rest);
      case "rest":
        if (admit(req, res, url)) proxy(req, res, options.postgrestPort, rest);
        return;
      case "auth":
        if (!admit(req, res, url)) return;
        for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
        return await options.auth(req, res, rest);
      case "storage": {
        // Public and signed object URLs are fetched bare (an <img src>), so Kong asks Storage
        // for no key; Storage authorizes each request itself. A key present still stands in
        // for a missing JWT.
        const apikey = req.headers.apikey as string | undefined;
        if (apikey && apiKeys.has(apikey)) req.headers.authorization ??= `Bearer ${apikey}`;
        for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
        return await options.storage(req, res, rest);
      }
      default:
        return sendJson(res, 404, { message: "no Route matched with those values" }, CORS_HEADERS);
    }
  }

  return createServer((req, res) => {
    route(req, res).catch((error) => {
      console.error("gateway:", error);
      if (!res.headersSent) {
        sendJson(res, 500, { message: "An unexpected error occurred" }, CORS_HEADERS);
      } else res.destroy();
    });
  });
}
