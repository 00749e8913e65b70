import { readFileSync } from "node:fs";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, client } from "../support/clients.ts";
import { TINY_PNG as PNG } from "../support/storage.ts";

const png = () => new Blob([PNG], { type: "image/png" });

describe("avatars bucket through the storage API", () => {
  let owner: TestUser;
  let stranger: TestUser;

  beforeAll(async () => {
    [owner, stranger] = await Promise.all([signUp("avatar-owner"), signUp("avatar-stranger")]);
  });

  it("lets the owner upload into their own folder and anyone fetch it by public URL", async () => {
    const path = `${owner.id}/face.png`;
    const { data, error } = await owner.client.storage.from("avatars").upload(path, png(), {
      contentType: "image/png",
    });
    expect(error).toBeNull();
    expect(data?.path).toBe(path);

    const { data: url } = client().storage.from("avatars").getPublicUrl(path);
    const response = await fetch(url.publicUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await response.arrayBuffer())).toEqual(PNG);

    const listed = await owner.client.storage.from("avatars").list(owner.id);
    expect(listed.data?.map((o) => o.name)).toContain("face.png");

    const { error: profileError } = await owner.client.from("profiles").update({
      avatar_path: path,
    }).eq("id", owner.id);
    expect(profileError).toBeNull();
  });

  it("refuses an upload into another user's folder and stores nothing", async () => {
    const path = `${owner.id}/planted.png`;
    const { error } = await stranger.client.storage.from("avatars").upload(path, png(), {
      contentType: "image/png",
    });
    expect(error).not.toBeNull();
    expect(error?.message).toMatch(/row-level security/);
    const listed = await admin().storage.from("avatars").list(owner.id);
    expect(listed.data?.map((o) => o.name)).not.toContain("planted.png");
  });

  it("refuses anonymous uploads", async () => {
    const { error } = await client().storage.from("avatars").upload(`${owner.id}/anon.png`, png(), {
      contentType: "image/png",
    });
    expect(error).not.toBeNull();
  });

  it("refuses files that are not images, or too large", async () => {
    const text = await owner.client.storage
      .from("avatars")
      .upload(`${owner.id}/notes.txt`, new Blob(["hello"], { type: "text/plain" }), {
        contentType: "text/plain",
      });
    expect(text.error).not.toBeNull();
    const huge = await owner.client.storage
      .from("avatars")
      .upload(
        `${owner.id}/huge.png`,
        new Blob([new Uint8Array(3 * 1024 * 1024)], { type: "image/png" }),
        { contentType: "image/png" },
      );
    expect(huge.error).not.toBeNull();
    const listed = await owner.client.storage.from("avatars").list(owner.id);
    expect(listed.data?.map((o) => o.name)).not.toContain("notes.txt");
    expect(listed.data?.map((o) => o.name)).not.toContain("huge.png");
  });

  it("signs URLs for downloads and uploads", async () => {
    const path = `${owner.id}/signed.png`;
    const signedUpload = await owner.client.storage.from("avatars").createSignedUploadUrl(path);
    expect(signedUpload.error).toBeNull();
    const uploaded = await client().storage.from("avatars").uploadToSignedUrl(
      path,
      signedUpload.data!.token,
      png(),
      { contentType: "image/png" },
    );
    expect(uploaded.error).toBeNull();

    const signed = await owner.client.storage.from("avatars").createSignedUrl(path, 60);
    expect(signed.error).toBeNull();
    const response = await fetch(signed.data!.signedUrl);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(PNG);
  });

  it("lets only the owner remove and move their avatars", async () => {
    const path = `${owner.id}/move-me.png`;
    await owner.client.storage.from("avatars").upload(path, png(), { contentType: "image/png" });

    const strangerRemove = await stranger.client.storage.from("avatars").remove([path]);
    expect(strangerRemove.data ?? []).toEqual([]);
    const strangerMove = await stranger.client.storage.from("avatars").move(
      path,
      `${stranger.id}/stolen.png`,
    );
    expect(strangerMove.error).not.toBeNull();

    const moved = await owner.client.storage.from("avatars").move(path, `${owner.id}/moved.png`);
    expect(moved.error).toBeNull();
    const removed = await owner.client.storage.from("avatars").remove([`${owner.id}/moved.png`]);
    expect(removed.data).toHaveLength(1);
    const downloaded = await owner.client.storage.from("avatars").download(`${owner.id}/moved.png`);
    expect(downloaded.error).not.toBeNull();
  });

  it("has the buckets config.toml declares, with the same settings", async () => {
    const toml = parse(
      readFileSync(new URL("../../../supabase/config.toml", import.meta.url), "utf8"),
    ) as {
      storage: { buckets: Record<string, { public: boolean; allowed_mime_types: string[] }> };
    };
    const { data, error } = await admin().storage.listBuckets();
    expect(error).toBeNull();
    for (const [id, spec] of Object.entries(toml.storage.buckets)) {
      const bucket = data?.find((b) => b.id === id);
      expect(bucket, `bucket ${id}`).toBeDefined();
      expect(bucket?.public).toBe(spec.public);
      expect(bucket?.allowed_mime_types).toEqual(spec.allowed_mime_types);
    }
  });
});
