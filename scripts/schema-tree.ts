// The declarative schema tree (supabase/schemas/<NN_domain>/*.sql) beside the migrations,
// without Docker: a database built from the migrations (the cluster's `postgres` database,
// where pg_cron lives) and a scratch database built from the tree on the same cluster,
// compared by the Supabase CLI's own differ (`supabase db diff --from <url> --to <url>`).
// `npm test` fails when they differ (the drift check); `npm run db:diff -- <name>` writes the
// difference as a new migration.

import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import pg from "pg";
import { repoRoot } from "../stack/config.ts";
import { applyBaseline, psqlFile, supabaseCli } from "../stack/postgres.ts";

export const schemasDir = join(repoRoot, "supabase", "schemas");

/** The schemas our migrations create objects in (auth: the sign-up trigger on auth.users). */
export const diffedSchemas = ["public", "private", "ops", "storage", "auth"];

/** The closed list of domains, in dependency order: the folders of supabase/schemas. */
export function domains(): { folder: string; name: string }[] {
  return readdirSync(schemasDir)
    .filter((name) => statSync(join(schemasDir, name)).isDirectory())
    .sort()
    .map((folder) => ({ folder, name: folder.replace(/^\d+_/, "") }));
}

/** Migration files are `<14-digit timestamp>_<domain>__<subject>.sql`, the domain from the list. */
export function migrationNameProblems(): string[] {
  const names = domains().map((domain) => domain.name);
  const pattern = new RegExp(`^\\d{14}_(${names.join("|")})__[a-z0-9_]+\\.sql$`);
  return readdirSync(join(repoRoot, "supabase", "migrations"))
    .filter((file) => !pattern.test(file))
    .map((file) =>
      `supabase/migrations/${file} is not <timestamp>_<domain>__<subject>.sql with a domain of ${
        names.join(", ")
      }`
    );
}

/** Every file of the tree in the order the Supabase CLI reads it: recursively, in path order. */
export function schemaFiles(dir = schemasDir): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return schemaFiles(path);
      return name.endsWith(".sql") ? [path] : [];
    });
}

function databaseUrl(clusterUrl: string, database: string): string {
  const url = new URL(clusterUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function recreateDatabase(clusterUrl: string, database: string): Promise<string> {
  const admin = new pg.Client({ connectionString: databaseUrl(clusterUrl, "template1") });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.query(`create database ${database}`);
  } finally {
    await admin.end();
  }
  return databaseUrl(clusterUrl, database);
}

/**
 * A database holding the platform baseline and every file of the schema tree. Function
 * bodies are not checked at creation (as pg_dump restores do): the tree has no pg_cron,
 * which only exists in the cluster's `postgres` database and is created by a migration.
 */
export async function buildFromSchemaTree(
  clusterUrl: string,
  database = "drift_schema_tree",
): Promise<string> {
  const url = await recreateDatabase(clusterUrl, database);
  applyBaseline(url);
  for (const file of schemaFiles()) {
    try {
      psqlFile(url, file, "-c check_function_bodies=off");
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? error);
      throw new Error(`${relative(repoRoot, file)} does not apply:\n${stderr.trim()}`);
    }
  }
  return url;
}

/**
 * Lines `supabase db diff --from/--to` prints that are not differences of ours: the two
 * databases get their default privileges from the same baseline, but the differ still
 * restates some grants on objects that are identical. Each pattern says which.
 */
export const spuriousStatements: { pattern: RegExp; why: string }[] = [
  {
    pattern:
      /^CREATE EXTENSION IF NOT EXISTS "pg_cron"|^CREATE EXTENSION "pg_cron"|^COMMENT ON EXTENSION "pg_cron"/,
    why:
      "pg_cron is created by a migration in the cluster's postgres database only, never by the schema tree",
  },
];

export interface SchemaDiff {
  /** The statements that differ, ready for a migration (empty when the two agree). */
  sql: string;
  /** Statements dropped as spurious, with the reason. */
  stripped: { statement: string; why: string }[];
}

/** Splits the differ's output into statements: each starts at a line that is not indented. */
function statements(output: string): string[] {
  const result: string[] = [];
  for (const line of output.split("\n")) {
    if (line.trim() === "" || line.startsWith("--")) {
      if (result.length) result[result.length - 1] += "\n" + line;
      continue;
    }
    if (/^\s/.test(line) && result.length) result[result.length - 1] += "\n" + line;
    else result.push(line);
  }
  return result.map((statement) => statement.trimEnd()).filter(Boolean);
}

/** What changes `from` into `to`, less the spurious statements. */
export function diffDatabases(fromUrl: string, toUrl: string): SchemaDiff {
  const output = supabaseCli([
    "db",
    "diff",
    "--from",
    fromUrl,
    "--to",
    toUrl,
    "--schema",
    diffedSchemas.join(","),
  ]);
  const stripped: SchemaDiff["stripped"] = [];
  const kept: string[] = [];
  for (const statement of statements(output)) {
    const rule = spuriousStatements.find(({ pattern }) => pattern.test(statement));
    if (rule) stripped.push({ statement, why: rule.why });
    else kept.push(statement);
  }
  return { sql: kept.length ? kept.join("\n\n") + "\n" : "", stripped };
}
