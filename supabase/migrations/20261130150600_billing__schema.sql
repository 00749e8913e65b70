-- The billing domain's schema at the rebaseline: every file of supabase/schemas/60_billing/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/60_billing/10_plans.sql
-- ======================================================================================

-- Subscription plans (003 /subscription-plans, 004 plans in KRW with monthly and annual prices,
-- features and limits): staff holding billing.manage create, change and retire them through
-- the RPCs below (audited); everyone, anon included, reads the active ones and their active
-- prices. The free tier is a plan row too (is_free, no prices): its limits apply to anyone
-- without an entitling subscription (30_entitlements.sql).
--
-- Prices are immutable: a changed amount is a new plan_prices row and the old one archived
-- (active = false), so a subscriber keeps the price they subscribed at until they change plan.
-- This mirrors Stripe, where a Price's amount cannot change: the mirroring function (next
-- session, billing-sync-plans) creates a Stripe Product per plan and a Stripe Price per
-- plan_prices row (idempotency key plan_price:<id>), fills stripe_product_id and
-- stripe_price_id, and archives (active=false) the Stripe Price of an archived row.

-- ---------------------------------------------------------------------------------------
-- The limits a plan may set: a registry, so a plan cannot name a limit nothing enforces.

create table public.billing_limit_kinds (
  key text primary key constraint billing_limit_kinds_key_format check (key ~ '^[a-z][a-z0-9_]{1,62}$'),
  description text not null constraint billing_limit_kinds_description_present check (description <> ''),
  enforced_by text not null constraint billing_limit_kinds_enforced_by_present check (enforced_by <> '')
);
comment on table public.billing_limit_kinds is
  'Keys a plan''s limits may use, each with what enforces it. Reference data (the billing reference-data migration).';

alter table public.billing_limit_kinds enable row level security;
grant select on public.billing_limit_kinds to anon, authenticated;
grant all on public.billing_limit_kinds to service_role;
create policy "Anyone reads limit kinds" on public.billing_limit_kinds for select to anon, authenticated using (true);

-- ---------------------------------------------------------------------------------------
-- Plans.

