// Auth accounts: finding a user by id or e-mail, and reading profiles and role assignments
// for many users at once. Auth's admin API has no lookup by e-mail, so e-mails are matched
// against the full, paged list of users.

import type { User } from "@supabase/supabase-js";
import { isUserId } from "./command.ts";
import type { AdminClient } from "./connection.ts";
import { CommandError, unwrap } from "./errors.ts";

const USERS_PAGE_SIZE = 1000;
// Ids per `in.(...)` filter: keeps request URLs short and answers under PostgREST's max_rows.
const IDS_PER_REQUEST = 100;

export async function listAllAccounts(client: AdminClient): Promise<User[]> {
  const accounts: User[] = [];
  for (let page = 1;; page++) {
    const { users } = unwrap(
      await client.auth.admin.listUsers({ page, perPage: USERS_PAGE_SIZE }),
      "listing users",
    );
    accounts.push(...users);
    if (users.length < USERS_PAGE_SIZE) return accounts;
  }
}

/** The account a <user> argument names, or a CommandError saying there is none. */
export async function findAccount(client: AdminClient, reference: string): Promise<User> {
  if (isUserId(reference)) {
    const answer = await client.auth.admin.getUserById(reference);
    if (answer.error?.status === 404) throw new CommandError(`no user with id ${reference}`);
    const { user } = unwrap(answer, `looking up user ${reference}`);
    if (!user) throw new CommandError(`no user with id ${reference}`);
    return user;
  }
  const email = reference.toLowerCase();
  const account = (await listAllAccounts(client)).find((candidate) =>
    candidate.email?.toLowerCase() === email
  );
  if (!account) throw new CommandError(`no user with e-mail ${reference}`);
  return account;
}

/** E-mail addresses by user id, for showing who applied or assigned; unknown ids are left out. */
export async function emailsById(client: AdminClient, ids: string[]): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  const answers = await Promise.all(unique.map((id) => client.auth.admin.getUserById(id)));
  const emails = new Map<string, string>();
  for (const { data } of answers) {
    if (data.user?.email) emails.set(data.user.id, data.user.email);
  }
  return emails;
}

export function isBanned(account: User): boolean {
  return account.banned_until !== undefined && account.banned_until !== null &&
    Date.parse(account.banned_until) > Date.now();
}

export interface ProfileSummary {
  id: string;
  username: string | null;
  display_name: string;
  account_status: string;
}

export async function profilesOf(
  client: AdminClient,
  userIds: string[],
): Promise<Map<string, ProfileSummary>> {
  const rows = await inChunks(userIds, async (chunk) =>
    unwrap(
      await client.from("profiles").select("id, username, display_name, account_status").in(
        "id",
        chunk,
      ),
      "reading profiles",
    ));
  return new Map(rows.map((row) => [row.id, row]));
}

export interface RoleAssignment {
  user_id: string;
  role: string;
  assigned_at: string;
  assigned_by: string | null;
  expires_at: string | null;
}

/** Every role assignment of the users, expired ones included. */
export async function roleAssignmentsOf(
  client: AdminClient,
  userIds: string[],
): Promise<RoleAssignment[]> {
  const rows = await inChunks(userIds, async (chunk) =>
    unwrap(
      await client.from("user_roles").select(
        "user_id, assigned_at, assigned_by, expires_at, roles(name)",
      ).in("user_id", chunk),
      "reading role assignments",
    ));
  return rows.map(({ roles, ...assignment }) => ({ ...assignment, role: roles.name }));
}

/** Whether an assignment still grants its role: the rule of private.active_user_roles. */
export function isUnexpired(assignment: { expires_at: string | null }): boolean {
  return assignment.expires_at === null || Date.parse(assignment.expires_at) > Date.now();
}

async function inChunks<Row>(
  ids: string[],
  fetchChunk: (chunk: string[]) => Promise<Row[]>,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (let start = 0; start < ids.length; start += IDS_PER_REQUEST) {
    rows.push(...(await fetchChunk(ids.slice(start, start + IDS_PER_REQUEST))));
  }
  return rows;
}
