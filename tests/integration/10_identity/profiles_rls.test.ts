import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { admin, client } from "../support/clients.ts";

describe("profiles under RLS through the REST API", () => {
  let owner: TestUser;
  let stranger: TestUser;

  beforeAll(async () => {
    [owner, stranger] = await Promise.all([
      signUp("owner", { display_name: "Owner" }),
      signUp("stranger"),
    ]);
  });

  it("lets the owner edit their profile", async () => {
    const username = `owner_${owner.id.slice(0, 8)}`;
    const { data, error } = await owner.client
      .from("profiles")
      .update({ bio: "Pattern cutter", username })
      .eq("id", owner.id)
      .select("bio, username")
      .single();
    expect(error).toBeNull();
    expect(data).toEqual({ bio: "Pattern cutter", username });
  });

  it("refuses a change of the profile's id", async () => {
    const { error } = await owner.client.from("profiles").update({ id: stranger.id } as never).eq(
      "id",
      owner.id,
    );
    expect(error?.code).toBe("42501");
  });

  it("refuses a malformed username with the check constraint's code", async () => {
    const { error } = await owner.client.from("profiles").update({ username: "NO SPACES" }).eq(
      "id",
      owner.id,
    );
    expect(error?.code).toBe("23514");
  });

  it("does not let a stranger edit someone else's profile", async () => {
    const { data, error } = await stranger.client.from("profiles").update({ bio: "defaced" }).eq(
      "id",
      owner.id,
    ).select();
    expect(error).toBeNull();
    expect(data).toEqual([]);
    const { data: unchanged } = await admin().from("profiles").select("bio").eq("id", owner.id)
      .single();
    expect(unchanged?.bio).not.toBe("defaced");
  });

  it("shows public profiles to anon and strangers, private ones only to their owner", async () => {
    const anon = client();
    expect((await anon.from("profiles").select("id").eq("id", owner.id)).data).toHaveLength(1);

    await owner.client.from("profiles").update({ is_public: false }).eq("id", owner.id);
    expect((await anon.from("profiles").select("id").eq("id", owner.id)).data).toEqual([]);
    expect((await stranger.client.from("profiles").select("id").eq("id", owner.id)).data).toEqual(
      [],
    );
    expect((await owner.client.from("profiles").select("id").eq("id", owner.id)).data).toHaveLength(
      1,
    );
    await owner.client.from("profiles").update({ is_public: true }).eq("id", owner.id);
  });

  it("does not let anyone insert or delete profiles through the API", async () => {
    const insert = await stranger.client.from("profiles").insert(
      { id: crypto.randomUUID() } as never,
    );
    expect(insert.error?.code).toBe("42501");
    const remove = await owner.client.from("profiles").delete().eq("id", owner.id);
    expect(remove.error?.code).toBe("42501");
    const anonUpdate = await client().from("profiles").update({ bio: "anon" }).eq("id", owner.id);
    expect(anonUpdate.error?.code).toBe("42501");
  });
});
