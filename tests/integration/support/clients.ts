// What every integration test needs: the project's URL and keys from the environment (as
// `supabase status -o env` prints them, so the same tests run against `supabase start`),
// clients for them, edge function calls, and waiting. Black-box: supabase-js and HTTP only,
// except withDatabase, for moving a clock no API may move.

import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import pg from "pg";
import ws from "ws";
import type { Database } from "../../../types/database.ts";

/**
 * The value of a required environment variable; fails loudly, naming it, when it is unset or
 * empty (a secret must never quietly become "").
 */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the tests through \`npm test\`, or export it from \`npm run status\` (the local stack) or \`npx supabase status -o env\``,
    );
  }
  return value;
}

export const SUPABASE_URL = requireEnv("SUPABASE_URL");
export const ANON_KEY = requireEnv("SUPABASE_ANON_KEY");
export const SERVICE_ROLE_KEY = requireEnv("SUPABASE_SERVICE_ROLE_KEY");

export type Client = SupabaseClient<Database>;

export function client(key = ANON_KEY): Client {
  return createClient<Database>(SUPABASE_URL, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    // Node 20 has no global WebSocket for the realtime client.
    realtime: { transport: ws as never },
  });
}

export const admin = () => client(SERVICE_ROLE_KEY);

/**
 * A parsed JSON response body. Tests read into bodies of every shape and assert on what they
 * find, so a failed expectation is the check; typing each body would only restate it.
 */
// deno-lint-ignore no-explicit-any -- see above: response bodies of every shape, checked by expect
export type JsonBody = any;

/**
 * Calls an edge function as the client's signed-in user (or anonymously) and returns the
 * HTTP status and parsed body whatever they are: tests assert on both, error bodies too.
 */
export async function callFunction(
  c: Client,
  name: string,
  body?: unknown,
  method = "POST",
): Promise<{ status: number; body: JsonBody }> {
  const { data } = await c.auth.getSession();
  const response = await fetch(`${SUPABASE_URL}/functions/v1/${name}`, {
    method,
    headers: {
      apikey: ANON_KEY,
      Authorization: `Bearer ${data.session?.access_token ?? ANON_KEY}`,
      "Content-Type": "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/**
 * A direct connection to the project's database (SUPABASE_DB_URL: `npm test` sets it; it is
 * DB_URL in `supabase status -o env`), for what no API may do, like making two weeks pass
 * since a delivery, or holding a row lock so that two requests queue behind it in a known
 * order (bids_edits_race_acceptance). Tests use it for time and such gates only, never to
 * read or check results.
 */
export async function withDatabase<T>(work: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: requireEnv("SUPABASE_DB_URL") });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

/** Polls until `probe` returns something other than undefined, or fails after timeoutMs. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
