// Admin broadcasts by e-mail (003 "broadcast", with the e-mail channel): a broadcast asked with
// email => true is fanned out in batches; each matching user whose preferences allow the
// category by e-mail gets the mail (in their language: Korean here) through the sender and the
// mail catcher, once; a matching user who muted the category by e-mail gets it in-app only; a
// user outside the filter gets nothing. The admin CLI's send --by-email mails one user.

import { describe, expect, it } from "vitest";
import { signUp, signUpWithRole } from "../support/auth.ts";
import { admin } from "../support/clients.ts";
import { runAdminCli } from "../support/admin_cli.ts";
import { drainEmail } from "../support/notifications.ts";
import { messageOf, searchMail } from "../support/mail.ts";

async function fanOutAll() {
  for (;;) {
    const { data, error } = await admin().schema("ops").rpc("fan_out_broadcasts", {
      batch_size: 2,
    });
    if (error) throw error;
    if (data === 0) return;
  }
}

async function subjectsTo(address: string): Promise<{ id: string; subject: string }[]> {
  const { messages } = await searchMail(`to:"${address}"`);
  return messages.filter((m) => (m.To ?? []).some((a) => a.Address === address))
    .map((m) => ({ id: m.ID, subject: m.Subject }));
}

describe("admin broadcasts by e-mail", () => {
  it("mail reaches the matching users who allow it, once, and not a muted one", async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const operator = await signUpWithRole("bm-admin", "admin");
    const readers = await Promise.all(
      [1, 2].map((n) => signUp(`bm-ko-${n}`, { locale: "ko" })),
    );
    const muted = await signUp("bm-ko-muted", { locale: "ko" });
    const outsider = await signUp("bm-en", { locale: "en" });
    const mute = await muted.client.rpc("set_notification_preference", {
      category: "system",
      channel: "email",
      enabled: false,
    });
    expect(mute.error).toBeNull();

    const title = "점검 안내 <정기>";
    const created = await operator.client.rpc("broadcast_notification", {
      title,
      body: "오늘 밤 10시부터 30분간 점검합니다.",
      locales: ["ko"],
      signed_up_after: since,
      action_url: "https://status.example.com/maintenance",
      email: true,
    });
    expect(created.error).toBeNull();
    expect(created.data).toMatchObject({ email: true, recipients_total: 3, emails_queued: 0 });

    await fanOutAll();
    const progress = await operator.client.from("notification_broadcasts")
      .select("status, recipients_done, emails_queued").eq("id", created.data!.id).single();
    expect(progress.data).toEqual({ status: "done", recipients_done: 3, emails_queued: 2 });
    expect(await drainEmail()).toEqual([]);

    for (const reader of readers) {
      const deadline = Date.now() + 15_000;
      let mails = await subjectsTo(reader.email);
      while (!mails.some((m) => m.subject === title) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        mails = await subjectsTo(reader.email);
      }
      expect(mails.filter((m) => m.subject === title)).toHaveLength(1);
      const mail = await messageOf(mails.find((m) => m.subject === title)!.id);
      expect(mail.Text).toContain("오늘 밤 10시부터 30분간 점검합니다.");
      expect(mail.Text).toContain("바로 가기: https://status.example.com/maintenance");
      expect(mail.ListUnsubscribe.Links).toHaveLength(1);
    }
    expect(await subjectsTo(muted.email)).toEqual([]);
    expect(await subjectsTo(outsider.email)).toEqual([]);

    const { data: inApp } = await muted.client.from("notifications").select("title");
    expect(inApp).toEqual([{ title }]);
    const { data: none } = await outsider.client.from("notifications").select("title");
    expect(none).toEqual([]);
  }, 120_000);

  it("the admin CLI's send --by-email mails the user", async () => {
    const user = await signUp("bm-cli");
    const sent = await runAdminCli([
      "notifications",
      "send",
      user.email,
      "--title",
      "Your export is ready",
      "--url",
      "https://app.example.com/exports",
      "--by-email",
      "--as",
      "ops-cli@example.com",
      "--json",
    ]);
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ email: true, emails_queued: 1 });
    expect(await drainEmail()).toEqual([]);
    const deadline = Date.now() + 15_000;
    let mails = await subjectsTo(user.email);
    while (mails.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      mails = await subjectsTo(user.email);
    }
    expect(mails.map((m) => m.subject)).toEqual(["Your export is ready"]);
    const mail = await messageOf(mails[0].id);
    expect(mail.Text).toContain("Open: https://app.example.com/exports");
  }, 60_000);
});
