// users list | show | deactivate | reactivate | ban | unban | edit | impersonate

import type { User } from "@supabase/supabase-js";
import { z } from "zod";
import {
  emailsById,
  findAccount,
  isBanned,
  isUnexpired,
  listAllAccounts,
  profilesOf,
  type ProfileSummary,
  roleAssignmentsOf,
} from "./accounts.ts";
import { auditColumns, type AuditEntry } from "./audit.ts";
import { type Command, defineCommand, limit, roleName, userReference } from "./command.ts";
import type { AdminClient } from "./connection.ts";
import { CommandError, reasonOf, unwrap } from "./errors.ts";
import { fields, type Result, sections, table, when } from "./output.ts";

// Auth has no permanent ban: 876000 hours is a hundred years.
const PERMANENT_BAN = "876000h";
const LIFT_BAN = "none";
const RECENT_AUDIT_ENTRIES = 20;

type UserStatus = "active" | "deactivated" | "banned";

interface UserSummary {
  id: string;
  email: string | null;
  username: string | null;
  display_name: string | null;
  status: UserStatus;
  roles: string[];
  created_at: string;
  last_sign_in_at: string | null;
}

/** Deactivation is the stronger state and implies a ban, so it is what a person needs to see. */
function statusOf(account: User, profile: ProfileSummary | undefined): UserStatus {
  if (profile?.account_status === "deactivated") return "deactivated";
  return isBanned(account) ? "banned" : "active";
}

async function userSummaries(client: AdminClient): Promise<UserSummary[]> {
  const accounts = await listAllAccounts(client);
  const ids = accounts.map((account) => account.id);
  const [profiles, assignments] = await Promise.all([
    profilesOf(client, ids),
    roleAssignmentsOf(client, ids),
  ]);
  const rolesByUser = new Map<string, string[]>();
  for (const assignment of assignments.filter(isUnexpired)) {
    rolesByUser.set(assignment.user_id, [
      ...(rolesByUser.get(assignment.user_id) ?? []),
      assignment.role,
    ]);
  }
  return accounts.map((account) => {
    const profile = profiles.get(account.id);
    return {
      id: account.id,
      email: account.email ?? null,
      username: profile?.username ?? null,
      display_name: profile?.display_name ?? null,
      status: statusOf(account, profile),
      roles: (rolesByUser.get(account.id) ?? []).sort(),
      created_at: account.created_at,
      last_sign_in_at: account.last_sign_in_at ?? null,
    };
  });
}

function matchesSearch(user: UserSummary, search: string): boolean {
  const needle = search.toLowerCase();
  return [user.email, user.username, user.display_name].some((value) =>
    value?.toLowerCase().includes(needle)
  );
}

const list = defineCommand({
  name: "users list",
  synopsis: "[--role R] [--status active|deactivated|banned] [--search TEXT] [--limit N]",
  summary: "users, newest first, with profile, status and unexpired roles",
  input: z.object({
    role: roleName.optional(),
    status: z.enum(["active", "deactivated", "banned"]).optional(),
    search: z.string().min(1).optional(),
    limit: limit(50),
  }),
  async run({ client }, { role, status, search, limit }) {
    const users = (await userSummaries(client))
      .filter((user) => role === undefined || user.roles.includes(role))
      .filter((user) => status === undefined || user.status === status)
      .filter((user) => search === undefined || matchesSearch(user, search))
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
      .slice(0, limit);
    return {
      data: users,
      text: () =>
        table(users, [
          ["ID", (u) => u.id],
          ["EMAIL", (u) => u.email],
          ["USERNAME", (u) => u.username],
          ["NAME", (u) => u.display_name],
          ["STATUS", (u) => u.status],
          ["ROLES", (u) => u.roles],
          ["CREATED", (u) => when(u.created_at)],
        ], "no users match"),
    };
  },
});

