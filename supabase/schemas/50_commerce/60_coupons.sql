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
