// A design export: who may export (the owner, or anyone holding a live share link), the files
// rendered from the design, and where they are kept (the private exports bucket, in the
// owner's folder) with signed URLs to download them.
import { z } from "npm:zod@4.6.7";
import { orThrow } from "../_shared/platform/database-errors.ts";
import { call } from "../_shared/platform/rpc.ts";
import { HttpError } from "../_shared/http/errors.ts";
import type { Client } from "../_shared/platform/supabase.ts";
import { patternSchema } from "./pattern.ts";
import { svgToPng } from "./raster.ts";
import {
  pageFor,
  pixelSize,
  type Preset,
  presetSchema,
  PresetTooLargeError,
  renderSvg,
} from "./render.ts";

export const EXPORTS_BUCKET = "exports";
export const SIGNED_URL_SECONDS = 3600;

export const formatSchema = z.enum(["json", "svg", "png"]);
export type ExportFormat = z.infer<typeof formatSchema>;

export const exportRequestSchema = z
  .object({
    design_id: z.uuid(),
    // One format, or several at once ("returns URL(s)").
    format: z.union([formatSchema, z.array(formatSchema).min(1).max(3)]),
    preset: presetSchema.optional(),
    share_token: z.string().min(1).max(200).optional(),
  })
  .strict();

export type ExportRequest = z.infer<typeof exportRequestSchema>;

/** The designs row, as the API returns it. */
export interface DesignRow {
  id: string;
  owner_id: string;
  title: string;
  description: string;
  tags: string[];
  visibility: string;
  pattern: unknown;
  created_at: string;
  updated_at: string;
}

export interface ExportedFile {
  format: ExportFormat;
  path: string;
  signed_url: string;
  expires_at: string;
}

const notFound = (id: string) => new HttpError("not_found", `design ${id} not found`);

/**
 * The design through a share token: the RPC checks the token (as anon or as the signed-in
 * caller), and the token must open this very design.
 */
export async function designByShareToken(
  client: Client,
  designId: string,
  token: string,
): Promise<DesignRow> {
  // PT410 (HTTP 410 from PostgREST) is get_shared_design's expired link.
  const design: DesignRow | null = await call(client, "get_shared_design", { token }, {
    "PT410": "share_link_expired",
  });
  if (!design || design.id !== designId) throw notFound(designId);
  return design;
}

/**
 * The caller's own design. Read through their client, so RLS decides what they see; a design
 * they can see but do not own (a public one) is refused with 403, one they cannot see is 404.
 */
export async function ownDesign(
  client: Client,
  userId: string,
  designId: string,
): Promise<DesignRow> {
  const design: DesignRow | null = orThrow(
    await client.from("designs").select("*").eq("id", designId).maybeSingle(),
  );
  if (!design) throw notFound(designId);
  if (design.owner_id !== userId) {
    throw new HttpError(
      "forbidden",
      "Only the design's owner, or someone holding a share link to it, may export it",
    );
  }
  return design;
}

interface RenderedFile {
  format: ExportFormat;
  contentType: string;
  body: string | Uint8Array;
}

/** The export document of the JSON format: the design and its pattern, as stored. */
export function exportDocument(design: DesignRow, exportedAt: string) {
  return {
    format: "marketplace-design",
    version: 1,
    exported_at: exportedAt,
    design: {
      id: design.id,
      title: design.title,
      description: design.description,
      tags: design.tags,
      pattern: design.pattern,
      created_at: design.created_at,
      updated_at: design.updated_at,
    },
  };
}

/** Renders the requested formats. Checks the preset's size before drawing anything. */
export async function renderExports(
  design: DesignRow,
  formats: ExportFormat[],
  preset: Preset,
  exportedAt: string,
): Promise<RenderedFile[]> {
  const parsed = patternSchema.safeParse(design.pattern);
  // The database checked the pattern when it was saved: a mismatch is our bug, not the caller's.
  if (!parsed.success) {
    throw new Error(`design ${design.id} holds a pattern the renderer cannot read`, {
      cause: parsed.error,
    });
  }
  const pattern = parsed.data;
  const page = pageFor(pattern, preset);
  let pixels: { width: number } | null = null;
  if (formats.includes("png")) {
    try {
      pixels = pixelSize(page, preset.width_px);
    } catch (err) {
      if (err instanceof PresetTooLargeError) {
        throw new HttpError("invalid_request", err.message);
      }
      throw err;
    }
  }
  const svg = formats.some((f) => f !== "json")
    ? renderSvg(pattern, page, { title: design.title })
    : "";
  const files: RenderedFile[] = [];
  for (const format of formats) {
    if (format === "json") {
      files.push({
        format,
        contentType: "application/json",
        body: JSON.stringify(exportDocument(design, exportedAt), null, 2),
      });
    } else if (format === "svg") {
      files.push({ format, contentType: "image/svg+xml", body: svg });
    } else {
      const png = await svgToPng(svg, pixels!.width);
      files.push({ format, contentType: "image/png", body: png.bytes });
    }
  }
  return files;
}

/**
 * Stores the files with the service role (users have no write policy on the bucket) at
 * <owner>/<design>/<timestamp>.<ext> and signs a download URL for each.
 */
export async function saveExports(
  service: Client,
  design: DesignRow,
  files: RenderedFile[],
  exportedAt: string,
): Promise<ExportedFile[]> {
  const stamp = exportedAt.replace(/[:.]/g, "-");
  const bucket = service.storage.from(EXPORTS_BUCKET);
  const saved: ExportedFile[] = [];
  for (const file of files) {
    const path = `${design.owner_id}/${design.id}/${stamp}.${file.format}`;
    const uploaded = await bucket.upload(path, file.body, {
      contentType: file.contentType,
      upsert: true,
    });
    if (uploaded.error) throw uploaded.error;
    const signed = await bucket.createSignedUrl(path, SIGNED_URL_SECONDS);
    if (signed.error) throw signed.error;
    saved.push({
      format: file.format,
      path,
      signed_url: signed.data.signedUrl,
      expires_at: new Date(Date.now() + SIGNED_URL_SECONDS * 1000).toISOString(),
    });
  }
  return saved;
}
