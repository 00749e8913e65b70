// billing-send-invoice through the stack and Mailpit: staff send an issued invoice to its
// customer (a Korean name); the notifications consumer and e-mail sender deliver the
// invoice.sent mail with the invoice's PDF attached, whose text (extracted with unpdf) holds the
// name, the number and the total. The send is recorded (to, by, when) and read by the customer;
// the same request again answers the first send and mails nothing more; a draft is refused 409;
// the customer and a stranger may not send (404); anon 401; the invoice's seller sends theirs.

import { extractText, getDocumentProxy } from "unpdf";
import { afterAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { callFunction, client } from "../support/clients.ts";
import { attachmentOf, deleteMailTo, searchMail, waitForMail } from "../support/mail.ts";
import { consumeNotifications, drainEmail } from "../support/notifications.ts";

async function createInvoice(
  writer: TestUser,
  customerId: string,
  extra: Record<string, unknown> = {},
) {
  const created = await writer.client.rpc("create_invoice", {
    customer_id: customerId,
    currency: "KRW",
    items: [{ description: "디자인 상담", quantity: 2, unit_amount: 55000 }],
    customer_name: "박서연",
    tax_rate_bps: 1000,
    ...extra,
  });
  expect(created.error).toBeNull();
  return (created.data as { id: string }).id;
}

describe("billing-send-invoice", () => {
  const mailboxes: string[] = [];
  afterAll(async () => {
    for (const address of mailboxes) await deleteMailTo(address);
  });

  it(
    "mails an issued invoice with its PDF attached, once per request, recorded and refused for drafts",
    async () => {
      const staff = await signUpWithRole("send-staff", "staff");
      const customer = await signUp("send-customer");
      const stranger = await signUp("send-stranger");
      mailboxes.push(customer.email);
      const invoiceId = await createInvoice(staff, customer.id);

      const draft = await callFunction(staff.client, "billing-send-invoice", {
        invoice_id: invoiceId,
        request_id: crypto.randomUUID(),
      });
      expect(draft.status).toBe(409);
      expect(draft.body.error.message).toBe(
        `invoice ${invoiceId} is a draft: issue it before sending it`,
      );

      const issued = await staff.client.rpc("issue_invoice", { invoice_id: invoiceId });
      expect(issued.error).toBeNull();
      const number = (issued.data as { number: string }).number;

      for (const who of [customer, stranger]) {
        const refused = await callFunction(who.client, "billing-send-invoice", {
          invoice_id: invoiceId,
          request_id: crypto.randomUUID(),
        });
        expect(refused.status).toBe(404);
      }
      const anon = await callFunction(client(), "billing-send-invoice", {
        invoice_id: invoiceId,
        request_id: crypto.randomUUID(),
      });
      expect(anon.status).toBe(401);

      const since = new Date(Date.now() - 1000);
      const requestId = crypto.randomUUID();
      const sent = await callFunction(staff.client, "billing-send-invoice", {
        invoice_id: invoiceId,
        request_id: requestId,
      });
      expect(sent.status).toBe(201);
      expect(sent.body).toMatchObject({
        invoice_id: invoiceId,
        request_id: requestId,
        to_address: customer.email,
        sent_by: staff.id,
        repeated: false,
        pdf: { bucket: "invoices", path: `${customer.id}/${invoiceId}.pdf` },
      });
      const again = await callFunction(staff.client, "billing-send-invoice", {
        invoice_id: invoiceId,
        request_id: requestId,
      });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ id: sent.body.id, repeated: true });

      await consumeNotifications();
      expect(await drainEmail()).toEqual([]);
      const mail = await waitForMail({ to: customer.email, subject: `Invoice ${number}`, since });
      expect(mail.Text).toContain(`Please find attached invoice ${number} for 121,000 KRW`);
      expect(mail.Attachments).toHaveLength(1);
      expect(mail.Attachments[0]).toMatchObject({
        FileName: `invoice-${number}.pdf`,
        ContentType: "application/pdf",
      });
      const pdf = await attachmentOf(mail.ID, mail.Attachments[0].PartID);
      const { text } = await extractText(await getDocumentProxy(pdf.slice()), { mergePages: true });
      expect(text).toContain(`Invoice ${number}`);
      expect(text).toContain("Bill to: 박서연");
      expect(text).toContain("Total: 121,000 KRW");

      // One request, one mail: the repeated request queued nothing.
      await consumeNotifications();
      await drainEmail();
      const { messages } = await searchMail(`to:"${customer.email}" subject:"Invoice ${number}"`);
      expect(messages).toHaveLength(1);

      // The record: the customer and staff read it; a stranger does not.
      const own = await customer.client.from("invoice_sends").select("to_address, sent_by")
        .eq("invoice_id", invoiceId);
      expect(own.data).toEqual([{ to_address: customer.email, sent_by: staff.id }]);
      const peek = await stranger.client.from("invoice_sends").select("id").eq(
        "invoice_id",
        invoiceId,
      );
      expect(peek.data).toEqual([]);
      // And the in-app notice, with the link to the invoice.
      const notice = await customer.client.from("notifications").select("title, action_url")
        .eq("event_type", "invoice.sent");
      expect(notice.data).toEqual([{
        title: `Invoice ${number}`,
        action_url: `/invoices/${invoiceId}`,
      }]);
    },
    90_000,
  );

  it("sends once when the same request arrives five times at once", async () => {
    const staff = await signUpWithRole("send-race-staff", "staff");
    const customer = await signUp("send-race-customer");
    mailboxes.push(customer.email);
    const invoiceId = await createInvoice(staff, customer.id);
    const issued = await staff.client.rpc("issue_invoice", { invoice_id: invoiceId });
    expect(issued.error).toBeNull();
    const number = (issued.data as { number: string }).number;
    const requestId = crypto.randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        callFunction(staff.client, "billing-send-invoice", {
          invoice_id: invoiceId,
          request_id: requestId,
        })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    const sends = await staff.client.from("invoice_sends").select("id").eq("invoice_id", invoiceId);
    expect(sends.data).toHaveLength(1);
    await consumeNotifications();
    expect(await drainEmail()).toEqual([]);
    await waitForMail({ to: customer.email, subject: `Invoice ${number}` });
    const { messages } = await searchMail(`to:"${customer.email}" subject:"Invoice ${number}"`);
    expect(messages).toHaveLength(1);
  }, 60_000);

  it("lets the invoice's seller send their own invoice, not another's", async () => {
    const seller = await signUpWithRole("send-seller", "seller");
    const other = await signUpWithRole("send-other-seller", "seller");
    const customer = await signUp("send-shop-customer");
    mailboxes.push(customer.email);
    const invoiceId = await createInvoice(seller, customer.id, { seller_id: seller.id });
    expect((await seller.client.rpc("issue_invoice", { invoice_id: invoiceId })).error).toBeNull();
    const refused = await callFunction(other.client, "billing-send-invoice", {
      invoice_id: invoiceId,
      request_id: crypto.randomUUID(),
    });
    expect(refused.status).toBe(404);
    const sent = await callFunction(seller.client, "billing-send-invoice", {
      invoice_id: invoiceId,
      request_id: crypto.randomUUID(),
    });
    expect(sent.status).toBe(201);
    expect(sent.body.to_address).toBe(customer.email);
  }, 60_000);
});
