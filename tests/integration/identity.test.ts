import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  admin,
  claimsOf,
  client,
  PASSWORD,
  signIn,
  signUp,
  type TestUser,
  uniqueEmail,
} from "./support.ts";

async function sessionOf(email: string) {
  const { data, error } = await signIn(email);
  if (error) throw error;
  return data.session;
}

async function roleId(name: string): Promise<string> {
  const { data } = await admin().from("roles").select("id").eq("name", name).single();
  return data!.id;
}

const address = (overrides: Record<string, unknown> = {}) => ({
  full_name: "Ada Lovelace",
  address_line1: "12 Analytical Row",
  city: "London",
  postal_code: "N1 9GU",
  country_code: "GB",
  ...overrides,
});

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
    expect(steal.error?.code).toBe("P0002");
    const planted = await stranger.client.from("addresses").insert(
      { ...address(), user_id: owner.id } as never,
    );
    expect(planted.error?.code).toBe("42501");
    expect((await client().from("addresses").select("id")).error?.code).toBe("42501");
  });
});

describe("identity: roles in the access token", () => {
  it("puts unexpired role names into app_metadata.roles, and only the service role assigns them", async () => {
    const user = await signUp("roles");
    expect(claimsOf(user.accessToken).app_metadata.roles).toEqual([]);

    const selfAssign = await user.client.from("user_roles").insert({
      user_id: user.id,
      role_id: await roleId("admin"),
    });
    expect(selfAssign.error?.code).toBe("42501");

    const assigned = await admin().from("user_roles").insert({
      user_id: user.id,
      role_id: await roleId("staff"),
    });
    expect(assigned.error).toBeNull();
    const session = await sessionOf(user.email);
    expect(claimsOf(session.access_token).app_metadata).toMatchObject({
      provider: "email",
      roles: ["staff"],
    });

    const expired = await admin()
      .from("user_roles")
      .update({
        assigned_at: new Date(Date.now() - 3600_000).toISOString(),
        expires_at: new Date(Date.now() - 60_000).toISOString(),
      })
      .eq("user_id", user.id);
    expect(expired.error).toBeNull();
    expect(claimsOf((await sessionOf(user.email)).access_token).app_metadata.roles).toEqual([]);
  });
});

describe("identity: seller applications", () => {
  it("moves an application to approved only through review, which opens the shop", async () => {
    const applicant = await signUp("seller");
    const applied = await applicant.client
      .from("seller_applications")
      .insert({
        shop_name: "Vintage Vault",
        category: "Fashion",
        monthly_revenue: "1000_5000",
        platforms: ["eBay"],
        return_address: {
          full_name: "Vee",
          address_line1: "1 Main St",
          city: "NYC",
          country_code: "US",
        },
        agreed_to_terms: true,
      })
      .select("id, status")
      .single();
    expect(applied.data?.status).toBe("pending_verification");

    const selfApprove = await applicant.client.from("seller_applications").update(
      { status: "approved" } as never,
    ).eq("id", applied.data!.id);
    expect(selfApprove.error?.code).toBe("42501");
    const selfReview = await applicant.client.rpc("review_seller_application", {
      application_id: applied.data!.id,
      decision: "approved",
    });
    expect(selfReview.error?.code).toBe("42501");

    const approved = await admin().rpc("review_seller_application", {
      application_id: applied.data!.id,
      decision: "approved",
    });
    expect(approved.error).toBeNull();
    const shop = await client().from("shops").select("shop_name, follower_count").eq(
      "id",
      applicant.id,
    ).single();
    expect(shop.data).toEqual({ shop_name: "Vintage Vault", follower_count: 0 });
    const again = await admin().rpc("review_seller_application", {
      application_id: applied.data!.id,
      decision: "rejected",
      reason: "late",
    });
    expect(again.error?.code).toBe("55000");
  });

  it("refuses an application without accepted terms", async () => {
    const applicant = await signUp("seller-terms");
    const { error } = await applicant.client.from("seller_applications").insert({
      shop_name: "No Terms",
      category: "Fashion",
      return_address: { full_name: "N", address_line1: "1", city: "C", country_code: "US" },
      agreed_to_terms: false,
    });
    expect(error?.code).toBe("23514");
  });
});

describe("identity: invite-only sign-up through the before-user-created hook", () => {
  const setMode = (mode: "open" | "invite_only") =>
    admin().from("platform_settings").update({ value: mode }).eq("key", "signup_mode");

  async function invite(overrides: Record<string, unknown> = {}): Promise<string> {
    const code = randomBytes(12).toString("base64url");
    const { error } = await admin().from("invite_codes").insert({
      code,
      max_uses: 1,
      ...overrides,
    });
    if (error) throw error;
    return code;
  }

  const signUpWith = (code?: string) =>
    client().auth.signUp({
      email: uniqueEmail("invited"),
      password: PASSWORD,
      options: { data: code ? { invite_code: code } : {} },
    });

  beforeAll(async () => {
    expect((await setMode("invite_only")).error).toBeNull();
  });
  afterAll(async () => {
    await setMode("open");
  });

  it("refuses sign-up without a code, and accepts a valid code exactly as often as allowed", async () => {
    const none = await signUpWith();
    expect(none.error?.status).toBe(403);
    expect(none.error?.message).toMatch(/invitation only/);

    const code = await invite();
    expect((await signUpWith(code)).error).toBeNull();
    const usedUp = await signUpWith(code);
    expect(usedUp.error?.message).toMatch(/used up/);
    const row = await admin().from("invite_codes").select("use_count").eq("code", code).single();
    expect(row.data?.use_count).toBe(1);
  });

  it("refuses expired, revoked and unknown codes", async () => {
    const expired = await invite({ expires_at: new Date(Date.now() - 1000).toISOString() });
    expect((await signUpWith(expired)).error?.message).toMatch(/expired/);
    const revoked = await invite({ revoked_at: new Date().toISOString() });
    expect((await signUpWith(revoked)).error?.message).toMatch(/revoked/);
    expect((await signUpWith("no-such-code-123")).error?.message).toMatch(/not valid/);
  });
});
