// Reading the mail the project sends, through Mailpit's API (MAILPIT_URL: `npm test` sets it,
// and `npm run status` and `npx supabase status -o env` print it), so the same tests read
// mail from the local stack's catcher and from `supabase start`'s Mailpit. Test files run one
// at a time, but a mailbox outlives them: find mail by a recipient address unique to the test
// (waitForMail) and clean up with deleteMailTo; clearMailbox empties everyone's mail.

import { requireEnv } from "./clients.ts";

/** Mailpit's address shape (Go's net/mail.Address). */
export interface MailAddress {
  Name: string;
  Address: string;
}

/** An entry of Mailpit's message list and search results (MessageSummary). */
export interface MailSummary {
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
  /** The SMTP AUTH user name the sender gave, "" without one. */
  Username: string;
  Tags: string[];
  Size: number;
  Attachments: number;
  Snippet: string;
}

export interface MailAttachment {
  PartID: string;
  FileName: string;
  ContentType: string;
  ContentID: string;
  Size: number;
  Checksums: { MD5: string; SHA1: string; SHA256: string };
}

/** One message as Mailpit's GET /api/v1/message/{ID} answers (Message). */
export interface MailMessage {
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

/** Mailpit's answer to a list or a search. */
export interface MailList {
  total: number;
  unread: number;
  count: number;
  messages_count: number;
  messages_unread: number;
  start: number;
  tags: string[];
  messages: MailSummary[];
}

/** Mailpit's base URL, without a trailing slash. */
export function mailpitUrl(): string {
  return requireEnv("MAILPIT_URL").replace(/\/+$/, "");
}

/**
 * Where to send mail over SMTP: SMTP_HOST and SMTP_PORT when set (`npm test` sets them),
 * else MAILPIT_URL's host and the next port, as config.toml's [local_smtp] has them
 * (port 54324, smtp_port 54325) for `supabase start` too.
 */
export function smtpTarget(): { host: string; port: number } {
  const url = new URL(mailpitUrl());
  return {
    host: process.env.SMTP_HOST || url.hostname,
    port: Number(process.env.SMTP_PORT || Number(url.port) + 1),
  };
}

async function mailpit(path: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(`${mailpitUrl()}${path}`, init);
  if (!response.ok) {
    throw new Error(
      `Mailpit ${init?.method ?? "GET"} ${path}: ${response.status} ${await response.text()}`,
    );
  }
  return response;
}

/** Mailpit's search (its syntax: to:, from:, subject:, "quoted phrases", plain words), newest first. */
export async function searchMail(query: string, limit = 50): Promise<MailList> {
  const params = new URLSearchParams({ query, limit: String(limit) });
  return (await mailpit(`/api/v1/search?${params}`)).json();
}

/** A quoted search value; Mailpit's parser drops quotes, so a value cannot contain one. */
function quoted(value: string): string {
  return `"${value.replaceAll('"', " ")}"`;
}

/** One message in full (Text, HTML, attachments); Mailpit marks it read. */
export async function messageOf(id: string): Promise<MailMessage> {
  return (await mailpit(`/api/v1/message/${encodeURIComponent(id)}`)).json();
}

/** An attachment's bytes (Mailpit's GET /api/v1/message/{ID}/part/{PartID}). */
export async function attachmentOf(messageId: string, partId: string): Promise<Uint8Array> {
  const response = await mailpit(
    `/api/v1/message/${encodeURIComponent(messageId)}/part/${encodeURIComponent(partId)}`,
  );
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * The newest mail to `to` (and whose subject contains `subject`) received at or after `since`,
 * polling Mailpit's search until it arrives or timeoutMs passes.
 */
export async function waitForMail(
  { to, subject, since, timeoutMs = 15_000 }: {
    to: string;
    subject?: string;
    since?: Date;
    timeoutMs?: number;
  },
): Promise<MailMessage> {
  const query = `to:${quoted(to)}` + (subject ? ` subject:${quoted(subject)}` : "");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { messages } = await searchMail(query);
    // Mailpit's to: matches a substring; keep the mails addressed to exactly this address.
    const found = messages.find((m) =>
      (m.To ?? []).some((a) => a.Address.toLowerCase() === to.toLowerCase()) &&
      (!since || Date.parse(m.Created) >= since.getTime())
    );
    if (found) return messageOf(found.ID);
    if (Date.now() > deadline) {
      throw new Error(
        `no mail to ${to}${subject ? ` with subject "${subject}"` : ""}${
          since ? ` since ${since.toISOString()}` : ""
        } within ${timeoutMs} ms (Mailpit search: ${query})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const HTML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" };

/** The links of a message: the HTML's hrefs (entities decoded), else the URLs in its text. */
export function linksIn(message: Pick<MailMessage, "HTML" | "Text">): string[] {
  if (message.HTML) {
    return [...message.HTML.matchAll(/\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)].map((m) =>
      (m[1] ?? m[2]).replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => HTML_ENTITIES[name])
    );
  }
  return [...message.Text.matchAll(/https?:\/\/[^\s<>"')]+/g)].map((m) => m[0]);
}

/** The 6-digit one-time code in a message (its text, else its HTML); fails when there is none. */
export function codeIn(message: Pick<MailMessage, "HTML" | "Text" | "Subject">): string {
  for (const source of [message.Text, message.HTML.replace(/<[^>]*>/g, " "), message.Subject]) {
    const match = /(?<![\d#&])\d{6}(?!\d)/.exec(source ?? "");
    if (match) return match[0];
  }
  throw new Error(`no 6-digit code in the mail "${message.Subject}"`);
}

/** Deletes every mail whose To names `address`. */
export async function deleteMailTo(address: string): Promise<void> {
  await mailpit(`/api/v1/search?${new URLSearchParams({ query: `to:${quoted(address)}` })}`, {
    method: "DELETE",
  });
}

/** Empties the mailbox: every test's mail, not only this one's. */
export async function clearMailbox(): Promise<void> {
  await mailpit("/api/v1/messages", { method: "DELETE" });
}
