-- Subscriptions: our mirror of Stripe Billing's subscriptions, filled by the webhook sync
-- (next session: customer.subscription.* events reach private.apply_subscription_snapshot
-- through ops.process_stripe_event). Nobody writes it through the API. Users read their own,
-- billing managers all.
--
-- Ordering (anchors trap 12): Stripe may deliver events late, twice or out of order, and
-- event.created is in whole seconds. A snapshot is applied when its key is >= the stored one,
-- compared as a tuple: (terminal status, event.created, current_period_start, event id).
--   - terminal statuses (canceled, incomplete_expired) are absorbing: nothing moves a
--     subscription out of them;
--   - within one second the later period wins (a renewal), then the event id breaks the tie,
--     so a second event in the same second is applied, never dropped, and any delivery order
--     of the same events reaches the same final row;
--   - the same event again compares equal and rewrites the same values (idempotent).
-- Every timestamp column is null unless Stripe gave it (trap 11: no default now()), and the
-- status is a text check listing every status Stripe has, paused included, not an enum.

-- A Stripe Customer per user, created once (the subscribe flow, next session).
create table public.billing_customers (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  stripe_customer_id text not null constraint billing_customers_stripe_customer_unique unique,
  created_at timestamptz not null default now()
);
comment on table public.billing_customers is 'The Stripe Customer of each user who has subscribed: one per user, created once.';

alter table public.billing_customers enable row level security;
grant select on public.billing_customers to authenticated;
grant all on public.billing_customers to service_role;
create policy "Users read their own customer, billing managers all" on public.billing_customers for select to authenticated
  using (user_id = (select auth.uid()) or (select private.has_permission('billing.manage')));

create table public.subscriptions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  plan_id uuid not null references public.plans (id) on delete restrict,
  plan_price_id uuid references public.plan_prices (id) on delete restrict,
  -- 'platform' for product-less plans, else the plan's product id: one live subscription per
  -- user and family (subscriptions_one_live_per_family).
  plan_family text not null,
  status text not null constraint subscriptions_status check (status in (
    'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')),
  quantity integer not null default 1 constraint subscriptions_quantity_positive check (quantity > 0),
  current_period_start timestamptz,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  cancel_at timestamptz,
  canceled_at timestamptz,
  ended_at timestamptz,
  cancellation_reason text,
  trial_start timestamptz,
  trial_end timestamptz,
  -- pause_collection (status stays active, invoices held) and the 2026-09-30 pause API
  -- (status paused, status_details.paused.subscription.type).
  pause_behavior text constraint subscriptions_pause_behavior check (pause_behavior in ('keep_as_draft', 'mark_uncollectible', 'void')),
  pause_resumes_at timestamptz,
  paused_reason text,
  stripe_subscription_id text not null constraint subscriptions_stripe_subscription_unique unique,
  stripe_customer_id text not null,
  stripe_created_at timestamptz,
  -- The ordering key of the last applied snapshot (see the header).
  stripe_updated_at timestamptz not null,
  stripe_event_id text not null,
  snapshot jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index subscriptions_one_live_per_family on public.subscriptions (user_id, plan_family)
  where status in ('incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused');
create index subscriptions_user_idx on public.subscriptions (user_id, created_at desc);
create index subscriptions_plan_idx on public.subscriptions (plan_id);
create index subscriptions_plan_price_idx on public.subscriptions (plan_price_id) where plan_price_id is not null;
create index subscriptions_status_idx on public.subscriptions (status, current_period_end);
comment on table public.subscriptions is
  'Mirror of Stripe subscriptions, written only by private.apply_subscription_snapshot (never moving backwards). Users read their own, billing.manage all.';
comment on column public.subscriptions.stripe_updated_at is 'event.created of the last applied snapshot (whole seconds): part of the ordering key with current_period_start and stripe_event_id.';
comment on column public.subscriptions.snapshot is 'The Stripe subscription object last applied.';

create trigger subscriptions_touch_updated_at before update on public.subscriptions
  for each row execute function private.touch_updated_at();

alter table public.subscriptions enable row level security;
grant select on public.subscriptions to authenticated;
grant all on public.subscriptions to service_role;
create policy "Users read their own subscriptions, billing managers all" on public.subscriptions for select to authenticated
  using (user_id = (select auth.uid()) or (select private.has_permission('billing.manage')));

