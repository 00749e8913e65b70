-- The subscriptions mirror: private.apply_subscription_snapshot applies Stripe subscription
-- events idempotently and never moves backwards. Shuffled and repeated deliveries of the same
-- events reach the same final row; two events in the same second are both applied in order;
-- a canceled subscription stays canceled; every Stripe status, paused included, is taken;
-- timestamps Stripe does not give stay null. Users read their own, staff all, anon nothing.
begin;
select plan(25);

select tests.create_user('sub-owner@example.com');
select tests.create_user('sub-stranger@example.com');
select tests.create_user('sub-staff@example.com');
select tests.grant_role('sub-staff@example.com', 'staff');
select tests.clear_authentication();

insert into public.plans (slug, name, limits) values ('sub-pro', 'Pro', '{"max_projects": 10}');
insert into public.plan_prices (plan_id, billing_period, currency, amount, stripe_price_id)
select id, 'month', 'KRW', 9900, 'price_sub_pro_month' from public.plans where slug = 'sub-pro';

-- A Stripe event for subscription sub_A at unix second t.
create function pg_temp.ev(id text, t integer, status text, extra jsonb default '{}', sub text default 'sub_A') returns jsonb
language sql as $$
  select jsonb_build_object('id', id, 'object', 'event', 'created', t, 'type', 'customer.subscription.updated',
    'data', jsonb_build_object('object', jsonb_build_object(
      'id', sub, 'object', 'subscription', 'customer', 'cus_A', 'status', status, 'created', 1000,
      'cancel_at_period_end', false, 'cancel_at', null, 'canceled_at', null, 'ended_at', null,
      'trial_start', null, 'trial_end', null,
      'metadata', jsonb_build_object('user_id', tests.get_user_id('sub-owner@example.com')),
      'items', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
        'id', 'si_A', 'quantity', 1, 'current_period_start', 1000, 'current_period_end', 3600,
        'price', jsonb_build_object('id', 'price_sub_pro_month'))))) || extra))
$$;

