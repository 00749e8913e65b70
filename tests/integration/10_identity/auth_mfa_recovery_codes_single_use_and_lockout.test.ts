// Recovery codes as Supabase Auth defines them (supabase/auth #2725-#2780) through supabase-js's
// experimental mfa.recoveryCodes: generated at aal2 only, ten codes shown once, each code
// upgrading an aal1 session to aal2 exactly once (also when two requests race for it), input
// normalised, a lockout after repeated failures, regeneration invalidating the old set, and
// removal.

import { describe, expect, it } from "vitest";
import { exemptFromRateLimits, signUp } from "../support/auth.ts";
import { withDatabase } from "../support/clients.ts";
import { signInAal1, signUpWithTotp, tokenClaims } from "../support/mfa.ts";

describe("recovery codes", () => {
  it("are generated at aal2 only, ten of them, once, and never as the only factor", async () => {
    const plain = await signInAal1((await signUp("codes-nofactor")).email);
    const noFactor = await plain.auth.mfa.recoveryCodes.generate();
    expect(noFactor.error).toMatchObject({
      status: 403,
      code: "insufficient_aal",
      message: "AAL2 required to manage recovery codes",
    });

    const user = await signUpWithTotp("codes-generate");
    const aal1 = await signInAal1(user.email);
    const refused = await aal1.auth.mfa.recoveryCodes.generate();
    expect(refused.error).toMatchObject({
      status: 403,
      code: "insufficient_aal",
      message: "AAL2 required to manage recovery codes",
    });
    const before = await aal1.auth.mfa.recoveryCodes.getStatus();
    expect(before.error).toMatchObject({
      status: 404,
      code: "mfa_factor_not_found",
      message: "Recovery codes not found",
    });

    const { data, error } = await user.client.auth.mfa.recoveryCodes.generate({
      friendlyName: "Backup codes",
    });
    expect(error).toBeNull();
    expect(data!.type).toBe("recovery_code");
    expect(data!.friendly_name).toBe("Backup codes");
    expect(data!.total).toBe(10);
    expect(data!.codes).toHaveLength(10);
    expect(new Set(data!.codes).size).toBe(10);
    for (const code of data!.codes) expect(code).toMatch(/^[a-z0-9]{16}$/);

    const again = await user.client.auth.mfa.recoveryCodes.generate();
    expect(again.error).toMatchObject({
      status: 422,
      code: "mfa_verified_factor_exists",
      message: "Recovery codes already exist, regenerate them to replace them",
    });
    // Status at any level, never the codes.
    expect(await aal1.auth.mfa.recoveryCodes.getStatus()).toEqual({
      data: { id: data!.id, type: "recovery_code", total: 10, remaining: 10 },
      error: null,
    });
    const factors = await user.client.auth.mfa.listFactors();
    expect(factors.data!.recovery_code).toEqual([
      expect.objectContaining({ id: data!.id, status: "verified", friendly_name: "Backup codes" }),
    ]);
  });

  it("upgrade an aal1 session to aal2, each code once, typed in any case with hyphens and spaces", async () => {
    const user = await signUpWithTotp("codes-verify");
    await exemptFromRateLimits(user); // eleven sign-ins within a minute
    const { data } = await user.client.auth.mfa.recoveryCodes.generate();
    const codes = data!.codes;
    for (const [i, code] of codes.entries()) {
      const c = await signInAal1(user.email);
      const typed = i % 2 === 0
        ? code.toUpperCase().match(/.{4}/g)!.join("-")
        : ` ${code.slice(0, 8)} ${code.slice(8)} `;
      const result = await c.auth.mfa.recoveryCodes.verify({ code: typed });
      expect(result.error).toBeNull();
      const claims = await tokenClaims(c);
      expect(claims.aal).toBe("aal2");
      expect((claims.amr as { method: string }[])[0].method).toBe("mfa/recovery_code");
      expect((await c.auth.mfa.recoveryCodes.getStatus()).data).toMatchObject({
        total: 10,
        remaining: 9 - i,
      });
    }
    const reuse = await signInAal1(user.email);
    const used = await reuse.auth.mfa.recoveryCodes.verify({ code: codes[0] });
    expect(used.error).toMatchObject({
      status: 422,
      code: "mfa_verification_failed",
      message: "Invalid recovery code entered",
    });
    expect((await tokenClaims(reuse)).aal).toBe("aal1");
  });

  it("let exactly one of two parallel verifications of the same code succeed", async () => {
    const user = await signUpWithTotp("codes-race");
    await exemptFromRateLimits(user); // seven sign-ins within a minute
    const { data } = await user.client.auth.mfa.recoveryCodes.generate();
    for (let round = 0; round < 3; round++) {
      const [a, b] = await Promise.all([signInAal1(user.email), signInAal1(user.email)]);
      const results = await Promise.all([
        a.auth.mfa.recoveryCodes.verify({ code: data!.codes[round] }),
        b.auth.mfa.recoveryCodes.verify({ code: data!.codes[round] }),
      ]);
      expect(results.filter((result) => result.error === null)).toHaveLength(1);
      // The loser finds the code spent, or, when the winner's upgrade (which ends the user's
      // other aal1 sessions, as GoTrue does) commits between its session check and its own
      // work, finds its session gone: the server's 403 session_not_found, which auth-js
      // (lib/fetch.ts handleError) hands the caller as AuthSessionMissingError.
      const loser = results.find((result) => result.error !== null)!.error;
      expect([
        {
          status: 422,
          code: "mfa_verification_failed",
          message: "Invalid recovery code entered",
        },
        { status: 400, code: undefined, message: "Auth session missing!" },
      ]).toContainEqual({ status: loser!.status, code: loser!.code, message: loser!.message });
    }
    expect((await user.client.auth.mfa.recoveryCodes.getStatus()).data).toMatchObject({
      remaining: 7,
    });
  });

  it("lock verification after five failures in a row, a right code too, until the lock ends", async () => {
    const user = await signUpWithTotp("codes-lockout");
    const { data } = await user.client.auth.mfa.recoveryCodes.generate();
    const c = await signInAal1(user.email);
    for (let i = 0; i < 5; i++) {
      const wrong = await c.auth.mfa.recoveryCodes.verify({ code: "aaaabbbbccccdddd" });
      expect(wrong.error).toMatchObject({
        status: 422,
        code: "mfa_verification_failed",
        message: "Invalid recovery code entered",
      });
    }
    const locked = await c.auth.mfa.recoveryCodes.verify({ code: data!.codes[0] });
    expect(locked.error).toMatchObject({ status: 429, code: "mfa_recovery_codes_locked" });
    expect(locked.error!.message).toMatch(
      /^Too many failed recovery code attempts: try again in (899|900) seconds$/,
    );
    expect((await tokenClaims(c)).aal).toBe("aal1");
    expect((await c.auth.mfa.recoveryCodes.getStatus()).data).toMatchObject({ remaining: 10 });

    // Fifteen minutes later the right code works, and the count starts again.
    await withDatabase((db) =>
      db.query(
        "update auth.mfa_recovery_code_sets set verification_locked_until = now() - interval '1 second' where mfa_factor_id = $1",
        [data!.id],
      )
    );
    const ok = await c.auth.mfa.recoveryCodes.verify({ code: data!.codes[0] });
    expect(ok.error).toBeNull();
    expect((await tokenClaims(c)).aal).toBe("aal2");
  });

  it("regenerate replaces the set (old codes refused, lockout cleared) and unenroll removes it, at aal2 only", async () => {
    const user = await signUpWithTotp("codes-regenerate");
    const first = await user.client.auth.mfa.recoveryCodes.generate();
    const aal1 = await signInAal1(user.email);
    for (let i = 0; i < 5; i++) {
      await aal1.auth.mfa.recoveryCodes.verify({ code: "0000000000000000" });
    }
    const refused = await aal1.auth.mfa.recoveryCodes.regenerate();
    expect(refused.error).toMatchObject({
      status: 403,
      code: "insufficient_aal",
      message: "AAL2 required to manage recovery codes",
    });

    const second = await user.client.auth.mfa.recoveryCodes.regenerate();
    expect(second.error).toBeNull();
    expect(second.data).toMatchObject({ id: first.data!.id, type: "recovery_code", total: 10 });
    expect(second.data!.codes.some((code) => first.data!.codes.includes(code))).toBe(false);

    const c = await signInAal1(user.email);
    const old = await c.auth.mfa.recoveryCodes.verify({ code: first.data!.codes[1] });
    expect(old.error).toMatchObject({
      status: 422,
      code: "mfa_verification_failed",
      message: "Invalid recovery code entered",
    });
    const fresh = await c.auth.mfa.recoveryCodes.verify({ code: second.data!.codes[1] });
    expect(fresh.error).toBeNull();

    const notAal2 = await (await signInAal1(user.email)).auth.mfa.recoveryCodes.unenroll();
    expect(notAal2.error).toMatchObject({
      status: 422,
      code: "insufficient_aal",
      message: "AAL2 required to unenroll verified factor",
    });
    expect(await c.auth.mfa.recoveryCodes.unenroll()).toEqual({
      data: { id: first.data!.id },
      error: null,
    });
    expect((await c.auth.mfa.recoveryCodes.getStatus()).error).toMatchObject({
      status: 404,
      code: "mfa_factor_not_found",
    });
    // The session the removed codes raised is aal1 again; the TOTP session stays aal2.
    await c.auth.refreshSession();
    expect((await tokenClaims(c)).aal).toBe("aal1");
    const missing = await user.client.auth.mfa.recoveryCodes.regenerate();
    expect(missing.error).toMatchObject({
      status: 404,
      code: "mfa_factor_not_found",
      message: "Recovery codes not found",
    });
  });

  it("go with the last other verified factor, never staying a user's only factor", async () => {
    const user = await signUpWithTotp("codes-last-factor");
    const { data } = await user.client.auth.mfa.recoveryCodes.generate();
    expect(data!.total).toBe(10);
    const removed = await user.client.auth.mfa.unenroll({ factorId: user.factorId });
    expect(removed.error).toBeNull();
    expect((await user.client.auth.mfa.listFactors()).data!.all).toEqual([]);
    expect((await user.client.auth.mfa.recoveryCodes.getStatus()).error).toMatchObject({
      status: 404,
      code: "mfa_factor_not_found",
      message: "Recovery codes not found",
    });
    const c = await signInAal1(user.email);
    expect(await c.auth.mfa.getAuthenticatorAssuranceLevel()).toMatchObject({
      data: { currentLevel: "aal1", nextLevel: "aal1" },
    });
  });
});
