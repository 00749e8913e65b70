-- The commerce domain's schema at the rebaseline: every file of supabase/schemas/50_commerce/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/50_commerce/10_categories.sql
-- ======================================================================================

-- The shop's catalogue (issue 17): product categories, a tree managed by staff
-- (commerce.manage, granted to admin and staff in the commerce reference data). Everyone,
-- anon included, reads the active categories; managers read and change all of them.

-- Whether the caller manages the shop (every product, category, coupon, order, inventory).
create function private.can_manage_commerce() returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select private.has_permission('commerce.manage')
$$;
comment on function private.can_manage_commerce() is
  'Whether the caller holds commerce.manage (staff and admins): every product, category and inventory level.';
revoke execute on function private.can_manage_commerce() from public;
grant execute on function private.can_manage_commerce() to anon, authenticated, service_role;

create table public.product_categories (
  id uuid primary key default gen_random_uuid(),
  parent_id uuid references public.product_categories (id) on delete restrict,
  slug text not null constraint product_categories_slug_format check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(slug) <= 80),
  name text not null constraint product_categories_name_length check (char_length(trim(name)) between 1 and 120),
  position integer not null default 0,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint product_categories_slug_key unique (slug),
  constraint product_categories_not_own_parent check (parent_id is distinct from id)
);
comment on table public.product_categories is
  'Product categories (001/003), a tree: parent_id null at the roots. Managed by commerce.manage; active ones are public.';
comment on column public.product_categories.position is 'Order among siblings (ascending).';
comment on column public.product_categories.is_active is
  'An inactive category is hidden from the public with its products'' category link kept; its children stay as they are.';

create index product_categories_parent_idx on public.product_categories (parent_id, position) where parent_id is not null;

create trigger product_categories_touch_updated_at before update on public.product_categories
  for each row execute function private.touch_updated_at();

-- A category never becomes its own ancestor.
create function private.check_category_parent() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.parent_id is null then
    return new;
  end if;
  if not exists (select 1 from public.product_categories c where c.id = new.parent_id) then
    raise exception 'category % does not exist', new.parent_id using errcode = '22023';
  end if;
  if tg_op = 'UPDATE' and new.parent_id in (select private.category_subtree(new.id)) then
    raise exception 'category % cannot move under %: that is itself or one of its descendants', new.id, new.parent_id
      using errcode = '22023';
  end if;
  return new;
end
$$;
comment on function private.check_category_parent() is
  'Trigger: a category''s parent exists and is not the category itself or one of its descendants (22023).';

create trigger product_categories_check_parent before insert or update of parent_id on public.product_categories
  for each row execute function private.check_category_parent();

-- The category and every descendant (used by product filters: a category includes its
-- subcategories). Security definer: inactive categories count too, whoever asks.
create function private.category_subtree(category_id uuid) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  with recursive tree (id) as (
    select c.id from public.product_categories c where c.id = category_subtree.category_id
    union
    select c.id from public.product_categories c join tree t on c.parent_id = t.id
  )
  select id from tree
$$;
comment on function private.category_subtree(uuid) is
  'The category and all its descendants (empty when the category does not exist).';
revoke execute on function private.category_subtree(uuid) from public;
grant execute on function private.category_subtree(uuid) to anon, authenticated, service_role;

alter table public.product_categories enable row level security;
grant select on public.product_categories to anon, authenticated;
grant insert (id, parent_id, slug, name, position, is_active),
      update (parent_id, slug, name, position, is_active),
      delete
  on public.product_categories to authenticated;
grant all on public.product_categories to service_role;

create policy "Anyone reads active categories" on public.product_categories for select to anon using (is_active);
create policy "Signed-in users read active categories, managers all"
  on public.product_categories for select to authenticated
  using (is_active or (select private.can_manage_commerce()));
create policy "Managers add categories" on public.product_categories for insert to authenticated
  with check ((select private.can_manage_commerce()));
create policy "Managers change categories" on public.product_categories for update to authenticated
  using ((select private.can_manage_commerce())) with check ((select private.can_manage_commerce()));
create policy "Managers delete categories" on public.product_categories for delete to authenticated
  using ((select private.can_manage_commerce()));

-- ======================================================================================
-- supabase/schemas/50_commerce/20_products.sql
-- ======================================================================================

