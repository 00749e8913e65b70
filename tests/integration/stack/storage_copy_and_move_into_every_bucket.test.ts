// Copies and moves land only what the destination bucket takes. The local Storage checks the
// destination's allowed_mime_types and file_size_limit as for an upload (415 InvalidMimeType,
// 413 EntityTooLarge); the insert and update policies hold the rest, as they do on hosted
// Storage (private.object_content_allowed: the name's extension must be a type the bucket
// takes and agree with the stored type; never SVG in a public bucket). The first test is the
// reported bypass: an SVG deliverable copied into the public avatars bucket.

import { beforeAll, describe, expect, it } from "vitest";
import { exemptFromRateLimits, signUp, type TestUser } from "../support/auth.ts";
import { admin, client } from "../support/clients.ts";
import { orderAwaitingPayment } from "../support/marketplace.ts";
import { TINY_PNG } from "../support/storage.ts";

const SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>';
const GIF = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");
const RLS = "new row violates row-level security policy";
const unsupported = (type: string) => ({
  statusCode: "415",
  message: `mime type ${type} is not supported`,
});
const tooLarge = { statusCode: "413", message: "The object exceeded the maximum allowed size" };

function put(
  user: TestUser,
  bucket: string,
  path: string,
  bytes: Uint8Array<ArrayBuffer> | string,
  type: string,
) {
  return user.client.storage.from(bucket).upload(path, new Blob([bytes], { type }), {
    contentType: type,
  });
}

async function names(bucket: string, folder: string): Promise<string[]> {
  const { data, error } = await admin().storage.from(bucket).list(folder);
  if (error) throw error;
  return data.map((o) => o.name);
}

