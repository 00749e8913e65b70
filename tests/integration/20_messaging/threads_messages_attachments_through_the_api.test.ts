// Threads and messages through the API as a client uses them (000 POST /v1/threads, GET
// /v1/threads?mine=true, GET/POST /v1/threads/:threadId/messages): opening threads (about an
// order: its two parties only), posting with an attachment the other party downloads and a
// stranger cannot, Storage refusing oversize and wrong-type files, pages backwards from the
// newest message, the thread list with unread counts, leaving, and every refusal with its
// status and message, changing nothing.

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { withDatabase } from "../support/clients.ts";
import { orderAwaitingPayment } from "../support/marketplace.ts";
import { TINY_PNG, uploadPng } from "../support/storage.ts";

const BUCKET = "message-attachments";

describe("threads, messages and attachments", () => {
  let designer: TestUser;
  let tailor: TestUser;
  let stranger: TestUser;
  let orderId: string;
  let threadId: string;

  beforeAll(async () => {
    [designer, tailor, stranger] = await Promise.all([
      signUp("msg-designer"),
      signUp("msg-tailor"),
      signUp("msg-stranger"),
    ]);
    orderId = await orderAwaitingPayment(designer, tailor, 25_000);
  }, 60_000);

  it("a party opens a thread about the order with the other party; a stranger is refused", async () => {
    const { data, error } = await designer.client.rpc("create_thread", {
      participants: [tailor.id],
      subject: "Measurements",
      order_id: orderId,
    });
    expect(error).toBeNull();
    expect(data).toMatchObject({
      subject: "Measurements",
      order_id: orderId,
      created_by: designer.id,
    });
    threadId = data!.id;

    const refused = await stranger.client.rpc("create_thread", {
      participants: [designer.id],
      subject: "Let me in",
      order_id: orderId,
    });
    expect(refused.status).toBe(403);
    expect(refused.error).toMatchObject({
      code: "42501",
      message:
        `user ${stranger.id} may not join a thread about order ${orderId}: only its buyer and its seller may`,
    });
    const alone = await designer.client.rpc("create_thread", { participants: [designer.id] });
    expect(alone.status).toBe(400);
    expect(alone.error).toMatchObject({
      code: "22023",
      message: "a thread needs at least one participant besides you",
    });
  });

  it("posting: a stranger, an empty message and an overlong one are refused with nothing posted", async () => {
    const cases = [
      {
        who: stranger,
        body: "Hi",
        status: 404,
        code: "PT404",
        message: `thread ${threadId} not found`,
      },
      {
        who: designer,
        body: "   ",
        status: 400,
        code: "22023",
        message: "a message needs text or an attachment",
      },
      {
        who: designer,
        body: "x".repeat(4001),
        status: 400,
        code: "22023",
        message: "a message is at most 4000 characters, this one has 4001",
      },
    ];
    for (const c of cases) {
      const res = await c.who.client.rpc("post_message", { thread_id: threadId, body: c.body });
      expect({ status: res.status, code: res.error?.code, message: res.error?.message }).toEqual({
        status: c.status,
        code: c.code,
        message: c.message,
      });
    }
    const { count } = await designer.client.from("messages").select("id", {
      count: "exact",
      head: true,
    }).eq("thread_id", threadId);
    expect(count).toBe(0);
  });

  it("an attachment: uploaded into the sender's folder, posted, read by the other party, refused to a stranger", async () => {
    const path = `${threadId}/${designer.id}/sketch.png`;
    const uploaded = await uploadPng(designer, BUCKET, path);
    expect(uploaded.error).toBeNull();

    // Someone else's folder, another thread's folder, a stranger: Storage refuses the upload.
    const planted = await uploadPng(designer, BUCKET, `${threadId}/${tailor.id}/planted.png`);
    expect(planted.error).toMatchObject({
      statusCode: "403",
      message: "new row violates row-level security policy",
    });
    const strangers = await uploadPng(stranger, BUCKET, `${threadId}/${stranger.id}/x.png`);
    expect(strangers.error).toMatchObject({ statusCode: "403" });

    // Wrong type and oversize files are refused by Storage itself.
    const svg = await designer.client.storage.from(BUCKET).upload(
      `${threadId}/${designer.id}/drawing.svg`,
      new Blob(["<svg xmlns='http://www.w3.org/2000/svg'/>"], { type: "image/svg+xml" }),
      { contentType: "image/svg+xml" },
    );
    expect(svg.error).toMatchObject({
      statusCode: "415",
      message: "mime type image/svg+xml is not supported",
    });
    const huge = await designer.client.storage.from(BUCKET).upload(
      `${threadId}/${designer.id}/huge.pdf`,
      new Blob([new Uint8Array(10 * 1024 * 1024 + 1)], { type: "application/pdf" }),
      { contentType: "application/pdf" },
    );
    expect(huge.error).toMatchObject({
      statusCode: "413",
      message: "The object exceeded the maximum allowed size",
    });

    // Before the message, the tailor cannot read the file.
    const early = await tailor.client.storage.from(BUCKET).download(path);
    expect(early.data).toBeNull();

    // A file of another thread cannot be attached.
    const other = await designer.client.rpc("create_thread", { participants: [tailor.id] });
    const elsewhere = `${other.data!.id}/${designer.id}/elsewhere.png`;
    expect((await uploadPng(designer, BUCKET, elsewhere)).error).toBeNull();
    const wrongThread = await designer.client.rpc("post_message", {
      thread_id: threadId,
      body: "See",
      attachments: [elsewhere],
    });
    expect(wrongThread.status).toBe(400);
    expect(wrongThread.error?.message).toBe(
      `attachment 1 is not a file of thread ${threadId}: upload it under ${threadId}/${designer.id}/ first`,
    );

    const posted = await designer.client.rpc("post_message", {
      thread_id: threadId,
      body: "My sketch",
      attachments: [path],
    });
    expect(posted.error).toBeNull();
    expect(posted.data!.attachments).toEqual([path]);

    const read = await tailor.client.storage.from(BUCKET).download(path);
    expect(read.error).toBeNull();
    expect(Buffer.from(await read.data!.arrayBuffer())).toEqual(TINY_PNG);
    const signed = await tailor.client.storage.from(BUCKET).createSignedUrl(path, 60);
    expect(signed.error).toBeNull();

    const denied = await stranger.client.storage.from(BUCKET).download(path);
    expect(denied.data).toBeNull();
    const deniedUrl = await stranger.client.storage.from(BUCKET).createSignedUrl(path, 60);
    expect(deniedUrl.data).toBeNull();
  });

  it("pages go backwards from the newest message by seq", async () => {
    for (let i = 1; i <= 5; i++) {
      const who = i % 2 ? tailor : designer;
      const res = await who.client.rpc("post_message", { thread_id: threadId, body: `Note ${i}` });
      expect(res.error).toBeNull();
    }
    const page = (before?: number) => {
      let query = tailor.client.from("messages").select("body, seq").eq("thread_id", threadId);
      if (before !== undefined) query = query.lt("seq", before);
      return query.order("seq", { ascending: false }).limit(2);
    };
    const first = await page();
    expect(first.data!.map((m) => m.body)).toEqual(["Note 5", "Note 4"]);
    const second = await page(first.data!.at(-1)!.seq);
    expect(second.data!.map((m) => m.body)).toEqual(["Note 3", "Note 2"]);
    const third = await page(second.data!.at(-1)!.seq);
    expect(third.data!.map((m) => m.body)).toEqual(["Note 1", "My sketch"]);
    const last = await page(third.data!.at(-1)!.seq);
    expect(last.data).toEqual([]);
    const strangers = await stranger.client.from("messages").select("id").eq("thread_id", threadId);
    expect(strangers.data).toEqual([]);
  });

  it("the thread list: newest activity first, with the last message, unread count and participants", async () => {
    const { data, error } = await designer.client.rpc("list_my_threads", { page_size: 10 });
    expect(error).toBeNull();
    const mine = data!.find((t) => t.thread_id === threadId)!;
    expect(data![0].thread_id).toBe(threadId);
    expect(mine).toMatchObject({ subject: "Measurements", order_id: orderId, unread_count: 3 });
    expect((mine.last_message as { body: string }).body).toBe("Note 5");
    expect((mine.participants as { user_id: string }[]).map((p) => p.user_id).sort()).toEqual(
      [designer.id, tailor.id].sort(),
    );
    // Reading up to the newest clears the count.
    const newest = (mine.last_message as { id: string }).id;
    await designer.client.rpc("mark_thread_read", { thread_id: threadId, message_id: newest })
      .throwOnError();
    const after = await designer.client.rpc("list_my_threads", { page_size: 10 });
    expect(after.data!.find((t) => t.thread_id === threadId)!.unread_count).toBe(0);
    // The next page begins after the cursor.
    const one = await designer.client.rpc("list_my_threads", { page_size: 1 });
    const next = await designer.client.rpc("list_my_threads", {
      cursor_at: one.data![0].activity_at,
      cursor_id: one.data![0].thread_id,
      page_size: 10,
    });
    expect(next.data!.map((t) => t.thread_id)).toEqual(
      after.data!.slice(1).map((t) => t.thread_id),
    );
    const bad = await designer.client.rpc("list_my_threads", { page_size: 1000 });
    expect(bad.status).toBe(400);
    expect(bad.error?.message).toBe("page_size is between 1 and 100");
  });

  it("editing: only the sender, only within the window; deleting: only the sender", async () => {
    const mine = await designer.client.rpc("post_message", { thread_id: threadId, body: "Typo" });
    const id = mine.data!.id;
    const notYours = await tailor.client.rpc("edit_message", { message_id: id, body: "Mine" });
    expect(notYours.status).toBe(403);
    expect(notYours.error?.message).toBe(
      `message ${id} was sent by someone else: only its sender may edit it`,
    );
    const notYoursDelete = await tailor.client.rpc("delete_message", { message_id: id });
    expect(notYoursDelete.status).toBe(403);
    expect(notYoursDelete.error?.message).toBe(
      `message ${id} was sent by someone else: only its sender may delete it`,
    );
    const edited = await designer.client.rpc("edit_message", { message_id: id, body: "Fixed" });
    expect(edited.data!.body).toBe("Fixed");
    // Past the window (the message made 16 minutes old; the setting is 15 minutes).
    await withDatabase((db) =>
      db.query(
        "update public.messages set created_at = now() - interval '16 minutes' where id = $1",
        [id],
      )
    );
    const late = await designer.client.rpc("edit_message", { message_id: id, body: "Again" });
    expect(late.status).toBe(409);
    expect(late.error?.message).toBe(
      `message ${id} was sent more than 15 minutes ago: it can no longer be edited`,
    );
    const row = await tailor.client.from("messages").select("body").eq("id", id).single();
    expect(row.data!.body).toBe("Fixed");
  });

  it("a participant who leaves keeps the history up to leaving and sees nothing after", async () => {
    const left = await tailor.client.rpc("leave_thread", { thread_id: threadId });
    expect(left.error).toBeNull();
    expect(left.data!.left_at).not.toBeNull();
    const { count: before } = await tailor.client.from("messages").select("id", {
      count: "exact",
      head: true,
    }).eq("thread_id", threadId);
    await designer.client.rpc("post_message", { thread_id: threadId, body: "Are you there?" })
      .throwOnError();
    const { count: after } = await tailor.client.from("messages").select("id", {
      count: "exact",
      head: true,
    }).eq("thread_id", threadId);
    expect(before).toBeGreaterThan(0);
    expect(after).toBe(before);
    const post = await tailor.client.rpc("post_message", { thread_id: threadId, body: "Back" });
    expect(post.status).toBe(409);
    expect(post.error?.message).toBe(`you left thread ${threadId}: you can no longer post in it`);
  });
});
