// Where the CLI connects and as whom: the project URL and service-role key from the
// environment, or from the running local stack's status file, and the operator whose name
// every request carries in x-admin-actor so the audit log records who did what.

import { existsSync, readFileSync } from "node:fs";
import { userInfo } from "node:os";
import { parseEnv } from "node:util";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import ws from "ws";
import { z } from "zod";
import type { Database } from "../../types/database.ts";
import { stackConfig } from "../../stack/config.ts";
import { CommandError, UsageError } from "./errors.ts";

export type AdminClient = SupabaseClient<Database>;

interface Connection {
  url: string;
  serviceRoleKey: string;
}

/**
 * SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY when set; when both are unset, the API_URL
 * and SERVICE_ROLE_KEY of the local stack `npm start` runs (it writes them to its status
 * file and removes it on stop). Setting only one is refused rather than mixing projects.
 */
export function loadConnection(env: NodeJS.ProcessEnv = process.env): Connection {
  const url = env.SUPABASE_URL;
  const serviceRoleKey = env.SUPABASE_SERVICE_ROLE_KEY;
  if (url && serviceRoleKey) return { url, serviceRoleKey };
  if (url || serviceRoleKey) {
    const missing = url ? "SUPABASE_SERVICE_ROLE_KEY" : "SUPABASE_URL";
    throw new CommandError(
      `${missing} is not set (SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY go together)`,
    );
  }
  return loadLocalStackConnection();
}

function loadLocalStackConnection(): Connection {
  const status = localStackStatus(
    ["API_URL", "SERVICE_ROLE_KEY"],
    "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are not set",
  );
  return { url: status.API_URL, serviceRoleKey: status.SERVICE_ROLE_KEY };
}

/**
 * The running local dev stack's URLs and keys (the `NAME="value"` lines `supabase status -o
 * env` prints), failing with `why` when the stack is not running or a needed line is missing.
 */
export function localStackStatus(needed: string[], why: string): Record<string, string> {
  const statusFile = stackConfig("dev").statusFile;
  if (!existsSync(statusFile)) {
    throw new CommandError(
      `${why}, and no local stack is running (${statusFile} is missing): export them, or run \`npm start\``,
    );
  }
  const status = parseEnv(readFileSync(statusFile, "utf8")) as Record<string, string>;
  const missing = needed.filter((name) => !status[name]);
  if (missing.length > 0) {
    throw new CommandError(`${statusFile} has no ${missing.join(" or ")} line`);
  }
  return status;
}

// An HTTP header value: printable ASCII, so an e-mail or a login name.
const operatorName = z.string().trim().min(1).max(200).regex(
  /^[\x20-\x7e]+$/,
  "must be printable ASCII",
);

/** The operator: --as, else ADMIN_ACTOR, else the OS user running the CLI. */
export function resolveOperator(
  asFlag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const candidate = asFlag ?? env.ADMIN_ACTOR ?? userInfo().username;
  const parsed = operatorName.safeParse(candidate);
  if (!parsed.success) {
    throw new UsageError(
      `operator name ${JSON.stringify(candidate)} ${parsed.error.issues[0].message}`,
    );
  }
  return parsed.data;
}

export function connect(connection: Connection, operator: string): AdminClient {
  return createClient<Database>(connection.url, connection.serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { headers: { "x-admin-actor": operator } },
    // Node 20 has no global WebSocket, which the realtime client looks for when created.
    realtime: { transport: ws as never },
  });
}
