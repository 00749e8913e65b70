// Account export and deletion cover every domain a user has data in, because both read the
// personal-data and bucket registries (supabase/schemas/00_platform/70_registries.sql): a
// designer and a tailor with designs, a project, a bid, a paid and completed order with a
// delivery, a review, messages with an attachment and read receipts in the order's thread,
// and files in several buckets.

import { beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, signUp, type TestUser } from "../support/auth.ts";
import { admin, callFunction, type JsonBody } from "../support/clients.ts";
import { orderAwaitingPayment } from "../support/marketplace.ts";
import { uploadPng } from "../support/storage.ts";
import { payThroughCheckout, signUpOnboardedSeller } from "../support/stripe.ts";

const PATTERN = {
  version: 1,
  units: "cm",
  width: 100,
  height: 120,
  pieces: [{ name: "front", points: [[0, 0], [50, 0], [50, 80], [0, 80]], closed: true }],
};

async function exportOf(user: TestUser): Promise<JsonBody> {
  const { status, body } = await callFunction(user.client, "account-export");
  expect(status, JSON.stringify(body)).toBe(200);
  const response = await fetch(body.signed_url);
  expect(response.status).toBe(200);
  return response.json();
}

/** Every object under the user's folder in every bucket there is, as the service role sees it. */
async function objectsInTheirFolders(userId: string): Promise<string[]> {
  const { data: buckets, error } = await admin().storage.listBuckets();
  if (error) throw error;
  const found: string[] = [];
  for (const bucket of buckets) {
    const listed = await admin().storage.from(bucket.id).list(userId);
    if (listed.error) throw listed.error;
    found.push(...listed.data.map((object) => `${bucket.id}/${userId}/${object.name}`));
  }
  return found;
}

