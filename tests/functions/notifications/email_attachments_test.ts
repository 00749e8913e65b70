// The sender's attachments without a stack: a delivery's payload names files of an attachable
// bucket, which are read and attached; another bucket, a malformed list or an unreadable file
// fails the attempt (recorded with its error, retried later), never a mail without its file.
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import {
  attachmentsOf,
  type ClaimedDelivery,
  type OutgoingMail,
  sendDue,
} from "../../../functions/_shared/notifications/email.ts";
import type { Db } from "../../../functions/_shared/platform/rpc.ts";

const pdf = new TextEncoder().encode("%PDF-1.3 test");
const delivery = (attachments: unknown): ClaimedDelivery => ({
  id: "11111111-1111-4111-8111-111111111111",
  claim_id: "22222222-2222-4222-8222-222222222222",
  attempt: 1,
  to_address: "customer@example.com",
  locale: "en",
  category: "payments",
  template_key: "invoice.sent",
  subject: "Invoice {{number}}",
  html: "<p>{{number}}</p>",
  text_body: "{{number}}",
  variables: { number: "20261130-0001", attachments },
  unsubscribe_token: "33333333-3333-4333-8333-333333333333",
});
const invoicePdf = {
  bucket: "invoices",
  path: "u/i.pdf",
  filename: "invoice-20261130-0001.pdf",
  content_type: "application/pdf",
};

Deno.test("attachmentsOf reads the files a payload names from attachable buckets", async () => {
  const read: string[] = [];
  const files = await attachmentsOf(delivery([invoicePdf]), (bucket, path) => {
    read.push(`${bucket}/${path}`);
    return Promise.resolve(pdf);
  });
  assertEquals(read, ["invoices/u/i.pdf"]);
  assertEquals(files, [{
    filename: "invoice-20261130-0001.pdf",
    contentType: "application/pdf",
    content: pdf,
  }]);
  assertEquals(await attachmentsOf({ ...delivery(undefined) }, undefined), []);
});

Deno.test("attachmentsOf refuses other buckets and malformed lists", async () => {
  const read = () => Promise.resolve(pdf);
  await rejects(
    attachmentsOf(delivery([{ ...invoicePdf, bucket: "avatars" }]), read),
    /attachments are/,
  );
  await rejects(attachmentsOf(delivery("invoices/u/i.pdf"), read), /attachments are/);
  await rejects(attachmentsOf(delivery([invoicePdf]), undefined), /no attachment reader/);
});

Deno.test("sendDue attaches the file, and records a missing one as a failed attempt", async () => {
  const calls: Record<string, unknown>[] = [];
  const db = {
    rpc: () => {
      throw new Error("no public RPC expected");
    },
    schema: () => ({
      rpc: (fn: string, args: Record<string, unknown>) => {
        if (fn !== "claim_email_deliveries") calls.push(args);
        const data = fn === "claim_email_deliveries"
          ? [delivery([invoicePdf]), {
            ...delivery([{ ...invoicePdf, path: "gone.pdf" }]),
            id: "44444444-4444-4444-8444-444444444444",
          }]
          : "ok";
        return Promise.resolve({ data, error: null, count: null, status: 200, statusText: "OK" });
      },
    }),
  } as unknown as Db;
  const sent: OutgoingMail[] = [];
  const result = await sendDue(db, {
    send: (mail) => (sent.push(mail), Promise.resolve(mail.messageId)),
  }, {
    limit: 10,
    supabaseUrl: "http://127.0.0.1:54321",
    messageDomain: "n.local",
    attachment: (_bucket, path) =>
      path === "gone.pdf"
        ? Promise.reject(new Error("attachment invoices/gone.pdf: Object not found"))
        : Promise.resolve(pdf),
  });
  assertEquals(result.sent, 1);
  assertEquals(result.failed, [{
    id: "44444444-4444-4444-8444-444444444444",
    error: "attachment invoices/gone.pdf: Object not found",
  }]);
  assertEquals(sent[0].attachments?.map((a) => a.filename), ["invoice-20261130-0001.pdf"]);
  assertEquals(calls.map((c) => c.succeeded).sort(), [false, true]);
});
