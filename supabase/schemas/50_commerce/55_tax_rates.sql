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
