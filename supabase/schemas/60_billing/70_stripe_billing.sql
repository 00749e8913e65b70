-- Stripe Billing (issue 18, the Stripe side): what the billing-* edge functions and the
-- stripe-webhook's billing hook (functions/_shared/billing/) call. All ops RPCs: service role
-- only; the functions identify the caller from the JWT and pass acting_user.
--   - plans and prices mirrored to Stripe Products and Prices (billing-sync-plans):
--     ops.billing_plans_to_sync, ops.record_billing_stripe_ids;
--   - subscribing (billing-subscribe): ops.billing_subscribe_check (refusals before anything
--     is sent to Stripe), ops.register_billing_customer (one Stripe Customer per user);
--   - managing (billing-manage-subscription): ops.billing_subscription_for (owner or staff);
--   - the webhook: ops.apply_billing_event, dispatching customer.subscription.* to
--     private.apply_subscription_snapshot (20_subscriptions.sql) and invoice.* to the
--     stripe_invoices mirror (private.apply_invoice_snapshot), posting paid invoices and
--     Stripe's fees on them to the ledger (docs/payments/ledger-postings.md, rows 20-21).

-- ---------------------------------------------------------------------------------------
-- The ledger's subscription accounts (cross-file: the kinds of 40_payments/10_ledger.sql).
-- Platform-scoped (no order, user or checkout): subscription_funding is where subscribers'
-- money comes from (−paid), subscription_revenue the platform's revenue from subscriptions
-- (less Stripe's fees on them and the refunds), subscription_refunds what went back to
-- subscribers (staff force cancels with a refund, ops.record_subscription_refund).

alter table public.ledger_accounts drop constraint ledger_accounts_kind;
alter table public.ledger_accounts add constraint ledger_accounts_kind check (kind in (
  'buyer_funding', 'escrow', 'refunds', 'chargebacks', 'seller_payable', 'seller_transfers',
  'platform_commission', 'stripe_fees', 'subscription_funding', 'subscription_revenue', 'subscription_refunds'));

-- ---------------------------------------------------------------------------------------
-- The mirror of Stripe's subscription invoices.

create table public.stripe_invoices (
  id uuid primary key default gen_random_uuid(),
  stripe_invoice_id text not null constraint stripe_invoices_stripe_id_unique unique,
  -- Kept for accounting without a foreign key (like invoices.customer_id): the book outlives
  -- an erased account.
  user_id uuid,
  stripe_customer_id text not null,
  stripe_subscription_id text,
  number text,
  status text not null constraint stripe_invoices_status check (status in ('draft', 'open', 'paid', 'void', 'uncollectible')),
  billing_reason text,
  currency text not null,
  subtotal bigint not null default 0,
  total bigint not null default 0,
  amount_due bigint not null default 0,
  amount_paid bigint not null default 0,
  amount_remaining bigint not null default 0,
  -- What we refunded of the invoice's payment (ops.record_subscription_refund); Stripe's
  -- invoice stays paid, so no snapshot carries it and the webhook never overwrites it.
  amount_refunded bigint not null default 0 constraint stripe_invoices_refunded_range check (amount_refunded >= 0),
  period_start timestamptz,
  period_end timestamptz,
  paid_at timestamptz,
  hosted_invoice_url text,
  invoice_pdf text,
  lines jsonb not null default '[]',
  stripe_created_at timestamptz,
  -- The ordering key of the last applied snapshot (status rank, event.created, event id).
  stripe_updated_at timestamptz not null,
  stripe_event_id text not null,
  snapshot jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index stripe_invoices_user_idx on public.stripe_invoices (user_id, stripe_created_at desc) where user_id is not null;
create index stripe_invoices_subscription_idx on public.stripe_invoices (stripe_subscription_id) where stripe_subscription_id is not null;
comment on table public.stripe_invoices is
  'Mirror of Stripe Billing invoices (subscriptions), written only by private.apply_invoice_snapshot from invoice.* events, never moving backwards. Users read their own, billing.manage all.';
comment on column public.stripe_invoices.lines is 'The invoice''s lines as { description, amount, proration, price, period_start, period_end }.';
comment on column public.stripe_invoices.stripe_updated_at is
  'event.created of the last applied snapshot: part of the ordering key (status rank, event.created, event id).';

create trigger stripe_invoices_touch_updated_at before update on public.stripe_invoices
  for each row execute function private.touch_updated_at();

alter table public.stripe_invoices enable row level security;
grant select on public.stripe_invoices to authenticated;
grant all on public.stripe_invoices to service_role;
create policy "Users read their own Stripe invoices, billing managers all" on public.stripe_invoices for select to authenticated
  using (user_id = (select auth.uid()) or (select private.has_permission('billing.manage')));

-- How far along an invoice's life a status is: a snapshot never moves an invoice to a lower
-- rank (paid and void are final; an uncollectible invoice may still be paid).
create function private.stripe_invoice_rank(status text) returns integer
language sql
immutable
set search_path = ''
as $$
  select case status when 'draft' then 0 when 'open' then 1 when 'uncollectible' then 2 when 'paid' then 3 when 'void' then 3 end
$$;
comment on function private.stripe_invoice_rank(text) is
  'Ordering rank of a Stripe invoice status: draft 0, open 1, uncollectible 2, paid and void 3 (final).';

-- Posts a paid subscription invoice: subscription_funding -> subscription_revenue, amount_paid.
create function private.post_stripe_invoice_payment(invoice jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  amount bigint := (invoice ->> 'amount_paid')::bigint;
  currency text := upper(invoice ->> 'currency');
begin
  if invoice ->> 'status' is distinct from 'paid' or amount is null or amount <= 0 then
    return 'nothing to post';
  end if;
  if not exists (select from public.currencies c where c.code = currency) then
    return 'ignored: unknown currency';
  end if;
  perform private.post_transfer('subscription_invoice:' || (invoice ->> 'id'), 'Subscription invoice paid', null,
    private.ledger_account('subscription_funding', currency), private.ledger_account('subscription_revenue', currency), amount);
  return 'posted';
end
$$;
comment on function private.post_stripe_invoice_payment(jsonb) is
  'Ledger: a paid Stripe subscription invoice, subscription_funding -> subscription_revenue (key subscription_invoice:<in_…>), once.';
revoke execute on function private.post_stripe_invoice_payment(jsonb) from public;
grant execute on function private.post_stripe_invoice_payment(jsonb) to service_role;

-- Applies one Stripe event carrying an invoice (invoice.*): inserted, applied or stale.
create function private.apply_invoice_snapshot(event jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  inv jsonb := event -> 'data' -> 'object';
  event_id text := event ->> 'id';
  event_at timestamptz := private.stripe_time(event -> 'created');
  current public.stripe_invoices;
  owner uuid;
  incoming_key text;
  stored_key text;
  posted text;
begin
  if inv is null or inv ->> 'object' is distinct from 'invoice' or event_id is null or event_at is null then
    raise exception 'not a Stripe event carrying an invoice (id, created, data.object.object = invoice)' using errcode = '22023';
  end if;
  if inv ->> 'id' is null then
    return 'ignored: an upcoming invoice has no id';
  end if;
  if private.stripe_invoice_rank(inv ->> 'status') is null then
    raise exception 'invoice % has an unknown status', inv ->> 'id' using errcode = '22023';
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('billing.invoice:' || (inv ->> 'id'), 0));
  select * into current from public.stripe_invoices i where i.stripe_invoice_id = inv ->> 'id' for update;
  select bc.user_id into owner from public.billing_customers bc where bc.stripe_customer_id = inv ->> 'customer';
  owner := coalesce(owner, current.user_id,
    (select s.user_id from public.subscriptions s
      where s.stripe_subscription_id = inv -> 'parent' -> 'subscription_details' ->> 'subscription'));
  if owner is null then
    -- Not a customer of ours (no billing_customers row, no mirrored subscription).
    return 'ignored: not a customer or subscription of ours';
  end if;

  incoming_key := private.stripe_invoice_rank(inv ->> 'status') || '|' || to_char(event_at at time zone 'UTC', 'YYYYMMDDHH24MISS')
    || '|' || event_id;
  if current.id is not null then
    stored_key := private.stripe_invoice_rank(current.status) || '|'
      || to_char(current.stripe_updated_at at time zone 'UTC', 'YYYYMMDDHH24MISS') || '|' || current.stripe_event_id;
    if incoming_key collate "C" < stored_key collate "C" then
      return 'stale';
    end if;
  end if;

  insert into public.stripe_invoices as i (
    stripe_invoice_id, user_id, stripe_customer_id, stripe_subscription_id, number, status, billing_reason, currency,
    subtotal, total, amount_due, amount_paid, amount_remaining, period_start, period_end, paid_at,
    hosted_invoice_url, invoice_pdf, lines, stripe_created_at, stripe_updated_at, stripe_event_id, snapshot)
  values (
    inv ->> 'id', owner, inv ->> 'customer', inv -> 'parent' -> 'subscription_details' ->> 'subscription',
    inv ->> 'number', inv ->> 'status', inv ->> 'billing_reason', upper(inv ->> 'currency'),
    coalesce((inv ->> 'subtotal')::bigint, 0), coalesce((inv ->> 'total')::bigint, 0),
    coalesce((inv ->> 'amount_due')::bigint, 0), coalesce((inv ->> 'amount_paid')::bigint, 0),
    coalesce((inv ->> 'amount_remaining')::bigint, 0),
    private.stripe_time(inv -> 'period_start'), private.stripe_time(inv -> 'period_end'),
    private.stripe_time(inv -> 'status_transitions' -> 'paid_at'),
    inv ->> 'hosted_invoice_url', inv ->> 'invoice_pdf',
    coalesce((select jsonb_agg(jsonb_build_object(
        'description', l ->> 'description', 'amount', (l ->> 'amount')::bigint,
        'proration', coalesce((l -> 'parent' -> 'subscription_item_details' ->> 'proration')::boolean, false),
        'price', l -> 'pricing' -> 'price_details' ->> 'price',
        'period_start', private.stripe_time(l -> 'period' -> 'start'), 'period_end', private.stripe_time(l -> 'period' -> 'end')))
      from jsonb_array_elements(coalesce(inv -> 'lines' -> 'data', '[]')) l), '[]'),
    private.stripe_time(inv -> 'created'), event_at, event_id, inv)
  on conflict (stripe_invoice_id) do update set
    user_id = excluded.user_id, stripe_customer_id = excluded.stripe_customer_id,
    stripe_subscription_id = excluded.stripe_subscription_id, number = excluded.number, status = excluded.status,
    billing_reason = excluded.billing_reason, currency = excluded.currency, subtotal = excluded.subtotal,
    total = excluded.total, amount_due = excluded.amount_due, amount_paid = excluded.amount_paid,
    amount_remaining = excluded.amount_remaining, period_start = excluded.period_start, period_end = excluded.period_end,
    paid_at = excluded.paid_at, hosted_invoice_url = excluded.hosted_invoice_url, invoice_pdf = excluded.invoice_pdf,
    lines = excluded.lines, stripe_created_at = excluded.stripe_created_at, stripe_updated_at = excluded.stripe_updated_at,
    stripe_event_id = excluded.stripe_event_id, snapshot = excluded.snapshot;
  posted := private.post_stripe_invoice_payment(inv);
  return (case when current.id is null then 'inserted' else 'applied' end)
    || case when posted = 'posted' then ', posted' else '' end;
end
$$;
comment on function private.apply_invoice_snapshot(jsonb) is
  'Applies a Stripe event whose data.object is an invoice to public.stripe_invoices: inserted, applied or stale by (status rank, event.created, event id); a paid invoice is posted to the ledger once. Idempotent.';
revoke execute on function private.apply_invoice_snapshot(jsonb) from public;
grant execute on function private.apply_invoice_snapshot(jsonb) to service_role;

-- Stripe's fee on a subscription invoice's charge: subscription_revenue -> stripe_fees. The key
-- is the one payments uses for fees (fee:<charge id>), so a fee is posted once whoever sees it.
create function private.post_stripe_invoice_fee(fee jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  charge_id text := fee ->> 'charge';
  amount bigint := (fee -> 'balance_transaction' ->> 'fee')::bigint;
  currency text := upper(fee -> 'balance_transaction' ->> 'currency');
begin
  if charge_id is null or amount is null or amount <= 0
     or not exists (select from public.currencies c where c.code = currency) then
    return 'no fee';
  end if;
  perform private.post_transfer('fee:' || charge_id, 'Stripe processing fee on a subscription invoice', null,
    private.ledger_account('subscription_revenue', currency), private.ledger_account('stripe_fees', currency), amount);
  return 'fee posted';
end
$$;
comment on function private.post_stripe_invoice_fee(jsonb) is
  'Ledger: Stripe''s fee { charge, balance_transaction } on a subscription invoice''s charge, subscription_revenue -> stripe_fees (key fee:<ch_…>), once.';
revoke execute on function private.post_stripe_invoice_fee(jsonb) from public;
grant execute on function private.post_stripe_invoice_fee(jsonb) to service_role;

-- The webhook's billing hook: applies a stored event's billing part, and notes the outcome on
-- the stored event (public.stripe_events.outcome). Idempotent, so it also runs on duplicate
-- deliveries (a retry finishes what a failed attempt left).
create function ops.apply_billing_event(event jsonb, fee jsonb default null) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  kind text := event ->> 'type';
  result text;
begin
  if kind like 'customer.subscription.%' then
    -- A subscription of a price no plan has, or of nobody we know, is not ours (another
    -- integration on the same Stripe account): acknowledged, so Stripe does not retry it.
    begin
      result := private.apply_subscription_snapshot(event);
    exception when sqlstate '22023' then
      result := 'ignored: ' || sqlerrm;
    end;
  elsif kind like 'invoice.%' then
    result := private.apply_invoice_snapshot(event);
    if fee is not null then
      result := result || ', ' || private.post_stripe_invoice_fee(fee);
    end if;
  else
    return 'ignored: not a billing event';
  end if;
  update public.stripe_events e set outcome = 'billing: ' || result, processed_at = coalesce(e.processed_at, now())
   where e.id = event ->> 'id' and e.outcome is distinct from 'billing: ' || result;
  return result;
end
$$;
comment on function ops.apply_billing_event(jsonb, jsonb) is
  'Billing part of a Stripe event (customer.subscription.*, invoice.*), with the fee { charge, balance_transaction } of a paid invoice: the mirrors and the ledger. Service role only (stripe-webhook).';
revoke execute on function ops.apply_billing_event(jsonb, jsonb) from public;
grant execute on function ops.apply_billing_event(jsonb, jsonb) to service_role;

-- ---------------------------------------------------------------------------------------
-- Mirroring plans and prices to Stripe (billing-sync-plans).

-- What needs a Stripe call: plans without a Product (or whose Product's active flag must
-- follow the plan), active prices without a Price, archived prices whose Price is still live.
create function ops.billing_plans_to_sync(acting_user uuid default null) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if acting_user is not null and not private.user_has_permission(acting_user, 'billing.manage') then
    raise exception 'mirroring plans to Stripe needs the billing.manage permission' using errcode = '42501';
  end if;
  return jsonb_build_object(
    'plans', coalesce((select jsonb_agg(jsonb_build_object('id', p.id, 'slug', p.slug, 'name', p.name,
        'description', p.description, 'active', p.active, 'stripe_product_id', p.stripe_product_id) order by p.position, p.slug)
      from public.plans p where not p.is_free), '[]'),
    'prices', coalesce((select jsonb_agg(jsonb_build_object('id', pp.id, 'plan_id', pp.plan_id,
        'billing_period', pp.billing_period, 'currency', pp.currency, 'amount', pp.amount, 'active', pp.active,
        'stripe_price_id', pp.stripe_price_id) order by pp.created_at, pp.id)
      from public.plan_prices pp join public.plans p on p.id = pp.plan_id where not p.is_free), '[]'));
end
$$;
comment on function ops.billing_plans_to_sync(uuid) is
  'The plans (not the free tier) and their prices with their Stripe ids, for billing-sync-plans; acting_user must hold billing.manage (null: the service role itself).';
revoke execute on function ops.billing_plans_to_sync(uuid) from public;
grant execute on function ops.billing_plans_to_sync(uuid) to service_role;

-- Records a Stripe Product id on a plan or a Price id on a plan price. Once set an id never
-- changes (a different one is refused: the idempotency keys give the same object again).
create function ops.record_billing_stripe_ids(plan_id uuid default null, stripe_product_id text default null,
                                              plan_price_id uuid default null, stripe_price_id text default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  existing text;
begin
  if plan_id is not null then
    select p.stripe_product_id into existing from public.plans p where p.id = record_billing_stripe_ids.plan_id for update;
    if not found then
      raise exception 'plan % not found', plan_id using errcode = 'PT404';
    end if;
    if existing is not null and existing <> stripe_product_id then
      raise exception 'plan % is already mirrored to %', plan_id, existing using errcode = 'PT409';
    end if;
    update public.plans p set stripe_product_id = record_billing_stripe_ids.stripe_product_id
     where p.id = record_billing_stripe_ids.plan_id and p.stripe_product_id is null;
  end if;
  if plan_price_id is not null then
    select pp.stripe_price_id into existing from public.plan_prices pp where pp.id = record_billing_stripe_ids.plan_price_id for update;
    if not found then
      raise exception 'plan price % not found', plan_price_id using errcode = 'PT404';
    end if;
    if existing is not null and existing <> stripe_price_id then
      raise exception 'plan price % is already mirrored to %', plan_price_id, existing using errcode = 'PT409';
    end if;
    update public.plan_prices pp set stripe_price_id = record_billing_stripe_ids.stripe_price_id
     where pp.id = record_billing_stripe_ids.plan_price_id and pp.stripe_price_id is null;
  end if;
end
$$;
comment on function ops.record_billing_stripe_ids(uuid, text, uuid, text) is
  'Records the Stripe Product of a plan and/or the Stripe Price of a plan price (billing-sync-plans); a different id than the one recorded is PT409.';
revoke execute on function ops.record_billing_stripe_ids(uuid, text, uuid, text) from public;
grant execute on function ops.record_billing_stripe_ids(uuid, text, uuid, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- Subscribing (billing-subscribe).

-- Everything billing-subscribe needs, after the refusals: the price must be active on an
-- active plan and mirrored to Stripe, and the user must not hold a live subscription in the
-- plan's family.
create function ops.billing_subscribe_check(acting_user uuid, plan_price_id uuid) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  price public.plan_prices;
  plan public.plans;
  family text;
  live public.subscriptions;
begin
  if not exists (select from public.profiles p where p.id = acting_user) then
    raise exception 'user % not found', acting_user using errcode = 'PT404';
  end if;
  select * into price from public.plan_prices pp where pp.id = billing_subscribe_check.plan_price_id;
  select * into plan from public.plans p where p.id = price.plan_id;
  if price.id is null or not plan.active then
    raise exception 'plan price % not found', plan_price_id using errcode = 'PT404';
  end if;
  if not price.active then
    raise exception 'plan price % is archived: subscribe to the plan''s current price', plan_price_id using errcode = 'PT409';
  end if;
  if price.stripe_price_id is null then
    raise exception 'plan price % is not offered through Stripe yet (billing-sync-plans)', plan_price_id using errcode = 'PT409';
  end if;
  family := coalesce(plan.product_id::text, 'platform');
  -- An incomplete subscription (waiting for its first payment, Elements) does not refuse: the
  -- function answers it again or replaces it (billing-subscribe), so it is only reported.
  select * into live from public.subscriptions s
   where s.user_id = acting_user and s.plan_family = family
     and s.status in ('trialing', 'active', 'past_due', 'unpaid', 'paused')
   limit 1;
  if live.id is not null then
    raise exception 'you already have a live subscription (%, %) in plan family %: change its plan instead',
      live.id, live.status, family using errcode = 'PT409';
  end if;
  return jsonb_build_object(
    'plan_id', plan.id, 'plan_slug', plan.slug, 'plan_family', family, 'trial_days', plan.trial_days,
    'plan_price_id', price.id, 'stripe_price_id', price.stripe_price_id, 'currency', price.currency, 'amount', price.amount,
    'stripe_customer_id', (select bc.stripe_customer_id from public.billing_customers bc where bc.user_id = acting_user),
    'waiting_subscription', (select s.stripe_subscription_id from public.subscriptions s
                              where s.user_id = acting_user and s.plan_family = family and s.status = 'incomplete'
                              order by s.created_at desc limit 1));
end
$$;
comment on function ops.billing_subscribe_check(uuid, uuid) is
  'billing-subscribe''s refusals (PT404 unknown or inactive plan or price, PT409 archived, not mirrored, or a live subscription in the family other than an incomplete one) and what it needs (Stripe price, trial days, the user''s Stripe customer, an incomplete subscription of the family waiting for its first payment).';
revoke execute on function ops.billing_subscribe_check(uuid, uuid) from public;
grant execute on function ops.billing_subscribe_check(uuid, uuid) to service_role;

-- Records the user's Stripe Customer once; a second (racing) registration keeps the first and
-- answers it.
create function ops.register_billing_customer(acting_user uuid, stripe_customer_id text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  stored text;
begin
  if coalesce(stripe_customer_id, '') !~ '^cus_[A-Za-z0-9]+$' then
    raise exception 'not a Stripe customer id' using errcode = '22023';
  end if;
  insert into public.billing_customers (user_id, stripe_customer_id)
  values (acting_user, register_billing_customer.stripe_customer_id)
  on conflict (user_id) do nothing;
  select bc.stripe_customer_id into stored from public.billing_customers bc where bc.user_id = acting_user;
  return stored;
end
$$;
comment on function ops.register_billing_customer(uuid, text) is
  'Records the user''s Stripe Customer once (billing-subscribe) and answers the one recorded, the first when two race.';
revoke execute on function ops.register_billing_customer(uuid, text) from public;
grant execute on function ops.register_billing_customer(uuid, text) to service_role;

-- The user's Stripe Customer (billing-confirm-payment checks a PaymentIntent is theirs); null
-- when they have none.
create function ops.billing_customer_of(acting_user uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select bc.stripe_customer_id from public.billing_customers bc where bc.user_id = acting_user
$$;
comment on function ops.billing_customer_of(uuid) is
  'The acting user''s Stripe Customer id, null without one (billing-confirm-payment: a PaymentIntent of another customer is not theirs).';
revoke execute on function ops.billing_customer_of(uuid) from public;
grant execute on function ops.billing_customer_of(uuid) to service_role;

-- ---------------------------------------------------------------------------------------
-- Managing a subscription (billing-manage-subscription).

-- The subscription as its owner, or staff (billing.manage), may manage it; PT404 otherwise.
create function ops.billing_subscription_for(acting_user uuid, subscription_id uuid) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  sub public.subscriptions;
  staff boolean := private.user_has_permission(acting_user, 'billing.manage');
begin
  select * into sub from public.subscriptions s where s.id = subscription_id;
  if sub.id is null or (sub.user_id <> acting_user and not staff) then
    raise exception 'subscription % not found', subscription_id using errcode = 'PT404';
  end if;
  return jsonb_build_object('id', sub.id, 'user_id', sub.user_id, 'status', sub.status, 'plan_id', sub.plan_id,
    'plan_price_id', sub.plan_price_id, 'plan_family', sub.plan_family,
    'stripe_subscription_id', sub.stripe_subscription_id, 'stripe_customer_id', sub.stripe_customer_id,
    'cancel_at_period_end', sub.cancel_at_period_end, 'staff', staff, 'owner', sub.user_id = acting_user);
end
$$;
comment on function ops.billing_subscription_for(uuid, uuid) is
  'A subscription the acting user owns or manages (billing.manage), with whether they are staff; PT404 otherwise.';
revoke execute on function ops.billing_subscription_for(uuid, uuid) from public;
grant execute on function ops.billing_subscription_for(uuid, uuid) to service_role;

-- A target price for a plan change: active, mirrored, in the subscription's family.
create function ops.billing_change_target(subscription_id uuid, plan_price_id uuid) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  sub public.subscriptions;
  price public.plan_prices;
  plan public.plans;
begin
  select * into sub from public.subscriptions s where s.id = subscription_id;
  select * into price from public.plan_prices pp where pp.id = billing_change_target.plan_price_id;
  select * into plan from public.plans p where p.id = price.plan_id;
  if price.id is null or not plan.active or not price.active then
    raise exception 'plan price % not found', plan_price_id using errcode = 'PT404';
  end if;
  if price.stripe_price_id is null then
    raise exception 'plan price % is not offered through Stripe yet (billing-sync-plans)', plan_price_id using errcode = 'PT409';
  end if;
  if coalesce(plan.product_id::text, 'platform') <> sub.plan_family then
    raise exception 'plan price % is in another plan family than subscription %', plan_price_id, subscription_id using errcode = 'PT409';
  end if;
  if price.id = sub.plan_price_id then
    raise exception 'subscription % is already on plan price %', subscription_id, plan_price_id using errcode = 'PT409';
  end if;
  return jsonb_build_object('plan_price_id', price.id, 'stripe_price_id', price.stripe_price_id, 'plan_id', plan.id,
    'proration_behavior', plan.proration_behavior);
end
$$;
comment on function ops.billing_change_target(uuid, uuid) is
  'The Stripe price to change a subscription to (billing-manage-subscription) and the target plan''s proration_behavior: PT404 unknown or inactive, PT409 not mirrored, another family or the same price.';
revoke execute on function ops.billing_change_target(uuid, uuid) from public;
grant execute on function ops.billing_change_target(uuid, uuid) to service_role;

-- ---------------------------------------------------------------------------------------
-- Refunds of subscription invoices (a staff force cancel with refund).

-- Posts a Stripe refund of a subscription invoice's payment once: subscription_revenue ->
-- subscription_refunds, the refund's amount (key subscription_refund:<in_…>:<re_…>, so the
-- refunds of one invoice are found by their key), and, when Stripe gave part of its fee back
-- (a negative fee on the refund's balance transaction; Stripe keeps its fee on card refunds,
-- so normally nothing), stripe_fees -> subscription_revenue under the key
-- subscription_refund_fee:<re_…>. stripe_invoices.amount_refunded is set from the ledger.
create function private.post_subscription_refund(stripe_invoice_id text, refund jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  inv public.stripe_invoices;
  refund_id text := refund ->> 'id';
  amount bigint := (refund ->> 'amount')::bigint;
  currency text := upper(refund ->> 'currency');
  fee_back bigint := -coalesce((refund -> 'balance_transaction' ->> 'fee')::bigint, 0);
  refunded bigint;
begin
  if refund ->> 'object' is distinct from 'refund' or coalesce(refund_id, '') !~ '^re_[A-Za-z0-9_]+$'
     or amount is null or amount <= 0 then
    raise exception 'not a Stripe refund (object refund, id re_…, a positive amount)' using errcode = '22023';
  end if;
  select * into inv from public.stripe_invoices i where i.stripe_invoice_id = post_subscription_refund.stripe_invoice_id for update;
  if inv.id is null then
    raise exception 'subscription invoice % not found', stripe_invoice_id using errcode = 'PT404';
  end if;
  if currency is distinct from inv.currency then
    raise exception 'refund % is in %, invoice % in %', refund_id, currency, inv.stripe_invoice_id, inv.currency using errcode = '22023';
  end if;
  if refund ->> 'status' is distinct from 'succeeded' then
    return jsonb_build_object('stripe_invoice_id', inv.stripe_invoice_id, 'refund_id', refund_id, 'posted', false,
      'amount_refunded', inv.amount_refunded, 'status', refund ->> 'status');
  end if;
  if not exists (select from public.ledger_transactions t where t.idempotency_key = 'subscription_refund:' || inv.stripe_invoice_id || ':' || refund_id)
     and inv.amount_refunded + amount > inv.amount_paid then
    raise exception 'refund % of % would refund more than invoice % paid (% paid, % refunded)',
      refund_id, amount, inv.stripe_invoice_id, inv.amount_paid, inv.amount_refunded using errcode = 'PT409';
  end if;
  perform private.post_transfer('subscription_refund:' || inv.stripe_invoice_id || ':' || refund_id,
    'Subscription invoice refunded', null,
    private.ledger_account('subscription_revenue', currency), private.ledger_account('subscription_refunds', currency), amount);
  if fee_back > 0 then
    perform private.post_transfer('subscription_refund_fee:' || refund_id, 'Stripe fee returned on a subscription refund', null,
      private.ledger_account('stripe_fees', currency), private.ledger_account('subscription_revenue', currency), fee_back);
  end if;
  refunded := private.subscription_invoice_ledger_refunded(inv.stripe_invoice_id, currency);
  update public.stripe_invoices i set amount_refunded = refunded where i.id = inv.id and i.amount_refunded <> refunded;
  return jsonb_build_object('stripe_invoice_id', inv.stripe_invoice_id, 'refund_id', refund_id, 'posted', true,
    'amount_refunded', refunded, 'status', 'succeeded');
end
$$;
comment on function private.post_subscription_refund(text, jsonb) is
  'Posts a succeeded Stripe refund of a subscription invoice once per refund id (subscription_refund:<in_…>:<re_…>, subscription_revenue -> subscription_refunds; a returned fee stripe_fees -> subscription_revenue) and sets stripe_invoices.amount_refunded from the ledger. 22023 not a refund or another currency, PT404 unknown invoice, PT409 beyond what was paid.';
revoke execute on function private.post_subscription_refund(text, jsonb) from public;
grant execute on function private.post_subscription_refund(text, jsonb) to service_role;

create function ops.record_subscription_refund(acting_user uuid, stripe_invoice_id text, refund jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not private.user_has_permission(acting_user, 'billing.manage') then
    raise exception 'refunding a subscription invoice needs the billing.manage permission' using errcode = '42501';
  end if;
  return private.post_subscription_refund(stripe_invoice_id, refund);
end
$$;
comment on function ops.record_subscription_refund(uuid, text, jsonb) is
  'Posts a succeeded Stripe refund of a subscription invoice once (private.post_subscription_refund) for acting_user, who must hold billing.manage (42501); PT404 unknown invoice, PT409 beyond what was paid. Service role only (billing-manage-subscription, billing-admin-subscription).';
revoke execute on function ops.record_subscription_refund(uuid, text, jsonb) from public;
grant execute on function ops.record_subscription_refund(uuid, text, jsonb) to service_role;

-- A refund of a subscription invoice's charge made outside our API (Stripe's Dashboard), from its
-- refund.created / refund.updated webhook once stripe-webhook found the invoice the refund's
-- payment intent paid (functions/_shared/billing/webhook.ts): posted as ours are, under the same
-- key (so one of ours seen here first is posted once too). A refund that is not succeeded, or
-- one the ledger cannot take (beyond what was paid, another currency, an invoice we do not
-- mirror), is acknowledged with the reason so Stripe does not retry; reconciliation reports it.
-- The outcome is noted on the stored event.
create function ops.record_stripe_subscription_refund(event_id text, stripe_invoice_id text, refund jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  result text;
begin
  if refund ->> 'status' is distinct from 'succeeded' then
    result := 'ignored: refund ' || coalesce(refund ->> 'status', 'without a status');
  else
    begin
      result := case when (private.post_subscription_refund(stripe_invoice_id, refund) ->> 'posted')::boolean
                     then 'refund posted' else 'refund not posted' end;
    exception when sqlstate 'PT404' or sqlstate 'PT409' or sqlstate '22023' then
      result := 'ignored: ' || sqlerrm;
    end;
  end if;
  update public.stripe_events e set outcome = 'billing: ' || result, processed_at = coalesce(e.processed_at, now())
   where e.id = event_id and e.outcome is distinct from 'billing: ' || result;
  return result;
end
$$;
comment on function ops.record_stripe_subscription_refund(text, text, jsonb) is
  'refund.created / refund.updated of a subscription invoice''s charge (a refund made in Stripe''s Dashboard, or ours seen first): posted once per refund id as ours are; refusals answered as ignored: <why>; noted on the stored event. Service role only (stripe-webhook).';
revoke execute on function ops.record_stripe_subscription_refund(text, text, jsonb) from public;
grant execute on function ops.record_stripe_subscription_refund(text, text, jsonb) to service_role;

-- ---------------------------------------------------------------------------------------
-- Subscription invoices in the reconciliation (payments-reconcile, functions/_shared/billing/reconcile.ts).

-- The refunds of one subscription invoice: the one definition, read by the reconciliation
-- (subscription_invoice_ledger_refunded below, hence post_subscription_refund too) and by the
-- monthly statements (private.statement_entries, 85_statements.sql). A refund is posted under
-- subscription_refund:<in_…>:<re_…> (post_subscription_refund), so its invoice is the key's
-- second ':'-separated part; Stripe's ids (in_…, re_…) hold no ':'.
--
-- Found through an index, not by scanning the ledger. The database's collation is C.UTF-8,
-- which Postgres 15 does not treat as C, so the unique btree on idempotency_key cannot serve a
-- prefix match; and even a "collate C" or text_pattern_ops index serves starts_with()/LIKE only
-- for a constant pattern (the planner's prefix support, like_support.c), while both readers
-- give the invoice as a parameter or a join column. Hence a partial expression index: only
-- subscription refund postings, keyed by their invoice id, so every other posting pays nothing
-- for it and the lookup is an equality. It sits here, beside the key format it reads, rather
-- than with the ledger (40_payments), which knows nothing of subscription invoices.
-- supabase/tests/database/60_billing/subscription_invoice_refunds_found_through_an_index.test.sql
-- pins the plan.
create index ledger_transactions_subscription_refund_invoice_idx on public.ledger_transactions
  (split_part(idempotency_key, ':', 2)) where starts_with(idempotency_key, 'subscription_refund:');
comment on index public.ledger_transactions_subscription_refund_invoice_idx is
  'Subscription refund postings (subscription_refund:<in_…>:<re_…>) by invoice id: private.subscription_invoice_refunds.';

-- The predicate's starts_with() clause must be spelled exactly as the index's so the planner
-- can prove the partial index applies.
create function private.subscription_invoice_refunds(stripe_invoice_id text, currency text)
returns table (ledger_transaction_id bigint, posted_at timestamptz, amount bigint)
language sql
stable
security definer
set search_path = ''
as $$
  select t.id, t.posted_at, e.amount from public.ledger_transactions t
    join public.ledger_entries e on e.transaction_id = t.id
    join public.ledger_accounts a on a.id = e.account_id
   where starts_with(t.idempotency_key, 'subscription_refund:')
     and split_part(t.idempotency_key, ':', 2) = subscription_invoice_refunds.stripe_invoice_id
     and a.kind = 'subscription_refunds' and a.currency = subscription_invoice_refunds.currency
$$;
comment on function private.subscription_invoice_refunds(text, text) is
  'The refunds of a Stripe subscription invoice as the ledger posted them (keys subscription_refund:<in_…>:<re_…>, the subscription_refunds entry in the invoice''s currency): transaction, posted_at, amount. Found through ledger_transactions_subscription_refund_invoice_idx. The one definition, read by subscription_invoice_ledger_refunded and statement_entries.';
revoke execute on function private.subscription_invoice_refunds(text, text) from public;
grant execute on function private.subscription_invoice_refunds(text, text) to service_role;

-- What the ledger says of one subscription invoice: paid (its subscription_invoice posting) and
-- refunded (its subscription_refund postings), from entries only.
create function private.subscription_invoice_ledger_paid(stripe_invoice_id text, currency text) returns bigint
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(sum(e.amount), 0)::bigint from public.ledger_transactions t
    join public.ledger_entries e on e.transaction_id = t.id
    join public.ledger_accounts a on a.id = e.account_id
   where t.idempotency_key = 'subscription_invoice:' || stripe_invoice_id
     and a.kind = 'subscription_revenue' and a.currency = subscription_invoice_ledger_paid.currency
$$;
comment on function private.subscription_invoice_ledger_paid(text, text) is
  'The amount the ledger posted as paid for a Stripe subscription invoice (key subscription_invoice:<in_…>).';
revoke execute on function private.subscription_invoice_ledger_paid(text, text) from public;
grant execute on function private.subscription_invoice_ledger_paid(text, text) to service_role;

create function private.subscription_invoice_ledger_refunded(stripe_invoice_id text, currency text) returns bigint
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(sum(r.amount), 0)::bigint
    from private.subscription_invoice_refunds(subscription_invoice_ledger_refunded.stripe_invoice_id,
                                               subscription_invoice_ledger_refunded.currency) r
$$;
comment on function private.subscription_invoice_ledger_refunded(text, text) is
  'The amount the ledger posted as refunded for a Stripe subscription invoice: the sum of private.subscription_invoice_refunds (keys subscription_refund:<in_…>:<re_…>).';
revoke execute on function private.subscription_invoice_ledger_refunded(text, text) from public;
grant execute on function private.subscription_invoice_ledger_refunded(text, text) to service_role;

-- Per mirrored subscription invoice that is paid or was paid (amount_paid > 0): the mirror's
-- amounts, the ledger's, and their disagreements; payments-reconcile adds what Stripe says
-- (the invoice's amount_paid and its charge's amount_refunded). Windowed and paged as
-- ops.payments_reconciliation: active_since keeps the invoices created or changed since then
-- and every one with a disagreement; after_id and max_rows page by our id.
create function ops.subscription_reconciliation(
  active_since timestamptz default null,
  after_id uuid default null,
  max_rows integer default null
)
returns table (
  id uuid, stripe_invoice_id text, stripe_subscription_id text, currency text, status text,
  amount_paid bigint, amount_refunded bigint, ledger_paid bigint, ledger_refunded bigint, problems text[]
)
language sql
stable
security definer
set search_path = ''
as $$
  with figures as (
    select i.*,
           private.subscription_invoice_ledger_paid(i.stripe_invoice_id, i.currency) as l_paid,
           private.subscription_invoice_ledger_refunded(i.stripe_invoice_id, i.currency) as l_refunded
      from public.stripe_invoices i
     where (i.status = 'paid' or i.amount_paid > 0)
       and (after_id is null or i.id > after_id)
  ),
  checked as (
    select f.*, array_remove(array[
      case when f.l_paid <> f.amount_paid then 'ledger paid ' || f.l_paid || ' <> invoice ' || f.amount_paid end,
      case when f.l_refunded <> f.amount_refunded then 'ledger refunded ' || f.l_refunded || ' <> invoice ' || f.amount_refunded end,
      case when f.amount_refunded > f.amount_paid then 'refunded ' || f.amount_refunded || ' > paid ' || f.amount_paid end
    ], null) as problems
      from figures f
  )
  select c.id, c.stripe_invoice_id, c.stripe_subscription_id, c.currency, c.status, c.amount_paid, c.amount_refunded,
         c.l_paid, c.l_refunded, c.problems
    from checked c
   where active_since is null or cardinality(c.problems) > 0 or c.created_at >= active_since or c.updated_at >= active_since
   order by c.id
   limit max_rows
$$;
comment on function ops.subscription_reconciliation(timestamptz, uuid, integer) is
  'Per paid Stripe subscription invoice: the mirror''s amount_paid and amount_refunded, the ledger''s, and their disagreements; windowed by active_since (and every one with a disagreement), paged by id. Service role only (payments-reconcile, functions/_shared/billing/reconcile.ts).';
revoke execute on function ops.subscription_reconciliation(timestamptz, uuid, integer) from public;
grant execute on function ops.subscription_reconciliation(timestamptz, uuid, integer) to service_role;
