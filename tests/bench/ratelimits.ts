// The ratelimits scenario (operations, issue 19): what counting a request against the rate
// limits costs. Two sides alike in everything but the tier: USERS signed-in users of the
// standard tier (counted) and USERS of the trusted tier (an operator's override: unlimited, so
// looked up and never counted), each request from the next user in turn, as many users use an
// app at once. The limits are raised far above the load on the bench's throw-away database:
// counting costs the same whatever the numbers, and a refusal is not what is measured.
//
//   writes: PATCH the caller's own profile through PostgREST. The pre-request hook
//           (private.check_request) finds the tier, counts api_write in the caller's counter
//           row (private.count_rate_limit) and sets the X-RateLimit-*/RateLimit headers.
//   reads:  a list of profiles (public_profiles) through the gateway, which counts api_read in
//           memory (stack/read-limits.ts) and adds the same headers.
//
// Each side's answers are checked: the counted ones carry X-RateLimit-Remaining, the trusted
// ones do not, and nothing fails.

import type autocannon from "autocannon";
import type pg from "pg";
import { RATIO_TARGET, type Scenario } from "./scenarios.ts";
import {
  accessTokenFor,
  type BenchStack,
  comparePair,
  count,
  printMeasured,
  seedUsers,
} from "./support.ts";

const USERS = 50;
/** Far above what the bench can send in a minute or an hour: counted, never refused. */
const PER_MINUTE = 10_000_000;
const PER_HOUR = 100_000_000;
/**
 * What a counted write may cost against an uncounted one. Counting is a row upsert, its WAL and
 * five response headers on every write, which the uncounted side never does; on the cheapest
 * write there is (a one-column update of one's own profile) what remains after making each
 * part cheap is about 0.07 ms of Postgres CPU plus the headers in PostgREST and the gateway
 * (docs/domains/operations.md, What the checks cost): a fifth of the throughput at most.
 */
const WRITE_RATIO_TARGET = 0.8;
const READ_PATH =
  "/rest/v1/public_profiles?select=id,username,display_name&order=created_at.desc&limit=20";

interface Caller {
  id: string;
  token: string;
}

async function callers(stack: BenchStack, db: pg.Client, prefix: string): Promise<Caller[]> {
  const { rows } = await db.query<{ id: string }>(
    "select id from auth.users where email like $1 || '-%@example.com' order by id",
    [prefix],
  );
  return await Promise.all(
    rows.map(async ({ id }) => ({ id, token: await accessTokenFor(stack, id) })),
  );
}

/** A write to the caller's own profile, or a read; `note` makes each write's body its own. */
function requestOf(stack: BenchStack, user: Caller, write: boolean, note: string) {
  return {
    method: write ? "PATCH" : "GET",
    path: write ? `/rest/v1/profiles?id=eq.${user.id}` : READ_PATH,
    headers: {
      apikey: stack.anonKey,
      authorization: `Bearer ${user.token}`,
      ...(write ? { "content-type": "application/json", prefer: "return=minimal" } : {}),
    },
    body: write ? JSON.stringify({ bio: note }) : undefined,
  };
}

/** One request per call, from the next caller in turn: a write to their own profile or a read. */
function rotating(stack: BenchStack, users: Caller[], write: boolean): autocannon.Request[] {
  let next = 0;
  return [{
    method: write ? "PATCH" : "GET",
    setupRequest(request) {
      const { path, headers, body } = requestOf(
        stack,
        users[next % users.length],
        write,
        `bench write ${next++}`,
      );
      return { ...request, path, headers, ...(body === undefined ? {} : { body }) };
    },
  }];
}

/** Whether one request of the kind answers with the rate limit headers (and succeeds). */
async function answersWithLimitHeaders(
  stack: BenchStack,
  user: Caller,
  write: boolean,
): Promise<boolean> {
  const { method, path, headers, body } = requestOf(stack, user, write, "bench check");
  const response = await fetch(`${stack.apiUrl}${path}`, { method, headers, body });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`${write ? "write" : "read"} failed: ${response.status}`);
  return response.headers.has("x-ratelimit-remaining");
}

