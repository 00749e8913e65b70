// The assurance-level rule on authority actions through the API: an admin with a verified MFA
// factor assigns roles only from an aal2 session (PostgREST answers the database's 42501 as
// 403), an admin without one from aal1; a user with a factor deletes their account only from
// an aal2 session; changing e-mail is Supabase Auth's own rule (GoTrue's UserUpdate: 401
// insufficient_aal), which the stand-in's PUT /user applies the same way.

import { describe, expect, it } from "vitest";
import { PASSWORD, signUp, signUpWithRole, uniqueEmail } from "../support/auth.ts";
import { admin, callFunction, client } from "../support/clients.ts";
import { addTotp, signInAal1, signUpWithTotp, verifyTotp } from "../support/mfa.ts";

const message = "this action needs a two-factor (aal2) session: verify your factor first";

async function roleId(name: string): Promise<string> {
  const { data } = await admin().from("roles").select("id").eq("name", name).single()
    .throwOnError();
  return data!.id;
}

describe("authority actions and the assurance level", () => {
  it("an admin without a factor assigns a role at aal1", async () => {
    const boss = await signUpWithRole("aal-admin-plain", "admin");
    const target = await signUp("aal-target-plain");
    const bossClient = await signInAal1(boss.email);
    const { status, error } = await bossClient.from("user_roles").insert({
      user_id: target.id,
      role_id: await roleId("moderator"),
    });
    expect(error).toBeNull();
    expect(status).toBe(201);
  });

  it("an admin with a factor is refused at aal1 (403, 42501, the precise message) and allowed at aal2", async () => {
    const boss = await signUpWithRole("aal-admin-mfa", "admin");
    const factor = await addTotp(boss.client);
    const target = await signUp("aal-target-mfa");
    const moderator = await roleId("moderator");

    const aal1 = await signInAal1(boss.email);
    const refused = await aal1.from("user_roles").insert({
      user_id: target.id,
      role_id: moderator,
    });
    expect(refused.status).toBe(403);
    expect(refused.error).toMatchObject({ code: "42501", message });
    const { data: none } = await admin().from("user_roles").select("role_id").eq(
      "user_id",
      target.id,
    );
    expect(none).toEqual([]);

    await verifyTotp(aal1, { ...boss, ...factor });
    const allowed = await aal1.from("user_roles").insert({
      user_id: target.id,
      role_id: moderator,
    });
    expect(allowed.error).toBeNull();
    expect(allowed.status).toBe(201);

    // Removing it needs aal2 as well.
    const aal1Again = await signInAal1(boss.email);
    const removeRefused = await aal1Again.from("user_roles").delete().eq("user_id", target.id)
      .select();
    expect(removeRefused.status).toBe(403);
    expect(removeRefused.error).toMatchObject({ code: "42501", message });
    const removed = await aal1.from("user_roles").delete().eq("user_id", target.id).select();
    expect(removed.error).toBeNull();
    expect(removed.data).toHaveLength(1);
  });

  it("a user with a factor deletes their account only from an aal2 session", async () => {
    const leaver = await signUpWithTotp("aal-leaver");
    const aal1 = await signInAal1(leaver.email);
    const refused = await callFunction(aal1, "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(refused).toEqual({
      status: 403,
      body: { error: { code: "two_factor_required", message } },
    });
    // Still there: the password still signs in.
    const still = await client().auth.signInWithPassword({
      email: leaver.email,
      password: PASSWORD,
    });
    expect(still.error).toBeNull();

    await verifyTotp(aal1, leaver);
    const deleted = await callFunction(aal1, "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(deleted).toEqual({ status: 200, body: { deleted: true } });
  });

  it("a user without a factor deletes their account from aal1", async () => {
    const leaver = await signUp("aal-leaver-plain");
    const deleted = await callFunction(leaver.client, "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(deleted).toEqual({ status: 200, body: { deleted: true } });
  });

  it("a user with a factor changes e-mail only from an aal2 session (Supabase Auth's own rule)", async () => {
    const user = await signUpWithTotp("aal-email");
    const aal1 = await signInAal1(user.email);
    const refused = await aal1.auth.updateUser({ email: uniqueEmail("aal-email-new") });
    expect(refused.error).toMatchObject({
      status: 401,
      code: "insufficient_aal",
      message: "AAL2 session is required to update email or password when MFA is enabled.",
    });
    await verifyTotp(aal1, user);
    const allowed = await aal1.auth.updateUser({ email: uniqueEmail("aal-email-new") });
    expect(allowed.error).toBeNull();
  });
});
