// Preview of an e-mail template (003 template management; notifications.manage): POST
// { key, locale?, payload? } renders the stored template against a sample payload exactly as
// the sender renders a mail (renderDelivery in _shared/notifications/email.ts: Mustache,
// variables HTML-escaped in the HTML part, a plain one-line subject and text) and answers
// { key, locale, subject, text, html, missing }, where missing lists the template's declared
// variables the sample left out (the sender's own, the unsubscribe link and the app's URL,
// are filled in; the recipient's name defaults to a sample). Nothing is sent or stored. The
// template is read with the caller's own token (or the service role's, for the admin CLI), so
// the database decides: 403 without notifications.manage, 404 for a key and locale without a
// template (no 'en' fallback here: the preview shows what is stored).
import { z } from "npm:zod@4.6.7";
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { renderDelivery } from "../_shared/notifications/email.ts";
import { env } from "../_shared/platform/env.ts";
import { call, type Db } from "../_shared/platform/rpc.ts";
import { isServiceRole, requireUser, serviceClient } from "../_shared/platform/supabase.ts";

export const previewRequest = z.object({
  key: z.string().regex(/^[a-z_]+(\.[a-z_]+)?$/, "key must be a template key like bid.accepted"),
  locale: z.string().regex(/^[a-z]{2,3}(-[A-Z]{2})?$/, "locale must be like en, ko or pt-BR")
    .default("en"),
  payload: z.record(z.string(), z.unknown()).default({}),
});
export type PreviewRequest = z.infer<typeof previewRequest>;

const storedTemplate = z.object({
  key: z.string(),
  locale: z.string(),
  subject: z.string(),
  html: z.string(),
  text_body: z.string(),
  variables: z.array(z.string()),
});

const NIL = "00000000-0000-0000-0000-000000000000";

export interface Preview {
  key: string;
  locale: string;
  subject: string;
  text: string;
  html: string;
  missing: string[];
}

/** Reads the template through `db` (the database checks the caller) and renders the sample. */
export async function preview(db: Db, request: PreviewRequest, supabaseUrl: string) {
  const template = storedTemplate.parse(
    await call(db, "get_email_template", { key: request.key, locale: request.locale }),
  );
  const variables: Record<string, unknown> = { recipient_name: "Alex", ...request.payload };
  const mail = renderDelivery(
    {
      id: NIL,
      claim_id: NIL,
      attempt: 0,
      to_address: "preview@example.invalid",
      locale: template.locale,
      category: null,
      template_key: template.key,
      subject: template.subject,
      html: template.html,
      text_body: template.text_body,
      variables,
      unsubscribe_token: NIL,
    },
    supabaseUrl,
    "preview.invalid",
  );
  const filled = new Set([...Object.keys(variables), "unsubscribe_url", "app_url"]);
  if (typeof variables.confirm_token === "string") filled.add("confirm_url");
  return {
    key: template.key,
    locale: template.locale,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    missing: template.variables.filter((name) => !filled.has(name)),
  } satisfies Preview;
}

export function makeHandler(dbFor: (req: Request) => Promise<Db>) {
  return createHandler(async (req) => {
    if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
    const db = await dbFor(req);
    const request = await readJson(req, previewRequest);
    return json(await preview(db, request, env().SUPABASE_URL));
  });
}

/** The service role's client for the service-role key (the admin CLI), else the signed-in caller's. */
async function callerDb(req: Request): Promise<Db> {
  if (isServiceRole(req)) return serviceClient();
  return (await requireUser(req)).client;
}

export const handler = makeHandler(callerDb);
