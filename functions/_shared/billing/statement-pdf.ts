// A monthly statement (public.monthly_statement's answer) as a PDF, on billing's shared
// document (pdf.ts): per currency the opening balance, charges, payments, refunds and closing
// balance, then the month's entries. Dated the first instant after the month, so the same
// statement always gives the same bytes.
import { z } from "npm:zod@4.6.7";
import { callJson } from "../platform/rpc.ts";
import type { Client } from "../platform/supabase.ts";
import { billingDocument, billingFont, day, formatAmount } from "./pdf.ts";

export const StatementForPdf = z.object({
  user_id: z.string(),
  customer_name: z.string(),
  month: z.string(),
  starts_at: z.string(),
  ends_at: z.string(),
  currencies: z.array(z.object({
    currency: z.string(),
    opening_balance: z.number().int(),
    charges: z.number().int(),
    payments: z.number().int(),
    refunds: z.number().int(),
    closing_balance: z.number().int(),
  })),
  entries: z.array(z.object({
    occurred_at: z.string(),
    kind: z.string(),
    reference: z.string(),
    description: z.string(),
    currency: z.string(),
    charge: z.number().int(),
    payment: z.number().int(),
    refund: z.number().int(),
  })),
});
export type StatementForPdf = z.infer<typeof StatementForPdf>;

/** `minorUnits` gives each currency's decimals (currencies.minor_units). */
export function renderStatementPdf(
  statement: StatementForPdf,
  minorUnits: Record<string, number>,
  font: Uint8Array,
): Promise<Uint8Array> {
  const title = `Statement ${statement.month}`;
  const { doc, done } = billingDocument({
    title,
    producer: "billing-statement-pdf",
    date: new Date(statement.ends_at),
    font,
  });
  const money = (amount: number, currency: string) =>
    `${formatAmount(amount, minorUnits[currency] ?? 2)} ${currency}`;

  doc.fontSize(20).text(title);
  doc.moveDown(0.5).fontSize(10);
  doc.text(
    `Period: ${day(statement.starts_at)} to ${
      day(new Date(Date.parse(statement.ends_at) - 1).toISOString())
    }`,
  );
  doc.moveDown().fontSize(12).text(`Customer: ${statement.customer_name}`);
  doc.moveDown().fontSize(10);
  if (statement.currencies.length === 0) doc.text("No activity.");
  for (const c of statement.currencies) {
    doc.fontSize(12).text(c.currency);
    doc.fontSize(10);
    doc.text(`Opening balance: ${money(c.opening_balance, c.currency)}`);
    doc.text(`Charges: ${money(c.charges, c.currency)}`);
    doc.text(`Payments: ${money(c.payments, c.currency)}`);
    doc.text(`Refunds: ${money(c.refunds, c.currency)}`);
    doc.text(`Closing balance: ${money(c.closing_balance, c.currency)}`);
    doc.moveDown();
  }
  if (statement.entries.length > 0) {
    doc.fontSize(12).text("Entries");
    doc.fontSize(9);
    for (const e of statement.entries) {
      const amounts = [
        e.charge !== 0 ? `charge ${money(e.charge, e.currency)}` : "",
        e.payment !== 0 ? `payment ${money(e.payment, e.currency)}` : "",
        e.refund !== 0 ? `refund ${money(e.refund, e.currency)}` : "",
      ].filter(Boolean).join(", ");
      doc.text(`${day(e.occurred_at)}  ${e.description}  ${amounts}`);
    }
  }
  doc.end();
  return done;
}

export const STATEMENT_SIGNED_URL_SECONDS = 3600;

/** Where a statement's PDF lives in the invoices bucket: the user's folder, statements/<YYYY-MM>.pdf. */
export const statementPdfPath = (userId: string, month: string) =>
  `${userId}/statements/${month}.pdf`;

/**
 * Reads the statement as `reader` (the caller: their own, or anyone's with billing.manage),
 * renders it and stores it with the service role (upsert), answering where it is, the data
 * and a signed URL valid for an hour.
 */
export async function storeStatementPdf(
  reader: Client,
  service: Client,
  month: string,
  userId: string | undefined,
) {
  const statement = await callJson(reader, "monthly_statement", {
    month,
    ...(userId ? { user_id: userId } : {}),
  }, StatementForPdf);
  const { data: currencies, error: currencyError } = await reader
    .from("currencies")
    .select("code, minor_units");
  if (currencyError) throw currencyError;
  const minorUnits = Object.fromEntries(currencies.map((c) => [c.code, c.minor_units]));
  const pdf = await renderStatementPdf(statement, minorUnits, await billingFont());
  const path = statementPdfPath(statement.user_id, statement.month);
  const storage = service.storage.from("invoices");
  const uploaded = await storage.upload(path, pdf, {
    contentType: "application/pdf",
    upsert: true,
  });
  if (uploaded.error) throw uploaded.error;
  const signed = await storage.createSignedUrl(path, STATEMENT_SIGNED_URL_SECONDS);
  if (signed.error) throw signed.error;
  return {
    statement,
    bucket: "invoices",
    path,
    bytes: pdf.length,
    signed_url: signed.data.signedUrl,
    expires_in: STATEMENT_SIGNED_URL_SECONDS,
  };
}
