// The core of the local Auth stand-in that every route module shares: database access as
// supabase_auth_admin, users and identities as GoTrue stores and returns them, sessions,
// refresh tokens and access tokens with GoTrue's claims (the session's aal and the amr
// claims it records), the Postgres-function hooks, and GoTrue's error shape.

import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import bcrypt from "bcryptjs";
import { type JWTPayload, jwtVerify, SignJWT } from "jose";
import type pg from "pg";
import type { AuthEmailConfig, AuthHooks, SessionBounds, SmtpTarget } from "../config.ts";
import { bearerToken, readJson } from "../http.ts";

export interface AuthOptions {
  pool: pg.Pool;
  jwtSecret: string;
  /** The public URL of the auth API, used as the token issuer. */
  issuer: string;
  jwtExpiry: number;
  /** [auth.sessions] timebox and inactivity_timeout: a refresh past either is refused (sessions.ts). */
  sessions?: SessionBounds;
  minimumPasswordLength: number;
  passwordRequirements: string;
  enableSignup: boolean;
  /** The Postgres-function hooks config.toml enables. */
  hooks: AuthHooks;
  /** [auth.email] and friends: confirmations, templates, rate limits, redirect allow-list. */
  email: AuthEmailConfig;
  /** Where Auth's mail goes: [auth.email.smtp] when enabled, else the local mail catcher. */
  smtp: SmtpTarget;
}

