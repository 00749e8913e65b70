// `npm run admin -- <command> [args]`: the platform's admin tool. It works with the
// service-role key (RLS does not apply), and names the operator in an x-admin-actor header
// on every request, which the audit triggers record as the actor. Exit codes: 0 done,
// 1 the request failed, 2 bad command line.

import { parseArgs } from "node:util";
import { auditCommands } from "./admin/audit.ts";
import { billingCommands } from "./admin/billing.ts";
import type { Command, Context, Flags } from "./admin/command.ts";
import { connect, loadConnection, resolveOperator } from "./admin/connection.ts";
import { CommandError, UsageError } from "./admin/errors.ts";
import { inviteCommands } from "./admin/invites.ts";
import { jobCommands } from "./admin/jobs.ts";
import { notificationCommands } from "./admin/notifications.ts";
import { paymentCommands } from "./admin/payments.ts";
import type { Result } from "./admin/output.ts";
import { roleCommands } from "./admin/roles.ts";
import { sellerCommands } from "./admin/sellers.ts";
import { shopCommands } from "./admin/shop.ts";
import { userCommands } from "./admin/users.ts";

const commands: Command[] = [
  ...userCommands,
  ...roleCommands,
  ...sellerCommands,
  ...inviteCommands,
  ...auditCommands,
  ...paymentCommands,
  ...jobCommands,
  ...notificationCommands,
  ...billingCommands,
  ...shopCommands,
];

// Every flag any command takes; each command's schema refuses the ones it does not.
const STRING_FLAGS = [
  "as",
  "role",
  "status",
  "search",
  "limit",
  "expires",
  "reason",
  "duration",
  "uses",
  "note",
  "table",
  "days",
  "display-name",
  "username",
  "bio",
  "first-name",
  "last-name",
  "phone",
  "email",
  "title",
  "body",
  "category",
  "url",
  "locale",
  "signed-up-before",
  "signed-up-after",
  "key",
  "subject",
  "html",
  "html-file",
  "text",
  "text-file",
  "variables",
  "payload",
  "plan",
  "from",
  "to",
  "page",
  "price",
  "invoice",
  "request",
  "month",
];

function usage(): string {
  const lines = commands.map((command) =>
    `  ${command.name} ${command.synopsis}`.trimEnd() + `\n      ${command.summary}`
  );
  return [
    "Usage: npm run admin -- <command> [args] [--json] [--as OPERATOR]",
    "",
    "Commands:",
    ...lines,
    "",
    "<user> is a user id or e-mail address. Dates are YYYY-MM-DD (midnight UTC) or ISO timestamps.",
    "users edit and users impersonate act as the staff account --as names (its e-mail), whose",
    "permissions (users.manage, users.impersonate) the database checks.",
    "--json prints the result as JSON. --as names the operator the audit log records (default:",
    "ADMIN_ACTOR, else the OS user). Connects with SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY,",
    "or to the local stack started by `npm start` when both are unset.",
  ].join("\n");
}

interface Invocation {
  json: boolean;
  operator: string;
  run: (context: Context) => Promise<Result>;
}

/** The command line as an invocation; a UsageError when it is not a valid one; null for help. */
function parseCommandLine(argv: string[]): Invocation | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((name) => [name, { type: "string" as const }])),
        json: { type: "boolean" },
        "by-email": { type: "boolean" },
        refund: { type: "boolean" },
        pause: { type: "boolean" },
        resume: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    // parseArgs explains at length how to pass a positional starting with "-"; the first
    // sentence ("Unknown option '--x'") is what matters here.
    throw new UsageError((error as Error).message.split(". ")[0]);
  }
  const { as, json, help, ...flags } = parsed.values as Flags;
  const words = parsed.positionals;
  if (help || words[0] === "help") return null;
  if (words.length === 0) throw new UsageError("no command given");
  // The longest name that matches: `jobs run x` is `jobs run`, not `jobs` with arguments.
  const command = commands
    .filter((candidate) => candidate.name.split(" ").every((word, i) => words[i] === word))
    .sort((a, b) => b.name.split(" ").length - a.name.split(" ").length)[0];
  if (!command) throw new UsageError(`unknown command: ${words.slice(0, 2).join(" ")}`);
  return {
    json: json === true,
    operator: resolveOperator(typeof as === "string" ? as : undefined),
    run: command.parse(words.slice(command.name.split(" ").length), flags),
  };
}

async function main(argv: string[]): Promise<number> {
  let invocation: Invocation | null;
  try {
    invocation = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\n${usage()}\n`);
    return 2;
  }
  if (invocation === null) {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  try {
    const client = connect(loadConnection(), invocation.operator);
    const result = await invocation.run({ client, operator: invocation.operator });
    process.stdout.write(
      `${invocation.json ? JSON.stringify(result.data, null, 2) : result.text()}\n`,
    );
    return result.exitCode ?? 0;
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
