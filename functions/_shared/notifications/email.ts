// The e-mail channel's sender: claims due deliveries from public.email_deliveries
// (ops.claim_email_deliveries: for update skip locked, a visibility timeout), renders each
// template with Mustache (HTML-escaped variables in the HTML body; the subject and text body
// are plain text), sends it over SMTP with List-Unsubscribe (RFC 2369) and
// List-Unsubscribe-Post (RFC 8058) headers and a Message-ID derived from the delivery's id,
// and records the result (ops.record_email_delivery). A failure is recorded with its error and
// retried by a later run after a backoff; a sender that dies mid-batch leaves its rows
// 'sending' until the visibility timeout, when the next run claims them again.
// Attachments: a delivery whose payload lists `attachments` ([{ bucket, path, filename,
// content_type }], e.g. billing's invoice.sent with the invoice's PDF) gets each file from
// Storage (buckets in ATTACHABLE_BUCKETS only) attached; a file that cannot be read fails the
// attempt, which is retried like any failure.
// @ts-types="npm:@types/mustache@4.2.6"
import Mustache from "npm:mustache@4.2.0";
import { z } from "npm:zod@4.6.7";
import { call, type Db } from "../platform/rpc.ts";

/** One claimed delivery, as ops.claim_email_deliveries returns it. */
export const claimedDelivery = z.object({
  id: z.uuid(),
  claim_id: z.uuid(),
  attempt: z.number().int(),
  to_address: z.string().nullable(),
  locale: z.string(),
  category: z.string().nullable(),
  template_key: z.string(),
  subject: z.string(),
  html: z.string(),
  text_body: z.string(),
  variables: z.record(z.string(), z.unknown()),
  unsubscribe_token: z.uuid(),
});
export type ClaimedDelivery = z.infer<typeof claimedDelivery>;

export interface MailAttachment {
  filename: string;
  contentType: string;
  content: Uint8Array;
}

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
  attachments?: MailAttachment[];
}

/** The buckets a mail may attach files from: the private files the platform itself renders. */
export const ATTACHABLE_BUCKETS = ["invoices"] as const;

const attachmentRef = z.object({
  bucket: z.enum(ATTACHABLE_BUCKETS),
  path: z.string().min(1).max(1024),
  filename: z.string().min(1).max(200),
  content_type: z.string().min(1).max(200),
});

/** Reads a file of an attachable bucket (the service role's Storage client in the function). */
export type AttachmentReader = (bucket: string, path: string) => Promise<Uint8Array>;

/** The files a delivery's payload asks to attach, read with `read`; [] when it asks none. */
export async function attachmentsOf(
  delivery: ClaimedDelivery,
  read: AttachmentReader | undefined,
): Promise<MailAttachment[]> {
  const listed = delivery.variables.attachments;
  if (listed === undefined || listed === null) return [];
  const refs = z.array(attachmentRef).max(10).safeParse(listed);
  if (!refs.success) {
    throw new Error(
      `delivery ${delivery.id}: attachments are [{ bucket, path, filename, content_type }] of ${
        ATTACHABLE_BUCKETS.join(", ")
      }`,
    );
  }
  if (refs.data.length > 0 && !read) {
    throw new Error(`delivery ${delivery.id}: no attachment reader`);
  }
  return await Promise.all(refs.data.map(async (ref) => ({
    filename: ref.filename,
    contentType: ref.content_type,
    content: await read!(ref.bucket, ref.path),
  })));
}

/** What the sender needs of a mailer: send one mail, answer the provider's message id. */
export interface HtmlMailer {
  send(mail: OutgoingMail): Promise<string>;
}

/** The one-click unsubscribe link of a delivery (the notifications-unsubscribe function). */
export function unsubscribeUrl(supabaseUrl: string, token: string): string {
  return `${supabaseUrl.replace(/\/+$/, "")}/functions/v1/notifications-unsubscribe?` +
    new URLSearchParams({ action: "unsubscribe", token });
}

/** The double opt-in link of a newsletter confirmation mail. */
export function newsletterConfirmUrl(supabaseUrl: string, token: string): string {
  return `${supabaseUrl.replace(/\/+$/, "")}/functions/v1/notifications-newsletter?` +
    new URLSearchParams({ action: "confirm", token });
}

/** Renders a Mustache template; `escape` false leaves values as they are (plain text). */
function render(template: string, view: Record<string, unknown>, escape: boolean): string {
  // Parsed with the default tags only; the templates' check refuses {{{ }} and {{& }}.
  return escape
    ? Mustache.render(template, view)
    : Mustache.render(template, view, {}, { escape: (value: unknown) => String(value) });
}

/** The mail a claimed delivery becomes. */
export function renderDelivery(
  delivery: ClaimedDelivery,
  supabaseUrl: string,
  messageDomain: string,
): OutgoingMail {
  if (!delivery.to_address) throw new Error(`delivery ${delivery.id} has no address`);
  const unsubscribe = unsubscribeUrl(supabaseUrl, delivery.unsubscribe_token);
  const view: Record<string, unknown> = {
    ...delivery.variables,
    unsubscribe_url: unsubscribe,
    app_url: supabaseUrl,
  };
  // A newsletter confirmation carries its token; the link is the notifications-newsletter function.
  if (typeof delivery.variables.confirm_token === "string") {
    view.confirm_url = newsletterConfirmUrl(supabaseUrl, delivery.variables.confirm_token);
  }
  return {
    to: delivery.to_address,
    subject: render(delivery.subject, view, false).replace(/[\r\n]+/g, " "),
    text: render(delivery.text_body, view, false),
    html: render(delivery.html, view, true),
    messageId: `<${delivery.id}@${messageDomain}>`,
    headers: {
      "List-Unsubscribe": `<${unsubscribe}>`,
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
  };
}

/** Mails sent side by side within a batch. */
const SEND_CONCURRENCY = 5;

export interface SendResult {
  claimed: number;
  sent: number;
  failed: { id: string; error: string }[];
}

/** Claims up to `limit` due deliveries, sends each and records the outcome. */
export async function sendDue(
  db: Db,
  mailer: HtmlMailer,
  options: {
    limit: number;
    supabaseUrl: string;
    messageDomain: string;
    attachment?: AttachmentReader;
  },
): Promise<SendResult> {
  const rows = z.array(claimedDelivery).parse(
    await call(db, "claim_email_deliveries", {
      batch_size: options.limit,
      visibility_seconds: 300,
    }),
  );
  const result: SendResult = { claimed: rows.length, sent: 0, failed: [] };
  const sendOne = async (delivery: ClaimedDelivery) => {
    let providerId: string | null = null;
    let error: string | null = null;
    try {
      const mail = renderDelivery(delivery, options.supabaseUrl, options.messageDomain);
      const attachments = await attachmentsOf(delivery, options.attachment);
      providerId = await mailer.send(attachments.length > 0 ? { ...mail, attachments } : mail);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    await call(db, "record_email_delivery", {
      delivery_id: delivery.id,
      claim: delivery.claim_id,
      succeeded: error === null,
      provider_message_id: providerId ?? undefined,
      error: error ?? undefined,
    });
    if (error === null) result.sent++;
    else result.failed.push({ id: delivery.id, error });
  };
  // A few at a time: the mailer's connection pool sends them side by side.
  for (let i = 0; i < rows.length; i += SEND_CONCURRENCY) {
    await Promise.all(rows.slice(i, i + SEND_CONCURRENCY).map(sendOne));
  }
  return result;
}
