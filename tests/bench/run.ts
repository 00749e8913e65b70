// `npm run bench`: load tests against an isolated local stack (the `test` profile's ports),
// measured as ratios within one run so the numbers mean something on any machine.
// Each scenario is a representative RLS-protected read as a signed-in user, beside the same
// query as service_role (which bypasses RLS); the ratio is what the policies cost.
// `npm run bench -- projects` runs one scenario.

import autocannon from "autocannon";
import Stripe from "stripe";
import pg from "pg";
import { stackConfig } from "../../stack/config.ts";
import { startStack } from "../../stack/stack.ts";

const PROFILES = 10_000;
const PROJECTS = 100_000;
const WEBHOOK_EVENTS = 2_000;
const WEBHOOK_ACCOUNTS = 500;
const WEBHOOK_CONCURRENCY = 20;
const CONNECTIONS = 50;
const DURATION_SECONDS = 10;

interface Measured {
  name: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(name: string, url: string, headers: Record<string, string>): Promise<Measured> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION_SECONDS,
    headers,
  });
  const errors = result.errors + result.non2xx;
  return {
    name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors,
  };
}

/** Users made as Supabase Auth makes them; the sign-up trigger creates their profiles. */
async function seedUsers(db: pg.Client, prefix: string, count: number): Promise<void> {
  await db.query(
    `insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                             raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
     select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
            $1 || '-' || i || '@example.com', '', now(), '{"provider":"email"}',
            jsonb_build_object('display_name', 'Bench user ' || i), now(), now()
     from generate_series(1, $2) as i`,
    [prefix, count],
  );
}

interface Scenario {
  name: string;
  describe: string;
  seed: (db: pg.Client) => Promise<void>;
  /** The PostgREST path and query to read, the same for both roles. */
  path: string;
}

const scenarios: Scenario[] = [
  {
    name: "profiles",
    describe: `Reading 20 of ${PROFILES} profiles (80% public)`,
    seed: async (db) => {
      await seedUsers(db, "bench", PROFILES);
      await db.query("update public.profiles set is_public = (random() < 0.8)");
      await db.query("analyze public.profiles");
    },
    path: "/rest/v1/profiles?select=id,username,display_name,bio&order=created_at.desc&limit=20",
  },
  {
    name: "projects",
    describe:
      `Listing open projects (text search, budget range, keyset order) among ${PROJECTS} projects of 1,000 designers`,
    seed: async (db) => {
      await seedUsers(db, "designer", 1_000);
      // Statuses as a live marketplace has them: most open, the rest closed or under way.
      await db.query(
        `with designers as (select array_agg(id) ids from public.profiles)
         insert into public.projects (owner_id, title, description, budget_amount, currency, deadline, status, created_at)
         select ids[1 + (i % 1000)],
                (array['Wool', 'Linen', 'Silk', 'Denim', 'Tweed'])[1 + i % 5] || ' ' ||
                (array['coat', 'shirt', 'dress', 'jacket', 'trousers', 'skirt'])[1 + i % 6] || ' #' || i,
                'Made to measure, lined, with hand finishing. Request ' || i,
                1000 + (i * 7919) % 200000, (array['EUR', 'USD', 'GBP'])[1 + i % 3],
                current_date + 30, case when i % 10 < 7 then 'open' when i % 10 < 9 then 'closed' else 'in_progress' end,
                now() - make_interval(secs => i)
         from designers, generate_series(1, $1) as i`,
        [PROJECTS],
      );
      await db.query("analyze public.projects");
    },
    path: "/rest/v1/projects?select=id,title,budget_amount,currency,deadline,created_at" +
      "&status=eq.open&search=wfts(simple).coat&budget_amount=gte.20000&budget_amount=lte.120000" +
      "&order=created_at.desc,id.desc&limit=20",
  },
];

const config = stackConfig("test");
const only = process.argv.slice(2);
const selected = scenarios.filter((s) => only.length === 0 || only.includes(s.name));
const runWebhooks = only.length === 0 || only.includes("webhooks");
if (selected.length === 0 && !runWebhooks) {
  console.error(
    `usage: npm run bench [-- ${[...scenarios.map((s) => s.name), "webhooks"].join(" | ")}]`,
  );
  process.exit(2);
}

