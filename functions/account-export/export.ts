// An account export (GDPR access request): everything the caller owns as one JSON document,
// kept in the private account-exports bucket under their own folder.
import type { User } from "npm:@supabase/supabase-js@2.119.1";
import type { Client } from "../_shared/platform/supabase.ts";
import { orThrow } from "../_shared/platform/database-errors.ts";
import { listObjects, type StoredObject } from "../_shared/platform/storage.ts";

export const EXPORTS_BUCKET = "account-exports";
export const SIGNED_URL_SECONDS = 3600;

type Row = Record<string, unknown>;

export interface AccountExport {
  exported_at: string;
  user: {
    id: string;
    email: string | null;
    phone: string | null;
    created_at: string;
    last_sign_in_at: string | null;
    user_metadata: Row;
    app_metadata: Row;
  };
  profile: Row | null;
  private_profile: Row | null;
  addresses: Row[];
  seller_applications: Row[];
  shop: Row | null;
  roles: { role: string; assigned_at: string; expires_at: string | null }[];
  storage_objects: StoredObject[];
}

export interface SavedExport {
  path: string;
  signed_url: string;
  expires_in: number;
}

/**
 * Reads the caller's data through their own client, so RLS bounds every read to what they may
 * see. Each query still names the caller's id: staff may see other users' rows (users.read,
 * sellers.review), and an export holds the caller's own data only. A read the database refuses
 * is the same 4xx as anywhere else (orThrow).
 */
export async function collectAccountData(
  client: Client,
  user: User,
): Promise<AccountExport> {
  const uid = user.id;
  const [profile, privateProfile, addresses, applications, shop, roles, avatars] = await Promise
    .all([
      client.from("profiles").select("*").eq("id", uid).maybeSingle().then(orThrow),
      client.from("private_profiles").select("*").eq("id", uid).maybeSingle().then(orThrow),
      client.from("addresses").select("*").eq("user_id", uid).order("created_at").then(orThrow),
      client.from("seller_applications").select("*").eq("user_id", uid).order("created_at")
        .then(orThrow),
      client.from("shops").select("*").eq("id", uid).maybeSingle().then(orThrow),
      client.from("user_roles").select("assigned_at, expires_at, roles(name)").eq("user_id", uid)
        .order("assigned_at").then(orThrow),
      listObjects(client, "avatars", uid),
    ]);
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
    profile,
    private_profile: privateProfile,
    addresses,
    // Who reviewed the application, or assigned a role, is someone else's personal data: an
    // export must not disclose it (GDPR art. 15(4)), so those ids stay out.
    seller_applications: applications.map(({ reviewed_by: _reviewer, ...rest }) => rest),
    shop,
    roles: roles.map((assignment) => ({
      role: assignment.roles.name,
      assigned_at: assignment.assigned_at,
      expires_at: assignment.expires_at,
    })),
    storage_objects: avatars,
  };
}

/**
 * Stores the export with the service role (users have no write policy on the bucket, so an
 * export cannot be forged) and signs a download URL for it.
 */
export async function saveExport(
  service: Client,
  data: AccountExport,
): Promise<SavedExport> {
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
