// POST /files-download-url { file_id, expires_in?, preview?, download? }: a signed URL to one of
// the caller's user files with a lifetime they choose, capped. The file is read as the caller
// (public.files: owners only), so another user's file, or one that does not exist, is 404.
// The URL is signed with the caller's own session, so Storage's select policy on user-files
// decides too. With preview, the URL is Storage's 150x150 cover rendering of an image (the same
// createSignedUrl transform a client could ask for itself); a preview of a video or a
// document is refused here, before Storage would refuse to render it. With download, the
// browser saves the file under its original name.
//
// The cap is this function's: a client may still sign its own file for longer with
// createSignedUrl, Storage caps nothing, but only ever its own file (docs/domains/files.md).
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { requireUser } from "../_shared/platform/supabase.ts";

/** The longest lifetime a download URL may be given: 7 days. */
export const MAX_EXPIRES_IN = 7 * 24 * 60 * 60;
/** The lifetime when none is asked for: an hour. */
export const DEFAULT_EXPIRES_IN = 60 * 60;
/** The preview Storage renders: 150x150, cropped to fill. */
export const PREVIEW = { width: 150, height: 150, resize: "cover" } as const;

const downloadUrlRequest = z.object({
  file_id: z.uuid(),
  expires_in: z.number().int().positive().optional(),
  preview: z.boolean().optional(),
  download: z.boolean().optional(),
}).strict();

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { client } = await requireUser(req);
  const request = await readJson(req, downloadUrlRequest);
  const expiresIn = request.expires_in ?? DEFAULT_EXPIRES_IN;
  if (expiresIn > MAX_EXPIRES_IN) {
    throw new HttpError(
      "invalid_request",
      `expires_in is at most ${MAX_EXPIRES_IN} seconds (7 days), not ${expiresIn}`,
    );
  }
  const { data: file, error } = await client
    .from("files")
    .select("id, path, category, content_type, original_name")
    .eq("id", request.file_id)
    .maybeSingle();
  if (error) throw error;
  if (!file) throw new HttpError("not_found", `file ${request.file_id} not found`);
  if (request.preview && file.category !== "image") {
    throw new HttpError(
      "invalid_request",
      `file ${file.id} is a ${file.category} (${file.content_type}): only images have previews`,
    );
  }
  const signed = await client.storage.from("user-files").createSignedUrl(
    file.path,
    expiresIn,
    request.preview
      ? { transform: PREVIEW }
      : request.download
      ? { download: file.original_name }
      : undefined,
  );
  if (signed.error) throw signed.error;
  return json({
    file_id: file.id,
    signed_url: signed.data.signedUrl,
    expires_in: expiresIn,
    expires_at: new Date(Date.now() + expiresIn * 1000).toISOString(),
  });
});
