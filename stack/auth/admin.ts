// The admin API (service role): create, list, get, update and delete users.

import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import bcrypt from "bcryptjs";
import { sendJson } from "../http.ts";
import { type AuthCore, AuthError, banEnd, BCRYPT_COST, isUuid, type UserRow } from "./core.ts";
import type { Route } from "./router.ts";

export function adminRoutes(core: AuthCore): Route[] {
  const {
    withAuthAdmin,
    findUserById,
    validateEmail,
    validatePassword,
    metadata,
    createUser,
    userJson,
    requireServiceRole,
    jsonBody,
  } = core;

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

  return [
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
