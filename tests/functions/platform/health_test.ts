import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { handler } from "../../../functions/health/handler.ts";
import { VERSION } from "../../../functions/_shared/platform/version.ts";

Deno.test("GET /health answers ok with the version and the time", async () => {
  const res = await handler(new Request("http://localhost/health"));
  strictEqual(res.status, 200);
  strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
  const body = await res.json();
  deepStrictEqual(Object.keys(body).sort(), ["status", "time", "version"]);
  strictEqual(body.status, "ok");
  strictEqual(body.version, VERSION);
  strictEqual(new Date(body.time).toISOString(), body.time);
});

Deno.test("the version functions report is package.json's", async () => {
  const packageJson = JSON.parse(
    await Deno.readTextFile(new URL("../../../package.json", import.meta.url)),
  );
  strictEqual(VERSION, packageJson.version);
});

Deno.test("other methods than GET get 405 in the error format", async () => {
  const res = await handler(new Request("http://localhost/health", { method: "POST" }));
  strictEqual(res.status, 405);
  strictEqual(res.headers.get("Allow"), "GET");
  strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
  const body = await res.json();
  strictEqual(body.error.code, "method_not_allowed");
  strictEqual(typeof body.error.message, "string");
});

Deno.test("a CORS preflight is answered with the headers supabase-js sends", async () => {
  const res = await handler(new Request("http://localhost/health", { method: "OPTIONS" }));
  strictEqual(res.status, 204);
  await res.body?.cancel();
  strictEqual(res.headers.get("Access-Control-Allow-Origin"), "*");
  const allowed = res.headers.get("Access-Control-Allow-Headers")?.split(/,\s*/) ?? [];
  for (const header of ["authorization", "x-client-info", "apikey", "content-type"]) {
    ok(allowed.includes(header), `Access-Control-Allow-Headers lacks ${header}`);
  }
  ok(res.headers.get("Access-Control-Allow-Methods")?.includes("POST"));
});
