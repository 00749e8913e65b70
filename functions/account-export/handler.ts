// POST /account-export: the caller's data as one JSON document in the account-exports bucket,
// answered with where it is and a signed URL to download it within the hour.
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { collectAccountData, saveExport, SIGNED_URL_SECONDS, signFiles } from "./export.ts";

export const handler = createHandler(async (req) => {
  // POST, not GET: every call writes a new export.
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user, client } = await requireUser(req);
  const { files, ...data } = await collectAccountData(client, user);
  const service = serviceClient();
  const signed = await signFiles(service, files);
  return json(
    await saveExport(service, { ...data, files: signed, files_expire_in: SIGNED_URL_SECONDS }),
  );
});
