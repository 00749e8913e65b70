// POST /billing-invoice-pdf { invoice_id }: an issued invoice (or credit note) as a PDF in the
// private invoices bucket, <customer id>/<invoice id>.pdf, answered with a signed URL valid
// for an hour. Whoever may read the invoice may ask (its customer, its seller, billing.manage:
// the read goes through RLS as the caller); a draft has no PDF (409). The file is rendered
// again on every call and comes out byte for byte the same (functions/_shared/billing/
// invoice-pdf.ts), so overwriting it changes nothing.
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { invoiceFont, InvoiceForPdf, renderInvoicePdf } from "../_shared/billing/invoice-pdf.ts";

const pdfRequest = z.object({ invoice_id: z.uuid() }).strict();

export const SIGNED_URL_SECONDS = 3600;

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { client } = await requireUser(req);
  const { invoice_id } = await readJson(req, pdfRequest);

  const { data: row, error } = await client
    .from("invoices")
    .select("*, items:invoice_items(description, quantity, unit_amount, line_amount, position, id)")
    .eq("id", invoice_id)
    .maybeSingle();
  if (error) throw error;
  if (!row) throw new HttpError("not_found", `invoice ${invoice_id} not found`);
  if (row.status === "draft") {
    throw new HttpError("conflict", `invoice ${invoice_id} is a draft: issue it first`);
  }
  row.items.sort((a, b) => a.position - b.position || a.id - b.id);
  const invoice = InvoiceForPdf.parse(row);

  const { data: currency, error: currencyError } = await client
    .from("currencies")
    .select("minor_units")
    .eq("code", invoice.currency)
    .single();
  if (currencyError) throw currencyError;

  const pdf = await renderInvoicePdf(invoice, currency.minor_units, await invoiceFont());
  const path = `${invoice.customer_id}/${invoice.id}.pdf`;
  const storage = serviceClient().storage.from("invoices");
  const uploaded = await storage.upload(path, pdf, {
    contentType: "application/pdf",
    upsert: true,
  });
  if (uploaded.error) throw uploaded.error;
  const signed = await storage.createSignedUrl(path, SIGNED_URL_SECONDS);
  if (signed.error) throw signed.error;
  return json({
    invoice_id: invoice.id,
    number: invoice.number,
    bucket: "invoices",
    path,
    bytes: pdf.length,
    signed_url: signed.data.signedUrl,
    expires_in: SIGNED_URL_SECONDS,
  });
});
