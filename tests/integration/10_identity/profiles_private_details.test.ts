import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { client } from "../support/clients.ts";

describe("identity: profiles, private details and the public read model", () => {
  let owner: TestUser;
  let stranger: TestUser;

  beforeAll(async () => {
    [owner, stranger] = await Promise.all([
      signUp("details", {
        first_name: "Grace",
        last_name: "Hopper",
        phone: "+14155550123",
        marketing_opt_in: true,
      }),
      signUp("details-stranger"),
    ]);
  });

  it("keeps sign-up details private to their owner", async () => {
    const mine = await owner.client.from("private_profiles").select(
      "first_name, last_name, phone, marketing_opt_in",
    ).single();
    expect(mine.data).toEqual({
      first_name: "Grace",
      last_name: "Hopper",
      phone: "+14155550123",
      marketing_opt_in: true,
    });
    const theirs = await stranger.client.from("private_profiles").select("id").eq("id", owner.id);
    expect(theirs.data).toEqual([]);
    const profile = await client().from("public_profiles").select("display_name, review_count").eq(
      "id",
      owner.id,
    ).single();
    expect(profile.data).toEqual({ display_name: "Grace Hopper", review_count: 0 });
  });

  it("validates phone numbers and time zones precisely", async () => {
    const phone = await owner.client.from("private_profiles").update({ phone: "12345" }).eq(
      "id",
      owner.id,
    );
    expect(phone.error?.code).toBe("23514");
    const zone = await owner.client.from("private_profiles").update({ timezone: "Mars/Olympus" })
      .eq("id", owner.id);
    expect(zone.error?.code).toBe("22023");
    const ok = await owner.client.from("private_profiles").update({
      timezone: "Europe/Paris",
      locale: "fr-FR",
    }).eq("id", owner.id);
    expect(ok.error).toBeNull();
  });

  it("lets users toggle designer and tailor but not their status or aggregates", async () => {
    const toggle = await owner.client.from("profiles").update({
      is_designer: true,
      is_tailor: true,
    }).eq("id", owner.id);
    expect(toggle.error).toBeNull();
    const status = await owner.client.from("profiles").update({ account_status: "deactivated" }).eq(
      "id",
      owner.id,
    );
    expect(status.error?.code).toBe("42501");
    const rating = await owner.client.from("profiles").update({ rating_avg: 5 } as never).eq(
      "id",
      owner.id,
    );
    expect(rating.error?.code).toBe("42501");
  });
});
