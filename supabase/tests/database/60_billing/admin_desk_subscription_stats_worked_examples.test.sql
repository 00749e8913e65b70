-- The admin desk's subscription list and stats on a worked example, every number computed by
-- hand below (the definitions: docs/domains/billing.md "Subscription stats"). The period is
-- March 2026: from 2026-03-01 00:00 UTC (the start) to 2026-04-01 00:00 UTC (the end).
--
-- Prices: st-pro month ₩10,000, year ₩99,000, month $12.00 (1200); st-team month ₩30,000,
-- month $50.00 (5000).
--
--   sub user status              created     ended       monthly amount (minor units)     start end
--   A   u1   active              2026-01-10              ₩10,000                          yes   yes
--   B   u2   active (year)       2026-02-01              ₩99,000 / 12 = 8,250             yes   yes
--   C   u3   past_due (qty 3)    2026-01-05              ₩30,000 x 3 = 90,000             yes   yes   (past_due counts)
--   D   u4   canceled            2026-01-01  2026-03-15  ₩10,000                          yes   no    (churned)
--   E   u5   active, forever 20% 2026-02-10              $12.00 x 0.8 = 960               yes   yes
--   F   u6   active, every 3 mo. 2026-03-10              $50.00 / 3 = 1666.67 (once 50%: no) no  yes
--   G   u7   trialing to 04-03   2026-03-20              ₩10,000                          no    no    (in trial)
--   H   u8   canceled            2026-03-05  2026-03-25  ₩10,000                          no    no    (joined and left)
--   I   u9   incomplete_expired  2026-03-02              ₩10,000                          no    no    (never paid)
--   J   u2   canceled            2025-12-20  2026-03-10  ₩10,000                          yes   no    (u2 stays: B)
--   K   u10  paused              2026-01-15              ₩10,000                          no    no    (paused now)
--
-- KRW: MRR at the start = A + B + C + D + J = 10,000 + 8,250 + 90,000 + 10,000 + 10,000 = 128,250;
--      MRR at the end = A + B + C = 108,250; ARR = 108,250 x 12 = 1,299,000;
--      churned MRR = D + J = 20,000; revenue churn = 20,000 / 128,250 = 0.15594... -> 0.1559.
-- USD: MRR at the start = E = 960; at the end = E + F = 960 + 1666.666... = 2626.666... -> 2,627;
--      ARR = 2626.666... x 12 = 31,520 exactly; churned 0, revenue churn 0.
-- Logo churn: customers counting at the start u1, u2, u3, u4, u5 = 5; of them none counting at
--      the end: u4 (u2 still has B) = 1; 1 / 5 = 0.2000.
-- Counts: counting at the end A B C E F = 5; trialing at the end G = 1; new in March F G H = 3
--      (I never started: incomplete_expired); canceled in March D H J = 3; by status now
--      active 4 (A B E F), past_due 1, canceled 3, trialing 1, incomplete_expired 1, paused 1.
-- Plan mix at the end: st-pro KRW 2 (A B, ₩18,250, 2/5 = 0.4), st-pro USD 1 (E, 960, 0.2),
--      st-team KRW 1 (C, ₩90,000, 0.2), st-team USD 1 (F, 1,667, 0.2).
begin;
select plan(37);

select tests.create_user('st-staff@example.com');
select tests.grant_role('st-staff@example.com', 'staff');
select tests.create_user('st-stranger@example.com');
select tests.create_user('st-u' || n || '@example.com') from generate_series(1, 10) n;

-- Only this example's subscriptions (a dev database may hold others; all is rolled back).
delete from public.subscriptions;

select tests.act_as('st-staff@example.com');
select public.create_plan('st-pro', 'Stats Pro', '{"prices": [{"billing_period": "month", "currency": "KRW", "amount": 10000},
  {"billing_period": "year", "currency": "KRW", "amount": 99000}, {"billing_period": "month", "currency": "USD", "amount": 1200}]}');
