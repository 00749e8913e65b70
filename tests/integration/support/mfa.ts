// Two-factor sign-in for the tests: clients with supabase-js's experimental recovery-codes API
// turned on, TOTP codes computed from the secret an enrollment returns (as an authenticator app
// would), and users with a verified TOTP factor.

import { createClient } from "@supabase/supabase-js";
import * as OTPAuth from "otpauth";
import ws from "ws";
import type { Database } from "../../../types/database.ts";
import { PASSWORD, signUp, type TestUser } from "./auth.ts";
import { ANON_KEY, type Client, SUPABASE_URL } from "./clients.ts";

/** A client whose auth.mfa.recoveryCodes is enabled (`auth.experimental.recoveryCodes`). */
export function mfaClient(headers: Record<string, string> = {}): Client {
  return createClient<Database>(SUPABASE_URL, ANON_KEY, {
    auth: {
      persistSession: false,
      autoRefreshToken: false,
      experimental: { recoveryCodes: true },
    },
    global: { headers },
    realtime: { transport: ws as never },
  });
}

/** The code an authenticator app shows now (or `offsetSteps` periods away) for a base32 secret. */
export function totpCode(secret: string, offsetSteps = 0): string {
  return OTPAuth.TOTP.generate({
    secret: OTPAuth.Secret.fromBase32(secret),
    algorithm: "SHA1",
    digits: 6,
    period: 30,
    timestamp: Date.now() + offsetSteps * 30_000,
  });
}

/** A code that is valid for no step near now (GoTrue accepts the current step and one either side). */
export function wrongTotpCode(secret: string): string {
  const near = new Set([-1, 0, 1].map((step) => totpCode(secret, step)));
  for (let n = 0;; n++) {
    const candidate = String(n).padStart(6, "0");
    if (!near.has(candidate)) return candidate;
  }
}

export interface MfaUser extends TestUser {
  factorId: string;
  secret: string;
}

/** Enrolls and verifies a TOTP factor on a signed-in client, whose session becomes aal2. */
export async function addTotp(c: Client): Promise<{ factorId: string; secret: string }> {
  const enrolled = await c.auth.mfa.enroll({ factorType: "totp", friendlyName: "phone app" });
  if (enrolled.error) throw enrolled.error;
  const verified = await c.auth.mfa.challengeAndVerify({
    factorId: enrolled.data.id,
    code: totpCode(enrolled.data.totp.secret),
  });
  if (verified.error) throw verified.error;
  return { factorId: enrolled.data.id, secret: enrolled.data.totp.secret };
}

/** A new user, signed in on an MFA-enabled client, with a verified TOTP factor (session at aal2). */
export async function signUpWithTotp(
  label: string,
  data: Record<string, unknown> = {},
): Promise<MfaUser> {
  const user = await signUp(label, data);
  const c = await signInAal1(user.email);
  const factor = await addTotp(c);
  const { data: session } = await c.auth.getSession();
  return { ...user, client: c, accessToken: session.session!.access_token, ...factor };
}

/** Raises a client's aal1 session to aal2 with a code from the factor's secret. */
export async function verifyTotp(c: Client, user: MfaUser): Promise<void> {
  const { error } = await c.auth.mfa.challengeAndVerify({
    factorId: user.factorId,
    code: totpCode(user.secret),
  });
  if (error) throw error;
}

/** Signs the user in again with the password only: a fresh aal1 session on a new client. */
export async function signInAal1(email: string): Promise<Client> {
  const c = mfaClient();
  const { error } = await c.auth.signInWithPassword({ email, password: PASSWORD });
  if (error) throw error;
  return c;
}

/** The claims of the client's current access token. */
export async function tokenClaims(c: Client): Promise<Record<string, unknown>> {
  const { data } = await c.auth.getSession();
  const token = data.session?.access_token;
  if (!token) throw new Error("the client has no session");
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}
