// `npm test`: every suite against an isolated stack (profile `test`: its own ports and data
// folder, rebuilt from scratch), torn down at the end, closing with one line
// `N passed, N failed` over all suites.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, stackConfig } from "../stack/config.ts";
import { denoEnvironment, DenoFetchError, fetchDenoDependencies } from "../stack/deno.ts";
import { type RunningStack, startStack } from "../stack/stack.ts";
import { buildFromSchemaTree, diffDatabases, migrationNameProblems } from "./schema-tree.ts";
import { generateTypes, typesFile } from "./types.ts";

interface SuiteResult {
  suite: string;
  passed: number;
  failed: number;
  seconds: number;
}

const results: SuiteResult[] = [];
const bin = (name: string) => join(repoRoot, "node_modules", ".bin", name);

/** Runs a command with its output shown, and returns its exit code and output. */
function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const collect = (chunk: Buffer, stream: NodeJS.WriteStream) => {
      output += chunk.toString();
      stream.write(chunk);
    };
    child.stdout.on("data", (chunk) => collect(chunk, process.stdout));
    child.stderr.on("data", (chunk) => collect(chunk, process.stderr));
    child.on("error", (error) => resolve({ code: 127, output: error.message }));
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

async function suite(
  name: string,
  body: () => { passed: number; failed: number } | Promise<{ passed: number; failed: number }>,
): Promise<void> {
  console.log(`\n=== ${name}`);
  const begun = Date.now();
  let counts: { passed: number; failed: number };
  try {
    counts = await body();
  } catch (error) {
    console.error(error);
    counts = { passed: 0, failed: 1 };
  }
  results.push({ suite: name, ...counts, seconds: (Date.now() - begun) / 1000 });
}

/** A check that passes or fails as a whole (a type check, a linter). */
async function check(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const { code } = await run(command, args, env);
  return code === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 };
}