async function recentAuditAbout(client: AdminClient, userId: string): Promise<AuditEntry[]> {
  // Rows keyed by the user (profiles, user_roles) or naming them (seller applications).
  const aboutUser =
    `row_id.eq.${userId},after->>user_id.eq.${userId},before->>user_id.eq.${userId}`;
  return unwrap(
    await client.from("audit_log").select("*").or(aboutUser).order("id", { ascending: false })
      .limit(RECENT_AUDIT_ENTRIES),
    "reading the audit log",
  );
}

const show = defineCommand({
  name: "users show",
  args: ["user"],
  summary: "account, profile, private profile, roles and recent audit entries of one user",
  input: z.object({ user: userReference }),
  async run({ client }, { user }) {
    const account = await findAccount(client, user);
    const [profile, privateProfile, assignments, audit] = await Promise.all([
      client.from("profiles").select("*").eq("id", account.id).maybeSingle()
        .then((answer) => unwrap(answer, "reading the profile")),
      client.from("private_profiles").select("*").eq("id", account.id).maybeSingle()
        .then((answer) => unwrap(answer, "reading the private profile")),
      roleAssignmentsOf(client, [account.id]),
      recentAuditAbout(client, account.id),
    ]);
    const assigners = await emailsById(
      client,
      assignments.flatMap((a) => (a.assigned_by ? [a.assigned_by] : [])),
    );
    const roles = assignments.map(({ user_id: _, ...assignment }) => ({
      ...assignment,
      assigned_by_email: assignment.assigned_by
        ? assigners.get(assignment.assigned_by) ?? null
        : null,
      expired: !isUnexpired(assignment),
    }));
    const details = {
      account: {
        id: account.id,
        email: account.email ?? null,
        created_at: account.created_at,
        last_sign_in_at: account.last_sign_in_at ?? null,
        banned_until: account.banned_until ?? null,
      },
      profile,
      private_profile: privateProfile,
      roles,
      audit,
    };
    return {
      data: details,
      text: () =>
        sections([
          [
            "Account",
            fields([
              ["id", account.id],
              ["email", account.email],
              ["created", when(account.created_at)],
              ["last sign-in", when(account.last_sign_in_at)],
              ["banned until", when(account.banned_until)],
            ]),
          ],
          ["Profile", profile ? fields(Object.entries(profile)) : "(none)"],
          ["Private profile", privateProfile ? fields(Object.entries(privateProfile)) : "(none)"],
          [
            "Roles",
            table(roles, [
              ["ROLE", (r) => r.role],
              ["ASSIGNED", (r) => when(r.assigned_at)],
              ["BY", (r) => r.assigned_by_email ?? r.assigned_by ?? "service tooling"],
              ["EXPIRES", (r) => (r.expires_at ? when(r.expires_at) : "never")],
              ["", (r) => (r.expired ? "expired" : "")],
            ]),
          ],
          ["Recent audit entries", table(audit, auditColumns)],
        ]),
    };
  },
});

/** Bans happen in Auth, out of the audit triggers' sight, so the change is recorded here. */
async function setBan(client: AdminClient, userId: string, duration: string): Promise<User> {
  const before = unwrap(await client.auth.admin.getUserById(userId), "reading the account").user;
  const { user } = unwrap(
    await client.auth.admin.updateUserById(userId, { ban_duration: duration }),
    "updating the ban in Auth",
  );
  unwrap(
    await client.schema("ops").rpc("record_admin_action", {
      action: duration === "none" ? "unban" : "ban",
      table_name: "auth.users",
      row_id: userId,
      before: { banned_until: before.banned_until ?? null },
      after: { banned_until: user.banned_until ?? null, ban_duration: duration },
    }),
    "recording the ban in the audit log",
  );
  return user;
}

async function setAccountStatus(
  client: AdminClient,
  userId: string,
  status: "active" | "deactivated",
): Promise<void> {
  unwrap(
    await client.from("profiles").update({ account_status: status }).eq("id", userId).select("id")
      .single(),
    `setting the profile's account status to ${status}`,
  );
}

