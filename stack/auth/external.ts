// OAuth sign-in's first leg (supabase.auth.signInWithOAuth): GET /authorize?provider=… answers
// 302 to the provider's authorize URL exactly as GoTrue builds it (internal/api/external.go
// GetExternalProviderRedirectURL, internal/api/provider/{google,facebook,github,kakao}.go,
// golang.org/x/oauth2's AuthCodeURL): response_type=code, the client id, redirect_uri
// <API_URL>/auth/v1/callback (or the provider's redirect_uri), the provider's default scopes
// followed by the requested ones (split at commas, joined with spaces), state = the id of a new
// auth.flow_state row (provider, the PKCE challenge when supabase-js sends one, the referrer),
// and every other query parameter but the reserved OAuth ones passed on (redirect_to
// included, as GoTrue passes it). The challenge is never sent to the provider: GoTrue keeps it
// in the flow state for the code exchange. A provider that is unknown, disabled or lacks its
// client id or secret is GoTrue's 400 "Unsupported provider: …".
//
// The callback (/callback), where the provider sends the browser back, needs the provider
// itself and is not served here: test it against a hosted project (README, OAuth).

import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { readSupabaseConfig, repoRoot } from "../config.ts";
import { type AuthCore, AuthError } from "./core.ts";
import { pkceFlow } from "./pkce.ts";
import { redirectPolicy, referrer } from "./redirect.ts";
import type { Route } from "./router.ts";

/** Each provider's authorize endpoint and default scopes (internal/api/provider/*.go). */
const PROVIDERS: Record<string, { authUrl: string; scopes: string[] }> = {
  // OIDC discovery of https://accounts.google.com gives this authorization_endpoint.
  google: { authUrl: "https://accounts.google.com/o/oauth2/v2/auth", scopes: ["email", "profile"] },
  facebook: { authUrl: "https://www.facebook.com/dialog/oauth", scopes: ["email"] },
  github: { authUrl: "https://github.com/login/oauth/authorize", scopes: ["user:email"] },
  kakao: {
    authUrl: "https://kauth.kakao.com/oauth/authorize",
    scopes: ["account_email", "profile_image", "profile_nickname"],
  },
};

/**
 * The other providers GoTrue knows (Provider() in external.go): named here so that asking for
 * one answers "provider is not enabled", as GoTrue does where config.toml leaves it off; the
 * stand-in serves only the four above.
 */
const OTHER_GOTRUE_PROVIDERS = new Set([
  "apple",
  "azure",
  "bitbucket",
  "discord",
  "figma",
  "fly",
  "gitlab",
  "keycloak",
  "linkedin",
  "linkedin_oidc",
  "notion",
  "snapchat",
  "spotify",
  "slack",
  "slack_oidc",
  "twitch",
  "twitter",
  "x",
  "vercel_marketplace",
  "workos",
  "zoom",
]);

/** OAuth parameters the server controls (reservedOAuthParams); nonce may still be passed on. */
const RESERVED = new Set([
  "client_id",
  "client_secret",
  "redirect_uri",
  "response_type",
  "state",
  "code_challenge",
  "code_challenge_method",
  "code_verifier",
]);

export interface ExternalProvider {
  enabled: boolean;
  clientId: string;
  secret: string;
  /** Overrides the authorize host as GoTrue's provider url does (chooseHost). */
  url: string;
  redirectUri: string;
}

/**
 * The variables config.toml's env() may name, as the Supabase CLI resolves them: the
 * environment first, then the first of .env.<SUPABASE_ENV>.local, .env.local (not for test),
 * .env.<SUPABASE_ENV>, .env that sets the name, in supabase/ and then the project root
 * (SUPABASE_ENV defaults to development).
 */
