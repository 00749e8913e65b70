// POST /notifications-send-email { limit?, smtp_port? }, service role only: sends the due
// e-mails of public.email_deliveries (see ../_shared/notifications/email.ts). pg_cron calls it
// every minute (job notifications-send-email); tests and operators call it directly rather than
// wait. smtp_port sends this run to another port of SMTP_HOST: a closed one makes every send
// fail, which is how the tests show a failure is recorded and retried, not lost.
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { sendDue } from "../_shared/notifications/email.ts";
import { env } from "../_shared/platform/env.ts";
import { smtpHtmlMailer } from "../_shared/platform/mail.ts";
import { isServiceRole, serviceClient } from "../_shared/platform/supabase.ts";

export const sendEmailRequest = z.strictObject({
  limit: z.number().int().min(1).max(500).default(50),
  smtp_port: z.number().int().min(1).max(65535).optional(),
});

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  if (!isServiceRole(req)) {
    throw new HttpError("forbidden", "Only the scheduler and the service role send e-mail");
  }
  const body = await readJson(req, sendEmailRequest);
  const { SUPABASE_URL } = env();
  const mailer = smtpHtmlMailer(body.smtp_port);
  const service = serviceClient();
  try {
    return json(
      await sendDue(service, mailer, {
        limit: body.limit,
        supabaseUrl: SUPABASE_URL,
        messageDomain: `notifications.${new URL(SUPABASE_URL).hostname}`,
        // Files a mail attaches (sendDue allows the attachable buckets only).
        attachment: async (bucket, path) => {
          const { data, error } = await service.storage.from(bucket).download(path);
          if (error) throw new Error(`attachment ${bucket}/${path}: ${error.message}`);
          return new Uint8Array(await data.arrayBuffer());
        },
      }),
    );
  } finally {
    mailer.close();
  }
});
