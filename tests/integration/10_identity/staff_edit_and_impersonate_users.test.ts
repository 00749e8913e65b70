// Staff acting on other users' accounts (003 PUT /users/{id}, 004 POST
// /admin/users/:id/impersonate) through identity-admin-update-user and identity-impersonate,
// and through the admin CLI: the permission decides (users.manage; users.impersonate, admin
// only), each action is in the audit log with who did it, and an impersonated user is told by
// e-mail before the one-time link exists.

import { describe, expect, it } from "vitest";
import { runAdminCli } from "../support/admin_cli.ts";
import { followLink, PASSWORD, signUp, signUpWithRole, uniqueEmail } from "../support/auth.ts";
import { admin, callFunction, client } from "../support/clients.ts";
import { searchMail, waitForMail } from "../support/mail.ts";

/** The CLI's own error lines (supabase-js may warn on stderr about the Node version). */
const errorLines = (stderr: string) =>
  stderr.split("\n").filter((line) => line.startsWith("error:"));

async function auditAbout(userId: string, action: string) {
  const { data, error } = await admin().from("audit_log").select(
    "actor_id, actor_label, action, table_name, row_id, before, after",
  ).eq("row_id", userId).eq("action", action).order("id");
  if (error) throw error;
  return data;
}

describe("staff edit a user (identity-admin-update-user)", () => {
  it("a users.manage holder edits profile fields, names, phone and e-mail; audited with who and which fields", async () => {
    const manager = await signUpWithRole("edit-admin", "admin");
    const target = await signUp("edit-target");
    const email = uniqueEmail("edit-new");
    const phone = `+4420${String(Date.now()).slice(-7)}`;
    const { status, body } = await callFunction(manager.client, "identity-admin-update-user", {
      user_id: target.id,
      display_name: "Tess T.",
      bio: "Tailor in Leeds",
      first_name: "Tessa",
      last_name: "Target",
      phone,
      email,
    }, "PUT");
    expect(status).toBe(200);
    expect(body).toEqual({
      user: { id: target.id, email, phone: phone.slice(1) },
      profile: {
        id: target.id,
        username: null,
        display_name: "Tess T.",
        bio: "Tailor in Leeds",
        first_name: "Tessa",
        last_name: "Target",
        phone,
      },
    });
    // The user signs in with the new address; their own reads show the new details.
    const signedIn = client();
    expect((await signedIn.auth.signInWithPassword({ email, password: PASSWORD })).error)
      .toBeNull();
    const { data: details } = await signedIn.from("private_profiles").select(
      "first_name, last_name, phone",
    ).eq("id", target.id).single();
    expect(details).toEqual({ first_name: "Tessa", last_name: "Target", phone });
    expect(await auditAbout(target.id, "admin_edit_user")).toEqual([{
      actor_id: manager.id,
      actor_label: manager.id,
      action: "admin_edit_user",
      table_name: "users",
      row_id: target.id,
      before: null,
      after: { fields: ["bio", "display_name", "email", "first_name", "last_name", "phone"] },
    }]);
  });

  it("refuses without users.manage (403), an unknown user (404), a taken e-mail (409), bad fields (400), changing nothing", async () => {
    const staff = await signUpWithRole("edit-staff", "staff");
    const manager = await signUpWithRole("edit-admin2", "admin");
    const target = await signUp("edit-target2");
    const other = await signUp("edit-other");
    const attempts = [
      [staff, { user_id: target.id, bio: "x" }],
      [manager, { user_id: crypto.randomUUID(), bio: "x" }],
      [manager, { user_id: target.id, email: other.email }],
      [manager, { user_id: target.id, phone: "555" }],
      [manager, { user_id: target.id, account_status: "deactivated" }],
    ] as const;
    const answers = [];
    for (const [who, body] of attempts) {
      const { status, body: answer } = await callFunction(
        who.client,
        "identity-admin-update-user",
        body,
        "PUT",
      );
      answers.push([status, answer.error.code, answer.error.message]);
    }
    expect(answers).toEqual([
      [403, "forbidden", "permission denied: users.manage is required to edit users"],
      [404, "not_found", `user ${attempts[1][1].user_id} not found`],
      [409, "conflict", "this e-mail address is already registered by another user"],
      [400, "invalid_request", "The request is not valid"],
      [400, "invalid_request", "The request is not valid"],
    ]);
    expect(await auditAbout(target.id, "admin_edit_user")).toEqual([]);
    const { data } = await admin().auth.admin.getUserById(target.id);
    expect(data.user?.email).toBe(target.email);
    const unsigned = await callFunction(client(), "identity-admin-update-user", {
      user_id: target.id,
      bio: "x",
    }, "PUT");
    expect(unsigned.status).toBe(401);
  });
});

