// User files (004 "File Storage") through supabase-js and the files-download-url function, as a
// client would use them on hosted Supabase: prepare an upload (where, or why not), upload with
// Storage, list mine with a category filter, sorts and a total, read one file's metadata, a
// 150x150 preview through Storage's image transformations, a download URL with a chosen
// lifetime (capped at 7 days), delete (object and row together), and the files in the
// account's export and gone with the account. Each bad input gets its precise refusal.

import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, signUp, type TestUser } from "../support/auth.ts";
import { admin, callFunction, client } from "../support/clients.ts";

const BUCKET = "user-files";
const MAX_BYTES = 50 * 1024 * 1024;
const PREVIEW = { width: 150, height: 150, resize: "cover" } as const;

async function landscapePng(): Promise<Buffer> {
  return await sharp({
    create: { width: 600, height: 300, channels: 3, background: { r: 30, g: 120, b: 200 } },
  }).png().toBuffer();
}

const PDF = Buffer.from("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n");

/** prepare_file_upload, then the upload to the path it answers, with the original name as metadata. */
async function uploadFile(
  user: TestUser,
  category: string,
  originalName: string,
  contentType: string,
  bytes: Buffer,
): Promise<{ id: string; path: string }> {
  const prepared = await user.client.rpc("prepare_file_upload", {
    category,
    original_name: originalName,
    content_type: contentType,
    size: bytes.length,
  });
  if (prepared.error) throw prepared.error;
  const { path } = prepared.data as { path: string };
  const uploaded = await user.client.storage.from(BUCKET).upload(path, bytes, {
    contentType,
    metadata: { original_name: originalName },
  });
  if (uploaded.error) throw uploaded.error;
  return { id: uploaded.data.id, path };
}

