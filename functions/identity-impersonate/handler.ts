// POST /identity-impersonate { user_id, reason, redirect_to? } (004 POST
// /admin/users/:id/impersonate): a staff member holding users.impersonate (admin only by
// default) gets a one-time magic sign-in link for another user, to see the product as they do.
//
// In this order, so no link ever exists without its record and the user being told:
// ops.record_impersonation checks the caller's permission (403), the reason (400), that the
// user is someone else (400), exists (404), is no admin (403) and has an e-mail (409), and
// writes the audit entry (who, whom, why); the user is mailed that their account is being
// accessed and why (SMTP_HOST, SMTP_PORT, SMTP_SENDER); then Auth's admin API makes the
// magic link (generate_link, type magiclink), which the answer carries. A caller with a
// verified MFA factor needs an aal2 session (403 two_factor_required). The admin CLI calls it
// with the service-role key and acting_user, the staff account it acts for
// (_shared/identity/actor.ts).
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { impersonateRequest } from "../_shared/identity/requests.ts";
import { actingStaffMember } from "../_shared/identity/actor.ts";
import type { Mailer } from "../_shared/platform/mail.ts";
import { call } from "../_shared/platform/rpc.ts";
import { serviceClient } from "../_shared/platform/supabase.ts";

/** The notice the user gets: who (a staff member, by role), when, why, and the record's number. */
export function impersonationNotice(
  email: string,
  reason: string,
  auditId: number,
  at: Date,
): { to: string; subject: string; text: string } {
  return {
    to: email,
    subject: "A staff member is signing in to your account",
    text: [
      "Hello,",
      "",
      `At ${at.toISOString()} a member of our staff asked for a one-time link to sign in to your account as you, to look into the following:`,
      "",
      `  ${reason}`,
      "",
      `This is recorded in our audit log (entry ${auditId}). If you did not expect it, reply to this message or contact support.`,
    ].join("\n"),
  };
}

export function createImpersonateHandler(mailer: () => Mailer) {
  return createHandler(async (req) => {
    if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
    // The body first: a request without a reason is refused before anything is asked.
    const { acting_user, user_id, reason, redirect_to } = await readJson(req, impersonateRequest);
    const actor = await actingStaffMember(req, acting_user);

    const service = serviceClient();
    const [{ email, audit_id }] = await call(service, "record_impersonation", {
      acting_user: actor,
      user_id,
      reason,
    });
    await mailer().send(impersonationNotice(email, reason, audit_id, new Date()));

    const { data, error } = await service.auth.admin.generateLink({
      type: "magiclink",
      email,
      ...(redirect_to ? { options: { redirectTo: redirect_to } } : {}),
    });
    if (error) throw error;
    return json({
      user_id,
      email,
      action_link: data.properties.action_link,
      audit_id,
    });
  });
}
