// The admin CLI as a subprocess, the way an operator runs it.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SERVICE_ROLE_KEY, SUPABASE_URL } from "./clients.ts";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the admin CLI (`tsx scripts/admin.ts <args>`) with the project's URL and service-role key. */
export function runAdminCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const { ADMIN_ACTOR: _, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    execFile(
      `${repoRoot}node_modules/.bin/tsx`,
      ["scripts/admin.ts", ...args],
      {
        cwd: repoRoot,
        env: { ...inherited, SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY, ...env },
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") return reject(error);
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}
