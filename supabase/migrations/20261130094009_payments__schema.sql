-- The payments domain's schema at the rebaseline: every file of supabase/schemas/40_payments/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/40_payments/10_ledger.sql
-- ======================================================================================

-- The book (DESIGN principle 4): a double-entry ledger in integer minor units. Every money
-- movement is one transaction of two or more entries whose amounts sum to zero per
-- currency; nothing posted is ever changed or removed; balances are sums of entries.
-- Stripe is the processor and this is the book: payments_reconciliation() compares the two.
--
-- Sign convention: an entry's amount is what moves INTO its account (positive) or OUT of it
-- (negative), so an account's balance is the money that sits there:
--
--   buyer_funding (order)        where a buyer's money comes from: -captured +nothing
--   escrow (order)               what the platform holds for an order
--   refunds (order)              what went back to the buyer
--   chargebacks (order)          what card networks took back (Stripe disputes)
--   seller_payable (seller)      released to the seller, not yet transferred
--   seller_transfers (seller)    transferred to the seller's connected account (net of reversals)
--   platform_commission          the platform's revenue (commission, less what it bears)
--   stripe_fees                  Stripe's processing fees, paid from the commission
--
-- Writers: post_ledger_transaction (the only one that inserts), post_transfer (a two-legged
-- rule, from -> to) and post_refund (50_release_refund_dispute.sql). Which action or Stripe
-- event posts what, with its key, legs and reconciliation check: docs/payments/ledger-postings.md.

-- ---------------------------------------------------------------------------------------
-- Accounts

create table public.ledger_accounts (
  id bigint generated always as identity primary key,
  kind text not null constraint ledger_accounts_kind check (kind in (
    'buyer_funding', 'escrow', 'refunds', 'chargebacks', 'seller_payable', 'seller_transfers',
    'platform_commission', 'stripe_fees')),
  currency text not null references public.currencies (code),
  -- Per-order accounts. Financial history outlives everything: an order with postings
  -- cannot be deleted.
  order_id uuid references public.orders (id) on delete restrict,
  -- Per-seller accounts. Kept without a foreign key: the book outlives a deleted account.
  user_id uuid,
  created_at timestamptz not null default now(),
  constraint ledger_accounts_scope check (case
    when kind in ('buyer_funding', 'escrow', 'refunds', 'chargebacks') then order_id is not null and user_id is null
    when kind in ('seller_payable', 'seller_transfers') then user_id is not null and order_id is null
    else order_id is null and user_id is null end),
  constraint ledger_accounts_unique unique nulls not distinct (kind, currency, order_id, user_id)
);
comment on table public.ledger_accounts is
  'Ledger accounts: per order (buyer_funding, escrow, refunds, chargebacks), per seller (seller_payable, seller_transfers) and the platform''s (platform_commission, stripe_fees), one per currency. Created by private.ledger_account() only.';
create index ledger_accounts_order_idx on public.ledger_accounts (order_id) where order_id is not null;
create index ledger_accounts_user_idx on public.ledger_accounts (user_id) where user_id is not null;

create table public.ledger_transactions (
  id bigint generated always as identity primary key,
  idempotency_key text not null constraint ledger_transactions_key_unique unique
    constraint ledger_transactions_key_format check (char_length(idempotency_key) between 1 and 200),
  description text not null constraint ledger_transactions_description_length check (char_length(description) between 1 and 500),
  order_id uuid references public.orders (id) on delete restrict,
  -- md5 of the normalised entries: a repeated posting must carry exactly the same ones.
  entries_digest text not null,
  posted_at timestamptz not null default now()
);
comment on table public.ledger_transactions is
  'Balanced postings, one per money movement, identified by an idempotency key derived from our ids (payment:<order>, release:<order>, refund:<refund>, ...). Append-only.';
create index ledger_transactions_order_idx on public.ledger_transactions (order_id) where order_id is not null;
-- Subscription refund postings are also indexed by their invoice id, beside the key format they
-- read: ledger_transactions_subscription_refund_invoice_idx (60_billing/70_stripe_billing.sql).

create table public.ledger_entries (
  id bigint generated always as identity primary key,
  transaction_id bigint not null references public.ledger_transactions (id) on delete restrict,
  account_id bigint not null references public.ledger_accounts (id) on delete restrict,
  amount bigint not null constraint ledger_entries_amount_nonzero check (amount <> 0),
  currency text not null references public.currencies (code),
  created_at timestamptz not null default now()
);
comment on table public.ledger_entries is
  'The lines of ledger transactions, in minor units of the account''s currency: positive moves money into the account, negative out of it. Append-only.';
create index ledger_entries_transaction_idx on public.ledger_entries (transaction_id);
create index ledger_entries_account_idx on public.ledger_entries (account_id, id);

-- ---------------------------------------------------------------------------------------
-- Invariants: entries in their account's currency; every transaction balanced per currency
-- with at least two entries (checked at commit, once all its entries are in); nothing
-- posted changes, whoever asks (triggers bind postgres and service_role too).

create function private.ledger_entry_currency() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.currency is distinct from (select a.currency from public.ledger_accounts a where a.id = new.account_id) then
    raise exception 'ledger entry in % on an account kept in another currency', new.currency using errcode = '22023';
  end if;
  return new;
end
$$;
create trigger ledger_entries_currency before insert on public.ledger_entries
  for each row execute function private.ledger_entry_currency();

create function private.ledger_transaction_balanced() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  tx bigint;
  unbalanced text;
begin
  if tg_table_name = 'ledger_transactions' then
    tx := new.id;
  else
    tx := new.transaction_id;
  end if;
  if (select count(*) from public.ledger_entries e where e.transaction_id = tx) < 2 then
    raise exception 'ledger transaction % needs at least two entries', tx using errcode = '23514';
  end if;
  select e.currency into unbalanced from public.ledger_entries e where e.transaction_id = tx
   group by e.currency having sum(e.amount) <> 0 limit 1;
  if unbalanced is not null then
    raise exception 'ledger transaction % does not balance in %', tx, unbalanced using errcode = '23514';
  end if;
  return null;
end
$$;
create constraint trigger ledger_transactions_balanced after insert on public.ledger_transactions
  deferrable initially deferred for each row execute function private.ledger_transaction_balanced();
create constraint trigger ledger_entries_balanced after insert on public.ledger_entries
  deferrable initially deferred for each row execute function private.ledger_transaction_balanced();

-- Refuses any change to a record table, for every role, saying why (the trigger's argument).
create function private.append_only() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  raise exception '% is append-only: %', tg_table_name, tg_argv[0] using errcode = '42501';
end
$$;
comment on function private.append_only() is
  'Trigger: refuses update, delete and truncate on a record table with 42501 and the reason given as its argument.';
create trigger ledger_accounts_append_only before update or delete on public.ledger_accounts
  for each row execute function private.append_only('posted ledger records are never changed or removed (post a correcting transaction)');
create trigger ledger_accounts_no_truncate before truncate on public.ledger_accounts
  for each statement execute function private.append_only('posted ledger records are never changed or removed (post a correcting transaction)');
create trigger ledger_transactions_append_only before update or delete on public.ledger_transactions
  for each row execute function private.append_only('posted ledger records are never changed or removed (post a correcting transaction)');
create trigger ledger_transactions_no_truncate before truncate on public.ledger_transactions
  for each statement execute function private.append_only('posted ledger records are never changed or removed (post a correcting transaction)');
create trigger ledger_entries_append_only before update or delete on public.ledger_entries
  for each row execute function private.append_only('posted ledger records are never changed or removed (post a correcting transaction)');
create trigger ledger_entries_no_truncate before truncate on public.ledger_entries
  for each statement execute function private.append_only('posted ledger records are never changed or removed (post a correcting transaction)');

-- ---------------------------------------------------------------------------------------
-- Posting

-- The account of a kind for an order, a seller or the platform, created on first use.
create function private.ledger_account(kind text, currency text, order_id uuid default null, user_id uuid default null)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  account bigint;
begin
  select a.id into account from public.ledger_accounts a
   where a.kind = ledger_account.kind and a.currency = ledger_account.currency
     and a.order_id is not distinct from ledger_account.order_id and a.user_id is not distinct from ledger_account.user_id;
  if account is null then
    insert into public.ledger_accounts (kind, currency, order_id, user_id)
    values (kind, currency, order_id, user_id)
    on conflict on constraint ledger_accounts_unique do nothing
    returning id into account;
    if account is null then -- created concurrently
      select a.id into account from public.ledger_accounts a
       where a.kind = ledger_account.kind and a.currency = ledger_account.currency
         and a.order_id is not distinct from ledger_account.order_id and a.user_id is not distinct from ledger_account.user_id;
    end if;
  end if;
  return account;
end
$$;
comment on function private.ledger_account(text, text, uuid, uuid) is 'The id of a ledger account, created on first use.';

-- Posts one balanced transaction. entries: [{"account_id": 1, "amount": 100}, ...]; entries
-- of amount 0 are dropped (a split whose part is nothing). Idempotent by key: the same key
-- with the same entries returns the transaction posted first; with other entries, 23505.
create function private.post_ledger_transaction(idempotency_key text, description text, order_id uuid, entries jsonb)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  normalised jsonb;
  digest text;
  tx bigint;
  existing_digest text;
begin
  if jsonb_typeof(entries) is distinct from 'array' then
    raise exception 'ledger entries must be a JSON array' using errcode = '22023';
  end if;
  select coalesce(jsonb_agg(jsonb_build_object('account_id', (e ->> 'account_id')::bigint, 'amount', (e ->> 'amount')::bigint)
                            order by (e ->> 'account_id')::bigint, (e ->> 'amount')::bigint), '[]')
    into normalised
    from jsonb_array_elements(entries) e
   where (e ->> 'amount')::bigint <> 0;
  if jsonb_array_length(normalised) < 2 then
    raise exception 'ledger transaction % needs at least two non-zero entries', idempotency_key using errcode = '22023';
  end if;
  digest := md5(normalised::text);

  insert into public.ledger_transactions (idempotency_key, description, order_id, entries_digest)
  values (idempotency_key, description, order_id, digest)
  on conflict on constraint ledger_transactions_key_unique do nothing
  returning id into tx;
  if tx is null then
    select t.id, t.entries_digest into tx, existing_digest from public.ledger_transactions t
     where t.idempotency_key = post_ledger_transaction.idempotency_key;
    if existing_digest <> digest then
      raise exception 'ledger transaction % was posted with other entries', idempotency_key using errcode = '23505';
    end if;
    return tx;
  end if;

  insert into public.ledger_entries (transaction_id, account_id, amount, currency)
  select tx, (e ->> 'account_id')::bigint, (e ->> 'amount')::bigint, a.currency
    from jsonb_array_elements(normalised) e
    join public.ledger_accounts a on a.id = (e ->> 'account_id')::bigint;
  if (select count(*) from public.ledger_entries le where le.transaction_id = tx) <> jsonb_array_length(normalised) then
    raise exception 'ledger transaction % names an account that does not exist', idempotency_key using errcode = '22023';
  end if;
  return tx;
end
$$;
comment on function private.post_ledger_transaction(text, text, uuid, jsonb) is
  'Posts a balanced transaction (balance checked at commit). Same key and entries: the first transaction''s id; same key, other entries: 23505.';

-- Most rules move one amount from one account to another: from_account is debited (its
-- entry is -amount: the money leaves it), to_account credited (+amount: the money arrives),
-- so a rule reads "from -> to, amount, key". Posted through post_ledger_transaction, with its
-- idempotency and digest checks: the same key and legs return the first transaction, the
-- same key with another amount or other accounts is refused (23505). Postings of three legs
-- (release, chargebacks, a refund after release) call post_ledger_transaction themselves.
create function private.post_transfer(idempotency_key text, description text, order_id uuid,
                                      from_account bigint, to_account bigint, amount bigint)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  if amount is null or amount <= 0 then
    raise exception 'ledger transfer % must move a positive amount, not %', idempotency_key, amount using errcode = '22023';
  end if;
  if from_account is null or to_account is null then
    raise exception 'ledger transfer % needs both a from and a to account', idempotency_key using errcode = '22023';
  end if;
  if from_account = to_account then
    raise exception 'ledger transfer % moves money from account % to itself', idempotency_key, from_account using errcode = '22023';
  end if;
  return private.post_ledger_transaction(idempotency_key, description, order_id, jsonb_build_array(
    jsonb_build_object('account_id', from_account, 'amount', -amount),
    jsonb_build_object('account_id', to_account, 'amount', amount)));
end
$$;
comment on function private.post_transfer(text, text, uuid, bigint, bigint, bigint) is
  'Posts a two-legged transaction: amount (> 0) out of from_account (-amount) into to_account (+amount), through post_ledger_transaction (same idempotency and digest checks).';

-- ---------------------------------------------------------------------------------------
-- Balances: always derived from entries.

create view public.ledger_balances with (security_invoker = true) as
  select a.id as account_id, a.kind, a.currency, a.order_id, a.user_id,
         coalesce(sum(e.amount), 0)::bigint as balance, count(e.id)::integer as entry_count
    from public.ledger_accounts a
    left join public.ledger_entries e on e.account_id = a.id
   group by a.id;
comment on view public.ledger_balances is 'Each ledger account''s balance: the sum of its entries, as the caller may read them.';

create function private.ledger_balance(kind text, currency text, order_id uuid default null, user_id uuid default null)
returns bigint
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(sum(e.amount), 0)::bigint
    from public.ledger_accounts a join public.ledger_entries e on e.account_id = a.id
   where a.kind = ledger_balance.kind and a.currency = ledger_balance.currency
     and a.order_id is not distinct from ledger_balance.order_id and a.user_id is not distinct from ledger_balance.user_id
$$;
comment on function private.ledger_balance(text, text, uuid, uuid) is 'The balance of one account, summed from its entries (0 if it has none).';

grant execute on function private.ledger_account(text, text, uuid, uuid),
  private.post_ledger_transaction(text, text, uuid, jsonb),
  private.post_transfer(text, text, uuid, bigint, bigint, bigint),
  private.ledger_balance(text, text, uuid, uuid) to service_role;

-- ---------------------------------------------------------------------------------------
-- Who reads the book: a party reads the accounts of their own orders (escrow, funding,
-- refunds, chargebacks) and their own seller accounts; marketplace managers read it all.
-- Nobody writes through the API: no insert, update or delete is granted to any API role.

create function private.can_read_ledger_account(account_id bigint) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.ledger_accounts a
     where a.id = account_id
       and (a.user_id = (select auth.uid())
            or exists (select 1 from public.orders o where o.id = a.order_id
                          and (o.buyer_id = (select auth.uid()) or o.seller_id = (select auth.uid())))))
    or private.has_permission('marketplace.manage')
