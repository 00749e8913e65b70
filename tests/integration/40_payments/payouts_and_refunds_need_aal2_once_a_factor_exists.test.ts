// The assurance-level rule on the money-moving functions: payout onboarding and refunds work
// from an aal1 session while the user has no verified MFA factor; once they have one, an aal1
// session is refused with 403 two_factor_required, and a TOTP code (or a recovery code) that
// raises the session to aal2 lets the same request through.

import { describe, expect, it } from "vitest";
import { signUp } from "../support/auth.ts";
import { callFunction } from "../support/clients.ts";
import { signInAal1, signUpWithTotp, tokenClaims, verifyTotp } from "../support/mfa.ts";

const onboarding = {
  return_url: "http://127.0.0.1:3000/payouts/done",
  refresh_url: "http://127.0.0.1:3000/payouts/retry",
};
const refusal = {
  error: {
    code: "two_factor_required",
    message: "this action needs a two-factor (aal2) session: verify your factor first",
  },
};

describe("money-moving functions and the assurance level", () => {
  it("onboard a seller without a factor at aal1", async () => {
    const seller = await signUp("aal-payouts-plain", { is_tailor: true });
    expect((await tokenClaims(seller.client)).aal).toBe("aal1");
    const { status, body } = await callFunction(seller.client, "payments-onboard", onboarding);
    expect(status, JSON.stringify(body)).toBe(201);
    expect(body.account_id).toMatch(/^acct_/);
  });

  it("refuse onboarding at aal1 once the seller has a factor, and allow it at aal2", async () => {
    const seller = await signUpWithTotp("aal-payouts-mfa", { is_tailor: true });
    const aal1 = await signInAal1(seller.email);
    const refused = await callFunction(aal1, "payments-onboard", onboarding);
    expect(refused).toEqual({ status: 403, body: refusal });

    await verifyTotp(aal1, seller);
    expect((await tokenClaims(aal1)).aal).toBe("aal2");
    // 201: the refused request created no account.
    const allowed = await callFunction(aal1, "payments-onboard", onboarding);
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(201);
    // The aal2 session the factor's verification gave at sign-up is enough as well.
    const again = await callFunction(seller.client, "payments-onboard", onboarding);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.account_id).toBe(allowed.body.account_id);
  });

  it("allow onboarding after a recovery code raised the session to aal2", async () => {
    const seller = await signUpWithTotp("aal-payouts-code", { is_tailor: true });
    const { data } = await seller.client.auth.mfa.recoveryCodes.generate();
    const aal1 = await signInAal1(seller.email);
    expect((await callFunction(aal1, "payments-onboard", onboarding)).status).toBe(403);
    const verified = await aal1.auth.mfa.recoveryCodes.verify({ code: data!.codes[0] });
    expect(verified.error).toBeNull();
    const allowed = await callFunction(aal1, "payments-onboard", onboarding);
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(201);
  });

  it("refuse a refund request at aal1 once the caller has a factor, before the order is looked at", async () => {
    const buyer = await signUpWithTotp("aal-refund-mfa");
    const orderId = "0f0e0d0c-0b0a-4908-8706-050403020100";
    const aal1 = await signInAal1(buyer.email);
    const refused = await callFunction(aal1, "payments-refund", {
      order_id: orderId,
      reason: "changed my mind",
    });
    expect(refused).toEqual({ status: 403, body: refusal });
    // At aal2 the request reaches the order, which does not exist.
    await verifyTotp(aal1, buyer);
    const reached = await callFunction(aal1, "payments-refund", {
      order_id: orderId,
      reason: "changed my mind",
    });
    expect(reached.status).toBe(404);
    expect(reached.body.error.code).toBe("not_found");
  });

  it("let a caller without a factor reach the refund rules at aal1", async () => {
    const buyer = await signUp("aal-refund-plain");
    const reached = await callFunction(buyer.client, "payments-refund", {
      order_id: "0f0e0d0c-0b0a-4908-8706-050403020100",
      reason: "changed my mind",
    });
    expect(reached.status).toBe(404);
    expect(reached.body.error.code).toBe("not_found");
  });
});
