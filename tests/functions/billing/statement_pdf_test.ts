import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { extractText, getDocumentProxy } from "npm:unpdf@1.8.1";
import { billingFont } from "../../../functions/_shared/billing/pdf.ts";
import {
  renderStatementPdf,
  type StatementForPdf,
  statementPdfPath,
} from "../../../functions/_shared/billing/statement-pdf.ts";

const statement: StatementForPdf = {
  user_id: "00000000-0000-0000-0000-000000000002",
  customer_name: "김지민",
  month: "2026-10",
  starts_at: "2026-10-01T00:00:00+00:00",
  ends_at: "2026-11-01T00:00:00+00:00",
  currencies: [
    {
      currency: "KRW",
      opening_balance: 10000,
      charges: 24900,
      payments: 19900,
      refunds: 0,
      closing_balance: 15000,
    },
    {
      currency: "USD",
      opening_balance: 0,
      charges: 4500,
      payments: 6500,
      refunds: 2000,
      closing_balance: 0,
    },
  ],
  entries: [
    {
      occurred_at: "2026-10-08T00:00:00+00:00",
      kind: "escrow_payment",
      reference: "o-1",
      description: "Order payment",
      currency: "USD",
      charge: 5000,
      payment: 5000,
      refund: 0,
    },
  ],
};
const minorUnits = { KRW: 0, USD: 2 };

Deno.test("a statement renders to a PDF whose text reads back, Korean included", async () => {
  const pdf = await renderStatementPdf(statement, minorUnits, await billingFont());
  strictEqual(new TextDecoder().decode(pdf.slice(0, 5)), "%PDF-");
  const { text } = await extractText(await getDocumentProxy(pdf.slice()), { mergePages: true });
  for (
    const expected of [
      "Statement 2026-10",
      "Period: 2026-10-01 to 2026-10-31",
      "Customer: 김지민",
      "Opening balance: 10,000 KRW",
      "Closing balance: 15,000 KRW",
      "Refunds: 20.00 USD",
      "2026-10-08 Order payment charge 50.00 USD, payment 50.00 USD",
    ]
  ) ok(text.includes(expected), `"${expected}" in ${JSON.stringify(text)}`);
});

Deno.test("the same statement renders to the same bytes; its path is the user's folder", async () => {
  const font = await billingFont();
  deepStrictEqual(
    await renderStatementPdf(statement, minorUnits, font),
    await renderStatementPdf(statement, minorUnits, font),
  );
  strictEqual(
    statementPdfPath(statement.user_id, "2026-10"),
    `${statement.user_id}/statements/2026-10.pdf`,
  );
});
