import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, uniqueEmail } from "../support/auth.ts";
import { admin, client } from "../support/clients.ts";

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
