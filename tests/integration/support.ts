// What every integration test needs: the project's URL and keys from the environment (as
// `supabase status -o env` prints them, so the same tests run against `supabase start`),
// and clients for fresh users. Black-box: supabase-js and HTTP only, except withDatabase,
// for moving a clock no API may move.

import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import pg from "pg";
import Stripe from "stripe";
import { expect } from "vitest";
import ws from "ws";
import type { Database } from "../../types/database.ts";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the tests through \`npm test\`, or export it from \`npx supabase status -o env\``,
    );
  }
  return value;
}

export const SUPABASE_URL = required("SUPABASE_URL");
export const ANON_KEY = required("SUPABASE_ANON_KEY");
export const SERVICE_ROLE_KEY = required("SUPABASE_SERVICE_ROLE_KEY");

export type Client = SupabaseClient<Database>;

export function client(key = ANON_KEY): Client {
  return createClient<Database>(SUPABASE_URL, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    // Node 20 has no global WebSocket for the realtime client.
    realtime: { transport: ws as never },
  });
}

export const admin = () => client(SERVICE_ROLE_KEY);

export const PASSWORD = "Correct-Horse-9";

export function uniqueEmail(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}@example.com`;
}

export interface TestUser {
  id: string;
  email: string;
  client: Client;
  accessToken: string;
}

/** Signs a new user up through Supabase Auth and returns a client acting as them. */
export async function signUp(label: string, data: Record<string, unknown> = {}): Promise<TestUser> {
  const c = client();
  const email = uniqueEmail(label);
  const { data: result, error } = await c.auth.signUp({
    email,
    password: PASSWORD,
    options: { data },
  });
  if (error) throw error;
  if (!result.user || !result.session) {
    throw new Error("sign-up returned no session: are e-mail confirmations on?");
  }
  return { id: result.user.id, email, client: c, accessToken: result.session.access_token };
}

export const signIn = (email: string) =>
  client().auth.signInWithPassword({ email, password: PASSWORD });

/** The claims of an access token (no verification: the server already did). */
export function claimsOf(
  token: string,
): { app_metadata: { roles?: string[]; [key: string]: unknown } } {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}

// The smallest valid PNG: one transparent pixel.
export const TINY_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=",
  "base64",
);

/**
 * Calls an edge function as the client's signed-in user (or anonymously) and returns the
 * HTTP status and parsed body whatever they are: tests assert on both, error bodies too.
 */
export async function callFunction(
  c: Client,
  name: string,
  body?: unknown,
  method = "POST",
): Promise<{ status: number; body: any }> {
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

/** Publishes a service of the provider's with one active package; returns both ids. */
export async function publishService(
  provider: TestUser,
  service: { title: string; category: string; tags?: string[]; description?: string },
  pkg: {
    name: string;
    price_amount: number;
    currency: string;
    delivery_days: number;
    revisions?: number | null;
  } = {
    name: "Basic",
    price_amount: 5000,
    currency: "USD",
    delivery_days: 7,
  },
): Promise<{ serviceId: string; packageId: string }> {
  const created = await provider.client.from("services").insert({ ...service, is_published: true })
    .select("id").single();
  if (created.error) throw created.error;
  const added = await provider.client.from("service_packages").insert({
    service_id: created.data.id,
    ...pkg,
  }).select("id").single();
  if (added.error) throw added.error;
  return { serviceId: created.data.id, packageId: added.data.id };
}

/** Drives an order through the real functions: paid (service role), delivered, approved. */
export async function completeOrder(
  orderId: string,
  seller: TestUser,
  buyer: TestUser,
): Promise<void> {
  for (
    const { error } of [
      await admin().rpc("record_order_payment", { order_id: orderId }),
      await seller.client.rpc("submit_delivery", { order_id: orderId, message: "Delivered" }),
      await buyer.client.rpc("approve_delivery", { order_id: orderId }),
    ]
  ) {
    if (error) throw error;
  }
}

/** The Stripe SDK pointed at the stack's Stripe stand-in (STRIPE_API_BASE), as the functions are. */
export function stripeSdk(key = process.env.STRIPE_SECRET_KEY ?? ""): Stripe {
  const base = new URL(process.env.STRIPE_API_BASE ?? "http://127.0.0.1:1");
  return new Stripe(key, {
    host: base.hostname,
    port: Number(base.port),
    protocol: "http",
    maxNetworkRetries: 0,
  });
}

/** Calls one of the Stripe stand-in's /_test/ endpoints (simulations and webhook controls). */
export async function stripeControl(
  path: string,
  body?: unknown,
  method = body === undefined ? "GET" : "POST",
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${process.env.STRIPE_API_BASE}/_test/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** Waits until the stand-in has delivered every pending webhook event. */
export async function drainWebhooks(): Promise<void> {
  const { status, body } = await stripeControl("webhooks/drain", { timeout_ms: 20_000 });
  expect(status, JSON.stringify(body)).toBe(200);
}

/**
 * A commission order awaiting payment, made the way clients make one: the designer posts a
 * project, the tailor bids `amount`, the designer accepts (accept-bid), both approve the
 * requirements. Returns the order's id.
 */
export async function orderAwaitingPayment(
  designer: TestUser,
  tailor: TestUser,
  amount: number,
  currency = "EUR",
): Promise<string> {
  const project = await designer.client
    .from("projects")
    .insert({ title: "A commissioned coat", budget_amount: amount, currency })
    .select("id")
    .single();
  if (project.error) throw project.error;
  const bid = await tailor.client
    .from("bids")
    .insert({ project_id: project.data.id, amount, duration_days: 14 })
    .select("id")
    .single();
  if (bid.error) throw bid.error;
  const accepted = await callFunction(designer.client, "accept-bid", { bid_id: bid.data.id });
  if (accepted.status !== 201) {
    throw new Error(`accept-bid answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  }
  const orderId: string = accepted.body.order.id;
  for (const user of [designer, tailor]) {
    const { error } = await user.client.rpc("approve_requirements", { order_id: orderId });
    if (error) throw error;
  }
  return orderId;
}

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the admin CLI (`tsx scripts/admin.ts <args>`) with the project's URL and service-role key. */
export function runAdminCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const { ADMIN_ACTOR: _, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    execFile(
      `${repoRoot}node_modules/.bin/tsx`,
      ["scripts/admin.ts", ...args],
      {
        cwd: repoRoot,
        env: { ...inherited, SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY, ...env },
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") return reject(error);
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

/** A new user holding a role (granted with the service role), signed in again so their token carries it. */
export async function signUpWithRole(label: string, role: string): Promise<TestUser> {
  const user = await signUp(label);
  const { data, error } = await admin().from("roles").select("id").eq("name", role).single();
  if (error) throw error;
  await admin().from("user_roles").insert({ user_id: user.id, role_id: data.id }).throwOnError();
  const signedIn = await user.client.auth.signInWithPassword({
    email: user.email,
    password: PASSWORD,
  });
  if (signedIn.error) throw signedIn.error;
  return { ...user, accessToken: signedIn.data.session.access_token };
}

/** A seller who has set up payouts (payments-onboard) and finished Stripe's onboarding at the stand-in. */
export async function signUpOnboardedSeller(label: string): Promise<TestUser> {
  const seller = await signUp(label, { is_tailor: true });
  const onboard = await callFunction(seller.client, "payments-onboard", {
    return_url: "http://127.0.0.1:3000/payouts/done",
    refresh_url: "http://127.0.0.1:3000/payouts/retry",
  });
  expect(onboard.status, JSON.stringify(onboard.body)).toBe(201);
  await stripeControl(`accounts/${onboard.body.account_id}/onboard`, {});
  await drainWebhooks();
  return seller;
}

/**
 * A direct connection to the project's database (SUPABASE_DB_URL: `npm test` sets it; it is
 * DB_URL in `supabase status -o env`), for what no API may do, like making two weeks pass
 * since a delivery. Tests use it for time only, never to read or check results.
 */
export async function withDatabase<T>(work: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: required("SUPABASE_DB_URL") });
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