-- Products (issue 17; 000 "Marketplace Products", 001 and 003 products): owned by a shop
-- (public.shops, id = the seller's user id). A seller writes only their own shop's products,
-- while they hold shop.sell and their shop is active; commerce.manage writes any. Everyone,
-- anon included, reads the active products of active shops; owners also read their drafts
-- and archived products. Money, SKU, kind and the status machine are checked by a trigger
-- with precise errors; is_featured, published_at and in_stock are not client-writable.

-- Whether the caller may sell now: shop.sell and an active shop of their own.
create function private.sells_in_active_shop() returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select private.has_permission('shop.sell')
     and exists (select 1 from public.shops s where s.id = auth.uid() and s.is_active)
$$;
comment on function private.sells_in_active_shop() is
  'Whether the caller holds shop.sell and their shop (shops.id = their user id) is active.';
revoke execute on function private.sells_in_active_shop() from public;
grant execute on function private.sells_in_active_shop() to authenticated, service_role;

-- The shops an admin has deactivated: few, so policies test `not (shop_id = any (...))`
-- once per statement instead of joining shops for every product row.
create function private.inactive_shop_ids() returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(array_agg(s.id), '{}') from public.shops s where not s.is_active
$$;
comment on function private.inactive_shop_ids() is
  'Ids of deactivated shops, whose products are hidden from the public (evaluated once per statement by the policies).';
revoke execute on function private.inactive_shop_ids() from public;
grant execute on function private.inactive_shop_ids() to anon, authenticated, service_role;

create table public.products (
  id uuid primary key default gen_random_uuid(),
  shop_id uuid not null default auth.uid() references public.shops (id) on delete cascade,
  title text not null constraint products_title_length check (char_length(trim(title)) between 1 and 200),
  description text not null default '' constraint products_description_length check (char_length(description) <= 10000),
  price bigint not null constraint products_price_positive check (price > 0),
  currency text not null references public.currencies (code),
  kind text not null default 'physical' constraint products_kind check (kind in ('physical', 'digital')),
  sku text constraint products_sku_format check (sku ~ '^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$'),
  status text not null default 'draft' constraint products_status check (status in ('draft', 'active', 'archived')),
  category_id uuid references public.product_categories (id) on delete set null,
  shipping_profile_id uuid,
  digital_file_path text,
  is_featured boolean not null default false,
  in_stock boolean not null default true,
  search tsvector generated always as (
    setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', description), 'B')
  ) stored,
  published_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint products_shop_sku_key unique (shop_id, sku),
  constraint products_digital_has_no_shipping check (kind = 'physical' or shipping_profile_id is null),
  constraint products_file_is_digital check (kind = 'digital' or digital_file_path is null)
);
comment on table public.products is
  'Products of shops (000/001/003). Status draft -> active -> archived (-> draft); written by the shop''s seller (shop.sell, active shop) or commerce.manage; active products of active shops are public.';
comment on column public.products.price is 'Minor units of currency, > 0 and <= the currency''s max_amount (private.assert_money).';
comment on column public.products.sku is 'Optional stock-keeping unit, unique within the shop (precise 23505 from the check trigger).';
comment on column public.products.shipping_profile_id is
  'One of the shop''s shipping profiles, in the product''s currency; required for a physical product to be active; none for digital.';
comment on column public.products.digital_file_path is
  'A digital product''s file in the private product-files bucket, <shop id>/<product id>/<file>; required for it to be active.';
comment on column public.products.is_featured is 'Curated by commerce.manage only (set_product_featured); not client-writable.';
comment on column public.products.in_stock is
  'Whether a buyer can order it now: digital always; physical while its inventory level has available > 0 (kept by the inventory).';
comment on column public.products.search is
  'Full-text vector (''simple'' config: no stemming, keeps Korean words) over title (weight A) and description (B).';
comment on column public.products.published_at is 'When it first became active (set by the check trigger).';

create index products_shop_idx on public.products (shop_id, created_at desc);
create index products_active_newest_idx on public.products (created_at desc, id desc) where status = 'active';
create index products_active_price_idx on public.products (currency, price, id) where status = 'active';
create index products_category_idx on public.products (category_id) where category_id is not null;
create index products_shipping_profile_idx on public.products (shipping_profile_id) where shipping_profile_id is not null;
create index products_featured_idx on public.products (created_at desc) where is_featured and status = 'active';
create index products_search_idx on public.products using gin (search);

create trigger products_touch_updated_at before update on public.products
  for each row execute function private.touch_updated_at();
create trigger products_anonymous_refused before insert on public.products
  for each row execute function private.refuse_anonymous('sell products');

-- Whether an object exists in a bucket (security definer: storage.objects is behind RLS).
create function private.storage_object_exists(bucket text, object_name text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from storage.objects o where o.bucket_id = bucket and o.name = object_name)
$$;
comment on function private.storage_object_exists(text, text) is 'Whether bucket holds an object of this name.';
revoke execute on function private.storage_object_exists(text, text) from public;
grant execute on function private.storage_object_exists(text, text) to authenticated, service_role;

-- The status machine: draft -> active | archived; active -> draft | archived; archived -> draft.
-- An archived product goes back through draft before it is sold again.
create function private.check_product() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  profile record;
  other uuid;
begin
  if tg_op = 'UPDATE' then
    if new.shop_id <> old.shop_id then
      raise exception 'product % belongs to shop %: it cannot move to another shop', old.id, old.shop_id using errcode = '22023';
    end if;
    if new.kind <> old.kind and old.status <> 'draft' then
      raise exception 'product % is %: only a draft changes kind', old.id, old.status using errcode = 'PT409';
    end if;
    if new.status <> old.status
       and (old.status, new.status) not in (('draft', 'active'), ('draft', 'archived'), ('active', 'draft'),
                                            ('active', 'archived'), ('archived', 'draft')) then
      raise exception 'product % is %: it cannot become % (draft -> active | archived, active -> draft | archived, archived -> draft)',
        old.id, old.status, new.status using errcode = 'PT409';
    end if;
  end if;

  perform private.assert_money(new.price, new.currency, 'price');

  if new.category_id is not null and not exists (select 1 from public.product_categories c where c.id = new.category_id) then
    raise exception 'category % does not exist', new.category_id using errcode = '22023';
  end if;

  if new.shipping_profile_id is not null then
    if new.kind = 'digital' then
      raise exception 'a digital product has no shipping profile' using errcode = '22023';
    end if;
    select sp.shop_id, sp.currency into profile from public.shipping_profiles sp where sp.id = new.shipping_profile_id;
    if not found or profile.shop_id <> new.shop_id then
      raise exception 'shipping profile % is not one of shop %''s profiles', new.shipping_profile_id, new.shop_id
        using errcode = '22023';
    end if;
    if profile.currency <> new.currency then
      raise exception 'shipping profile % quotes in %, the product is priced in %', new.shipping_profile_id, profile.currency, new.currency
        using errcode = '22023';
    end if;
  end if;

  if new.digital_file_path is not null then
    if new.kind <> 'digital' then
      raise exception 'only a digital product has a file' using errcode = '22023';
    end if;
    if new.digital_file_path not like new.shop_id::text || '/' || new.id::text || '/_%' then
      raise exception 'a product''s file lives under %/%/ in the product-files bucket', new.shop_id, new.id using errcode = '22023';
    end if;
  end if;

  if new.sku is not null and (tg_op = 'INSERT' or new.sku is distinct from old.sku) then
    select p.id into other from public.products p where p.shop_id = new.shop_id and p.sku = new.sku and p.id <> new.id;
    if found then
      raise exception 'shop % already has a product with this SKU (product %)', new.shop_id, other using errcode = '23505';
    end if;
  end if;

  if new.status = 'active' and (tg_op = 'INSERT' or old.status <> 'active' or new.kind <> old.kind
                                or new.shipping_profile_id is distinct from old.shipping_profile_id
                                or new.digital_file_path is distinct from old.digital_file_path) then
    if new.kind = 'physical' and new.shipping_profile_id is null then
      raise exception 'product % is physical: it needs a shipping profile of its shop to be active', new.id using errcode = 'PT409';
    end if;
    if new.kind = 'digital' and (new.digital_file_path is null
                                 or not private.storage_object_exists('product-files', new.digital_file_path)) then
      raise exception 'product % is digital: its file must be uploaded to product-files before it is active', new.id
        using errcode = 'PT409';
    end if;
  end if;

  if new.kind = 'digital' then
    new.in_stock := true;
  elsif tg_op = 'INSERT' then
    new.in_stock := false; -- its level starts at zero
  end if;

  if new.status = 'active' and (tg_op = 'INSERT' or old.status <> 'active') then
    new.published_at := coalesce(new.published_at, now());
  end if;
  return new;
end
$$;
comment on function private.check_product() is
  'Trigger: price within the currency, category and shipping profile (the shop''s own, same currency) exist, digital file under <shop>/<product>/, SKU unique in the shop (23505), the status machine (PT409), an active product sellable (profile or uploaded file); published_at at the first activation.';

create trigger products_check
  before insert or update of shop_id, title, description, price, currency, kind, sku, status, category_id,
                             shipping_profile_id, digital_file_path
  on public.products
  for each row execute function private.check_product();

-- product.published, each time a product becomes active (security definer: the outbox is
-- not the seller's to write).
create function private.emit_product_published() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.status = 'active' and (tg_op = 'INSERT' or old.status <> 'active') then
    perform private.emit_event('product.published', 'product', new.id, '{}',
                               jsonb_build_object('product_id', new.id, 'shop_id', new.shop_id, 'title', new.title,
                                                  'price', new.price, 'currency', new.currency));
  end if;
  return null;
end
$$;
comment on function private.emit_product_published() is 'Trigger: emits product.published when a product becomes active.';
create trigger products_published after insert or update of status on public.products
  for each row execute function private.emit_product_published();

alter table public.products enable row level security;
grant select on public.products to anon, authenticated;
grant insert (id, shop_id, title, description, price, currency, kind, sku, status, category_id, shipping_profile_id, digital_file_path),
      update (title, description, price, currency, kind, sku, status, category_id, shipping_profile_id, digital_file_path),
      delete
  on public.products to authenticated;
grant all on public.products to service_role;

create policy "Anyone reads active products of active shops" on public.products for select to anon
  using (status = 'active' and not (shop_id = any ((select private.inactive_shop_ids())::uuid[])));
create policy "Signed-in users read active products, sellers their own, managers all"
  on public.products for select to authenticated
  using ((status = 'active' and not (shop_id = any ((select private.inactive_shop_ids())::uuid[])))
         or shop_id = (select auth.uid())
         or (select private.can_manage_commerce()));
create policy "Sellers add products to their active shop, managers to any"
  on public.products for insert to authenticated
  with check ((shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
              or (select private.can_manage_commerce()));
create policy "Sellers edit their products while selling, managers any"
  on public.products for update to authenticated
  using ((shop_id = (select auth.uid()) and (select private.sells_in_active_shop())) or (select private.can_manage_commerce()))
  with check ((shop_id = (select auth.uid()) and (select private.sells_in_active_shop())) or (select private.can_manage_commerce()));
create policy "Sellers delete their drafts, managers any product"
  on public.products for delete to authenticated
  using ((status = 'draft' and shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
         or (select private.can_manage_commerce()));

-- ---------------------------------------------------------------------------------------
-- Featured (003): curated by commerce.manage.

create function private.set_product_featured(product_id uuid, featured boolean) returns public.products
language plpgsql
security definer
set search_path = ''
as $$
declare
  product public.products;
begin
  if not private.can_manage_commerce() and not private.is_service_role() then
    raise exception 'permission denied: commerce.manage is required' using errcode = '42501';
  end if;
  if featured is null then
    raise exception 'featured is true or false' using errcode = '22023';
  end if;
  update public.products p set is_featured = featured where p.id = set_product_featured.product_id returning * into product;
  if not found then
    raise exception 'product % not found', product_id using errcode = 'PT404';
  end if;
  return product;
end
$$;
comment on function private.set_product_featured(uuid, boolean) is 'Body of public.set_product_featured.';
revoke execute on function private.set_product_featured(uuid, boolean) from public;
grant execute on function private.set_product_featured(uuid, boolean) to authenticated, service_role;

create function public.set_product_featured(product_id uuid, featured boolean) returns public.products
language sql
security invoker
set search_path = ''
as $$
  select private.set_product_featured(product_id, featured)
$$;
comment on function public.set_product_featured(uuid, boolean) is
  'Marks a product featured or not (003 featured list); commerce.manage only (42501), PT404 for an unknown product.';
revoke execute on function public.set_product_featured(uuid, boolean) from public;
grant execute on function public.set_product_featured(uuid, boolean) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Search (anchors §5): the 'simple' configuration keeps Korean words, but Korean particles
-- stick to nouns ('가방을'), so whole-word matching misses them: queries are prefix
-- tsqueries, every word of the query a prefix that must match ('가방' finds '가방을').

create function private.prefix_tsquery(query text) returns tsquery
language sql
immutable
set search_path = ''
as $$
  select to_tsquery('simple', string_agg(quote_literal(w) || ':*', ' & '))
    from regexp_split_to_table(regexp_replace(coalesce(query, ''), '[&|!():*<>''"\\]', ' ', 'g'), '\s+') w
   where w <> ''
$$;
comment on function private.prefix_tsquery(text) is
  'The tsquery (''simple'' config) in which every word of query is a prefix that must match; null for an empty query.';
revoke execute on function private.prefix_tsquery(text) from public;
grant execute on function private.prefix_tsquery(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Views and sales per product and day: what "popular" ranks by (views plus ten times the
-- units sold over the last 30 days). Views are counted once per viewer per product per day
-- (record_product_view); anonymous viewers are told apart by a hash of their address, and
-- anonymous views count at most 1,000 per product and day.

create table private.product_daily_stats (
  product_id uuid not null references public.products (id) on delete cascade,
  day date not null,
  views integer not null default 0 constraint product_daily_stats_views_positive check (views >= 0),
  anonymous_views integer not null default 0 constraint product_daily_stats_anonymous_views_positive check (anonymous_views >= 0),
  units_sold integer not null default 0 constraint product_daily_stats_units_sold_positive check (units_sold >= 0),
  primary key (product_id, day)
);
comment on table private.product_daily_stats is
  'Daily rollup per product: distinct viewers (record_product_view) and units sold (the items of shop orders when they are paid, physical and digital alike: private.transition_shop_order). Ranks popular products.';
create index product_daily_stats_day_idx on private.product_daily_stats (day, product_id);
alter table private.product_daily_stats enable row level security;
grant all on private.product_daily_stats to service_role;

create table private.product_view_marks (
  product_id uuid not null references public.products (id) on delete cascade,
  day date not null,
  viewer text not null,
  user_id uuid references auth.users (id) on delete cascade,
  primary key (product_id, day, viewer)
);
comment on table private.product_view_marks is
  'Who viewed a product on a day (a user id, or anon: and a hash of the address), so a view counts once per viewer and day; earlier days'' marks are cleared by the product''s first view of a new day.';
create index product_view_marks_user_idx on private.product_view_marks (user_id) where user_id is not null;
alter table private.product_view_marks enable row level security;
grant all on private.product_view_marks to service_role;

create function private.record_product_view(product_id uuid) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  product public.products;
  viewer_key text;
  counted boolean := false;
  first_today boolean := false;
  today date := (now() at time zone 'utc')::date;
  forwarded text;
begin
  select * into product from public.products p where p.id = record_product_view.product_id;
  if not found or product.status <> 'active' or product.shop_id = any (private.inactive_shop_ids()) then
    raise exception 'product % not found', product_id using errcode = 'PT404';
  end if;
  if auth.uid() = product.shop_id then
    return false; -- a seller's own views do not count
  end if;
  if auth.uid() is not null then
    viewer_key := auth.uid()::text;
  else
    forwarded := split_part(coalesce(current_setting('request.headers', true)::jsonb ->> 'x-forwarded-for', ''), ',', 1);
    viewer_key := 'anon:' || md5(coalesce(nullif(trim(forwarded), ''), 'unknown'));
  end if;

  insert into private.product_view_marks (product_id, day, viewer, user_id)
  values (product.id, today, viewer_key, auth.uid())
  on conflict do nothing;
  if not found then
    return false;
  end if;

  insert into private.product_daily_stats as s (product_id, day, views, anonymous_views)
  values (product.id, today, 1, case when auth.uid() is null then 1 else 0 end)
  on conflict on constraint product_daily_stats_pkey do update
    set views = s.views + 1, anonymous_views = s.anonymous_views + excluded.anonymous_views
    where excluded.anonymous_views = 0 or s.anonymous_views < 1000
  returning true, s.xmax = 0 into counted, first_today;
  -- The product's first counted view of the day clears its marks of earlier days: they
  -- only de-duplicate within a day, so no mark outlives a day by more than one view.
  if first_today then
    delete from private.product_view_marks m where m.product_id = product.id and m.day < today;
  end if;
  return coalesce(counted, false);
end
$$;
comment on function private.record_product_view(uuid) is 'Body of public.record_product_view.';
revoke execute on function private.record_product_view(uuid) from public;
grant execute on function private.record_product_view(uuid) to anon, authenticated, service_role;

create function public.record_product_view(product_id uuid) returns boolean
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.record_product_view(product_id)
$$;
comment on function public.record_product_view(uuid) is
  'Counts a view of an active product (anon too) once per viewer and UTC day; true when it counted. The seller''s own views and anonymous views past 1,000 a product and day do not count. PT404 for a product the caller cannot see.';
revoke execute on function public.record_product_view(uuid) from public;
grant execute on function public.record_product_view(uuid) to anon, authenticated, service_role;

-- Popularity over a window: views plus ten times units sold, per product with any.
create function private.product_popularity(since date) returns table (product_id uuid, score bigint)
language sql
stable
security definer
set search_path = ''
as $$
  select s.product_id, sum(s.views + 10 * s.units_sold)::bigint
    from private.product_daily_stats s
   where s.day >= since
   group by s.product_id
$$;
comment on function private.product_popularity(date) is
  'Per product with views or sales since the day: views + 10 x units sold (the popular sort).';
revoke execute on function private.product_popularity(date) from public;
grant execute on function private.product_popularity(date) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- The product list (000 GET products, 001 GET /products, 003 GET /products, featured and
-- popular): active products the caller may see (security invoker: the policies decide),
-- filtered by shop, category (with its subcategories), text (prefix search), price range,
-- currency, kind, in stock and featured; sorted newest (default), price_asc, price_desc or
-- popular. Two ways to page, one at a time:
--   - keyset, as list_my_threads: page_size rows, then pass the last row's cursor;
--   - page/page_size with total_count (the number of matching rows, in every row).

create function public.search_products(
  q text default null,
  seller_id uuid default null,
  category uuid default null,
  min_price bigint default null,
  max_price bigint default null,
  in_currency text default null,
  of_kind text default null,
  in_stock_only boolean default false,
  featured_only boolean default false,
  sort text default 'newest',
  page integer default null,
  page_size integer default 20,
  after text default null
)
returns table (
  id uuid, shop_id uuid, title text, description text, price bigint, currency text, kind text, sku text,
  category_id uuid, is_featured boolean, in_stock boolean, published_at timestamptz, created_at timestamptz,
  popularity bigint, total_count bigint, cursor text
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  conditions text[] := array['p.status = ''active'''];
  order_by text;
  key_expr text;
  key_type text;
  sql text;
  query tsquery := private.prefix_tsquery(q);
  categories uuid[];
  cursor_key text;
  cursor_id uuid;
begin
  if page_size is null or page_size not between 1 and 100 then
    raise exception 'page_size is between 1 and 100' using errcode = '22023';
  end if;
  if page is not null and page < 1 then
    raise exception 'page starts at 1' using errcode = '22023';
  end if;
  if page is not null and after is not null then
    raise exception 'page through a cursor or by page number, not both' using errcode = '22023';
  end if;
  if sort is null or sort not in ('newest', 'price_asc', 'price_desc', 'popular') then
    raise exception 'sort is newest, price_asc, price_desc or popular' using errcode = '22023';
  end if;
  if of_kind is not null and of_kind not in ('physical', 'digital') then
    raise exception 'kind is physical or digital' using errcode = '22023';
  end if;
  if min_price < 0 or max_price < 0 or min_price > max_price then
    raise exception 'the price range is min_price <= max_price, both >= 0' using errcode = '22023';
  end if;
  if after is not null then
    cursor_key := split_part(after, '|', 1);
    cursor_id := private.try_uuid(split_part(after, '|', 2));
    if cursor_id is null or cursor_key = '' or after !~ '^[^|]+\|[^|]+$' then
      raise exception 'after is the cursor of the previous page''s last row' using errcode = '22023';
    end if;
  end if;

  if q is not null and query is null then
    q := null; -- a query of no words filters nothing
  end if;
  if q is not null then
    conditions := conditions || text 'p.search @@ $1';
  end if;
  if seller_id is not null then
    conditions := conditions || text 'p.shop_id = $2';
  end if;
  if category is not null then
    categories := array(select private.category_subtree(category));
    conditions := conditions || text 'p.category_id = any ($3)';
  end if;
  if min_price is not null then
    conditions := conditions || text 'p.price >= $4';
  end if;
  if max_price is not null then
    conditions := conditions || text 'p.price <= $5';
  end if;
  if in_currency is not null then
    conditions := conditions || text 'p.currency = $6';
  end if;
  if of_kind is not null then
    conditions := conditions || text 'p.kind = $7';
  end if;
  if in_stock_only then
    conditions := conditions || text 'p.in_stock';
  end if;
  if featured_only then
    conditions := conditions || text 'p.is_featured';
  end if;

  case sort
    when 'newest' then key_expr := 'p.created_at'; key_type := 'timestamptz'; order_by := 'p.created_at desc, p.id desc';
    when 'price_asc' then key_expr := 'p.price'; key_type := 'bigint'; order_by := 'p.price, p.id';
    when 'price_desc' then key_expr := 'p.price'; key_type := 'bigint'; order_by := 'p.price desc, p.id desc';
    else key_expr := 'coalesce(pop.score, 0)'; key_type := 'bigint'; order_by := 'coalesce(pop.score, 0) desc, p.id desc';
  end case;
  if after is not null then
    conditions := conditions || format('(%s, p.id) %s ($8::%s, $9)', key_expr,
                                       case when sort = 'price_asc' then '>' else '<' end, key_type);
  end if;

  sql := format(
    'select p.id, p.shop_id, p.title, p.description, p.price, p.currency, p.kind, p.sku, p.category_id, p.is_featured,
            p.in_stock, p.published_at, p.created_at, coalesce(pop.score, 0)::bigint, %s,
            (%s)::text || ''|'' || p.id::text
       from public.products p
       %s
      where %s
      order by %s
      limit $10 offset $11',
    case when page is not null then 'count(*) over ()' else 'null::bigint' end,
    case when sort = 'newest' then 'to_char(p.created_at at time zone ''utc'', ''YYYY-MM-DD"T"HH24:MI:SS.US"Z"'')' else key_expr end,
    case when sort = 'popular'
         then 'left join private.product_popularity(current_date - 30) pop on pop.product_id = p.id'
         else 'left join (select null::uuid as product_id, null::bigint as score) pop on false' end,
    array_to_string(conditions, ' and '),
    order_by);
  return query execute sql
    using query, seller_id, categories, min_price, max_price, in_currency, of_kind,
          cursor_key, cursor_id, page_size,
          case when page is null then 0 else (page - 1) * page_size end;
end
$$;
comment on function public.search_products(text, uuid, uuid, bigint, bigint, text, text, boolean, boolean, text, integer, integer, text) is
  'Active products the caller may see (000/001/003 product lists): q (every word a prefix, ''simple'' config), seller_id, category (with its subcategories), min_price/max_price, in_currency, of_kind, in_stock_only, featured_only; sort newest | price_asc | price_desc | popular (views + 10 x units sold over 30 days). Keyset paging (after = the previous page''s last cursor) or page numbers (page from 1, with total_count); page_size 1 to 100.';
revoke execute on function public.search_products(text, uuid, uuid, bigint, bigint, text, text, boolean, boolean, text, integer, integer, text) from public;
grant execute on function public.search_products(text, uuid, uuid, bigint, bigint, text, text, boolean, boolean, text, integer, integer, text)
  to anon, authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/50_commerce/25_product_images_bucket.sql
-- ======================================================================================

-- Product photos: the public product-images bucket (Storage serves its objects by URL to
-- anyone; no select policy lists them), objects under <shop id>/<product id>/<file>, images
-- only (no SVG), at most 5 MiB (the bucket row, in the commerce reference data). Only the
-- product's seller (shop.sell, active shop) and commerce.manage write there. The
-- product_images table orders a product's photos and is read as the product is.

-- Whether the caller may write files of the product an object name points at:
-- <shop id>/<product id>/... with the product in that shop, and the caller its selling
-- owner or a commerce manager.
create function private.can_write_product_object(object_name text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.products p
     where p.id = private.try_uuid(split_part(object_name, '/', 2))
       and p.shop_id = private.try_uuid(split_part(object_name, '/', 1))
       and split_part(object_name, '/', 3) <> ''
       and ((p.shop_id = auth.uid() and private.sells_in_active_shop()) or private.can_manage_commerce())
  )
$$;
comment on function private.can_write_product_object(text) is
  'Whether the caller may write <shop id>/<product id>/<file>: the product is that shop''s, and the caller sells in it or holds commerce.manage.';
revoke execute on function private.can_write_product_object(text) from public;
grant execute on function private.can_write_product_object(text) to authenticated, service_role;

create policy "Sellers list their product images, managers all"
  on storage.objects for select to authenticated
  using (bucket_id = 'product-images'
         and ((storage.foldername(name))[1] = (select auth.uid())::text or (select private.can_manage_commerce())));

create policy "Sellers upload images of their products"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'product-images' and private.can_write_product_object(name)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Sellers replace images of their products"
  on storage.objects for update to authenticated
  using (bucket_id = 'product-images' and private.can_write_product_object(name))
  with check (bucket_id = 'product-images' and private.can_write_product_object(name)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Sellers delete images of their products"
  on storage.objects for delete to authenticated
  using (bucket_id = 'product-images' and private.can_write_product_object(name));

-- ---------------------------------------------------------------------------------------

create table public.product_images (
  id uuid primary key default gen_random_uuid(),
  product_id uuid not null references public.products (id) on delete cascade,
  path text not null,
  position integer not null default 0 constraint product_images_position_positive check (position >= 0),
  alt_text text not null default '' constraint product_images_alt_text_length check (char_length(alt_text) <= 300),
  created_at timestamptz not null default now(),
  constraint product_images_path_key unique (path)
);
comment on table public.product_images is
  'A product''s photos in the product-images bucket, in position order (the first is the cover); read as the product is, written by its seller or commerce.manage.';
comment on column public.product_images.path is
  'Object name in product-images: <shop id>/<product id>/<file>, the product''s own folder (checked by trigger).';
create index product_images_product_idx on public.product_images (product_id, position);

create function private.check_product_image() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  shop uuid;
begin
  select p.shop_id into shop from public.products p where p.id = new.product_id;
  if not found then
    raise exception 'product % not found', new.product_id using errcode = 'PT404';
  end if;
  if new.path not like shop::text || '/' || new.product_id::text || '/_%' then
    raise exception 'an image of product % lives under %/%/ in product-images', new.product_id, shop, new.product_id
      using errcode = '22023';
  end if;
  if private.content_type_of(new.path) is null or private.content_type_of(new.path) not like 'image/%'
     or private.content_type_of(new.path) = 'image/svg+xml' then
    raise exception 'a product image is a png, jpeg, webp or gif file' using errcode = '22023';
  end if;
  return new;
end
$$;
comment on function private.check_product_image() is
  'Trigger: the path is in the product''s folder <shop id>/<product id>/ and names an image type (no SVG).';
create trigger product_images_check before insert or update on public.product_images
  for each row execute function private.check_product_image();

alter table public.product_images enable row level security;
grant select on public.product_images to anon, authenticated;
grant insert (id, product_id, path, position, alt_text), update (position, alt_text), delete on public.product_images to authenticated;
grant all on public.product_images to service_role;

-- Read as the product is: the products policies decide inside the subquery.
create policy "Anyone reads images of active products" on public.product_images for select to anon
  using (product_id in (select p.id from public.products p where p.id = product_images.product_id));
create policy "Signed-in users read images of the products they see"
  on public.product_images for select to authenticated
  using (product_id in (select p.id from public.products p where p.id = product_images.product_id));
create policy "Sellers add images to their products, managers to any"
  on public.product_images for insert to authenticated
  with check (exists (select 1 from public.products p where p.id = product_id
                       and ((p.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                            or (select private.can_manage_commerce()))));
create policy "Sellers reorder images of their products, managers any"
  on public.product_images for update to authenticated
  using (exists (select 1 from public.products p where p.id = product_id
                  and ((p.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                       or (select private.can_manage_commerce()))))
  with check (exists (select 1 from public.products p where p.id = product_id
                       and ((p.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                            or (select private.can_manage_commerce()))));
create policy "Sellers remove images of their products, managers any"
  on public.product_images for delete to authenticated
  using (exists (select 1 from public.products p where p.id = product_id
                  and ((p.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                       or (select private.can_manage_commerce()))));

-- ======================================================================================
-- supabase/schemas/50_commerce/26_product_files_bucket.sql
-- ======================================================================================

-- Digital goods: the private product-files bucket, <shop id>/<product id>/<file>, at most
-- 100 MiB (the bucket row, in the commerce reference data). The product's seller (shop.sell,
-- active shop) and commerce.manage write and read there; nobody else reads: a buyer gets a
-- signed URL made with the service role after payment (the checkout's fulfilment).

create policy "Sellers read files of their products, managers all"
  on storage.objects for select to authenticated
  using (bucket_id = 'product-files' and private.can_write_product_object(name));

create policy "Sellers upload files of their products"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'product-files' and private.can_write_product_object(name)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Sellers replace files of their products"
  on storage.objects for update to authenticated
  using (bucket_id = 'product-files' and private.can_write_product_object(name))
  with check (bucket_id = 'product-files' and private.can_write_product_object(name)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Sellers delete files of their products"
  on storage.objects for delete to authenticated
  using (bucket_id = 'product-files' and private.can_write_product_object(name));

-- ======================================================================================
-- supabase/schemas/50_commerce/30_shipping_profiles.sql
-- ======================================================================================

-- Shipping profiles (001): a shop's ways of shipping, each with rates per destination
-- country (ISO 3166-1 alpha-2) or '*' for the rest of the world: a price for the first item,
-- one for each additional item, free shipping from a subtotal threshold, and a delivery
-- estimate in days. Amounts in the profile's currency (a product uses a profile of its own
-- currency). Everyone reads the profiles of active shops (buyers see costs and estimates);
-- the shop's seller and commerce.manage write them. private.shipping_quote prices a parcel.

create table public.shipping_profiles (
  id uuid primary key default gen_random_uuid(),
  shop_id uuid not null default auth.uid() references public.shops (id) on delete cascade,
  name text not null constraint shipping_profiles_name_length check (char_length(trim(name)) between 1 and 80),
  currency text not null references public.currencies (code),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.shipping_profiles is
  'A shop''s shipping profile: rates per destination (shipping_rates) in one currency; physical products name one.';
create index shipping_profiles_shop_idx on public.shipping_profiles (shop_id);

create trigger shipping_profiles_touch_updated_at before update on public.shipping_profiles
  for each row execute function private.touch_updated_at();

-- A profile keeps its currency while products use it (they are priced in it).
create function private.check_shipping_profile() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.shop_id <> old.shop_id then
    raise exception 'shipping profile % belongs to shop %', old.id, old.shop_id using errcode = '22023';
  end if;
  if new.currency <> old.currency
     and exists (select 1 from public.products p where p.shipping_profile_id = old.id) then
    raise exception 'shipping profile % is used by products priced in %: its currency cannot change', old.id, old.currency
      using errcode = 'PT409';
  end if;
  return new;
end
$$;
comment on function private.check_shipping_profile() is 'Trigger: a profile stays in its shop and keeps its currency while products use it.';
create trigger shipping_profiles_check before update on public.shipping_profiles
  for each row execute function private.check_shipping_profile();

alter table public.products
  add constraint products_shipping_profile_fkey foreign key (shipping_profile_id)
  references public.shipping_profiles (id) on delete restrict;

alter table public.shipping_profiles enable row level security;
grant select on public.shipping_profiles to anon, authenticated;
grant insert (id, shop_id, name, currency), update (name, currency), delete on public.shipping_profiles to authenticated;
grant all on public.shipping_profiles to service_role;

create policy "Anyone reads shipping profiles of active shops" on public.shipping_profiles for select to anon
  using (not (shop_id = any ((select private.inactive_shop_ids())::uuid[])));
create policy "Signed-in users read profiles of active shops, sellers their own, managers all"
  on public.shipping_profiles for select to authenticated
  using (not (shop_id = any ((select private.inactive_shop_ids())::uuid[]))
         or shop_id = (select auth.uid()) or (select private.can_manage_commerce()));
create policy "Sellers add shipping profiles to their shop, managers to any"
  on public.shipping_profiles for insert to authenticated
  with check ((shop_id = (select auth.uid()) and (select private.sells_in_active_shop())) or (select private.can_manage_commerce()));
create policy "Sellers change their shipping profiles, managers any"
  on public.shipping_profiles for update to authenticated
  using ((shop_id = (select auth.uid()) and (select private.sells_in_active_shop())) or (select private.can_manage_commerce()))
  with check ((shop_id = (select auth.uid()) and (select private.sells_in_active_shop())) or (select private.can_manage_commerce()));
create policy "Sellers delete their shipping profiles, managers any"
  on public.shipping_profiles for delete to authenticated
  using ((shop_id = (select auth.uid()) and (select private.sells_in_active_shop())) or (select private.can_manage_commerce()));

-- ---------------------------------------------------------------------------------------

create table public.shipping_rates (
  id uuid primary key default gen_random_uuid(),
  profile_id uuid not null references public.shipping_profiles (id) on delete cascade,
  country text not null constraint shipping_rates_country_format check (country = '*' or country ~ '^[A-Z]{2}$'),
  first_item bigint not null constraint shipping_rates_first_item_positive check (first_item >= 0),
  additional_item bigint not null default 0 constraint shipping_rates_additional_item_positive check (additional_item >= 0),
  free_above bigint constraint shipping_rates_free_above_positive check (free_above > 0),
  min_days integer not null constraint shipping_rates_min_days_positive check (min_days >= 0),
  max_days integer not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint shipping_rates_profile_country_key unique (profile_id, country),
  constraint shipping_rates_days_ordered check (max_days >= min_days and max_days <= 365)
);
comment on table public.shipping_rates is
  'Rates of a shipping profile per destination: an ISO 3166-1 alpha-2 country, or ''*'' for every country without its own row.';
comment on column public.shipping_rates.first_item is 'Minor units of the profile''s currency for the first item (0: free).';
comment on column public.shipping_rates.additional_item is 'Minor units for each item after the first.';
comment on column public.shipping_rates.free_above is 'Shipping is free when the shop''s subtotal is at least this (minor units); null: never.';

create trigger shipping_rates_touch_updated_at before update on public.shipping_rates
  for each row execute function private.touch_updated_at();

create function private.check_shipping_rate() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  profile_currency text;
  max_amount bigint;
begin
  if new.country <> '*' and not exists (select 1 from public.countries c where c.code = new.country) then
    raise exception 'country % is not an ISO 3166-1 alpha-2 code (see the countries table), or ''*'' for the rest of the world',
      new.country using errcode = '22023';
  end if;
  select sp.currency into profile_currency from public.shipping_profiles sp where sp.id = new.profile_id;
  if not found then
    raise exception 'shipping profile % not found', new.profile_id using errcode = 'PT404';
  end if;
  select c.max_amount into max_amount from public.currencies c where c.code = profile_currency;
  if greatest(new.first_item, new.additional_item, new.free_above) > max_amount then
    raise exception 'shipping amounts are at most % minor units of %', max_amount, profile_currency using errcode = '22023';
  end if;
  return new;
end
$$;
comment on function private.check_shipping_rate() is
  'Trigger: a known country or ''*'', amounts within the profile currency''s maximum (22023).';
create trigger shipping_rates_check before insert or update on public.shipping_rates
  for each row execute function private.check_shipping_rate();

alter table public.shipping_rates enable row level security;
grant select on public.shipping_rates to anon, authenticated;
grant insert (id, profile_id, country, first_item, additional_item, free_above, min_days, max_days),
      update (first_item, additional_item, free_above, min_days, max_days),
      delete
  on public.shipping_rates to authenticated;
grant all on public.shipping_rates to service_role;

-- Read and written as their profile is: the profile policies decide inside the subquery.
create policy "Anyone reads rates of readable profiles" on public.shipping_rates for select to anon
  using (profile_id in (select sp.id from public.shipping_profiles sp where sp.id = shipping_rates.profile_id));
create policy "Signed-in users read rates of the profiles they see" on public.shipping_rates for select to authenticated
  using (profile_id in (select sp.id from public.shipping_profiles sp where sp.id = shipping_rates.profile_id));
create policy "Sellers add rates to their profiles, managers to any" on public.shipping_rates for insert to authenticated
  with check (exists (select 1 from public.shipping_profiles sp where sp.id = profile_id
                       and ((sp.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                            or (select private.can_manage_commerce()))));
create policy "Sellers change rates of their profiles, managers any" on public.shipping_rates for update to authenticated
  using (exists (select 1 from public.shipping_profiles sp where sp.id = profile_id
                  and ((sp.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                       or (select private.can_manage_commerce()))))
  with check (exists (select 1 from public.shipping_profiles sp where sp.id = profile_id
                       and ((sp.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                            or (select private.can_manage_commerce()))));
create policy "Sellers delete rates of their profiles, managers any" on public.shipping_rates for delete to authenticated
  using (exists (select 1 from public.shipping_profiles sp where sp.id = profile_id
                  and ((sp.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                       or (select private.can_manage_commerce()))));

-- ---------------------------------------------------------------------------------------
-- The price of shipping item_count items worth subtotal to a country with a profile: the
-- country's own rate, else the '*' rate; free when subtotal reaches free_above; else
-- first_item + additional_item x (item_count - 1). Called by the checkout (service and
-- definer callers only).

create function private.shipping_quote(profile_id uuid, country text, item_count integer, subtotal bigint)
returns table (amount bigint, min_days integer, max_days integer)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  profile public.shipping_profiles;
  rate public.shipping_rates;
begin
  if country is null or country !~ '^[A-Z]{2}$' then
    raise exception 'country is an ISO 3166-1 alpha-2 code such as KR or US' using errcode = '22023';
  end if;
  if item_count is null or item_count < 1 then
    raise exception 'item_count must be at least 1, not %', coalesce(item_count::text, 'null') using errcode = '22023';
  end if;
  if subtotal is null or subtotal < 0 then
    raise exception 'subtotal must be zero or more minor units, not %', coalesce(subtotal::text, 'null') using errcode = '22023';
  end if;
  select * into profile from public.shipping_profiles sp where sp.id = shipping_quote.profile_id;
  if not found then
    raise exception 'shipping profile % not found', profile_id using errcode = 'PT404';
  end if;
  select * into rate from public.shipping_rates r
   where r.profile_id = profile.id and r.country in (shipping_quote.country, '*')
   order by r.country = '*' limit 1;
  if not found then
    raise exception 'shop % does not ship to %', profile.shop_id, country using errcode = 'PT409';
  end if;
  amount := case when rate.free_above is not null and subtotal >= rate.free_above then 0
                 else rate.first_item + rate.additional_item * (item_count - 1) end;
  min_days := rate.min_days;
  max_days := rate.max_days;
  return next;
end
$$;
comment on function private.shipping_quote(uuid, text, integer, bigint) is
  'Shipping for item_count items worth subtotal (minor units of the profile''s currency) to a country: amount (0 from free_above), min_days, max_days. PT409 ''shop <id> does not ship to <country>'' without a rate for the country or ''*''; PT404 unknown profile; 22023 bad arguments.';
revoke execute on function private.shipping_quote(uuid, text, integer, bigint) from public;
grant execute on function private.shipping_quote(uuid, text, integer, bigint) to service_role;

-- ======================================================================================
-- supabase/schemas/50_commerce/40_inventory.sql
-- ======================================================================================

-- Inventory (003 inventory; issue 17): one level per physical product (on_hand, reserved,
-- available = on_hand - reserved, reorder_level). A digital product has no level: it is
-- never out of stock, and "no level row" means unlimited for digital products only (a
-- physical product gets its level, at zero, when it is created or becomes physical).
--
-- Every change of a level is a row of stock_moves (append-only), written in the same
-- statement sequence by private.move_stock, the one writer of levels, so the quantity is
-- always explainable: on_hand = the sum of on_hand_delta of its moves, reserved likewise.
-- Clients never write levels, moves or reservations: sellers and staff adjust through
-- adjust_inventory / set_inventory (a reason each), the checkout reserves, releases and
-- consumes through the private functions below, all or nothing, locking levels in product
-- id order, checking and changing availability in one statement under the row lock (anchors
-- trap 8), so available never goes negative under any concurrency.

create table public.inventory_levels (
  product_id uuid primary key references public.products (id) on delete cascade,
  on_hand integer not null default 0 constraint inventory_levels_on_hand_positive check (on_hand >= 0),
  reserved integer not null default 0 constraint inventory_levels_reserved_positive check (reserved >= 0),
  available integer generated always as (on_hand - reserved) stored,
  reorder_level integer not null default 0 constraint inventory_levels_reorder_level_positive check (reorder_level >= 0),
  updated_at timestamptz not null default now(),
  constraint inventory_levels_reserved_within_on_hand check (reserved <= on_hand)
);
comment on table public.inventory_levels is
  'Stock of a physical product (digital products have none: unlimited). Changed only through private.move_stock, each change a stock_moves row; read by the seller and commerce.manage.';
comment on column public.inventory_levels.reserved is
  'Units held for checkouts in flight (active stock_reservations); never set directly: reserve, release and consume move it.';
comment on column public.inventory_levels.reorder_level is 'At or below this available quantity the product is low on stock (list_low_stock, stock.low).';
create index inventory_levels_low_idx on public.inventory_levels (product_id) where available <= reorder_level;

create trigger inventory_levels_touch_updated_at before update on public.inventory_levels
  for each row execute function private.touch_updated_at();

create table public.stock_moves (
  id bigint generated always as identity primary key,
  product_id uuid not null references public.products (id) on delete cascade,
  kind text not null constraint stock_moves_kind check (kind in ('adjustment', 'reservation', 'release', 'sale', 'return', 'restock')),
  on_hand_delta integer not null,
  reserved_delta integer not null,
  on_hand_after integer not null,
  reserved_after integer not null,
  reason text constraint stock_moves_reason_length check (char_length(reason) <= 500),
  actor uuid references auth.users (id) on delete set null,
  reference text constraint stock_moves_reference_length check (char_length(reference) <= 200),
  created_at timestamptz not null default now(),
  constraint stock_moves_moves_something check (on_hand_delta <> 0 or reserved_delta <> 0)
);
comment on table public.stock_moves is
  'Append-only book of stock: every change of an inventory level with its kind, deltas, the level after, why, who and what for (reference: reservation:<id>, checkout:<id>, shop_order_item:<id>).';
comment on column public.stock_moves.actor is 'Who moved the stock (null for the system, or after the account was erased).';
create index stock_moves_product_idx on public.stock_moves (product_id, id);
create index stock_moves_reference_idx on public.stock_moves (reference) where reference is not null;
create index stock_moves_actor_idx on public.stock_moves (actor) where actor is not null;

-- Append-only: no update or delete, except what account erasure and product deletion do
-- through the foreign keys (actor set null, the product's moves going with it).
create function private.stock_moves_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new.actor is null and old.actor is not null
     and (new.id, new.product_id, new.kind, new.on_hand_delta, new.reserved_delta, new.on_hand_after, new.reserved_after,
          new.reason, new.reference, new.created_at)
         is not distinct from
         (old.id, old.product_id, old.kind, old.on_hand_delta, old.reserved_delta, old.on_hand_after, old.reserved_after,
          old.reason, old.reference, old.created_at) then
    return new;
  end if;
  if tg_op = 'DELETE' and not exists (select 1 from public.products p where p.id = old.product_id) then
    return old;
  end if;
  raise exception 'stock moves are append-only' using errcode = '42501';
end
$$;
comment on function private.stock_moves_append_only() is
  'Trigger: stock moves are never changed or removed (42501), but for the actor''s erasure and the deletion of their product.';
create trigger stock_moves_append_only before update or delete on public.stock_moves
  for each row execute function private.stock_moves_append_only();

create table public.stock_reservations (
  id uuid primary key default gen_random_uuid(),
  product_id uuid not null references public.products (id) on delete cascade,
  quantity integer not null constraint stock_reservations_quantity_positive check (quantity > 0),
  reference text not null constraint stock_reservations_reference_length check (char_length(reference) between 1 and 200),
  status text not null default 'active' constraint stock_reservations_status check (status in ('active', 'consumed', 'released')),
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  resolved_at timestamptz,
  constraint stock_reservations_resolved check ((status = 'active') = (resolved_at is null))
);
comment on table public.stock_reservations is
  'Units held for a checkout (reference checkout:<id>) until it is paid (consumed: a sale) or released (cancelled, failed, expired at expires_at by the checkout''s job).';
create index stock_reservations_reference_idx on public.stock_reservations (reference, product_id);
create index stock_reservations_product_idx on public.stock_reservations (product_id) where status = 'active';
create index stock_reservations_expiry_idx on public.stock_reservations (expires_at) where status = 'active';

-- ---------------------------------------------------------------------------------------
-- Read access: the seller of the product and commerce.manage. Nobody writes directly.

create function private.owns_product(product_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.products p where p.id = owns_product.product_id and p.shop_id = auth.uid())
$$;
comment on function private.owns_product(uuid) is 'Whether the caller''s shop owns the product.';
revoke execute on function private.owns_product(uuid) from public;
grant execute on function private.owns_product(uuid) to authenticated, service_role;

alter table public.inventory_levels enable row level security;
alter table public.stock_moves enable row level security;
alter table public.stock_reservations enable row level security;
grant select on public.inventory_levels, public.stock_moves, public.stock_reservations to authenticated;
grant all on public.inventory_levels, public.stock_moves, public.stock_reservations to service_role;

create policy "Sellers read their products' levels, managers all" on public.inventory_levels for select to authenticated
  using ((select private.can_manage_commerce()) or private.owns_product(product_id));
create policy "Sellers read their products' stock moves, managers all" on public.stock_moves for select to authenticated
  using ((select private.can_manage_commerce()) or private.owns_product(product_id));
create policy "Sellers read their products' reservations, managers all" on public.stock_reservations for select to authenticated
  using ((select private.can_manage_commerce()) or private.owns_product(product_id));

-- ---------------------------------------------------------------------------------------
-- The one writer of levels: applies the deltas when the result is valid (on_hand >= 0,
-- 0 <= reserved <= on_hand), records the move, and returns the level after; returns null
-- and changes nothing when it would not be (the caller raises its precise error). The
-- check and the change are one update under the row lock.

create function private.move_stock(
  product_id uuid, kind text, on_hand_delta integer, reserved_delta integer, reason text, reference text
) returns public.inventory_levels
language plpgsql
security definer
set search_path = ''
as $$
declare
  level public.inventory_levels;
begin
  update public.inventory_levels l
     set on_hand = l.on_hand + move_stock.on_hand_delta, reserved = l.reserved + move_stock.reserved_delta
   where l.product_id = move_stock.product_id
     and l.on_hand + move_stock.on_hand_delta >= 0
     and l.reserved + move_stock.reserved_delta >= 0
     and l.on_hand + move_stock.on_hand_delta >= l.reserved + move_stock.reserved_delta
  returning * into level;
  if not found then
    return null;
  end if;
  insert into public.stock_moves (product_id, kind, on_hand_delta, reserved_delta, on_hand_after, reserved_after, reason, actor, reference)
  values (move_stock.product_id, move_stock.kind, move_stock.on_hand_delta, move_stock.reserved_delta, level.on_hand, level.reserved,
          move_stock.reason, auth.uid(), move_stock.reference);
  return level;
end
$$;
comment on function private.move_stock(uuid, text, integer, integer, text, text) is
  'Applies a stock move to a level and records it; null (nothing changed) when on_hand or reserved would go negative or reserved above on_hand. The only writer of inventory_levels quantities.';
revoke execute on function private.move_stock(uuid, text, integer, integer, text, text) from public;
grant execute on function private.move_stock(uuid, text, integer, integer, text, text) to service_role;

-- Levels follow products: a physical product has one from its creation; in_stock follows
-- available; stock.low is emitted when available falls to the reorder level.
create function private.ensure_inventory_level() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.kind = 'physical' then
    insert into public.inventory_levels (product_id) values (new.id) on conflict (product_id) do nothing;
    update public.products p set in_stock = coalesce((select l.available > 0 from public.inventory_levels l where l.product_id = new.id), false)
     where p.id = new.id and p.in_stock is distinct from coalesce((select l.available > 0 from public.inventory_levels l where l.product_id = new.id), false);
  end if;
  return null;
end
$$;
comment on function private.ensure_inventory_level() is
  'Trigger: a physical product gets its inventory level (zero) and in_stock from it.';
create trigger products_ensure_inventory_level after insert or update of kind on public.products
  for each row execute function private.ensure_inventory_level();

create function private.follow_inventory_level() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  product public.products;
begin
  if (new.available > 0) is distinct from (old.available > 0) then
    update public.products p set in_stock = new.available > 0 where p.id = new.product_id;
  end if;
  if new.available <= new.reorder_level and old.available > old.reorder_level then
    select * into product from public.products p where p.id = new.product_id;
    perform private.emit_event('stock.low', 'product', new.product_id, array[product.shop_id],
                               jsonb_build_object('product_id', new.product_id, 'shop_id', product.shop_id, 'title', product.title,
                                                  'available', new.available, 'reorder_level', new.reorder_level),
                               null);
  end if;
  return null;
end
$$;
comment on function private.follow_inventory_level() is
  'Trigger: keeps products.in_stock (available > 0) and emits stock.low to the seller when available falls to the reorder level.';
create trigger inventory_levels_follow after update on public.inventory_levels
  for each row execute function private.follow_inventory_level();

-- ---------------------------------------------------------------------------------------
-- The checkout's side (service and definer callers only; the checkout helper calls these).

-- Reserves every line or none. Quantities are summed per product first (two lines of one
-- product are checked together), levels are locked in product id order (no deadlock between
-- two checkouts sharing products), and each check-and-hold is one update under the lock.
-- Digital products need no reservation. A second call with the same reference reserves
-- nothing and returns the reservations it made the first time.
create function private.reserve_stock(lines jsonb, reference text, expires_at timestamptz)
returns setof public.stock_reservations
language plpgsql
security definer
set search_path = ''
as $$
declare
  line record;
  product public.products;
  level public.inventory_levels;
  reservation public.stock_reservations;
begin
  if reference is null or char_length(reference) not between 1 and 200 then
    raise exception 'a reservation needs a reference of 1 to 200 characters' using errcode = '22023';
  end if;
  if expires_at is null or expires_at <= now() then
    raise exception 'a reservation expires in the future' using errcode = '22023';
  end if;
  if jsonb_typeof(lines) is distinct from 'array' or jsonb_array_length(lines) = 0 then
    raise exception 'lines is a non-empty array of {product_id, quantity}' using errcode = '22023';
  end if;
  if exists (select 1 from jsonb_array_elements(lines) e
              where jsonb_typeof(e) <> 'object' or private.try_uuid(e ->> 'product_id') is null
                 or jsonb_typeof(e -> 'quantity') <> 'number' or (e ->> 'quantity') !~ '^[0-9]{1,9}$'
                 or (e ->> 'quantity')::integer < 1) then
    raise exception 'each line is {product_id: uuid, quantity: a whole number >= 1}' using errcode = '22023';
  end if;

  -- One reservation per reference: a retry waits for the first and returns its result.
  perform pg_advisory_xact_lock(hashtextextended('stock_reservation:' || reference, 0));
  if exists (select 1 from public.stock_reservations r where r.reference = reserve_stock.reference) then
    return query select * from public.stock_reservations r where r.reference = reserve_stock.reference order by r.product_id;
    return;
  end if;

  for line in
    select (e ->> 'product_id')::uuid as product_id, sum((e ->> 'quantity')::integer)::integer as quantity
      from jsonb_array_elements(lines) e
     group by 1
     order by 1
  loop
    select * into product from public.products p where p.id = line.product_id;
    if not found then
      raise exception 'product % not found', line.product_id using errcode = 'PT404';
    end if;
    if product.status <> 'active' or product.shop_id = any (private.inactive_shop_ids()) then
      raise exception 'product % is not for sale', line.product_id using errcode = 'PT409';
    end if;
    if product.kind = 'digital' then
      continue;
    end if;
    insert into public.stock_reservations (product_id, quantity, reference, expires_at)
    values (line.product_id, line.quantity, reserve_stock.reference, reserve_stock.expires_at)
    returning * into reservation;
    level := private.move_stock(line.product_id, 'reservation', 0, line.quantity, 'reserved for ' || reserve_stock.reference,
                                'reservation:' || reservation.id);
    if level is null then
      raise exception 'product % has only % available, % requested', line.product_id,
        coalesce((select l.available from public.inventory_levels l where l.product_id = line.product_id), 0), line.quantity
        using errcode = 'PT409';
    end if;
    return next reservation;
  end loop;
end
$$;
comment on function private.reserve_stock(jsonb, text, timestamptz) is
  'Holds stock for a checkout: lines [{product_id, quantity}] summed per product, levels locked in product id order, all or nothing. PT409 ''product <id> has only <n> available, <m> requested''; PT409 ''product <id> is not for sale''; PT404 unknown product; 22023 bad lines. Digital products get no reservation. Idempotent per reference (returns the first call''s reservations).';
revoke execute on function private.reserve_stock(jsonb, text, timestamptz) from public;
grant execute on function private.reserve_stock(jsonb, text, timestamptz) to service_role;

-- The one loop over a reference's active reservations: each becomes released (reserved -=
-- quantity: stock back to available) or consumed (a sale: on_hand and reserved both drop),
-- with one move each, taken in product order under their row locks. Returns how many it
-- resolved: 0 on a repeat. A reservation past expires_at that no job has released yet is still
-- held, so it can be consumed (the expiry job is the checkout's).
create function private.resolve_reservations(reference text, to_status text, reason text) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  reservation public.stock_reservations;
  resolved integer := 0;
begin
  if to_status is null or to_status not in ('released', 'consumed') then
    raise exception 'a reservation is resolved as released or consumed, not %', coalesce(to_status, 'null') using errcode = '22023';
  end if;
  for reservation in
    select * from public.stock_reservations r
     where r.reference = resolve_reservations.reference and r.status = 'active'
     order by r.product_id, r.id
       for update
  loop
    update public.stock_reservations r set status = resolve_reservations.to_status, resolved_at = now() where r.id = reservation.id;
    if private.move_stock(reservation.product_id,
                          case to_status when 'released' then 'release' else 'sale' end,
                          case to_status when 'released' then 0 else -reservation.quantity end,
                          -reservation.quantity,
                          coalesce(nullif(trim(resolve_reservations.reason), ''), to_status),
                          'reservation:' || reservation.id) is null then
      raise exception 'inventory of product % holds less than reservation %', reservation.product_id, reservation.id
        using errcode = 'PT409';
    end if;
    resolved := resolved + 1;
  end loop;
  return resolved;
end
$$;
comment on function private.resolve_reservations(text, text, text) is
  'Resolves the active reservations of a reference: released (reserved -= quantity, a release move) or consumed (on_hand and reserved -= quantity, a sale move), with the reason; returns how many; 0 on a repeat. release_reservations and consume_reservations call it.';
revoke execute on function private.resolve_reservations(text, text, text) from public;
grant execute on function private.resolve_reservations(text, text, text) to service_role;

-- Active reservations of a reference become released (stock back to available).
create function private.release_reservations(reference text, reason text) returns integer
language sql
security definer
set search_path = ''
as $$
  select private.resolve_reservations(reference, 'released', coalesce(nullif(trim(reason), ''), 'released'))
$$;
comment on function private.release_reservations(text, text) is
  'Releases the active reservations of a reference (reserved -= quantity, a release move each, with the reason); returns how many; 0 on a repeat.';
revoke execute on function private.release_reservations(text, text) from public;
grant execute on function private.release_reservations(text, text) to service_role;

-- Active reservations of a reference become sales: on_hand and reserved both drop.
create function private.consume_reservations(reference text) returns integer
language sql
security definer
set search_path = ''
as $$
  select private.resolve_reservations(reference, 'consumed', 'sold')
$$;
comment on function private.consume_reservations(text) is
  'Turns the active reservations of a reference into sales (on_hand and reserved -= quantity, a sale move each); returns how many; 0 on a repeat.';
revoke execute on function private.consume_reservations(text) from public;
grant execute on function private.consume_reservations(text) to service_role;

-- A return or cancellation after a sale puts units back on hand, once per reference and
-- product. Returns 1 when it restocked, 0 on a repeat or for a digital product.
create function private.restock(product_id uuid, quantity integer, reference text) returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  if quantity is null or quantity < 1 then
    raise exception 'quantity must be at least 1, not %', coalesce(quantity::text, 'null') using errcode = '22023';
  end if;
  if reference is null or char_length(reference) not between 1 and 200 then
    raise exception 'a restock needs a reference of 1 to 200 characters' using errcode = '22023';
  end if;
  if not exists (select 1 from public.products p where p.id = restock.product_id) then
    raise exception 'product % not found', product_id using errcode = 'PT404';
  end if;
  -- The level's row lock serialises restocks of the product, so the repeat check holds.
  perform 1 from public.inventory_levels l where l.product_id = restock.product_id for update;
  if not found then
    return 0; -- digital: nothing to restock
  end if;
  if exists (select 1 from public.stock_moves m
              where m.reference = restock.reference and m.product_id = restock.product_id and m.kind = 'return') then
    return 0;
  end if;
  perform private.move_stock(restock.product_id, 'return', restock.quantity, 0, 'returned', restock.reference);
  return 1;
end
$$;
comment on function private.restock(uuid, integer, text) is
  'Puts quantity back on hand after a sale (a return move with the reference), once per reference and product; 1 when done, 0 on a repeat or for a digital product.';
revoke execute on function private.restock(uuid, integer, text) from public;
grant execute on function private.restock(uuid, integer, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- The seller's and staff's side (003 inventory).

-- A level the caller may change: the selling owner's or any for commerce.manage; locked.
create function private.level_for_change(product_id uuid) returns public.inventory_levels
language plpgsql
security definer
set search_path = ''
as $$
declare
  product public.products;
  level public.inventory_levels;
begin
  select * into product from public.products p where p.id = level_for_change.product_id;
  if not found or not (product.shop_id = auth.uid() or private.can_manage_commerce() or private.is_service_role()) then
    raise exception 'product % not found', product_id using errcode = 'PT404';
  end if;
  if not (private.can_manage_commerce() or private.is_service_role() or private.sells_in_active_shop()) then
    raise exception 'permission denied: shop.sell and an active shop, or commerce.manage, are required' using errcode = '42501';
  end if;
  select * into level from public.inventory_levels l where l.product_id = level_for_change.product_id for update;
  if not found then
    raise exception 'product % is digital: it has no inventory', product_id using errcode = 'PT409';
  end if;
  return level;
end
$$;
comment on function private.level_for_change(uuid) is
  'The inventory level of a product the caller may change (its seller, commerce.manage, the service role), locked; PT404/42501/PT409 otherwise.';
revoke execute on function private.level_for_change(uuid) from public;
grant execute on function private.level_for_change(uuid) to authenticated, service_role;

create function private.adjust_inventory(product_id uuid, quantity_delta integer, reason text, kind text default 'adjustment')
returns public.inventory_levels
language plpgsql
security definer
set search_path = ''
as $$
declare
  level public.inventory_levels;
begin
  if quantity_delta is null or quantity_delta = 0 then
    raise exception 'quantity_delta is a non-zero whole number' using errcode = '22023';
  end if;
  if reason is null or char_length(trim(reason)) not between 1 and 500 then
    raise exception 'an adjustment needs a reason (1 to 500 characters)' using errcode = '22023';
  end if;
  if kind is null or kind not in ('adjustment', 'restock') then
    raise exception 'kind is adjustment or restock' using errcode = '22023';
  end if;
  if kind = 'restock' and quantity_delta < 0 then
    raise exception 'a restock adds stock: quantity_delta must be positive' using errcode = '22023';
  end if;
  level := private.level_for_change(product_id);
  if level.on_hand + quantity_delta < level.reserved then
    raise exception 'product % has % on hand and % reserved: on hand cannot go below the reserved units',
      product_id, level.on_hand, level.reserved using errcode = 'PT409';
  end if;
  return private.move_stock(product_id, kind, quantity_delta, 0, trim(reason), null);
end
$$;
comment on function private.adjust_inventory(uuid, integer, text, text) is 'Body of public.adjust_inventory.';
revoke execute on function private.adjust_inventory(uuid, integer, text, text) from public;
grant execute on function private.adjust_inventory(uuid, integer, text, text) to authenticated, service_role;

create function public.adjust_inventory(product_id uuid, quantity_delta integer, reason text, kind text default 'adjustment')
returns public.inventory_levels
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.adjust_inventory(product_id, quantity_delta, reason, kind)
$$;
comment on function public.adjust_inventory(uuid, integer, text, text) is
  'Adds (or removes, negative) units on hand with a reason (003 inventory adjustment), recorded as a stock move of kind adjustment or restock. The product''s seller or commerce.manage; PT409 when on hand would fall below the reserved units.';
revoke execute on function public.adjust_inventory(uuid, integer, text, text) from public;
grant execute on function public.adjust_inventory(uuid, integer, text, text) to authenticated, service_role;

-- 003 PUT /inventory/{id}: sets on hand (through an adjustment move of the difference) and
-- the reorder level. Reserved is never set: it is what checkouts hold, moved only by their
-- reservations, releases and sales.
create function private.set_inventory(product_id uuid, on_hand integer default null, reorder_level integer default null,
                                      reason text default null)
returns public.inventory_levels
language plpgsql
security definer
set search_path = ''
as $$
declare
  level public.inventory_levels;
begin
  if on_hand is null and reorder_level is null then
    raise exception 'set on_hand, reorder_level or both' using errcode = '22023';
  end if;
  if on_hand < 0 or reorder_level < 0 then
    raise exception 'on_hand and reorder_level are whole numbers >= 0' using errcode = '22023';
  end if;
  if on_hand is not null and (reason is null or char_length(trim(reason)) not between 1 and 500) then
    raise exception 'setting on_hand needs a reason (1 to 500 characters)' using errcode = '22023';
  end if;
  level := private.level_for_change(product_id);
  if reorder_level is not null and reorder_level <> level.reorder_level then
    update public.inventory_levels l set reorder_level = set_inventory.reorder_level
     where l.product_id = set_inventory.product_id returning * into level;
  end if;
  if on_hand is not null and on_hand <> level.on_hand then
    if on_hand < level.reserved then
      raise exception 'product % has % reserved: on hand cannot be set below it', product_id, level.reserved using errcode = 'PT409';
    end if;
    level := private.move_stock(product_id, 'adjustment', on_hand - level.on_hand, 0, trim(reason), null);
  end if;
  return level;
end
$$;
comment on function private.set_inventory(uuid, integer, integer, text) is 'Body of public.set_inventory.';
revoke execute on function private.set_inventory(uuid, integer, integer, text) from public;
grant execute on function private.set_inventory(uuid, integer, integer, text) to authenticated, service_role;

create function public.set_inventory(product_id uuid, on_hand integer default null, reorder_level integer default null,
                                     reason text default null)
returns public.inventory_levels
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.set_inventory(product_id, on_hand, reorder_level, reason)
$$;
comment on function public.set_inventory(uuid, integer, integer, text) is
  '003 PUT /inventory/{id}: sets on_hand (an adjustment move of the difference, with a reason) and/or reorder_level. Reserved is never set directly. PT409 below the reserved units.';
revoke execute on function public.set_inventory(uuid, integer, integer, text) from public;
grant execute on function public.set_inventory(uuid, integer, integer, text) to authenticated, service_role;

-- Low stock (003): levels at or below their reorder level; commerce.manage sees every shop's,
-- a seller their own.
create function private.list_low_stock() returns table (
  product_id uuid, shop_id uuid, title text, sku text, on_hand integer, reserved integer, available integer, reorder_level integer
)
language sql
stable
security definer
set search_path = ''
as $$
  select l.product_id, p.shop_id, p.title, p.sku, l.on_hand, l.reserved, l.available, l.reorder_level
    from public.inventory_levels l
    join public.products p on p.id = l.product_id
   where l.available <= l.reorder_level
     and p.status <> 'archived'
     and (private.can_manage_commerce() or private.is_service_role() or p.shop_id = auth.uid())
   order by l.available - l.reorder_level, p.title, l.product_id
$$;
comment on function private.list_low_stock() is 'Body of public.list_low_stock.';
revoke execute on function private.list_low_stock() from public;
grant execute on function private.list_low_stock() to authenticated, service_role;

create function public.list_low_stock() returns table (
  product_id uuid, shop_id uuid, title text, sku text, on_hand integer, reserved integer, available integer, reorder_level integer
)
language sql
stable
security invoker
set search_path = ''
as $$
  select * from private.list_low_stock()
$$;
comment on function public.list_low_stock() is
  '003 low-stock list: products (not archived) whose available is at or below their reorder level, lowest first; every shop''s for commerce.manage, the caller''s own otherwise.';
revoke execute on function public.list_low_stock() from public;
grant execute on function public.list_low_stock() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Erasure: a seller whose products hold stock for checkouts in flight is not erased until
-- those reservations are consumed or released (the buyers' checkouts count on them).

create function private.held_stock_blocking_erasure(user_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select count(*) || ' active stock reservations on their products (' || string_agg(distinct r.reference, ', ') || ')'
    from public.stock_reservations r
    join public.products p on p.id = r.product_id
   where p.shop_id = held_stock_blocking_erasure.user_id and r.status = 'active'
  having count(*) > 0
$$;
comment on function private.held_stock_blocking_erasure(uuid) is
  'Erasure blocker: the seller''s products hold stock for checkouts in flight (active reservations), named by reference.';
revoke execute on function private.held_stock_blocking_erasure(uuid) from public;
grant execute on function private.held_stock_blocking_erasure(uuid) to service_role;

-- ======================================================================================
-- supabase/schemas/50_commerce/50_carts.sql
-- ======================================================================================

-- Carts (003 /cart): one per user, items of any shops. Read under RLS by their owner only;
-- changed only through the client RPCs below, which check each change against the product
-- (active, of an active shop, not the caller's own) and its availability, and answer
-- precisely why not. Availability is checked again, and stock reserved, when the cart is
-- checked out (70_checkouts.sql): a cart holds no stock (anchors §2: reserving at add-to-cart
-- lets abandoned carts hold stock; checking only at add-to-cart oversells).
--
-- revision counts the cart's changes and checkout_id is the checkout placed from its current
-- contents: a retried or double-clicked checkout finds it there, under the cart row's lock,
-- and returns the same checkout (private.checkout_cart). Any change clears it.

create table public.carts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  revision bigint not null default 0,
  checkout_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint carts_one_per_user unique (user_id)
);
comment on table public.carts is 'A user''s cart (one each), created on first use; read by its owner, changed through the cart RPCs only.';
comment on column public.carts.revision is 'Incremented by every change of the cart''s items; part of the checkout''s idempotency key.';
comment on column public.carts.checkout_id is
  'The checkout placed from the cart''s current contents (the cart was emptied by it); a retried checkout returns it. Cleared by any later change. Foreign key in 70_checkouts.sql.';

create trigger carts_touch_updated_at before update on public.carts
  for each row execute function private.touch_updated_at();

alter table public.carts enable row level security;
grant select on public.carts to authenticated;
grant all on public.carts to service_role;
create policy "Owners read their cart" on public.carts for select to authenticated
  using (user_id = (select auth.uid()));

create table public.cart_items (
  id uuid primary key default gen_random_uuid(),
  cart_id uuid not null references public.carts (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  product_id uuid not null references public.products (id) on delete cascade,
  quantity integer not null constraint cart_items_quantity_range check (quantity between 1 and 10000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint cart_items_one_line_per_product unique (cart_id, product_id)
);
comment on table public.cart_items is
  'A product and quantity in a user''s cart; user_id repeats the cart''s owner so the read policy needs no join. Written by the cart RPCs only.';

create index cart_items_user_idx on public.cart_items (user_id);
create index cart_items_product_idx on public.cart_items (product_id);

create trigger cart_items_touch_updated_at before update on public.cart_items
  for each row execute function private.touch_updated_at();

alter table public.cart_items enable row level security;
grant select on public.cart_items to authenticated;
grant all on public.cart_items to service_role;
create policy "Owners read their cart's items" on public.cart_items for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Whether a buyer may have this quantity of a product, with the precise refusal.

create function private.assert_purchasable(buyer uuid, product_id uuid, quantity integer) returns public.products
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  p public.products;
  shop_active boolean;
  left_available integer;
begin
  if quantity is null or quantity < 1 or quantity > 10000 then
    raise exception 'quantity must be a whole number from 1 to 10000, not %', coalesce(quantity::text, 'null')
      using errcode = '22023';
  end if;
  select * into p from public.products x where x.id = assert_purchasable.product_id;
  -- A draft is not public: it is answered as unknown, so drafts cannot be probed.
  if not found or p.status = 'draft' then
    raise exception 'product % not found', product_id using errcode = 'PT404';
  end if;
  if p.status <> 'active' then
    raise exception 'product % is %: only active products can be bought', p.id, p.status using errcode = 'PT409';
  end if;
  select s.is_active into shop_active from public.shops s where s.id = p.shop_id;
  if not coalesce(shop_active, false) then
    raise exception 'shop % is not selling: product % cannot be bought', p.shop_id, p.id using errcode = 'PT409';
  end if;
  if p.shop_id = buyer then
    raise exception 'product % is from your own shop: you cannot buy it', p.id using errcode = '42501';
  end if;
  -- Digital products have no inventory level: unlimited. A physical one without a level has
  -- none to sell.
  if p.kind = 'physical' then
    select l.available into left_available from public.inventory_levels l where l.product_id = p.id;
    left_available := coalesce(left_available, 0);
    if left_available < quantity then
      raise exception 'product % has only % available, % requested', p.id, left_available, quantity using errcode = 'PT409';
    end if;
  end if;
  return p;
end
$$;
comment on function private.assert_purchasable(uuid, uuid, integer) is
  'The product, if the buyer may have this quantity now: PT404 unknown or a draft, PT409 not active / shop not selling / not enough available (the reservation''s wording), 42501 their own shop, 22023 a bad quantity. Availability is a snapshot: the checkout''s reservation decides under lock.';
revoke execute on function private.assert_purchasable(uuid, uuid, integer) from public;

-- The caller's cart, created on first use, locked for update.
create function private.lock_cart(buyer uuid) returns public.carts
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.carts;
begin
  insert into public.carts (user_id) values (buyer) on conflict (user_id) do nothing;
  select * into c from public.carts x where x.user_id = buyer for update;
  return c;
end
$$;
comment on function private.lock_cart(uuid) is 'The user''s cart (created if missing), locked for update: cart changes and checkouts of one cart run one at a time.';
revoke execute on function private.lock_cart(uuid) from public;

-- Every change: a new revision, and the last checkout no longer matches the contents.
create function private.cart_changed(cart_id uuid) returns void
language sql
security definer
set search_path = ''
as $$
  update public.carts set revision = revision + 1, checkout_id = null where id = cart_id
$$;
revoke execute on function private.cart_changed(uuid) from public;

create function private.signed_in_buyer(what text) returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if auth.uid() is null then
    raise exception 'sign in to %', what using errcode = '42501';
  end if;
  perform private.assert_not_anonymous(what);
  return auth.uid();
end
$$;
comment on function private.signed_in_buyer(text) is 'The caller''s id; 42501 for anon and anonymous users (what names the action, a fixed phrase).';
revoke execute on function private.signed_in_buyer(text) from public;

-- ---------------------------------------------------------------------------------------
-- The cart RPCs.

create function private.add_cart_item(product_id uuid, quantity integer default 1) returns public.cart_items
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  c public.carts;
  item public.cart_items;
  already integer;
begin
  c := private.lock_cart(buyer);
  select x.quantity into already from public.cart_items x where x.cart_id = c.id and x.product_id = add_cart_item.product_id;
  perform private.assert_purchasable(buyer, product_id, quantity);
  if already is not null then
    perform private.assert_purchasable(buyer, product_id, already + quantity);
  end if;
  insert into public.cart_items (cart_id, user_id, product_id, quantity)
  values (c.id, buyer, add_cart_item.product_id, add_cart_item.quantity)
  on conflict on constraint cart_items_one_line_per_product do update set quantity = public.cart_items.quantity + excluded.quantity
  returning * into item;
  perform private.cart_changed(c.id);
  return item;
end
$$;
comment on function private.add_cart_item(uuid, integer) is
  'The body of the client RPC public.add_cart_item: security definer, in private so the API does not expose it.';
revoke execute on function private.add_cart_item(uuid, integer) from public;
grant execute on function private.add_cart_item(uuid, integer) to authenticated;

create function public.add_cart_item(product_id uuid, quantity integer default 1) returns public.cart_items
language sql
security invoker
set search_path = ''
as $$
  select private.add_cart_item(product_id, quantity)
$$;
comment on function public.add_cart_item(uuid, integer) is
  '003 POST /cart/items: adds a quantity of an active product to the caller''s cart (to its line if there is one), checked against what is available now.';
revoke execute on function public.add_cart_item(uuid, integer) from public;
grant execute on function public.add_cart_item(uuid, integer) to authenticated;

create function private.update_cart_item(item_id uuid, quantity integer) returns public.cart_items
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  c public.carts;
  item public.cart_items;
begin
  c := private.lock_cart(buyer);
  select * into item from public.cart_items x where x.id = item_id and x.cart_id = c.id;
  if not found then
    raise exception 'cart item % not found', item_id using errcode = 'PT404';
  end if;
  perform private.assert_purchasable(buyer, item.product_id, quantity);
  update public.cart_items set quantity = update_cart_item.quantity where id = item.id returning * into item;
  perform private.cart_changed(c.id);
  return item;
end
$$;
comment on function private.update_cart_item(uuid, integer) is
  'The body of the client RPC public.update_cart_item: security definer, in private so the API does not expose it.';
revoke execute on function private.update_cart_item(uuid, integer) from public;
grant execute on function private.update_cart_item(uuid, integer) to authenticated;

create function public.update_cart_item(item_id uuid, quantity integer) returns public.cart_items
language sql
security invoker
set search_path = ''
as $$
  select private.update_cart_item(item_id, quantity)
$$;
comment on function public.update_cart_item(uuid, integer) is
  '003 PUT /cart/items/{id}: sets the quantity of a line of the caller''s cart, checked against what is available now (remove a line with remove_cart_item).';
revoke execute on function public.update_cart_item(uuid, integer) from public;
grant execute on function public.update_cart_item(uuid, integer) to authenticated;

create function private.remove_cart_item(item_id uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  c public.carts;
begin
  c := private.lock_cart(buyer);
  delete from public.cart_items x where x.id = item_id and x.cart_id = c.id;
  if not found then
    raise exception 'cart item % not found', item_id using errcode = 'PT404';
  end if;
  perform private.cart_changed(c.id);
end
$$;
comment on function private.remove_cart_item(uuid) is
  'The body of the client RPC public.remove_cart_item: security definer, in private so the API does not expose it.';
revoke execute on function private.remove_cart_item(uuid) from public;
grant execute on function private.remove_cart_item(uuid) to authenticated;

create function public.remove_cart_item(item_id uuid) returns void
language sql
security invoker
set search_path = ''
as $$
  select private.remove_cart_item(item_id)
$$;
comment on function public.remove_cart_item(uuid) is '003 DELETE /cart/items/{id}: removes a line from the caller''s cart.';
revoke execute on function public.remove_cart_item(uuid) from public;
grant execute on function public.remove_cart_item(uuid) to authenticated;

create function private.clear_cart() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  c public.carts;
  removed integer;
begin
  c := private.lock_cart(buyer);
  delete from public.cart_items x where x.cart_id = c.id;
  get diagnostics removed = row_count;
  if removed > 0 then
    perform private.cart_changed(c.id);
  end if;
  return removed;
end
$$;
comment on function private.clear_cart() is
  'The body of the client RPC public.clear_cart: security definer, in private so the API does not expose it.';
revoke execute on function private.clear_cart() from public;
grant execute on function private.clear_cart() to authenticated;

create function public.clear_cart() returns integer
language sql
security invoker
set search_path = ''
as $$
  select private.clear_cart()
$$;
comment on function public.clear_cart() is '003 DELETE /cart: empties the caller''s cart; returns how many lines it removed.';
revoke execute on function public.clear_cart() from public;
grant execute on function public.clear_cart() to authenticated;

-- 003 GET /cart: the lines with today's prices and availability.
create function private.get_cart() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  result jsonb;
begin
  select jsonb_build_object(
           'cart_id', c.id,
           'revision', coalesce(c.revision, 0),
           'items', coalesce((
             select jsonb_agg(jsonb_build_object(
                      'id', i.id, 'product_id', i.product_id, 'shop_id', p.shop_id, 'title', p.title, 'sku', p.sku,
                      'kind', p.kind, 'status', p.status, 'unit_price', p.price, 'currency', p.currency,
                      'quantity', i.quantity, 'line_total', p.price * i.quantity,
                      'available', case when p.kind = 'digital' then null else coalesce(l.available, 0) end,
                      'purchasable', p.status = 'active' and coalesce(s.is_active, false)
                                     and (p.kind = 'digital' or coalesce(l.available, 0) >= i.quantity))
                    order by i.created_at, i.id)
               from public.cart_items i
               join public.products p on p.id = i.product_id
               left join public.shops s on s.id = p.shop_id
               left join public.inventory_levels l on l.product_id = p.id
              where i.cart_id = c.id), '[]'::jsonb),
           'subtotals', coalesce((
             select jsonb_agg(jsonb_build_object('currency', p.currency, 'amount', sum_amount) order by p.currency)
               from (select p2.currency, sum(p2.price * i.quantity) as sum_amount
                       from public.cart_items i join public.products p2 on p2.id = i.product_id
                      where i.cart_id = c.id group by p2.currency) p), '[]'::jsonb))
    into result
    from (select buyer as user_id) me
    left join public.carts c on c.user_id = me.user_id;
  return result;
end
$$;
comment on function private.get_cart() is
  'The body of the client RPC public.get_cart: security definer, in private so the API does not expose it.';
revoke execute on function private.get_cart() from public;
grant execute on function private.get_cart() to authenticated;

create function public.get_cart() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.get_cart()
$$;
comment on function public.get_cart() is
  '003 GET /cart: the caller''s cart: { cart_id, revision, items: [{ id, product_id, shop_id, title, sku, kind, status, unit_price, currency, quantity, line_total, available, purchasable }], subtotals: [{ currency, amount }] } at today''s prices.';
revoke execute on function public.get_cart() from public;
grant execute on function public.get_cart() to authenticated;

-- ======================================================================================
-- supabase/schemas/50_commerce/55_tax_rates.sql
-- ======================================================================================

-- Tax rates (001 checkout preview: "tax from a rate table"): one rate per country, and
-- optionally per region of a country, in basis points, managed by staff (commerce.manage)
-- and read by everyone. A deliberately simple model of sales tax / VAT, added on top of the
-- price (tax-exclusive prices): it is what the checkout reads through one function,
-- private.tax_rate_bps(country, region), so a tax provider (Stripe Tax, a VAT service) can
-- replace the table by replacing that function, without touching the checkout.
--
-- Which rate applies to an address: the row for its country and region if there is one,
-- else the country's row with region '' (the whole country), else 0 (no tax collected).
--
-- Rounding (private.tax_amount): tax is computed once per shop order, on its taxable amount
-- (items subtotal - the order's discount + its shipping), as taxable * rate_bps / 10000
-- rounded half up to a whole minor unit. Worked examples (also in
-- supabase/tests/database/50_commerce/tax_rates_by_country_rounded_half_up.test.sql):
--   1999 at 1900 bps (19%): 379.81 -> 380;   1050 at 1000 bps: 105.0 -> 105;
--   25 at 1000 bps: 2.5 -> 3 (half up);      24 at 1000 bps: 2.4 -> 2;   any amount at 0: 0.

create table public.tax_rates (
  id uuid primary key default gen_random_uuid(),
  country_code char(2) not null references public.countries (code),
  region text not null default '' constraint tax_rates_region_length check (char_length(region) <= 100 and region = trim(region)),
  rate_bps integer not null constraint tax_rates_rate_range check (rate_bps between 0 and 10000),
  name text not null default '' constraint tax_rates_name_length check (char_length(name) <= 80),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint tax_rates_country_region_unique unique (country_code, region)
);
comment on table public.tax_rates is
  'Tax rate per destination country (region '''') or region of a country, in basis points; read by everyone, written by commerce.manage. Replaceable by a tax provider through private.tax_rate_bps.';
comment on column public.tax_rates.region is
  'The region as written in addresses.region (case-insensitive match); '''' for the whole country.';
comment on column public.tax_rates.rate_bps is 'The rate in basis points: 1900 = 19%.';

create trigger tax_rates_touch_updated_at before update on public.tax_rates
  for each row execute function private.touch_updated_at();

alter table public.tax_rates enable row level security;
grant select on public.tax_rates to anon, authenticated;
grant insert (country_code, region, rate_bps, name), update (rate_bps, name), delete on public.tax_rates to authenticated;
grant all on public.tax_rates to service_role;

create policy "Anyone reads tax rates" on public.tax_rates for select to anon, authenticated using (true);
create policy "Commerce managers add tax rates" on public.tax_rates for insert to authenticated
  with check ((select private.has_permission('commerce.manage')));
create policy "Commerce managers change tax rates" on public.tax_rates for update to authenticated
  using ((select private.has_permission('commerce.manage')))
  with check ((select private.has_permission('commerce.manage')));
create policy "Commerce managers remove tax rates" on public.tax_rates for delete to authenticated
  using ((select private.has_permission('commerce.manage')));

-- The rate for a destination: the region's row, else the country's, else 0.
create function private.tax_rate_bps(country_code text, region text default '') returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select t.rate_bps from public.tax_rates t
      where t.country_code = upper(tax_rate_bps.country_code)
        and t.region <> '' and lower(t.region) = lower(trim(coalesce(tax_rate_bps.region, '')))),
    (select t.rate_bps from public.tax_rates t
      where t.country_code = upper(tax_rate_bps.country_code) and t.region = ''),
    0)
$$;
comment on function private.tax_rate_bps(text, text) is
  'The tax rate in basis points for a destination: the region''s row, else the country''s (region ''''), else 0. The one place the checkout asks for a rate: a tax provider replaces this function.';
revoke execute on function private.tax_rate_bps(text, text) from public;
grant execute on function private.tax_rate_bps(text, text) to authenticated, service_role;

-- The tax on a taxable amount: half up to a whole minor unit.
create function private.tax_amount(taxable bigint, rate_bps integer) returns bigint
language sql
immutable
set search_path = ''
as $$
  select case when taxable is null or rate_bps is null or taxable <= 0 or rate_bps <= 0 then 0::bigint
              else (taxable * rate_bps + 5000) / 10000
         end
$$;
comment on function private.tax_amount(bigint, integer) is
  'Tax on a taxable amount in minor units at rate_bps, rounded half up to a whole minor unit (floor((taxable * rate_bps + 5000) / 10000)); 0 for a non-positive amount.';
revoke execute on function private.tax_amount(bigint, integer) from public;
grant execute on function private.tax_amount(bigint, integer) to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/50_commerce/60_coupons.sql
-- ======================================================================================

-- Coupons (003 /coupons): a code worth a percentage (basis points) or a fixed amount (with its
-- currency) off an order's items, platform-wide (shop_id null: staff create them) or one
-- shop's (its seller manages them; staff manage all), with a valid window, a minimum order
-- total, a total usage limit, a per-user limit and an active flag.
--
-- What a coupon applies to: the items subtotal, before shipping and tax. A platform coupon
-- applies to the whole checkout's items subtotal (its minimum too) and its discount is split
-- across the shop orders (70_checkouts.sql, private.split_discount); a shop's coupon applies
-- to that shop's items only.
--
-- Discount rounding (private.coupon_discount): percentage = base * percent_bps / 10000
-- rounded half up to a whole minor unit; fixed = the amount; either is capped at the base.
--
-- Usage is counted at order placement, never before (anchors trap 9): the checkout locks the
-- coupon row (for no key update: the lock that conflicts with itself but not with the key-share
-- locks the foreign keys of checkouts, shop orders and redemptions take on the coupon, which
-- would otherwise deadlock two checkouts of one coupon), checks it again and records a coupon_redemptions row in the same
-- transaction (private.redeem_coupon), so concurrent checkouts queue on the coupon and none
-- takes it beyond its limits. A redemption is released (status released, times_used down)
-- when its checkout expires, is cancelled or its payment fails
-- (private.release_coupon_redemptions, called by the expiry job here and by the payments and
-- cancellation code). times_used counts active redemptions only.
--
-- Deleting: only a coupon never redeemed may be deleted (private.guard_coupon_delete); a
-- used one is deactivated instead (is_active false), so its statistics and the orders that
-- used it keep pointing at it.

create table public.coupons (
  id uuid primary key default gen_random_uuid(),
  code text not null constraint coupons_code_format check (code ~ '^[A-Za-z0-9_-]{3,40}$'),
  shop_id uuid references public.shops (id) on delete cascade,
  kind text not null constraint coupons_kind check (kind in ('percentage', 'fixed')),
  percent_bps integer,
  amount bigint,
  currency text references public.currencies (code),
  starts_at timestamptz,
  ends_at timestamptz,
  min_order_amount bigint,
  usage_limit integer constraint coupons_usage_limit_positive check (usage_limit > 0),
  per_user_limit integer constraint coupons_per_user_limit_positive check (per_user_limit > 0),
  times_used integer not null default 0 constraint coupons_times_used_within_limit
    check (times_used >= 0 and times_used <= coalesce(usage_limit, times_used)),
  is_active boolean not null default true,
  is_public boolean not null default false,
  description text not null default '' constraint coupons_description_length check (char_length(description) <= 500),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint coupons_value_by_kind check (
    (kind = 'percentage' and percent_bps between 1 and 10000 and amount is null)
    or (kind = 'fixed' and percent_bps is null and amount is not null and currency is not null)),
  constraint coupons_minimum_has_currency check (min_order_amount is null or currency is not null),
  constraint coupons_window_order check (ends_at is null or starts_at is null or ends_at > starts_at)
);
comment on table public.coupons is
  'Coupons (003): platform-wide (shop_id null) or one shop''s; validated by validate_coupon(), redeemed at order placement under the row''s lock. times_used is not client-writable.';
comment on column public.coupons.code is 'Letters, digits, - and _; unique case-insensitively (coupons_code_unique) and matched so.';
comment on column public.coupons.percent_bps is 'kind percentage: the share off in basis points (1000 = 10%).';
comment on column public.coupons.amount is 'kind fixed: the amount off in minor units of currency.';
comment on column public.coupons.currency is
  'The currency of amount and min_order_amount; a coupon with a currency applies only to orders in it. Null: a percentage coupon for any currency.';
comment on column public.coupons.min_order_amount is 'The smallest items subtotal (before shipping and tax) the coupon applies to, in minor units of currency.';
comment on column public.coupons.usage_limit is 'How many orders may use the coupon in all; null: no limit.';
comment on column public.coupons.per_user_limit is 'How many orders one buyer may use it on; null: no limit.';
comment on column public.coupons.times_used is 'Active redemptions: counted under the coupon row''s lock by private.redeem_coupon, given back by private.release_coupon_redemptions.';
comment on column public.coupons.is_public is 'Advertised: listed to signed-in users by available_coupons() (003 GET /coupons). Other codes work when typed but are not listed.';

create unique index coupons_code_unique on public.coupons (lower(code));
create index coupons_shop_idx on public.coupons (shop_id, created_at desc);
create index coupons_public_idx on public.coupons (ends_at) where is_public and is_active;

-- Amounts within their currency's limits, and a usage limit never below what was used.
create function private.check_coupon_row() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.amount is not null then
    perform private.assert_money(new.amount, new.currency, 'a coupon''s amount');
  end if;
  if new.min_order_amount is not null then
    perform private.assert_money(new.min_order_amount, new.currency, 'a coupon''s minimum order total');
  end if;
  if tg_op = 'UPDATE' and new.usage_limit is not null and new.usage_limit < old.times_used then
    raise exception 'coupon % has been used % times: its usage limit cannot go below that', new.code, old.times_used
      using errcode = 'PT409';
  end if;
  return new;
end
$$;
comment on function private.check_coupon_row() is
  'Trigger: a coupon''s amounts are positive and within the currency''s limit; its usage limit is never lowered below times_used.';

create trigger coupons_check before insert or update on public.coupons
  for each row execute function private.check_coupon_row();
create trigger coupons_touch_updated_at before update on public.coupons
  for each row execute function private.touch_updated_at();

alter table public.coupons enable row level security;
grant select on public.coupons to authenticated;
grant insert (code, shop_id, kind, percent_bps, amount, currency, starts_at, ends_at, min_order_amount, usage_limit,
              per_user_limit, is_active, is_public, description),
      update (percent_bps, amount, currency, starts_at, ends_at, min_order_amount, usage_limit, per_user_limit,
              is_active, is_public, description),
      delete
  on public.coupons to authenticated;
grant all on public.coupons to service_role;

create policy "Sellers read their shop's coupons, commerce managers all" on public.coupons for select to authenticated
  using ((shop_id = (select auth.uid()) and (select private.has_permission('shop.sell')))
         or (select private.has_permission('commerce.manage')));
create policy "Sellers add coupons for their shop, commerce managers any" on public.coupons for insert to authenticated
  with check ((shop_id = (select auth.uid()) and (select private.has_permission('shop.sell')))
              or (select private.has_permission('commerce.manage')));
create policy "Sellers change their shop's coupons, commerce managers any" on public.coupons for update to authenticated
  using ((shop_id = (select auth.uid()) and (select private.has_permission('shop.sell')))
         or (select private.has_permission('commerce.manage')))
  with check ((shop_id = (select auth.uid()) and (select private.has_permission('shop.sell')))
              or (select private.has_permission('commerce.manage')));
create policy "Sellers delete their shop's coupons, commerce managers any" on public.coupons for delete to authenticated
  using ((shop_id = (select auth.uid()) and (select private.has_permission('shop.sell')))
         or (select private.has_permission('commerce.manage')));

-- ---------------------------------------------------------------------------------------
-- Redemptions: one per coupon and checkout that used it.

create table public.coupon_redemptions (
  id uuid primary key default gen_random_uuid(),
  coupon_id uuid not null references public.coupons (id) on delete cascade,
  user_id uuid references auth.users (id) on delete set null,
  checkout_id uuid not null,
  currency text not null references public.currencies (code),
  discount_amount bigint not null constraint coupon_redemptions_discount_positive check (discount_amount >= 0),
  order_total bigint not null constraint coupon_redemptions_order_total_positive check (order_total >= 0),
  status text not null default 'active' constraint coupon_redemptions_status check (status in ('active', 'released')),
  created_at timestamptz not null default now(),
  released_at timestamptz,
  constraint coupon_redemptions_one_per_checkout unique (coupon_id, checkout_id)
);
comment on table public.coupon_redemptions is
  'A coupon used by a checkout: written at order placement under the coupon''s lock (private.redeem_coupon), released when the checkout expires, is cancelled or its payment fails (private.release_coupon_redemptions). Read by the buyer and commerce managers; sellers see their coupons'' statistics (coupon_usage).';
comment on column public.coupon_redemptions.checkout_id is
  'The checkout that used the coupon; the foreign key to public.checkouts is declared with it, in 70_checkouts.sql.';
comment on column public.coupon_redemptions.discount_amount is 'The discount the coupon gave on that checkout, in minor units.';
comment on column public.coupon_redemptions.order_total is
  'What the buyer pays for the orders the coupon applied to (after discount, with shipping and tax): the whole checkout for a platform coupon, the shop''s order for a shop''s coupon.';

create index coupon_redemptions_coupon_idx on public.coupon_redemptions (coupon_id, status);
create index coupon_redemptions_user_idx on public.coupon_redemptions (user_id, coupon_id) where user_id is not null;
create index coupon_redemptions_checkout_idx on public.coupon_redemptions (checkout_id);

alter table public.coupon_redemptions enable row level security;
grant select on public.coupon_redemptions to authenticated;
grant all on public.coupon_redemptions to service_role;

create policy "Buyers read their redemptions, commerce managers all" on public.coupon_redemptions for select to authenticated
  using (user_id = (select auth.uid()) or (select private.has_permission('commerce.manage')));

-- A used coupon is deactivated, not deleted.
create function private.guard_coupon_delete() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  uses integer;
begin
  -- Deleted with its shop (the foreign key's cascade, a nested trigger): the redemptions go
  -- with it; the shop orders that used it keep their amounts.
  if pg_trigger_depth() > 1 then
    return old;
  end if;
  select count(*) into uses from public.coupon_redemptions r where r.coupon_id = old.id;
  if uses > 0 then
    raise exception 'coupon % was used by % checkouts: deactivate it (is_active false) instead of deleting it', old.code, uses
      using errcode = 'PT409';
  end if;
  return old;
end
$$;
comment on function private.guard_coupon_delete() is
  'Trigger: only a coupon never redeemed may be deleted; a used one is deactivated, so its redemptions and statistics stay.';
revoke execute on function private.guard_coupon_delete() from public;

create trigger coupons_guard_delete before delete on public.coupons
  for each row execute function private.guard_coupon_delete();

-- ---------------------------------------------------------------------------------------
-- Validation, discount, redemption and release.

-- The discount a coupon gives on a base amount (an items subtotal), half up, capped at it.
create function private.coupon_discount(c public.coupons, base bigint) returns bigint
language sql
immutable
set search_path = ''
as $$
  select case when base is null or base <= 0 then 0::bigint
              when c.kind = 'percentage' then least(base, (base * c.percent_bps + 5000) / 10000)
              else least(base, c.amount)
         end
$$;
comment on function private.coupon_discount(public.coupons, bigint) is
  'The discount of a coupon on a base amount in minor units: percentage rounded half up (floor((base * bps + 5000) / 10000)), fixed as is; never more than the base.';
revoke execute on function private.coupon_discount(public.coupons, bigint) from public;
grant execute on function private.coupon_discount(public.coupons, bigint) to authenticated, service_role;

-- Why a coupon cannot be used, as a refusal (PT409), or nothing. Checks what it is given:
-- a null buyer skips the per-user limit, a null currency or base the currency and minimum,
-- a null shop list the shop.
create function private.assert_coupon_usable(
  c public.coupons, buyer uuid, order_currency text, base bigint, order_shops uuid[]
) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  used_by_buyer integer;
begin
  if not c.is_active then
    raise exception 'coupon % is inactive', c.code using errcode = 'PT409';
  end if;
  if c.starts_at is not null and now() < c.starts_at then
    raise exception 'coupon % is not valid before %', c.code, c.starts_at using errcode = 'PT409';
  end if;
  if c.ends_at is not null and now() >= c.ends_at then
    raise exception 'coupon % expired at %', c.code, c.ends_at using errcode = 'PT409';
  end if;
  if c.usage_limit is not null and c.times_used >= c.usage_limit then
    raise exception 'coupon % has been used % times, its usage limit', c.code, c.usage_limit using errcode = 'PT409';
  end if;
  if buyer is not null and c.per_user_limit is not null then
    select count(*) into used_by_buyer from public.coupon_redemptions r
     where r.coupon_id = c.id and r.user_id = buyer and r.status = 'active';
    if used_by_buyer >= c.per_user_limit then
      raise exception 'coupon % was already used % times by this buyer, its per-user limit', c.code, used_by_buyer
        using errcode = 'PT409';
    end if;
  end if;
  if c.shop_id is not null and order_shops is not null and not (c.shop_id = any (order_shops)) then
    raise exception 'coupon % is shop %''s and this order has nothing from that shop', c.code, c.shop_id using errcode = 'PT409';
  end if;
  if c.currency is not null and order_currency is not null and c.currency <> upper(order_currency) then
    raise exception 'coupon % is in %, the order in %', c.code, c.currency, upper(order_currency) using errcode = 'PT409';
  end if;
  if c.min_order_amount is not null and base is not null and base < c.min_order_amount then
    raise exception 'coupon % needs an order total of at least % % (before shipping and tax), the order is % %',
      c.code, c.min_order_amount, c.currency, base, c.currency using errcode = 'PT409';
  end if;
end
$$;
comment on function private.assert_coupon_usable(public.coupons, uuid, text, bigint, uuid[]) is
  'Raises PT409 naming why a coupon cannot be used (inactive, not yet valid, expired, exhausted, per-user limit reached, wrong shop, wrong currency, below the minimum with both amounts); skips the checks whose input is null.';
revoke execute on function private.assert_coupon_usable(public.coupons, uuid, text, bigint, uuid[]) from public;

-- The coupon a code names (case-insensitive), or PT404; 22023 for a malformed code.
create function private.coupon_by_code(code text) returns public.coupons
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  c public.coupons;
begin
  if code is null or trim(code) !~ '^[A-Za-z0-9_-]{3,40}$' then
    raise exception 'a coupon code is 3 to 40 letters, digits, - or _' using errcode = '22023';
  end if;
  select * into c from public.coupons k where lower(k.code) = lower(trim(coupon_by_code.code));
  if not found then
    raise exception 'no coupon has this code' using errcode = 'PT404';
  end if;
  return c;
end
$$;
comment on function private.coupon_by_code(text) is 'The coupon with this code (case-insensitive); PT404 when none, 22023 when the code is malformed.';
revoke execute on function private.coupon_by_code(text) from public;

create function private.validate_coupon(
  code text, order_total bigint default null, currency text default null, shop_id uuid default null
) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  buyer uuid := auth.uid();
  c public.coupons;
begin
  if buyer is null then
    raise exception 'sign in to use a coupon' using errcode = '42501';
  end if;
  if order_total is not null and order_total < 0 then
    raise exception 'order_total must be a whole number of minor units, 0 or more, not %', order_total using errcode = '22023';
  end if;
  if currency is not null and not exists (select 1 from public.currencies k where k.code = upper(validate_coupon.currency)) then
    raise exception 'currency is not supported (see the currencies table)' using errcode = '22023';
  end if;
  c := private.coupon_by_code(code);
  perform private.assert_coupon_usable(c, buyer, currency, order_total,
                                       case when validate_coupon.shop_id is null then null else array[validate_coupon.shop_id] end);
  return jsonb_build_object(
    'coupon_id', c.id, 'code', c.code, 'shop_id', c.shop_id, 'kind', c.kind, 'percent_bps', c.percent_bps,
    'amount', c.amount, 'currency', c.currency, 'min_order_amount', c.min_order_amount,
    'starts_at', c.starts_at, 'ends_at', c.ends_at,
    'uses_left', case when c.usage_limit is null then null else c.usage_limit - c.times_used end,
    'discount', case when order_total is null then null else private.coupon_discount(c, order_total) end);
end
$$;
comment on function private.validate_coupon(text, bigint, text, uuid) is
  'The body of the client RPC public.validate_coupon: security definer, in private so the API does not expose it.';
revoke execute on function private.validate_coupon(text, bigint, text, uuid) from public;
grant execute on function private.validate_coupon(text, bigint, text, uuid) to authenticated;

create function public.validate_coupon(
  code text, order_total bigint default null, currency text default null, shop_id uuid default null
) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.validate_coupon(code, order_total, currency, shop_id)
$$;
comment on function public.validate_coupon(text, bigint, text, uuid) is
  '003 POST /coupons/validate: whether the signed-in user may use a coupon code now (on an items subtotal, currency and shop when given), with the discount it would give; refuses PT404 for an unknown code and PT409 saying precisely why not.';
revoke execute on function public.validate_coupon(text, bigint, text, uuid) from public;
grant execute on function public.validate_coupon(text, bigint, text, uuid) to authenticated;

-- 003 GET /coupons: advertised coupons the caller can still use.
create function private.available_coupons() returns setof public.coupons
language sql
stable
security definer
set search_path = ''
as $$
  select c.* from public.coupons c
   where c.is_public and c.is_active
     and (c.starts_at is null or c.starts_at <= now())
     and (c.ends_at is null or c.ends_at > now())
     and (c.usage_limit is null or c.times_used < c.usage_limit)
     and (c.per_user_limit is null or (select count(*) from public.coupon_redemptions r
                                        where r.coupon_id = c.id and r.user_id = auth.uid() and r.status = 'active') < c.per_user_limit)
     and (c.shop_id is null or exists (select 1 from public.shops s where s.id = c.shop_id and s.is_active))
     and auth.uid() is not null
   order by c.ends_at nulls last, c.code
$$;
comment on function private.available_coupons() is
  'The body of the client RPC public.available_coupons: security definer, in private so the API does not expose it.';
revoke execute on function private.available_coupons() from public;
grant execute on function private.available_coupons() to authenticated;

create function public.available_coupons() returns setof public.coupons
language sql
stable
security invoker
set search_path = ''
as $$
  select * from private.available_coupons()
$$;
comment on function public.available_coupons() is
  '003 GET /coupons: the advertised (is_public) coupons the signed-in user can use now: active, in their window, not exhausted, under their per-user limit; soonest ending first.';
revoke execute on function public.available_coupons() from public;
grant execute on function public.available_coupons() to authenticated;

-- 003 GET /admin/coupons: under the caller's RLS (sellers their shop's, managers all).
create function public.list_coupons(is_active boolean default null, expiring_soon boolean default null, shop_id uuid default null)
returns setof public.coupons
language sql
stable
security invoker
set search_path = ''
as $$
  select c.* from public.coupons c
   where (list_coupons.is_active is null or c.is_active = list_coupons.is_active)
     and (list_coupons.shop_id is null or c.shop_id = list_coupons.shop_id)
     and (expiring_soon is null
          or expiring_soon = (c.ends_at is not null and c.ends_at > now() and c.ends_at <= now() + interval '7 days'))
   order by c.created_at desc, c.id
$$;
comment on function public.list_coupons(boolean, boolean, uuid) is
  '003 admin coupon list under RLS (commerce managers: all, sellers: their shop''s): filter by is_active, expiring_soon (ends within 7 days) and shop; paginate with PostgREST''s limit/offset or range and count.';
revoke execute on function public.list_coupons(boolean, boolean, uuid) from public;
grant execute on function public.list_coupons(boolean, boolean, uuid) to authenticated;

-- 003 coupon usage statistics.
create function private.coupon_usage(coupon_id uuid)
returns table (currency text, uses bigint, distinct_users bigint, discount_given bigint, revenue bigint)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  c public.coupons;
begin
  select * into c from public.coupons k where k.id = coupon_usage.coupon_id;
  if not found or not ((c.shop_id = auth.uid() and private.has_permission('shop.sell'))
                       or private.has_permission('commerce.manage')) then
    raise exception 'coupon % not found', coupon_id using errcode = 'PT404';
  end if;
  return query
    select r.currency, count(*), count(distinct r.user_id), coalesce(sum(r.discount_amount), 0)::bigint,
           coalesce(sum(r.order_total), 0)::bigint
      from public.coupon_redemptions r
     where r.coupon_id = c.id and r.status = 'active'
     group by r.currency
     order by r.currency;
end
$$;
comment on function private.coupon_usage(uuid) is
  'The body of the client RPC public.coupon_usage: security definer, in private so the API does not expose it.';
revoke execute on function private.coupon_usage(uuid) from public;
grant execute on function private.coupon_usage(uuid) to authenticated;

create function public.coupon_usage(coupon_id uuid)
returns table (currency text, uses bigint, distinct_users bigint, discount_given bigint, revenue bigint)
language sql
stable
security invoker
set search_path = ''
as $$
  select * from private.coupon_usage(coupon_id)
$$;
comment on function public.coupon_usage(uuid) is
  '003 coupon usage statistics for its shop''s seller or a commerce manager, per currency: uses, distinct users, discount given and revenue (what the buyers pay for the orders that used it), counting active redemptions (not released by expiry, cancellation or failed payment); PT404 for anyone else.';
revoke execute on function public.coupon_usage(uuid) from public;
grant execute on function public.coupon_usage(uuid) to authenticated;

-- Redeems a coupon for a checkout, under the coupon row's lock: the checks again, then the
-- redemption and the count. Called by the checkout placement only.
create function private.redeem_coupon(
  coupon_id uuid, buyer uuid, checkout_id uuid, order_currency text, base bigint, order_shops uuid[],
  discount_amount bigint, order_total bigint
) returns public.coupon_redemptions
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.coupons;
  r public.coupon_redemptions;
begin
  select * into c from public.coupons k where k.id = redeem_coupon.coupon_id for no key update;
  if not found then
    raise exception 'coupon % not found', coupon_id using errcode = 'PT404';
  end if;
  perform private.assert_coupon_usable(c, buyer, order_currency, base, order_shops);
  insert into public.coupon_redemptions (coupon_id, user_id, checkout_id, currency, discount_amount, order_total)
  values (c.id, buyer, checkout_id, upper(order_currency), discount_amount, order_total)
  returning * into r;
  update public.coupons set times_used = times_used + 1 where id = c.id;
  return r;
end
$$;
comment on function private.redeem_coupon(uuid, uuid, uuid, text, bigint, uuid[], bigint, bigint) is
  'Locks the coupon (for no key update), checks it again for this buyer and order, records the redemption and counts it: concurrent checkouts queue here and never exceed the usage or per-user limit.';
revoke execute on function private.redeem_coupon(uuid, uuid, uuid, text, bigint, uuid[], bigint, bigint) from public;

-- Gives back the coupon usage of a checkout (expired, cancelled, payment failed). Idempotent:
-- a second call finds nothing active and returns 0.
create function private.release_coupon_redemptions(checkout_id uuid) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  r record;
  released integer := 0;
begin
  for r in
    select x.id, x.coupon_id from public.coupon_redemptions x
     where x.checkout_id = release_coupon_redemptions.checkout_id and x.status = 'active'
     order by x.coupon_id
  loop
    perform 1 from public.coupons c where c.id = r.coupon_id for no key update;
    update public.coupon_redemptions set status = 'released', released_at = now()
     where id = r.id and status = 'active';
    if found then
      update public.coupons set times_used = times_used - 1 where id = r.coupon_id;
      released := released + 1;
    end if;
  end loop;
  return released;
end
$$;
comment on function private.release_coupon_redemptions(uuid) is
  'Releases a checkout''s active coupon redemptions under each coupon''s lock (times_used down): for checkout expiry, cancellation before payment and failed payments. Idempotent: returns how many it released, 0 on repeat.';
revoke execute on function private.release_coupon_redemptions(uuid) from public;
grant execute on function private.release_coupon_redemptions(uuid) to service_role;

-- ======================================================================================
-- supabase/schemas/50_commerce/70_checkouts.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/50_commerce/80_payments.sql
-- ======================================================================================

-- Paying a checkout (issue 17, "Placing the order", payment part): ONE Stripe Checkout Session
-- (mode=payment) for the whole checkout, confirmed by the webhook, then per shop order a Stripe
-- Transfer of the seller's share less commission to their connected account. Built on the
-- commission orders' pieces (40_payments): the ledger (extended here with per-checkout
-- accounts), the webhook's dispatch (private.apply_stripe_event hands shop events to
-- private.apply_shop_stripe_event), the claim/record pattern of releases.
--
-- Decision: a `shop_payments` row per checkout (not public.payments: that one is keyed by a
-- commission order and carries its escrow freezes). The ledger gains a checkout scope:
-- ledger_accounts.checkout_id for the per-checkout buyer_funding, escrow and refunds accounts.

-- ---------------------------------------------------------------------------------------
-- The ledger's checkout scope (cross-file columns, docs/conventions.md).

alter table public.ledger_accounts add column checkout_id uuid references public.checkouts (id) on delete restrict;
comment on column public.ledger_accounts.checkout_id is
  'Per-checkout accounts of the shop (buyer_funding, escrow, refunds): the checkout whose money they hold (80_payments.sql).';
alter table public.ledger_accounts drop constraint ledger_accounts_scope;
alter table public.ledger_accounts add constraint ledger_accounts_scope check (case
    when kind in ('buyer_funding', 'escrow', 'refunds', 'chargebacks')
      then num_nonnulls(order_id, checkout_id) = 1 and user_id is null
    when kind in ('seller_payable', 'seller_transfers') then user_id is not null and order_id is null and checkout_id is null
    else order_id is null and user_id is null and checkout_id is null end);
alter table public.ledger_accounts drop constraint ledger_accounts_unique;
alter table public.ledger_accounts add constraint ledger_accounts_unique unique nulls not distinct (kind, currency, order_id, user_id, checkout_id);
create index ledger_accounts_checkout_idx on public.ledger_accounts (checkout_id) where checkout_id is not null;

-- The account of a kind for a checkout, created on first use (private.ledger_account's twin for
-- the checkout scope: that one's signature is the commission orders').
create function private.checkout_ledger_account(kind text, currency text, checkout_id uuid) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  account bigint;
begin
  select a.id into account from public.ledger_accounts a
   where a.kind = checkout_ledger_account.kind and a.currency = checkout_ledger_account.currency
     and a.checkout_id = checkout_ledger_account.checkout_id;
  if account is null then
    insert into public.ledger_accounts (kind, currency, checkout_id)
    values (kind, currency, checkout_id)
    on conflict on constraint ledger_accounts_unique do nothing
    returning id into account;
    if account is null then
      select a.id into account from public.ledger_accounts a
       where a.kind = checkout_ledger_account.kind and a.currency = checkout_ledger_account.currency
         and a.checkout_id = checkout_ledger_account.checkout_id;
    end if;
  end if;
  return account;
end
$$;
comment on function private.checkout_ledger_account(text, text, uuid) is
  'The id of a checkout''s ledger account (buyer_funding, escrow, refunds), created on first use.';
revoke execute on function private.checkout_ledger_account(text, text, uuid) from public;
grant execute on function private.checkout_ledger_account(text, text, uuid) to service_role;

create function private.checkout_ledger_balance(kind text, currency text, checkout_id uuid) returns bigint
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(sum(e.amount), 0)::bigint
    from public.ledger_accounts a join public.ledger_entries e on e.account_id = a.id
   where a.kind = checkout_ledger_balance.kind and a.currency = checkout_ledger_balance.currency
     and a.checkout_id = checkout_ledger_balance.checkout_id
$$;
revoke execute on function private.checkout_ledger_balance(text, text, uuid) from public;
grant execute on function private.checkout_ledger_balance(text, text, uuid) to service_role;

-- ---------------------------------------------------------------------------------------
-- Commission rules: the platform default (platform_settings.commission_rate_bps), overridden
-- per category (the product's category or its nearest ancestor with a rule) and per shop. The
-- most specific wins: shop over category over default.

create table public.commission_rules (
  id uuid primary key default gen_random_uuid(),
  shop_id uuid references public.shops (id) on delete cascade,
  category_id uuid references public.product_categories (id) on delete cascade,
  rate_bps integer not null constraint commission_rules_rate_range check (rate_bps between 0 and 5000),
  note text constraint commission_rules_note_length check (char_length(note) <= 500),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint commission_rules_one_scope check (num_nonnulls(shop_id, category_id) = 1)
);
comment on table public.commission_rules is
  'Commission overrides of the shop: one shop''s rate or one category''s (and its subcategories''), in bps. Shop over category over platform_settings.commission_rate_bps. Managed by commerce.manage; snapshotted on shop orders at payment.';
create unique index commission_rules_shop_unique on public.commission_rules (shop_id) where shop_id is not null;
create unique index commission_rules_category_unique on public.commission_rules (category_id) where category_id is not null;
create trigger commission_rules_touch before update on public.commission_rules
  for each row execute function private.touch_updated_at();

alter table public.commission_rules enable row level security;
grant select, insert, update, delete on public.commission_rules to authenticated;
grant select, insert, update, delete on public.commission_rules to service_role;
create policy "Commerce staff manage commission rules; sellers read their shop's" on public.commission_rules
  for select to authenticated using ((select private.can_manage_commerce()) or shop_id = (select auth.uid()));
create policy "Commerce staff create commission rules" on public.commission_rules
  for insert to authenticated with check ((select private.can_manage_commerce()));
create policy "Commerce staff change commission rules" on public.commission_rules
  for update to authenticated using ((select private.can_manage_commerce())) with check ((select private.can_manage_commerce()));
create policy "Commerce staff delete commission rules" on public.commission_rules
  for delete to authenticated using ((select private.can_manage_commerce()));

-- The rate for one product of one shop: the shop's rule, else the nearest category rule up the
-- product's category tree, else the platform default.
create function private.commission_rate_for(shop_id uuid, category_id uuid) returns integer
language sql
stable
security definer
set search_path = ''
as $$
  with recursive up as (
    select c.id, c.parent_id, 0 as depth from public.product_categories c where c.id = commission_rate_for.category_id
    union all
    select c.id, c.parent_id, up.depth + 1 from public.product_categories c join up on c.id = up.parent_id where up.depth < 50
  )
  select coalesce(
    (select r.rate_bps from public.commission_rules r where r.shop_id = commission_rate_for.shop_id),
    (select r.rate_bps from up join public.commission_rules r on r.category_id = up.id order by up.depth limit 1),
    private.commission_rate_bps())
$$;
comment on function private.commission_rate_for(uuid, uuid) is
  'Commission in bps for a shop''s product in a category: shop rule, else nearest category rule (walking up the tree), else the platform default.';
revoke execute on function private.commission_rate_for(uuid, uuid) from public;
grant execute on function private.commission_rate_for(uuid, uuid) to service_role;

-- Snapshots at payment (cross-file columns of 70_checkouts.sql's tables).
alter table public.shop_order_items add column commission_rate_bps integer
  constraint shop_order_items_commission_rate_range check (commission_rate_bps between 0 and 5000);
comment on column public.shop_order_items.commission_rate_bps is
  'The commission rate applied to this line, snapshotted when the checkout was paid (commission_rate_for).';
alter table public.shop_orders add column commission_amount bigint
  constraint shop_orders_commission_range check (commission_amount >= 0 and commission_amount <= total);
comment on column public.shop_orders.commission_amount is
  'The platform''s commission, snapshotted at payment: Σ over lines of commission_of(line_total, rate), at most the order''s total. The seller receives total - commission_amount.';

-- ---------------------------------------------------------------------------------------
-- Payments and transfers

create table public.shop_payments (
  checkout_id uuid primary key references public.checkouts (id) on delete restrict,
  amount bigint not null constraint shop_payments_amount_positive check (amount > 0),
  currency text not null references public.currencies (code),
  status text not null default 'pending'
    constraint shop_payments_status check (status in ('pending', 'paid', 'late_refund_due', 'refunded', 'partially_refunded')),
  attempt integer not null default 0,
  stripe_checkout_session_id text unique,
  checkout_url text,
  session_expires_at timestamptz,
  stripe_payment_intent_id text unique,
  stripe_charge_id text,
  amount_captured bigint not null default 0 constraint shop_payments_captured_range check (amount_captured >= 0),
  amount_refunded bigint not null default 0 constraint shop_payments_refunded_range check (amount_refunded between 0 and amount_captured),
  late_payment_reason text,
  stripe_late_refund_id text,
  stripe_fee bigint constraint shop_payments_fee_range check (stripe_fee >= 0),
  paid_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.shop_payments is
  'The Stripe payment of a checkout (one Checkout Session per attempt, key shop_checkout:<checkout>:<attempt>). late_refund_due: the payment arrived after the checkout had expired (stock released): it is refunded in full (late_payment_reason says why).';
comment on column public.shop_payments.stripe_fee is
  'Stripe''s fee on the checkout''s charge (its balance transaction), posted once as fee:<charge> (platform_commission -> stripe_fees, private.post_stripe_fee); null until known.';
create trigger shop_payments_touch before update on public.shop_payments
  for each row execute function private.touch_updated_at();

create table public.shop_transfers (
  shop_order_id uuid primary key references public.shop_orders (id) on delete restrict,
  checkout_id uuid not null references public.checkouts (id) on delete restrict,
  seller_id uuid not null,
  amount bigint not null constraint shop_transfers_amount_positive check (amount > 0),
  commission bigint not null constraint shop_transfers_commission_range check (commission >= 0),
  currency text not null references public.currencies (code),
  destination text,
  claimed_at timestamptz,
  stripe_transfer_id text unique,
  transferred_at timestamptz,
  last_error text,
  -- Retries (claim_shop_transfers, due_shop_transfers): failed attempts so far, when the next
  -- is due, and when they stopped (the cap: staff are told, shop_transfers_failing lists it).
  attempts integer not null default 0 constraint shop_transfers_attempts_range check (attempts >= 0),
  next_attempt_at timestamptz,
  gave_up_at timestamptz,
  -- Set when the order is refunded in full before its payout: nothing is transferred.
  cancelled_at timestamptz,
  created_at timestamptz not null default now()
);
comment on table public.shop_transfers is
  'A shop order''s payout: total - commission to the seller''s connected account, source_transaction = the checkout''s charge, key shop_transfer:<shop order>. Claimed (claimed_at) before the Stripe call, recorded (stripe_transfer_id) once.';
create index shop_transfers_checkout_idx on public.shop_transfers (checkout_id);
create index shop_transfers_pending_idx on public.shop_transfers (next_attempt_at)
  where stripe_transfer_id is null and cancelled_at is null and gave_up_at is null;
comment on column public.shop_transfers.attempts is
  'Failed attempts (Stripe refused, or the seller could not receive transfers yet). Attempt n > 1 uses the key shop_transfer:<shop order>:<n>: Stripe keeps a refusal under its key for 24 hours, and a refused attempt paid nothing.';
comment on column public.shop_transfers.next_attempt_at is
  'When the scheduled retry (commerce-transfers-retry) may try again: 5 minutes after the first failure, doubling up to 12 hours; at once when the seller becomes able to receive transfers.';
comment on column public.shop_transfers.gave_up_at is
  'Set at the 10th failed attempt: no more retries; shop_transfer.failed told commerce staff and the seller.';
comment on column public.shop_transfers.seller_id is 'The shop (= seller) at payment; kept without a foreign key: the book outlives a deleted account.';

alter table public.shop_payments enable row level security;
alter table public.shop_transfers enable row level security;
grant select on public.shop_payments, public.shop_transfers to authenticated, service_role;
create policy "Buyers read their checkouts' payments; commerce staff read all" on public.shop_payments for select to authenticated
  using ((select private.can_manage_commerce())
         or exists (select 1 from public.checkouts c where c.id = checkout_id and c.buyer_id = (select auth.uid())));
create policy "Sellers read their transfers; commerce staff read all" on public.shop_transfers for select to authenticated
  using ((select private.can_manage_commerce()) or seller_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Starting a payment (commerce-checkout-pay)

create function ops.begin_shop_payment(checkout_id uuid, acting_user uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  co public.checkouts;
  p public.shop_payments;
  next_attempt integer;
  lines jsonb;
begin
  select * into co from public.checkouts c where c.id = begin_shop_payment.checkout_id for update;
  if not found or co.buyer_id is distinct from acting_user then
    raise exception 'checkout % not found', checkout_id using errcode = 'PT404';
  end if;
  if co.status <> 'awaiting_payment' then
    raise exception 'checkout % is %: only a checkout awaiting payment can be paid', co.id, co.status using errcode = 'PT409';
  end if;
  if co.expires_at <= now() + interval '1 minute' then
    raise exception 'checkout % expires at %: its reservation is too close to its end to pay, place the order again', co.id, co.expires_at
      using errcode = 'PT409';
  end if;
  if co.total <= 0 then
    raise exception 'checkout % has nothing to pay', co.id using errcode = 'PT409';
  end if;
  insert into public.shop_payments (checkout_id, amount, currency) values (co.id, co.total, co.currency)
  on conflict on constraint shop_payments_pkey do nothing;
  select * into p from public.shop_payments x where x.checkout_id = co.id for update;
  if p.status <> 'pending' then
    raise exception 'checkout % is already paid', co.id using errcode = 'PT409';
  end if;
  if p.stripe_checkout_session_id is not null and p.session_expires_at > now() + interval '1 minute' then
    return jsonb_build_object('existing', true, 'checkout_id', co.id, 'checkout_session_id', p.stripe_checkout_session_id,
                              'url', p.checkout_url);
  end if;
  -- A claimed attempt never recorded (crash, concurrent call) is retried with the same key.
  next_attempt := case when p.attempt > 0 and p.stripe_checkout_session_id is null then p.attempt else p.attempt + 1 end;
  update public.shop_payments set attempt = next_attempt, stripe_checkout_session_id = null, checkout_url = null,
                                  session_expires_at = null
   where shop_payments.checkout_id = co.id;
  -- One line per shop order: its total (items less discount, plus shipping and tax).
  select jsonb_agg(jsonb_build_object('shop_order_id', o.id, 'name', coalesce(s.shop_name, 'Shop order') || ' (' || (
                     select count(*) from public.shop_order_items i where i.shop_order_id = o.id) || ' items)',
                   'amount', o.total) order by o.created_at, o.id)
    into lines
    from public.shop_orders o left join public.shops s on s.id = o.shop_id
   where o.checkout_id = co.id and o.total > 0;
  return jsonb_build_object(
    'existing', false, 'checkout_id', co.id, 'amount', co.total, 'currency', lower(co.currency), 'attempt', next_attempt,
    'lines', coalesce(lines, '[]'), 'transfer_group', 'checkout_' || co.id,
    -- Stripe wants expires_at at least 30 minutes ahead: the session may outlive the
    -- reservation by a little; a payment after expiry is refunded (apply_shop_capture).
    'expires_at', extract(epoch from co.expires_at)::bigint,
    'idempotency_key', 'shop_checkout:' || co.id || ':' || next_attempt);
end
$$;
comment on function ops.begin_shop_payment(uuid, uuid) is
  'Starts (or returns the open) Stripe Checkout Session attempt of a checkout for its buyer: amount and lines from the database, key shop_checkout:<checkout>:<attempt>. Service role only (commerce-checkout-pay).';

create function ops.record_shop_payment_session(checkout_id uuid, attempt integer, checkout_session_id text,
                                                url text default null, expires_at timestamptz default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  co public.checkouts;
begin
  -- Under the checkout's lock, which a cancel and the expiry take too: a session made for a
  -- checkout that was cancelled, expired or paid meanwhile is refused, and commerce-checkout-pay
  -- expires it at Stripe so nobody pays it.
  select * into co from public.checkouts c where c.id = record_shop_payment_session.checkout_id for update;
  if not found then
    raise exception 'checkout % not found', checkout_id using errcode = 'PT404';
  end if;
  if co.status <> 'awaiting_payment' then
    raise exception 'checkout % is %: payment session % is not recorded, expire it', co.id, co.status, checkout_session_id
      using errcode = 'PT409';
  end if;
  update public.shop_payments p set stripe_checkout_session_id = record_shop_payment_session.checkout_session_id,
         checkout_url = coalesce(url, p.checkout_url), session_expires_at = coalesce(record_shop_payment_session.expires_at, p.session_expires_at)
   where p.checkout_id = record_shop_payment_session.checkout_id and p.attempt = record_shop_payment_session.attempt
     and p.status = 'pending';
end
$$;
comment on function ops.record_shop_payment_session(uuid, integer, text, text, timestamptz) is
  'Records the Checkout Session made for a checkout''s payment attempt (a later attempt wins); PT409 when the checkout is no longer awaiting payment (cancelled, expired or paid: the caller expires the session). Service role only.';

-- ---------------------------------------------------------------------------------------
-- The webhook's shop branch

-- A completed payment, in the webhook's one transaction. Idempotent: a checkout already paid
-- (or a payment already recorded) changes nothing; nothing is ever deleted or refunded because
-- completion ran again (Mercur #909). A payment for a checkout no longer awaiting payment
-- (expired: stock released) is recorded and marked late_refund_due: the webhook function then
-- refunds it in full (key shop_late_refund:<checkout>). Decision: refund, not re-reserve: the
-- buyer was told the checkout expired, and the released units may be in another buyer's cart.
create function private.apply_shop_capture(checkout_id uuid, session jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  co public.checkouts;
  p public.shop_payments;
  captured bigint := (session ->> 'amount_total')::bigint;
  o record;
  commission bigint;
begin
  select * into co from public.checkouts c where c.id = apply_shop_capture.checkout_id for update;
  if not found then
    return 'ignored: no such checkout';
  end if;
  insert into public.shop_payments (checkout_id, amount, currency) values (co.id, co.total, co.currency)
  on conflict on constraint shop_payments_pkey do nothing;
  select * into p from public.shop_payments x where x.checkout_id = co.id for update;
  if p.amount_captured > 0 then
    update public.shop_payments set stripe_payment_intent_id = coalesce(shop_payments.stripe_payment_intent_id, session ->> 'payment_intent')
     where shop_payments.checkout_id = co.id;
    return 'ignored: already captured';
  end if;
  if upper(session ->> 'currency') is distinct from co.currency or captured is distinct from co.total then
    return format('ignored: Stripe captured %s %s for a checkout of %s %s', captured, upper(session ->> 'currency'), co.total, co.currency);
  end if;
  update public.shop_payments set amount_captured = captured, paid_at = now(),
         stripe_checkout_session_id = coalesce(shop_payments.stripe_checkout_session_id, session ->> 'id'),
         stripe_payment_intent_id = coalesce(shop_payments.stripe_payment_intent_id, session ->> 'payment_intent'),
         status = case when co.status = 'awaiting_payment' then 'paid' else 'late_refund_due' end,
         late_payment_reason = case when co.status = 'awaiting_payment' then null
                                    else format('paid after the checkout was %s: its stock had been released', co.status) end
   where shop_payments.checkout_id = co.id;
  perform private.post_transfer('shop_payment:' || co.id, 'Buyer payment of a checkout', null,
    private.checkout_ledger_account('buyer_funding', co.currency, co.id), private.checkout_ledger_account('escrow', co.currency, co.id), captured);
  if co.status <> 'awaiting_payment' then
    perform private.emit_event('checkout.late_payment', 'checkout', co.id, array[co.buyer_id],
                               jsonb_build_object('status', co.status, 'amount', captured), null);
    return 'applied: checkout was ' || co.status || ', refund due';
  end if;

  perform private.consume_reservations('checkout:' || co.id);
  for o in select x.id, x.shop_id, x.total from public.shop_orders x
            where x.checkout_id = co.id and x.status = 'awaiting_payment' order by x.id loop
    update public.shop_order_items i set commission_rate_bps = private.commission_rate_for(o.shop_id, pr.category_id)
      from (select i2.id, p2.category_id from public.shop_order_items i2 left join public.products p2 on p2.id = i2.product_id
             where i2.shop_order_id = o.id) pr
     where i.id = pr.id;
    select least(coalesce(sum(private.commission_of(i.line_total, i.commission_rate_bps)), 0), o.total) into commission
      from public.shop_order_items i where i.shop_order_id = o.id;
    update public.shop_orders set commission_amount = commission where id = o.id;
    perform private.transition_shop_order(o.id, 'paid', 'system');
    if o.total - commission > 0 and o.shop_id is not null then
      insert into public.shop_transfers (shop_order_id, checkout_id, seller_id, amount, commission, currency)
      values (o.id, co.id, o.shop_id, o.total - commission, commission, co.currency)
      on conflict (shop_order_id) do nothing;
    end if;
  end loop;
  update public.checkouts set status = 'paid', paid_at = now() where id = co.id;
  return 'applied';
end
$$;
comment on function private.apply_shop_capture(uuid, jsonb) is
  'checkout.session.completed (paid) for a checkout: once, stock consumed, shop orders paid with commission snapshots, transfers due, the ledger''s shop_payment:<checkout>; after expiry, late_refund_due.';

-- Stripe's fee on a checkout's charge: the rule of the commission orders' fees
-- (private.post_stripe_fee, 40_stripe_events.sql: the platform bears it, platform_commission ->
-- stripe_fees, key fee:<charge>), once whoever sees it first: the charge.succeeded /
-- charge.updated webhook, or the functions that read the payment intent with
-- latest_charge.balance_transaction expanded (settleCheckout, functions/_shared/commerce).
create function ops.record_shop_stripe_fee(checkout_id uuid, charge_id text, balance_transaction jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.shop_payments;
  fee bigint := (balance_transaction ->> 'fee')::bigint;
  result text;
begin
  select * into p from public.shop_payments x where x.checkout_id = record_shop_stripe_fee.checkout_id for update;
  if not found then
    raise exception 'checkout % has no payment', checkout_id using errcode = 'PT404';
  end if;
  if p.stripe_charge_id is not null and p.stripe_charge_id <> charge_id then
    raise exception 'charge % is not the payment of checkout % (its charge is %)', charge_id, p.checkout_id, p.stripe_charge_id
      using errcode = 'PT409';
  end if;
  if upper(balance_transaction ->> 'currency') is distinct from p.currency then
    raise exception 'the fee of charge % is in %, checkout % is paid in %', charge_id,
      coalesce(upper(balance_transaction ->> 'currency'), 'no currency'), p.checkout_id, p.currency using errcode = '22023';
  end if;
  if p.stripe_fee is not null then
    return 'ignored: already recorded';
  end if;
  result := private.post_stripe_fee(charge_id, balance_transaction, null);
  if result = 'applied' then
    update public.shop_payments set stripe_fee = fee, stripe_charge_id = coalesce(shop_payments.stripe_charge_id, charge_id)
     where shop_payments.checkout_id = p.checkout_id;
  end if;
  return result;
end
$$;
comment on function ops.record_shop_stripe_fee(uuid, text, jsonb) is
  'Records Stripe''s fee on a checkout''s charge once (shop_payments.stripe_fee) and posts it as the commission orders'' fees are (fee:<charge>, platform_commission -> stripe_fees). PT404 no payment, PT409 another charge, 22023 another currency. Service role only.';

-- The payment intent whose fee is still to be read, or null (not paid yet, or fee known).
create function ops.shop_fee_due(checkout_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select p.stripe_payment_intent_id from public.shop_payments p
   where p.checkout_id = shop_fee_due.checkout_id and p.amount_captured > 0 and p.stripe_fee is null
$$;
comment on function ops.shop_fee_due(uuid) is
  'The payment intent of a paid checkout whose Stripe fee is not recorded yet, else null. Service role only (settleCheckout).';

create function private.apply_shop_stripe_event(event jsonb, balance_transaction jsonb default null) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  object jsonb := event #> '{data,object}';
  found_checkout uuid;
  txn jsonb;
begin
  select c.id into found_checkout from public.checkouts c
   where c.id = private.try_uuid(coalesce(object #>> '{metadata,checkout_id}', object ->> 'client_reference_id'));
  if found_checkout is null then
    select p.checkout_id into found_checkout from public.shop_payments p
     where p.stripe_checkout_session_id = object ->> 'id' or p.stripe_payment_intent_id = object ->> 'id'
        or p.stripe_payment_intent_id = object ->> 'payment_intent';
  end if;
  if found_checkout is null then
    return 'ignored: no checkout for this object';
  end if;
  case event ->> 'type'
    when 'checkout.session.completed', 'checkout.session.async_payment_succeeded' then
      if object ->> 'payment_status' <> 'paid' then
        update public.shop_payments set stripe_payment_intent_id = coalesce(shop_payments.stripe_payment_intent_id, object ->> 'payment_intent')
         where checkout_id = found_checkout;
        return 'applied: awaiting an asynchronous payment';
      end if;
      return private.apply_shop_capture(found_checkout, object);
    when 'checkout.session.expired', 'checkout.session.async_payment_failed', 'payment_intent.payment_failed' then
      -- A failure never undoes a success that arrived first: expire_checkout only acts on a
      -- checkout still awaiting payment.
      if exists (select 1 from public.shop_payments p where p.checkout_id = found_checkout and p.amount_captured > 0) then
        return 'ignored: the checkout is paid';
      end if;
      if private.expire_checkout(found_checkout, case when event ->> 'type' = 'checkout.session.expired'
                                                      then 'payment session expired' else 'payment failed' end) then
        return 'applied';
      end if;
      return 'ignored: the checkout is no longer awaiting payment';
    when 'charge.succeeded', 'charge.updated' then
      txn := case when jsonb_typeof(object -> 'balance_transaction') = 'object' then object -> 'balance_transaction'
                  when balance_transaction ->> 'id' = object ->> 'balance_transaction' then balance_transaction end;
      if txn is null or object ->> 'status' <> 'succeeded' then
        return 'ignored: balance transaction not known yet';
      end if;
      if not exists (select 1 from public.shop_payments p where p.checkout_id = found_checkout) then
        return 'ignored: the checkout has no payment';
      end if;
      begin
        return ops.record_shop_stripe_fee(found_checkout, object ->> 'id', txn);
      exception when sqlstate 'PT409' or sqlstate '22023' then
        return 'ignored: ' || sqlerrm;
      end;
    else
      return 'ignored: unhandled event type for a checkout';
  end case;
end
$$;
comment on function private.apply_shop_stripe_event(jsonb, jsonb) is
  'The shop branch of private.apply_stripe_event: events whose object names a checkout (metadata.checkout_id): completion, expiry and failure, and the charge''s Stripe fee (with the balance transaction the webhook read).';

-- ---------------------------------------------------------------------------------------
-- Transfers (the webhook function carries them out after the payment is recorded)

-- Whether a transfer is due now: not made, not cancelled, not given up, no refund of its order
-- in flight (88_cancellations.sql: it waits for the refund), not claimed within the last minute
-- (another caller's in flight; an older claim is a crash: the same key again, Stripe answers
-- with the first transfer), and its next attempt due, or its seller able to receive transfers
-- after failing only for not being able to (no Stripe call made yet: no reason to wait).
-- (plpgsql: shop_refunds is declared later, in 88_cancellations.sql.)
create function private.shop_transfer_due(t public.shop_transfers) returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return t.stripe_transfer_id is null and t.cancelled_at is null and t.gave_up_at is null
     and not exists (select 1 from public.shop_refunds r where r.shop_order_id = t.shop_order_id and r.status = 'requested')
     and (t.claimed_at is null or t.claimed_at < now() - interval '1 minute')
     and (t.next_attempt_at is null or t.next_attempt_at <= now()
          or (t.destination is null
              and exists (select 1 from public.seller_payment_accounts a where a.user_id = t.seller_id and a.can_receive_transfers)));
end
$$;
comment on function private.shop_transfer_due(public.shop_transfers) is
  'Whether a shop transfer may be attempted now (claim_shop_transfers, due_shop_transfers): not made, cancelled or given up, no refund in flight, no claim younger than a minute, its retry due (or its seller newly able to receive transfers).';

-- Backoff after the n-th failed attempt: 5 minutes, doubling, at most 12 hours; 10 attempts in all
-- (about 33 hours), then the transfer is given up and staff are told.
create function private.shop_transfer_backoff(attempts integer) returns interval
language sql
immutable
set search_path = ''
as $$
  select least(interval '5 minutes' * power(2, greatest(attempts, 1) - 1), interval '12 hours')
$$;
comment on function private.shop_transfer_backoff(integer) is
  'Wait before the next attempt after the given number of failed attempts: 5 minutes doubling, capped at 12 hours.';

-- A failed attempt (Stripe refused, or the seller cannot receive transfers): the claim dropped,
-- the attempt counted, the next one scheduled; at the 10th, given up and shop_transfer.failed
-- sent to commerce staff and the seller.
create function private.fail_shop_transfer(shop_order_id uuid, reason text) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.shop_transfers;
  staff uuid[];
begin
  update public.shop_transfers x set claimed_at = null, last_error = left(reason, 1000), attempts = x.attempts + 1,
         next_attempt_at = now() + private.shop_transfer_backoff(x.attempts + 1),
         gave_up_at = case when x.attempts + 1 >= 10 then now() end
   where x.shop_order_id = fail_shop_transfer.shop_order_id and x.stripe_transfer_id is null and x.gave_up_at is null
  returning * into t;
  if t.gave_up_at is not null then
    staff := array(select distinct ur.user_id from public.user_roles ur
                     join public.role_permissions rp on rp.role_id = ur.role_id and rp.permission = 'commerce.manage'
                    where private.user_has_permission(ur.user_id, 'commerce.manage'));
    perform private.emit_event('shop_transfer.failed', 'shop_order', t.shop_order_id,
      array(select distinct u from unnest(staff || t.seller_id) u where u is not null),
      jsonb_build_object('amount', t.amount, 'currency', t.currency, 'amount_text', private.shop_amount_text(t.amount, t.currency),
                         'attempts', t.attempts, 'last_error', t.last_error), null);
  end if;
end
$$;
comment on function private.fail_shop_transfer(uuid, text) is
  'Counts a failed attempt of a shop transfer and schedules the next (private.shop_transfer_backoff); gives up at the 10th and emits shop_transfer.failed to commerce staff and the seller.';

-- Claims every due transfer of a checkout (private.shop_transfer_due). Race-safe: the payment
-- row is locked, and a claim younger than a minute is left to its caller. A seller who cannot
-- receive transfers yet fails the attempt without calling Stripe.
create function ops.claim_shop_transfers(checkout_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.shop_payments;
  claims jsonb := '[]';
  t public.shop_transfers;
  account public.seller_payment_accounts;
begin
  select * into p from public.shop_payments x where x.checkout_id = claim_shop_transfers.checkout_id for update;
  if not found or p.status not in ('paid', 'partially_refunded', 'refunded') then
    return claims;
  end if;
  for t in select * from public.shop_transfers x
            where x.checkout_id = p.checkout_id and private.shop_transfer_due(x)
            order by x.shop_order_id for update loop
    select * into account from public.seller_payment_accounts a where a.user_id = t.seller_id;
    if not coalesce(account.can_receive_transfers, false) then
      perform private.fail_shop_transfer(t.shop_order_id, 'the seller cannot receive transfers yet');
      continue;
    end if;
    update public.shop_transfers set claimed_at = now(), destination = account.stripe_account_id
     where shop_order_id = t.shop_order_id;
    claims := claims || jsonb_build_object('shop_order_id', t.shop_order_id, 'amount', t.amount, 'currency', lower(t.currency),
      'destination', account.stripe_account_id, 'source_transaction', p.stripe_charge_id,
      'payment_intent', p.stripe_payment_intent_id, 'transfer_group', 'checkout_' || p.checkout_id,
      'attempt', t.attempts + 1,
      'idempotency_key', 'shop_transfer:' || t.shop_order_id || case when t.attempts > 0 then ':' || (t.attempts + 1) else '' end);
  end loop;
  return claims;
end
$$;
comment on function ops.claim_shop_transfers(uuid) is
  'Claims the due seller transfers of a paid checkout (one per shop order, key shop_transfer:<shop order>, then :<attempt> for retries after a refusal). Service role only (stripe-webhook, commerce-transfers-retry).';

-- The checkouts with a transfer due now, for the scheduled retry (commerce-transfers-retry).
create function ops.due_shop_transfers(max_rows integer default 100) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select t.checkout_id from public.shop_transfers t
    join public.shop_payments p on p.checkout_id = t.checkout_id and p.status in ('paid', 'partially_refunded', 'refunded')
   where t.stripe_transfer_id is null and t.cancelled_at is null and t.gave_up_at is null and private.shop_transfer_due(t)
   group by t.checkout_id
   order by min(coalesce(t.next_attempt_at, t.created_at)), t.checkout_id
   limit greatest(least(max_rows, 1000), 0)
$$;
comment on function ops.due_shop_transfers(integer) is
  'Checkouts with a seller transfer due now (never attempted, retry due, a crashed claim, or a seller newly able to receive transfers), longest waiting first. Service role only.';

create function ops.record_shop_transfer(shop_order_id uuid, transfer_id text, amount bigint, charge_id text default null)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.shop_transfers;
begin
  select * into t from public.shop_transfers x where x.shop_order_id = record_shop_transfer.shop_order_id for update;
  if not found then
    return 'ignored: no transfer for this shop order';
  end if;
  if t.stripe_transfer_id = transfer_id then
    return 'ignored: already recorded';
  end if;
  if t.stripe_transfer_id is not null or t.amount <> record_shop_transfer.amount then
    return 'ignored: not the claimed transfer';
  end if;
  update public.shop_transfers set stripe_transfer_id = transfer_id, transferred_at = now() where shop_transfers.shop_order_id = t.shop_order_id;
  if charge_id is not null then
    update public.shop_payments set stripe_charge_id = coalesce(stripe_charge_id, charge_id) where checkout_id = t.checkout_id;
  end if;
  perform private.post_ledger_transaction('shop_release:' || t.shop_order_id, 'Shop order paid out: seller''s share and commission', null,
    jsonb_build_array(
      jsonb_build_object('account_id', private.checkout_ledger_account('escrow', t.currency, t.checkout_id), 'amount', -(t.amount + t.commission)),
      jsonb_build_object('account_id', private.ledger_account('seller_payable', t.currency, null, t.seller_id), 'amount', t.amount),
      jsonb_build_object('account_id', private.ledger_account('platform_commission', t.currency), 'amount', t.commission)));
  perform private.post_transfer('shop_transfer:' || t.shop_order_id, 'Transfer to the seller''s connected account', null,
    private.ledger_account('seller_payable', t.currency, null, t.seller_id),
    private.ledger_account('seller_transfers', t.currency, null, t.seller_id), t.amount);
  return 'applied';
end
$$;
comment on function ops.record_shop_transfer(uuid, text, bigint, text) is
  'Records a shop order''s Stripe transfer once; posts shop_release:<shop order> and shop_transfer:<shop order>. Service role only.';

create function ops.abandon_shop_transfer(shop_order_id uuid, reason text) returns void
language sql
security definer
set search_path = ''
as $$
  select private.fail_shop_transfer(shop_order_id, reason)
$$;
comment on function ops.abandon_shop_transfer(uuid, text) is
  'Drops a transfer claim Stripe refused and schedules its retry (private.fail_shop_transfer: a new key next time). Service role only.';

-- The late payment's full refund: claimed by the webhook function, recorded once.
create function ops.claim_shop_late_refund(checkout_id uuid) returns jsonb
language sql
security definer
set search_path = ''
as $$
  select case when p.status = 'late_refund_due' and p.stripe_late_refund_id is null then
    jsonb_build_object('checkout_id', p.checkout_id, 'amount', p.amount_captured, 'payment_intent', p.stripe_payment_intent_id,
                       'reason', p.late_payment_reason, 'idempotency_key', 'shop_late_refund:' || p.checkout_id)
  end
  from public.shop_payments p where p.checkout_id = claim_shop_late_refund.checkout_id
$$;
comment on function ops.claim_shop_late_refund(uuid) is 'The refund due for a payment that arrived after its checkout expired, or null. Service role only.';

create function ops.record_shop_late_refund(checkout_id uuid, stripe_refund_id text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.shop_payments;
begin
  select * into p from public.shop_payments x where x.checkout_id = record_shop_late_refund.checkout_id for update;
  if not found or p.status <> 'late_refund_due' then
    return 'ignored: no late refund due';
  end if;
  update public.shop_payments set status = 'refunded', stripe_late_refund_id = record_shop_late_refund.stripe_refund_id,
         amount_refunded = p.amount_captured
   where shop_payments.checkout_id = p.checkout_id;
  perform private.post_transfer('shop_late_refund:' || p.checkout_id, 'Payment after expiry refunded to the buyer', null,
    private.checkout_ledger_account('escrow', p.currency, p.checkout_id), private.checkout_ledger_account('refunds', p.currency, p.checkout_id),
    p.amount_captured);
  return 'applied';
end
$$;
comment on function ops.record_shop_late_refund(uuid, text) is 'Records the refund of a late payment once; posts shop_late_refund:<checkout>. Service role only.';

revoke execute on function ops.begin_shop_payment(uuid, uuid), ops.record_shop_payment_session(uuid, integer, text, text, timestamptz),
  ops.claim_shop_transfers(uuid), ops.record_shop_transfer(uuid, text, bigint, text), ops.abandon_shop_transfer(uuid, text),
  ops.claim_shop_late_refund(uuid), ops.record_shop_late_refund(uuid, text),
  ops.record_shop_stripe_fee(uuid, text, jsonb), ops.shop_fee_due(uuid), ops.due_shop_transfers(integer),
  private.shop_transfer_due(public.shop_transfers), private.shop_transfer_backoff(integer), private.fail_shop_transfer(uuid, text),
  private.apply_shop_capture(uuid, jsonb), private.apply_shop_stripe_event(jsonb, jsonb) from public;
grant execute on function ops.begin_shop_payment(uuid, uuid), ops.record_shop_payment_session(uuid, integer, text, text, timestamptz),
  ops.claim_shop_transfers(uuid), ops.record_shop_transfer(uuid, text, bigint, text), ops.abandon_shop_transfer(uuid, text),
  ops.claim_shop_late_refund(uuid), ops.record_shop_late_refund(uuid, text),
  ops.record_shop_stripe_fee(uuid, text, jsonb), ops.shop_fee_due(uuid), ops.due_shop_transfers(integer),
  private.shop_transfer_due(public.shop_transfers), private.shop_transfer_backoff(integer), private.fail_shop_transfer(uuid, text),
  private.apply_shop_capture(uuid, jsonb), private.apply_shop_stripe_event(jsonb, jsonb) to service_role;

-- Ops list: the shop transfers not paid out because they failed (retrying, or given up), as the
-- caller may read them (commerce staff all, a seller theirs).
create view public.shop_transfers_failing with (security_invoker = true) as
  select t.shop_order_id, t.checkout_id, t.seller_id, t.amount, t.commission, t.currency, t.attempts, t.last_error,
         t.next_attempt_at, t.gave_up_at, t.created_at
    from public.shop_transfers t
   where t.stripe_transfer_id is null and t.cancelled_at is null and t.attempts > 0;
comment on view public.shop_transfers_failing is
  'Shop transfers that failed at least once and are not paid out: retrying (next_attempt_at) or given up (gave_up_at, shop_transfer.failed sent). Commerce staff read all, sellers theirs.';
grant select on public.shop_transfers_failing to authenticated, service_role;

-- Staff put a given-up transfer back in the retry queue (after the seller fixed their account,
-- or Stripe's balance was topped up): next attempt now, the failed attempts kept (the key of the
-- next attempt follows them: shop_transfer:<shop order>:<attempts + 1>), one more failure gives
-- up again. Audited (public.audit_log, action requeue). Only a given-up transfer: PT409 otherwise.
create function private.requeue_shop_transfer(shop_order_id uuid) returns public.shop_transfers_failing
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.shop_transfers;
  actor record;
  result public.shop_transfers_failing;
begin
  if not private.can_manage_commerce() then
    raise exception 'requeueing a shop transfer needs the commerce.manage permission' using errcode = '42501';
  end if;
  select * into t from public.shop_transfers x where x.shop_order_id = requeue_shop_transfer.shop_order_id for update;
  if not found then
    raise exception 'shop order % has no transfer', shop_order_id using errcode = 'PT404';
  end if;
  if t.gave_up_at is null or t.stripe_transfer_id is not null or t.cancelled_at is not null then
    raise exception 'the transfer of shop order % is %: only a given-up transfer is requeued', t.shop_order_id,
      case when t.stripe_transfer_id is not null then 'paid out' when t.cancelled_at is not null then 'cancelled'
           else 'still retried (' || t.attempts || ' failed attempts)' end
      using errcode = 'PT409';
  end if;
  update public.shop_transfers x set gave_up_at = null, next_attempt_at = now(), claimed_at = null
   where x.shop_order_id = t.shop_order_id;
  select * into actor from private.current_actor();
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (actor.actor_id, actor.actor_label, 'requeue', 'shop_transfers', t.shop_order_id::text,
          jsonb_build_object('gave_up_at', t.gave_up_at, 'next_attempt_at', t.next_attempt_at, 'attempts', t.attempts, 'last_error', t.last_error),
          jsonb_build_object('gave_up_at', null, 'next_attempt_at', now(), 'attempts', t.attempts));
  select * into result from public.shop_transfers_failing f where f.shop_order_id = t.shop_order_id;
  return result;
end
$$;
revoke execute on function private.requeue_shop_transfer(uuid) from public;
grant execute on function private.requeue_shop_transfer(uuid) to authenticated, service_role;

create function public.requeue_shop_transfer(shop_order_id uuid) returns public.shop_transfers_failing
language sql
security invoker
set search_path = ''
as $$
  select private.requeue_shop_transfer(shop_order_id)
$$;
comment on function public.requeue_shop_transfer(uuid) is
  'Commerce staff put a given-up shop transfer back in the retry queue: next attempt now, attempts kept, audited. 42501 without commerce.manage, PT404 no transfer, PT409 not given up.';
revoke execute on function public.requeue_shop_transfer(uuid) from public, anon;
grant execute on function public.requeue_shop_transfer(uuid) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- 003 GET /payments, GET /payments/{id}: the buyer's shop payments (staff: all).

create view public.my_shop_payments with (security_invoker = true) as
  select p.checkout_id as id, p.checkout_id, c.buyer_id, p.amount, p.currency, p.status, p.amount_captured, p.amount_refunded,
         p.paid_at, p.late_payment_reason, p.created_at,
         (select coalesce(jsonb_agg(jsonb_build_object('shop_order_id', o.id, 'shop_id', o.shop_id, 'status', o.status,
                                                       'total', o.total) order by o.id), '[]')
            from public.shop_orders o where o.checkout_id = p.checkout_id) as shop_orders
    from public.shop_payments p join public.checkouts c on c.id = p.checkout_id;
comment on view public.my_shop_payments is
  '003 GET /payments and /payments/{id}: shop payments with status, amounts and refunds, as the caller may read them (the buyer their own, commerce staff all).';
grant select on public.my_shop_payments to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/50_commerce/85_fulfilment.sql
-- ======================================================================================

-- Fulfilment of shop orders (issue 17, "Orders, fulfilment, after-sales"): the seller (or
-- commerce staff) marks a paid physical order shipped with its carrier and tracking, then
-- delivered. Digital items fulfil on payment: their buyer downloads the product file
-- (commerce-download, through private.can_download_product_file).

alter table public.shop_orders add column carrier text
  constraint shop_orders_carrier_length check (char_length(carrier) between 1 and 100);
alter table public.shop_orders add column tracking_number text
  constraint shop_orders_tracking_number_length check (char_length(tracking_number) between 1 and 100);
alter table public.shop_orders add column tracking_url text
  constraint shop_orders_tracking_url_format check (tracking_url ~ '^https://' and char_length(tracking_url) <= 2000);
comment on column public.shop_orders.carrier is 'Who carries the parcel, set by ship_shop_order (85_fulfilment.sql).';

-- Who acts on a shop order: 'seller' (its shop's selling owner), 'admin' (commerce.manage), or
-- refused 42501 (PT404 when the caller cannot read it at all).
create function private.shop_order_actor(o public.shop_orders) returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if private.can_manage_commerce() then
    return 'admin';
  end if;
  if o.shop_id = auth.uid() and private.sells_in_active_shop() then
    return 'seller';
  end if;
  if o.buyer_id = auth.uid() or o.shop_id = auth.uid() then
    raise exception 'only the seller of shop order % or staff may do this', o.id using errcode = '42501';
  end if;
  raise exception 'shop order % not found', o.id using errcode = 'PT404';
end
$$;
revoke execute on function private.shop_order_actor(public.shop_orders) from public;

create function private.ship_shop_order(order_id uuid, carrier text, tracking_number text, tracking_url text default null)
returns public.shop_orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.shop_orders;
  actor text;
begin
  select * into o from public.shop_orders x where x.id = ship_shop_order.order_id for update;
  if not found then
    raise exception 'shop order % not found', order_id using errcode = 'PT404';
  end if;
  actor := private.shop_order_actor(o);
  if exists (select 1 from public.shop_order_items i where i.shop_order_id = o.id and i.kind = 'physical') is false then
    raise exception 'shop order % holds only digital items: they are delivered by download', o.id using errcode = 'PT409';
  end if;
  if coalesce(btrim(carrier), '') = '' or coalesce(btrim(tracking_number), '') = '' then
    raise exception 'carrier and tracking_number are required to ship' using errcode = '22023';
  end if;
  if o.status <> 'paid' then
    raise exception 'shop order % is %: only a paid order can be shipped', o.id, o.status using errcode = 'PT409';
  end if;
  update public.shop_orders set carrier = btrim(ship_shop_order.carrier), tracking_number = btrim(ship_shop_order.tracking_number),
         tracking_url = ship_shop_order.tracking_url
   where id = o.id;
  perform private.transition_shop_order(o.id, 'shipped', actor);
  select * into o from public.shop_orders x where x.id = ship_shop_order.order_id;
  return o;
end
$$;
revoke execute on function private.ship_shop_order(uuid, text, text, text) from public;
grant execute on function private.ship_shop_order(uuid, text, text, text) to authenticated;

create function public.ship_shop_order(order_id uuid, carrier text, tracking_number text, tracking_url text default null)
returns public.shop_orders
language sql
security invoker
set search_path = ''
as $$
  select private.ship_shop_order(order_id, carrier, tracking_number, tracking_url)
$$;
comment on function public.ship_shop_order(uuid, text, text, text) is
  '001/003 ship an order: the seller or staff marks a paid shop order with physical items shipped, with carrier and tracking (https URL).';
revoke execute on function public.ship_shop_order(uuid, text, text, text) from public;
grant execute on function public.ship_shop_order(uuid, text, text, text) to authenticated;

create function private.deliver_shop_order(order_id uuid) returns public.shop_orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.shop_orders;
  actor text;
begin
  select * into o from public.shop_orders x where x.id = deliver_shop_order.order_id for update;
  if not found then
    raise exception 'shop order % not found', order_id using errcode = 'PT404';
  end if;
  actor := private.shop_order_actor(o);
  if o.status <> 'shipped' then
    raise exception 'shop order % is %: only a shipped order can be delivered', o.id, o.status using errcode = 'PT409';
  end if;
  perform private.transition_shop_order(o.id, 'delivered', actor);
  select * into o from public.shop_orders x where x.id = deliver_shop_order.order_id;
  return o;
end
$$;
revoke execute on function private.deliver_shop_order(uuid) from public;
grant execute on function private.deliver_shop_order(uuid) to authenticated;

create function public.deliver_shop_order(order_id uuid) returns public.shop_orders
language sql
security invoker
set search_path = ''
as $$
  select private.deliver_shop_order(order_id)
$$;
comment on function public.deliver_shop_order(uuid) is 'The seller or staff marks a shipped shop order delivered.';
revoke execute on function public.deliver_shop_order(uuid) from public;
grant execute on function public.deliver_shop_order(uuid) to authenticated;

-- Digital items: the buyer of a paid (shipped, delivered) shop order holding the product may
-- fetch its file; nobody else through this path (the seller reads it through the bucket's policy).
create function private.can_download_product_file(product_id uuid, user_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.shop_order_items i join public.shop_orders o on o.id = i.shop_order_id
     where i.product_id = can_download_product_file.product_id and i.kind = 'digital'
       and o.buyer_id = can_download_product_file.user_id and o.status in ('paid', 'shipped', 'delivered'))
$$;
comment on function private.can_download_product_file(uuid, uuid) is
  'Whether a user bought a digital product in a paid (not cancelled or refunded) shop order: commerce-download signs its file for them.';
revoke execute on function private.can_download_product_file(uuid, uuid) from public;
grant execute on function private.can_download_product_file(uuid, uuid) to service_role;

-- ======================================================================================
-- supabase/schemas/50_commerce/88_cancellations.sql
-- ======================================================================================

-- Cancellation and refunds of paid shop orders (issue 17, "Orders, fulfilment, after-sales"):
-- the buyer cancels a paid order before shipment (full refund), the seller or staff with a
-- reason; staff refund any amount up to what is left (003 POST /payments/{id}/refund, partial
-- allowed). commerce-refund claims (ops.claim_shop_refund), calls Stripe with keys derived from
-- the refund's id (the seller's transfer reversed for their share first, then the refund), and
-- records it (ops.record_shop_refund): ledger, order status, restock, coupon release, once.

create table public.shop_refunds (
  id uuid primary key default gen_random_uuid(),
  shop_order_id uuid not null references public.shop_orders (id) on delete restrict,
  checkout_id uuid not null references public.checkouts (id) on delete restrict,
  amount bigint not null constraint shop_refunds_amount_positive check (amount > 0),
  currency text not null references public.currencies (code),
  -- What is taken back from the seller's transfer: the refund less the platform's share of it.
  reversal_amount bigint not null default 0 constraint shop_refunds_reversal_range check (reversal_amount between 0 and amount),
  cancels boolean not null,
  reason text not null constraint shop_refunds_reason_length check (char_length(reason) between 1 and 1000),
  actor text not null constraint shop_refunds_actor check (actor in ('buyer', 'seller', 'admin')),
  requested_by uuid references public.profiles (id) on delete set null,
  status text not null default 'requested' constraint shop_refunds_status check (status in ('requested', 'succeeded', 'failed')),
  stripe_refund_id text unique,
  stripe_reversal_id text,
  failure text,
  created_at timestamptz not null default now(),
  resolved_at timestamptz
);
comment on table public.shop_refunds is
  'Refunds of shop orders: claimed (requested), made in Stripe with keys shop_refund:<id> / shop_reversal:<id>, then succeeded (ledger shop_refund:<id>) or failed. cancels: a full refund that cancels (paid) or refunds (shipped, delivered) the order, restocking a cancelled one.';
create index shop_refunds_order_idx on public.shop_refunds (shop_order_id);
create index shop_refunds_checkout_idx on public.shop_refunds (checkout_id);
create index shop_refunds_requested_by_idx on public.shop_refunds (requested_by) where requested_by is not null;
create unique index shop_refunds_one_in_flight on public.shop_refunds (shop_order_id) where status = 'requested';
comment on index public.shop_refunds_one_in_flight is 'At most one refund of a shop order in flight: concurrent requests get PT409.';

alter table public.shop_refunds enable row level security;
grant select on public.shop_refunds to authenticated, service_role;
create policy "Parties read their shop orders' refunds; commerce staff read all" on public.shop_refunds for select to authenticated
  using ((select private.can_manage_commerce())
         or exists (select 1 from public.shop_orders o where o.id = shop_order_id
                       and (o.buyer_id = (select auth.uid()) or o.shop_id = (select auth.uid()))));

-- Claims a refund. acting_user: the buyer (a paid order, before shipment, in full), the seller
-- (paid or shipped, in full) or commerce.manage (any status after payment, any amount up to
-- what is left). A claim in flight answers PT409; a fully refunded order answers its refund.
create function ops.claim_shop_refund(shop_order_id uuid, acting_user uuid, amount bigint default null, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.shop_orders;
  p public.shop_payments;
  t public.shop_transfers;
  r public.shop_refunds;
  who text;
  refunded bigint;
  left_to_refund bigint;
  want bigint;
  reversal bigint := 0;
begin
  select * into o from public.shop_orders x where x.id = claim_shop_refund.shop_order_id for update;
  if not found then
    raise exception 'shop order % not found', shop_order_id using errcode = 'PT404';
  end if;
  who := case when private.user_has_permission(acting_user, 'commerce.manage') then 'admin'
              when o.shop_id = acting_user then 'seller'
              when o.buyer_id = acting_user then 'buyer' end;
  if who is null then
    raise exception 'shop order % not found', o.id using errcode = 'PT404';
  end if;
  if coalesce(btrim(reason), '') = '' and who <> 'buyer' then
    raise exception 'a reason is required to cancel or refund shop order %', o.id using errcode = '22023';
  end if;
  if exists (select 1 from public.shop_refunds x where x.shop_order_id = o.id and x.status = 'requested') then
    raise exception 'a refund of shop order % is in progress', o.id using errcode = 'PT409';
  end if;
  select * into p from public.shop_payments x where x.checkout_id = o.checkout_id;
  select coalesce(sum(x.amount), 0) into refunded from public.shop_refunds x where x.shop_order_id = o.id and x.status = 'succeeded';
  if o.status in ('cancelled', 'refunded') and refunded > 0 then
    select * into r from public.shop_refunds x where x.shop_order_id = o.id and x.status = 'succeeded' and x.cancels;
    return jsonb_build_object('state', 'refunded', 'refund_id', r.id, 'shop_order_id', o.id, 'amount', refunded,
                              'currency', lower(o.currency), 'status', o.status);
  end if;
  if o.status not in ('paid', 'shipped', 'delivered') or p.amount_captured is null or p.amount_captured = 0 then
    raise exception 'shop order % is %: only a paid order is cancelled or refunded', o.id, o.status using errcode = 'PT409';
  end if;
  if who = 'buyer' and o.status <> 'paid' then
    raise exception 'shop order % is %: the buyer cancels only before shipment', o.id, o.status using errcode = 'PT409';
  end if;
  if who = 'seller' and o.status = 'delivered' then
    raise exception 'shop order % is delivered: ask staff to refund it', o.id using errcode = 'PT409';
  end if;
  left_to_refund := o.total - refunded;
  want := coalesce(amount, left_to_refund);
  if who <> 'admin' and want <> left_to_refund then
    raise exception 'only staff refund part of a shop order: cancel it in full' using errcode = '42501';
  end if;
  if want <= 0 or want > left_to_refund then
    raise exception 'the refund must be between 1 and % (what is left of shop order %), not %', left_to_refund, o.id, want
      using errcode = '22023';
  end if;
  select * into t from public.shop_transfers x where x.shop_order_id = o.id;
  if t.stripe_transfer_id is not null then
    -- The seller gives back their share of the refund; the platform its commission's share.
    reversal := least(want - (want * t.commission + o.total / 2) / o.total,
                      t.amount - coalesce((select sum(x.reversal_amount) from public.shop_refunds x
                                            where x.shop_order_id = o.id and x.status = 'succeeded'), 0));
  elsif t.shop_order_id is not null and t.claimed_at > now() - interval '1 minute' then
    raise exception 'shop order % is being paid out: try again in a minute', o.id using errcode = 'PT409';
  elsif want <> left_to_refund then
    raise exception 'shop order % has not been paid out yet: refund it in full', o.id using errcode = 'PT409';
  end if;
  insert into public.shop_refunds (shop_order_id, checkout_id, amount, currency, reversal_amount, cancels, reason, actor, requested_by)
  values (o.id, o.checkout_id, want, o.currency, greatest(reversal, 0), want = left_to_refund,
          coalesce(nullif(btrim(reason), ''), 'cancelled by the buyer'), who, acting_user)
  returning * into r;
  return jsonb_build_object('state', 'claimed', 'refund_id', r.id, 'shop_order_id', o.id, 'amount', r.amount,
    'currency', lower(r.currency), 'payment_intent', p.stripe_payment_intent_id, 'reason', r.reason,
    'reversal_amount', r.reversal_amount, 'transfer_id', t.stripe_transfer_id,
    'idempotency_key', 'shop_refund:' || r.id, 'reversal_idempotency_key', 'shop_reversal:' || r.id);
end
$$;
comment on function ops.claim_shop_refund(uuid, uuid, bigint, text) is
  'Claims a cancellation or refund of a paid shop order for its buyer (before shipment, in full), its seller (in full) or commerce staff (any amount); PT409 while one is in flight. Service role only (commerce-refund).';

-- Records what Stripe did: once, under the order's lock. Posts shop_refund:<id> (from the
-- seller's transfers and the commission after payout, from the checkout's escrow before),
-- moves the order (cancelled from paid, with restock; refunded after shipment), releases the
-- coupon when the whole checkout is cancelled.
create function ops.record_shop_refund(refund_id uuid, stripe_refund_id text, stripe_reversal_id text default null)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.shop_refunds;
  o public.shop_orders;
  t public.shop_transfers;
  i record;
begin
  select * into r from public.shop_refunds x where x.id = record_shop_refund.refund_id;
  if not found then
    return 'ignored: no such refund';
  end if;
  select * into o from public.shop_orders x where x.id = r.shop_order_id for update;
  select * into r from public.shop_refunds x where x.id = record_shop_refund.refund_id for update;
  if r.status <> 'requested' then
    return 'ignored: already ' || r.status;
  end if;
  update public.shop_refunds set status = 'succeeded', stripe_refund_id = record_shop_refund.stripe_refund_id,
         stripe_reversal_id = record_shop_refund.stripe_reversal_id, resolved_at = now()
   where id = r.id;
  select * into t from public.shop_transfers x where x.shop_order_id = o.id for update;
  if t.stripe_transfer_id is not null then
    perform private.post_ledger_transaction('shop_refund:' || r.id, 'Shop order refunded: seller''s share reversed, commission returned', null,
      jsonb_build_array(
        jsonb_build_object('account_id', private.ledger_account('seller_transfers', r.currency, null, t.seller_id), 'amount', -r.reversal_amount),
        jsonb_build_object('account_id', private.ledger_account('platform_commission', r.currency), 'amount', -(r.amount - r.reversal_amount)),
        jsonb_build_object('account_id', private.checkout_ledger_account('refunds', r.currency, r.checkout_id), 'amount', r.amount)));
  else
    perform private.post_transfer('shop_refund:' || r.id, 'Shop order refunded before its payout', null,
      private.checkout_ledger_account('escrow', r.currency, r.checkout_id),
      private.checkout_ledger_account('refunds', r.currency, r.checkout_id), r.amount);
    if t.shop_order_id is not null and r.cancels then
      update public.shop_transfers set cancelled_at = now() where shop_order_id = o.id;
    end if;
  end if;
  update public.shop_payments set amount_refunded = amount_refunded + r.amount,
         status = case when amount_refunded + r.amount >= amount_captured then 'refunded' else 'partially_refunded' end
   where checkout_id = r.checkout_id;
  if r.cancels then
    if o.status = 'paid' then
      perform private.transition_shop_order(o.id, 'cancelled', r.actor, r.reason);
      for i in select x.id, x.product_id, x.quantity from public.shop_order_items x
                where x.shop_order_id = o.id and x.kind = 'physical' and x.product_id is not null order by x.product_id loop
        perform private.restock(i.product_id, i.quantity, 'shop_order_item:' || i.id);
      end loop;
    else
      perform private.transition_shop_order(o.id, 'refunded', case when r.actor = 'admin' then 'admin' else 'system' end, r.reason);
    end if;
    if not exists (select 1 from public.shop_orders x where x.checkout_id = r.checkout_id and x.status not in ('cancelled', 'refunded')) then
      perform private.release_coupon_redemptions(r.checkout_id);
    end if;
  end if;
  return 'applied';
end
$$;
comment on function ops.record_shop_refund(uuid, text, text) is
  'Records a claimed shop refund once: ledger shop_refund:<id>, the order cancelled (restocked) or refunded, coupon usage released when the whole checkout is cancelled. Service role only.';

create function ops.abandon_shop_refund(refund_id uuid, reason text) returns void
language sql
security definer
set search_path = ''
as $$
  update public.shop_refunds set status = 'failed', failure = left(reason, 1000), resolved_at = now()
   where id = abandon_shop_refund.refund_id and status = 'requested'
$$;
comment on function ops.abandon_shop_refund(uuid, text) is 'Marks a claimed shop refund failed when Stripe refused it. Service role only.';

revoke execute on function ops.claim_shop_refund(uuid, uuid, bigint, text), ops.record_shop_refund(uuid, text, text),
  ops.abandon_shop_refund(uuid, text) from public;
grant execute on function ops.claim_shop_refund(uuid, uuid, bigint, text), ops.record_shop_refund(uuid, text, text),
  ops.abandon_shop_refund(uuid, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- The buyer cancels a checkout before paying it (003 order cancel before payment): what the
-- expiry does (shop orders cancelled, coupon and stock released), with status cancelled, the
-- buyer as the actor of each shop order's transition and their reason. Under the checkout's
-- lock, which the payment's capture (private.apply_shop_capture) and the expiry
-- (private.expire_checkout) take too, so a cancel, a payment and an expiry racing end in
-- exactly one outcome: the first to lock decides, the others find it decided. Once cancelled,
-- asking again answers the same checkout. A payment recorded first refuses the cancel (the buyer
-- asks for a refund instead, commerce-refund); a payment that reaches Stripe after the cancel is
-- refunded in full as a payment after expiry is (late_refund_due). commerce-checkout-cancel
-- calls this, then expires the open Stripe Checkout Session so the buyer cannot pay it.
create function private.cancel_checkout(checkout_id uuid, reason text default null) returns public.checkouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('cancel a checkout');
  co public.checkouts;
  p public.shop_payments;
  why text := coalesce(nullif(btrim(reason), ''), 'cancelled by the buyer before payment');
begin
  if char_length(why) > 500 then
    raise exception 'a cancellation reason has at most 500 characters' using errcode = '22023';
  end if;
  select * into co from public.checkouts x where x.id = cancel_checkout.checkout_id for update;
  if not found or co.buyer_id is distinct from buyer then
    raise exception 'checkout % not found', checkout_id using errcode = 'PT404';
  end if;
  if co.status = 'cancelled' then
    return co;
  end if;
  if co.status = 'paid' then
    raise exception 'checkout % is paid: it cannot be cancelled, ask for a refund of its shop orders instead', co.id
      using errcode = 'PT409';
  end if;
  if co.status = 'expired' then
    raise exception 'checkout % expired at %: its stock and coupon were already released', co.id, co.expired_at
      using errcode = 'PT409';
  end if;
  select * into p from public.shop_payments x where x.checkout_id = co.id;
  if p.status = 'pending' and p.stripe_payment_intent_id is not null then
    -- Stripe completed the session with a payment still processing (a bank debit): its outcome decides.
    raise exception 'checkout % has a payment in progress: wait for it, then ask for a refund if it goes through', co.id
      using errcode = 'PT409';
  end if;
  return private.close_unpaid_checkout(co.id, 'cancelled', 'buyer', why);
end
$$;
comment on function private.cancel_checkout(uuid, text) is
  'The body of the client RPC public.cancel_checkout: security definer, in private so the API does not expose it.';
revoke execute on function private.cancel_checkout(uuid, text) from public;
grant execute on function private.cancel_checkout(uuid, text) to authenticated;

create function public.cancel_checkout(checkout_id uuid, reason text default null) returns public.checkouts
language sql
security invoker
set search_path = ''
as $$
  select private.cancel_checkout(checkout_id, reason)
$$;
comment on function public.cancel_checkout(uuid, text) is
  'The buyer cancels their checkout before paying it: its shop orders cancelled, stock and coupon released, status cancelled; asking again answers the same checkout. PT404 another''s checkout, PT409 once paid (ask for a refund), expired, or with a payment in progress. commerce-checkout-cancel also expires its open Stripe Checkout Session.';
revoke execute on function public.cancel_checkout(uuid, text) from public;
grant execute on function public.cancel_checkout(uuid, text) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Refunds made outside our API (Stripe's Dashboard, another integration) of a checkout's
-- charge. The refund.created / refund.updated webhook (private.apply_stripe_event,
-- 40_payments/40_stripe_events.sql) brings them here once succeeded; ours are not (a shop
-- refund names shop_refund_id in its metadata or is recorded under its Stripe id, the late
-- payment's refund names checkout_id). The rule: a refund made in Stripe is not ours to split
-- between shop orders, so it is posted against the platform, platform_commission -> the
-- checkout's refunds account, key shop_external_refund:<re_…>; the escrow is untouched (what is
-- still to be paid out is paid out) and no transfer is reversed automatically. The row stays
-- open for commerce staff (resolved_at null): they decide whether to reverse the seller's
-- transfer (transfer.reversed books it back) or cancel the order.

create table public.shop_external_refunds (
  stripe_refund_id text primary key constraint shop_external_refunds_id_format check (stripe_refund_id ~ '^re_[A-Za-z0-9_]+$'),
  checkout_id uuid not null references public.checkouts (id) on delete restrict,
  amount bigint not null constraint shop_external_refunds_amount_positive check (amount > 0),
  currency text not null references public.currencies (code),
  stripe_charge_id text,
  reason text,
  created_at timestamptz not null default now(),
  resolved_at timestamptz,
  resolution text constraint shop_external_refunds_resolution_length check (char_length(resolution) between 1 and 1000),
  constraint shop_external_refunds_resolved_with_note check ((resolved_at is null) = (resolution is null))
);
comment on table public.shop_external_refunds is
  'Refunds of a checkout''s charge made in Stripe, not through commerce-refund: posted once against the platform (shop_external_refund:<re_…>, platform_commission -> the checkout''s refunds), no transfer reversed; open (resolved_at null) until commerce staff settle it with resolve_shop_external_refund. Commerce staff read them.';
comment on column public.shop_external_refunds.resolved_at is
  'When commerce staff settled the refund (resolve_shop_external_refund), set once; null while open.';
comment on column public.shop_external_refunds.resolution is
  'Staff''s note of how the refund was settled (a transfer reversed in Stripe, the order cancelled, borne by the platform): 1-1000 characters, set with resolved_at.';
create index shop_external_refunds_checkout_idx on public.shop_external_refunds (checkout_id);
create index shop_external_refunds_open_idx on public.shop_external_refunds (created_at) where resolved_at is null;

alter table public.shop_external_refunds enable row level security;
grant select on public.shop_external_refunds to authenticated, service_role;
create policy "Commerce staff read refunds made in Stripe" on public.shop_external_refunds for select to authenticated
  using ((select private.can_manage_commerce()));

create function private.record_shop_external_refund(refund jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.shop_payments;
  refunded bigint := (refund ->> 'amount')::bigint;
  inserted text;
begin
  select * into p from public.shop_payments x
   where x.stripe_payment_intent_id = refund ->> 'payment_intent'
      or (refund ->> 'charge' is not null and x.stripe_charge_id = refund ->> 'charge')
   limit 1;
  if not found then
    return null;
  end if;
  if refund #>> '{metadata,shop_refund_id}' is not null or refund #>> '{metadata,checkout_id}' is not null
     or p.stripe_late_refund_id = refund ->> 'id'
     or exists (select 1 from public.shop_refunds r where r.stripe_refund_id = refund ->> 'id') then
    return 'ignored: a refund we made (commerce-refund records it)';
  end if;
  if refund ->> 'status' is distinct from 'succeeded' then
    return 'ignored: refund ' || coalesce(refund ->> 'status', 'without a status');
  end if;
  if coalesce(refund ->> 'id', '') !~ '^re_[A-Za-z0-9_]+$' or refunded is null or refunded <= 0
     or upper(refund ->> 'currency') is distinct from p.currency then
    return 'ignored: not a refund of this checkout''s payment';
  end if;
  select * into p from public.shop_payments x where x.checkout_id = p.checkout_id for update;
  insert into public.shop_external_refunds (stripe_refund_id, checkout_id, amount, currency, stripe_charge_id, reason)
  values (refund ->> 'id', p.checkout_id, refunded, p.currency, refund ->> 'charge', refund ->> 'reason')
  on conflict (stripe_refund_id) do nothing
  returning stripe_refund_id into inserted;
  if inserted is null then
    return 'ignored: already recorded';
  end if;
  refunded := least(refunded, p.amount_captured - p.amount_refunded);
  if refunded > 0 then
    update public.shop_external_refunds x set amount = refunded where x.stripe_refund_id = inserted;
    update public.shop_payments set amount_refunded = shop_payments.amount_refunded + refunded,
           status = case when shop_payments.status in ('paid', 'partially_refunded', 'refunded')
                         then case when shop_payments.amount_refunded + refunded >= shop_payments.amount_captured then 'refunded'
                                   else 'partially_refunded' end
                         else shop_payments.status end
     where shop_payments.checkout_id = p.checkout_id;
    perform private.post_transfer('shop_external_refund:' || inserted, 'Checkout refunded in Stripe, borne by the platform', null,
      private.ledger_account('platform_commission', p.currency), private.checkout_ledger_account('refunds', p.currency, p.checkout_id),
      refunded);
  else
    delete from public.shop_external_refunds where stripe_refund_id = inserted;
    return 'ignored: nothing left to refund';
  end if;
  return 'applied: refunded in Stripe, borne by the platform, open for staff';
end
$$;
comment on function private.record_shop_external_refund(jsonb) is
  'refund.created / refund.updated of a checkout''s charge made outside commerce-refund: once succeeded, recorded (shop_external_refunds) and posted against the platform (shop_external_refund:<re_…>); null when the refund is of no checkout''s payment; ours are ignored.';
revoke execute on function private.record_shop_external_refund(jsonb) from public;
grant execute on function private.record_shop_external_refund(jsonb) to service_role;

-- Commerce staff settle a refund made in Stripe once they have decided what it means (reversed
-- a seller's transfer in Stripe, cancelled the order, or left it with the platform): the row is
-- closed with their note, once. The row's lock makes two resolutions at once one: the second
-- waits, then finds it resolved (PT409). No money moves here: the refund was posted when it was
-- recorded, and a reversal made in Stripe books itself (transfer.reversed). Audited
-- (public.audit_log, action resolve). The service role (the admin CLI, naming its operator in
-- x-admin-actor) may resolve too.
create function private.resolve_shop_external_refund(stripe_refund_id text, resolution text)
returns public.shop_external_refunds
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.shop_external_refunds;
  note text := regexp_replace(resolution, '^\s+|\s+$', '', 'g');
  actor record;
begin
  if not private.can_manage_commerce() and not private.is_service_role() then
    raise exception 'resolving a refund made in Stripe needs the commerce.manage permission' using errcode = '42501';
  end if;
  if coalesce(stripe_refund_id, '') !~ '^re_[A-Za-z0-9_]+$' then
    raise exception 'stripe_refund_id must be a Stripe refund id (re_…)' using errcode = '22023';
  end if;
  if coalesce(char_length(note), 0) not between 1 and 1000 then
    raise exception 'a resolution of 1 to 1000 characters is required (got %)', coalesce(char_length(note), 0)
      using errcode = '22023';
  end if;
  select * into r from public.shop_external_refunds x
   where x.stripe_refund_id = resolve_shop_external_refund.stripe_refund_id for update;
  if not found then
    raise exception 'refund % made in Stripe not found', stripe_refund_id using errcode = 'PT404';
  end if;
  if r.resolved_at is not null then
    raise exception 'refund % made in Stripe was already resolved at %', r.stripe_refund_id,
      to_char(r.resolved_at at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      using errcode = 'PT409';
  end if;
  update public.shop_external_refunds x set resolved_at = now(), resolution = note
   where x.stripe_refund_id = r.stripe_refund_id
  returning * into r;
  select * into actor from private.current_actor();
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (actor.actor_id, actor.actor_label, 'resolve', 'shop_external_refunds', r.stripe_refund_id,
          jsonb_build_object('resolved_at', null, 'resolution', null, 'checkout_id', r.checkout_id, 'amount', r.amount, 'currency', r.currency),
          jsonb_build_object('resolved_at', r.resolved_at, 'resolution', r.resolution));
  return r;
end
$$;
comment on function private.resolve_shop_external_refund(text, text) is
  'Body of public.resolve_shop_external_refund: commerce staff (or the service role) close an open refund made in Stripe with a note, once, under the row''s lock; audited.';
revoke execute on function private.resolve_shop_external_refund(text, text) from public;
grant execute on function private.resolve_shop_external_refund(text, text) to authenticated, service_role;

create function public.resolve_shop_external_refund(stripe_refund_id text, resolution text)
returns public.shop_external_refunds
language sql
security invoker
set search_path = ''
as $$
  select private.resolve_shop_external_refund(stripe_refund_id, resolution)
$$;
comment on function public.resolve_shop_external_refund(text, text) is
  'Commerce staff settle a refund made in Stripe''s Dashboard: resolved_at now and their note (1-1000 characters), once, audited; answers the row. 42501 without commerce.manage, 22023 no refund id or a note that is empty or too long, PT404 unknown refund, PT409 already resolved (when).';
revoke execute on function public.resolve_shop_external_refund(text, text) from public, anon;
grant execute on function public.resolve_shop_external_refund(text, text) to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/50_commerce/89_reconciliation.sql
-- ======================================================================================

-- Reconciliation of the shop's money, the database's half (issue 17): per paid checkout, what
-- the shop_payments row, its shop_transfers and shop_refunds say, what the ledger says (derived
-- from entries only: the checkout's buyer_funding, escrow and refunds accounts, the
-- seller_transfers entries of each shop order's postings, the fee:<charge> posting) and every
-- disagreement between them. payments-reconcile adds Stripe's half
-- (functions/_shared/commerce/reconcile.ts): the payment intent's charge and fee, the transfers
-- of the transfer group checkout_<id> and the refunds of the payment intent, matched to these
-- rows by Stripe id. The postings each check must agree with: docs/payments/ledger-postings.md,
-- "Shop checkouts". Same window and paging as ops.payments_reconciliation (70_reconciliation.sql
-- of 40_payments): active_since, after_checkout_id, max_rows.

create function ops.shop_reconciliation(
  active_since timestamptz default null,
  after_checkout_id uuid default null,
  max_rows integer default null
)
returns table (
  checkout_id uuid, currency text, status text,
  stripe_payment_intent_id text, stripe_charge_id text, stripe_late_refund_id text,
  amount_captured bigint, amount_refunded bigint, stripe_fee bigint,
  ledger_captured bigint, ledger_refunded bigint, ledger_escrow bigint, ledger_fee bigint,
  transfers jsonb, refunds jsonb,
  problems text[]
)
language sql
stable
security definer
set search_path = ''
as $$
  with payments as (
    select p.* from public.shop_payments p
     where (p.amount_captured > 0 or p.status <> 'pending')
       and (after_checkout_id is null or p.checkout_id > after_checkout_id)
  ),
  orders as (
    -- Per shop order with a transfer row: what we say it was paid out and reversed, and the
    -- seller_transfers entries of its postings (shop_transfer:<order>, shop_refund:<refund>).
    select t.checkout_id, t.shop_order_id, t.amount, t.commission, t.stripe_transfer_id, t.transferred_at, t.claimed_at,
           t.cancelled_at,
           coalesce((select sum(r.reversal_amount) from public.shop_refunds r
                      where r.shop_order_id = t.shop_order_id and r.status = 'succeeded'), 0)::bigint as reversed,
           coalesce((select sum(e.amount) from public.ledger_transactions x
                       join public.ledger_entries e on e.transaction_id = x.id
                       join public.ledger_accounts a on a.id = e.account_id and a.kind = 'seller_transfers'
                      where x.idempotency_key = 'shop_transfer:' || t.shop_order_id
                         or x.idempotency_key in (select 'shop_refund:' || r.id from public.shop_refunds r
                                                   where r.shop_order_id = t.shop_order_id)), 0)::bigint as l_transferred
      from public.shop_transfers t
     where t.checkout_id in (select checkout_id from payments)
  ),
  figures as (
    select p.*,
           -private.checkout_ledger_balance('buyer_funding', p.currency, p.checkout_id) as l_captured,
           private.checkout_ledger_balance('refunds', p.currency, p.checkout_id) as l_refunded,
           private.checkout_ledger_balance('escrow', p.currency, p.checkout_id) as l_escrow,
           coalesce((select sum(e.amount) from public.ledger_transactions x
                       join public.ledger_entries e on e.transaction_id = x.id
                       join public.ledger_accounts a on a.id = e.account_id and a.kind = 'stripe_fees'
                      where x.idempotency_key = 'fee:' || p.stripe_charge_id), 0)::bigint as l_fee,
           -- What escrow must hold: the capture, less what was paid out (share and commission),
           -- refunds made before their order's payout, and a late payment's refund.
           p.amount_captured
             - coalesce((select sum(o.amount + o.commission) from orders o
                          where o.checkout_id = p.checkout_id and o.stripe_transfer_id is not null), 0)
             - coalesce((select sum(r.amount) from public.shop_refunds r
                           left join public.shop_transfers t on t.shop_order_id = r.shop_order_id
                          where r.checkout_id = p.checkout_id and r.status = 'succeeded'
                            and (t.transferred_at is null or t.transferred_at > r.resolved_at)), 0)
             - case when p.stripe_late_refund_id is not null then p.amount_captured else 0 end as expected_escrow,
           coalesce((select sum(r.amount) from public.shop_refunds r
                      where r.checkout_id = p.checkout_id and r.status = 'succeeded'), 0)
             + coalesce((select sum(x.amount) from public.shop_external_refunds x where x.checkout_id = p.checkout_id), 0)
             + case when p.stripe_late_refund_id is not null then p.amount_captured else 0 end as refunds_total,
           coalesce((select jsonb_agg(jsonb_build_object(
                        'shop_order_id', o.shop_order_id, 'amount', o.amount, 'stripe_transfer_id', o.stripe_transfer_id,
                        'reversed', o.reversed, 'cancelled', o.cancelled_at is not null) order by o.shop_order_id)
                       from orders o where o.checkout_id = p.checkout_id), '[]') as transfer_rows,
           coalesce((select jsonb_agg(jsonb_build_object(
                        'refund_id', r.id, 'shop_order_id', r.shop_order_id, 'amount', r.amount, 'status', r.status,
                        'stripe_refund_id', r.stripe_refund_id) order by r.created_at, r.id)
                       from public.shop_refunds r where r.checkout_id = p.checkout_id), '[]')
             -- Refunds made in Stripe (88_cancellations.sql): no shop order, named by their Stripe id.
             || coalesce((select jsonb_agg(jsonb_build_object(
                        'refund_id', x.stripe_refund_id, 'shop_order_id', null, 'amount', x.amount, 'status', 'succeeded',
                        'stripe_refund_id', x.stripe_refund_id, 'external', true) order by x.created_at, x.stripe_refund_id)
                       from public.shop_external_refunds x where x.checkout_id = p.checkout_id), '[]') as refund_rows
      from payments p
  ),
  checked as (
    select f.*, array_remove(array[
      case when f.l_captured <> f.amount_captured then 'ledger captured ' || f.l_captured || ' <> shop payment ' || f.amount_captured end,
      case when f.l_refunded <> f.amount_refunded then 'ledger refunded ' || f.l_refunded || ' <> shop payment ' || f.amount_refunded end,
      case when f.refunds_total <> f.amount_refunded
           then 'refunds recorded ' || f.refunds_total || ' <> shop payment refunded ' || f.amount_refunded end,
      case when f.l_escrow <> f.expected_escrow
           then 'escrow balance ' || f.l_escrow || ' <> captured less paid out less refunded before payout ' || f.expected_escrow end,
      case when f.stripe_fee is not null and f.l_fee <> f.stripe_fee then 'ledger fee ' || f.l_fee || ' <> shop payment fee ' || f.stripe_fee end,
      case when f.amount_captured > 0 and f.stripe_payment_intent_id is null then 'captured without a Stripe payment intent' end
    ] || array(
      select 'shop order ' || o.shop_order_id || ': ' || m from orders o,
        lateral unnest(array[
          case when o.l_transferred <> case when o.stripe_transfer_id is null then 0 else o.amount - o.reversed end
               then 'ledger transferred ' || o.l_transferred || ' <> shop transfer '
                    || case when o.stripe_transfer_id is null then 0 else o.amount - o.reversed end end,
          case when o.stripe_transfer_id is null and o.claimed_at < now() - interval '1 hour'
               then 'transfer claimed over an hour ago, never recorded' end
        ]) m
       where o.checkout_id = f.checkout_id and m is not null
       order by o.shop_order_id
    ) || array(
      select 'refund ' || r.id || ': claimed over an hour ago, never answered' from public.shop_refunds r
       where r.checkout_id = f.checkout_id and r.status = 'requested' and r.created_at < now() - interval '1 hour'
       order by r.id
    ), null) as problems
      from figures f
  )
  select c.checkout_id, c.currency, c.status, c.stripe_payment_intent_id, c.stripe_charge_id, c.stripe_late_refund_id,
         c.amount_captured, c.amount_refunded, c.stripe_fee,
         c.l_captured, c.l_refunded, c.l_escrow, c.l_fee, c.transfer_rows, c.refund_rows, c.problems
    from checked c
   where active_since is null or cardinality(c.problems) > 0
      or c.created_at >= active_since or c.paid_at >= active_since or c.updated_at >= active_since
      or exists (select 1 from orders o where o.checkout_id = c.checkout_id and o.transferred_at >= active_since)
      or exists (select 1 from public.shop_refunds r where r.checkout_id = c.checkout_id
                    and (r.created_at >= active_since or r.resolved_at >= active_since))
      or exists (select 1 from public.shop_external_refunds x where x.checkout_id = c.checkout_id and x.created_at >= active_since)
   order by c.checkout_id
   limit max_rows
$$;
comment on function ops.shop_reconciliation(timestamptz, uuid, integer) is
  'Per paid checkout: the shop payment''s amounts and Stripe ids, its transfers and refunds (jsonb), the ledger''s derived figures, and their disagreements; with active_since, only checkouts paid or changed since then and every one with a disagreement; in checkout id order, after after_checkout_id, max_rows at most. Service role only (payments-reconcile compares them with Stripe).';
revoke execute on function ops.shop_reconciliation(timestamptz, uuid, integer) from public;
grant execute on function ops.shop_reconciliation(timestamptz, uuid, integer) to service_role;

-- ======================================================================================
-- supabase/schemas/50_commerce/90_follows.sql
-- ======================================================================================

-- Shop follows (issue 17 "Social"; 001 POST /sellers/:id/follow, unfollow): a signed-in user
-- follows an active shop that is not their own. Following is idempotent (a second follow is
-- the same one follow) and so is unfollowing. shops.follower_count is kept by a trigger in
-- the same transaction as the row, as an increment or decrement of the shop row
-- (`follower_count = follower_count ± 1`): the row lock that update takes queues concurrent
-- follows of one shop, so the count equals the rows under any concurrency. The FK check of
-- a new follow holds KEY SHARE on the shop, which the count's update (FOR NO KEY UPDATE)
-- does not wait on, so two follows never deadlock.
--
-- Who sees a follow: the follower (their followed shops) and the shop's seller (their
-- followers); nobody else, staff included: who follows whom is the follower's personal
-- data, the public sees only the count (shop_profiles, 95_shop_profiles.sql), and support
-- reads rows with the service role.
--
--   follow:    supabase.rpc('follow_shop', { shop_id })      -- idempotent; returns the follow
--   unfollow:  supabase.rpc('unfollow_shop', { shop_id })    -- true if a follow was removed
--   mine:      supabase.from('shop_follows').select('created_at, shop:shop_profiles(*)')
--                .eq('user_id', uid).order('created_at', { ascending: false })
--   followers: supabase.from('shop_follows').select('user_id, created_at').eq('shop_id', uid)  -- the seller

create table public.shop_follows (
  user_id uuid not null references public.profiles (id) on delete cascade,
  shop_id uuid not null references public.shops (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (user_id, shop_id),
  constraint shop_follows_not_own_shop check (user_id <> shop_id)
);
comment on table public.shop_follows is
  'Who follows which shop (001 /sellers/:id/follow): one row per follower and shop; written through follow_shop / unfollow_shop; read by the follower and the shop''s seller.';

-- The primary key serves "my followed shops" (user_id first); this one a shop's followers.
create index shop_follows_shop_idx on public.shop_follows (shop_id, created_at desc);

-- ---------------------------------------------------------------------------------------
-- The count: one increment or decrement of the shop row per follow row inserted or
-- deleted, in the same transaction. The update's row lock serialises concurrent follows of
-- one shop; a follow that was already there inserts nothing, so counts nothing.

create function private.shop_follows_count() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.shops set follower_count = follower_count + 1 where id = new.shop_id;
  elsif tg_op = 'DELETE' then
    update public.shops set follower_count = follower_count - 1 where id = old.shop_id;
  end if;
  return null;
end
$$;
comment on function private.shop_follows_count() is
  'Trigger: shops.follower_count + 1 for each follow inserted, - 1 for each deleted, in the same transaction (the shop row lock serialises).';

create trigger shop_follows_count after insert or delete on public.shop_follows
  for each row execute function private.shop_follows_count();

-- Following and unfollowing are client RPCs: the caller is the follower, the shop is
-- checked (exists, visible, active, not one's own) with a precise error each.

alter table public.shop_follows enable row level security;
grant select on public.shop_follows to authenticated;
grant all on public.shop_follows to service_role;

create policy "Followers and the followed shop's seller read follows" on public.shop_follows for select to authenticated
  using (user_id = (select auth.uid()) or shop_id = (select auth.uid()));

-- 001 POST /sellers/:id/follow.
create function private.follow_shop(shop_id uuid)
returns public.shop_follows
language plpgsql
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
  s public.shops;
  f public.shop_follows;
begin
  if me is null then
    raise exception 'sign in to follow a shop' using errcode = '42501';
  end if;
  perform private.assert_not_anonymous('follow shops');
  if follow_shop.shop_id is null then
    raise exception 'shop_id is required' using errcode = '22023';
  end if;
  select * into s from public.shops x where x.id = follow_shop.shop_id;
  if not found or (not s.is_active and s.id <> me) then
    raise exception 'shop % not found', follow_shop.shop_id using errcode = 'PT404';
  end if;
  if s.id = me then
    raise exception 'you cannot follow your own shop' using errcode = 'PT409';
  end if;
  if not s.is_active then
    raise exception 'shop % is inactive: it cannot be followed', s.id using errcode = 'PT409';
  end if;
  insert into public.shop_follows (user_id, shop_id) values (me, s.id)
  on conflict on constraint shop_follows_pkey do nothing
  returning * into f;
  if found then
    perform private.emit_event('shop.followed', 'shop', s.id, array[s.id], jsonb_build_object('follower_id', me), me);
  else
    select * into f from public.shop_follows x where x.user_id = me and x.shop_id = s.id;
  end if;
  return f;
end
$$;
comment on function private.follow_shop(uuid) is
  'The body of the client RPC public.follow_shop: security definer, in private so the API does not expose it.';
revoke execute on function private.follow_shop(uuid) from public;
grant execute on function private.follow_shop(uuid) to authenticated;

create function public.follow_shop(shop_id uuid)
returns public.shop_follows
language sql
security invoker
set search_path = ''
as $$
  select private.follow_shop(shop_id)
$$;
comment on function public.follow_shop(uuid) is
  '001 POST /sellers/:id/follow: the caller follows an active shop, not their own; idempotent (a second call returns the same follow and counts nothing). PT404 unknown or inactive shop, PT409 one''s own shop, 42501 anonymous.';
revoke execute on function public.follow_shop(uuid) from public;
grant execute on function public.follow_shop(uuid) to authenticated;

-- 001 unfollow (DELETE /sellers/:id/follow). Allowed whatever the shop's state, so a user
-- can always leave a shop that was deactivated after they followed it.
create function private.unfollow_shop(shop_id uuid)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
begin
  if me is null then
    raise exception 'sign in to unfollow a shop' using errcode = '42501';
  end if;
  if unfollow_shop.shop_id is null then
    raise exception 'shop_id is required' using errcode = '22023';
  end if;
  delete from public.shop_follows x where x.user_id = me and x.shop_id = unfollow_shop.shop_id;
  return found;
end
$$;
comment on function private.unfollow_shop(uuid) is
  'The body of the client RPC public.unfollow_shop: security definer, in private so the API does not expose it.';
revoke execute on function private.unfollow_shop(uuid) from public;
grant execute on function private.unfollow_shop(uuid) to authenticated;

create function public.unfollow_shop(shop_id uuid)
returns boolean
language sql
security invoker
set search_path = ''
as $$
  select private.unfollow_shop(shop_id)
$$;
comment on function public.unfollow_shop(uuid) is
  '001 unfollow: removes the caller''s follow of the shop; true if there was one, false if not (idempotent).';
revoke execute on function public.unfollow_shop(uuid) from public;
grant execute on function public.unfollow_shop(uuid) to authenticated;

-- ======================================================================================
-- supabase/schemas/50_commerce/92_product_reviews.sql
-- ======================================================================================

-- Product reviews (issue 17 "Social"; 001 POST /products/:id/reviews): the buyer of a
-- delivered shop order containing a product reviews it, once (rating 1 to 5 and a text).
-- The author edits the rating and text for product_review_edit_days (a platform setting,
-- 30 by default) and never deletes; content.moderate holders hide a review with a reason
-- (it then leaves the aggregates) or delete it. Reviews are public unless hidden or of a
-- shop an admin deactivated.
--
-- Aggregates, recomputed from the table on every change that moves them (never incremented,
-- so an edit, a hide or a delete cannot drift them), under a row lock on the shop, which
-- queues concurrent reviews of one shop's products:
--   public.product_review_stats (product_id, review_count, rating_avg)   per product
--   public.shops.rating_avg, review_count                                per shop: the mean of all
--       the visible reviews of its products, each review counting once (a product with many
--       reviews weighs more than one with few). The marketplace's commission reviews
--       (30_marketplace/90_reviews.sql) rate people, not shops: they keep profiles.rating_avg
--       and never touch shops, so the shop's rating is its products' reviews only.
--
--   write:  supabase.rpc('review_product', { product_id, rating, body })
--   edit:   supabase.from('product_reviews').update({ rating, body }).eq('id', id)   -- the author, within the window
--   read:   supabase.from('product_reviews').select('id, rating, body, author_id, created_at, edited_at')
--             .eq('product_id', id).order('created_at', { ascending: false }).order('id', { ascending: false })
--   stats:  supabase.from('product_review_stats').select('review_count, rating_avg').eq('product_id', id)
--   hide:   supabase.rpc('moderate_product_review', { review_id, hidden: true, reason })

create table public.product_reviews (
  id uuid primary key default gen_random_uuid(),
  product_id uuid not null references public.products (id) on delete cascade,
  shop_id uuid not null references public.shops (id) on delete cascade,
  author_id uuid references public.profiles (id) on delete set null,
  shop_order_id uuid references public.shop_orders (id) on delete set null,
  rating smallint not null constraint product_reviews_rating_range check (rating between 1 and 5),
  body text not null default '' constraint product_reviews_body_length check (char_length(body) <= 5000),
  is_hidden boolean not null default false,
  hidden_at timestamptz,
  hidden_by uuid references public.profiles (id) on delete set null,
  hidden_reason text constraint product_reviews_hidden_reason_length check (char_length(hidden_reason) <= 2000),
  created_at timestamptz not null default now(),
  edited_at timestamptz,
  constraint product_reviews_not_own_shop check (author_id <> shop_id),
  constraint product_reviews_hidden_consistent check (is_hidden = (hidden_at is not null))
);
comment on table public.product_reviews is
  'Reviews of products by buyers of a delivered shop order containing them (001 POST /products/:id/reviews): one per product and buyer; public unless hidden.';
comment on column public.product_reviews.shop_id is 'The product''s shop, derived at insert: the shop whose rating the review counts in.';
comment on column public.product_reviews.author_id is 'The buyer, set from the caller; null once their account is deleted (the review stays and counts).';
comment on column public.product_reviews.shop_order_id is 'The delivered shop order that made the author a buyer of the product (the latest one), derived at insert.';
comment on column public.product_reviews.edited_at is 'Last edit by the author, who may edit rating and body for product_review_edit_days after created_at.';
comment on column public.product_reviews.is_hidden is
  'Set by moderate_product_review() (content.moderate): hidden reviews are seen only by their author and moderators, and do not count.';

create unique index product_reviews_one_per_buyer on public.product_reviews (product_id, author_id);
create index product_reviews_product_idx on public.product_reviews (product_id, created_at desc, id desc) where not is_hidden;
create index product_reviews_shop_idx on public.product_reviews (shop_id);
create index product_reviews_author_idx on public.product_reviews (author_id);
create index product_reviews_order_idx on public.product_reviews (shop_order_id) where shop_order_id is not null;
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index product_reviews_hidden_by_idx on public.product_reviews (hidden_by) where hidden_by is not null;

-- ---------------------------------------------------------------------------------------
-- Who may review: the buyer of a delivered shop order with the product. A trigger before
-- insert, so that every way in (review_product() for users, service tooling) gets the same
-- checks, precise errors and derived columns.

create function private.prepare_product_review() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  p public.products;
  delivered uuid;
  pending record;
  mine uuid;
begin
  if private.is_service_role() and new.author_id is not null then
    caller := new.author_id; -- service tooling may write on a buyer's behalf
  end if;
  if caller is null then
    raise exception 'sign in to review a product' using errcode = '42501';
  end if;
  if new.rating is null or new.rating not between 1 and 5 then
    raise exception 'a rating is a whole number from 1 to 5' using errcode = '22023';
  end if;
  if char_length(coalesce(new.body, '')) > 5000 then
    raise exception 'a review is at most 5000 characters' using errcode = '22023';
  end if;
  select * into p from public.products x where x.id = new.product_id;
  if not found then
    raise exception 'product % not found', new.product_id using errcode = 'PT404';
  end if;
  select r.id into mine from public.product_reviews r where r.product_id = p.id and r.author_id = caller;
  if found then
    raise exception 'you have already reviewed product % (review %): edit that review instead', p.id, mine
      using errcode = '23505';
  end if;
  select o.id into delivered
    from public.shop_orders o
    join public.shop_order_items i on i.shop_order_id = o.id
   where o.buyer_id = caller and i.product_id = p.id and o.status = 'delivered'
   order by o.delivered_at desc nulls last, o.id
   limit 1;
  if delivered is null then
    select o.id, o.status into pending
      from public.shop_orders o
      join public.shop_order_items i on i.shop_order_id = o.id
     where o.buyer_id = caller and i.product_id = p.id and o.status in ('awaiting_payment', 'paid', 'shipped')
     order by o.created_at desc, o.id
     limit 1;
    if found then
      raise exception 'your shop order % of product % is %: reviews open once it is delivered', pending.id, p.id, pending.status
        using errcode = 'PT409';
    end if;
    raise exception 'only a buyer of a delivered order of product % may review it', p.id using errcode = '42501';
  end if;
  new.author_id := caller;
  new.shop_id := p.shop_id;
  new.shop_order_id := delivered;
  new.body := coalesce(new.body, '');
  new.is_hidden := false;
  new.hidden_at := null;
  new.hidden_by := null;
  new.hidden_reason := null;
  new.created_at := now();
  new.edited_at := null;
  return new;
end
$$;
comment on function private.prepare_product_review() is
  'Trigger: the caller must be the buyer of a delivered shop order with the product (42501; PT409 while their order is not delivered yet), once per product (23505); derives author, shop and order.';

create trigger product_reviews_prepare before insert on public.product_reviews
  for each row execute function private.prepare_product_review();

-- Edits: the author's rating and body, within the window (the service role at any time);
-- a precise refusal after it, rather than an update that silently matches no row.
create function private.check_product_review_edit() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  days integer;
begin
  if new.rating is not distinct from old.rating and new.body is not distinct from old.body then
    return new;
  end if;
  if new.rating is null or new.rating not between 1 and 5 then
    raise exception 'a rating is a whole number from 1 to 5' using errcode = '22023';
  end if;
  if char_length(coalesce(new.body, '')) > 5000 then
    raise exception 'a review is at most 5000 characters' using errcode = '22023';
  end if;
  if not private.is_service_role() then
    days := private.product_review_edit_days();
    if old.created_at < now() - make_interval(days => days) then
      raise exception 'review % was written on %: reviews can be edited for % days', old.id, old.created_at::date, days
        using errcode = 'PT409';
    end if;
  end if;
  new.body := coalesce(new.body, '');
  new.edited_at := now();
  return new;
end
$$;
comment on function private.check_product_review_edit() is
  'Trigger: an edit of rating or body is checked (22023) and allowed for product_review_edit_days after the review was written (PT409 after); stamps edited_at.';

create trigger product_reviews_check_edit before update on public.product_reviews
  for each row execute function private.check_product_review_edit();

-- ---------------------------------------------------------------------------------------
-- The aggregates.

create table public.product_review_stats (
  product_id uuid primary key references public.products (id) on delete cascade,
  review_count integer not null default 0 constraint product_review_stats_count_positive check (review_count >= 0),
  rating_avg numeric(3, 2) constraint product_review_stats_rating_range check (rating_avg between 1 and 5),
  updated_at timestamptz not null default now(),
  constraint product_review_stats_avg_iff_reviews check ((review_count = 0) = (rating_avg is null))
);
comment on table public.product_review_stats is
  'A product''s rating (mean of its visible reviews, 2 decimals) and review count, kept by the product reviews; no row = no review yet. Public.';

alter table public.product_review_stats enable row level security;
grant select on public.product_review_stats to anon, authenticated;
grant all on public.product_review_stats to service_role;
create policy "Anyone reads product review stats" on public.product_review_stats for select to anon, authenticated
  using (true);

-- Recounts one product and its shop from the table. The shop row lock (FOR NO KEY UPDATE:
-- each new review's foreign key holds KEY SHARE on the shop, which FOR UPDATE would wait on,
-- deadlocking two reviews) queues concurrent changes to one shop's reviews; the recount, a
-- new statement, sees every committed one.
create function private.refresh_product_rating(product uuid, shop uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform 1 from public.shops where id = shop for no key update;
  if exists (select 1 from public.products where id = product) then
    insert into public.product_review_stats as s (product_id, review_count, rating_avg, updated_at)
    select product, count(*)::integer, round(avg(r.rating), 2), now()
      from public.product_reviews r where r.product_id = product and not r.is_hidden
    on conflict (product_id) do update
      set review_count = excluded.review_count, rating_avg = excluded.rating_avg, updated_at = excluded.updated_at;
  end if;
  update public.shops s set
    review_count = agg.n,
    rating_avg = case when agg.n = 0 then null else round(agg.avg_rating, 2) end
  from (select count(*)::integer n, avg(r.rating) avg_rating
          from public.product_reviews r where r.shop_id = shop and not r.is_hidden) agg
  where s.id = shop;
end
$$;
comment on function private.refresh_product_rating(uuid, uuid) is
  'Recounts a product''s visible reviews into product_review_stats and its shop''s into shops.review_count and rating_avg (2 decimals), under a lock on the shop.';

create function private.product_reviews_refresh_rating() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    perform private.refresh_product_rating(old.product_id, old.shop_id);
  else
    perform private.refresh_product_rating(new.product_id, new.shop_id);
  end if;
  return null;
end
$$;
comment on function private.product_reviews_refresh_rating() is 'Trigger: keeps the product''s and the shop''s rating aggregates exact.';

create trigger product_reviews_refresh_rating_on_insert_or_delete after insert or delete on public.product_reviews
  for each row execute function private.product_reviews_refresh_rating();
create trigger product_reviews_refresh_rating_on_update after update of rating, is_hidden on public.product_reviews
  for each row execute function private.product_reviews_refresh_rating();

-- ---------------------------------------------------------------------------------------
-- Access.

alter table public.product_reviews enable row level security;
grant select on public.product_reviews to anon, authenticated;
grant update (rating, body), delete on public.product_reviews to authenticated;
grant all on public.product_reviews to service_role;

-- Visible: not hidden, of a shop an admin has not deactivated (as its products are hidden
-- then; private.inactive_shop_ids() is evaluated once per statement). The shop's seller
-- still reads the visible reviews of their deactivated shop; authors read theirs, hidden or
-- not; content.moderate holders read all.
create policy "Anyone reads visible product reviews of active shops" on public.product_reviews for select to anon
  using (not is_hidden and not (shop_id = any ((select private.inactive_shop_ids())::uuid[])));
create policy "Signed-in users read the product reviews they may see"
  on public.product_reviews for select to authenticated
  using ((not is_hidden and (not (shop_id = any ((select private.inactive_shop_ids())::uuid[])) or shop_id = (select auth.uid())))
         or author_id = (select auth.uid()) or (select private.has_permission('content.moderate')));
create policy "Authors edit their visible product reviews" on public.product_reviews for update to authenticated
  using (author_id = (select auth.uid()) and not is_hidden)
  with check (author_id = (select auth.uid()) and not is_hidden);
create policy "Moderators delete product reviews" on public.product_reviews for delete to authenticated
  using ((select private.has_permission('content.moderate')));

-- 001 POST /products/:id/reviews. An RPC rather than an insert so the API's shape is what
-- the caller decides (product, rating, body); author, shop and order are derived by
-- private.prepare_product_review(). Two concurrent first reviews by one buyer meet at the
-- unique index; the loser gets the same 23505 as a second review.
create function private.review_product(product_id uuid, rating integer, body text default '')
returns public.product_reviews
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.product_reviews;
begin
  if auth.uid() is null then
    raise exception 'sign in to review a product' using errcode = '42501';
  end if;
  if review_product.rating is null or review_product.rating not between 1 and 5 then
    raise exception 'a rating is a whole number from 1 to 5' using errcode = '22023';
  end if;
  begin
    insert into public.product_reviews (product_id, rating, body)
    values (review_product.product_id, review_product.rating::smallint, coalesce(review_product.body, ''))
    returning * into r;
  exception when unique_violation then
    raise exception 'you have already reviewed product %: edit that review instead', review_product.product_id
      using errcode = '23505';
  end;
  return r;
end
$$;
comment on function private.review_product(uuid, integer, text) is
  'The body of the client RPC public.review_product: security definer, in private so the API does not expose it.';
revoke execute on function private.review_product(uuid, integer, text) from public;
grant execute on function private.review_product(uuid, integer, text) to authenticated;

create function public.review_product(product_id uuid, rating integer, body text default '')
returns public.product_reviews
language sql
security invoker
set search_path = ''
as $$
  select private.review_product(product_id, rating, body)
$$;
comment on function public.review_product(uuid, integer, text) is
  '001 POST /products/:id/reviews: the buyer of a delivered shop order with the product reviews it once. 42501 not such a buyer, PT409 their order is not delivered yet, 23505 the second time, 22023 a rating outside 1-5, PT404 unknown product.';
revoke execute on function public.review_product(uuid, integer, text) from public;
grant execute on function public.review_product(uuid, integer, text) to authenticated;

create function private.moderate_product_review(review_id uuid, hidden boolean, reason text default null)
returns public.product_reviews
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.product_reviews;
begin
  if not private.has_permission('content.moderate') and not private.is_service_role() then
    raise exception 'permission denied: content.moderate is required' using errcode = '42501';
  end if;
  if hidden is null then
    raise exception 'hidden is required (true to hide, false to restore)' using errcode = '22023';
  end if;
  if hidden and coalesce(trim(reason), '') = '' then
    raise exception 'hiding a review needs a reason' using errcode = '22023';
  end if;
  if char_length(reason) > 2000 then
    raise exception 'a reason is at most 2000 characters' using errcode = '22023';
  end if;
  update public.product_reviews set
    is_hidden = hidden,
    hidden_at = case when hidden then coalesce(hidden_at, now()) end,
    hidden_by = case when hidden then auth.uid() end,
    hidden_reason = case when hidden then reason end
  where id = review_id
  returning * into r;
  if not found then
    raise exception 'product review % not found', review_id using errcode = 'PT404';
  end if;
  return r;
end
$$;
comment on function private.moderate_product_review(uuid, boolean, text) is
  'The body of the client RPC public.moderate_product_review: security definer, in private so the API does not expose it.';
revoke execute on function private.moderate_product_review(uuid, boolean, text) from public;
grant execute on function private.moderate_product_review(uuid, boolean, text) to authenticated, service_role;

create function public.moderate_product_review(review_id uuid, hidden boolean, reason text default null)
returns public.product_reviews
language sql
security invoker
set search_path = ''
as $$
  select private.moderate_product_review(review_id, hidden, reason)
$$;
comment on function public.moderate_product_review(uuid, boolean, text) is
  'Hides (with a reason) or restores a product review; hidden reviews leave the product''s and the shop''s aggregates. content.moderate or the service role.';
revoke execute on function public.moderate_product_review(uuid, boolean, text) from public;
grant execute on function public.moderate_product_review(uuid, boolean, text) to authenticated, service_role;

create trigger product_reviews_audit_moderation
  after update of is_hidden on public.product_reviews
  for each row execute function private.audit_row_change('id', 'id', 'product_id', 'shop_id', 'is_hidden', 'hidden_by', 'hidden_reason');
create trigger product_reviews_audit_delete
  after delete on public.product_reviews
  for each row execute function private.audit_row_change('id', 'id', 'product_id', 'shop_id', 'rating', 'is_hidden');

-- The shop's seller hears about a new review of one of their products.
create function private.announce_product_review() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.emit_event('product_review.created', 'product_review', new.id, array[new.shop_id],
    jsonb_build_object('product_id', new.product_id, 'rating', new.rating), new.author_id);
  return null;
end
$$;
comment on function private.announce_product_review() is 'Trigger: emits product_review.created to the shop''s seller.';

create trigger product_reviews_announce after insert on public.product_reviews
  for each row execute function private.announce_product_review();

-- ======================================================================================
-- supabase/schemas/50_commerce/95_shop_profiles.sql
-- ======================================================================================

-- The public shop profile (001 GET /sellers/:id): a read model over public.shops with the
-- aggregates the other features keep. security_invoker, so the shops policies decide which
-- rows a caller sees: anon and every signed-in user the active shops, a seller also their
-- own inactive one, sellers.review holders every shop. Nothing here is stored twice:
--
--   rating_avg, review_count  shops' columns, kept by the product reviews (92_product_reviews.sql)
--   follower_count            shops' column, kept by the follows (90_follows.sql)
--   product_count             counted here: the shop's active products
--   logo_path                 the logo's object in the public avatars bucket, under the seller's
--                             folder (shops_logo_path_owned); its URL is
--                             supabase.storage.from('avatars').getPublicUrl(logo_path)
--
--   read: supabase.from('shop_profiles').select().eq('id', sellerId).maybeSingle()

create view public.shop_profiles with (security_invoker = true) as
select s.id,
       s.shop_name,
       s.description,
       s.category,
       s.logo_path,
       s.rating_avg,
       s.review_count,
       s.follower_count,
       (select count(*)::integer from public.products p where p.shop_id = s.id and p.status = 'active') as product_count,
       s.is_active,
       s.created_at
  from public.shops s;

comment on view public.shop_profiles is
  '001 GET /sellers/:id: a shop''s public profile with its rating (product reviews), review, follower and active product counts; rows as the shops policies allow (anon: active shops).';
comment on column public.shop_profiles.logo_path is
  'The logo in the public avatars bucket (<seller id>/...): supabase.storage.from(''avatars'').getPublicUrl(logo_path).';
comment on column public.shop_profiles.rating_avg is
  'The mean of the visible product reviews of the shop''s products (each review counts once), 2 decimals; null without reviews.';
comment on column public.shop_profiles.product_count is 'The shop''s active products.';

revoke all on public.shop_profiles from anon, authenticated;
grant select on public.shop_profiles to anon, authenticated, service_role;