select public.create_plan('st-team', 'Stats Team', '{"prices": [{"billing_period": "month", "currency": "KRW", "amount": 30000},
  {"billing_period": "month", "currency": "USD", "amount": 5000}]}');

select tests.act_as('postgres');
create temp table fixture (sub text, who integer, slug text, period text, currency text, status text, quantity integer,
  created timestamptz, ended timestamptz, trial_start timestamptz, trial_end timestamptz, snapshot jsonb);
insert into fixture values
  ('A', 1, 'st-pro', 'month', 'KRW', 'active', 1, '2026-01-10', null, null, null, '{}'),
  ('B', 2, 'st-pro', 'year', 'KRW', 'active', 1, '2026-02-01', null, null, null, '{}'),
  ('C', 3, 'st-team', 'month', 'KRW', 'past_due', 3, '2026-01-05', null, null, null, '{}'),
  ('D', 4, 'st-pro', 'month', 'KRW', 'canceled', 1, '2026-01-01', '2026-03-15', null, null, '{}'),
  ('E', 5, 'st-pro', 'month', 'USD', 'active', 1, '2026-02-10', null, null, null,
   '{"discounts": [{"coupon": {"duration": "forever", "percent_off": 20}}]}'),
  ('F', 6, 'st-team', 'month', 'USD', 'active', 1, '2026-03-10', null, null, null,
   '{"items": {"data": [{"price": {"recurring": {"interval": "month", "interval_count": 3}}}]},
     "discounts": [{"coupon": {"duration": "once", "percent_off": 50}}]}'),
  ('G', 7, 'st-pro', 'month', 'KRW', 'trialing', 1, '2026-03-20', null, '2026-03-20', '2026-04-03', '{}'),
  ('H', 8, 'st-pro', 'month', 'KRW', 'canceled', 1, '2026-03-05', '2026-03-25', null, null, '{}'),
  ('I', 9, 'st-pro', 'month', 'KRW', 'incomplete_expired', 1, '2026-03-02', null, null, null, '{}'),
  ('J', 2, 'st-pro', 'month', 'KRW', 'canceled', 1, '2025-12-20', '2026-03-10', null, null, '{}'),
  ('K', 10, 'st-pro', 'month', 'KRW', 'paused', 1, '2026-01-15', null, null, null, '{}');
insert into public.subscriptions (user_id, plan_id, plan_price_id, plan_family, status, quantity, stripe_created_at, created_at,
  ended_at, canceled_at, trial_start, trial_end, stripe_subscription_id, stripe_customer_id, stripe_updated_at, stripe_event_id,
  snapshot)
select tests.get_user_id('st-u' || f.who || '@example.com'), p.id, pp.id, 'platform', f.status, f.quantity, f.created, f.created,
       f.ended, f.ended, f.trial_start, f.trial_end, 'sub_st_' || f.sub, 'cus_st_' || f.who, f.created, 'evt_st_' || f.sub, f.snapshot
  from fixture f
  join public.plans p on p.slug = f.slug
  join public.plan_prices pp on pp.plan_id = p.id and pp.billing_period = f.period and pp.currency = f.currency and pp.active;

select is((select count(*)::integer from public.subscriptions), 11, 'the eleven subscriptions of the example');

-- Monthly amounts, one by one.
select results_eq(
  $$ select f.sub, round(private.subscription_monthly_amount(s), 2) from fixture f
       join public.subscriptions s on s.stripe_subscription_id = 'sub_st_' || f.sub where f.sub in ('A', 'B', 'C', 'E', 'F') order by f.sub $$,
  $$ values ('A', 10000.00), ('B', 8250.00), ('C', 90000.00), ('E', 960.00), ('F', 1666.67) $$,
  'monthly: ₩10,000; ₩99,000/12; ₩30,000 x 3; $12 less a forever 20%; $50 every 3 months (a once coupon ignored)');
