// TOTP two-factor authentication through supabase-js, as Supabase Auth serves it: enrollment
// (QR code, secret, otpauth URI), challenge and verification with a code computed from the
// secret, the aal2 session it gives (aal and amr claims), the assurance level supabase-js
// reports, and the refusals: wrong code, unknown challenge, expired challenge, a second factor
// or unenrollment at aal1, the rate of verifications.

import { describe, expect, it } from "vitest";
import { authLimitsPerClientAddress, signUp } from "../support/auth.ts";
import { withDatabase } from "../support/clients.ts";
import {
  mfaClient,
  signInAal1,
  signUpWithTotp,
  tokenClaims,
  totpCode,
  wrongTotpCode,
} from "../support/mfa.ts";

// Hosted Supabase limits per client address (sb-forwarded-for); `supabase start` does not.
const perAddressLimits = await authLimitsPerClientAddress();

describe("TOTP factors", () => {
  it("enrolls, challenges and verifies a factor; the session becomes aal2 with totp in amr", async () => {
    const user = await signUp("mfa-enroll");
    const c = await signInAal1(user.email);
    expect(await c.auth.mfa.getAuthenticatorAssuranceLevel()).toMatchObject({
      data: { currentLevel: "aal1", nextLevel: "aal1" },
      error: null,
    });

    const { data: enrolled, error } = await c.auth.mfa.enroll({
      factorType: "totp",
      friendlyName: "my phone",
      issuer: "Marketplace",
    });
    expect(error).toBeNull();
    expect(enrolled!.type).toBe("totp");
    expect(enrolled!.friendly_name).toBe("my phone");
    expect(enrolled!.totp.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(enrolled!.totp.uri).toBe(
      `otpauth://totp/Marketplace:${encodeURIComponent(user.email)}?issuer=Marketplace&secret=${
        enrolled!.totp.secret
      }&algorithm=SHA1&digits=6&period=30`,
    );
    expect(enrolled!.totp.qr_code).toMatch(/^data:image\/svg\+xml;utf-8,<svg /);

    // Unverified: listed in all, not among the usable TOTP factors; the next level is still aal1.
    const listed = await c.auth.mfa.listFactors();
    expect(listed.data!.all).toEqual([
      expect.objectContaining({ id: enrolled!.id, factor_type: "totp", status: "unverified" }),
    ]);
    expect(listed.data!.totp).toEqual([]);

    const challenge = await c.auth.mfa.challenge({ factorId: enrolled!.id });
    expect(challenge.error).toBeNull();
    expect(challenge.data!.type).toBe("totp");
    const now = Math.floor(Date.now() / 1000);
    expect(challenge.data!.expires_at).toBeGreaterThanOrEqual(now + 295);
    expect(challenge.data!.expires_at).toBeLessThanOrEqual(now + 301);

    const verified = await c.auth.mfa.verify({
      factorId: enrolled!.id,
      challengeId: challenge.data!.id,
      code: totpCode(enrolled!.totp.secret),
    });
    expect(verified.error).toBeNull();
    expect(verified.data!.refresh_token).toBeTruthy();
    const claims = await tokenClaims(c);
    expect(claims.aal).toBe("aal2");
    expect((claims.amr as { method: string }[]).map((entry) => entry.method)).toEqual([
      "totp",
      "password",
    ]);
    expect(await c.auth.mfa.getAuthenticatorAssuranceLevel()).toMatchObject({
      data: { currentLevel: "aal2", nextLevel: "aal2" },
    });
    const after = await c.auth.mfa.listFactors();
    expect(after.data!.totp).toEqual([
      expect.objectContaining({ id: enrolled!.id, status: "verified", friendly_name: "my phone" }),
    ]);

    // A refresh keeps what the verification established.
    const refreshed = await c.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    expect((await tokenClaims(c)).aal).toBe("aal2");
  });

  it("signs a user with a factor in at aal1, with aal2 as the next level; a code raises it", async () => {
    const user = await signUpWithTotp("mfa-signin");
    const c = await signInAal1(user.email);
    expect(await c.auth.mfa.getAuthenticatorAssuranceLevel()).toMatchObject({
      data: { currentLevel: "aal1", nextLevel: "aal2" },
    });
    const result = await c.auth.mfa.challengeAndVerify({
      factorId: user.factorId,
      code: totpCode(user.secret),
    });
    expect(result.error).toBeNull();
    expect((await tokenClaims(c)).aal).toBe("aal2");
  });

  it("refuses a wrong code, an unknown challenge and an expired challenge with GoTrue's errors", async () => {
    const user = await signUpWithTotp("mfa-wrong");
    const c = await signInAal1(user.email);
    const challenge = await c.auth.mfa.challenge({ factorId: user.factorId });
    const wrong = await c.auth.mfa.verify({
      factorId: user.factorId,
      challengeId: challenge.data!.id,
      code: wrongTotpCode(user.secret),
    });
    expect(wrong.error).toMatchObject({
      status: 422,
      code: "mfa_verification_failed",
      message: "Invalid TOTP code entered",
    });
    expect((await tokenClaims(c)).aal).toBe("aal1");

    const unknown = await c.auth.mfa.verify({
      factorId: user.factorId,
      challengeId: "00000000-0000-4000-8000-000000000000",
      code: totpCode(user.secret),
    });
    expect(unknown.error).toMatchObject({
      status: 422,
      code: "mfa_factor_not_found",
      message: "MFA factor with the provided challenge ID not found",
    });

    // Five minutes pass (GoTrue's challenge expiry): the challenge is refused and removed.
    await withDatabase((db) =>
      db.query(
        "update auth.mfa_challenges set created_at = created_at - interval '301 seconds' where id = $1",
        [challenge.data!.id],
      )
    );
    const expired = await c.auth.mfa.verify({
      factorId: user.factorId,
      challengeId: challenge.data!.id,
      code: totpCode(user.secret),
    });
    expect(expired.error).toMatchObject({
      status: 422,
      code: "mfa_challenge_expired",
      message: `MFA challenge ${
        challenge.data!.id
      } has expired, verify against another challenge or create a new challenge.`,
    });
    const again = await c.auth.mfa.verify({
      factorId: user.factorId,
      challengeId: challenge.data!.id,
      code: totpCode(user.secret),
    });
    expect(again.error).toMatchObject({ status: 422, code: "mfa_factor_not_found" });

    // A used challenge cannot be verified twice.
    const fresh = await c.auth.mfa.challenge({ factorId: user.factorId });
    const ok = await c.auth.mfa.verify({
      factorId: user.factorId,
      challengeId: fresh.data!.id,
      code: totpCode(user.secret),
    });
    expect(ok.error).toBeNull();
    const replay = await c.auth.mfa.verify({
      factorId: user.factorId,
      challengeId: fresh.data!.id,
      code: totpCode(user.secret),
    });
    expect(replay.error).toMatchObject({
      status: 422,
      code: "mfa_ip_address_mismatch",
      message: "Challenge and verify IP addresses mismatch.",
    });
  });

  it("refuses another user's factor and a factor id that is not a UUID", async () => {
    const owner = await signUpWithTotp("mfa-owner");
    const stranger = await signInAal1((await signUp("mfa-stranger")).email);
    const challenge = await stranger.auth.mfa.challenge({ factorId: owner.factorId });
    expect(challenge.error).toMatchObject({
      status: 404,
      code: "mfa_factor_not_found",
      message: "Factor not found",
    });
    const unenroll = await stranger.auth.mfa.unenroll({ factorId: "not-a-uuid" });
    expect(unenroll.error).toMatchObject({
      status: 404,
      code: "validation_failed",
      message: "factor_id must be an UUID",
    });
  });

  it("needs aal2 to enroll a second factor and to unenroll a verified one; unenrolling downgrades the session", async () => {
    const user = await signUpWithTotp("mfa-unenroll");
    const aal1 = await signInAal1(user.email);
    const second = await aal1.auth.mfa.enroll({ factorType: "totp", friendlyName: "backup" });
    expect(second.error).toMatchObject({
      status: 403,
      code: "insufficient_aal",
      message: "AAL2 required to enroll a new factor",
    });
    const refused = await aal1.auth.mfa.unenroll({ factorId: user.factorId });
    expect(refused.error).toMatchObject({
      status: 422,
      code: "insufficient_aal",
      message: "AAL2 required to unenroll verified factor",
    });

    // A duplicate name is refused, at aal2 too.
    const duplicate = await user.client.auth.mfa.enroll({
      factorType: "totp",
      friendlyName: "phone app",
    });
    expect(duplicate.error).toMatchObject({
      status: 422,
      code: "mfa_factor_name_conflict",
      message: 'A factor with the friendly name "phone app" for this user already exists',
    });

    const removed = await user.client.auth.mfa.unenroll({ factorId: user.factorId });
    expect(removed).toEqual({ data: { id: user.factorId }, error: null });
    const refreshed = await user.client.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    const claims = await tokenClaims(user.client);
    expect(claims.aal).toBe("aal1");
    expect((claims.amr as { method: string }[]).map((entry) => entry.method)).toEqual([
      "password",
    ]);
    expect((await user.client.auth.mfa.listFactors()).data!.all).toEqual([]);
  });

  it("refuses other factor types and a missing code", async () => {
    const c = await signInAal1((await signUp("mfa-types")).email);
    const phone = await c.auth.mfa.enroll({ factorType: "phone", phone: "+15555550100" });
    expect(phone.error).toMatchObject({
      status: 422,
      code: "mfa_phone_enroll_not_enabled",
      message: "MFA enroll is disabled for Phone",
    });
    const enrolled = await c.auth.mfa.enroll({ factorType: "totp" });
    const challenge = await c.auth.mfa.challenge({ factorId: enrolled.data!.id });
    const empty = await c.auth.mfa.verify({
      factorId: enrolled.data!.id,
      challengeId: challenge.data!.id,
      code: "",
    });
    expect(empty.error).toMatchObject({
      status: 400,
      code: "validation_failed",
      message: "Code needs to be non-empty",
    });
  });

  it("refuses more factors than [auth.mfa] max_enrolled_factors (10)", async () => {
    const c = await signInAal1((await signUp("mfa-max")).email);
    for (let i = 0; i < 10; i++) {
      const { error } = await c.auth.mfa.enroll({ factorType: "totp", friendlyName: `app ${i}` });
      expect(error).toBeNull();
    }
    const eleventh = await c.auth.mfa.enroll({ factorType: "totp", friendlyName: "app 10" });
    expect(eleventh.error).toMatchObject({
      status: 422,
      code: "too_many_enrolled_mfa_factors",
      message: "Maximum number of verified factors reached, unenroll to continue",
    });
    expect((await c.auth.mfa.listFactors()).data!.all).toHaveLength(10);
  });

  it.skipIf(!perAddressLimits)(
    "limits challenges per client address as GoTrue does (a burst of 30, then 15 a minute)",
    async () => {
      const user = await signUp("mfa-rate");
      // A client address of its own (sb-forwarded-for, as behind Supabase's proxy), so this
      // test spends no other test's budget.
      const c = mfaClient({ "sb-forwarded-for": `198.51.100.${Math.floor(Math.random() * 250)}` });
      await c.auth.signInWithPassword({ email: user.email, password: "Correct-Horse-9" });
      const enrolled = await c.auth.mfa.enroll({ factorType: "totp" });
      const results = [];
      for (let i = 0; i < 31; i++) {
        results.push(await c.auth.mfa.challenge({ factorId: enrolled.data!.id }));
      }
      expect(results.slice(0, 30).every((result) => result.error === null)).toBe(true);
      expect(results[30].error).toMatchObject({
        status: 429,
        code: "over_request_rate_limit",
        message: "Request rate limit reached",
      });
    },
  );

  it.skipIf(!perAddressLimits)(
    "limits verifications per client address the same way, so codes cannot be guessed quickly",
    async () => {
      const user = await signUpWithTotp("mfa-rate-verify");
      const c = mfaClient({ "sb-forwarded-for": `203.0.113.${Math.floor(Math.random() * 250)}` });
      await c.auth.signInWithPassword({ email: user.email, password: "Correct-Horse-9" });
      const challenge = await c.auth.mfa.challenge({ factorId: user.factorId });
      const wrong = wrongTotpCode(user.secret);
      for (let i = 0; i < 30; i++) {
        const attempt = await c.auth.mfa.verify({
          factorId: user.factorId,
          challengeId: challenge.data!.id,
          code: wrong,
        });
        expect(attempt.error).toMatchObject({ status: 422, code: "mfa_verification_failed" });
      }
      const limited = await c.auth.mfa.verify({
        factorId: user.factorId,
        challengeId: challenge.data!.id,
        code: totpCode(user.secret),
      });
      expect(limited.error).toMatchObject({
        status: 429,
        code: "over_request_rate_limit",
        message: "Request rate limit reached",
      });
      expect((await tokenClaims(c)).aal).toBe("aal1");
    },
  );
});
