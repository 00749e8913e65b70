-- Shipping addresses (001): owner-only, at most one default per user, country codes
-- validated against ISO 3166-1 alpha-2.

create table public.countries (
  code char(2) primary key constraint countries_code_format check (code ~ '^[A-Z]{2}$')
);
comment on table public.countries is 'ISO 3166-1 alpha-2 country codes accepted in addresses.';

alter table public.countries enable row level security;
grant select on public.countries to anon, authenticated, service_role;
create policy "Anyone reads the country list" on public.countries for select to anon, authenticated using (true);

create table public.addresses (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  label text not null default '' constraint addresses_label_length check (char_length(label) <= 40),
  full_name text not null constraint addresses_full_name_present check (char_length(trim(full_name)) between 1 and 120),
  address_line1 text not null constraint addresses_line1_present check (char_length(trim(address_line1)) between 1 and 200),
  address_line2 text not null default '' constraint addresses_line2_length check (char_length(address_line2) <= 200),
  city text not null constraint addresses_city_present check (char_length(trim(city)) between 1 and 100),
  region text not null default '' constraint addresses_region_length check (char_length(region) <= 100),
  postal_code text not null default '' constraint addresses_postal_code_format check (postal_code ~ '^[A-Za-z0-9 -]{0,12}$'),
  country_code char(2) not null references public.countries (code),
  phone text constraint addresses_phone_e164 check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  is_default boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.addresses is 'Shipping and return addresses; only their owner sees or changes them.';
comment on column public.addresses.is_default is 'At most one default per user (addresses_one_default_per_user); set_default_address() swaps atomically.';

create index addresses_user_id_idx on public.addresses (user_id);
create unique index addresses_one_default_per_user on public.addresses (user_id) where is_default;

create trigger addresses_touch_updated_at
  before update on public.addresses
  for each row execute function private.touch_updated_at();

alter table public.addresses enable row level security;
grant select, delete on public.addresses to authenticated;
grant insert (label, full_name, address_line1, address_line2, city, region, postal_code, country_code, phone, is_default),
      update (label, full_name, address_line1, address_line2, city, region, postal_code, country_code, phone, is_default)
  on public.addresses to authenticated;
grant all on public.addresses to service_role;

create policy "Owners read their addresses"
  on public.addresses for select to authenticated using (user_id = (select auth.uid()));
create policy "Owners add addresses"
  on public.addresses for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Owners update their addresses"
  on public.addresses for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Owners delete their addresses"
  on public.addresses for delete to authenticated using (user_id = (select auth.uid()));

-- Make one address the default in one statement's worth of locking, so two concurrent
-- calls cannot leave two defaults or none.
create function public.set_default_address(address_id uuid) returns public.addresses
language plpgsql
set search_path = ''
as $$
declare
  result public.addresses;
begin
  perform 1 from public.addresses where user_id = auth.uid() for update;
  if not exists (select 1 from public.addresses where id = address_id and user_id = auth.uid()) then
    raise exception 'address % not found', address_id using errcode = 'PT404';
  end if;
  update public.addresses set is_default = false where user_id = auth.uid() and is_default and id <> address_id;
  update public.addresses set is_default = true where id = address_id returning * into result;
  return result;
end
$$;
comment on function public.set_default_address(uuid) is 'Makes the caller''s address the default, clearing the previous one atomically.';
grant execute on function public.set_default_address(uuid) to authenticated;