// A ban or unban would replace the permanent ban that keeps a deactivated account out.
async function refuseIfDeactivated(client: AdminClient, account: User): Promise<void> {
  const { account_status } = unwrap(
    await client.from("profiles").select("account_status").eq("id", account.id).single(),
    "reading the account status",
  );
  if (account_status === "deactivated") {
    throw new CommandError(
      `${account.email ?? account.id} is deactivated: \`users reactivate\` lets them back in`,
    );
  }
}

interface AccountChange {
  id: string;
  email: string | null;
  account_status?: string;
  banned_until: string | null;
}

function accountChangeResult(change: AccountChange, done: string): Result {
  return { data: change, text: () => `${change.email ?? change.id}: ${done}` };
}

// Deactivation hides the profile (an update the audit log records) and bans the account in
// Auth, which ends its sessions and refuses its refresh tokens and passwords. Both steps are
// idempotent, so after a failure halfway the same command completes it.
const deactivate = defineCommand({
  name: "users deactivate",
  args: ["user"],
  summary: "hide the profile and ban the account until reactivated",
  input: z.object({ user: userReference }),
  async run({ client }, { user }) {
    const account = await findAccount(client, user);
    await setAccountStatus(client, account.id, "deactivated");
    const banned = await setBan(client, account.id, PERMANENT_BAN);
    return accountChangeResult(
      {
        id: account.id,
        email: account.email ?? null,
        account_status: "deactivated",
        banned_until: banned.banned_until ?? null,
      },
      "deactivated (profile hidden, sign-in refused)",
    );
  },
});

const reactivate = defineCommand({
  name: "users reactivate",
  args: ["user"],
  summary: "show the profile again and lift the ban",
  input: z.object({ user: userReference }),
  async run({ client }, { user }) {
    const account = await findAccount(client, user);
    await setAccountStatus(client, account.id, "active");
    await setBan(client, account.id, LIFT_BAN);
    return accountChangeResult(
      {
        id: account.id,
        email: account.email ?? null,
        account_status: "active",
        banned_until: null,
      },
      "reactivated",
    );
  },
});

const ban = defineCommand({
  name: "users ban",
  args: ["user"],
  synopsis: "<user> [--duration 24h]",
  summary: "refuse sign-in for a while (Auth ban only; the profile stays visible)",
  input: z.object({
    user: userReference,
    duration: z.string().regex(/^[1-9]\d*[hms]$/, "must be a duration like 24h, 90m or 30s")
      .default("24h"),
  }),
  async run({ client }, { user, duration }) {
    const account = await findAccount(client, user);
    await refuseIfDeactivated(client, account);
    const banned = await setBan(client, account.id, duration);
    return accountChangeResult(
      { id: account.id, email: account.email ?? null, banned_until: banned.banned_until ?? null },
      `banned for ${duration}`,
    );
  },
});

const unban = defineCommand({
  name: "users unban",
  args: ["user"],
  summary: "lift an Auth ban",
  input: z.object({ user: userReference }),
  async run({ client }, { user }) {
    const account = await findAccount(client, user);
    await refuseIfDeactivated(client, account);
    await setBan(client, account.id, LIFT_BAN);
    return accountChangeResult(
      { id: account.id, email: account.email ?? null, banned_until: null },
      "ban lifted",
    );
  },
});

/**
 * The staff account the operator (--as) names: edit and impersonate act as that account, so
 * the database checks its permissions and the audit log names it.
 */
async function operatorAccount(client: AdminClient, operator: string): Promise<User> {
  if (!userReference.safeParse(operator).success) {
    throw new CommandError(
      `this command acts as your staff account: name it with --as <your e-mail> (or ADMIN_ACTOR), not ${
        JSON.stringify(operator)
      }`,
    );
  }
  return await findAccount(client, operator);
}

