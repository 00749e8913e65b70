// Multi-factor authentication as Supabase Auth serves it: TOTP factors (enroll, challenge,
// verify, unenroll; GoTrue's internal/api/mfa.go), and recovery codes (supabase/auth #2725,
// #2753, #2762, #2764, #2772, #2780, 2026-08/09; supabase-js 2.119.1's
// `mfa.recoveryCodes`). A verification adds an amr claim to the caller's session and
// recomputes its aal from the claims, as GoTrue's updateMFASessionAndClaims does; the access
// token then carries both (core.ts reads them from auth.sessions and auth.mfa_amr_claims).
//
// `requiresAal2` is the rule other routes apply before an e-mail or password change
// (GoTrue's UserUpdate: a user with a verified factor needs an aal2 session).

import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { JWTPayload } from "jose";
import * as OTPAuth from "otpauth";
import QRCode from "qrcode";
import { readSupabaseConfig } from "../config.ts";
import { sendJson } from "../http.ts";
import {
  type AuthCore,
  AuthError,
  clientIp,
  type Db,
  type FactorRow,
  isUuid,
  type UserRow,
} from "./core.ts";
import type { Route } from "./router.ts";

/** amr methods that make a session aal2 (GoTrue's AMRClaim.IsAAL2Claim, plus recovery codes). */
export const AAL2_METHODS = ["totp", "mfa/phone", "mfa/webauthn", "mfa/recovery_code"];

const RECOVERY_CODE_METHOD = "mfa/recovery_code";
const RECOVERY_CODE_FACTOR = "recovery_code";
const RECOVERY_CODES_DEFAULT_NAME = "Recovery codes";
/** #2762: ten codes per set, sixteen lowercase alphanumerics each. */
const RECOVERY_CODE_COUNT = 10;
const RECOVERY_CODE_LENGTH = 16;
const RECOVERY_CODE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
/**
 * The lockout (#2753 counts failures and locks per set; its numbers are not in anything we
 * could read, so these are our choice): the fifth failed verification in a row locks
 * verification for fifteen minutes; a success, or a regenerated set, clears the count.
 */
export const RECOVERY_CODE_MAX_FAILURES = 5;
export const RECOVERY_CODE_LOCK_SECONDS = 15 * 60;

/** The assurance level auth.sessions holds for a session (null when the session is gone). */
async function sessionAal(db: Db, sessionId: unknown): Promise<string | null> {
  if (typeof sessionId !== "string" || !isUuid(sessionId)) return null;
  const { rows } = await db.query<{ aal: string | null }>(
    "select aal::text as aal from auth.sessions where id = $1",
    [sessionId],
  );
  return rows.length === 0 ? null : rows[0].aal ?? "aal1";
}

/**
 * Whether an action that changes who the user is (e-mail, phone, password) needs an aal2
 * session the caller does not have: the user has a verified factor and the caller's session
 * is not aal2. GoTrue's UserUpdate refuses such a change with 401 `insufficient_aal`, "AAL2
 * session is required to update email or password when MFA is enabled."; `aal2Required`
 * below throws that error.
 */
export async function requiresAal2(
  db: Db,
  userId: string,
  claims: JWTPayload,
): Promise<boolean> {
  const { rowCount } = await db.query(
    "select 1 from auth.mfa_factors where user_id = $1 and status = 'verified' limit 1",
    [userId],
  );
  if (!rowCount) return false;
  return (await sessionAal(db, claims.session_id)) !== "aal2";
}

/** GoTrue's refusal of an e-mail, phone or password change at aal1 when MFA is enabled. */
export function aal2Required(): AuthError {
  return new AuthError(
    401,
    "insufficient_aal",
    "AAL2 session is required to update email or password when MFA is enabled.",
  );
}