describe("staff impersonate a user (identity-impersonate)", () => {
  it("an admin gets a one-time link that signs in as the user; audited with who and why; the user is told first", async () => {
    const adminUser = await signUpWithRole("imp-admin", "admin");
    const target = await signUp("imp-target");
    const since = new Date(Date.now() - 1000);
    const { status, body } = await callFunction(adminUser.client, "identity-impersonate", {
      user_id: target.id,
      reason: "Ticket 4711: their orders page is empty",
    });
    expect(status).toBe(200);
    expect(body).toEqual({
      user_id: target.id,
      email: target.email,
      action_link: expect.stringContaining("/auth/v1/verify?token="),
      audit_id: expect.any(Number),
    });
    expect(body.action_link).toContain("type=magiclink");

    const audit = await auditAbout(target.id, "impersonate");
    expect(audit).toEqual([{
      actor_id: adminUser.id,
      actor_label: adminUser.id,
      action: "impersonate",
      table_name: "users",
      row_id: target.id,
      before: null,
      after: { reason: "Ticket 4711: their orders page is empty" },
    }]);

    const mail = await waitForMail({ to: target.email, since, subject: "A staff member" });
    expect(mail.Subject).toBe("A staff member is signing in to your account");
    expect(mail.Text).toContain("Ticket 4711: their orders page is empty");
    expect(mail.Text).toContain(`entry ${body.audit_id}`);

    const { fragment } = await followLink(body.action_link);
    const { data } = await client().auth.getUser(fragment.get("access_token")!);
    expect(data.user?.id).toBe(target.id);
    // One-time: the same link does not sign in twice.
    const again = await followLink(body.action_link);
    expect(new URLSearchParams(again.location.hash.slice(1)).get("error_code")).toBe(
      "otp_expired",
    );
  });

  it("refuses staff without users.impersonate, oneself, another admin, unknown users and a missing reason; nothing recorded or sent", async () => {
    const adminUser = await signUpWithRole("imp-admin2", "admin");
    const otherAdmin = await signUpWithRole("imp-admin3", "admin");
    const staff = await signUpWithRole("imp-staff", "staff");
    const target = await signUp("imp-target2");
    const unknown = crypto.randomUUID();
    const attempts = [
      [staff, { user_id: target.id, reason: "curious" }],
      [adminUser, { user_id: adminUser.id, reason: "testing" }],
      [adminUser, { user_id: otherAdmin.id, reason: "testing" }],
      [adminUser, { user_id: unknown, reason: "testing" }],
      [adminUser, { user_id: target.id }],
      [adminUser, { user_id: target.id, reason: "   " }],
    ] as const;
    const answers = [];
    for (const [who, body] of attempts) {
      const { status, body: answer } = await callFunction(who.client, "identity-impersonate", body);
      answers.push([status, answer.error.code, answer.error.message]);
    }
    expect(answers).toEqual([
      [403, "forbidden", "permission denied: users.impersonate is required to impersonate users"],
      [400, "invalid_request", "you cannot impersonate yourself"],
      [
        403,
        "forbidden",
        `user ${otherAdmin.id} is an admin (holds roles.manage or users.impersonate): admins cannot be impersonated`,
      ],
      [404, "not_found", `user ${unknown} not found`],
      [400, "invalid_request", "The request is not valid"],
      [400, "invalid_request", "The request is not valid"],
    ]);
    expect(await auditAbout(target.id, "impersonate")).toEqual([]);
    expect((await searchMail(`to:"${target.email}"`)).messages).toEqual([]);
  });
});

describe("admin CLI: users edit and users impersonate", () => {
  it("acts as the operator's staff account: edits are audited with it, impersonation prints the link", async () => {
    const operator = await signUpWithRole("cli-staff-admin", "admin");
    const target = await signUp("cli-edit-target");
    const edited = await runAdminCli([
      "users",
      "edit",
      target.email,
      "--display-name",
      "Cleo",
      "--bio",
      "Pattern cutter",
      "--as",
      operator.email,
    ]);
    expect([edited.code, errorLines(edited.stderr)]).toEqual([0, []]);
    expect(edited.stdout).toBe(
      `${target.email}: display_name, bio changed (as ${operator.email})\n`,
    );
    const { data: profile } = await admin().from("profiles").select("display_name, bio").eq(
      "id",
      target.id,
    ).single();
    expect(profile).toEqual({ display_name: "Cleo", bio: "Pattern cutter" });
    expect((await auditAbout(target.id, "admin_edit_user"))[0]).toMatchObject({
      actor_id: operator.id,
      after: { fields: ["bio", "display_name"] },
    });

    const impersonated = await runAdminCli([
      "users",
      "impersonate",
      target.email,
      "--reason",
      "Support call 88",
      "--as",
      operator.email,
      "--json",
    ]);
    expect(impersonated.code).toBe(0);
    const answer = JSON.parse(impersonated.stdout);
    expect(answer.action_link).toContain("type=magiclink");
    expect((await auditAbout(target.id, "impersonate"))[0]).toMatchObject({
      actor_id: operator.id,
      after: { reason: "Support call 88" },
    });
  });

  it("refuses without a reason (exit 2), for an operator who is no account, and for staff lacking the permission (exit 1)", async () => {
    const staff = await signUpWithRole("cli-staff", "staff");
    const target = await signUp("cli-imp-target");
    const noReason = await runAdminCli(["users", "impersonate", target.email, "--as", staff.email]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain(
      "users impersonate: --reason: is required: say why, it is recorded and told to the user",
    );
    const nobody = await runAdminCli([
      "users",
      "impersonate",
      target.email,
      "--reason",
      "x",
      "--as",
      "ops-robot",
    ]);
    expect([nobody.code, errorLines(nobody.stderr)]).toEqual([
      1,
      [
        'error: this command acts as your staff account: name it with --as <your e-mail> (or ADMIN_ACTOR), not "ops-robot"',
      ],
    ]);
    const denied = await runAdminCli([
      "users",
      "edit",
      target.email,
      "--bio",
      "x",
      "--as",
      staff.email,
    ]);
    expect([denied.code, errorLines(denied.stderr)]).toEqual([
      1,
      [
        `error: editing ${target.email} (identity-admin-update-user): permission denied: users.manage is required to edit users (HTTP 403)`,
      ],
    ]);
  });
});
