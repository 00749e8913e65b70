// One-time tokens as Supabase Auth keeps them: a numeric OTP mailed to the user, stored only
// as sha224(address + otp) in hex (internal/crypto GenerateTokenHash), prefixed "pkce_" when
// the flow is PKCE (internal/api/pkce.go addFlowPrefixToToken). The hash lives twice, as
// GoTrue writes it: in the user's column (confirmation_token, recovery_token, …, with its
// *_sent_at) and in auth.one_time_tokens (one row per user and type; models.CreateOneTimeToken
// replaces the previous one). A link carries the hash (`token_hash`, found through
// one_time_tokens); a typed code is hashed with the address and compared with the column.
//
// The admin routes reuse these for generate_link and invite: issueOneTimeToken writes a token
// of any type and returns the OTP and the stored hash; consumeOneTimeToken finds and checks
// the token a link carries.

import { createHash, randomInt } from "node:crypto";
import { AuthError, type Db, type UserRow } from "./core.ts";

/** auth.one_time_token_type. */
export type OneTimeTokenType =
  | "confirmation_token"
  | "reauthentication_token"
  | "recovery_token"
  | "email_change_token_new"
  | "email_change_token_current"
  | "phone_change_token";

/** The auth.users columns each token type is kept in, with the time it was sent. */
const USER_COLUMNS: Record<OneTimeTokenType, { token: string; sentAt: string }> = {
  confirmation_token: { token: "confirmation_token", sentAt: "confirmation_sent_at" },
  reauthentication_token: {
    token: "reauthentication_token",
    sentAt: "reauthentication_sent_at",
  },
  recovery_token: { token: "recovery_token", sentAt: "recovery_sent_at" },
  // Both halves of an e-mail change share email_change_sent_at, as in GoTrue.
  email_change_token_new: { token: "email_change_token_new", sentAt: "email_change_sent_at" },
  email_change_token_current: {
    token: "email_change_token_current",
    sentAt: "email_change_sent_at",
  },
  phone_change_token: { token: "phone_change_token", sentAt: "phone_change_sent_at" },
};

/** The columns of auth.users this module reads beyond core's UserRow. */
export interface TokenColumns {
  confirmation_token: string | null;
  confirmation_sent_at: Date | null;
  recovery_token: string | null;
  recovery_sent_at: Date | null;
  email_change_token_new: string | null;
  email_change_token_current: string | null;
  email_change: string | null;
  email_change_sent_at: Date | null;
  email_change_confirm_status: number | null;
  reauthentication_token: string | null;
  reauthentication_sent_at: Date | null;
  invited_at: Date | null;
}

export type TokenUser = UserRow & TokenColumns;

/** GoTrue's crypto.GenerateOtp: a uniformly random number of `digits` digits, zero-padded. */
export function generateOtp(digits: number): string {
  return String(randomInt(0, 10 ** digits)).padStart(digits, "0");
}

/** GoTrue's crypto.GenerateTokenHash: sha224 of the address followed by the OTP, in hex. */
export function tokenHash(emailOrPhone: string, otp: string): string {
  return createHash("sha224").update(emailOrPhone + otp).digest("hex");
}

export type FlowType = "pkce" | "implicit";

/** A stored hash carries "pkce_" when the flow is PKCE, so /verify knows to answer with a code. */
export function withFlowPrefix(hash: string, flow: FlowType): string {
  return flow === "pkce" ? `pkce_${hash}` : hash;
}

/**
 * GoTrue's validateSentWithinFrequencyLimit: [auth.email] max_frequency between two mails of
 * one kind to one user, refused with 429 over_email_send_rate_limit.
 */
export function assertSendFrequency(sentAt: Date | null, maxFrequencySeconds: number): void {
  if (!sentAt) return;
  const allowedAt = sentAt.getTime() + maxFrequencySeconds * 1000;
  const leftMs = allowedAt - Date.now();
  if (leftMs > 0) {
    // Go's Duration / time.Second truncates.
    const left = Math.trunc(leftMs / 1000);
    throw new AuthError(
      429,
      "over_email_send_rate_limit",
      `For security purposes, you can only request this after ${left} seconds.`,
    );
  }
}

/** GoTrue's isOtpExpired: a token sent more than otp_expiry seconds ago. */
export function isExpired(sentAt: Date | null, otpExpirySeconds: number): boolean {
  return !sentAt || Date.now() > sentAt.getTime() + otpExpirySeconds * 1000;
}

