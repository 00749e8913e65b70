// PUT /identity-admin-update-user { user_id, display_name?, username?, bio?, first_name?,
// last_name?, phone?, email? } (003 PUT /users/{id}): a staff member holding users.manage
// edits another user's profile fields, names, phone and e-mail.
//
// The database's half first, with the service role: ops.admin_edit_user checks the caller's
// permission (403), that the user exists (404) and that no one else has the e-mail or phone
// (409), writes the profile fields and the audit entry (who, which fields) in one
// transaction. Then Auth's admin API changes the sign-in e-mail and phone (confirmed: staff
// vouch for them), so a refusal never leaves Auth changed. A caller with a verified MFA
// factor needs an aal2 session (403 two_factor_required). The admin CLI calls it with the
// service-role key and acting_user, the staff account it acts for (_shared/identity/actor.ts).
import { isAuthApiError } from "npm:@supabase/supabase-js@2.119.1";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { adminUpdateUserRequest } from "../_shared/identity/requests.ts";
import { actingStaffMember } from "../_shared/identity/actor.ts";
import { call } from "../_shared/platform/rpc.ts";
import { serviceClient } from "../_shared/platform/supabase.ts";

export const handler = createHandler(async (req) => {
  if (req.method !== "PUT") throw methodNotAllowed(req.method, ["PUT"]);
  // The body first: a malformed request is refused before Auth is asked anything.
  const { acting_user, user_id, ...changes } = await readJson(req, adminUpdateUserRequest);
  const actor = await actingStaffMember(req, acting_user);

  const service = serviceClient();
  const profile = await call(service, "admin_edit_user", {
    acting_user: actor,
    user_id,
    changes,
  });

  const { email, phone } = changes;
  if (email !== undefined || (phone !== undefined && phone !== null)) {
    const { error } = await service.auth.admin.updateUserById(user_id, {
      ...(email !== undefined ? { email, email_confirm: true } : {}),
      ...(phone ? { phone, phone_confirm: true } : {}),
    });
    if (error) {
      // Taken since the database looked: a conflict, as the database would have said.
      if (isAuthApiError(error) && ["email_exists", "phone_exists"].includes(error.code ?? "")) {
        throw new HttpError("conflict", error.message);
      }
      throw error;
    }
  }
  const { data, error } = await service.auth.admin.getUserById(user_id);
  if (error) throw error;
  return json({
    user: { id: data.user.id, email: data.user.email ?? null, phone: data.user.phone ?? null },
    profile,
  });
});
