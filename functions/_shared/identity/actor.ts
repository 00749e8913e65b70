// Who a staff function acts for: the signed-in caller (who, with a verified MFA factor, needs
// an aal2 session), or, for service tooling calling with the service-role key (the admin CLI),
// the staff account the request names in acting_user. Either way the database then checks
// that account's permission, so the key alone grants nothing a staff account does not hold.
import { HttpError } from "../http/errors.ts";
import { requireRequiredAal } from "../platform/assurance.ts";
import { isServiceRole, requireUser } from "../platform/supabase.ts";

export async function actingStaffMember(
  req: Request,
  actingUser: string | undefined,
): Promise<string> {
  if (isServiceRole(req)) {
    if (!actingUser) {
      throw new HttpError(
        "invalid_request",
        "acting_user is required with the service-role key: the staff account the tool acts for",
      );
    }
    return actingUser;
  }
  const { user, client } = await requireUser(req);
  if (actingUser !== undefined) {
    throw new HttpError("invalid_request", "acting_user is for service tooling only");
  }
  await requireRequiredAal(client);
  return user.id;
}
