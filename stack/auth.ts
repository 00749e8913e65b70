// A local stand-in for the subset of the Supabase Auth (GoTrue) HTTP API that the tests and
// the demo use: password sign-up and sign-in, refresh with rotation, get user, sign-out,
// and admin create, list, get, update (metadata, password, bans) and delete user. It
// writes auth.users, auth.identities, auth.sessions and auth.refresh_tokens as GoTrue does,
// as the supabase_auth_admin role, so the project's triggers on auth.users fire exactly as
// in production; it mints access tokens with GoTrue's claims, and runs the custom access
// token and before-user-created hooks when config.toml enables them. OAuth, OTP, MFA and
// e-mail belong to the real Supabase Auth and are not emulated.

import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import bcrypt from "bcryptjs";
import { type JWTPayload, jwtVerify, SignJWT } from "jose";
import type pg from "pg";
import type { AuthHooks } from "./config.ts";
import { bearerToken, readJson, sendJson, type SubHandler } from "./http.ts";

export interface AuthOptions {
  pool: pg.Pool;
  jwtSecret: string;
  /** The public URL of the auth API, used as the token issuer. */
  issuer: string;
  jwtExpiry: number;
  minimumPasswordLength: number;
  passwordRequirements: string;
  enableSignup: boolean;
  /** The Postgres-function hooks config.toml enables. */
  hooks: AuthHooks;
}

/** An error as GoTrue returns it: `{ code, error_code, msg }`, which auth-js turns into AuthApiError. */
class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

interface UserRow {
  id: string;
  aud: string;
  role: string;
  email: string | null;
  encrypted_password: string | null;
  email_confirmed_at: Date | null;
  phone: string | null;
  phone_confirmed_at: Date | null;
  confirmed_at: Date | null;
  last_sign_in_at: Date | null;
  raw_app_meta_data: Record<string, unknown> | null;
  raw_user_meta_data: Record<string, unknown> | null;
  banned_until: Date | null;
  created_at: Date;
  updated_at: Date;
  is_anonymous: boolean;
}

interface IdentityRow {
  id: string;
  provider_id: string;
  user_id: string;
  identity_data: Record<string, unknown>;
  provider: string;
  last_sign_in_at: Date | null;
  created_at: Date;
  updated_at: Date;
  email: string | null;
}

type Db = pg.PoolClient;

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
// What Supabase Auth hashes passwords with: bcrypt.GenerateFromPassword at bcrypt.DefaultCost
// (golang.org/x/crypto/bcrypt: 10) in internal/crypto/password.go; only its own tests lower it.
const BCRYPT_COST = 10;

