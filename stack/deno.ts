// Deno as the stack and the test runner start it. The edge functions import pinned `npm:`
// packages, which Deno downloads into its own cache (DENO_DIR) rather than node_modules.
// That download happens once, up front, in `fetchDenoDependencies`, with the user's
// certificate and proxy settings and against deno.lock (frozen, so a fresh machine gets
// exactly the tested versions); the functions router then runs from the cache only, so a
// network problem shows up as one clear message instead of a crashed stack.

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { denoBinary } from "./binaries.ts";
import { repoRoot } from "./config.ts";

/**
 * What Deno reads to reach the npm registry from behind a proxy with its own certificate
 * authority. Deno itself trusts DENO_CERT, NODE_EXTRA_CA_CERTS and the stores named by
 * DENO_TLS_CA_STORE; SSL_CERT_FILE and SSL_CERT_DIR take effect through the `system` store.
 */
export const DENO_NETWORK_VARIABLES = [
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "NODE_EXTRA_CA_CERTS",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "NPM_CONFIG_REGISTRY",
  "DENO_AUTH_TOKENS",
] as const;

/**
 * The environment every Deno process of the stack and the test runner gets: PATH, HOME,
 * DENO_DIR and the network settings above, nothing else from the caller. Unless the user
 * chose stores, Deno trusts Mozilla's roots and the operating system's (which is where a
 * corporate CA is installed, and what SSL_CERT_FILE/SSL_CERT_DIR point the system store at),
 * as curl, apt and npm do. Loopback is added to NO_PROXY when a proxy is set.
 */
export function denoEnvironment(source: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: source.PATH, HOME: source.HOME ?? homedir() };
  if (source.DENO_DIR) env.DENO_DIR = source.DENO_DIR;
  for (const name of DENO_NETWORK_VARIABLES) {
    if (source[name]) env[name] = source[name];
  }
  env.DENO_TLS_CA_STORE ??= "mozilla,system";
  // The functions call the stack on loopback: never through the user's proxy.
  if (env.HTTP_PROXY || env.HTTPS_PROXY || env.http_proxy || env.https_proxy) {
    const noProxy = [env.NO_PROXY ?? env.no_proxy, "localhost", "127.0.0.1", "::1"].filter(Boolean)
      .join(",");
    env.NO_PROXY = env.no_proxy = noProxy;
  }
  return env;
}

/** Where Deno keeps its cache for this environment (for messages only). */
export function denoCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DENO_DIR || join(env.XDG_CACHE_HOME || join(env.HOME ?? homedir(), ".cache"), "deno");
}

/** Every module Deno runs here: the functions' entrypoints, the router, and the function tests. */
export function denoEntrypoints(): string[] {
  const files: string[] = [join(repoRoot, "stack", "functions-router.ts")];
  const functionsDir = join(repoRoot, "functions");
  for (const entry of readdirSync(functionsDir, { withFileTypes: true })) {
    const index = join(functionsDir, entry.name, "index.ts");
    if (entry.isDirectory() && existsSync(index)) files.push(index);
  }
  const testsDir = join(repoRoot, "tests", "functions");
  for (const name of readdirSync(testsDir, { recursive: true }) as string[]) {
    if (name.endsWith("_test.ts")) files.push(join(testsDir, name));
  }
  return files.sort();
}

/** The npm packages deno.lock pins directly (what the functions import), for the progress line. */
function lockedPackages(): string[] {
  const lockFile = join(repoRoot, "deno.lock");
  if (!existsSync(lockFile)) return [];
  const lock = JSON.parse(readFileSync(lockFile, "utf8")) as {
    specifiers?: Record<string, string>;
  };
  return Object.keys(lock.specifiers ?? {}).map((specifier) => specifier.replace(/^npm:/, ""));
}

export class DenoFetchError extends Error {}

let fetchedHere = false;

/**
 * Turns Deno's output of a failed fetch into what the user needs: which package, why, and
 * what to set. Exported for its unit test.
 */
