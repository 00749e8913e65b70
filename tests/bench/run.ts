// `npm run bench`: load tests against a stack of its own (the `bench` profile: its own ports and
// data folder, per STACK_INSTANCE), measured as ratios within one run so the numbers mean
// something on any machine. Prints progress while it seeds and loads, a summary against the
// targets, and writes every number with the commit to .stack/bench-results/<time>-<commit>.json.
//
//   npm run bench                          every scenario (a few minutes)
//   npm run bench -- profiles webhooks     the named scenarios only
//   npm run bench -- --compare a.json b.json   two results files side by side

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, relative } from "node:path";
import pg from "pg";
import { repoRoot, stackConfig } from "../../stack/config.ts";
import { type Check, type ScenarioResult, scenarios } from "./scenarios.ts";
import { seconds, startBenchStack } from "./support.ts";

interface ResultsFile {
  commit: string;
  /** Uncommitted changes in the working tree when the benchmark ran. */
  dirty: boolean;
  startedAt: string;
  seconds: number;
  stackInstance: number;
  cpus: number;
  loadAverage: { before: number[]; after: number[] };
  scenarios: Record<string, (ScenarioResult & { seconds: number }) | { error: string }>;
}

function git(...args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: repoRoot, stdio: ["ignore", "pipe", "ignore"] })
      .toString().trim();
  } catch {
    return "";
  }
}

function verdict(check: Check): string {
  if (check.min === undefined && check.below === undefined) return "measured (no target)";
  const ok = check.min !== undefined ? check.value >= check.min : check.value < check.below!;
  const target = check.min !== undefined ? `>= ${check.min}` : `< ${check.below}`;
  return `${ok ? "ok   " : "BELOW"} target ${target}`;
}

function formatValue(check: Check): string {
  const digits = check.unit === "/s" ? 0 : check.unit === "ms" ? 3 : 2;
  return `${check.value.toFixed(digits)} ${check.unit}`;
}

function compare(files: string[]): void {
  const [a, b] = files.map((file) => JSON.parse(readFileSync(file, "utf8")) as ResultsFile);
  const label = (r: ResultsFile) => `${r.commit.slice(0, 10)}${r.dirty ? "+" : ""}`;
  console.log(`${"".padEnd(46)} ${label(a).padStart(16)} ${label(b).padStart(16)}`);
  const names = [...new Set([...Object.keys(a.scenarios), ...Object.keys(b.scenarios)])];
  for (const name of names) {
    const checksOf = (r: ResultsFile) => {
      const s = r.scenarios[name];
      return s && "checks" in s ? s.checks : [];
    };
    const rows = [...new Set([...checksOf(a), ...checksOf(b)].map((c) => c.row))];
    for (const row of rows) {
      const cell = (r: ResultsFile) => {
        const check = checksOf(r).find((c) => c.row === row);
        return check ? formatValue(check) : "-";
      };
      console.log(`${row.padEnd(46)} ${cell(a).padStart(16)} ${cell(b).padStart(16)}`);
    }
  }
}

const args = process.argv.slice(2);
if (args[0] === "--compare") {
  if (args.length !== 3) {
    console.error("usage: npm run bench -- --compare <results.json> <results.json>");
    process.exit(2);
  }
  compare(args.slice(1));
  process.exit(0);
}
const unknown = args.filter((name) => !scenarios.some((s) => s.name === name));
if (unknown.length > 0) {
  console.error(
    `unknown scenario ${unknown.join(", ")}\nusage: npm run bench [-- ${
      scenarios.map((s) => s.name).join(" | ")
    } ...] or npm run bench -- --compare <a.json> <b.json>`,
  );
  process.exit(2);
}
const selected = scenarios.filter((s) => args.length === 0 || args.includes(s.name));

const config = stackConfig("bench");
const begun = performance.now();
const results: ResultsFile = {
  commit: git("rev-parse", "HEAD") || "unknown",
  dirty: git("status", "--porcelain", "--untracked-files=no") !== "",
  startedAt: new Date().toISOString(),
  seconds: 0,
  stackInstance: Number(process.env.STACK_INSTANCE ?? 0),
  cpus: cpus().length,
  loadAverage: { before: loadavg(), after: [] },
  scenarios: {},
};
console.log(
  `Benchmark at ${results.commit.slice(0, 10)}${
    results.dirty ? " (with uncommitted changes)" : ""
  }: ${selected.map((s) => s.name).join(", ")}. ${results.cpus} CPUs, load average ${
    results.loadAverage.before.map((l) => l.toFixed(1)).join(" ")
  }.`,
);
console.log(
  `Starting the bench stack (${config.apiUrl}, data in ${relative(repoRoot, config.dataDir)}) …`,
);
const stack = await startBenchStack();
console.log(`Stack ready in ${seconds(performance.now() - begun)}.`);
try {
  const db = new pg.Client({ connectionString: stack.dbUrl });
  await db.connect();
  // PostgREST answers with the plan it runs (Accept: application/vnd.pgrst.plan), which the RLS
  // scenarios print when they fall short. The bench's own throw-away database only.
  await db.query("alter role authenticator set pgrst.db_plan_enabled to 'true'");
  await db.query("notify pgrst, 'reload config'");
  for (const scenario of selected) {
    console.log(`\n[${scenario.name}] ${scenario.describe}`);
    const scenarioBegun = performance.now();
    try {
      const result = await scenario.run(stack, db);
      results.scenarios[scenario.name] = {
        ...result,
        seconds: (performance.now() - scenarioBegun) / 1000,
      };
    } catch (error) {
      console.error(`  failed: ${error instanceof Error ? error.message : error}`);
      results.scenarios[scenario.name] = { error: String(error) };
    }
    console.log(`  (${seconds(performance.now() - scenarioBegun)})`);
  }
  await db.end();
} finally {
  await stack.stop();
}

results.seconds = (performance.now() - begun) / 1000;
results.loadAverage.after = loadavg();
console.log(
  `\nSummary (${seconds(results.seconds * 1000)}; load average now ${
    results.loadAverage.after.map((l) => l.toFixed(1)).join(" ")
  }):`,
);
for (const [name, result] of Object.entries(results.scenarios)) {
  if ("error" in result) {
    console.log(`  ${name.padEnd(44)} failed`);
    continue;
  }
  for (const check of result.checks) {
    console.log(`  ${check.row.padEnd(44)} ${formatValue(check).padStart(12)}   ${verdict(check)}`);
  }
}
const dir = join(repoRoot, ".stack", "bench-results");
mkdirSync(dir, { recursive: true });
const file = join(
  dir,
  `${results.startedAt.replace(/[:.]/g, "-")}-${results.commit.slice(0, 10)}.json`,
);
writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
console.log(
  `\nResults: ${
    relative(repoRoot, file)
  }\nCompare two runs: npm run bench -- --compare <older.json> ${relative(repoRoot, file)}`,
);
if (Object.values(results.scenarios).some((r) => "error" in r)) process.exitCode = 1;
