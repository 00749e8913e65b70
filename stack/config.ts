// Where each piece of the Docker-less stack lives: ports, folders, keys. Three profiles share
// one layout: `dev` (npm start, the ports in supabase/config.toml), `test` (npm test, the same
// ports shifted by 1000 and its own data folder, so both can run at once) and `bench` (npm run
// bench, shifted by 2000, so a benchmark runs beside both).
// STACK_INSTANCE=N (1-9) shifts each by another N*100 and gives them their own folders, so
// several checkouts (git worktrees) can each run their own stacks on one machine.

import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "smol-toml";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export type Profile = "dev" | "test" | "bench";

export interface FunctionSpec {
  name: string;
  entrypoint: string; // absolute path
  verifyJwt: boolean;
}

export interface AuthHooks {
  customAccessToken: string | null;
  beforeUserCreated: string | null;
}

/** Which e-mail an Auth flow sends: the template names of config.toml's [auth.email.template.*]. */
export type AuthMailKind =
  | "confirmation"
  | "invite"
  | "recovery"
  | "magic_link"
  | "email_change"
  | "reauthentication";

export const AUTH_MAIL_KINDS: AuthMailKind[] = [
  "confirmation",
  "invite",
  "recovery",
  "magic_link",
  "email_change",
  "reauthentication",
];

/** An SMTP server Auth sends through: [auth.email.smtp] when enabled, else the mail catcher. */
export interface SmtpTarget {
  host: string;
  port: number;
  user: string | null;
  pass: string | null;
  adminEmail: string;
  senderName: string | null;
}

/** [auth.email], its templates and SMTP, [auth.rate_limit] and the redirect allow-list. */
export interface AuthEmailConfig {
  enableConfirmations: boolean;
  doubleConfirmChanges: boolean;
  securePasswordChange: boolean;
  maxFrequencySeconds: number;
  otpLength: number;
  otpExpirySeconds: number;
  /** Subject and absolute template path per kind; null where config.toml sets none. */
  templates: Record<AuthMailKind, { subject: string | null; contentPath: string | null }>;
  /** [auth.email.smtp] when enabled; null sends to the local mail catcher. */
  smtp: SmtpTarget | null;
  rateLimit: {
    emailSent: number;
    signInSignUps: number;
    tokenVerifications: number;
    tokenRefresh: number;
  };
  /** site_url and additional_redirect_urls, as written (GoTrue's redirect allow-list). */
  siteUrl: string;
  additionalRedirectUrls: string[];
}

/** A Go duration as config.toml writes them ("1m0s", "60s", "1h"), in seconds. */
export function parseGoDuration(value: string | number): number {
  if (typeof value === "number") return value;
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  let seconds = 0;
  let rest = value.trim();
  if (rest === "" || rest === "0") return 0;
  while (rest !== "") {
    const match = /^(\d+(?:\.\d+)?)(h|ms|m|s)/.exec(rest);
    if (!match) throw new Error(`config.toml: cannot read duration "${value}"`);
    seconds += Number(match[1]) * units[match[2]];
    rest = rest.slice(match[0].length);
  }
  return seconds;
}

/** config.toml's env(NAME) references, resolved as the Supabase CLI does. */
function resolveEnv(value: unknown): string | null {
  if (typeof value !== "string" || value === "") return null;
  const match = /^env\((\w+)\)$/.exec(value);
  return match ? (process.env[match[1]] ?? null) : value;
}

function authEmailConfig(toml: Toml, supabaseDir: string): AuthEmailConfig {
  const auth = toml.auth ?? {};
  const email = auth.email ?? {};
  const templates = Object.fromEntries(
    AUTH_MAIL_KINDS.map((kind) => {
      const spec = email.template?.[kind] ?? {};
      return [kind, {
        subject: typeof spec.subject === "string" ? spec.subject : null,
        // The CLI reads content_path relative to the project directory (supabase/'s parent).
        contentPath: typeof spec.content_path === "string"
          ? resolve(supabaseDir, "..", spec.content_path)
          : null,
      }];
    }),
  ) as AuthEmailConfig["templates"];
  const smtp = email.smtp?.enabled === true
    ? {
      host: String(email.smtp.host),
      port: Number(email.smtp.port ?? 587),
      user: resolveEnv(email.smtp.user),
      pass: resolveEnv(email.smtp.pass),
      adminEmail: String(email.smtp.admin_email),
      senderName: resolveEnv(email.smtp.sender_name),
    }
    : null;
  const rate = auth.rate_limit ?? {};
  return {
    enableConfirmations: email.enable_confirmations === true,
    doubleConfirmChanges: email.double_confirm_changes !== false,
    securePasswordChange: email.secure_password_change === true,
    maxFrequencySeconds: parseGoDuration(email.max_frequency ?? "1s"),
    otpLength: Number(email.otp_length ?? 6),
    otpExpirySeconds: Number(email.otp_expiry ?? 3600),
    templates,
    smtp,
    rateLimit: {
      emailSent: Number(rate.email_sent ?? 2),
      signInSignUps: Number(rate.sign_in_sign_ups ?? 30),
      tokenVerifications: Number(rate.token_verifications ?? 30),
      tokenRefresh: Number(rate.token_refresh ?? 150),
    },
    siteUrl: String(auth.site_url ?? "http://127.0.0.1:3000"),
    additionalRedirectUrls: (auth.additional_redirect_urls ?? []).map(String),
  };
}

