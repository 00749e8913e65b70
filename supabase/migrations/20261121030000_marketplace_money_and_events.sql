-- What every marketplace deal shares: the currencies amounts are quoted in (integer minor
-- units, never floats), the commission rate in force, the marketplace.manage permission,
-- and the outbox of domain events that notifications are built from.

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

insert into public.currencies (code, minor_units, max_amount, name) values
  ('USD', 2, 99999999, 'US dollar'),
  ('EUR', 2, 99999999, 'Euro'),
  ('GBP', 2, 99999999, 'Pound sterling'),
  ('CAD', 2, 99999999, 'Canadian dollar'),
  ('AUD', 2, 99999999, 'Australian dollar'),
  ('NZD', 2, 99999999, 'New Zealand dollar'),
  ('CHF', 2, 99999999, 'Swiss franc'),
  ('SEK', 2, 99999999, 'Swedish krona'),
  ('NOK', 2, 99999999, 'Norwegian krone'),
  ('DKK', 2, 99999999, 'Danish krone'),
  ('PLN', 2, 99999999, 'Polish zloty'),
  ('SGD', 2, 99999999, 'Singapore dollar'),
  ('HKD', 2, 99999999, 'Hong Kong dollar'),
  ('INR', 2, 99999999, 'Indian rupee'),
  ('MXN', 2, 99999999, 'Mexican peso'),
  ('BRL', 2, 99999999, 'Brazilian real'),
  ('JPY', 0, 99999999, 'Japanese yen'),
  ('KRW', 0, 99999999, 'South Korean won');

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
-- The platform's commission, snapshotted onto each order when it is created.

insert into public.platform_settings (key, value) values ('commission_rate_bps', '1000');
alter table public.platform_settings add constraint platform_settings_commission_rate
  check (key <> 'commission_rate_bps' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 0 and 5000
         and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric)));
comment on constraint platform_settings_commission_rate on public.platform_settings is
  'commission_rate_bps: the platform''s share of an order in basis points (1000 = 10%), 0 to 50%.';

create function private.commission_rate_bps() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce((select (value #>> '{}')::integer from public.platform_settings where key = 'commission_rate_bps'), 1000)
$$;
comment on function private.commission_rate_bps() is 'The commission rate in force, in basis points.';

-- ---------------------------------------------------------------------------------------
-- Who runs the marketplace: sees every project, bid and order, cancels and resolves.

insert into public.permissions (code, description) values
  ('marketplace.manage', 'See every project, bid and order; cancel orders and resolve disputes');
insert into public.role_permissions (role_id, permission)
select id, 'marketplace.manage' from public.roles where name = 'admin';

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
