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
