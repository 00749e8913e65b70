import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { client } from "../support/clients.ts";
import { uploadPng as upload } from "../support/storage.ts";

describe("portfolio", () => {
  let owner: TestUser;
  let visitor: TestUser;

  beforeAll(async () => {
    [owner, visitor] = await Promise.all([signUp("portfolio-owner"), signUp("portfolio-visitor")]);
  });

  it("is created, edited and deleted by its owner and readable by everyone while the profile is public", async () => {
    const image = `${owner.id}/gown.png`;
    expect((await upload(owner, "portfolio", image)).error).toBeNull();
    const created = await owner.client
      .from("portfolio_items")
      .insert([
        { title: "Evening gown", image_paths: [image], position: 1 },
        { title: "Linen suit", image_paths: [], position: 0 },
      ])
      .select();
    expect(created.error).toBeNull();
    const updated = await owner.client.from("portfolio_items").update({ description: "Silk" }).eq(
      "title",
      "Evening gown",
    ).select("description");
    expect(updated.data).toEqual([{ description: "Silk" }]);

    const anon = client();
    const listed = await anon.from("portfolio_items").select("title, image_paths").eq(
      "owner_id",
      owner.id,
    ).order("position");
    expect(listed.data?.map((i) => i.title)).toEqual(["Linen suit", "Evening gown"]);
    const signed = await anon.storage.from("portfolio").createSignedUrl(image, 60);
    expect(signed.error).toBeNull();
    expect((await fetch(signed.data!.signedUrl)).status).toBe(200);

    const defaced = await visitor.client.from("portfolio_items").update({ title: "Defaced" }).eq(
      "owner_id",
      owner.id,
    ).select();
    expect(defaced.data).toEqual([]);

    // A private profile hides the portfolio from everyone but its owner.
    await owner.client.from("profiles").update({ is_public: false }).eq("id", owner.id);
    expect((await anon.from("portfolio_items").select().eq("owner_id", owner.id)).data).toEqual([]);
    expect((await visitor.client.from("portfolio_items").select().eq("owner_id", owner.id)).data)
      .toEqual([]);
    expect((await anon.storage.from("portfolio").createSignedUrl(image, 60)).error).not.toBeNull();
    expect((await owner.client.from("portfolio_items").select().eq("owner_id", owner.id)).data)
      .toHaveLength(2);

    const deleted = await owner.client.from("portfolio_items").delete().eq("title", "Linen suit")
      .select("title");
    expect(deleted.data).toEqual([{ title: "Linen suit" }]);
  });
});