export const ratelimits: Scenario = {
  name: "ratelimits",
  describe:
    `what counting costs: ${USERS} standard-tier users (counted) beside ${USERS} trusted ones ` +
    "(not counted), writes through the pre-request hook, reads through the gateway",
  async run(stack, db) {
    await seedUsers(db, "rl-standard", USERS);
    await seedUsers(db, "rl-trusted", USERS);
    // seedUsers exempts load accounts; the standard side is what is measured, so it is not.
    await db.query(
      `delete from public.rate_limit_overrides o using auth.users u
        where u.id = o.user_id and u.email like 'rl-standard-%@example.com'`,
    );
    await db.query(
      `update public.rate_limit_policies set per_minute = $1, per_hour = $2
        where tier = 'standard' and class in ('api_read', 'api_write')`,
      [PER_MINUTE, PER_HOUR],
    );
    await db.query("analyze public.profiles; analyze public.rate_limit_overrides");
    const standard = await callers(stack, db, "rl-standard");
    const trusted = await callers(stack, db, "rl-trusted");
    if (standard.length !== USERS || trusted.length !== USERS) {
      throw new Error(
        `seeded ${standard.length} standard and ${trusted.length} trusted users, not ${USERS} each`,
      );
    }
    // The gateway reads the policies and tiers again every few seconds.
    await new Promise((resolve) => setTimeout(resolve, 6_000));

    const headers = {
      writes: {
        counted: await answersWithLimitHeaders(stack, standard[0], true),
        uncounted: await answersWithLimitHeaders(stack, trusted[0], true),
      },
      reads: {
        counted: await answersWithLimitHeaders(stack, standard[0], false),
        uncounted: await answersWithLimitHeaders(stack, trusted[0], false),
      },
    };
    for (const [kind, seen] of Object.entries(headers)) {
      if (!seen.counted || seen.uncounted) {
        throw new Error(
          `${kind}: the standard tier ${
            seen.counted ? "carries" : "lacks"
          } X-RateLimit-Remaining and ` +
            `the trusted tier ${
              seen.uncounted ? "carries" : "lacks"
            } it: the sides are not what they claim`,
        );
      }
    }

    const url = `${stack.apiUrl}${READ_PATH}`;
    const [countedWrites, trustedWrites] = await comparePair("writes", stack, [
      { name: "standard (counted)", url, headers: {}, requests: rotating(stack, standard, true) },
      { name: "trusted (not counted)", url, headers: {}, requests: rotating(stack, trusted, true) },
    ]);
    printMeasured("writes, counted", countedWrites);
    printMeasured("writes, not counted", trustedWrites);
    const writeRatio = countedWrites.requestsPerSecond / trustedWrites.requestsPerSecond;
    console.log(`  writes: ratio ${writeRatio.toFixed(2)} (target >= ${WRITE_RATIO_TARGET})`);

    const [countedReads, trustedReads] = await comparePair("reads", stack, [
      { name: "standard (counted)", url, headers: {}, requests: rotating(stack, standard, false) },
      {
        name: "trusted (not counted)",
        url,
        headers: {},
        requests: rotating(stack, trusted, false),
      },
    ]);
    printMeasured("reads, counted", countedReads);
    printMeasured("reads, not counted", trustedReads);
    const readRatio = countedReads.requestsPerSecond / trustedReads.requestsPerSecond;
    console.log(`  reads: ratio ${readRatio.toFixed(2)} (target >= ${RATIO_TARGET})`);

    return {
      numbers: {
        users: USERS,
        writes: { counted: countedWrites, notCounted: trustedWrites, ratio: writeRatio },
        reads: { counted: countedReads, notCounted: trustedReads, ratio: readRatio },
        requests: count(
          countedWrites.requests + trustedWrites.requests + countedReads.requests +
            trustedReads.requests,
        ),
      },
      checks: [
        {
          row: "ratelimits: counted / uncounted writes",
          value: writeRatio,
          unit: "x",
          min: WRITE_RATIO_TARGET,
        },
        {
          row: "ratelimits: counted / uncounted reads",
          value: readRatio,
          unit: "x",
          min: RATIO_TARGET,
        },
        {
          row: "ratelimits: failed requests",
          value: countedWrites.errors + trustedWrites.errors + countedReads.errors +
            trustedReads.errors,
          unit: "",
          below: 1,
        },
      ],
    };
  },
};
