// POST /billing-send-invoice { invoice_id, request_id, acting_user? } (003 "send invoice by
// e-mail", 004 invoices "send"): staff holding billing.manage, or the invoice's seller, sends an
// issued (or paid) invoice to its customer with the PDF attached. ops.billing_send_invoice
// decides and records it first (404 an invoice the caller may not send, 409 a draft, a
// canceled invoice or a customer without an address; the send, audited, and invoice.sent in one
// transaction; the same request_id again answers the first send, 200 instead of 201, and sends
// nothing more); then the PDF is rendered into the invoices bucket, where the e-mail sender
// (notifications) takes the attachment the event names. The admin CLI calls it with the
// service-role key and acting_user (the staff account it acts for).
import { z } from "npm:zod@4.6.7";
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { callJson } from "../_shared/platform/rpc.ts";
import { serviceClient } from "../_shared/platform/supabase.ts";
import { actingUser } from "../_shared/identity/actor.ts";
import { storeInvoicePdf } from "../_shared/billing/invoice-pdf.ts";

export const sendInvoiceRequest = z.strictObject({
  invoice_id: z.uuid(),
  request_id: z.uuid(),
  acting_user: z.uuid().optional(),
});

const sent = z.object({
  id: z.string(),
  invoice_id: z.string(),
  request_id: z.string(),
  to_address: z.string().nullable(),
  sent_by: z.string().nullable(),
  sent_at: z.string(),
  event_id: z.number().nullable(),
  repeated: z.boolean(),
});

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const body = await readJson(req, sendInvoiceRequest);
  const actor = (await actingUser(req, body.acting_user)).id;
  const service = serviceClient();
  const send = await callJson(service, "billing_send_invoice", {
    acting_user: actor,
    invoice_id: body.invoice_id,
    request_id: body.request_id,
  }, sent);
  // The database allowed the send: the PDF the mail attaches, read with the service role.
  const pdf = await storeInvoicePdf(service, service, body.invoice_id);
  return json(
    { ...send, pdf: { bucket: pdf.bucket, path: pdf.path, bytes: pdf.bytes } },
    send.repeated ? 200 : 201,
  );
});