export function cliEnvironment(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const mode = source.SUPABASE_ENV || "development";
  const names = [
    `.env.${mode}.local`,
    ...(mode === "test" ? [] : [".env.local"]),
    `.env.${mode}`,
    ".env",
  ];
  const fromFiles: Record<string, string> = {};
  for (const dir of [join(repoRoot, "supabase"), repoRoot]) {
    for (const name of names) {
      const path = join(dir, name);
      if (!existsSync(path)) continue;
      for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
        const match = /^\s*(?:export\s+)?([\w.-]+)\s*=\s*(.*?)\s*$/.exec(line);
        if (!match || line.trimStart().startsWith("#")) continue;
        const value = match[2].replace(/^(['"])(.*)\1$/, "$2");
        if (!(match[1] in fromFiles)) fromFiles[match[1]] = value;
      }
    }
  }
  const resolved: Record<string, string> = { ...fromFiles };
  for (const [name, value] of Object.entries(source)) {
    if (value !== undefined) resolved[name] = value;
  }
  return resolved;
}

function resolveEnv(value: unknown, environment: Record<string, string>): string {
  const text = typeof value === "string" ? value : "";
  const match = /^env\((\w+)\)$/.exec(text.trim());
  return match ? (environment[match[1]] ?? "") : text;
}

/** [auth.external.<name>] for the providers the stand-in knows, env() resolved. */
export function externalProviders(apiUrl: string): Record<string, ExternalProvider> {
  const external = readSupabaseConfig().auth?.external ?? {};
  const environment = cliEnvironment();
  const providers: Record<string, ExternalProvider> = {};
  for (const name of Object.keys(PROVIDERS)) {
    const section = external[name] ?? {};
    providers[name] = {
      enabled: section.enabled === true,
      clientId: resolveEnv(section.client_id, environment),
      secret: resolveEnv(section.secret, environment),
      url: resolveEnv(section.url, environment),
      // The CLI gives GoTrue <API_URL>/auth/v1/callback unless redirect_uri is set.
      redirectUri: resolveEnv(section.redirect_uri, environment) || `${apiUrl}/auth/v1/callback`,
    };
  }
  return providers;
}

/** OAuthProviderConfiguration.ValidateOAuth's complaint, if any. */
function configurationProblem(provider: ExternalProvider): string | null {
  if (!provider.enabled) return "provider is not enabled";
  if (provider.clientId === "") return "missing OAuth client ID";
  if (provider.secret === "") return "missing OAuth secret";
  return null;
}

/** Go's url.Values.Encode: keys sorted, each value query-escaped (space as +). */
function goEncode(values: Map<string, string>): string {
  return [...values.keys()].sort().map((key) =>
    `${encodeURIComponent(key)}=${encodeURIComponent(values.get(key)!)}`.replaceAll("%20", "+")
      .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  ).join("&");
}

export function externalRoutes(core: AuthCore): Route[] {
  const { options, withAuthAdmin } = core;
  const apiUrl = options.issuer.replace(/\/auth\/v1$/, "");
  const providers = externalProviders(apiUrl);
  const allowed = redirectPolicy(options.email);

  async function authorize(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const query = url.searchParams;
    const name = (query.get("provider") ?? "").toLowerCase();
    const scopes = query.get("scopes") ?? "";
    const provider = providers[name];
    const known = PROVIDERS[name];
    if (OTHER_GOTRUE_PROVIDERS.has(name)) {
      throw new AuthError(
        400,
        "validation_failed",
        "Unsupported provider: provider is not enabled",
      );
    }
    if (!provider || !known) {
      throw new AuthError(
        400,
        "validation_failed",
        `Unsupported provider: Provider ${name} could not be found`,
      );
    }
    const problem = configurationProblem(provider);
    if (problem) throw new AuthError(400, "validation_failed", `Unsupported provider: ${problem}`);

    const inviteToken = query.get("invite_token") ?? "";
    const redirectTo = referrer(req, url, allowed, options.email.siteUrl);
    const challenge = query.get("code_challenge") ?? "";
    const challengeMethod = query.get("code_challenge_method") ?? "";
    pkceFlow({ code_challenge: challenge, code_challenge_method: challengeMethod });
    let method: string | null = null;
    if (challenge !== "") {
      method = challengeMethod.toLowerCase();
      if (method !== "s256" && method !== "plain") {
        throw new AuthError(400, "validation_failed", "Invalid code_challenge_method");
      }
    }

    const state = randomUUID();
    await withAuthAdmin(async (db) => {
      if (inviteToken !== "") {
        const { rowCount } = await db.query(
          "select 1 from auth.users where confirmation_token = $1",
          [inviteToken],
        );
        if (!rowCount) {
          throw new AuthError(404, "user_not_found", "User identified by token not found");
        }
      }
      await db.query(
        `insert into auth.flow_state (id, auth_code, code_challenge_method, code_challenge,
                                      provider_type, authentication_method, invite_token, referrer,
                                      created_at, updated_at)
         values ($1, $2, $3, $4, $5, 'oauth', $6, $7, now(), now())`,
        [
          state,
          challenge === "" ? null : randomUUID(),
          method,
          challenge === "" ? null : challenge,
          name,
          inviteToken === "" ? null : inviteToken,
          redirectTo === "" ? null : redirectTo,
        ],
      );
    });

    // oauth2.Config.AuthCodeURL: its own parameters, then the passed-on ones (which may not
    // replace them: the reserved names were removed).
    const values = new Map<string, string>([
      ["response_type", "code"],
      ["client_id", provider.clientId],
      ["redirect_uri", provider.redirectUri],
      ["scope", [...known.scopes, ...(scopes === "" ? [] : scopes.split(","))].join(" ")],
      ["state", state],
    ]);
    // oauth2.SetAuthURLParam sets (replaces) a value; Go's Query().Get takes a key's first value.
    for (const key of new Set(query.keys())) {
      if (key === "scopes" || key === "provider" || RESERVED.has(key.toLowerCase())) continue;
      values.set(key, query.get(key)!);
    }
    // Google's provider ignores url (its endpoints come from OIDC discovery).
    const authUrl = provider.url === "" || name === "google"
      ? known.authUrl
      : known.authUrl.replace(/^https:\/\/[^/]+/, provider.url.replace(/\/$/, ""));
    const location = `${authUrl}${authUrl.includes("?") ? "&" : "?"}${goEncode(values)}`;
    res.writeHead(302, { location, "content-type": "text/html; charset=utf-8" });
    res.end(
      `<a href="${location.replaceAll("&", "&amp;").replaceAll('"', "&quot;")}">Found</a>.\n\n`,
    );
  }

  return [
    {
      method: "GET",
      path: "/authorize",
      handle: ({ req, res, url }) => authorize(req, res, url),
    },
  ];
}
