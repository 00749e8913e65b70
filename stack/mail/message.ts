// One caught mail as Mailpit (the mail catcher `supabase start` runs) records and describes it:
// the raw bytes as received, the fields its summary and message views show, with Mailpit's JSON
// field names and shapes (internal/storage/structs.go in axllent/mailpit), and the search text
// its search matches plain words against. Parsing is mailparser's; the field rules (which
// address lists are null and which are [], the Return-Path fallback, the Date fallback, which
// parts count as inline) follow Mailpit's storage code.

import { createHash, randomBytes } from "node:crypto";
import { type AddressObject, type Attachment, simpleParser } from "mailparser";

/** Go's net/mail.Address as encoding/json writes it. */
export interface MailAddress {
  Name: string;
  Address: string;
}

export interface MailAttachment {
  PartID: string;
  FileName: string;
  ContentType: string;
  ContentID: string;
  Size: number;
  Checksums: { MD5: string; SHA1: string; SHA256: string };
}

/** Mailpit's MessageSummary, the entries of /api/v1/messages and /api/v1/search. */
export interface MessageSummary {
  ID: string;
  MessageID: string;
  Read: boolean;
  From: MailAddress;
  To: MailAddress[] | null;
  Cc: MailAddress[] | null;
  Bcc: MailAddress[] | null;
  ReplyTo: MailAddress[] | null;
  Subject: string;
  Created: string;
  Username: string;
  Tags: string[];
  Size: number;
  Attachments: number;
  Snippet: string;
}

/** Mailpit's Message, the answer of /api/v1/message/{ID}. */
export interface MessageView {
  ID: string;
  MessageID: string;
  From: MailAddress;
  To: MailAddress[];
  Cc: MailAddress[];
  Bcc: MailAddress[];
  ReplyTo: MailAddress[];
  ReturnPath: string;
  Subject: string;
  ListUnsubscribe: { Header: string; Links: string[]; Errors: string; HeaderPost: string };
  Date: string;
  Tags: string[];
  Username: string;
  Text: string;
  HTML: string;
  Size: number;
  Inline: MailAttachment[];
  Attachments: MailAttachment[];
}

export interface CaughtMail {
  id: string;
  raw: Buffer;
  created: Date;
  read: boolean;
  /** The SMTP AUTH user name, if the client authenticated. */
  username: string;
  messageId: string;
  subject: string;
  from: MailAddress;
  to: MailAddress[];
  cc: MailAddress[];
  bcc: MailAddress[];
  replyTo: MailAddress[];
  returnPath: string;
  /** The Date header as Go's RFC3339Nano with the header's own offset, or null without one. */
  date: string | null;
  text: string;
  html: string;
  inline: MailAttachment[];
  attachments: MailAttachment[];
  /** Every attachment part, Mailpit's count (unnamed ones included). */
  attachmentCount: number;
  listUnsubscribe: MessageView["ListUnsubscribe"];
  snippet: string;
  /** Lowercased headers and body text, as Mailpit's SearchText column. */
  searchText: string;
}

const SHORT_UUID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/** A 22-character id from Mailpit's short-UUID alphabet (base57), as its message IDs are. */
export function shortId(): string {
  const bytes = randomBytes(22);
  let id = "";
  for (const byte of bytes) id += SHORT_UUID_ALPHABET[byte % SHORT_UUID_ALPHABET.length];
  return id;
}

/**
 * A time as Go's time.Time marshals to JSON (RFC3339Nano): fractional seconds without trailing
 * zeros, none at all on a whole second, and the offset as Z or ±hh:mm.
 */
export function goTime(date: Date, offsetMinutes = 0): string {
  const shifted = new Date(date.getTime() + offsetMinutes * 60_000);
  const iso = shifted.toISOString(); // 2026-11-30T12:00:00.120Z
  const fraction = iso.slice(19, 23).replace(/\.?0+$/, "");
  const zone = offsetMinutes === 0
    ? "Z"
    : `${offsetMinutes > 0 ? "+" : "-"}${
      String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, "0")
    }:${String(Math.abs(offsetMinutes) % 60).padStart(2, "0")}`;
  return `${iso.slice(0, 19)}${fraction}${zone}`;
}

/** The raw header block (before the first empty line) as name/value pairs, folding undone. */
export function rawHeaders(raw: Buffer): Array<[string, string]> {
  const text = raw.toString("latin1");
  const end = text.search(/\r?\n\r?\n/);
  const block = end === -1 ? text : text.slice(0, end);
  const headers: Array<[string, string]> = [];
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && headers.length) {
      const last = headers[headers.length - 1];
      last[1] = `${last[1]} ${line.trim()}`.trim();
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return headers;
}

