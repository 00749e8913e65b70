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
