-- Plans: billing.manage holders (admin, staff) create, change and delete them through the
-- RPCs, audited; prices are immutable (a new amount archives the old price); anon and
-- signed-in users read active plans and their active prices; bad input is refused precisely.
begin;
select plan(36);

select tests.create_user('pl-admin@example.com');
select tests.grant_role('pl-admin@example.com', 'admin');
select tests.create_user('pl-staff@example.com');
select tests.grant_role('pl-staff@example.com', 'staff');
select tests.create_user('pl-user@example.com');

-- Refusals: a user, anon.
select tests.act_as('pl-user@example.com');
select throws_ok($$ select public.create_plan('pro', 'Pro') $$, '42501', 'creating a plan needs the billing.manage permission',
  'a user cannot create a plan');
select tests.act_as('anon');
select throws_ok($$ select public.create_plan('pro', 'Pro') $$, '42501', 'permission denied for function create_plan',
  'anon cannot call it at all');

-- Staff create: KRW monthly and yearly prices, features and limits.
select tests.act_as('pl-staff@example.com');
select lives_ok($$ select public.create_plan('pro', 'Pro', '{"features": ["Unlimited designs", "Priority support"],
  "limits": {"max_projects": 10}, "trial_days": 14,
  "prices": [{"billing_period": "month", "currency": "KRW", "amount": 9900}, {"billing_period": "year", "currency": "KRW", "amount": 99000}]}') $$,
  'staff create a plan with prices');
select is((select jsonb_array_length(public.update_plan((select id from public.plans where slug = 'pro'), '{}') -> 'prices')), 2,
  'it answers the plan with its two prices');
select throws_ok($$ select public.create_plan('pro', 'Pro again') $$, '23505', 'a plan with this slug already exists', 'slugs are unique');
select throws_ok($$ select public.create_plan('Bad Slug', 'Bad') $$, '23514',
  'new row for relation "plans" violates check constraint "plans_slug_format"', 'a slug is lowercase letters, digits and dashes');
select throws_ok($$ select public.create_plan('biz', 'Business', '{"limits": {"max_seats": 3}}') $$, '22023',
  'unknown limit keys: max_seats (the keys are max_projects)', 'limits use registered keys');
select throws_ok($$ select public.create_plan('biz', 'Business', '{"limits": {"max_projects": -1}}') $$, '22023',
  'limits max_projects must be whole numbers from 0 to 999999999', 'a limit is a whole number');
select throws_ok($$ select public.create_plan('biz', 'Business', '{"features": "all"}') $$, '22023',
  'a plan''s features are a JSON array of strings', 'features are an array');
select throws_ok($$ select public.create_plan('biz', 'Business', '{"features": [1]}') $$, '22023',
  'each feature is a string of 1 to 200 characters', 'of strings');
select throws_ok($$ select public.create_plan('biz', 'Business', '{"colour": "red"}') $$, '22023',
  'unknown plan fields: colour (a plan has slug, name, description, product_id, features, limits, active, trial_days, position, proration_behavior, prices)',
  'unknown fields are refused');
select throws_ok($$ select public.create_plan('biz', 'Business', '{"prices": [{"billing_period": "month", "currency": "KRW", "amount": 0}]}') $$,
  '22023', 'a plan''s price must be a positive whole number of minor units of KRW, not 0', 'a price is positive');
select throws_ok($$ select public.create_plan('biz', 'Business', '{"prices": [{"billing_period": "month", "currency": "XYZ", "amount": 100}]}') $$,
  '22023', 'currency XYZ is not supported (see the currencies table)', 'in a known currency');
select throws_ok($$ select public.create_plan('biz', 'Business', '{"prices": [{"billing_period": "week", "currency": "KRW", "amount": 100}]}') $$,
  '22023', 'a billing period is month or year', 'monthly or yearly');
select throws_ok(format($$ select public.create_plan('biz', 'Business', '{"product_id": "%s"}') $$, gen_random_uuid()), 'PT404',
  'the plan''s product is not found', 'a product link names a product');
select is((select count(*)::integer from public.plans where slug = 'biz'), 0, 'nothing of a refused plan is left');
select tests.throws_like(format($$ select public.update_plan(%L, '{"name": "X"}') $$, gen_random_uuid()), 'PT404',
  'plan % not found', 'an unknown plan is not found');