export function createAuthHandler(options: AuthOptions): SubHandler {
  const secret = new TextEncoder().encode(options.jwtSecret);

  // --- database access, always as supabase_auth_admin inside one transaction ---------------

  async function withAuthAdmin<T>(work: (db: Db) => Promise<T>): Promise<T> {
    const db = await options.pool.connect();
    try {
      await db.query("begin");
      await db.query("set local role supabase_auth_admin");
      const result = await work(db);
      await db.query("commit");
      return result;
    } catch (error) {
      await db.query("rollback").catch(() => {});
      throw error;
    } finally {
      db.release();
    }
  }

  async function findUserByEmail(db: Db, email: string): Promise<UserRow | null> {
    const { rows } = await db.query<UserRow>(
      "select * from auth.users where lower(email) = lower($1) and is_sso_user = false",
      [email],
    );
    return rows[0] ?? null;
  }

  async function findUserById(db: Db, id: string): Promise<UserRow | null> {
    const { rows } = await db.query<UserRow>("select * from auth.users where id = $1", [id]);
    return rows[0] ?? null;
  }

  async function identitiesOf(db: Db, userId: string): Promise<IdentityRow[]> {
    const { rows } = await db.query<IdentityRow>(
      "select * from auth.identities where user_id = $1 order by created_at",
      [userId],
    );
    return rows;
  }

  // --- users -----------------------------------------------------------------------------

  function validateEmail(email: unknown): string {
    if (typeof email !== "string" || email.trim() === "") {
      throw new AuthError(400, "validation_failed", "To signup, please provide your email");
    }
    const normalized = email.trim().toLowerCase();
    if (!EMAIL_PATTERN.test(normalized) || normalized.length > 255) {
      throw new AuthError(
        400,
        "validation_failed",
        "Unable to validate email address: invalid format",
      );
    }
    return normalized;
  }

  function validatePassword(password: unknown): string {
    if (typeof password !== "string" || password === "") {
      throw new AuthError(422, "validation_failed", "Signup requires a valid password");
    }
    const reasons: string[] = [];
    if (password.length < options.minimumPasswordLength) reasons.push("length");
    const classes: Record<string, RegExp[]> = {
      letters_digits: [/[a-zA-Z]/, /[0-9]/],
      lower_upper_letters_digits: [/[a-z]/, /[A-Z]/, /[0-9]/],
      lower_upper_letters_digits_symbols: [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/],
    };
    if ((classes[options.passwordRequirements] ?? []).some((pattern) => !pattern.test(password))) {
      reasons.push("characters");
    }
    if (reasons.length > 0) {
      const message = reasons.includes("length")
        ? `Password should be at least ${options.minimumPasswordLength} characters.`
        : `Password should contain the required character classes (${options.passwordRequirements}).`;
      throw new AuthError(422, "weak_password", message, { weak_password: { reasons } });
    }
    return password;
  }

  function metadata(value: unknown, field: string): Record<string, unknown> {
    if (value === undefined || value === null) return {};
    if (typeof value !== "object" || Array.isArray(value)) {
      throw new AuthError(400, "validation_failed", `${field} must be an object`);
    }
    return value as Record<string, unknown>;
  }

  async function createUser(
    db: Db,
    input: {
      email: string;
      password: string;
      userMetadata: Record<string, unknown>;
      appMetadata: Record<string, unknown>;
      confirmed: boolean;
    },
  ): Promise<UserRow> {
    if (await findUserByEmail(db, input.email)) {
      throw new AuthError(422, "user_already_exists", "User already registered");
    }
    const id = randomUUID();
    const appMetadata = { provider: "email", providers: ["email"], ...input.appMetadata };
    if (options.hooks.beforeUserCreated) {
      const now = new Date().toISOString();
      await runHook(db, options.hooks.beforeUserCreated, {
        metadata: { uuid: randomUUID(), time: now, name: "before-user-created", ip_address: null },
        user: {
          id,
          aud: "authenticated",
          role: "authenticated",
          email: input.email,
          phone: "",
          app_metadata: appMetadata,
          user_metadata: input.userMetadata,
          identities: [],
          created_at: now,
          updated_at: now,
          is_anonymous: false,
        },
      });
    }
    const hash = await bcrypt.hash(input.password, BCRYPT_COST);
    const { rows } = await db.query<UserRow>(
      `insert into auth.users (
         instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
         raw_app_meta_data, raw_user_meta_data, is_super_admin, created_at, updated_at,
         confirmation_token, recovery_token, email_change_token_new, email_change, is_anonymous
       ) values (
         '00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', $2, $3,
         case when $4 then now() end, $5, $6, false, now(), now(), '', '', '', '', false
       ) returning *`,
      [id, input.email, hash, input.confirmed, appMetadata, input.userMetadata],
    ).catch((error) => {
      // A concurrent sign-up with the same address lost the race on users_email_partial_key.
      if ((error as { code?: string }).code === "23505") {
        throw new AuthError(422, "user_already_exists", "User already registered");
      }
      throw error;
    });
    await db.query(
      `insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
       values ($1, $2, $3, 'email', now(), now(), now())`,
      [id, id, {
        sub: id,
        email: input.email,
        email_verified: input.confirmed,
        phone_verified: false,
      }],
    );
    return rows[0];
  }

  async function userJson(db: Db, user: UserRow): Promise<Record<string, unknown>> {
    const identities = await identitiesOf(db, user.id);
    return {
      id: user.id,
      aud: user.aud,
      role: user.role,
      email: user.email ?? "",
      email_confirmed_at: user.email_confirmed_at,
      phone: user.phone ?? "",
      confirmed_at: user.confirmed_at,
      last_sign_in_at: user.last_sign_in_at,
      banned_until: user.banned_until,
      app_metadata: user.raw_app_meta_data ?? {},
      user_metadata: user.raw_user_meta_data ?? {},
      identities: identities.map((identity) => ({
        identity_id: identity.id,
        id: identity.provider_id,
        user_id: identity.user_id,
        identity_data: identity.identity_data,
        provider: identity.provider,
        last_sign_in_at: identity.last_sign_in_at,
        created_at: identity.created_at,
        updated_at: identity.updated_at,
        email: identity.email,
      })),
      created_at: user.created_at,
      updated_at: user.updated_at,
      is_anonymous: user.is_anonymous,
    };
  }

  // --- sessions and tokens ---------------------------------------------------------------

  async function accessToken(
    db: Db,
    user: UserRow,
    sessionId: string,
    method: string,
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    let claims: Record<string, unknown> = {
      aud: user.aud,
      exp: now + options.jwtExpiry,
      iat: now,
      iss: options.issuer,
      sub: user.id,
      email: user.email ?? "",
      phone: user.phone ?? "",
      app_metadata: user.raw_app_meta_data ?? {},
      user_metadata: user.raw_user_meta_data ?? {},
      role: user.role,
      aal: "aal1",
      amr: [{ method, timestamp: now }],
      session_id: sessionId,
      is_anonymous: user.is_anonymous,
    };
    if (options.hooks.customAccessToken) {
      claims = await runAccessTokenHook(db, {
        user_id: user.id,
        claims,
        authentication_method: method,
      });
    }
    return await new SignJWT(claims as JWTPayload)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(secret);
  }

  /**
   * Calls a Postgres-function hook as Supabase Auth does, as supabase_auth_admin: one jsonb
   * event in, one jsonb answer out; an `{ error: { http_code, message } }` answer refuses.
   */
  async function runHook(
    db: Db,
    uri: string,
    event: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const match = /^pg-functions:\/\/[^/]+\/([^/]+)\/([^/]+)$/.exec(uri);
    if (!match) {
      throw new Error(`auth hook uri is not pg-functions://<db>/<schema>/<function>: ${uri}`);
    }
    const fn = `${quoteIdent(match[1])}.${quoteIdent(match[2])}`;
    const { rows } = await db.query<{ result: Record<string, unknown> | null }>(
      `select ${fn}($1::jsonb) as result`,
      [event],
    );
    const result = rows[0]?.result ?? {};
    const error = result.error as { http_code?: number; message?: string } | undefined;
    if (error) {
      throw new AuthError(
        error.http_code ?? 500,
        "hook_rejected",
        error.message ?? "Error running hook",
      );
    }
    return result;
  }

  async function runAccessTokenHook(
    db: Db,
    event: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const result = await runHook(db, options.hooks.customAccessToken!, event);
    if (!result.claims || typeof result.claims !== "object") {
      throw new AuthError(
        500,
        "unexpected_failure",
        "Error running hook URI: output claims missing",
      );
    }
    return result.claims as Record<string, unknown>;
  }

  async function issueSession(db: Db, user: UserRow, method: string, req: IncomingMessage) {
    const sessionId = randomUUID();
    await db.query(
      `insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip)
       values ($1, $2, now(), now(), 'aal1', $3, $4)`,
      [sessionId, user.id, req.headers["user-agent"] ?? null, clientIp(req)],
    );
    await db.query(
      "update auth.users set last_sign_in_at = now(), updated_at = now() where id = $1",
      [user.id],
    );
    const refreshed = (await findUserById(db, user.id))!;
    return await sessionJson(db, refreshed, sessionId, method, null);
  }

  async function sessionJson(
    db: Db,
    user: UserRow,
    sessionId: string,
    method: string,
    parent: string | null,
  ) {
    const refreshToken = randomBytes(9).toString("base64url"); // GoTrue's refresh tokens are short random strings
    await db.query(
      `insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
       values ('00000000-0000-0000-0000-000000000000', $1, $2, false, now(), now(), $3, $4)`,
      [refreshToken, user.id, parent, sessionId],
    );
    const token = await accessToken(db, user, sessionId, method);
    return {
      access_token: token,
      token_type: "bearer",
      expires_in: options.jwtExpiry,
      expires_at: Math.floor(Date.now() / 1000) + options.jwtExpiry,
      refresh_token: refreshToken,
      user: await userJson(db, user),
    };
  }

  function assertNotBanned(user: UserRow): void {
    if (user.banned_until && user.banned_until.getTime() > Date.now()) {
      throw new AuthError(400, "user_banned", "User is banned");
    }
  }

  /** The caller's verified claims and live user; GoTrue refuses tokens whose session is gone. */
  async function requireUser(
    db: Db,
    req: IncomingMessage,
  ): Promise<{ claims: JWTPayload; user: UserRow }> {
    const claims = await verify(req);
    if (
      typeof claims.sub !== "string" || claims.role === "anon" || claims.role === "service_role"
    ) {
      throw new AuthError(403, "bad_jwt", "invalid claim: missing sub claim");
    }
    const user = await findUserById(db, claims.sub);
    if (!user) {
      throw new AuthError(403, "user_not_found", "User from sub claim in JWT does not exist");
    }
    if (typeof claims.session_id === "string") {
      const { rowCount } = await db.query("select 1 from auth.sessions where id = $1", [
        claims.session_id,
      ]);
      if (!rowCount) {
        throw new AuthError(
          403,
          "session_not_found",
          "Session from session_id claim in JWT does not exist",
        );
      }
    }
    return { claims, user };
  }

  async function verify(req: IncomingMessage): Promise<JWTPayload> {
    const token = bearerToken(req);
    if (!token) {
      throw new AuthError(401, "no_authorization", "This endpoint requires a Bearer token");
    }
    try {
      return (await jwtVerify(token, secret, { algorithms: ["HS256"] })).payload;
    } catch (error) {
      throw new AuthError(
        403,
        "bad_jwt",
        `invalid JWT: unable to parse or verify signature, ${(error as Error).message}`,
      );
    }
  }

  async function requireServiceRole(req: IncomingMessage): Promise<void> {
    const claims = await verify(req);
    if (claims.role !== "service_role" && claims.role !== "supabase_admin") {
      throw new AuthError(403, "not_admin", "User not allowed");
    }
  }

  // --- endpoints -------------------------------------------------------------------------

  async function signUp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!options.enableSignup) {
      throw new AuthError(422, "signup_disabled", "Signups not allowed for this instance");
    }
    const body = await jsonBody(req);
    const email = validateEmail(body.email);
    const password = validatePassword(body.password);
    const session = await withAuthAdmin(async (db) => {
      // Local projects sign users in at once (enable_confirmations = false in config.toml).
      const user = await createUser(db, {
        email,
        password,
        userMetadata: metadata(body.data, "data"),
        appMetadata: {},
        confirmed: true,
      });
      return await issueSession(db, user, "password", req);
    });
    sendJson(res, 200, session);
  }

  async function token(
    req: IncomingMessage,
    res: ServerResponse,
    grantType: string | null,
  ): Promise<void> {
    const body = await jsonBody(req);
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
    throw new AuthError(400, "validation_failed", "unsupported_grant_type");
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
    return await sessionJson(db, user, current.session_id, "token_refresh", refreshToken);
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

  async function adminCreateUser(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await requireServiceRole(req);
    const body = await jsonBody(req);
    const email = validateEmail(body.email);
    const password = validatePassword(body.password ?? randomBytes(24).toString("base64url"));
    const user = await withAuthAdmin(async (db) => {
      const created = await createUser(db, {
        email,
        password,
        userMetadata: metadata(body.user_metadata, "user_metadata"),
        appMetadata: metadata(body.app_metadata, "app_metadata"),
        confirmed: body.email_confirm === true,
      });
      return await userJson(db, created);
    });
    sendJson(res, 200, user);
  }

  async function adminGetUser(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
  ): Promise<void> {
    await requireServiceRole(req);
    const user = await withAuthAdmin(async (db) => {
      const existing = isUuid(id) ? await findUserById(db, id) : null;
      if (!existing) throw new AuthError(404, "user_not_found", "User not found");
      return await userJson(db, existing);
    });
    sendJson(res, 200, user);
  }

  async function adminListUsers(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<void> {
    await requireServiceRole(req);
    const page = Math.max(1, Number(url.searchParams.get("page") ?? 1) || 1);
    const perPage = Math.min(
      1000,
      Math.max(1, Number(url.searchParams.get("per_page") ?? 50) || 50),
    );
    const { users, total } = await withAuthAdmin(async (db) => {
      const { rows } = await db.query<UserRow>(
        "select * from auth.users order by created_at, id limit $1 offset $2",
        [perPage, (page - 1) * perPage],
      );
      const count = await db.query<{ total: string }>("select count(*) as total from auth.users");
      // One connection runs one query at a time: the users' identities are read in turn.
      const users = [];
      for (const user of rows) users.push(await userJson(db, user));
      return { users, total: Number(count.rows[0].total) };
    });
    sendJson(res, 200, { users, aud: "authenticated" }, { "x-total-count": String(total) });
  }

  /** PUT /admin/users/:id: metadata, password, confirmation and bans (`ban_duration`, "none" lifts it). */
  async function adminUpdateUser(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
  ): Promise<void> {
    await requireServiceRole(req);
    const body = await jsonBody(req);
    const user = await withAuthAdmin(async (db) => {
      const existing = isUuid(id) ? await findUserById(db, id) : null;
      if (!existing) throw new AuthError(404, "user_not_found", "User not found");
      const bannedUntil = body.ban_duration === undefined ? undefined : banEnd(body.ban_duration);
      const password = body.password === undefined
        ? undefined
        : await bcrypt.hash(validatePassword(body.password), BCRYPT_COST);
      await db.query(
        `update auth.users set
           raw_user_meta_data = case when $2::jsonb is null then raw_user_meta_data else coalesce(raw_user_meta_data, '{}') || $2::jsonb end,
           raw_app_meta_data = case when $3::jsonb is null then raw_app_meta_data else coalesce(raw_app_meta_data, '{}') || $3::jsonb end,
           banned_until = case when $4 then $5::timestamptz else banned_until end,
           encrypted_password = coalesce($6, encrypted_password),
           email_confirmed_at = case when $7 then coalesce(email_confirmed_at, now()) else email_confirmed_at end,
           updated_at = now()
         where id = $1`,
        [
          id,
          body.user_metadata === undefined ? null : metadata(body.user_metadata, "user_metadata"),
          body.app_metadata === undefined ? null : metadata(body.app_metadata, "app_metadata"),
          bannedUntil !== undefined,
          bannedUntil ?? null,
          password ?? null,
          body.email_confirm === true,
        ],
      );
      // A ban ends every session at once, as Supabase Auth does.
      if (bannedUntil) await db.query("delete from auth.sessions where user_id = $1", [id]);
      return await userJson(db, (await findUserById(db, id))!);
    });
    sendJson(res, 200, user);
  }

  async function adminDeleteUser(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
  ): Promise<void> {
    await requireServiceRole(req);
    if (!isUuid(id)) throw new AuthError(404, "user_not_found", "User not found");
    const user = await withAuthAdmin(async (db) => {
      const existing = await findUserById(db, id);
      if (!existing) throw new AuthError(404, "user_not_found", "User not found");
      const json = await userJson(db, existing);
      await db.query("delete from auth.users where id = $1", [id]);
      return json;
    });
    sendJson(res, 200, user);
  }

  async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    const body = await readJson(req);
    if (!body) throw new AuthError(400, "bad_json", "Could not parse request body as JSON");
    return body;
  }

  return async (req, res, path) => {
    const url = new URL(path, "http://auth.local");
    const route = `${req.method} ${url.pathname.replace(/\/+$/, "")}`;
    try {
      const adminUser = /^\/admin\/users\/([^/]+)$/.exec(url.pathname);
      if (route === "POST /signup") return await signUp(req, res);
      if (route === "POST /token") return await token(req, res, url.searchParams.get("grant_type"));
      if (route === "GET /user") return await getUser(req, res);
      if (route === "POST /logout") {
        return await logout(req, res, url.searchParams.get("scope") ?? "global");
      }
      if (route === "POST /admin/users") return await adminCreateUser(req, res);
      if (route === "GET /admin/users") return await adminListUsers(req, res, url);
      if (req.method === "GET" && adminUser) return await adminGetUser(req, res, adminUser[1]);
      if (req.method === "PUT" && adminUser) return await adminUpdateUser(req, res, adminUser[1]);
      if (req.method === "DELETE" && adminUser) {
        return await adminDeleteUser(req, res, adminUser[1]);
      }
      if (route === "GET /health") {
        return sendJson(res, 200, { version: "local-stand-in", name: "GoTrue" });
      }
      throw new AuthError(404, "not_found", `${route} is not served by the local auth stand-in`);
    } catch (error) {
      if (error instanceof AuthError) {
        return sendJson(res, error.status, {
          code: error.status,
          error_code: error.errorCode,
          msg: error.message,
          ...error.extra,
        });
      }
      console.error("auth:", error);
      sendJson(res, 500, {
        code: 500,
        error_code: "unexpected_failure",
        msg: "Unexpected failure, please check server logs for more information",
      });
    }
  };
}

/** Supabase Auth's ban_duration: a Go duration such as "24h" or "90m", or "none" to lift the ban. */
function banEnd(duration: unknown): Date | null {
  if (duration === "none") return null;
  const match = typeof duration === "string" ? /^(\d+)(h|m|s)$/.exec(duration) : null;
  if (!match) {
    throw new AuthError(
      400,
      "validation_failed",
      "ban_duration must be a duration like 24h, or none",
    );
  }
  const seconds = Number(match[1]) * { h: 3600, m: 60, s: 1 }[match[2] as "h" | "m" | "s"];
  return new Date(Date.now() + seconds * 1000);
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

function clientIp(req: IncomingMessage): string | null {
  const address = req.socket.remoteAddress ?? null;
  return address?.startsWith("::ffff:") ? address.slice(7) : address;
}
