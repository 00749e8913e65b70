-- Paying a checkout (issue 17, "Placing the order", payment part): ONE Stripe Checkout Session
-- (mode=payment) for the whole checkout, confirmed by the webhook, then per shop order a Stripe
-- Transfer of the seller's share less commission to their connected account. Built on the
-- commission orders' pieces (40_payments): the ledger (extended here with per-checkout
-- accounts), the webhook's dispatch (private.apply_stripe_event hands shop events to
-- private.apply_shop_stripe_event), the claim/record pattern of releases.
--
-- Decision: a `shop_payments` row per checkout (not public.payments: that one is keyed by a
-- commission order and carries its escrow freezes). The ledger gains a checkout scope:
-- ledger_accounts.checkout_id for the per-checkout buyer_funding, escrow and refunds accounts.

-- ---------------------------------------------------------------------------------------
-- The ledger's checkout scope (cross-file columns, docs/conventions.md).

alter table public.ledger_accounts add column checkout_id uuid references public.checkouts (id) on delete restrict;
comment on column public.ledger_accounts.checkout_id is
  'Per-checkout accounts of the shop (buyer_funding, escrow, refunds): the checkout whose money they hold (80_payments.sql).';
alter table public.ledger_accounts drop constraint ledger_accounts_scope;
alter table public.ledger_accounts add constraint ledger_accounts_scope check (case
    when kind in ('buyer_funding', 'escrow', 'refunds', 'chargebacks')
      then num_nonnulls(order_id, checkout_id) = 1 and user_id is null
    when kind in ('seller_payable', 'seller_transfers') then user_id is not null and order_id is null and checkout_id is null
    else order_id is null and user_id is null and checkout_id is null end);
alter table public.ledger_accounts drop constraint ledger_accounts_unique;
alter table public.ledger_accounts add constraint ledger_accounts_unique unique nulls not distinct (kind, currency, order_id, user_id, checkout_id);
create index ledger_accounts_checkout_idx on public.ledger_accounts (checkout_id) where checkout_id is not null;

-- The account of a kind for a checkout, created on first use (private.ledger_account's twin for
-- the checkout scope: that one's signature is the commission orders').
create function private.checkout_ledger_account(kind text, currency text, checkout_id uuid) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  account bigint;
begin
  select a.id into account from public.ledger_accounts a
   where a.kind = checkout_ledger_account.kind and a.currency = checkout_ledger_account.currency
     and a.checkout_id = checkout_ledger_account.checkout_id;
  if account is null then
    insert into public.ledger_accounts (kind, currency, checkout_id)
    values (kind, currency, checkout_id)
    on conflict on constraint ledger_accounts_unique do nothing
    returning id into account;
    if account is null then
      select a.id into account from public.ledger_accounts a
       where a.kind = checkout_ledger_account.kind and a.currency = checkout_ledger_account.currency
         and a.checkout_id = checkout_ledger_account.checkout_id;
    end if;
  end if;
  return account;
end
$$;
comment on function private.checkout_ledger_account(text, text, uuid) is
  'The id of a checkout''s ledger account (buyer_funding, escrow, refunds), created on first use.';
revoke execute on function private.checkout_ledger_account(text, text, uuid) from public;
grant execute on function private.checkout_ledger_account(text, text, uuid) to service_role;

create function private.checkout_ledger_balance(kind text, currency text, checkout_id uuid) returns bigint
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(sum(e.amount), 0)::bigint
    from public.ledger_accounts a join public.ledger_entries e on e.account_id = a.id
   where a.kind = checkout_ledger_balance.kind and a.currency = checkout_ledger_balance.currency
     and a.checkout_id = checkout_ledger_balance.checkout_id
$$;
revoke execute on function private.checkout_ledger_balance(text, text, uuid) from public;
grant execute on function private.checkout_ledger_balance(text, text, uuid) to service_role;

