// POST /account-export: the caller's data as one JSON document in the account-exports bucket,
// answered with where it is and a signed URL to download it within the hour.
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";
import { buildExport, saveExport } from "./export.ts";

export const handler = createHandler(async (req) => {
  // POST, not GET: every call writes a new export.
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user, client } = await requireUser(req);
  const service = serviceClient();
  return json(await saveExport(service, await buildExport(client, service, user)));
});