$$;
comment on function private.can_read_ledger_account(bigint) is
  'Whether the caller may read a ledger account: their own seller accounts, the accounts of orders they are party to, or everything with marketplace.manage.';
grant execute on function private.can_read_ledger_account(bigint) to authenticated;

alter table public.ledger_accounts enable row level security;
alter table public.ledger_transactions enable row level security;
alter table public.ledger_entries enable row level security;
grant select on public.ledger_accounts, public.ledger_transactions, public.ledger_entries to authenticated, service_role;
grant select on public.ledger_balances to authenticated, service_role;

create policy "Parties read their ledger accounts; managers read all" on public.ledger_accounts for select to authenticated
  using ((select private.has_permission('marketplace.manage')) or user_id = (select auth.uid())
         or exists (select 1 from public.orders o where o.id = order_id
                       and (o.buyer_id = (select auth.uid()) or o.seller_id = (select auth.uid()))));
create policy "Parties read entries on their ledger accounts; managers read all" on public.ledger_entries for select to authenticated
  using (private.can_read_ledger_account(account_id));
create policy "Parties read their orders' ledger transactions; managers read all" on public.ledger_transactions for select to authenticated
  using ((select private.has_permission('marketplace.manage'))
         or exists (select 1 from public.orders o where o.id = order_id
                       and (o.buyer_id = (select auth.uid()) or o.seller_id = (select auth.uid()))));

-- ======================================================================================
-- supabase/schemas/40_payments/20_connect_accounts.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/40_payments/30_escrow.sql
-- ======================================================================================

-- Escrow (000 GET /payments/:orderId): one payment row per order, the money's side of the
-- order. The platform charges the buyer (separate charges and transfers: one transfer_group
-- per order), holds the funds, and on release transfers the seller's share to their
-- connected account, keeping the commission snapshotted on the order.
--
-- Its status is derived from its amounts, which only grow, so it never moves backwards:
--
--   pending (nothing captured) -> held (captured) -> released (transferred)
--   held | released -> partially_refunded -> refunded (refunded = captured)
--   disputed: a freeze over any of these while the buyer's dispute or a Stripe chargeback
--             is open; release and refunds wait for it
--
-- Amounts and status change only through the functions of the payments schema files (security
-- definer, run by the service role); no API role may write the table.

create table public.payments (
  order_id uuid primary key references public.orders (id) on delete restrict,
  buyer_id uuid,
  seller_id uuid,
  currency text not null references public.currencies (code),
  amount bigint not null constraint payments_amount_positive check (amount > 0),
  commission_rate_bps integer not null constraint payments_commission_range check (commission_rate_bps between 0 and 10000),
  status text not null default 'pending' constraint payments_status check (status in (
    'pending', 'held', 'released', 'partially_refunded', 'refunded', 'disputed')),
  -- Freezes: the buyer's dispute (public.disputes) and an open Stripe chargeback.
  dispute_open boolean not null default false,
  chargeback_open boolean not null default false,
  -- Money, in minor units; each only grows.
  amount_captured bigint not null default 0 constraint payments_captured_range check (amount_captured >= 0),
  amount_refunded bigint not null default 0 constraint payments_refunded_range check (amount_refunded between 0 and amount_captured),
  amount_transferred bigint not null default 0 constraint payments_transferred_range check (amount_transferred >= 0),
  amount_reversed bigint not null default 0 constraint payments_reversed_range check (amount_reversed between 0 and amount_transferred),
  amount_charged_back bigint not null default 0 constraint payments_charged_back_range check (amount_charged_back >= 0),
  commission_amount bigint constraint payments_commission_amount_range check (commission_amount >= 0),
  -- The transfer a release claimed: what the seller receives (releasable less commission).
  release_amount bigint constraint payments_release_amount_positive check (release_amount > 0),
  -- Stripe objects.
  transfer_group text not null,
  payment_mode text constraint payments_mode check (payment_mode in ('checkout', 'payment_intent')),
  checkout_attempt integer not null default 0,
  stripe_checkout_session_id text,
  checkout_url text,
  checkout_expires_at timestamptz,
  stripe_payment_intent_id text constraint payments_payment_intent_unique unique,
  stripe_charge_id text constraint payments_charge_unique unique,
  stripe_transfer_id text constraint payments_transfer_unique unique,
  transfer_destination text,
  -- Release: claimed (a Stripe transfer is being made) and done.
  release_claimed_at timestamptz,
  release_due_at timestamptz,
  paid_at timestamptz,
  released_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.payments is
  'Escrow per order: what the buyer paid, refunds, the transfer to the seller, freezes, and the Stripe ids. Status is derived from the amounts; written by payment functions only.';
comment on column public.payments.transfer_group is 'Stripe transfer_group for the order''s charge and transfer: order_<order id>.';
comment on column public.payments.release_claimed_at is
  'When a release started (a Stripe transfer with key transfer:<order id> is in flight). A claim older than a minute may be retried with the same key.';
comment on column public.payments.release_due_at is 'When the order became due for an automatic release (auto-release job).';
create index payments_buyer_idx on public.payments (buyer_id);
create index payments_seller_idx on public.payments (seller_id);
create index payments_status_idx on public.payments (status);
create index payments_checkout_session_idx on public.payments (stripe_checkout_session_id) where stripe_checkout_session_id is not null;

create table public.payment_refunds (
  id uuid primary key default gen_random_uuid(),
  order_id uuid not null references public.payments (order_id) on delete restrict,
  amount bigint not null constraint payment_refunds_amount_positive check (amount > 0),
  -- The seller's share taken back from their transfer (0 before release).
  reversal_amount bigint not null default 0 constraint payment_refunds_reversal_range check (reversal_amount between 0 and amount),
  reason text not null constraint payment_refunds_reason_length check (char_length(reason) between 1 and 1000),
  -- requested: claimed, Stripe not yet answered; pending/succeeded/failed/canceled: Stripe's.
  status text not null default 'requested' constraint payment_refunds_status check (status in (
    'requested', 'pending', 'succeeded', 'failed', 'canceled')),
  source text not null default 'platform' constraint payment_refunds_source check (source in ('platform', 'stripe')),
  stripe_refund_id text constraint payment_refunds_stripe_id_unique unique,
  stripe_reversal_id text constraint payment_refunds_reversal_id_unique unique,
  reversal_recorded boolean not null default false,
  -- Claimed while the escrow still held the funds (true) or after the transfer (false).
  from_escrow boolean not null default true,
  requested_by uuid,
  claimed_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.payment_refunds is
  'Refunds of an order''s payment: by an admin, by policy (a paid order cancelled before delivery), by a dispute''s resolution, or made in Stripe directly (source stripe). Stripe keys: refund:<id>, reversal:<id>.';
create index payment_refunds_order_idx on public.payment_refunds (order_id, created_at);

create table public.payment_chargebacks (
  stripe_dispute_id text primary key,
  order_id uuid not null references public.payments (order_id) on delete restrict,
  amount bigint not null constraint payment_chargebacks_amount_positive check (amount > 0),
  currency text not null references public.currencies (code),
  reason text,
  status text not null,
  -- How the withdrawn amount was booked: from escrow, the rest borne by the platform.
  escrow_part bigint not null default 0,
  platform_part bigint not null default 0,
  closed boolean not null default false,
  stripe_updated_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.payment_chargebacks is
  'Stripe disputes (chargebacks) of an order''s charge: the disputed amount is frozen and booked to chargebacks until Stripe closes it.';
create index payment_chargebacks_order_idx on public.payment_chargebacks (order_id);

create table public.payment_history (
  id bigint generated always as identity primary key,
  order_id uuid not null references public.payments (order_id) on delete restrict,
  event text not null constraint payment_history_event_format check (event ~ '^[a-z_]+$'),
  from_status text,
  to_status text,
  amount bigint,
  stripe_object_id text,
  actor_id uuid,
  note text,
  created_at timestamptz not null default now()
);
comment on table public.payment_history is 'The escrow''s timeline: every status change and money event. Append-only, written by payment functions.';
create index payment_history_order_idx on public.payment_history (order_id, id);

create trigger payments_touch_updated_at before update on public.payments
  for each row execute function private.touch_updated_at();
create trigger payment_refunds_touch_updated_at before update on public.payment_refunds
  for each row execute function private.touch_updated_at();
create trigger payment_chargebacks_touch_updated_at before update on public.payment_chargebacks
  for each row execute function private.touch_updated_at();
create trigger payment_history_append_only before update or delete on public.payment_history
  for each row execute function private.append_only('the escrow''s history is only ever added to');

-- ---------------------------------------------------------------------------------------
-- The status, derived; amounts never shrink.

create function private.payment_status(p public.payments) returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when p.dispute_open or p.chargeback_open then 'disputed'
    when p.amount_captured = 0 then 'pending'
    when p.amount_refunded + p.amount_charged_back >= p.amount_captured then 'refunded'
    when p.amount_refunded > 0 then 'partially_refunded'
    when p.amount_transferred > 0 then 'released'
    else 'held' end
$$;
comment on function private.payment_status(public.payments) is 'An escrow''s status from its amounts and freezes.';

create function private.guard_payment() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' then
    if new.amount_captured < old.amount_captured or new.amount_refunded < old.amount_refunded
       or new.amount_transferred < old.amount_transferred or new.amount_reversed < old.amount_reversed
       or new.amount_charged_back < old.amount_charged_back then
      raise exception 'payment %: amounts never decrease', old.order_id using errcode = 'PT409';
    end if;
    if old.amount_captured > 0 and new.amount_captured <> old.amount_captured then
      raise exception 'payment %: the captured amount is recorded once', old.order_id using errcode = 'PT409';
    end if;
    if new.order_id <> old.order_id or new.currency <> old.currency or new.amount <> old.amount then
      raise exception 'payment %: its order, currency and amount are fixed', old.order_id using errcode = 'PT409';
    end if;
  end if;
  new.status := private.payment_status(new);
  return new;
end
$$;
create trigger payments_guard before insert or update on public.payments
  for each row execute function private.guard_payment();

create function private.payment_status_history() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' or new.status <> old.status then
    insert into public.payment_history (order_id, event, from_status, to_status)
    values (new.order_id, 'status_changed', case when tg_op = 'UPDATE' then old.status end, new.status);
    perform private.emit_event('payment.' || new.status, 'order', new.order_id, array[new.buyer_id, new.seller_id],
      jsonb_build_object('from_status', case when tg_op = 'UPDATE' then old.status end, 'to_status', new.status), null);
  end if;
  return null;
end
$$;
create trigger payments_status_history after insert or update on public.payments
  for each row execute function private.payment_status_history();

create function private.payment_note(order_id uuid, event text, amount bigint default null, stripe_object_id text default null,
                                     actor uuid default null, note text default null) returns void
language sql
security definer
set search_path = ''
as $$
  insert into public.payment_history (order_id, event, amount, stripe_object_id, actor_id, note)
  values (order_id, event, amount, stripe_object_id, actor, note)
$$;
comment on function private.payment_note(uuid, text, bigint, text, uuid, text) is 'Adds a money event to an escrow''s timeline.';

-- The order's payment row, created on first use with the order's price, currency and
-- commission snapshot, and locked for the caller's transaction.
create function private.lock_payment(order_id uuid) returns public.payments
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments;
  o public.orders;
begin
  -- Order first, then its payment, in every function: claim_release holds the order while it
  -- waits for the payment, and rows that reference the order (history, ledger) need a key
  -- share on it, so taking the payment first could deadlock.
  perform 1 from public.orders where id = lock_payment.order_id for update;
  select * into p from public.payments where payments.order_id = lock_payment.order_id for update;
  if found then
    return p;
  end if;
  select * into o from public.orders where id = lock_payment.order_id;
  if not found then
    raise exception 'order % not found', lock_payment.order_id using errcode = 'PT404';
  end if;
  insert into public.payments (order_id, buyer_id, seller_id, currency, amount, commission_rate_bps, transfer_group)
  values (o.id, o.buyer_id, o.seller_id, o.currency, o.price_amount, o.commission_rate_bps, 'order_' || o.id)
  on conflict on constraint payments_pkey do nothing;
  select * into p from public.payments where payments.order_id = lock_payment.order_id for update;
  return p;
end
$$;
comment on function private.lock_payment(uuid) is 'Locks an order''s escrow row, creating it (pending) from the order''s snapshot if needed.';

-- The commission on an amount at a rate, rounded half up.
create function private.commission_of(amount bigint, rate_bps integer) returns bigint
language sql
immutable
set search_path = ''
as $$
  select (amount * rate_bps + 5000) / 10000
$$;

grant execute on function private.payment_status(public.payments), private.payment_note(uuid, text, bigint, text, uuid, text),
  private.lock_payment(uuid), private.commission_of(bigint, integer) to service_role;

-- ---------------------------------------------------------------------------------------
-- Who reads escrow: both parties of the order and marketplace managers (through the order's
-- own policy); nobody writes through the API.

alter table public.payments enable row level security;
alter table public.payment_refunds enable row level security;
alter table public.payment_chargebacks enable row level security;
alter table public.payment_history enable row level security;
grant select on public.payments, public.payment_refunds, public.payment_chargebacks, public.payment_history
  to authenticated, service_role;

create policy "Readers of an order read its escrow" on public.payments for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));
create policy "Readers of an order read its refunds" on public.payment_refunds for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));
create policy "Readers of an order read its chargebacks" on public.payment_chargebacks for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));
create policy "Readers of an order read its escrow history" on public.payment_history for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));

