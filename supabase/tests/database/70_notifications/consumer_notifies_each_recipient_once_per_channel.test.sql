-- The consumer of the outbox (private.consume_notification_events, the notifications-consume
-- job): an accepted bid notifies the tailor in-app, live on their user topic, and by e-mail;
-- a muted category is not e-mailed, a critical one is whatever the preference row says; a
-- second run, or events already expanded, send nothing twice; a failing channel is retried
-- with backoff and its error kept; uncatalogued events are marked processed; old processed
-- events are pruned. Internal publish validates against the catalogue.
begin;
select plan(37);

select tests.create_user('nc-designer@example.com');
select tests.create_user('nc-tailor@example.com');
select tests.create_user('nc-admin@example.com');
select tests.grant_role('nc-admin@example.com', 'admin');
create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('nc-' || who || '@example.com') $$;
grant execute on function pg_temp.uid(text) to authenticated, service_role;

-- Nothing left over from the seed or other work: this test's events only.
update private.domain_events set processed_at = now() where processed_at is null;

select is((select schedule::text from cron.job where jobname = 'notifications-consume'), '* * * * *',
  'the consumer is scheduled every minute as notifications-consume');

-- bid accepted ------------------------------------------------------------------------------
insert into public.projects (owner_id, title, budget_amount, currency) values (pg_temp.uid('designer'), 'NC coat', 10000, 'EUR');
insert into public.bids (project_id, tailor_id, amount, duration_days) values (tests.project_of('NC coat'), pg_temp.uid('tailor'), 9000, 10);
select tests.act_as('service_role');
select ops.accept_bid(tests.bid_of('nc-tailor@example.com', 'NC coat'), pg_temp.uid('designer'), 9000, 10);
select tests.act_as('postgres');

select is(private.consume_notification_events(), 2, 'the consumer takes the two events (order.created, bid.accepted)');
select is_empty($$ select 1 from private.domain_events where processed_at is null $$, 'and marks them processed');
select results_eq(
  $$ select n.title, n.action_url, n.category from public.notifications n
      where n.user_id = tests.get_user_id('nc-tailor@example.com') and n.event_type = 'bid.accepted' $$,
  $$ select 'Your bid was accepted'::text, '/orders/' || (select o.id from public.orders o where o.seller_id = tests.get_user_id('nc-tailor@example.com')), 'bids'::text $$,
  'the tailor has the in-app notification, its URL filled from the event');
select is((select count(*)::integer from realtime.messages m
            where m.topic = 'user:' || pg_temp.uid('tailor') and m.event = 'push:received' and m.payload ->> 'title' = 'Your bid was accepted'
              and m.private),
  1, 'broadcast live as push:received on the tailor''s private user topic');
select results_eq(
  $$ select d.channel, d.status from private.notification_deliveries d
       join private.domain_events e on e.id = d.event_id
      where e.event_type = 'bid.accepted' order by d.channel $$,
  $$ values ('email', 'sent'), ('in_app', 'sent') $$,
  'one delivery per channel the tailor receives, both sent (push is off by default)');
select is((select count(*)::integer from public.email_deliveries ed
            where ed.recipient_id = pg_temp.uid('tailor') and ed.template_key = 'bid.accepted'),
  1, 'the e-mail is queued through private.enqueue_email');
select is_empty($$ select 1 from public.notifications where user_id = tests.get_user_id('nc-designer@example.com') and event_type = 'bid.accepted' $$,
  'the designer who acted is not notified of their own acceptance');

-- once only ---------------------------------------------------------------------------------
update private.domain_events set processed_at = null where event_type = 'bid.accepted';
select is(private.consume_notification_events(), 1, 'an event taken again (a retried run)...');
select is((select count(*)::integer from public.notifications where event_type = 'bid.accepted'), 1, '...makes no second notification');
select is((select count(*)::integer from private.notification_deliveries d join private.domain_events e on e.id = d.event_id
            where e.event_type = 'bid.accepted'), 2, '...nor a second delivery');
