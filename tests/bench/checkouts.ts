// The checkouts scenario (issue 17): checkouts per second through PostgREST, BUYERS buyers at
// once each calling rpc('place_order') with one item and a unique idempotency key, on (a)
// MANY_PRODUCTS products with ample stock (little contention) and (b) HOT_PRODUCTS products
// with HOT_STOCK units each and more orders than units (every order queues on the same few
// inventory rows). Seeded with SQL as the shop scenario is (sellers, shops, a shipping profile
// with one rate everywhere, active products with their inventory levels, buyers with an
// address). Measured: checkouts per second of each, their ratio, and on the hot products the
// refusals once the stock runs out, checked exactly: successes = the reserved units = the
// active reservations, no level beyond its stock, every refusal the precise PT409.

import type { Scenario } from "./scenarios.ts";
import {
  accessTokenFor,
  type BenchStack,
  count,
  cpuPer,
  progress,
  seconds,
  seedUsers,
} from "./support.ts";

const SELLERS = 50;
const MANY_PRODUCTS = 2_000;
const MANY_ORDERS = 1_000;
const HOT_PRODUCTS = 5;
const HOT_STOCK = 100;
const HOT_ORDERS = 1_000;
const BUYERS = 20;

interface Buyer {
  token: string;
  addressId: string;
}

interface Outcome {
  placed: number;
  refused: Map<string, number>;
  /** Seconds from the first request to the last order placed. */
  placingSeconds: number;
  seconds: number;
  cpu: string;
}

