// The admin CLI, black-box: it runs as a subprocess against the project (service-role key
// from the environment), and its effects are checked through supabase-js as users and anon
// see them.

import { describe, expect, it } from "vitest";
import { runAdminCli } from "../support/admin_cli.ts";
import { claimsOf, PASSWORD, signIn, signUp, type TestUser, uniqueEmail } from "../support/auth.ts";
import { admin, client, eventually } from "../support/clients.ts";

// One operator per run, so the audit entries this file causes are told apart from others'.
const OPERATOR = uniqueEmail("operator");

const runCli = runAdminCli;

/** Runs a command as OPERATOR with --json, expects success and returns its parsed output. */
async function cliJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  const run = await runCli([...args, "--json", "--as", OPERATOR]);
  if (run.code !== 0) throw new Error(`admin ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

async function rolesInNextToken(email: string): Promise<string[]> {
  const { data, error } = await signIn(email);
  if (error) throw error;
  return claimsOf(data.session.access_token).app_metadata.roles ?? [];
}

async function applyToSell(applicant: TestUser, shopName: string): Promise<string> {
  const { data, error } = await applicant.client
    .from("seller_applications")
    .insert({
      shop_name: shopName,
      category: "Tailoring",
      return_address: {
        full_name: "Ada Lovelace",
        address_line1: "12 Analytical Row",
        city: "London",
        country_code: "GB",
      },
      agreed_to_terms: true,
    })
    .select("id")
    .single();
  if (error) throw error;
  return data.id;
}

const visibleToAnon = async (userId: string) =>
  (await client().from("profiles").select("id").eq("id", userId)).data;

describe("admin CLI: roles", () => {
  it("assigns a role with an expiry, which the next access token carries, and removes it", async () => {
    const user = await signUp("cli-roles");
    const expires = new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString();

    const assigned = await cliJson(
      "roles",
      "assign",
      user.email,
      "moderator",
      "--expires",
      expires,
    );
    expect(assigned).toMatchObject({ user_id: user.id, email: user.email, role: "moderator" });
    const rows = await admin().from("user_roles").select("expires_at, roles(name)").eq(
      "user_id",
      user.id,
    );
    expect(rows.data).toHaveLength(1);
    expect(rows.data![0].roles.name).toBe("moderator");
    expect(Date.parse(rows.data![0].expires_at!)).toBe(Date.parse(expires));
    expect(await rolesInNextToken(user.email)).toContain("moderator");

    const listed = await cliJson<{ id: string; roles: string[] }[]>(
      "users",
      "list",
      "--role",
      "moderator",
      "--search",
      user.email,
    );
    expect(listed).toEqual([expect.objectContaining({ id: user.id, roles: ["moderator"] })]);

    await cliJson("roles", "remove", user.id, "moderator");
    expect((await admin().from("user_roles").select("user_id").eq("user_id", user.id)).data)
      .toEqual([]);
    expect(await rolesInNextToken(user.email)).not.toContain("moderator");

    const again = await runCli(["roles", "remove", user.id, "moderator"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("does not hold the role moderator");
  });

  it("lists roles with their permission and holder counts", async () => {
    const roles = await cliJson<{ name: string; permissions: number; users: number }[]>(
      "roles",
      "list",
    );
    expect(roles.map((role) => role.name)).toEqual(
      expect.arrayContaining(["admin", "moderator", "seller", "staff"]),
    );
    expect(roles.find((role) => role.name === "moderator")?.permissions).toBe(1);
  });
});

describe("admin CLI: seller applications", () => {
  it("approves an application: the shop opens to anon and the applicant becomes a seller", async () => {
    const applicant = await signUp("cli-seller");
    const applicationId = await applyToSell(applicant, "Cut & Cloth");

    const pending = await cliJson<{ id: string; email: string }[]>("sellers", "pending");
    expect(pending).toContainEqual(
      expect.objectContaining({ id: applicationId, email: applicant.email }),
    );

    const approved = await cliJson("sellers", "approve", applicationId);
    expect(approved).toMatchObject({ id: applicationId, status: "approved" });
    const shop = await client().from("shops").select("shop_name").eq("id", applicant.id);
    expect(shop.data).toEqual([{ shop_name: "Cut & Cloth" }]);
    expect(await rolesInNextToken(applicant.email)).toContain("seller");

    const twice = await runCli(["sellers", "approve", applicationId]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain("already approved");
  });

  it("rejects an application only with a reason, and opens no shop", async () => {
    const applicant = await signUp("cli-rejected");
    const applicationId = await applyToSell(applicant, "Not Yet");

    const withoutReason = await runCli(["sellers", "reject", applicationId]);
    expect(withoutReason.code).toBe(2);
    expect(withoutReason.stderr).toContain("--reason");

    const rejected = await cliJson(
      "sellers",
      "reject",
      applicationId,
      "--reason",
      "Return address incomplete",
    );
    expect(rejected).toMatchObject({
      status: "rejected",
      rejection_reason: "Return address incomplete",
    });
    expect((await admin().from("shops").select("id").eq("id", applicant.id)).data).toEqual([]);
  });
});

describe("admin CLI: account status", () => {
  it("deactivates an account (no sign-in, no refresh, profile hidden) and reactivates it", async () => {
    const user = await signUp("cli-deactivated");
    const { data: before } = await signIn(user.email);

    expect(await cliJson("users", "deactivate", user.email)).toMatchObject({
      id: user.id,
      account_status: "deactivated",
    });
    expect((await signIn(user.email)).error?.code).toBe("user_banned");
    const refresh = await client().auth.refreshSession({
      refresh_token: before.session!.refresh_token,
    });
    expect(refresh.error).not.toBeNull();
    expect(await visibleToAnon(user.id)).toEqual([]);
    const listed = await cliJson<{ id: string }[]>(
      "users",
      "list",
      "--status",
      "deactivated",
      "--search",
      user.email,
    );
    expect(listed.map((row) => row.id)).toEqual([user.id]);
    const shortBan = await runCli(["users", "ban", user.email, "--duration", "1h"]);
    expect(shortBan.code).toBe(1);
    expect(shortBan.stderr).toContain("is deactivated");

    await cliJson("users", "reactivate", user.id);
    expect((await signIn(user.email)).error).toBeNull();
    expect(await visibleToAnon(user.id)).toHaveLength(1);
  });

  it("bans and unbans in Auth only, leaving the profile visible", async () => {
    const user = await signUp("cli-banned");

    await cliJson("users", "ban", user.email, "--duration", "1h");
    expect((await signIn(user.email)).error?.code).toBe("user_banned");
    expect(await visibleToAnon(user.id)).toHaveLength(1);

    await cliJson("users", "unban", user.email);
    expect((await signIn(user.email)).error).toBeNull();

    const { data: entries } = await admin()
      .from("audit_log")
      .select("action, actor_label, table_name")
      .eq("row_id", user.id)
      .eq("table_name", "auth.users")
      .order("id");
    expect(entries).toEqual([
      { action: "ban", actor_label: OPERATOR, table_name: "auth.users" },
      { action: "unban", actor_label: OPERATOR, table_name: "auth.users" },
    ]);
  });
});

describe("admin CLI: invites", () => {
  const signUpWith = (code: string) =>
    client().auth.signUp({
      email: uniqueEmail("cli-invited"),
      password: PASSWORD,
      options: { data: { invite_code: code } },
    });

  it("creates a code that signs up as often as allowed, lists it, and revokes another", async () => {
    const invite = await cliJson<{ code: string; expires_at: string }>(
      "invites",
      "create",
      "--expires",
      "2099-01-01",
      "--note",
      "cli test",
    );
    expect(invite.code).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(invite.expires_at)).toBe(Date.UTC(2099, 0, 1));

    expect((await signUpWith(invite.code)).error).toBeNull();
    expect((await signUpWith(invite.code)).error?.message).toMatch(/used up/);
    const invites = await cliJson<{ code: string; state: string }[]>("invites", "list");
    expect(invites).toContainEqual(
      expect.objectContaining({ code: invite.code, state: "used up" }),
    );

    const revoked = await cliJson<{ code: string }>("invites", "create", "--uses", "5");
    await cliJson("invites", "revoke", revoked.code);
    expect((await signUpWith(revoked.code)).error?.message).toMatch(/revoked/);
  });
});

describe("admin CLI: audit and user details", () => {
  it("records the operator as the actor, from --as or ADMIN_ACTOR", async () => {
    const user = await signUp("cli-audited");
    await cliJson("roles", "assign", user.id, "moderator");

    const entries = await admin()
      .from("audit_log")
      .select("action, row_id")
      .eq("actor_label", OPERATOR)
      .eq("table_name", "user_roles");
    expect(entries.data).toContainEqual({ action: "insert", row_id: user.id });
    const recent = await cliJson<{ actor_label: string; row_id: string }[]>(
      "audit",
      "--table",
      "user_roles",
      "--limit",
      "200",
    );
    expect(recent).toContainEqual(
      expect.objectContaining({ actor_label: OPERATOR, row_id: user.id }),
    );

    const fromEnvironment = uniqueEmail("env-operator");
    const removal = await runCli(["roles", "remove", user.id, "moderator"], {
      ADMIN_ACTOR: fromEnvironment,
    });
    expect(removal.code).toBe(0);
    const removals = await admin().from("audit_log").select("action, row_id").eq(
      "actor_label",
      fromEnvironment,
    );
    expect(removals.data).toEqual([{ action: "delete", row_id: user.id }]);
  });

  it("shows a user's account, profiles, roles and the audit entries about them", async () => {
    const user = await signUp("cli-shown", { display_name: "Shown User", first_name: "Shown" });
    await cliJson("roles", "assign", user.email, "staff");

    const details = await cliJson<{
      account: { id: string; email: string };
      profile: { display_name: string };
      private_profile: { first_name: string };
      roles: { role: string; expires_at: string | null; expired: boolean }[];
      audit: { actor_label: string; table_name: string }[];
    }>("users", "show", user.email);
    expect(details.account).toMatchObject({ id: user.id, email: user.email });
    expect(details.profile.display_name).toBe("Shown User");
    expect(details.private_profile.first_name).toBe("Shown");
    expect(details.roles).toEqual([
      expect.objectContaining({ role: "staff", expires_at: null, expired: false }),
    ]);
    expect(details.audit).toContainEqual(
      expect.objectContaining({ actor_label: OPERATOR, table_name: "user_roles" }),
    );

    const text = await runCli(["users", "show", user.id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(user.email);
    expect(text.stdout).toMatch(/Roles\nROLE +ASSIGNED/);
  });
});

describe("admin CLI: failures", () => {
  it.each([
    [[]],
    [["frobnicate"]],
    [["roles", "assign", "someone@example.com"]],
    [["roles", "assign", "not-an-email", "moderator"]],
    [["roles", "assign", "someone@example.com", "moderator", "--expires", "2001-01-01"]],
    [["users", "list", "--status", "sleeping"]],
    [["users", "list", "--no-such-flag"]],
    [["audit", "--reason", "flags belong to their command"]],
  ])("exits 2 with the usage text for %j", async (args) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Usage: npm run admin");
    expect(run.stdout).toBe("");
  });

  it("exits 1 with a clear message for a user that does not exist", async () => {
    const email = uniqueEmail("nobody");
    const byEmail = await runCli(["users", "show", email]);
    expect(byEmail.code).toBe(1);
    expect(byEmail.stderr).toContain(`error: no user with e-mail ${email}`);

    const id = crypto.randomUUID();
    const byId = await runCli(["roles", "assign", id, "moderator"]);
    expect(byId.code).toBe(1);
    expect(byId.stderr).toContain(`error: no user with id ${id}`);
  });

  it("lists the scheduled jobs and runs one now, refusing names that are not jobs", async () => {
    // (Active or not: the test stack pauses the schedules, so tests choose when jobs run.)
    const jobs = await cliJson<{ name: string; schedule: string }[]>("jobs");
    expect(jobs.map((j) => [j.name, j.schedule])).toEqual(expect.arrayContaining([
      ["payments-auto-complete", "*/15 * * * *"],
      ["payments-refund-due", "*/5 * * * *"],
      ["payments-release-due", "*/5 * * * *"],
      ["payments-reconcile", "30 3 * * *"],
    ]));

    // Auto-completion answers with how many orders it completed.
    const ran = await cliJson<{ job: string; result: string }>(
      "jobs",
      "run",
      "payments-auto-complete",
    );
    expect(ran.job).toBe("payments-auto-complete");
    expect(ran.result).toMatch(/^\d+$/);

    // pg_cron only queues the call; the listing shows what payments-release answered it.
    await cliJson("jobs", "run", "payments-release-due");
    const answered = await eventually("payments-release's answer in the jobs listing", async () => {
      const listed = await cliJson<
        { name: string; edge_function: string; last_call_status: number | null }[]
      >("jobs");
      const job = listed.find((j) => j.name === "payments-release-due")!;
      return job.last_call_status === null ? undefined : job;
    });
    expect(answered).toMatchObject({ edge_function: "payments-release", last_call_status: 200 });

    const unknown = await runCli(["jobs", "run", "payments-everything"]);
    expect([unknown.code, unknown.stderr]).toEqual([
      1,
      expect.stringContaining("no scheduled job named payments-everything"),
    ]);
    const malformed = await runCli(["jobs", "run", "drop table"]);
    expect([malformed.code, malformed.stderr]).toEqual([
      2,
      expect.stringContaining("<name>: must be a job name"),
    ]);
  });
});
