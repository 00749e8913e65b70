// Designer and tailor chat in their order's thread as an app would (000 "Messaging", 004 /chat):
// both join the thread's private channel, thread:<id>, and hear what the database broadcasts
// after each commit (message:new, message:edited, message:deleted, receipt:read), each other's
// typing indicators and presence; a third user is refused the channel and hears nothing, even
// on a public channel of the same name; each user hears thread:updated on their own user:<id>
// channel and nobody else's. Black-box: supabase-js against the API and Realtime.

import type { RealtimeChannel } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { orderAwaitingPayment } from "../support/marketplace.ts";
import {
  quiet,
  received,
  refusedJoin,
  subscribed,
  until,
  waitForCount,
} from "../support/realtime.ts";

interface Broadcast {
  event: string;
  payload: Record<string, unknown>;
  meta?: { id?: string };
}

describe("a chat on the order's thread, live", () => {
  let designer: TestUser;
  let tailor: TestUser;
  let stranger: TestUser;
  let threadId: string;
  const channels: RealtimeChannel[] = [];
  let designerHears: Broadcast[];
  let tailorHears: Broadcast[];
  let strangerHearsPublic: Broadcast[];

  /** A private channel on the thread's topic for the user, with what it receives. */
  function threadChannel(user: TestUser, topic = `thread:${threadId}`, isPrivate = true) {
    const channel = user.client.channel(topic, {
      config: { private: isPrivate, broadcast: { self: false }, presence: { key: user.id } },
    });
    // Presence is asked for at join: a channel with a presence listener joins with it enabled.
    channel.on("presence", { event: "sync" }, () => {});
    channels.push(channel);
    return channel;
  }

  beforeAll(async () => {
    [designer, tailor, stranger] = await Promise.all([
      signUp("chat-designer"),
      signUp("chat-tailor"),
      signUp("chat-stranger"),
    ]);
    const orderId = await orderAwaitingPayment(designer, tailor, 30_000);
    const order = await designer.client.from("orders").select("thread_id").eq("id", orderId)
      .single();
    if (order.error) throw order.error;
    threadId = order.data.thread_id!;
  }, 60_000);

  afterAll(async () => {
    for (const channel of channels) await channel.unsubscribe();
    for (const user of [designer, tailor, stranger]) user?.client.realtime.disconnect();
  });

  it("the two parties join the thread's private channel; the third is refused", async () => {
    const designerChannel = threadChannel(designer);
    designerHears = received<Broadcast>(designerChannel, "broadcast");
    const tailorChannel = threadChannel(tailor);
    tailorHears = received<Broadcast>(tailorChannel, "broadcast");
    await Promise.all([subscribed(designerChannel), subscribed(tailorChannel)]);

    const reason = await refusedJoin(threadChannel(stranger));
    expect(reason).toBe(
      `Unauthorized: You do not have permissions to read from this Channel topic: thread:${threadId}`,
    );
    // A public channel of the same name is another topic: the database never broadcasts there.
    const publicChannel = threadChannel(stranger, `thread:${threadId}`, false);
    strangerHearsPublic = received<Broadcast>(publicChannel, "broadcast");
    await subscribed(publicChannel);
  }, 30_000);

  it("a message posted by the designer reaches the tailor as message:new, and not the stranger", async () => {
    const { data, error } = await designer.client.rpc("post_message", {
      thread_id: threadId,
      body: "Could the lapels be narrower?",
    });
    expect(error).toBeNull();
    const [heard] = await waitForCount(tailorHears, 1);
    expect(heard).toMatchObject({
      event: "message:new",
      payload: {
        message_id: data!.id,
        thread_id: threadId,
        seq: data!.seq,
        sender_id: designer.id,
        content: "Could the lapels be narrower?",
        attachments: [],
      },
    });
    expect(typeof heard.meta?.id).toBe("string");
    // Broadcasts from the database reach every subscriber of the topic, the sender too.
    await waitForCount(designerHears, 1);
    await quiet();
    expect(strangerHearsPublic).toEqual([]);
  });

  it("typing indicators go from one party to the other, never to the stranger", async () => {
    const tailorChannel = channels[1];
    const before = designerHears.length;
    const answer = await tailorChannel.send({
      type: "broadcast",
      event: "typing:indicator",
      payload: { user_id: tailor.id, is_typing: true },
    });
    expect(answer).toBe("ok");
    await waitForCount(designerHears, before + 1);
    expect(designerHears.at(-1)).toMatchObject({
      event: "typing:indicator",
      payload: { user_id: tailor.id, is_typing: true },
    });
    await quiet();
    expect(strangerHearsPublic).toEqual([]);
  });

  it("presence shows who is online in the thread", async () => {
    const [designerChannel, tailorChannel] = channels;
    await designerChannel.track({ user_id: designer.id, online_at: new Date().toISOString() });
    await tailorChannel.track({ user_id: tailor.id, online_at: new Date().toISOString() });
    await until(() => Object.keys(designerChannel.presenceState()).length === 2);
    expect(Object.keys(designerChannel.presenceState()).sort()).toEqual(
      [designer.id, tailor.id].sort(),
    );
  });

  it("the tailor's read receipt reaches the designer as receipt:read", async () => {
    const newest = await tailor.client.from("messages").select("id, seq").eq("thread_id", threadId)
      .order("seq", { ascending: false }).limit(1).single();
    expect(newest.error).toBeNull();
    const before = designerHears.filter((b) => b.event === "receipt:read").length;
    const seat = await tailor.client.rpc("mark_thread_read", {
      thread_id: threadId,
      message_id: newest.data!.id,
    });
    expect(seat.error).toBeNull();
    expect(seat.data!.last_read_message_id).toBe(newest.data!.id);
    await until(() => designerHears.filter((b) => b.event === "receipt:read").length > before);
    expect(designerHears.filter((b) => b.event === "receipt:read").at(-1)).toMatchObject({
      payload: {
        thread_id: threadId,
        user_id: tailor.id,
        message_id: newest.data!.id,
        seq: newest.data!.seq,
      },
    });
  });

  it("an edit and a deletion are broadcast to the other party", async () => {
    const posted = await tailor.client.rpc("post_message", {
      thread_id: threadId,
      body: "Yes, 7 cm",
    });
    expect(posted.error).toBeNull();
    const id = posted.data!.id;
    await until(() =>
      designerHears.some((b) => b.event === "message:new" && b.payload.message_id === id)
    );
    const edited = await tailor.client.rpc("edit_message", { message_id: id, body: "Yes, 6 cm" });
    expect(edited.error).toBeNull();
    await until(() => designerHears.some((b) => b.event === "message:edited"));
    expect(designerHears.find((b) => b.event === "message:edited")).toMatchObject({
      payload: { message_id: id, thread_id: threadId, new_content: "Yes, 6 cm" },
    });
    const deleted = await tailor.client.rpc("delete_message", { message_id: id });
    expect(deleted.error).toBeNull();
    expect(deleted.data).toMatchObject({ body: "", attachments: [] });
    await until(() => designerHears.some((b) => b.event === "message:deleted"));
    const gone = designerHears.find((b) => b.event === "message:deleted")!;
    expect(gone.payload).toMatchObject({ message_id: id, thread_id: threadId });
    expect(gone.payload).not.toHaveProperty("content");
    // The row stays, its content removed, for both parties.
    const row = await designer.client.from("messages").select("body, deleted_at").eq("id", id)
      .single();
    expect(row.data!.body).toBe("");
    expect(row.data!.deleted_at).not.toBeNull();
    await quiet();
    expect(strangerHearsPublic).toEqual([]);
  });

  it("each user hears thread:updated on their own user channel, and cannot join another's", async () => {
    const tailorRoom = tailor.client.channel(`user:${tailor.id}`, { config: { private: true } });
    channels.push(tailorRoom);
    const tailorRoomHears = received<Broadcast>(tailorRoom, "broadcast", "thread:updated");
    await subscribed(tailorRoom);
    const reason = await refusedJoin(
      (() => {
        const c = stranger.client.channel(`user:${tailor.id}`, { config: { private: true } });
        channels.push(c);
        return c;
      })(),
    );
    expect(reason).toBe(
      `Unauthorized: You do not have permissions to read from this Channel topic: user:${tailor.id}`,
    );
    const posted = await designer.client.rpc("post_message", {
      thread_id: threadId,
      body: "Thanks!",
    });
    expect(posted.error).toBeNull();
    const [updated] = await waitForCount(tailorRoomHears, 1);
    expect(updated.payload).toMatchObject({
      thread_id: threadId,
      last_message_id: posted.data!.id,
      message_count: 3,
    });
  });

  it("a participant who leaves is refused the thread's channel at their next join", async () => {
    const left = await tailor.client.rpc("leave_thread", { thread_id: threadId });
    expect(left.error).toBeNull();
    await tailor.client.removeChannel(channels[1]);
    const reason = await refusedJoin(threadChannel(tailor));
    expect(reason).toBe(
      `Unauthorized: You do not have permissions to read from this Channel topic: thread:${threadId}`,
    );
    // The designer hears that they left.
    await until(() => designerHears.some((b) => b.event === "participant:left"));
    expect(designerHears.find((b) => b.event === "participant:left")!.payload).toMatchObject({
      thread_id: threadId,
      user_id: tailor.id,
    });
  });
});
