// `npm run bench`: load tests against an isolated local stack (the `test` profile's ports),
// measured as ratios within one run so the numbers mean something on any machine.
// Scenario: a representative RLS-protected read as a signed-in user, beside the same query
// as service_role (which bypasses RLS); the ratio is what the policies cost.

import autocannon from "autocannon";
import pg from "pg";
import { stackConfig } from "../../stack/config.ts";
import { startStack } from "../../stack/stack.ts";

const PROFILES = 10_000;
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
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_SECONDS, headers });
  const errors = result.errors + result.non2xx;
  return { name, requestsPerSecond: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors };
}

async function seed(dbUrl: string): Promise<void> {
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  // Users made as Supabase Auth makes them; the sign-up trigger creates their profiles.
  await db.query(
    `insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                             raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
     select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
            'bench-' || i || '@example.com', '', now(), '{"provider":"email"}',
            jsonb_build_object('display_name', 'Bench user ' || i), now(), now()
     from generate_series(1, $1) as i`,
    [PROFILES],
  );
  await db.query("update public.profiles set is_public = (random() < 0.8)");
  await db.query("analyze public.profiles");
  await db.end();
}

const config = stackConfig("test");
const stack = await startStack(config, {
  fresh: true,
  onCrash: (message) => {
    console.error(message);
    process.exit(1);
  },
});
try {
  await seed(config.dbUrl);
  const signUp = await fetch(`${config.apiUrl}/auth/v1/signup`, {
    method: "POST",
    headers: { apikey: stack.keys.anonKey, "content-type": "application/json" },
    body: JSON.stringify({ email: "bench-reader@example.com", password: "Bench-Password-1" }),
  });
  const { access_token: userToken } = await signUp.json() as { access_token: string };

  const url = `${config.apiUrl}/rest/v1/profiles?select=id,username,display_name,bio&order=created_at.desc&limit=20`;
  console.log(`Reading 20 of ${PROFILES} profiles (80% public) with ${CONNECTIONS} connections for ${DURATION_SECONDS}s each.\n`);
  const asUser = await load("authenticated (RLS)", url, { apikey: stack.keys.anonKey, authorization: `Bearer ${userToken}` });
  const asService = await load("service_role (no RLS)", url, {
    apikey: stack.keys.serviceRoleKey,
    authorization: `Bearer ${stack.keys.serviceRoleKey}`,
  });

  for (const m of [asUser, asService]) {
    console.log(`${m.name.padEnd(24)} ${m.requestsPerSecond.toFixed(0).padStart(7)} req/s   p50 ${m.p50} ms   p99 ${m.p99} ms   errors ${m.errors}`);
  }
  console.log(`\nauthenticated / service_role throughput ratio: ${(asUser.requestsPerSecond / asService.requestsPerSecond).toFixed(2)}`);
} finally {
  await stack.stop();
}
