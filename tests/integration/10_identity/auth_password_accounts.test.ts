import { describe, expect, it } from "vitest";
import { PASSWORD, signIn, signUp, uniqueEmail } from "../support/auth.ts";
import { admin, client } from "../support/clients.ts";
import { searchMail } from "../support/mail.ts";

describe("auth: password accounts through supabase-js", () => {
  it("signs a user up unconfirmed, without a session, with their metadata", async () => {
    const c = client();
    const email = uniqueEmail("signup");
    const { data, error } = await c.auth.signUp({
      email,
      password: PASSWORD,
      options: { data: { display_name: "Sam" } },
    });
    expect(error).toBeNull();
    expect(data.user?.email).toBe(email);
    expect(data.user?.email_confirmed_at).toBeNull();
    expect(data.user?.user_metadata).toMatchObject({ display_name: "Sam" });
    expect(data.user?.app_metadata).toMatchObject({ provider: "email" });
    // [auth.email] enable_confirmations: the session comes from the mailed link
    // (auth_email_flows_confirmation_recovery_change.test.ts).
    expect(data.session).toBeNull();
    const { data: me } = await c.auth.getUser();
    expect(me.user).toBeNull();
  });

  it("creates the profile on sign-up, visible to its owner", async () => {
    const user = await signUp("profile", { display_name: "Pat" });
    const { data, error } = await user.client.from("profiles").select("id, display_name").eq(
      "id",
      user.id,
    ).single();
    expect(error).toBeNull();
    expect(data).toEqual({ id: user.id, display_name: "Pat" });
  });

  it("answers a second sign-up of a confirmed address as GoTrue does: another id, no session, no mail", async () => {
    const user = await signUp("dupe");
    const { data, error } = await client().auth.signUp({ email: user.email, password: PASSWORD });
    // With confirmations on, GoTrue hides who has an account: an obfuscated user, not 422.
    expect(error).toBeNull();
    expect(data.session).toBeNull();
    expect(data.user?.email).toBe(user.email);
    expect(data.user?.id).not.toBe(user.id);
    expect(data.user?.identities).toEqual([]);
    expect((await searchMail(`to:"${user.email}"`)).messages).toEqual([]);
    // The account itself is untouched.
    expect((await signIn(user.email)).data.user?.id).toBe(user.id);
  });

  it("refuses weak passwords and malformed e-mails", async () => {
    const weak = await client().auth.signUp({ email: uniqueEmail("weak"), password: "short" });
    expect(weak.error?.code).toBe("weak_password");
    const bad = await client().auth.signUp({ email: "not-an-email", password: PASSWORD });
    expect(bad.error?.code).toBe("validation_failed");
    expect(bad.error?.status).toBe(400);
    expect(bad.error?.message).toBe("Unable to validate email address: invalid format");
  });

  it("signs in with the right password only", async () => {
    const user = await signUp("signin");
    const wrong = await client().auth.signInWithPassword({
      email: user.email,
      password: "Wrong-Password-1",
    });
    expect(wrong.error?.code).toBe("invalid_credentials");
    const right = await client().auth.signInWithPassword({ email: user.email, password: PASSWORD });
    expect(right.error).toBeNull();
    expect(right.data.user?.id).toBe(user.id);
  });

  it("rotates refresh tokens: a used refresh token cannot be used again", async () => {
    const user = await signUp("refresh");
    const { data } = await user.client.auth.getSession();
    const first = data.session!.refresh_token;
    const refreshed = await user.client.auth.refreshSession({ refresh_token: first });
    expect(refreshed.error).toBeNull();
    expect(refreshed.data.session?.refresh_token).not.toBe(first);
    const reused = await client().auth.refreshSession({ refresh_token: first });
    expect(reused.error?.code).toBe("refresh_token_already_used");
  });

  it("signs out: the session's token no longer identifies the user", async () => {
    const user = await signUp("signout");
    const token = user.accessToken;
    expect((await user.client.auth.signOut()).error).toBeNull();
    const { data, error } = await client().auth.getUser(token);
    // The server answers 403 session_not_found, which supabase-js reports as a missing session.
    expect(error?.name).toBe("AuthSessionMissingError");
    expect(data.user).toBeNull();
  });

  it("lets the service role create and delete users, and nobody else", async () => {
    const email = uniqueEmail("admin-made");
    const denied = await client().auth.admin.createUser({
      email,
      password: PASSWORD,
      email_confirm: true,
    });
    expect(denied.error?.status).toBe(403);

    const created = await admin().auth.admin.createUser({
      email,
      password: PASSWORD,
      email_confirm: true,
    });
    expect(created.error).toBeNull();
    const id = created.data.user!.id;
    const signIn = await client().auth.signInWithPassword({ email, password: PASSWORD });
    expect(signIn.data.user?.id).toBe(id);

    expect((await admin().auth.admin.deleteUser(id)).error).toBeNull();
    const after = await client().auth.signInWithPassword({ email, password: PASSWORD });
    expect(after.error?.code).toBe("invalid_credentials");
    const profile = await admin().from("profiles").select("id").eq("id", id);
    expect(profile.data).toEqual([]);
  });
});
