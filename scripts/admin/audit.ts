// audit: the most recent audit log entries, optionally of one table.

import { z } from "zod";
import type { Database } from "../../types/database.ts";
import { type Command, defineCommand, limit } from "./command.ts";
import { unwrap } from "./errors.ts";
import { type Column, table, when } from "./output.ts";

export type AuditEntry = Database["public"]["Tables"]["audit_log"]["Row"];

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** What an update changed, as column names; timestamps the database keeps are left out. */
function changedColumns(entry: AuditEntry): string {
  if (!isObject(entry.before) || !isObject(entry.after)) return "";
  const before = entry.before;
  const after = entry.after;
  return Object.keys(after)
    .filter((column) =>
      column !== "updated_at" && JSON.stringify(before[column]) !== JSON.stringify(after[column])
    )
    .join(",");
}

export const auditColumns: Column<AuditEntry>[] = [
  ["ID", (e) => e.id],
  ["WHEN", (e) => when(e.created_at)],
  ["ACTOR", (e) => e.actor_label],
  ["ACTION", (e) => e.action],
  ["TABLE", (e) => e.table_name],
  ["ROW", (e) => e.row_id],
  ["CHANGED", changedColumns],
];

const audit = defineCommand({
  name: "audit",
  synopsis: "[--limit N] [--table T]",
  summary: "recent audit log entries, newest first",
  input: z.object({
    limit: limit(50),
    table: z.string().regex(/^[a-z_][a-z0-9_]*$/, "must be a table name like user_roles")
      .optional(),
  }),
  async run({ client }, { limit, table: tableName }) {
    let query = client.from("audit_log").select("*").order("id", { ascending: false }).limit(limit);
    if (tableName) query = query.eq("table_name", tableName);
    const entries = unwrap(await query, "reading the audit log");
    return { data: entries, text: () => table(entries, auditColumns, "no audit entries") };
  },
});

export const auditCommands: Command[] = [audit];
