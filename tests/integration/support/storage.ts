// Files for Storage tests.

import type { TestUser } from "./auth.ts";

// The smallest valid PNG: one transparent pixel.
export const TINY_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);

/** Uploads TINY_PNG as the user into a bucket; returns supabase-js's answer. */
export function uploadPng(user: TestUser, bucket: string, path: string) {
  return user.client.storage.from(bucket).upload(
    path,
    new Blob([TINY_PNG], { type: "image/png" }),
    { contentType: "image/png" },
  );
}