-- Body of public.delete_plan (003 DELETE /subscription-plans/{id}); here, beside the table it asks.
create function private.delete_plan(plan_id uuid) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  plan public.plans;
begin
  perform private.assert_billing_manager('deleting a plan');
  select * into plan from public.plans p where p.id = delete_plan.plan_id for update;
  if not found then
    raise exception 'plan % not found', plan_id using errcode = 'PT404';
  end if;
  if plan.is_free then
    raise exception 'plan % is the free tier: it cannot be deleted or deactivated', plan_id using errcode = 'PT409';
  end if;
  if exists (select from public.subscriptions s where s.plan_id = delete_plan.plan_id) then
    update public.plans set active = false where id = plan.id;
    update public.plan_prices set active = false, archived_at = now() where plan_prices.plan_id = plan.id and active;
    return 'deactivated';
  end if;
  delete from public.plans where id = plan.id;
  return 'deleted';
end
$$;
comment on function private.delete_plan(uuid) is 'Body of public.delete_plan.';
revoke execute on function private.delete_plan(uuid) from public;
grant execute on function private.delete_plan(uuid) to authenticated, service_role;

create function public.delete_plan(plan_id uuid) returns text
language sql
security invoker
set search_path = ''
as $$ select private.delete_plan(plan_id) $$;
comment on function public.delete_plan(uuid) is
  'Staff (billing.manage), 003 DELETE /subscription-plans/{id}: deletes a plan nobody ever subscribed to (''deleted''), else deactivates it and archives its prices (''deactivated''); the free tier stays.';
revoke execute on function public.delete_plan(uuid) from public;
grant execute on function public.delete_plan(uuid) to authenticated, service_role;

