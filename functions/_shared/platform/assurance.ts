// The assurance-level rule for the functions that move money or change authority (payout
// onboarding, refunds, account deletion): a caller who has a verified MFA factor must come
// with an aal2 session. The rule itself lives in the database (private.has_required_aal,
// supabase/schemas/00_platform/05_assurance.sql); the functions ask it as the caller, through
// the client RPC public.has_required_aal, before calling the ops RPCs they act through with the
// service role (where the database cannot see the caller's session).
import { HttpError } from "../http/errors.ts";
import { call, type Db } from "./rpc.ts";

/** The refusal's message: the same words the database raises (42501) for the RBAC writes. */
export const AAL2_REQUIRED_MESSAGE =
  "this action needs a two-factor (aal2) session: verify your factor first";

/**
 * Refuses with 403 `two_factor_required` when the caller (the client acting as them, from
 * requireUser) has a verified MFA factor and their session is aal1; passes otherwise.
 */
export async function requireRequiredAal(callerDb: Db): Promise<void> {
  if (!(await call(callerDb, "has_required_aal", {}))) {
    throw new HttpError("two_factor_required", AAL2_REQUIRED_MESSAGE);
  }
}
