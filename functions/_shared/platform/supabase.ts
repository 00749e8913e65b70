// The Supabase clients a function may use, typed with the generated Database types so an
// RPC's name, arguments and result, and a table's columns, are checked by `deno check`.
// serviceClient() bypasses row-level security, so this is the one place it is made: grep for
// serviceClient to find every use of it.
import {
  createClient,
  isAuthRetryableFetchError,
  type SupabaseClient,
  type User,
} from "npm:@supabase/supabase-js@2.119.1";
import type { Database } from "../../../types/database.ts";
import { HttpError } from "../http/errors.ts";
import { env } from "./env.ts";

/** A Supabase client typed with the project's schema. */
export type Client = SupabaseClient<Database>;

// A function serves one request at a time with no browser around it: no session to
// store, refresh or read from the URL.
const serverAuth = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
};

/** A client with the service role: it bypasses RLS, so check the caller's rights first. */
export function serviceClient(): Client {
  const { SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY } = env();
  return createClient<Database>(SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY, serverAuth);
}

/** A client that acts as the caller: their Authorization header goes with every request. */
export function userClient(req: Request): Client {
  const { SUPABASE_URL, SUPABASE_ANON_KEY } = env();
  const authorization = req.headers.get("Authorization");
  return createClient<Database>(SUPABASE_URL, SUPABASE_ANON_KEY, {
    ...serverAuth,
    global: { headers: authorization ? { Authorization: authorization } : {} },
  });
}

/**
 * A client acting as the caller for the rate limit check (platform/limits.ts): their
 * Authorization header, or none (the anon key), and the client's X-Forwarded-For passed on, so
 * the database counts a signed-out caller by their address.
 */
export function callerClient(req: Request): Client {
  const { SUPABASE_URL, SUPABASE_ANON_KEY } = env();
  const headers: Record<string, string> = {};
  const authorization = req.headers.get("Authorization");
  if (authorization) headers.Authorization = authorization;
  const forwarded = req.headers.get("X-Forwarded-For");
  if (forwarded) headers["X-Forwarded-For"] = forwarded;
  return createClient<Database>(SUPABASE_URL, SUPABASE_ANON_KEY, {
    ...serverAuth,
    global: { headers },
  });
}

/**
 * A client with the anon key and no caller: for signing in from the function itself, as
 * re-authentication does. Its session lives only in this client, never in the caller's.
 */
export function anonClient(): Client {
  const { SUPABASE_URL, SUPABASE_ANON_KEY } = env();
  return createClient<Database>(SUPABASE_URL, SUPABASE_ANON_KEY, serverAuth);
}

function bearerToken(req: Request): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.get("Authorization") ?? "");
  return match ? match[1] : null;
}

/**
 * Whether the request carries the service-role key itself: how scheduled jobs (pg_cron through
 * pg_net) and the admin CLI call the functions' service-only paths. Only the exact key counts;
 * a user's token, whatever its claims, does not.
 */
export function isServiceRole(req: Request): boolean {
  return bearerToken(req) === env().SUPABASE_SERVICE_ROLE_KEY;
}

/**
 * The signed-in caller, as Supabase Auth knows them, and a client acting as them. Functions
 * are not given the JWT secret, so Auth itself checks the token; the anon key and
 * signed-out sessions are refused with 401.
 */
export async function requireUser(req: Request): Promise<{ user: User; client: Client }> {
  const token = bearerToken(req);
  if (!token) throw new HttpError("unauthorized", "Sign in to use this function");
  const client = userClient(req);
  const { data, error } = await client.auth.getUser(token);
  // Auth being unreachable or failing is the server's fault, not the caller's: let it be a 500.
  if (error && isAuthRetryableFetchError(error)) throw error;
  if (error || !data.user) {
    throw new HttpError("unauthorized", "The session is invalid or has expired");
  }
  return { user: data.user, client };
}