/** The user with the token columns, locked for the transaction. */
export async function findTokenUser(db: Db, id: string): Promise<TokenUser | null> {
  const { rows } = await db.query<TokenUser>(
    "select * from auth.users where id = $1 for update",
    [id],
  );
  return rows[0] ?? null;
}

/**
 * Issues a one-time token of `type` for `user`: a new OTP of `otpLength` digits, its hash
 * (of `relatesTo`, the address it is mailed to; "pkce_"-prefixed for the PKCE flow) written to
 * the user's column with the time sent, and to auth.one_time_tokens in place of the previous
 * token of that type. Returns the OTP to mail and the stored hash (the link's token).
 */
export async function issueOneTimeToken(
  db: Db,
  user: { id: string },
  type: OneTimeTokenType,
  relatesTo: string,
  options: { otpLength: number; flow?: FlowType; otp?: string },
): Promise<{ otp: string; tokenHash: string }> {
  // generate_link draws the OTP first: its answer's hashed_token is of the e-mail and that OTP.
  const otp = options.otp ?? generateOtp(options.otpLength);
  const hash = withFlowPrefix(tokenHash(relatesTo, otp), options.flow ?? "implicit");
  const columns = USER_COLUMNS[type];
  await db.query(
    `update auth.users set ${columns.token} = $2, ${columns.sentAt} = now(), updated_at = now()
      where id = $1`,
    [user.id, hash],
  );
  await db.query("delete from auth.one_time_tokens where user_id = $1 and token_type = $2", [
    user.id,
    type,
  ]);
  await db.query(
    `insert into auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to, created_at, updated_at)
     values (gen_random_uuid(), $1, $2, $3, lower($4), now(), now())`,
    [user.id, type, hash, relatesTo],
  );
  return { otp, tokenHash: hash };
}

/**
 * The user a link's token hash belongs to (models.FindOneTimeToken over one or two types),
 * or null. The caller checks expiry against the user's *_sent_at and clears the token.
 */
export async function findOneTimeToken(
  db: Db,
  hash: string,
  types: OneTimeTokenType[],
): Promise<{ user: TokenUser; tokenType: OneTimeTokenType } | null> {
  const { rows } = await db.query<{ user_id: string; token_type: OneTimeTokenType }>(
    `select user_id, token_type::text as token_type from auth.one_time_tokens
      where token_hash = $1 and token_type = any($2::auth.one_time_token_type[])
      limit 1`,
    [hash, types],
  );
  if (!rows[0]) return null;
  const user = await findTokenUser(db, rows[0].user_id);
  return user ? { user, tokenType: rows[0].token_type } : null;
}

/**
 * Finds the token a link carries and checks it as GoTrue's verifyTokenHash does: unknown or
 * expired (sent more than `otpExpirySeconds` ago) is 403 otp_expired "Email link is invalid
 * or has expired"; a banned user is 403 user_banned. The token stays until the flow that
 * consumes it clears it (clearOneTimeTokens), inside the same transaction.
 */
export async function consumeOneTimeToken(
  db: Db,
  hash: string,
  types: OneTimeTokenType[],
  otpExpirySeconds: number,
): Promise<{ user: TokenUser; tokenType: OneTimeTokenType }> {
  const found = await findOneTimeToken(db, hash, types);
  if (!found) {
    throw new AuthError(403, "otp_expired", "Email link is invalid or has expired");
  }
  const { user, tokenType } = found;
  if (user.banned_until && user.banned_until.getTime() > Date.now()) {
    throw new AuthError(403, "user_banned", "User is banned");
  }
  const sentAt = (user as unknown as Record<string, Date | null>)[USER_COLUMNS[tokenType].sentAt];
  if (isExpired(sentAt, otpExpirySeconds)) {
    throw new AuthError(403, "otp_expired", "Email link is invalid or has expired");
  }
  return found;
}

/** Every one-time token of the user, gone (models.ClearAllOneTimeTokensForUser). */
export async function clearOneTimeTokens(db: Db, userId: string): Promise<void> {
  await db.query("delete from auth.one_time_tokens where user_id = $1", [userId]);
}

/** One type of the user's one-time tokens, gone (models.ClearOneTimeTokenForUser). */
export async function clearOneTimeToken(
  db: Db,
  userId: string,
  type: OneTimeTokenType,
): Promise<void> {
  await db.query("delete from auth.one_time_tokens where user_id = $1 and token_type = $2", [
    userId,
    type,
  ]);
}