/** Go's textproto.CanonicalMIMEHeaderKey: "message-id" → "Message-Id". */
export function canonicalHeaderKey(name: string): string {
  return name.toLowerCase().replace(
    /(^|-)([a-z])/g,
    (_, dash, letter) => dash + letter.toUpperCase(),
  );
}

/** /api/v1/message/{ID}/headers: each header's values under its canonical name, names sorted. */
export function headersOf(raw: Buffer): Record<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const [name, value] of rawHeaders(raw)) {
    const key = canonicalHeaderKey(name);
    byName.set(key, [...(byName.get(key) ?? []), Buffer.from(value, "latin1").toString("utf8")]);
  }
  return Object.fromEntries([...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function addresses(header: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const objects = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const flat = objects.flatMap((object) => object.value)
    .flatMap((entry) => entry.group ?? [entry]);
  return flat.filter((entry) => entry.address)
    .map((entry) => ({ Name: entry.name ?? "", Address: entry.address ?? "" }));
}

/** The offset of a Date header's zone in minutes (+0100 → 60), 0 when it names none. */
function dateOffset(header: string): number {
  const match = /([+-])(\d{2})(\d{2})\s*(?:\([^)]*\))?\s*$/.exec(header);
  if (!match) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === "-" ? -minutes : minutes;
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, name: string) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X"
        ? parseInt(name.slice(2), 16)
        : Number(name.slice(1));
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return ENTITIES[name.toLowerCase()] ?? entity;
  });
}

const BLOCK_END =
  /<\/(div|p|td|th|h[1-6]|ul|ol|li|address|article|aside|blockquote|dl|dt|footer|header|hr|main|nav|pre|table|thead|tfoot|video)></gi;

/**
 * HTML's text on one line, as Mailpit's html2text.Strip makes it: block ends and <br> become
 * spaces, inline tags vanish, script/style/head/title/noscript are dropped, and with
 * `includeLinks` (the search text) each http(s) link's URL follows its text.
 */
export function htmlToText(html: string, includeLinks = false): string {
  let text = html.replace(BLOCK_END, "</$1> <").replace(/<(br \/|br)>/gi, " ")
    .replace(/<img/gi, " <img")
    .replace(/<(script|style|head|title|noscript)\b[\s\S]*?<\/\1\s*>/gi, "")
    .replace(/<!--[\s\S]*?-->/g, "");
  if (includeLinks) {
    text = text.replace(
      /<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>([\s\S]*?)<\/a\s*>/gi,
      (link, double, single, inner) => {
        const href = decodeEntities(double ?? single ?? "");
        return /^http/i.test(href) ? `${inner} ${href} ` : link;
      },
    );
  }
  return decodeEntities(text.replace(/<[^>]*>/g, ""))
    .replace(/\uFEFF/g, " ")
    .replace(/[\p{C}\p{Z}]/gu, (char) => (char === " " ? char : " "))
    .replace(/\s+/g, " ")
    .trim();
}

/** Mailpit's snippet: up to 200 characters of the HTML's text, else of the plain text. */
function snippetOf(text: string, html: string): string {
  const source = html.trim() ? htmlToText(html) : text.replace(/\uFEFF/g, " ").replace(/\s+/g, " ")
    .trim();
  return source.length <= 200 ? source : `${source.slice(0, 200)}...`;
}

