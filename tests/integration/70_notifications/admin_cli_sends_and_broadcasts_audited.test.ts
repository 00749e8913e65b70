// The admin CLI's notifications commands, as an operator runs them: a send to one user
// arrives in their feed at once; a broadcast to a locale is fanned out by `notifications
// fan-out` and listed with its progress; both are audited with the operator's name; bad input
// exits 2 (usage) or 1 (refused) with the reason.

import { describe, expect, it } from "vitest";
import { signUp } from "../support/auth.ts";
import { runAdminCli } from "../support/admin_cli.ts";
import { admin } from "../support/clients.ts";

describe("npm run admin -- notifications", () => {
  it("sends, broadcasts, fans out and lists, audited with the operator", async () => {
    const user = await signUp("cli-note", { locale: "nl" });
    const sent = await runAdminCli([
      "notifications",
      "send",
      user.email,
      "--title",
      "Welcome aboard",
      "--url",
      "/start",
      "--as",
      "ops-cli@example.com",
      "--json",
    ]);
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ status: "done", recipients_done: 1 });
    const { data: feed } = await user.client.from("notifications").select("title, action_url");
    expect(feed).toEqual([{ title: "Welcome aboard", action_url: "/start" }]);

    const since = new Date(Date.now() - 60_000).toISOString();
    const created = await runAdminCli([
      "notifications",
      "broadcast",
      "--title",
      "Nieuw",
      "--locale",
      "nl",
      "--signed-up-after",
      since,
      "--as",
      "ops-cli@example.com",
      "--json",
    ]);
    expect(created.code).toBe(0);
    const broadcast = JSON.parse(created.stdout);
    expect(broadcast).toMatchObject({ status: "pending", locales: ["nl"] });

    const fanned = await runAdminCli(["notifications", "fan-out", "--json"]);
    expect(fanned.code).toBe(0);
    const { data: nieuw } = await user.client.from("notifications").select("title").eq(
      "title",
      "Nieuw",
    );
    expect(nieuw).toEqual([{ title: "Nieuw" }]);

    const listed = await runAdminCli(["notifications", "broadcasts", "--json", "--limit", "100"]);
    const row = JSON.parse(listed.stdout).find((b: { id: string }) => b.id === broadcast.id);
    expect(row).toMatchObject({ status: "done" });
    expect(row.recipients_done).toBe(row.recipients_total);

    const { data: audit } = await admin().from("audit_log").select("actor_label, action")
      .eq("table_name", "notification_broadcasts").in("row_id", [broadcast.id]);
    expect(audit).toEqual([{ actor_label: "ops-cli@example.com", action: "insert" }]);
  }, 60_000);

  it("refuses bad input with the reason", async () => {
    const usage = await runAdminCli([
      "notifications",
      "broadcast",
      "--title",
      "x",
      "--locale",
      "Dutch",
    ]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--locale: must be a locale like en or pt-BR");
    const refused = await runAdminCli([
      "notifications",
      "broadcast",
      "--title",
      "x",
      "--role",
      "wizard",
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("broadcasting: 1 of the roles do not exist");
  }, 30_000);
});
