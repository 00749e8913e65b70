// Anonymous sign-ins (supabase.auth.signInAnonymously): POST /signup without an e-mail or a
// phone, as GoTrue's router dispatches it (internal/api/api.go, the /signup route): refused
// with 422 anonymous_provider_disabled unless [auth] enable_anonymous_sign_ins, limited per
// address by [auth.rate_limit] anonymous_users (an hour's worth in one burst, refilled over the
// hour: apilimiter's AnonymousSignIns), then SignupAnonymously (internal/api/anonymous.go): a
// user with no e-mail, phone, password or identity, is_anonymous true, empty app_metadata,
// role authenticated, signed in at once with the amr method "anonymous". The user links an
// e-mail later through PUT /user (or an admin's update with email_confirm), which clears
// is_anonymous. Any other /signup goes on to the password sign-up.

import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { readSupabaseConfig } from "../config.ts";
import { sendJson } from "../http.ts";
import { type AuthCore, AuthError, type UserRow } from "./core.ts";
import { AddressLimiter } from "./ratelimit.ts";
import { matchRoute, type Route, type RouteContext } from "./router.ts";

/** [auth] enable_anonymous_sign_ins, enable_signup and [auth.rate_limit] anonymous_users. */
export function anonymousSettings(): {
  enabled: boolean;
  signUpsEnabled: boolean;
  perHour: number;
} {
  const auth = readSupabaseConfig().auth ?? {};
  return {
    enabled: auth.enable_anonymous_sign_ins === true,
    signUpsEnabled: auth.enable_signup !== false,
    // GoTrue's default (GOTRUE_RATE_LIMIT_ANONYMOUS_USERS) when config.toml sets none.
    perHour: Number(auth.rate_limit?.anonymous_users ?? 30),
  };
}

function named(value: unknown): boolean {
  return typeof value === "string" && value !== "";
}

/**
 * The POST /signup route that serves anonymous sign-ins and hands every other sign-up to the
 * next POST /signup route in `routes` (the password sign-up), with the body already read.
 */
export function anonymousSignUpRoute(core: AuthCore, routes: () => Route[]): Route {
  const { options, withAuthAdmin, metadata, runHook, issueSession, jsonBody } = core;
  const settings = anonymousSettings();
  const limiter = new AddressLimiter(settings.perHour, {
    seconds: 60 * 60,
    burst: settings.perHour,
  });

  async function signUpAnonymously(
    req: IncomingMessage,
    res: ServerResponse,
    body: Record<string, unknown>,
  ) {
    if (!settings.enabled) {
      throw new AuthError(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled");
    }
    limiter.check(req);
    if (!settings.signUpsEnabled) {
      throw new AuthError(422, "signup_disabled", "Signups not allowed for this instance");
    }
    const userMetadata = metadata(body.data, "data");
    const session = await withAuthAdmin(async (db) => {
      const id = randomUUID();
      if (options.hooks.beforeUserCreated) {
        const now = new Date().toISOString();
        await runHook(db, options.hooks.beforeUserCreated, {
          metadata: {
            uuid: randomUUID(),
            time: now,
            name: "before-user-created",
            ip_address: null,
          },
          user: {
            id,
            aud: "authenticated",
            role: "authenticated",
            email: "",
            phone: "",
            app_metadata: {},
            user_metadata: userMetadata,
            identities: [],
            created_at: now,
            updated_at: now,
            is_anonymous: true,
          },
        });
      }
      const { rows } = await db.query<UserRow>(
        `insert into auth.users (
           instance_id, id, aud, role, raw_app_meta_data, raw_user_meta_data, is_super_admin,
           created_at, updated_at, confirmation_token, recovery_token, email_change_token_new,
           email_change, is_anonymous
         ) values (
           '00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', '{}',
           $2, false, now(), now(), '', '', '', '', true
         ) returning *`,
        [id, userMetadata],
      ).catch((error) => {
        console.error("auth: creating an anonymous user:", error);
        throw new AuthError(500, "unexpected_failure", "Database error creating anonymous user");
      });
      return await issueSession(db, rows[0], "anonymous", req);
    });
    sendJson(res, 200, session);
  }

  const route: Route = {
    method: "POST",
    path: "/signup",
    handle: async (context: RouteContext) => {
      const body = await jsonBody(context.req);
      if (!named(body.email) && !named(body.phone)) {
        return await signUpAnonymously(context.req, context.res, body);
      }
      const next = matchRoute(routes().filter((other) => other !== route), "POST", "/signup");
      if (!next) throw new AuthError(404, "not_found", "POST /signup is not served");
      return await next.route.handle({ ...context, params: next.params });
    },
  };
  return route;
}
