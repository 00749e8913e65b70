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
  /** api+10 PostgREST, api+11 functions, api+12 PostgREST admin (not listed), api+13 the Stripe stand-in. */
  ports: { api: number; db: number; postgrest: number; functions: number; stripe: number };
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
  enableSignup: boolean;
  maxRows: number;
  schemas: string[];
  extraSearchPath: string[];
  fileSizeLimit: number;
  buckets: BucketSpec[];
  functions: FunctionSpec[];
  /** `pg-functions://postgres/<schema>/<name>` of each enabled auth hook. */
  authHooks: AuthHooks;
}

/** Supabase's well-known local JWT secret: the demo keys `supabase start` prints are signed with it. */
export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

// deno-lint-ignore no-explicit-any
type Toml = Record<string, any>;

export function readSupabaseConfig(): Toml {
  return parse(readFileSync(join(repoRoot, "supabase", "config.toml"), "utf8")) as Toml;
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
  };
}
