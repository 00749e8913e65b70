// Password reset, password change and e-mail change through supabase-js and the mail Auth
// sends (Mailpit): the recovery link's session changes the password; a change from a session
// more than a day old needs the reauthentication nonce ([auth.email] secure_password_change);
// an e-mail change is confirmed on both addresses ([auth.email] double_confirm_changes).

import { describe, expect, it } from "vitest";
import { followLink, PASSWORD, signIn, signUp, uniqueEmail } from "../support/auth.ts";
import { client, withDatabase } from "../support/clients.ts";
import { codeIn, linksIn, searchMail, waitForMail } from "../support/mail.ts";

const NEW_PASSWORD = "Another-Horse-7";

/** A client signed in with the session a mailed link's redirect carries. */
async function sessionFrom(link: string) {
  const { fragment } = await followLink(link);
  const c = client();
  const { error } = await c.auth.setSession({
    access_token: fragment.get("access_token")!,
    refresh_token: fragment.get("refresh_token")!,
  });
  if (error) throw error;
  return { c, fragment };
}

/** Makes the client's session a day and an hour old: GoTrue asks for a nonce after 24 hours. */
async function ageSession(c: ReturnType<typeof client>) {
  const { data } = await c.auth.getSession();
  const claims = JSON.parse(
    Buffer.from(data.session!.access_token.split(".")[1], "base64url").toString(),
  );
  await withDatabase((db) =>
    db.query("update auth.sessions set created_at = now() - interval '25 hours' where id = $1", [
      claims.session_id,
    ])
  );
}

describe("auth: password reset by e-mail", () => {
  it("mails a recovery link whose session sets a new password; the old one stops working", async () => {
    const user = await signUp("recover");
    expect((await client().auth.resetPasswordForEmail(user.email)).error).toBeNull();
    const mail = await waitForMail({ to: user.email, subject: "Reset your password" });
    expect(mail.HTML).toContain("<h2>Reset your password</h2>");
    const { c, fragment } = await sessionFrom(linksIn(mail)[0]);
    expect(fragment.get("type")).toBe("recovery");

    const updated = await c.auth.updateUser({ password: NEW_PASSWORD });
    expect(updated.error).toBeNull();

    const old = await signIn(user.email);
    expect(old.error?.status).toBe(400);
    expect(old.error?.code).toBe("invalid_credentials");
    expect(old.error?.message).toBe("Invalid login credentials");
    const fresh = await client().auth.signInWithPassword({
      email: user.email,
      password: NEW_PASSWORD,
    });
    expect(fresh.error).toBeNull();
    expect(fresh.data.user?.id).toBe(user.id);

    // The link was spent by the reset.
    const again = await followLink(linksIn(mail)[0]);
    expect(again.fragment.get("error_code")).toBe("otp_expired");
  });

  it("answers an unknown address the same, mailing nothing", async () => {
    const email = uniqueEmail("nobody");
    expect((await client().auth.resetPasswordForEmail(email)).error).toBeNull();
    expect((await searchMail(`to:"${email}"`)).messages).toEqual([]);
  });
});

describe("auth: password change", () => {
  it("changes the password from a fresh session without a nonce, but never to the same one", async () => {
    const user = await signUp("pw-fresh");
    const same = await user.client.auth.updateUser({ password: PASSWORD });
    expect(same.error?.status).toBe(422);
    expect(same.error?.code).toBe("same_password");
    expect(same.error?.message).toBe("New password should be different from the old password.");

    expect((await user.client.auth.updateUser({ password: NEW_PASSWORD })).error).toBeNull();
    expect((await signIn(user.email)).error?.code).toBe("invalid_credentials");
  });

  it("asks a day-old session for the mailed nonce, refuses a wrong one, and takes the right one", async () => {
    const user = await signUp("pw-reauth");
    await ageSession(user.client);

    const without = await user.client.auth.updateUser({ password: NEW_PASSWORD });
    expect(without.error?.status).toBe(400);
    expect(without.error?.code).toBe("reauthentication_needed");
    expect(without.error?.message).toBe("Password update requires reauthentication");

    expect((await user.client.auth.reauthenticate()).error).toBeNull();
    const mail = await waitForMail({ to: user.email, subject: "Your verification code" });
    const nonce = codeIn(mail);

    const wrongNonce = String((Number(nonce) + 1) % 1_000_000).padStart(6, "0");
    const wrong = await user.client.auth.updateUser({ password: NEW_PASSWORD, nonce: wrongNonce });
    expect(wrong.error?.status).toBe(422);
    expect(wrong.error?.code).toBe("reauthentication_not_valid");
    expect(wrong.error?.message).toBe("Nonce has expired or is invalid");
    expect((await signIn(user.email)).error).toBeNull();

    const right = await user.client.auth.updateUser({ password: NEW_PASSWORD, nonce });
    expect(right.error).toBeNull();
    expect((await signIn(user.email)).error?.code).toBe("invalid_credentials");

    // The nonce is spent.
    const reused = await user.client.auth.updateUser({ password: "Third-Horse-5", nonce });
    expect(reused.error?.code).toBe("reauthentication_not_valid");
  });

  it("refuses a second reauthentication mail within max_frequency", async () => {
    const user = await signUp("pw-reauth-twice");
    expect((await user.client.auth.reauthenticate()).error).toBeNull();
    const again = await user.client.auth.reauthenticate();
    expect(again.error?.status).toBe(429);
    expect(again.error?.code).toBe("over_email_send_rate_limit");
    expect(again.error?.message).toMatch(
      /^For security purposes, you can only request this after \d+ seconds\.$/,
    );
  });
});

