// Anonymous sign-in (004 "testing without credentials"): supabase.auth.signInAnonymously gives
// an authenticated user with is_anonymous in the user and the token; the database lets them
// keep a profile and designs but refuses projects, bids, services, shop applications and
// orders, naming what was refused; an admin confirming an e-mail for them (or the user adding
// one) makes them a permanent user who may. Anonymous sign-ins are limited per address by
// [auth.rate_limit] anonymous_users, as GoTrue limits them.

import { randomInt } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  authLimitsPerClientAddress,
  claimsOf,
  followLink,
  signUp,
  uniqueEmail,
} from "../support/auth.ts";
import { linksIn, waitForMail } from "../support/mail.ts";
import { admin, ANON_KEY, client, SUPABASE_URL } from "../support/clients.ts";

// Hosted Supabase limits per client address (sb-forwarded-for); `supabase start` does not.
const perAddressLimits = await authLimitsPerClientAddress();

const pattern = {
  version: 1,
  units: "mm",
  width: 300,
  height: 200,
  pieces: [{ name: "sleeve", points: [[0, 0], [100, 0], [100, 100]] }],
};

/** An address no other test uses, for the per-address limiter. */
function freshAddress(): string {
  return `10.${randomInt(0, 255)}.${randomInt(0, 255)}.${randomInt(1, 254)}`;
}

async function anonymousUser() {
  const c = client();
  const { data, error } = await c.auth.signInAnonymously({ options: { data: { theme: "dark" } } });
  expect(error).toBeNull();
  return { client: c, session: data.session!, user: data.user! };
}