-- The escrow state a client shows (000 GET /payments/:orderId): one row per order the
-- caller may read, with the amounts still refundable and releasable.
create view public.payment_status with (security_invoker = true) as
  select p.order_id, p.status, p.currency, p.amount, p.amount_captured, p.amount_refunded, p.amount_transferred,
         p.amount_reversed, p.amount_charged_back, p.commission_rate_bps, p.commission_amount,
         greatest(p.amount_captured - p.amount_refunded - p.amount_charged_back, 0) as amount_refundable,
         p.dispute_open, p.chargeback_open, p.paid_at, p.released_at, p.updated_at
    from public.payments p;
comment on view public.payment_status is 'Escrow state per order (pending, held, released, partially_refunded, refunded, disputed); history in payment_history.';
grant select on public.payment_status to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Account erasure waits for money the platform holds in escrow on the user's orders, as buyer
-- or seller (registered in private.erasure_blockers by the payments reference data): a
-- cancelled order may still hold the buyer's money until its refund is made.

create function private.escrow_blocking_erasure(user_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select string_agg(round(h.held::numeric / power(10::numeric, c.minor_units), c.minor_units::integer) || ' ' || h.currency,
                    ' and ' order by h.currency) || ' held in escrow'
    from (select o.currency, sum(b.balance) as held
            from public.orders o
            cross join lateral (select private.ledger_balance('escrow', o.currency, o.id) as balance) b
           where (o.buyer_id = escrow_blocking_erasure.user_id or o.seller_id = escrow_blocking_erasure.user_id)
             and b.balance > 0
           group by o.currency) h
    join public.currencies c on c.code = h.currency
$$;
comment on function private.escrow_blocking_erasure(uuid) is
  'Erasure check: what escrow holds on the user''s orders, per currency in major units (''150.00 EUR held in escrow''), or null.';
grant execute on function private.escrow_blocking_erasure(uuid) to service_role;

-- ======================================================================================
-- supabase/schemas/40_payments/40_stripe_events.sql
-- ======================================================================================

-- Stripe webhook events (DESIGN principle 5): the stripe-webhook function verifies the
-- signature on the raw body and hands the event to ops.process_stripe_event(), which
-- stores it by id and applies it in the same transaction. A duplicate delivery is
-- acknowledged and changes nothing; an event type we do not handle is stored and ignored;
-- events arriving out of order never move a payment, order, refund, chargeback or account
-- backwards (amounts only grow, terminal states stay, account data only from newer events).

create table public.stripe_events (
  id text primary key constraint stripe_events_id_format check (id ~ '^evt_[A-Za-z0-9_]+$'),
  type text not null constraint stripe_events_type_format check (type ~ '^[a-z_.]+$'),
  api_version text,
  livemode boolean not null default false,
  created timestamptz not null,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  outcome text
);
comment on table public.stripe_events is
  'Every Stripe event received, by id (duplicates are not stored twice), with what processing did with it. Read by marketplace managers.';
comment on column public.stripe_events.created is 'The event''s created time: the order in which Stripe''s view changed.';
comment on column public.stripe_events.outcome is 'applied, or ignored: <why> (unhandled type, unknown object, older than what we have, ...).';
create index stripe_events_type_idx on public.stripe_events (type, created);

alter table public.stripe_events enable row level security;
grant select on public.stripe_events to authenticated, service_role;
create policy "Marketplace managers read Stripe events" on public.stripe_events for select to authenticated
  using ((select private.has_permission('marketplace.manage')));

-- ---------------------------------------------------------------------------------------
-- Finding our payment for a Stripe object: by the order id we put in its metadata, checked
-- against the Stripe ids we recorded, else by those ids.

create function private.payment_for_stripe(order_hint text, payment_intent text, charge text) returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found_order uuid;
begin
  if payment_intent is not null then
    select p.order_id into found_order from public.payments p where p.stripe_payment_intent_id = payment_intent;
  end if;
  if found_order is null and charge is not null then
    select p.order_id into found_order from public.payments p where p.stripe_charge_id = charge;
  end if;
  if found_order is null and private.try_uuid(order_hint) is not null then
    select p.order_id into found_order from public.payments p
     where p.order_id = private.try_uuid(order_hint)
       and (payment_intent is null or p.stripe_payment_intent_id is null or p.stripe_payment_intent_id = payment_intent);
  end if;
  return found_order;
end
$$;

-- ---------------------------------------------------------------------------------------
-- A payment confirmed: escrow holds the funds, the order starts (record_order_payment).

create function private.record_capture(order_id uuid, payment_intent text, charge text, amount bigint, currency text)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
  o public.orders;
begin
  if p.amount_captured > 0 then
    -- A second confirmation of the same payment fills in what the first lacked.
    if payment_intent is not distinct from p.stripe_payment_intent_id or p.stripe_payment_intent_id is null then
      update public.payments set stripe_payment_intent_id = coalesce(payments.stripe_payment_intent_id, payment_intent),
                                 stripe_charge_id = coalesce(payments.stripe_charge_id, charge)
       where payments.order_id = p.order_id;
      return 'ignored: already captured';
    end if;
    perform private.payment_note(p.order_id, 'second_payment', amount, payment_intent, null,
      'another payment succeeded for an order already paid: refund it in Stripe');
    perform private.emit_event('payment.second_payment', 'order', p.order_id, '{}',
      jsonb_build_object('payment_intent', payment_intent, 'amount', amount), null);
    return 'ignored: order already paid by ' || p.stripe_payment_intent_id;
  end if;
  if upper(currency) is distinct from p.currency or amount is null or amount <= 0 then
    perform private.payment_note(p.order_id, 'payment_mismatch', amount, payment_intent, null,
      format('Stripe captured %s %s for an order of %s %s', amount, upper(currency), p.amount, p.currency));
    return 'ignored: currency or amount does not match the order';
  end if;

  update public.payments set amount_captured = record_capture.amount, paid_at = now(),
         stripe_payment_intent_id = coalesce(payments.stripe_payment_intent_id, payment_intent),
         stripe_charge_id = coalesce(payments.stripe_charge_id, charge)
   where payments.order_id = p.order_id;
  perform private.post_transfer('payment:' || p.order_id, 'Buyer payment held in escrow', p.order_id,
    private.ledger_account('buyer_funding', p.currency, p.order_id), private.ledger_account('escrow', p.currency, p.order_id), amount);
  perform private.payment_note(p.order_id, 'captured', amount, coalesce(charge, payment_intent));

  select * into o from public.orders where id = p.order_id;
  if o.status = 'awaiting_payment' and amount >= p.amount then
    perform ops.record_order_payment(o.id);
    return 'applied';
  end if;
  if amount < p.amount then
    perform private.payment_note(p.order_id, 'payment_mismatch', amount, payment_intent, null, 'less than the order''s price was captured');
    return 'applied: underpaid, the order waits';
  end if;
  perform private.payment_note(p.order_id, 'paid_in_wrong_state', amount, payment_intent, null,
    format('the order was %s when its payment succeeded: refund it', o.status));
  perform private.emit_event('payment.refund_due', 'order', o.id, array[o.buyer_id], jsonb_build_object('order_status', o.status), null);
  return 'applied: order was ' || o.status || ', refund due';
end
$$;
comment on function private.record_capture(uuid, text, text, bigint, text) is
  'Records a confirmed payment once: escrow holds it (ledger payment:<order>) and an order awaiting payment goes in progress.';

-- ---------------------------------------------------------------------------------------
-- charge.refunded: what Stripe refunded beyond the refunds we made (e.g. from the
-- Dashboard) is recorded as a refund of source stripe, succeeded, with nothing reversed
-- from the seller's transfer; the rest arrives through our own (record_refund). Both are
-- posted by private.post_refund (50_release_refund_dispute.sql), from the refund's row.

create function private.record_external_refunds(order_id uuid, charge jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
  ours bigint;
  extra bigint;
  refund public.payment_refunds;
begin
  select coalesce(sum(r.amount), 0) into ours from public.payment_refunds r
   where r.order_id = p.order_id and r.status in ('requested', 'pending');
  extra := (charge ->> 'amount_refunded')::bigint - p.amount_refunded - ours;
  if extra is null or extra <= 0 then
    return 'ignored: no refund beyond those recorded';
  end if;
  extra := least(extra, p.amount_captured - p.amount_refunded - p.amount_charged_back);
  if extra <= 0 then
    return 'ignored: nothing left to refund';
  end if;
  -- from_escrow as for our refunds: whether the escrow still held the funds (no transfer yet).
  -- Nothing is reversed (reversal_amount 0): before release the escrow gives it back; after,
  -- the platform bears it (an admin may reverse the seller's transfer in Stripe, which
  -- transfer.reversed then books back to the platform).
  insert into public.payment_refunds (order_id, amount, reason, status, source, from_escrow)
  values (p.order_id, extra, 'refunded in Stripe', 'succeeded', 'stripe', p.stripe_transfer_id is null) returning * into refund;
  update public.payments set amount_refunded = amount_refunded + extra where payments.order_id = p.order_id;
  perform private.post_refund(refund, p);
  perform private.payment_note(p.order_id, 'refunded_in_stripe', extra, charge ->> 'id');
  return 'applied';
end
$$;

-- transfer.reversed: reversals beyond ours (made in Stripe) go back to the platform.
create function private.record_external_reversals(order_id uuid, transfer jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
  pending bigint;
  extra bigint;
begin
  if p.stripe_transfer_id is distinct from transfer ->> 'id' then
    return 'ignored: not this order''s transfer';
  end if;
  select coalesce(sum(r.reversal_amount), 0) into pending from public.payment_refunds r
   where r.order_id = p.order_id and r.reversal_amount > 0 and not r.reversal_recorded and r.status in ('requested', 'pending', 'succeeded');
  extra := least((transfer ->> 'amount_reversed')::bigint - p.amount_reversed - pending, p.amount_transferred - p.amount_reversed);
  if extra is null or extra <= 0 then
    return 'ignored: no reversal beyond those recorded';
  end if;
  update public.payments set amount_reversed = amount_reversed + extra where payments.order_id = p.order_id;
  perform private.post_transfer(format('reversal:%s:%s', transfer ->> 'id', p.amount_reversed + extra), 'Transfer reversed in Stripe', p.order_id,
    private.ledger_account('seller_transfers', p.currency, null, p.seller_id), private.ledger_account('platform_commission', p.currency), extra);
  perform private.payment_note(p.order_id, 'reversed_in_stripe', extra, transfer ->> 'id');
  return 'applied';
end
$$;

-- ---------------------------------------------------------------------------------------
-- charge.dispute.*: a chargeback freezes the escrow and books the disputed amount (from
-- escrow as far as it holds it, the rest borne by the platform); won gives it back, lost
-- keeps it charged back. Closed chargebacks and older events change nothing.

create function private.apply_chargeback(dispute jsonb, event_created timestamptz) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  order_id uuid := private.payment_for_stripe(dispute #>> '{metadata,order_id}', dispute ->> 'payment_intent', dispute ->> 'charge');
  p public.payments;
  cb public.payment_chargebacks;
  new_status text := dispute ->> 'status';
  disputed bigint := (dispute ->> 'amount')::bigint;
  is_closed boolean := new_status in ('won', 'lost', 'warning_closed', 'prevented');
  escrow_balance bigint;
begin
  if order_id is null then
    return 'ignored: no payment for this charge';
  end if;
  p := private.lock_payment(order_id);
  select * into cb from public.payment_chargebacks c where c.stripe_dispute_id = dispute ->> 'id' for update;
  if found and (cb.closed or cb.stripe_updated_at > event_created) then
    return 'ignored: older than what we have';
  end if;
  if not found then
    escrow_balance := greatest(private.ledger_balance('escrow', p.currency, p.order_id), 0);
    insert into public.payment_chargebacks (stripe_dispute_id, order_id, amount, currency, reason, status,
                                            escrow_part, platform_part, stripe_updated_at)
    values (dispute ->> 'id', p.order_id, disputed, p.currency, dispute ->> 'reason', new_status,
            least(disputed, escrow_balance), disputed - least(disputed, escrow_balance), event_created)
    returning * into cb;
    perform private.post_ledger_transaction('chargeback:' || cb.stripe_dispute_id, 'Chargeback: disputed amount withdrawn', p.order_id,
      jsonb_build_array(
        jsonb_build_object('account_id', private.ledger_account('escrow', p.currency, p.order_id), 'amount', -cb.escrow_part),
        jsonb_build_object('account_id', private.ledger_account('platform_commission', p.currency), 'amount', -cb.platform_part),
        jsonb_build_object('account_id', private.ledger_account('chargebacks', p.currency, p.order_id), 'amount', cb.amount)));
    perform private.payment_note(p.order_id, 'chargeback_opened', disputed, cb.stripe_dispute_id, null, dispute ->> 'reason');
  end if;
  update public.payment_chargebacks set status = new_status, stripe_updated_at = event_created, closed = is_closed
   where stripe_dispute_id = cb.stripe_dispute_id;
  if is_closed then
    if new_status in ('won', 'warning_closed', 'prevented') then
      perform private.post_ledger_transaction('chargeback_won:' || cb.stripe_dispute_id, 'Chargeback won: amount returned', p.order_id,
        jsonb_build_array(
          jsonb_build_object('account_id', private.ledger_account('escrow', p.currency, p.order_id), 'amount', cb.escrow_part),
          jsonb_build_object('account_id', private.ledger_account('platform_commission', p.currency), 'amount', cb.platform_part),
          jsonb_build_object('account_id', private.ledger_account('chargebacks', p.currency, p.order_id), 'amount', -cb.amount)));
    else
      update public.payments set amount_charged_back = least(amount_charged_back + cb.amount, amount_captured - amount_refunded)
       where payments.order_id = p.order_id;
    end if;
    perform private.payment_note(p.order_id, 'chargeback_' || new_status, cb.amount, cb.stripe_dispute_id);
  end if;
  update public.payments set chargeback_open = exists (
    select 1 from public.payment_chargebacks c where c.order_id = p.order_id and not c.closed)
   where payments.order_id = p.order_id;
  return 'applied';
end
$$;

-- ---------------------------------------------------------------------------------------
-- Stripe's fee on a charge, once its balance transaction is known: paid from the commission.
-- One rule for every charge the platform takes for a sale (a commission order's escrow, a shop
-- checkout: 50_commerce/80_payments.sql calls it too): the platform bears the fee,
-- platform_commission -> stripe_fees, key fee:<charge id>, so whoever sees the fee first (a
-- webhook, a function that read the charge) posts it and the others change nothing.

create function private.post_stripe_fee(charge_id text, balance_transaction jsonb, order_id uuid default null) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  fee bigint := (balance_transaction ->> 'fee')::bigint;
  currency text := upper(balance_transaction ->> 'currency');
begin
  if charge_id is null or fee is null or fee <= 0 or not exists (select 1 from public.currencies c where c.code = currency) then
    return 'ignored: no fee';
  end if;
  perform private.post_transfer('fee:' || charge_id, 'Stripe processing fee', order_id,
    private.ledger_account('platform_commission', currency), private.ledger_account('stripe_fees', currency), fee);
  return 'applied';
end
$$;
comment on function private.post_stripe_fee(text, jsonb, uuid) is
  'Ledger: Stripe''s fee on a sale''s charge (its balance transaction''s fee and currency), platform_commission -> stripe_fees, key fee:<charge id>, once; order_id names the commission order, null for a shop checkout.';
revoke execute on function private.post_stripe_fee(text, jsonb, uuid) from public;
grant execute on function private.post_stripe_fee(text, jsonb, uuid) to service_role;

create function private.record_stripe_fee(charge jsonb, balance_transaction jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  order_id uuid := private.payment_for_stripe(charge #>> '{metadata,order_id}', charge ->> 'payment_intent', charge ->> 'id');
begin
  if order_id is null then
    return 'ignored: no payment for this charge';
  end if;
  return private.post_stripe_fee(charge ->> 'id', balance_transaction, order_id);
end
$$;

-- ---------------------------------------------------------------------------------------
-- The dispatcher.

create function private.apply_stripe_event(event jsonb, balance_transaction jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  object jsonb := event #> '{data,object}';
  created timestamptz := to_timestamp((event ->> 'created')::bigint);
  found_order uuid;
  refund_id uuid;
begin
  -- The shop's payments (50_commerce/80_payments.sql) name their checkout in the metadata.
  if object #>> '{metadata,checkout_id}' is not null then
    return private.apply_shop_stripe_event(event, balance_transaction);
  end if;
  case event ->> 'type'
    when 'checkout.session.completed', 'checkout.session.async_payment_succeeded' then
      found_order := private.payment_for_stripe(coalesce(object #>> '{metadata,order_id}', object ->> 'client_reference_id'),
                                             object ->> 'payment_intent', null);
      if found_order is null then return 'ignored: no payment for this session'; end if;
      if object ->> 'payment_status' <> 'paid' then
        perform private.lock_payment(found_order);
        update public.payments set stripe_payment_intent_id = coalesce(payments.stripe_payment_intent_id, object ->> 'payment_intent')
         where payments.order_id = found_order;
        perform private.payment_note(found_order, 'checkout_completed_unpaid', null, object ->> 'id');
        return 'applied: awaiting an asynchronous payment';
      end if;
      return private.record_capture(found_order, object ->> 'payment_intent', null, (object ->> 'amount_total')::bigint, object ->> 'currency');
    when 'payment_intent.succeeded' then
      found_order := private.payment_for_stripe(object #>> '{metadata,order_id}', object ->> 'id', object ->> 'latest_charge');
      if found_order is null then return 'ignored: no payment for this payment intent'; end if;
      return private.record_capture(found_order, object ->> 'id', object ->> 'latest_charge',
                                    (object ->> 'amount_received')::bigint, object ->> 'currency');
    when 'checkout.session.async_payment_failed', 'payment_intent.payment_failed' then
      found_order := private.payment_for_stripe(coalesce(object #>> '{metadata,order_id}', object ->> 'client_reference_id'),
        case when event ->> 'type' like 'payment_intent.%' then object ->> 'id' else object ->> 'payment_intent' end, null);
      if found_order is null then return 'ignored: no payment for this object'; end if;
      -- A failure never undoes a success that arrived first: it is only noted.
      perform private.payment_note(found_order, 'payment_failed', null, object ->> 'id', null,
        coalesce(object #>> '{last_payment_error,message}', 'the payment failed'));
      return 'applied';
    when 'charge.refunded' then
      found_order := private.payment_for_stripe(object #>> '{metadata,order_id}', object ->> 'payment_intent', object ->> 'id');
      if found_order is null then return 'ignored: no payment for this charge'; end if;
      -- Refunds listed on the charge (older API versions expand them) are ours or Stripe's.
      perform ops.record_refund(private.try_uuid(r #>> '{metadata,refund_id}'), r ->> 'id', r ->> 'status')
         from jsonb_array_elements(coalesce(object #> '{refunds,data}', '[]')) r
        where exists (select 1 from public.payment_refunds pr where pr.id = private.try_uuid(r #>> '{metadata,refund_id}'));
      return private.record_external_refunds(found_order, object);
    when 'refund.updated', 'refund.created' then
      select pr.id into refund_id from public.payment_refunds pr
       where pr.stripe_refund_id = object ->> 'id'
          or pr.id = private.try_uuid(object #>> '{metadata,refund_id}')
       limit 1;
      if refund_id is null then
        -- A shop checkout's charge refunded in Stripe (50_commerce/88_cancellations.sql).
        return coalesce(private.record_shop_external_refund(object), 'ignored: not a refund we made (charge.refunded records those)');
      end if;
      perform ops.record_refund(refund_id, object ->> 'id', object ->> 'status');
      return 'applied';
    when 'charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed' then
      return private.apply_chargeback(object, created);
    when 'transfer.created' then
      found_order := private.payment_for_stripe(object #>> '{metadata,order_id}', null, null);
      if found_order is null then return 'ignored: not an order''s transfer'; end if;
      return ops.record_release(found_order, object ->> 'id', (object ->> 'amount')::bigint);
    when 'transfer.reversed' then
      select p.order_id into found_order from public.payments p where p.stripe_transfer_id = object ->> 'id';
      if found_order is null then return 'ignored: not an order''s transfer'; end if;
      return private.record_external_reversals(found_order, object);
    when 'account.updated' then
      if private.apply_account_update(object, created) then
        return 'applied';
      end if;
      return 'ignored: unknown account or older than what we have';
    when 'charge.succeeded', 'charge.updated' then
      if jsonb_typeof(object -> 'balance_transaction') = 'object' then
        return private.record_stripe_fee(object, object -> 'balance_transaction');
      elsif balance_transaction is not null and balance_transaction ->> 'id' = object ->> 'balance_transaction' then
        return private.record_stripe_fee(object, balance_transaction);
      end if;
      return 'ignored: balance transaction not known yet';
    else
      return 'ignored: unhandled event type';
  end case;
end
$$;
comment on function private.apply_stripe_event(jsonb, jsonb) is 'Applies one Stripe event by type; answers applied or ignored: <why>.';

-- The webhook's one call: store by id, apply, mark processed, in one transaction. A failure
-- rolls back the storing too, so Stripe's retry processes the event again.
create function ops.process_stripe_event(event jsonb, balance_transaction jsonb default null)
returns table (event_id text, event_type text, duplicate boolean, outcome text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  stored text;
  result text;
begin
  if jsonb_typeof(event) is distinct from 'object' or event ->> 'object' is distinct from 'event'
     or coalesce(event ->> 'id', '') !~ '^evt_[A-Za-z0-9_]+$' or coalesce(event ->> 'type', '') !~ '^[a-z_.]+$'
     or coalesce(event ->> 'created', '') !~ '^[0-9]+$' or jsonb_typeof(event #> '{data,object}') is distinct from 'object' then
    raise exception 'not a Stripe event' using errcode = '22023';
  end if;
  insert into public.stripe_events (id, type, api_version, livemode, created, payload)
  values (event ->> 'id', event ->> 'type', event ->> 'api_version', coalesce((event ->> 'livemode')::boolean, false),
          to_timestamp((event ->> 'created')::bigint), event)
  on conflict (id) do nothing
  returning id into stored;
  if stored is null then
    return query select e.id, e.type, true, e.outcome from public.stripe_events e where e.id = event ->> 'id';
    return;
  end if;
  result := private.apply_stripe_event(event, balance_transaction);
  update public.stripe_events set processed_at = now(), outcome = result where id = stored;
  return query select stored, event ->> 'type', false, result;
end
$$;
comment on function ops.process_stripe_event(jsonb, jsonb) is
  'Stores a verified Stripe event by id and applies it once, in one transaction; duplicates answer duplicate = true. Service role only (stripe-webhook).';
revoke execute on function ops.process_stripe_event(jsonb, jsonb) from public;
grant execute on function ops.process_stripe_event(jsonb, jsonb) to service_role;

-- ======================================================================================
-- supabase/schemas/40_payments/50_release_refund_dispute.sql
-- ======================================================================================

-- Moving escrowed money: paying in, releasing to the seller, refunding the buyer, and
-- resolving the buyer's dispute. Each Stripe call is bracketed by two SQL calls made by an
-- edge function with the service role:
--
--   claim_*  (locks the escrow row, checks who and what state, reserves the amount, returns
--            the Stripe parameters and an idempotency key derived from our ids)
--   Stripe   (transfers.create / refunds.create / transfers.createReversal with that key)
--   record_* (records Stripe's answer and posts the ledger transaction, idempotent; the
--            webhook calls the same functions, so whichever arrives first books it once)
--
-- A claim is a one-minute lease: a concurrent second call is refused with PT409 and sends
-- nothing to Stripe; a retry after a crash (lease expired) makes the same request with the
-- same key, which Stripe answers with the object it already made. Every function here is
-- service-role only and takes acting_user, the caller the edge function identified.

-- ---------------------------------------------------------------------------------------
-- The buyer's dispute freezes the escrow while it is open (public.open_dispute opens it,
-- resolve_dispute below closes it).

create function private.sync_dispute_freeze() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.payments p set dispute_open = exists (
    select 1 from public.disputes d where d.order_id = new.order_id and d.status = 'open')
   where p.order_id = new.order_id;
  return null;
end
$$;
create trigger disputes_freeze_escrow after insert or update of status on public.disputes
  for each row execute function private.sync_dispute_freeze();

-- The order locked for a money action by acting_user: unknown orders and orders they have
-- no part in are both "not found". Returns the order, whether they are an admin, and whether
-- acting_user is null: the system (the auto-release and refund-due jobs), which finds any
-- order and is never an admin here. What the system may do is each caller's rule:
-- claim_release lets it release as an admin would, claim_refund refund by policy only;
-- begin_payment and resolve_dispute refuse it (only the buyer pays, only an admin resolves).
create function private.lock_order_for(order_id uuid, acting_user uuid, out o public.orders, out is_admin boolean,
                                       out is_system boolean)
language plpgsql
security definer
set search_path = ''
as $$
begin
  select * into o from public.orders where id = order_id for update;
  is_system := acting_user is null;
  is_admin := acting_user is not null and private.user_has_permission(acting_user, 'marketplace.manage');
  if o.id is null or not (is_system or is_admin or acting_user in (o.buyer_id, o.seller_id)) then
    raise exception 'order % not found', order_id using errcode = 'PT404';
  end if;
end
$$;

-- ---------------------------------------------------------------------------------------
-- Pay-in (payments-initiate): the buyer of an order awaiting payment, whose seller can
-- receive transfers. Amount and currency come from the order. An open Checkout Session (or
-- the order's PaymentIntent) is returned as it is; otherwise a new attempt number gives the
-- idempotency key checkout:<order>:<attempt> (payment_intent:<order>:<attempt>).

create function ops.begin_payment(order_id uuid, acting_user uuid, mode text default 'checkout') returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  locked record := private.lock_order_for(order_id, acting_user);
  o public.orders := locked.o;
  p public.payments;
  account public.seller_payment_accounts;
  attempt integer;
begin
  if mode is null or mode not in ('checkout', 'payment_intent') then
    raise exception 'mode must be checkout or payment_intent' using errcode = '22023';
  end if;
  if o.buyer_id is distinct from acting_user then
    raise exception 'only the buyer pays for order %', o.id using errcode = '42501';
  end if;
  if o.status <> 'awaiting_payment' then
    raise exception 'order % is %: only an order awaiting payment can be paid', o.id, o.status using errcode = 'PT409';
  end if;
  select * into account from public.seller_payment_accounts a where a.user_id = o.seller_id;
  if not coalesce(account.can_receive_transfers, false) then
    raise exception 'the seller of order % cannot receive payments yet: they must finish setting up payouts', o.id
      using errcode = 'PT409';
  end if;
  p := private.lock_payment(o.id);
  if p.amount_captured > 0 then
    raise exception 'order % is already paid', o.id using errcode = 'PT409';
  end if;
  if p.payment_mode is not null and p.payment_mode <> mode
     and (p.stripe_payment_intent_id is not null or p.checkout_expires_at > now()) then
    raise exception 'order % is being paid by %: finish or abandon that payment first', o.id, p.payment_mode using errcode = 'PT409';
  end if;

  if mode = 'checkout' and p.stripe_checkout_session_id is not null and p.checkout_expires_at > now() + interval '1 minute' then
    return jsonb_build_object('existing', true, 'mode', mode, 'checkout_session_id', p.stripe_checkout_session_id, 'url', p.checkout_url);
  end if;
  if mode = 'payment_intent' and p.stripe_payment_intent_id is not null then
    return jsonb_build_object('existing', true, 'mode', mode, 'payment_intent_id', p.stripe_payment_intent_id);
  end if;

  -- A new attempt, unless the last one was claimed and never recorded (a crash or a
  -- concurrent call): that one is retried with the same key.
  attempt := case when p.checkout_attempt > 0 and p.stripe_checkout_session_id is null and p.stripe_payment_intent_id is null
                  and p.payment_mode = mode then p.checkout_attempt else p.checkout_attempt + 1 end;
  update public.payments set payment_mode = mode, checkout_attempt = attempt, stripe_checkout_session_id = null,
                             checkout_url = null, checkout_expires_at = null
   where payments.order_id = o.id;
  perform private.payment_note(o.id, 'payment_started', p.amount, null, acting_user, mode || ' attempt ' || attempt);
  return jsonb_build_object(
    'existing', false, 'mode', mode, 'order_id', o.id, 'title', o.title, 'amount', p.amount, 'currency', lower(p.currency),
    'attempt', attempt, 'transfer_group', p.transfer_group, 'buyer_id', o.buyer_id, 'seller_id', o.seller_id,
    'idempotency_key', case mode when 'checkout' then 'checkout:' else 'payment_intent:' end || o.id || ':' || attempt);
end
$$;
comment on function ops.begin_payment(uuid, uuid, text) is
  'Starts (or returns) the payment of an order for its buyer: the order''s amount, currency, transfer group and the idempotency key of this attempt. Service role only (payments-initiate).';

create function ops.record_payment_session(order_id uuid, attempt integer, checkout_session_id text default null,
                                              url text default null, expires_at timestamptz default null,
                                              payment_intent_id text default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments;
begin
  select * into p from public.payments where payments.order_id = record_payment_session.order_id for update;
  if not found then
    raise exception 'order % has no payment', order_id using errcode = 'PT404';
  end if;
  if p.checkout_attempt <> attempt then
    return; -- a later attempt has started
  end if;
  update public.payments set
    stripe_checkout_session_id = coalesce(checkout_session_id, payments.stripe_checkout_session_id),
    checkout_url = coalesce(url, payments.checkout_url),
    checkout_expires_at = coalesce(expires_at, payments.checkout_expires_at),
    stripe_payment_intent_id = case when payments.amount_captured = 0 then coalesce(payment_intent_id, payments.stripe_payment_intent_id)
                                    else payments.stripe_payment_intent_id end
   where payments.order_id = p.order_id;
end
$$;
comment on function ops.record_payment_session(uuid, integer, text, text, timestamptz, text) is
  'Records the Checkout Session or PaymentIntent made for a payment attempt. Service role only.';

-- ---------------------------------------------------------------------------------------
-- Release: price less refunds less commission, to the seller's connected account, with
-- source_transaction = the charge, key transfer:<order id>. The buyer (once the order is
-- completed), an admin, or the system (acting_user null: the auto-release path).

create function ops.claim_release(order_id uuid, acting_user uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  locked record := private.lock_order_for(order_id, acting_user);
  o public.orders := locked.o;
  p public.payments;
  account public.seller_payment_accounts;
  reserved bigint;
  releasable bigint;
  commission bigint;
begin
  -- The system (auto-release) releases as an admin would.
  if not (locked.is_system or locked.is_admin or o.buyer_id = acting_user) then
    raise exception 'only the buyer or an admin releases the escrow of order %', o.id using errcode = '42501';
  end if;
  p := private.lock_payment(o.id);
  if p.stripe_transfer_id is not null then
    return jsonb_build_object('state', 'released', 'order_id', o.id, 'transfer_id', p.stripe_transfer_id,
                              'amount', p.amount_transferred, 'currency', lower(p.currency), 'commission', p.commission_amount);
  end if;
  if o.status = 'disputed' or p.dispute_open then
    raise exception 'order % is disputed: its escrow is frozen until an admin resolves the dispute', o.id using errcode = 'PT409';
  end if;
  if p.chargeback_open then
    raise exception 'order % has an open chargeback: its escrow is frozen until Stripe closes it', o.id using errcode = 'PT409';
  end if;
  if o.status <> 'completed' then
    raise exception 'order % is %: its escrow is released once the buyer approves the delivery', o.id, o.status using errcode = 'PT409';
  end if;
  if p.amount_captured = 0 then
    raise exception 'order % has not been paid', o.id using errcode = 'PT409';
  end if;
  if p.release_claimed_at > now() - interval '1 minute' then
    raise exception 'a release of order % is in progress', o.id using errcode = 'PT409';
  end if;
  select * into account from public.seller_payment_accounts a where a.user_id = o.seller_id;
  if not coalesce(account.can_receive_transfers, false) then
    raise exception 'the seller of order % cannot receive transfers yet', o.id using errcode = 'PT409';
  end if;

  if p.release_claimed_at is null then
    select coalesce(sum(r.amount), 0) into reserved from public.payment_refunds r
     where r.order_id = p.order_id and r.status in ('requested', 'pending');
    releasable := p.amount_captured - p.amount_refunded - p.amount_charged_back - reserved;
    commission := private.commission_of(releasable, p.commission_rate_bps);
    if releasable - commission <= 0 then
      raise exception 'order % has nothing left to release', o.id using errcode = 'PT409';
    end if;
    update public.payments set release_claimed_at = now(), commission_amount = commission, release_amount = releasable - commission,
                               transfer_destination = account.stripe_account_id
     where payments.order_id = p.order_id returning * into p;
    perform private.payment_note(p.order_id, 'release_claimed', p.release_amount, null, acting_user);
  else
    -- An expired claim: the same transfer again, same key (Stripe answers with the first).
    update public.payments set release_claimed_at = now() where payments.order_id = p.order_id returning * into p;
  end if;
  return jsonb_build_object(
    'state', 'claimed', 'order_id', p.order_id, 'amount', p.release_amount, 'currency', lower(p.currency),
    'commission', p.commission_amount, 'destination', p.transfer_destination, 'source_transaction', p.stripe_charge_id,
    'payment_intent', p.stripe_payment_intent_id, 'transfer_group', p.transfer_group,
    'idempotency_key', 'transfer:' || p.order_id);
end
$$;
comment on function ops.claim_release(uuid, uuid) is
  'Claims the release of an order''s escrow (buyer of a completed order, admin, or null = system) and returns the transfer to make. Service role only.';

create function ops.record_release(order_id uuid, transfer_id text, amount bigint) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
begin
  if p.stripe_transfer_id = transfer_id then
    return 'ignored: already recorded';
  end if;
  if p.stripe_transfer_id is not null then
    perform private.payment_note(p.order_id, 'unexpected_transfer', amount, transfer_id, null, 'a second transfer for an order already released');
    return 'ignored: the order was released by ' || p.stripe_transfer_id;
  end if;
  if p.release_claimed_at is null or p.release_amount is distinct from amount then
    perform private.payment_note(p.order_id, 'unexpected_transfer', amount, transfer_id, null, 'a transfer no release claimed');
    return 'ignored: no release of this amount was claimed';
  end if;
  update public.payments set amount_transferred = record_release.amount, stripe_transfer_id = transfer_id, released_at = now()
   where payments.order_id = p.order_id;
  perform private.post_ledger_transaction('release:' || p.order_id, 'Escrow released: seller''s share and commission', p.order_id,
    jsonb_build_array(
      jsonb_build_object('account_id', private.ledger_account('escrow', p.currency, p.order_id), 'amount', -(amount + p.commission_amount)),
      jsonb_build_object('account_id', private.ledger_account('seller_payable', p.currency, null, p.seller_id), 'amount', amount),
      jsonb_build_object('account_id', private.ledger_account('platform_commission', p.currency), 'amount', p.commission_amount)));
  perform private.post_transfer('transfer:' || p.order_id, 'Transfer to the seller''s connected account', p.order_id,
    private.ledger_account('seller_payable', p.currency, null, p.seller_id),
    private.ledger_account('seller_transfers', p.currency, null, p.seller_id), amount);
  perform private.payment_note(p.order_id, 'released', amount, transfer_id);
  return 'applied';
end
$$;
comment on function ops.record_release(uuid, text, bigint) is
  'Records the transfer of a claimed release once (by payments-release or transfer.created) and posts release:<order> and transfer:<order>.';

create function ops.abandon_release(order_id uuid, reason text) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
begin
  if p.stripe_transfer_id is null and p.release_claimed_at is not null then
    update public.payments set release_claimed_at = null where payments.order_id = p.order_id;
    perform private.payment_note(p.order_id, 'release_failed', p.release_amount, null, null, left(reason, 1000));
  end if;
end
$$;
comment on function ops.abandon_release(uuid, text) is 'Drops a release claim Stripe refused, so it can be claimed again. Service role only.';

-- ---------------------------------------------------------------------------------------
-- Refunds: by an admin (any amount up to what is refundable), or by policy — either party
-- of a paid order cancelled before delivery, in full. Never more than captured less
-- refunded (less charged back, less refunds in flight). After the release, the seller's
-- share of the refund (amount less its commission) is reversed from their transfer.

create function private.create_refund(p public.payments, amount bigint, reason text, actor uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  in_flight public.payment_refunds;
  pending bigint;
  refundable bigint;
  reversal bigint := 0;
  pending_reversals bigint;
  refund public.payment_refunds;
begin
  if p.amount_captured = 0 then
    raise exception 'order % has not been paid: there is nothing to refund', p.order_id using errcode = 'PT409';
  end if;
  if p.chargeback_open then
    raise exception 'order % has an open chargeback: refunds wait until Stripe closes it', p.order_id using errcode = 'PT409';
  end if;
  if p.release_claimed_at is not null and p.stripe_transfer_id is null then
    raise exception 'a release of order % is in progress', p.order_id using errcode = 'PT409';
  end if;
  select * into in_flight from public.payment_refunds r where r.order_id = p.order_id and r.status = 'requested'
   order by r.created_at limit 1;
  if found then
    if in_flight.claimed_at > now() - interval '1 minute' or (amount is not null and amount <> in_flight.amount) then
      raise exception 'a refund of order % is in progress', p.order_id using errcode = 'PT409';
    end if;
    update public.payment_refunds set claimed_at = now() where id = in_flight.id returning * into refund;
  else
    select coalesce(sum(r.amount), 0) into pending from public.payment_refunds r where r.order_id = p.order_id and r.status = 'pending';
    refundable := p.amount_captured - p.amount_refunded - p.amount_charged_back - pending;
    if refundable <= 0 then
      raise exception 'order % has nothing left to refund', p.order_id using errcode = 'PT409';
    end if;
    amount := coalesce(amount, refundable);
    if amount <= 0 then
      raise exception 'a refund must be a positive number of minor units, not %', amount using errcode = '22023';
    end if;
    if amount > refundable then
      raise exception 'a refund of % exceeds the % % still refundable on order %', amount, refundable, p.currency, p.order_id
        using errcode = '22023';
    end if;
    if p.stripe_transfer_id is not null then
      select coalesce(sum(r.reversal_amount), 0) into pending_reversals from public.payment_refunds r
       where r.order_id = p.order_id and not r.reversal_recorded and r.reversal_amount > 0 and r.status in ('requested', 'pending', 'succeeded');
      reversal := greatest(least(amount - private.commission_of(amount, p.commission_rate_bps),
                                 p.amount_transferred - p.amount_reversed - pending_reversals), 0);
    end if;
    insert into public.payment_refunds (order_id, amount, reversal_amount, reason, requested_by, from_escrow)
    values (p.order_id, amount, reversal, coalesce(nullif(trim(reason), ''), 'refund'), actor, p.stripe_transfer_id is null)
    returning * into refund;
    perform private.payment_note(p.order_id, 'refund_requested', amount, null, actor, refund.reason);
  end if;
  return jsonb_build_object(
    'refund_id', refund.id, 'order_id', p.order_id, 'amount', refund.amount, 'currency', lower(p.currency),
    'payment_intent', p.stripe_payment_intent_id, 'charge', p.stripe_charge_id, 'reason', refund.reason,
    'reversal_amount', refund.reversal_amount, 'transfer_id', case when refund.reversal_amount > 0 then p.stripe_transfer_id end,
    'idempotency_key', 'refund:' || refund.id, 'reversal_idempotency_key', 'reversal:' || refund.id);
end
$$;

create function ops.claim_refund(order_id uuid, acting_user uuid, amount bigint default null, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- The system (acting_user null: the refund-due job) refunds by policy only: it is no admin.
  locked record := private.lock_order_for(order_id, acting_user);
  o public.orders := locked.o;
  is_admin boolean := locked.is_admin;
begin
  if amount is not null and not is_admin then
    raise exception 'only an admin chooses a refund amount' using errcode = '42501';
  end if;
  if o.status = 'disputed' then
    raise exception 'order % is disputed: it is refunded through the dispute''s resolution', o.id using errcode = 'PT409';
  end if;
  if not is_admin and not (o.status = 'cancelled' and o.delivered_at is null) then
    raise exception 'order % is %: without an admin, only a paid order cancelled before delivery is refunded', o.id, o.status
      using errcode = 'PT409';
  end if;
  if coalesce(trim(reason), '') = '' then
    raise exception 'a refund needs a reason' using errcode = '22023';
  end if;
  return private.create_refund(private.lock_payment(o.id), amount, reason, acting_user);
end
$$;
comment on function ops.claim_refund(uuid, uuid, bigint, text) is
  'Claims a refund of an order''s payment (admin: any amount up to the refundable; a party, or the system when acting_user is null: in full, of a paid order cancelled before delivery) and returns the Stripe refund (and reversal) to make. Service role only.';

-- A succeeded refund's ledger posting, refund:<refund id>, for every refund whoever made it:
-- ours (record_refund) and those made in Stripe's Dashboard (record_external_refunds, in
-- 40_stripe_events.sql). The legs follow from the refund's row alone:
--
--   from_escrow (no transfer yet when it was claimed)   escrow -> refunds, amount
--   after release                                       seller_payable -> refunds, reversal_amount
--                                                       platform_commission -> refunds, amount - reversal_amount
--
-- After release the seller's share comes back through seller_payable, which the reversal of
-- their transfer (reversal:<refund id>, seller_transfers -> seller_payable) fills; the rest
-- (the commission on the refund, or all of it when nothing is reversed, as for a refund made
-- in Stripe) the platform bears. One transaction of three legs (a zero leg is dropped), so
-- the key stays one per refund. The caller holds the payment's lock and updates its amounts.
create function private.post_refund(refund public.payment_refunds, p public.payments) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  description text := case when refund.source = 'stripe' then 'Refund made in Stripe' else 'Refund to the buyer' end;
begin
  if refund.order_id is distinct from p.order_id then
    raise exception 'refund % is not a refund of order %', refund.id, p.order_id using errcode = '22023';
  end if;
  if refund.from_escrow then
    return private.post_transfer('refund:' || refund.id, description, p.order_id,
      private.ledger_account('escrow', p.currency, p.order_id), private.ledger_account('refunds', p.currency, p.order_id), refund.amount);
  end if;
  return private.post_ledger_transaction('refund:' || refund.id, description, p.order_id, jsonb_build_array(
    jsonb_build_object('account_id', private.ledger_account('seller_payable', p.currency, null, p.seller_id), 'amount', -refund.reversal_amount),
    jsonb_build_object('account_id', private.ledger_account('platform_commission', p.currency), 'amount', -(refund.amount - refund.reversal_amount)),
    jsonb_build_object('account_id', private.ledger_account('refunds', p.currency, p.order_id), 'amount', refund.amount)));
end
$$;
comment on function private.post_refund(public.payment_refunds, public.payments) is
  'Posts a succeeded refund, refund:<id>: from escrow before release; after it, the reversed seller''s share from seller_payable and the rest from platform_commission. Called by record_refund and record_external_refunds.';

-- Stripe's answer about a refund (from payments-refund or refund.updated): requested ->
-- pending -> succeeded | failed | canceled, never back. Success books it.
create function ops.record_refund(refund_id uuid, stripe_refund_id text, status text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.payment_refunds;
  p public.payments;
  new_status text := case when status in ('succeeded', 'failed', 'canceled') then status else 'pending' end;
begin
  select * into r from public.payment_refunds where id = refund_id for update;
  if not found then
    raise exception 'refund % not found', refund_id using errcode = 'PT404';
  end if;
  if r.stripe_refund_id is not null and stripe_refund_id is not null and r.stripe_refund_id <> stripe_refund_id then
    return 'ignored: another Stripe refund';
  end if;
  if r.status in ('succeeded', 'failed', 'canceled') or (r.status = 'pending' and new_status = 'pending') then
    update public.payment_refunds set stripe_refund_id = coalesce(payment_refunds.stripe_refund_id, record_refund.stripe_refund_id)
     where id = r.id;
    return 'ignored: already ' || r.status;
  end if;
  p := private.lock_payment(r.order_id);
  update public.payment_refunds set status = new_status,
         stripe_refund_id = coalesce(payment_refunds.stripe_refund_id, record_refund.stripe_refund_id)
   where id = r.id;
  if new_status = 'succeeded' then
    update public.payments set amount_refunded = amount_refunded + r.amount where payments.order_id = p.order_id;
    perform private.post_refund(r, p);
    perform private.payment_note(p.order_id, 'refunded', r.amount, stripe_refund_id);
  elsif new_status in ('failed', 'canceled') then
    perform private.payment_note(p.order_id, 'refund_failed', r.amount, stripe_refund_id, null, 'Stripe: ' || status);
  end if;
  return 'applied';
end
$$;
comment on function ops.record_refund(uuid, text, text) is
  'Records Stripe''s status of a refund, monotonically; succeeded posts refund:<id> once. Service role only.';

create function ops.record_refund_reversal(refund_id uuid, stripe_reversal_id text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.payment_refunds;
  p public.payments;
begin
  select * into r from public.payment_refunds where id = refund_id for update;
  if not found then
    raise exception 'refund % not found', refund_id using errcode = 'PT404';
  end if;
  if r.reversal_recorded or r.reversal_amount = 0 then
    return 'ignored: nothing to record';
  end if;
  p := private.lock_payment(r.order_id);
  update public.payment_refunds set reversal_recorded = true, stripe_reversal_id = record_refund_reversal.stripe_reversal_id where id = r.id;
  update public.payments set amount_reversed = amount_reversed + r.reversal_amount where payments.order_id = p.order_id;
  perform private.post_transfer('reversal:' || r.id, 'Seller''s share of a refund reversed from their transfer', p.order_id,
    private.ledger_account('seller_transfers', p.currency, null, p.seller_id),
    private.ledger_account('seller_payable', p.currency, null, p.seller_id), r.reversal_amount);
  perform private.payment_note(p.order_id, 'transfer_reversed', r.reversal_amount, stripe_reversal_id);
  return 'applied';
end
$$;
comment on function ops.record_refund_reversal(uuid, text) is
  'Records the transfer reversal of a refund after release once, posting reversal:<refund id>. Service role only.';

create function ops.abandon_refund(refund_id uuid, reason text) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.payment_refunds;
begin
  select * into r from public.payment_refunds where id = refund_id for update;
  if found and r.status = 'requested' and r.stripe_refund_id is null then
    update public.payment_refunds set status = 'failed' where id = r.id;
    perform private.payment_note(r.order_id, 'refund_failed', r.amount, null, null, left(reason, 1000));
  end if;
end
$$;
comment on function ops.abandon_refund(uuid, text) is 'Marks a claimed refund failed when Stripe refused it. Service role only.';

-- ---------------------------------------------------------------------------------------
-- Resolving the buyer's dispute (admin): the dispute is marked resolved first, then the
-- order leaves `disputed` (refund -> cancelled, release -> completed), then the money
-- claims are returned for payments-resolve-dispute to carry out: a refund (refund: all that
-- is refundable unless refund_amount says less; release: refund_amount, if any, to the buyer)
-- and, for release, the transfer of the rest.

create function ops.resolve_dispute(order_id uuid, acting_user uuid, resolution text, refund_amount bigint default null,
                                       note text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  locked record := private.lock_order_for(order_id, acting_user);
  o public.orders := locked.o;
  d public.disputes;
  p public.payments;
  refund jsonb;
  release jsonb;
begin
  if not locked.is_admin then
    raise exception 'only an admin resolves disputes' using errcode = '42501';
  end if;
  if resolution is null or resolution not in ('refund', 'release') then
    raise exception 'resolution must be refund or release' using errcode = '22023';
  end if;
  if refund_amount is not null and refund_amount < 0 then
    raise exception 'refund_amount must be a positive number of minor units' using errcode = '22023';
  end if;
  select * into d from public.disputes where disputes.order_id = o.id and status = 'open' for update;
  if not found then
    raise exception 'order % has no open dispute', o.id using errcode = 'PT409';
  end if;
  p := private.lock_payment(o.id);
  if resolution = 'release' and refund_amount is not null
     and refund_amount >= p.amount_captured - p.amount_refunded - p.amount_charged_back then
    raise exception 'a release must leave something to release: refund_amount % is not less than the % refundable',
      refund_amount, p.amount_captured - p.amount_refunded - p.amount_charged_back using errcode = '22023';
  end if;

  update public.disputes set status = 'resolved', resolution = resolve_dispute.resolution, resolution_note = note,
                             resolved_by = acting_user, resolved_at = now()
   where id = d.id;
  perform private.transition_order(o.id, case resolution when 'refund' then 'cancelled' else 'completed' end,
                                   array['admin'], acting_user, coalesce(note, 'dispute resolved: ' || resolution));
  perform private.emit_event('dispute.resolved', 'order', o.id, array[o.buyer_id, o.seller_id],
    jsonb_build_object('resolution', resolution, 'refund_amount', refund_amount), acting_user);

  p := private.lock_payment(o.id);
  if p.amount_captured > 0 and (resolution = 'refund' or coalesce(refund_amount, 0) > 0) then
    refund := private.create_refund(p, refund_amount,
                                    'dispute resolved: ' || resolution, acting_user);
  end if;
  if resolution = 'release' and p.amount_captured > 0 then
    release := ops.claim_release(o.id, acting_user);
  end if;
  return jsonb_build_object('dispute_id', d.id, 'order_id', o.id, 'resolution', resolution,
                            'order_status', (select status from public.orders where id = o.id), 'refund', refund, 'release', release);
end
$$;
comment on function ops.resolve_dispute(uuid, uuid, text, bigint, text) is
  'An admin resolves an order''s open dispute: dispute resolved, order completed (release) or cancelled (refund), and the refund/release claims to carry out. Service role only.';

revoke execute on function ops.begin_payment(uuid, uuid, text),
  ops.record_payment_session(uuid, integer, text, text, timestamptz, text),
  ops.claim_release(uuid, uuid), ops.record_release(uuid, text, bigint), ops.abandon_release(uuid, text),
  ops.claim_refund(uuid, uuid, bigint, text), ops.record_refund(uuid, text, text),
  ops.record_refund_reversal(uuid, text), ops.abandon_refund(uuid, text),
  ops.resolve_dispute(uuid, uuid, text, bigint, text) from public;
grant execute on function ops.begin_payment(uuid, uuid, text),
  ops.record_payment_session(uuid, integer, text, text, timestamptz, text),
  ops.claim_release(uuid, uuid), ops.record_release(uuid, text, bigint), ops.abandon_release(uuid, text),
  ops.claim_refund(uuid, uuid, bigint, text), ops.record_refund(uuid, text, text),
  ops.record_refund_reversal(uuid, text), ops.abandon_refund(uuid, text),
  ops.resolve_dispute(uuid, uuid, text, bigint, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- Refund by policy: a paid order cancelled before delivery (by its seller, or an admin) gives
-- the buyer their money back without anyone asking. Either party may still ask at once
-- (payments-refund { order_id, reason }); otherwise the payments-refund-due job (every 5
-- minutes) calls payments-refund { due: true } with the service role, which refunds, as the
-- system, every escrow due_refunds() lists: in full, through the same claim_refund /
-- record_refund as a party's call (key refund:<refund id>), so it happens once whoever starts it.
--
-- Left to an admin: orders that went through a dispute (its resolution moves the money), and
-- orders whose refund Stripe failed or canceled (retrying a card that refuses is not a policy).

create function ops.due_refunds(max_rows integer default 100) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select p.order_id from public.payments p join public.orders o on o.id = p.order_id
   where o.status = 'cancelled' and o.delivered_at is null
     and p.amount_captured - p.amount_refunded - p.amount_charged_back > 0
     and p.stripe_transfer_id is null and p.release_claimed_at is null
     and not p.dispute_open and not p.chargeback_open
     and not exists (select 1 from public.disputes d where d.order_id = o.id)
     -- A refund on its way, or one Stripe refused: nothing to do here. A claim older than
     -- its one-minute lease was abandoned mid-way and is taken up again (same key).
     and not exists (select 1 from public.payment_refunds r where r.order_id = p.order_id
                       and (r.status in ('pending', 'failed', 'canceled')
                            or (r.status = 'requested' and r.claimed_at > now() - interval '1 minute')))
   order by o.cancelled_at
   limit greatest(least(max_rows, 1000), 1)
$$;
comment on function ops.due_refunds(integer) is
  'Orders cancelled before delivery whose captured payment is not yet (being) refunded: what payments-refund { "due": true } works through. Service role only.';
revoke execute on function ops.due_refunds(integer) from public;
grant execute on function ops.due_refunds(integer) to service_role;

-- ======================================================================================
-- supabase/schemas/40_payments/60_auto_release.sql
-- ======================================================================================

-- Automatic release: a delivered order the buyer neither approves nor disputes within
-- platform_settings.auto_release_days is completed by the system, and its escrow becomes
-- due for release.
--
-- Postgres cannot call Stripe, so the work is split in two:
--   1. pg_cron runs private.auto_complete_delivered_orders() every 15 minutes: it completes
--      such orders (the 'system' transition delivered -> completed) and stamps
--      payments.release_due_at.
--   2. ops.due_releases() lists every escrow due for release: completed orders whose
--      escrow is held (or partly refunded), not frozen, not transferred, with no live
--      claim; auto-completed ones and those whose buyer approved but never called
--      payments-release. The payments-release function, called with the service role key
--      and { "due": true }, claims and transfers each (same claim_release/record_release as
--      a buyer's call, key transfer:<order id>, so a release happens once whoever starts it).
--      The payments-release-due job (pg_cron through pg_net, every 5 minutes) calls it,
--      hosted and locally alike (the Docker-less stack stands in for pg_net).

create function private.auto_complete_delivered_orders() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  days integer := private.auto_release_days();
  o record;
  completed integer := 0;
begin
  for o in
    select ord.id from public.orders ord
     where ord.status = 'delivered' and ord.delivered_at < now() - make_interval(days => days)
       and not exists (select 1 from public.disputes d where d.order_id = ord.id and d.status = 'open')
     order by ord.delivered_at
     limit 500
     for update skip locked
  loop
    perform private.transition_order(o.id, 'completed', array['system'], null,
                                     format('completed automatically %s days after delivery', days));
    update public.payments p set release_due_at = now() where p.order_id = o.id and p.release_due_at is null;
    completed := completed + 1;
  end loop;
  return completed;
end
$$;
comment on function private.auto_complete_delivered_orders() is
  'Completes delivered orders older than auto_release_days with no open dispute (pg_cron, every 15 minutes); their escrow becomes due for release.';

create function ops.due_releases(max_rows integer default 100) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select p.order_id from public.payments p join public.orders o on o.id = p.order_id
   where o.status = 'completed' and p.status in ('held', 'partially_refunded') and p.stripe_transfer_id is null
     and not p.dispute_open and not p.chargeback_open
     and (p.release_claimed_at is null or p.release_claimed_at < now() - interval '1 minute')
   order by coalesce(p.release_due_at, o.completed_at)
   limit greatest(least(max_rows, 1000), 1)
$$;
comment on function ops.due_releases(integer) is
  'Orders whose escrow is due for release and not being released: what payments-release { "due": true } works through. Service role only.';
revoke execute on function ops.due_releases(integer) from public;
grant execute on function ops.due_releases(integer) to service_role;
grant execute on function private.auto_complete_delivered_orders() to service_role;

-- ======================================================================================
-- supabase/schemas/40_payments/70_reconciliation.sql
-- ======================================================================================

-- Reconciliation, the database's half: per order, what the escrow row says (the Stripe ids
-- and the amounts Stripe confirmed), what the ledger says (derived from entries only), and
-- every disagreement between the two. The payments-reconcile edge function adds the Stripe
-- half (functions/payments-reconcile): it fetches each row's charge, transfer and refunds and
-- compares Stripe's amounts with the stripe_* columns here; the admin CLI's `reconcile` and
-- the daily job both call that function. Which postings each check must agree with:
-- docs/payments/ledger-postings.md.
--
-- Reconciliation over a window. A daily run cannot ask Stripe about every payment ever made,
-- and need not: Stripe changes a charge (refund from the dashboard, chargeback) within months
-- of it, and our side changes a payment's row whenever anything happens to it. So
-- payments-reconcile asks for the payments created, paid or changed within the window
-- (180 days by default), plus every payment whose ledger and escrow rows disagree however old.
-- The function keeps its columns; active_since selects the window, and after_order_id and
-- max_rows page through it by order id inside the function (a security definer function is
-- never inlined, so a limit put on its result by the caller would not spare it any row).

create function ops.payments_reconciliation(
  only_problems boolean default false,
  active_since timestamptz default null,
  after_order_id uuid default null,
  max_rows integer default null
)
returns table (
  order_id uuid, currency text, status text,
  stripe_payment_intent_id text, stripe_charge_id text, stripe_transfer_id text,
  amount_captured bigint, amount_refunded bigint, amount_transferred bigint, amount_reversed bigint, amount_charged_back bigint,
  ledger_captured bigint, ledger_refunded bigint, ledger_transferred bigint, ledger_escrow bigint, ledger_chargebacks bigint,
  problems text[]
)
language sql
stable
security definer
set search_path = ''
as $$
  with figures as (
    select p.*,
           -private.ledger_balance('buyer_funding', p.currency, p.order_id) as l_captured,
           private.ledger_balance('refunds', p.currency, p.order_id) as l_refunded,
           private.ledger_balance('escrow', p.currency, p.order_id) as l_escrow,
           private.ledger_balance('chargebacks', p.currency, p.order_id) as l_chargebacks,
           coalesce((select sum(e.amount) from public.ledger_entries e
                       join public.ledger_transactions t on t.id = e.transaction_id
                       join public.ledger_accounts a on a.id = e.account_id
                      where t.order_id = p.order_id and a.kind = 'seller_transfers'), 0)::bigint as l_transferred,
           (select coalesce(sum(r.amount), 0) from public.payment_refunds r
             where r.order_id = p.order_id and r.status in ('requested', 'pending')) as in_flight
      from public.payments p
     where after_order_id is null or p.order_id > after_order_id
  ),
  checked as (
    select f.*, array_remove(array[
      case when f.l_captured <> f.amount_captured then 'ledger captured ' || f.l_captured || ' <> escrow ' || f.amount_captured end,
      case when f.l_refunded <> f.amount_refunded then 'ledger refunded ' || f.l_refunded || ' <> escrow ' || f.amount_refunded end,
      case when f.l_transferred <> f.amount_transferred - f.amount_reversed
           then 'ledger transferred ' || f.l_transferred || ' <> escrow ' || (f.amount_transferred - f.amount_reversed) end,
      case when f.amount_transferred = 0 and f.l_escrow <> f.amount_captured - f.amount_refunded - f.l_chargebacks
           then 'escrow balance ' || f.l_escrow || ' <> captured less refunded less chargebacks' end,
      case when f.amount_transferred > 0 and f.l_escrow <> (select coalesce(sum(r.amount), 0) from public.payment_refunds r
                                                              where r.order_id = f.order_id and r.from_escrow and r.status in ('requested', 'pending'))
           then 'escrow balance ' || f.l_escrow || ' left after release' end,
      case when f.amount_captured > 0 and f.stripe_payment_intent_id is null and f.stripe_charge_id is null then 'captured without a Stripe id' end,
      case when f.amount_transferred > 0 and f.stripe_transfer_id is null then 'transferred without a Stripe transfer id' end,
      case when f.release_claimed_at < now() - interval '1 hour' and f.stripe_transfer_id is null then 'release claimed over an hour ago, never recorded' end,
      case when f.in_flight > 0 and exists (select 1 from public.payment_refunds r where r.order_id = f.order_id
                                              and r.status = 'requested' and r.claimed_at < now() - interval '1 hour')
           then 'refund claimed over an hour ago, never answered' end
    ], null) as problems
      from figures f
  )
  select c.order_id, c.currency, c.status, c.stripe_payment_intent_id, c.stripe_charge_id, c.stripe_transfer_id,
         c.amount_captured, c.amount_refunded, c.amount_transferred, c.amount_reversed, c.amount_charged_back,
         c.l_captured, c.l_refunded, c.l_transferred, c.l_escrow, c.l_chargebacks, c.problems
    from checked c
   where (not only_problems or cardinality(c.problems) > 0)
     and (active_since is null or cardinality(c.problems) > 0
          or c.created_at >= active_since or c.paid_at >= active_since or c.updated_at >= active_since)
   order by c.order_id
   limit max_rows
$$;
comment on function ops.payments_reconciliation(boolean, timestamptz, uuid, integer) is
  'Per order: escrow amounts and Stripe ids, the ledger''s derived figures, and their disagreements; with active_since, only payments created, paid or changed since then, and every one with a disagreement; in order id order, after after_order_id, max_rows at most. Service role only (payments-reconcile compares the Stripe ids with Stripe).';
revoke execute on function ops.payments_reconciliation(boolean, timestamptz, uuid, integer) from public;
grant execute on function ops.payments_reconciliation(boolean, timestamptz, uuid, integer) to service_role;

-- ---------------------------------------------------------------------------------------

-- Scheduled reconciliation: the payments-reconcile edge function (called by pg_cron with the
-- service-role key, or by `npm run admin -- reconcile`) compares payments_reconciliation()
-- and Stripe order by order and records each run here through record_reconciliation_run(),
-- which tells the marketplace managers when a run found differences.

create table public.payments_reconciliation_runs (
  id uuid primary key default gen_random_uuid(),
  started_at timestamptz not null,
  finished_at timestamptz not null,
  orders_checked integer not null constraint payments_reconciliation_runs_orders_checked check (orders_checked >= 0),
  orders_with_differences integer not null,
  differences jsonb not null default '[]',
  triggered_by text not null
    constraint payments_reconciliation_runs_triggered_by_format check (triggered_by ~ '^[a-z][a-z0-9_-]{0,39}$'),
  constraint payments_reconciliation_runs_finished_after_start check (finished_at >= started_at),
  constraint payments_reconciliation_runs_differences_counted check (
    jsonb_typeof(differences) = 'array'
    and orders_with_differences = jsonb_array_length(differences)
    and orders_with_differences <= orders_checked)
);
comment on table public.payments_reconciliation_runs is
  'One row per reconciliation run (the ledger, the escrow records and Stripe, order by order), written by record_reconciliation_run() only. Read by marketplace managers. Runs are kept 90 days.';
comment on column public.payments_reconciliation_runs.started_at is
  'When the run began comparing, by the clock of the function that ran it (as finished_at, so the two are comparable).';
comment on column public.payments_reconciliation_runs.differences is
  'The orders with differences only: [{ "order_id", "currency", "status", "problems": ["Stripe refunded 1234 <> escrow 0", ...] }].';
comment on column public.payments_reconciliation_runs.triggered_by is
  'Who started the run: schedule (pg_cron), cli (npm run admin -- reconcile), or another lowercase word the caller chose.';
create index payments_reconciliation_runs_finished_at_idx on public.payments_reconciliation_runs (finished_at desc);

alter table public.payments_reconciliation_runs enable row level security;
-- Reads only: the service role too writes through record_reconciliation_run(), so a run's
-- counts always match its differences and the managers are always told.
grant select on public.payments_reconciliation_runs to authenticated, service_role;
create policy "Marketplace managers read reconciliation runs" on public.payments_reconciliation_runs
  for select to authenticated
  using ((select private.has_permission('marketplace.manage')));

-- ---------------------------------------------------------------------------------------
-- Recording a run

create function ops.record_reconciliation_run(
  started_at timestamptz, finished_at timestamptz, orders_checked integer, differences jsonb, triggered_by text
) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  run_id uuid;
  managers uuid[];
begin
  if jsonb_typeof(differences) is distinct from 'array' then
    raise exception 'differences must be a JSON array' using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_array_elements(differences) d
     where case when jsonb_typeof(d) = 'object' and jsonb_typeof(d -> 'problems') = 'array'
                then private.try_uuid(d ->> 'order_id') is null
                     or jsonb_typeof(d -> 'currency') is distinct from 'string'
                     or jsonb_typeof(d -> 'status') is distinct from 'string'
                     or jsonb_array_length(d -> 'problems') = 0
                     or exists (select 1 from jsonb_array_elements(d -> 'problems') p where jsonb_typeof(p) <> 'string')
                else true end
  ) then
    raise exception 'each difference must be { order_id, currency, status, problems: [one or more strings] }' using errcode = '22023';
  end if;

  insert into public.payments_reconciliation_runs
    (started_at, finished_at, orders_checked, orders_with_differences, differences, triggered_by)
  values (started_at, finished_at, orders_checked, jsonb_array_length(differences), differences, triggered_by)
  returning id into run_id;

  if jsonb_array_length(differences) > 0 then
    -- Every user holding marketplace.manage now: the join narrows user_roles to the roles
    -- that grant it, user_has_permission decides as the policies do (unexpired roles only).
    managers := array(select distinct ur.user_id from public.user_roles ur
                        join public.role_permissions rp on rp.role_id = ur.role_id and rp.permission = 'marketplace.manage'
                       where private.user_has_permission(ur.user_id, 'marketplace.manage'));
    perform private.emit_event('payments.reconciliation_differences', 'payments_reconciliation_run', run_id, managers,
      jsonb_build_object('orders_checked', orders_checked, 'orders_with_differences', jsonb_array_length(differences),
                         'triggered_by', triggered_by),
      null);
  end if;

  -- Runs are monitoring, not the book: the ledger is append-only and a run can be repeated
  -- at any time, while a schedule adds a row every few minutes or hours, each carrying up to
  -- every order's problems. 90 days shows when a difference appeared and whether it went;
  -- one still open is in the next run anyway. finished_at is indexed, so this is cheap.
  delete from public.payments_reconciliation_runs r where r.finished_at < now() - interval '90 days';

  return run_id;
end
$$;
comment on function ops.record_reconciliation_run(timestamptz, timestamptz, integer, jsonb, text) is
  'Records a reconciliation run (differences: the orders with problems only) and, when it found any, emits payments.reconciliation_differences to every marketplace manager; drops runs older than 90 days. Service role only (payments-reconcile).';
revoke execute on function ops.record_reconciliation_run(timestamptz, timestamptz, integer, jsonb, text) from public;
grant execute on function ops.record_reconciliation_run(timestamptz, timestamptz, integer, jsonb, text) to service_role;
