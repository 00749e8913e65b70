// The admin API (service role): create, list, get, update and delete users; generate_link
// (the one-time links Auth's mails carry, answered instead of mailed) and POST /invite (which
// mails one).

import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import bcrypt from "bcryptjs";
import { sendJson } from "../http.ts";
import {
  type AuthCore,
  AuthError,
  banEnd,
  BCRYPT_COST,
  type Db,
  isUuid,
  type UserRow,
} from "./core.ts";
import type { AuthEmails } from "./emails.ts";
import { actionLink, type AuthMailer } from "./mail.ts";
import type { Route } from "./router.ts";
import { findTokenUser, generateOtp, issueOneTimeToken, tokenHash } from "./tokens.ts";

/** GoTrue's validatePhone: "+", spaces dropped, then E.164 digits, or 400. */
function validatePhone(phone: string): string {
  const formatted = phone.replace(/^\+/, "").replaceAll(" ", "");
  if (!/^[1-9][0-9]{1,14}$/.test(formatted)) {
    throw new AuthError(400, "validation_failed", "Invalid phone number format (E.164 required)");
  }
  return formatted;
}

/** GoTrue's UpdateUserMetaData/UpdateAppMetaData: keys set, a null value removes its key. */
function mergeMetadata(
  current: Record<string, unknown> | null,
  updates: Record<string, unknown>,
): Record<string, unknown> {
  const merged = { ...(current ?? {}) };
  for (const [key, value] of Object.entries(updates)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** A page or per_page parameter as Go's strconv.ParseUint reads it, or GoTrue's 400. */
function paginationParameter(url: URL, name: string, fallback: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^[0-9]+$/.test(raw)) {
    throw new AuthError(
      400,
      "validation_failed",
      `Bad Pagination Parameters: strconv.ParseUint: parsing ${
        JSON.stringify(raw)
      }: invalid syntax`,
    );
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) {
    throw new AuthError(
      400,
      "validation_failed",
      `Bad Pagination Parameters: strconv.ParseUint: parsing ${
        JSON.stringify(raw)
      }: value out of range`,
    );
  }
  return value;
}

/**
 * addPaginationHeaders' Link: the next page while there is one, and the last page, each the
 * request's URL with page set (Go's url.Values.Encode: keys sorted, query-escaped).
 */
function paginationLink(url: URL, page: number, perPage: number, total: number): string {
  const totalPages = Math.ceil(total / perPage);
  const withPage = (value: number): string => {
    const query = new URLSearchParams(url.searchParams);
    query.set("page", String(value));
    query.sort();
    return `<${url.pathname}?${query.toString()}>`;
  };
  let header = "";
  if (totalPages > page) header += `${withPage(page + 1)}; rel="next", `;
  return header + `${withPage(totalPages)}; rel="last"`;
}

export function adminRoutes(core: AuthCore, emails: AuthEmails, mailer: AuthMailer): Route[] {
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
    requireServiceRole,
    jsonBody,
  } = core;

  /** The user an admin route names, or GoTrue's 404 (each route checks the id's shape its own way). */
  async function existingUser(db: Db, id: string): Promise<UserRow> {
    const user = isUuid(id) ? await findUserById(db, id) : null;
    if (!user) throw new AuthError(404, "user_not_found", "User not found");
    return user;
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
      return await userJson(db, await existingUser(db, id));
    });
    sendJson(res, 200, user);
  }

  /**
   * GET /admin/users as GoTrue's adminUsers serves it: newest first (its default sort,
   * created_at desc), page and per_page parsed as unsigned integers (strconv.ParseUint: a
   * negative or non-numeric value is 400 "Bad Pagination Parameters: …"), page 0 read as 1 as
   * pop's paginator does, and the X-Total-Count and Link (next, last) headers of
   * addPaginationHeaders, whose URLs are the request's path and query as GoTrue receives them
   * (below /auth/v1). per_page=0 would make GoTrue divide by zero (a 500); the stand-in
   * refuses it with the same 400 instead.
   */
  async function adminListUsers(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<void> {
    await requireServiceRole(req);
    const page = paginationParameter(url, "page", 1);
    const perPage = paginationParameter(url, "per_page", 50);
    if (perPage === 0) {
      throw new AuthError(
        400,
        "validation_failed",
        "Bad Pagination Parameters: per_page must be at least 1",
      );
    }
    const offset = (Math.max(page, 1) - 1) * perPage;
    const { users, total } = await withAuthAdmin(async (db) => {
      const { rows } = await db.query<UserRow>(
        `select * from auth.users where instance_id = '00000000-0000-0000-0000-000000000000'
           and aud = 'authenticated' order by created_at desc, id desc limit $1 offset $2`,
        [perPage, offset],
      );
      const count = await db.query<{ total: string }>(
        `select count(*) as total from auth.users
          where instance_id = '00000000-0000-0000-0000-000000000000' and aud = 'authenticated'`,
      );
      // One connection runs one query at a time: the users' identities are read in turn.
      const users = [];
      for (const user of rows) users.push(await userJson(db, user));
      return { users, total: Number(count.rows[0].total) };
    });
    sendJson(res, 200, { users, aud: "authenticated" }, {
      "x-total-count": String(total),
      link: paginationLink(url, page, perPage, total),
    });
  }

  /**
   * PUT /admin/users/:id as GoTrue's adminUserUpdate does it: e-mail and phone (validated,
   * each with its identity created or updated; email_confirm/phone_confirm confirm them and
   * make an anonymous user a permanent one), password, role, user and app metadata (merged;
   * a null value removes its key), bans (`ban_duration`, "none" lifts it). An address another
   * user has is refused with 422 email_exists / phone_exists rather than GoTrue's 500 from the
   * unique index.
   */
  async function adminUpdateUser(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
  ): Promise<void> {
    await requireServiceRole(req);
    if (!isUuid(id)) throw new AuthError(404, "validation_failed", "user_id must be an UUID");
    const body = await jsonBody(req);
    const email = typeof body.email === "string" && body.email !== ""
      ? validateEmail(body.email)
      : null;
    const phone = typeof body.phone === "string" && body.phone !== ""
      ? validatePhone(body.phone)
      : null;
    const bannedUntil = typeof body.ban_duration === "string" && body.ban_duration !== ""
      ? banEnd(body.ban_duration)
      : undefined;
    const password = body.password === undefined || body.password === null
      ? undefined
      : await bcrypt.hash(validatePassword(body.password), BCRYPT_COST);
    const userMetadata = body.user_metadata == null
      ? null
      : metadata(body.user_metadata, "user_metadata");
    const appMetadata = body.app_metadata == null
      ? null
      : metadata(body.app_metadata, "app_metadata");
    const emailConfirm = body.email_confirm === true;
    const phoneConfirm = body.phone_confirm === true;
    const user = await withAuthAdmin(async (db) => {
      await existingUser(db, id);
      if (typeof body.role === "string" && body.role !== "") {
        await db.query("update auth.users set role = $2 where id = $1", [id, body.role]);
      }
      if (emailConfirm) {
        await db.query(
          `update auth.users set confirmation_token = '', email_confirmed_at = now(),
             raw_user_meta_data = coalesce(raw_user_meta_data, '{}') || '{"email_verified": true}'
           where id = $1`,
          [id],
        );
        await db.query("delete from auth.one_time_tokens where user_id = $1", [id]);
      }
      if (phoneConfirm) {
        await db.query(
          "update auth.users set confirmation_token = '', phone_confirmed_at = now() where id = $1",
          [id],
        );
        await db.query("delete from auth.one_time_tokens where user_id = $1", [id]);
      }
      if (password !== undefined) {
        await db.query("update auth.users set encrypted_password = $2 where id = $1", [
          id,
          password,
        ]);
      }
      if (email !== null) {
        const taken = await db.query(
          "select 1 from auth.users where lower(email) = lower($1) and id <> $2 and is_sso_user = false",
          [email, id],
        );
        if (taken.rowCount) {
          throw new AuthError(
            422,
            "email_exists",
            "A user with this email address has already been registered",
          );
        }
        await upsertIdentity(db, id, "email", { email, email_verified: emailConfirm });
        await db.query(
          `update auth.users set email = $2,
             is_anonymous = case when $3 then false else is_anonymous end where id = $1`,
          [id, email, emailConfirm],
        );
      }
      if (phone !== null) {
        const taken = await db.query("select 1 from auth.users where phone = $1 and id <> $2", [
          phone,
          id,
        ]);
        if (taken.rowCount) {
          throw new AuthError(
            422,
            "phone_exists",
            "Phone number already registered by another user",
          );
        }
        await upsertIdentity(db, id, "phone", { phone, phone_verified: phoneConfirm });
        await db.query(
          `update auth.users set phone = $2,
             is_anonymous = case when $3 then false else is_anonymous end where id = $1`,
          [id, phone, phoneConfirm],
        );
      }
      const current = (await findUserById(db, id))!;
      if (appMetadata !== null || userMetadata !== null) {
        await db.query(
          "update auth.users set raw_app_meta_data = $2, raw_user_meta_data = $3 where id = $1",
          [
            id,
            appMetadata === null
              ? current.raw_app_meta_data
              : mergeMetadata(current.raw_app_meta_data, appMetadata),
            userMetadata === null
              ? current.raw_user_meta_data
              : mergeMetadata(current.raw_user_meta_data, userMetadata),
          ],
        );
      }
      if (bannedUntil !== undefined) {
        await db.query("update auth.users set banned_until = $2 where id = $1", [id, bannedUntil]);
        // A ban ends every session at once.
        if (bannedUntil) await db.query("delete from auth.sessions where user_id = $1", [id]);
      }
      await db.query("update auth.users set updated_at = now() where id = $1", [id]);
      return await userJson(db, (await findUserById(db, id))!);
    });
    sendJson(res, 200, user);
  }

  /**
   * The user's identity for `provider` (email or phone) updated with `data`, or created as
   * GoTrue's createNewIdentity does (provider_id the user's id; sub, the address and its
   * *_verified flags).
   */
  async function upsertIdentity(
    db: Db,
    userId: string,
    provider: "email" | "phone",
    data: Record<string, unknown>,
  ): Promise<void> {
    const updated = await db.query(
      `update auth.identities set identity_data = identity_data || $3, updated_at = now()
        where user_id = $1 and provider = $2`,
      [userId, provider, data],
    );
    if (updated.rowCount) return;
    await db.query(
      `insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
       values ($1, $2, $3, $4, now(), now(), now())`,
      [userId, userId, {
        sub: userId,
        email_verified: false,
        phone_verified: false,
        ...data,
      }, provider],
    );
  }

  const DUPLICATE_EMAIL = "A user with this email address has already been registered";

  /** Where a link sends the browser: GetReferrer, replaced by the body's redirect_to when allowed. */
  function linkRedirect(req: IncomingMessage, url: URL, requested: unknown): string {
    const fallback = emails.redirectTo(req, url);
    return typeof requested === "string" && emails.allowed(requested) ? requested : fallback;
  }

  /**
   * POST /admin/generate_link as GoTrue's adminGenerateLink: a one-time token of the type's
   * kind (recovery_token for magiclink and recovery, confirmation_token for signup and invite,
   * email_change_token_current/new), the user created first where the type does that (signup,
   * invite; magiclink for an unknown address becomes a signup with a random password), and
   * the answer the mail would have carried: the user's fields with action_link, email_otp,
   * hashed_token (of the e-mail and the OTP), verification_type and redirect_to. Nothing is
   * mailed.
   */
  async function generateLink(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    await requireServiceRole(req);
    const body = await jsonBody(req);
    const email = validateEmail(body.email);
    const redirectTo = linkRedirect(req, url, body.redirect_to);
    let type = typeof body.type === "string" ? body.type : "";
    const data = metadata(body.data, "data");
    const settings = emails.settings;
    const answer = await withAuthAdmin(async (db) => {
      const existing = await findUserByEmail(db, email);
      let password = typeof body.password === "string" ? body.password : "";
      if (!existing) {
        if (type === "magiclink") {
          type = "signup";
          password = `${randomBytes(40).toString("base64url")}aA1`;
        } else if (["recovery", "email_change_current", "email_change_new"].includes(type)) {
          throw new AuthError(404, "user_not_found", "User with this email not found");
        }
      }
      const otp = generateOtp(settings.otpLength);
      const hashedToken = tokenHash(email, otp);
      let user = existing;
      let linkToken: string;
      switch (type) {
        case "magiclink":
        case "recovery": {
          ({ tokenHash: linkToken } = await issueWithOtp(
            db,
            user!.id,
            "recovery_token",
            email,
            otp,
          ));
          break;
        }
        case "invite":
        case "signup": {
          if (user?.email_confirmed_at) {
            throw new AuthError(422, "email_exists", DUPLICATE_EMAIL);
          }
          if (!user) {
            user = await createUser(db, {
              email,
              password: type === "signup" ? validatePassword(password) : null,
              userMetadata: data,
              appMetadata: {},
              confirmed: false,
            });
          } else if (type === "signup" && body.data !== undefined) {
            await db.query(
              "update auth.users set raw_user_meta_data = $2 where id = $1",
              [user.id, mergeMetadata(user.raw_user_meta_data, data)],
            );
          }
          ({ tokenHash: linkToken } = await issueWithOtp(
            db,
            user.id,
            "confirmation_token",
            email,
            otp,
          ));
          if (type === "invite") {
            await db.query("update auth.users set invited_at = now() where id = $1", [user.id]);
          }
          break;
        }
        case "email_change_current":
        case "email_change_new": {
          if (!settings.doubleConfirmChanges && type === "email_change_current") {
            throw new AuthError(
              400,
              "validation_failed",
              "Enable secure email change to generate link for current email",
            );
          }
          const newEmail = validateEmail(body.new_email);
          const taken = await findUserByEmail(db, newEmail);
          if (taken && taken.id !== user!.id) {
            throw new AuthError(422, "email_exists", DUPLICATE_EMAIL);
          }
          await db.query(
            `update auth.users set email_change = $2, email_change_sent_at = now(),
                    email_change_confirm_status = 0 where id = $1`,
            [user!.id, newEmail],
          );
          ({ tokenHash: linkToken } = type === "email_change_current"
            ? await issueWithOtp(db, user!.id, "email_change_token_current", email, otp)
            : await issueWithOtp(db, user!.id, "email_change_token_new", newEmail, otp));
          break;
        }
        default:
          throw new AuthError(
            400,
            "validation_failed",
            `Invalid email action link type requested: ${type}`,
          );
      }
      const fresh = (await findUserById(db, user!.id))!;
      return {
        ...(await userJson(db, fresh)),
        action_link: actionLink(options.issuer, {
          tokenHash: linkToken,
          type: type.startsWith("email_change") ? "email_change" : type,
          redirectTo,
        }),
        email_otp: otp,
        hashed_token: hashedToken,
        verification_type: type,
        redirect_to: redirectTo,
      };
    });
    sendJson(res, 200, answer);
  }

  /** issueOneTimeToken with the OTP generate_link already drew (the answer carries it). */
  async function issueWithOtp(
    db: Db,
    userId: string,
    type:
      | "recovery_token"
      | "confirmation_token"
      | "email_change_token_current"
      | "email_change_token_new",
    relatesTo: string,
    otp: string,
  ): Promise<{ tokenHash: string }> {
    const issued = await issueOneTimeToken(db, { id: userId }, type, relatesTo, {
      otpLength: emails.settings.otpLength,
      otp,
    });
    return { tokenHash: issued.tokenHash };
  }

  /**
   * POST /invite as GoTrue's Invite: a new user without a password (or an unconfirmed one
   * invited again; a confirmed address is 422 email_exists), a confirmation token, and the
   * invite mail with its link (type invite, redirect_to as the request asks, if allowed);
   * the answer is the user.
   */
  async function invite(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    await requireServiceRole(req);
    const body = await jsonBody(req);
    const email = validateEmail(body.email);
    const data = metadata(body.data, "data");
    const redirectTo = emails.redirectTo(req, url);
    const answer = await withAuthAdmin(async (db) => {
      let user = await findUserByEmail(db, email);
      if (user?.email_confirmed_at) throw new AuthError(422, "email_exists", DUPLICATE_EMAIL);
      user ??= await createUser(db, {
        email,
        password: null,
        userMetadata: data,
        appMetadata: {},
        confirmed: false,
      });
      const { otp, tokenHash: hash } = await issueOneTimeToken(
        db,
        user,
        "confirmation_token",
        email,
        { otpLength: emails.settings.otpLength },
      );
      await db.query("update auth.users set invited_at = now() where id = $1", [user.id]);
      const fresh = (await findTokenUser(db, user.id))!;
      await mailer.sendAuthMail("invite", email, {
        SiteURL: emails.settings.siteUrl,
        ConfirmationURL: actionLink(options.issuer, {
          tokenHash: hash,
          type: "invite",
          redirectTo,
        }),
        Email: email,
        Token: otp,
        TokenHash: hash,
        Data: fresh.raw_user_meta_data ?? {},
        RedirectTo: redirectTo,
      });
      return await userJson(db, fresh);
    });
    sendJson(res, 200, answer);
  }

  async function adminDeleteUser(
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
  ): Promise<void> {
    await requireServiceRole(req);
    const user = await withAuthAdmin(async (db) => {
      const json = await userJson(db, await existingUser(db, id));
      await db.query("delete from auth.users where id = $1", [id]);
      return json;
    });
    sendJson(res, 200, user);
  }

  return [
    {
      method: "POST",
      path: "/admin/generate_link",
      handle: ({ req, res, url }) => generateLink(req, res, url),
    },
    { method: "POST", path: "/invite", handle: ({ req, res, url }) => invite(req, res, url) },
    { method: "POST", path: "/admin/users", handle: ({ req, res }) => adminCreateUser(req, res) },
    {
      method: "GET",
      path: "/admin/users",
      handle: ({ req, res, url }) => adminListUsers(req, res, url),
    },
    {
      method: "GET",
      path: /^\/admin\/users\/([^/]+)$/,
      handle: ({ req, res, params }) => adminGetUser(req, res, params[0]),
    },
    {
      method: "PUT",
      path: /^\/admin\/users\/([^/]+)$/,
      handle: ({ req, res, params }) => adminUpdateUser(req, res, params[0]),
    },
    {
      method: "DELETE",
      path: /^\/admin\/users\/([^/]+)$/,
      handle: ({ req, res, params }) => adminDeleteUser(req, res, params[0]),
    },
  ];
}
