// Who a staff function acts for: the signed-in caller (who, with a verified MFA factor, needs
// an aal2 session), or, for service tooling calling with the service-role key (the admin CLI),
// the staff account the request names in acting_user. Either way the database then checks
// that account's permission, so the key alone grants nothing a staff account does not hold.
import { HttpError } from "../http/errors.ts";
import { requireRequiredAal } from "../platform/assurance.ts";
import { type Client, isServiceRole, requireUser } from "../platform/supabase.ts";

/**
 * The account a request acts for: the signed-in caller, or the acting_user that service
 * tooling names with the service-role key (required there, refused from anyone else).
 */
export async function actingUser(
  req: Request,
  actingUser: string | undefined,
): Promise<{ id: string; client: Client | null }> {
  if (isServiceRole(req)) {
    if (!actingUser) {
      throw new HttpError(
        "invalid_request",
        "acting_user is required with the service-role key: the staff account the tool acts for",
      );
    }
    return { id: actingUser, client: null };
  }
  const { user, client } = await requireUser(req);
  if (actingUser !== undefined) {
    throw new HttpError("invalid_request", "acting_user is for service tooling only");
  }
  return { id: user.id, client };
}

/** actingUser for staff actions, which a signed-in caller makes from an aal2 session. */
export async function actingStaffMember(
  req: Request,
  acting: string | undefined,
): Promise<string> {
  const { id, client } = await actingUser(req, acting);
  if (client) await requireRequiredAal(client);
  return id;
}