select is(round(private.subscription_monthly_amount(jsonb_populate_record(s, jsonb_build_object(
    'snapshot', '{"items": {"data": [{"price": {"recurring": {"interval": "week", "interval_count": 2}}}]}}'::jsonb,
    'plan_price_id', (select pp.id from public.plan_prices pp join public.plans p on p.id = pp.plan_id
                       where p.slug = 'st-pro' and pp.currency = 'USD')))), 4),
  2600.0000, 'a weekly price: $12.00 every 2 weeks is 1200 x 52 / 12 / 2 = 2,600 a month')
  from public.subscriptions s where s.stripe_subscription_id = 'sub_st_A';

select tests.act_as('st-staff@example.com');
create temp table stats as select public.subscription_stats('2026-03-01', '2026-03-31') as s;
grant select on stats to public;

select is((select s -> 'currencies' -> 0 -> 'currency' from stats), '"KRW"', 'KRW first');
select is((select (s -> 'currencies' -> 0 ->> 'mrr')::bigint from stats), 108250::bigint, 'KRW MRR at the end: A + B + C');
select is((select (s -> 'currencies' -> 0 ->> 'arr')::bigint from stats), 1299000::bigint, 'KRW ARR: MRR x 12');
select is((select (s -> 'currencies' -> 0 ->> 'mrr_at_start')::bigint from stats), 128250::bigint, 'KRW MRR at the start: A B C D J');
select is((select s -> 'currencies' -> 0 -> 'revenue_churn' from stats),
  '{"mrr_at_start": 128250, "churned_mrr": 20000, "rate": 0.1559}'::jsonb, 'KRW revenue churn: (D + J) / 128,250');
select is((select (s -> 'currencies' -> 0 ->> 'subscriptions')::integer from stats), 3, 'three KRW subscriptions count');
select is((select s -> 'currencies' -> 1 ->> 'currency' from stats), 'USD', 'USD apart, never added to KRW');
select is((select (s -> 'currencies' -> 1 ->> 'mrr')::bigint from stats), 2627::bigint, 'USD MRR: 960 + 1666.67, rounded once');
select is((select (s -> 'currencies' -> 1 ->> 'arr')::bigint from stats), 31520::bigint, 'USD ARR from the exact sum: 31,520');
select is((select s -> 'currencies' -> 1 -> 'revenue_churn' from stats),
  '{"mrr_at_start": 960, "churned_mrr": 0, "rate": 0.0000}'::jsonb, 'no USD churn');
select is((select jsonb_array_length(s -> 'currencies') from stats), 2, 'two currencies');
select is((select s -> 'logo_churn' from stats), '{"customers_at_start": 5, "churned": 1, "rate": 0.2000}'::jsonb,
  'logo churn: u4 of five customers (u2 keeps B)');
select is((select (s -> 'counts') - 'by_status'::text from stats), '{"active": 5, "trialing": 1, "new": 3, "canceled": 3}'::jsonb,
  'counts: counting at the end, trialing at the end, new and canceled in March');
select is((select s -> 'counts' -> 'by_status' from stats),
  '{"active": 4, "past_due": 1, "canceled": 3, "trialing": 1, "incomplete_expired": 1, "paused": 1}'::jsonb, 'statuses now');
select results_eq(
  $$ select m ->> 'slug', m ->> 'currency', (m ->> 'subscriptions')::integer, (m ->> 'mrr')::bigint, (m ->> 'share')::numeric
       from stats, jsonb_array_elements(s -> 'plan_mix') m $$,
  $$ values ('st-pro', 'KRW', 2, 18250::bigint, 0.4000), ('st-pro', 'USD', 1, 960::bigint, 0.2000),
            ('st-team', 'KRW', 1, 90000::bigint, 0.2000), ('st-team', 'USD', 1, 1667::bigint, 0.2000) $$,
  'plan mix at the end');

-- February: its end (2026-03-01) is March's start, so its MRR is ₩128,250; at its start
-- (2026-02-01) A, C, D, J and B (created that very instant) count, and all still do at its end.
select is((select (public.subscription_stats('2026-02-01', '2026-02-28') -> 'currencies' -> 0 ->> 'mrr')::bigint),
  128250::bigint, 'February''s end is March''s start: ₩128,250');
