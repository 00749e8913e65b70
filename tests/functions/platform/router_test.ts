// Runs stack/functions-router.ts as the stack does, as a subprocess, with the health function
// (verifyJwt false) and the echo fixture (verifyJwt true).
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { SignJWT } from "npm:jose@6.2.17";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const routerPath = fileURLToPath(new URL("../../../stack/functions-router.ts", import.meta.url));
const jwtSecret = "router-test-secret-with-at-least-32-characters";

const fixture = (name: string) =>
  fileURLToPath(new URL(`./fixtures/${name}/index.ts`, import.meta.url));
const manifest = [
  {
    name: "health",
    entrypoint: fileURLToPath(new URL("../../../functions/health/index.ts", import.meta.url)),
    verifyJwt: false,
  },
  { name: "echo", entrypoint: fixture("echo"), verifyJwt: true },
];

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  return listener.addr.port;
}

function routerCommand(env: Record<string, string>, stdout: "piped" | "inherit" = "piped") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-env", "--allow-read", "--allow-net", routerPath],
    cwd: repoRoot,
    env,
    stdout,
    stderr: "piped",
  });
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (pending + chunk).split("\n");
    pending = parts.pop()!;
    yield* parts;
  }
  if (pending) yield pending;
}

/** Starts the router and resolves once it listens; stop() ends it and returns its output. */
async function startRouter() {
  const port = freePort();
  const child = routerCommand({
    FUNCTIONS_PORT: String(port),
    FUNCTIONS_MANIFEST: JSON.stringify(manifest),
    JWT_SECRET: jwtSecret,
  }).spawn();
  const stdout: string[] = [];
  const listening = Promise.withResolvers<void>();
  const stdoutRead = (async () => {
    for await (const line of lines(child.stdout)) {
      stdout.push(line);
      if (line.startsWith("functions-router listening on")) listening.resolve();
    }
  })();
  const stderrRead = new Response(child.stderr).text();
  stdoutRead.finally(() => listening.reject(new Error("the router exited before listening")));
  const stop = async () => {
    try {
      child.kill();
    } catch {
      // It has already exited.
    }
    await child.status;
    await stdoutRead;
    return { stdout, stderr: await stderrRead };
  };
  try {
    await listening.promise;
  } catch (err) {
    const { stderr } = await stop();
    throw new Error(`${err}\n${stderr}`);
  }
  return { url: `http://127.0.0.1:${port}`, stop };
}

function signJwt(secret: string, expiresIn = "1h"): Promise<string> {
  return new SignJWT({ role: "anon", iss: "supabase-demo" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

async function fetchJson(url: string, init?: RequestInit) {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

Deno.test("functions router", async (t) => {
  const router = await startRouter();
  let output: { stdout: string[]; stderr: string } | undefined;
  try {
    await t.step("an unknown function is a 404 as Supabase answers it", async () => {
      deepStrictEqual(await fetchJson(`${router.url}/nope/anything`), {
        status: 404,
        body: { code: "NOT_FOUND", message: "Requested function was not found" },
      });
    });

    await t.step("a function without verifyJwt is served without a token", async () => {
      const { status, body } = await fetchJson(`${router.url}/health`);
      strictEqual(status, 200);
      // health's own answer; "degraded": no database stands behind the router here.
      strictEqual(body.status, "degraded");
    });

    await t.step("a verifyJwt function refuses a request without a token", async () => {
      deepStrictEqual(await fetchJson(`${router.url}/echo`), {
        status: 401,
        body: { code: 401, message: "Missing authorization header" },
      });
    });

    await t.step("a verifyJwt function refuses invalid tokens", async () => {
      const invalid = [
        "not-a-jwt",
        await signJwt("another-secret-with-at-least-32-characters"),
        await signJwt(jwtSecret, "-1m"),
      ];
      for (const token of invalid) {
        deepStrictEqual(
          await fetchJson(`${router.url}/echo`, { headers: { Authorization: `Bearer ${token}` } }),
          { status: 401, body: { code: 401, message: "Invalid JWT" } },
          token,
        );
      }
    });

    await t.step("a valid token passes, and the function sees /<name>/... in req.url", async () => {
      const token = await signJwt(jwtSecret);
      deepStrictEqual(
        await fetchJson(`${router.url}/echo/listings/42?draft=true`, {
          method: "POST",
          headers: { Authorization: `Bearer ${token}` },
        }),
        {
          status: 200,
          body: { method: "POST", pathname: "/echo/listings/42", search: "?draft=true" },
        },
      );
    });

    await t.step("a CORS preflight reaches a verifyJwt function without a token", async () => {
      const { status, body } = await fetchJson(`${router.url}/echo`, { method: "OPTIONS" });
      strictEqual(status, 200);
      strictEqual(body.method, "OPTIONS");
    });
  } finally {
    output = await router.stop();
  }

  await t.step("one log line per request: method, path, status and time", () => {
    ok(output.stdout.some((line) => /^GET \/nope\/anything 404 \d+ms$/.test(line)));
    ok(output.stdout.some((line) => /^GET \/health 200 \d+ms$/.test(line)));
    ok(output.stdout.some((line) => /^POST \/echo\/listings\/42 200 \d+ms$/.test(line)));
  });
});

async function runToFailure(env: Record<string, string>): Promise<string> {
  const { code, stderr } = await routerCommand(env, "inherit").output();
  const message = new TextDecoder().decode(stderr);
  ok(code !== 0, "the router should have exited with an error");
  return message;
}

Deno.test("the router exits with a clear message on a bad manifest", async () => {
  const base = { FUNCTIONS_PORT: String(freePort()), JWT_SECRET: jwtSecret };
  ok((await runToFailure({ ...base, FUNCTIONS_MANIFEST: "{not json" })).includes("is not JSON"));
  const relative = JSON.stringify([{ name: "echo", entrypoint: "echo.ts", verifyJwt: true }]);
  ok((await runToFailure({ ...base, FUNCTIONS_MANIFEST: relative })).includes("absolute path"));
});

Deno.test("the router refuses to start when a function never calls Deno.serve", async () => {
  const manifest = JSON.stringify([
    { name: "no_serve", entrypoint: fixture("no_serve"), verifyJwt: false },
  ]);
  const message = await runToFailure({
    FUNCTIONS_PORT: String(freePort()),
    FUNCTIONS_MANIFEST: manifest,
    JWT_SECRET: jwtSecret,
  });
  ok(message.includes('cannot load function "no_serve"'), message);
  ok(message.includes("called Deno.serve 0 times"), message);
});
