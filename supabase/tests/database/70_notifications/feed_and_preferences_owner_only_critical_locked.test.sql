-- The in-app feed and preferences: the owner reads their notifications, marks them read,
-- seen or archived (those columns only) and deletes them; a stranger, an admin and anon see
-- and change none, and marking another user's notification read is not found. Preferences
-- are the caller's own, validated (unknown category or channel) and critical categories
-- cannot be switched off. Categories are readable by everyone.
begin;
select plan(40);

select tests.create_user('nf-owner@example.com');
select tests.create_user('nf-stranger@example.com');
select tests.create_user('nf-admin@example.com');
select tests.grant_role('nf-admin@example.com', 'admin');

create temp table fixture (name text primary key, id uuid not null);
grant select on fixture to authenticated, anon;
with n as (
  insert into public.notifications (user_id, category, title, body, created_at) values
    (tests.get_user_id('nf-owner@example.com'), 'orders', 'First', 'one', now() - interval '2 minutes'),
    (tests.get_user_id('nf-owner@example.com'), 'bids', 'Second', 'two', now() - interval '1 minute'),
    (tests.get_user_id('nf-stranger@example.com'), 'orders', 'Theirs', '', now())
  returning id, title)
insert into fixture select case title when 'First' then 'first' when 'Second' then 'second' else 'strangers' end, id from n;

-- reading ---------------------------------------------------------------------------------
select tests.act_as('nf-owner@example.com');
select results_eq($$ select title from public.notifications order by created_at, title $$,
  array['First', 'Second'], 'the owner reads their own notifications only');
select is(public.unread_notification_count(), 2, 'two unread');
select tests.act_as('nf-stranger@example.com');
select results_eq($$ select title from public.notifications $$, array['Theirs'], 'a stranger reads only theirs');
select tests.act_as('nf-admin@example.com');
select is_empty($$ select 1 from public.notifications $$, 'an admin reads nobody''s feed through the API');
select tests.act_as('anon');
select throws_ok($$ select 1 from public.notifications $$, '42501', 'permission denied for table notifications', 'anon reads no feed');
select is((select count(*)::integer from public.notification_categories), 11, 'anon reads the categories');

-- marking ---------------------------------------------------------------------------------
select tests.act_as('nf-stranger@example.com');
select tests.throws_like($$ select public.mark_notification_read((select id from fixture where name = 'first')) $$,
  'PT404', 'notification % not found', 'a stranger marking the owner''s notification read: not found');
select is_empty($$ update public.notifications set read_at = now() where id = (select id from fixture where name = 'first') returning id $$,
  'nor by updating the table');
select is_empty($$ delete from public.notifications where id = (select id from fixture where name = 'first') returning id $$,
  'nor delete it');
select tests.act_as('nf-admin@example.com');
select tests.throws_like($$ select public.mark_notification_read((select id from fixture where name = 'first')) $$,
  'PT404', 'notification % not found', 'an admin neither');
select tests.act_as('anon');
select throws_ok($$ select public.mark_notification_read((select id from fixture where name = 'first')) $$,
  '42501', 'permission denied for function mark_notification_read', 'anon may not call it');
select tests.act_as('postgres');
select is((select read_at from public.notifications where id = (select id from fixture where name = 'first')), null,
  'the owner''s notification is still unread');

select tests.act_as('nf-owner@example.com');
select isnt((public.mark_notification_read((select id from fixture where name = 'first'))).read_at, null,
  'the owner marks one read');
select is(public.unread_notification_count(), 1, 'one unread left');
select is((select count(*)::integer from realtime.messages where topic = 'user:' || auth.uid() and event = 'status:updated'), 1,
  'the change is broadcast as status:updated on the owner''s topic');
select throws_ok($$ update public.notifications set title = 'Changed' where id = (select id from fixture where name = 'second') $$,
  '42501', 'permission denied for table notifications', 'the owner changes no other column');
select lives_ok($$ update public.notifications set archived_at = now() where id = (select id from fixture where name = 'second') $$,
  'the owner archives one');
