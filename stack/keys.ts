// The API keys of the local stack: long-lived JWTs for the anon and service_role roles,
// signed with the local JWT secret exactly as `supabase start` makes its demo keys.

import { SignJWT } from "jose";

const DEMO_KEY_EXPIRY = 1983812996; // the expiry Supabase's local demo keys carry (2032)

export async function signApiKey(
  role: "anon" | "service_role",
  jwtSecret: string,
): Promise<string> {
  return await new SignJWT({ iss: "supabase-demo", role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setExpirationTime(DEMO_KEY_EXPIRY)
    .sign(new TextEncoder().encode(jwtSecret));
}

export interface ApiKeys {
  anonKey: string;
  serviceRoleKey: string;
}

export async function apiKeys(jwtSecret: string): Promise<ApiKeys> {
  return {
    anonKey: await signApiKey("anon", jwtSecret),
    serviceRoleKey: await signApiKey("service_role", jwtSecret),
  };
}
