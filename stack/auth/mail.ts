// Auth's e-mail, as Supabase Auth sends it (internal/mailer/templatemailer): one template per
// kind, the subject and body from config.toml's [auth.email.template.<kind>] (GoTrue's
// defaults where none is set), rendered with the Go-template variables Supabase documents
// ({{ .ConfirmationURL }}, {{ .Token }}, {{ .TokenHash }}, {{ .SiteURL }}, {{ .RedirectTo }},
// {{ .Email }}, {{ .NewEmail }}, {{ .Data }}) and html/template's escaping, sent over SMTP to
// [auth.email.smtp] when config.toml enables it, else to the local mail catcher, as the
// Supabase CLI does. [auth.rate_limit] email_sent caps what the whole instance sends per hour.
//
// The admin routes reuse this for generate_link and invite: createAuthMailer(...).sendAuthMail and
// actionLink.

import { readFileSync } from "node:fs";
import nodemailer from "nodemailer";
import type { AuthEmailConfig, AuthMailKind, SmtpTarget } from "../config.ts";
import { AuthError } from "./core.ts";
import { IntervalLimiter } from "./ratelimit.ts";

export type { AuthMailKind } from "../config.ts";

/** The variables a template may use; Data is the user's user_metadata. */
export interface AuthMailVars {
  SiteURL: string;
  ConfirmationURL?: string;
  Token?: string;
  TokenHash?: string;
  RedirectTo?: string;
  Email: string;
  NewEmail?: string;
  Data?: Record<string, unknown>;
}

// GoTrue's defaults (templatemailer.go defaultTemplateSubjects, default*Mail).
const DEFAULT_SUBJECTS: Record<AuthMailKind, string> = {
  invite: "You've been invited",
  confirmation: "Confirm your email address",
  recovery: "Reset your password",
  magic_link: "Your sign-in link",
  email_change: "Confirm your new email address",
  reauthentication: "{{ .Token }} is your verification code",
};

const DEFAULT_BODIES: Record<AuthMailKind, string> = {
  invite: `<h2>You've been invited</h2>

<p>You've been invited to create an account. Follow the link below to accept.</p>
<p><a href="{{ .ConfirmationURL }}">Accept invitation</a></p>`,
  confirmation: `<h2>Confirm your email address</h2>

<p>Follow the link below to confirm this email address and finish signing up.</p>
<p><a href="{{ .ConfirmationURL }}">Confirm email address</a></p>
`,
  recovery: `<h2>Reset your password</h2>

<p>We received a request to reset your password. Follow the link below to choose a new one.</p>
<p><a href="{{ .ConfirmationURL }}">Reset password</a></p>
<p>If you didn't request this, you can safely ignore this email.</p>`,
  magic_link: `<h2>Your sign-in link</h2>

<p>Follow the link below to sign in. This link expires shortly and can only be used once.</p>
<p><a href="{{ .ConfirmationURL }}">Sign in</a></p>`,
  email_change: `<h2>Confirm your new email address</h2>

<p>Follow the link below to confirm {{ .NewEmail }} as your new email address.</p>
<p><a href="{{ .ConfirmationURL }}">Confirm new email address</a></p>
<p>If you didn't request this change, you can safely ignore this email.</p>`,
  reauthentication: `<h2>Your verification code</h2>

<p>Use the code below to verify your identity. It expires shortly.</p>
<p>{{ .Token }}</p>`,
};

/** Go's url.QueryEscape: everything but [A-Za-z0-9-_.~] percent-encoded, spaces as "+". */
export function goQueryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

/**
 * The link a mail carries (GetEmailActionLink / getPath): <auth URL>/verify with the stored
 * token hash, the verification type and redirect_to, which is escaped only when it holds
 * "&", "=" or "#" (templatemailer's encodeRedirectURL).
 */