-- ---------------------------------------------------------------------------------------
-- Commission rules: the platform default (platform_settings.commission_rate_bps), overridden
-- per category (the product's category or its nearest ancestor with a rule) and per shop. The
-- most specific wins: shop over category over default.

create table public.commission_rules (
  id uuid primary key default gen_random_uuid(),
  shop_id uuid references public.shops (id) on delete cascade,
  category_id uuid references public.product_categories (id) on delete cascade,
  rate_bps integer not null constraint commission_rules_rate_range check (rate_bps between 0 and 5000),
  note text constraint commission_rules_note_length check (char_length(note) <= 500),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint commission_rules_one_scope check (num_nonnulls(shop_id, category_id) = 1)
);
comment on table public.commission_rules is
  'Commission overrides of the shop: one shop''s rate or one category''s (and its subcategories''), in bps. Shop over category over platform_settings.commission_rate_bps. Managed by commerce.manage; snapshotted on shop orders at payment.';
create unique index commission_rules_shop_unique on public.commission_rules (shop_id) where shop_id is not null;
create unique index commission_rules_category_unique on public.commission_rules (category_id) where category_id is not null;
create trigger commission_rules_touch before update on public.commission_rules
  for each row execute function private.touch_updated_at();

alter table public.commission_rules enable row level security;
grant select, insert, update, delete on public.commission_rules to authenticated;
grant select, insert, update, delete on public.commission_rules to service_role;
create policy "Commerce staff manage commission rules; sellers read their shop's" on public.commission_rules
  for select to authenticated using ((select private.can_manage_commerce()) or shop_id = (select auth.uid()));
create policy "Commerce staff create commission rules" on public.commission_rules
  for insert to authenticated with check ((select private.can_manage_commerce()));
create policy "Commerce staff change commission rules" on public.commission_rules
  for update to authenticated using ((select private.can_manage_commerce())) with check ((select private.can_manage_commerce()));
create policy "Commerce staff delete commission rules" on public.commission_rules
  for delete to authenticated using ((select private.can_manage_commerce()));

-- The rate for one product of one shop: the shop's rule, else the nearest category rule up the
-- product's category tree, else the platform default.
create function private.commission_rate_for(shop_id uuid, category_id uuid) returns integer
language sql
stable
security definer
set search_path = ''
as $$
  with recursive up as (
    select c.id, c.parent_id, 0 as depth from public.product_categories c where c.id = commission_rate_for.category_id
    union all
    select c.id, c.parent_id, up.depth + 1 from public.product_categories c join up on c.id = up.parent_id where up.depth < 50
  )
  select coalesce(
    (select r.rate_bps from public.commission_rules r where r.shop_id = commission_rate_for.shop_id),
    (select r.rate_bps from up join public.commission_rules r on r.category_id = up.id order by up.depth limit 1),
    private.commission_rate_bps())
$$;
comment on function private.commission_rate_for(uuid, uuid) is
  'Commission in bps for a shop''s product in a category: shop rule, else nearest category rule (walking up the tree), else the platform default.';
revoke execute on function private.commission_rate_for(uuid, uuid) from public;
grant execute on function private.commission_rate_for(uuid, uuid) to service_role;

-- Snapshots at payment (cross-file columns of 70_checkouts.sql's tables).
alter table public.shop_order_items add column commission_rate_bps integer
  constraint shop_order_items_commission_rate_range check (commission_rate_bps between 0 and 5000);
comment on column public.shop_order_items.commission_rate_bps is
  'The commission rate applied to this line, snapshotted when the checkout was paid (commission_rate_for).';
alter table public.shop_orders add column commission_amount bigint
  constraint shop_orders_commission_range check (commission_amount >= 0 and commission_amount <= total);
comment on column public.shop_orders.commission_amount is
  'The platform''s commission, snapshotted at payment: Σ over lines of commission_of(line_total, rate), at most the order''s total. The seller receives total - commission_amount.';

-- ---------------------------------------------------------------------------------------
-- Payments and transfers

create table public.shop_payments (
  checkout_id uuid primary key references public.checkouts (id) on delete restrict,
  amount bigint not null constraint shop_payments_amount_positive check (amount > 0),
  currency text not null references public.currencies (code),
  status text not null default 'pending'
    constraint shop_payments_status check (status in ('pending', 'paid', 'late_refund_due', 'refunded', 'partially_refunded')),
  attempt integer not null default 0,
  stripe_checkout_session_id text unique,
  checkout_url text,
  session_expires_at timestamptz,
  stripe_payment_intent_id text unique,
  stripe_charge_id text,
  amount_captured bigint not null default 0 constraint shop_payments_captured_range check (amount_captured >= 0),
  amount_refunded bigint not null default 0 constraint shop_payments_refunded_range check (amount_refunded between 0 and amount_captured),
  late_payment_reason text,
  stripe_late_refund_id text,
  stripe_fee bigint constraint shop_payments_fee_range check (stripe_fee >= 0),
  paid_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.shop_payments is
  'The Stripe payment of a checkout (one Checkout Session per attempt, key shop_checkout:<checkout>:<attempt>). late_refund_due: the payment arrived after the checkout had expired (stock released): it is refunded in full (late_payment_reason says why).';
comment on column public.shop_payments.stripe_fee is
  'Stripe''s fee on the checkout''s charge (its balance transaction), posted once as fee:<charge> (platform_commission -> stripe_fees, private.post_stripe_fee); null until known.';
create trigger shop_payments_touch before update on public.shop_payments
  for each row execute function private.touch_updated_at();

create table public.shop_transfers (
  shop_order_id uuid primary key references public.shop_orders (id) on delete restrict,
  checkout_id uuid not null references public.checkouts (id) on delete restrict,
  seller_id uuid not null,
  amount bigint not null constraint shop_transfers_amount_positive check (amount > 0),
  commission bigint not null constraint shop_transfers_commission_range check (commission >= 0),
  currency text not null references public.currencies (code),
  destination text,
  claimed_at timestamptz,
  stripe_transfer_id text unique,
  transferred_at timestamptz,
  last_error text,
  -- Retries (claim_shop_transfers, due_shop_transfers): failed attempts so far, when the next
  -- is due, and when they stopped (the cap: staff are told, shop_transfers_failing lists it).
  attempts integer not null default 0 constraint shop_transfers_attempts_range check (attempts >= 0),
  next_attempt_at timestamptz,
  gave_up_at timestamptz,
  -- Set when the order is refunded in full before its payout: nothing is transferred.
  cancelled_at timestamptz,
  created_at timestamptz not null default now()
);
comment on table public.shop_transfers is
  'A shop order''s payout: total - commission to the seller''s connected account, source_transaction = the checkout''s charge, key shop_transfer:<shop order>. Claimed (claimed_at) before the Stripe call, recorded (stripe_transfer_id) once.';
create index shop_transfers_checkout_idx on public.shop_transfers (checkout_id);
create index shop_transfers_pending_idx on public.shop_transfers (next_attempt_at)
  where stripe_transfer_id is null and cancelled_at is null and gave_up_at is null;
comment on column public.shop_transfers.attempts is
  'Failed attempts (Stripe refused, or the seller could not receive transfers yet). Attempt n > 1 uses the key shop_transfer:<shop order>:<n>: Stripe keeps a refusal under its key for 24 hours, and a refused attempt paid nothing.';
comment on column public.shop_transfers.next_attempt_at is
  'When the scheduled retry (commerce-transfers-retry) may try again: 5 minutes after the first failure, doubling up to 12 hours; at once when the seller becomes able to receive transfers.';
comment on column public.shop_transfers.gave_up_at is
  'Set at the 10th failed attempt: no more retries; shop_transfer.failed told commerce staff and the seller.';
comment on column public.shop_transfers.seller_id is 'The shop (= seller) at payment; kept without a foreign key: the book outlives a deleted account.';

alter table public.shop_payments enable row level security;
alter table public.shop_transfers enable row level security;
grant select on public.shop_payments, public.shop_transfers to authenticated, service_role;
create policy "Buyers read their checkouts' payments; commerce staff read all" on public.shop_payments for select to authenticated
  using ((select private.can_manage_commerce())
         or exists (select 1 from public.checkouts c where c.id = checkout_id and c.buyer_id = (select auth.uid())));
create policy "Sellers read their transfers; commerce staff read all" on public.shop_transfers for select to authenticated
  using ((select private.can_manage_commerce()) or seller_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Starting a payment (commerce-checkout-pay)

create function ops.begin_shop_payment(checkout_id uuid, acting_user uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  co public.checkouts;
  p public.shop_payments;
  next_attempt integer;
  lines jsonb;
begin
  select * into co from public.checkouts c where c.id = begin_shop_payment.checkout_id for update;
  if not found or co.buyer_id is distinct from acting_user then
    raise exception 'checkout % not found', checkout_id using errcode = 'PT404';
  end if;
  if co.status <> 'awaiting_payment' then
    raise exception 'checkout % is %: only a checkout awaiting payment can be paid', co.id, co.status using errcode = 'PT409';
  end if;
  if co.expires_at <= now() + interval '1 minute' then
    raise exception 'checkout % expires at %: its reservation is too close to its end to pay, place the order again', co.id, co.expires_at
      using errcode = 'PT409';
  end if;
  if co.total <= 0 then
    raise exception 'checkout % has nothing to pay', co.id using errcode = 'PT409';
  end if;
  insert into public.shop_payments (checkout_id, amount, currency) values (co.id, co.total, co.currency)
  on conflict on constraint shop_payments_pkey do nothing;
  select * into p from public.shop_payments x where x.checkout_id = co.id for update;
  if p.status <> 'pending' then
    raise exception 'checkout % is already paid', co.id using errcode = 'PT409';
  end if;
  if p.stripe_checkout_session_id is not null and p.session_expires_at > now() + interval '1 minute' then
    return jsonb_build_object('existing', true, 'checkout_id', co.id, 'checkout_session_id', p.stripe_checkout_session_id,
                              'url', p.checkout_url);
  end if;
  -- A claimed attempt never recorded (crash, concurrent call) is retried with the same key.
  next_attempt := case when p.attempt > 0 and p.stripe_checkout_session_id is null then p.attempt else p.attempt + 1 end;
  update public.shop_payments set attempt = next_attempt, stripe_checkout_session_id = null, checkout_url = null,
                                  session_expires_at = null
   where shop_payments.checkout_id = co.id;
  -- One line per shop order: its total (items less discount, plus shipping and tax).
  select jsonb_agg(jsonb_build_object('shop_order_id', o.id, 'name', coalesce(s.shop_name, 'Shop order') || ' (' || (
                     select count(*) from public.shop_order_items i where i.shop_order_id = o.id) || ' items)',
                   'amount', o.total) order by o.created_at, o.id)
    into lines
    from public.shop_orders o left join public.shops s on s.id = o.shop_id
   where o.checkout_id = co.id and o.total > 0;
  return jsonb_build_object(
    'existing', false, 'checkout_id', co.id, 'amount', co.total, 'currency', lower(co.currency), 'attempt', next_attempt,
    'lines', coalesce(lines, '[]'), 'transfer_group', 'checkout_' || co.id,
    -- Stripe wants expires_at at least 30 minutes ahead: the session may outlive the
    -- reservation by a little; a payment after expiry is refunded (apply_shop_capture).
    'expires_at', extract(epoch from co.expires_at)::bigint,
    'idempotency_key', 'shop_checkout:' || co.id || ':' || next_attempt);
end
$$;
comment on function ops.begin_shop_payment(uuid, uuid) is
  'Starts (or returns the open) Stripe Checkout Session attempt of a checkout for its buyer: amount and lines from the database, key shop_checkout:<checkout>:<attempt>. Service role only (commerce-checkout-pay).';

create function ops.record_shop_payment_session(checkout_id uuid, attempt integer, checkout_session_id text,
                                                url text default null, expires_at timestamptz default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  co public.checkouts;
begin
  -- Under the checkout's lock, which a cancel and the expiry take too: a session made for a
  -- checkout that was cancelled, expired or paid meanwhile is refused, and commerce-checkout-pay
  -- expires it at Stripe so nobody pays it.
  select * into co from public.checkouts c where c.id = record_shop_payment_session.checkout_id for update;
  if not found then
    raise exception 'checkout % not found', checkout_id using errcode = 'PT404';
  end if;
  if co.status <> 'awaiting_payment' then
    raise exception 'checkout % is %: payment session % is not recorded, expire it', co.id, co.status, checkout_session_id
      using errcode = 'PT409';
  end if;
  update public.shop_payments p set stripe_checkout_session_id = record_shop_payment_session.checkout_session_id,
         checkout_url = coalesce(url, p.checkout_url), session_expires_at = coalesce(record_shop_payment_session.expires_at, p.session_expires_at)
   where p.checkout_id = record_shop_payment_session.checkout_id and p.attempt = record_shop_payment_session.attempt
     and p.status = 'pending';
end
$$;
comment on function ops.record_shop_payment_session(uuid, integer, text, text, timestamptz) is
  'Records the Checkout Session made for a checkout''s payment attempt (a later attempt wins); PT409 when the checkout is no longer awaiting payment (cancelled, expired or paid: the caller expires the session). Service role only.';

-- ---------------------------------------------------------------------------------------
-- The webhook's shop branch

-- A completed payment, in the webhook's one transaction. Idempotent: a checkout already paid
-- (or a payment already recorded) changes nothing; nothing is ever deleted or refunded because
-- completion ran again (Mercur #909). A payment for a checkout no longer awaiting payment
-- (expired: stock released) is recorded and marked late_refund_due: the webhook function then
-- refunds it in full (key shop_late_refund:<checkout>). Decision: refund, not re-reserve: the
-- buyer was told the checkout expired, and the released units may be in another buyer's cart.
create function private.apply_shop_capture(checkout_id uuid, session jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  co public.checkouts;
  p public.shop_payments;
  captured bigint := (session ->> 'amount_total')::bigint;
  o record;
  commission bigint;
begin
  select * into co from public.checkouts c where c.id = apply_shop_capture.checkout_id for update;
  if not found then
    return 'ignored: no such checkout';
  end if;
  insert into public.shop_payments (checkout_id, amount, currency) values (co.id, co.total, co.currency)
  on conflict on constraint shop_payments_pkey do nothing;
  select * into p from public.shop_payments x where x.checkout_id = co.id for update;
  if p.amount_captured > 0 then
    update public.shop_payments set stripe_payment_intent_id = coalesce(shop_payments.stripe_payment_intent_id, session ->> 'payment_intent')
     where shop_payments.checkout_id = co.id;
    return 'ignored: already captured';
  end if;
  if upper(session ->> 'currency') is distinct from co.currency or captured is distinct from co.total then
    return format('ignored: Stripe captured %s %s for a checkout of %s %s', captured, upper(session ->> 'currency'), co.total, co.currency);
  end if;
  update public.shop_payments set amount_captured = captured, paid_at = now(),
         stripe_checkout_session_id = coalesce(shop_payments.stripe_checkout_session_id, session ->> 'id'),
         stripe_payment_intent_id = coalesce(shop_payments.stripe_payment_intent_id, session ->> 'payment_intent'),
         status = case when co.status = 'awaiting_payment' then 'paid' else 'late_refund_due' end,
         late_payment_reason = case when co.status = 'awaiting_payment' then null
                                    else format('paid after the checkout was %s: its stock had been released', co.status) end
   where shop_payments.checkout_id = co.id;
  perform private.post_transfer('shop_payment:' || co.id, 'Buyer payment of a checkout', null,
    private.checkout_ledger_account('buyer_funding', co.currency, co.id), private.checkout_ledger_account('escrow', co.currency, co.id), captured);
  if co.status <> 'awaiting_payment' then
    perform private.emit_event('checkout.late_payment', 'checkout', co.id, array[co.buyer_id],
                               jsonb_build_object('status', co.status, 'amount', captured), null);
    return 'applied: checkout was ' || co.status || ', refund due';
  end if;

  perform private.consume_reservations('checkout:' || co.id);
  for o in select x.id, x.shop_id, x.total from public.shop_orders x
            where x.checkout_id = co.id and x.status = 'awaiting_payment' order by x.id loop
    update public.shop_order_items i set commission_rate_bps = private.commission_rate_for(o.shop_id, pr.category_id)
      from (select i2.id, p2.category_id from public.shop_order_items i2 left join public.products p2 on p2.id = i2.product_id
             where i2.shop_order_id = o.id) pr
     where i.id = pr.id;
    select least(coalesce(sum(private.commission_of(i.line_total, i.commission_rate_bps)), 0), o.total) into commission
      from public.shop_order_items i where i.shop_order_id = o.id;
    update public.shop_orders set commission_amount = commission where id = o.id;
    perform private.transition_shop_order(o.id, 'paid', 'system');
    if o.total - commission > 0 and o.shop_id is not null then
      insert into public.shop_transfers (shop_order_id, checkout_id, seller_id, amount, commission, currency)
      values (o.id, co.id, o.shop_id, o.total - commission, commission, co.currency)
      on conflict (shop_order_id) do nothing;
    end if;
  end loop;
  update public.checkouts set status = 'paid', paid_at = now() where id = co.id;
  return 'applied';
end
$$;
comment on function private.apply_shop_capture(uuid, jsonb) is
  'checkout.session.completed (paid) for a checkout: once, stock consumed, shop orders paid with commission snapshots, transfers due, the ledger''s shop_payment:<checkout>; after expiry, late_refund_due.';

-- Stripe's fee on a checkout's charge: the rule of the commission orders' fees
-- (private.post_stripe_fee, 40_stripe_events.sql: the platform bears it, platform_commission ->
-- stripe_fees, key fee:<charge>), once whoever sees it first: the charge.succeeded /
-- charge.updated webhook, or the functions that read the payment intent with
-- latest_charge.balance_transaction expanded (settleCheckout, functions/_shared/commerce).
create function ops.record_shop_stripe_fee(checkout_id uuid, charge_id text, balance_transaction jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.shop_payments;
  fee bigint := (balance_transaction ->> 'fee')::bigint;
  result text;
begin
  select * into p from public.shop_payments x where x.checkout_id = record_shop_stripe_fee.checkout_id for update;
  if not found then
    raise exception 'checkout % has no payment', checkout_id using errcode = 'PT404';
  end if;
  if p.stripe_charge_id is not null and p.stripe_charge_id <> charge_id then
    raise exception 'charge % is not the payment of checkout % (its charge is %)', charge_id, p.checkout_id, p.stripe_charge_id
      using errcode = 'PT409';
  end if;
  if upper(balance_transaction ->> 'currency') is distinct from p.currency then
    raise exception 'the fee of charge % is in %, checkout % is paid in %', charge_id,
      coalesce(upper(balance_transaction ->> 'currency'), 'no currency'), p.checkout_id, p.currency using errcode = '22023';
  end if;
  if p.stripe_fee is not null then
    return 'ignored: already recorded';
  end if;
  result := private.post_stripe_fee(charge_id, balance_transaction, null);
  if result = 'applied' then
    update public.shop_payments set stripe_fee = fee, stripe_charge_id = coalesce(shop_payments.stripe_charge_id, charge_id)
     where shop_payments.checkout_id = p.checkout_id;
  end if;
  return result;
end
$$;
comment on function ops.record_shop_stripe_fee(uuid, text, jsonb) is
  'Records Stripe''s fee on a checkout''s charge once (shop_payments.stripe_fee) and posts it as the commission orders'' fees are (fee:<charge>, platform_commission -> stripe_fees). PT404 no payment, PT409 another charge, 22023 another currency. Service role only.';

-- The payment intent whose fee is still to be read, or null (not paid yet, or fee known).
create function ops.shop_fee_due(checkout_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select p.stripe_payment_intent_id from public.shop_payments p
   where p.checkout_id = shop_fee_due.checkout_id and p.amount_captured > 0 and p.stripe_fee is null
$$;
comment on function ops.shop_fee_due(uuid) is
  'The payment intent of a paid checkout whose Stripe fee is not recorded yet, else null. Service role only (settleCheckout).';

create function private.apply_shop_stripe_event(event jsonb, balance_transaction jsonb default null) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  object jsonb := event #> '{data,object}';
  found_checkout uuid;
  txn jsonb;
begin
  select c.id into found_checkout from public.checkouts c
   where c.id = private.try_uuid(coalesce(object #>> '{metadata,checkout_id}', object ->> 'client_reference_id'));
  if found_checkout is null then
    select p.checkout_id into found_checkout from public.shop_payments p
     where p.stripe_checkout_session_id = object ->> 'id' or p.stripe_payment_intent_id = object ->> 'id'
        or p.stripe_payment_intent_id = object ->> 'payment_intent';
  end if;
  if found_checkout is null then
    return 'ignored: no checkout for this object';
  end if;
  case event ->> 'type'
    when 'checkout.session.completed', 'checkout.session.async_payment_succeeded' then
      if object ->> 'payment_status' <> 'paid' then
        update public.shop_payments set stripe_payment_intent_id = coalesce(shop_payments.stripe_payment_intent_id, object ->> 'payment_intent')
         where checkout_id = found_checkout;
        return 'applied: awaiting an asynchronous payment';
      end if;
      return private.apply_shop_capture(found_checkout, object);
    when 'checkout.session.expired', 'checkout.session.async_payment_failed', 'payment_intent.payment_failed' then
      -- A failure never undoes a success that arrived first: expire_checkout only acts on a
      -- checkout still awaiting payment.
      if exists (select 1 from public.shop_payments p where p.checkout_id = found_checkout and p.amount_captured > 0) then
        return 'ignored: the checkout is paid';
      end if;
      if private.expire_checkout(found_checkout, case when event ->> 'type' = 'checkout.session.expired'
                                                      then 'payment session expired' else 'payment failed' end) then
        return 'applied';
      end if;
      return 'ignored: the checkout is no longer awaiting payment';
    when 'charge.succeeded', 'charge.updated' then
      txn := case when jsonb_typeof(object -> 'balance_transaction') = 'object' then object -> 'balance_transaction'
                  when balance_transaction ->> 'id' = object ->> 'balance_transaction' then balance_transaction end;
      if txn is null or object ->> 'status' <> 'succeeded' then
        return 'ignored: balance transaction not known yet';
      end if;
      if not exists (select 1 from public.shop_payments p where p.checkout_id = found_checkout) then
        return 'ignored: the checkout has no payment';
      end if;
      begin
        return ops.record_shop_stripe_fee(found_checkout, object ->> 'id', txn);
      exception when sqlstate 'PT409' or sqlstate '22023' then
        return 'ignored: ' || sqlerrm;
      end;
    else
      return 'ignored: unhandled event type for a checkout';
  end case;
end
$$;
comment on function private.apply_shop_stripe_event(jsonb, jsonb) is
  'The shop branch of private.apply_stripe_event: events whose object names a checkout (metadata.checkout_id): completion, expiry and failure, and the charge''s Stripe fee (with the balance transaction the webhook read).';

-- ---------------------------------------------------------------------------------------
-- Transfers (the webhook function carries them out after the payment is recorded)

-- Whether a transfer is due now: not made, not cancelled, not given up, no refund of its order
-- in flight (88_cancellations.sql: it waits for the refund), not claimed within the last minute
-- (another caller's in flight; an older claim is a crash: the same key again, Stripe answers
-- with the first transfer), and its next attempt due, or its seller able to receive transfers
-- after failing only for not being able to (no Stripe call made yet: no reason to wait).
-- (plpgsql: shop_refunds is declared later, in 88_cancellations.sql.)
create function private.shop_transfer_due(t public.shop_transfers) returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return t.stripe_transfer_id is null and t.cancelled_at is null and t.gave_up_at is null
     and not exists (select 1 from public.shop_refunds r where r.shop_order_id = t.shop_order_id and r.status = 'requested')
     and (t.claimed_at is null or t.claimed_at < now() - interval '1 minute')
     and (t.next_attempt_at is null or t.next_attempt_at <= now()
          or (t.destination is null
              and exists (select 1 from public.seller_payment_accounts a where a.user_id = t.seller_id and a.can_receive_transfers)));
end
$$;
comment on function private.shop_transfer_due(public.shop_transfers) is
  'Whether a shop transfer may be attempted now (claim_shop_transfers, due_shop_transfers): not made, cancelled or given up, no refund in flight, no claim younger than a minute, its retry due (or its seller newly able to receive transfers).';

-- Backoff after the n-th failed attempt: 5 minutes, doubling, at most 12 hours; 10 attempts in all
-- (about 33 hours), then the transfer is given up and staff are told.
create function private.shop_transfer_backoff(attempts integer) returns interval
language sql
immutable
set search_path = ''
as $$
  select least(interval '5 minutes' * power(2, greatest(attempts, 1) - 1), interval '12 hours')
$$;
comment on function private.shop_transfer_backoff(integer) is
  'Wait before the next attempt after the given number of failed attempts: 5 minutes doubling, capped at 12 hours.';

-- A failed attempt (Stripe refused, or the seller cannot receive transfers): the claim dropped,
-- the attempt counted, the next one scheduled; at the 10th, given up and shop_transfer.failed
-- sent to commerce staff and the seller.
create function private.fail_shop_transfer(shop_order_id uuid, reason text) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.shop_transfers;
  staff uuid[];
begin
  update public.shop_transfers x set claimed_at = null, last_error = left(reason, 1000), attempts = x.attempts + 1,
         next_attempt_at = now() + private.shop_transfer_backoff(x.attempts + 1),
         gave_up_at = case when x.attempts + 1 >= 10 then now() end
   where x.shop_order_id = fail_shop_transfer.shop_order_id and x.stripe_transfer_id is null and x.gave_up_at is null
  returning * into t;
  if t.gave_up_at is not null then
    staff := array(select distinct ur.user_id from public.user_roles ur
                     join public.role_permissions rp on rp.role_id = ur.role_id and rp.permission = 'commerce.manage'
                    where private.user_has_permission(ur.user_id, 'commerce.manage'));
    perform private.emit_event('shop_transfer.failed', 'shop_order', t.shop_order_id,
      array(select distinct u from unnest(staff || t.seller_id) u where u is not null),
      jsonb_build_object('amount', t.amount, 'currency', t.currency, 'amount_text', private.shop_amount_text(t.amount, t.currency),
                         'attempts', t.attempts, 'last_error', t.last_error), null);
  end if;
end
$$;
comment on function private.fail_shop_transfer(uuid, text) is
  'Counts a failed attempt of a shop transfer and schedules the next (private.shop_transfer_backoff); gives up at the 10th and emits shop_transfer.failed to commerce staff and the seller.';

-- Claims every due transfer of a checkout (private.shop_transfer_due). Race-safe: the payment
-- row is locked, and a claim younger than a minute is left to its caller. A seller who cannot
-- receive transfers yet fails the attempt without calling Stripe.
create function ops.claim_shop_transfers(checkout_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.shop_payments;
  claims jsonb := '[]';
  t public.shop_transfers;
  account public.seller_payment_accounts;
begin
  select * into p from public.shop_payments x where x.checkout_id = claim_shop_transfers.checkout_id for update;
  if not found or p.status not in ('paid', 'partially_refunded', 'refunded') then
    return claims;
  end if;
  for t in select * from public.shop_transfers x
            where x.checkout_id = p.checkout_id and private.shop_transfer_due(x)
            order by x.shop_order_id for update loop
    select * into account from public.seller_payment_accounts a where a.user_id = t.seller_id;
    if not coalesce(account.can_receive_transfers, false) then
      perform private.fail_shop_transfer(t.shop_order_id, 'the seller cannot receive transfers yet');
      continue;
    end if;
    update public.shop_transfers set claimed_at = now(), destination = account.stripe_account_id
     where shop_order_id = t.shop_order_id;
    claims := claims || jsonb_build_object('shop_order_id', t.shop_order_id, 'amount', t.amount, 'currency', lower(t.currency),
      'destination', account.stripe_account_id, 'source_transaction', p.stripe_charge_id,
      'payment_intent', p.stripe_payment_intent_id, 'transfer_group', 'checkout_' || p.checkout_id,
      'attempt', t.attempts + 1,
      'idempotency_key', 'shop_transfer:' || t.shop_order_id || case when t.attempts > 0 then ':' || (t.attempts + 1) else '' end);
  end loop;
  return claims;
end
$$;
comment on function ops.claim_shop_transfers(uuid) is
  'Claims the due seller transfers of a paid checkout (one per shop order, key shop_transfer:<shop order>, then :<attempt> for retries after a refusal). Service role only (stripe-webhook, commerce-transfers-retry).';

-- The checkouts with a transfer due now, for the scheduled retry (commerce-transfers-retry).
create function ops.due_shop_transfers(max_rows integer default 100) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select t.checkout_id from public.shop_transfers t
    join public.shop_payments p on p.checkout_id = t.checkout_id and p.status in ('paid', 'partially_refunded', 'refunded')
   where t.stripe_transfer_id is null and t.cancelled_at is null and t.gave_up_at is null and private.shop_transfer_due(t)
   group by t.checkout_id
   order by min(coalesce(t.next_attempt_at, t.created_at)), t.checkout_id
   limit greatest(least(max_rows, 1000), 0)
$$;
comment on function ops.due_shop_transfers(integer) is
  'Checkouts with a seller transfer due now (never attempted, retry due, a crashed claim, or a seller newly able to receive transfers), longest waiting first. Service role only.';

create function ops.record_shop_transfer(shop_order_id uuid, transfer_id text, amount bigint, charge_id text default null)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.shop_transfers;
begin
  select * into t from public.shop_transfers x where x.shop_order_id = record_shop_transfer.shop_order_id for update;
  if not found then
    return 'ignored: no transfer for this shop order';
  end if;
  if t.stripe_transfer_id = transfer_id then
    return 'ignored: already recorded';
  end if;
  if t.stripe_transfer_id is not null or t.amount <> record_shop_transfer.amount then
    return 'ignored: not the claimed transfer';
  end if;
  update public.shop_transfers set stripe_transfer_id = transfer_id, transferred_at = now() where shop_transfers.shop_order_id = t.shop_order_id;
  if charge_id is not null then
    update public.shop_payments set stripe_charge_id = coalesce(stripe_charge_id, charge_id) where checkout_id = t.checkout_id;
  end if;
  perform private.post_ledger_transaction('shop_release:' || t.shop_order_id, 'Shop order paid out: seller''s share and commission', null,
    jsonb_build_array(
      jsonb_build_object('account_id', private.checkout_ledger_account('escrow', t.currency, t.checkout_id), 'amount', -(t.amount + t.commission)),
      jsonb_build_object('account_id', private.ledger_account('seller_payable', t.currency, null, t.seller_id), 'amount', t.amount),
      jsonb_build_object('account_id', private.ledger_account('platform_commission', t.currency), 'amount', t.commission)));
  perform private.post_transfer('shop_transfer:' || t.shop_order_id, 'Transfer to the seller''s connected account', null,
    private.ledger_account('seller_payable', t.currency, null, t.seller_id),
    private.ledger_account('seller_transfers', t.currency, null, t.seller_id), t.amount);
  return 'applied';
end
$$;
comment on function ops.record_shop_transfer(uuid, text, bigint, text) is
  'Records a shop order''s Stripe transfer once; posts shop_release:<shop order> and shop_transfer:<shop order>. Service role only.';

create function ops.abandon_shop_transfer(shop_order_id uuid, reason text) returns void
language sql
security definer
set search_path = ''
as $$
  select private.fail_shop_transfer(shop_order_id, reason)
$$;
comment on function ops.abandon_shop_transfer(uuid, text) is
  'Drops a transfer claim Stripe refused and schedules its retry (private.fail_shop_transfer: a new key next time). Service role only.';

-- The late payment's full refund: claimed by the webhook function, recorded once.
create function ops.claim_shop_late_refund(checkout_id uuid) returns jsonb
language sql
security definer
set search_path = ''
as $$
  select case when p.status = 'late_refund_due' and p.stripe_late_refund_id is null then
    jsonb_build_object('checkout_id', p.checkout_id, 'amount', p.amount_captured, 'payment_intent', p.stripe_payment_intent_id,
                       'reason', p.late_payment_reason, 'idempotency_key', 'shop_late_refund:' || p.checkout_id)
  end
  from public.shop_payments p where p.checkout_id = claim_shop_late_refund.checkout_id
$$;
comment on function ops.claim_shop_late_refund(uuid) is 'The refund due for a payment that arrived after its checkout expired, or null. Service role only.';

create function ops.record_shop_late_refund(checkout_id uuid, stripe_refund_id text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.shop_payments;
begin
  select * into p from public.shop_payments x where x.checkout_id = record_shop_late_refund.checkout_id for update;
  if not found or p.status <> 'late_refund_due' then
    return 'ignored: no late refund due';
  end if;
  update public.shop_payments set status = 'refunded', stripe_late_refund_id = record_shop_late_refund.stripe_refund_id,
         amount_refunded = p.amount_captured
   where shop_payments.checkout_id = p.checkout_id;
  perform private.post_transfer('shop_late_refund:' || p.checkout_id, 'Payment after expiry refunded to the buyer', null,
    private.checkout_ledger_account('escrow', p.currency, p.checkout_id), private.checkout_ledger_account('refunds', p.currency, p.checkout_id),
    p.amount_captured);
  return 'applied';
end
$$;
comment on function ops.record_shop_late_refund(uuid, text) is 'Records the refund of a late payment once; posts shop_late_refund:<checkout>. Service role only.';

revoke execute on function ops.begin_shop_payment(uuid, uuid), ops.record_shop_payment_session(uuid, integer, text, text, timestamptz),
  ops.claim_shop_transfers(uuid), ops.record_shop_transfer(uuid, text, bigint, text), ops.abandon_shop_transfer(uuid, text),
  ops.claim_shop_late_refund(uuid), ops.record_shop_late_refund(uuid, text),
  ops.record_shop_stripe_fee(uuid, text, jsonb), ops.shop_fee_due(uuid), ops.due_shop_transfers(integer),
  private.shop_transfer_due(public.shop_transfers), private.shop_transfer_backoff(integer), private.fail_shop_transfer(uuid, text),
  private.apply_shop_capture(uuid, jsonb), private.apply_shop_stripe_event(jsonb, jsonb) from public;
grant execute on function ops.begin_shop_payment(uuid, uuid), ops.record_shop_payment_session(uuid, integer, text, text, timestamptz),
  ops.claim_shop_transfers(uuid), ops.record_shop_transfer(uuid, text, bigint, text), ops.abandon_shop_transfer(uuid, text),
  ops.claim_shop_late_refund(uuid), ops.record_shop_late_refund(uuid, text),
  ops.record_shop_stripe_fee(uuid, text, jsonb), ops.shop_fee_due(uuid), ops.due_shop_transfers(integer),
  private.shop_transfer_due(public.shop_transfers), private.shop_transfer_backoff(integer), private.fail_shop_transfer(uuid, text),
  private.apply_shop_capture(uuid, jsonb), private.apply_shop_stripe_event(jsonb, jsonb) to service_role;

-- Ops list: the shop transfers not paid out because they failed (retrying, or given up), as the
-- caller may read them (commerce staff all, a seller theirs).
create view public.shop_transfers_failing with (security_invoker = true) as
  select t.shop_order_id, t.checkout_id, t.seller_id, t.amount, t.commission, t.currency, t.attempts, t.last_error,
         t.next_attempt_at, t.gave_up_at, t.created_at
    from public.shop_transfers t
   where t.stripe_transfer_id is null and t.cancelled_at is null and t.attempts > 0;
comment on view public.shop_transfers_failing is
  'Shop transfers that failed at least once and are not paid out: retrying (next_attempt_at) or given up (gave_up_at, shop_transfer.failed sent). Commerce staff read all, sellers theirs.';
grant select on public.shop_transfers_failing to authenticated, service_role;

-- Staff put a given-up transfer back in the retry queue (after the seller fixed their account,
-- or Stripe's balance was topped up): next attempt now, the failed attempts kept (the key of the
-- next attempt follows them: shop_transfer:<shop order>:<attempts + 1>), one more failure gives
-- up again. Audited (public.audit_log, action requeue). Only a given-up transfer: PT409 otherwise.
create function private.requeue_shop_transfer(shop_order_id uuid) returns public.shop_transfers_failing
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.shop_transfers;
  actor record;
  result public.shop_transfers_failing;
begin
  if not private.can_manage_commerce() then
    raise exception 'requeueing a shop transfer needs the commerce.manage permission' using errcode = '42501';
  end if;
  select * into t from public.shop_transfers x where x.shop_order_id = requeue_shop_transfer.shop_order_id for update;
  if not found then
    raise exception 'shop order % has no transfer', shop_order_id using errcode = 'PT404';
  end if;
  if t.gave_up_at is null or t.stripe_transfer_id is not null or t.cancelled_at is not null then
    raise exception 'the transfer of shop order % is %: only a given-up transfer is requeued', t.shop_order_id,
      case when t.stripe_transfer_id is not null then 'paid out' when t.cancelled_at is not null then 'cancelled'
           else 'still retried (' || t.attempts || ' failed attempts)' end
      using errcode = 'PT409';
  end if;
  update public.shop_transfers x set gave_up_at = null, next_attempt_at = now(), claimed_at = null
   where x.shop_order_id = t.shop_order_id;
  select * into actor from private.current_actor();
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (actor.actor_id, actor.actor_label, 'requeue', 'shop_transfers', t.shop_order_id::text,
          jsonb_build_object('gave_up_at', t.gave_up_at, 'next_attempt_at', t.next_attempt_at, 'attempts', t.attempts, 'last_error', t.last_error),
          jsonb_build_object('gave_up_at', null, 'next_attempt_at', now(), 'attempts', t.attempts));
  select * into result from public.shop_transfers_failing f where f.shop_order_id = t.shop_order_id;
  return result;
end
$$;
revoke execute on function private.requeue_shop_transfer(uuid) from public;
grant execute on function private.requeue_shop_transfer(uuid) to authenticated, service_role;

create function public.requeue_shop_transfer(shop_order_id uuid) returns public.shop_transfers_failing
language sql
security invoker
set search_path = ''
as $$
  select private.requeue_shop_transfer(shop_order_id)
$$;
comment on function public.requeue_shop_transfer(uuid) is
  'Commerce staff put a given-up shop transfer back in the retry queue: next attempt now, attempts kept, audited. 42501 without commerce.manage, PT404 no transfer, PT409 not given up.';
revoke execute on function public.requeue_shop_transfer(uuid) from public, anon;
grant execute on function public.requeue_shop_transfer(uuid) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- 003 GET /payments, GET /payments/{id}: the buyer's shop payments (staff: all).

create view public.my_shop_payments with (security_invoker = true) as
  select p.checkout_id as id, p.checkout_id, c.buyer_id, p.amount, p.currency, p.status, p.amount_captured, p.amount_refunded,
         p.paid_at, p.late_payment_reason, p.created_at,
         (select coalesce(jsonb_agg(jsonb_build_object('shop_order_id', o.id, 'shop_id', o.shop_id, 'status', o.status,
                                                       'total', o.total) order by o.id), '[]')
            from public.shop_orders o where o.checkout_id = p.checkout_id) as shop_orders
    from public.shop_payments p join public.checkouts c on c.id = p.checkout_id;
comment on view public.my_shop_payments is
  '003 GET /payments and /payments/{id}: shop payments with status, amounts and refunds, as the caller may read them (the buyer their own, commerce staff all).';
grant select on public.my_shop_payments to authenticated, service_role;
