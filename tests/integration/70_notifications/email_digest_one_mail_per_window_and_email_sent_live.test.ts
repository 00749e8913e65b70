// E-mail digests and email:sent end to end, through supabase-js, the functions, Mailpit and
// Realtime: a user who takes messages by e-mail (a digest by default) gets several messages;
// two consumer runs at the same time queue no mail while the window is open, each message is
// in the feed at once; closing the window (an operator's flush, raced by two callers) queues
// one digest mail, which Mailpit receives once, counting and listing the messages; once sent,
// the user hears email:sent with the delivery on their private user:<id> topic. A digest held
// by a consumer adding to it is left to the next closing run.

import type { RealtimeChannel } from "@supabase/supabase-js";
import { afterAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, withDatabase } from "../support/clients.ts";
import { consumeNotifications, drainEmail } from "../support/notifications.ts";
import { searchMail, waitForMail } from "../support/mail.ts";
import { received, subscribed, until } from "../support/realtime.ts";

interface Broadcast {
  event: string;
  payload: Record<string, unknown>;
}

async function message(recipient: string, seq: number): Promise<void> {
  const { error } = await admin().schema("ops").rpc("publish_event", {
    event_type: "message.created",
    subject_type: "thread",
    subject_id: crypto.randomUUID(),
    recipients: [recipient],
    payload: { thread_id: crypto.randomUUID(), seq, attachments: 0 },
  });
  if (error) throw error;
}

async function flush(recipient: string): Promise<number> {
  const { data, error } = await admin().schema("ops").rpc("flush_email_digests", { recipient });
  if (error) throw error;
  return data as number;
}

describe("e-mail digests", () => {
  const users: TestUser[] = [];
  const channels: RealtimeChannel[] = [];

  afterAll(async () => {
    for (const channel of channels) await channel.unsubscribe();
    for (const user of users) user.client.realtime.disconnect();
  });

  it(
    "several messages become one digest mail, mailed once, heard as email:sent",
    async () => {
      const reader = await signUp("digest-reader");
      users.push(reader);
      const on = await reader.client.rpc("set_notification_preference", {
        category: "messages",
        channel: "email",
        enabled: true,
      });
      expect(on.error).toBeNull();
      const prefs = await reader.client.rpc("my_notification_preferences");
      expect(prefs.data!.find((p) => p.category === "messages")).toMatchObject({
        email: true,
        email_digest: true,
      });

      const channel = reader.client.channel(`user:${reader.id}`, { config: { private: true } });
      channels.push(channel);
      const heard = received<Broadcast>(channel, "broadcast");
      await subscribed(channel);

      const since = new Date();
      for (let seq = 1; seq <= 4; seq++) await message(reader.id, seq);
      // Two workers at once: each event is taken by one of them.
      await Promise.all([consumeNotifications(), consumeNotifications()]);

      const feed = await reader.client.from("notifications").select("id").eq(
        "event_type",
        "message.created",
      );
      expect(feed.data).toHaveLength(4);
      const queued = await reader.client.from("email_deliveries").select("id");
      expect(queued.data).toEqual([]);

      // The window closed (flushed by an operator, twice at once): one digest, one mail.
      const closed = await Promise.all([flush(reader.id), flush(reader.id)]);
      expect(closed[0] + closed[1]).toBe(1);
      await consumeNotifications();
      expect(await drainEmail()).toEqual([]);

      const mail = await waitForMail({
        to: reader.email,
        subject: "You have 4 new messages",
        since,
      });
      expect(mail.Text).toContain("You have 4 new messages");
      // The latest messages are listed (here all four), each with its link.
      expect(mail.Text.match(/- New message: You have a new message in a conversation\./g))
        .toHaveLength(4);
      expect(mail.Text).not.toContain("more.");
      const found = await searchMail(`to:"${reader.email}"`);
      expect(found.messages).toHaveLength(1);

      const { data: deliveries } = await reader.client.from("email_deliveries")
        .select("id, status, template_key, category, sent_at");
      expect(deliveries).toHaveLength(1);
      expect(deliveries![0]).toMatchObject({
        status: "sent",
        template_key: "message.digest",
        category: "messages",
      });

      await until(() => heard.some((m) => m.event === "email:sent"));
      const sent = heard.find((m) => m.event === "email:sent")!;
      expect(sent.payload).toMatchObject({
        delivery_id: deliveries![0].id,
        template_key: "message.digest",
        category: "messages",
      });
      expect(new Date(sent.payload.sent_at as string).getTime()).toBe(
        new Date(deliveries![0].sent_at!).getTime(),
      );
    },
    120_000,
  );

  it(
    "a digest a consumer is adding to is not closed under it: the next run closes it",
    async () => {
      const reader = await signUp("digest-locked");
      users.push(reader);
      await reader.client.rpc("set_notification_preference", {
        category: "messages",
        channel: "email",
        enabled: true,
      });
      const since = new Date();
      await message(reader.id, 1);
      await message(reader.id, 2);
      await consumeNotifications();

      // Hold the digest as a consumer adding a delivery to it does (for share, until commit).
      await withDatabase(async (db) => {
        await db.query("begin");
        await db.query(
          "select 1 from private.email_digests where recipient_id = $1 for share",
          [reader.id],
        );
        expect(await flush(reader.id)).toBe(0);
        await db.query("commit");
      });
      expect(await flush(reader.id)).toBe(1);
      expect(await drainEmail()).toEqual([]);
      const mail = await waitForMail({
        to: reader.email,
        subject: "You have 2 new messages",
        since,
      });
      expect(mail.To![0].Address).toBe(reader.email);
    },
    120_000,
  );

  it("a stranger cannot flush digests (ops is the service role's)", async () => {
    const stranger = await signUp("digest-stranger");
    users.push(stranger);
    const { error } = await stranger.client.schema("ops").rpc("flush_email_digests", {});
    expect(error?.message).toBe("permission denied for schema ops");
  });
});
