// Who may connect, join, read and write, decided as Supabase Realtime decides it.
//
// Tokens: RealtimeWeb.JwtVerification and ChannelsAuthorization.authorize_conn — a JWT signed
// with the project's secret (HS256/384/512), `exp` in the future and `iat` a number when
// present, then `role` and `exp` required. Each failure has its own error, which the socket
// (HTTP status and body) and the channel (join reason, system message) word differently.
//
// Policies: Realtime.Tenants.Authorization — in a transaction, the caller's role, claims and
// the channel's sub-topic set with set_config (`realtime.topic()` reads it), the SELECT
// policies on realtime.messages decide reading (probe rows inserted before switching role,
// then selected back), the INSERT policies decide writing (an insert per extension under a
// savepoint; 42501 means no). The transaction is always rolled back.

import { randomUUID } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from "jose";
import type pg from "pg";
import type { Claims } from "./extensions.ts";

export type TokenProblem =
  | "malformed"
  | "signer"
  | "signature"
  | "expired"
  | "missing_claims";

export type TokenCheck =
  | { ok: true; claims: Claims }
  | { ok: false; problem: TokenProblem; message: string };

const HS_ALGORITHMS = ["HS256", "HS384", "HS512"];

/** Realtime's clean_token: URI-decoded, whitespace removed. */
function cleanToken(token: string): string {
  let decoded = token;
  try {
    decoded = decodeURIComponent(token);
  } catch {
    // keep it as it came
  }
  return decoded.replace(/\s/g, "");
}

export async function verifyToken(raw: string, secret: Uint8Array): Promise<TokenCheck> {
  const token = cleanToken(raw);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    const peeked = decodeJwt(token);
    if (peeked === null || typeof peeked !== "object") throw new Error("claims");
    header = decodeProtectedHeader(token);
  } catch {
    return { ok: false, problem: "malformed", message: "The token provided is not a valid JWT" };
  }
  if (!header.alg || !HS_ALGORITHMS.includes(header.alg)) {
    return {
      ok: false,
      problem: "signer",
      message: "Failed to generate JWT signer, check your JWT secret or JWKS configuration",
    };
  }
  let claims: Record<string, unknown>;
  try {
    // Joken verifies the signature first, then the claims; jose's exp check is done below.
    claims = (await jwtVerify(token, secret, {
      algorithms: HS_ALGORITHMS,
      currentDate: new Date(0),
    })).payload as Record<string, unknown>;
  } catch (error) {
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      return { ok: false, problem: "signature", message: "Failed to validate JWT signature" };
    }
    return { ok: false, problem: "malformed", message: "The token provided is not a valid JWT" };
  }
  const now = Math.floor(Date.now() / 1000);
  if ("exp" in claims) {
    if (typeof claims.exp !== "number" || !(claims.exp > now)) {
      const ago = typeof claims.exp === "number" ? now - Math.round(claims.exp) : 0;
      return { ok: false, problem: "expired", message: `Token has expired ${ago} seconds ago` };
    }
    claims.exp = Math.round(claims.exp);
  }
  if ("iat" in claims && typeof claims.iat !== "number") {
    return { ok: false, problem: "malformed", message: "The token provided is not a valid JWT" };
  }
  if (!("role" in claims) || !("exp" in claims)) {
    return {
      ok: false,
      problem: "missing_claims",
      message: "Fields `role` and `exp` are required in JWT",
    };
  }
  return { ok: true, claims: claims as Claims };
}

/** What a policy check runs with: the sub-topic, and the caller's claims and request headers. */
export interface AuthorizationContext {
  topic: string;
  claims: Claims;
  headers: Record<string, string>;
}

export type Extension = "broadcast" | "presence";

/** Realtime's Policies struct: null is "not checked yet". */
export interface Policies {
  broadcast: { read: boolean | null; write: boolean | null };
  presence: { read: boolean | null; write: boolean | null };
}

export function emptyPolicies(): Policies {
  return { broadcast: { read: null, write: null }, presence: { read: null, write: null } };
}

/** A policy raised, or the role does not exist: Realtime treats it as unauthorized (RlsPolicyError). */
export class PolicyError extends Error {}

async function setConnConfig(db: pg.PoolClient, context: AuthorizationContext): Promise<void> {
  const role = String(context.claims.role);
  const sub = context.claims.sub === undefined ? null : String(context.claims.sub);
  await db.query(
    `select set_config('role', $1, true), set_config('realtime.topic', $2, true),
            set_config('request.jwt.claims', $3, true), set_config('request.jwt.claim.sub', $4, true),
            set_config('request.jwt.claim.role', $5, true), set_config('request.headers', $6, true)`,
    [
      role,
      context.topic,
      JSON.stringify(context.claims),
      sub,
      role,
      JSON.stringify(context.headers),
    ],
  );
}

async function inTransaction<T>(
  pool: pg.Pool,
  work: (db: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const db = await pool.connect();
  try {
    await db.query("begin");
    return await work(db);
  } catch (error) {
    throw error instanceof PolicyError ? error : new PolicyError((error as Error).message);
  } finally {
    await db.query("rollback").catch(() => {});
    db.release();
  }
}

/** The read policies for `extensions`, merged into `policies` (get_read_authorizations). */
export async function readAuthorizations(
  pool: pg.Pool,
  context: AuthorizationContext,
  policies: Policies,
  extensions: Extension[],
): Promise<Policies> {
  return await inTransaction(pool, async (db) => {
    const probes = extensions.map((extension) => ({ extension, id: randomUUID() }));
    await db.query(
      `insert into realtime.messages (id, topic, extension)
       select unnest($1::uuid[]), $2, unnest($3::text[])`,
      [probes.map((p) => p.id), context.topic, probes.map((p) => p.extension)],
    );
    await setConnConfig(db, context);
    const { rows } = await db.query<{ id: string }>(
      "select id from realtime.messages where id = any($1::uuid[])",
      [probes.map((p) => p.id)],
    );
    const visible = new Set(rows.map((row) => row.id));
    const next = structuredClone(policies);
    for (const probe of probes) next[probe.extension].read = visible.has(probe.id);
    return next;
  });
}

/** The write policies (get_write_authorizations): extensions not asked are set to false. */
export async function writeAuthorizations(
  pool: pg.Pool,
  context: AuthorizationContext,
  policies: Policies,
  extensions: Extension[],
): Promise<Policies> {
  return await inTransaction(pool, async (db) => {
    await setConnConfig(db, context);
    const next = structuredClone(policies);
    for (const extension of ["broadcast", "presence"] as Extension[]) {
      if (!extensions.includes(extension)) {
        next[extension].write = false;
        continue;
      }
      await db.query("savepoint realtime_write_check");
      try {
        await db.query("insert into realtime.messages (topic, extension) values ($1, $2)", [
          context.topic,
          extension,
        ]);
        next[extension].write = true;
      } catch (error) {
        if ((error as { code?: string }).code !== "42501") throw error;
        next[extension].write = false;
      }
      await db.query("rollback to savepoint realtime_write_check");
    }
    return next;
  });
}
