import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { extractText, getDocumentProxy } from "npm:unpdf@1.8.1";
import {
  formatAmount,
  invoiceFont,
  type InvoiceForPdf,
  renderInvoicePdf,
} from "../../../functions/_shared/billing/invoice-pdf.ts";

const invoice: InvoiceForPdf = {
  id: "00000000-0000-0000-0000-000000000001",
  kind: "invoice",
  number: "20261130-0001",
  status: "issued",
  customer_id: "00000000-0000-0000-0000-000000000002",
  customer_name: "김민수 (Kim Minsu) 똠",
  currency: "KRW",
  tax_rate_bps: 1000,
  subtotal_amount: 3500,
  tax_amount: 350,
  total_amount: 3850,
  issued_at: "2026-11-30T10:00:00.000Z",
  due_at: "2026-12-14T10:00:00.000Z",
  notes: "감사합니다",
  items: [
    { description: "디자인 상담", quantity: 1.5, unit_amount: 333, line_amount: 500 },
    { description: "Pattern", quantity: 3, unit_amount: 1000, line_amount: 3000 },
  ],
};

async function textOf(pdf: Uint8Array): Promise<string> {
  const { text } = await extractText(await getDocumentProxy(pdf.slice()), { mergePages: true });
  return text;
}

Deno.test("an invoice renders to a PDF whose text reads back, Korean included", async () => {
  const pdf = await renderInvoicePdf(invoice, 0, await invoiceFont());
  strictEqual(new TextDecoder().decode(pdf.slice(0, 5)), "%PDF-");
  ok(pdf.length < 100_000, `only the used glyphs are embedded (${pdf.length} bytes)`);
  const text = await textOf(pdf);
  for (
    const expected of [
      "Invoice 20261130-0001",
      "Bill to: 김민수 (Kim Minsu) 똠",
      "디자인 상담 1.5 x 333 KRW = 500 KRW",
      "Tax (10.00%): 350 KRW",
      "Total: 3,850 KRW",
      "감사합니다",
      "Due: 2026-12-14",
    ]
  ) ok(text.includes(expected), `"${expected}" in ${JSON.stringify(text)}`);
});

Deno.test("the same invoice renders to the same bytes", async () => {
  const font = await invoiceFont();
  const first = await renderInvoicePdf(invoice, 0, font);
  const second = await renderInvoicePdf(invoice, 0, font);
  deepStrictEqual(first, second);
  const other = await renderInvoicePdf({ ...invoice, number: "20261130-0002" }, 0, font);
  ok(other.length !== first.length || other.some((b, i) => b !== first[i]), "another differs");
});

Deno.test("amounts are formatted by the currency's minor units", () => {
  strictEqual(formatAmount(385000, 0), "385,000");
  strictEqual(formatAmount(350, 2), "3.50");
  strictEqual(formatAmount(5, 2), "0.05");
  strictEqual(formatAmount(-123456789, 2), "-1,234,567.89");
  strictEqual(formatAmount(1500, 3), "1.500");
});

Deno.test("the embedded font is the one the fonts README names", async () => {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await invoiceFont()));
  strictEqual(
    Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
    "8cbc9b353bb9ce848fd69bb6a507319dfacc659cf5fd643db5d88f3c4970e1dd",
  );
});
