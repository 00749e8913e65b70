// billing-invoice-pdf through the stack: an issued invoice for a customer with a Korean name
// becomes a PDF in the private invoices bucket, served by a signed URL; its text, extracted
// back with pdf.js (unpdf), holds the name, the number and the total; a second render is the
// same file byte for byte; a draft is refused 409, a stranger gets 404, anon 401.

import { extractText, getDocumentProxy } from "unpdf";
import { describe, expect, it } from "vitest";
import { signUp, signUpWithRole } from "../support/auth.ts";
import { callFunction, client } from "../support/clients.ts";

async function download(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/pdf");
  return new Uint8Array(await res.arrayBuffer());
}

describe("billing-invoice-pdf", () => {
  it(
    "renders an issued invoice with Korean text, stores it privately and serves it by signed URL",
    async () => {
      const staff = await signUpWithRole("pdf-staff", "staff");
      const customer = await signUp("pdf-customer");
      const stranger = await signUp("pdf-stranger");
      const created = await staff.client.rpc("create_invoice", {
        customer_id: customer.id,
        currency: "KRW",
        items: [
          { description: "디자인 상담", quantity: 1.5, unit_amount: 333 },
          { description: "Pattern", quantity: 3, unit_amount: 1000 },
        ],
        customer_name: "김민수",
        tax_rate_bps: 1000,
      });
      expect(created.error).toBeNull();
      const invoiceId = (created.data as { id: string }).id;

      const draft = await callFunction(customer.client, "billing-invoice-pdf", {
        invoice_id: invoiceId,
      });
      expect(draft.status).toBe(404); // the customer does not see drafts
      const staffDraft = await callFunction(staff.client, "billing-invoice-pdf", {
        invoice_id: invoiceId,
      });
      expect(staffDraft.status).toBe(409);
      expect(staffDraft.body.error.code).toBe("conflict");

      const issued = await staff.client.rpc("issue_invoice", { invoice_id: invoiceId });
      expect(issued.error).toBeNull();
      const number = (issued.data as { number: string }).number;

      const first = await callFunction(customer.client, "billing-invoice-pdf", {
        invoice_id: invoiceId,
      });
      expect(first.status).toBe(200);
      expect(first.body.path).toBe(`${customer.id}/${invoiceId}.pdf`);
      const pdf = await download(first.body.signed_url);
      const { text } = await extractText(await getDocumentProxy(pdf.slice()), { mergePages: true });
      expect(text).toContain(`Invoice ${number}`);
      expect(text).toContain("Bill to: 김민수");
      expect(text).toContain("디자인 상담 1.5 x 333 KRW = 500 KRW");
      expect(text).toContain("Total: 3,850 KRW");

      const second = await callFunction(staff.client, "billing-invoice-pdf", {
        invoice_id: invoiceId,
      });
      expect(second.status).toBe(200);
      expect(Buffer.compare(Buffer.from(await download(second.body.signed_url)), Buffer.from(pdf)))
        .toBe(0);

      // The customer reads the file through Storage too; a stranger neither the invoice nor it.
      const own = await customer.client.storage.from("invoices").download(first.body.path);
      expect(own.error).toBeNull();
      const theirs = await callFunction(stranger.client, "billing-invoice-pdf", {
        invoice_id: invoiceId,
      });
      expect(theirs.status).toBe(404);
      const peek = await stranger.client.storage.from("invoices").download(first.body.path);
      expect(peek.error).not.toBeNull();
      const anon = await callFunction(client(), "billing-invoice-pdf", { invoice_id: invoiceId });
      expect(anon.status).toBe(401);
    },
    60_000,
  );
});