/** pg_prove's TAP summary: tests run minus failures, plus tests planned but never run. */
function pgProveCounts(output: string, code: number) {
  const total = Number(/Tests=(\d+)/.exec(output)?.[1] ?? 0);
  let failed = [...output.matchAll(/Failed (\d+)\/\d+ subtests/g)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
  const unrun = [...output.matchAll(/You planned (\d+) tests? but ran (\d+)/g)]
    .reduce((sum, m) => sum + Number(m[1]) - Number(m[2]), 0);
  const passed = total - failed;
  failed += unrun;
  if (code !== 0 && failed === 0) failed = 1;
  return { passed, failed };
}

function denoCounts(output: string, code: number) {
  const match = /(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(output);
  const counts = match
    ? { passed: Number(match[1]), failed: Number(match[2]) }
    : { passed: 0, failed: 0 };
  if (code !== 0 && counts.failed === 0) counts.failed = 1;
  return counts;
}

async function main(): Promise<number> {
  // Every Deno suite and the stack run from Deno's cache, filled here once with the user's
  // certificate and proxy settings; a failed download stops the run with what to set.
  try {
    await fetchDenoDependencies();
  } catch (error) {
    if (!(error instanceof DenoFetchError)) throw error;
    console.error(`\n${error.message}`);
    console.log("\n0 passed, 1 failed");
    return 1;
  }
  const deno = denoEnvironment();
  await suite("types: tsc", () => check(bin("tsc"), ["--noEmit", "-p", "tsconfig.json"]));
  await suite(
    "functions: deno check",
    () =>
      check(
        bin("deno"),
        ["check", "functions/", "stack/functions-router.ts", "tests/functions/"],
        deno,
      ),
  );
  await suite(
    "lint: deno lint (functions, stack, scripts, tests)",
    () => check(bin("deno"), ["lint"], deno),
  );
  await suite(
    "format: deno fmt --check (functions, stack, scripts, tests)",
    () => check(bin("deno"), ["fmt", "--check"], deno),
  );
  await suite("functions: unit tests (deno test)", async () => {
    const { code, output } = await run(bin("deno"), [
      "test",
      "--allow-env",
      "--allow-read",
      "--allow-net",
      "--allow-run",
      "tests/functions/",
    ], deno);
    return denoCounts(output, code);
  });

  const config = stackConfig("test");
  let stack: RunningStack | null = null;
  console.log(
    `\n=== starting the isolated test stack (${config.apiUrl}, data in ${config.dataDir})`,
  );
  const begun = Date.now();
  stack = await startStack(config, {
    fresh: true,
    onCrash: (message) => {
      console.error(`\nThe test stack stopped: ${message}`);
      process.exit(1);
    },
  });
  console.log(`test stack up in ${((Date.now() - begun) / 1000).toFixed(1)}s`);
  const dbEnv = {
    PGHOST: "127.0.0.1",
    PGPORT: String(config.ports.db),
    PGUSER: "postgres",
    PGDATABASE: "postgres",
  };

  try {
    await suite("database: generated types match the schema", () => {
      const committed = readFileSync(typesFile, "utf8");
      if (generateTypes(config.dbUrl) === committed) return { passed: 1, failed: 0 };
      console.error(
        "types/database.ts differs from the schema: run `npm run types` with the stack up and commit it.",
      );
      return { passed: 0, failed: 1 };
    });
    await suite("database: schema tree and migrations build the same database", async () => {
      const problems = migrationNameProblems();
      for (const problem of problems) console.error(problem);
      const treeUrl = await buildFromSchemaTree(config.dbUrl);
      const { sql, stripped } = diffDatabases(config.dbUrl, treeUrl);
      if (stripped.length) {
        console.log(`(${stripped.length} statements of the differ ignored: ${stripped[0].why})`);
      }
      if (sql) {
        console.error(
          "supabase/schemas and supabase/migrations differ. What the migrations lack:\n\n" + sql +
            "\nWrite it as a migration with `npm run db:diff -- <domain>__<subject>` (or undo the schema change).",
        );
      }
      return {
        passed: (sql ? 0 : 1) + (problems.length ? 0 : 1),
        failed: (sql ? 1 : 0) + (problems.length ? 1 : 0),
      };
    });
    await suite(
      "database: supabase db lint",
      () =>
        check(bin("supabase"), [
          "db",
          "lint",
          "--fail-on",
          "error",
          "--schema",
          "public,private,ops",
          `--remote=${config.dbUrl}`,
        ], { PGSSLMODE: "disable" }),
    );
    await suite("database: pgTAP (pg_prove)", async () => {
      const install = await run("psql", [
        config.dbUrl,
        "-q",
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        "sql/test-helpers.sql",
      ]);
      if (install.code !== 0) return { passed: 0, failed: 1 };
      const { code, output } = await run("pg_prove", [
        "--ext",
        ".sql",
        "-r",
        "supabase/tests/database/",
      ], dbEnv);
      return pgProveCounts(output, code);
    });
    await suite("integration: vitest through supabase-js", async () => {
      const report = join(config.dataDir, "vitest.json");
      const { code } = await run(bin("vitest"), [
        "run",
        "--reporter=default",
        "--reporter=json",
        `--outputFile.json=${report}`,
      ], {
        SUPABASE_URL: config.apiUrl,
        SUPABASE_ANON_KEY: stack!.keys.anonKey,
        SUPABASE_SERVICE_ROLE_KEY: stack!.keys.serviceRoleKey,
        SUPABASE_DB_URL: config.dbUrl,
        MAILPIT_URL: config.mail.url,
        SMTP_HOST: config.mail.smtpHost,
        SMTP_PORT: String(config.mail.smtpPort),
        STRIPE_SECRET_KEY: stack!.stripe.secretKey,
        ...(stack!.stripe.webhookSecret
          ? { STRIPE_WEBHOOK_SECRET: stack!.stripe.webhookSecret }
          : {}),
        ...(stack!.stripe.apiBase ? { STRIPE_API_BASE: stack!.stripe.apiBase } : {}),
      });
      try {
        const json = JSON.parse(readFileSync(report, "utf8"));
        const failed = json.numFailedTests + (code !== 0 && json.numFailedTests === 0 ? 1 : 0);
        return { passed: json.numPassedTests, failed };
      } catch {
        return { passed: 0, failed: 1 };
      }
    });
  } finally {
    await stack.stop();
  }

  console.log("\n=== summary");
  for (const r of results) {
    console.log(
      `${r.suite.padEnd(48)} ${String(r.passed).padStart(5)} passed ${
        String(r.failed).padStart(3)
      } failed  ${r.seconds.toFixed(1)}s`,
    );
  }
  const passed = results.reduce((sum, r) => sum + r.passed, 0);
  const failed = results.reduce((sum, r) => sum + r.failed, 0);
  console.log(`\n${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main().catch((error) => {
  console.error(error);
  console.log("\n0 passed, 1 failed");
  return 1;
});