interface MfaConfig {
  maxEnrolledFactors: number;
  maxVerifiedFactors: number;
  totpEnrollEnabled: boolean;
  totpVerifyEnabled: boolean;
  /** Seconds a challenge may be verified (GoTrue's MFA.ChallengeExpiryDuration, 300 s at least). */
  challengeExpirySeconds: number;
  /** Seconds an unverified factor without challenges lives (MFA.FactorExpiryDuration). */
  factorExpirySeconds: number;
  /** Challenges and verifications per minute and client (MFA.RateLimitChallengeAndVerify), burst 30. */
  rateLimitPerMinute: number;
  siteUrl: string;
}

function mfaConfig(): MfaConfig {
  const toml = readSupabaseConfig();
  const mfa = toml.auth?.mfa ?? {};
  return {
    maxEnrolledFactors: Number(mfa.max_enrolled_factors ?? 10),
    maxVerifiedFactors: 10,
    totpEnrollEnabled: mfa.totp?.enroll_enabled !== false,
    totpVerifyEnabled: mfa.totp?.verify_enabled !== false,
    challengeExpirySeconds: 300,
    factorExpirySeconds: 300,
    rateLimitPerMinute: 15,
    siteUrl: String(toml.auth?.site_url ?? "http://127.0.0.1:3000"),
  };
}

/**
 * GoTrue's limiter for /factors/{id}/challenge and /verify (tollbooth: a token bucket of 30
 * refilled at MFA.RateLimitChallengeAndVerify per minute, one bucket per route and client
 * address). GoTrue keys it by the `sb-forwarded-for` address Supabase's proxy sets, or by
 * GOTRUE_RATE_LIMIT_HEADER when configured, and limits nothing when a request carries neither
 * (performRateLimiting): so the stand-in limits requests carrying `sb-forwarded-for` only,
 * as hosted Supabase's proxy always sends it and `supabase start` does not.
 */
class RateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private perMinute: number, private burst = 30) {}

  take(key: string): boolean {
    const now = Date.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(
      this.burst,
      bucket.tokens + ((now - bucket.at) / 60_000) * this.perMinute,
    );
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

function rateLimitKey(req: IncomingMessage): string | null {
  const forwarded = req.headers["sb-forwarded-for"];
  const value = Array.isArray(forwarded) ? forwarded[0] : forwarded;
  return value?.split(",")[0].trim() || null;
}

/** Lower-cased, without hyphens and white space (#2762). */
export function normalizeRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]+/g, "");
}

/**
 * Codes are 82 bits of randomness, so a plain SHA-256 is enough to store them (no password to
 * stretch); the hashing GoTrue chose is not in anything we could read.
 */
export function hashRecoveryCode(code: string): string {
  return createHash("sha256").update(normalizeRecoveryCode(code)).digest("hex");
}

function newRecoveryCode(): string {
  // Rejection sampling keeps every character equally likely (256 is not a multiple of 36).
  let code = "";
  while (code.length < RECOVERY_CODE_LENGTH) {
    for (const byte of randomBytes(RECOVERY_CODE_LENGTH * 2)) {
      if (byte < 252 && code.length < RECOVERY_CODE_LENGTH) {
        code += RECOVERY_CODE_ALPHABET[byte % 36];
      }
    }
  }
  return code;
}

