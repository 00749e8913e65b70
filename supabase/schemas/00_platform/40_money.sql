-- Money, as every domain that prices something quotes it: a currency from the currencies
-- table and an amount in integer minor units, never floats.

-- ---------------------------------------------------------------------------------------
-- Currencies: the ISO 4217 codes we price in, with their minor-unit exponent and the
-- largest amount one deal may carry (Stripe's per-charge limit for most currencies).

create table public.currencies (
  code text primary key constraint currencies_code_format check (code ~ '^[A-Z]{3}$'),
  minor_units smallint not null constraint currencies_minor_units_range check (minor_units between 0 and 3),
  max_amount bigint not null constraint currencies_max_amount_positive check (max_amount > 0),
  name text not null
);
comment on table public.currencies is 'Currencies amounts may be quoted in. Amounts are bigint minor units (cents for USD, yen for JPY).';
comment on column public.currencies.max_amount is 'Largest amount, in minor units, one project, bid, package or order may carry.';

alter table public.currencies enable row level security;
grant select on public.currencies to anon, authenticated;
grant all on public.currencies to service_role;
create policy "Anyone reads currencies" on public.currencies for select to anon, authenticated using (true);

-- Checks an amount against its currency with a message a client can show; triggers call it
-- so that a bad amount fails before any constraint does, with 22023 and a precise message.
create function private.assert_money(amount bigint, currency text, what text default 'amount')
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  limit_amount bigint;
begin
  if currency is null then
    raise exception '% needs a currency', what using errcode = '22023';
  end if;
  select c.max_amount into limit_amount from public.currencies c where c.code = currency;
  if not found then
    raise exception 'currency % is not supported (see the currencies table)', currency using errcode = '22023';
  end if;
  if amount is null or amount <= 0 then
    raise exception '% must be a positive whole number of minor units of %, not %', what, currency, coalesce(amount::text, 'null')
      using errcode = '22023';
  end if;
  if amount > limit_amount then
    raise exception '% % exceeds the maximum of % minor units of %', what, amount, limit_amount, currency
      using errcode = '22023';
  end if;
end
$$;
comment on function private.assert_money(bigint, text, text) is
  'Raises 22023 with a precise message unless amount is a positive number of minor units within the currency''s limit.';
grant execute on function private.assert_money(bigint, text, text) to authenticated, service_role;
