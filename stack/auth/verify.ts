// POST and GET /verify (internal/api/verify.go): a mailed token, as the hash a link carries
// (token_hash, or GET's token) or as the code typed with the address (email + token),
// confirms a sign-up or invite, signs in a magic link or recovery, or confirms one side of an
// e-mail change. POST answers with a session; GET redirects to redirect_to (when allowed,
// else site_url) with the session in the URL fragment, or ?code= for PKCE, and errors in the
// fragment (and the query, for PKCE) as GoTrue does.

import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import bcrypt from "bcryptjs";
import { sendJson } from "../http.ts";
import { type AuthCore, AuthError, BCRYPT_COST, type Db } from "./core.ts";
import type { AuthEmails } from "./emails.ts";
import { goQueryEscape } from "./mail.ts";
import { type FlowMethod, issueAuthCode } from "./pkce.ts";
import { AddressLimiter } from "./ratelimit.ts";
import type { Route } from "./router.ts";
import {
  clearOneTimeToken,
  clearOneTimeTokens,
  consumeOneTimeToken,
  findOneTimeToken,
  findTokenUser,
  isExpired,
  type OneTimeTokenType,
  tokenHash,
  type TokenUser,
} from "./tokens.ts";

// Only applicable with double_confirm_changes (GoTrue's secure e-mail change).
const SINGLE_CONFIRMATION_ACCEPTED =
  "Confirmation link accepted. Please proceed to confirm link sent to the other email";

const TOKEN_INVALID = () => new AuthError(403, "otp_expired", "Token has expired or is invalid");

// apierrors' oauthErrorMap: the OAuth error named beside GoTrue's own code in a redirect.
const OAUTH_ERRORS: Record<number, string> = {
  400: "invalid_request",
  401: "unauthorized_client",
  403: "access_denied",
  500: "server_error",
  503: "temporarily_unavailable",
};

interface VerifyParams {
  type: string;
  token: string;
  tokenHash: string;
  email: string;
  phone: string;
  redirectTo: string;
}

