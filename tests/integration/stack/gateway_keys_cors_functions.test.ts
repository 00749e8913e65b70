import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ANON_KEY, client, SUPABASE_URL } from "../support/clients.ts";

const version =
  JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version;

describe("the API gateway and edge functions", () => {
  it("requires a project API key on the REST API", async () => {
    expect((await fetch(`${SUPABASE_URL}/rest/v1/profiles`)).status).toBe(401);
    const wrong = await fetch(`${SUPABASE_URL}/rest/v1/profiles`, {
      headers: { apikey: "not-a-key" },
    });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${SUPABASE_URL}/rest/v1/profiles?select=id&limit=1`, {
      headers: { apikey: ANON_KEY },
    });
    expect(right.status).toBe(200);
  });

  it("answers CORS preflights", async () => {
    const response = await fetch(`${SUPABASE_URL}/rest/v1/profiles`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:3000",
        "access-control-request-method": "GET",
        "access-control-request-headers": "apikey, authorization",
      },
    });
    expect(response.status).toBeLessThan(300);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("serves the health function with the project's version", async () => {
    const { data, error } = await client().functions.invoke("health", { method: "GET" });
    expect(error).toBeNull();
    expect(data).toMatchObject({ status: "ok", version });
  });

  it("answers 404 for a function that does not exist", async () => {
    const response = await fetch(`${SUPABASE_URL}/functions/v1/no-such-function`, {
      headers: { authorization: `Bearer ${ANON_KEY}` },
    });
    expect(response.status).toBe(404);
    await response.body?.cancel();
  });
});