select is(public.unread_notification_count(), 0, 'archived ones are not counted');
select throws_ok($$ select public.mark_all_notifications_read('nonsense') $$, '22023',
  'unknown notification category: the categories are bids, inventory, marketplace, messages, operations, orders, payments, reviews, security, shop, system',
  'marking all of an unknown category is refused');
select is(public.mark_all_notifications_read(), 1, 'mark all read marks the one left unread');
select is(public.mark_all_notifications_read(), 0, 'and again marks none');
select tests.act_as('postgres');
select is((select read_at from public.notifications where id = (select id from fixture where name = 'strangers')), null,
  'the stranger''s notification stays unread');
select tests.act_as('nf-owner@example.com');
select results_eq($$ delete from public.notifications where id = (select id from fixture where name = 'first') returning title $$,
  array['First'], 'the owner deletes their own');

-- preferences -----------------------------------------------------------------------------
select throws_ok($$ select public.set_notification_preference('nonsense', 'email', false) $$, '22023',
  'unknown notification category: the categories are bids, inventory, marketplace, messages, operations, orders, payments, reviews, security, shop, system',
  'an unknown category is refused');
select throws_ok($$ select public.set_notification_preference('bids', 'pigeon', false) $$, '22023',
  'unknown notification channel: the channels are in_app, email, push', 'an unknown channel is refused');
select throws_ok($$ select public.set_notification_preference('payments', 'email', false) $$, '22023',
  'notification category payments is critical: it cannot be switched off in_app or by email', 'a critical category stays on');
select throws_ok($$ select public.set_notification_preference('security', 'in_app', false) $$, '22023',
  'notification category security is critical: it cannot be switched off in_app or by email', 'security too');
select is((public.set_notification_preference('bids', 'email', false)).enabled, false, 'the owner mutes bids by e-mail');
select is((public.set_notification_preference('payments', 'push', true)).enabled, true, 'and turns push on for payments');
select results_eq($$ select category, in_app, email, push from public.my_notification_preferences() where category in ('bids', 'payments', 'messages') $$,
  $$ values ('bids', true, false, false), ('messages', true, false, false), ('payments', true, true, true) $$,
  'effective preferences: their choices over the defaults');
select throws_ok($$ insert into public.notification_preferences (user_id, category, channel, enabled) values (auth.uid(), 'bids', 'in_app', false) $$,
  '42501', 'permission denied for table notification_preferences', 'the table is written through the RPC only');
select tests.act_as('nf-stranger@example.com');
select is_empty($$ select 1 from public.notification_preferences $$, 'a stranger reads none of the owner''s preferences');
select tests.act_as('anon');
select throws_ok($$ select public.set_notification_preference('bids', 'email', false) $$,
  '42501', 'permission denied for function set_notification_preference', 'anon has no preferences');
-- quiet hours -----------------------------------------------------------------------------
select tests.act_as('nf-owner@example.com');
select results_eq($$ select (public.set_quiet_hours('22:00', '07:00')).ends_at $$, $$ values ('07:00'::time) $$,
  'the owner sets quiet hours spanning midnight');
select results_eq($$ select starts_at from public.notification_quiet_hours $$, $$ values ('22:00'::time) $$, 'and reads them');
select tests.act_as('nf-stranger@example.com');
select is_empty($$ select 1 from public.notification_quiet_hours $$, 'a stranger does not');
select tests.act_as('anon');
select throws_ok($$ select 1 from public.notification_quiet_hours $$, '42501', 'permission denied for table notification_quiet_hours',
  'nor anon');
select tests.act_as('postgres');
update public.private_profiles set timezone = 'Europe/Paris' where id = tests.get_user_id('nf-owner@example.com');
select is(private.quiet_hours_end(tests.get_user_id('nf-owner@example.com'), '2026-06-01 21:30:00+00'),
  '2026-06-02 05:00:00+00'::timestamptz, 'at 23:30 in Paris they end at 07:00 Paris time the next morning');
select is(private.notification_enabled(tests.get_user_id('nf-owner@example.com'), 'bids', 'email'), false, 'the consumer sees the mute');
select is(private.notification_enabled(tests.get_user_id('nf-stranger@example.com'), 'bids', 'email'), true, 'and the default for others');

select * from finish();
rollback;
