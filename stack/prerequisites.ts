// What the Docker-less stack needs from the operating system, and how to get it. As root
// on Debian or Ubuntu the stack installs what is missing with apt-get; otherwise it says
// what is missing and the command that installs it.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

export const APT_PACKAGES = [
  "postgresql-15",
  "postgresql-15-pgtap",
  "postgresql-15-cron",
  "postgresql-15-plpgsql-check",
  "postgresql-15-wal2json",
  "libtap-parser-sourcehandler-pgtap-perl",
];

interface Requirement {
  what: string;
  present: () => boolean;
}

const requirements: Requirement[] = [
  {
    what: "PostgreSQL 15 server (initdb, postgres)",
    present: () => existsSync(`${PG_BIN}/postgres`),
  },
  { what: "psql", present: () => onPath("psql") },
  {
    what: "pg_cron extension",
    present: () => existsSync("/usr/share/postgresql/15/extension/pg_cron.control"),
  },
  {
    what: "pgTAP extension",
    present: () => existsSync("/usr/share/postgresql/15/extension/pgtap.control"),
  },
  {
    what: "plpgsql_check extension",
    present: () => existsSync("/usr/share/postgresql/15/extension/plpgsql_check.control"),
  },
  {
    // The Realtime stand-in's Postgres Changes read the WAL through it, as Supabase Realtime does.
    what: "wal2json output plugin",
    present: () => existsSync("/usr/lib/postgresql/15/lib/wal2json.so"),
  },
  { what: "pg_prove", present: () => onPath("pg_prove") },
];

function onPath(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Ensures the apt packages are present, installing them as root; throws with instructions otherwise. */
export function ensurePrerequisites(): void {
  let missing = requirements.filter((requirement) => !requirement.present());
  if (missing.length === 0) return;
  const install = `apt-get install -y ${APT_PACKAGES.join(" ")}`;
  if (isRoot() && onPath("apt-get")) {
    console.log(`Installing what the local stack needs: ${missing.map((m) => m.what).join(", ")}`);
    try {
      execFileSync("sh", [
        "-c",
        `apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${install} -qq`,
      ], {
        stdio: "inherit",
      });
    } catch (error) {
      const status = (error as { status?: number }).status;
      throw new Error(
        `apt-get could not install what the local stack needs (exit ${
          status ?? "unknown"
        }; its output is above).\n` +
          "Behind a proxy, apt needs it in /etc/apt/apt.conf.d/ (Acquire::http::Proxy and Acquire::https::Proxy) " +
          "and the proxy's CA in /usr/local/share/ca-certificates/ followed by update-ca-certificates.\n" +
          `Then run the command again, or install them yourself:\n  ${install}`,
      );
    }
    missing = requirements.filter((requirement) => !requirement.present());
    if (missing.length === 0) return;
  }
  throw new Error(
    `The local stack needs: ${missing.map((m) => m.what).join(", ")}.\n` +
      `Install them with:\n  sudo apt-get update && sudo ${install}`,
  );
}
