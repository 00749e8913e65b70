// The signed-in user changing their account (internal/api/user.go UserUpdate) and asking for
// a reauthentication nonce (reauthenticate.go): PUT /user changes the password (with the
// nonce when secure_password_change is on and the session is more than 24 hours old, as
// GoTrue asks), the e-mail address (confirmed by mail, on both addresses with
// double_confirm_changes) and user_metadata (`data`); GET /reauthenticate mails the nonce.

import type { IncomingMessage, ServerResponse } from "node:http";
import bcrypt from "bcryptjs";
import { sendJson } from "../http.ts";
import { type AuthCore, AuthError, BCRYPT_COST } from "./core.ts";
import type { AuthEmails } from "./emails.ts";
import { requiresAal2 } from "./mfa.ts";
import { createFlowState, pkceFlow } from "./pkce.ts";
import { AddressLimiter } from "./ratelimit.ts";
import type { Route } from "./router.ts";
import { clearOneTimeTokens, findTokenUser, isExpired, tokenHash } from "./tokens.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

export function userRoutes(core: AuthCore, emails: AuthEmails): Route[] {
  const { withAuthAdmin, requireUser, jsonBody, validateEmail, validatePassword, metadata } = core;
  const settings = emails.settings;
  const limiter = new AddressLimiter(settings.rateLimit.signInSignUps);

  async function updateUser(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    limiter.check(req);
    const body = await jsonBody(req);
    const email = typeof body.email === "string" && body.email !== ""
      ? validateEmail(body.email)
      : "";
    const phone = typeof body.phone === "string" ? body.phone : "";
    const password = body.password === undefined || body.password === null
      ? null
      : String(body.password);
    if (password !== null && password !== "") validatePassword(password);
    const nonce = typeof body.nonce === "string" ? body.nonce : "";
    const flow = pkceFlow(body);
    const redirect = emails.redirectTo(req, url);
    const answer = await withAuthAdmin(async (db) => {
      const { claims, user: row } = await requireUser(db, req);
      const user = (await findTokenUser(db, row.id))!;
      if (body.app_metadata !== undefined && body.app_metadata !== null) {
        throw new AuthError(403, "not_admin", "Updating app_metadata requires admin privileges");
      }
      // GoTrue asks the session, not the token: a token minted before an unenroll still says aal2.
      if (
        await requiresAal2(db, user.id, claims) &&
        ((password !== null && password !== "") || (email !== "" && email !== user.email) ||
          (phone !== "" && phone !== (user.phone ?? "")))
      ) {
        throw new AuthError(
          401,
          "insufficient_aal",
          "AAL2 session is required to update email or password when MFA is enabled.",
        );
      }
      if (email !== "" && email !== user.email) {
        const taken = await core.findUserByEmail(db, email);
        if (taken && taken.id !== user.id) {
          throw new AuthError(
            422,
            "email_exists",
            "A user with this email address has already been registered",
          );
        }
      }
      if (phone !== "" && phone !== (user.phone ?? "")) {
        // A phone change is confirmed by SMS; [auth.sms] is off and the stand-in sends none.
        throw new AuthError(400, "phone_provider_disabled", "Unsupported phone provider");
      }
      const sessionId = typeof claims.session_id === "string" ? claims.session_id : null;
      if (password !== null) {
        if (settings.securePasswordChange) {
          const { rows } = await db.query<{ created_at: Date }>(
            "select created_at from auth.sessions where id = $1",
            [sessionId],
          );
          const createdAt = rows[0]?.created_at;
          if (!createdAt || Date.now() > createdAt.getTime() + DAY_MS) {
            if (nonce === "") {
              throw new AuthError(
                400,
                "reauthentication_needed",
                "Password update requires reauthentication",
              );
            }
            // verifyReauthentication: the mailed nonce, unexpired; then spent.
            const valid = !!user.reauthentication_token && !!user.reauthentication_sent_at &&
              !isExpired(user.reauthentication_sent_at, settings.otpExpirySeconds) &&
              tokenHash(user.email ?? "", nonce) === user.reauthentication_token;
            if (!valid) {
              throw new AuthError(
                422,
                "reauthentication_not_valid",
                "Nonce has expired or is invalid",
              );
            }
            await db.query("update auth.users set reauthentication_token = '' where id = $1", [
              user.id,
            ]);
            await clearOneTimeTokens(db, user.id);
          }
        }
        if (
          password !== "" && user.encrypted_password &&
          (await bcrypt.compare(password, user.encrypted_password))
        ) {
          throw new AuthError(
            422,
            "same_password",
            "New password should be different from the old password.",
          );
        }
        // User.UpdatePassword: every pending token reset, every other session signed out.
        await db.query(
          `update auth.users set encrypted_password = $2,
                  confirmation_token = '', confirmation_sent_at = null, recovery_token = '',
                  recovery_sent_at = null, email_change_token_current = '',
                  email_change_token_new = '', email_change_sent_at = null,
                  phone_change_token = '', phone_change_sent_at = null,
                  reauthentication_token = '', reauthentication_sent_at = null, updated_at = now()
            where id = $1`,
          [user.id, password === "" ? null : await bcrypt.hash(password, BCRYPT_COST)],
        );
        await clearOneTimeTokens(db, user.id);
        await db.query("delete from auth.sessions where user_id = $1 and id is distinct from $2", [
          user.id,
          sessionId,
        ]);
      }
      if (body.data !== undefined && body.data !== null) {
        // UpdateUserMetaData: keys merged in, a null value removes its key (top level only).
        await db.query(
          `update auth.users set raw_user_meta_data = (
                    select coalesce(jsonb_object_agg(key, value), '{}')
                      from jsonb_each(coalesce(raw_user_meta_data, '{}') || $2::jsonb)
                     where value <> 'null'::jsonb),
                  updated_at = now() where id = $1`,
          [user.id, metadata(body.data, "data")],
        );
      }
      if (email !== "" && email !== user.email) {
        if (flow === "pkce") {
          await createFlowState(db, body, "email_change", "email_change", user.id);
        }
        const fresh = (await findTokenUser(db, user.id))!;
        // The password change above reset email_change_sent_at, as in GoTrue.
        await emails.sendEmailChange(db, fresh, email, flow, redirect);
      }
      return await core.userJson(db, (await core.findUserById(db, user.id))!);
    });
    sendJson(res, 200, answer);
  }

  async function reauthenticate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await withAuthAdmin(async (db) => {
      const { user: row } = await requireUser(db, req);
      const user = (await findTokenUser(db, row.id))!;
      if (!user.email && !user.phone) {
        throw new AuthError(
          400,
          "validation_failed",
          "Reauthentication requires the user to have an email or a phone number",
        );
      }
      if (!user.email) {
        throw new AuthError(400, "phone_provider_disabled", "Unsupported phone provider");
      }
      if (!user.email_confirmed_at) {
        throw new AuthError(422, "email_not_confirmed", "Please verify your email first.");
      }
      await emails.sendReauthentication(db, user);
    });
    sendJson(res, 200, {});
  }

  return [
    { method: "PUT", path: "/user", handle: ({ req, res, url }) => updateUser(req, res, url) },
    { method: "GET", path: "/reauthenticate", handle: ({ req, res }) => reauthenticate(req, res) },
  ];
}
