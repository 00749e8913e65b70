// Mail the functions send themselves (not Auth's): over SMTP to SMTP_HOST:SMTP_PORT from
// SMTP_SENDER, with SMTP_USER and SMTP_PASS when the server wants them. The local stack points
// these at its mail catcher; hosted projects set them as secrets (functions/.env.example).
// Variables are validated when a mailer is made, like env(): a missing one fails loudly.
// @ts-types="npm:@types/nodemailer@8.0.2"
import nodemailer from "npm:nodemailer@10.6.1";
import { Buffer } from "node:buffer";
import { z } from "npm:zod@4.6.7";

const smtpEnvSchema = z.object({
  SMTP_HOST: z.string({ error: "missing" }).min(1, { error: "empty" }),
  SMTP_PORT: z.coerce.number({ error: "not a port number" }).int().min(1).max(65535),
  SMTP_SENDER: z.email({ error: "not an e-mail address" }),
  SMTP_USER: z.string().optional(),
  SMTP_PASS: z.string().optional(),
});

export type SmtpEnv = z.infer<typeof smtpEnvSchema>;

export function parseSmtpEnv(variables: Record<string, string | undefined>): SmtpEnv {
  const result = smtpEnvSchema.safeParse(variables);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) =>
    `${String(issue.path[0])} (${issue.message})`
  );
  throw new Error(`Missing or invalid environment variables: ${problems.join(", ")}`);
}

/** The SMTP settings from the environment, validated. */
export function smtpEnv(): SmtpEnv {
  return parseSmtpEnv(
    Object.fromEntries(
      ["SMTP_HOST", "SMTP_PORT", "SMTP_SENDER", "SMTP_USER", "SMTP_PASS"].map((
        name,
      ) => [name, Deno.env.get(name) || undefined]),
    ),
  );
}

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

/** What the functions need of a mailer; unit tests pass one that records what it is given. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
}

function smtpTransport(settings: SmtpEnv, port = settings.SMTP_PORT) {
  return nodemailer.createTransport({
    host: settings.SMTP_HOST,
    port,
    secure: port === 465,
    auth: settings.SMTP_USER
      ? { user: settings.SMTP_USER, pass: settings.SMTP_PASS ?? "" }
      : undefined,
  });
}

/** A mailer sending through the environment's SMTP server. */
export function smtpMailer(): Mailer {
  const settings = smtpEnv();
  const transport = smtpTransport(settings);
  return {
    async send({ to, subject, text }) {
      await transport.sendMail({ from: settings.SMTP_SENDER, to, subject, text });
    },
  };
}

/** A mail with an HTML part, its own Message-ID, extra headers (List-Unsubscribe) and files. */
export interface HtmlMailMessage extends MailMessage {
  html: string;
  messageId: string;
  headers: Record<string, string>;
  attachments?: { filename: string; contentType: string; content: Uint8Array }[];
}

/**
 * A mailer for HTML mail through the environment's SMTP server; send answers the message id
 * the server accepted. `port` replaces SMTP_PORT on the same host: the notifications sender
 * lets the service role point one run at a closed port, to exercise its failure path.
 */
export function smtpHtmlMailer(
  port?: number,
): { send(m: HtmlMailMessage): Promise<string>; close(): void } {
  const settings = smtpEnv();
  // Pooled: a batch reuses a few connections instead of one handshake per mail.
  const smtpPort = port ?? settings.SMTP_PORT;
  const transport = nodemailer.createTransport({
    pool: true,
    maxConnections: 5,
    host: settings.SMTP_HOST,
    port: smtpPort,
    secure: smtpPort === 465,
    auth: settings.SMTP_USER
      ? { user: settings.SMTP_USER, pass: settings.SMTP_PASS ?? "" }
      : undefined,
  });
  return {
    close: () => transport.close(),
    async send({ to, subject, text, html, messageId, headers, attachments }) {
      const info = await transport.sendMail({
        from: settings.SMTP_SENDER,
        to,
        subject,
        text,
        html,
        messageId,
        headers,
        ...(attachments?.length
          ? {
            attachments: attachments.map((a) => ({
              filename: a.filename,
              contentType: a.contentType,
              content: Buffer.from(a.content),
            })),
          }
          : {}),
      });
      return String(info.messageId ?? messageId);
    },
  };
}