create table public.plans (
  id uuid primary key default gen_random_uuid(),
  slug text not null constraint plans_slug_unique unique
    constraint plans_slug_format check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name text not null constraint plans_name_length check (char_length(trim(name)) between 1 and 100),
  description text not null default '' constraint plans_description_length check (char_length(description) <= 2000),
  -- 003 sells plans per product. Set null when the product goes (its shop's account erased),
  -- so a plan never blocks an erasure; its subscriptions keep the family they were sold in.
  product_id uuid references public.products (id) on delete set null,
  features jsonb not null default '[]',
  limits jsonb not null default '{}',
  is_free boolean not null default false,
  active boolean not null default true,
  trial_days integer not null default 0 constraint plans_trial_days_range check (trial_days between 0 and 730),
  position integer not null default 0,
  stripe_product_id text constraint plans_stripe_product_unique unique,
  -- How a change of a subscription to this plan is prorated at Stripe (issue 18).
  proration_behavior text not null default 'always_invoice'
    constraint plans_proration_behavior check (proration_behavior in ('create_prorations', 'always_invoice', 'none')),
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint plans_free_has_no_trial check (not is_free or trial_days = 0)
);
create unique index plans_one_free_tier on public.plans (is_free) where is_free;
create index plans_created_by_idx on public.plans (created_by) where created_by is not null;
create index plans_product_idx on public.plans (product_id) where product_id is not null;
comment on table public.plans is
  'Subscription plans. The free tier is the one row with is_free (no prices, never a subscription): its limits apply to users without an entitling subscription.';
comment on column public.plans.features is 'What the plan offers, as a JSON array of strings shown to clients (1 to 200 characters each, at most 50).';
comment on column public.plans.limits is
  'A JSON object from billing_limit_kinds keys to whole numbers >= 0 (e.g. {"max_projects": 10}); a key the plan does not list is unlimited on it.';
comment on column public.plans.product_id is '003''s product link (a shop product sold by subscription); null for the platform''s own plans.';
comment on column public.plans.stripe_product_id is 'The mirrored Stripe Product, filled by the mirroring function (null until mirrored).';
comment on column public.plans.proration_behavior is
  'Stripe''s proration_behavior for a change of a subscription TO this plan (preview and change_plan): always_invoice (the prorations invoiced and charged now; the default), create_prorations (credit and debit lines wait for the next renewal invoice) or none (no proration). Set by billing.manage through update_plan (audited).';

-- Features and limits: shapes a check constraint cannot express with a precise message.
create function private.check_plan() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  unknown text;
  bad text;
begin
  if jsonb_typeof(new.features) <> 'array' then
    raise exception 'a plan''s features are a JSON array of strings' using errcode = '22023';
  end if;
  if jsonb_array_length(new.features) > 50 then
    raise exception 'a plan lists at most 50 features, not %', jsonb_array_length(new.features) using errcode = '22023';
  end if;
  if exists (select from jsonb_array_elements(new.features) f
              where jsonb_typeof(f) <> 'string' or char_length(f #>> '{}') not between 1 and 200) then
    raise exception 'each feature is a string of 1 to 200 characters' using errcode = '22023';
  end if;
  if jsonb_typeof(new.limits) <> 'object' then
    raise exception 'a plan''s limits are a JSON object of limit keys to whole numbers' using errcode = '22023';
  end if;
  select string_agg(k, ', ' order by k) into unknown
    from jsonb_object_keys(new.limits) k
   where not exists (select from public.billing_limit_kinds lk where lk.key = k);
  if unknown is not null then
    raise exception 'unknown limit keys: % (the keys are %)', unknown,
      (select string_agg(lk.key, ', ' order by lk.key) from public.billing_limit_kinds lk) using errcode = '22023';
  end if;
  select string_agg(e.key, ', ' order by e.key) into bad
    from jsonb_each(new.limits) e
   where jsonb_typeof(e.value) <> 'number' or (e.value #>> '{}') !~ '^[0-9]{1,9}$';
  if bad is not null then
    raise exception 'limits % must be whole numbers from 0 to 999999999', bad using errcode = '22023';
  end if;
  return new;
end
$$;

create trigger plans_check before insert or update of features, limits on public.plans
  for each row execute function private.check_plan();
create trigger plans_touch_updated_at before update on public.plans
  for each row execute function private.touch_updated_at();
create trigger plans_audit after insert or update or delete on public.plans
  for each row execute function private.audit_row_change('id');

-- ---------------------------------------------------------------------------------------
-- Prices: one active price per plan, billing period and currency; immutable amounts.

create table public.plan_prices (
  id uuid primary key default gen_random_uuid(),
  plan_id uuid not null references public.plans (id) on delete cascade,
  billing_period text not null constraint plan_prices_billing_period check (billing_period in ('month', 'year')),
  currency text not null references public.currencies (code),
  amount bigint not null,
  active boolean not null default true,
  stripe_price_id text constraint plan_prices_stripe_price_unique unique,
  created_at timestamptz not null default now(),
  archived_at timestamptz,
  constraint plan_prices_archived_when_inactive check (active = (archived_at is null))
);
create unique index plan_prices_one_active on public.plan_prices (plan_id, billing_period, currency) where active;
create index plan_prices_plan_idx on public.plan_prices (plan_id, created_at);
comment on table public.plan_prices is
  'A plan''s price per billing period (month, year) and currency, in minor units. Immutable: a new amount is a new row, the old one archived; subscribers keep theirs.';
comment on column public.plan_prices.stripe_price_id is 'The mirrored Stripe Price, filled by the mirroring function (null until mirrored).';

create function private.check_plan_price() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    perform private.assert_money(new.amount, new.currency, 'a plan''s price');
    if (select p.is_free from public.plans p where p.id = new.plan_id) then
      raise exception 'plan % is the free tier: it has no prices', new.plan_id using errcode = 'PT409';
    end if;
  elsif (new.plan_id, new.billing_period, new.currency, new.amount) is distinct from
        (old.plan_id, old.billing_period, old.currency, old.amount) then
    raise exception 'plan price % is immutable: set a new price (the old one is archived)', old.id using errcode = 'PT409';
  elsif new.active and not old.active then
    raise exception 'plan price % is archived: set a new price instead', old.id using errcode = 'PT409';
  end if;
  return new;
end
$$;

create trigger plan_prices_check before insert or update on public.plan_prices
  for each row execute function private.check_plan_price();
create trigger plan_prices_audit after insert or update or delete on public.plan_prices
  for each row execute function private.audit_row_change('id');

alter table public.plans enable row level security;
alter table public.plan_prices enable row level security;
grant select on public.plans, public.plan_prices to anon, authenticated;
grant all on public.plans, public.plan_prices to service_role;

create policy "Anyone reads active plans" on public.plans for select to anon using (active);
create policy "Signed-in users read active plans, billing managers all" on public.plans for select to authenticated
  using (active or (select private.has_permission('billing.manage')));
create policy "Anyone reads active prices of active plans" on public.plan_prices for select to anon
  using (active and exists (select from public.plans p where p.id = plan_id and p.active));
create policy "Signed-in users read active prices of active plans, billing managers all" on public.plan_prices
  for select to authenticated
  using ((select private.has_permission('billing.manage'))
         or (active and exists (select from public.plans p where p.id = plan_id and p.active)));

-- ---------------------------------------------------------------------------------------
-- Staff RPCs (003 POST/PUT/DELETE /subscription-plans). Callers: billing.manage holders, or
-- the service role (the admin CLI; the audit log names its operator).

create function private.assert_billing_manager(what text) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not (private.is_service_role() or private.has_permission('billing.manage')) then
    raise exception '% needs the billing.manage permission', what using errcode = '42501';
  end if;
end
$$;
comment on function private.assert_billing_manager(text) is 'Raises 42501 unless the caller holds billing.manage or is the service role.';
grant execute on function private.assert_billing_manager(text) to authenticated, service_role;

-- A plan with its active prices, as the RPCs answer.
create function private.plan_json(plan_id uuid) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select to_jsonb(p) || jsonb_build_object('prices', coalesce((
           select jsonb_agg(to_jsonb(pp) order by pp.billing_period, pp.currency)
             from public.plan_prices pp where pp.plan_id = p.id and pp.active), '[]'))
    from public.plans p where p.id = plan_json.plan_id
$$;
comment on function private.plan_json(uuid) is 'A plan row with its active prices under "prices".';
grant execute on function private.plan_json(uuid) to authenticated, service_role;

-- Body of public.set_plan_price.
create function private.set_plan_price(plan_id uuid, billing_period text, currency text, amount bigint)
returns public.plan_prices
language plpgsql
security definer
set search_path = ''
as $$
declare
  current public.plan_prices;
  created public.plan_prices;
begin
  perform private.assert_billing_manager('setting a plan''s price');
  if not exists (select from public.plans p where p.id = set_plan_price.plan_id) then
    raise exception 'plan % not found', set_plan_price.plan_id using errcode = 'PT404';
  end if;
  if billing_period is null or billing_period not in ('month', 'year') then
    raise exception 'a billing period is month or year' using errcode = '22023';
  end if;
  select * into current from public.plan_prices pp
   where pp.plan_id = set_plan_price.plan_id and pp.billing_period = set_plan_price.billing_period
     and pp.currency = set_plan_price.currency and pp.active
   for update;
  if found and current.amount = set_plan_price.amount then
    return current;
  end if;
  if found then
    update public.plan_prices set active = false, archived_at = now() where id = current.id;
  end if;
  insert into public.plan_prices (plan_id, billing_period, currency, amount)
  values (set_plan_price.plan_id, set_plan_price.billing_period, set_plan_price.currency, set_plan_price.amount)
  returning * into created;
  return created;
end
$$;
comment on function private.set_plan_price(uuid, text, text, bigint) is
  'Body of public.set_plan_price: the same amount keeps the active price; another amount archives it and adds a new one.';
revoke execute on function private.set_plan_price(uuid, text, text, bigint) from public;
grant execute on function private.set_plan_price(uuid, text, text, bigint) to authenticated, service_role;

create function public.set_plan_price(plan_id uuid, billing_period text, currency text, amount bigint)
returns public.plan_prices
language sql
security invoker
set search_path = ''
as $$ select private.set_plan_price(plan_id, billing_period, currency, amount) $$;
comment on function public.set_plan_price(uuid, text, text, bigint) is
  'Staff (billing.manage): a plan''s price for a billing period (month, year) and currency in minor units. A changed amount is a new price; the old one is archived and its subscribers keep it.';
revoke execute on function public.set_plan_price(uuid, text, text, bigint) from public;
grant execute on function public.set_plan_price(uuid, text, text, bigint) to authenticated, service_role;

-- Applies a patch of plan fields: the keys create_plan and update_plan accept.
create function private.apply_plan_fields(plan_id uuid, fields jsonb) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  unknown text;
  price jsonb;
begin
  if fields is null or jsonb_typeof(fields) <> 'object' then
    raise exception 'plan fields are a JSON object' using errcode = '22023';
  end if;
  select string_agg(k, ', ' order by k) into unknown from jsonb_object_keys(fields) k
   where k not in ('slug', 'name', 'description', 'product_id', 'features', 'limits', 'active', 'trial_days', 'position',
                   'proration_behavior', 'prices');
  if unknown is not null then
    raise exception 'unknown plan fields: % (a plan has slug, name, description, product_id, features, limits, active, trial_days, position, proration_behavior, prices)',
      unknown using errcode = '22023';
  end if;
  if fields ? 'proration_behavior'
     and coalesce(fields ->> 'proration_behavior', '') not in ('create_prorations', 'always_invoice', 'none') then
    raise exception 'proration_behavior is create_prorations, always_invoice or none' using errcode = '22023';
  end if;
  if fields ->> 'product_id' is not null
     and not exists (select from public.products pr where pr.id = private.try_uuid(fields ->> 'product_id')) then
    raise exception 'the plan''s product is not found' using errcode = 'PT404';
  end if;
  update public.plans p set
    slug = coalesce(fields ->> 'slug', p.slug),
    name = coalesce(fields ->> 'name', p.name),
    description = coalesce(fields ->> 'description', p.description),
    product_id = case when fields ? 'product_id' then (fields ->> 'product_id')::uuid else p.product_id end,
    features = coalesce(fields -> 'features', p.features),
    limits = coalesce(fields -> 'limits', p.limits),
    active = coalesce((fields ->> 'active')::boolean, p.active),
    trial_days = coalesce((fields ->> 'trial_days')::integer, p.trial_days),
    position = coalesce((fields ->> 'position')::integer, p.position),
    proration_behavior = coalesce(fields ->> 'proration_behavior', p.proration_behavior)
  where p.id = apply_plan_fields.plan_id;
  if fields ? 'prices' then
    if jsonb_typeof(fields -> 'prices') <> 'array' then
      raise exception 'prices are a JSON array of {billing_period, currency, amount}' using errcode = '22023';
    end if;
    for price in select * from jsonb_array_elements(fields -> 'prices') loop
      if jsonb_typeof(price) <> 'object' or jsonb_typeof(price -> 'amount') <> 'number' then
        raise exception 'each price is {billing_period, currency, amount} with amount in minor units' using errcode = '22023';
      end if;
      perform private.set_plan_price(plan_id, price ->> 'billing_period', price ->> 'currency', (price ->> 'amount')::bigint);
    end loop;
  end if;
exception
  when invalid_text_representation or numeric_value_out_of_range then
    raise exception 'a plan field has the wrong type (product_id a uuid, trial_days and position whole numbers, active a boolean)'
      using errcode = '22023';
end
$$;
comment on function private.apply_plan_fields(uuid, jsonb) is 'The shared patch of create_plan and update_plan; prices go through set_plan_price.';
revoke execute on function private.apply_plan_fields(uuid, jsonb) from public;
grant execute on function private.apply_plan_fields(uuid, jsonb) to authenticated, service_role;

-- Body of public.create_plan.
create function private.create_plan(slug text, name text, fields jsonb default '{}')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  plan_id uuid;
begin
  perform private.assert_billing_manager('creating a plan');
  if exists (select from public.plans p where p.slug = create_plan.slug) then
    raise exception 'a plan with this slug already exists' using errcode = '23505';
  end if;
  insert into public.plans (slug, name) values (create_plan.slug, create_plan.name) returning id into plan_id;
  perform private.apply_plan_fields(plan_id, coalesce(fields, '{}'));
  return private.plan_json(plan_id);
end
$$;
comment on function private.create_plan(text, text, jsonb) is 'Body of public.create_plan.';
revoke execute on function private.create_plan(text, text, jsonb) from public;
grant execute on function private.create_plan(text, text, jsonb) to authenticated, service_role;

create function public.create_plan(slug text, name text, fields jsonb default '{}')
returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.create_plan(slug, name, fields) $$;
comment on function public.create_plan(text, text, jsonb) is
  'Staff (billing.manage), 003 POST /subscription-plans: a plan by slug and name; fields may add description, product_id, features, limits, active, trial_days, position and prices [{billing_period, currency, amount}]. Answers the plan with its prices.';
revoke execute on function public.create_plan(text, text, jsonb) from public;
grant execute on function public.create_plan(text, text, jsonb) to authenticated, service_role;

-- Body of public.update_plan.
create function private.update_plan(plan_id uuid, fields jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.assert_billing_manager('changing a plan');
  perform from public.plans p where p.id = update_plan.plan_id for update;
  if not found then
    raise exception 'plan % not found', plan_id using errcode = 'PT404';
  end if;
  if fields ? 'slug' and exists (select from public.plans p where p.slug = fields ->> 'slug' and p.id <> update_plan.plan_id) then
    raise exception 'a plan with this slug already exists' using errcode = '23505';
  end if;
  perform private.apply_plan_fields(plan_id, fields);
  return private.plan_json(plan_id);
end
$$;
comment on function private.update_plan(uuid, jsonb) is 'Body of public.update_plan.';
revoke execute on function private.update_plan(uuid, jsonb) from public;
grant execute on function private.update_plan(uuid, jsonb) to authenticated, service_role;

create function public.update_plan(plan_id uuid, fields jsonb)
returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.update_plan(plan_id, fields) $$;
comment on function public.update_plan(uuid, jsonb) is
  'Staff (billing.manage), 003 PUT /subscription-plans/{id}: changes the fields given (as create_plan); a price with a new amount archives the old price, whose subscribers keep it.';
revoke execute on function public.update_plan(uuid, jsonb) from public;
grant execute on function public.update_plan(uuid, jsonb) to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/60_billing/20_subscriptions.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/60_billing/30_entitlements.sql
-- ======================================================================================

-- Entitlements: what a user's plan allows. A user is entitled by a subscription that is
-- trialing or active, or past_due within the grace period after its period ended
-- (private.billing_past_due_grace); without one, the free tier's limits apply. Limits are
-- enforced in the database where they matter: max_projects on public.projects (30_marketplace:
-- a later domain may name an earlier one's table, so the trigger lives here).
-- A refused project is PT409 (HTTP 409): the caller's account is not in a state that allows
-- another project, as every other state refusal of the API; the message names the plan, the
-- limit and the count.

create function private.billing_past_due_grace() returns interval
language sql
immutable
set search_path = ''
as $$ select interval '7 days' $$;
comment on function private.billing_past_due_grace() is
  'How long after its period ended a past_due subscription still entitles its user (Stripe retries the payment meanwhile).';

-- The plans entitling a user now: their live subscriptions' plans, else the free tier.
create function private.entitling_plans(user_id uuid) returns setof public.plans
language sql
stable
security definer
set search_path = ''
as $$
  with subscribed as (
    select p.* from public.subscriptions s join public.plans p on p.id = s.plan_id
     where s.user_id = entitling_plans.user_id
       and (s.status in ('trialing', 'active')
            or (s.status = 'past_due' and coalesce(s.current_period_end, s.stripe_updated_at) + private.billing_past_due_grace() > now()))
  )
  select * from subscribed
  union all
  select p.* from public.plans p where p.is_free and not exists (select from subscribed)
$$;
comment on function private.entitling_plans(uuid) is
  'The plans whose limits apply to a user: those of their trialing, active or past_due-within-grace subscriptions, else the free tier.';
revoke execute on function private.entitling_plans(uuid) from public;
grant execute on function private.entitling_plans(uuid) to authenticated, service_role;

-- A user's limit: the largest any entitling plan gives, null when one of them does not list
-- the key (unlimited), 0 when no plan applies at all (no free tier row).
create function private.user_limit(user_id uuid, limit_key text) returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  result integer;
  plans_found integer;
  unlimited boolean;
begin
  if not exists (select from public.billing_limit_kinds k where k.key = limit_key) then
    raise exception 'unknown limit %', limit_key using errcode = '22023';
  end if;
  select count(*), bool_or(not (p.limits ? limit_key)), max((p.limits ->> limit_key)::integer)
    into plans_found, unlimited, result
    from private.entitling_plans(user_id) p;
  if plans_found = 0 then
    return 0;
  end if;
  return case when unlimited then null else result end;
end
$$;
comment on function private.user_limit(uuid, text) is
  'A user''s limit for a billing_limit_kinds key from their entitling plans (the largest; null = unlimited), else the free tier''s.';
revoke execute on function private.user_limit(uuid, text) from public;
grant execute on function private.user_limit(uuid, text) to authenticated, service_role;

-- Body of public.my_entitlements.
create function private.my_entitlements() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
begin
  if uid is null then
    raise exception 'sign in to read your entitlements' using errcode = '42501';
  end if;
  return jsonb_build_object(
    'plans', coalesce((select jsonb_agg(jsonb_build_object('id', p.id, 'slug', p.slug, 'name', p.name, 'is_free', p.is_free) order by p.slug)
                         from private.entitling_plans(uid) p), '[]'),
    'features', coalesce((select jsonb_agg(distinct f) from private.entitling_plans(uid) p, jsonb_array_elements_text(p.features) f), '[]'),
    'limits', coalesce((select jsonb_object_agg(k.key, private.user_limit(uid, k.key)) from public.billing_limit_kinds k), '{}'),
    'usage', jsonb_build_object('max_projects', (select count(*) from public.projects pr
                                                 where pr.owner_id = uid and pr.status in ('open', 'in_progress'))));
end
$$;
comment on function private.my_entitlements() is 'Body of public.my_entitlements.';
revoke execute on function private.my_entitlements() from public;
grant execute on function private.my_entitlements() to authenticated;

create function public.my_entitlements() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.my_entitlements() $$;
comment on function public.my_entitlements() is
  'The caller''s entitling plans, their features, each limit (null = unlimited) and current usage, for apps to show.';
revoke execute on function public.my_entitlements() from public;
grant execute on function public.my_entitlements() to authenticated;

-- max_projects: counts the owner's open and in-progress projects, under a per-owner lock so
-- two concurrent inserts cannot both pass.
create function private.enforce_max_projects() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  allowed integer;
  used integer;
  plan_names text;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('billing.max_projects:' || new.owner_id::text, 0));
  allowed := private.user_limit(new.owner_id, 'max_projects');
  if allowed is null then
    return new;
  end if;
  select count(*) into used from public.projects p
   where p.owner_id = new.owner_id and p.status in ('open', 'in_progress') and p.id <> new.id;
  if used >= allowed then
    select string_agg(p.slug, ', ' order by p.slug) into plan_names from private.entitling_plans(new.owner_id) p;
    raise exception 'plan % allows % open projects (max_projects) and you have %: close one or upgrade',
      coalesce(plan_names, 'none'), allowed, used using errcode = 'PT409';
  end if;
  return new;
end
$$;
comment on function private.enforce_max_projects() is
  'Refuses a project beyond the owner''s max_projects (open and in-progress projects) with PT409 naming the plan and the limit.';

create trigger projects_max_projects before insert on public.projects
  for each row execute function private.enforce_max_projects();

-- ======================================================================================
-- supabase/schemas/60_billing/40_invoices.sql
-- ======================================================================================

-- Invoices of our own (004 invoices; 003 staff invoices), beside Stripe's subscription invoices
-- (mirrored next session through stripe_invoice_id). Staff holding billing.manage write
-- platform invoices; a seller (shop.sell) writes invoices in their own series (seller_id =
-- themselves). The customer reads their issued invoices, the seller theirs, managers all.
--
-- Lifecycle: draft -> issued -> paid | canceled. Only drafts are edited or deleted; an issued
-- invoice is corrected by a credit note (kind credit_note, credits_invoice_id), itself a
-- draft until issued. Overdue is not stored: an issued invoice past its due_at
-- (public.invoice_is_overdue, a computed field).
--
-- Numbers are assigned at issue, never to drafts (anchors §3.3, trap 13): YYYYMMDD-XXXX,
-- XXXX the 1-based position in the series, from one counter row per series
-- (private.invoice_number_counters) incremented in the issuing transaction: a rollback takes
-- the number back, concurrent issues queue on the row, so the numbers of a series are
-- consecutive without gaps. A series is the issue day (UTC) for platform invoices, and the day
-- and the seller for a seller's invoices (VAT Directive art. 226(2): one or more series).
-- Credit notes are numbered in the same series as invoices.
--
-- Rounding (all amounts are whole minor units of the invoice's currency, so 1 for KRW and JPY
-- is a won or yen, for USD a cent): a line is quantity x unit amount rounded half away from
-- zero to a whole minor unit; the tax is computed once on the subtotal (the sum of lines),
-- subtotal x tax_rate_bps / 10000, rounded the same way; total = subtotal + tax.

create table private.invoice_number_counters (
  series text primary key,
  last_number integer not null constraint invoice_number_counters_positive check (last_number between 1 and 9999)
);
comment on table private.invoice_number_counters is
  'One row per invoice series (YYYYMMDD, or YYYYMMDD:<seller id>): the last number issued in it. Incremented in the issuing transaction; never a sequence.';
grant select on private.invoice_number_counters to service_role;

create table public.invoices (
  id uuid primary key default gen_random_uuid(),
  kind text not null default 'invoice' constraint invoices_kind check (kind in ('invoice', 'credit_note')),
  credits_invoice_id uuid references public.invoices (id) on delete restrict,
  -- Kept with the books when an account goes: no foreign key to the user (as payments).
  customer_id uuid not null,
  customer_name text not null constraint invoices_customer_name_length check (char_length(trim(customer_name)) between 1 and 200),
  seller_id uuid,
  currency text not null references public.currencies (code),
  tax_rate_bps integer not null default 0 constraint invoices_tax_rate_range check (tax_rate_bps between 0 and 10000),
  due_days integer not null default 30 constraint invoices_due_days_range check (due_days between 0 and 365),
  notes text not null default '' constraint invoices_notes_length check (char_length(notes) <= 2000),
  status text not null default 'draft' constraint invoices_status check (status in ('draft', 'issued', 'paid', 'canceled')),
  number text,
  subtotal_amount bigint not null default 0 constraint invoices_subtotal_range check (subtotal_amount >= 0),
  tax_amount bigint generated always as (round(subtotal_amount::numeric * tax_rate_bps / 10000)::bigint) stored,
  total_amount bigint generated always as (subtotal_amount + round(subtotal_amount::numeric * tax_rate_bps / 10000)::bigint) stored,
  issued_at timestamptz,
  due_at timestamptz,
  paid_at timestamptz,
  canceled_at timestamptz,
  source_order_id uuid,
  stripe_invoice_id text constraint invoices_stripe_invoice_unique unique,
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint invoices_numbered_once_issued check ((number is null) = (status = 'draft')),
  constraint invoices_number_format check (number ~ '^[0-9]{8}-[0-9]{4}$'),
  constraint invoices_credit_note_references check ((kind = 'credit_note') = (credits_invoice_id is not null)),
  constraint invoices_credit_note_not_paid check (kind = 'invoice' or status in ('draft', 'issued'))
);
create unique index invoices_number_unique on public.invoices
  (coalesce(seller_id, '00000000-0000-0000-0000-000000000000'::uuid), number) where number is not null;
create index invoices_customer_idx on public.invoices (customer_id, created_at desc);
create index invoices_seller_idx on public.invoices (seller_id, created_at desc) where seller_id is not null;
create index invoices_status_due_idx on public.invoices (status, due_at);
create index invoices_credits_idx on public.invoices (credits_invoice_id) where credits_invoice_id is not null;
create index invoices_created_by_idx on public.invoices (created_by) where created_by is not null;
comment on table public.invoices is
  'Our invoices and credit notes: draft -> issued (numbered YYYYMMDD-XXXX) -> paid | canceled. Only drafts change; issued ones are corrected by credit notes.';
comment on column public.invoices.number is 'YYYYMMDD-XXXX, assigned at issue from the series'' counter row (day, and seller when seller_id is set); null for drafts.';
comment on column public.invoices.tax_rate_bps is 'Tax percent in basis points (1000 = 10%), applied once to the subtotal, rounded half away from zero.';
comment on column public.invoices.customer_id is 'The invoiced user (no foreign key: invoices stay with the books after the account goes).';
comment on column public.invoices.seller_id is 'The seller invoicing, with their own number series; null for the platform''s invoices.';

create table public.invoice_items (
  id bigint generated always as identity primary key,
  invoice_id uuid not null references public.invoices (id) on delete cascade,
  position integer not null default 0,
  description text not null constraint invoice_items_description_length check (char_length(trim(description)) between 1 and 500),
  quantity numeric(12, 3) not null constraint invoice_items_quantity_positive check (quantity > 0),
  unit_amount bigint not null,
  line_amount bigint generated always as (round(quantity * unit_amount)::bigint) stored
);
create index invoice_items_invoice_idx on public.invoice_items (invoice_id, position, id);
comment on table public.invoice_items is 'An invoice''s lines; line_amount = quantity x unit_amount rounded half away from zero to a whole minor unit.';

create function public.invoice_is_overdue(invoice public.invoices) returns boolean
language sql
stable
security invoker
set search_path = ''
as $$ select invoice.status = 'issued' and invoice.kind = 'invoice' and invoice.due_at < now() $$;
comment on function public.invoice_is_overdue(public.invoices) is
  'Computed field (select=*,invoice_is_overdue): an issued, unpaid invoice past its due date.';
revoke execute on function public.invoice_is_overdue(public.invoices) from public;
grant execute on function public.invoice_is_overdue(public.invoices) to authenticated, service_role;

-- The table's own guard, whoever writes: only drafts change; status moves forward only.
create function private.guard_invoice() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    if old.status <> 'draft' then
      raise exception 'invoice % is %: only drafts are deleted', old.number, old.status using errcode = 'PT409';
    end if;
    return old;
  end if;
  if tg_op = 'INSERT' then
    if new.status <> 'draft' then
      raise exception 'an invoice starts as a draft' using errcode = '22023';
    end if;
    return new;
  end if;
  if old.status <> 'draft' and (new.customer_id, new.customer_name, new.seller_id, new.currency, new.tax_rate_bps, new.due_days,
        new.notes, new.subtotal_amount, new.number, new.issued_at, new.due_at, new.kind, new.credits_invoice_id)
      is distinct from (old.customer_id, old.customer_name, old.seller_id, old.currency, old.tax_rate_bps, old.due_days,
        old.notes, old.subtotal_amount, old.number, old.issued_at, old.due_at, old.kind, old.credits_invoice_id) then
    raise exception 'invoice % is %: only drafts are edited; correct it with a credit note', old.number, old.status
      using errcode = 'PT409';
  end if;
  if new.status <> old.status and not (
       (old.status = 'draft' and new.status = 'issued')
       or (old.status = 'issued' and new.status in ('paid', 'canceled'))) then
    raise exception 'invoice % is %: it cannot become %', coalesce(old.number, old.id::text), old.status, new.status
      using errcode = 'PT409';
  end if;
  return new;
end
$$;

create trigger invoices_guard before insert or update or delete on public.invoices
  for each row execute function private.guard_invoice();
create trigger invoices_touch_updated_at before update on public.invoices
  for each row execute function private.touch_updated_at();
create trigger invoices_audit after insert or update or delete on public.invoices
  for each row execute function private.audit_row_change('id', 'id', 'kind', 'status', 'number', 'currency', 'total_amount', 'seller_id');

-- Lines change only on drafts, in the invoice's currency; the subtotal follows.
create function private.guard_invoice_item() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  invoice public.invoices;
  target uuid := case when tg_op = 'DELETE' then old.invoice_id else new.invoice_id end;
begin
  select * into invoice from public.invoices i where i.id = target;
  if tg_op = 'DELETE' and invoice.id is null then
    return old;  -- the invoice itself is being deleted (a draft: its guard allowed it)
  end if;
  if invoice.status <> 'draft' then
    raise exception 'invoice % is %: only a draft''s lines change', invoice.number, invoice.status using errcode = 'PT409';
  end if;
  if tg_op <> 'DELETE' then
    perform private.assert_money(new.unit_amount, invoice.currency, 'a line''s unit amount');
    return new;
  end if;
  return old;
end
$$;

create function private.sum_invoice_items() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.invoices i set subtotal_amount = coalesce((select sum(it.line_amount) from public.invoice_items it where it.invoice_id = i.id), 0)
   where i.id in (select invoice_id from changed) and i.status = 'draft';
  return null;
end
$$;

create trigger invoice_items_guard before insert or update or delete on public.invoice_items
  for each row execute function private.guard_invoice_item();
create trigger invoice_items_sum_insert after insert on public.invoice_items
  referencing new table as changed for each statement execute function private.sum_invoice_items();
create trigger invoice_items_sum_update after update on public.invoice_items
  referencing new table as changed for each statement execute function private.sum_invoice_items();
create trigger invoice_items_sum_delete after delete on public.invoice_items
  referencing old table as changed for each statement execute function private.sum_invoice_items();

alter table public.invoices enable row level security;
alter table public.invoice_items enable row level security;
grant select on public.invoices, public.invoice_items to authenticated;
grant all on public.invoices, public.invoice_items to service_role;

-- Whether the caller may read an invoice: its customer once issued, its seller, managers.
create function private.can_read_invoice(invoice_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select from public.invoices i where i.id = can_read_invoice.invoice_id
                   and ((i.customer_id = auth.uid() and i.status <> 'draft') or i.seller_id = auth.uid()))
         or private.has_permission('billing.manage')
$$;
comment on function private.can_read_invoice(uuid) is 'The customer of an issued invoice, its seller, billing.manage.';
grant execute on function private.can_read_invoice(uuid) to authenticated, service_role;

create policy "Customers read their issued invoices, sellers theirs, billing managers all" on public.invoices
  for select to authenticated
  using ((customer_id = (select auth.uid()) and status <> 'draft') or seller_id = (select auth.uid())
         or (select private.has_permission('billing.manage')));
create policy "Invoice readers read its lines" on public.invoice_items for select to authenticated
  using ((select private.can_read_invoice(invoice_id)));

-- ---------------------------------------------------------------------------------------
-- RPCs. Writers: billing.manage (any invoice), a seller (shop.sell) for their own series.

create function private.assert_invoice_writer(seller_id uuid) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if private.is_service_role() or private.has_permission('billing.manage') then
    return;
  end if;
  if seller_id is not null and seller_id = auth.uid() and private.has_permission('shop.sell') then
    return;
  end if;
  raise exception 'writing this invoice needs billing.manage, or to be its seller' using errcode = '42501';
end
$$;
comment on function private.assert_invoice_writer(uuid) is 'Raises 42501 unless the caller manages billing or is the invoice''s seller (shop.sell).';
grant execute on function private.assert_invoice_writer(uuid) to authenticated, service_role;

create function private.invoice_json(invoice_id uuid) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select to_jsonb(i) || jsonb_build_object(
           'is_overdue', public.invoice_is_overdue(i),
           'items', coalesce((select jsonb_agg(to_jsonb(it) - 'invoice_id' order by it.position, it.id)
                                from public.invoice_items it where it.invoice_id = i.id), '[]'))
    from public.invoices i where i.id = invoice_json.invoice_id
$$;
comment on function private.invoice_json(uuid) is 'An invoice with is_overdue and its lines under "items".';
grant execute on function private.invoice_json(uuid) to authenticated, service_role;

-- Replaces a draft's lines with [{description, quantity, unit_amount}].
create function private.replace_invoice_items(invoice_id uuid, items jsonb) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if items is null or jsonb_typeof(items) <> 'array' or jsonb_array_length(items) not between 1 and 200
     or exists (select from jsonb_array_elements(items) e
                 where jsonb_typeof(e) <> 'object' or jsonb_typeof(e -> 'quantity') <> 'number'
                    or jsonb_typeof(e -> 'unit_amount') <> 'number' or jsonb_typeof(e -> 'description') <> 'string') then
    raise exception 'items are 1 to 200 lines of {description, quantity, unit_amount} (unit_amount in minor units)' using errcode = '22023';
  end if;
  if exists (select from jsonb_array_elements(items) e where (e ->> 'unit_amount') !~ '^-?[0-9]{1,18}$') then
    raise exception 'a line''s unit_amount is a whole number of minor units' using errcode = '22023';
  end if;
  if exists (select from jsonb_array_elements(items) e where (e ->> 'quantity')::numeric <= 0 or (e ->> 'quantity')::numeric >= 1000000000
               or (e ->> 'quantity')::numeric <> round((e ->> 'quantity')::numeric, 3)) then
    raise exception 'a line''s quantity is positive, below 1000000000, with at most 3 decimals' using errcode = '22023';
  end if;
  delete from public.invoice_items it where it.invoice_id = replace_invoice_items.invoice_id;
  insert into public.invoice_items (invoice_id, position, description, quantity, unit_amount)
  select replace_invoice_items.invoice_id, e.ordinality::integer, e.value ->> 'description', (e.value ->> 'quantity')::numeric,
         (e.value ->> 'unit_amount')::bigint
    from jsonb_array_elements(items) with ordinality e;
end
$$;
comment on function private.replace_invoice_items(uuid, jsonb) is 'Replaces a draft''s lines (create_invoice, update_invoice, create_credit_note).';
revoke execute on function private.replace_invoice_items(uuid, jsonb) from public;
grant execute on function private.replace_invoice_items(uuid, jsonb) to authenticated, service_role;

-- Body of public.create_invoice.
create function private.create_invoice(
  customer_id uuid, currency text, items jsonb, customer_name text default null, tax_rate_bps integer default 0,
  due_days integer default 30, seller_id uuid default null, notes text default ''
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice_id uuid;
  name text;
begin
  perform private.assert_invoice_writer(seller_id);
  select coalesce(nullif(trim(create_invoice.customer_name), ''), nullif(p.display_name, ''), p.username, u.email) into name
    from public.profiles p join auth.users u on u.id = p.id where p.id = create_invoice.customer_id;
  if not found then
    raise exception 'customer % not found', customer_id using errcode = 'PT404';
  end if;
  if not exists (select from public.currencies c where c.code = create_invoice.currency) then
    raise exception 'currency % is not supported (see the currencies table)', currency using errcode = '22023';
  end if;
  if name is null then
    raise exception 'customer % has no name: give customer_name', customer_id using errcode = '22023';
  end if;
  insert into public.invoices (customer_id, customer_name, seller_id, currency, tax_rate_bps, due_days, notes)
  values (create_invoice.customer_id, name, create_invoice.seller_id, create_invoice.currency,
          coalesce(create_invoice.tax_rate_bps, 0), coalesce(create_invoice.due_days, 30), coalesce(create_invoice.notes, ''))
  returning id into invoice_id;
  perform private.replace_invoice_items(invoice_id, items);
  return private.invoice_json(invoice_id);
end
$$;
comment on function private.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) is 'Body of public.create_invoice.';
revoke execute on function private.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) from public;
grant execute on function private.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) to authenticated, service_role;

create function public.create_invoice(
  customer_id uuid, currency text, items jsonb, customer_name text default null, tax_rate_bps integer default 0,
  due_days integer default 30, seller_id uuid default null, notes text default ''
) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.create_invoice(customer_id, currency, items, customer_name, tax_rate_bps, due_days, seller_id, notes) $$;
comment on function public.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) is
  '003 POST /invoices, 004 invoices: a draft invoice for a customer (billing.manage; or a seller for seller_id = themselves) with lines [{description, quantity, unit_amount}], tax percent in basis points and due days. No number until issued.';
revoke execute on function public.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) from public;
grant execute on function public.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) to authenticated, service_role;