/**
 * The bench measures how many sign-ups and refreshes the stack can serve, so its profile lifts
 * [auth.rate_limit] (the integration tests hold the limits); everything else is config.toml's.
 */
function benchLimits(profile: Profile, email: AuthEmailConfig): AuthEmailConfig {
  if (profile !== "bench") return email;
  const unlimited = Number.MAX_SAFE_INTEGER;
  return {
    ...email,
    rateLimit: {
      emailSent: unlimited,
      signInSignUps: unlimited,
      tokenVerifications: unlimited,
      tokenRefresh: unlimited,
    },
  };
}

export interface BucketSpec {
  id: string;
  public: boolean;
  fileSizeLimit: number | null;
  allowedMimeTypes: string[] | null;
}

export interface StackConfig {
  profile: Profile;
  dataDir: string;
  pgDataDir: string;
  logDir: string;
  storageDir: string;
  pidFile: string;
  statusFile: string;
  /**
   * api+10 PostgREST, api+11 functions, api+12 PostgREST admin (not listed), api+13 the Stripe
   * stand-in; mail and smtp are the mail catcher's ([local_smtp] port and smtp_port).
   */
  ports: {
    api: number;
    db: number;
    postgrest: number;
    functions: number;
    stripe: number;
    mail: number;
    smtp: number;
  };
  apiUrl: string;
  dbUrl: string;
  /** Connection string for PostgREST (the authenticator role). */
  authenticatorUrl: string;
  jwtSecret: string;
  jwtExpiry: number;
  siteUrl: string;
  /** Origins of site_url and additional_redirect_urls: where the app's pages live. */
  redirectOrigins: string[];
  minimumPasswordLength: number;
  passwordRequirements: string;
  refreshTokenRotation: boolean;
  /** [auth.sessions]: how long a session may be refreshed (stack/auth/sessions.ts). */
  authSessions: SessionBounds;
  enableSignup: boolean;
  maxRows: number;
  schemas: string[];
  extraSearchPath: string[];
  fileSizeLimit: number;
  buckets: BucketSpec[];
  functions: FunctionSpec[];
  /** `pg-functions://postgres/<schema>/<name>` of each enabled auth hook. */
  authHooks: AuthHooks;
  /** Auth's e-mail flows: confirmations, templates, SMTP, rate limits, redirect allow-list. */
  authEmail: AuthEmailConfig;
  /**
   * The local mail catcher, Mailpit's stand-in: its web page and API at `url` (MAILPIT_URL in
   * `supabase status -o env`), its SMTP server at smtpHost:smtpPort.
   */
  mail: { url: string; smtpHost: string; smtpPort: number };
}

/** Supabase's well-known local JWT secret: the demo keys `supabase start` prints are signed with it. */
export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

// deno-lint-ignore no-explicit-any
type Toml = Record<string, any>;

export function readSupabaseConfig(): Toml {
  return parse(readFileSync(join(repoRoot, "supabase", "config.toml"), "utf8")) as Toml;
}

/** [auth.sessions] of config.toml, in seconds; null where there is no bound. */
export interface SessionBounds {
  /** `timebox`: how long a session lives after sign-in. */
  timebox: number | null;
  /** `inactivity_timeout`: how long a session may go unrefreshed. */
  inactivityTimeout: number | null;
}

/** The session bounds of config.toml's [auth.sessions] (Supabase CLI keys timebox, inactivity_timeout). */
export function sessionBoundsOf(auth: Toml | undefined): SessionBounds {
  const sessions = auth?.sessions ?? {};
  // Unset or zero: no bound, as GoTrue reads them.
  const bound = (value: unknown) => {
    const seconds = value === undefined || value === null ? 0 : parseGoDuration(value as string);
    return seconds > 0 ? seconds : null;
  };
  return {
    timebox: bound(sessions.timebox),
    inactivityTimeout: bound(sessions.inactivity_timeout),
  };
}

