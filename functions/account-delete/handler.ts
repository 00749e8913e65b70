// POST /account-delete { password, confirm: "DELETE" }: deletes the caller's account, files
// and personal rows, once they have proved they know the password (and, with a verified MFA
// factor, from an aal2 session: 403 two_factor_required).
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { requireRequiredAal } from "../_shared/platform/assurance.ts";
import { anonClient, requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { deleteAccount, deleteRequestSchema, reauthenticate } from "./delete.ts";

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  // The body first: a malformed request is refused before Auth is asked anything.
  const { password } = await readJson(req, deleteRequestSchema);
  const { user, client } = await requireUser(req);
  // A user with a verified factor deletes their account from an aal2 session only.
  await requireRequiredAal(client);
  await reauthenticate(anonClient(), user, password);
  await deleteAccount(serviceClient(), user);
  return json({ deleted: true });
});