/** Calls a staff edge function with the service-role key, acting for `actor`; its answer. */
async function invokeAsStaff(
  client: AdminClient,
  slug: string,
  method: "PUT" | "POST",
  body: Record<string, unknown>,
  doing: string,
): Promise<Record<string, unknown>> {
  const { data, error } = await client.functions.invoke(slug, { method, body });
  if (error) throw new CommandError(`${doing} (${slug}): ${await reasonOf(error)}`);
  return data as Record<string, unknown>;
}

const optionalText = (max: number) => z.string().max(max).optional();

// 003 PUT /users/{id}, through identity-admin-update-user: profile fields in the database,
// e-mail and phone in Auth, one audit entry naming the operator's account and the fields.
const edit = defineCommand({
  name: "users edit",
  args: ["user"],
  synopsis:
    "<user> [--display-name X] [--username X] [--bio X] [--first-name X] [--last-name X] [--phone +E164] [--email X] --as STAFF-EMAIL",
  summary: "edit a user's profile, names, phone and e-mail as your staff account (users.manage)",
  input: z.object({
    user: userReference,
    "display-name": optionalText(80),
    username: z.string().regex(/^[a-z0-9_]{3,30}$/, "must be 3-30 characters of a-z, 0-9 and _")
      .optional(),
    bio: optionalText(2000),
    "first-name": optionalText(80),
    "last-name": optionalText(80),
    phone: z.string().regex(/^\+[1-9][0-9]{6,14}$/, "must be an E.164 number like +14155550123")
      .optional(),
    email: z.email("must be an e-mail address").optional(),
  }).refine(
    (input) => Object.entries(input).some(([key, value]) => key !== "user" && value !== undefined),
    "name at least one field to change",
  ),
  async run({ client, operator }, input) {
    const staff = await operatorAccount(client, operator);
    const account = await findAccount(client, input.user);
    const changes = Object.fromEntries(
      Object.entries({
        display_name: input["display-name"],
        username: input.username,
        bio: input.bio,
        first_name: input["first-name"],
        last_name: input["last-name"],
        phone: input.phone,
        email: input.email,
      }).filter(([, value]) => value !== undefined),
    );
    const answer = await invokeAsStaff(
      client,
      "identity-admin-update-user",
      "PUT",
      { acting_user: staff.id, user_id: account.id, ...changes },
      `editing ${account.email ?? account.id}`,
    );
    return {
      data: answer,
      text: () =>
        `${account.email ?? account.id}: ${Object.keys(changes).join(", ")} changed (as ${
          staff.email ?? staff.id
        })`,
    };
  },
});

// 004 POST /admin/users/:id/impersonate, through identity-impersonate: recorded with the
// reason, the user mailed, then the one-time sign-in link printed.
const impersonate = defineCommand({
  name: "users impersonate",
  args: ["user"],
  synopsis: "<user> --reason TEXT --as STAFF-EMAIL",
  summary:
    "a one-time sign-in link for the user, as your staff account (users.impersonate); audited, the user is told",
  input: z.object({
    user: userReference,
    reason: z.string({ error: "is required: say why, it is recorded and told to the user" })
      .trim().min(1, "is required: say why, it is recorded and told to the user").max(500),
  }),
  async run({ client, operator }, { user, reason }) {
    const staff = await operatorAccount(client, operator);
    const account = await findAccount(client, user);
    const answer = await invokeAsStaff(
      client,
      "identity-impersonate",
      "POST",
      { acting_user: staff.id, user_id: account.id, reason },
      `impersonating ${account.email ?? account.id}`,
    );
    return {
      data: answer,
      text: () =>
        `${account.email ?? account.id} was told by e-mail; audit entry ${answer.audit_id}.\n` +
        `One-time sign-in link (open it in a private window):\n${answer.action_link}`,
    };
  },
});

export const userCommands: Command[] = [
  list,
  show,
  deactivate,
  reactivate,
  ban,
  unban,
  edit,
  impersonate,
];
