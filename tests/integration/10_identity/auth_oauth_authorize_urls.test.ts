// OAuth sign-in's first leg (000: Google, Facebook; 003: Google, GitHub; 004: Google, Facebook,
// Kakao): supabase.auth.signInWithOAuth({ skipBrowserRedirect: true }) gives the URL of Auth's
// /authorize, which answers 302 to the provider's authorize URL as GoTrue builds it: the
// client id, GoTrue's default scopes plus the requested ones, redirect_uri
// <API_URL>/auth/v1/callback, response_type code and a state naming the flow. A PKCE
// challenge stays with Auth (for the code exchange) and is never sent to the provider.
// The callback itself needs the provider: README, OAuth, says how to test it on a hosted
// project.

import { existsSync, readFileSync } from "node:fs";
import { createClient } from "@supabase/supabase-js";
import { describe, expect, it } from "vitest";
import ws from "ws";
import { ANON_KEY, client, SUPABASE_URL } from "../support/clients.ts";

/** The client id config.toml's env() resolves to: the environment, else supabase/.env.development. */
function clientId(provider: string): string {
  const name = `SUPABASE_AUTH_EXTERNAL_${provider.toUpperCase()}_CLIENT_ID`;
  if (process.env[name]) return process.env[name]!;
  const file = new URL("../../../supabase/.env.development", import.meta.url);
  const line = existsSync(file)
    ? readFileSync(file, "utf8").split("\n").find((l) => l.startsWith(`${name}=`))
    : undefined;
  if (!line) throw new Error(`${name} is neither set nor in supabase/.env.development`);
  return line.slice(name.length + 1).trim();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Follows Auth's /authorize URL one hop, as a browser's first request does. */
async function providerRedirect(authorizeUrl: string) {
  const response = await fetch(authorizeUrl, { redirect: "manual" });
  const location = response.headers.get("location");
  return {
    status: response.status,
    location: location ? new URL(location) : null,
    body: location ? null : await response.json(),
  };
}

async function oauthUrl(
  provider: "google" | "facebook" | "github" | "kakao",
  options: { scopes?: string; queryParams?: Record<string, string> } = {},
  flowType: "implicit" | "pkce" = "implicit",
) {
  const c = flowType === "pkce"
    ? createClient(SUPABASE_URL, ANON_KEY, {
      auth: { persistSession: false, autoRefreshToken: false, flowType: "pkce" },
      // Node 20 has no global WebSocket for the realtime client.
      realtime: { transport: ws as never },
    })
    : client();
  const { data, error } = await c.auth.signInWithOAuth({
    provider,
    options: { skipBrowserRedirect: true, redirectTo: "http://localhost:3000/welcome", ...options },
  });
  expect(error).toBeNull();
  return new URL(data.url!);
}

describe("auth: OAuth authorize URLs", () => {
  const cases = [
    ["google", "https://accounts.google.com/o/oauth2/v2/auth", "email profile"],
    ["facebook", "https://www.facebook.com/dialog/oauth", "email"],
    ["github", "https://github.com/login/oauth/authorize", "user:email"],
    [
      "kakao",
      "https://kauth.kakao.com/oauth/authorize",
      "account_email profile_image profile_nickname",
    ],
  ] as const;

  for (const [provider, authorizeEndpoint, defaultScopes] of cases) {
    it(`${provider}: 302 to ${authorizeEndpoint} with the client id, GoTrue's scopes, the callback and a state`, async () => {
      const url = await oauthUrl(provider);
      expect(`${url.origin}${url.pathname}`).toBe(`${SUPABASE_URL}/auth/v1/authorize`);
      const { status, location } = await providerRedirect(url.toString());
      expect(status).toBe(302);
      expect(`${location!.origin}${location!.pathname}`).toBe(authorizeEndpoint);
      const query = Object.fromEntries(location!.searchParams);
      expect(query).toEqual({
        client_id: clientId(provider),
        redirect_uri: `${SUPABASE_URL}/auth/v1/callback`,
        response_type: "code",
        scope: defaultScopes,
        state: expect.stringMatching(UUID),
        // GoTrue passes on what it does not reserve, redirect_to included.
        redirect_to: "http://localhost:3000/welcome",
      });
    });
  }

  it("adds requested scopes after the provider's defaults, and passes query parameters on", async () => {
    const google = await oauthUrl("google", {
      scopes: "https://www.googleapis.com/auth/calendar.readonly",
      queryParams: { access_type: "offline", prompt: "consent" },
    });
    const { location } = await providerRedirect(google.toString());
    expect(location!.searchParams.get("scope")).toBe(
      "email profile https://www.googleapis.com/auth/calendar.readonly",
    );
    expect(location!.searchParams.get("access_type")).toBe("offline");
    expect(location!.searchParams.get("prompt")).toBe("consent");

    const github = await oauthUrl("github", { scopes: "read:org,repo" });
    expect((await providerRedirect(github.toString())).location!.searchParams.get("scope")).toBe(
      "user:email read:org repo",
    );
  });

  it("never lets a client replace what Auth controls: client_id, redirect_uri, state", async () => {
    const url = await oauthUrl("facebook", {
      queryParams: { client_id: "evil", redirect_uri: "https://evil.example/cb", state: "fixed" },
    });
    const { location } = await providerRedirect(url.toString());
    expect(location!.searchParams.get("client_id")).toBe(clientId("facebook"));
    expect(location!.searchParams.get("redirect_uri")).toBe(`${SUPABASE_URL}/auth/v1/callback`);
    expect(location!.searchParams.get("state")).toMatch(UUID);
  });

  it("PKCE: supabase-js sends its S256 challenge to Auth, which keeps it and never sends it to the provider", async () => {
    const url = await oauthUrl("google", {}, "pkce");
    expect(url.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get("code_challenge_method")).toBe("s256");
    const { status, location } = await providerRedirect(url.toString());
    expect(status).toBe(302);
    expect(location!.searchParams.has("code_challenge")).toBe(false);
    expect(location!.searchParams.has("code_challenge_method")).toBe(false);
    expect(location!.searchParams.get("state")).toMatch(UUID);
    expect(location!.searchParams.get("client_id")).toBe(clientId("google"));
  });

  it("refuses a malformed PKCE challenge as GoTrue does", async () => {
    const base = `${SUPABASE_URL}/auth/v1/authorize?provider=google`;
    expect(await providerRedirect(`${base}&code_challenge=short&code_challenge_method=s256`))
      .toEqual({
        status: 400,
        location: null,
        body: {
          code: 400,
          error_code: "validation_failed",
          msg: "code challenge has to be between 43 and 128 characters",
        },
      });
    expect((await providerRedirect(`${base}&code_challenge=${"a".repeat(43)}`)).body).toEqual({
      code: 400,
      error_code: "validation_failed",
      msg: "PKCE flow requires code_challenge_method and code_challenge",
    });
  });

  it("answers a provider that is off or unknown with GoTrue's 400", async () => {
    expect((await providerRedirect(`${SUPABASE_URL}/auth/v1/authorize?provider=twitter`)).body)
      .toEqual({
        code: 400,
        error_code: "validation_failed",
        msg: "Unsupported provider: provider is not enabled",
      });
    expect((await providerRedirect(`${SUPABASE_URL}/auth/v1/authorize?provider=myspace`)).body)
      .toEqual({
        code: 400,
        error_code: "validation_failed",
        msg: "Unsupported provider: Provider myspace could not be found",
      });
  });
});