select is((select count(*)::integer from public.email_deliveries where template_key = 'bid.accepted' and recipient_id = pg_temp.uid('tailor')),
  1, '...nor a second e-mail');
select is((select count(*)::integer from realtime.messages m
            where m.topic = 'user:' || pg_temp.uid('tailor') and m.event = 'push:received' and m.payload ->> 'title' = 'Your bid was accepted'),
  1, '...nor a second broadcast');

-- preferences honoured ----------------------------------------------------------------------
select tests.act_as('nc-tailor@example.com');
select public.set_notification_preference('orders', 'email', false);
select public.set_notification_preference('orders', 'in_app', false);
select public.set_notification_preference('payments', 'push', true);
select tests.act_as('service_role');
select ops.publish_event('order.delivered', 'order', gen_random_uuid(), array[pg_temp.uid('tailor')],
  '{"from_status": "in_progress", "to_status": "delivered"}');
select ops.publish_event('payment.released', 'order', gen_random_uuid(), array[pg_temp.uid('tailor')],
  '{"from_status": "held", "to_status": "released"}');
select tests.act_as('postgres');
select is(private.consume_notification_events(), 2, 'two published events taken');
select is_empty($$ select 1 from private.notification_deliveries d join private.domain_events e on e.id = d.event_id
                   where e.event_type = 'order.delivered' $$,
  'a category muted on every channel is neither e-mailed nor put in the feed');
select results_eq(
  $$ select d.channel, d.status, d.attempts from private.notification_deliveries d join private.domain_events e on e.id = d.event_id
      where e.event_type = 'payment.released' order by d.channel $$,
  $$ values ('email', 'sent', 1), ('in_app', 'sent', 1), ('push', 'pending', 1) $$,
  'a critical category is e-mailed and in the feed; push is tried since the tailor turned it on');
select is((select count(*)::integer from public.email_deliveries where template_key = 'payment.released' and recipient_id = pg_temp.uid('tailor')),
  1, 'the critical e-mail is queued');

select is((select count(*)::integer from realtime.messages m
            where m.topic = 'user:' || pg_temp.uid('tailor') and m.event = 'alert:triggered' and m.payload ->> 'title' = 'Payment released'),
  1, 'a critical notification is also broadcast as alert:triggered');
select is((select count(*)::integer from realtime.messages m
            where m.topic = 'user:' || pg_temp.uid('tailor') and m.event = 'alert:triggered' and m.payload ->> 'title' = 'Your bid was accepted'),
  0, 'a non-critical one is not');

-- a failing channel is retried with backoff -------------------------------------------------
select results_eq(
  $$ select d.last_error, d.next_attempt_at > now() + interval '50 seconds' and d.next_attempt_at < now() + interval '70 seconds'
       from private.notification_deliveries d where d.channel = 'push' $$,
  $$ values ('55000: no push sender: private.send_push(uuid, text, text, text, jsonb) is not installed', true) $$,
  'push without a sender: kept pending with its error, next try in a minute');
update private.notification_deliveries set next_attempt_at = now() where channel = 'push';
select private.deliver_notifications();
select results_eq($$ select d.attempts, d.status, d.next_attempt_at > now() + interval '110 seconds' from private.notification_deliveries d where d.channel = 'push' $$,
  $$ values (2, 'pending', true) $$, 'the second failure waits two minutes');
update private.notification_deliveries set attempts = 5, next_attempt_at = now() where channel = 'push';
select private.deliver_notifications();
select results_eq($$ select d.attempts, d.status from private.notification_deliveries d where d.channel = 'push' $$,
  $$ values (6, 'failed') $$, 'after six attempts it stays failed, visible');
create function private.send_push(recipient uuid, category text, title text, body text, payload jsonb) returns void
language sql as $$ select $$;
update private.notification_deliveries set status = 'pending', next_attempt_at = now() where channel = 'push';
select is(private.deliver_notifications(), 1, 'once a push sender is plugged in, a retried delivery is sent');
select is((select status from private.notification_deliveries where channel = 'push'), 'sent', 'and marked sent');

