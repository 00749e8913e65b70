// Sign-up with e-mail confirmation ([auth.email] enable_confirmations), through supabase-js and
// the mail Auth sends (Mailpit): the mail's template, the link's redirect with a session, the
// refusals before and after, resending within max_frequency, redirect_to outside the
// allow-list, and malformed addresses. Every refusal is Supabase Auth's status, code and message.

import { describe, expect, it } from "vitest";
import { followLink, PASSWORD, signIn, uniqueEmail } from "../support/auth.ts";
import { client, SUPABASE_URL, withDatabase } from "../support/clients.ts";
import { linksIn, searchMail, waitForMail } from "../support/mail.ts";

const APP = "http://127.0.0.1:3000";

/** Makes the confirmation look sent `seconds` earlier: the clock max_frequency and otp_expiry read. */
const ageConfirmation = (email: string, seconds: number) =>
  withDatabase((db) =>
    db.query(
      `update auth.users set confirmation_sent_at = confirmation_sent_at - make_interval(secs => $2)
        where email = $1`,
      [email, seconds],
    )
  );

describe("auth: sign-up confirmed by e-mail", () => {
  it("mails the confirmation template; its link confirms, redirects with a session, and works once", async () => {
    const email = uniqueEmail("confirm");
    const signedUp = await client().auth.signUp({
      email,
      password: PASSWORD,
      options: { emailRedirectTo: `${APP}/welcome`, data: { display_name: "Cora" } },
    });
    expect(signedUp.error).toBeNull();
    expect(signedUp.data.session).toBeNull();

    const refused = await signIn(email);
    expect(refused.error?.status).toBe(400);
    expect(refused.error?.code).toBe("email_not_confirmed");
    expect(refused.error?.message).toBe("Email not confirmed");

    const mail = await waitForMail({ to: email, subject: "Confirm your e-mail" });
    expect(mail.HTML).toContain("<h2>Confirm your e-mail address</h2>");
    const [link] = linksIn(mail);
    const url = new URL(link);
    expect(`${url.origin}${url.pathname}`).toBe(`${SUPABASE_URL}/auth/v1/verify`);
    expect(url.searchParams.get("type")).toBe("signup");
    expect(url.searchParams.get("redirect_to")).toBe(`${APP}/welcome`);

    const confirmed = await followLink(link);
    expect(confirmed.status).toBe(303);
    expect(`${confirmed.location.origin}${confirmed.location.pathname}`).toBe(`${APP}/welcome`);
    expect(confirmed.fragment.get("type")).toBe("signup");
    expect(confirmed.fragment.get("token_type")).toBe("bearer");
    const accessToken = confirmed.fragment.get("access_token")!;
    const me = await client().auth.getUser(accessToken);
    expect(me.data.user?.email).toBe(email);
    expect(me.data.user?.email_confirmed_at).toBeTruthy();
    expect(me.data.user?.user_metadata).toMatchObject({ display_name: "Cora" });

    expect((await signIn(email)).error).toBeNull();

    const again = await followLink(link);
    expect(again.status).toBe(303);
    expect(again.fragment.get("error")).toBe("access_denied");
    expect(again.fragment.get("error_code")).toBe("otp_expired");
    expect(again.fragment.get("error_description")).toBe("Email link is invalid or has expired");
    expect(again.fragment.get("access_token")).toBeNull();
  });

  it("resends the confirmation after max_frequency, refusing sooner with 429; the new link replaces the old", async () => {
    const email = uniqueEmail("resend");
    expect((await client().auth.signUp({ email, password: PASSWORD })).error).toBeNull();
    const first = await waitForMail({ to: email, subject: "Confirm your e-mail" });

    const tooSoon = await client().auth.resend({ type: "signup", email });
    expect(tooSoon.error?.status).toBe(429);
    expect(tooSoon.error?.code).toBe("over_email_send_rate_limit");
    const seconds = Number(
      /^For security purposes, you can only request this after (\d+) seconds\.$/.exec(
        tooSoon.error!.message,
      )?.[1],
    );
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(60); // max_frequency = "1m0s"

    await ageConfirmation(email, 61);
    const since = new Date();
    const resent = await client().auth.resend({ type: "signup", email });
    expect(resent.error).toBeNull();
    const second = await waitForMail({ to: email, subject: "Confirm your e-mail", since });
    expect(linksIn(second)[0]).not.toBe(linksIn(first)[0]);

    const stale = await followLink(linksIn(first)[0]);
    expect(stale.fragment.get("error_code")).toBe("otp_expired");
    const fresh = await followLink(linksIn(second)[0]);
    expect(fresh.fragment.get("access_token")).toBeTruthy();

    // A confirmed address gets nothing more, and is told nothing.
    const confirmedAlready = await client().auth.resend({ type: "signup", email });
    expect(confirmedAlready.error).toBeNull();
  });

  it("refuses a confirmation link past otp_expiry", async () => {
    const email = uniqueEmail("expired-link");
    expect((await client().auth.signUp({ email, password: PASSWORD })).error).toBeNull();
    const mail = await waitForMail({ to: email, subject: "Confirm your e-mail" });
    await ageConfirmation(email, 3601); // otp_expiry = 3600
    const expired = await followLink(linksIn(mail)[0]);
    expect(expired.fragment.get("error_code")).toBe("otp_expired");
    expect(expired.fragment.get("error_description")).toBe("Email link is invalid or has expired");
    expect((await signIn(email)).error?.code).toBe("email_not_confirmed");
  });

  it("ignores a redirect_to outside site_url and additional_redirect_urls, sending to site_url", async () => {
    const email = uniqueEmail("evil-redirect");
    await client().auth.signUp({
      email,
      password: PASSWORD,
      options: { emailRedirectTo: "https://evil.example.com/steal" },
    });
    const mail = await waitForMail({ to: email, subject: "Confirm your e-mail" });
    const link = linksIn(mail)[0];
    expect(new URL(link).searchParams.get("redirect_to")).toBe(APP);
    const landed = await followLink(link);
    expect(landed.location.origin).toBe(APP);
    expect(landed.fragment.get("access_token")).toBeTruthy();

    // Named on the link itself, it is ignored the same way.
    const other = uniqueEmail("evil-redirect-2");
    await client().auth.signUp({ email: other, password: PASSWORD });
    const otherLink = new URL(linksIn(await waitForMail({ to: other }))[0]);
    otherLink.searchParams.set("redirect_to", "https://evil.example.com/steal");
    expect((await followLink(otherLink.href)).location.origin).toBe(APP);
  });

  it("refuses malformed addresses as GoTrue validates them, sending nothing", async () => {
    for (const email of ["xx:;x@x.x", "not-an-email", "two@@example.com", "space @example.com"]) {
      const { error } = await client().auth.signUp({ email, password: PASSWORD });
      expect(error?.status, email).toBe(400);
      expect(error?.code, email).toBe("validation_failed");
      expect(error?.message, email).toBe("Unable to validate email address: invalid format");
    }
    const otp = await client().auth.signInWithOtp({ email: "xx:;x@x.x" });
    expect(otp.error?.code).toBe("validation_failed");
    expect((await searchMail('to:"xx:;x@x.x"')).messages).toEqual([]);
  });
});
