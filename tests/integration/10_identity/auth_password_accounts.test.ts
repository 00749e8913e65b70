import { describe, expect, it } from "vitest";
import { PASSWORD, signUp, uniqueEmail } from "../support/auth.ts";
import { admin, client } from "../support/clients.ts";

describe("auth: password accounts through supabase-js", () => {
  it("signs a user up with a session, a confirmed user and their metadata", async () => {
    const c = client();
    const email = uniqueEmail("signup");
    const { data, error } = await c.auth.signUp({
      email,
      password: PASSWORD,
      options: { data: { display_name: "Sam" } },
    });
    expect(error).toBeNull();
    expect(data.user?.email).toBe(email);
    expect(data.user?.user_metadata).toMatchObject({ display_name: "Sam" });
    expect(data.user?.app_metadata).toMatchObject({ provider: "email" });
    expect(data.session?.access_token).toBeTruthy();
    const { data: me } = await c.auth.getUser();
    expect(me.user?.id).toBe(data.user?.id);
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

  it("refuses a second account with the same e-mail", async () => {
    const user = await signUp("dupe");
    const { error } = await client().auth.signUp({ email: user.email, password: PASSWORD });
    expect(error?.code).toBe("user_already_exists");
    expect(error?.status).toBe(422);
  });

  it("refuses weak passwords and malformed e-mails", async () => {
    const weak = await client().auth.signUp({ email: uniqueEmail("weak"), password: "short" });
    expect(weak.error?.code).toBe("weak_password");
    const bad = await client().auth.signUp({ email: "not-an-email", password: PASSWORD });
    expect(bad.error?.code).toBe("validation_failed");
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
    const c = client();
    const { data } = await c.auth.signUp({ email: uniqueEmail("refresh"), password: PASSWORD });
    const first = data.session!.refresh_token;
    const refreshed = await c.auth.refreshSession({ refresh_token: first });
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