/** Parses sizes as config.toml writes them: "50MiB", "2MB", "500KB", or a number of bytes. */
export function parseSize(size: string | number): number {
  if (typeof size === "number") return size;
  const match = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/i.exec(size.trim());
  if (!match) throw new Error(`config.toml: cannot read size "${size}"`);
  const units: Record<string, number> = {
    b: 1,
    kb: 1000,
    kib: 1024,
    mb: 1000 ** 2,
    mib: 1024 ** 2,
    gb: 1000 ** 3,
    gib: 1024 ** 3,
  };
  return Math.round(Number(match[1]) * units[(match[2] ?? "b").toLowerCase()]);
}

function stackInstance(): number {
  const raw = process.env.STACK_INSTANCE ?? "0";
  if (!/^[0-9]$/.test(raw)) throw new Error(`STACK_INSTANCE must be a digit 0-9, not "${raw}"`);
  return Number(raw);
}

export function stackConfig(profile: Profile): StackConfig {
  const toml = readSupabaseConfig();
  const instance = stackInstance();
  const shift = { dev: 0, test: 1000, bench: 2000 }[profile] + instance * 100;
  const apiPort = Number(toml.api?.port ?? 54321) + shift;
  const dbPort = Number(toml.db?.port ?? 54322) + shift;
  // [local_smtp] is what the Supabase CLI 3 calls Mailpit's section (it refuses [inbucket]).
  const mailPort = Number(toml.local_smtp?.port ?? 54324) + shift;
  const smtpPort = Number(toml.local_smtp?.smtp_port ?? 54325) + shift;
  const dataDir = join(repoRoot, ".stack", instance ? `${profile}-${instance}` : profile);
  const supabaseDir = join(repoRoot, "supabase");

  const functions: FunctionSpec[] = Object.entries((toml.functions ?? {}) as Toml)
    .filter(([, spec]) => spec.enabled !== false)
    .map(([name, spec]) => ({
      name,
      entrypoint: resolve(supabaseDir, spec.entrypoint ?? `./functions/${name}/index.ts`),
      verifyJwt: spec.verify_jwt !== false,
    }));

  const buckets: BucketSpec[] = Object.entries((toml.storage?.buckets ?? {}) as Toml).map((
    [id, spec],
  ) => ({
    id,
    public: spec.public === true,
    fileSizeLimit: spec.file_size_limit ? parseSize(spec.file_size_limit) : null,
    allowedMimeTypes: spec.allowed_mime_types ?? null,
  }));

  const hookUri = (name: string): string | null => {
    const hook = toml.auth?.hook?.[name];
    return hook?.enabled ? String(hook.uri) : null;
  };

  return {
    profile,
    dataDir,
    pgDataDir: join(dataDir, "pgdata"),
    logDir: join(dataDir, "logs"),
    storageDir: join(dataDir, "storage"),
    pidFile: join(dataDir, "stack.pid"),
    statusFile: join(dataDir, "status.env"),
    ports: {
      api: apiPort,
      db: dbPort,
      postgrest: apiPort + 10,
      functions: apiPort + 11,
      stripe: apiPort + 13,
      mail: mailPort,
      smtp: smtpPort,
    },
    apiUrl: `http://127.0.0.1:${apiPort}`,
    dbUrl: `postgresql://postgres:postgres@127.0.0.1:${dbPort}/postgres`,
    authenticatorUrl: `postgresql://authenticator:postgres@127.0.0.1:${dbPort}/postgres`,
    jwtSecret: LOCAL_JWT_SECRET,
    jwtExpiry: Number(toml.auth?.jwt_expiry ?? 3600),
    siteUrl: String(toml.auth?.site_url ?? "http://127.0.0.1:3000"),
    redirectOrigins: [
      ...new Set(
        [
          toml.auth?.site_url ?? "http://127.0.0.1:3000",
          ...(toml.auth?.additional_redirect_urls ?? []),
        ]
          .map((url: string) => new URL(url).origin),
      ),
    ],
    minimumPasswordLength: Number(toml.auth?.minimum_password_length ?? 6),
    passwordRequirements: String(toml.auth?.password_requirements ?? ""),
    refreshTokenRotation: toml.auth?.enable_refresh_token_rotation !== false,
    authSessions: sessionBoundsOf(toml.auth),
    enableSignup: toml.auth?.enable_signup !== false && toml.auth?.email?.enabled !== false,
    maxRows: Number(toml.api?.max_rows ?? 1000),
    schemas: toml.api?.schemas ?? ["public", "graphql_public"],
    extraSearchPath: toml.api?.extra_search_path ?? ["public", "extensions"],
    fileSizeLimit: parseSize(toml.storage?.file_size_limit ?? "50MiB"),
    buckets,
    functions,
    authHooks: {
      customAccessToken: hookUri("custom_access_token"),
      beforeUserCreated: hookUri("before_user_created"),
    },
    authEmail: benchLimits(profile, authEmailConfig(toml, supabaseDir)),
    mail: { url: `http://127.0.0.1:${mailPort}`, smtpHost: "127.0.0.1", smtpPort },
  };
}
