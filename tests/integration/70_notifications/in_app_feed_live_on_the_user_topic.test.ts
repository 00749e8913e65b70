// The in-app feed end to end (000 "Notification Center", 003 "Notifications", 004
// /notifications): a designer accepts a tailor's bid; the notifications consumer turns the
// event into a notification the tailor hears live as push:received on their private
// user:<id> channel, which nobody else may join; the tailor lists their feed (unread, with a
// cursor), counts unread, marks one read (heard as status:updated), marks all read and deletes
// one; a stranger marking the tailor's notification read is refused (404) and changes nothing.

import type { RealtimeChannel } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { acceptedBidOrder } from "../support/marketplace.ts";
import { consumeNotifications } from "../support/notifications.ts";
import { received, refusedJoin, subscribed } from "../support/realtime.ts";

interface Broadcast {
  event: string;
  payload: Record<string, unknown>;
}

describe("the in-app feed, live on the user's topic", () => {
  let designer: TestUser;
  let tailor: TestUser;
  let stranger: TestUser;
  let orderId: string;
  const channels: RealtimeChannel[] = [];
  let tailorHears: Broadcast[];

  beforeAll(async () => {
    [designer, tailor, stranger] = await Promise.all([
      signUp("feed-designer"),
      signUp("feed-tailor"),
      signUp("feed-stranger"),
    ]);
  }, 30_000);

  afterAll(async () => {
    for (const channel of channels) await channel.unsubscribe();
    for (const user of [designer, tailor, stranger]) user?.client.realtime.disconnect();
  });

  it("only the tailor joins their user topic", async () => {
    const channel = tailor.client.channel(`user:${tailor.id}`, { config: { private: true } });
    channels.push(channel);
    tailorHears = received<Broadcast>(channel, "broadcast");
    await subscribed(channel);

    const theirs = stranger.client.channel(`user:${tailor.id}`, { config: { private: true } });
    channels.push(theirs);
    expect(await refusedJoin(theirs)).toBe(
      `Unauthorized: You do not have permissions to read from this Channel topic: user:${tailor.id}`,
    );
  });

  it("an accepted bid reaches the tailor's feed and their channel as push:received", async () => {
    orderId = await acceptedBidOrder(designer, tailor, 9000, { title: "A feed coat" });

    await consumeNotifications();
    const live = await (async () => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const found = tailorHears.find((message) =>
          message.event === "push:received" && message.payload.event_type === "bid.accepted"
        );
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`not heard: ${JSON.stringify(tailorHears)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    expect(live.payload).toMatchObject({
      title: "Your bid was accepted",
      category: "bids",
      action_url: `/orders/${orderId}`,
      actor_id: designer.id,
    });

    const feed = await tailor.client.from("notifications")
      .select("id, title, category, event_type, read_at")
      .is("read_at", null)
      .order("created_at", { ascending: false }).order("id", { ascending: false });
    if (feed.error) throw feed.error;
    expect(feed.data.map((n) => n.event_type).sort()).toEqual(["bid.accepted", "order.created"]);
    expect(feed.data.find((n) => n.event_type === "bid.accepted")?.id).toBe(live.payload.id);

    const designerFeed = await designer.client.from("notifications").select("id")
      .eq("event_type", "bid.accepted");
    expect(designerFeed.data).toEqual([]);
  }, 30_000);

  it("the feed pages with a cursor, newest first", async () => {
    const first = await tailor.client.from("notifications").select("id, created_at")
      .order("created_at", { ascending: false }).order("id", { ascending: false }).limit(1);
    if (first.error) throw first.error;
    const cursor = first.data[0];
    const next = await tailor.client.from("notifications").select("id")
      .or(
        `created_at.lt.${cursor.created_at},and(created_at.eq.${cursor.created_at},id.lt.${cursor.id})`,
      )
      .order("created_at", { ascending: false }).order("id", { ascending: false }).limit(10);
    if (next.error) throw next.error;
    expect(next.data).toHaveLength(1);
    expect(next.data[0].id).not.toBe(cursor.id);
  });

  it(
    "a stranger cannot mark the tailor's notification read; the tailor can, heard as status:updated",
    async () => {
      const { data: mine } = await tailor.client.from("notifications").select("id")
        .eq("event_type", "bid.accepted").single().throwOnError();
      const refused = await stranger.client.rpc("mark_notification_read", {
        notification_id: mine!.id,
      });
      expect(refused.status).toBe(404);
      expect(refused.error?.message).toBe(`notification ${mine!.id} not found`);
      const direct = await stranger.client.from("notifications").update({
        read_at: new Date().toISOString(),
      })
        .eq("id", mine!.id).select("id");
      expect(direct.data).toEqual([]);
      expect((await tailor.client.rpc("unread_notification_count")).data).toBe(2);

      const marked = await tailor.client.rpc("mark_notification_read", {
        notification_id: mine!.id,
      });
      expect(marked.error).toBeNull();
      expect(marked.data?.read_at).not.toBeNull();
      const deadline = Date.now() + 10_000;
      while (!tailorHears.some((m) => m.event === "status:updated" && m.payload.id === mine!.id)) {
        if (Date.now() > deadline) {
          throw new Error(`status:updated not heard: ${JSON.stringify(tailorHears)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect((await tailor.client.rpc("unread_notification_count")).data).toBe(1);

      expect((await tailor.client.rpc("mark_all_notifications_read", {})).data).toBe(1);
      expect((await tailor.client.rpc("unread_notification_count")).data).toBe(0);

      const deleted = await tailor.client.from("notifications").delete().eq("id", mine!.id).select(
        "id",
      );
      expect(deleted.data).toEqual([{ id: mine!.id }]);
    },
    20_000,
  );

  it("preferences refuse unknown values and critical switches precisely", async () => {
    const unknown = await tailor.client.rpc("set_notification_preference", {
      category: "bids",
      channel: "pigeon",
      enabled: false,
    });
    expect(unknown.status).toBe(400);
    expect(unknown.error?.message).toBe(
      "unknown notification channel: the channels are in_app, email, push",
    );
    const critical = await tailor.client.rpc("set_notification_preference", {
      category: "security",
      channel: "email",
      enabled: false,
    });
    expect(critical.status).toBe(400);
    expect(critical.error?.message).toBe(
      "notification category security is critical: it cannot be switched off in_app or by email",
    );
    const { data } = await tailor.client.from("notification_preferences").select("category");
    expect(data).toEqual([]);
  });
});
