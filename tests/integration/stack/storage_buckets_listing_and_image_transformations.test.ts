// The Storage stand-in as a new user of supabase-js's storage client finds it: bucket writes
// (the service role only, with Storage's errors for everyone else), bucket reads in Storage's
// shapes, exists() and HEAD, info with user metadata, the v2 listing with its cursor, and
// image transformations (download, public and signed URLs with `transform`) rendered for real.

import { randomUUID } from "node:crypto";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, client, SERVICE_ROLE_KEY } from "../support/clients.ts";

const suffix = randomUUID().slice(0, 8);
const privateBucket = `p19-private-${suffix}`;
const publicBucket = `p19-public-${suffix}`;

/** A 400x200 PNG, half red, half blue. */
async function landscapePng(): Promise<Buffer> {
  return await sharp({
    create: { width: 400, height: 200, channels: 3, background: { r: 200, g: 10, b: 10 } },
  })
    .composite([{
      input: await sharp({
        create: { width: 200, height: 200, channels: 3, background: { r: 10, g: 10, b: 200 } },
      }).png().toBuffer(),
      left: 200,
      top: 0,
    }])
    .png()
    .toBuffer();
}

async function sizeOf(bytes: ArrayBuffer | Buffer) {
  const { width, height, format } = await sharp(Buffer.from(bytes as ArrayBuffer)).metadata();
  return { width, height, format };
}