export function mfaRoutes(core: AuthCore): Route[] {
  const config = mfaConfig();
  const verifyLimiter = new RateLimiter(config.rateLimitPerMinute);
  const challengeLimiter = new RateLimiter(config.rateLimitPerMinute);
  const { withAuthAdmin, requireUser, jsonBody, userJson, sessionJson, findUserById } = core;

  /** The caller, their session (id and aal) as auth.sessions holds it. */
  async function caller(db: Db, req: IncomingMessage) {
    const { claims, user } = await requireUser(db, req);
    const sessionId = typeof claims.session_id === "string" ? claims.session_id : null;
    if (!sessionId) {
      throw new AuthError(
        500,
        "unexpected_failure",
        "A valid session and a registered user are required to enroll a factor",
      );
    }
    const aal = await sessionAal(db, sessionId);
    // Ended since requireUser looked: another request's MFA upgrade ends the user's other aal1
    // sessions, as GoTrue does. The same answer requireUser gives for a session that is gone.
    if (!aal) {
      throw new AuthError(
        403,
        "session_not_found",
        "Session from session_id claim in JWT does not exist",
      );
    }
    return { claims, user, sessionId, aal };
  }

  /** GoTrue's loadFactor: the caller's own factor, locked for the rest of the transaction. */
  async function ownedFactor(db: Db, user: UserRow, id: string): Promise<FactorRow> {
    if (!isUuid(id)) throw new AuthError(404, "validation_failed", "factor_id must be an UUID");
    const { rows } = await db.query<FactorRow>(
      "select * from auth.mfa_factors where id = $1 and user_id = $2 for update",
      [id, user.id],
    );
    if (!rows[0]) throw new AuthError(404, "mfa_factor_not_found", "Factor not found");
    return rows[0];
  }

  /** GoTrue's validateFactors: expired unverified factors go, then name, count and aal checks. */
  async function validateNewFactor(db: Db, userId: string, name: string, aal: string) {
    await db.query(
      `delete from auth.mfa_factors f
        where f.status <> 'verified'
          and not exists (select 1 from auth.mfa_challenges c where c.factor_id = f.id)
          and f.created_at + make_interval(secs => $1) < now()`,
      [config.factorExpirySeconds],
    );
    // One enrollment at a time per user: the user's row is the lock.
    await db.query("select 1 from auth.users where id = $1 for update", [userId]);
    const { rows } = await db.query<FactorRow>(
      "select * from auth.mfa_factors where user_id = $1",
      [userId],
    );
    if (rows.some((factor) => (factor.friendly_name ?? "") === name)) {
      throw new AuthError(
        422,
        "mfa_factor_name_conflict",
        `A factor with the friendly name ${JSON.stringify(name)} for this user already exists`,
      );
    }
    const verified = rows.filter((factor) => factor.status === "verified").length;
    if (rows.length >= config.maxEnrolledFactors || verified >= config.maxVerifiedFactors) {
      throw new AuthError(
        422,
        "too_many_enrolled_mfa_factors",
        "Maximum number of verified factors reached, unenroll to continue",
      );
    }
    if (verified > 0 && aal !== "aal2") {
      throw new AuthError(403, "insufficient_aal", "AAL2 required to enroll a new factor");
    }
  }

  /**
   * GoTrue's updateMFASessionAndClaims: the amr claim joins the session, the session's aal is
   * recomputed from its claims, the session's refresh token is swapped for a new one, and a
   * new token pair is returned; then every other session below aal2 is signed out
   * (InvalidateSessionsWithAALLessThan).
   */
  async function upgradeSession(
    db: Db,
    userId: string,
    sessionId: string,
    method: string,
    factorId: string,
  ) {
    await core.recordAmrClaim(db, sessionId, method);
    await db.query(
      `update auth.sessions s
          set aal = case when exists (select 1 from auth.mfa_amr_claims c
                                       where c.session_id = s.id
                                         and c.authentication_method = any($3::text[]))
                         then 'aal2'::auth.aal_level else 'aal1'::auth.aal_level end,
              factor_id = $2, updated_at = now()
        where s.id = $1`,
      [sessionId, factorId, AAL2_METHODS],
    );
    const { rows } = await db.query<{ token: string }>(
      `update auth.refresh_tokens set revoked = true, updated_at = now()
        where session_id = $1 and not revoked
        returning token`,
      [sessionId],
    );
    await db.query("delete from auth.sessions where user_id = $1 and aal < 'aal2'", [userId]);
    const user = (await findUserById(db, userId))!;
    return await sessionJson(db, user, sessionId, rows.at(-1)?.token ?? null);
  }

  // --- TOTP factors ----------------------------------------------------------------------

  async function enroll(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await jsonBody(req);
    const factorType = body.factor_type;
    const friendlyName = typeof body.friendly_name === "string" ? body.friendly_name : "";
    const issuerParam = typeof body.issuer === "string" ? body.issuer : "";
    if (factorType !== "totp") {
      if (factorType === "phone" || factorType === "webauthn") {
        throw new AuthError(
          422,
          `mfa_${factorType}_enroll_not_enabled`,
          `MFA enroll is disabled for ${factorType === "phone" ? "Phone" : "WebAuthn"}`,
        );
      }
      throw new AuthError(
        400,
        "validation_failed",
        "factor_type needs to be totp, phone, or webauthn",
      );
    }
    if (!config.totpEnrollEnabled) {
      throw new AuthError(422, "mfa_totp_enroll_not_enabled", "MFA enroll is disabled for TOTP");
    }
    const answer = await withAuthAdmin(async (db) => {
      const { user, aal } = await caller(db, req);
      await validateNewFactor(db, user.id, friendlyName, aal);
      const issuer = issuerParam || new URL(config.siteUrl).host;
      // pquerna/otp's defaults, which GoTrue uses: a 20-byte secret, SHA1, 6 digits, 30 s.
      const totp = new OTPAuth.TOTP({
        issuer,
        label: user.email ?? "",
        algorithm: "SHA1",
        digits: 6,
        period: 30,
        secret: new OTPAuth.Secret({ size: 20 }),
      });
      const uri = totp.toString();
      // GoTrue answers the bare SVG (error correction H); supabase-js makes it a data URI.
      const svg = await QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "H" });
      const id = randomUUID();
      await db.query(
        `insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
         values ($1, $2, $3, 'totp', 'unverified', now(), now(), $4)`,
        [id, user.id, friendlyName, totp.secret.base32],
      );
      return {
        id,
        type: "totp",
        friendly_name: friendlyName,
        totp: { qr_code: svg, secret: totp.secret.base32, uri },
      };
    });
    sendJson(res, 200, answer);
  }

  function assertTotpVerifyEnabled(factor: FactorRow) {
    if (factor.factor_type === RECOVERY_CODE_FACTOR) {
      // Recovery codes are verified through /factors/recovery-codes/verify only.
      throw new AuthError(
        400,
        "validation_failed",
        "factor_type needs to be totp, phone, or webauthn",
      );
    }
    if (factor.factor_type !== "totp") {
      throw new AuthError(
        422,
        `mfa_${factor.factor_type}_verify_not_enabled`,
        `MFA verification is disabled for ${factor.factor_type === "phone" ? "Phone" : "WebAuthn"}`,
      );
    }
    if (!config.totpVerifyEnabled) {
      throw new AuthError(
        422,
        "mfa_totp_verify_not_enabled",
        "MFA verification is disabled for TOTP",
      );
    }
  }

  function rateLimited(limiter: RateLimiter, req: IncomingMessage) {
    const key = rateLimitKey(req);
    if (key && !limiter.take(key)) {
      throw new AuthError(429, "over_request_rate_limit", "Request rate limit reached");
    }
  }

  async function challenge(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    rateLimited(challengeLimiter, req);
    const answer = await withAuthAdmin(async (db) => {
      const { user } = await caller(db, req);
      const factor = await ownedFactor(db, user, id);
      assertTotpVerifyEnabled(factor);
      const challengeId = randomUUID();
      const { rows } = await db.query<{ created_at: Date }>(
        `insert into auth.mfa_challenges (id, factor_id, created_at, ip_address)
         values ($1, $2, now(), $3) returning created_at`,
        [challengeId, factor.id, clientIp(req) ?? "0.0.0.0"],
      );
      await db.query(
        "update auth.mfa_factors set last_challenged_at = now(), updated_at = now() where id = $1",
        [factor.id],
      );
      return {
        id: challengeId,
        type: factor.factor_type,
        expires_at: Math.floor(rows[0].created_at.getTime() / 1000) +
          config.challengeExpirySeconds,
      };
    });
    sendJson(res, 200, answer);
  }

  async function verify(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    rateLimited(verifyLimiter, req);
    const body = await jsonBody(req);
    const code = typeof body.code === "string" ? body.code : "";
    const challengeId = typeof body.challenge_id === "string" ? body.challenge_id : "";
    if (code === "") throw new AuthError(400, "validation_failed", "Code needs to be non-empty");
    // A refusal after the challenge was looked at must still commit what it changed (an
    // expired challenge is deleted), so errors are carried out of the transaction.
    let refusal: AuthError | null = null;
    const answer = await withAuthAdmin(async (db) => {
      const { user, sessionId } = await caller(db, req);
      const factor = await ownedFactor(db, user, id);
      assertTotpVerifyEnabled(factor);
      const { rows } = await db.query<
        { id: string; created_at: Date; verified_at: Date | null; ip_address: string }
      >(
        `select id, created_at, verified_at, host(ip_address) as ip_address
           from auth.mfa_challenges where id = $1 and factor_id = $2 for update`,
        [isUuid(challengeId) ? challengeId : "00000000-0000-0000-0000-000000000000", factor.id],
      );
      const found = rows[0];
      if (!found) {
        throw new AuthError(
          422,
          "mfa_factor_not_found",
          "MFA factor with the provided challenge ID not found",
        );
      }
      if (found.verified_at || found.ip_address !== (clientIp(req) ?? "0.0.0.0")) {
        throw new AuthError(
          422,
          "mfa_ip_address_mismatch",
          "Challenge and verify IP addresses mismatch.",
        );
      }
      if (found.created_at.getTime() + config.challengeExpirySeconds * 1000 < Date.now()) {
        await db.query("delete from auth.mfa_challenges where id = $1", [found.id]);
        refusal = new AuthError(
          422,
          "mfa_challenge_expired",
          `MFA challenge ${found.id} has expired, verify against another challenge or create a new challenge.`,
        );
        return null;
      }
      // GoTrue: totp.ValidateCustom with period 30, skew 1 (one step either side), 6 digits, SHA1.
      const valid = OTPAuth.TOTP.validate({
        token: code,
        secret: OTPAuth.Secret.fromBase32(factor.secret ?? ""),
        algorithm: "SHA1",
        digits: 6,
        period: 30,
        window: 1,
      }) !== null;
      if (!valid) {
        throw new AuthError(422, "mfa_verification_failed", "Invalid TOTP code entered");
      }
      await db.query("update auth.mfa_challenges set verified_at = now() where id = $1", [
        found.id,
      ]);
      if (factor.status !== "verified") {
        await db.query(
          "update auth.mfa_factors set status = 'verified', updated_at = now() where id = $1",
          [factor.id],
        );
      }
      const session = await upgradeSession(db, user.id, sessionId, "totp", factor.id);
      // DeleteUnverifiedFactors: the user's other unverified factors of this type go.
      await db.query(
        "delete from auth.mfa_factors where user_id = $1 and status = 'unverified' and factor_type = 'totp'",
        [user.id],
      );
      return { ...session, user: await userJson(db, (await findUserById(db, user.id))!) };
    });
    if (refusal) throw refusal;
    sendJson(res, 200, answer);
  }

  async function unenroll(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const answer = await withAuthAdmin(async (db) => {
      const { user, aal } = await caller(db, req);
      const factor = await ownedFactor(db, user, id);
      if (factor.status === "verified" && aal !== "aal2") {
        throw new AuthError(
          422,
          "insufficient_aal",
          "AAL2 required to unenroll verified factor",
        );
      }
      await removeFactor(db, factor);
      // Recovery codes are never a user's only factor: they go with the last other verified
      // factor (our choice; the recovery-codes PRs we could read do not say).
      if (factor.factor_type !== RECOVERY_CODE_FACTOR) {
        const { rows } = await db.query<{ others: number }>(
          `select count(*)::int as others from auth.mfa_factors
            where user_id = $1 and status = 'verified' and factor_type <> 'recovery_code'`,
          [user.id],
        );
        if (rows[0].others === 0) {
          const codes = await db.query<FactorRow>(
            "select * from auth.mfa_factors where user_id = $1 and factor_type = 'recovery_code'",
            [user.id],
          );
          for (const recovery of codes.rows) await removeFactor(db, recovery);
        }
      }
      return { id: factor.id };
    });
    sendJson(res, 200, answer);
  }

  /**
   * Deletes a factor and, as GoTrue's DowngradeSessionsToAAL1 does, takes its amr claim off
   * the sessions it upgraded and recomputes their aal.
   */
  async function removeFactor(db: Db, factor: FactorRow) {
    const method = factor.factor_type === RECOVERY_CODE_FACTOR
      ? RECOVERY_CODE_METHOD
      : factor.factor_type === "totp"
      ? "totp"
      : `mfa/${factor.factor_type}`;
    const { rows } = await db.query<{ id: string }>(
      "select id from auth.sessions where factor_id = $1",
      [factor.id],
    );
    await db.query("delete from auth.mfa_factors where id = $1", [factor.id]);
    for (const session of rows) {
      await db.query(
        "delete from auth.mfa_amr_claims where session_id = $1 and authentication_method = $2",
        [session.id, method],
      );
      await db.query(
        `update auth.sessions s
            set aal = case when exists (select 1 from auth.mfa_amr_claims c
                                         where c.session_id = s.id
                                           and c.authentication_method = any($2::text[]))
                           then 'aal2'::auth.aal_level else 'aal1'::auth.aal_level end,
                factor_id = null, updated_at = now()
          where s.id = $1`,
        [session.id, AAL2_METHODS],
      );
    }
  }

  // --- recovery codes --------------------------------------------------------------------

  interface RecoverySet {
    id: string;
    mfa_factor_id: string;
    failed_verification_count: number;
    verification_locked_until: Date | null;
    friendly_name: string | null;
  }

  /** The caller's recovery-code set, locked (FOR UPDATE, #2753) when `lock`. */
  async function recoverySet(db: Db, userId: string, lock: boolean): Promise<RecoverySet | null> {
    const { rows } = await db.query<RecoverySet>(
      `select s.id, s.mfa_factor_id, s.failed_verification_count, s.verification_locked_until,
              f.friendly_name
         from auth.mfa_recovery_code_sets s join auth.mfa_factors f on f.id = s.mfa_factor_id
        where s.user_id = $1 ${lock ? "for update of s" : ""}`,
      [userId],
    );
    return rows[0] ?? null;
  }

  function recoveryCodesNotFound(): AuthError {
    return new AuthError(404, "mfa_factor_not_found", "Recovery codes not found");
  }

  function aal2ForRecoveryCodes(aal: string) {
    if (aal !== "aal2") {
      throw new AuthError(
        403,
        "insufficient_aal",
        "AAL2 required to manage recovery codes",
      );
    }
  }

  /** A new set of codes for the set `setId`; the plaintexts, returned once. */
  async function writeCodes(db: Db, setId: string): Promise<string[]> {
    const codes = new Set<string>();
    while (codes.size < RECOVERY_CODE_COUNT) codes.add(newRecoveryCode());
    for (const code of codes) {
      await db.query(
        `insert into auth.mfa_recovery_codes (id, mfa_recovery_code_set_id, code_hash, created_at)
         values ($1, $2, $3, now())`,
        [randomUUID(), setId, hashRecoveryCode(code)],
      );
    }
    return [...codes];
  }

  async function recoveryStatus(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = await withAuthAdmin(async (db) => {
      const { user } = await caller(db, req);
      const set = await recoverySet(db, user.id, false);
      if (!set) throw recoveryCodesNotFound();
      const { rows } = await db.query<{ total: number; remaining: number }>(
        `select count(*)::int as total, (count(*) filter (where used_at is null))::int as remaining
           from auth.mfa_recovery_codes where mfa_recovery_code_set_id = $1`,
        [set.id],
      );
      return { id: set.mfa_factor_id, type: RECOVERY_CODE_FACTOR, ...rows[0] };
    });
    sendJson(res, 200, answer);
  }

  async function generateRecoveryCodes(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await jsonBody(req);
    const friendlyName = typeof body.friendly_name === "string" && body.friendly_name.trim()
      ? body.friendly_name
      : RECOVERY_CODES_DEFAULT_NAME;
    const answer = await withAuthAdmin(async (db) => {
      const { user, aal } = await caller(db, req);
      aal2ForRecoveryCodes(aal);
      // The user's row serialises two generations, so only one set is ever made.
      await db.query("select 1 from auth.users where id = $1 for update", [user.id]);
      if (await recoverySet(db, user.id, false)) {
        throw new AuthError(
          422,
          "mfa_verified_factor_exists",
          "Recovery codes already exist, regenerate them to replace them",
        );
      }
      const { rows } = await db.query<{ others: number }>(
        `select count(*)::int as others from auth.mfa_factors
          where user_id = $1 and status = 'verified' and factor_type <> 'recovery_code'`,
        [user.id],
      );
      if (rows[0].others === 0) {
        throw new AuthError(
          422,
          "mfa_recovery_codes_sole_factor",
          "Recovery codes cannot be the only factor: verify another factor first",
        );
      }
      await validateNewFactor(db, user.id, friendlyName, aal);
      const factorId = randomUUID();
      await db.query(
        `insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at)
         values ($1, $2, $3, 'recovery_code', 'verified', now(), now())`,
        [factorId, user.id, friendlyName],
      );
      const setId = randomUUID();
      await db.query(
        `insert into auth.mfa_recovery_code_sets (id, user_id, mfa_factor_id) values ($1, $2, $3)`,
        [setId, user.id, factorId],
      );
      const codes = await writeCodes(db, setId);
      return {
        id: factorId,
        type: RECOVERY_CODE_FACTOR,
        friendly_name: friendlyName,
        total: codes.length,
        codes,
      };
    });
    sendJson(res, 200, answer);
  }

  async function regenerateRecoveryCodes(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const answer = await withAuthAdmin(async (db) => {
      const { user, aal } = await caller(db, req);
      aal2ForRecoveryCodes(aal);
      const set = await recoverySet(db, user.id, true);
      if (!set) throw recoveryCodesNotFound();
      // The old set's codes stop working now, and any lockout is cleared (#2772).
      await db.query("delete from auth.mfa_recovery_codes where mfa_recovery_code_set_id = $1", [
        set.id,
      ]);
      await db.query(
        `update auth.mfa_recovery_code_sets
            set failed_verification_count = 0, verification_locked_until = null, updated_at = now()
          where id = $1`,
        [set.id],
      );
      const codes = await writeCodes(db, set.id);
      return {
        id: set.mfa_factor_id,
        type: RECOVERY_CODE_FACTOR,
        ...(set.friendly_name ? { friendly_name: set.friendly_name } : {}),
        total: codes.length,
        codes,
      };
    });
    sendJson(res, 200, answer);
  }

  async function unenrollRecoveryCodes(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = await withAuthAdmin(async (db) => {
      const { user, aal } = await caller(db, req);
      const set = await recoverySet(db, user.id, true);
      if (!set) throw recoveryCodesNotFound();
      if (aal !== "aal2") {
        throw new AuthError(
          422,
          "insufficient_aal",
          "AAL2 required to unenroll verified factor",
        );
      }
      const factor = await ownedFactor(db, user, set.mfa_factor_id);
      await removeFactor(db, factor);
      return { id: factor.id };
    });
    sendJson(res, 200, answer);
  }

  /**
   * #2764: a recovery code upgrades the caller's own session to aal2. Verifications of one
   * user queue on the set's row (FOR UPDATE), so a code is consumed once however many
   * requests race for it, and every failure is counted.
   */
  async function verifyRecoveryCode(req: IncomingMessage, res: ServerResponse): Promise<void> {
    rateLimited(verifyLimiter, req);
    const body = await jsonBody(req);
    const code = typeof body.code === "string" ? normalizeRecoveryCode(body.code) : "";
    let refusal: AuthError | null = null;
    const answer = await withAuthAdmin(async (db) => {
      const { user, sessionId } = await caller(db, req);
      const set = await recoverySet(db, user.id, true);
      if (!set) throw recoveryCodesNotFound();
      const locked = set.verification_locked_until;
      if (locked && locked.getTime() > Date.now()) {
        throw recoveryCodesLocked(locked);
      }
      const { rows } = code === "" ? { rows: [] } : await db.query<{ id: string }>(
        `update auth.mfa_recovery_codes set used_at = now()
          where mfa_recovery_code_set_id = $1 and code_hash = $2 and used_at is null
          returning id`,
        [set.id, hashRecoveryCode(code)],
      );
      if (rows.length === 0) {
        // Counted and committed: the refusal is carried out of the transaction.
        const failures = set.failed_verification_count + 1;
        const lock = failures >= RECOVERY_CODE_MAX_FAILURES;
        await db.query(
          `update auth.mfa_recovery_code_sets
              set failed_verification_count = $2,
                  verification_locked_until = case when $3 then now() + make_interval(secs => $4) end,
                  updated_at = now()
            where id = $1`,
          [set.id, lock ? 0 : failures, lock, RECOVERY_CODE_LOCK_SECONDS],
        );
        refusal = new AuthError(422, "mfa_verification_failed", "Invalid recovery code entered");
        return null;
      }
      await db.query(
        `update auth.mfa_recovery_code_sets
            set failed_verification_count = 0, verification_locked_until = null, updated_at = now()
          where id = $1`,
        [set.id],
      );
      const session = await upgradeSession(
        db,
        user.id,
        sessionId,
        RECOVERY_CODE_METHOD,
        set.mfa_factor_id,
      );
      return session;
    });
    if (refusal) throw refusal;
    sendJson(res, 200, answer);
  }

  function recoveryCodesLocked(until: Date): AuthError {
    const seconds = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 1000));
    return new AuthError(
      429,
      "mfa_recovery_codes_locked",
      `Too many failed recovery code attempts: try again in ${seconds} seconds`,
    );
  }

  const factor = (suffix: string) => new RegExp(`^/factors/([^/]+)${suffix}$`);
  return [
    // Recovery codes first: /factors/recovery-codes would otherwise read as a factor id.
    {
      method: "GET",
      path: "/factors/recovery-codes",
      handle: ({ req, res }) => recoveryStatus(req, res),
    },
    {
      method: "POST",
      path: "/factors/recovery-codes",
      handle: ({ req, res }) => generateRecoveryCodes(req, res),
    },
    {
      method: "POST",
      path: "/factors/recovery-codes/regenerate",
      handle: ({ req, res }) => regenerateRecoveryCodes(req, res),
    },
    {
      method: "POST",
      path: "/factors/recovery-codes/verify",
      handle: ({ req, res }) => verifyRecoveryCode(req, res),
    },
    {
      method: "DELETE",
      path: "/factors/recovery-codes",
      handle: ({ req, res }) => unenrollRecoveryCodes(req, res),
    },
    { method: "POST", path: "/factors", handle: ({ req, res }) => enroll(req, res) },
    {
      method: "POST",
      path: factor("/challenge"),
      handle: ({ req, res, params }) => challenge(req, res, params[0]),
    },
    {
      method: "POST",
      path: factor("/verify"),
      handle: ({ req, res, params }) => verify(req, res, params[0]),
    },
    {
      method: "DELETE",
      path: factor(""),
      handle: ({ req, res, params }) => unenroll(req, res, params[0]),
    },
  ];
}