-- The draft an RPC changes, locked, after the caller's right to it.
create function private.lock_draft_invoice(invoice_id uuid, doing text) returns public.invoices
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
begin
  select * into invoice from public.invoices i where i.id = lock_draft_invoice.invoice_id for update;
  if not found or not (private.is_service_role() or private.has_permission('billing.manage')
                       or invoice.seller_id = auth.uid()) then
    raise exception 'invoice % not found', invoice_id using errcode = 'PT404';
  end if;
  perform private.assert_invoice_writer(invoice.seller_id);
  if doing is not null and invoice.status <> 'draft' then
    raise exception 'invoice % is %: only drafts are %; correct it with a credit note', invoice.number, invoice.status, doing
      using errcode = 'PT409';
  end if;
  return invoice;
end
$$;
comment on function private.lock_draft_invoice(uuid, text) is
  'Locks an invoice the caller may write (PT404 otherwise); when doing is given, refuses (PT409) unless it is a draft.';
revoke execute on function private.lock_draft_invoice(uuid, text) from public;
grant execute on function private.lock_draft_invoice(uuid, text) to authenticated, service_role;

-- Body of public.update_invoice.
create function private.update_invoice(invoice_id uuid, fields jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  unknown text;
begin
  perform private.lock_draft_invoice(invoice_id, 'edited');
  if fields is null or jsonb_typeof(fields) <> 'object' then
    raise exception 'invoice fields are a JSON object' using errcode = '22023';
  end if;
  select string_agg(k, ', ' order by k) into unknown from jsonb_object_keys(fields) k
   where k not in ('customer_name', 'currency', 'tax_rate_bps', 'due_days', 'notes', 'items');
  if unknown is not null then
    raise exception 'unknown invoice fields: % (a draft has customer_name, currency, tax_rate_bps, due_days, notes, items)', unknown
      using errcode = '22023';
  end if;
  if fields ? 'currency' and not exists (select from public.currencies c where c.code = fields ->> 'currency') then
    raise exception 'currency % is not supported (see the currencies table)', fields ->> 'currency' using errcode = '22023';
  end if;
  begin
    update public.invoices i set
      customer_name = coalesce(fields ->> 'customer_name', i.customer_name),
      currency = coalesce(fields ->> 'currency', i.currency),
      tax_rate_bps = coalesce((fields ->> 'tax_rate_bps')::integer, i.tax_rate_bps),
      due_days = coalesce((fields ->> 'due_days')::integer, i.due_days),
      notes = coalesce(fields ->> 'notes', i.notes)
    where i.id = update_invoice.invoice_id;
  exception when invalid_text_representation or numeric_value_out_of_range then
    raise exception 'tax_rate_bps and due_days are whole numbers' using errcode = '22023';
  end;
  if fields ? 'items' then
    perform private.replace_invoice_items(invoice_id, fields -> 'items');
  elsif fields ? 'currency' then
    -- The lines are checked again against the new currency's limit.
    update public.invoice_items it set unit_amount = it.unit_amount where it.invoice_id = update_invoice.invoice_id;
  end if;
  return private.invoice_json(invoice_id);
end
$$;
comment on function private.update_invoice(uuid, jsonb) is 'Body of public.update_invoice.';
revoke execute on function private.update_invoice(uuid, jsonb) from public;
grant execute on function private.update_invoice(uuid, jsonb) to authenticated, service_role;

create function public.update_invoice(invoice_id uuid, fields jsonb) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.update_invoice(invoice_id, fields) $$;
comment on function public.update_invoice(uuid, jsonb) is
  '003 PUT /invoices/{id}: changes a draft (customer_name, currency, tax_rate_bps, due_days, notes; items replaces the lines). Issued invoices are refused: correct them with a credit note.';
revoke execute on function public.update_invoice(uuid, jsonb) from public;
grant execute on function public.update_invoice(uuid, jsonb) to authenticated, service_role;

-- Body of public.delete_invoice.
create function private.delete_invoice(invoice_id uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.lock_draft_invoice(invoice_id, 'deleted');
  delete from public.invoices where id = invoice_id;
end
$$;
comment on function private.delete_invoice(uuid) is 'Body of public.delete_invoice.';
revoke execute on function private.delete_invoice(uuid) from public;
grant execute on function private.delete_invoice(uuid) to authenticated, service_role;

create function public.delete_invoice(invoice_id uuid) returns void
language sql
security invoker
set search_path = ''
as $$ select private.delete_invoice(invoice_id) $$;
comment on function public.delete_invoice(uuid) is '004 DELETE /invoices/{id}: deletes a draft; issued invoices are refused (PT409).';
revoke execute on function public.delete_invoice(uuid) from public;
grant execute on function public.delete_invoice(uuid) to authenticated, service_role;

-- The next number of a series, in the caller's transaction (see the header).
create function private.next_invoice_number(issued_on date, seller_id uuid) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  series text := to_char(issued_on, 'YYYYMMDD') || coalesce(':' || seller_id::text, '');
  position integer;
begin
  insert into private.invoice_number_counters as c (series, last_number) values (series, 1)
  on conflict on constraint invoice_number_counters_pkey do update set last_number = c.last_number + 1
  returning c.last_number into position;
  return to_char(issued_on, 'YYYYMMDD') || '-' || lpad(position::text, 4, '0');
exception when check_violation then
  raise exception 'invoice series % is full: 9999 numbers a day', series using errcode = 'PT409';
end
$$;
comment on function private.next_invoice_number(date, uuid) is
  'Takes the next number of the series (the day, and the seller) from its counter row: gap-free because the row update commits or rolls back with the issue.';
revoke execute on function private.next_invoice_number(date, uuid) from public;
grant execute on function private.next_invoice_number(date, uuid) to service_role;

-- Body of public.issue_invoice.
create function private.issue_invoice(invoice_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
  credited public.invoices;
  already_credited bigint;
  issued timestamptz := now();
begin
  invoice := private.lock_draft_invoice(invoice_id, null);
  if invoice.status <> 'draft' then
    raise exception 'invoice % is already %', invoice.number, invoice.status using errcode = 'PT409';
  end if;
  if invoice.total_amount <= 0 then
    raise exception 'invoice % has no lines: nothing to issue', invoice.id using errcode = 'PT409';
  end if;
  if invoice.kind = 'credit_note' then
    select * into credited from public.invoices i where i.id = invoice.credits_invoice_id for update;
    if credited.status not in ('issued', 'paid') then
      raise exception 'invoice % is %: only issued or paid invoices are credited', coalesce(credited.number, credited.id::text), credited.status
        using errcode = 'PT409';
    end if;
    select coalesce(sum(i.total_amount), 0) into already_credited from public.invoices i
     where i.credits_invoice_id = credited.id and i.status = 'issued';
    if already_credited + invoice.total_amount > credited.total_amount then
      raise exception 'credit note of % would credit invoice % beyond its total % (% already credited)',
        invoice.total_amount, credited.number, credited.total_amount, already_credited using errcode = 'PT409';
    end if;
  end if;
  update public.invoices i
     set status = 'issued',
         number = private.next_invoice_number((issued at time zone 'UTC')::date, invoice.seller_id),
         issued_at = issued,
         due_at = issued + make_interval(days => invoice.due_days)
   where i.id = invoice.id;
  return private.invoice_json(invoice.id);
end
$$;
comment on function private.issue_invoice(uuid) is 'Body of public.issue_invoice.';
revoke execute on function private.issue_invoice(uuid) from public;
grant execute on function private.issue_invoice(uuid) to authenticated, service_role;

create function public.issue_invoice(invoice_id uuid) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.issue_invoice(invoice_id) $$;
comment on function public.issue_invoice(uuid) is
  'Issues a draft invoice or credit note: numbers it YYYYMMDD-XXXX in its series (the UTC day, and the seller), gap-free, and sets its due date. A credit note may not credit more than its invoice''s total.';
revoke execute on function public.issue_invoice(uuid) from public;
grant execute on function public.issue_invoice(uuid) to authenticated, service_role;

-- Body of public.set_invoice_status.
create function private.set_invoice_status(invoice_id uuid, status text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
begin
  invoice := private.lock_draft_invoice(invoice_id, null);
  if status is null or status not in ('paid', 'canceled') then
    raise exception 'an invoice''s status is set to paid or canceled' using errcode = '22023';
  end if;
  if invoice.kind = 'credit_note' then
    raise exception 'credit note % is neither paid nor canceled: issue another to correct it', invoice.number using errcode = 'PT409';
  end if;
  if invoice.status <> 'issued' then
    raise exception 'invoice % is %: only an issued invoice becomes %', coalesce(invoice.number, invoice.id::text), invoice.status, status
      using errcode = 'PT409';
  end if;
  update public.invoices i
     set status = set_invoice_status.status,
         paid_at = case when set_invoice_status.status = 'paid' then now() end,
         canceled_at = case when set_invoice_status.status = 'canceled' then now() end
   where i.id = invoice.id;
  return private.invoice_json(invoice.id);
end
$$;
comment on function private.set_invoice_status(uuid, text) is 'Body of public.set_invoice_status.';
revoke execute on function private.set_invoice_status(uuid, text) from public;
grant execute on function private.set_invoice_status(uuid, text) to authenticated, service_role;

create function public.set_invoice_status(invoice_id uuid, status text) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.set_invoice_status(invoice_id, status) $$;
comment on function public.set_invoice_status(uuid, text) is
  'An issued invoice becomes paid (recorded by hand; Stripe-paid ones follow the webhook next session) or canceled. Paid and canceled invoices are final.';
revoke execute on function public.set_invoice_status(uuid, text) from public;
grant execute on function public.set_invoice_status(uuid, text) to authenticated, service_role;

-- Body of public.create_credit_note.
create function private.create_credit_note(invoice_id uuid, items jsonb default null) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
  note_id uuid;
begin
  invoice := private.lock_draft_invoice(invoice_id, null);
  if invoice.kind <> 'invoice' or invoice.status not in ('issued', 'paid') then
    raise exception 'invoice % is % %: only issued or paid invoices are credited', coalesce(invoice.number, invoice.id::text),
      invoice.status, invoice.kind using errcode = 'PT409';
  end if;
  insert into public.invoices (kind, credits_invoice_id, customer_id, customer_name, seller_id, currency, tax_rate_bps, due_days,
                               notes)
  values ('credit_note', invoice.id, invoice.customer_id, invoice.customer_name, invoice.seller_id, invoice.currency,
          invoice.tax_rate_bps, 0, 'Credit note for invoice ' || invoice.number)
  returning id into note_id;
  perform private.replace_invoice_items(note_id, coalesce(items, (
    select jsonb_agg(jsonb_build_object('description', it.description, 'quantity', it.quantity, 'unit_amount', it.unit_amount)
                     order by it.position, it.id)
      from public.invoice_items it where it.invoice_id = invoice.id)));
  return private.invoice_json(note_id);
end
$$;
comment on function private.create_credit_note(uuid, jsonb) is 'Body of public.create_credit_note.';
revoke execute on function private.create_credit_note(uuid, jsonb) from public;
grant execute on function private.create_credit_note(uuid, jsonb) to authenticated, service_role;

create function public.create_credit_note(invoice_id uuid, items jsonb default null) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.create_credit_note(invoice_id, items) $$;
comment on function public.create_credit_note(uuid, jsonb) is
  'A draft credit note correcting an issued or paid invoice: the lines given (amounts credited, positive), or all its lines; issue it with issue_invoice.';
revoke execute on function public.create_credit_note(uuid, jsonb) from public;
grant execute on function public.create_credit_note(uuid, jsonb) to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/60_billing/50_invoices_bucket.sql
-- ======================================================================================

-- The invoices bucket (private): rendered PDFs under <customer id>/<invoice id>.pdf, written
-- by the billing-invoice-pdf function with the service role only (regenerated identically for
-- the same invoice), served by signed URL. The customer reads their own folder, billing
-- managers every folder. The bucket row is reference data (the billing reference-data
-- migration) and supabase/config.toml's [storage.buckets.invoices].

create policy "Customers read their invoice PDFs, billing managers all"
  on storage.objects for select to authenticated
  using (bucket_id = 'invoices'
         and ((storage.foldername(name))[1] = (select auth.uid())::text or (select private.has_permission('billing.manage'))));

-- ======================================================================================
-- supabase/schemas/60_billing/60_payment_history.sql
-- ======================================================================================

-- Payment history (004 GET /api/payment/history): one list of the caller's invoices (issued,
-- paid, canceled; credit notes as negative amounts), escrow payments (public.payments, where
-- they are the buyer), shop payments (public.shop_payments of their checkouts) and Stripe
-- subscription invoices (public.stripe_invoices, finalized ones), newest first, filtered by
-- status and date, paginated.

-- Body of public.my_payment_history.
create function private.my_payment_history(
  with_status text default null, from_date date default null, to_date date default null, page integer default 1,
  page_size integer default 20
) returns table (
  kind text, id text, reference text, description text, amount bigint, currency text, status text,
  occurred_at timestamptz, total_count bigint
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
begin
  if uid is null then
    raise exception 'sign in to read your payment history' using errcode = '42501';
  end if;
  if page is null or page < 1 or page_size is null or page_size not between 1 and 100 then
    raise exception 'page is 1 or more and page_size 1 to 100' using errcode = '22023';
  end if;
  if from_date is not null and to_date is not null and to_date < from_date then
    raise exception 'to_date % is before from_date %', to_date, from_date using errcode = '22023';
  end if;
  return query
  with entries as (
    select i.kind as kind, i.id::text as id, i.number as reference,
           case when i.kind = 'credit_note' then 'Credit note ' || i.number else 'Invoice ' || i.number end as description,
           case when i.kind = 'credit_note' then -i.total_amount else i.total_amount end as amount,
           i.currency, case when public.invoice_is_overdue(i) then 'overdue' else i.status end as status,
           coalesce(i.paid_at, i.canceled_at, i.issued_at) as occurred_at
      from public.invoices i
     where i.customer_id = uid and i.status <> 'draft'
    union all
    select 'escrow_payment', p.order_id::text, p.order_id::text, 'Order payment', p.amount, p.currency, p.status,
           coalesce(p.paid_at, p.created_at)
      from public.payments p
     where p.buyer_id = uid
    union all
    -- Shop orders: the payment of each of the buyer's checkouts (one for all its shop orders).
    select 'shop_payment', sp.checkout_id::text, sp.checkout_id::text, 'Shop order payment', sp.amount, sp.currency,
           sp.status, coalesce(sp.paid_at, sp.created_at)
      from public.shop_payments sp join public.checkouts c on c.id = sp.checkout_id
     where c.buyer_id = uid
    union all
    -- Stripe's subscription invoices, once finalized (a draft is not a charge yet): their Stripe
    -- status (open, paid, void, uncollectible), or refunded / partially_refunded after a refund.
    select 'subscription_invoice', si.stripe_invoice_id, coalesce(si.number, si.stripe_invoice_id),
           'Subscription invoice ' || coalesce(si.number, si.stripe_invoice_id), si.total, si.currency,
           case when si.amount_refunded > 0 and si.amount_refunded >= si.amount_paid then 'refunded'
                when si.amount_refunded > 0 then 'partially_refunded' else si.status end,
           coalesce(si.paid_at, si.stripe_created_at, si.created_at)
      from public.stripe_invoices si
     where si.user_id = uid and si.status <> 'draft'
  )
  select e.kind, e.id, e.reference, e.description, e.amount, e.currency, e.status, e.occurred_at, count(*) over ()
    from entries e
   where (with_status is null or e.status = with_status)
     and (from_date is null or e.occurred_at >= from_date::timestamptz)
     and (to_date is null or e.occurred_at < (to_date + 1)::timestamptz)
   order by e.occurred_at desc, e.id desc
   limit page_size offset (page - 1) * page_size;
end
$$;
comment on function private.my_payment_history(text, date, date, integer, integer) is 'Body of public.my_payment_history.';
revoke execute on function private.my_payment_history(text, date, date, integer, integer) from public;
grant execute on function private.my_payment_history(text, date, date, integer, integer) to authenticated;

create function public.my_payment_history(
  with_status text default null, from_date date default null, to_date date default null, page integer default 1,
  page_size integer default 20
) returns table (
  kind text, id text, reference text, description text, amount bigint, currency text, status text,
  occurred_at timestamptz, total_count bigint
)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.my_payment_history(with_status, from_date, to_date, page, page_size) $$;
comment on function public.my_payment_history(text, date, date, integer, integer) is
  '004 GET /api/payment/history: the caller''s invoices (issued, paid, canceled, overdue; credit notes negative), escrow payments and shop payments as buyer, and Stripe subscription invoices (kind subscription_invoice: open, paid, void, uncollectible, refunded, partially_refunded), newest first; with_status (any of those statuses) and date filters (from_date, to_date inclusive, UTC days); page and page_size (1-100); total_count on every row.';
revoke execute on function public.my_payment_history(text, date, date, integer, integer) from public;
grant execute on function public.my_payment_history(text, date, date, integer, integer) to authenticated;

-- ======================================================================================
-- supabase/schemas/60_billing/70_stripe_billing.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/60_billing/80_admin_desk.sql
-- ======================================================================================

-- The admin's subscription desk (004 admin subscriptions; issue 18): staff holding
-- billing.manage (or the service role: the admin CLI) list subscriptions with filters and read
-- their stats. Changing one (plan, pause, force cancel, refund) goes through Stripe by the
-- billing-manage-subscription function, which records each staff action in the audit log
-- through ops.record_billing_admin_action; the mirror then follows by webhook.
--
-- The stats' definitions (docs/domains/billing.md "Subscription stats", worked examples in
-- supabase/tests/database/60_billing/subscription_stats_worked_examples.test.sql):
--   - a subscription's monthly amount is its price's amount x quantity normalised to a month
--     from its Stripe price's recurring interval and interval_count (month/n, year/(12n),
--     week x 52/12/n, day x 365/12/n), less forever coupons only (Stripe's rule: once and
--     repeating coupons do not reduce MRR); exact (numeric), rounded once per currency to whole
--     minor units, half away from zero;
--   - a subscription counts in MRR at an instant t when it had started by t (Stripe's created,
--     else our row's), had not ended by t (ended_at), was not in its trial at t, never was only
--     incomplete, and, when it has not ended, its status now is active or past_due (past_due is
--     included, as Stripe does; paused, unpaid and trialing are not). The mirror keeps a
--     subscription's latest state, not its history: its plan, price and pause are taken as they
--     are now, so a plan change moves its whole MRR to the new price;
--   - MRR (per currency, never summed across currencies) at the end of the period; ARR = MRR x 12
--     (from the exact sum, rounded once);
--   - logo churn: customers (users) with at least one subscription counting at the start of the
--     period and none at its end, over the customers counting at the start (ChartMogul's
--     customer churn: who joined and left within the period is in neither);
--   - revenue churn (per currency): the start's MRR of the subscriptions counting at the start
--     and not at the end, over the MRR at the start (gross MRR churn without contraction, which
--     the mirror cannot see);
--   - plan mix: the subscriptions counting at the end per plan and currency, with their MRR and
--     their share of all counting subscriptions.

-- A subscription's monthly amount (exact, in minor units): see the header.
create function private.subscription_monthly_amount(sub public.subscriptions) returns numeric
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  price public.plan_prices;
  recurring jsonb := sub.snapshot -> 'items' -> 'data' -> 0 -> 'price' -> 'recurring';
  unit text;
  n numeric;
  factor numeric;
  monthly numeric;
  discount jsonb;
begin
  select * into price from public.plan_prices pp where pp.id = sub.plan_price_id;
  if price.id is null then
    return 0;
  end if;
  unit := coalesce(recurring ->> 'interval', price.billing_period);
  n := greatest(coalesce((recurring ->> 'interval_count')::numeric, 1), 1);
  factor := case unit when 'month' then 1 / n when 'year' then 1 / (12 * n)
                      when 'week' then 52 / (12 * n) when 'day' then 365 / (12 * n) else 0 end;
  monthly := price.amount * sub.quantity * factor;
  -- Forever coupons only: the subscription's discounts (expanded objects) and the older
  -- single discount field.
  for discount in
    select d from jsonb_array_elements(case when jsonb_typeof(sub.snapshot -> 'discounts') = 'array'
                                            then sub.snapshot -> 'discounts' else '[]' end) d
     where jsonb_typeof(d) = 'object'
    union all
    select sub.snapshot -> 'discount' where jsonb_typeof(sub.snapshot -> 'discount') = 'object'
  loop
    continue when discount -> 'coupon' ->> 'duration' is distinct from 'forever';
    if jsonb_typeof(discount -> 'coupon' -> 'percent_off') = 'number' then
      monthly := monthly * (1 - (discount -> 'coupon' ->> 'percent_off')::numeric / 100);
    elsif jsonb_typeof(discount -> 'coupon' -> 'amount_off') = 'number'
          and upper(discount -> 'coupon' ->> 'currency') = price.currency then
      monthly := monthly - (discount -> 'coupon' ->> 'amount_off')::numeric * factor;
    end if;
  end loop;
  return greatest(monthly, 0);
end
$$;
comment on function private.subscription_monthly_amount(public.subscriptions) is
  'MRR of one subscription, exact: price amount x quantity normalised to a month from its Stripe price''s interval and interval_count, less forever coupons (percent or amount off); 0 without a price.';
revoke execute on function private.subscription_monthly_amount(public.subscriptions) from public;
grant execute on function private.subscription_monthly_amount(public.subscriptions) to authenticated, service_role;

-- Whether a subscription counts in MRR at an instant: see the header.
create function private.subscription_counts_at(sub public.subscriptions, at timestamptz) returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce(sub.stripe_created_at, sub.created_at) <= at
     and (sub.ended_at is null or sub.ended_at > at)
     and not (sub.trial_end is not null and sub.trial_end > at
              and coalesce(sub.trial_start, sub.stripe_created_at, sub.created_at) <= at)
     and sub.status not in ('incomplete', 'incomplete_expired')
     and (sub.ended_at is not null or sub.status in ('active', 'past_due'))
$$;
comment on function private.subscription_counts_at(public.subscriptions, timestamptz) is
  'Whether a subscription counts in MRR at an instant: started, not ended, not in trial, ever paid, and (while not ended) active or past_due now.';
revoke execute on function private.subscription_counts_at(public.subscriptions, timestamptz) from public;
grant execute on function private.subscription_counts_at(public.subscriptions, timestamptz) to authenticated, service_role;

-- A rate as a fraction rounded to 4 decimals; null when there is nothing to divide by.
create function private.billing_rate(part numeric, whole numeric) returns numeric
language sql
immutable
set search_path = ''
as $$ select case when whole > 0 then round(part / whole, 4) end $$;
comment on function private.billing_rate(numeric, numeric) is 'part / whole rounded to 4 decimals (0.2500 = 25%); null when whole is 0.';

-- ---------------------------------------------------------------------------------------
-- Listing.

-- Body of public.admin_subscriptions.
create function private.admin_subscriptions(
  with_status text default null, plan text default null, user_query text default null,
  created_from date default null, created_to date default null, page integer default 1, page_size integer default 20
) returns table (
  id uuid, user_id uuid, email text, plan_id uuid, plan_slug text, plan_name text, status text,
  billing_period text, currency text, amount bigint, quantity integer, monthly_amount numeric,
  cancel_at_period_end boolean, current_period_end timestamptz, trial_end timestamptz, canceled_at timestamptz,
  ended_at timestamptz, cancellation_reason text, stripe_subscription_id text, created_at timestamptz,
  total_count bigint
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  plan_filter uuid;
begin
  perform private.assert_billing_manager('listing subscriptions');
  if page is null or page < 1 or page_size is null or page_size not between 1 and 100 then
    raise exception 'page is 1 or more and page_size 1 to 100' using errcode = '22023';
  end if;
  if with_status is not null and with_status not in (
       'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused') then
    raise exception 'unknown subscription status %: the statuses are incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused',
      with_status using errcode = '22023';
  end if;
  if created_from is not null and created_to is not null and created_to < created_from then
    raise exception 'created_to % is before created_from %', created_to, created_from using errcode = '22023';
  end if;
  if plan is not null then
    select p.id into plan_filter from public.plans p where p.slug = plan or p.id = private.try_uuid(plan);
    if plan_filter is null then
      raise exception 'plan % not found', plan using errcode = 'PT404';
    end if;
  end if;
  return query
  select s.id, s.user_id, u.email::text, s.plan_id, p.slug, p.name, s.status, pp.billing_period, pp.currency, pp.amount,
         s.quantity, round(private.subscription_monthly_amount(s), 2), s.cancel_at_period_end, s.current_period_end,
         s.trial_end, s.canceled_at, s.ended_at, s.cancellation_reason, s.stripe_subscription_id,
         coalesce(s.stripe_created_at, s.created_at), count(*) over ()
    from public.subscriptions s
    join public.plans p on p.id = s.plan_id
    left join public.plan_prices pp on pp.id = s.plan_price_id
    left join auth.users u on u.id = s.user_id
   where (with_status is null or s.status = with_status)
     and (plan_filter is null or s.plan_id = plan_filter)
     and (user_query is null or s.user_id = private.try_uuid(user_query)
          or u.email ilike '%' || replace(replace(replace(user_query, '\', '\\'), '%', '\%'), '_', '\_') || '%')
     and (created_from is null or coalesce(s.stripe_created_at, s.created_at) >= created_from::timestamptz)
     and (created_to is null or coalesce(s.stripe_created_at, s.created_at) < (created_to + 1)::timestamptz)
   order by coalesce(s.stripe_created_at, s.created_at) desc, s.id desc
   limit page_size offset (page - 1) * page_size;
end
$$;
comment on function private.admin_subscriptions(text, text, text, date, date, integer, integer) is 'Body of public.admin_subscriptions.';
revoke execute on function private.admin_subscriptions(text, text, text, date, date, integer, integer) from public;
grant execute on function private.admin_subscriptions(text, text, text, date, date, integer, integer) to authenticated, service_role;

create function public.admin_subscriptions(
  with_status text default null, plan text default null, user_query text default null,
  created_from date default null, created_to date default null, page integer default 1, page_size integer default 20
) returns table (
  id uuid, user_id uuid, email text, plan_id uuid, plan_slug text, plan_name text, status text,
  billing_period text, currency text, amount bigint, quantity integer, monthly_amount numeric,
  cancel_at_period_end boolean, current_period_end timestamptz, trial_end timestamptz, canceled_at timestamptz,
  ended_at timestamptz, cancellation_reason text, stripe_subscription_id text, created_at timestamptz,
  total_count bigint
)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.admin_subscriptions(with_status, plan, user_query, created_from, created_to, page, page_size) $$;
comment on function public.admin_subscriptions(text, text, text, date, date, integer, integer) is
  '004 admin subscription list (billing.manage): every subscription, newest first, filtered by status, plan (slug or id), user (id, or part of the e-mail address) and creation days (created_from, created_to inclusive, UTC); with the user''s e-mail, the plan, the price and its monthly amount; page and page_size (1-100), total_count on every row.';
revoke execute on function public.admin_subscriptions(text, text, text, date, date, integer, integer) from public;
grant execute on function public.admin_subscriptions(text, text, text, date, date, integer, integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Stats (definitions in the header).

-- Body of public.subscription_stats.
create function private.subscription_stats(from_date date, to_date date) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  starts_at timestamptz;
  ends_at timestamptz;
  result jsonb;
begin
  perform private.assert_billing_manager('reading subscription stats');
  if from_date is null or to_date is null then
    raise exception 'a stats period has a from_date and a to_date' using errcode = '22023';
  end if;
  if to_date < from_date then
    raise exception 'to_date % is before from_date %', to_date, from_date using errcode = '22023';
  end if;
  if to_date - from_date > 3660 then
    raise exception 'a stats period is at most 10 years' using errcode = '22023';
  end if;
  starts_at := from_date::timestamptz;
  ends_at := (to_date + 1)::timestamptz;
  with subs as (
    select s.id, s.user_id, s.plan_id, s.status, s.ended_at, coalesce(s.stripe_created_at, s.created_at) as started,
           pp.currency, private.subscription_monthly_amount(s) as monthly,
           private.subscription_counts_at(s, starts_at) as at_start,
           private.subscription_counts_at(s, ends_at) as at_end,
           (s.trial_end is not null and s.trial_end > ends_at and coalesce(s.trial_start, s.stripe_created_at, s.created_at) <= ends_at
            and (s.ended_at is null or s.ended_at > ends_at)) as trialing_at_end
      from public.subscriptions s
      left join public.plan_prices pp on pp.id = s.plan_price_id
  ), per_currency as (
    select su.currency,
           sum(su.monthly) filter (where su.at_end) as mrr_end,
           sum(su.monthly) filter (where su.at_start) as mrr_start,
           sum(su.monthly) filter (where su.at_start and not su.at_end) as churned,
           count(*) filter (where su.at_end) as subscriptions_end
      from subs su where su.currency is not null
     group by su.currency
  ), customers as (
    select su.user_id, bool_or(su.at_start) as at_start, bool_or(su.at_end) as at_end from subs su group by su.user_id
  ), mix as (
    select su.plan_id, su.currency, count(*) as subscriptions, sum(su.monthly) as mrr
      from subs su where su.at_end group by su.plan_id, su.currency
  )
  select jsonb_build_object(
    'period', jsonb_build_object('from_date', from_date, 'to_date', to_date, 'starts_at', starts_at, 'ends_at', ends_at),
    'counts', jsonb_build_object(
      'active', (select count(*) from subs su where su.at_end),
      'trialing', (select count(*) from subs su where su.trialing_at_end),
      'new', (select count(*) from subs su where su.started >= starts_at and su.started < ends_at
                                           and su.status not in ('incomplete', 'incomplete_expired')),
      'canceled', (select count(*) from subs su where su.status = 'canceled' and su.ended_at >= starts_at and su.ended_at < ends_at),
      'by_status', coalesce((select jsonb_object_agg(x.status, x.n) from (
                     select su.status, count(*) as n from subs su group by su.status) x), '{}')),
    'currencies', coalesce((select jsonb_agg(jsonb_build_object(
        'currency', pc.currency,
        'mrr', round(coalesce(pc.mrr_end, 0))::bigint,
        'arr', round(coalesce(pc.mrr_end, 0) * 12)::bigint,
        'subscriptions', pc.subscriptions_end,
        'mrr_at_start', round(coalesce(pc.mrr_start, 0))::bigint,
        'revenue_churn', jsonb_build_object(
          'mrr_at_start', round(coalesce(pc.mrr_start, 0))::bigint,
          'churned_mrr', round(coalesce(pc.churned, 0))::bigint,
          'rate', private.billing_rate(coalesce(pc.churned, 0), coalesce(pc.mrr_start, 0))))
        order by pc.currency) from per_currency pc), '[]'),
    'logo_churn', (select jsonb_build_object(
        'customers_at_start', count(*) filter (where c.at_start),
        'churned', count(*) filter (where c.at_start and not c.at_end),
        'rate', private.billing_rate(count(*) filter (where c.at_start and not c.at_end), count(*) filter (where c.at_start)))
      from customers c),
    'plan_mix', coalesce((select jsonb_agg(jsonb_build_object(
        'plan_id', m.plan_id, 'slug', p.slug, 'name', p.name, 'currency', m.currency, 'subscriptions', m.subscriptions,
        'mrr', round(m.mrr)::bigint,
        'share', private.billing_rate(m.subscriptions, (select count(*) from subs su where su.at_end)))
        order by m.subscriptions desc, p.slug, m.currency)
      from mix m join public.plans p on p.id = m.plan_id), '[]'))
  into result;
  return result;
end
$$;
comment on function private.subscription_stats(date, date) is 'Body of public.subscription_stats.';
revoke execute on function private.subscription_stats(date, date) from public;
grant execute on function private.subscription_stats(date, date) to authenticated, service_role;

create function public.subscription_stats(from_date date, to_date date) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.subscription_stats(from_date, to_date) $$;
comment on function public.subscription_stats(date, date) is
  '004 admin subscription stats (billing.manage) for the UTC days from_date to to_date inclusive: counts (counting in MRR at the end, trialing, new, canceled, by status now), per currency MRR and ARR at the end and revenue churn, logo churn, plan mix. Definitions: docs/domains/billing.md "Subscription stats".';
revoke execute on function public.subscription_stats(date, date) from public;
grant execute on function public.subscription_stats(date, date) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- The audit of staff actions made in Stripe (billing-manage-subscription): modify, force
-- cancel, refund. The change itself reaches the mirror by webhook; this records who asked.

create function ops.record_billing_admin_action(acting_user uuid, action text, subscription_id uuid, details jsonb default '{}')
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  entry_id bigint;
begin
  if acting_user is null or not private.user_has_permission(acting_user, 'billing.manage') then
    raise exception 'recording a subscription action needs the billing.manage permission' using errcode = '42501';
  end if;
  if action is null or action !~ '^[a-z_]{3,40}$' then
    raise exception 'an action is a lowercase word like force_cancel' using errcode = '22023';
  end if;
  if not exists (select from public.subscriptions s where s.id = subscription_id) then
    raise exception 'subscription % not found', subscription_id using errcode = 'PT404';
  end if;
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (acting_user, acting_user::text, 'billing.' || action, 'subscriptions', subscription_id::text, null,
          coalesce(details, '{}'))
  returning id into entry_id;
  return entry_id;
end
$$;
comment on function ops.record_billing_admin_action(uuid, text, uuid, jsonb) is
  'Audit log entry (action billing.<action>, table subscriptions) for a staff change made in Stripe by billing-manage-subscription (change_plan, pause, resume, cancel_at_period_end, resume_renewal, force_cancel, refund); acting_user must hold billing.manage. Service role only.';
revoke execute on function ops.record_billing_admin_action(uuid, text, uuid, jsonb) from public;
grant execute on function ops.record_billing_admin_action(uuid, text, uuid, jsonb) to service_role;

-- ======================================================================================
-- supabase/schemas/60_billing/85_statements.sql
-- ======================================================================================

-- Monthly statements (004 monthly statements; issue 18): per user and calendar month (UTC),
-- per currency, the opening balance, charges, payments, refunds and the closing balance, with
-- the month's entries. The owner reads theirs, billing.manage anyone's; the billing-
-- statement-pdf function renders the same data as a PDF in the private invoices bucket.
--
-- The balance is what the user owes the platform (negative: the platform owes the user), from
-- the sources my_payment_history reads plus the Stripe subscription invoices
-- (private.statement_entries); each entry has a charge, a payment and a refund column, and
-- closing = opening + charges - payments + refunds:
--   - our invoices (not drafts): charge +total when issued; payment +total when paid; a
--     canceled invoice's charge is taken back (charge -total when canceled);
--   - credit notes: charge -total when issued (the customer is credited);
--   - Stripe subscription invoices (stripe_invoices) finalized (open, paid, uncollectible):
--     charge +total when finalized (status_transitions.finalized_at, else created); payment
--     +amount_paid when paid; void ones are left out;
--   - escrow payments where the user is the buyer (public.payments), once paid: charge and
--     payment of the amount when paid (a purchase paid at once nets to zero); each succeeded
--     refund (payment_refunds): refund +amount and charge -amount (the purchase taken back),
--     which also nets to zero;
--   - refunds of Stripe subscription invoices: each refund's ledger posting (key
--     subscription_refund:<in_…>:<re_…>) at its posted_at: refund +amount and charge -amount,
--     so a refund in a later month lands in that month's statement, partial ones too;
--   - shop checkouts where the user is the buyer (shop_payments), once captured: charge and
--     payment of amount_captured at paid_at; each succeeded shop refund (shop_refunds, full or
--     partial) at resolved_at, each refund of its charge made in Stripe (shop_external_refunds)
--     when recorded, and a late payment's full refund at its ledger posting
--     (shop_late_refund:<checkout>): refund +amount and charge -amount;
-- so a month's closing is the next month's opening, and amounts of different currencies are
-- never added.

-- Every entry of a user's account, oldest first (see the header for the rule).
create function private.statement_entries(user_id uuid)
returns table (
  occurred_at timestamptz, kind text, reference text, description text, currency text,
  charge bigint, payment bigint, refund bigint
)
language sql
stable
security definer
set search_path = ''
as $$
  select e.* from (
    select i.issued_at, i.kind, i.number,
           case when i.kind = 'credit_note' then 'Credit note ' || i.number else 'Invoice ' || i.number end,
           i.currency, case when i.kind = 'credit_note' then -i.total_amount else i.total_amount end, 0::bigint, 0::bigint
      from public.invoices i
     where i.customer_id = statement_entries.user_id and i.status <> 'draft'
    union all
    select i.paid_at, 'invoice_payment', i.number, 'Payment of invoice ' || i.number, i.currency, 0, i.total_amount, 0
      from public.invoices i
     where i.customer_id = statement_entries.user_id and i.status = 'paid'
    union all
    select i.canceled_at, 'invoice_canceled', i.number, 'Invoice ' || i.number || ' canceled', i.currency, -i.total_amount, 0, 0
      from public.invoices i
     where i.customer_id = statement_entries.user_id and i.status = 'canceled'
    union all
    select coalesce(private.stripe_time(si.snapshot -> 'status_transitions' -> 'finalized_at'), si.stripe_created_at, si.created_at),
           'subscription_invoice', coalesce(si.number, si.stripe_invoice_id),
           'Subscription invoice ' || coalesce(si.number, si.stripe_invoice_id), si.currency, si.total, 0, 0
      from public.stripe_invoices si
     where si.user_id = statement_entries.user_id and si.status in ('open', 'paid', 'uncollectible')
    union all
    select coalesce(si.paid_at, si.updated_at), 'subscription_payment', coalesce(si.number, si.stripe_invoice_id),
           'Payment of subscription invoice ' || coalesce(si.number, si.stripe_invoice_id), si.currency, 0, si.amount_paid, 0
      from public.stripe_invoices si
     where si.user_id = statement_entries.user_id and si.status = 'paid' and si.amount_paid > 0
    union all
    select p.paid_at, 'escrow_payment', p.order_id::text, 'Order payment', p.currency, p.amount, p.amount, 0
      from public.payments p
     where p.buyer_id = statement_entries.user_id and p.paid_at is not null
    union all
    select r.updated_at, 'escrow_refund', r.order_id::text, 'Order refund', p.currency, -r.amount, 0, r.amount
      from public.payment_refunds r
      join public.payments p on p.order_id = r.order_id
     where p.buyer_id = statement_entries.user_id and r.status = 'succeeded'
    union all
    -- Refunds of subscription invoices, each at the time its ledger posting was made (keys
    -- subscription_refund:<in_…>:<re_…>, written by ops.record_subscription_refund): the ledger
    -- is the one home of when and how much, read through private.subscription_invoice_refunds
    -- (70_stripe_billing.sql; an index lookup per invoice); stripe_invoices.amount_refunded is
    -- only the sum, so it serves as the filter that keeps invoices never refunded out of it.
    select r.posted_at, 'subscription_refund', coalesce(si.number, si.stripe_invoice_id),
           'Refund of subscription invoice ' || coalesce(si.number, si.stripe_invoice_id), si.currency, -r.amount, 0, r.amount
      from public.stripe_invoices si
     cross join lateral private.subscription_invoice_refunds(si.stripe_invoice_id, si.currency) r
     where si.user_id = statement_entries.user_id and si.amount_refunded > 0
    union all
    -- Shop orders: the payment of each of the buyer's checkouts (one for all its shop orders),
    -- charged and paid at once when captured.
    select sp.paid_at, 'shop_payment', sp.checkout_id::text, 'Shop order payment', sp.currency,
           sp.amount_captured, sp.amount_captured, 0
      from public.shop_payments sp
      join public.checkouts c on c.id = sp.checkout_id
     where c.buyer_id = statement_entries.user_id and sp.paid_at is not null and sp.amount_captured > 0
    union all
    -- Each succeeded refund of one of the checkout's shop orders (full or partial), when it succeeded.
    select r.resolved_at, 'shop_refund', r.checkout_id::text, 'Shop order refund', r.currency, -r.amount, 0, r.amount
      from public.shop_refunds r
      join public.checkouts c on c.id = r.checkout_id
     where c.buyer_id = statement_entries.user_id and r.status = 'succeeded'
    union all
    -- A checkout's charge refunded in Stripe's Dashboard (shop_external_refunds, written once
    -- succeeded and posted as shop_external_refund:<re_…>), when it was recorded.
    select x.created_at, 'shop_refund', x.checkout_id::text, 'Shop order refunded in Stripe', x.currency, -x.amount, 0, x.amount
      from public.shop_external_refunds x
      join public.checkouts c on c.id = x.checkout_id
     where c.buyer_id = statement_entries.user_id
    union all
    -- A payment that arrived after its checkout expired, refunded in full: when its ledger
    -- posting (shop_late_refund:<checkout>, ops.record_shop_late_refund) was made.
    select t.posted_at, 'shop_refund', sp.checkout_id::text, 'Late shop payment refunded', sp.currency,
           -sp.amount_captured, 0, sp.amount_captured
      from public.shop_payments sp
      join public.checkouts c on c.id = sp.checkout_id
      join public.ledger_transactions t on t.idempotency_key = 'shop_late_refund:' || sp.checkout_id
     where c.buyer_id = statement_entries.user_id and sp.stripe_late_refund_id is not null
  ) e (occurred_at, kind, reference, description, currency, charge, payment, refund)
  where e.occurred_at is not null
  order by e.occurred_at, e.kind, e.reference
$$;
comment on function private.statement_entries(uuid) is
  'A user''s account entries (invoices, credit notes, Stripe subscription invoices and their refunds, escrow payments and refunds, shop payments and refunds) with charge, payment and refund amounts, oldest first: the rule of monthly statements.';
revoke execute on function private.statement_entries(uuid) from public;
grant execute on function private.statement_entries(uuid) to service_role;

-- Body of public.monthly_statement.
create function private.monthly_statement(month date, user_id uuid default null) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
  target uuid := coalesce(monthly_statement.user_id, auth.uid());
  starts_at timestamptz;
  ends_at timestamptz;
  name text;
begin
  if uid is null and not private.is_service_role() then
    raise exception 'sign in to read a statement' using errcode = '42501';
  end if;
  if target is null then
    raise exception 'name the user whose statement to read' using errcode = '22023';
  end if;
  if target is distinct from uid and not (private.is_service_role() or private.has_permission('billing.manage')) then
    raise exception 'reading another user''s statement needs the billing.manage permission' using errcode = '42501';
  end if;
  if month is null then
    raise exception 'a statement is for a month (any day of it, e.g. 2026-11-01)' using errcode = '22023';
  end if;
  starts_at := date_trunc('month', month)::date::timestamptz;
  ends_at := (date_trunc('month', month) + interval '1 month')::date::timestamptz;
  if starts_at > now() then
    raise exception 'the month % has not started', to_char(starts_at at time zone 'UTC', 'YYYY-MM') using errcode = '22023';
  end if;
  select coalesce(nullif(trim(pp.first_name || ' ' || pp.last_name), ''), nullif(p.display_name, ''), p.username)
    into name
    from public.profiles p left join public.private_profiles pp on pp.id = p.id where p.id = target;
  if not found and not exists (select from public.invoices i where i.customer_id = target) then
    raise exception 'user % not found', target using errcode = 'PT404';
  end if;
  return (
    with entries as (select * from private.statement_entries(target)),
    per_currency as (
      select e.currency,
             coalesce(sum(e.charge - e.payment + e.refund) filter (where e.occurred_at < starts_at), 0) as opening,
             coalesce(sum(e.charge) filter (where e.occurred_at >= starts_at and e.occurred_at < ends_at), 0) as charges,
             coalesce(sum(e.payment) filter (where e.occurred_at >= starts_at and e.occurred_at < ends_at), 0) as payments,
             coalesce(sum(e.refund) filter (where e.occurred_at >= starts_at and e.occurred_at < ends_at), 0) as refunds
        from entries e where e.occurred_at < ends_at
       group by e.currency
    )
    select jsonb_build_object(
      'user_id', target,
      'customer_name', coalesce(name, ''),
      'month', to_char(starts_at at time zone 'UTC', 'YYYY-MM'),
      'starts_at', starts_at,
      'ends_at', ends_at,
      'currencies', coalesce((select jsonb_agg(jsonb_build_object(
          'currency', pc.currency, 'opening_balance', pc.opening, 'charges', pc.charges, 'payments', pc.payments,
          'refunds', pc.refunds, 'closing_balance', pc.opening + pc.charges - pc.payments + pc.refunds) order by pc.currency)
        from per_currency pc), '[]'),
      'entries', coalesce((select jsonb_agg(jsonb_build_object(
          'occurred_at', e.occurred_at, 'kind', e.kind, 'reference', e.reference, 'description', e.description,
          'currency', e.currency, 'charge', e.charge, 'payment', e.payment, 'refund', e.refund)
          order by e.occurred_at, e.kind, e.reference)
        from entries e where e.occurred_at >= starts_at and e.occurred_at < ends_at), '[]'))
  );
end
$$;
comment on function private.monthly_statement(date, uuid) is 'Body of public.monthly_statement.';
revoke execute on function private.monthly_statement(date, uuid) from public;
grant execute on function private.monthly_statement(date, uuid) to authenticated, service_role;

create function public.monthly_statement(month date, user_id uuid default null) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.monthly_statement(month, user_id) $$;
comment on function public.monthly_statement(date, uuid) is
  '004 monthly statement: for the UTC calendar month containing month, per currency the opening balance, charges, payments, refunds and closing balance, and the month''s entries; the caller''s own, or (billing.manage) any user''s. The rule: docs/domains/billing.md "Monthly statements".';
revoke execute on function public.monthly_statement(date, uuid) from public;
grant execute on function public.monthly_statement(date, uuid) to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/60_billing/90_invoice_email.sql
-- ======================================================================================

-- Sending an issued invoice by e-mail (003 "send invoice by e-mail", 004 invoices "send";
-- issue 18). The billing-send-invoice function calls ops.billing_send_invoice for staff
-- (billing.manage) or the invoice's seller, which records the send (invoice_sends: to,
-- by, when; audited) and emits invoice.sent to the customer in the same transaction; the
-- notifications consumer turns the event into the in-app notification and the e-mail (the
-- catalogue's rule: category payments, template invoice.sent), and the e-mail sender attaches
-- the invoice's PDF named in the event's payload (attachments), which the function renders
-- into the invoices bucket right after. One send per request id: the same request again
-- answers the first send and emits nothing. A draft is refused (PT409), so is a canceled one.

create table public.invoice_sends (
  id uuid primary key default gen_random_uuid(),
  invoice_id uuid not null references public.invoices (id) on delete restrict,
  -- The caller's idempotency key: one send per request.
  request_id uuid not null constraint invoice_sends_request_unique unique,
  -- The customer's address when sent; nulled when that account is erased (private.personal_data).
  to_address text,
  -- The staff member or seller who sent it (kept without them when their account goes).
  sent_by uuid references auth.users (id) on delete set null,
  sent_at timestamptz not null default now(),
  -- The outbox event (private.domain_events) the mail comes from; e-mail deliveries name it.
  event_id bigint
);
create index invoice_sends_invoice_idx on public.invoice_sends (invoice_id, sent_at desc);
create index invoice_sends_sent_by_idx on public.invoice_sends (sent_by) where sent_by is not null;
comment on table public.invoice_sends is
  'Each time an issued invoice was sent to its customer by e-mail: to which address, by whom, when, and the outbox event the mail comes from (email_deliveries.event_id). Written by ops.billing_send_invoice only; read by whoever reads the invoice.';
comment on column public.invoice_sends.sent_at is 'When the send was made (the mail is queued then; its delivery is the email_deliveries row of event_id).';

create trigger invoice_sends_audit after insert on public.invoice_sends
  for each row execute function private.audit_row_change('id', 'id', 'invoice_id', 'request_id', 'sent_by', 'event_id');

alter table public.invoice_sends enable row level security;
grant select on public.invoice_sends to authenticated;
grant all on public.invoice_sends to service_role;
create policy "Invoice readers read its sends" on public.invoice_sends for select to authenticated
  using ((select private.can_read_invoice(invoice_id)));

-- The PDF an invoice's mail attaches: where billing-invoice-pdf and billing-send-invoice store it.
create function private.invoice_pdf_path(invoice public.invoices) returns text
language sql
immutable
set search_path = ''
as $$ select invoice.customer_id || '/' || invoice.id || '.pdf' $$;
comment on function private.invoice_pdf_path(public.invoices) is
  'The path of an invoice''s PDF in the invoices bucket: <customer id>/<invoice id>.pdf.';

-- Minor units as a decimal amount with thousands separators, as the PDFs print it (12345, 2 -> 123.45).
create function private.format_minor_units(amount bigint, currency text) returns text
language sql
stable
set search_path = ''
as $$
  select case when c.minor_units = 0 then to_char(amount, 'FM999,999,999,999,999,990')
              else to_char(amount::numeric / 10 ^ c.minor_units,
                           'FM999,999,999,999,999,990.' || repeat('0', c.minor_units)) end
    from public.currencies c where c.code = currency
$$;
comment on function private.format_minor_units(bigint, text) is 'An amount in minor units as text with thousands separators and the currency''s decimals (385000 USD -> 3,850.00).';

create function ops.billing_send_invoice(acting_user uuid, invoice_id uuid, request_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
  sent public.invoice_sends;
  address text;
  event bigint;
begin
  if acting_user is null or request_id is null then
    raise exception 'a send names who sends it and a request id' using errcode = '22023';
  end if;
  -- The same request again: the first send, whatever happened since.
  select * into sent from public.invoice_sends s where s.request_id = billing_send_invoice.request_id;
  if found then
    if sent.invoice_id <> billing_send_invoice.invoice_id then
      raise exception 'request % already sent invoice %', request_id, sent.invoice_id using errcode = '23505';
    end if;
    return to_jsonb(sent) || jsonb_build_object('repeated', true);
  end if;
  select * into invoice from public.invoices i where i.id = billing_send_invoice.invoice_id for update;
  if not found or not (private.user_has_permission(acting_user, 'billing.manage')
                       or coalesce(invoice.seller_id = acting_user, false)) then
    raise exception 'invoice % not found', invoice_id using errcode = 'PT404';
  end if;
  if not private.user_has_permission(acting_user, 'billing.manage') and not private.user_has_permission(acting_user, 'shop.sell') then
    raise exception 'sending this invoice needs billing.manage, or to be its seller' using errcode = '42501';
  end if;
  if invoice.status = 'draft' then
    raise exception 'invoice % is a draft: issue it before sending it', invoice.id using errcode = 'PT409';
  end if;
  if invoice.status = 'canceled' then
    raise exception 'invoice % is canceled: only issued or paid invoices are sent', invoice.number using errcode = 'PT409';
  end if;
  select u.email into address from auth.users u where u.id = invoice.customer_id and u.deleted_at is null;
  if address is null then
    raise exception 'the customer of invoice % has no e-mail address (account gone or without one)', invoice.number
      using errcode = 'PT409';
  end if;
  perform private.emit_event('invoice.sent', 'invoice', invoice.id, array[invoice.customer_id],
    jsonb_build_object(
      'invoice_id', invoice.id, 'number', invoice.number, 'kind', invoice.kind, 'currency', invoice.currency,
      'total', invoice.total_amount, 'amount', private.format_minor_units(invoice.total_amount, invoice.currency),
      'due_date', to_char(invoice.due_at at time zone 'UTC', 'YYYY-MM-DD'),
      'attachments', jsonb_build_array(jsonb_build_object(
        'bucket', 'invoices', 'path', private.invoice_pdf_path(invoice),
        'filename', case when invoice.kind = 'credit_note' then 'credit-note-' else 'invoice-' end || invoice.number || '.pdf',
        'content_type', 'application/pdf'))),
    acting_user);
  select max(e.id) into event from private.domain_events e
   where e.event_type = 'invoice.sent' and e.subject_id = invoice.id;
  insert into public.invoice_sends (invoice_id, request_id, to_address, sent_by, event_id)
  values (invoice.id, billing_send_invoice.request_id, address, acting_user, event)
  returning * into sent;
  return to_jsonb(sent) || jsonb_build_object('repeated', false, 'number', invoice.number);
exception when unique_violation then
  -- A concurrent send of the same request committed first: answer it.
  select * into sent from public.invoice_sends s where s.request_id = billing_send_invoice.request_id;
  if sent.id is null then
    raise exception 'invoice % was being sent by a concurrent request: try again', invoice_id using errcode = 'PT409';
  end if;
  if sent.invoice_id <> billing_send_invoice.invoice_id then
    raise exception 'request % already sent invoice %', request_id, sent.invoice_id using errcode = '23505';
  end if;
  return to_jsonb(sent) || jsonb_build_object('repeated', true);
end
$$;
comment on function ops.billing_send_invoice(uuid, uuid, uuid) is
  'billing-send-invoice: records a send of an issued or paid invoice to its customer''s address (invoice_sends, audited) and emits invoice.sent with the PDF to attach; once per request_id (the same request answers the first send, repeated: true). PT404 an invoice the acting user may not send (billing.manage, or its seller), PT409 a draft, a canceled invoice or a customer without an address. Service role only.';
revoke execute on function ops.billing_send_invoice(uuid, uuid, uuid) from public;
grant execute on function ops.billing_send_invoice(uuid, uuid, uuid) to service_role;
