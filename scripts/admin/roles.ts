// roles list | assign | remove

import { z } from "zod";
import { findAccount } from "./accounts.ts";
import { type Command, defineCommand, futureTime, roleName, userReference } from "./command.ts";
import type { AdminClient } from "./connection.ts";
import { CommandError, unwrap } from "./errors.ts";
import { table, when } from "./output.ts";

async function findRoleId(client: AdminClient, name: string): Promise<string> {
  const role = unwrap(
    await client.from("roles").select("id").eq("name", name).maybeSingle(),
    `looking up role ${name}`,
  );
  if (!role) throw new CommandError(`no role named ${name} (\`roles list\` shows them)`);
  return role.id;
}

const list = defineCommand({
  name: "roles list",
  summary: "roles with their permission count and how many users hold them unexpired",
  input: z.object({}),
  async run({ client }) {
    const unexpired = `expires_at.is.null,expires_at.gt.${new Date().toISOString()}`;
    const rows = unwrap(
      await client
        .from("roles")
        .select("name, description, is_system, role_permissions(count), user_roles(count)")
        .or(unexpired, { referencedTable: "user_roles" })
        .order("name"),
      "reading roles",
    );
    const roles = rows.map(({ role_permissions, user_roles, ...role }) => ({
      ...role,
      permissions: role_permissions[0]?.count ?? 0,
      users: user_roles[0]?.count ?? 0,
    }));
    return {
      data: roles,
      text: () =>
        table(roles, [
          ["ROLE", (r) => r.name],
          ["PERMISSIONS", (r) => r.permissions],
          ["USERS", (r) => r.users],
          ["SYSTEM", (r) => (r.is_system ? "yes" : "no")],
          ["DESCRIPTION", (r) => r.description],
        ]),
    };
  },
});

// Assigning a role the user already holds replaces its expiry (none unless --expires).
const assign = defineCommand({
  name: "roles assign",
  args: ["user", "role"],
  synopsis: "<user> <role> [--expires YYYY-MM-DD|ISO]",
  summary: "give a user a role, for good or until --expires",
  input: z.object({ user: userReference, role: roleName, expires: futureTime.optional() }),
  async run({ client }, { user, role, expires }) {
    const [account, roleId] = await Promise.all([
      findAccount(client, user),
      findRoleId(client, role),
    ]);
    const assignment = unwrap(
      await client
        .from("user_roles")
        .upsert({ user_id: account.id, role_id: roleId, expires_at: expires ?? null }, {
          onConflict: "user_id,role_id",
        })
        .select("user_id, assigned_at, expires_at")
        .single(),
      `assigning ${role}`,
    );
    const result = { ...assignment, email: account.email ?? null, role };
    const until = result.expires_at ? `until ${when(result.expires_at)} UTC` : "with no expiry";
    return {
      data: result,
      text: () => `${result.email ?? result.user_id}: ${role} assigned ${until}`,
    };
  },
});

const remove = defineCommand({
  name: "roles remove",
  args: ["user", "role"],
  summary: "take a role away from a user",
  input: z.object({ user: userReference, role: roleName }),
  async run({ client }, { user, role }) {
    const [account, roleId] = await Promise.all([
      findAccount(client, user),
      findRoleId(client, role),
    ]);
    const removed = unwrap(
      await client.from("user_roles").delete().eq("user_id", account.id).eq("role_id", roleId)
        .select("user_id"),
      `removing ${role}`,
    );
    const who = account.email ?? account.id;
    if (removed.length === 0) throw new CommandError(`${who} does not hold the role ${role}`);
    return {
      data: { user_id: account.id, email: account.email ?? null, role },
      text: () => `${who}: ${role} removed`,
    };
  },
});

export const roleCommands: Command[] = [list, assign, remove];