-- A changed amount is a new price; the old one is archived; the same amount changes nothing.
create temp table old_price as
  select id from public.plan_prices where plan_id = (select id from public.plans where slug = 'pro') and billing_period = 'month';
grant select on old_price to public;
select lives_ok($$ select public.set_plan_price((select id from public.plans where slug = 'pro'), 'month', 'KRW', 12900) $$,
  'staff change the monthly price');
select results_eq($$ select amount, active from public.plan_prices
                      where plan_id = (select id from public.plans where slug = 'pro') and billing_period = 'month' order by created_at, active $$,
  $$ values (9900::bigint, false), (12900::bigint, true) $$, 'the old price is archived, the new one active');
select is((public.set_plan_price((select id from public.plans where slug = 'pro'), 'month', 'KRW', 12900)).amount, 12900::bigint,
  'setting the same amount again keeps the price');
select is((select count(*)::integer from public.plan_prices where plan_id = (select id from public.plans where slug = 'pro')), 3,
  'and adds no row');
select tests.act_as('postgres');
select tests.throws_like($$ update public.plan_prices set amount = 1 where id = (select id from old_price) $$, 'PT409',
  'plan price % is immutable: set a new price (the old one is archived)', 'a price''s amount never changes, even for the service');
select tests.throws_like($$ update public.plan_prices set active = true, archived_at = null where id = (select id from old_price) $$, 'PT409',
  'plan price % is archived: set a new price instead', 'an archived price stays archived');
select throws_ok($$ insert into public.plan_prices (plan_id, billing_period, currency, amount)
                    values ((select id from public.plans where slug = 'free'), 'month', 'KRW', 100) $$,
  'PT409', 'plan ' || (select id from public.plans where slug = 'free') || ' is the free tier: it has no prices', 'the free tier has no prices');

-- Readers: anon and users read active plans and active prices; staff all.
select tests.act_as('pl-staff@example.com');
select lives_ok($$ select public.create_plan('legacy', 'Legacy', '{"active": false, "prices": [{"billing_period": "month", "currency": "USD", "amount": 500}]}') $$,
  'staff create an inactive plan');
select tests.act_as('anon');
select results_eq($$ select slug from public.plans order by slug $$, array['free', 'pro'], 'anon reads the active plans, the free tier included');
select results_eq($$ select amount from public.plan_prices order by amount $$, array[12900::bigint, 99000], 'and their active prices');
select tests.act_as('pl-user@example.com');
select results_eq($$ select slug from public.plans order by slug $$, array['free', 'pro'], 'a user reads the same');
select throws_ok($$ update public.plans set name = 'Mine' $$, '42501', 'permission denied for table plans', 'and writes nothing');
select tests.act_as('pl-staff@example.com');
select results_eq($$ select slug from public.plans order by slug $$, array['free', 'legacy', 'pro'], 'staff read every plan');

-- Delete: a plan nobody subscribed to goes; the free tier stays.
select is(public.delete_plan((select id from public.plans where slug = 'legacy')), 'deleted', 'an unsubscribed plan is deleted');
select tests.throws_like($$ select public.delete_plan((select id from public.plans where slug = 'free')) $$, 'PT409',
  'plan % is the free tier: it cannot be deleted or deactivated', 'the free tier is not deleted');
select tests.act_as('pl-admin@example.com');
select is((public.update_plan((select id from public.plans where slug = 'pro'), '{"name": "Pro+", "trial_days": 7}') ->> 'name'), 'Pro+',
  'an admin changes a plan');
select throws_ok($$ select public.update_plan((select id from public.plans where slug = 'pro'), '{"trial_days": "soon"}') $$, '22023',
  'a plan field has the wrong type (product_id a uuid, trial_days and position whole numbers, active a boolean)', 'a wrong type is refused');

select tests.act_as('postgres');
select ok((select count(*) from public.audit_log where table_name = 'plans' and actor_id = tests.get_user_id('pl-staff@example.com')) >= 3,
  'plan changes are audited with their author');
select ok((select count(*) from public.audit_log where table_name = 'plan_prices') >= 4, 'price changes too');

select * from finish();
rollback;
