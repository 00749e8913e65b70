// A local stand-in for the subset of Stripe's REST API the payments functions call, so the
// real Stripe SDK can be pointed at it (host, port, protocol) and the stack needs no network.
// It answers /v1 as Stripe does — secret-key auth, form-encoded parameters in bracket
// notation, Stripe's object shapes, id prefixes, list shape, `expand[]`, error format and
// idempotency semantics — and delivers the events it records as signed webhooks (see
// stripe/webhooks.ts). Simulations and webhook control live under /_test/ (stripe/simulate.ts).
// State is in memory and starts empty with each stack.
//
// With real test-mode keys in functions/.env and no STRIPE_API_BASE, the functions talk to
// Stripe instead; nothing here is needed then.

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readBody, sendJson } from "./http.ts";
import { apiRoutes, type Ctx, type Handler } from "./stripe/api.ts";
import { Bank } from "./stripe/bank.ts";
import { invoicePaymentSettled } from "./stripe/billing.ts";
import { StripeError } from "./stripe/errors.ts";
import { type Params, parseForm } from "./stripe/form.ts";
import { Reader } from "./stripe/params.ts";
import { newId, Store } from "./stripe/state.ts";
import { type TestCtx, testRoutes } from "./stripe/simulate.ts";
import { API_VERSION, Webhooks } from "./stripe/webhooks.ts";

export interface StripeStandInOptions {
  /** Where the stand-in listens; its URLs (account links, checkout) use it. */
  port: number;
  /** The `whsec_…` secret webhook deliveries are signed with. */
  webhookSecret: string;
  /** Where events are POSTed unless a test points them elsewhere. */
  webhookUrl: string;
}

export interface StripeStandIn {
  server: Server;
  webhooks: Webhooks;
  close(): void;
}

/** A fresh pair of local keys, shaped like Stripe's test-mode keys. */
export function localStripeKeys(): { secretKey: string; webhookSecret: string } {
  return {
    secretKey: `sk_test_local_${randomBytes(18).toString("base64url")}`,
    webhookSecret: `whsec_${randomBytes(24).toString("base64")}`,
  };
}

interface SavedResponse {
  endpoint: string;
  fingerprint: string;
  status: number;
  body: unknown;
  requestId: string;
}

/** JSON with sorted keys: two requests with the same parameters in another order compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort((
      [a],
      [b],
    ) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${
      entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(",")
    }}`;
  }
  return JSON.stringify(value);
}

function authError(message: string): StripeError {
  return new StripeError(401, "invalid_request_error", message);
}

/** The secret key of the request (Bearer, or Basic with the key as user name), or Stripe's 401. */
function secretKey(req: IncomingMessage): string {
  const header = req.headers.authorization ?? "";
  let key: string | null = null;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  const basic = /^Basic\s+(\S+)$/i.exec(header);
  if (bearer) key = bearer[1];
  else if (basic) key = Buffer.from(basic[1], "base64").toString("utf8").split(":")[0];
  if (!key) {
    throw authError(
      "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
    );
  }
  if (!/^sk_test_\S+$/.test(key)) {
    const masked = key.length > 12
      ? `${key.slice(0, 8)}${"*".repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`
      : key;
    throw authError(`Invalid API Key provided: ${masked}`);
  }
  return key;
}

function isLoopback(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? "";
  return address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1";
}

