// E-mail template management (003 "GET /admin/notifications/templates", and the writes): an
// admin lists templates over the API and previews one against a sample payload (the edge
// function notifications-preview-template), a signed-in user without notifications.manage is
// refused (403) by both; the admin CLI creates, shows, previews, updates and deletes a
// template, audited with the operator it names; a bad template and the deletion of an 'en'
// template in use are refused with the database's reason (exit 1), changing nothing. Raced:
// deleting an 'en' template while another locale of it is being written leaves no locale
// without its 'en' fallback, whichever commits first.

import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signUp, signUpWithRole } from "../support/auth.ts";
import { runAdminCli } from "../support/admin_cli.ts";
import { admin, callFunction, eventually, withDatabase } from "../support/clients.ts";

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

  describe("raced: an 'en' template deleted while another locale of it is written", () => {
    const newKey = () => `race.t_${randomUUID().slice(0, 8).replace(/[^a-z]/g, "x")}`;
    const create = (key: string, locale: string) =>
      admin().rpc("create_email_template", {
        key,
        locale,
        subject: "Hi",
        html: "<p>Hi</p>",
        text_body: "Hi",
        variables: [],
      });

    /**
     * Runs `gateSql` in a transaction on a connection of its own, starts `request` once that
     * holds its locks, waits until the request queues behind the gate, commits, and returns
     * the request's answer.
     */
    function behindGate<T>(
      gateSql: [string, unknown[]],
      blocked: string,
      request: () => PromiseLike<T>,
    ): Promise<T> {
      return withDatabase(async (gate) => {
        await gate.query("begin");
        await gate.query(gateSql[0], gateSql[1]);
        const gatePid = (await gate.query("select pg_backend_pid() as pid")).rows[0].pid;
        const answer = Promise.resolve(request());
        await eventually(`the request to queue behind the gate (${blocked})`, async () => {
          await gate.query("select pg_stat_clear_snapshot()");
          const { rows } = await gate.query(
            `select pid from pg_stat_activity
              where wait_event_type = 'Lock' and query ilike $1 and $2 = any(pg_blocking_pids(pid))`,
            [blocked, gatePid],
          );
          return rows[0]?.pid as number | undefined;
        }, 30_000);
        await gate.query("commit");
        return await answer;
      });
    }

    it("the other locale first: the deletion waits, then is refused", async () => {
      const key = newKey();
      expect((await create(key, "en")).error).toBeNull();
      const deleted = await behindGate(
        [
          `insert into private.email_templates (key, locale, subject, html, text_body)
           values ($1, 'ko', '안녕', '<p>안녕</p>', '안녕')`,
          [key],
        ],
        "%delete_email_template%",
        () => admin().rpc("delete_email_template", { key, locale: "en" }),
      );
      expect(deleted.status).toBe(409);
      expect(deleted.error?.message).toBe(
        `e-mail template ${key}/en is the fallback of its other locales (ko): delete those first`,
      );
      const left = await admin().rpc("list_email_templates", { key });
      expect(left.data!.map((t) => t.locale)).toEqual(["en", "ko"]);
      // Left as found: the Korean version, then its fallback.
      for (const locale of ["ko", "en"]) {
        expect((await admin().rpc("delete_email_template", { key, locale })).error).toBeNull();
      }
    }, 60_000);

    it("the deletion first: the other locale waits, then finds no 'en'", async () => {
      const key = newKey();
      expect((await create(key, "en")).error).toBeNull();
      const created = await behindGate(
        [`delete from private.email_templates where key = $1 and locale = 'en'`, [key]],
        "%create_email_template%",
        () => create(key, "ko"),
      );
      expect(created.status).toBe(400);
      expect(created.error?.message).toBe(
        `e-mail template ${key}/ko has no 'en' version to fall back on`,
      );
      const left = await admin().rpc("list_email_templates", { key });
      expect(left.data).toEqual([]);
    }, 60_000);
  });
});
