-- E-mail digests: the messages category's e-mail (digestible, a digest by default) is gathered
-- per user into 15-minute windows and mailed once when the window closes (count and the latest
-- items), each delivery linked to its digest; in-app notifications stay immediate; a user may
-- choose one mail each instead; a muted category is not digested, a critical one never; a
-- delivery late for a closed window goes into the next; a digest is mailed once however often
-- the consumer runs. The consumer job loops batches (private.run_notification_consumer) and
-- ops.run_scheduled_job still runs it. A sent mail is broadcast as email:sent.
begin;
select plan(36);

select tests.create_user('dg-reader@example.com');
select tests.create_user('dg-muted@example.com');
select tests.create_user('dg-instant@example.com');
create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('dg-' || who || '@example.com') $$;
grant execute on function pg_temp.uid(text) to authenticated, service_role;
create function pg_temp.message(who text) returns bigint language sql as $$
  select ops.publish_event('message.created', 'thread', gen_random_uuid(), array[pg_temp.uid(who)],
    '{"thread_id": "00000000-0000-0000-0000-000000000001", "seq": 1, "attachments": 0}')
$$;
grant execute on function pg_temp.message(text) to service_role;

update private.domain_events set processed_at = now() where processed_at is null;

-- the catalogue -----------------------------------------------------------------------------
select results_eq(
  $$ select key, digest_window, default_email_digest, digest_template_key from public.notification_categories where digestible $$,
  $$ values ('messages'::text, interval '15 minutes', true, 'message.digest'::text) $$,
  'messages is digested by default, in 15-minute windows, with the message.digest template');
select throws_ok(
  $$ update public.notification_categories set digestible = true, digest_template_key = 'message.digest' where key = 'payments' $$,
  '23514', 'new row for relation "notification_categories" violates check constraint "notification_categories_critical_not_digested"',
  'a critical category cannot be made digestible');
select is(private.email_digest_window('messages', '2026-01-01 10:14:59.999+00'), '2026-01-01 10:00:00+00'::timestamptz,
  'a moment just before a boundary falls in the window that ends there');
select is(private.email_digest_window('messages', '2026-01-01 10:15:00+00'), '2026-01-01 10:15:00+00'::timestamptz,
  'the boundary itself starts the next window');
select is(private.email_digest_window('payments', now()), null, 'a category without a digest has no window');

-- preferences -------------------------------------------------------------------------------
select tests.act_as('dg-reader@example.com');
select public.set_notification_preference('messages', 'email', true);
select is((select email_digest from public.my_notification_preferences() where category = 'messages'), true,
  'my preferences say the messages e-mail is a digest');
select throws_ok($$ select public.set_email_digest('payments', true) $$, '22023',
  'notification category payments has no digest: the categories with one are messages', 'a critical category is never digested');
select throws_ok($$ select public.set_email_digest('nope', true) $$, '22023',
  'unknown notification category: the categories are bids, inventory, marketplace, messages, operations, orders, payments, reviews, security, shop, system',
  'an unknown category is refused');
select throws_ok($$ select public.set_email_digest('messages', null) $$, '22023', 'digest must be true or false', 'null is refused');
select tests.act_as('dg-muted@example.com');
select public.set_notification_preference('messages', 'email', true);
select public.set_notification_preference('messages', 'email', false);
select tests.act_as('dg-instant@example.com');
select public.set_notification_preference('messages', 'email', true);
select results_eq($$ select enabled, email_digest from public.set_email_digest('messages', false) $$,
  $$ values (true, false) $$, 'a user chooses one mail per message, their e-mail staying on');
select tests.act_as('anon');
select throws_ok($$ select public.set_email_digest('messages', true) $$, '42501',
  'permission denied for function set_email_digest', 'anon may not choose');
select tests.act_as('postgres');

-- batching ----------------------------------------------------------------------------------
select tests.act_as('service_role');
select pg_temp.message('reader'), pg_temp.message('reader'), pg_temp.message('reader'),
       pg_temp.message('muted'), pg_temp.message('instant');
select tests.act_as('postgres');
select is(private.consume_notification_events(), 5, 'the consumer takes the five messages');
select is((select count(*)::integer from public.notifications where user_id = pg_temp.uid('reader')), 3,
  'in-app notifications are immediate: three in the reader''s feed');
select is((select count(*)::integer from public.email_deliveries where recipient_id = pg_temp.uid('reader')), 0,
  'no mail yet for the reader: the window is open');
select results_eq(
  $$ select count(*)::integer, count(distinct nd.digest_id)::integer, bool_and(nd.status = 'sent')
       from private.notification_deliveries nd where nd.recipient_id = pg_temp.uid('reader') and nd.channel = 'email' $$,
  $$ values (3, 1, true) $$,
  'the three e-mail deliveries are all linked to one digest');
select results_eq(
  $$ select d.window_start = private.email_digest_window('messages', now()), d.window_end - d.window_start, d.closed_at is null
       from private.email_digests d where d.recipient_id = pg_temp.uid('reader') $$,
  $$ values (true, interval '15 minutes', true) $$,
  'the digest is the open window containing now');
select is_empty($$ select 1 from private.email_digests where recipient_id = pg_temp.uid('muted') $$,
  'a muted category is not digested');