describe("account export and deletion across every domain", () => {
  let designer: TestUser;
  let tailor: TestUser;
  let designId: string;
  let orderId: string;
  let deliverable: string;
  let threadId: string;
  let attachment: string;
  let tailorsMessage: string;

  beforeAll(async () => {
    [designer, tailor] = await Promise.all([
      signUp("every-domain-designer", { is_designer: true }),
      signUpOnboardedSeller("every-domain-tailor"),
    ]);
    await uploadPng(designer, "avatars", `${designer.id}/face.png`);
    await uploadPng(tailor, "avatars", `${tailor.id}/face.png`);
    const design = await designer.client.from("designs").insert({
      title: "Exported coat",
      pattern: PATTERN,
    })
      .select("id").single();
    if (design.error) throw design.error;
    designId = design.data.id;
    const exported = await callFunction(designer.client, "design-export", {
      design_id: designId,
      format: ["svg"],
    });
    expect(exported.status, JSON.stringify(exported.body)).toBe(200);

    orderId = await orderAwaitingPayment(designer, tailor, 40_000);
    await payThroughCheckout(designer, orderId);

    // The order's thread: the tailor sends a photo, the designer reads it.
    const order = await designer.client.from("orders").select("thread_id").eq("id", orderId)
      .single();
    if (order.error) throw order.error;
    threadId = order.data.thread_id!;
    attachment = `${threadId}/${tailor.id}/fitting.png`;
    await uploadPng(tailor, "message-attachments", attachment);
    const posted = await tailor.client.rpc("post_message", {
      thread_id: threadId,
      body: "The fitting photo",
      attachments: [attachment],
    });
    if (posted.error) throw posted.error;
    tailorsMessage = posted.data.id;
    await designer.client.rpc("mark_thread_read", {
      thread_id: threadId,
      message_id: tailorsMessage,
    })
      .throwOnError();

    deliverable = `${orderId}/coat.png`;
    await uploadPng(tailor, "deliverables", deliverable);
    for (
      const { error } of [
        await tailor.client.rpc("submit_delivery", {
          order_id: orderId,
          message: "Done",
          file_paths: [deliverable],
        }),
        await designer.client.rpc("approve_delivery", { order_id: orderId }),
        await designer.client.rpc("review_order", {
          order_id: orderId,
          rating: 5,
          comment: "Fine work",
        }),
      ]
    ) {
      if (error) throw error;
    }
  });

  it("exports the designer's designs, project, order, payment, review and files", async () => {
    const document = await exportOf(designer);
    const ids = (table: string) => (document.tables[table] ?? []).map((row: JsonBody) => row.id);
    expect(ids("public.designs")).toEqual([designId]);
    expect(document.tables["public.projects"]).toHaveLength(1);
    expect(ids("public.orders")).toEqual([orderId]);
    expect(
      document.tables["public.thread_participants"].map((row: JsonBody) =>
        row.last_read_message_id
      ),
    )
      .toEqual([tailorsMessage]);
    expect(document.tables["public.payments"].map((row: JsonBody) => row.order_id)).toEqual([
      orderId,
    ]);
    expect(document.tables["public.reviews"].map((row: JsonBody) => row.comment)).toEqual([
      "Fine work",
    ]);
    expect(document.tables["public.profiles"].map((row: JsonBody) => row.id)).toEqual([
      designer.id,
    ]);
    const files = document.files.map((file: JsonBody) => `${file.bucket}/${file.name}`);
    expect(files).toContain(`avatars/${designer.id}/face.png`);
    expect(files.some((file: string) => file.startsWith(`exports/${designer.id}/${designId}/`)))
      .toBe(true);
    for (const file of document.files) expect(file.signed_url).toMatch(/token=/);
    // Nothing of the tailor's own: their profile and bid are theirs, not the designer's.
    expect(JSON.stringify(document.tables["public.profiles"])).not.toContain(tailor.id);
    expect(document.tables["public.bids"]).toEqual([]);
  });

  it("exports the tailor's bid, order, delivery, payout account, the review about them and the file they delivered", async () => {
    const document = await exportOf(tailor);
    expect(document.tables["public.bids"]).toHaveLength(1);
    expect(document.tables["public.orders"].map((row: JsonBody) => row.id)).toEqual([orderId]);
    expect(document.tables["public.deliveries"].map((row: JsonBody) => row.order_id)).toEqual([
      orderId,
    ]);
    expect(document.tables["public.payments"].map((row: JsonBody) => row.order_id)).toEqual([
      orderId,
    ]);
    expect(document.tables["public.seller_payment_accounts"]).toHaveLength(1);
    expect(document.tables["public.reviews"].map((row: JsonBody) => row.subject_id)).toEqual([
      tailor.id,
    ]);
    // Who wrote it stays in the review; who moderated it (someone else) would not.
    expect(document.tables["public.designs"]).toEqual([]);
    // Messaging: the thread, their seat, the message they sent and its attachment.
    expect(document.tables["public.threads"].map((row: JsonBody) => row.id)).toEqual([threadId]);
    expect(document.tables["public.thread_participants"].map((row: JsonBody) => row.user_id))
      .toEqual([tailor.id]);
    expect(document.tables["public.messages"].map((row: JsonBody) => [row.id, row.body])).toEqual([
      [tailorsMessage, "The fitting photo"],
    ]);
    const sent = document.files.find((entry: JsonBody) => entry.name === attachment);
    expect(sent).toMatchObject({ bucket: "message-attachments" });
    expect((await fetch(sent.signed_url)).status).toBe(200);
    const file = document.files.find((entry: JsonBody) => entry.name === deliverable);
    expect(file).toMatchObject({ bucket: "deliverables" });
    expect((await fetch(file.signed_url)).status).toBe(200);
  });

  it("refuses to delete either party while the completed order's money is still in escrow", async () => {
    for (const party of [tailor, designer]) {
      const { status, body } = await callFunction(party.client, "account-delete", {
        password: PASSWORD,
        confirm: "DELETE",
      });
      expect([status, body]).toEqual([409, {
        error: {
          code: "conflict",
          message: `account ${party.id} has 400.00 EUR held in escrow: finish or cancel them first`,
        },
      }]);
    }
    // The buyer releases it to the seller; then nothing holds either account.
    const released = await callFunction(designer.client, "payments-release", {
      order_id: orderId,
    });
    expect(released.status, JSON.stringify(released.body)).toBe(200);
  });

  it("deletes the tailor and leaves no object in any of their folders, while the order and its delivery stay for the buyer", async () => {
    expect(await objectsInTheirFolders(tailor.id)).not.toEqual([]);
    const { status, body } = await callFunction(tailor.client, "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(await objectsInTheirFolders(tailor.id)).toEqual([]);

    // Deals are the other party's record: the order stays without its seller, the delivered
    // file stays for the buyer.
    const order = await designer.client.from("orders").select("id, seller_id, status").eq(
      "id",
      orderId,
    ).single();
    expect(order.data).toEqual({ id: orderId, seller_id: null, status: "completed" });
    expect((await designer.client.storage.from("deliverables").download(deliverable)).error)
      .toBeNull();
    // The conversation stays for the designer: the message no longer names its sender, its
    // attachment is still theirs to read; the tailor's seat (and receipt) is gone.
    const message = await designer.client.from("messages").select("sender_id, body").eq(
      "id",
      tailorsMessage,
    ).single();
    expect(message.data).toEqual({ sender_id: null, body: "The fitting photo" });
    expect((await designer.client.storage.from("message-attachments").download(attachment)).error)
      .toBeNull();
    const seats = await designer.client.from("thread_participants").select("user_id").eq(
      "thread_id",
      threadId,
    );
    expect(seats.data).toEqual([{ user_id: designer.id }]);
    // What only the tailor owned went with them.
    const bids = await admin().from("bids").select("id").eq("tailor_id", tailor.id);
    expect(bids.data).toEqual([]);
    const accounts = await admin().from("seller_payment_accounts").select("user_id").eq(
      "user_id",
      tailor.id,
    );
    expect(accounts.data).toEqual([]);
  });

  it("deletes the designer and every object in their folders (avatar, design exports, account exports)", async () => {
    const { status, body } = await callFunction(designer.client, "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(await objectsInTheirFolders(designer.id)).toEqual([]);
    expect((await admin().from("designs").select("id").eq("id", designId)).data).toEqual([]);
    // The escrow record is the books': it stays.
    expect((await admin().from("payments").select("order_id").eq("order_id", orderId)).data)
      .toEqual([
        { order_id: orderId },
      ]);
  });
});
