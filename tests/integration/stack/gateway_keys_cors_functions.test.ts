import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ANON_KEY, client, SERVICE_ROLE_KEY, SUPABASE_URL } from "../support/clients.ts";

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

  // A function that answers from the headers alone (a wrong method, verify_jwt, a missing
  // signature) answers before it has read a large body; the gateway passes that answer on and
  // drains the rest of the body instead of resetting the client's connection.
  const largeBody = new Uint8Array(5 * 1024 * 1024).fill(97);
  const earlyAnswers: {
    what: string;
    path: string;
    headers: Record<string, string>;
    status: number;
  }[] = [
    { what: "health's 405 for a POST", path: "health", headers: {}, status: 405 },
    { what: "the verify_jwt gate's 401", path: "account-export", headers: {}, status: 401 },
    {
      what: "stripe-webhook's 400 for a missing signature",
      path: "stripe-webhook",
      headers: { "content-type": "application/json" },
      status: 400,
    },
  ];
  for (const { what, path, headers, status } of earlyAnswers) {
    it(`passes on ${what} to a 5 MB body, twenty times out of twenty`, async () => {
      const outcomes: string[] = [];
      for (let i = 0; i < 20; i++) {
        try {
          const response = await fetch(`${SUPABASE_URL}/functions/v1/${path}`, {
            method: "POST",
            headers,
            body: largeBody,
          });
          await response.arrayBuffer();
          outcomes.push(String(response.status));
        } catch (error) {
          const cause = (error as { cause?: { code?: string; message?: string } }).cause;
          outcomes.push(`${error}: ${cause?.code ?? cause?.message}`);
        }
      }
      expect(outcomes).toEqual(Array(20).fill(String(status)));
    }, 120_000);
  }

  it("sends no server header that names a version", async () => {
    const answers = await Promise.all([
      fetch(`${SUPABASE_URL}/rest/v1/currencies?select=code`, { headers: { apikey: ANON_KEY } }),
      fetch(`${SUPABASE_URL}/rest/v1/no_such_table`, { headers: { apikey: ANON_KEY } }),
      fetch(`${SUPABASE_URL}/rest/v1/`, { headers: { apikey: SERVICE_ROLE_KEY } }),
      fetch(`${SUPABASE_URL}/rest/v1/profiles`),
      fetch(`${SUPABASE_URL}/auth/v1/user`, { headers: { apikey: ANON_KEY } }),
      fetch(`${SUPABASE_URL}/storage/v1/bucket`, { headers: { apikey: ANON_KEY } }),
      fetch(`${SUPABASE_URL}/functions/v1/health`),
      fetch(`${SUPABASE_URL}/functions/v1/no-such-function`),
      fetch(`${SUPABASE_URL}/no/route`),
    ]);
    const statuses = new Set<number>();
    for (const answer of answers) {
      await answer.arrayBuffer();
      statuses.add(answer.status);
      // Absent, or a name without a version (hosted Supabase answers `server: cloudflare`).
      expect(answer.headers.get("server") ?? "", answer.url).not.toMatch(/\d/);
    }
    // Both successes and refusals were looked at, from every service.
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 401, 404]));
  });

  it("serves the OpenAPI document with the public URL, not PostgREST's own address", async () => {
    const response = await fetch(`${SUPABASE_URL}/rest/v1/`, {
      headers: { apikey: SERVICE_ROLE_KEY },
    });
    expect(response.status).toBe(200);
    const document = await response.json();
    const publicUrl = new URL(SUPABASE_URL);
    expect(document).toMatchObject({
      swagger: "2.0",
      host: publicUrl.port
        ? publicUrl.host
        : `${publicUrl.hostname}:${publicUrl.protocol === "https:" ? 443 : 80}`,
      basePath: "/rest/v1/",
      schemes: [publicUrl.protocol.slice(0, -1)],
    });
    expect(document.paths).toHaveProperty("/currencies");
  });
});
