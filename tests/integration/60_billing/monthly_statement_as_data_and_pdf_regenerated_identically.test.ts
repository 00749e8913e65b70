// Monthly statements through the stack: a customer with a Korean name reads this month's
// statement (monthly_statement) as data, and billing-statement-pdf renders it into the private
// invoices bucket (<user>/statements/<YYYY-MM>.pdf), served by a signed URL; the PDF's text,
// extracted with unpdf, holds the name, the month and the balances; a second render is the same
// file byte for byte; staff render anyone's; a stranger may not ask for another's (403), anon 401.

import { extractText, getDocumentProxy } from "unpdf";
import { describe, expect, it } from "vitest";
import { signUp, signUpWithRole } from "../support/auth.ts";
import { callFunction, client } from "../support/clients.ts";

async function download(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return new Uint8Array(await res.arrayBuffer());
}

describe("monthly statements", () => {
  it(
    "as data and as a PDF with Korean text, rendered identically, the owner's or staff's",
    async () => {
      const staff = await signUpWithRole("stmt-staff", "staff");
      const customer = await signUp("stmt-customer");
      const stranger = await signUp("stmt-stranger");
      const named = await customer.client.from("profiles").update({ display_name: "이수진" })
        .eq("id", customer.id);
      expect(named.error).toBeNull();

      // Two invoices this month: one paid, one outstanding (₩33,000 and ₩11,000 with 10% tax).
      const ids: string[] = [];
      for (const amount of [30000, 10000]) {
        const created = await staff.client.rpc("create_invoice", {
          customer_id: customer.id,
          currency: "KRW",
          items: [{ description: "월간 구독", quantity: 1, unit_amount: amount }],
          tax_rate_bps: 1000,
        });
        expect(created.error).toBeNull();
        const id = (created.data as { id: string }).id;
        expect((await staff.client.rpc("issue_invoice", { invoice_id: id })).error).toBeNull();
        ids.push(id);
      }
      expect(
        (await staff.client.rpc("set_invoice_status", { invoice_id: ids[0], status: "paid" }))
          .error,
      )
        .toBeNull();
      const month = new Date().toISOString().slice(0, 7);

      const data = await customer.client.rpc("monthly_statement", { month: `${month}-01` });
      expect(data.error).toBeNull();
      expect(data.data).toMatchObject({
        user_id: customer.id,
        customer_name: "이수진",
        month,
        currencies: [{
          currency: "KRW",
          opening_balance: 0,
          charges: 44000,
          payments: 33000,
          refunds: 0,
          closing_balance: 11000,
        }],
      });

      const first = await callFunction(customer.client, "billing-statement-pdf", { month });
      expect(first.status).toBe(200);
      expect(first.body.path).toBe(`${customer.id}/statements/${month}.pdf`);
      expect(first.body.statement).toEqual(data.data);
      const pdf = await download(first.body.signed_url);
      const { text } = await extractText(await getDocumentProxy(pdf.slice()), { mergePages: true });
      expect(text).toContain(`Statement ${month}`);
      expect(text).toContain("Customer: 이수진");
      expect(text).toContain("Charges: 44,000 KRW");
      expect(text).toContain("Payments: 33,000 KRW");
      expect(text).toContain("Closing balance: 11,000 KRW");

      const second = await callFunction(staff.client, "billing-statement-pdf", {
        month,
        user_id: customer.id,
      });
      expect(second.status).toBe(200);
      expect(Buffer.compare(Buffer.from(await download(second.body.signed_url)), Buffer.from(pdf)))
        .toBe(0);

      const own = await customer.client.storage.from("invoices").download(first.body.path);
      expect(own.error).toBeNull();
      const theirs = await callFunction(stranger.client, "billing-statement-pdf", {
        month,
        user_id: customer.id,
      });
      expect(theirs.status).toBe(403);
      expect(theirs.body.error.message).toBe(
        "reading another user's statement needs the billing.manage permission",
      );
      const future = await callFunction(customer.client, "billing-statement-pdf", {
        month: "2999-01",
      });
      expect(future.status).toBe(400);
      const anon = await callFunction(client(), "billing-statement-pdf", { month });
      expect(anon.status).toBe(401);
    },
    60_000,
  );
});