describe("auth: anonymous sign-in", () => {
  it("signs in without credentials: an authenticated, anonymous user with a session and a profile", async () => {
    const { client: c, session, user } = await anonymousUser();
    expect(user.is_anonymous).toBe(true);
    expect(user.role).toBe("authenticated");
    expect(user.email).toBe("");
    expect(user.app_metadata).toEqual({});
    expect(user.user_metadata).toEqual({ theme: "dark" });
    expect(user.identities).toEqual([]);
    const claims = claimsOf(session.access_token) as unknown as Record<string, unknown>;
    expect(claims.is_anonymous).toBe(true);
    expect(claims.role).toBe("authenticated");
    expect(claims.amr).toEqual([{ method: "anonymous", timestamp: expect.any(Number) }]);

    const { data: profile, error } = await c.from("profiles").select("id, display_name").eq(
      "id",
      user.id,
    ).single();
    expect(error).toBeNull();
    expect(profile).toEqual({ id: user.id, display_name: "" });
    const { data: me } = await c.auth.getUser();
    expect(me.user?.is_anonymous).toBe(true);
  });

  it("keeps a profile and designs, but may not post projects, bid, sell, apply for a shop or order", async () => {
    const { client: c, user } = await anonymousUser();
    const owner = await signUp("anon-project-owner");
    const project = await owner.client.from("projects").insert({
      title: "Linen shirt",
      budget_amount: 10000,
      currency: "EUR",
    }).select("id").single();
    expect(project.error).toBeNull();

    expect(
      (await c.from("profiles").update({ display_name: "Guest" }).eq("id", user.id)).error,
    ).toBeNull();
    expect((await c.from("designs").insert({ title: "Try-out", pattern })).error).toBeNull();

    const refused = [
      await c.from("projects").insert({ title: "Coat", budget_amount: 30000, currency: "EUR" }),
      await c.from("bids").insert({ project_id: project.data!.id, amount: 9000, duration_days: 7 }),
      await c.from("services").insert({ title: "Alterations", category: "alterations" }),
      await c.from("seller_applications").insert({
        shop_name: "Guest shop",
        category: "tailoring",
        return_address: {
          full_name: "G",
          address_line1: "1 Lane",
          city: "Leeds",
          country_code: "GB",
        },
        agreed_to_terms: true,
      }),
      await c.rpc("order_service_package", { package_id: crypto.randomUUID() }),
    ];
    expect(refused.map(({ error, status }) => [status, error?.code, error?.message])).toEqual(
      [
        "post projects",
        "bid on projects",
        "sell services",
        "apply to open a shop",
        "order services",
      ].map((what) => [
        403,
        "42501",
        `anonymous users cannot ${what}: add an e-mail address to your account first`,
      ]),
    );
  });

  it("keeps the account by adding an e-mail (updateUser, confirmed from the mail): no longer anonymous, may then bid", async () => {
    const { client: c, user } = await anonymousUser();
    const email = uniqueEmail("anon-keeps");
    const since = new Date(Date.now() - 1000);
    const updated = await c.auth.updateUser({ email });
    expect(updated.error).toBeNull();
    expect(updated.data.user?.new_email).toBe(email);
    expect(updated.data.user?.is_anonymous).toBe(true);

    const mail = await waitForMail({ to: email, since });
    const link = linksIn(mail).find((href) => href.includes("/auth/v1/verify?"));
    expect(link).toContain("type=email_change");
    await followLink(link!);

    const { data } = await admin().auth.admin.getUserById(user.id);
    expect([data.user?.email, data.user?.is_anonymous]).toEqual([email, false]);
    expect(data.user?.identities?.map((i) => [i.provider, i.identity_data?.email])).toEqual([
      ["email", email],
    ]);
    const refreshed = await c.auth.refreshSession();
    expect(
      (claimsOf(refreshed.data.session!.access_token) as unknown as Record<string, unknown>)
        .is_anonymous,
    ).toBe(false);
    const owner = await signUp("anon-keeps-owner");
    const project = await owner.client.from("projects").insert({
      title: "Silk scarf",
      budget_amount: 5000,
      currency: "EUR",
    }).select("id").single();
    const bid = await c.from("bids").insert({
      project_id: project.data!.id,
      amount: 4000,
      duration_days: 5,
    });
    expect(bid.error).toBeNull();
  });

  it("becomes a permanent user when an admin confirms an e-mail for them, and may then bid", async () => {
    const { client: c, user } = await anonymousUser();
    const owner = await signUp("anon-link-owner");
    const project = await owner.client.from("projects").insert({
      title: "Wool coat",
      budget_amount: 30000,
      currency: "EUR",
    }).select("id").single();
    const email = uniqueEmail("linked");
    const updated = await admin().auth.admin.updateUserById(user.id, {
      email,
      email_confirm: true,
    });
    expect(updated.error).toBeNull();
    expect(updated.data.user?.is_anonymous).toBe(false);
    expect(updated.data.user?.email).toBe(email);
    expect(updated.data.user?.identities?.map((i) => [i.provider, i.identity_data?.email])).toEqual(
      [
        ["email", email],
      ],
    );

    const refreshed = await c.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    expect(
      (claimsOf(refreshed.data.session!.access_token) as unknown as Record<string, unknown>)
        .is_anonymous,
    ).toBe(false);
    const bid = await c.from("bids").insert({
      project_id: project.data!.id,
      amount: 9000,
      duration_days: 7,
    });
    expect(bid.error).toBeNull();
  });

  it.skipIf(!perAddressLimits)(
    "is limited per address by [auth.rate_limit] anonymous_users (30 an hour): the 31st is 429",
    async () => {
      const address = freshAddress();
      const signInFrom = async (from: string) => {
        const response = await fetch(`${SUPABASE_URL}/auth/v1/signup`, {
          method: "POST",
          // The address as Supabase's proxy forwards it (sb-forwarded-for), and as older
          // configurations name it (X-Forwarded-For, GOTRUE_RATE_LIMIT_HEADER).
          headers: {
            apikey: ANON_KEY,
            "content-type": "application/json",
            "sb-forwarded-for": from,
            "x-forwarded-for": from,
          },
          body: JSON.stringify({ data: {} }),
        });
        return { status: response.status, body: await response.json() };
      };
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await signInFrom(address)).status);
      expect(statuses).toEqual(Array(30).fill(200));
      expect(await signInFrom(address)).toEqual({
        status: 429,
        body: {
          code: 429,
          error_code: "over_request_rate_limit",
          msg: "Request rate limit reached",
        },
      });
      // Another address is not affected.
      expect((await signInFrom(freshAddress())).status).toBe(200);
    },
  );

  it("still signs up with an e-mail and password through the same route", async () => {
    const email = uniqueEmail("not-anonymous");
    const { data, error } = await client().auth.signUp({ email, password: "Correct-Horse-9" });
    expect(error).toBeNull();
    expect(data.user?.email).toBe(email);
    expect(data.user?.is_anonymous).toBe(false);
  });
});
