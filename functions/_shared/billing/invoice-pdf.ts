// An issued invoice (or credit note) as a PDF: pdfkit with Noto Sans KR embedded, so Korean
// and Latin text render and extract back as text (pdfkit writes a ToUnicode map). The same
// invoice always gives the same bytes: the document's dates are the invoice's issue time,
// its file ID is derived from them (pdfkit hashes the info dictionary), and the font's subset
// tag from the font's id, so nothing random or clock-dependent enters the file.
import { Buffer } from "node:buffer";
import PDFDocument from "npm:pdfkit@0.20.2";
import { z } from "npm:zod@4.6.7";

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

/** Minor units as a decimal amount with thousands separators: 385000, 2 -> "3,850.00". */
export function formatAmount(amount: number, minorUnits: number): string {
  const negative = amount < 0;
  const digits = String(Math.abs(amount)).padStart(minorUnits + 1, "0");
  const whole = digits.slice(0, digits.length - minorUnits).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = minorUnits > 0 ? "." + digits.slice(digits.length - minorUnits) : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

/** A day as YYYY-MM-DD in UTC, as invoice numbers count days. */
const day = (iso: string) => new Date(iso).toISOString().slice(0, 10);

export function renderInvoicePdf(
  invoice: InvoiceForPdf,
  minorUnits: number,
  font: Uint8Array,
): Promise<Uint8Array> {
  const issued = new Date(invoice.issued_at);
  const title = `${invoice.kind === "credit_note" ? "Credit note" : "Invoice"} ${invoice.number}`;
  const doc = new PDFDocument({
    // The font given at construction: pdfkit then never loads its Helvetica AFM file from disk.
    font: Buffer.from(font),
    size: "A4",
    margin: 50,
    info: {
      Title: title,
      Producer: "billing-invoice-pdf",
      Creator: "billing-invoice-pdf",
      CreationDate: issued,
      ModDate: issued,
    },
  });
  const chunks: Uint8Array[] = [];
  const done = new Promise<Uint8Array>((resolve, reject) => {
    doc.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    doc.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    doc.on("error", reject);
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

let cachedFont: Uint8Array<ArrayBuffer> | undefined;

/** The embedded font, read once per instance (a static file of the function). */
export async function invoiceFont(): Promise<Uint8Array<ArrayBuffer>> {
  cachedFont ??= await Deno.readFile(new URL("./fonts/NotoSansKR-Regular.ttf", import.meta.url));
  return cachedFont;
}
