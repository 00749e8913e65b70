// The local stand-in for Mailpit, the mail catcher `supabase start` runs ([local_smtp] in
// config.toml): an SMTP server that catches every mail sent to it (smtp.ts) and Mailpit's HTTP
// API v1 with a minimal web page to read them (api.ts), on the ports config.toml gives, shifted
// like every port of the stack. Mail is kept in memory only, newest first (mailbox.ts).

import { createServer, type Server } from "node:http";
import type { SMTPServer } from "smtp-server";
import { createMailApi } from "./api.ts";
import { Mailbox } from "./mailbox.ts";
import { createSmtpServer } from "./smtp.ts";

export interface MailCatcherOptions {
  host: string;
  /** Mailpit's web and API port ([local_smtp] port). */
  httpPort: number;
  /** Mailpit's SMTP port ([local_smtp] smtp_port). */
  smtpPort: number;
  /** How many mails are kept before the oldest are dropped. */
  capacity?: number;
}

export interface MailCatcher {
  mailbox: Mailbox;
  http: Server;
  smtp: SMTPServer;
  close(): Promise<void>;
}

function listening(server: NodeJS.EventEmitter, listen: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.once("listening", () => resolve());
    listen();
  });
}

export async function startMailCatcher(options: MailCatcherOptions): Promise<MailCatcher> {
  const mailbox = new Mailbox(options.capacity);
  const api = createMailApi(mailbox);
  const http = createServer((req, res) => {
    api(req, res).catch((error) => {
      console.error("mail catcher:", error);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error));
    });
  });
  const smtp = createSmtpServer(mailbox, (error) => console.error("mail catcher (SMTP):", error));
  await listening(http, () => http.listen(options.httpPort, options.host));
  await listening(smtp.server, () => smtp.listen(options.smtpPort, options.host)).catch(
    (error) => {
      http.close();
      throw error;
    },
  );
  return {
    mailbox,
    http,
    smtp,
    close: async () => {
      http.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => http.close(() => resolve())),
        new Promise<void>((resolve) => smtp.close(() => resolve())),
      ]);
    },
  };
}
