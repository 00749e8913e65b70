// The e-mail channel end to end, through supabase-js, the functions and Mailpit: an accepted
// bid reaches the tailor by e-mail (once, though two senders run at the same time) with
// List-Unsubscribe headers and a Message-ID from the delivery; the mail's one-click link
// switches the category off; a muted category is not e-mailed while a critical one (payments)
// still is; an SMTP failure is recorded in the delivery log and retried, never lost.

import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, callFunction, SUPABASE_URL, withDatabase } from "../support/clients.ts";
import {
  consumeNotifications as consume,
  drainEmail,
  sendEmailOnce,
} from "../support/notifications.ts";
import { searchMail, waitForMail } from "../support/mail.ts";
import { acceptedBidOrder } from "../support/marketplace.ts";

/** A project by the designer (its title holds markup the mail must escape), a bid by the tailor, accepted. */
const acceptedBid = (designer: TestUser, tailor: TestUser) =>
  acceptedBidOrder(designer, tailor, 9000, { title: "A coat <b>lined</b>" });

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Tests that drain the sender get 120 s: earlier test files may have left mail queued ahead.
describe("notifications by e-mail", () => {
  it(
    "an accepted bid e-mails the tailor once, with one-click unsubscribe that mutes the category",
    async () => {
      const designer = await signUp("em-designer");
      const tailor = await signUp("em-tailor");
      const since = new Date();
      const orderId = await acceptedBid(designer, tailor);
      await consume();

      // Two senders at once: each delivery is claimed by one of them.
      const [a, b] = await Promise.all([drainEmail(), drainEmail()]);
      expect(a).toEqual([]);
      expect(b).toEqual([]);

      const mail = await waitForMail({ to: tailor.email, subject: "Your bid was accepted", since });
      expect(mail.Text).toContain(`Order ${orderId} is open`);
      expect(mail.ListUnsubscribe.HeaderPost).toBe("List-Unsubscribe=One-Click");
      expect(mail.ListUnsubscribe.Links).toHaveLength(1);

      const { data: deliveries, error } = await tailor.client.from("email_deliveries")
        .select("id, status, attempts, template_key, provider_message_id")
        .eq("template_key", "bid.accepted");
      expect(error).toBeNull();
      expect(deliveries).toHaveLength(1);
      expect(deliveries![0]).toMatchObject({ status: "sent", attempts: 1 });
      expect(mail.MessageID).toBe(deliveries![0].provider_message_id!.replace(/^<|>$/g, ""));
      expect(mail.MessageID.startsWith(deliveries![0].id)).toBe(true);
      const found = await searchMail(`to:"${tailor.email}" subject:"Your bid was accepted"`);
      expect(found.messages).toHaveLength(1);

      // A stranger reads none of the tailor's log.
      const stranger = await signUp("em-stranger");
      const strangers = await stranger.client.from("email_deliveries").select("id");
      expect(strangers.data).toEqual([]);

      // RFC 8058 one-click: a POST to the List-Unsubscribe link, no sign-in.
      const link = mail.ListUnsubscribe.Links[0];
      const page = await fetch(link);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("Unsubscribe");
      const unsubscribed = await fetch(link, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: "List-Unsubscribe=One-Click",
      });
      expect(unsubscribed.status).toBe(200);
      expect(await unsubscribed.json()).toEqual({
        unsubscribed: true,
        category: "bids",
        channel: "email",
      });
      const prefs = await tailor.client.from("notification_preferences")
        .select("category, channel, enabled").eq("category", "bids");
      expect(prefs.data).toEqual([{ category: "bids", channel: "email", enabled: false }]);

      const unknown = await fetch(
        `${SUPABASE_URL}/functions/v1/notifications-unsubscribe?token=${crypto.randomUUID()}`,
        { method: "POST", body: "List-Unsubscribe=One-Click" },
      );
      expect(unknown.status).toBe(404);
      expect((await unknown.json()).error.message).toBe("unsubscribe link not found");
    },
    120_000,
  );

  it("a muted category is not e-mailed; a critical one is, and cannot be muted", async () => {
    const designer = await signUp("em-designer2");
    const tailor = await signUp("em-tailor2");
    const muted = await tailor.client.rpc("set_notification_preference", {
      category: "bids",
      channel: "email",
      enabled: false,
    });
    expect(muted.error).toBeNull();
    const critical = await tailor.client.rpc("set_notification_preference", {
      category: "payments",
      channel: "email",
      enabled: false,
    });
    expect(critical.error?.code).toBe("22023");
    expect(critical.error?.message).toBe(
      "notification category payments is critical: it cannot be switched off in_app or by email",
    );

    const since = new Date();
    const orderId = await acceptedBid(designer, tailor);
    // A payments notice (critical), published as a trusted service would.
    const published = await admin().schema("ops").rpc("publish_event", {
      event_type: "payment.refund_due",
      subject_type: "order",
      subject_id: orderId,
      recipients: [tailor.id],
      payload: { order_status: "cancelled" },
    });
    expect(published.error).toBeNull();
    await consume();
    expect(await drainEmail()).toEqual([]);

    await waitForMail({ to: tailor.email, subject: "Refund on its way", since });
    const { data } = await tailor.client.from("email_deliveries").select("template_key");
    const templates = data!.map((d) => d.template_key);
    expect(templates).toContain("payment.refund_due");
    expect(templates).not.toContain("bid.accepted");
    const bidMail = await searchMail(`to:"${tailor.email}" subject:"Your bid was accepted"`);
    expect(bidMail.messages).toHaveLength(0);
  }, 120_000);

  it("an SMTP failure is logged with its error and retried until sent", async () => {
    const designer = await signUp("em-designer3");
    const tailor = await signUp("em-tailor3");
    const since = new Date();
    await acceptedBid(designer, tailor);
    await consume();

    const failedRun = await drainEmail({ smtp_port: await closedPort() });
    const { data: failed } = await tailor.client.from("email_deliveries")
      .select("id, status, attempts, last_error, next_attempt_at").eq(
        "template_key",
        "bid.accepted",
      )
      .single();
    expect(failed).toMatchObject({ status: "failed", attempts: 1 });
    expect(failed!.last_error).toMatch(/ECONNREFUSED/);
    expect(Date.parse(failed!.next_attempt_at!)).toBeGreaterThan(Date.now());
    expect(failedRun.map((f) => f.id)).toContain(failed!.id);

    // A minute passes (a time gate only), and the next run sends it.
    await withDatabase((db) =>
      db.query("update public.email_deliveries set next_attempt_at = now() where id = $1", [
        failed!.id,
      ])
    );
    expect(await drainEmail()).toEqual([]);
    await waitForMail({ to: tailor.email, subject: "Your bid was accepted", since });
    const { data: sent } = await tailor.client.from("email_deliveries")
      .select("status, attempts, last_error").eq("id", failed!.id).single();
    expect(sent).toEqual({ status: "sent", attempts: 2, last_error: null });
  }, 120_000);

  it("only the service role runs the sender", async () => {
    const user = await signUp("em-user");
    const denied = await callFunction(user.client, "notifications-send-email", {});
    expect((await sendEmailOnce({ limit: 0 })).status).toBe(400);
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toBe("Only the scheduler and the service role send e-mail");
  }, 120_000);
});
