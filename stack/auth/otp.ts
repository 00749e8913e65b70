// The routes that mail a one-time token on request: POST /otp (magic link and e-mail code;
// create_user), POST /magiclink, POST /recover (password reset) and POST /resend (sign-up
// confirmation, e-mail change), as internal/api/{otp,magic_link,recover,resend}.go serve
// them. An unknown address is answered 200 {} without a mail, so no route tells who has an
// account.

import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import { sendJson } from "../http.ts";
import { type AuthCore, AuthError, type Db } from "./core.ts";
import type { AuthEmails } from "./emails.ts";
import { createFlowState, pkceFlow } from "./pkce.ts";
import { AddressLimiter } from "./ratelimit.ts";
import type { Route } from "./router.ts";
import { findTokenUser, type TokenUser } from "./tokens.ts";
import type { SignUpFlow } from "./password.ts";

export function otpRoutes(core: AuthCore, emails: AuthEmails, signUp: SignUpFlow): Route[] {
  const { withAuthAdmin, validateEmail, jsonBody } = core;
  const events = emails.settings.rateLimit.signInSignUps;
  // GoTrue keeps one limiter per route, all sized by GOTRUE_RATE_LIMIT_OTP (sign_in_sign_ups).
  const limits = {
    otp: new AddressLimiter(events),
    magicLink: new AddressLimiter(events),
    recover: new AddressLimiter(events),
    resend: new AddressLimiter(events),
  };

  async function userByEmail(db: Db, email: string): Promise<TokenUser | null> {
    const row = await core.findUserByEmail(db, email);
    return row ? await findTokenUser(db, row.id) : null;
  }

  /** MagicLink: a new or unconfirmed address is signed up (confirmation mail); others get the link. */
  async function magicLink(
    req: IncomingMessage,
    url: URL,
    body: Record<string, unknown>,
  ): Promise<void> {
    if (typeof body.email !== "string" || body.email === "") {
      throw new AuthError(422, "validation_failed", "Password recovery requires an email");
    }
    const email = validateEmail(body.email);
    const flow = pkceFlow(body);
    const existing = await withAuthAdmin((db) => userByEmail(db, email));
    if (!existing || !existing.email_confirmed_at) {
      // GoTrue signs the address up with a random password, through the sign-up flow.
      await signUp(req, url, {
        email,
        // Like crypto.GeneratePassword: random, with every character class a policy may require.
        password: randomBytes(24).toString("base64url") + "aA1-",
        data: body.data,
        code_challenge: body.code_challenge,
        code_challenge_method: body.code_challenge_method,
      });
      if (!emails.settings.enableConfirmations) return await magicLink(req, url, body);
      return;
    }
    const redirect = emails.redirectTo(req, url);
    await withAuthAdmin(async (db) => {
      const user = (await findTokenUser(db, existing.id))!;
      if (flow === "pkce") await createFlowState(db, body, "magiclink", "magiclink", user.id);
      await emails.sendMagicLink(db, user, flow, redirect);
    });
  }

  async function otp(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    limits.otp.check(req);
    const body = await jsonBody(req);
    const email = typeof body.email === "string" ? body.email : "";
    const phone = typeof body.phone === "string" ? body.phone : "";
    if (email !== "" && phone !== "") {
      throw new AuthError(
        400,
        "validation_failed",
        "Only an email address or phone number should be provided",
      );
    }
    if (email !== "" && typeof body.channel === "string" && body.channel !== "") {
      throw new AuthError(
        400,
        "validation_failed",
        "Channel should only be specified with Phone OTP",
      );
    }
    pkceFlow(body);
    // shouldCreateUser: create_user defaults to true; false refuses an unknown address.
    if (body.create_user === false && email !== "") {
      const address = validateEmail(email);
      const known = await withAuthAdmin((db) => core.findUserByEmail(db, address));
      if (!known) {
        throw new AuthError(422, "otp_disabled", "Signups not allowed for otp");
      }
    }
    if (email !== "") {
      await magicLink(req, url, body);
      return sendJson(res, 200, {});
    }
    if (phone !== "") {
      throw new AuthError(400, "phone_provider_disabled", "Unsupported phone provider");
    }
    throw new AuthError(400, "validation_failed", "One of email or phone must be set");
  }

  async function recover(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    limits.recover.check(req);
    const body = await jsonBody(req);
    const flow = pkceFlow(body);
    if (typeof body.email !== "string" || body.email === "") {
      throw new AuthError(400, "validation_failed", "Password recovery requires an email");
    }
    const email = validateEmail(body.email);
    const redirect = emails.redirectTo(req, url);
    await withAuthAdmin(async (db) => {
      const user = await userByEmail(db, email);
      if (!user) return;
      if (flow === "pkce") await createFlowState(db, body, "recovery", "recovery", user.id);
      await emails.sendRecovery(db, user, flow, redirect);
    });
    sendJson(res, 200, {});
  }

  async function resend(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    limits.resend.check(req);
    const body = await jsonBody(req);
    const type = typeof body.type === "string" ? body.type : "";
    if (type === "signup" || type === "email_change") {
      pkceFlow(body);
    } else if (type !== "sms" && type !== "phone_change") {
      throw new AuthError(
        400,
        "validation_failed",
        "Missing one of these types: signup, email_change, sms, phone_change",
      );
    }
    const rawEmail = typeof body.email === "string" ? body.email : "";
    const phone = typeof body.phone === "string" ? body.phone : "";
    if (rawEmail === "" && type === "signup") {
      throw new AuthError(400, "validation_failed", "Type provided requires an email address");
    }
    if (phone === "" && type === "sms") {
      throw new AuthError(400, "validation_failed", "Type provided requires a phone number");
    }
    if (rawEmail !== "" && phone !== "") {
      throw new AuthError(
        400,
        "validation_failed",
        "Only an email address or phone number should be provided.",
      );
    }
    if (rawEmail === "" && phone === "") {
      throw new AuthError(400, "validation_failed", "Missing email address or phone number");
    }
    if (phone !== "") {
      throw new AuthError(400, "phone_provider_disabled", "Phone logins are disabled");
    }
    const email = validateEmail(rawEmail);
    const flow = pkceFlow(body);
    const redirect = emails.redirectTo(req, url);
    await withAuthAdmin(async (db) => {
      const user = await userByEmail(db, email);
      if (!user) return;
      if (type === "signup") {
        if (user.email_confirmed_at) return;
        if (flow === "pkce") await createFlowState(db, body, "email", "email/signup", user.id);
        await emails.sendConfirmation(db, user, flow, redirect);
      } else {
        if (!user.email_change) return;
        if (flow === "pkce") {
          await createFlowState(db, body, "email_change", "email_change", user.id);
        }
        await emails.sendEmailChange(db, user, user.email_change, flow, redirect);
      }
    });
    sendJson(res, 200, {});
  }

  return [
    { method: "POST", path: "/otp", handle: ({ req, res, url }) => otp(req, res, url) },
    {
      method: "POST",
      path: "/magiclink",
      handle: async ({ req, res, url }) => {
        limits.magicLink.check(req);
        await magicLink(req, url, await jsonBody(req));
        sendJson(res, 200, {});
      },
    },
    { method: "POST", path: "/recover", handle: ({ req, res, url }) => recover(req, res, url) },
    { method: "POST", path: "/resend", handle: ({ req, res, url }) => resend(req, res, url) },
  ];
}
