import { describe, expect, it } from "vitest";
import { claimsOf, signIn, signUp } from "../support/auth.ts";
import { admin } from "../support/clients.ts";

async function sessionOf(email: string) {
  const { data, error } = await signIn(email);
  if (error) throw error;
  return data.session;
}

async function roleId(name: string): Promise<string> {
  const { data } = await admin().from("roles").select("id").eq("name", name).single();
  return data!.id;
}

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