/** Mailpit's cleanString: lowercased, quotes, brackets and separators as spaces, one space each. */
export function cleanSearchText(text: string): string {
  return text.replace(/\uFEFF/g, " ").replace(/(\r?\n|\t|>|<|"|,|;|\(|\))/g, " ")
    .split(/\s+/).filter(Boolean).join(" ").toLowerCase();
}

function attachmentSummary(part: Attachment): MailAttachment {
  const hash = (algorithm: string) => createHash(algorithm).update(part.content).digest("hex");
  return {
    PartID: part.partId ?? "",
    FileName: part.filename || part.contentId?.replace(/^<|>$/g, "") || "",
    ContentType: part.contentType,
    ContentID: part.contentId?.replace(/^<|>$/g, "") ?? "",
    Size: part.content.length,
    Checksums: { MD5: hash("md5"), SHA1: hash("sha1"), SHA256: hash("sha256") },
  };
}

/** Mailpit's List-Unsubscribe summary: the <…> links, at most one mailto: and one http(s):. */
function listUnsubscribeOf(header: string, post: string): MessageView["ListUnsubscribe"] {
  const summary = { Header: header, Links: [] as string[], Errors: "", HeaderPost: post };
  if (!header) return summary;
  const links = [...header.replace(/\([^)]*\)/g, "").matchAll(/<([^>]*)>/g)].map((m) => m[1]);
  if (links.length === 0) {
    summary.Errors = `"${header}" no valid unsubscribe links found`;
    return summary;
  }
  const errors: string[] = [];
  for (const link of links) {
    if (/\s/.test(link)) errors.push(`"${link}" should not contain spaces`);
    else if (/^mailto:[a-zA-Z0-9]/.test(link) || /^https?:\/\/[a-zA-Z0-9]/i.test(link)) {
      summary.Links.push(link);
    } else errors.push(`"${link}" should start with either http(s):// or mailto:`);
  }
  summary.Errors = errors.join(", ");
  return summary;
}

/** Parses a received mail (headers as Mailpit's SMTP server left them) into what is kept. */
export async function readMail(
  raw: Buffer,
  received: { id: string; created: Date; username: string },
): Promise<CaughtMail> {
  const parsed = await simpleParser(raw, { skipImageLinks: true });
  const from = addresses(parsed.from)[0] ?? { Name: "", Address: "" };
  const to = addresses(parsed.to);
  const cc = addresses(parsed.cc);
  const bcc = addresses(parsed.bcc);
  const replyTo = addresses(parsed.replyTo);
  const header = (name: string) =>
    rawHeaders(raw).find(([key]) => key.toLowerCase() === name)?.[1] ?? "";
  const returnPath = header("return-path").replace(/^<|>$/g, "") || from.Address;
  const dateHeader = header("date");
  const date = dateHeader && parsed.date && !Number.isNaN(parsed.date.getTime())
    ? goTime(parsed.date, dateOffset(dateHeader))
    : null;
  const html = typeof parsed.html === "string" ? parsed.html : "";
  const text = parsed.text ?? "";
  const named = parsed.attachments.filter((part) => part.filename || part.contentId);
  const isInline = (part: Attachment) =>
    part.related === true || part.contentDisposition === "inline";
  const subject = parsed.subject ?? "";
  const attachmentNames = parsed.attachments.filter((part) => !isInline(part))
    .map((part) => part.filename ?? "");
  return {
    ...received,
    raw,
    read: false,
    messageId: (parsed.messageId ?? "").replace(/^<|>$/g, ""),
    subject,
    from,
    to,
    cc,
    bcc,
    replyTo,
    returnPath,
    date,
    text,
    html,
    inline: named.filter(isInline).map(attachmentSummary),
    attachments: named.filter((part) => !isInline(part)).map(attachmentSummary),
    attachmentCount: parsed.attachments.filter((part) => !isInline(part)).length,
    listUnsubscribe: listUnsubscribeOf(
      header("list-unsubscribe"),
      header("list-unsubscribe-post"),
    ),
    snippet: snippetOf(text, html),
    searchText: cleanSearchText(
      [
        parsed.from?.text ?? "",
        subject,
        ...[parsed.to, parsed.cc, parsed.bcc, parsed.replyTo].map((list) =>
          list === undefined ? "" : [list].flat().map((object) => object.text).join(", ")
        ),
        returnPath,
        html ? htmlToText(html, true) : text,
        ...attachmentNames,
      ].join(" "),
    ),
  };
}

// In Mailpit's list, an address list the mail lacks is null (its metadata omits it), except
// Reply-To, which the list fills in as []; search results leave Reply-To null too.
const orNull = (list: MailAddress[]) => (list.length ? list : null);

export function summaryOf(mail: CaughtMail, answering: "list" | "search"): MessageSummary {
  return {
    ID: mail.id,
    MessageID: mail.messageId,
    Read: mail.read,
    From: mail.from,
    To: orNull(mail.to),
    Cc: orNull(mail.cc),
    Bcc: orNull(mail.bcc),
    ReplyTo: answering === "list" ? mail.replyTo : orNull(mail.replyTo),
    Subject: mail.subject,
    Created: goTime(mail.created),
    Username: mail.username,
    Tags: [],
    Size: mail.raw.length,
    Attachments: mail.attachmentCount,
    Snippet: mail.snippet,
  };
}

export function viewOf(mail: CaughtMail): MessageView {
  return {
    ID: mail.id,
    MessageID: mail.messageId,
    From: mail.from,
    To: mail.to,
    Cc: mail.cc,
    Bcc: mail.bcc,
    ReplyTo: mail.replyTo,
    ReturnPath: mail.returnPath,
    Subject: mail.subject,
    ListUnsubscribe: mail.listUnsubscribe,
    Date: mail.date ?? goTime(mail.created),
    Tags: [],
    Username: mail.username,
    Text: mail.text,
    HTML: mail.html,
    Size: mail.raw.length,
    Inline: mail.inline,
    Attachments: mail.attachments,
  };
}
