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