describe("user files: upload, list, preview, download URL, delete", () => {
  let owner: TestUser;
  let stranger: TestUser;
  let png: Buffer;
  let photo: { id: string; path: string };
  let small: { id: string; path: string };
  let document: { id: string; path: string };
  let video: { id: string; path: string };

  beforeAll(async () => {
    [owner, stranger, png] = await Promise.all([
      signUp("files-owner"),
      signUp("files-stranger"),
      landscapePng(),
    ]);
    photo = await uploadFile(owner, "image", "Beach day.png", "image/png", png);
    small = await uploadFile(
      owner,
      "image",
      "Icon.png",
      "image/png",
      await sharp(png).resize(20).png().toBuffer(),
    );
    document = await uploadFile(owner, "document", "Contract.pdf", "application/pdf", PDF);
    video = await uploadFile(owner, "video", "Video clip.mp4", "video/mp4", Buffer.alloc(300, 1));
  });

  it("has a row for each upload with what Storage stored, read by the owner only", async () => {
    const { data, error } = await owner.client.from("files").select("*").eq("id", photo.id)
      .single();
    expect(error).toBeNull();
    expect(data).toMatchObject({
      id: photo.id,
      owner_id: owner.id,
      path: photo.path,
      category: "image",
      content_type: "image/png",
      original_name: "Beach day.png",
      size: png.length,
    });
    expect(data!.checksum).toMatch(/^[0-9a-f]{32}$/);
    expect(photo.path).toMatch(new RegExp(`^${owner.id}/image/[0-9a-f-]{36}\\.png$`));

    const theirs = await stranger.client.from("files").select("id").eq("id", photo.id);
    expect(theirs.data).toEqual([]);
    expect((await client().from("files").select("id")).error?.message).toBe(
      "permission denied for table files",
    );
  });

  it("lists mine with a category filter, sorts and a total, a page at a time", async () => {
    const images = await owner.client.from("files").select("id, original_name", { count: "exact" })
      .eq("category", "image").order("created_at", { ascending: false }).range(0, 0);
    expect(images.error).toBeNull();
    expect(images.count).toBe(2);
    expect(images.data).toEqual([{ id: small.id, original_name: "Icon.png" }]);
    const next = await owner.client.from("files").select("id", { count: "exact" })
      .eq("category", "image").order("created_at", { ascending: false }).range(1, 1);
    expect(next.data).toEqual([{ id: photo.id }]);

    const bySize = await owner.client.from("files").select("original_name, size", {
      count: "exact",
    })
      .order("size", { ascending: false });
    expect(bySize.count).toBe(4);
    const sizes = bySize.data!.map((f) => f.size);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
    expect(bySize.data![0].original_name).toBe("Beach day.png");
    // Names with distinct first letters sort the same under any collation.
    const byName = await owner.client.from("files").select("original_name").order("original_name");
    expect(byName.data!.map((f) => f.original_name)).toEqual([
      "Beach day.png",
      "Contract.pdf",
      "Icon.png",
      "Video clip.mp4",
    ]);
  });

  it("gives a 150x150 preview of an image with the client's own createSignedUrl, as on hosted Supabase", async () => {
    const signed = await owner.client.storage.from(BUCKET).createSignedUrl(photo.path, 60, {
      transform: PREVIEW,
    });
    expect(signed.error).toBeNull();
    const response = await fetch(signed.data!.signedUrl);
    expect(response.status).toBe(200);
    const { width, height } = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    expect([width, height]).toEqual([150, 150]);

    const downloaded = await owner.client.storage.from(BUCKET).download(photo.path, {
      transform: PREVIEW,
    });
    const meta = await sharp(Buffer.from(await downloaded.data!.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([150, 150]);
  });

  it("refuses a preview of a document: Storage will not render it, and the function says why first", async () => {
    const signed = await owner.client.storage.from(BUCKET).createSignedUrl(document.path, 60, {
      transform: PREVIEW,
    });
    const response = await fetch(signed.data!.signedUrl);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      message: "The source image is invalid or unsupported for rendering",
    });
    const viaFunction = await callFunction(owner.client, "files-download-url", {
      file_id: document.id,
      preview: true,
    });
    expect(viaFunction).toEqual({
      status: 400,
      body: {
        error: {
          code: "invalid_request",
          message: `file ${document.id} is a document (application/pdf): only images have previews`,
        },
      },
    });
  });

  it("signs a download URL with the lifetime asked for, capped at 7 days, for the owner only", async () => {
    const { status, body } = await callFunction(owner.client, "files-download-url", {
      file_id: document.id,
      expires_in: 600,
      download: true,
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ file_id: document.id, expires_in: 600 });
    const expiresAt = Date.parse(body.expires_at);
    expect(Math.abs(expiresAt - (Date.now() + 600_000))).toBeLessThan(10_000);
    const response = await fetch(body.signed_url);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(PDF);
    expect(response.headers.get("content-disposition")).toContain("Contract.pdf");
    const token = new URL(body.signed_url).searchParams.get("token")!;
    const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
    expect(claims.exp - claims.iat).toBe(600);

    const week = await callFunction(owner.client, "files-download-url", {
      file_id: document.id,
      expires_in: 7 * 24 * 3600,
    });
    expect(week.status).toBe(200);
    const tooLong = await callFunction(owner.client, "files-download-url", {
      file_id: document.id,
      expires_in: 7 * 24 * 3600 + 1,
    });
    expect(tooLong).toEqual({
      status: 400,
      body: {
        error: {
          code: "invalid_request",
          message: "expires_in is at most 604800 seconds (7 days), not 604801",
        },
      },
    });
    const preview = await callFunction(owner.client, "files-download-url", {
      file_id: photo.id,
      preview: true,
    });
    expect(preview.status).toBe(200);
    expect(preview.body.signed_url).toContain(`/render/image/sign/${BUCKET}/`);

    // Another user's file is not found, through the function and through Storage.
    const strangers = await callFunction(stranger.client, "files-download-url", {
      file_id: document.id,
    });
    expect(strangers).toEqual({
      status: 404,
      body: { error: { code: "not_found", message: `file ${document.id} not found` } },
    });
    const direct = await stranger.client.storage.from(BUCKET).createSignedUrl(document.path, 60);
    expect(direct.error?.message).toBe("Object not found");
    const anonymous = await callFunction(client(), "files-download-url", { file_id: document.id });
    expect(anonymous.status).toBe(401);
  });

  it("refuses uploads outside the rules, each precisely, and stores nothing", async () => {
    const tooBigRpc = await owner.client.rpc("prepare_file_upload", {
      category: "video",
      original_name: "film.mp4",
      content_type: "video/mp4",
      size: MAX_BYTES + 1,
    });
    expect(tooBigRpc.error).toMatchObject({
      code: "22023",
      message: "a file has 1 to 52428800 bytes (50 MiB), not 52428801",
    });
    const tooBig = await owner.client.storage.from(BUCKET).upload(
      `${owner.id}/video/huge.mp4`,
      Buffer.alloc(MAX_BYTES + 1),
      { contentType: "video/mp4" },
    );
    expect(tooBig.error).toMatchObject({
      message: "The object exceeded the maximum allowed size",
      statusCode: "413",
    });

    const wrongType = await owner.client.rpc("prepare_file_upload", {
      category: "image",
      original_name: "clip.mp4",
      content_type: "video/mp4",
      size: 10,
    });
    expect(wrongType.error).toMatchObject({
      code: "22023",
      message: "a file of category image is one of: image/gif, image/jpeg, image/png, image/webp",
    });
    const wrongFolder = await owner.client.storage.from(BUCKET).upload(
      `${owner.id}/image/clip.mp4`,
      Buffer.alloc(10),
      { contentType: "video/mp4" },
    );
    expect(wrongFolder.error?.message).toBe("new row violates row-level security policy");
    const notAllowed = await owner.client.storage.from(BUCKET).upload(
      `${owner.id}/document/page.html`,
      Buffer.from("<p>hi</p>"),
      { contentType: "text/html" },
    );
    expect(notAllowed.error).toMatchObject({
      message: "mime type text/html is not supported",
      statusCode: "415",
    });
    const planted = await stranger.client.storage.from(BUCKET).upload(
      `${owner.id}/image/planted.png`,
      png,
      { contentType: "image/png" },
    );
    expect(planted.error?.message).toBe("new row violates row-level security policy");

    const { count } = await owner.client.from("files").select("id", { count: "exact", head: true });
    expect(count).toBe(4);
  });

  it("deletes the object and its row together, through Storage", async () => {
    const removed = await owner.client.storage.from(BUCKET).remove([video.path]);
    expect(removed.error).toBeNull();
    expect(removed.data).toHaveLength(1);
    expect((await owner.client.from("files").select("id").eq("id", video.id)).data).toEqual([]);
    expect((await owner.client.storage.from(BUCKET).exists(video.path)).data).toBe(false);
    // A stranger's remove deletes nothing of the owner's.
    const strangers = await stranger.client.storage.from(BUCKET).remove([photo.path]);
    expect(strangers.data).toEqual([]);
    expect((await owner.client.from("files").select("id").eq("id", photo.id)).data).toHaveLength(1);
  });

  it("puts the files in the account's export, and erases them with the account", async () => {
    const exported = await callFunction(owner.client, "account-export");
    expect(exported.status, JSON.stringify(exported.body)).toBe(200);
    const document_ = await (await fetch(exported.body.signed_url)).json();
    expect(document_.tables["public.files"].map((f: { id: string }) => f.id).sort()).toEqual(
      [photo.id, small.id, document.id].sort(),
    );
    const listed = document_.files
      .filter((f: { bucket: string }) => f.bucket === BUCKET)
      .map((f: { name: string }) => f.name)
      .sort();
    expect(listed).toEqual([photo.path, small.path, document.path].sort());

    const deleted = await callFunction(owner.client, "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    const left = await admin().storage.from(BUCKET).listV2({ prefix: `${owner.id}/` });
    expect(left.data?.objects).toEqual([]);
    const rows = await admin().from("files").select("id").eq("owner_id", owner.id);
    expect(rows.data).toEqual([]);
  });
});
