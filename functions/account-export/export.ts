// An account export (GDPR access request): everything the registries say is the caller's, as
// one JSON document kept in the private account-exports bucket under their own folder. What
// counts as theirs is decided in one place, the personal-data and bucket registries
// (supabase/schemas/00_platform/70_registries.sql), which every domain extends; this adds
// what only Auth knows (the account) and download links for the files.
import type { User } from "npm:@supabase/supabase-js@2.119.1";
import { z } from "npm:zod@4.6.7";
import { callJson } from "../_shared/platform/rpc.ts";
import type { Client } from "../_shared/platform/supabase.ts";

export const EXPORTS_BUCKET = "account-exports";
export const SIGNED_URL_SECONDS = 3600;

const personalDataSchema = z.object({
  // Rows by table ("public.designs"), as private.personal_data describes them.
  tables: z.record(z.string(), z.array(z.record(z.string(), z.unknown()))),
  files: z.array(z.object({
    bucket: z.string(),
    name: z.string(),
    size: z.number().nullable(),
    mimetype: z.string().nullable(),
    created_at: z.string().nullable(),
  })),
});

type PersonalData = z.infer<typeof personalDataSchema>;

export type ExportedFile = PersonalData["files"][number] & {
  /** A download link valid for SIGNED_URL_SECONDS, or null if Storage would not sign it. */
  signed_url: string | null;
};

export interface AccountExport {
  exported_at: string;
  user: {
    id: string;
    email: string | null;
    phone: string | null;
    created_at: string;
    last_sign_in_at: string | null;
    user_metadata: Record<string, unknown>;
    app_metadata: Record<string, unknown>;
  };
  tables: PersonalData["tables"];
  files: ExportedFile[];
  files_expire_in: number;
}

export interface SavedExport {
  path: string;
  signed_url: string;
  expires_in: number;
}

/**
 * The caller's export: their data, read by public.export_my_data() as the caller (it answers
 * for auth.uid() only, whoever the caller may otherwise see), the account as Auth knows it,
 * and a download link for each file, signed by the service role.
 */
export async function buildExport(
  client: Client,
  service: Client,
  user: User,
): Promise<AccountExport> {
  const data = await callJson(client, "export_my_data", {}, personalDataSchema);
  return {
    exported_at: new Date().toISOString(),
    user: {
      id: user.id,
      email: user.email ?? null,
      phone: user.phone || null,
      created_at: user.created_at,
      last_sign_in_at: user.last_sign_in_at ?? null,
      user_metadata: user.user_metadata ?? {},
      app_metadata: user.app_metadata ?? {},
    },
    tables: data.tables,
    files: await signFiles(service, data.files),
    files_expire_in: SIGNED_URL_SECONDS,
  };
}

/** Download links for the files, one Storage call per bucket, signed by the service role. */
async function signFiles(
  service: Client,
  files: PersonalData["files"],
): Promise<ExportedFile[]> {
  const byBucket = Map.groupBy(files, (file) => file.bucket);
  const signed = new Map<string, string | null>();
  for (const [bucket, entries] of byBucket) {
    const { data, error } = await service.storage.from(bucket).createSignedUrls(
      entries.map((file) => file.name),
      SIGNED_URL_SECONDS,
    );
    // Storage's errors carry no SQLSTATE: one here is the server's fault, a 500.
    if (error) throw error;
    for (const entry of data) {
      signed.set(`${bucket}/${entry.path}`, entry.error ? null : entry.signedUrl);
    }
  }
  return files.map((file) => ({
    ...file,
    signed_url: signed.get(`${file.bucket}/${file.name}`) ?? null,
  }));
}

/**
 * Stores the export with the service role (users have no write policy on the bucket, so an
 * export cannot be forged) and signs a download URL for it.
 */
export async function saveExport(service: Client, data: AccountExport): Promise<SavedExport> {
  // Colons and dots out of the timestamp: object names stay plain in URLs and file systems.
  const path = `${data.user.id}/export-${data.exported_at.replace(/[:.]/g, "-")}.json`;
  const bucket = service.storage.from(EXPORTS_BUCKET);
  // A string body goes up as it is, with this content type (a Blob would go as a form).
  const uploaded = await bucket.upload(path, JSON.stringify(data, null, 2), {
    contentType: "application/json",
  });
  if (uploaded.error) throw uploaded.error;
  const signed = await bucket.createSignedUrl(path, SIGNED_URL_SECONDS);
  if (signed.error) throw signed.error;
  return { path, signed_url: signed.data.signedUrl, expires_in: SIGNED_URL_SECONDS };
}
