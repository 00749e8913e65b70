// How a command is declared: its words, its arguments as a zod schema, and the work it does
// once connected. Validation happens before any connection, so a bad command line never
// touches the project.

import { z } from "zod";
import type { AdminClient } from "./connection.ts";
import { UsageError } from "./errors.ts";
import type { Result } from "./output.ts";

export interface Context {
  client: AdminClient;
  /** Who runs the command (--as, ADMIN_ACTOR, else the OS user), as the audit log names them. */
  operator: string;
}

export type Flags = Record<string, string | boolean | undefined>;

export interface Command {
  /** The command words, e.g. "roles assign". */
  name: string;
  /** Arguments and flags as the usage text shows them. */
  synopsis: string;
  summary: string;
  /** Validates the command line; the returned function does the work. */
  parse(positionals: string[], flags: Flags): (context: Context) => Promise<Result>;
}

interface CommandSpec<Input extends z.ZodObject> {
  name: string;
  /** Names of the positional arguments, in order; all are required. */
  args?: string[];
  synopsis?: string;
  summary: string;
  /** Every positional argument and flag of the command; any other flag is refused. */
  input: Input;
  run(context: Context, input: z.output<Input>): Promise<Result>;
}

export function defineCommand<Input extends z.ZodObject>(spec: CommandSpec<Input>): Command {
  const argNames = spec.args ?? [];
  const label = (
    key: PropertyKey,
  ) => (argNames.includes(String(key)) ? `<${String(key)}>` : `--${String(key)}`);
  return {
    name: spec.name,
    synopsis: spec.synopsis ?? argNames.map((name) => `<${name}>`).join(" "),
    summary: spec.summary,
    parse(positionals, flags) {
      if (positionals.length < argNames.length) {
        throw new UsageError(`${spec.name}: missing <${argNames[positionals.length]}>`);
      }
      if (positionals.length > argNames.length) {
        throw new UsageError(
          `${spec.name}: unexpected argument ${JSON.stringify(positionals[argNames.length])}`,
        );
      }
      const foreign = Object.keys(flags).filter((flag) => !(flag in spec.input.shape));
      if (foreign.length > 0) {
        throw new UsageError(`${spec.name}: --${foreign[0]} is not an option of this command`);
      }
      const raw = {
        ...flags,
        ...Object.fromEntries(argNames.map((name, i) => [name, positionals[i]])),
      };
      const parsed = spec.input.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new UsageError(`${spec.name}: ${label(issue.path[0] ?? "")}: ${issue.message}`);
      }
      return (context) => spec.run(context, parsed.data);
    },
  };
}

// ---------------------------------------------------------------------------------------
// Argument types several commands share.

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUserId = (reference: string) => UUID_PATTERN.test(reference);

/** <user>: a user's id or e-mail address. */
export const userReference = z.string().trim().refine(
  (value) => isUserId(value) || z.email().safeParse(value).success,
  "must be a user id or an e-mail address",
);

export const uuid = z.string().regex(UUID_PATTERN, "must be an id (a UUID)");

/** A role's name, in the form roles_name_format allows. */
export const roleName = z.string().regex(
  /^[a-z][a-z0-9_]{1,39}$/,
  "must be a role name like moderator",
);

/** A whole number between min and max given as a flag's text. */
export const wholeNumber = (min: number, max: number) =>
  z.coerce
    .number({
      error: (issue) => (issue.code === "invalid_type" ? "must be a whole number" : undefined),
    })
    .int()
    .min(min)
    .max(max);

export const limit = (fallback: number) => wholeNumber(1, 1000).default(fallback);

const isoDate = z.iso.date();
const isoTimestamp = z.iso.datetime({ offset: true });

/** A future moment: YYYY-MM-DD (midnight UTC, when that day begins) or an ISO timestamp; as ISO. */
export const futureTime = z.string().transform((text, context) => {
  const iso = isoDate.safeParse(text).success
    ? `${text}T00:00:00Z`
    : isoTimestamp.safeParse(text).success
    ? text
    : null;
  if (iso === null) {
    context.addIssue({ code: "custom", message: "must be YYYY-MM-DD or an ISO timestamp" });
    return z.NEVER;
  }
  const moment = new Date(iso);
  if (moment.getTime() <= Date.now()) {
    context.addIssue({ code: "custom", message: "must be in the future" });
    return z.NEVER;
  }
  return moment.toISOString();
});
