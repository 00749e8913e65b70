// The shop scenario (issue 17): the product list at catalogue scale. PRODUCTS products of
// SELLERS shops in a three-level category tree, seeded with generate_series in batches with
// the products' triggers off for the seeding session only (each product's level and
// published_at written by the same statements), then one search as a shopper runs it:
// search_products with a text query (a prefix), a category with its subcategories, a price
// range and in-stock only, newest first, 20 rows. Measured: requests per second as a
// signed-in user (RLS: the products policies) beside service_role (no RLS), and the p95
// latency of single requests one after another on each side.

import { RATIO_TARGET, type Scenario } from "./scenarios.ts";
import {
  type BenchStack,
  comparePair,
  count,
  printMeasured,
  progress,
  seconds,
  seedUsers,
  trustForLoad,
} from "./support.ts";

const PRODUCTS = 1_000_000;
const SELLERS = 1_000;
const BATCH = 50_000;
const LATENCY_SAMPLES = 200;

async function signedInToken(stack: BenchStack): Promise<string> {
  const email = `bench-shopper-${Date.now()}@example.com`;
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
  // A load account: exempt from the rate limits, as the gateway's read limit would refuse
  // the 101st search of a minute (docs/domains/operations.md).
  await trustForLoad(stack, ((await created.json()) as { id: string }).id);
  const response = await fetch(`${stack.apiUrl}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { apikey: stack.anonKey, "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) throw new Error(`sign-in failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** p95 of LATENCY_SAMPLES requests sent one after another (ms). */
async function p95(url: string, headers: Record<string, string>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const begun = performance.now();
    const response = await fetch(url, { headers });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`search failed: ${response.status}`);
    times.push(performance.now() - begun);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length * 0.95)] * 10) / 10;
}

export const shop: Scenario = {
  name: "shop",
  describe: `searching ${count(PRODUCTS)} products of ${
    count(SELLERS)
  } shops (prefix text, category with subcategories, price range, in stock, newest first)`,
  async run(stack, db) {
    await seedUsers(db, "seller", SELLERS);
    await db.query(
      `insert into public.shops (id, shop_name, category)
       select u.id, 'Bench shop ' || u.email, 'general' from auth.users u where u.email like 'seller-%'`,
    );
    await db.query(
      `insert into public.shipping_profiles (shop_id, name, currency) select s.id, 'Standard', 'USD' from public.shops s`,
    );
    // Three roots, four children each, two grandchildren each: 3 + 12 + 24 categories.
    await db.query(
      `insert into public.product_categories (slug, name) select 'root-' || r, 'Root ' || r from generate_series(1, 3) r;
       insert into public.product_categories (slug, name, parent_id)
       select 'child-' || r || '-' || c, 'Child ' || c, (select id from public.product_categories where slug = 'root-' || r)
         from generate_series(1, 3) r, generate_series(1, 4) c;
       insert into public.product_categories (slug, name, parent_id)
       select 'leaf-' || r || '-' || c || '-' || g, 'Leaf ' || g,
              (select id from public.product_categories where slug = 'child-' || r || '-' || c)
         from generate_series(1, 3) r, generate_series(1, 4) c, generate_series(1, 2) g`,
    );
    const line = progress(`  seeding ${count(PRODUCTS)} products`);
    const begun = performance.now();
    // The seeding session skips the products' triggers (checks, events, levels) and writes
    // what they would: published_at, in_stock and one level per physical product.
    await db.query("set session_replication_role = replica");
    for (let done = 0; done < PRODUCTS; done += BATCH) {
      await db.query(
        `with shops as (select array_agg(s.id order by s.id) ids from public.shops s),
              profiles as (select array_agg(sp.id order by sp.shop_id) ids from public.shipping_profiles sp),
              categories as (select array_agg(c.id order by c.slug) ids from public.product_categories c where c.slug like 'leaf-%'),
              inserted as (
                insert into public.products (shop_id, title, description, price, currency, kind, status, category_id,
                                             shipping_profile_id, in_stock, published_at, created_at)
                select shops.ids[1 + i % ${SELLERS}],
                       (array['Wool', 'Linen', 'Silk', 'Denim', 'Tweed', '가죽', '면'])[1 + i % 7] || ' ' ||
                       (array['coat', 'shirt', 'dress', 'jacket', 'bag', 'scarf', '가방을', '셔츠'])[1 + (i / 7) % 8] || ' #' || i,
                       'Hand finished. Item ' || i,
                       500 + (i::bigint * 7919) % 50000, 'USD', 'physical',
                       case when i % 10 < 8 then 'active' when i % 10 = 8 then 'draft' else 'archived' end,
                       categories.ids[1 + i % 24], profiles.ids[1 + i % ${SELLERS}], i % 5 <> 0,
                       now() - make_interval(secs => i), now() - make_interval(secs => i)
                  from shops, profiles, categories, generate_series($1::int, $2::int) as i
                returning id, in_stock)
         insert into public.inventory_levels (product_id, on_hand)
         select id, case when in_stock then 10 else 0 end from inserted`,
        [done + 1, Math.min(done + BATCH, PRODUCTS)],
      );
      line.update(`${count(Math.min(done + BATCH, PRODUCTS))}/${count(PRODUCTS)}`);
    }
    await db.query("set session_replication_role = origin");
    await db.query(
      "analyze public.products; analyze public.inventory_levels; analyze public.product_categories",
    );
    line.done(`done in ${seconds(performance.now() - begun)}`);

    const { rows } = await db.query<{ id: string }>(
      "select id from public.product_categories where slug = 'child-1-1'",
    );
    const path = "/rest/v1/rpc/search_products?q=wool&category=" + rows[0].id +
      "&min_price=2000&max_price=30000&in_stock_only=true&sort=newest&page_size=20";
    const url = `${stack.apiUrl}${path}`;
    const asUser = { apikey: stack.anonKey, authorization: `Bearer ${await signedInToken(stack)}` };
    const asService = {
      apikey: stack.serviceRoleKey,
      authorization: `Bearer ${stack.serviceRoleKey}`,
    };
    const probe = await fetch(url, { headers: asUser });
    const found = (await probe.json()) as unknown[];
    if (!probe.ok || found.length !== 20) {
      throw new Error(`the search answered ${probe.status} with ${found.length} rows`);
    }

    const [user, service] = await comparePair("shop", stack, [
      { name: "authenticated", url, headers: asUser },
      { name: "service_role", url, headers: asService },
    ]);
    printMeasured("authenticated (RLS)", user);
    printMeasured("service_role (no RLS)", service);
    const ratio = user.requestsPerSecond / service.requestsPerSecond;
    const userP95 = await p95(url, asUser);
    const serviceP95 = await p95(url, asService);
    console.log(
      `  ratio ${
        ratio.toFixed(2)
      } (target >= ${RATIO_TARGET}); p95 one at a time: ${userP95} ms signed in, ${serviceP95} ms service_role`,
    );
    return {
      numbers: {
        products: PRODUCTS,
        authenticated: user,
        service_role: service,
        ratio,
        userP95,
        serviceP95,
      },
      checks: [
        {
          row: "shop: search authenticated / service_role",
          value: ratio,
          unit: "x",
          min: RATIO_TARGET,
        },
        {
          row: "shop: search p95, one at a time, signed in",
          value: userP95,
          unit: "ms",
          below: 100,
        },
        { row: "shop: failed requests", value: user.errors + service.errors, unit: "", below: 1 },
      ],
    };
  },
};
