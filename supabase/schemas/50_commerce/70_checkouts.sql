-- Checkout (001 POST /orders/checkout, POST /orders; 003 POST /cart/checkout, POST /orders):
-- a preview that prices a cart (or a list of items) for an address and a coupon, and the
-- placement that turns it into one checkout (the group the buyer pays once) and one shop
-- order per shop, atomically: prices, shipping, tax, discount and address snapshotted, stock
-- reserved until the payment window closes, coupon usage counted. Unpaid checkouts expire
-- (the commerce-expire-checkouts job): their stock and coupon are released and their shop
-- orders cancelled.
--
-- Money (all integer minor units of the one currency of the checkout), per shop order:
--   items_subtotal = sum(unit_price * quantity)
--   shipping       = private.shipping_quote(profile, country, items, subtotal) summed over the
--                    shop's shipping profiles among its physical items (digital items: none)
--   discount       = a shop's coupon on its items_subtotal; or its share of a platform coupon's
--                    discount (private.split_discount); never more than items_subtotal
--   tax            = private.tax_amount(items_subtotal - discount + shipping, rate), half up,
--                    once per shop order, rate from private.tax_rate_bps(country, region)
--   total          = items_subtotal - discount + shipping + tax
-- and the checkout's amounts are the sums of its shop orders'.
--
-- Splitting a platform coupon's discount D over shops with items subtotals s_i (S = sum):
-- each shop gets floor(D * s_i / S); the minor units left over (fewer than the number of
-- shops) go one each to the shops with the largest shares (ties: larger subtotal, then shop
-- id). Each share stays within its shop's subtotal, and the shares add up to D exactly.
--
-- Hooks for the payment, fulfilment and cancellation code (a later part of issue 17):
--   private.expire_checkout(checkout_id, reason)   a failed or expired payment: releases the
--                     stock reservations and the coupon, cancels the shop orders
--   private.release_coupon_redemptions(checkout_id)   (60_coupons.sql) coupon usage back
--   private.transition_shop_order(order_id, to_status, actor, reason)   the one writer of
--                     shop_orders.status, checked against private.shop_order_transitions
--   private.consume_reservations('checkout:<id>') (40_inventory.sql) reservations become sales

create table public.checkouts (
  id uuid primary key default gen_random_uuid(),
  buyer_id uuid references public.profiles (id) on delete set null,
  cart_id uuid references public.carts (id) on delete set null,
  idempotency_key text not null constraint checkouts_idempotency_key_length check (char_length(idempotency_key) between 1 and 200),
  currency text not null references public.currencies (code),
  items_subtotal bigint not null constraint checkouts_items_subtotal_positive check (items_subtotal >= 0),
  shipping_total bigint not null constraint checkouts_shipping_total_positive check (shipping_total >= 0),
  discount_total bigint not null constraint checkouts_discount_total_positive check (discount_total >= 0),
  tax_total bigint not null constraint checkouts_tax_total_positive check (tax_total >= 0),
  total bigint not null constraint checkouts_total_positive check (total >= 0),
  coupon_id uuid references public.coupons (id) on delete set null,
  shipping_address jsonb,
  status text not null default 'awaiting_payment'
    constraint checkouts_status check (status in ('awaiting_payment', 'paid', 'expired', 'cancelled')),
  expires_at timestamptz not null,
  paid_at timestamptz,
  expired_at timestamptz,
  cancelled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint checkouts_total_adds_up check (total = items_subtotal - discount_total + shipping_total + tax_total)
);
comment on table public.checkouts is
  'A placed checkout: the group of shop orders the buyer pays once. Written by checkout_cart() / place_order() and the payment and expiry functions only; read by its buyer and commerce managers.';
comment on column public.checkouts.idempotency_key is
  'cart:<cart id>:<revision> for a cart checkout, request:<uuid> for place_order''s idempotency_key, unique per buyer: a retry returns this checkout.';
comment on column public.checkouts.shipping_address is 'The delivery address as it was at placement (a copy of the buyer''s addresses row), or null for digital-only checkouts.';
comment on column public.checkouts.expires_at is
  'When the stock reservations lapse if unpaid: placement time + the checkout_reservation_minutes setting; the expiry job then releases stock and coupon.';

create unique index checkouts_buyer_idempotency_unique on public.checkouts (buyer_id, idempotency_key);
create index checkouts_buyer_idx on public.checkouts (buyer_id, created_at desc);
create index checkouts_cart_idx on public.checkouts (cart_id) where cart_id is not null;
create index checkouts_coupon_idx on public.checkouts (coupon_id) where coupon_id is not null;
create index checkouts_due_expiry_idx on public.checkouts (expires_at) where status = 'awaiting_payment';

create trigger checkouts_touch_updated_at before update on public.checkouts
  for each row execute function private.touch_updated_at();

alter table public.checkouts enable row level security;
grant select on public.checkouts to authenticated;
grant all on public.checkouts to service_role;
create policy "Buyers read their checkouts, commerce managers all" on public.checkouts for select to authenticated
  using (buyer_id = (select auth.uid()) or (select private.has_permission('commerce.manage')));

-- The cart's last checkout, and a coupon redemption's checkout (declared with their target).
alter table public.carts add constraint carts_checkout_id_fkey
  foreign key (checkout_id) references public.checkouts (id) on delete set null;
create index carts_checkout_idx on public.carts (checkout_id) where checkout_id is not null;
alter table public.coupon_redemptions add constraint coupon_redemptions_checkout_id_fkey
  foreign key (checkout_id) references public.checkouts (id) on delete cascade;

-- ---------------------------------------------------------------------------------------
-- Shop orders: one per shop in a checkout, and their items.
--
--   awaiting_payment --(payment confirmed: system)--> paid --(seller, staff)--> shipped
--   shipped --(seller, staff, system)--> delivered
--   awaiting_payment --(expiry, failed payment: system; buyer, seller, staff)--> cancelled
--   paid --(buyer before shipment, seller, staff)--> cancelled
--   paid | shipped | delivered --(staff, system: money returned)--> refunded

