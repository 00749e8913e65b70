import { beforeAll, describe, expect, it } from "vitest";
import type { Json } from "../../../types/database.ts";
import fixture from "../../functions/marketplace/fixtures/pattern.json" with { type: "json" };
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, client } from "../support/clients.ts";
import { TINY_PNG, uploadPng } from "../support/storage.ts";

const pattern: NonNullable<Json> & typeof fixture = fixture;
const upload = uploadPng;

describe("pattern library and garment presets", () => {
  let user: TestUser;
  const category = `lib-${Date.now().toString(36)}`;

  beforeAll(async () => {
    user = await signUp("library-reader");
    // The platform's staff add entries (assets.manage); here with the service role.
    const added = await admin().from("pattern_library").insert([
      { category, name: "Shift dress", pattern },
      { category, name: "A-line skirt", pattern },
      { category: `${category}-other`, name: "Raglan sleeve", pattern },
    ]);
    expect(added.error).toBeNull();
    const preset = await admin().from("garment_presets").insert({
      category,
      name: "Medium shirt",
      measurements: { chest: 96, waist: 82 },
    });
    expect(preset.error).toBeNull();
  });

  it("lists library entries by category for signed-in users", async () => {
    const { data, error } = await user.client.from("pattern_library").select("name, pattern").eq(
      "category",
      category,
    ).order("name");
    expect(error).toBeNull();
    expect(data?.map((e) => e.name)).toEqual(["A-line skirt", "Shift dress"]);
    expect(data?.[0].pattern).toEqual(pattern);
    const presets = await user.client.from("garment_presets").select("name, units, measurements")
      .eq("category", category);
    expect(presets.data).toEqual([{
      name: "Medium shirt",
      units: "cm",
      measurements: { chest: 96, waist: 82 },
    }]);
  });

  it("lets only asset managers edit them, and nobody signed out read them", async () => {
    const insert = await user.client.from("pattern_library").insert({
      category,
      name: "Mine",
      pattern,
    });
    expect(insert.error?.code).toBe("42501");
    const update = await user.client.from("garment_presets").update({ name: "Renamed" }).eq(
      "category",
      category,
    ).select();
    expect(update.data).toEqual([]);
    const anon = await client().from("pattern_library").select().eq("category", category);
    expect(anon.error?.code).toBe("42501");
  });
});

describe("fabric textures", () => {
  let owner: TestUser;
  let other: TestUser;

  beforeAll(async () => {
    [owner, other] = await Promise.all([signUp("texture-owner"), signUp("texture-other")]);
  });

  it("uploads a swatch into the owner's folder and records it; another's folder is refused", async () => {
    const path = `${owner.id}/linen.png`;
    expect((await upload(owner, "textures", path)).error).toBeNull();
    const row = await owner.client.from("textures").insert({ name: "Linen", storage_path: path })
      .select().single();
    expect(row.error).toBeNull();
    expect(row.data).toMatchObject({ owner_id: owner.id, visibility: "private" });

    const planted = await upload(other, "textures", `${owner.id}/planted.png`);
    expect(planted.error?.message).toMatch(/row-level security/);
    const foreignRow = await other.client.from("textures").insert({
      name: "Stolen",
      storage_path: path,
    });
    expect(foreignRow.error?.code).toBe("23514");
  });

  it("refuses files that are too large or not images", async () => {
    const huge = await owner.client.storage
      .from("textures")
      .upload(
        `${owner.id}/huge.png`,
        new Blob([new Uint8Array(6 * 1024 * 1024)], { type: "image/png" }),
        { contentType: "image/png" },
      );
    expect(huge.error).not.toBeNull();
    const text = await owner.client.storage
      .from("textures")
      .upload(`${owner.id}/notes.txt`, new Blob(["hello"], { type: "text/plain" }), {
        contentType: "text/plain",
      });
    expect(text.error).not.toBeNull();
    const listed = await owner.client.storage.from("textures").list(owner.id);
    expect(listed.data?.map((o) => o.name)).not.toContain("huge.png");
    expect(listed.data?.map((o) => o.name)).not.toContain("notes.txt");
  });

  it("shows public textures and their images to signed-in users, private ones to the owner only", async () => {
    const publicPath = `${owner.id}/tweed.png`;
    const privatePath = `${owner.id}/velvet.png`;
    await upload(owner, "textures", publicPath);
    await upload(owner, "textures", privatePath);
    const rows = await owner.client.from("textures").insert([
      { name: "Tweed", storage_path: publicPath, visibility: "public" },
      { name: "Velvet", storage_path: privatePath, visibility: "private" },
    ]);
    expect(rows.error).toBeNull();

    // GET /assets/textures?mine=true and ?public=true
    const mine = await owner.client.from("textures").select("name").eq("owner_id", owner.id).order(
      "name",
    );
    expect(mine.data?.map((t) => t.name)).toEqual(["Linen", "Tweed", "Velvet"]);
    const publicOnes = await other.client.from("textures").select("name").eq("visibility", "public")
      .eq("owner_id", owner.id);
    expect(publicOnes.data).toEqual([{ name: "Tweed" }]);
    const all = await other.client.from("textures").select("name").eq("owner_id", owner.id);
    expect(all.data).toEqual([{ name: "Tweed" }]);

    const publicImage = await other.client.storage.from("textures").download(publicPath);
    expect(publicImage.error).toBeNull();
    expect(Buffer.from(await publicImage.data!.arrayBuffer())).toEqual(TINY_PNG);
    const privateImage = await other.client.storage.from("textures").download(privatePath);
    expect(privateImage.error).not.toBeNull();
    const anonImage = await client().storage.from("textures").download(publicPath);
    expect(anonImage.error).not.toBeNull();
  });
});