export function explainFetchFailure(output: string, env: NodeJS.ProcessEnv = process.env): string {
  // deno-lint-ignore no-control-regex -- strips ANSI colour codes, which begin with ESC
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const pkg = /Failed caching npm package '([^']+)'/.exec(plain)?.[1] ??
    /error sending request for url \((\S+?)\)/.exec(plain)?.[1] ??
    /Could not find npm package '([^']+)'/.exec(plain)?.[1];
  const lines = plain.split("\n").map((line) => line.trim()).filter(Boolean);
  const cause = [...lines].reverse().find((line) => /^\d+: /.test(line))?.replace(/^\d+: /, "") ??
    lines.find((line) => line.startsWith("error:"))?.replace(/^error:\s*/, "") ??
    lines.at(-1) ?? "Deno exited without saying why";

  let advice: string;
  if (/certificate|UnknownIssuer|CaUsedAsEndEntity|tls|ssl/i.test(cause)) {
    advice =
      "Deno does not trust the certificate the registry answered with, which is what a proxy with its own " +
      "certificate authority looks like. Set SSL_CERT_FILE or DENO_CERT to your CA bundle (on Debian: " +
      "/etc/ssl/certs/ca-certificates.crt, after update-ca-certificates)" +
      (env.DENO_TLS_CA_STORE && !env.DENO_TLS_CA_STORE.includes("system")
        ? `, and add "system" to DENO_TLS_CA_STORE (now "${env.DENO_TLS_CA_STORE}")`
        : "") +
      ", then run the command again.";
  } else if (
    /dns|resolve|lookup|connection refused|timed out|tcp connect|network is unreachable|proxy/i
      .test(cause)
  ) {
    advice =
      "Deno could not reach the npm registry. Behind a proxy, set HTTPS_PROXY (and NO_PROXY=localhost,127.0.0.1); " +
      "a private registry mirror goes in NPM_CONFIG_REGISTRY. Then run the command again.";
  } else if (/lockfile|lock file|integrity|checksum/i.test(cause) || /frozen/i.test(plain)) {
    advice =
      "deno.lock does not match what the functions import. If you changed an `npm:` version on purpose, " +
      "run `node_modules/.bin/deno install --entrypoint functions/*/index.ts` once without --frozen and commit deno.lock.";
  } else {
    advice =
      "Run the command again; if it fails the same way, run `node_modules/.bin/deno install --frozen " +
      "--entrypoint functions/health/index.ts` to see Deno's whole output.";
  }
  const what = pkg ? `the npm package ${pkg}` : "the edge functions' npm packages";
  return `Deno could not download ${what} into ${
    denoCacheDir(env)
  }.\n  Cause: ${cause}\n  ${advice}`;
}

/**
 * Downloads every npm package the functions, the router and the function tests import into
 * Deno's cache, as deno.lock pins them. Prints one line of progress; a warm cache makes this
 * a check that takes about a second. Throws DenoFetchError with the package, the cause and
 * what to set.
 */
export async function fetchDenoDependencies(
  { source = process.env, log = console.log }: {
    source?: NodeJS.ProcessEnv;
    log?: (line: string) => void;
  } = {},
): Promise<void> {
  // `npm test` fetches before its Deno suites and then starts the stack: once per process.
  if (source === process.env && fetchedHere) return;
  const env = denoEnvironment(source);
  const entrypoints = denoEntrypoints();
  const packages = lockedPackages();
  log(
    `Deno: fetching the functions' npm packages (${packages.join(", ")}) as deno.lock pins them, ` +
      `into ${denoCacheDir(env)} …`,
  );
  const begun = Date.now();
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    const child = spawn(
      denoBinary(),
      [
        "install",
        "--frozen",
        "--entrypoint",
        ...entrypoints.map((file) => relative(repoRoot, file)),
      ],
      { cwd: repoRoot, env: { ...env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", (error) => resolve({ code: 127, output: `error: ${error.message}` }));
    child.on("close", (status) => resolve({ code: status ?? 1, output }));
  });
  if (code !== 0) throw new DenoFetchError(explainFetchFailure(output, env));
  if (source === process.env) fetchedHere = true;
  const downloaded = (output.match(/^Download /gm) ?? []).length;
  log(
    `Deno: ${downloaded ? `downloaded ${downloaded} files` : "all cached"} ` +
      `in ${((Date.now() - begun) / 1000).toFixed(1)}s`,
  );
}
