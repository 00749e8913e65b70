// The sender's logic without a stack: rendering escapes variables in the HTML part only, the
// headers carry one-click unsubscribe and a Message-ID from the delivery, and a batch records
// every outcome, a failing send included.
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import {
  type ClaimedDelivery,
  type OutgoingMail,
  renderDelivery,
  sendDue,
} from "../../../functions/_shared/notifications/email.ts";
import type { Db } from "../../../functions/_shared/platform/rpc.ts";

const delivery = (over: Partial<ClaimedDelivery> = {}): ClaimedDelivery => ({
  id: "11111111-1111-4111-8111-111111111111",
  claim_id: "22222222-2222-4222-8222-222222222222",
  attempt: 1,
  to_address: "tailor@example.com",
  locale: "en",
  category: "bids",
  template_key: "bid.accepted",
  subject: "Hi {{recipient_name}}\nBcc: x@example.com",
  html: '<p>{{recipient_name}} {{order_id}}</p><a href="{{unsubscribe_url}}">stop</a>',
  text_body: "{{recipient_name}} {{order_id}}",
  variables: { recipient_name: "<Ann & Bo>", order_id: "o-1" },
  unsubscribe_token: "33333333-3333-4333-8333-333333333333",
  ...over,
});

Deno.test("renderDelivery escapes HTML, keeps text plain, and sets the list headers", () => {
  const mail = renderDelivery(delivery(), "https://ref.supabase.co/", "notifications.example");
  assertEquals(mail.html.startsWith("<p>&lt;Ann &amp; Bo&gt; o-1</p>"), true);
  assertEquals(mail.text, "<Ann & Bo> o-1");
  assertEquals(mail.subject, "Hi <Ann & Bo> Bcc: x@example.com");
  const link =
    "https://ref.supabase.co/functions/v1/notifications-unsubscribe?action=unsubscribe&token=33333333-3333-4333-8333-333333333333";
  assertEquals(mail.headers, {
    "List-Unsubscribe": `<${link}>`,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  });
  const escaped = link.replaceAll("&", "&amp;").replaceAll("/", "&#x2F;").replaceAll("=", "&#x3D;");
  ok(mail.html.includes(`href="${escaped}"`), mail.html);
  assertEquals(mail.messageId, "<11111111-1111-4111-8111-111111111111@notifications.example>");
});

Deno.test("sendDue records a sent mail and a failed one with its error", async () => {
  const calls: { fn: string; args: Record<string, unknown> }[] = [];
  const failing = delivery({
    id: "44444444-4444-4444-8444-444444444444",
    to_address: "down@example.com",
  });
  const db = {
    rpc: () => {
      throw new Error("no public RPC expected");
    },
    schema: () => ({
      rpc: (fn: string, args: Record<string, unknown>) => {
        calls.push({ fn, args });
        const data = fn === "claim_email_deliveries" ? [delivery(), failing] : "ok";
        return Promise.resolve({ data, error: null, count: null, status: 200, statusText: "OK" });
      },
    }),
  } as unknown as Db;
  const sent: OutgoingMail[] = [];
  const mailer = {
    send(mail: OutgoingMail) {
      if (mail.to === "down@example.com") {
        return Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:1"));
      }
      sent.push(mail);
      return Promise.resolve(mail.messageId);
    },
  };
  const result = await sendDue(db, mailer, {
    limit: 10,
    supabaseUrl: "http://127.0.0.1:54321",
    messageDomain: "n.local",
  });
  assertEquals(result, {
    claimed: 2,
    sent: 1,
    failed: [{ id: failing.id, error: "connect ECONNREFUSED 127.0.0.1:1" }],
  });
  assertEquals(sent.length, 1);
  assertEquals(calls.map((c) => c.fn), [
    "claim_email_deliveries",
    "record_email_delivery",
    "record_email_delivery",
  ]);
  assertEquals(calls[1].args, {
    delivery_id: delivery().id,
    claim: delivery().claim_id,
    succeeded: true,
    provider_message_id: "<11111111-1111-4111-8111-111111111111@n.local>",
    error: undefined,
  });
  assertEquals(calls[2].args.succeeded, false);
  assertEquals(calls[2].args.error, "connect ECONNREFUSED 127.0.0.1:1");
});
