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