create temp table events (n integer, event jsonb);
insert into events values
  (1, pg_temp.ev('evt_1', 1000, 'incomplete')),
  (2, pg_temp.ev('evt_2', 1001, 'active')),
  (3, pg_temp.ev('evt_3', 1001, 'active', '{"cancel_at_period_end": true, "cancel_at": 3600}')),
  (4, pg_temp.ev('evt_4', 3600, 'active', '{"current_period_start": 3600, "current_period_end": 7200}')),
  (5, pg_temp.ev('evt_5', 4000, 'paused', '{"current_period_start": 3600, "current_period_end": 7200,
        "status_details": {"paused": {"subscription": {"type": "first_payment_failure"}}}}')),
  (6, pg_temp.ev('evt_6', 5000, 'canceled', '{"current_period_start": 3600, "current_period_end": 7200,
        "canceled_at": 5000, "ended_at": 5000, "cancellation_details": {"reason": "payment_failed"}}')),
  (7, pg_temp.ev('evt_7', 5001, 'active', '{"current_period_start": 3600, "current_period_end": 7200}'));

-- In order, one at a time.
select is(private.apply_subscription_snapshot((select event from events where n = 1)), 'inserted', 'the first snapshot inserts the row');
select is((select row(status, trial_start, trial_end, cancel_at, canceled_at)::text from public.subscriptions where stripe_subscription_id = 'sub_A'),
  row('incomplete', null::timestamptz, null::timestamptz, null::timestamptz, null::timestamptz)::text,
  'timestamps Stripe leaves null stay null (no invented now())');
select is(private.apply_subscription_snapshot((select event from events where n = 2)), 'applied', 'a later second applies');
select is(private.apply_subscription_snapshot((select event from events where n = 3)), 'applied',
  'a second event in the same second is applied, not dropped');
select is((select cancel_at_period_end from public.subscriptions where stripe_subscription_id = 'sub_A'), true, 'its change is there');
select is(private.apply_subscription_snapshot((select event from events where n = 2)), 'stale',
  'the earlier event of that second delivered again late is stale');
select is(private.apply_subscription_snapshot((select event from events where n = 3)), 'applied', 'the same event again is idempotent');
select is(private.apply_subscription_snapshot((select event from events where n = 1)), 'stale', 'an older snapshot is stale');
select is(private.apply_subscription_snapshot((select event from events where n = 4)), 'applied', 'a renewal applies');
select is(private.apply_subscription_snapshot((select event from events where n = 5)), 'applied', 'a pause applies');
select is((select status || ':' || paused_reason from public.subscriptions where stripe_subscription_id = 'sub_A'),
  'paused:first_payment_failure', 'paused is a status like any other, with its reason');
select is(private.apply_subscription_snapshot((select event from events where n = 6)), 'applied', 'a cancellation applies');
select is(private.apply_subscription_snapshot((select event from events where n = 7)), 'stale',
  'nothing moves a canceled subscription back, even a later event');

create temp table expected as
  select row(status, current_period_start, current_period_end, cancel_at_period_end, cancel_at, canceled_at, ended_at,
             cancellation_reason, paused_reason, stripe_event_id, stripe_updated_at)::text as state
    from public.subscriptions where stripe_subscription_id = 'sub_A';
select is((select state from expected), (select row('canceled', to_timestamp(3600), to_timestamp(7200), false, null::timestamptz,
  to_timestamp(5000), to_timestamp(5000), 'payment_failed', null::text, 'evt_6', to_timestamp(5000))::text),
  'the final state is the cancellation''s');

-- Shuffled and repeated: 30 random orders (each event delivered twice) reach the same state.
select setseed(0.18);
create temp table outcomes (round integer, state text);
do $$
begin
  for r in 1..30 loop
    delete from public.subscriptions where stripe_subscription_id = 'sub_A';
    perform private.apply_subscription_snapshot(e.event)
       from (select event from events, generate_series(1, 2) order by random()) e;
    insert into outcomes
    select r, row(status, current_period_start, current_period_end, cancel_at_period_end, cancel_at, canceled_at, ended_at,
                  cancellation_reason, paused_reason, stripe_event_id, stripe_updated_at)::text
      from public.subscriptions where stripe_subscription_id = 'sub_A';
  end loop;
end
$$;
select is((select count(*)::integer from outcomes), 30, 'every shuffled round ends with the row');
select is_empty($$ select round from outcomes where state <> (select state from expected) $$,
  'every shuffled and repeated delivery reaches the in-order final state');

-- One live subscription per user and plan family.
delete from public.subscriptions where stripe_subscription_id = 'sub_A';
select private.apply_subscription_snapshot((select event from events where n = 2));
select throws_ok($$ select private.apply_subscription_snapshot(pg_temp.ev('evt_b1', 1100, 'active', '{}', 'sub_B')) $$, '23505',
  'user ' || tests.get_user_id('sub-owner@example.com') || ' already has a live subscription to plan family platform: subscription sub_B is refused',
  'a second live subscription in the family is refused precisely');
select throws_ok($$ select private.apply_subscription_snapshot('{"id": "evt_x", "created": 1, "data": {"object": {"object": "invoice"}}}') $$,
  '22023', 'not a Stripe event carrying a subscription (id, created, data.object.object = subscription)', 'a malformed payload is refused');
select throws_ok($$ select private.apply_subscription_snapshot(pg_temp.ev('evt_x', 1, 'sleeping', '{}', 'sub_C')) $$,
  '22023', 'subscription sub_C has an unknown status', 'an unknown status is refused');
select alike(private.subscriptions_blocking_erasure(tests.get_user_id('sub-owner@example.com')), '1 live subscriptions (%)',
  'a live subscription blocks erasure');

-- Readers.
select tests.act_as('sub-owner@example.com');
select results_eq($$ select stripe_subscription_id from public.subscriptions $$, array['sub_A'], 'the owner reads theirs');
select tests.act_as('sub-stranger@example.com');
select is_empty($$ select 1 from public.subscriptions $$, 'a stranger reads none');
select tests.act_as('sub-staff@example.com');
select results_eq($$ select stripe_subscription_id from public.subscriptions where user_id = tests.get_user_id('sub-owner@example.com') $$,
  array['sub_A'], 'staff read all');
select is(public.delete_plan((select id from public.plans where slug = 'sub-pro')), 'deactivated',
  'a plan with subscribers is deactivated, not deleted');
select tests.act_as('anon');
select throws_ok($$ select 1 from public.subscriptions $$, '42501', 'permission denied for table subscriptions', 'anon reads nothing');

select * from finish();
rollback;
