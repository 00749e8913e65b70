// `npm run db:rebaseline`: rewrites each `<timestamp>_<domain>__schema.sql` migration as the
// files of its domain's folder in supabase/schemas, in path order. Only while nothing is
// deployed (docs/conventions.md records the last deployed migration): after the first deploy
// a schema change is a new migration written by `npm run db:diff`, and released migrations
// are never edited. The drift check in `npm test` proves the result builds the same database
// as the tree.

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../stack/config.ts";
import { domains, schemaFiles, schemasDir } from "./schema-tree.ts";

const migrationsDir = join(repoRoot, "supabase", "migrations");
const rule = "-- " + "=".repeat(86);

function schemaMigration(folder: string, domain: string): string {
  const parts = schemaFiles(join(schemasDir, folder)).map((file) => {
    const path = file.slice(repoRoot.length + 1);
    return `${rule}\n-- ${path}\n${rule}\n\n${
      readFileSync(file, "utf8").replace(/^\n+|\n+$/g, "")
    }\n`;
  });
  return `-- The ${domain} domain's schema at the rebaseline: every file of supabase/schemas/${folder}/, in path\n` +
    "-- order, as they stood before the first deploy. The schema files are the definitions to read and\n" +
    "-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).\n\n" +
    parts.join("\n");
}

const byName = new Map(domains().map((domain) => [domain.name, domain.folder]));
let written = 0;
for (const file of readdirSync(migrationsDir).sort()) {
  const domain = /^\d{14}_([a-z]+)__schema\.sql$/.exec(file)?.[1];
  if (!domain) continue;
  const folder = byName.get(domain);
  if (!folder) throw new Error(`${file}: no folder supabase/schemas/NN_${domain}`);
  writeFileSync(join(migrationsDir, file), schemaMigration(folder, domain));
  written++;
}
console.log(`Rewrote ${written} schema migrations from supabase/schemas.`);