-- Unix seconds from a Stripe object as a timestamp (null stays null).
create function private.stripe_time(value jsonb) returns timestamptz
language sql
immutable
set search_path = ''
as $$ select case when jsonb_typeof(value) = 'number' then pg_catalog.to_timestamp((value #>> '{}')::double precision) end $$;
comment on function private.stripe_time(jsonb) is 'A Stripe timestamp (unix seconds) as timestamptz; null, or anything not a number, gives null.';

-- Applies one Stripe event carrying a subscription (customer.subscription.*): see the header
-- for the ordering rule. The plan is found from the subscription's first item's price
-- (plan_prices.stripe_price_id), else metadata.plan_price_id; the user from billing_customers,
-- else metadata.user_id, else the row already mirrored.
create function private.apply_subscription_snapshot(event jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  sub jsonb := event -> 'data' -> 'object';
  event_id text := event ->> 'id';
  event_at timestamptz := private.stripe_time(event -> 'created');
  item jsonb;
  price public.plan_prices;
  plan public.plans;
  current public.subscriptions;
  owner uuid;
  period_start timestamptz;
  terminal boolean;
  incoming_key text;
  stored_key text;
begin
  if sub is null or sub ->> 'object' is distinct from 'subscription' or sub ->> 'id' is null
     or event_id is null or event_at is null then
    raise exception 'not a Stripe event carrying a subscription (id, created, data.object.object = subscription)'
      using errcode = '22023';
  end if;
  if sub ->> 'status' is null or sub ->> 'status' not in (
       'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused') then
    raise exception 'subscription % has an unknown status', sub ->> 'id' using errcode = '22023';
  end if;
  item := sub -> 'items' -> 'data' -> 0;
  select * into price from public.plan_prices pp where pp.stripe_price_id = item -> 'price' ->> 'id';
  if not found then
    select * into price from public.plan_prices pp where pp.id = private.try_uuid(sub -> 'metadata' ->> 'plan_price_id');
  end if;
  if price.id is null then
    raise exception 'subscription % names a price no plan has', sub ->> 'id' using errcode = '22023';
  end if;
  select * into plan from public.plans p where p.id = price.plan_id;

  -- Serialises snapshots of one subscription (the first insert included).
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('billing.subscription:' || (sub ->> 'id'), 0));
  select * into current from public.subscriptions s where s.stripe_subscription_id = sub ->> 'id' for update;

  select bc.user_id into owner from public.billing_customers bc where bc.stripe_customer_id = sub ->> 'customer';
  owner := coalesce(owner, private.try_uuid(sub -> 'metadata' ->> 'user_id'), current.user_id);
  if owner is null or not exists (select from public.profiles p where p.id = owner) then
    raise exception 'subscription % belongs to no known user (customer or metadata.user_id)', sub ->> 'id' using errcode = '22023';
  end if;

  period_start := coalesce(private.stripe_time(sub -> 'current_period_start'), private.stripe_time(item -> 'current_period_start'));
  terminal := sub ->> 'status' in ('canceled', 'incomplete_expired');
  -- Sortable text keys: terminal flag, event time, period start, event id. The event time keeps
  -- microseconds: Stripe's are whole seconds, but the webhook's billing hook applies a
  -- re-fetched subscription with the time of the fetch, so the later fetch wins within a second.
  incoming_key := (case when terminal then '1' else '0' end) || '|' || to_char(event_at at time zone 'UTC', 'YYYYMMDDHH24MISSUS')
    || '|' || coalesce(to_char(period_start at time zone 'UTC', 'YYYYMMDDHH24MISS'), '00000000000000') || '|' || event_id;
  if current.id is not null then
    stored_key := (case when current.status in ('canceled', 'incomplete_expired') then '1' else '0' end) || '|'
      || to_char(current.stripe_updated_at at time zone 'UTC', 'YYYYMMDDHH24MISSUS') || '|'
      || coalesce(to_char(current.current_period_start at time zone 'UTC', 'YYYYMMDDHH24MISS'), '00000000000000') || '|'
      || current.stripe_event_id;
    if incoming_key collate "C" < stored_key collate "C" then
      return 'stale';
    end if;
  end if;

  begin
    insert into public.subscriptions as s (
      user_id, plan_id, plan_price_id, plan_family, status, quantity, current_period_start, current_period_end,
      cancel_at_period_end, cancel_at, canceled_at, ended_at, cancellation_reason, trial_start, trial_end,
      pause_behavior, pause_resumes_at, paused_reason, stripe_subscription_id, stripe_customer_id, stripe_created_at,
      stripe_updated_at, stripe_event_id, snapshot)
    values (
      owner, plan.id, price.id, coalesce(plan.product_id::text, 'platform'), sub ->> 'status',
      coalesce((item ->> 'quantity')::integer, 1),
      period_start,
      coalesce(private.stripe_time(sub -> 'current_period_end'), private.stripe_time(item -> 'current_period_end')),
      coalesce((sub ->> 'cancel_at_period_end')::boolean, false),
      private.stripe_time(sub -> 'cancel_at'), private.stripe_time(sub -> 'canceled_at'), private.stripe_time(sub -> 'ended_at'),
      sub -> 'cancellation_details' ->> 'reason',
      private.stripe_time(sub -> 'trial_start'), private.stripe_time(sub -> 'trial_end'),
      sub -> 'pause_collection' ->> 'behavior', private.stripe_time(sub -> 'pause_collection' -> 'resumes_at'),
      sub -> 'status_details' -> 'paused' -> 'subscription' ->> 'type',
      sub ->> 'id', sub ->> 'customer', private.stripe_time(sub -> 'created'),
      event_at, event_id, sub)
    on conflict (stripe_subscription_id) do update set
      user_id = excluded.user_id, plan_id = excluded.plan_id, plan_price_id = excluded.plan_price_id,
      plan_family = excluded.plan_family, status = excluded.status, quantity = excluded.quantity,
      current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
      cancel_at_period_end = excluded.cancel_at_period_end, cancel_at = excluded.cancel_at,
      canceled_at = excluded.canceled_at, ended_at = excluded.ended_at, cancellation_reason = excluded.cancellation_reason,
      trial_start = excluded.trial_start, trial_end = excluded.trial_end, pause_behavior = excluded.pause_behavior,
      pause_resumes_at = excluded.pause_resumes_at, paused_reason = excluded.paused_reason,
      stripe_customer_id = excluded.stripe_customer_id, stripe_created_at = excluded.stripe_created_at,
      stripe_updated_at = excluded.stripe_updated_at, stripe_event_id = excluded.stripe_event_id, snapshot = excluded.snapshot;
  exception when unique_violation then
    raise exception 'user % already has a live subscription to plan family %: subscription % is refused',
      owner, coalesce(plan.product_id::text, 'platform'), sub ->> 'id' using errcode = '23505';
  end;
  return case when current.id is null then 'inserted' else 'applied' end;
end
$$;
comment on function private.apply_subscription_snapshot(jsonb) is
  'Applies a Stripe event whose data.object is a subscription to public.subscriptions: inserted, applied, or stale (ignored) by the ordering key (terminal status, event.created, current_period_start, event id). Idempotent.';
revoke execute on function private.apply_subscription_snapshot(jsonb) from public;
grant execute on function private.apply_subscription_snapshot(jsonb) to service_role;

-- Subscriptions that keep an account from being erased: Stripe would go on charging it.
create function private.subscriptions_blocking_erasure(user_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select count(*) || ' live subscriptions (' || string_agg(s.id::text, ', ' order by s.id) || ')'
    from public.subscriptions s
   where s.user_id = subscriptions_blocking_erasure.user_id
     and s.status in ('incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused')
  having count(*) > 0
$$;
comment on function private.subscriptions_blocking_erasure(uuid) is
  'Erasure blocker: the user''s live subscriptions, to be cancelled in Stripe before the account goes.';
revoke execute on function private.subscriptions_blocking_erasure(uuid) from public;
grant execute on function private.subscriptions_blocking_erasure(uuid) to service_role;
