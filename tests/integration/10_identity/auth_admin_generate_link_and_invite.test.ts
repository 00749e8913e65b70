// Auth's admin links (supabase.auth.admin.generateLink) and invitations
// (supabase.auth.admin.inviteUserByEmail) with the service role: each link is GoTrue's
// /verify link with the one-time token, and following it signs the user in; the invite is
// mailed.

import { describe, expect, it } from "vitest";
import { followLink, PASSWORD, signUp, uniqueEmail } from "../support/auth.ts";
import { admin, client, SUPABASE_URL } from "../support/clients.ts";
import { linksIn, waitForMail } from "../support/mail.ts";

const SITE = "http://127.0.0.1:3000";

/** The user a session in a /verify redirect's fragment belongs to. */
async function userOfFragment(fragment: URLSearchParams) {
  const token = fragment.get("access_token");
  expect(token).toEqual(expect.any(String));
  const { data, error } = await client().auth.getUser(token!);
  expect(error).toBeNull();
  return data.user!;
}

describe("auth admin: generate_link", () => {
  it("magiclink for an existing user: GoTrue's answer, and the link signs them in once", async () => {
    const user = await signUp("link-magic");
    const { data, error } = await admin().auth.admin.generateLink({
      type: "magiclink",
      email: user.email,
      options: { redirectTo: "http://127.0.0.1:3000/welcome" },
    });
    expect(error).toBeNull();
    expect(data.user!.id).toBe(user.id);
    expect(data.properties).toEqual({
      action_link: expect.stringMatching(
        new RegExp(
          `^${SUPABASE_URL}/auth/v1/verify\\?token=[0-9a-f]{56}&type=magiclink&redirect_to=http://127.0.0.1:3000/welcome$`,
        ),
      ),
      email_otp: expect.stringMatching(/^\d{6}$/),
      hashed_token: expect.stringMatching(/^[0-9a-f]{56}$/),
      verification_type: "magiclink",
      redirect_to: "http://127.0.0.1:3000/welcome",
    });
    expect(data.properties!.action_link).toContain(`token=${data.properties!.hashed_token}&`);

    const { status, location, fragment } = await followLink(data.properties!.action_link);
    expect(status).toBe(303);
    expect(`${location.origin}${location.pathname}`).toBe("http://127.0.0.1:3000/welcome");
    expect((await userOfFragment(fragment)).id).toBe(user.id);

    const again = await followLink(data.properties!.action_link);
    expect(new URLSearchParams(again.location.hash.slice(1)).get("error_code")).toBe(
      "otp_expired",
    );
  });

  it("the e-mailed code works as well as the link (verifyOtp with email_otp)", async () => {
    const user = await signUp("link-otp");
    const { data } = await admin().auth.admin.generateLink({
      type: "magiclink",
      email: user.email,
    });
    const c = client();
    const verified = await c.auth.verifyOtp({
      email: user.email,
      token: data.properties!.email_otp,
      type: "email",
    });
    expect(verified.error).toBeNull();
    expect(verified.data.user?.id).toBe(user.id);
  });

  it("magiclink for an unknown address signs a new user up (type signup), confirmed by the link", async () => {
    const email = uniqueEmail("link-new");
    const { data, error } = await admin().auth.admin.generateLink({ type: "magiclink", email });
    expect(error).toBeNull();
    expect(data.properties!.verification_type).toBe("signup");
    expect(data.properties!.action_link).toContain("&type=signup&");
    expect(data.user!.email).toBe(email);
    expect(data.user!.email_confirmed_at).toBeFalsy();
    const { fragment } = await followLink(data.properties!.action_link);
    const signedIn = await userOfFragment(fragment);
    expect([signedIn.email, Boolean(signedIn.email_confirmed_at)]).toEqual([email, true]);
    // The site's default redirect when none is asked for.
    expect(data.properties!.redirect_to).toBe(SITE);
  });

  it("recovery: the link signs the user in so they can set a new password", async () => {
    const user = await signUp("link-recovery");
    const { data } = await admin().auth.admin.generateLink({ type: "recovery", email: user.email });
    expect(data.properties!.verification_type).toBe("recovery");
    const { fragment } = await followLink(data.properties!.action_link);
    expect(fragment.get("type")).toBe("recovery");
    expect((await userOfFragment(fragment)).id).toBe(user.id);
  });

  it("signup needs a password; invite makes a user without one; both refuse a confirmed address", async () => {
    const email = uniqueEmail("link-signup");
    const missing = await admin().auth.admin.generateLink({
      type: "signup",
      email,
      password: "",
    });
    expect([missing.error?.status, missing.error?.message]).toEqual([
      422,
      "Signup requires a valid password",
    ]);
    const signup = await admin().auth.admin.generateLink({
      type: "signup",
      email,
      password: PASSWORD,
      options: { data: { display_name: "Linda" } },
    });
    expect(signup.error).toBeNull();
    expect(signup.data.user!.user_metadata).toMatchObject({ display_name: "Linda" });
    await followLink(signup.data.properties!.action_link);
    expect((await client().auth.signInWithPassword({ email, password: PASSWORD })).error)
      .toBeNull();

    for (const type of ["signup", "invite"] as const) {
      const again = await admin().auth.admin.generateLink(
        type === "signup" ? { type, email, password: PASSWORD } : { type, email },
      );
      expect([again.error?.status, again.error?.code]).toEqual([422, "email_exists"]);
    }

    const invited = uniqueEmail("link-invite");
    const invite = await admin().auth.admin.generateLink({ type: "invite", email: invited });
    expect(invite.error).toBeNull();
    expect(invite.data.properties!.action_link).toContain("&type=invite&");
    const { fragment } = await followLink(invite.data.properties!.action_link);
    expect(fragment.get("type")).toBe("invite");
    expect((await userOfFragment(fragment)).email).toBe(invited);
  });

  it("email_change_current and email_change_new: both links together move the user to the new address", async () => {
    const user = await signUp("link-change");
    const newEmail = uniqueEmail("link-changed");
    const links: string[] = [];
    for (const type of ["email_change_current", "email_change_new"] as const) {
      const { data, error } = await admin().auth.admin.generateLink({
        type,
        email: user.email,
        newEmail,
      });
      expect(error).toBeNull();
      expect(data.properties!.verification_type).toBe(type);
      expect(data.properties!.action_link).toContain("&type=email_change&");
      expect(data.user!.new_email).toBe(newEmail);
      links.push(data.properties!.action_link);
    }
    // [auth.email] double_confirm_changes: the first link alone changes nothing yet.
    await followLink(links[0]);
    expect((await admin().auth.admin.getUserById(user.id)).data.user?.email).toBe(user.email);
    await followLink(links[1]);
    expect((await admin().auth.admin.getUserById(user.id)).data.user?.email).toBe(newEmail);
  });

  it("refuses what GoTrue refuses: unknown users for recovery, unknown types, a taken new address", async () => {
    const recovery = await admin().auth.admin.generateLink({
      type: "recovery",
      email: uniqueEmail("nobody"),
    });
    expect([recovery.error?.status, recovery.error?.code, recovery.error?.message]).toEqual([
      404,
      "user_not_found",
      "User with this email not found",
    ]);
    const user = await signUp("link-refusals");
    const other = await signUp("link-other");
    const taken = await admin().auth.admin.generateLink({
      type: "email_change_new",
      email: user.email,
      newEmail: other.email,
    });
    expect([taken.error?.status, taken.error?.code]).toEqual([422, "email_exists"]);
    const response = await fetch(`${SUPABASE_URL}/auth/v1/admin/generate_link`, {
      method: "POST",
      headers: {
        apikey: process.env.SUPABASE_SERVICE_ROLE_KEY!,
        authorization: `Bearer ${process.env.SUPABASE_SERVICE_ROLE_KEY}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ type: "teleport", email: user.email }),
    });
    expect([response.status, await response.json()]).toEqual([400, {
      code: 400,
      error_code: "validation_failed",
      msg: "Invalid email action link type requested: teleport",
    }]);
    const signedIn = await user.client.auth.getUser();
    const forbidden = await fetch(`${SUPABASE_URL}/auth/v1/admin/generate_link`, {
      method: "POST",
      headers: {
        apikey: process.env.SUPABASE_ANON_KEY!,
        authorization: `Bearer ${user.accessToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ type: "magiclink", email: signedIn.data.user!.email }),
    });
    expect(forbidden.status).toBe(403);
  });
});