describe("copy and move into every bucket", () => {
  let designer: TestUser;
  let tailor: TestUser;
  let stranger: TestUser;
  let orderId: string;

  beforeAll(async () => {
    [designer, tailor, stranger] = await Promise.all([
      signUp("copy-designer"),
      signUp("copy-tailor"),
      signUp("copy-stranger"),
    ]);
    // Each copy is a new object, counted as an upload: these accounts copy far more than the
    // 10 a minute users may (docs/domains/operations.md), so an operator exempts them.
    await Promise.all([designer, tailor, stranger].map(exemptFromRateLimits));
    orderId = await orderAwaitingPayment(designer, tailor, 40000);
    const paid = await admin().schema("ops").rpc("record_order_payment", { order_id: orderId });
    expect(paid.error).toBeNull();
    const uploads = [
      await put(tailor, "deliverables", `${orderId}/art.svg`, SVG, "image/svg+xml"),
      await put(tailor, "deliverables", `${orderId}/spec.pdf`, "%PDF-1.4", "application/pdf"),
      await put(tailor, "deliverables", `${orderId}/measures.json`, "{}", "application/json"),
      await put(tailor, "avatars", `${tailor.id}/face.png`, TINY_PNG, "image/png"),
      await put(tailor, "avatars", `${tailor.id}/wave.gif`, GIF, "image/gif"),
      await put(tailor, "textures", `${tailor.id}/linen.png`, TINY_PNG, "image/png"),
      await put(
        tailor,
        "textures",
        `${tailor.id}/big.png`,
        Buffer.alloc(3 * 1024 * 1024),
        "image/png",
      ),
      await put(stranger, "avatars", `${stranger.id}/me.png`, TINY_PNG, "image/png"),
    ];
    for (const { error } of uploads) expect(error).toBeNull();
  });

  it("an SVG deliverable cannot be copied into the public avatars bucket, under any name", async () => {
    const svgCopy = await tailor.client.storage.from("deliverables").copy(
      `${orderId}/art.svg`,
      `${tailor.id}/art.svg`,
      { destinationBucket: "avatars" },
    );
    expect(svgCopy.error).toMatchObject(unsupported("image/svg+xml"));
    const pngName = await tailor.client.storage.from("deliverables").copy(
      `${orderId}/art.svg`,
      `${tailor.id}/art.png`,
      { destinationBucket: "avatars" },
    );
    expect(pngName.error).toMatchObject(unsupported("image/svg+xml"));
    const served = await fetch(
      client().storage.from("avatars").getPublicUrl(`${tailor.id}/art.svg`).data.publicUrl,
    );
    expect(served.status).toBe(400);
    expect(await served.json()).toMatchObject({ statusCode: "404", message: "Object not found" });

    // The same bytes uploaded directly are refused too, as before.
    expect((await put(tailor, "avatars", `${tailor.id}/art.svg`, SVG, "image/svg+xml")).error)
      .toMatchObject(unsupported("image/svg+xml"));
    // A deliverable cannot be moved at all (they are evidence), so not into avatars either.
    const moved = await tailor.client.storage.from("deliverables").move(
      `${orderId}/art.svg`,
      `${tailor.id}/art.png`,
      { destinationBucket: "avatars" },
    );
    expect(moved.error).toMatchObject({ statusCode: "404", message: "Object not found" });
    expect(await names("avatars", tailor.id)).toEqual(["face.png", "wave.gif"]);
    expect(await names("deliverables", orderId)).toContain("art.svg");
  });

  it("a copy relabelled as PNG is served as a PNG, never as SVG", async () => {
    // copyMetadata false lets the caller name the copy's type; the bucket takes image/png,
    // and the object is then served with that type: a browser shows it as an image (a broken
    // one), it does not run it.
    const relabelled = await tailor.client.storage.from("deliverables").copy(
      `${orderId}/art.svg`,
      `${tailor.id}/relabelled.png`,
      { destinationBucket: "avatars", copyMetadata: false, metadata: { mimetype: "image/png" } },
    );
    expect(relabelled.error).toBeNull();
    const served = await fetch(
      client().storage.from("avatars").getPublicUrl(`${tailor.id}/relabelled.png`).data.publicUrl,
    );
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    await tailor.client.storage.from("avatars").remove([`${tailor.id}/relabelled.png`]);
  });

  it("avatars: images within 2 MiB whose name and type agree, by copy or move", async () => {
    const avatars = tailor.client.storage.from("avatars");
    const textures = tailor.client.storage.from("textures");
    const deliverables = tailor.client.storage.from("deliverables");

    const fromTextures = await textures.copy(`${tailor.id}/linen.png`, `${tailor.id}/linen.png`, {
      destinationBucket: "avatars",
    });
    expect(fromTextures.error).toBeNull();
    const served = await fetch(
      client().storage.from("avatars").getPublicUrl(`${tailor.id}/linen.png`).data.publicUrl,
    );
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await served.arrayBuffer())).toEqual(TINY_PNG);

    expect(
      (await deliverables.copy(`${orderId}/spec.pdf`, `${tailor.id}/spec.pdf`, {
        destinationBucket: "avatars",
      }))
        .error,
    ).toMatchObject(unsupported("application/pdf"));
    expect(
      (await textures.copy(`${tailor.id}/big.png`, `${tailor.id}/big.png`, {
        destinationBucket: "avatars",
      })).error,
    ).toMatchObject(tooLarge);
    expect(
      (await textures.move(`${tailor.id}/big.png`, `${tailor.id}/big.png`, {
        destinationBucket: "avatars",
      })).error,
    ).toMatchObject(tooLarge);
    // PNG bytes under another extension: the bucket takes the type, the policies refuse the name.
    expect((await avatars.copy(`${tailor.id}/face.png`, `${tailor.id}/face.svg`)).error?.message)
      .toMatch(RLS);
    expect((await avatars.move(`${tailor.id}/face.png`, `${tailor.id}/face.gif`)).error?.message)
      .toMatch(RLS);
    // Another user's folder stays theirs.
    expect(
      (await stranger.client.storage.from("avatars").copy(
        `${stranger.id}/me.png`,
        `${tailor.id}/me.png`,
      )).error
        ?.message,
    ).toMatch(RLS);

    expect(await names("avatars", tailor.id)).toEqual(["face.png", "linen.png", "wave.gif"]);
    expect(await names("textures", tailor.id)).toEqual(["big.png", "linen.png"]);
  });

  it("textures and portfolio: their own image types only, by copy or move", async () => {
    const avatars = tailor.client.storage.from("avatars");
    expect(
      (await avatars.copy(`${tailor.id}/wave.gif`, `${tailor.id}/wave.gif`, {
        destinationBucket: "textures",
      }))
        .error,
    ).toMatchObject(unsupported("image/gif"));
    expect(
      (await avatars.move(`${tailor.id}/wave.gif`, `${tailor.id}/wave.gif`, {
        destinationBucket: "textures",
      }))
        .error,
    ).toMatchObject(unsupported("image/gif"));
    expect(
      (await tailor.client.storage.from("deliverables").copy(
        `${orderId}/art.svg`,
        `${tailor.id}/art.svg`,
        {
          destinationBucket: "portfolio",
        },
      )).error,
    ).toMatchObject(unsupported("image/svg+xml"));

    expect(
      (await avatars.copy(`${tailor.id}/face.png`, `${tailor.id}/look.png`, {
        destinationBucket: "portfolio",
      }))
        .error,
    ).toBeNull();
    expect(
      (await avatars.move(`${tailor.id}/linen.png`, `${tailor.id}/moved.png`, {
        destinationBucket: "textures",
      }))
        .error,
    ).toBeNull();

    expect(await names("avatars", tailor.id)).toEqual(["face.png", "wave.gif"]);
    expect(await names("textures", tailor.id)).toEqual(["big.png", "linen.png", "moved.png"]);
    expect(await names("portfolio", tailor.id)).toEqual(["look.png"]);
  });

  it("deliverables: the seller copies in what the bucket takes; nothing moves in; the buyer writes nothing", async () => {
    const avatars = tailor.client.storage.from("avatars");
    expect(
      (await avatars.copy(`${tailor.id}/wave.gif`, `${orderId}/wave.gif`, {
        destinationBucket: "deliverables",
      }))
        .error,
    ).toMatchObject(unsupported("image/gif"));
    expect(
      (await avatars.copy(`${tailor.id}/face.png`, `${orderId}/face.png`, {
        destinationBucket: "deliverables",
      }))
        .error,
    ).toBeNull();
    expect(
      (await avatars.move(`${tailor.id}/face.png`, `${orderId}/moved.png`, {
        destinationBucket: "deliverables",
      }))
        .error?.message,
    ).toMatch(RLS);
    const buyerCopy = await designer.client.storage.from("deliverables").copy(
      `${orderId}/spec.pdf`,
      `${orderId}/planted.pdf`,
    );
    expect(buyerCopy.error?.message).toMatch(RLS);

    expect(await names("deliverables", orderId)).toEqual([
      "art.svg",
      "face.png",
      "measures.json",
      "spec.pdf",
    ]);
    expect(await names("avatars", tailor.id)).toEqual(["face.png", "wave.gif"]);
  });

  it("exports and account-exports: written by the service role only, so no user copy or move lands there", async () => {
    const deliverables = tailor.client.storage.from("deliverables");
    expect(
      (await deliverables.copy(`${orderId}/measures.json`, `${tailor.id}/design.json`, {
        destinationBucket: "exports",
      }))
        .error?.message,
    ).toMatch(RLS);
    expect(
      (await deliverables.copy(`${orderId}/measures.json`, `${tailor.id}/export.json`, {
        destinationBucket: "account-exports",
      })).error?.message,
    ).toMatch(RLS);
    expect(
      (await deliverables.copy(`${orderId}/art.svg`, `${tailor.id}/export.svg`, {
        destinationBucket: "account-exports",
      }))
        .error,
    ).toMatchObject(unsupported("image/svg+xml"));
    expect(
      (await tailor.client.storage.from("textures").move(
        `${tailor.id}/linen.png`,
        `${tailor.id}/linen.png`,
        {
          destinationBucket: "exports",
        },
      )).error?.message,
    ).toMatch(RLS);
    expect(await names("exports", tailor.id)).toEqual([]);
    expect(await names("account-exports", tailor.id)).toEqual([]);
    expect(await names("textures", tailor.id)).toContain("linen.png");
  });

  it("a missing destination bucket, a missing source and a signed-out caller are refused", async () => {
    const textures = tailor.client.storage.from("textures");
    expect(
      (await textures.copy(`${tailor.id}/linen.png`, `${tailor.id}/linen.png`, {
        destinationBucket: "nope",
      }))
        .error,
    ).toMatchObject({ statusCode: "404", message: "Bucket not found" });
    expect(
      (await textures.move(`${tailor.id}/linen.png`, `${tailor.id}/linen.png`, {
        destinationBucket: "nope",
      }))
        .error,
    ).toMatchObject({ statusCode: "404", message: "Bucket not found" });
    expect(
      (await textures.copy(`${tailor.id}/missing.png`, `${tailor.id}/x.png`, {
        destinationBucket: "avatars",
      }))
        .error,
    ).toMatchObject({ statusCode: "404", message: "Object not found" });
    // Signed out, no avatar row is readable (avatars are served by URL, not listed), so there
    // is no source to copy.
    const anon = await client().storage.from("avatars").copy(
      `${stranger.id}/me.png`,
      `${stranger.id}/anon.png`,
    );
    expect(anon.error).toMatchObject({ statusCode: "404", message: "Object not found" });
    expect(await names("avatars", stranger.id)).toEqual(["me.png"]);
  });
});