create table public.shop_orders (
  id uuid primary key default gen_random_uuid(),
  checkout_id uuid not null references public.checkouts (id),
  shop_id uuid references public.shops (id) on delete set null,
  buyer_id uuid references public.profiles (id) on delete set null,
  status text not null default 'awaiting_payment' constraint shop_orders_status check (status in (
    'awaiting_payment', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
  currency text not null references public.currencies (code),
  items_subtotal bigint not null constraint shop_orders_items_subtotal_positive check (items_subtotal >= 0),
  shipping_amount bigint not null constraint shop_orders_shipping_positive check (shipping_amount >= 0),
  discount_amount bigint not null constraint shop_orders_discount_range check (discount_amount between 0 and items_subtotal),
  tax_rate_bps integer not null constraint shop_orders_tax_rate_range check (tax_rate_bps between 0 and 10000),
  tax_amount bigint not null constraint shop_orders_tax_positive check (tax_amount >= 0),
  total bigint not null,
  coupon_id uuid references public.coupons (id) on delete set null,
  shipping_address jsonb,
  delivery_min_days integer,
  delivery_max_days integer,
  paid_at timestamptz,
  shipped_at timestamptz,
  delivered_at timestamptz,
  cancelled_at timestamptz,
  refunded_at timestamptz,
  cancellation_reason text constraint shop_orders_cancellation_reason_length check (char_length(cancellation_reason) <= 2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint shop_orders_one_per_shop unique (checkout_id, shop_id),
  constraint shop_orders_total_adds_up check (total = items_subtotal - discount_amount + shipping_amount + tax_amount)
);
comment on table public.shop_orders is
  'One shop''s part of a checkout (001/003 orders): amounts and address snapshotted at placement; status moves only through private.transition_shop_order (private.shop_order_transitions). Read by the buyer, the shop''s seller and commerce managers.';
comment on column public.shop_orders.discount_amount is 'The shop''s coupon, or its share of a platform coupon (split by items subtotal, leftover units to the largest shares).';
comment on column public.shop_orders.tax_amount is 'tax_rate_bps of (items_subtotal - discount_amount + shipping_amount), rounded half up.';
comment on column public.shop_orders.shipping_address is 'The delivery address as it was at placement; null when the shop''s items are all digital.';

create index shop_orders_checkout_idx on public.shop_orders (checkout_id);
create index shop_orders_buyer_idx on public.shop_orders (buyer_id, status, created_at desc);
create index shop_orders_shop_idx on public.shop_orders (shop_id, status, created_at desc);
create index shop_orders_coupon_idx on public.shop_orders (coupon_id) where coupon_id is not null;
create index shop_orders_status_idx on public.shop_orders (status, created_at desc);

create trigger shop_orders_touch_updated_at before update on public.shop_orders
  for each row execute function private.touch_updated_at();

alter table public.shop_orders enable row level security;
grant select on public.shop_orders to authenticated;
grant all on public.shop_orders to service_role;
create policy "Buyers, the shop's seller and commerce managers read shop orders" on public.shop_orders for select to authenticated
  using (buyer_id = (select auth.uid()) or shop_id = (select auth.uid()) or (select private.has_permission('commerce.manage')));

create table public.shop_order_items (
  id uuid primary key default gen_random_uuid(),
  shop_order_id uuid not null references public.shop_orders (id) on delete cascade,
  product_id uuid references public.products (id) on delete set null,
  title text not null,
  sku text,
  kind text not null constraint shop_order_items_kind check (kind in ('physical', 'digital')),
  unit_price bigint not null constraint shop_order_items_unit_price_positive check (unit_price > 0),
  quantity integer not null constraint shop_order_items_quantity_positive check (quantity > 0),
  line_total bigint not null,
  created_at timestamptz not null default now(),
  constraint shop_order_items_line_total check (line_total = unit_price * quantity)
);
comment on table public.shop_order_items is
  'A product bought in a shop order, with its title, SKU, kind and unit price as they were at placement. Read by whoever reads the order.';

create index shop_order_items_order_idx on public.shop_order_items (shop_order_id);
create index shop_order_items_product_idx on public.shop_order_items (product_id) where product_id is not null;

alter table public.shop_order_items enable row level security;
grant select on public.shop_order_items to authenticated;
grant all on public.shop_order_items to service_role;
create policy "Readers of a shop order read its items" on public.shop_order_items for select to authenticated
  using (exists (select 1 from public.shop_orders o where o.id = shop_order_id));

-- The state machine, as data (rows: the commerce reference data).
create table private.shop_order_transitions (
  from_status text not null,
  to_status text not null,
  actor text not null constraint shop_order_transitions_actor check (actor in ('buyer', 'seller', 'admin', 'system')),
  primary key (from_status, to_status, actor)
);
comment on table private.shop_order_transitions is
  'Every allowed shop order status move and who may make it: the buyer, the shop''s seller, staff (admin: commerce.manage) or the system (payments, expiry).';

-- An amount in minor units as people read it: 4599 USD -> '45.99 USD', 5000 KRW -> '5000 KRW'.
create function private.shop_amount_text(amount bigint, currency text) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select case when c.minor_units = 0 then amount::text
              else trim(to_char(amount / power(10, c.minor_units)::numeric, 'FM999999999999990.' || repeat('0', c.minor_units))) end
         || ' ' || c.code
    from public.currencies c where c.code = shop_amount_text.currency
$$;
comment on function private.shop_amount_text(bigint, text) is
  'An amount in minor units written with its currency''s decimals and code (4599 USD: 45.99 USD), for notifications.';
revoke execute on function private.shop_amount_text(bigint, text) from public;
grant execute on function private.shop_amount_text(bigint, text) to service_role;

-- The one writer of shop_orders.status. The caller says as whom it acts (it has checked who
-- the user is to the order); the move must be listed for that actor.
--
-- Events (never to the actor, private.emit_event): the buyer hears shop_order.<status> (a
-- receipt when paid, carrier and tracking when shipped, an invitation to review when
-- delivered, cancelled, refunded) and shop_order.download_ready when a paid order holds digital
-- items; the seller hears shop_sale.paid (a new order to fulfil), shop_sale.cancelled and
-- shop_sale.refunded. Every one carries the same payload keys (null when they do not apply).
-- Paying also counts the units sold of every item, physical or digital, toward "popular"
-- (private.product_daily_stats).
create function private.transition_shop_order(order_id uuid, to_status text, actor text, reason text default null)
returns public.shop_orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.shop_orders;
  payload jsonb;
  digital jsonb;
begin
  select * into o from public.shop_orders x where x.id = order_id for update;
  if not found then
    raise exception 'shop order % not found', order_id using errcode = 'PT404';
  end if;
  if not exists (select 1 from private.shop_order_transitions t
                  where t.from_status = o.status and t.to_status = transition_shop_order.to_status
                    and t.actor = transition_shop_order.actor) then
    raise exception 'shop order % is %: the % cannot move it to %', o.id, o.status, actor, to_status using errcode = 'PT409';
  end if;
  update public.shop_orders set
    status = to_status,
    paid_at = case when to_status = 'paid' then now() else paid_at end,
    shipped_at = case when to_status = 'shipped' then now() else shipped_at end,
    delivered_at = case when to_status = 'delivered' then now() else delivered_at end,
    cancelled_at = case when to_status = 'cancelled' then now() else cancelled_at end,
    refunded_at = case when to_status = 'refunded' then now() else refunded_at end,
    cancellation_reason = case when to_status = 'cancelled' then left(reason, 2000) else cancellation_reason end
   where id = o.id
   returning * into o;

  payload := jsonb_build_object(
    'checkout_id', o.checkout_id, 'status', to_status, 'total', o.total, 'currency', o.currency,
    'amount', private.shop_amount_text(o.total, o.currency),
    'shop_name', (select s.shop_name from public.shops s where s.id = o.shop_id),
    'reason', case when to_status in ('cancelled', 'refunded') then left(reason, 500) end,
    'carrier', case when to_status = 'shipped' then to_jsonb(o) ->> 'carrier' end,
    'tracking_number', case when to_status = 'shipped' then to_jsonb(o) ->> 'tracking_number' end,
    'tracking_url', case when to_status = 'shipped' then to_jsonb(o) ->> 'tracking_url' end);
  perform private.emit_event('shop_order.' || to_status, 'shop_order', o.id, array[o.buyer_id], payload);
  if to_status in ('paid', 'cancelled', 'refunded') then
    perform private.emit_event('shop_sale.' || to_status, 'shop_order', o.id, array[o.shop_id], payload);
  end if;

  if to_status = 'paid' then
    insert into private.product_daily_stats as s (product_id, day, units_sold)
    select i.product_id, (now() at time zone 'utc')::date, sum(i.quantity)
      from public.shop_order_items i
     where i.shop_order_id = o.id and i.product_id is not null
     group by i.product_id
    on conflict on constraint product_daily_stats_pkey do update set units_sold = s.units_sold + excluded.units_sold;
    select jsonb_agg(jsonb_build_object('product_id', i.product_id, 'title', i.title) order by i.title, i.id)
      into digital
      from public.shop_order_items i where i.shop_order_id = o.id and i.kind = 'digital' and i.product_id is not null;
    if digital is not null then
      perform private.emit_event('shop_order.download_ready', 'shop_order', o.id, array[o.buyer_id],
        payload || jsonb_build_object('products', digital,
                                      'titles', (select string_agg(d ->> 'title', ', ') from jsonb_array_elements(digital) d)));
    end if;
  end if;
  return o;
end
$$;
comment on function private.transition_shop_order(uuid, text, text, text) is
  'Moves a shop order to a status if private.shop_order_transitions lets the actor (buyer, seller, admin, system) make that move; stamps its time, emits shop_order.<status> to the buyer and shop_sale.<status> (paid, cancelled, refunded) to the seller, shop_order.download_ready for digital items, and counts paid units toward popularity. The hook for payment, fulfilment and cancellation.';
revoke execute on function private.transition_shop_order(uuid, text, text, text) from public;
grant execute on function private.transition_shop_order(uuid, text, text, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- Pricing.

-- A platform coupon's discount split over shops in proportion to their items subtotals:
-- floors, then the leftover units one each to the largest shares (ties: larger subtotal,
-- then shop id). subtotals: {shop_id: subtotal}; returns {shop_id: discount}.
create function private.split_discount(discount bigint, subtotals jsonb) returns jsonb
language sql
immutable
set search_path = ''
as $$
  with s as (
    select e.key as shop_id, e.value::bigint as subtotal from jsonb_each_text(subtotals) e
  ), t as (
    select sum(s.subtotal) as total from s
  ), b as (
    select s.shop_id, s.subtotal,
           case when t.total > 0 then floor(discount::numeric * s.subtotal / t.total)::bigint else 0 end as share
      from s, t
  ), r as (
    select discount - coalesce(sum(b.share), 0) as rest from b
  ), o as (
    select b.shop_id, b.share, row_number() over (order by b.share desc, b.subtotal desc, b.shop_id) as rn from b
  )
  select coalesce(jsonb_object_agg(o.shop_id, o.share + case when o.rn <= r.rest then 1 else 0 end), '{}'::jsonb)
    from o, r
$$;
comment on function private.split_discount(bigint, jsonb) is
  'Splits a discount over shops by items subtotal: floor(D * s_i / S) each, the leftover minor units one each to the largest shares (ties: larger subtotal, then shop id). Sums to D; no share exceeds its subtotal when D <= S.';
revoke execute on function private.split_discount(bigint, jsonb) from public;
grant execute on function private.split_discount(bigint, jsonb) to authenticated, service_role;

-- Prices what a buyer would check out. lines: [{product_id, quantity}] (repeated products
-- are summed). Refuses precisely: 22023 malformed lines or a missing address, PT409 an empty
-- cart, two currencies, a product not for sale or not available, a coupon that does not
-- apply, a destination a shop does not ship to; PT404 an unknown product or address.
create function private.quote_checkout(buyer uuid, lines jsonb, address_id uuid, coupon_code text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  line jsonb;
  wanted jsonb := '{}'::jsonb;
  product_key text;
  qty integer;
  p public.products;
  currencies text[];
  addr public.addresses;
  has_physical boolean := false;
  shop record;
  profile record;
  quote record;
  c public.coupons;
  coupon_base bigint;
  coupon_total bigint := 0;
  shares jsonb := '{}'::jsonb;
  shop_ids uuid[];
  rate integer := 0;
  shop_list jsonb := '[]'::jsonb;
  shop_shipping bigint;
  shop_discount bigint;
  shop_tax bigint;
  min_days integer;
  max_days integer;
  items jsonb;
  sums record;
  cl jsonb := '[]'::jsonb;
begin
  if lines is null or jsonb_typeof(lines) <> 'array' then
    raise exception 'items must be a JSON array of {product_id, quantity}' using errcode = '22023';
  end if;
  if jsonb_array_length(lines) = 0 then
    raise exception 'the cart is empty: add products before checking out' using errcode = 'PT409';
  end if;
  if jsonb_array_length(lines) > 200 then
    raise exception 'a checkout holds at most 200 lines, not %', jsonb_array_length(lines) using errcode = '22023';
  end if;
  for line in select * from jsonb_array_elements(lines) loop
    if jsonb_typeof(line) <> 'object' or jsonb_typeof(line -> 'product_id') <> 'string'
       or (line ->> 'product_id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       or jsonb_typeof(line -> 'quantity') <> 'number' or (line ->> 'quantity') !~ '^-?[0-9]{1,9}$' then
      raise exception 'each item is {"product_id": <uuid>, "quantity": <whole number>}' using errcode = '22023';
    end if;
    product_key := lower(line ->> 'product_id');
    wanted := jsonb_set(wanted, array[product_key],
                        to_jsonb(coalesce((wanted ->> product_key)::integer, 0) + (line ->> 'quantity')::integer));
  end loop;

  -- Every product, in product id order: for sale, to this buyer, in this quantity now. The
  -- lines are kept as a jsonb array (cl) and read back as rows (no temporary table).
  for product_key, qty in select e.key, e.value::integer from jsonb_each_text(wanted) e order by e.key loop
    p := private.assert_purchasable(buyer, product_key::uuid, qty);
    cl := cl || jsonb_build_object('product_id', p.id, 'shop_id', p.shop_id, 'shipping_profile_id', p.shipping_profile_id,
                                   'kind', p.kind, 'title', p.title, 'sku', p.sku, 'unit_price', p.price,
                                   'currency', p.currency, 'quantity', qty);
    has_physical := has_physical or p.kind = 'physical';
  end loop;

  select array_agg(distinct l.currency order by l.currency) into currencies from jsonb_to_recordset(cl) as l(product_id uuid, shop_id uuid, shipping_profile_id uuid, kind text, title text, sku text, unit_price bigint, currency text, quantity integer);
  if array_length(currencies, 1) > 1 then
    raise exception 'the cart holds products in % currencies (%): check out one currency at a time',
      array_length(currencies, 1), array_to_string(currencies, ', ') using errcode = 'PT409';
  end if;

  if address_id is not null then
    select * into addr from public.addresses a where a.id = quote_checkout.address_id and a.user_id = buyer;
    if not found then
      raise exception 'address % not found', address_id using errcode = 'PT404';
    end if;
    rate := private.tax_rate_bps(addr.country_code, addr.region);
  elsif has_physical then
    raise exception 'an address is needed to ship physical products: give address_id' using errcode = '22023';
  end if;

  select array_agg(distinct l.shop_id order by l.shop_id) into shop_ids from jsonb_to_recordset(cl) as l(product_id uuid, shop_id uuid, shipping_profile_id uuid, kind text, title text, sku text, unit_price bigint, currency text, quantity integer);

  -- The coupon: its base is the whole items subtotal (platform) or its shop's (a shop's).
  if coupon_code is not null and trim(coupon_code) <> '' then
    c := private.coupon_by_code(coupon_code);
    select coalesce(sum(l.unit_price * l.quantity), 0) into coupon_base
      from jsonb_to_recordset(cl) as l(product_id uuid, shop_id uuid, shipping_profile_id uuid, kind text, title text, sku text, unit_price bigint, currency text, quantity integer) where c.shop_id is null or l.shop_id = c.shop_id;
    perform private.assert_coupon_usable(c, buyer, currencies[1], coupon_base, shop_ids);
    coupon_total := private.coupon_discount(c, coupon_base);
    if c.shop_id is null then
      select private.split_discount(coupon_total, jsonb_object_agg(x.shop_id, x.subtotal)) into shares
        from (select l.shop_id, sum(l.unit_price * l.quantity) as subtotal from jsonb_to_recordset(cl) as l(product_id uuid, shop_id uuid, shipping_profile_id uuid, kind text, title text, sku text, unit_price bigint, currency text, quantity integer) group by l.shop_id) x;
    else
      shares := jsonb_build_object(c.shop_id, coupon_total);
    end if;
  end if;

  for shop in
    select l.shop_id, sum(l.unit_price * l.quantity)::bigint as items_subtotal
      from jsonb_to_recordset(cl) as l(product_id uuid, shop_id uuid, shipping_profile_id uuid, kind text, title text, sku text, unit_price bigint, currency text, quantity integer) group by l.shop_id order by l.shop_id
  loop
    shop_shipping := 0;
    min_days := null;
    max_days := null;
    for profile in
      select l.shipping_profile_id, sum(l.quantity)::integer as item_count, sum(l.unit_price * l.quantity)::bigint as subtotal
        from jsonb_to_recordset(cl) as l(product_id uuid, shop_id uuid, shipping_profile_id uuid, kind text, title text, sku text, unit_price bigint, currency text, quantity integer)
       where l.shop_id = shop.shop_id and l.kind = 'physical'
       group by l.shipping_profile_id order by l.shipping_profile_id
    loop
      if profile.shipping_profile_id is null then
        raise exception 'shop % has a physical product without a shipping profile', shop.shop_id using errcode = 'PT409';
      end if;
      select * into quote from private.shipping_quote(profile.shipping_profile_id, addr.country_code::text,
                                                     profile.item_count, profile.subtotal);
      shop_shipping := shop_shipping + quote.amount;
      min_days := greatest(min_days, quote.min_days);
      max_days := greatest(max_days, quote.max_days);
    end loop;
    shop_discount := coalesce((shares ->> shop.shop_id::text)::bigint, 0);
    shop_tax := private.tax_amount(shop.items_subtotal - shop_discount + shop_shipping, rate);
    select coalesce(jsonb_agg(jsonb_build_object(
             'product_id', l.product_id, 'title', l.title, 'sku', l.sku, 'kind', l.kind, 'unit_price', l.unit_price,
             'quantity', l.quantity, 'line_total', l.unit_price * l.quantity) order by l.product_id), '[]'::jsonb)
      into items
      from jsonb_to_recordset(cl) as l(product_id uuid, shop_id uuid, shipping_profile_id uuid, kind text, title text, sku text, unit_price bigint, currency text, quantity integer) where l.shop_id = shop.shop_id;
    shop_list := shop_list || jsonb_build_object(
      'shop_id', shop.shop_id, 'items', items, 'items_subtotal', shop.items_subtotal, 'shipping', shop_shipping,
      'discount', shop_discount, 'tax_rate_bps', rate, 'tax', shop_tax,
      'total', shop.items_subtotal - shop_discount + shop_shipping + shop_tax,
      'delivery_min_days', min_days, 'delivery_max_days', max_days,
      'coupon_applies', c.id is not null and (c.shop_id is null or c.shop_id = shop.shop_id));
  end loop;

  select sum((s ->> 'items_subtotal')::bigint) as items_subtotal, sum((s ->> 'shipping')::bigint) as shipping,
         sum((s ->> 'discount')::bigint) as discount, sum((s ->> 'tax')::bigint) as tax, sum((s ->> 'total')::bigint) as total
    into sums
    from jsonb_array_elements(shop_list) s;

  return jsonb_build_object(
    'currency', currencies[1],
    'address_id', addr.id,
    'shipping_address', case when addr.id is null then null
                             else to_jsonb(addr) - 'user_id' - 'is_default' - 'created_at' - 'updated_at' end,
    'coupon', case when c.id is null then null
                   else jsonb_build_object('coupon_id', c.id, 'code', c.code, 'shop_id', c.shop_id, 'discount', coupon_total,
                                           'base', coupon_base) end,
    'shops', shop_list,
    'items_subtotal', sums.items_subtotal, 'shipping_total', sums.shipping, 'discount_total', sums.discount,
    'tax_total', sums.tax, 'total', sums.total);
end
$$;
comment on function private.quote_checkout(uuid, jsonb, uuid, text) is
  'Prices lines [{product_id, quantity}] for a buyer, address and coupon: per shop items subtotal, shipping (private.shipping_quote), discount, tax and total, and overall sums, in minor units; refuses precisely (empty, two currencies, unknown or unavailable product, address, coupon, destination).';
revoke execute on function private.quote_checkout(uuid, jsonb, uuid, text) from public;

-- The caller's cart as lines.
create function private.cart_lines(cart_id uuid) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object('product_id', i.product_id, 'quantity', i.quantity) order by i.product_id), '[]'::jsonb)
    from public.cart_items i where i.cart_id = cart_lines.cart_id
$$;
revoke execute on function private.cart_lines(uuid) from public;

create function private.preview_checkout(address_id uuid default null, coupon_code text default null, items jsonb default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('check out');
  cart_id uuid;
begin
  if items is null then
    select c.id into cart_id from public.carts c where c.user_id = buyer;
    items := private.cart_lines(cart_id);
  end if;
  return private.quote_checkout(buyer, items, address_id, coupon_code);
end
$$;
comment on function private.preview_checkout(uuid, text, jsonb) is
  'The body of the client RPC public.preview_checkout: security definer, in private so the API does not expose it.';
revoke execute on function private.preview_checkout(uuid, text, jsonb) from public;
grant execute on function private.preview_checkout(uuid, text, jsonb) to authenticated;

create function public.preview_checkout(address_id uuid default null, coupon_code text default null, items jsonb default null)
returns jsonb
language sql
security invoker
set search_path = ''
as $$
  select private.preview_checkout(address_id, coupon_code, items)
$$;
comment on function public.preview_checkout(uuid, text, jsonb) is
  '001 POST /orders/checkout: prices the caller''s cart (or items [{product_id, quantity}]) for one of their addresses and a coupon code: { currency, shipping_address, coupon, shops: [{ shop_id, items, items_subtotal, shipping, discount, tax_rate_bps, tax, total, delivery_min_days, delivery_max_days }], items_subtotal, shipping_total, discount_total, tax_total, total } in minor units. Reserves nothing.';
revoke execute on function public.preview_checkout(uuid, text, jsonb) from public;
grant execute on function public.preview_checkout(uuid, text, jsonb) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Placing: the checkout, its shop orders and items, the coupon's redemption and the stock
-- reservation, in one transaction.

create function private.create_checkout(
  buyer uuid, lines jsonb, address_id uuid, coupon_code text, idempotency_key text, cart_id uuid
) returns public.checkouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  q jsonb;
  s jsonb;
  co public.checkouts;
  so public.shop_orders;
  window_minutes integer := private.checkout_reservation_minutes();
  coupon_shop uuid;
  coupon_order_total bigint;
begin
  q := private.quote_checkout(buyer, lines, address_id, coupon_code);
  -- Queue on the coupon before writing anything that names it: concurrent checkouts of one
  -- coupon then run their placements one at a time (private.redeem_coupon checks it again).
  if q -> 'coupon' <> 'null'::jsonb then
    perform 1 from public.coupons k where k.id = (q #>> '{coupon,coupon_id}')::uuid for no key update;
  end if;

  insert into public.checkouts (buyer_id, cart_id, idempotency_key, currency, items_subtotal, shipping_total,
                                discount_total, tax_total, total, coupon_id, shipping_address, expires_at)
  values (buyer, cart_id, idempotency_key, q ->> 'currency', (q ->> 'items_subtotal')::bigint,
          (q ->> 'shipping_total')::bigint, (q ->> 'discount_total')::bigint, (q ->> 'tax_total')::bigint,
          (q ->> 'total')::bigint, (q #>> '{coupon,coupon_id}')::uuid, q -> 'shipping_address',
          now() + make_interval(mins => window_minutes))
  returning * into co;

  for s in select * from jsonb_array_elements(q -> 'shops') loop
    insert into public.shop_orders (checkout_id, shop_id, buyer_id, currency, items_subtotal, shipping_amount,
                                    discount_amount, tax_rate_bps, tax_amount, total, coupon_id, shipping_address,
                                    delivery_min_days, delivery_max_days)
    values (co.id, (s ->> 'shop_id')::uuid, buyer, co.currency, (s ->> 'items_subtotal')::bigint, (s ->> 'shipping')::bigint,
            (s ->> 'discount')::bigint, (s ->> 'tax_rate_bps')::integer, (s ->> 'tax')::bigint, (s ->> 'total')::bigint,
            case when (s ->> 'coupon_applies')::boolean then co.coupon_id end,
            case when exists (select 1 from jsonb_array_elements(s -> 'items') i where i ->> 'kind' = 'physical')
                 then co.shipping_address end,
            (s ->> 'delivery_min_days')::integer, (s ->> 'delivery_max_days')::integer)
    returning * into so;
    insert into public.shop_order_items (shop_order_id, product_id, title, sku, kind, unit_price, quantity, line_total)
    select so.id, (i ->> 'product_id')::uuid, i ->> 'title', i ->> 'sku', i ->> 'kind', (i ->> 'unit_price')::bigint,
           (i ->> 'quantity')::integer, (i ->> 'line_total')::bigint
      from jsonb_array_elements(s -> 'items') i;
  end loop;

  -- The coupon, under its row's lock (checked again there: concurrent checkouts queue), then
  -- the stock, all or nothing (inventory rows locked in product order). Either refusal
  -- undoes the whole placement.
  if co.coupon_id is not null then
    coupon_shop := (q #>> '{coupon,shop_id}')::uuid;
    select coalesce(sum(o.total), 0) into coupon_order_total from public.shop_orders o
     where o.checkout_id = co.id and (coupon_shop is null or o.shop_id = coupon_shop);
    perform private.redeem_coupon(co.coupon_id, buyer, co.id, co.currency, (q #>> '{coupon,base}')::bigint,
                                  array(select (x ->> 'shop_id')::uuid from jsonb_array_elements(q -> 'shops') x),
                                  (q #>> '{coupon,discount}')::bigint, coupon_order_total);
  end if;
  perform private.reserve_stock(
    (select jsonb_agg(jsonb_build_object('product_id', i ->> 'product_id', 'quantity', (i ->> 'quantity')::integer))
       from jsonb_array_elements(q -> 'shops') x, jsonb_array_elements(x -> 'items') i),
    'checkout:' || co.id, co.expires_at);

  perform private.emit_event('checkout.placed', 'checkout', co.id,
                             array(select (x ->> 'shop_id')::uuid from jsonb_array_elements(q -> 'shops') x),
                             jsonb_build_object('currency', co.currency, 'total', co.total,
                                                'shop_orders', (select jsonb_agg(o.id order by o.shop_id) from public.shop_orders o
                                                                 where o.checkout_id = co.id)),
                             buyer);
  return co;
end
$$;
comment on function private.create_checkout(uuid, jsonb, uuid, text, text, uuid) is
  'Places a checkout for a buyer: prices the lines (private.quote_checkout), writes the checkout, one shop order per shop and their items, redeems the coupon under its lock and reserves the stock until expires_at, all or nothing; emits checkout.placed to the sellers.';
revoke execute on function private.create_checkout(uuid, jsonb, uuid, text, text, uuid) from public;

-- 003 POST /cart/checkout, 001 POST /orders: the caller's cart.
create function private.checkout_cart(address_id uuid default null, coupon_code text default null)
returns public.checkouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('check out');
  c public.carts;
  co public.checkouts;
begin
  -- One checkout of a cart at a time: a double click queues here, then finds the first one.
  c := private.lock_cart(buyer);
  if c.checkout_id is not null then
    select * into co from public.checkouts x where x.id = c.checkout_id;
    return co;
  end if;
  co := private.create_checkout(buyer, private.cart_lines(c.id), address_id, coupon_code,
                                'cart:' || c.id || ':' || c.revision, c.id);
  delete from public.cart_items i where i.cart_id = c.id;
  update public.carts set revision = revision + 1, checkout_id = co.id where id = c.id;
  return co;
end
$$;
comment on function private.checkout_cart(uuid, text) is
  'The body of the client RPC public.checkout_cart: security definer, in private so the API does not expose it.';
revoke execute on function private.checkout_cart(uuid, text) from public;
grant execute on function private.checkout_cart(uuid, text) to authenticated;

create function public.checkout_cart(address_id uuid default null, coupon_code text default null)
returns public.checkouts
language sql
security invoker
set search_path = ''
as $$
  select private.checkout_cart(address_id, coupon_code)
$$;
comment on function public.checkout_cart(uuid, text) is
  '003 POST /cart/checkout, 001 POST /orders: places the caller''s cart as one checkout with one shop order per shop (status awaiting_payment), stock reserved for the checkout_reservation_minutes setting, coupon usage counted, cart emptied. Idempotent per cart: a retry or a double click before the cart changes returns the same checkout.';
revoke execute on function public.checkout_cart(uuid, text) from public;
grant execute on function public.checkout_cart(uuid, text) to authenticated;

-- 003 POST /orders with items and a coupon code, without the cart.
create function private.place_order(
  items jsonb, address_id uuid default null, coupon_code text default null, idempotency_key uuid default null
) returns public.checkouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('check out');
  key text := 'request:' || coalesce(idempotency_key, gen_random_uuid());
  co public.checkouts;
begin
  perform pg_advisory_xact_lock(hashtextextended('place_order:' || buyer::text || ':' || key, 0));
  select * into co from public.checkouts x where x.buyer_id = buyer and x.idempotency_key = key;
  if found then
    return co;
  end if;
  return private.create_checkout(buyer, items, address_id, coupon_code, key, null);
end
$$;
comment on function private.place_order(jsonb, uuid, text, uuid) is
  'The body of the client RPC public.place_order: security definer, in private so the API does not expose it.';
revoke execute on function private.place_order(jsonb, uuid, text, uuid) from public;
grant execute on function private.place_order(jsonb, uuid, text, uuid) to authenticated;

create function public.place_order(
  items jsonb, address_id uuid default null, coupon_code text default null, idempotency_key uuid default null
) returns public.checkouts
language sql
security invoker
set search_path = ''
as $$
  select private.place_order(items, address_id, coupon_code, idempotency_key)
$$;
comment on function public.place_order(jsonb, uuid, text, uuid) is
  '003 POST /orders: places items [{product_id, quantity}] (not the cart) as one checkout with one shop order per shop, as checkout_cart does; a retry with the same idempotency_key returns the same checkout.';
revoke execute on function public.place_order(jsonb, uuid, text, uuid) from public;
grant execute on function public.place_order(jsonb, uuid, text, uuid) to authenticated;

-- 003 POST /coupons/apply: a coupon on a placed checkout that has none, while it awaits
-- payment. Prices stay as snapshotted; the discount is split and taxed as at placement.
create function private.apply_coupon(checkout_id uuid, code text) returns public.checkouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a coupon');
  co public.checkouts;
  c public.coupons;
  shop_ids uuid[];
  base bigint;
  discount bigint;
  shares jsonb;
  o record;
  share bigint;
  coupon_order_total bigint;
begin
  select * into co from public.checkouts x where x.id = apply_coupon.checkout_id and x.buyer_id = buyer for update;
  if not found then
    raise exception 'checkout % not found', checkout_id using errcode = 'PT404';
  end if;
  if co.status <> 'awaiting_payment' then
    raise exception 'checkout % is %: a coupon applies only while it awaits payment', co.id, co.status using errcode = 'PT409';
  end if;
  if co.coupon_id is not null then
    raise exception 'checkout % already has a coupon: one coupon per checkout', co.id using errcode = 'PT409';
  end if;
  c := private.coupon_by_code(code);
  -- The coupon's lock first (as the placement takes it), then its state as of now.
  select * into c from public.coupons k where k.id = c.id for no key update;
  select array_agg(x.shop_id order by x.shop_id), coalesce(sum(x.items_subtotal) filter (where c.shop_id is null or x.shop_id = c.shop_id), 0)
    into shop_ids, base
    from public.shop_orders x where x.checkout_id = co.id;
  perform private.assert_coupon_usable(c, buyer, co.currency, base, shop_ids);
  discount := private.coupon_discount(c, base);
  if c.shop_id is null then
    select private.split_discount(discount, jsonb_object_agg(x.shop_id, x.items_subtotal)) into shares
      from public.shop_orders x where x.checkout_id = co.id;
  else
    shares := jsonb_build_object(c.shop_id, discount);
  end if;
  for o in select * from public.shop_orders x where x.checkout_id = co.id order by x.id for update loop
    share := coalesce((shares ->> o.shop_id::text)::bigint, 0);
    update public.shop_orders x
       set discount_amount = share,
           tax_amount = private.tax_amount(o.items_subtotal - share + o.shipping_amount, o.tax_rate_bps),
           total = o.items_subtotal - share + o.shipping_amount
                   + private.tax_amount(o.items_subtotal - share + o.shipping_amount, o.tax_rate_bps),
           coupon_id = case when c.shop_id is null or c.shop_id = o.shop_id then c.id end
     where x.id = o.id;
  end loop;
  update public.checkouts x
     set coupon_id = c.id,
         discount_total = t.discount, tax_total = t.tax, total = t.total
    from (select sum(o2.discount_amount) as discount, sum(o2.tax_amount) as tax, sum(o2.total) as total
            from public.shop_orders o2 where o2.checkout_id = co.id) t
   where x.id = co.id
   returning x.* into co;
  select coalesce(sum(o3.total), 0) into coupon_order_total from public.shop_orders o3
   where o3.checkout_id = co.id and (c.shop_id is null or o3.shop_id = c.shop_id);
  perform private.redeem_coupon(c.id, buyer, co.id, co.currency, base, shop_ids, discount, coupon_order_total);
  return co;
end
$$;
comment on function private.apply_coupon(uuid, text) is
  'The body of the client RPC public.apply_coupon: security definer, in private so the API does not expose it.';
revoke execute on function private.apply_coupon(uuid, text) from public;
grant execute on function private.apply_coupon(uuid, text) to authenticated;

create function public.apply_coupon(checkout_id uuid, code text) returns public.checkouts
language sql
security invoker
set search_path = ''
as $$
  select private.apply_coupon(checkout_id, code)
$$;
comment on function public.apply_coupon(uuid, text) is
  '003 POST /coupons/apply: applies a coupon to the caller''s placed checkout that has none while it awaits payment: the discount split over its shop orders and their tax recomputed from the snapshotted amounts, the use counted under the coupon''s lock; the same refusals as validate_coupon, PT409 after payment or with a coupon already.';
revoke execute on function public.apply_coupon(uuid, text) from public;
grant execute on function public.apply_coupon(uuid, text) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Expiry: unpaid checkouts past their window give back stock and coupon.

-- What ends an unpaid checkout, expired or cancelled alike, on a checkout the caller holds
-- locked and has found awaiting payment: its status (with expired_at or cancelled_at), its
-- shop orders cancelled by the actor (each a listed transition), its coupon and then its stock
-- released. The callers emit their own event.
create function private.close_unpaid_checkout(checkout_id uuid, to_status text, actor text, reason text) returns public.checkouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  co public.checkouts;
  o record;
begin
  if to_status not in ('expired', 'cancelled') then
    raise exception 'an unpaid checkout is closed as expired or cancelled, not %', coalesce(to_status, 'null') using errcode = '22023';
  end if;
  update public.checkouts x set status = to_status,
         expired_at = case when to_status = 'expired' then now() else x.expired_at end,
         cancelled_at = case when to_status = 'cancelled' then now() else x.cancelled_at end
   where x.id = close_unpaid_checkout.checkout_id and x.status = 'awaiting_payment'
  returning * into co;
  if not found then
    raise exception 'checkout % is not awaiting payment', checkout_id using errcode = 'PT409';
  end if;
  for o in select x.id from public.shop_orders x where x.checkout_id = co.id and x.status = 'awaiting_payment' order by x.id loop
    perform private.transition_shop_order(o.id, 'cancelled', actor, reason);
  end loop;
  -- Coupon before stock, as the placement locks them, so the two never wait on each other
  -- in opposite orders.
  perform private.release_coupon_redemptions(co.id);
  perform private.release_reservations('checkout:' || co.id, reason);
  return co;
end
$$;
comment on function private.close_unpaid_checkout(uuid, text, text, text) is
  'Ends a checkout awaiting payment (the caller holds its lock): status expired or cancelled, its shop orders cancelled by the actor, coupon usage and stock reservations released. Used by expire_checkout and cancel_checkout.';
revoke execute on function private.close_unpaid_checkout(uuid, text, text, text) from public;
grant execute on function private.close_unpaid_checkout(uuid, text, text, text) to service_role;

create function private.expire_checkout(checkout_id uuid, reason text default 'payment window expired') returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  co public.checkouts;
begin
  select * into co from public.checkouts x where x.id = checkout_id for update;
  if not found or co.status <> 'awaiting_payment' then
    return false;
  end if;
  co := private.close_unpaid_checkout(co.id, 'expired', 'system', reason);
  perform private.emit_event('checkout.expired', 'checkout', co.id, array[co.buyer_id],
                             jsonb_build_object('reason', reason, 'total', co.total, 'currency', co.currency,
                                                'amount', private.shop_amount_text(co.total, co.currency)), null);
  return true;
end
$$;
comment on function private.expire_checkout(uuid, text) is
  'Expires an unpaid checkout: status expired, its shop orders cancelled (system), stock reservations and coupon usage released, checkout.expired to the buyer. Idempotent (false when it is not awaiting payment). The hook for a failed or expired payment.';
revoke execute on function private.expire_checkout(uuid, text) from public;
grant execute on function private.expire_checkout(uuid, text) to service_role;

create function private.expire_checkouts(batch_size integer default 500) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  due uuid;
  expired integer := 0;
begin
  for due in
    select x.id from public.checkouts x
     where x.status = 'awaiting_payment' and x.expires_at <= now()
     order by x.expires_at
     limit greatest(coalesce(batch_size, 500), 1)
     for update skip locked
  loop
    if private.expire_checkout(due) then
      expired := expired + 1;
    end if;
  end loop;
  return expired;
end
$$;
comment on function private.expire_checkouts(integer) is
  'The commerce-expire-checkouts job: expires unpaid checkouts past expires_at (oldest first, skipping ones another run holds); returns how many.';
revoke execute on function private.expire_checkouts(integer) from public;
grant execute on function private.expire_checkouts(integer) to service_role;

-- ---------------------------------------------------------------------------------------
-- Account erasure: open shop orders keep buyer and seller accounts.

create function private.open_shop_orders_blocking_erasure(user_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select case when count(*) = 0 then null
              else count(*) || ' open shop orders (' || array_to_string((array_agg(o.id::text order by o.created_at, o.id))[1:5], ', ')
                   || case when count(*) > 5 then ', …' else '' end || ')'
         end
    from public.shop_orders o
   where (o.buyer_id = open_shop_orders_blocking_erasure.user_id or o.shop_id = open_shop_orders_blocking_erasure.user_id)
     and o.status in ('awaiting_payment', 'paid', 'shipped')
$$;
comment on function private.open_shop_orders_blocking_erasure(uuid) is
  'Erasure blocker: the user''s shop orders, as buyer or seller, awaiting payment, paid or shipped (at most five ids), or null.';
revoke execute on function private.open_shop_orders_blocking_erasure(uuid) from public;
grant execute on function private.open_shop_orders_blocking_erasure(uuid) to service_role;
