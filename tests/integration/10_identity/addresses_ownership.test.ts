import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { client } from "../support/clients.ts";

const address = (overrides: Record<string, unknown> = {}) => ({
  full_name: "Ada Lovelace",
  address_line1: "12 Analytical Row",
  city: "London",
  postal_code: "N1 9GU",
  country_code: "GB",
  ...overrides,
});

describe("identity: addresses", () => {
  let owner: TestUser;
  let stranger: TestUser;

  beforeAll(async () => {
    [owner, stranger] = await Promise.all([signUp("address-owner"), signUp("address-stranger")]);
  });

  it("stores addresses for their owner only, with one default", async () => {
    const first = await owner.client.from("addresses").insert(address({ is_default: true }))
      .select().single();
    expect(first.error).toBeNull();
    expect(first.data?.user_id).toBe(owner.id);

    const second = await owner.client.from("addresses").insert(
      address({ is_default: true, label: "work" }),
    );
    expect(second.error?.code).toBe("23505");
    const unknownCountry = await owner.client.from("addresses").insert(
      address({ country_code: "XX" }),
    );
    expect(unknownCountry.error?.code).toBe("23503");

    const work = await owner.client.from("addresses").insert(address({ label: "work" })).select()
      .single();
    const swapped = await owner.client.rpc("set_default_address", { address_id: work.data!.id });
    expect(swapped.error).toBeNull();
    const defaults = await owner.client.from("addresses").select("label").eq("is_default", true);
    expect(defaults.data).toEqual([{ label: "work" }]);

    expect((await stranger.client.from("addresses").select("id").eq("user_id", owner.id)).data)
      .toEqual([]);
    const steal = await stranger.client.rpc("set_default_address", { address_id: work.data!.id });
    expect(steal).toMatchObject({ status: 404, error: { code: "PT404" } });
    const planted = await stranger.client.from("addresses").insert(
      { ...address(), user_id: owner.id } as never,
    );
    expect(planted.error?.code).toBe("42501");
    expect((await client().from("addresses").select("id")).error?.code).toBe("42501");
  });
});
