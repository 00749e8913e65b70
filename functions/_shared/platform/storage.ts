// Storage helpers for folders: a bucket keeps objects under a folder named by what owns them
// (<user id>/ or <order id>/, as private.user_buckets records; the policies check the first
// path segment). Storage's errors carry no SQLSTATE for orThrow to map: one here is the
// server's fault, a 500.
import type { Client } from "./supabase.ts";

export interface StoredObject {
  bucket: string;
  name: string;
  size: number | null;
}

// Storage lists at most this many entries per call.
const PAGE_SIZE = 100;

/**
 * Every object under `folder` in `bucket` that the client may see, subfolders included:
 * Storage's list is one level deep and shows a subfolder as an entry without an id, and the
 * policies allow any depth under <uid>/.
 */
export async function listObjects(
  client: Client,
  bucket: string,
  folder: string,
): Promise<StoredObject[]> {
  const found: StoredObject[] = [];
  for (let offset = 0;; offset += PAGE_SIZE) {
    const { data, error } = await client.storage.from(bucket).list(folder, {
      limit: PAGE_SIZE,
      offset,
      sortBy: { column: "name", order: "asc" },
    });
    if (error) throw error;
    for (const entry of data) {
      const name = `${folder}/${entry.name}`;
      if (entry.id === null) {
        found.push(...await listObjects(client, bucket, name));
      } else {
        const size = entry.metadata?.size;
        found.push({ bucket, name, size: typeof size === "number" ? size : null });
      }
    }
    if (data.length < PAGE_SIZE) return found;
  }
}

// Storage removes at most this many objects per call.
const REMOVE_BATCH = 1000;

/** Removes every object under `folder` in `bucket` (as far as the client is allowed to). */
export async function removeFolder(
  client: Client,
  bucket: string,
  folder: string,
): Promise<number> {
  const names = (await listObjects(client, bucket, folder)).map((object) => object.name);
  for (let start = 0; start < names.length; start += REMOVE_BATCH) {
    const { error } = await client.storage.from(bucket).remove(
      names.slice(start, start + REMOVE_BATCH),
    );
    if (error) throw error;
  }
  return names.length;
}