export function actionLink(
  authUrl: string,
  params: { tokenHash: string; type: string; redirectTo: string },
): string {
  const redirect = /[&=#]/.test(params.redirectTo)
    ? goQueryEscape(params.redirectTo)
    : params.redirectTo;
  return `${authUrl}/verify?token=${goQueryEscape(params.tokenHash)}&type=${
    goQueryEscape(params.type)
  }&redirect_to=${redirect}`;
}

// html/template's escaping of text and attribute values (htmlReplacementTable).
const HTML_ESCAPES: Record<string, string> = {
  "\0": "\uFFFD",
  '"': "&#34;",
  "&": "&amp;",
  "'": "&#39;",
  "+": "&#43;",
  "<": "&lt;",
  ">": "&gt;",
};

function escapeHtml(value: string): string {
  return value.replace(/[\0"&'+<>]/g, (c) => HTML_ESCAPES[c]);
}

/** html/template's URL attribute handling: unsafe schemes filtered, then normalized. */
function escapeUrlAttribute(value: string): string {
  if (/^[^/?#:]*:/.test(value) && !/^(https?|mailto):/i.test(value)) return "#ZgotmplZ";
  const normalized = value.replace(
    /[^A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/g,
    (c) => encodeURIComponent(c),
  );
  return escapeHtml(normalized);
}

/** How Go's fmt prints a value in a template: maps as map[key:value …], keys sorted. */
function goPrint(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, inner]) => `${key}:${goPrint(inner)}`);
    return `map[${entries.join(" ")}]`;
  }
  if (Array.isArray(value)) return `[${value.map(goPrint).join(" ")}]`;
  return String(value);
}

const ACTION = /\{\{(-?)\s*(.*?)\s*(-?)\}\}/gs;

/**
 * Renders the part of Go's template language Supabase's e-mail templates use: field
 * references ({{ .Token }}, {{ .Data.display_name }}) with {{- -}} trimming, escaped as
 * html/template escapes them (URL attributes normalized). Any other action (if, range, …) is
 * refused when the template is loaded, naming it, rather than rendered wrongly.
 */
export function renderTemplate(template: string, vars: AuthMailVars, name: string): string {
  let out = "";
  let last = 0;
  for (const match of template.matchAll(ACTION)) {
    let before = template.slice(last, match.index);
    if (match[1] === "-") before = before.replace(/\s+$/, "");
    out += before;
    last = match.index + match[0].length;
    if (match[3] === "-") {
      const rest = template.slice(last);
      last += rest.length - rest.replace(/^\s+/, "").length;
    }
    const path = match[2];
    if (!/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(path)) {
      throw new Error(
        `${name}: the local Auth stand-in renders field references only ({{ .Token }}, {{ .Data.key }}), not {{ ${path} }}`,
      );
    }
    let value: unknown = vars;
    for (const key of path.slice(1).split(".")) {
      value = value && typeof value === "object"
        ? (value as Record<string, unknown>)[key]
        : undefined;
    }
    // In an attribute that holds a URL (href="…", src="…") html/template normalizes the URL.
    const inUrlAttribute = /<[^>]*\b(href|src|action)\s*=\s*["']?[^"'>]*$/i.test(out);
    out += inUrlAttribute ? escapeUrlAttribute(goPrint(value)) : escapeHtml(goPrint(value));
  }
  return out + template.slice(last);
}

export interface AuthMailerOptions {
  email: AuthEmailConfig;
  /** The SMTP server to send to: [auth.email.smtp] when enabled, else the mail catcher's. */
  smtp: SmtpTarget;
}

export type AuthMailer = ReturnType<typeof createAuthMailer>;

export function createAuthMailer(options: AuthMailerOptions) {
  const { email } = options;
  const templates = new Map<AuthMailKind, { subject: string; body: string }>();
  for (
    const [kind, spec] of Object.entries(email.templates) as [
      AuthMailKind,
      { subject: string | null; contentPath: string | null },
    ][]
  ) {
    const body = spec.contentPath ? readFileSync(spec.contentPath, "utf8") : DEFAULT_BODIES[kind];
    const subject = spec.subject ?? DEFAULT_SUBJECTS[kind];
    // Refuse unsupported template syntax at start-up, not at the first mail.
    const probe: AuthMailVars = { SiteURL: "", Email: "", Data: {} };
    renderTemplate(subject, probe, `[auth.email.template.${kind}] subject`);
    renderTemplate(body, probe, spec.contentPath ?? kind);
    templates.set(kind, { subject, body });
  }

  const smtp = options.smtp;
  const from = smtp.adminEmail;
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.port === 465,
    // The local catcher speaks plain SMTP; a real server is asked for STARTTLS when it offers it.
    ignoreTLS: smtp.host === "127.0.0.1" || smtp.host === "localhost",
    auth: smtp.user ? { user: smtp.user, pass: smtp.pass ?? "" } : undefined,
  });
  // GoTrue's RateLimitEmailSent: an interval limiter over the whole instance, per hour.
  const sentPerHour = new IntervalLimiter(email.rateLimit.emailSent, 3600);

  /**
   * Renders and sends one kind of mail to `to`. Past [auth.rate_limit] email_sent this hour
   * it refuses with GoTrue's 429 over_email_send_rate_limit "email rate limit exceeded"
   * (applied while confirmations are on, as GoTrue applies it when autoconfirm is off); an
   * SMTP failure is GoTrue's 500 "Error sending <what> email".
   */
  async function sendAuthMail(kind: AuthMailKind, to: string, vars: AuthMailVars): Promise<void> {
    if (email.rateLimit.emailSent === 0 || (email.enableConfirmations && !sentPerHour.allow())) {
      throw new AuthError(429, "over_email_send_rate_limit", "email rate limit exceeded");
    }
    const template = templates.get(kind)!;
    const subject = renderTemplate(template.subject, vars, kind);
    const html = renderTemplate(template.body, vars, kind);
    try {
      await transport.sendMail({
        from: smtp.senderName ? { name: smtp.senderName, address: from } : from,
        to,
        subject,
        html,
      });
    } catch (error) {
      console.error(`auth: sending the ${kind} mail to ${to} failed:`, error);
      throw new AuthError(500, "unexpected_failure", SEND_FAILURE[kind]);
    }
  }

  return { sendAuthMail, settings: email };
}

const SEND_FAILURE: Record<AuthMailKind, string> = {
  confirmation: "Error sending confirmation email",
  invite: "Error sending invite email",
  recovery: "Error sending recovery email",
  magic_link: "Error sending magic link email",
  email_change: "Error sending email change email",
  reauthentication: "Error sending reauthentication email",
};
