// A local stand-in for the subset of the Supabase Auth (GoTrue) HTTP API that supabase-js
// uses here. It writes the auth schema's tables as GoTrue does, as the supabase_auth_admin
// role, so the project's triggers on auth.users and auth.identities fire exactly as in
// production; it mints access tokens with GoTrue's claims and runs the custom access token
// and before-user-created hooks when config.toml enables them. Each route module serves one
// area of the API; `core.ts` holds what they share.

import { sendJson, type SubHandler } from "../http.ts";
import { adminRoutes } from "./admin.ts";
import { anonymousSignUpRoute } from "./anonymous.ts";
import { AuthError, type AuthOptions, createAuthCore } from "./core.ts";
import { externalRoutes } from "./external.ts";
import { createAuthEmails } from "./emails.ts";
import { createAuthMailer } from "./mail.ts";
import { otpRoutes } from "./otp.ts";
import { passwordRoutes } from "./password.ts";
import { mfaRoutes } from "./mfa.ts";
import { matchRoute, type Route } from "./router.ts";
import { userRoutes } from "./user.ts";
import { verifyRoutes } from "./verify.ts";

export type { AuthOptions } from "./core.ts";

export function createAuthHandler(options: AuthOptions): SubHandler {
  const core = createAuthCore(options);
  const mailer = createAuthMailer({ email: options.email, smtp: options.smtp });
  const emails = createAuthEmails(core, mailer);
  const password = passwordRoutes(core, emails);
  const routes: Route[] = [
    ...password.routes,
    ...verifyRoutes(core, emails),
    ...otpRoutes(core, emails, password.signUpFlow),
    ...userRoutes(core, emails),
    ...adminRoutes(core, emails, mailer),
    ...mfaRoutes(core),
    ...externalRoutes(core),
    {
      method: "GET",
      path: "/health",
      handle: ({ res }) => {
        sendJson(res, 200, { version: "local-stand-in", name: "GoTrue" });
        return Promise.resolve();
      },
    },
  ];
  // POST /signup without an e-mail or phone is an anonymous sign-in; the rest go on.
  routes.unshift(anonymousSignUpRoute(core, () => routes));

  return async (req, res, path) => {
    const url = new URL(path, "http://auth.local");
    try {
      const found = matchRoute(routes, req.method ?? "GET", url.pathname);
      if (!found) {
        throw new AuthError(
          404,
          "not_found",
          `${req.method} ${url.pathname} is not served by the local auth stand-in`,
        );
      }
      return await found.route.handle({ req, res, url, params: found.params });
    } catch (error) {
      if (error instanceof AuthError) {
        return sendJson(res, error.status, {
          code: error.status,
          error_code: error.errorCode,
          msg: error.message,
          ...error.extra,
        });
      }
      console.error("auth:", error);
      sendJson(res, 500, {
        code: 500,
        error_code: "unexpected_failure",
        msg: "Unexpected failure, please check server logs for more information",
      });
    }
  };
}
