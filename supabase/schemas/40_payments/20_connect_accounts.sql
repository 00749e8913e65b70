-- Sellers' Stripe Connect (Express) accounts: where released escrow is transferred. The
-- payments-onboard function creates the account once per user and records it here;
-- account.updated webhooks keep its capabilities current, newest event wins. An order is
-- paid only while its seller can receive transfers.

create table public.seller_payment_accounts (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  stripe_account_id text not null constraint seller_payment_accounts_stripe_id_unique unique
    constraint seller_payment_accounts_stripe_id_format check (stripe_account_id ~ '^acct_[A-Za-z0-9]+$'),
  charges_enabled boolean not null default false,
  payouts_enabled boolean not null default false,
  details_submitted boolean not null default false,
  -- capabilities.transfers = 'active' (or, for an account object without capabilities,
  -- charges_enabled): Stripe accepts transfers to the account.
  transfers_active boolean not null default false,
  can_receive_transfers boolean generated always as (transfers_active and payouts_enabled) stored,
  requirements jsonb not null default '{}' constraint seller_payment_accounts_requirements_object check (jsonb_typeof(requirements) = 'object'),
  country text,
  default_currency text,
  -- event.created of the account.updated event last applied; older events are ignored.
  stripe_updated_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.seller_payment_accounts is
  'A seller''s Stripe Express account (one per user, created by payments-onboard) and what Stripe last said it can do. Written by functions only.';
comment on column public.seller_payment_accounts.can_receive_transfers is
  'Transfers capability active and payouts enabled: an order of this seller may be paid.';
comment on column public.seller_payment_accounts.requirements is
  'Stripe''s account.requirements (currently_due, past_due, disabled_reason, ...) as last reported.';

create trigger seller_payment_accounts_touch_updated_at before update on public.seller_payment_accounts
  for each row execute function private.touch_updated_at();

alter table public.seller_payment_accounts enable row level security;
grant select on public.seller_payment_accounts to authenticated, service_role;
create policy "Sellers read their payment account; managers read all" on public.seller_payment_accounts for select to authenticated
  using (user_id = (select auth.uid()) or (select private.has_permission('marketplace.manage')));

-- ---------------------------------------------------------------------------------------
-- Onboarding (payments-onboard): what we know of the caller's account, then the account the
-- function created recorded once. A second account for the same user is never stored: the
-- function's idempotency key (account:<user id>) makes Stripe return the first.

create function ops.seller_payment_account(acting_user uuid) returns public.seller_payment_accounts
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  account public.seller_payment_accounts;
begin
  if not exists (select 1 from public.profiles p where p.id = acting_user) then
    raise exception 'user % not found', acting_user using errcode = 'PT404';
  end if;
  select * into account from public.seller_payment_accounts a where a.user_id = acting_user;
  return account; -- all nulls when there is none yet
end
$$;
comment on function ops.seller_payment_account(uuid) is
  'The acting user''s Stripe account row, or a row of nulls. Service role only (payments-onboard).';

create function ops.register_payment_account(acting_user uuid, stripe_account_id text, account jsonb default '{}')
returns public.seller_payment_accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  stored public.seller_payment_accounts;
begin
  if not exists (select 1 from public.profiles p where p.id = acting_user) then
    raise exception 'user % not found', acting_user using errcode = 'PT404';
  end if;
  if stripe_account_id is null or stripe_account_id !~ '^acct_[A-Za-z0-9]+$' then
    raise exception 'not a Stripe account id: %', coalesce(stripe_account_id, 'null') using errcode = '22023';
  end if;
  insert into public.seller_payment_accounts (user_id, stripe_account_id, charges_enabled, payouts_enabled, details_submitted,
                                              transfers_active, requirements, country, default_currency)
  values (acting_user, stripe_account_id, coalesce((account ->> 'charges_enabled')::boolean, false),
          coalesce((account ->> 'payouts_enabled')::boolean, false), coalesce((account ->> 'details_submitted')::boolean, false),
          coalesce(account #>> '{capabilities,transfers}' = 'active', false),
          coalesce(account -> 'requirements', '{}'), account ->> 'country', upper(account ->> 'default_currency'))
  on conflict (user_id) do nothing;
  select * into stored from public.seller_payment_accounts a where a.user_id = acting_user;
  if stored.stripe_account_id <> stripe_account_id then
    raise exception 'user % already has Stripe account %', acting_user, stored.stripe_account_id using errcode = '23505';
  end if;
  return stored;
end
$$;
comment on function ops.register_payment_account(uuid, text, jsonb) is
  'Records the Stripe account payments-onboard created for the acting user; once per user (a different id: 23505). Service role only.';

-- account.updated: applies Stripe's view of an account unless a newer event already has.
create function private.apply_account_update(account jsonb, event_created timestamptz) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  updated boolean;
begin
  update public.seller_payment_accounts a set
    charges_enabled = coalesce((account ->> 'charges_enabled')::boolean, false),
    payouts_enabled = coalesce((account ->> 'payouts_enabled')::boolean, false),
    details_submitted = coalesce((account ->> 'details_submitted')::boolean, a.details_submitted),
    transfers_active = case when account ? 'capabilities' then coalesce(account #>> '{capabilities,transfers}' = 'active', false)
                            else coalesce((account ->> 'charges_enabled')::boolean, false) end,
    requirements = coalesce(account -> 'requirements', '{}'),
    country = coalesce(account ->> 'country', a.country),
    default_currency = coalesce(upper(account ->> 'default_currency'), a.default_currency),
    stripe_updated_at = event_created
  where a.stripe_account_id = account ->> 'id'
    and (a.stripe_updated_at is null or a.stripe_updated_at <= event_created)
  returning true into updated;
  return coalesce(updated, false);
end
$$;
comment on function private.apply_account_update(jsonb, timestamptz) is
  'Applies an account.updated event''s account object unless a newer event was applied; true when applied.';

revoke execute on function ops.seller_payment_account(uuid), ops.register_payment_account(uuid, text, jsonb) from public;
grant execute on function ops.seller_payment_account(uuid), ops.register_payment_account(uuid, text, jsonb),
  private.apply_account_update(jsonb, timestamptz) to service_role;
