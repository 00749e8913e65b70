// The catcher's HTTP side: the subset of Mailpit's API v1 that tests and people use to read
// caught mail (server/apiv1 in axllent/mailpit: the same routes, JSON shapes, defaults, plain-
// text errors and statuses), and a minimal web page listing the mails with each one viewable.
// Mailpit's web UI (tags, HTML checks, link checks, release/relay, websockets) is not served.

import type { IncomingMessage, ServerResponse } from "node:http";
import { simpleParser } from "mailparser";
import { readBody } from "../http.ts";
import type { Mailbox } from "./mailbox.ts";
import { type CaughtMail, goTime, headersOf, summaryOf, viewOf } from "./message.ts";

/**
 * Go's json.Encoder output: the document and a newline, with <, >, & and the JavaScript line
 * separators written as \u escapes, as Go writes them by default (SetEscapeHTML(true)).
 */
function sendGoJson(res: ServerResponse, body: unknown): void {
  const payload = `${
    JSON.stringify(body).replace(
      /[<>&\u2028\u2029]/g,
      (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
    )
  }\n`;
  res.writeHead(200, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string | Buffer,
  contentType = "text/plain",
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Mailpit's fourOFour for a message or part it does not have. */
const notFound = (res: ServerResponse) =>
  sendText(res, 404, "404 page not found", "text/plain", { "referrer-policy": "no-referrer" });

/** Mailpit's httpError: a 400 with the reason as plain text. */
const badRequest = (res: ServerResponse, message: string) =>
  sendText(res, 400, message, "text/plain", { "referrer-policy": "no-referrer" });

/** Mailpit's getStartLimit: start ≥ 0 (default 0), limit ≥ 0 (default 50). */
function startLimit(query: URLSearchParams): { start: number; limit: number } {
  const integer = (
    raw: string | null,
  ) => (raw !== null && /^[+-]?\d+$/.test(raw) ? Number(raw) : NaN);
  const start = integer(query.get("start"));
  const limit = integer(query.get("limit"));
  return { start: start > 0 ? start : 0, limit: limit > -1 ? limit : 50 };
}

function summaryList(
  mailbox: Mailbox,
  matching: readonly CaughtMail[],
  page: CaughtMail[],
  start: number,
  answering: "list" | "search",
) {
  return {
    total: mailbox.all().length,
    unread: mailbox.unread,
    count: page.length,
    messages_count: matching.length,
    messages_unread: matching.filter((mail) => !mail.read).length,
    start,
    tags: [],
    messages: page.map((mail) => summaryOf(mail, answering)),
  };
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[char]!,
  );

const addressText = (list: CaughtMail["to"]) =>
  list.map((a) => (a.Name ? `${a.Name} <${a.Address}>` : a.Address)).join(", ");

const PAGE_STYLE =
  "body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;width:100%}" +
  "td,th{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}" +
  "tr.unread td{font-weight:600}iframe{width:100%;height:70vh;border:1px solid #ccc}" +
  "pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}dt{font-weight:600}";

/** Names the page's maker, so a test can tell this page from Mailpit's own web UI. */
export const STAND_IN_GENERATOR = "marketplace local stack: Mailpit stand-in";

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8">` +
    `<meta name="generator" content="${STAND_IN_GENERATOR}"><title>${
      escapeHtml(title)
    }</title><style>${PAGE_STYLE}</style></head><body>${body}</body></html>`;
}

function listPage(mailbox: Mailbox): string {
  const rows = mailbox.all().map((mail) =>
    `<tr class="${mail.read ? "read" : "unread"}"><td>${escapeHtml(goTime(mail.created))}</td>` +
    `<td>${escapeHtml(addressText([mail.from]))}</td><td>${
      escapeHtml(addressText([...mail.to, ...mail.cc, ...mail.bcc]))
    }</td><td><a href="view/${encodeURIComponent(mail.id)}">${
      escapeHtml(mail.subject || "(no subject)")
    }</a></td></tr>`
  ).join("");
  return page(
    "Mailpit (local stand-in)",
    `<h1>Mail caught by the local stack</h1><p>${mailbox.all().length} messages, newest first. ` +
      `API: <a href="api/v1/messages">api/v1/messages</a>.</p>` +
      `<table><thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th></tr></thead>` +
      `<tbody>${rows}</tbody></table>`,
  );
}

function viewPage(mail: CaughtMail): string {
  const view = viewOf(mail);
  const fields: Array<[string, string]> = [
    ["From", addressText([view.From])],
    ["To", addressText(view.To)],
    ["Cc", addressText(view.Cc)],
    ["Bcc", addressText(view.Bcc)],
    ["Subject", view.Subject],
    ["Date", view.Date],
    ["Attachments", view.Attachments.map((a) => `${a.FileName} (${a.Size} bytes)`).join(", ")],
  ];
  // The mail's HTML runs in a sandbox with no scripts and no origin of its own.
  const html = view.HTML
    ? `<h2>HTML</h2><iframe sandbox="" referrerpolicy="no-referrer" srcdoc="${
      escapeHtml(view.HTML)
    }"></iframe>`
    : "";
  return page(
    view.Subject || "(no subject)",
    `<p><a href="../">← all mail</a> · <a href="../api/v1/message/${
      encodeURIComponent(mail.id)
    }/raw">raw</a></p><dl>${
      fields.filter(([, value]) => value).map(([name, value]) =>
        `<dt>${name}</dt><dd>${escapeHtml(value)}</dd>`
      ).join("")
    }</dl>${html}<h2>Text</h2><pre>${escapeHtml(view.Text)}</pre>`,
  );
}

/** A message by ID, or Mailpit's `latest` (the newest, or the newest matching ?query). */
function messageFor(mailbox: Mailbox, id: string, query: URLSearchParams) {
  if (id !== "latest") return { mail: mailbox.get(id), latest: false };
  const search = (query.get("query") ?? "").trim();
  return { mail: (search ? mailbox.search(search) : mailbox.all())[0], latest: true };
}

export function createMailApi(mailbox: Mailbox) {
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const method = req.method ?? "GET";
    const query = url.searchParams;

    if (method === "OPTIONS" && path.startsWith("/api/v1/")) return sendText(res, 200, "");

    const allow = (methods: string[]) => {
      if (methods.includes(method) || (method === "HEAD" && methods.includes("GET"))) return true;
      sendText(res, 405, "Method Not Allowed\n", "text/plain; charset=utf-8", {
        allow: methods.join(", "),
      });
      return false;
    };

    if (path === "/api/v1/messages") {
      if (!allow(["GET", "DELETE"])) return;
      if (method === "DELETE") {
        let ids: unknown;
        try {
          ids = JSON.parse((await readBody(req, 10 * 1024 * 1024)).toString("utf8"))?.IDs;
        } catch {
          ids = undefined;
        }
        if (Array.isArray(ids) && ids.length) mailbox.delete(ids.map(String));
        else mailbox.clear();
        return sendText(res, 200, "ok");
      }
      const { start, limit } = startLimit(query);
      const all = mailbox.all();
      const pageOf = limit > 0 ? all.slice(start, start + limit) : all.slice();
      return sendGoJson(res, summaryList(mailbox, all, pageOf, start, "list"));
    }

    if (path === "/api/v1/search") {
      if (!allow(["GET", "DELETE"])) return;
      const search = (query.get("query") ?? "").trim();
      if (!search) return badRequest(res, "Error: no search query");
      const matching = mailbox.search(search);
      if (method === "DELETE") {
        mailbox.delete(matching.map((mail) => mail.id));
        return sendText(res, 200, "ok");
      }
      const { start, limit } = startLimit(query);
      return sendGoJson(
        res,
        summaryList(mailbox, matching, matching.slice(start, start + limit), start, "search"),
      );
    }

    const message = /^\/api\/v1\/message\/([^/]+)(?:\/(headers|raw|part\/([^/]+)))?$/.exec(path);
    if (message) {
      if (!allow(["GET"])) return;
      const { mail, latest } = messageFor(mailbox, decodeURIComponent(message[1]), query);
      if (!mail) {
        return latest
          ? sendText(res, 404, "Message not found", "text/plain; charset=utf-8")
          : notFound(res);
      }
      if (message[2] === "headers") return sendGoJson(res, headersOf(mail.raw));
      if (message[2] === "raw") {
        return sendText(
          res,
          200,
          mail.raw,
          "text/plain; charset=utf-8",
          query.get("dl") === "1"
            ? { "content-disposition": `attachment; filename="${mail.id}.eml"` }
            : {},
        );
      }
      if (message[3] !== undefined) {
        const partId = decodeURIComponent(message[3]);
        const part = (await simpleParser(mail.raw)).attachments.find((a) => a.partId === partId);
        if (!part) return notFound(res);
        return sendText(res, 200, part.content, part.contentType, {
          "content-disposition": `inline; filename="${
            encodeURIComponent(part.filename || part.contentId?.replace(/^<|>$/g, "") || "")
          }"`,
        });
      }
      mail.read = true;
      return sendGoJson(res, viewOf(mail));
    }

    if (path === "/" || path === "/index.html") {
      if (!allow(["GET"])) return;
      return sendText(res, 200, listPage(mailbox), "text/html; charset=utf-8");
    }

    const view = /^\/view\/([^/]+)$/.exec(path);
    if (view) {
      if (!allow(["GET"])) return;
      const id = decodeURIComponent(view[1]);
      if (id === "latest") {
        const newest = mailbox.all()[0];
        res.writeHead(302, { location: newest ? `./${encodeURIComponent(newest.id)}` : "../" });
        return void res.end();
      }
      const mail = mailbox.get(id);
      if (!mail) return notFound(res);
      mail.read = true;
      return sendText(res, 200, viewPage(mail), "text/html; charset=utf-8", {
        "content-security-policy":
          "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; frame-src 'self'",
      });
    }

    sendText(res, 404, "404 page not found\n", "text/plain; charset=utf-8");
  };
}
