// The functions' npm packages are fetched once, before the stack serves anything, with the
// user's certificate and proxy settings; a failure says which package, why, and what to set.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  denoEntrypoints,
  denoEnvironment,
  DenoFetchError,
  explainFetchFailure,
  fetchDenoDependencies,
} from "../../../stack/deno.ts";

// What Deno 2.9 prints when a TLS-intercepting proxy's CA is not trusted (ANSI colours kept).
const untrustedCa = [
  "\x1b[0m\x1b[32mDownload\x1b[0m https://registry.npmjs.org/jose/-/jose-6.2.17.tgz",
  "\x1b[0m\x1b[1m\x1b[31merror\x1b[0m: Failed caching npm package 'jose@6.2.17'",
  "    0: error sending request for url (https://registry.npmjs.org/jose/-/jose-6.2.17.tgz): client error (Connect): invalid peer certificate: UnknownIssuer",
  "    1: client error (Connect)",
  "    2: invalid peer certificate: UnknownIssuer",
].join("\n");

describe("Deno's environment", () => {
  it("passes certificate and proxy settings through and nothing else", () => {
    const env = denoEnvironment({
      PATH: "/usr/bin",
      HOME: "/home/u",
      DENO_DIR: "/cache/deno",
      SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt",
      NODE_EXTRA_CA_CERTS: "/ca.pem",
      SECRET_TOKEN: "not for deno",
    });
    expect(env).toEqual({
      PATH: "/usr/bin",
      HOME: "/home/u",
      DENO_DIR: "/cache/deno",
      SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt",
      NODE_EXTRA_CA_CERTS: "/ca.pem",
      DENO_TLS_CA_STORE: "mozilla,system",
    });
  });

  it("keeps the user's choice of certificate stores", () => {
    expect(
      denoEnvironment({ PATH: "/bin", HOME: "/h", DENO_TLS_CA_STORE: "system" }).DENO_TLS_CA_STORE,
    ).toBe("system");
  });

  it("never sends loopback through the proxy", () => {
    const env = denoEnvironment({
      PATH: "/bin",
      HOME: "/h",
      HTTPS_PROXY: "http://proxy:3128",
      NO_PROXY: "corp.example",
    });
    expect(env.HTTPS_PROXY).toBe("http://proxy:3128");
    expect(env.NO_PROXY).toBe("corp.example,localhost,127.0.0.1,::1");
    expect(env.no_proxy).toBe(env.NO_PROXY);
  });
});

describe("what is fetched", () => {
  it("covers the router, every function and every function test, in subfolders too", () => {
    const files = denoEntrypoints();
    expect(files.some((file) => file.endsWith("stack/functions-router.ts"))).toBe(true);
    expect(files.some((file) => file.endsWith("functions/stripe-webhook/index.ts"))).toBe(true);
    expect(files.some((file) => /tests\/functions\/[a-z]+\/[a-z_]+_test\.ts$/.test(file))).toBe(
      true,
    );
  });
});

describe("a failed download", () => {
  it("names the package, the cause and the certificate settings for an untrusted CA", () => {
    const message = explainFetchFailure(untrustedCa, { DENO_DIR: "/cache/deno" });
    expect(message).toContain(
      "Deno could not download the npm package jose@6.2.17 into /cache/deno.",
    );
    expect(message).toContain("Cause: invalid peer certificate: UnknownIssuer");
    expect(message).toContain("Set SSL_CERT_FILE or DENO_CERT to your CA bundle");
  });

  it("says to add the system store when the user narrowed the stores", () => {
    const message = explainFetchFailure(untrustedCa, {
      DENO_DIR: "/d",
      DENO_TLS_CA_STORE: "mozilla",
    });
    expect(message).toContain('add "system" to DENO_TLS_CA_STORE (now "mozilla")');
  });

  it("says to set the proxy when the registry cannot be reached", () => {
    const output =
      "error: Failed caching npm package 'zod@4.6.7'\n    0: error sending request for url (https://registry.npmjs.org/zod/-/zod-4.6.7.tgz): client error (Connect): tcp connect error: Connection refused (os error 111)\n    1: Connection refused (os error 111)";
    const message = explainFetchFailure(output, { DENO_DIR: "/d" });
    expect(message).toContain("the npm package zod@4.6.7");
    expect(message).toContain("Cause: Connection refused (os error 111)");
    expect(message).toContain("set HTTPS_PROXY");
  });

  const emptyCache = mkdtempSync(join(tmpdir(), "deno-cold-"));
  afterAll(() => rmSync(emptyCache, { recursive: true, force: true }));

  it("stops before anything is served, with that message, on a machine with an empty cache", async () => {
    const lines: string[] = [];
    const fetching = fetchDenoDependencies({
      // A proxy nobody listens on: the download fails at once, without touching the network.
      source: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DENO_DIR: emptyCache,
        HTTPS_PROXY: "http://127.0.0.1:9",
      },
      log: (line) => lines.push(line),
    });
    await expect(fetching).rejects.toThrow(DenoFetchError);
    await expect(fetching).rejects.toThrow(
      /Deno could not download the npm package \S+@\d[^ ]* into .*deno-cold-/,
    );
    await expect(fetching).rejects.toThrow(/set HTTPS_PROXY/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^Deno: fetching the functions' npm packages \(.*zod@4\.6\.7.*\) as deno\.lock pins them/,
    );
  });
});