/** An error as GoTrue returns it: `{ code, error_code, msg }`, which auth-js turns into AuthApiError. */
export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface UserRow {
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

export interface IdentityRow {
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

export type Db = pg.PoolClient;

// badoux/checkmail's emailRegexp, which GoTrue's validateEmail applies.
const EMAIL_PATTERN =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
// What Supabase Auth hashes passwords with: bcrypt.GenerateFromPassword at bcrypt.DefaultCost
// (golang.org/x/crypto/bcrypt: 10) in internal/crypto/password.go; only its own tests lower it.
export const BCRYPT_COST = 10;

export type AuthCore = ReturnType<typeof createAuthCore>;

export function createAuthCore(options: AuthOptions) {
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

  /**
   * GoTrue's validateEmail: required, at most 255 characters, the format badoux/checkmail
   * accepts (ValidateFormat), then lowercased.
   */
  function validateEmail(email: unknown): string {
    if (typeof email !== "string" || email === "") {
      throw new AuthError(400, "validation_failed", "An email address is required");
    }
    if (email.length > 255) {
      throw new AuthError(400, "validation_failed", "An email address is too long");
    }
    if (!EMAIL_PATTERN.test(email)) {
      throw new AuthError(
        400,
        "validation_failed",
        "Unable to validate email address: invalid format",
      );
    }
    return email.toLowerCase();
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
      /** null for a user without a password yet (an invite). */
      password: string | null;
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
    const hash = input.password === null ? "" : await bcrypt.hash(input.password, BCRYPT_COST);
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
    const factors = await factorsOf(db, user.id);
    return {
      id: user.id,
      aud: user.aud,
      role: user.role,
      email: user.email ?? "",
      email_confirmed_at: user.email_confirmed_at,
      phone: user.phone ?? "",
      // GoTrue's `phone_confirmed_at,omitempty`.
      ...(user.phone_confirmed_at ? { phone_confirmed_at: user.phone_confirmed_at } : {}),
      confirmed_at: user.confirmed_at,
      // GoTrue's omitempty times of the mail flows, and the address an e-mail change awaits.
      ...mailFlowFields(user as UserRow & Record<string, unknown>),
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
      // GoTrue's `factors,omitempty`: the MFA factors (mfa.ts), absent when there are none.
      ...(factors.length > 0 ? { factors } : {}),
      created_at: user.created_at,
      updated_at: user.updated_at,
      is_anonymous: user.is_anonymous,
    };
  }

  // --- sessions and tokens ---------------------------------------------------------------

  /**
   * GoTrue's access token: the session's assurance level and the amr claims recorded for it
   * (newest first), so a refresh keeps what the sign-in and any MFA verification established.
   */
  async function accessToken(
    db: Db,
    user: UserRow,
    sessionId: string,
    method?: string,
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const { rows } = await db.query<
      { aal: string | null; amr: { method: string; timestamp: number }[] }
    >(
      `select s.aal::text as aal,
              coalesce(json_agg(json_build_object('method', c.authentication_method,
                                                  'timestamp', extract(epoch from c.updated_at)::bigint)
                                order by c.updated_at desc) filter (where c.id is not null), '[]') as amr
         from auth.sessions s left join auth.mfa_amr_claims c on c.session_id = s.id
        where s.id = $1
        group by s.aal`,
      [sessionId],
    );
    const session = rows[0] ?? { aal: "aal1", amr: [] };
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
      aal: session.aal ?? "aal1",
      amr: session.amr,
      session_id: sessionId,
      is_anonymous: user.is_anonymous,
    };
    if (options.hooks.customAccessToken) {
      claims = await runAccessTokenHook(db, {
        user_id: user.id,
        claims,
        // GoTrue passes the grant's own method: token_refresh for a refresh, else the sign-in's.
        authentication_method: method ?? session.amr[0]?.method ?? "password",
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

  /** A new aal1 session for `user`, signed in by `method` (password, otp, magiclink, anonymous, …). */
  async function issueSession(db: Db, user: UserRow, method: string, req: IncomingMessage) {
    const sessionId = randomUUID();
    await db.query(
      `insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip)
       values ($1, $2, now(), now(), 'aal1', $3, $4)`,
      [sessionId, user.id, req.headers["user-agent"] ?? null, clientIp(req)],
    );
    await recordAmrClaim(db, sessionId, method);
    await db.query(
      "update auth.users set last_sign_in_at = now(), updated_at = now() where id = $1",
      [user.id],
    );
    const refreshed = (await findUserById(db, user.id))!;
    return await sessionJson(db, refreshed, sessionId, null);
  }

  /** Records that `session` was authenticated by `method` (GoTrue's mfa_amr_claims), refreshing its time when repeated. */
  async function recordAmrClaim(db: Db, sessionId: string, method: string): Promise<void> {
    await db.query(
      `insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
       values (gen_random_uuid(), $1, now(), now(), $2)
       on conflict (session_id, authentication_method) do update set updated_at = now()`,
      [sessionId, method],
    );
  }

  /** A new refresh token for the session and the session answer GoTrue returns (tokens and user). */
  /** `method`: the access token hook's authentication_method when not the session's latest (token_refresh). */
  async function sessionJson(
    db: Db,
    user: UserRow,
    sessionId: string,
    parent: string | null,
    method?: string,
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

  // A request's body is read once: a route that looks at it before handing the request on
  // (POST /signup without an e-mail or phone is an anonymous sign-in) leaves it for the next.
  const bodies = new WeakMap<IncomingMessage, Record<string, unknown>>();

  async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    const read = bodies.get(req);
    if (read) return read;
    const body = await readJson(req);
    if (!body) throw new AuthError(400, "bad_json", "Could not parse request body as JSON");
    bodies.set(req, body);
    return body;
  }

  return {
    options,
    withAuthAdmin,
    findUserByEmail,
    findUserById,
    identitiesOf,
    validateEmail,
    validatePassword,
    metadata,
    createUser,
    userJson,
    runHook,
    issueSession,
    recordAmrClaim,
    sessionJson,
    assertNotBanned,
    requireUser,
    verify,
    requireServiceRole,
    jsonBody,
  };
}

/** What GoTrue's user JSON adds while a mail flow is under way (each `omitempty`). */
function mailFlowFields(user: Record<string, unknown>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (
    const column of [
      "invited_at",
      "confirmation_sent_at",
      "recovery_sent_at",
      "email_change_sent_at",
      "reauthentication_sent_at",
    ]
  ) {
    if (user[column]) fields[column] = user[column];
  }
  if (user.email_change) fields.new_email = user.email_change;
  return fields;
}

/** Supabase Auth's ban_duration: a Go duration such as "24h" or "90m", or "none" to lift the ban. */
export function banEnd(duration: unknown): Date | null {
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

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

export function clientIp(req: IncomingMessage): string | null {
  const address = req.socket.remoteAddress ?? null;
  return address?.startsWith("::ffff:") ? address.slice(7) : address;
}

/** A row of auth.mfa_factors. */
export interface FactorRow {
  id: string;
  user_id: string;
  friendly_name: string | null;
  factor_type: string;
  status: string;
  created_at: Date;
  updated_at: Date;
  secret: string | null;
  last_challenged_at: Date | null;
}

/** A factor as GoTrue's models.Factor marshals it (`factors` on the user). */
export function factorJson(factor: FactorRow): Record<string, unknown> {
  return {
    id: factor.id,
    ...(factor.friendly_name ? { friendly_name: factor.friendly_name } : {}),
    factor_type: factor.factor_type,
    status: factor.status,
    created_at: factor.created_at,
    updated_at: factor.updated_at,
    last_challenged_at: factor.last_challenged_at,
  };
}

/** The user's MFA factors, oldest first, as `factors` on GoTrue's user object. */
export async function factorsOf(db: Db, userId: string): Promise<Record<string, unknown>[]> {
  const { rows } = await db.query<FactorRow>(
    "select * from auth.mfa_factors where user_id = $1 order by created_at, id",
    [userId],
  );
  return rows.map(factorJson);
}