-- uncatalogued events, pruning ----------------------------------------------------------------
insert into private.event_types (event_type, domain, description) values ('nc.test', 'notifications', 'A test event nobody notifies');
select private.emit_event('nc.test', 'test', gen_random_uuid(), array[pg_temp.uid('tailor')], '{}', null);
select is(private.consume_notification_events(), 1, 'an event type without a rule is taken...');
select is_empty($$ select 1 from private.domain_events where event_type = 'nc.test' and processed_at is null $$, '...and marked processed, nothing sent');
update private.domain_events set processed_at = now() - interval '31 days' where event_type in ('nc.test', 'bid.accepted');
select is(private.prune_notification_events(), 2, 'processed events older than the retention are pruned');
select is((select count(*)::integer from public.notifications where event_type = 'bid.accepted'), 1, 'their notifications stay');

-- quiet hours ---------------------------------------------------------------------------------
select tests.act_as('nc-tailor@example.com');
select throws_ok($$ select public.set_quiet_hours('22:00', null) $$, '22023',
  'quiet hours need a start and a different end (both null switches them off)', 'quiet hours need both ends');
select public.set_quiet_hours((now() - interval '1 hour')::time, (now() + interval '1 hour')::time);
select public.set_notification_preference('orders', 'email', true);
select tests.act_as('service_role');
select ops.publish_event('order.completed', 'order', gen_random_uuid(), array[pg_temp.uid('tailor')],
  '{"from_status": "delivered", "to_status": "completed"}');
select ops.publish_event('payment.refunded', 'order', gen_random_uuid(), array[pg_temp.uid('tailor')],
  '{"from_status": "held", "to_status": "refunded"}');
select tests.act_as('postgres');
select private.consume_notification_events();
select results_eq(
  $$ select d.status, d.next_attempt_at = now() + interval '1 hour' from private.notification_deliveries d
       join private.domain_events e on e.id = d.event_id where e.event_type = 'order.completed' and d.channel = 'email' $$,
  $$ values ('pending', true) $$, 'during quiet hours a non-critical e-mail waits for their end');
select is((select d.status from private.notification_deliveries d join private.domain_events e on e.id = d.event_id
            where e.event_type = 'payment.refunded' and d.channel = 'email'), 'sent', 'a critical e-mail does not wait');
select is((select count(*)::integer from public.notifications where event_type = 'order.completed'), 0,
  'in-app is not held either (orders are off in-app for this user)');
select tests.act_as('nc-tailor@example.com');
select is(public.set_quiet_hours(null, null), null, 'two nulls switch quiet hours off');
select tests.act_as('postgres');

-- internal publish ----------------------------------------------------------------------------
select tests.act_as('service_role');
select throws_ok($$ select ops.publish_event('nc.test', 'test', gen_random_uuid(), '{}', '{}') $$, '22023',
  'event type nc.test is not in the notification catalogue', 'publish refuses an event type without a rule');
select throws_ok($$ select ops.publish_event('bid.accepted', 'bid', gen_random_uuid(), '{}', '{"project_id": 1}') $$, '22023',
  'the payload of a bid.accepted event lacks order_id', 'publish refuses a payload without the variables of the type');
select throws_ok($$ select ops.publish_event('bid.accepted', 'bid', gen_random_uuid(), array[gen_random_uuid()], '{"project_id": 1, "order_id": 2}') $$, '22023',
  '1 of the recipients are not users', 'publish refuses recipients who are not users');
select tests.act_as('nc-admin@example.com');
select throws_ok($$ select ops.publish_event('bid.accepted', 'bid', gen_random_uuid(), '{}', '{"project_id": 1, "order_id": 2}') $$, '42501',
  'permission denied for schema ops', 'a signed-in user, even an admin, cannot publish');

select * from finish();
rollback;
