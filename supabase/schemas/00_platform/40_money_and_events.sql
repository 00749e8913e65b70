-- What every domain that moves money or tells users about changes shares: the currencies
-- amounts are quoted in (integer minor units, never floats) and the outbox of domain events
-- that notifications are built from.

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

-- ---------------------------------------------------------------------------------------
-- Domain events: an outbox written in the same transaction as the change it reports, read
-- by the notifications feature. Not exposed through the API.

create table private.domain_events (
  id bigint generated always as identity primary key,
  event_type text not null constraint domain_events_type_format check (event_type ~ '^[a-z_]+\.[a-z_]+$'),
  subject_type text not null,
  subject_id uuid not null,
  actor_id uuid,
  recipients uuid[] not null default '{}',
  payload jsonb not null default '{}',
  created_at timestamptz not null default now(),
  processed_at timestamptz
);
comment on table private.domain_events is
  'Outbox of domain events (bid.accepted, order.delivered, ...) with the users to notify; consumed by notifications.';
create index domain_events_unprocessed_idx on private.domain_events (id) where processed_at is null;
create index domain_events_subject_idx on private.domain_events (subject_type, subject_id);
grant select, update (processed_at) on private.domain_events to service_role;

create function private.emit_event(
  event_type text, subject_type text, subject_id uuid, recipients uuid[], payload jsonb default '{}', actor uuid default auth.uid()
) returns void
language sql
security definer
set search_path = ''
as $$
  insert into private.domain_events (event_type, subject_type, subject_id, actor_id, recipients, payload)
  values (event_type, subject_type, subject_id, actor,
          array(select distinct r from unnest(recipients) r where r is not null and r is distinct from actor),
          coalesce(payload, '{}'))
$$;
comment on function private.emit_event(text, text, uuid, uuid[], jsonb, uuid) is
  'Records a domain event in the outbox, in the caller''s transaction, for the given recipients (never the actor).';