select is((select public.subscription_stats('2026-02-01', '2026-02-28') -> 'logo_churn' ->> 'churned'), '0',
  'nobody churned in February');

-- Refusals.
select throws_ok($$ select public.subscription_stats('2026-03-31', '2026-03-01') $$, '22023',
  'to_date 2026-03-01 is before from_date 2026-03-31', 'a period runs forward');
select throws_ok($$ select public.subscription_stats(null, '2026-03-01') $$, '22023',
  'a stats period has a from_date and a to_date', 'both ends');
select tests.act_as('st-u1@example.com');
select throws_ok($$ select public.subscription_stats('2026-03-01', '2026-03-31') $$, '42501',
  'reading subscription stats needs the billing.manage permission', 'a subscriber reads no stats');
select throws_ok($$ select * from public.admin_subscriptions() $$, '42501',
  'listing subscriptions needs the billing.manage permission', 'nor the list');
select tests.act_as('anon');
select throws_ok($$ select public.subscription_stats('2026-03-01', '2026-03-31') $$, '42501',
  'permission denied for function subscription_stats', 'anon neither');

-- The list.
select tests.act_as('st-staff@example.com');
select is((select max(total_count)::integer from public.admin_subscriptions(page_size => 4)), 11, 'all eleven, total on every row');
select is((select count(*)::integer from public.admin_subscriptions(page_size => 4, page => 3)), 3, 'the last page');
select results_eq($$ select stripe_subscription_id from public.admin_subscriptions(with_status => 'canceled') $$,
  array['sub_st_H', 'sub_st_D', 'sub_st_J'], 'by status, newest first');
select results_eq($$ select stripe_subscription_id from public.admin_subscriptions(plan => 'st-team') $$,
  array['sub_st_F', 'sub_st_C'], 'by plan slug');
select results_eq($$ select stripe_subscription_id from public.admin_subscriptions(user_query => 'st-u2@') $$,
  array['sub_st_B', 'sub_st_J'], 'by part of the e-mail');
select results_eq($$ select stripe_subscription_id from public.admin_subscriptions(created_from => '2026-03-01', created_to => '2026-03-09') $$,
  array['sub_st_H', 'sub_st_I'], 'by creation days, both ends inclusive');
select is((select monthly_amount from public.admin_subscriptions(user_query => tests.get_user_id('st-u3@example.com')::text)),
  90000.00, 'by user id, with the monthly amount');
select throws_ok($$ select * from public.admin_subscriptions(plan => 'nope') $$, 'PT404', 'plan nope not found', 'an unknown plan');
select throws_ok($$ select * from public.admin_subscriptions(with_status => 'gone') $$, '22023',
  'unknown subscription status gone: the statuses are incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused',
  'an unknown status');

-- The audit of staff actions made in Stripe (billing-manage-subscription calls it).
select tests.act_as('service_role');
select ok(ops.record_billing_admin_action(tests.get_user_id('st-staff@example.com'), 'force_cancel',
  (select id from public.subscriptions where stripe_subscription_id = 'sub_st_A'), '{"reason": "fraud", "refund": true}') > 0,
  'a staff action is recorded');
select tests.act_as('postgres');
select is((select jsonb_build_object('actor', actor_id = tests.get_user_id('st-staff@example.com'), 'action', action, 'table', table_name, 'after', after)
             from public.audit_log where action = 'billing.force_cancel' order by id desc limit 1),
  '{"actor": true, "action": "billing.force_cancel", "table": "subscriptions", "after": {"reason": "fraud", "refund": true}}'::jsonb,
  'naming the staff member, the action and its details');
select tests.act_as('service_role');
select throws_ok(format($$ select ops.record_billing_admin_action(%L, 'force_cancel', %L) $$,
    tests.get_user_id('st-stranger@example.com'), (select id from public.subscriptions where stripe_subscription_id = 'sub_st_A')),
  '42501', 'recording a subscription action needs the billing.manage permission', 'only for staff');

select * from finish();
rollback;