/** Go's url.Values.Encode: keys sorted, each value QueryEscaped. */
function encodeValues(values: [string, string][]): string {
  return [...values]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${goQueryEscape(key)}=${goQueryEscape(value)}`)
    .join("&");
}

/** A URL's parts as Go's url.Parse splits them, for rewriting the query and fragment. */
function splitUrl(url: string): { base: string; query: [string, string][] } {
  const [withoutFragment] = url.split("#", 1);
  const at = withoutFragment.indexOf("?");
  const base = at < 0 ? withoutFragment : withoutFragment.slice(0, at);
  const raw = at < 0 ? "" : withoutFragment.slice(at + 1);
  const query = raw === "" ? [] : [...new URLSearchParams(raw).entries()];
  return { base, query };
}

function setValue(values: [string, string][], key: string, value: string): [string, string][] {
  return [...values.filter(([k]) => k !== key), [key, value]];
}

/** url.URL.String() escapes "%" in a fragment set from an already-encoded string. */
const fragment = (encoded: string) => encoded.replace(/%/g, "%25");

export function verifyRoutes(core: AuthCore, emails: AuthEmails): Route[] {
  const { withAuthAdmin, issueSession } = core;
  const settings = emails.settings;
  const limiter = new AddressLimiter(settings.rateLimit.tokenVerifications);

  /** verifyTokenHash: the user of a link's token hash, unexpired, with the type it resolves to. */
  async function userByTokenHash(
    db: Db,
    params: VerifyParams,
  ): Promise<{ user: TokenUser; type: string }> {
    const types: Record<string, OneTimeTokenType[]> = {
      email: ["confirmation_token", "recovery_token"],
      signup: ["confirmation_token"],
      invite: ["confirmation_token"],
      recovery: ["recovery_token"],
      magiclink: ["recovery_token"],
      email_change: ["email_change_token_current", "email_change_token_new"],
    };
    if (!types[params.type]) {
      throw new AuthError(400, "validation_failed", "Invalid email verification type");
    }
    const { user, tokenType } = await consumeOneTimeToken(
      db,
      params.tokenHash,
      types[params.type],
      settings.otpExpirySeconds,
    );
    // "email" resolves to what the token is: a sign-up confirmation or a magic link.
    const type = params.type === "email"
      ? (tokenType === "recovery_token" ? "magiclink" : "signup")
      : params.type;
    return { user, type };
  }

  /** verifyUserAndToken: the user of an address whose column holds the typed code's hash, unexpired. */
  async function userByAddressAndCode(
    db: Db,
    params: VerifyParams,
  ): Promise<{ user: TokenUser; type: string }> {
    let user: TokenUser | null = null;
    if (params.type === "email_change") {
      const found = (await findOneTimeToken(
        db,
        params.tokenHash,
        settings.doubleConfirmChanges
          ? ["email_change_token_current", "email_change_token_new"]
          : ["email_change_token_new"],
      )) ??
        (await findOneTimeToken(
          db,
          `pkce_${params.tokenHash}`,
          ["email_change_token_current", "email_change_token_new"],
        ));
      user = found?.user ?? null;
    } else {
      const row = await core.findUserByEmail(db, params.email);
      user = row ? await findTokenUser(db, row.id) : null;
    }
    if (!user) throw TOKEN_INVALID();
    if (user.banned_until && user.banned_until.getTime() > Date.now()) {
      throw new AuthError(403, "user_banned", "User is banned");
    }
    const valid = (expected: string | null, sentAt: Date | null) =>
      !!expected && !!sentAt && !isExpired(sentAt, settings.otpExpirySeconds) &&
      (params.tokenHash === expected || `pkce_${params.tokenHash}` === expected);
    switch (params.type) {
      case "email":
        if (valid(user.confirmation_token, user.confirmation_sent_at)) {
          return { user, type: "signup" };
        }
        if (valid(user.recovery_token, user.recovery_sent_at)) return { user, type: "magiclink" };
        throw TOKEN_INVALID();
      case "signup":
      case "invite":
        if (valid(user.confirmation_token, user.confirmation_sent_at)) {
          return { user, type: params.type };
        }
        throw TOKEN_INVALID();
      case "recovery":
      case "magiclink":
        if (valid(user.recovery_token, user.recovery_sent_at)) return { user, type: params.type };
        throw TOKEN_INVALID();
      case "email_change":
        if (
          valid(user.email_change_token_current, user.email_change_sent_at) ||
          valid(user.email_change_token_new, user.email_change_sent_at)
        ) {
          return { user, type: params.type };
        }
        throw TOKEN_INVALID();
      default:
        throw TOKEN_INVALID();
    }
  }

  /** User.Confirm: confirmed now, email_verified in the metadata and the e-mail identity, tokens gone. */
  async function confirm(db: Db, user: TokenUser): Promise<void> {
    await db.query(
      `update auth.users set confirmation_token = '', email_confirmed_at = now(),
              raw_user_meta_data = coalesce(raw_user_meta_data, '{}') || '{"email_verified": true}',
              updated_at = now()
        where id = $1`,
      [user.id],
    );
    await clearOneTimeTokens(db, user.id);
  }

  /** signupVerify (sign-up and invite): an invited user without a password gets a random one to replace. */
  async function signupVerify(db: Db, user: TokenUser): Promise<void> {
    if (user.invited_at && !user.encrypted_password) {
      await db.query("update auth.users set encrypted_password = $2 where id = $1", [
        user.id,
        await bcrypt.hash(randomBytes(48).toString("base64url"), BCRYPT_COST),
      ]);
    }
    await confirm(db, user);
    await db.query(
      `update auth.identities set identity_data = identity_data || '{"email_verified": true}', updated_at = now()
        where user_id = $1 and email is not null and email = lower($2)`,
      [user.id, user.email ?? ""],
    );
  }

  /** recoverVerify (recovery and magic link): the token spent; an unconfirmed user confirmed. */
  async function recoverVerify(db: Db, user: TokenUser): Promise<void> {
    await db.query("update auth.users set recovery_token = '', updated_at = now() where id = $1", [
      user.id,
    ]);
    await clearOneTimeTokens(db, user.id);
    if (!user.email_confirmed_at) await confirm(db, user);
  }

  /**
   * emailChangeVerify: with double_confirm_changes the first of the two tokens only records
   * one confirmation (null: "confirm the other one"); the second, or the only one, changes
   * the address.
   */
  async function emailChangeVerify(
    db: Db,
    user: TokenUser,
    params: VerifyParams,
  ): Promise<boolean> {
    if (
      settings.enableConfirmations && settings.doubleConfirmChanges &&
      (user.email_change_confirm_status ?? 0) === 0 && (user.email ?? "") !== ""
    ) {
      const hash = params.tokenHash;
      const isCurrent = hash === user.email_change_token_current ||
        `pkce_${hash}` === user.email_change_token_current;
      const isNew = hash === user.email_change_token_new ||
        `pkce_${hash}` === user.email_change_token_new;
      if (isCurrent) {
        await db.query(
          "update auth.users set email_change_confirm_status = 1, email_change_token_current = '' where id = $1",
          [user.id],
        );
        await clearOneTimeToken(db, user.id, "email_change_token_current");
      } else if (isNew) {
        await db.query(
          "update auth.users set email_change_confirm_status = 1, email_change_token_new = '' where id = $1",
          [user.id],
        );
        await clearOneTimeToken(db, user.id, "email_change_token_new");
      } else {
        await db.query("update auth.users set email_change_confirm_status = 1 where id = $1", [
          user.id,
        ]);
      }
      return false;
    }
    const newEmail = user.email_change ?? "";
    const updated = await db.query(
      `update auth.identities set identity_data = identity_data || jsonb_build_object('email', $2::text, 'email_verified', true),
              updated_at = now()
        where user_id = $1 and provider = 'email'`,
      [user.id, newEmail],
    );
    // A user without an e-mail identity (an anonymous one adding an address) gets one, as
    // GoTrue's emailChangeVerify creates it; and is then no longer anonymous.
    if (!updated.rowCount) {
      await db.query(
        `insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
         values ($1, $2, $3, 'email', now(), now(), now())`,
        [user.id, user.id, {
          sub: user.id,
          email: newEmail,
          email_verified: true,
          phone_verified: false,
        }],
      );
    }
    await db.query(
      `update auth.users set email = $2, email_change = '', email_change_token_current = '',
              email_change_token_new = '', email_change_confirm_status = 0, is_anonymous = false,
              updated_at = now()
        where id = $1`,
      [user.id, newEmail],
    );
    await clearOneTimeTokens(db, user.id);
    if (!user.email_confirmed_at) await confirm(db, user);
    return true;
  }

  /** The verified user's flow for `type`; false when an e-mail change awaits its other half. */
  async function completeVerification(
    db: Db,
    user: TokenUser,
    type: string,
    params: VerifyParams,
  ): Promise<boolean> {
    switch (type) {
      case "signup":
      case "invite":
        await signupVerify(db, user);
        return true;
      case "recovery":
      case "magiclink":
        await recoverVerify(db, user);
        return true;
      case "email_change":
        return await emailChangeVerify(db, user, params);
      default:
        throw new AuthError(400, "validation_failed", "Unsupported verification type");
    }
  }

  async function verifyPost(req: IncomingMessage, res: ServerResponse): Promise<void> {
    limiter.check(req);
    const body = await core.jsonBody(req);
    const text = (value: unknown) => (typeof value === "string" ? value : "");
    const params: VerifyParams = {
      type: text(body.type),
      token: text(body.token),
      tokenHash: text(body.token_hash),
      email: text(body.email),
      phone: text(body.phone),
      redirectTo: text(body.redirect_to),
    };
    if (params.type === "") {
      throw new AuthError(400, "validation_failed", "Verify requires a verification type");
    }
    if ((params.token === "") === (params.tokenHash === "")) {
      throw new AuthError(
        400,
        "validation_failed",
        "Verify requires either a token or a token hash",
      );
    }
    if (params.token !== "") {
      if (params.phone === "" && params.email !== "") {
        let email: string;
        try {
          email = core.validateEmail(params.email);
        } catch {
          throw new AuthError(422, "validation_failed", "Invalid email format");
        }
        params.email = email;
        params.tokenHash = tokenHash(email, params.token);
      } else if (params.phone !== "" && params.email === "") {
        // Phone OTPs need an SMS provider; [auth.sms] is off and the stand-in has none.
        throw new AuthError(400, "validation_failed", "Unsupported verification type");
      } else {
        throw new AuthError(
          400,
          "validation_failed",
          "Only an email address or phone number should be provided on verify",
        );
      }
    } else if (params.email !== "" || params.phone !== "" || params.redirectTo !== "") {
      throw new AuthError(
        400,
        "validation_failed",
        "Only the token_hash and type should be provided",
      );
    }
    const answer = await withAuthAdmin(async (db) => {
      const { user, type } = params.token === ""
        ? await userByTokenHash(db, params)
        : await userByAddressAndCode(db, params);
      if (!(await completeVerification(db, user, type, params))) return null;
      const verified = (await core.findUserById(db, user.id))!;
      return await issueSession(db, verified, "otp", req);
    });
    if (answer === null) {
      return sendJson(res, 200, { msg: SINGLE_CONFIRMATION_ACCEPTED, code: "200" });
    }
    sendJson(res, 200, answer);
  }

  async function verifyGet(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    limiter.check(req);
    const params: VerifyParams = {
      type: url.searchParams.get("type") ?? "",
      token: url.searchParams.get("token") ?? "",
      tokenHash: url.searchParams.get("token") ?? "",
      email: "",
      phone: "",
      redirectTo: emails.redirectTo(req, url),
    };
    if (params.type === "") {
      throw new AuthError(400, "validation_failed", "Verify requires a verification type");
    }
    if (params.token === "") {
      throw new AuthError(400, "validation_failed", "Verify requires a token or a token hash");
    }
    const pkce = params.token.startsWith("pkce_");
    const method: FlowMethod | null = !pkce
      ? null
      : params.type.endsWith("signup")
      ? "email/signup"
      : (["magiclink", "recovery", "email_change", "invite"] as const).find((m) =>
        m === params.type
      ) ?? null;
    if (pkce && !method) {
      throw new AuthError(
        500,
        "unexpected_failure",
        `unsupported authentication method "${params.type}"`,
      );
    }
    const redirect = (location: string) => {
      res.writeHead(303, { location }).end();
    };
    let outcome:
      | { kind: "session"; session: Awaited<ReturnType<typeof issueSession>> }
      | { kind: "code"; code: string }
      | { kind: "single" };
    try {
      outcome = await withAuthAdmin(async (db) => {
        const { user, type } = await userByTokenHash(db, params);
        if (!(await completeVerification(db, user, type, params))) {
          return { kind: "single" as const };
        }
        if (method) {
          return { kind: "code" as const, code: await issueAuthCode(db, user.id, method) };
        }
        const verified = (await core.findUserById(db, user.id))!;
        return { kind: "session" as const, session: await issueSession(db, verified, "otp", req) };
      });
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      // prepErrorRedirectURL: the error in the fragment, and in the query for PKCE.
      const { base, query } = splitUrl(params.redirectTo);
      const details: [string, string][] = [
        ["error_code", error.errorCode],
        ["error_description", error.message],
      ];
      if (OAUTH_ERRORS[error.status]) details.push(["error", OAUTH_ERRORS[error.status]]);
      let values = query;
      if (pkce) { for (const [key, value] of details) values = setValue(values, key, value); }
      const search = pkce && values.length ? `?${encodeValues(values)}` : "";
      const kept = !pkce && query.length
        ? `?${params.redirectTo.split("#", 1)[0].split("?").slice(1).join("?")}`
        : "";
      return redirect(
        `${base}${pkce ? search : kept}#${fragment(encodeValues([...details, ["sb", ""]]))}`,
      );
    }
    if (outcome.kind === "single") {
      // prepRedirectURL: the message in the fragment, and in the query for PKCE.
      const { base, query } = splitUrl(params.redirectTo);
      const values = pkce ? setValue(query, "message", SINGLE_CONFIRMATION_ACCEPTED) : query;
      const search = values.length ? `?${encodeValues(values)}` : "";
      return redirect(
        `${base}${search}#${
          fragment(encodeValues([["message", SINGLE_CONFIRMATION_ACCEPTED], ["sb", ""]]))
        }`,
      );
    }
    if (outcome.kind === "code") {
      const { base, query } = splitUrl(params.redirectTo);
      const hash = params.redirectTo.includes("#")
        ? `#${params.redirectTo.slice(params.redirectTo.indexOf("#") + 1)}`
        : "";
      return redirect(`${base}?${encodeValues(setValue(query, "code", outcome.code))}${hash}`);
    }
    // AccessTokenResponse.AsRedirectURL: the session in the fragment, with the type verified.
    const session = outcome.session;
    return redirect(
      `${params.redirectTo}#${
        encodeValues([
          ["access_token", session.access_token],
          ["expires_at", String(session.expires_at)],
          ["expires_in", String(session.expires_in)],
          ["refresh_token", session.refresh_token],
          ["sb", ""],
          ["token_type", session.token_type],
          ["type", params.type],
        ])
      }`,
    );
  }

  return [
    { method: "POST", path: "/verify", handle: ({ req, res }) => verifyPost(req, res) },
    { method: "GET", path: "/verify", handle: ({ req, res, url }) => verifyGet(req, res, url) },
  ];
}
