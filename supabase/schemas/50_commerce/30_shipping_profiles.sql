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