describe("Storage stand-in: buckets, listing and image transformations through supabase-js", () => {
  let user: TestUser;
  let png: Buffer;

  beforeAll(async () => {
    [user, png] = await Promise.all([signUp("storage-standin"), landscapePng()]);
  });

  afterAll(async () => {
    for (const bucket of [privateBucket, publicBucket]) {
      await admin().storage.emptyBucket(bucket);
      await admin().storage.deleteBucket(bucket);
    }
  });

  it("lets only the service role create, update and delete buckets, with Storage's errors for others", async () => {
    const refused = await user.client.storage.createBucket(privateBucket);
    expect(refused.data).toBeNull();
    expect(refused.error).toMatchObject({
      message: "new row violates row-level security policy",
      statusCode: "403",
      status: 400,
    });
    const anonymous = await client().storage.createBucket(privateBucket);
    expect(anonymous.error?.message).toBe("new row violates row-level security policy");

    const created = await admin().storage.createBucket(privateBucket, {
      public: false,
      fileSizeLimit: "2MB",
    });
    expect(created).toEqual({ data: { name: privateBucket }, error: null });
    expect((await admin().storage.createBucket(publicBucket, { public: true })).error).toBeNull();

    const again = await admin().storage.createBucket(privateBucket);
    expect(again.error).toMatchObject({
      message: "The resource already exists",
      statusCode: "409",
      code: "BucketAlreadyExists",
    });
    const badName = await admin().storage.createBucket(" spaced ");
    expect(badName.error).toMatchObject({
      message: "Bucket name invalid",
      code: "InvalidBucketName",
    });
    const badType = await admin().storage.createBucket(`p19-bad-${suffix}`, {
      public: false,
      allowedMimeTypes: ["not a type"],
    });
    expect(badType.error).toMatchObject({
      message: "mime type not a type is not supported",
      statusCode: "415",
    });
    const tooLarge = await admin().storage.createBucket(`p19-big-${suffix}`, {
      public: false,
      fileSizeLimit: "1GB",
    });
    expect(tooLarge.error).toMatchObject({
      message: "The object exceeded the maximum allowed size",
      statusCode: "413",
    });

    // A bucket the caller's policies hide is not found by an update.
    const userUpdate = await user.client.storage.updateBucket(privateBucket, { public: true });
    expect(userUpdate.error).toMatchObject({ message: "Bucket not found", statusCode: "404" });
    const updated = await admin().storage.updateBucket(privateBucket, {
      public: false,
      fileSizeLimit: 1_000_000,
      allowedMimeTypes: ["image/png", "text/plain"],
    });
    expect(updated).toEqual({ data: { message: "Successfully updated" }, error: null });
  });

  it("reads a bucket and the list in Storage's exact shapes", async () => {
    const { data: bucket, error } = await admin().storage.getBucket(privateBucket);
    expect(error).toBeNull();
    expect(Object.keys(bucket!)).toEqual([
      "id",
      "name",
      "owner",
      "public",
      "created_at",
      "updated_at",
      "file_size_limit",
      "allowed_mime_types",
    ]);
    expect(bucket).toMatchObject({
      id: privateBucket,
      public: false,
      file_size_limit: 1_000_000,
      allowed_mime_types: ["image/png", "text/plain"],
    });
    const { data: list } = await admin().storage.listBuckets({ search: suffix });
    expect(list!.map((b) => b.id).sort()).toEqual([privateBucket, publicBucket]);
    expect(Object.keys(list![0])).toEqual([
      "id",
      "name",
      "public",
      "owner",
      "created_at",
      "updated_at",
      "file_size_limit",
      "allowed_mime_types",
      "type",
    ]);
    const missing = await admin().storage.getBucket(`p19-missing-${suffix}`);
    expect(missing.error).toMatchObject({ message: "Bucket not found", statusCode: "404" });
  });

  it("answers exists(), HEAD and info() as Storage does, with metadata {} when none was given", async () => {
    const files = admin().storage.from(privateBucket);
    expect((await files.upload("photo.png", png, { contentType: "image/png" })).error).toBeNull();
    expect(
      (await files.upload("tagged.png", png, { contentType: "image/png", metadata: { k: "v" } }))
        .error,
    ).toBeNull();

    expect(await files.exists("photo.png")).toEqual({ data: true, error: null });
    const absent = await files.exists("absent.png");
    expect(absent.data).toBe(false);
    expect(absent.error).toMatchObject({ code: "NoSuchKey", message: "Object not found" });

    const { data: info } = await files.info("photo.png");
    expect(info).toMatchObject({
      name: "photo.png",
      bucketId: privateBucket,
      size: png.length,
      contentType: "image/png",
      metadata: {},
    });
    expect((await files.info("tagged.png")).data?.metadata).toEqual({ k: "v" });

    const url = `${process.env.SUPABASE_URL}/storage/v1/object/${privateBucket}/photo.png`;
    const head = await fetch(url, {
      method: "HEAD",
      headers: { authorization: `Bearer ${SERVICE_ROLE_KEY}`, apikey: SERVICE_ROLE_KEY },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("image/png");
    expect(head.headers.get("content-length")).toBe(String(png.length));
    expect(await head.text()).toBe("");
    // A private bucket's object is not found without a JWT.
    const bare = await fetch(url, { method: "HEAD" });
    expect(bare.status).toBe(400);
  });

  it("lists with the v2 listing: folders once, objects, and a cursor through the pages", async () => {
    const files = admin().storage.from(privateBucket);
    for (const name of ["docs/a.txt", "docs/b.txt", "docs/deep/c.txt", "notes/n.txt", "z.txt"]) {
      expect((await files.upload(name, "text", { contentType: "text/plain" })).error).toBeNull();
    }
    const top = await files.listV2({ with_delimiter: true });
    expect(top.error).toBeNull();
    expect(top.data).toMatchObject({ hasNext: false });
    expect(top.data!.folders.map((f) => f.name)).toEqual(["docs/", "notes/"]);
    expect(top.data!.objects.map((o) => o.name)).toEqual(["photo.png", "tagged.png", "z.txt"]);
    expect(top.data!.folders[0]).toEqual({ id: null, name: "docs/" });

    const inDocs = await files.listV2({ prefix: "docs/", with_delimiter: true });
    expect(inDocs.data!.folders.map((f) => f.name)).toEqual(["docs/deep/"]);
    expect(inDocs.data!.objects.map((o) => o.name)).toEqual(["docs/a.txt", "docs/b.txt"]);

    // Without the delimiter: every object under the prefix, a page at a time.
    const names: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const { data, error } = await files.listV2({ prefix: "docs/", limit: 2, cursor });
      expect(error).toBeNull();
      names.push(...data!.objects.map((o) => o.name));
      expect(data!.folders).toEqual([]);
      if (!data!.hasNext) break;
      // Storage answers nextCursorKey too; storage-js's SearchV2Result does not declare it.
      expect((data as unknown as { nextCursorKey: string }).nextCursorKey).toBe(
        names[names.length - 1],
      );
      cursor = data!.nextCursor;
    }
    expect(names).toEqual(["docs/a.txt", "docs/b.txt", "docs/deep/c.txt"]);

    // Folders page too: a folder cursor resumes after everything in it.
    const first = await files.listV2({ with_delimiter: true, limit: 1 });
    expect(first.data!.folders.map((f) => f.name)).toEqual(["docs/"]);
    const second = await files.listV2({
      with_delimiter: true,
      limit: 1,
      cursor: first.data!.nextCursor,
    });
    expect(second.data!.folders.map((f) => f.name)).toEqual(["notes/"]);

    const badCursor = await files.listV2({ cursor: "not a cursor" });
    expect(badCursor.error).toMatchObject({ message: "Invalid Parameter continuation token" });
    // The caller's select policies filter: this bucket has none for signed-in users.
    const asUser = await user.client.storage.from(privateBucket).listV2({ with_delimiter: true });
    expect(asUser.data).toMatchObject({ folders: [], objects: [] });
  });

  it("renders 150x150 previews for download, signed and public URLs with a real image library", async () => {
    const files = admin().storage.from(privateBucket);
    const cover = { width: 150, height: 150, resize: "cover" as const };

    const downloaded = await files.download("photo.png", { transform: cover });
    expect(downloaded.error).toBeNull();
    expect(await sizeOf(await downloaded.data!.arrayBuffer())).toEqual({
      width: 150,
      height: 150,
      format: "png",
    });

    const contain = await files.download("photo.png", {
      transform: { width: 150, height: 150, resize: "contain" },
    });
    expect(await sizeOf(await contain.data!.arrayBuffer())).toMatchObject({
      width: 150,
      height: 75,
    });
    const webp = await files.download("photo.png", {
      transform: {
        width: 100,
        format:
          "webp" as "origin", /* Storage takes webp and avif; storage-js declares origin only */
        quality: 50,
      },
    });
    expect(await sizeOf(await webp.data!.arrayBuffer())).toEqual({
      width: 100,
      height: 50,
      format: "webp",
    });

    const signed = await files.createSignedUrl("photo.png", 60, { transform: cover });
    expect(signed.error).toBeNull();
    expect(signed.data!.signedUrl).toContain(
      `/storage/v1/render/image/sign/${privateBucket}/photo.png?token=`,
    );
    const fetched = await fetch(signed.data!.signedUrl);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get("content-type")).toBe("image/png");
    expect(fetched.headers.get("expires")).not.toBeNull();
    expect(await sizeOf(await fetched.arrayBuffer())).toMatchObject({ width: 150, height: 150 });
    // A browser that accepts WebP gets WebP, as from Storage.
    const browser = await fetch(signed.data!.signedUrl, { headers: { accept: "image/webp,*/*" } });
    expect(browser.headers.get("content-type")).toBe("image/webp");

    // Without transform the signed URL stays an object URL.
    const plain = await files.createSignedUrl("photo.png", 60);
    expect(plain.data!.signedUrl).toContain(`/storage/v1/object/sign/${privateBucket}/photo.png`);

    const publicFiles = admin().storage.from(publicBucket);
    expect((await publicFiles.upload("open.png", png, { contentType: "image/png" })).error)
      .toBeNull();
    const { data: url } = client().storage.from(publicBucket).getPublicUrl("open.png", {
      transform: { width: 40, height: 40 },
    });
    expect(url.publicUrl).toContain(`/storage/v1/render/image/public/${publicBucket}/open.png?`);
    const publicImage = await fetch(url.publicUrl);
    expect(publicImage.status).toBe(200);
    expect(await sizeOf(await publicImage.arrayBuffer())).toMatchObject({ width: 40, height: 40 });
    // The public routes of HEAD and info serve public buckets only, without a JWT.
    const base = `${process.env.SUPABASE_URL}/storage/v1/object`;
    const publicHead = await fetch(`${base}/public/${publicBucket}/open.png`, { method: "HEAD" });
    expect(publicHead.status).toBe(200);
    expect(publicHead.headers.get("content-length")).toBe(String(png.length));
    const publicInfo = await fetch(`${base}/info/public/${publicBucket}/open.png`);
    expect(await publicInfo.json()).toMatchObject({
      name: "open.png",
      size: png.length,
      metadata: {},
    });
    const privateInfo = await fetch(`${base}/info/public/${privateBucket}/photo.png`);
    expect(await privateInfo.json()).toMatchObject({ message: "Bucket not found" });
    const noJwt = await fetch(`${base}/info/authenticated/${privateBucket}/photo.png`);
    expect(await noJwt.json()).toMatchObject({
      code: "AccessDenied",
      message: "jwt must be provided",
    });
    // A private bucket has no public render.
    const notPublic = await fetch(
      `${process.env.SUPABASE_URL}/storage/v1/render/image/public/${privateBucket}/photo.png?width=10`,
    );
    expect(notPublic.status).toBe(400);
    expect(await notPublic.json()).toMatchObject({ message: "Bucket not found" });
  });

  it("refuses to render what is not an image, and options outside Storage's schema", async () => {
    const files = admin().storage.from(privateBucket);
    const text = await files.download("z.txt", { transform: { width: 150, height: 150 } });
    expect(text.error).toMatchObject({
      message: "The source image is invalid or unsupported for rendering",
      statusCode: "400",
      code: "InvalidRequest",
    });
    const signed = await files.createSignedUrl("z.txt", 60, {
      transform: { width: 150, height: 150, resize: "cover" },
    });
    const fetched = await fetch(signed.data!.signedUrl);
    expect(fetched.status).toBe(400);
    expect(await fetched.json()).toMatchObject({
      message: "The source image is invalid or unsupported for rendering",
    });
    const badQuality = await files.download("photo.png", { transform: { width: 10, quality: 5 } });
    expect(badQuality.error?.message).toBe("querystring/quality must be an integer >= 20");
    const badResize = await files.createSignedUrl("photo.png", 60, {
      transform: { width: 10, resize: "stretch" as never },
    });
    expect(badResize.error?.message).toBe(
      "body/transform/resize must be equal to one of the allowed values",
    );
  });

  it("refuses to delete a bucket that is not empty; emptying is for the service role only", async () => {
    const notEmpty = await admin().storage.deleteBucket(privateBucket);
    expect(notEmpty.error).toMatchObject({
      message: "The bucket you tried to delete is not empty",
      statusCode: "409",
      code: "ResourceNotEmpty",
    });
    const byUser = await user.client.storage.emptyBucket(privateBucket);
    expect(byUser.error).toMatchObject({
      message: "Access denied: Invalid role",
      statusCode: "403",
      status: 403,
    });
    const byUserDelete = await user.client.storage.deleteBucket(privateBucket);
    expect(byUserDelete.error?.message).toBe("The bucket you tried to delete is not empty");

    const emptied = await admin().storage.emptyBucket(privateBucket);
    expect(emptied).toEqual({
      data: { message: "Empty bucket has been queued. Completion may take up to an hour." },
      error: null,
    });
    expect((await admin().storage.from(privateBucket).listV2()).data?.objects).toEqual([]);
    // Empty now: a user still cannot delete what their policies do not show them.
    const hidden = await user.client.storage.deleteBucket(privateBucket);
    expect(hidden.error).toMatchObject({ message: "Bucket not found", statusCode: "404" });
    expect(await admin().storage.deleteBucket(privateBucket)).toEqual({
      data: { message: "Successfully deleted" },
      error: null,
    });
    expect((await admin().storage.getBucket(privateBucket)).error?.message).toBe(
      "Bucket not found",
    );
    const gone = await admin().storage.emptyBucket(privateBucket);
    expect(gone.error?.message).toBe("Bucket not found");
  });
});