export function createStripeStandIn(options: StripeStandInOptions): StripeStandIn {
  const baseUrl = `http://127.0.0.1:${options.port}`;
  const store = new Store();
  const webhooks = new Webhooks({ defaultUrl: options.webhookUrl, secret: options.webhookSecret });
  const bank = new Bank(store, webhooks);
  // An invoice's payment intent paid or declined (by Billing or by a client confirming it).
  bank.paymentListeners.push((pi, charge, origin) =>
    invoicePaymentSettled(bank, pi, charge, origin)
  );
  /** Saved responses by secret key and idempotency key (Stripe scopes keys to the account). */
  const saved = new Map<string, SavedResponse>();

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const requestId = newId("req");
    const method = req.method ?? "GET";
    const headers: Record<string, string> = {
      "request-id": requestId,
      "stripe-version": String(req.headers["stripe-version"] ?? API_VERSION),
    };
    const idempotencyKey = method === "POST"
      ? (req.headers["idempotency-key"] as string | undefined) ?? null
      : null;
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    let saveAs: string | null = null;
    const endpoint = `${method} ${url.pathname}`;
    let fingerprint = "";
    try {
      const key = secretKey(req);
      if (req.headers["stripe-account"]) {
        throw new StripeError(
          400,
          "invalid_request_error",
          "The local Stripe stand-in does not act on connected accounts (the Stripe-Account header).",
          undefined,
          "stripe_account",
        );
      }
      const raw = (await readBody(req, 1024 * 1024)).toString("utf8");
      const params: Params = parseForm(method === "POST" ? raw : url.search.slice(1));
      const route = apiRoutes.find(([m, pattern]) => m === method && pattern.test(url.pathname));
      if (!route) {
        throw new StripeError(
          404,
          "invalid_request_error",
          `Unrecognized request URL (${method}: ${url.pathname}). The local Stripe stand-in answers only the subset of Stripe's API the project uses; see stack/stripe/api.ts.`,
        );
      }

      if (idempotencyKey) {
        if (idempotencyKey.length > 255) {
          throw new StripeError(
            400,
            "invalid_request_error",
            "Invalid Idempotency-Key: keys can be no longer than 255 characters.",
            undefined,
            "idempotency_key",
          );
        }
        saveAs = `${key}\u0000${idempotencyKey}`;
        fingerprint = canonical(params);
        const previous = saved.get(saveAs);
        if (previous) {
          saveAs = null;
          if (previous.endpoint !== endpoint) {
            throw new StripeError(
              400,
              "idempotency_error",
              `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${previous.endpoint}' vs '${endpoint}'). Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            );
          }
          if (previous.fingerprint !== fingerprint) {
            throw new StripeError(
              400,
              "idempotency_error",
              `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            );
          }
          return sendJson(res, previous.status, previous.body, {
            ...headers,
            "idempotent-replayed": "true",
            "original-request": previous.requestId,
          });
        }
      }

      const [, pattern, handler] = route;
      const reader = new Reader(params);
      const ctx: Ctx = {
        bank,
        store,
        webhooks,
        reader,
        origin: { id: requestId, idempotency_key: idempotencyKey },
        baseUrl,
        params: pattern.exec(url.pathname)!.slice(1),
      };
      const expand = reader.expand();
      const body = store.expand(await (handler as Handler)(ctx), expand);
      if (saveAs) saved.set(saveAs, { endpoint, fingerprint, status: 200, body, requestId });
      sendJson(res, 200, body, headers);
    } catch (error) {
      const failure = error instanceof StripeError ? error : null;
      if (!failure) console.error("stripe stand-in:", error);
      const status = failure?.status ?? 500;
      const body = failure?.render() ??
        {
          error: {
            type: "api_error",
            message: "An unexpected error occurred in the local Stripe stand-in.",
          },
        };
      if (saveAs && failure?.saved) {
        saved.set(saveAs, { endpoint, fingerprint, status, body, requestId });
      }
      sendJson(res, status, body, headers);
    }
  }

  async function test(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      if (!isLoopback(req)) {
        throw new StripeError(
          403,
          "invalid_request_error",
          "The /_test/ endpoints answer only on 127.0.0.1.",
        );
      }
      const method = req.method ?? "GET";
      const route = testRoutes.find(([m, pattern]) => m === method && pattern.test(url.pathname));
      if (!route) {
        throw new StripeError(
          404,
          "invalid_request_error",
          `Unrecognized request URL (${method}: ${url.pathname}).`,
        );
      }
      const raw = (await readBody(req, 1024 * 1024)).toString("utf8");
      let body: unknown = {};
      if (raw.trim() !== "") {
        try {
          body = JSON.parse(raw);
        } catch {
          throw new StripeError(
            400,
            "invalid_request_error",
            "The /_test/ endpoints take a JSON body.",
          );
        }
      }
      const [, pattern, handler] = route;
      const ctx: TestCtx = {
        bank,
        store,
        webhooks,
        reader: new Reader({}),
        origin: { id: null, idempotency_key: null },
        baseUrl,
        params: pattern.exec(url.pathname)!.slice(1),
        body,
        query: url.searchParams,
      };
      const result = await handler(ctx);
      if (result.redirect) {
        res.writeHead(302, { location: result.redirect });
        return void res.end();
      }
      sendJson(res, result.status ?? 200, result.body ?? {});
    } catch (error) {
      if (error instanceof StripeError) return sendJson(res, error.status, error.render());
      console.error("stripe stand-in:", error);
      sendJson(res, 500, { error: { type: "api_error", message: String(error) } });
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", baseUrl);
    const handle = url.pathname.startsWith("/_test/") ? test(req, res, url) : api(req, res, url);
    handle.catch((error) => {
      console.error("stripe stand-in:", error);
      if (!res.headersSent) {
        sendJson(res, 500, {
          error: { type: "api_error", message: "An unexpected error occurred." },
        });
      } else res.destroy();
    });
  });

  return {
    server,
    webhooks,
    close() {
      webhooks.stop();
      server.close();
      server.closeAllConnections();
    },
  };
}
