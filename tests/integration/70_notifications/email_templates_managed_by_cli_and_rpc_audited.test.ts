// E-mail template management (003 "GET /admin/notifications/templates", and the writes): an
// admin lists templates over the API and previews one against a sample payload (the edge
// function notifications-preview-template), a signed-in user without notifications.manage is
// refused (403) by both; the admin CLI creates, shows, previews, updates and deletes a
// template, audited with the operator it names; a bad template and the deletion of an 'en' template in use are refused
// with the database's reason (exit 1), changing nothing.

import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signUp, signUpWithRole } from "../support/auth.ts";
import { runAdminCli } from "../support/admin_cli.ts";
import { admin, callFunction } from "../support/clients.ts";

describe("e-mail templates", () => {
  it("an admin lists them over the API; a user without notifications.manage is refused", async () => {
    const operator = await signUpWithRole("tpl-admin", "admin");
    const listed = await operator.client.rpc("list_email_templates", { key: "bid.accepted" });
    expect(listed.error).toBeNull();
    expect(listed.data!.map((t) => [t.key, t.locale, t.event_types])).toEqual([
      ["bid.accepted", "en", ["bid.accepted"]],
      ["bid.accepted", "ko", ["bid.accepted"]],
    ]);
    const user = await signUp("tpl-user");
    const refused = await user.client.rpc("list_email_templates", {});
    expect(refused.status).toBe(403);
    expect(refused.error).toMatchObject({
      code: "42501",
      message: "managing e-mail templates needs the notifications.manage permission",
    });
    const missing = await operator.client.rpc("get_email_template", {
      key: "bid.accepted",
      locale: "fr",
    });
    expect(missing.status).toBe(404);
    expect(missing.error?.message).toBe("e-mail template bid.accepted/fr not found");

    const previewed = await callFunction(operator.client, "notifications-preview-template", {
      key: "bid.accepted",
      locale: "ko",
      payload: { order_id: "<order-1>" },
    });
    expect(previewed.status).toBe(200);
    expect(previewed.body).toMatchObject({
      key: "bid.accepted",
      locale: "ko",
      subject: "입찰이 수락되었습니다",
      missing: [],
    });
    expect(previewed.body.text).toContain("주문 <order-1>이(가) 열렸습니다");
    expect(previewed.body.html).toContain("주문 &lt;order-1&gt;이(가) 열렸습니다");
    const lacking = await callFunction(operator.client, "notifications-preview-template", {
      key: "bid.accepted",
    });
    expect(lacking.body.missing).toEqual(["order_id"]);
    const notAllowed = await callFunction(user.client, "notifications-preview-template", {
      key: "bid.accepted",
    });
    expect(notAllowed.status).toBe(403);
    expect(notAllowed.body.error).toMatchObject({
      code: "forbidden",
      message: "managing e-mail templates needs the notifications.manage permission",
    });
    const unknown = await callFunction(operator.client, "notifications-preview-template", {
      key: "bid.accepted",
      locale: "fr",
    });
    expect(unknown.status).toBe(404);
  });

  it("the admin CLI creates, shows, updates and deletes one, audited", async () => {
    const key = `promo.t_${randomUUID().slice(0, 8).replace(/[^a-z]/g, "x")}`;
    const as = ["--as", "tpl-cli@example.com"];
    const created = await runAdminCli([
      "notifications",
      "templates",
      "upsert",
      key,
      "--subject",
      "Spring {{season}}",
      "--html",
      "<p>{{season}} sale</p>",
      "--text",
      "{{season}} sale",
      "--variables",
      "season",
      ...as,
      "--json",
    ]);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ key, locale: "en", variables: ["season"] });

    const bad = await runAdminCli([
      "notifications",
      "templates",
      "upsert",
      key,
      "--subject",
      "Spring {{{season}}}",
      ...as,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      `e-mail template ${key}/en uses unescaped output ({{{ }} or {{& }}): every variable is HTML-escaped (22023)`,
    );

    const updated = await runAdminCli([
      "notifications",
      "templates",
      "upsert",
      key,
      "--subject",
      "Summer {{season}}",
      ...as,
      "--json",
    ]);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({
      subject: "Summer {{season}}",
      html: "<p>{{season}} sale</p>",
    });
    const shown = await runAdminCli(["notifications", "templates", "show", key]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("Summer {{season}}");
    const previewed = await runAdminCli([
      "notifications",
      "templates",
      "preview",
      key,
      "--payload",
      '{"season": "<Fall>"}',
      "--json",
    ]);
    expect(previewed.code).toBe(0);
    expect(JSON.parse(previewed.stdout)).toMatchObject({
      subject: "Summer <Fall>",
      text: "<Fall> sale",
      html: "<p>&lt;Fall&gt; sale</p>",
      missing: [],
    });

    const inUse = await runAdminCli([
      "notifications",
      "templates",
      "delete",
      "bid.accepted",
      "--locale",
      "en",
    ]);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toContain(
      "e-mail template bid.accepted/en is the fallback of its other locales (ko): delete those first (PT409)",
    );

    const deleted = await runAdminCli([
      "notifications",
      "templates",
      "delete",
      key,
      "--locale",
      "en",
      ...as,
    ]);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe(`deleted ${key}/en\n`);

    const { data: audit } = await admin().from("audit_log").select("action, actor_label")
      .eq("table_name", "email_templates").eq("row_id", key).order("id");
    expect(audit).toEqual([
      { action: "insert", actor_label: "tpl-cli@example.com" },
      { action: "update", actor_label: "tpl-cli@example.com" },
      { action: "delete", actor_label: "tpl-cli@example.com" },
    ]);
  }, 60_000);
});