/**
 * Webhook throughput: signed account.updated events (each a real lookup and update of a
 * seller's payment account) posted to stripe-webhook by WEBHOOK_CONCURRENCY senders. The
 * stream with duplicates repeats 10% of its events, as Stripe's at-least-once delivery does.
 */
async function webhookThroughput(db: pg.Client, url: string, secret: string): Promise<string> {
  const { rows } = await db.query<{ user_id: string; stripe_account_id: string }>(
    `insert into public.seller_payment_accounts (user_id, stripe_account_id)
     select id, 'acct_bench' || substr(md5(id::text), 1, 16) from public.profiles limit $1
     returning user_id, stripe_account_id`,
    [WEBHOOK_ACCOUNTS],
  );
  const stripe = new Stripe("sk_test_bench");
  let sequence = 0;
  const event = (stream: string) => {
    sequence += 1;
    const account = rows[sequence % rows.length].stripe_account_id;
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
          id: account,
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
    let next = 0;
    let errors = 0;
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
      }
    }));
    const perSecond = payloads.length / ((performance.now() - begun) / 1000);
    console.log(
      `${name.padEnd(24)} ${perSecond.toFixed(0).padStart(7)} events/s   errors ${errors}`,
    );
    return perSecond;
  };
  console.log(
    `\n[webhooks] ${WEBHOOK_EVENTS} signed account.updated events for ${rows.length} accounts, ${WEBHOOK_CONCURRENCY} senders.`,
  );
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
  return `webhooks: with 10% duplicates / without, events per second ratio ${
    (duplicated / plain).toFixed(2)
  }`;
}
const stack = await startStack(config, {
  fresh: true,
  onCrash: (message) => {
    console.error(message);
    process.exit(1);
  },
});
try {
  const db = new pg.Client({ connectionString: config.dbUrl });
  await db.connect();
  const signUp = await fetch(`${config.apiUrl}/auth/v1/signup`, {
    method: "POST",
    headers: { apikey: stack.keys.anonKey, "content-type": "application/json" },
    body: JSON.stringify({ email: "bench-reader@example.com", password: "Bench-Password-1" }),
  });
  const { access_token: userToken } = await signUp.json() as { access_token: string };

  const ratios: string[] = [];
  for (const scenario of selected) {
    await scenario.seed(db);
    const url = `${config.apiUrl}${scenario.path}`;
    console.log(
      `\n[${scenario.name}] ${scenario.describe}, ${CONNECTIONS} connections for ${DURATION_SECONDS}s each.`,
    );
    const asUser = await load("authenticated (RLS)", url, {
      apikey: stack.keys.anonKey,
      authorization: `Bearer ${userToken}`,
    });
    const asService = await load("service_role (no RLS)", url, {
      apikey: stack.keys.serviceRoleKey,
      authorization: `Bearer ${stack.keys.serviceRoleKey}`,
    });
    for (const m of [asUser, asService]) {
      console.log(
        `${m.name.padEnd(24)} ${
          m.requestsPerSecond.toFixed(0).padStart(7)
        } req/s   p50 ${m.p50} ms   p99 ${m.p99} ms   errors ${m.errors}`,
      );
    }
    ratios.push(
      `${scenario.name}: authenticated / service_role throughput ratio ${
        (asUser.requestsPerSecond / asService.requestsPerSecond).toFixed(2)
      }`,
    );
  }
  if (runWebhooks) {
    // Null when functions/.env points the functions at real Stripe without a webhook secret:
    // events signed with anything else would all be refused, and the numbers would mean nothing.
    const webhookSecret = stack.stripe.webhookSecret;
    if (!webhookSecret) {
      throw new Error(
        "STRIPE_WEBHOOK_SECRET is not set in functions/.env (which sets STRIPE_SECRET_KEY): the webhook benchmark signs its events with it; set it, or run `npm run bench -- <scenario>` without webhooks",
      );
    }
    if (selected.length === 0) await seedUsers(db, "bench-seller", WEBHOOK_ACCOUNTS);
    ratios.push(
      await webhookThroughput(db, `${config.apiUrl}/functions/v1/stripe-webhook`, webhookSecret),
    );
  }
  await db.end();
  console.log(`\n${ratios.join("\n")}`);
} finally {
  await stack.stop();
}
