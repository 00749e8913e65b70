// An issued invoice (or credit note) as a PDF, laid out on billing's shared document (pdf.ts:
// pdfkit, Noto Sans KR embedded, deterministic). The document's dates are the invoice's issue
// time, so the same invoice always gives the same bytes. storeInvoicePdf renders an invoice
// read through a given client and stores it in the private invoices bucket
// (billing-invoice-pdf, and billing-send-invoice before the mail attaches it).
import { z } from "npm:zod@4.6.7";
import { HttpError } from "../http/errors.ts";
import type { Client } from "../platform/supabase.ts";
import { billingDocument, billingFont, day, formatAmount } from "./pdf.ts";

export { formatAmount };

/** What the renderer needs: private.invoice_json's answer plus the currency's minor units. */
export const InvoiceForPdf = z.object({
  id: z.string(),
  kind: z.enum(["invoice", "credit_note"]),
  number: z.string(),
  status: z.enum(["issued", "paid", "canceled"]),
  customer_id: z.string(),
  customer_name: z.string(),
  currency: z.string(),
  tax_rate_bps: z.number().int(),
  subtotal_amount: z.number().int(),
  tax_amount: z.number().int(),
  total_amount: z.number().int(),
  issued_at: z.string(),
  due_at: z.string().nullable(),
  notes: z.string(),
  items: z.array(z.object({
    description: z.string(),
    quantity: z.number(),
    unit_amount: z.number().int(),
    line_amount: z.number().int(),
  })),
});
export type InvoiceForPdf = z.infer<typeof InvoiceForPdf>;

export function renderInvoicePdf(
  invoice: InvoiceForPdf,
  minorUnits: number,
  font: Uint8Array,
): Promise<Uint8Array> {
  const title = `${invoice.kind === "credit_note" ? "Credit note" : "Invoice"} ${invoice.number}`;
  const { doc, done } = billingDocument({
    title,
    producer: "billing-invoice-pdf",
    date: new Date(invoice.issued_at),
    font,
  });
  const money = (amount: number) => `${formatAmount(amount, minorUnits)} ${invoice.currency}`;

  doc.fontSize(20).text(title);
  doc.moveDown(0.5).fontSize(10);
  doc.text(`Issued: ${day(invoice.issued_at)}`);
  if (invoice.due_at && invoice.kind === "invoice") doc.text(`Due: ${day(invoice.due_at)}`);
  doc.text(`Status: ${invoice.status}`);
  doc.moveDown().fontSize(12).text(`Bill to: ${invoice.customer_name}`);
  doc.moveDown().fontSize(10);
  for (const item of invoice.items) {
    doc.text(
      `${item.description}  ${item.quantity} x ${money(item.unit_amount)} = ${
        money(item.line_amount)
      }`,
    );
  }
  doc.moveDown();
  doc.text(`Subtotal: ${money(invoice.subtotal_amount)}`);
  doc.text(`Tax (${formatAmount(invoice.tax_rate_bps, 2)}%): ${money(invoice.tax_amount)}`);
  doc.fontSize(12).text(`Total: ${money(invoice.total_amount)}`);
  if (invoice.notes) doc.moveDown().fontSize(9).text(invoice.notes);
  doc.end();
  return done;
}

/** The embedded font (billing's one font, pdf.ts). */
export const invoiceFont = billingFont;

export const SIGNED_URL_SECONDS = 3600;

/** Where an invoice's PDF lives in the invoices bucket (private.invoice_pdf_path says the same). */
export const invoicePdfPath = (invoice: { customer_id: string; id: string }) =>
  `${invoice.customer_id}/${invoice.id}.pdf`;

/**
 * Renders the invoice `reader` may read (the caller's client under RLS, or the service role's
 * once the database has allowed the caller) and stores it with the service role at
 * invoices/<customer id>/<invoice id>.pdf (upsert: the same bytes again), answering where it
 * is and a signed URL valid for an hour. 404 when the reader does not see it, 409 for a draft.
 */
export async function storeInvoicePdf(
  reader: Client,
  service: Client,
  invoiceId: string,
) {
  const { data: row, error } = await reader
    .from("invoices")
    .select("*, items:invoice_items(description, quantity, unit_amount, line_amount, position, id)")
    .eq("id", invoiceId)
    .maybeSingle();
  if (error) throw error;
  if (!row) throw new HttpError("not_found", `invoice ${invoiceId} not found`);
  if (row.status === "draft") {
    throw new HttpError("conflict", `invoice ${invoiceId} is a draft: issue it first`);
  }
  row.items.sort((a, b) => a.position - b.position || a.id - b.id);
  const invoice = InvoiceForPdf.parse(row);

  const { data: currency, error: currencyError } = await reader
    .from("currencies")
    .select("minor_units")
    .eq("code", invoice.currency)
    .single();
  if (currencyError) throw currencyError;

  const pdf = await renderInvoicePdf(invoice, currency.minor_units, await invoiceFont());
  const path = invoicePdfPath(invoice);
  const storage = service.storage.from("invoices");
  const uploaded = await storage.upload(path, pdf, {
    contentType: "application/pdf",
    upsert: true,
  });
  if (uploaded.error) throw uploaded.error;
  const signed = await storage.createSignedUrl(path, SIGNED_URL_SECONDS);
  if (signed.error) throw signed.error;
  return {
    invoice_id: invoice.id,
    number: invoice.number,
    bucket: "invoices",
    path,
    bytes: pdf.length,
    signed_url: signed.data.signedUrl,
    expires_in: SIGNED_URL_SECONDS,
  };
}