describe("auth: user metadata", () => {
  it("merges data into user_metadata, a null value removing its key", async () => {
    const user = await signUp("metadata", { display_name: "Meta" });
    const set = await user.client.auth.updateUser({
      data: { nickname: "Kit", colors: { coat: "blue", lining: null } },
    });
    expect(set.error).toBeNull();
    expect(set.data.user?.user_metadata).toMatchObject({
      display_name: "Meta",
      nickname: "Kit",
      colors: { coat: "blue", lining: null },
    });
    const removed = await user.client.auth.updateUser({ data: { nickname: null } });
    expect(removed.data.user?.user_metadata).not.toHaveProperty("nickname");
    expect(removed.data.user?.user_metadata).toMatchObject({ display_name: "Meta" });
  });
});

describe("auth: e-mail change confirmed on both addresses", () => {
  it("changes the address only when both the old and the new one confirm", async () => {
    const user = await signUp("change-old");
    const newEmail = uniqueEmail("change-new");
    const asked = await user.client.auth.updateUser({ email: newEmail });
    expect(asked.error).toBeNull();
    expect(asked.data.user?.email).toBe(user.email);
    expect(asked.data.user?.new_email).toBe(newEmail);

    const subject = "Confirm your new e-mail address";
    const toOld = await waitForMail({ to: user.email, subject });
    const toNew = await waitForMail({ to: newEmail, subject });
    for (const mail of [toOld, toNew]) {
      expect(mail.HTML).toContain(`from ${user.email} to ${newEmail}`);
    }
    expect(linksIn(toOld)[0]).not.toBe(linksIn(toNew)[0]);

    const first = await followLink(linksIn(toNew)[0]);
    expect(first.status).toBe(303);
    expect(first.fragment.get("message")).toBe(
      "Confirmation link accepted. Please proceed to confirm link sent to the other email",
    );
    expect(first.fragment.get("access_token")).toBeNull();
    // One confirmation is not enough: the old address still signs in, the new one does not.
    expect((await signIn(user.email)).error).toBeNull();
    expect((await signIn(newEmail)).error?.code).toBe("invalid_credentials");

    const second = await followLink(linksIn(toOld)[0]);
    expect(second.fragment.get("type")).toBe("email_change");
    const me = await client().auth.getUser(second.fragment.get("access_token")!);
    expect(me.data.user?.email).toBe(newEmail);
    expect((await signIn(newEmail)).data.user?.id).toBe(user.id);
    expect((await signIn(user.email)).error?.code).toBe("invalid_credentials");
  });

  it("confirms with the mailed codes too, and refuses an address already taken", async () => {
    const user = await signUp("change-code-old");
    const taken = await signUp("change-taken");
    const refused = await user.client.auth.updateUser({ email: taken.email });
    expect(refused.error?.status).toBe(422);
    expect(refused.error?.code).toBe("email_exists");
    expect(refused.error?.message).toBe(
      "A user with this email address has already been registered",
    );

    const newEmail = uniqueEmail("change-code-new");
    expect((await user.client.auth.updateUser({ email: newEmail })).error).toBeNull();
    const subject = "Confirm your new e-mail address";
    const oldCode = codeIn(await waitForMail({ to: user.email, subject }));
    const newCode = codeIn(await waitForMail({ to: newEmail, subject }));

    const half = await client().auth.verifyOtp({
      email: user.email,
      token: oldCode,
      type: "email_change",
    });
    expect(half.error).toBeNull();
    expect(half.data.session).toBeNull();
    const done = await client().auth.verifyOtp({
      email: newEmail,
      token: newCode,
      type: "email_change",
    });
    expect(done.error).toBeNull();
    expect(done.data.user?.email).toBe(newEmail);
  });
});
