// `npm run db:diff -- <domain>__<subject>`: writes what supabase/schemas has and
// supabase/migrations lacks as a new migration, without Docker. A scratch cluster (in
// .stack/diff, stopped afterwards) gets the migrations in its `postgres` database, as
// `npm run db:reset` builds them, and the schema tree in a second database; the Supabase
// CLI's differ compares them, statements known to be spurious are dropped (and listed),
// and `supabase migration new` names the file with the current time.

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot, type StackConfig, stackConfig } from "../stack/config.ts";
import {
  ensureCluster,
  postgresProcess,
  resetDatabase,
  supabaseCli,
  waitForPostgres,
} from "../stack/postgres.ts";
import { ensurePrerequisites } from "../stack/prerequisites.ts";
import { assertPortFree } from "../stack/stack.ts";
import { Supervisor } from "../stack/supervisor.ts";
import { buildFromSchemaTree, diffDatabases, domains } from "./schema-tree.ts";

const name = process.argv[2] ?? "";
const domainNames = domains().map((domain) => domain.name);
if (!new RegExp(`^(${domainNames.join("|")})__[a-z0-9_]+$`).test(name)) {
  console.error(
    `usage: npm run db:diff -- <domain>__<subject>, with <domain> one of ${
      domainNames.join(", ")
    } ` +
      `and <subject> in snake_case, e.g. marketplace__bid_expiry`,
  );
  process.exit(2);
}

// A cluster of its own, beside the test stack's ports, so the dev and test stacks may run.
const test = stackConfig("test");
const dataDir = join(repoRoot, ".stack", "diff");
const config: StackConfig = {
  ...test,
  dataDir,
  pgDataDir: join(dataDir, "pgdata"),
  logDir: join(dataDir, "logs"),
  ports: { ...test.ports, db: test.ports.db + 50 },
  dbUrl: test.dbUrl.replace(`:${test.ports.db}/`, `:${test.ports.db + 50}/`),
};

ensurePrerequisites();
await assertPortFree(config.ports.db);
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(config.logDir, { recursive: true });
ensureCluster(config);
const postgres = new Supervisor(config.logDir, (child, exit, logTail) => {
  console.error(`${child} stopped unexpectedly (${exit}):\n${logTail}`);
  process.exit(1);
});
postgres.start(postgresProcess(config));
try {
  await waitForPostgres(config.dbUrl);
  await resetDatabase(config);
  const treeUrl = await buildFromSchemaTree(config.dbUrl);
  const { sql, stripped } = diffDatabases(config.dbUrl, treeUrl);
  for (const { statement, why } of stripped) {
    console.log(`ignored (${why}):\n  ${statement.split("\n")[0]}`);
  }
  if (!sql) {
    console.log(
      "supabase/schemas and supabase/migrations build the same database: nothing to write.",
    );
  } else {
    const created = supabaseCli(["migration", "new", name]);
    const file = /supabase\/migrations\/\S+\.sql/.exec(created)?.[0];
    if (!file) {
      throw new Error(`supabase migration new did not say which file it created:\n${created}`);
    }
    const path = join(repoRoot, file);
    writeFileSync(
      path,
      `-- ${name.replace("__", ": ").replaceAll("_", " ")}.\n` +
        "-- Written by `npm run db:diff` from supabase/schemas; review it, then say why in this header.\n\n" +
        sql,
    );
    console.log(`Wrote ${relative(repoRoot, path)}:\n\n${sql}`);
  }
} finally {
  await postgres.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
