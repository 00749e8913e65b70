-- Broadcasts filtered by subscription plan (broadcast_notification(plans => …)): users with a
-- live subscription (trialing, active, past_due, unpaid, paused) to one of the plans get it;
-- not those whose subscription ended or never started, nor users on the free tier; combined
-- with the other filters; unknown plans and the free tier are refused precisely.
begin;
select plan(11);

select tests.create_user('bp-admin@example.com');
select tests.grant_role('bp-admin@example.com', 'admin');
select tests.create_user('bp-' || s || '@example.com') from unnest(array['active', 'trialing', 'paused', 'canceled', 'expired',
  'other', 'free', 'active-ko']) s;
update public.private_profiles set locale = 'ko' where id = tests.get_user_id('bp-active-ko@example.com');
-- Only this test's broadcasts are pending.
update public.notification_broadcasts set status = 'done' where status = 'pending';

select tests.act_as('bp-admin@example.com');
select public.create_plan('bp-pro', 'BP Pro', '{"prices": [{"billing_period": "month", "currency": "KRW", "amount": 10000}]}');
select public.create_plan('bp-team', 'BP Team', '{"prices": [{"billing_period": "month", "currency": "KRW", "amount": 30000}]}');
select tests.act_as('postgres');
insert into public.subscriptions (user_id, plan_id, plan_price_id, plan_family, status, stripe_subscription_id, stripe_customer_id,
                                  stripe_updated_at, stripe_event_id, snapshot)
select tests.get_user_id('bp-' || x.who || '@example.com'), p.id, pp.id, 'platform', x.status, 'sub_bp_' || x.who, 'cus_bp_' || x.who,
       now(), 'evt_bp_' || x.who, '{}'
  from (values ('active', 'bp-pro', 'active'), ('trialing', 'bp-pro', 'trialing'), ('paused', 'bp-pro', 'paused'),
               ('canceled', 'bp-pro', 'canceled'), ('expired', 'bp-pro', 'incomplete_expired'), ('other', 'bp-team', 'active'),
               ('active-ko', 'bp-pro', 'past_due')) x (who, slug, status)
  join public.plans p on p.slug = x.slug
  join public.plan_prices pp on pp.plan_id = p.id;

select tests.act_as('bp-admin@example.com');
select throws_ok($$ select public.broadcast_notification('Hello', plans => array['bp-pro', 'nope', 'zilch']) $$, '22023',
  'unknown plans: nope, zilch (a plan filter names plans by slug; the free tier has no subscriptions)', 'unknown plans are named');
select throws_ok($$ select public.broadcast_notification('Hello', plans => array['free']) $$, '22023',
  'unknown plans: free (a plan filter names plans by slug; the free tier has no subscriptions)', 'the free tier is no plan filter');
select is_empty($$ select 1 from public.notification_broadcasts where status = 'pending' $$, 'a refusal records nothing');

create temp table b as select * from public.broadcast_notification('Pro news', plans => array['bp-pro']);
grant select on b to public;
select is((select recipients_total from b), 4, 'the audience: active, trialing, paused and past_due subscribers of bp-pro');
select is((select plan_ids from b), array[(select id from public.plans where slug = 'bp-pro')], 'the plans recorded by id');
select tests.act_as('postgres');
select is(private.fan_out_broadcasts(1000), 4, 'fanned out to four users');
select results_eq($$ select u.email::text from public.notifications n join auth.users u on u.id = n.user_id
                      where n.broadcast_id = (select id from b) order by u.email $$,
  array['bp-active-ko@example.com', 'bp-active@example.com', 'bp-paused@example.com', 'bp-trialing@example.com'],
  'each live subscriber of the plan, not the cancelled, expired, other-plan or free users');
select is((select after -> 'plan_ids' from public.audit_log where table_name = 'notification_broadcasts'
             and row_id = (select id::text from b)), to_jsonb(array[(select id from public.plans where slug = 'bp-pro')]),
  'the plan filter is in the audit log');

select tests.act_as('bp-admin@example.com');
select is((public.broadcast_notification('Both', plans => array['bp-pro', 'bp-team'])).recipients_total, 5, 'several plans: any of them');
select is((public.broadcast_notification('Korean pros', plans => array['bp-pro'], locales => array['ko'])).recipients_total, 1,
  'with another filter: both must hold');
select tests.act_as('anon');
select throws_ok($$ select public.broadcast_notification('Hello', plans => array['bp-pro']) $$, '42501',
  'permission denied for function broadcast_notification', 'anon cannot broadcast');

select * from finish();
rollback;
