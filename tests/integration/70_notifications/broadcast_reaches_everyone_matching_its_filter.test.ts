// Admin broadcasts (003 "broadcast to all with a user filter"): an admin broadcasts to the
// users of one locale who signed up after a time; the fan-out (in batches, as the job runs it)
// gives each of them the notification once and nobody else, its progress readable by the
// admin; a send to chosen users arrives at once; a user without notifications.manage is
// refused, and so is a filter naming a role that does not exist.

import { describe, expect, it } from "vitest";
import { signUp, signUpWithRole } from "../support/auth.ts";
import { admin } from "../support/clients.ts";

async function fanOutAll() {
  for (;;) {
    const { data, error } = await admin().schema("ops").rpc("fan_out_broadcasts", {
      batch_size: 2,
    });
    if (error) throw error;
    if (data === 0) return;
  }
}

describe("admin sends and broadcasts", () => {
  it("a broadcast reaches everyone matching its filter, once, and nobody else", async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const operator = await signUpWithRole("bc-admin", "admin");
    const matching = await Promise.all(
      [1, 2, 3].map((n) => signUp(`bc-pt-${n}`, { locale: "pt-BR" })),
    );
    const other = await signUp("bc-en", { locale: "en" });

    const created = await operator.client.rpc("broadcast_notification", {
      title: "Novidades",
      body: "Uma nova funcionalidade",
      locales: ["pt-BR"],
      signed_up_after: since,
    });
    expect(created.error).toBeNull();
    expect(created.data).toMatchObject({
      status: "pending",
      recipients_total: 3,
      recipients_done: 0,
    });

    await fanOutAll();
    const progress = await operator.client.from("notification_broadcasts")
      .select("status, recipients_total, recipients_done").eq("id", created.data!.id).single();
    expect(progress.data).toEqual({ status: "done", recipients_total: 3, recipients_done: 3 });

    for (const user of matching) {
      const { data } = await user.client.from("notifications").select(
        "title, body, category, broadcast_id",
      );
      expect(data).toEqual([
        {
          title: "Novidades",
          body: "Uma nova funcionalidade",
          category: "system",
          broadcast_id: created.data!.id,
        },
      ]);
    }
    const { data: none } = await other.client.from("notifications").select("id");
    expect(none).toEqual([]);

    const sent = await operator.client.rpc("send_notification", {
      user_ids: [other.id],
      title: "Hello",
      action_url: "/help",
    });
    expect(sent.data).toMatchObject({ status: "done", recipients_done: 1 });
    const { data: hello } = await other.client.from("notifications").select("title, action_url");
    expect(hello).toEqual([{ title: "Hello", action_url: "/help" }]);
  }, 60_000);

  it("refuses users without notifications.manage and filters naming unknown roles", async () => {
    const user = await signUp("bc-user");
    const refused = await user.client.rpc("broadcast_notification", { title: "Hi all" });
    expect(refused.status).toBe(403);
    expect(refused.error?.message).toBe(
      "sending notifications needs the notifications.manage permission",
    );

    const operator = await signUpWithRole("bc-admin2", "admin");
    const badRole = await operator.client.rpc("broadcast_notification", {
      title: "Hi",
      roles: ["wizard"],
    });
    expect(badRole.status).toBe(400);
    expect(badRole.error?.message).toBe("1 of the roles do not exist");
    const { data } = await operator.client.from("notification_broadcasts").select("id").eq(
      "title",
      "Hi",
    );
    expect(data).toEqual([]);
  }, 30_000);
});
