// Password accounts: sign-up, the token endpoint (password and refresh-token grants), the
// signed-in user and sign-out, as Supabase Auth serves them.

import type { IncomingMessage, ServerResponse } from "node:http";
import bcrypt from "bcryptjs";
import { sendJson } from "../http.ts";
import { randomUUID } from "node:crypto";
import { type AuthCore, AuthError, type Db } from "./core.ts";
import type { AuthEmails } from "./emails.ts";
import { assertSessionWithinBounds } from "./sessions.ts";
import { createFlowState, pkceFlow, pkceGrant } from "./pkce.ts";
import { AddressLimiter } from "./ratelimit.ts";
import type { Route } from "./router.ts";
import { findTokenUser } from "./tokens.ts";

/** Signs an address up as POST /signup does (the magic-link flow signs new addresses up through it). */
export type SignUpFlow = (
  req: IncomingMessage,
  url: URL,
  body: Record<string, unknown>,
) => Promise<Record<string, unknown>>;

export function passwordRoutes(
  core: AuthCore,
  emails: AuthEmails,
): { routes: Route[]; signUpFlow: SignUpFlow } {
  const {
    options,
    withAuthAdmin,
    findUserByEmail,
    findUserById,
    validateEmail,
    validatePassword,
    metadata,
    createUser,
    userJson,
    issueSession,
    sessionJson,
    assertNotBanned,
    requireUser,
    jsonBody,
  } = core;

  // GoTrue's GOTRUE_RATE_LIMIT_OTP (sign_in_sign_ups) limits sign-ups; token_refresh every grant of /token.
  const signUpLimiter = new AddressLimiter(options.email.rateLimit.signInSignUps);
  const tokenLimiter = new AddressLimiter(options.email.rateLimit.tokenRefresh);

  /**
   * Signup: with [auth.email] enable_confirmations the new user gets the confirmation mail and
   * the answer is the user without a session; an address already confirmed is answered with
   * an obfuscated user (a random id, no mail), as GoTrue does so sign-up tells nobody who has
   * an account; an unconfirmed one gets the mail again. Without confirmations: a session.
   */
  const signUpFlow: SignUpFlow = async (req, url, body) => {
    if (!options.enableSignup) {
      throw new AuthError(422, "signup_disabled", "Signups not allowed for this instance");
    }
    const password = validatePassword(body.password);
    const flow = pkceFlow(body);
    const email = validateEmail(body.email);
    const confirmations = options.email.enableConfirmations;
    const data = metadata(body.data, "data");
    const redirect = emails.redirectTo(req, url);
    return await withAuthAdmin(async (db) => {
      const existing = await findUserByEmail(db, email);
      if (existing?.email_confirmed_at) {
        if (!confirmations) {
          throw new AuthError(422, "user_already_exists", "User already registered");
        }
        return obfuscatedUser(email, data);
      }
      const user = existing ?? await createUser(db, {
        email,
        password,
        userMetadata: data,
        appMetadata: {},
        confirmed: !confirmations,
      });
      if (!confirmations) return await issueSession(db, user, "password", req);
      if (flow === "pkce") await createFlowState(db, body, "email", "email/signup", user.id);
      await emails.sendConfirmation(db, (await findTokenUser(db, user.id))!, flow, redirect);
      return await userJson(db, (await findUserById(db, user.id))!);
    });
  };

  /** sanitizeUser: what a repeated sign-up of a confirmed address answers instead of the user. */
  function obfuscatedUser(email: string, data: Record<string, unknown>) {
    const now = new Date().toISOString();
    return {
      id: randomUUID(),
      aud: "authenticated",
      role: "",
      email,
      phone: "",
      confirmation_sent_at: now,
      app_metadata: { provider: "email", providers: ["email"] },
      user_metadata: data,
      identities: [],
      created_at: now,
      updated_at: now,
      is_anonymous: false,
    };
  }

  async function signUp(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    signUpLimiter.check(req);
    sendJson(res, 200, await signUpFlow(req, url, await jsonBody(req)));
  }

  async function token(
    req: IncomingMessage,
    res: ServerResponse,
    grantType: string | null,
  ): Promise<void> {
    tokenLimiter.check(req);
    const body = await jsonBody(req);
    if (grantType === "pkce") {
      return sendJson(res, 200, await withAuthAdmin((db) => pkceGrant(core, db, body, req)));
    }
    if (grantType === "password") {
      const session = await withAuthAdmin(async (db) => {
        const email = typeof body.email === "string" ? body.email : "";
        const password = typeof body.password === "string" ? body.password : "";
        const user = email ? await findUserByEmail(db, email) : null;
        const matches = user?.encrypted_password
          ? await bcrypt.compare(password, user.encrypted_password)
          : false;
        if (!user || !matches) {
          throw new AuthError(400, "invalid_credentials", "Invalid login credentials");
        }
        if (!user.email_confirmed_at) {
          throw new AuthError(400, "email_not_confirmed", "Email not confirmed");
        }
        assertNotBanned(user);
        return await issueSession(db, user, "password", req);
      });
      return sendJson(res, 200, session);
    }
    if (grantType === "refresh_token") {
      const session = await withAuthAdmin((db) => rotateRefreshToken(db, body.refresh_token));
      return sendJson(res, 200, session);
    }
    throw new AuthError(400, "invalid_credentials", "unsupported_grant_type");
  }

  /** Exchanges a refresh token for a new session, revoking it; reusing a revoked token fails. */
  async function rotateRefreshToken(db: Db, refreshToken: unknown) {
    if (typeof refreshToken !== "string" || refreshToken === "") {
      throw new AuthError(400, "validation_failed", "refresh_token required");
    }
    const { rows } = await db.query<
      { token: string; revoked: boolean; session_id: string; user_id: string }
    >(
      "select token, revoked, session_id, user_id from auth.refresh_tokens where token = $1 for update",
      [refreshToken],
    );
    const current = rows[0];
    if (!current) {
      throw new AuthError(
        400,
        "refresh_token_not_found",
        "Invalid Refresh Token: Refresh Token Not Found",
      );
    }
    // As GoTrue: a session past [auth.sessions] timebox or inactivity_timeout is not refreshed,
    // whatever the token's own state.
    await assertSessionWithinBounds(db, current.session_id, refreshToken, options.sessions);
    if (current.revoked) {
      throw new AuthError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used");
    }
    const user = await findUserById(db, current.user_id);
    if (!user) {
      throw new AuthError(
        400,
        "refresh_token_not_found",
        "Invalid Refresh Token: Refresh Token Not Found",
      );
    }
    assertNotBanned(user);
    await db.query(
      "update auth.refresh_tokens set revoked = true, updated_at = now() where token = $1",
      [refreshToken],
    );
    await db.query(
      "update auth.sessions set refreshed_at = now(), updated_at = now() where id = $1",
      [current.session_id],
    );
    return await sessionJson(db, user, current.session_id, refreshToken, "token_refresh");
  }

  async function getUser(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await withAuthAdmin(async (db) => userJson(db, (await requireUser(db, req)).user));
    sendJson(res, 200, body);
  }

  async function logout(req: IncomingMessage, res: ServerResponse, scope: string): Promise<void> {
    if (!["global", "local", "others"].includes(scope)) {
      throw new AuthError(400, "validation_failed", "Unsupported logout scope");
    }
    await withAuthAdmin(async (db) => {
      const { claims, user } = await requireUser(db, req);
      const current = typeof claims.session_id === "string" ? claims.session_id : null;
      if (scope === "local" && current) {
        await db.query("delete from auth.sessions where id = $1", [current]);
      } else if (scope === "others") {
        await db.query("delete from auth.sessions where user_id = $1 and id is distinct from $2", [
          user.id,
          current,
        ]);
      } else {
        await db.query("delete from auth.sessions where user_id = $1", [user.id]);
      }
    });
    res.writeHead(204).end();
  }

  const routes: Route[] = [
    { method: "POST", path: "/signup", handle: ({ req, res, url }) => signUp(req, res, url) },
    {
      method: "POST",
      path: "/token",
      handle: ({ req, res, url }) => token(req, res, url.searchParams.get("grant_type")),
    },
    { method: "GET", path: "/user", handle: ({ req, res }) => getUser(req, res) },
    {
      method: "POST",
      path: "/logout",
      handle: ({ req, res, url }) => logout(req, res, url.searchParams.get("scope") ?? "global"),
    },
  ];
  return { routes, signUpFlow };
}
