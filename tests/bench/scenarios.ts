// The benchmark's scenarios. Each measures within one run, as ratios where it can (RLS beside
// service_role, gateway beside PostgREST, duplicates beside none), so the numbers mean
// something on a shared machine; each returns its numbers for the results file and the rows it
// holds to a target (the targets live here, never in timed tests).

import bcrypt from "bcryptjs";
import pg from "pg";
import Stripe from "stripe";
import { checkouts } from "./checkouts.ts";
import { files } from "./files.ts";
import { invoices } from "./invoices.ts";
import { notifications } from "./notifications.ts";
import { ratelimits } from "./ratelimits.ts";
import { realtime } from "./realtime.ts";
import { shop } from "./shop.ts";
import {
  type BenchStack,
  comparePair,
  count,
  cpuPer,
  printMeasured,
  progress,
  seconds,
  seedUsers,
  trustForLoad,
} from "./support.ts";

export interface Check {
  /** What is measured, e.g. "profiles: authenticated / service_role". */
  row: string;
  value: number;
  unit: string;
  /** The target: value must be at least `min` or below `below`; neither: measured, no target. */
  min?: number;
  below?: number;
}

export interface ScenarioResult {
  numbers: Record<string, unknown>;
  checks: Check[];
}

export interface Scenario {
  name: string;
  describe: string;
  run(stack: BenchStack, db: pg.Client): Promise<ScenarioResult>;
}

/** What an RLS read (or any ratio) must reach, as a fraction of the unrestricted side. */
export const RATIO_TARGET = 0.9;

const PROFILES = 10_000;
const PROJECTS = 100_000;
const SIGNUP_DB_USERS = 10_000;
/** A schema that makes sign-up slow stops the count here rather than the benchmark. */
const SIGNUP_DB_SECONDS = 60;
const SIGNUP_HTTP_SECONDS = 10;
const SIGNUP_HTTP_CLIENTS = 8;
const WEBHOOK_EVENTS = 2_000;
const WEBHOOK_ACCOUNTS = 500;
const WEBHOOK_CONCURRENCY = 20;
/** What Supabase Auth hashes passwords with: golang.org/x/crypto/bcrypt's DefaultCost. */
const BCRYPT_COST = 10;

/**
 * A confirmed user signed in with a password: created through Auth's admin API (sign-up
 * confirmations are on, so /auth/v1/signup answers without a session), then the password
 * grant, as a client signs in. Answers the session's tokens.
 */