select is_empty($$ select 1 from public.email_deliveries where recipient_id = pg_temp.uid('muted') $$, '...nor mailed');
select results_eq($$ select template_key from public.email_deliveries where recipient_id = pg_temp.uid('instant') $$,
  $$ values ('message.created'::text) $$, 'the user who chose one mail each gets the message''s own mail at once');
select throws_ok(
  $$ insert into private.email_digests (recipient_id, category, window_start, window_end)
     select recipient_id, category, window_start, window_end from private.email_digests where recipient_id = pg_temp.uid('reader') $$,
  '23505', 'duplicate key value violates unique constraint "email_digests_once_per_window"',
  'one digest per user, category and window');

-- window boundaries: nothing before the window closes --------------------------------------
select is(private.send_due_email_digests(), 0, 'an open window is not mailed');
select is(private.consume_notification_events(), 0, 'another consumer run...');
select is((select count(*)::integer from public.email_deliveries where recipient_id = pg_temp.uid('reader')), 0, '...mails nothing yet');

-- the window closes (moved into the past, as if 15 minutes went by)
update private.email_digests set window_start = window_start - interval '15 minutes', window_end = window_end - interval '15 minutes'
 where recipient_id = pg_temp.uid('reader');
select is(private.consume_notification_events(), 0, 'the consumer run after the window closed...');
select results_eq(
  $$ select ed.template_key, ed.category, (ed.payload ->> 'count')::integer, jsonb_array_length(ed.payload -> 'items'),
            ed.payload -> 'items' -> 0 ->> 'title', ed.idempotency_key = 'digest:' || d.id
       from public.email_deliveries ed join private.email_digests d on d.email_delivery_id = ed.id
      where ed.recipient_id = pg_temp.uid('reader') $$,
  $$ values ('message.digest'::text, 'messages'::text, 3, 3, 'New message'::text, true) $$,
  '...queues one digest mail listing the three messages, linked from the digest');
select isnt((select closed_at from private.email_digests where recipient_id = pg_temp.uid('reader')), null, 'the digest is closed');
select is(private.send_due_email_digests(), 0, 'a closed digest is not mailed again');
select is((select count(*)::integer from public.email_deliveries where recipient_id = pg_temp.uid('reader')), 1, 'one mail for the window');

-- a delivery late for a closed window goes into the next one
insert into private.email_digests (recipient_id, category, window_start, window_end, closed_at)
values (pg_temp.uid('reader'), 'messages', private.email_digest_window('messages', now()),
        private.email_digest_window('messages', now()) + interval '15 minutes', now());
select tests.act_as('service_role');
select pg_temp.message('reader');
select tests.act_as('postgres');
select lives_ok($$ select private.consume_notification_events() $$, 'a message arriving in a window already closed...');
select results_eq(
  $$ select d.window_start - private.email_digest_window('messages', now()), d.closed_at is null
       from private.notification_deliveries nd join private.email_digests d on d.id = nd.digest_id
      where nd.id = (select max(x.id) from private.notification_deliveries x where x.recipient_id = pg_temp.uid('reader')) $$,
  $$ values (interval '15 minutes', true) $$,
  '...joins the next window''s digest, not the closed one');
select is(ops.flush_email_digests(pg_temp.uid('reader')), 1, 'an operator flush mails the open digest now');
select is((select count(*)::integer from public.email_deliveries where recipient_id = pg_temp.uid('reader') and template_key = 'message.digest'),
  2, 'a second digest mail, for the second window');

-- email:sent ---------------------------------------------------------------------------------
select tests.act_as('service_role');
select count(*) from ops.claim_email_deliveries(500);
select ops.record_email_delivery(ed.id, ed.claim_id, true, 'test')
  from public.email_deliveries ed where ed.recipient_id = pg_temp.uid('reader') and ed.status = 'sending';
select tests.act_as('postgres');
select is((select count(*)::integer from realtime.messages m
            where m.topic = 'user:' || pg_temp.uid('reader') and m.event = 'email:sent' and m.private
              and m.payload ->> 'template_key' = 'message.digest' and m.payload ->> 'category' = 'messages'
              and (m.payload ->> 'delivery_id')::uuid in (select id from public.email_deliveries where recipient_id = pg_temp.uid('reader'))
              and m.payload ? 'sent_at'),
  2, 'each sent mail is broadcast as email:sent on the recipient''s private topic');

-- the job: batches in a loop, through ops.run_scheduled_job ----------------------------------
select tests.act_as('service_role');
select pg_temp.message('instant') from generate_series(1, 5);
select tests.act_as('postgres');
select is((select command from cron.job where jobname = 'notifications-consume'), 'call private.run_notification_consumer()',
  'the job calls the looping procedure');
call private.run_notification_consumer(null, 2, 50);
select is((select count(*)::integer from private.domain_events where processed_at is null), 0,
  'batches of 2 loop until the five events are all taken (inside a transaction: one transaction)');
select tests.act_as('service_role');
select pg_temp.message('instant') from generate_series(1, 3);
select is(ops.run_scheduled_job('notifications-consume'), '3', 'ops.run_scheduled_job runs the job and answers the events taken');
select tests.act_as('postgres');

select * from finish();
rollback;
