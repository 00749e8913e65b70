// The catcher's SMTP server: any sender, any recipient, no TLS, authentication optional (any
// credentials are taken and the user name recorded, as Mailpit's --smtp-auth-accept-any does).
// Each mail is stored as Mailpit stores it (internal/smtpd in axllent/mailpit): a Received
// header in front, Return-Path set to the envelope sender, a Message-ID added when missing and
// envelope recipients the headers do not name added to Bcc.

import { hostname } from "node:os";
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from "smtp-server";
import type { Mailbox } from "./mailbox.ts";
import { rawHeaders, readMail, shortId } from "./message.ts";

/** The largest mail taken (Mailpit takes any size; this keeps one mail from filling memory). */
const MAX_MAIL_BYTES = 30 * 1024 * 1024;

/** RFC 5322 date as Go's "Mon, 2 Jan 2006 15:04:05 -0700 (MST)" writes it, in UTC. */
function receivedDate(date: Date): string {
  const [weekday, day, month, year, time] = date.toUTCString().replace(",", "").split(" ");
  return `${weekday}, ${Number(day)} ${month} ${year} ${time} +0000 (UTC)`;
}

/** Sets a header's value in place, or adds it in front when the mail has none (SetMessageHeader). */
function setHeader(raw: Buffer, name: string, value: string): Buffer {
  const text = raw.toString("latin1");
  const pattern = new RegExp(`^${name}:[^\\r\\n]*(\\r?\\n[ \\t][^\\r\\n]*)*\\r?\\n`, "im");
  const headerEnd = text.search(/\r?\n\r?\n/);
  const match = pattern.exec(text);
  if (match && (headerEnd === -1 || match.index < headerEnd)) {
    return Buffer.from(
      text.slice(0, match.index) + `${name}: ${value}\r\n` +
        text.slice(match.index + match[0].length),
      "latin1",
    );
  }
  return Buffer.concat([Buffer.from(`${name}: ${value}\r\n`, "latin1"), raw]);
}

/** Every address the To, Cc and Bcc headers name, lowercased. */
function headerRecipients(raw: Buffer): Set<string> {
  const found = new Set<string>();
  for (const [name, value] of rawHeaders(raw)) {
    if (!/^(to|cc|bcc)$/i.test(name)) continue;
    for (const match of value.matchAll(/[^\s<>,;:"]+@[^\s<>,;:"]+/g)) {
      found.add(match[0].toLowerCase());
    }
  }
  return found;
}

/** What Mailpit's SMTP server makes of a received DATA: the bytes it stores. */
export function asMailpitStores(data: Buffer, session: SMTPServerSession, now: Date): Buffer {
  const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
  const recipients = session.envelope.rcptTo.map((rcpt) => rcpt.address);
  let raw: Buffer = Buffer.from(data.toString("latin1").replaceAll("\r\r\n", "\r\n"), "latin1");
  if (recipients.length) {
    const client = session.clientHostname || "unknown";
    raw = Buffer.concat([
      Buffer.from(
        `Received: from ${
          session.hostNameAppearsAs || client
        } (${client} [${session.remoteAddress}])\r\n` +
          `        by ${hostname()} (Mailpit) with SMTP\r\n` +
          `        for <${recipients[0]}>; ${receivedDate(now)}\r\n`,
        "latin1",
      ),
      raw,
    ]);
  }
  const header = (name: string) =>
    rawHeaders(raw).find(([key]) => key.toLowerCase() === name)?.[1] ?? "";
  if (header("return-path").replace(/^<|>$/g, "") !== envelopeFrom) {
    raw = setHeader(raw, "Return-Path", `<${envelopeFrom}>`);
  }
  if (!header("message-id").replace(/^<|>$/g, "")) {
    raw = Buffer.concat([Buffer.from(`Message-ID: <${shortId()}@mailpit>\r\n`), raw]);
  }
  const named = headerRecipients(raw);
  const missing = recipients.filter((address) => !named.has(address.toLowerCase()));
  if (missing.length) {
    const bcc = header("bcc");
    raw = setHeader(raw, "Bcc", bcc ? `${bcc}, ${missing.join(", ")}` : missing.join(", "));
  }
  return raw;
}

async function readStream(stream: SMTPServerDataStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function createSmtpServer(mailbox: Mailbox, onError: (error: unknown) => void): SMTPServer {
  return new SMTPServer({
    name: hostname(),
    banner: "Mailpit ESMTP Service ready",
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ["STARTTLS"],
    size: MAX_MAIL_BYTES,
    logger: false,
    // Stopping the stack should not wait for a client's idle connection (the default is 30 s).
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? "" });
    },
    onData(stream, session, callback) {
      readStream(stream).then(async (data) => {
        if (stream.sizeExceeded) {
          const error = new Error(`Message exceeds the maximum size of ${MAX_MAIL_BYTES} bytes`);
          (error as Error & { responseCode: number }).responseCode = 552;
          return callback(error);
        }
        const created = new Date();
        const id = shortId();
        const username = typeof session.user === "string" ? session.user : "";
        const mail = await readMail(asMailpitStores(data, session, created), {
          id,
          created,
          username,
        });
        mailbox.add(mail);
        callback(null, `Ok: queued as ${id}`);
      }).catch((error) => {
        onError(error);
        callback(error instanceof Error ? error : new Error(String(error)));
      });
    },
  });
}
