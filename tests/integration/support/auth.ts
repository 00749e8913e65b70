// Users for the tests: fresh confirmed users, signed-in clients acting as them, and role
// holders.

import { randomUUID } from "node:crypto";
import { admin, type Client, client, requireEnv } from "./clients.ts";

export const PASSWORD = "Correct-Horse-9";

export function uniqueEmail(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}@example.com`;
}

export interface TestUser {
  id: string;
  email: string;
  client: Client;
  accessToken: string;
}

/**
 * A new, confirmed user (created through Auth's admin API with email_confirm, as sign-up
 * confirmations are on) signed in with their password, and a client acting as them. Sign-up
 * itself, with its confirmation mail, is tested in auth_email_flows.
 */
export async function signUp(label: string, data: Record<string, unknown> = {}): Promise<TestUser> {
  const email = uniqueEmail(label);
  const created = await admin().auth.admin.createUser({
    email,
    password: PASSWORD,
    email_confirm: true,
    user_metadata: data,
  });
  if (created.error) throw created.error;
  const c = client();
  const { data: signedIn, error } = await c.auth.signInWithPassword({ email, password: PASSWORD });
  if (error) throw error;
  return { id: created.data.user.id, email, client: c, accessToken: signedIn.session.access_token };
}

/**
 * Exempts a test account from the rate limits as an operator would exempt a QA account (the
 * trusted tier, through the staff RPC with the service role): for tests that sign one user in
 * more often than the 5 a minute the access token hook allows (docs/domains/operations.md).
 */
export async function exemptFromRateLimits(user: { id: string }): Promise<void> {
  await admin().rpc("set_rate_limit_override", {
    tier: "trusted",
    reason: "test account signing in many times a minute",
    user_id: user.id,
  }).throwOnError();
}

export const signIn = (email: string) =>
  client().auth.signInWithPassword({ email, password: PASSWORD });

/** The claims of an access token (no verification: the server already did). */
export function claimsOf(
  token: string,
): { app_metadata: { roles?: string[]; [key: string]: unknown } } {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}

/** A new user holding a role (granted with the service role), signed in again so their token carries it. */
export async function signUpWithRole(label: string, role: string): Promise<TestUser> {
  const user = await signUp(label);
  const { data, error } = await admin().from("roles").select("id").eq("name", role).single();
  if (error) throw error;
  await admin().from("user_roles").insert({ user_id: user.id, role_id: data.id }).throwOnError();
  const signedIn = await user.client.auth.signInWithPassword({
    email: user.email,
    password: PASSWORD,
  });
  if (signedIn.error) throw signedIn.error;
  return { ...user, accessToken: signedIn.data.session.access_token };
}

/**
 * Follows a mailed link as a browser's first hop does (Auth answers /verify with a 303) and
 * returns where it sends the browser: the URL, its query and its fragment's parameters.
 */
export async function followLink(
  link: string,
): Promise<{ status: number; location: URL; fragment: URLSearchParams }> {
  const response = await fetch(link, { redirect: "manual" });
  await response.arrayBuffer();
  const location = new URL(response.headers.get("location") ?? "about:blank");
  return {
    status: response.status,
    location,
    fragment: new URLSearchParams(location.hash.slice(1)),
  };
}

/**
 * Whether Auth limits requests per client address, taking the address from the
 * `sb-forwarded-for` header hosted Supabase's proxy sets (GoTrue's
 * GOTRUE_SECURITY_SB_FORWARDED_FOR_ENABLED). The local stand-in behaves as hosted Supabase;
 * `supabase start` leaves the setting off, so there Auth limits nothing per address and the
 * tests of those limits are skipped. AUTH_LIMITS_PER_ADDRESS=true|false overrides the guess.
 */
export async function authLimitsPerClientAddress(): Promise<boolean> {
  const override = process.env.AUTH_LIMITS_PER_ADDRESS;
  if (override === "true" || override === "false") return override === "true";
  const health = await fetch(`${requireEnv("SUPABASE_URL")}/auth/v1/health`, {
    headers: { apikey: requireEnv("SUPABASE_ANON_KEY") },
  });
  const body = (await health.json().catch(() => ({}))) as { version?: string };
  return body.version === "local-stand-in";
}