async function signedInSession(
  stack: BenchStack,
  email: string,
): Promise<{ access_token: string; refresh_token: string }> {
  const password = "Bench-Password-1";
  const created = await fetch(`${stack.apiUrl}/auth/v1/admin/users`, {
    method: "POST",
    headers: {
      apikey: stack.serviceRoleKey,
      authorization: `Bearer ${stack.serviceRoleKey}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ email, password, email_confirm: true }),
  });
  if (!created.ok) {
    throw new Error(`creating ${email} failed: ${created.status} ${await created.text()}`);
  }
  await trustForLoad(stack, ((await created.json()) as { id: string }).id);
  const response = await fetch(`${stack.apiUrl}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { apikey: stack.anonKey, "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) throw new Error(`sign-in failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { access_token: string; refresh_token: string };
}

/** The reader every RLS scenario signs in as: an ordinary user holding no role. */
async function signedInUser(stack: BenchStack): Promise<string> {
  return (await signedInSession(stack, `bench-reader-${Date.now()}@example.com`)).access_token;
}

/**
 * An RLS read as a signed-in user beside the same request as service_role (which bypasses
 * RLS). Below the target, prints the plan PostgREST runs for the user (EXPLAIN ANALYZE through
 * PostgREST's plan media type), so the cause is on the screen. `target: null` measures the
 * ratio without holding it to one.
 */
async function rlsRead(
  stack: BenchStack,
  name: string,
  path: string,
  target: number | null = RATIO_TARGET,
): Promise<ScenarioResult> {
  const userToken = await signedInUser(stack);
  const url = `${stack.apiUrl}${path}`;
  const asUser = { apikey: stack.anonKey, authorization: `Bearer ${userToken}` };
  const asService = {
    apikey: stack.serviceRoleKey,
    authorization: `Bearer ${stack.serviceRoleKey}`,
  };
  const [user, service] = await comparePair(name, stack, [
    { name: "authenticated", url, headers: asUser },
    { name: "service_role", url, headers: asService },
  ]);
  printMeasured("authenticated (RLS)", user);
  printMeasured("service_role (no RLS)", service);
  const ratio = user.requestsPerSecond / service.requestsPerSecond;
  console.log(`  ratio ${ratio.toFixed(2)}${target === null ? "" : ` (target >= ${target})`}`);
  if (target !== null && ratio < target) {
    const plan = await fetch(url, {
      headers: {
        ...asUser,
        accept: "application/vnd.pgrst.plan+text; options=analyze|buffers",
      },
    });
    console.log(
      `  below target: the plan PostgREST runs as the signed-in user:\n${
        (await plan.text()).replace(/^/gm, "    ")
      }`,
    );
  }
  return {
    numbers: { authenticated: user, service_role: service, ratio },
    checks: [{
      row: `${name}: authenticated / service_role`,
      value: ratio,
      unit: "x",
      ...(target === null ? {} : { min: target }),
    }, {
      // A side that fails answers fast: its rate means nothing, and neither does the ratio.
      row: `${name}: failed requests`,
      value: user.errors + service.errors,
      unit: "",
      below: 1,
    }],
  };
}

const PROFILE_COLUMNS = "select=id,username,display_name,bio&order=created_at.desc&limit=20";

/**
 * Listing profiles as other users see them reads the read model, public_profiles
 * (docs/api-map.md): a table of the public, active profiles kept by a trigger, whose one
 * policy is "anyone", so a signed-in read plans nothing about the caller. The same list
 * straight from the profiles table is measured beside it without a target: what its policy's
 * owner and staff terms (two initplans, planned on every request) cost each signed-in read of
 * the table, which owners and staff read.
 */
const profiles: Scenario = {
  name: "profiles",
  describe: `listing 20 of ${count(PROFILES)} profiles (80% public), newest first: through ` +
    "public_profiles (the read model other users list), then straight from the profiles table",
  async run(stack, db) {
    await seedUsers(db, "bench", PROFILES);
    await db.query("update public.profiles set is_public = (random() < 0.8)");
    await db.query("analyze public.profiles");
    const listing = await rlsRead(stack, "profiles", `/rest/v1/public_profiles?${PROFILE_COLUMNS}`);
    const table = await rlsRead(
      stack,
      "profiles table",
      `/rest/v1/profiles?${PROFILE_COLUMNS}`,
      null,
    );
    return {
      numbers: { public_profiles: listing.numbers, table: table.numbers },
      checks: [...listing.checks, ...table.checks],
    };
  },
};

const projects: Scenario = {
  name: "projects",
  describe: `listing open projects (text search, budget range, keyset order) among ${
    count(PROJECTS)
  } projects of 1,000 designers`,
  async run(stack, db) {
    await seedUsers(db, "designer", 1_000);
    const line = progress(`  seeding ${count(PROJECTS)} projects`);
    const begun = performance.now();
    const batch = 10_000;
    for (let done = 0; done < PROJECTS; done += batch) {
      // Statuses as a live marketplace has them: most open, the rest closed or under way.
      await db.query(
        `with designers as (select array_agg(id order by id) ids from public.profiles p
                             where exists (select 1 from auth.users u where u.id = p.id and u.email like 'designer-%'))
         insert into public.projects (owner_id, title, description, budget_amount, currency, deadline, status, created_at)
         select ids[1 + (i % 1000)],
                (array['Wool', 'Linen', 'Silk', 'Denim', 'Tweed'])[1 + i % 5] || ' ' ||
                (array['coat', 'shirt', 'dress', 'jacket', 'trousers', 'skirt'])[1 + i % 6] || ' #' || i,
                'Made to measure, lined, with hand finishing. Request ' || i,
                1000 + (i * 7919) % 200000, (array['EUR', 'USD', 'GBP'])[1 + i % 3],
                current_date + 30, case when i % 10 < 7 then 'open' when i % 10 < 9 then 'closed' else 'in_progress' end,
                now() - make_interval(secs => i)
         from designers, generate_series($1::int, $2::int) as i`,
        [done + 1, Math.min(done + batch, PROJECTS)],
      );
      line.update(`${count(Math.min(done + batch, PROJECTS))}/${count(PROJECTS)}`);
    }
    line.done(`done in ${seconds(performance.now() - begun)}`);
    await db.query("analyze public.projects");
    return await rlsRead(
      stack,
      "projects",
      "/rest/v1/projects?select=id,title,budget_amount,currency,deadline,created_at" +
        "&status=eq.open&search=wfts(simple).coat&budget_amount=gte.20000&budget_amount=lte.120000" +
        "&order=created_at.desc,id.desc&limit=20",
    );
  },
};

const gateway: Scenario = {
  name: "gateway",
  describe: "the same PostgREST read (the country list, as anon) through the gateway and directly",
  async run(stack) {
    const query = "/countries?select=code&order=code&limit=50";
    const [through, direct] = await comparePair("gateway", stack, [
      {
        name: "gateway",
        url: `${stack.apiUrl}/rest/v1${query}`,
        headers: { apikey: stack.anonKey },
      },
      {
        name: "PostgREST",
        url: `${stack.postgrestUrl}${query}`,
        headers: { authorization: `Bearer ${stack.anonKey}` },
      },
    ]);
    printMeasured("through the gateway", through);
    printMeasured("PostgREST directly", direct);
    const ratio = through.requestsPerSecond / direct.requestsPerSecond;
    console.log(`  ratio ${ratio.toFixed(2)} (target >= ${RATIO_TARGET})`);
    return {
      numbers: { gateway: through, postgrest: direct, ratio },
      checks: [{
        row: "gateway: through it / PostgREST directly",
        value: ratio,
        unit: "x",
        min: RATIO_TARGET,
      }],
    };
  },
};

/**
 * Sign-up. First the database's part, as Supabase Auth does it for each user (one transaction:
 * the auth.users row, whose trigger creates the profile rows, and its identity), timed per user
 * with the functions that took the time. Then sign-ups per second through /auth/v1/signup,
 * where bcrypt dominates, beside token refreshes per second, which hash nothing.
 */
const signup: Scenario = {
  name: "signup",
  describe: `the database's work per new user (${
    count(SIGNUP_DB_USERS)
  } users as Supabase Auth inserts them), and sign-ups beside token refreshes per second over HTTP`,
  async run(stack, db) {
    // Per-function times come from pg_stat_user_functions, for this session's work only.
    await db.query("set track_functions = 'all'");
    const before = await functionTimes(db);
    const line = progress(`  creating ${count(SIGNUP_DB_USERS)} users, one transaction each`);
    const begun = performance.now();
    const deadline = begun + SIGNUP_DB_SECONDS * 1000;
    let users = 0;
    for (let i = 1; i <= SIGNUP_DB_USERS && performance.now() < deadline; i++) {
      await db.query(
        `with u as (
           insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                                   raw_app_meta_data, raw_user_meta_data, is_super_admin, created_at, updated_at,
                                   confirmation_token, recovery_token, email_change_token_new, email_change, is_anonymous)
           values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated', $1, '', now(),
                   '{"provider": "email", "providers": ["email"]}', $2, false, now(), now(), '', '', '', '', false)
           returning id, email)
         insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
         select u.id, u.id, jsonb_build_object('sub', u.id, 'email', u.email, 'email_verified', true, 'phone_verified', false),
                'email', now(), now(), now()
         from u`,
        [`signup-db-${i}@example.com`, {
          first_name: "Bench",
          last_name: `User ${i}`,
          locale: "en",
        }],
      );
      users = i;
      if (i % 500 === 0) {
        line.update(
          `${count(i)}/${count(SIGNUP_DB_USERS)} (${
            ((performance.now() - begun) / i).toFixed(2)
          } ms/user)`,
        );
      }
    }
    const elapsed = performance.now() - begun;
    const msPerUser = elapsed / users;
    line.done(
      `${count(users)} users in ${seconds(elapsed)}: ${msPerUser.toFixed(3)} ms per user${
        users < SIGNUP_DB_USERS ? ` (stopped after ${SIGNUP_DB_SECONDS} s)` : ""
      }`,
    );
    const after = await functionTimes(db);
    const functions = [...after.entries()]
      .map(([name, ms]) => ({ name, msPerUser: (ms - (before.get(name) ?? 0)) / users }))
      .filter((f) => f.msPerUser > 0)
      .sort((a, b) => b.msPerUser - a.msPerUser)
      .slice(0, 5);
    console.log("  where the time went (functions, total time per user, pg_stat_user_functions):");
    for (const f of functions) {
      console.log(`    ${f.name.padEnd(44)} ${f.msPerUser.toFixed(3)} ms`);
    }
    await db.query("reset track_functions");

    // One hash, here, with the library and cost the Auth stand-in uses.
    const hashBegun = performance.now();
    await bcrypt.hash("Bench-Password-1", BCRYPT_COST);
    const hashMs = performance.now() - hashBegun;
    const { signupsPerSecond, refreshTokens, failed: signupsFailed } = await httpSignups(stack);
    const refreshesPerSecond = await tokenRefreshes(stack, refreshTokens);
    console.log(
      `  /auth/v1/signup            ${
        signupsPerSecond.toFixed(1).padStart(7)
      } sign-ups/s (${SIGNUP_HTTP_CLIENTS} clients; bcrypt cost ${BCRYPT_COST}, as Supabase Auth: one hash ${
        hashMs.toFixed(0)
      } ms here)`,
    );
    console.log(
      `  /auth/v1/token (refresh)   ${
        refreshesPerSecond.toFixed(1).padStart(7)
      } refreshes/s (${SIGNUP_HTTP_CLIENTS} clients, rotating)`,
    );
    return {
      numbers: {
        users,
        dbMsPerUser: msPerUser,
        functions,
        bcryptCost: BCRYPT_COST,
        bcryptHashMs: hashMs,
        signupsPerSecond,
        refreshesPerSecond,
      },
      checks: [
        { row: "sign-up: database work per user", value: msPerUser, unit: "ms", below: 1 },
        {
          row: "sign-up: failed /auth/v1/signup requests",
          value: signupsFailed,
          unit: "",
          below: 1,
        },
      ],
    };
  },
};

async function functionTimes(db: pg.Client): Promise<Map<string, number>> {
  // Make this backend's counters visible before reading them.
  await db.query("select pg_stat_force_next_flush()");
  await db.query("select pg_stat_clear_snapshot()");
  const { rows } = await db.query<{ name: string; total: number }>(
    `select schemaname || '.' || funcname as name, sum(total_time)::float8 as total
     from pg_stat_user_functions group by 1`,
  );
  return new Map(rows.map((r) => [r.name, r.total]));
}

async function httpSignups(
  stack: BenchStack,
): Promise<{ signupsPerSecond: number; refreshTokens: string[]; failed: number }> {
  const line = progress(`  /auth/v1/signup for ${SIGNUP_HTTP_SECONDS} s`);
  const refreshTokens: string[] = [];
  let done = 0;
  let failed = 0;
  const begun = performance.now();
  const deadline = begun + SIGNUP_HTTP_SECONDS * 1000;
  await Promise.all(Array.from({ length: SIGNUP_HTTP_CLIENTS }, async (_, client) => {
    for (let n = 0; performance.now() < deadline; n++) {
      const response = await fetch(`${stack.apiUrl}/auth/v1/signup`, {
        method: "POST",
        headers: { apikey: stack.anonKey, "content-type": "application/json" },
        body: JSON.stringify({
          email: `signup-http-${client}-${n}@example.com`,
          password: "Bench-Password-1",
          data: { first_name: "Bench", last_name: `Client ${client}` },
        }),
      });
      // Confirmations are on: a sign-up answers the new user (and mails the link), no session.
      const body = await response.json() as { id?: string };
      if (response.ok && body.id) done += 1;
      else failed += 1;
      line.update(`${done} signed up, ${failed} failed`);
    }
  }));
  const signupsPerSecond = done / ((performance.now() - begun) / 1000);
  line.done(`${done} signed up, ${failed} failed`);
  for (let client = 0; client < SIGNUP_HTTP_CLIENTS; client++) {
    const session = await signedInSession(
      stack,
      `refresh-http-${client}-${Date.now()}@example.com`,
    );
    refreshTokens.push(session.refresh_token);
  }
  return { signupsPerSecond, refreshTokens, failed };
}

async function tokenRefreshes(stack: BenchStack, tokens: string[]): Promise<number> {
  const line = progress(`  /auth/v1/token?grant_type=refresh_token for ${SIGNUP_HTTP_SECONDS} s`);
  let done = 0;
  let failed = 0;
  const begun = performance.now();
  const deadline = begun + SIGNUP_HTTP_SECONDS * 1000;
  await Promise.all(tokens.map(async (first) => {
    let token = first;
    while (performance.now() < deadline) {
      const response = await fetch(`${stack.apiUrl}/auth/v1/token?grant_type=refresh_token`, {
        method: "POST",
        headers: { apikey: stack.anonKey, "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: token }),
      });
      const body = await response.json() as { refresh_token?: string };
      if (!response.ok || !body.refresh_token) {
        failed += 1;
        break; // a rotated-away token cannot be used again: this client is done
      }
      token = body.refresh_token;
      done += 1;
      line.update(`${done} refreshed, ${failed} failed`);
    }
  }));
  const perSecond = done / ((performance.now() - begun) / 1000);
  line.done(`${done} refreshed, ${failed} failed`);
  return perSecond;
}

/**
 * Webhook throughput: signed account.updated events (each a real lookup and update of a
 * seller's payment account) posted to stripe-webhook by WEBHOOK_CONCURRENCY senders. The
 * stream with duplicates repeats 10% of its events, as Stripe's at-least-once delivery does.
 */
const webhooks: Scenario = {
  name: "webhooks",
  describe: `${
    count(WEBHOOK_EVENTS)
  } signed account.updated events for ${WEBHOOK_ACCOUNTS} accounts, ${WEBHOOK_CONCURRENCY} senders, with 10% duplicates beside none`,
  async run(stack, db) {
    // Null when functions/.env points the functions at real Stripe without a webhook secret:
    // events signed with anything else would all be refused, and the numbers would mean nothing.
    const secret = stack.webhookSecret;
    if (!secret) {
      throw new Error(
        "STRIPE_WEBHOOK_SECRET is not set in functions/.env (which sets STRIPE_SECRET_KEY): the webhook benchmark signs its events with it; set it, or run `npm run bench -- <scenario>` without webhooks",
      );
    }
    const { rows: [{ n }] } = await db.query<{ n: number }>(
      "select count(*)::int n from public.profiles p where not exists (select 1 from public.seller_payment_accounts a where a.user_id = p.id)",
    );
    if (n < WEBHOOK_ACCOUNTS) await seedUsers(db, "bench-seller", WEBHOOK_ACCOUNTS);
    const { rows } = await db.query<{ stripe_account_id: string }>(
      `insert into public.seller_payment_accounts (user_id, stripe_account_id)
       select id, 'acct_bench' || substr(md5(id::text), 1, 16) from public.profiles p
       where not exists (select 1 from public.seller_payment_accounts a where a.user_id = p.id)
       limit $1
       returning stripe_account_id`,
      [WEBHOOK_ACCOUNTS],
    );
    const url = `${stack.apiUrl}/functions/v1/stripe-webhook`;
    const stripe = new Stripe("sk_test_bench");
    let sequence = 0;
    const event = (stream: string) => {
      sequence += 1;
      return JSON.stringify({
        id: `evt_bench_${stream}_${sequence}`,
        object: "event",
        api_version: "2026-10-28.endive",
        created: 1_800_000_000 + sequence,
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type: "account.updated",
        data: {
          object: {
            id: rows[sequence % rows.length].stripe_account_id,
            object: "account",
            charges_enabled: sequence % 2 === 0,
            payouts_enabled: true,
            details_submitted: true,
            capabilities: { transfers: "active" },
            requirements: {
              currently_due: [],
              eventually_due: [],
              past_due: [],
              disabled_reason: null,
            },
            country: "DE",
            default_currency: "eur",
          },
        },
      });
    };
    const measure = async (name: string, payloads: string[]) => {
      const line = progress(`  ${name}`);
      let next = 0;
      let errors = 0;
      const cpuBefore = stack.cpu();
      const begun = performance.now();
      await Promise.all(Array.from({ length: WEBHOOK_CONCURRENCY }, async () => {
        while (next < payloads.length) {
          const payload = payloads[next++];
          const response = await fetch(url, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "stripe-signature": stripe.webhooks.generateTestHeaderString({ payload, secret }),
            },
            body: payload,
          });
          if (!response.ok) errors += 1;
          await response.arrayBuffer();
          if (next % 100 === 0) line.update(`${next}/${payloads.length}`);
        }
      }));
      const perSecond = payloads.length / ((performance.now() - begun) / 1000);
      line.done(`${perSecond.toFixed(0).padStart(7)} events/s   errors ${errors}`);
      const cpu = cpuPer(cpuBefore, stack.cpu(), payloads.length);
      if (cpu) console.log(`    CPU per event: ${cpu}`);
      return perSecond;
    };
    const unique = Array.from({ length: WEBHOOK_EVENTS }, () => event("unique"));
    const fresh = Array.from({ length: WEBHOOK_EVENTS * 0.9 }, () => event("dup"));
    // Every tenth delivery repeats an event already sent, as a retry from Stripe would.
    const withDuplicates = fresh.flatMap((
      payload,
      i,
    ) => (i % 9 === 8 ? [payload, fresh[i - 4]] : [payload]));
    // Warm the function, its clients and the database's caches before timing anything.
    await measure("warm-up", Array.from({ length: 200 }, () => event("warm")));
    const plain = await measure("no duplicates", unique);
    const duplicated = await measure("10% duplicates", withDuplicates);
    const ratio = duplicated / plain;
    console.log(`  with 10% duplicates / without: ${ratio.toFixed(2)}`);
    return {
      numbers: { uniquePerSecond: plain, duplicatesPerSecond: duplicated, ratio },
      checks: [
        { row: "webhooks: unique events per second", value: plain, unit: "/s", min: 500 },
        { row: "webhooks: with duplicates / without", value: ratio, unit: "x", min: 1 },
      ],
    };
  },
};

export const scenarios: Scenario[] = [
  profiles,
  projects,
  gateway,
  webhooks,
  signup,
  realtime,
  notifications,
  shop,
  checkouts,
  invoices,
  ratelimits,
  files,
];
