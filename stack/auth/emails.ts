// The mails Auth's flows send (internal/api/mail.go sendConfirmation, sendPasswordRecovery,
// sendMagicLink, sendEmailChange, sendReauthenticationOtp): each checks [auth.email]
// max_frequency against the user's *_sent_at for its kind, issues a one-time token of
// otp_length digits (tokens.ts) and mails it with the link to /verify (mail.ts).

import type { IncomingMessage } from "node:http";
import type { AuthCore, Db } from "./core.ts";
import { actionLink, type AuthMailer, type AuthMailKind } from "./mail.ts";
import { redirectPolicy, referrer } from "./redirect.ts";
import {
  assertSendFrequency,
  type FlowType,
  issueOneTimeToken,
  type OneTimeTokenType,
  type TokenUser,
} from "./tokens.ts";

export type AuthEmails = ReturnType<typeof createAuthEmails>;

export function createAuthEmails(core: AuthCore, mailer: AuthMailer) {
  const settings = core.options.email;
  const allowed = redirectPolicy(settings);
  const authUrl = core.options.issuer;

  /** Where the request asks to be sent back to, if allowed, else site_url. */
  function redirectTo(req: IncomingMessage, url: URL): string {
    return referrer(req, url, allowed, settings.siteUrl);
  }

  async function mailToken(
    db: Db,
    user: TokenUser,
    options: {
      kind: AuthMailKind;
      tokenType: OneTimeTokenType;
      verificationType: string;
      sentAt: Date | null;
      flow: FlowType;
      redirect: string;
    },
  ): Promise<void> {
    assertSendFrequency(options.sentAt, settings.maxFrequencySeconds);
    const email = user.email ?? "";
    const { otp, tokenHash } = await issueOneTimeToken(db, user, options.tokenType, email, {
      otpLength: settings.otpLength,
      flow: options.flow,
    });
    await mailer.sendAuthMail(options.kind, email, {
      SiteURL: settings.siteUrl,
      ConfirmationURL: actionLink(authUrl, {
        tokenHash,
        type: options.verificationType,
        redirectTo: options.redirect,
      }),
      Email: email,
      Token: otp,
      TokenHash: tokenHash,
      Data: user.raw_user_meta_data ?? {},
      RedirectTo: options.redirect,
    });
  }

  /** sendConfirmation: the sign-up confirmation (also resent by /resend and a repeated sign-up). */
  const sendConfirmation = (db: Db, user: TokenUser, flow: FlowType, redirect: string) =>
    mailToken(db, user, {
      kind: "confirmation",
      tokenType: "confirmation_token",
      verificationType: "signup",
      sentAt: user.confirmation_sent_at,
      flow,
      redirect,
    });

  /** sendPasswordRecovery. */
  const sendRecovery = (db: Db, user: TokenUser, flow: FlowType, redirect: string) =>
    mailToken(db, user, {
      kind: "recovery",
      tokenType: "recovery_token",
      verificationType: "recovery",
      sentAt: user.recovery_sent_at,
      flow,
      redirect,
    });

  /** sendMagicLink: a recovery token with the magic-link template, on the recovery timer. */
  const sendMagicLink = (db: Db, user: TokenUser, flow: FlowType, redirect: string) =>
    mailToken(db, user, {
      kind: "magic_link",
      tokenType: "recovery_token",
      verificationType: "magiclink",
      sentAt: user.recovery_sent_at,
      flow,
      redirect,
    });

  /**
   * sendEmailChange: a token for the new address, and with double_confirm_changes (GoTrue's
   * secure e-mail change) one for the current address too, each mailed to its address.
   */
  async function sendEmailChange(
    db: Db,
    user: TokenUser,
    newEmail: string,
    flow: FlowType,
    redirect: string,
  ): Promise<void> {
    assertSendFrequency(user.email_change_sent_at, settings.maxFrequencySeconds);
    const options = { otpLength: settings.otpLength, flow };
    await db.query(
      `update auth.users set email_change = $2, email_change_confirm_status = 0,
              email_change_token_current = '', updated_at = now() where id = $1`,
      [user.id, newEmail],
    );
    const mails: { to: string; otp: string; tokenHash: string }[] = [];
    const fresh = await issueOneTimeToken(db, user, "email_change_token_new", newEmail, options);
    mails.push({ to: newEmail, ...fresh });
    const current = user.email ?? "";
    if (settings.doubleConfirmChanges && current !== "") {
      const old = await issueOneTimeToken(db, user, "email_change_token_current", current, options);
      mails.push({ to: current, ...old });
    } else {
      await db.query(
        "delete from auth.one_time_tokens where user_id = $1 and token_type = 'email_change_token_current'",
        [user.id],
      );
    }
    for (const mail of mails) {
      await mailer.sendAuthMail("email_change", mail.to, {
        SiteURL: settings.siteUrl,
        ConfirmationURL: actionLink(authUrl, {
          tokenHash: mail.tokenHash,
          type: "email_change",
          redirectTo: redirect,
        }),
        Email: current,
        NewEmail: newEmail,
        Token: mail.otp,
        TokenHash: mail.tokenHash,
        Data: user.raw_user_meta_data ?? {},
        RedirectTo: redirect,
      });
    }
  }

  /** sendReauthenticationOtp: the nonce PUT /user asks for, mailed as a code. */
  async function sendReauthentication(db: Db, user: TokenUser): Promise<void> {
    assertSendFrequency(user.reauthentication_sent_at, settings.maxFrequencySeconds);
    const email = user.email ?? "";
    const { otp } = await issueOneTimeToken(db, user, "reauthentication_token", email, {
      otpLength: settings.otpLength,
    });
    await mailer.sendAuthMail("reauthentication", email, {
      SiteURL: settings.siteUrl,
      Email: email,
      Token: otp,
      Data: user.raw_user_meta_data ?? {},
    });
  }

  return {
    settings,
    allowed,
    redirectTo,
    sendConfirmation,
    sendRecovery,
    sendMagicLink,
    sendEmailChange,
    sendReauthentication,
  };
}
