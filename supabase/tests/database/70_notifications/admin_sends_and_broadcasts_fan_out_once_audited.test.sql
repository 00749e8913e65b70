-- Admin sends and broadcasts: holders of notifications.manage send to chosen users (at once)
-- and broadcast to everyone matching a filter (role, locale, signed up before/after), fanned
-- out in batches with visible progress, once per user even when batches are re-run, skipping
-- users who switched the category off in-app; both are audited. Other users, anon and bad
-- input are refused precisely, changing nothing.
begin;
select plan(24);

select tests.create_user('nb-admin@example.com');
select tests.grant_role('nb-admin@example.com', 'admin');
select tests.create_user('nb-seller-fr@example.com');
select tests.grant_role('nb-seller-fr@example.com', 'seller');
select tests.create_user('nb-seller-en@example.com');
select tests.grant_role('nb-seller-en@example.com', 'seller');
select tests.create_user('nb-buyer-fr@example.com');
select tests.create_user('nb-old@example.com');
update public.private_profiles set locale = 'fr' where id in (tests.get_user_id('nb-seller-fr@example.com'), tests.get_user_id('nb-buyer-fr@example.com'));
update auth.users set created_at = '2020-01-01' where id = tests.get_user_id('nb-old@example.com');
-- Only this test's broadcasts are pending.
update public.notification_broadcasts set status = 'done' where status = 'pending';

-- refusals ----------------------------------------------------------------------------------
select tests.act_as('nb-seller-en@example.com');
select throws_ok($$ select public.broadcast_notification('Hello') $$, '42501',
  'sending notifications needs the notifications.manage permission', 'a user without notifications.manage cannot broadcast');
select throws_ok($$ select public.send_notification(array[auth.uid()], 'Hello') $$, '42501',
  'sending notifications needs the notifications.manage permission', 'nor send');
select is_empty($$ select 1 from public.notification_broadcasts $$, 'nor read the broadcasts');
select tests.act_as('anon');
select throws_ok($$ select public.broadcast_notification('Hello') $$, '42501',
  'permission denied for function broadcast_notification', 'anon cannot call it');
select tests.act_as('nb-admin@example.com');
select throws_ok($$ select public.broadcast_notification('Hello', '', 'nonsense') $$, '22023',
  'unknown notification category: the categories are bids, inventory, marketplace, messages, operations, orders, payments, reviews, security, shop, system',
  'an unknown category is refused');
select throws_ok($$ select public.broadcast_notification('Hello', roles => array['wizard']) $$, '22023',
  '1 of the roles do not exist', 'an unknown role is refused');
select throws_ok($$ select public.broadcast_notification('Hello', locales => array['French']) $$, '22023',
  'a locale is a language code with an optional region (en, pt-BR)', 'a malformed locale is refused');
select throws_ok($$ select public.broadcast_notification('Hello', action_url => 'javascript:alert(1)') $$, '22023',
  'an action URL is a path (/...) or an https:// URL, without spaces, at most 2000 characters', 'a script URL is refused');
select throws_ok($$ select public.send_notification(array[gen_random_uuid()], 'Hello') $$, '22023',
  '1 of the users are not users', 'a send to someone who is not a user is refused');
select throws_ok($$ select public.send_notification('{}', 'Hello') $$, '22023',
  'send to 1 to 1000 users; broadcast_notification reaches more', 'a send to nobody is refused');
select is_empty($$ select 1 from public.notification_broadcasts where status = 'pending' $$, 'nothing was recorded');

-- send to chosen users ------------------------------------------------------------------------
select is((public.send_notification(array[tests.get_user_id('nb-buyer-fr@example.com'), tests.get_user_id('nb-old@example.com')],
  'Your account', 'A word from the team', 'system', '/help')).recipients_done, 2, 'a send reaches its users at once');
select tests.act_as('postgres');
select results_eq($$ select u.email::text from public.notifications n join auth.users u on u.id = n.user_id
                     where n.title = 'Your account' order by 1 $$,
  array['nb-buyer-fr@example.com', 'nb-old@example.com'], 'exactly the chosen users have it');
select is((select count(*)::integer from public.audit_log where table_name = 'notification_broadcasts' and action = 'insert'
            and after ->> 'title' = 'Your account' and actor_id = tests.get_user_id('nb-admin@example.com')), 1,
  'the send is audited with its admin');

-- broadcast with a filter -------------------------------------------------------------------
select tests.act_as('nb-seller-fr@example.com');
select public.set_notification_preference('system', 'in_app', false);
select tests.act_as('nb-admin@example.com');
select is((public.broadcast_notification('French sellers', roles => array['seller'], locales => array['fr'])).recipients_total, 1,
  'a broadcast counts its audience: sellers in French');
select is((public.broadcast_notification('Since 2021', signed_up_after => '2021-01-01')).status, 'pending',
  'a broadcast is pending until fanned out');
select tests.act_as('postgres');
-- Broadcasts are fanned out oldest first; both were made in this transaction.
update public.notification_broadcasts set created_at = created_at - interval '1 minute' where title = 'French sellers';
select is(private.fan_out_broadcasts(1000), 1, 'the first broadcast is fanned out');
select is_empty($$ select 1 from public.notifications where title = 'French sellers' $$,
  'its one user switched system off in-app: nobody gets it');
select is((select count(*)::integer from public.notification_broadcasts where title = 'Since 2021' and status = 'pending'), 1,
  'the other is still pending');

select is(private.fan_out_broadcasts(2), 2, 'a batch of two users of the second');
select results_eq($$ select recipients_done, status from public.notification_broadcasts where title = 'Since 2021' $$,
  $$ values (2, 'pending') $$, 'progress is visible');
-- Run to the end.
do $$ begin while private.fan_out_broadcasts(2) > 0 loop end loop; end $$;
select results_eq($$ select recipients_done = recipients_total, status from public.notification_broadcasts where title = 'Since 2021' $$,
  $$ values (true, 'done') $$, 'the broadcast completes');
select is((select count(*)::integer from public.notifications n join auth.users u on u.id = n.user_id
            where n.title = 'Since 2021' and u.email like 'nb-%'), 3,
  'every matching user of this test but the muted one and the one signed up in 2020 gets it (admin, seller-en, buyer-fr)');
select is((select count(*) from public.notifications where title = 'Since 2021')::integer,
          (select count(distinct user_id) from public.notifications where title = 'Since 2021')::integer,
  'once per user');

select * from finish();
rollback;
