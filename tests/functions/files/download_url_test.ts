// files-download-url with the fake Supabase: a lifetime over 7 days and a preview of a
// non-image are refused before Storage is asked; a file the caller cannot read is 404; the URL
// is signed with the caller's own token, for the lifetime asked (an hour by default), with
// Storage's transform for a preview and the original name for a download.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { handler, MAX_EXPIRES_IN } from "../../../functions/files-download-url/handler.ts";
import { type FakeSupabase, withFakeSupabase } from "../platform/fake_supabase.ts";

const uid = "6c1d9e0f-3a4b-4c5d-8e6f-7a8b9c0d1e2f";
const imageId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const documentId = "1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e";
const image = {
  id: imageId,
  path: `${uid}/image/${imageId}.png`,
  category: "image",
  content_type: "image/png",
  original_name: "Beach day.png",
};
const document = {
  id: documentId,
  path: `${uid}/document/${documentId}.pdf`,
  category: "document",
  content_type: "application/pdf",
  original_name: "Contract.pdf",
};

function post(body: unknown): Request {
  return new Request("http://localhost/files-download-url", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer user-token" },
    body: JSON.stringify(body),
  });
}

function state(files: unknown[]) {
  return {
    user: { id: uid, email: "owner@example.com" },
    password: "x",
    objects: {},
    rows: { files },
  };
}

const signings = (fake: FakeSupabase) =>
  fake.requests.filter((r) => r.path.startsWith("/storage/v1/object/sign/"));

Deno.test("other methods than POST get 405", async () => {
  const res = await handler(new Request("http://localhost/files-download-url"));
  strictEqual(res.status, 405);
  strictEqual(res.headers.get("Allow"), "POST");
});

Deno.test("a lifetime over 7 days is refused, naming the cap, before anything is read", async () => {
  await withFakeSupabase(state([document]), async (fake) => {
    const res = await handler(post({ file_id: documentId, expires_in: MAX_EXPIRES_IN + 1 }));
    strictEqual(res.status, 400);
    deepStrictEqual(await res.json(), {
      error: {
        code: "invalid_request",
        message: "expires_in is at most 604800 seconds (7 days), not 604801",
      },
    });
    deepStrictEqual(fake.requests.filter((r) => r.path.startsWith("/rest/v1/files")), []);
    deepStrictEqual(signings(fake), []);
  });
});

Deno.test("a file the caller cannot read is not found", async () => {
  await withFakeSupabase(state([]), async (fake) => {
    const res = await handler(post({ file_id: documentId }));
    strictEqual(res.status, 404);
    deepStrictEqual(await res.json(), {
      error: { code: "not_found", message: `file ${documentId} not found` },
    });
    deepStrictEqual(signings(fake), []);
  });
});

Deno.test("a preview of a document is refused before Storage is asked", async () => {
  await withFakeSupabase(state([document]), async (fake) => {
    const res = await handler(post({ file_id: documentId, preview: true }));
    strictEqual(res.status, 400);
    strictEqual(
      (await res.json()).error.message,
      `file ${documentId} is a document (application/pdf): only images have previews`,
    );
    deepStrictEqual(signings(fake), []);
  });
});

Deno.test("a preview is signed as the caller with Storage's 150x150 cover transform, for an hour by default", async () => {
  await withFakeSupabase(state([image]), async (fake) => {
    const res = await handler(post({ file_id: imageId, preview: true }));
    strictEqual(res.status, 200);
    const body = await res.json();
    strictEqual(body.expires_in, 3600);
    const [signing] = signings(fake);
    strictEqual(signing.path, `/storage/v1/object/sign/user-files/${image.path}`);
    strictEqual(signing.authorization, "Bearer user-token");
    deepStrictEqual(JSON.parse(signing.body), {
      expiresIn: 3600,
      transform: { width: 150, height: 150, resize: "cover" },
    });
  });
});

Deno.test("a download URL lasts what was asked and names the original file", async () => {
  await withFakeSupabase(state([document]), async (fake) => {
    const res = await handler(post({ file_id: documentId, expires_in: 600, download: true }));
    strictEqual(res.status, 200);
    const body = await res.json();
    strictEqual(body.expires_in, 600);
    ok(body.signed_url.includes("download=Contract.pdf"), body.signed_url);
    deepStrictEqual(JSON.parse(signings(fake)[0].body), { expiresIn: 600 });
  });
});

Deno.test("unknown fields and a bad id are refused", async () => {
  await withFakeSupabase(state([document]), async (fake) => {
    for (
      const bad of [
        { file_id: "nope" },
        { file_id: documentId, ttl: 5 },
        { file_id: documentId, expires_in: 0 },
      ]
    ) {
      const res = await handler(post(bad));
      strictEqual(res.status, 400);
      strictEqual((await res.json()).error.code, "invalid_request");
    }
    deepStrictEqual(signings(fake), []);
  });
});
