// POST /design-export { design_id, format, preset?, share_token? }: renders a design to JSON,
// SVG and/or PNG in the private exports bucket and answers
// { exports: [{ format, path, signed_url, expires_at }] }, the URLs valid for an hour.
// The owner exports with their session; anyone else needs a live share token for the design
// (the anon key is enough then).
import { json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { requireUser, serviceClient, userClient } from "../_shared/platform/supabase.ts";
import {
  designByShareToken,
  exportRequestSchema,
  ownDesign,
  renderExports,
  saveExports,
} from "./export.ts";

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const request = await readJson(req, exportRequestSchema);
  const formats = [...new Set([request.format].flat())];
  let design;
  if (request.share_token !== undefined) {
    design = await designByShareToken(userClient(req), request.design_id, request.share_token);
  } else {
    const { user, client } = await requireUser(req);
    design = await ownDesign(client, user.id, request.design_id);
  }
  const exportedAt = new Date().toISOString();
  const files = await renderExports(design, formats, request.preset ?? {}, exportedAt);
  return json({ exports: await saveExports(serviceClient(), design, files, exportedAt) });
});
