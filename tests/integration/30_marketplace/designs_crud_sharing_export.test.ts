import { XMLParser, XMLValidator } from "fast-xml-parser";
import { PNG } from "pngjs";
import { beforeAll, describe, expect, it } from "vitest";
import type { Json } from "../../../types/database.ts";
import fixture from "../../functions/marketplace/fixtures/pattern.json" with { type: "json" };
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, callFunction, client } from "../support/clients.ts";

const PAGE = 2;
const pattern: NonNullable<Json> & typeof fixture = fixture;

async function createDesign(user: TestUser, title: string, extra: { visibility?: string } = {}) {
  const { data, error } = await user.client
    .from("designs")
    .insert({ title, pattern, ...extra })
    .select()
    .single();
  if (error) throw error;
  return data;
}

async function shareLink(user: TestUser, designId: string) {
  const { data, error } = await user.client.rpc("create_design_share_link", { design_id: designId })
    .single();
  if (error) throw error;
  return data;
}

async function download(url: string): Promise<{ type: string | null; body: Buffer }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return {
    type: response.headers.get("content-type"),
    body: Buffer.from(await response.arrayBuffer()),
  };
}

describe("designs through supabase-js", () => {
  let owner: TestUser;
  let stranger: TestUser;

  beforeAll(async () => {
    [owner, stranger] = await Promise.all([signUp("designer"), signUp("design-stranger")]);
  });

  it("creates, reads, updates and deletes a design; refuses a malformed pattern precisely", async () => {
    const design = await createDesign(owner, "Wrap dress");
    expect(design.owner_id).toBe(owner.id);
    expect(design.visibility).toBe("private");

    const bad = await owner.client
      .from("designs")
      .insert({ title: "Broken", pattern: { ...pattern, units: "ft" } })
      .select();
    expect(bad.error?.code).toBe("22023");
    expect(bad.error?.message).toBe('invalid pattern: pattern.units must be "mm", "cm" or "in"');

    const updated = await owner.client
      .from("designs")
      .update({ title: "Wrap dress v2", tags: ["evening", "wrap"], visibility: "public" })
      .eq("id", design.id)
      .select()
      .single();
    expect(updated.error).toBeNull();
    expect(updated.data).toMatchObject({
      title: "Wrap dress v2",
      tags: ["evening", "wrap"],
      visibility: "public",
    });

    const seen = await client().from("designs").select("title").eq("id", design.id).single();
    expect(seen.data?.title).toBe("Wrap dress v2");

    const strangerDelete = await stranger.client.from("designs").delete().eq("id", design.id)
      .select();
    expect(strangerDelete.data).toEqual([]);

    const deleted = await owner.client.from("designs").delete().eq("id", design.id).select("id");
    expect(deleted.data).toEqual([{ id: design.id }]);
    const gone = await owner.client.from("designs").select().eq("id", design.id);
    expect(gone.data).toEqual([]);
  });

  it("lists the caller's designs newest first, page by page with a (created_at, id) cursor", async () => {
    const lister = await signUp("design-lister");
    await createDesign(lister, "First");
    // Five in one request share one created_at: the id breaks the tie.
    const batch = await lister.client
      .from("designs")
      .insert(["A", "B", "C", "D", "E"].map((title) => ({ title, pattern })))
      .select("id");
    expect(batch.error).toBeNull();
    await createDesign(lister, "Last");

    const seen: string[] = [];
    let cursor: { created_at: string; id: string } | null = null;
    for (let pages = 0; pages < 10; pages++) {
      let query = lister.client
        .from("designs")
        .select("id, title, created_at")
        .eq("owner_id", lister.id)
        .order("created_at", { ascending: false })
        .order("id", { ascending: false })
        .limit(PAGE);
      if (cursor) {
        query = query.or(
          `created_at.lt."${cursor.created_at}",and(created_at.eq."${cursor.created_at}",id.lt.${cursor.id})`,
        );
      }
      const { data, error } = await query;
      expect(error).toBeNull();
      seen.push(...data!.map((d) => d.title));
      if (data!.length < PAGE) break;
      cursor = data![data!.length - 1];
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
    expect(seen[0]).toBe("Last");
    expect(seen[6]).toBe("First");
  });

  it("duplicates one's own or a public design into a private copy, not someone else's private one", async () => {
    const secret = await createDesign(owner, "Secret coat");
    const open = await createDesign(owner, "Open blouse", { visibility: "public" });

    const copy = await stranger.client.rpc("duplicate_design", { design_id: open.id });
    expect(copy.error).toBeNull();
    expect(copy.data).toMatchObject({
      title: "Open blouse (copy)",
      owner_id: stranger.id,
      visibility: "private",
      duplicated_from: open.id,
    });
    expect(copy.data?.pattern).toEqual(pattern);

    const refused = await stranger.client.rpc("duplicate_design", { design_id: secret.id });
    expect(refused).toMatchObject({ status: 404, error: { code: "PT404" } });

    const own = await owner.client.rpc("duplicate_design", { design_id: secret.id });
    expect(own.data?.title).toBe("Secret coat (copy)");
  });

  it("opens a shared design to anyone holding the link until it is revoked or expires", async () => {
    const design = await createDesign(owner, "Shared jacket");
    const link = await shareLink(owner, design.id);
    expect(link.token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const anon = client();
    expect((await anon.from("designs").select().eq("id", design.id)).data).toEqual([]);
    const shared = await anon.rpc("get_shared_design", { token: link.token });
    expect(shared.error).toBeNull();
    expect(shared.data).toMatchObject({ id: design.id, title: "Shared jacket" });

    const listed = await owner.client.from("design_share_links").select(
      "id, token_prefix, revoked_at",
    ).eq("design_id", design.id);
    expect(listed.data).toEqual([{
      id: link.id,
      token_prefix: link.token.slice(0, 8),
      revoked_at: null,
    }]);
    expect(
      (await stranger.client.from("design_share_links").select().eq("design_id", design.id)).data,
    ).toEqual([]);

    const revoked = await owner.client.rpc("revoke_design_share_link", { link_id: link.id });
    expect(revoked.error).toBeNull();
    const afterRevoke = await anon.rpc("get_shared_design", { token: link.token });
    expect(afterRevoke).toMatchObject({
      status: 404,
      error: { code: "PT404", message: "share link not found or revoked" },
    });

    // An expired link: moved a day into the past with the service role, as time would.
    const expiring = await shareLink(owner, design.id);
    const past = new Date(Date.now() - 86_400_000);
    const moved = await admin()
      .from("design_share_links")
      .update({
        created_at: new Date(past.getTime() - 3_600_000).toISOString(),
        expires_at: past.toISOString(),
      })
      .eq("id", expiring.id);
    expect(moved.error).toBeNull();
    const expired = await anon.rpc("get_shared_design", { token: expiring.token });
    expect(expired).toMatchObject({
      status: 410,
      error: { code: "PT410", message: "share link expired" },
    });

    const unknown = await anon.rpc("get_shared_design", { token: "x".repeat(43) });
    expect(unknown).toMatchObject({ status: 404, error: { code: "PT404" } });
  });
});

describe("design exports (design-export function)", () => {
  let owner: TestUser;
  let stranger: TestUser;
  let design: Awaited<ReturnType<typeof createDesign>>;

  beforeAll(async () => {
    [owner, stranger] = await Promise.all([signUp("exporter"), signUp("export-stranger")]);
    design = await createDesign(owner, "Export <gown>");
  });

  it("exports JSON, SVG and PNG to the owner's folder, downloadable through signed URLs", async () => {
    const { status, body } = await callFunction(owner.client, "design-export", {
      design_id: design.id,
      format: ["json", "svg", "png"],
      preset: { width_px: 600 },
    });
    expect(status).toBe(200);
    expect(body.exports.map((e: { format: string }) => e.format)).toEqual(["json", "svg", "png"]);
    for (const e of body.exports) {
      expect(e.path).toMatch(new RegExp(`^${owner.id}/${design.id}/[0-9T-]+Z\\.${e.format}$`));
      const ttl = Date.parse(e.expires_at) - Date.now();
      expect(ttl).toBeGreaterThan(3_500_000);
      expect(ttl).toBeLessThanOrEqual(3_600_000);
    }
    const [jsonExport, svgExport, pngExport] = body.exports;

    const json = await download(jsonExport.signed_url);
    expect(json.type).toMatch(/^application\/json/);
    const document = JSON.parse(json.body.toString());
    expect(document.design).toMatchObject({ id: design.id, title: "Export <gown>", pattern });

    const svg = await download(svgExport.signed_url);
    expect(svg.type).toMatch(/^image\/svg\+xml/);
    const text = svg.body.toString();
    expect(XMLValidator.validate(text)).toBe(true);
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(text);
    expect(parsed.svg.viewBox).toBe("0 0 120 80");
    expect(parsed.svg.width).toBe("120cm");
    expect(parsed.svg.title).toBe("Export <gown>");
    const pieces = parsed.svg.g.g as {
      "data-name": string;
      polygon?: { points: string };
      polyline?: { points: string };
    }[];
    expect(pieces.map((p) => p["data-name"])).toEqual(pattern.pieces.map((p) => p.name));
    expect(pieces[0].polygon?.points).toBe("10,10 50,10 55,60 5,60");
    expect(pieces[2].polyline?.points).toBe("5,75 60.25,72.5 115,75");

    const png = await download(pngExport.signed_url);
    expect(png.type).toBe("image/png");
    const image = PNG.sync.read(png.body);
    expect([image.width, image.height]).toEqual([600, 400]);
    // The white background, and the first piece's fill (#f2c14e) inside it at (30 cm, 35 cm).
    const pixel = (
      x: number,
      y: number,
    ) => [...image.data.subarray((y * image.width + x) * 4, (y * image.width + x) * 4 + 4)];
    expect(pixel(2, 2)).toEqual([255, 255, 255, 255]);
    expect(pixel(150, 175)).toEqual([0xf2, 0xc1, 0x4e, 255]);

    const listed = await owner.client.storage.from("exports").list(`${owner.id}/${design.id}`);
    expect(listed.data?.map((o) => o.name).sort()).toEqual(
      body.exports.map((e: { path: string }) => e.path.split("/")[2]).sort(),
    );
    const peek = await stranger.client.storage.from("exports").download(pngExport.path);
    expect(peek.error).not.toBeNull();
  });

  it("fits the drawing to a paper size", async () => {
    const { status, body } = await callFunction(owner.client, "design-export", {
      design_id: design.id,
      format: "svg",
      preset: { size: "a4", background: "transparent" },
    });
    expect(status).toBe(200);
    const svg = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(
      (await download(body.exports[0].signed_url)).body.toString(),
    );
    expect([svg.svg.width, svg.svg.height]).toEqual(["297mm", "210mm"]);
  });

  it("refuses someone else's design, and abusive presets, in the standard error format", async () => {
    const privateDesign = await callFunction(stranger.client, "design-export", {
      design_id: design.id,
      format: "svg",
    });
    expect(privateDesign.status).toBe(404);
    expect(privateDesign.body).toEqual({
      error: { code: "not_found", message: `design ${design.id} not found` },
    });

    const open = await createDesign(owner, "Public tunic", { visibility: "public" });
    const publicDesign = await callFunction(stranger.client, "design-export", {
      design_id: open.id,
      format: "png",
    });
    expect(publicDesign.status).toBe(403);
    expect(publicDesign.body.error.code).toBe("forbidden");

    const anonymous = await callFunction(client(), "design-export", {
      design_id: design.id,
      format: "json",
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe("unauthorized");

    const huge = await callFunction(owner.client, "design-export", {
      design_id: design.id,
      format: "png",
      preset: { width_px: 100_000 },
    });
    expect(huge.status).toBe(400);
    expect(huge.body.error.code).toBe("invalid_request");
    expect(huge.body.error.details[0].path).toEqual(["preset", "width_px"]);

    const tall = await callFunction(owner.client, "design-export", {
      design_id: design.id,
      format: "png",
      preset: { width_px: 8000, size: "a0" },
    });
    expect(tall.status).toBe(400);
    expect(tall.body.error.message).toMatch(/^the PNG would be 8000 x \d+ pixels/);
  });

  it("lets anyone holding a live share link export, anon included, and refuses revoked and expired links", async () => {
    const link = await shareLink(owner, design.id);
    const anon = client();
    const shared = await callFunction(anon, "design-export", {
      design_id: design.id,
      format: "png",
      share_token: link.token,
    });
    expect(shared.status).toBe(200);
    expect(shared.body.exports[0].path.startsWith(`${owner.id}/${design.id}/`)).toBe(true);
    const image = PNG.sync.read((await download(shared.body.exports[0].signed_url)).body);
    expect(image.width).toBeGreaterThan(0);

    const other = await createDesign(owner, "Not shared");
    const wrongDesign = await callFunction(anon, "design-export", {
      design_id: other.id,
      format: "json",
      share_token: link.token,
    });
    expect(wrongDesign.status).toBe(404);

    await owner.client.rpc("revoke_design_share_link", { link_id: link.id });
    const revoked = await callFunction(anon, "design-export", {
      design_id: design.id,
      format: "json",
      share_token: link.token,
    });
    expect(revoked).toEqual({
      status: 404,
      body: { error: { code: "not_found", message: "share link not found or revoked" } },
    });

    const expiring = await shareLink(owner, design.id);
    const past = Date.now() - 86_400_000;
    await admin()
      .from("design_share_links")
      .update({
        created_at: new Date(past - 3_600_000).toISOString(),
        expires_at: new Date(past).toISOString(),
      })
      .eq("id", expiring.id);
    const expired = await callFunction(anon, "design-export", {
      design_id: design.id,
      format: "json",
      share_token: expiring.token,
    });
    expect(expired).toEqual({
      status: 410,
      body: { error: { code: "share_link_expired", message: "share link expired" } },
    });
  });
});