async function placeOrders(
  stack: BenchStack,
  label: string,
  buyers: Buyer[],
  products: string[],
  orders: number,
): Promise<Outcome> {
  const line = progress(`  ${label}`);
  const url = `${stack.apiUrl}/rest/v1/rpc/place_order`;
  let next = 0;
  let placed = 0;
  let lastPlaced = 0;
  const refused = new Map<string, number>();
  const cpuBefore = stack.cpu();
  const begun = performance.now();
  await Promise.all(buyers.map(async (buyer) => {
    while (next < orders) {
      const i = next++;
      const response = await fetch(url, {
        method: "POST",
        headers: {
          apikey: stack.anonKey,
          authorization: `Bearer ${buyer.token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          items: [{ product_id: products[(i * 7919) % products.length], quantity: 1 }],
          address_id: buyer.addressId,
          idempotency_key: crypto.randomUUID(),
        }),
      });
      const body = await response.text();
      if (response.ok) {
        placed += 1;
        lastPlaced = performance.now();
      } else {
        const { code, message } = JSON.parse(body) as { code: string; message: string };
        const key = `${response.status} ${code} ${
          message.replace(/product [0-9a-f-]{36}/, "product <id>")
        }`;
        refused.set(key, (refused.get(key) ?? 0) + 1);
      }
      if ((i + 1) % 50 === 0) line.update(`${i + 1}/${orders}`);
    }
  }));
  const elapsed = (performance.now() - begun) / 1000;
  const placingSeconds = (lastPlaced - begun) / 1000;
  const cpu = cpuPer(cpuBefore, stack.cpu(), orders);
  line.done(
    `${placed} placed, ${orders - placed} refused in ${elapsed.toFixed(1)} s: ${
      (placed / placingSeconds).toFixed(0)
    } checkouts/s`,
  );
  if (cpu) console.log(`    CPU per request: ${cpu}`);
  return { placed, refused, placingSeconds, seconds: elapsed, cpu };
}

export const checkouts: Scenario = {
  name: "checkouts",
  describe:
    `${BUYERS} buyers placing orders (rpc place_order, one item, a unique idempotency key each): ${
      count(MANY_ORDERS)
    } over ${count(MANY_PRODUCTS)} products, then ${
      count(HOT_ORDERS)
    } over ${HOT_PRODUCTS} hot products of ${HOT_STOCK} units each`,
  async run(stack, db) {
    const begun = performance.now();
    await seedUsers(db, "co-seller", SELLERS);
    await seedUsers(db, "co-buyer", BUYERS);
    const line = progress("  seeding shops, products and addresses");
    await db.query(
      `insert into public.shops (id, shop_name, category)
       select u.id, 'Bench checkout shop ' || u.email, 'general' from auth.users u where u.email like 'co-seller-%'`,
    );
    await db.query(
      `insert into public.shipping_profiles (shop_id, name, currency)
       select s.id, 'Standard', 'USD' from public.shops s where s.shop_name like 'Bench checkout shop %'`,
    );
    await db.query(
      `insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days)
       select sp.id, '*', 500, 100, 2, 5 from public.shipping_profiles sp
         join public.shops s on s.id = sp.shop_id where s.shop_name like 'Bench checkout shop %'`,
    );
    // As the shop scenario: the products' triggers off for the seeding session, their
    // published_at, in_stock and inventory levels written by the same statement.
    await db.query("set session_replication_role = replica");
    await db.query(
      `with shops as (select array_agg(s.id order by s.id) ids from public.shops s where s.shop_name like 'Bench checkout shop %'),
            profiles as (select array_agg(sp.id order by sp.shop_id) ids from public.shipping_profiles sp
                           join public.shops s on s.id = sp.shop_id where s.shop_name like 'Bench checkout shop %'),
            inserted as (
              insert into public.products (shop_id, title, description, price, currency, kind, status,
                                           shipping_profile_id, in_stock, published_at)
              select shops.ids[1 + i % ${SELLERS}], case when i <= ${HOT_PRODUCTS} then 'Hot item #' else 'Checkout item #' end || i,
                     'Bench checkout item', 1000 + i % 100, 'USD', 'physical', 'active',
                     profiles.ids[1 + i % ${SELLERS}], true, now()
                from shops, profiles, generate_series(1, ${HOT_PRODUCTS + MANY_PRODUCTS}) as i
              returning id, title)
       insert into public.inventory_levels (product_id, on_hand)
       select id, case when title like 'Hot item #%' then ${HOT_STOCK} else 1000 end from inserted`,
    );
    await db.query("set session_replication_role = origin");
    await db.query(
      `insert into public.addresses (user_id, full_name, address_line1, city, country_code)
       select u.id, 'Bench Buyer', '1 Main St', 'New York', 'US' from auth.users u where u.email like 'co-buyer-%'`,
    );
    await db.query(
      "analyze public.products; analyze public.inventory_levels; analyze public.addresses",
    );
    line.done(`done in ${seconds(performance.now() - begun)}`);

    const { rows: products } = await db.query<{ id: string; title: string }>(
      `select id, title from public.products where title like 'Hot item #%' or title like 'Checkout item #%' order by id`,
    );
    const hot = products.filter((p) => p.title.startsWith("Hot")).map((p) => p.id);
    const many = products.filter((p) => !p.title.startsWith("Hot")).map((p) => p.id);
    const { rows: buyerRows } = await db.query<{ id: string; address_id: string }>(
      `select u.id, a.id address_id from auth.users u join public.addresses a on a.user_id = u.id
        where u.email like 'co-buyer-%'`,
    );
    const buyers: Buyer[] = await Promise.all(buyerRows.map(async (row) => ({
      addressId: row.address_id,
      token: await accessTokenFor(stack, row.id),
    })));

    // Warm PostgREST's schema cache, the plans and the caches (orders of their own, untimed).
    await placeOrders(stack, "warm-up", buyers, many.slice(0, 100), 100);
    const spread = await placeOrders(
      stack,
      `${count(MANY_PRODUCTS)} products`,
      buyers,
      many,
      MANY_ORDERS,
    );
    const contended = await placeOrders(
      stack,
      `${HOT_PRODUCTS} hot products`,
      buyers,
      hot,
      HOT_ORDERS,
    );
    if (spread.placed !== MANY_ORDERS) {
      throw new Error(
        `${MANY_ORDERS - spread.placed} orders over many products refused: ${
          [...spread.refused.keys()].join("; ")
        }`,
      );
    }

    // Exactly stock-limited: as many placed as units, each reserved once, no level oversold.
    const { rows: [held] } = await db.query<
      { reserved: number; reservations: number; oversold: number; orders: number }
    >(
      `select (select sum(l.reserved)::int from public.inventory_levels l where l.product_id = any($1)) reserved,
              (select coalesce(sum(r.quantity), 0)::int from public.stock_reservations r
                where r.product_id = any($1) and r.status = 'active') reservations,
              (select count(*)::int from public.inventory_levels l where l.product_id = any($1) and l.reserved > l.on_hand) oversold,
              (select count(*)::int from public.shop_order_items i where i.product_id = any($1)) orders`,
      [hot],
    );
    const units = HOT_PRODUCTS * HOT_STOCK;
    const expectedRefusal = "409 PT409 product <id> has only 0 available, 1 requested";
    const refusals = [...contended.refused.entries()];
    console.log(
      `  hot: ${contended.placed} placed of ${units} units; reserved ${held.reserved}, active reservations ${held.reservations}, order lines ${held.orders}, levels oversold ${held.oversold}`,
    );
    for (const [reason, n] of refusals) console.log(`  refused ${n}: ${reason}`);
    if (
      contended.placed !== units || held.reserved !== units || held.reservations !== units ||
      held.orders !== units || held.oversold !== 0 ||
      refusals.length !== 1 || refusals[0][0] !== expectedRefusal
    ) {
      throw new Error("the hot products were not sold exactly to their stock (see above)");
    }

    const spreadRate = spread.placed / spread.placingSeconds;
    const hotRate = contended.placed / contended.placingSeconds;
    const ratio = hotRate / spreadRate;
    console.log(
      `  checkouts/s: ${spreadRate.toFixed(0)} over ${count(MANY_PRODUCTS)} products, ${
        hotRate.toFixed(0)
      } on ${HOT_PRODUCTS} hot products (ratio ${ratio.toFixed(2)}); ${
        HOT_ORDERS - contended.placed
      } refused once sold out`,
    );
    return {
      numbers: {
        buyers: BUYERS,
        many: {
          products: MANY_PRODUCTS,
          orders: MANY_ORDERS,
          checkoutsPerSecond: spreadRate,
          cpuPerRequest: spread.cpu,
        },
        hot: {
          products: HOT_PRODUCTS,
          units,
          orders: HOT_ORDERS,
          placed: contended.placed,
          refused: HOT_ORDERS - contended.placed,
          checkoutsPerSecond: hotRate,
          secondsIncludingRefusals: contended.seconds,
          cpuPerRequest: contended.cpu,
        },
        ratio,
      },
      checks: [
        { row: "checkouts: per second, many products", value: spreadRate, unit: "/s" },
        { row: "checkouts: per second, 5 hot products", value: hotRate, unit: "/s" },
        { row: "checkouts: hot / many products", value: ratio, unit: "x" },
        { row: "checkouts: refused once sold out", value: HOT_ORDERS - contended.placed, unit: "" },
      ],
    };
  },
};