describe("auth admin: invite", () => {
  it("creates the user, mails the invite, and its link signs them in", async () => {
    const email = uniqueEmail("invitee");
    const since = new Date(Date.now() - 1000);
    const { data, error } = await admin().auth.admin.inviteUserByEmail(email, {
      data: { display_name: "Ivy" },
      redirectTo: "http://127.0.0.1:3000/accept",
    });
    expect(error).toBeNull();
    expect(data.user?.email).toBe(email);
    expect(data.user?.invited_at).toEqual(expect.any(String));
    expect(data.user?.user_metadata).toMatchObject({ display_name: "Ivy" });

    const mail = await waitForMail({ to: email, since });
    const link = linksIn(mail).find((href) => href.includes("/auth/v1/verify?"));
    expect(link).toContain("type=invite");
    const { location, fragment } = await followLink(link!);
    expect(`${location.origin}${location.pathname}`).toBe("http://127.0.0.1:3000/accept");
    expect((await userOfFragment(fragment)).id).toBe(data.user?.id);
  });

  it("refuses an address that already has a confirmed account", async () => {
    const user = await signUp("invite-existing");
    const { error } = await admin().auth.admin.inviteUserByEmail(user.email);
    expect([error?.status, error?.code, error?.message]).toEqual([
      422,
      "email_exists",
      "A user with this email address has already been registered",
    ]);
  });
});
