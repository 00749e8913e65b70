-- Admin sends and broadcasts by e-mail: asked with email => true, each recipient whose
-- preferences let the category reach them by e-mail (critical categories always) also gets the
-- admin.notification mail, queued in the fan-out's batches once per user (idempotency key
-- broadcast:<id>:<user>), so a batch run again queues nothing twice; a muted user gets the
-- in-app notification only; without email => true nothing is mailed. The broadcast counts the
-- mails it queued; the audit log records that it was an e-mail broadcast.
begin;
select plan(14);

select tests.create_user('bm-admin@example.com');
select tests.grant_role('bm-admin@example.com', 'admin');
select tests.create_user('bm-one@example.com');
select tests.create_user('bm-two@example.com');
select tests.create_user('bm-muted@example.com');
update public.private_profiles set locale = 'nl'
 where id in (tests.get_user_id('bm-one@example.com'), tests.get_user_id('bm-two@example.com'), tests.get_user_id('bm-muted@example.com'));
-- Only this test's broadcasts are pending.
update public.notification_broadcasts set status = 'done' where status = 'pending';
select tests.act_as('bm-muted@example.com');
select public.set_notification_preference('system', 'email', false);

select tests.act_as('bm-admin@example.com');
select is((public.broadcast_notification('Maintenance', 'Tonight at 22:00', locales => array['nl'], email => true,
                                         action_url => 'https://status.example.com/')).email, true,
  'a manager broadcasts by e-mail too');
select tests.act_as('postgres');
select is(private.fan_out_broadcasts(2), 2, 'a first batch of two users');
select is(private.fan_out_broadcasts(2), 1, 'and the last user');
select results_eq(
  $$ select u.email::text, d.category, d.payload ->> 'title', d.payload ->> 'link', d.payload ->> 'can_unsubscribe'
       from public.email_deliveries d join auth.users u on u.id = d.recipient_id
      where d.template_key = 'admin.notification' and d.payload ->> 'title' = 'Maintenance' order by u.email $$,
  $$ values ('bm-one@example.com', 'system', 'Maintenance', 'https://status.example.com/', 'true'),
            ('bm-two@example.com', 'system', 'Maintenance', 'https://status.example.com/', 'true') $$,
  'the two users who allow system e-mail get the mail, with the link and an unsubscribe line; the muted one does not');
select is((select count(*)::integer from public.notifications where title = 'Maintenance'), 3,
  'all three get it in-app');
select results_eq($$ select recipients_done, emails_queued, status from public.notification_broadcasts where title = 'Maintenance' $$,
  $$ values (3, 2, 'done') $$, 'the broadcast counts its users and its mails');
select is((select idempotency_key from public.email_deliveries d join auth.users u on u.id = d.recipient_id
            where u.email = 'bm-one@example.com' and d.template_key = 'admin.notification'),
          'broadcast:' || (select id from public.notification_broadcasts where title = 'Maintenance') || ':'
            || tests.get_user_id('bm-one@example.com'),
  'each mail''s idempotency key names the broadcast and the user');

-- The same batches run again (a retried fan-out) queue nothing twice.
update public.notification_broadcasts set status = 'pending', last_user_id = null, finished_at = null
 where title = 'Maintenance';
do $$ begin while private.fan_out_broadcasts(2) > 0 loop end loop; end $$;
select is((select count(*)::integer from public.email_deliveries where payload ->> 'title' = 'Maintenance'), 2,
  'a batch run again queues no second mail');
select is((select count(*)::integer from public.notifications where title = 'Maintenance'), 3, 'nor a second notification');

-- A critical category reaches the muted user too, without an unsubscribe line; a path is no link.
select tests.act_as('bm-admin@example.com');
select is((public.send_notification(array[tests.get_user_id('bm-muted@example.com')], 'New sign-in', category => 'security',
                                    action_url => '/settings/security', email => true)).emails_queued, 1,
  'a send of a critical category is mailed even to a user who muted system mail');
select results_eq(
  $$ select d.category, d.payload ->> 'link', d.payload ->> 'can_unsubscribe' from public.email_deliveries d
      where d.payload ->> 'title' = 'New sign-in' $$,
  $$ values ('security', null::text, 'false') $$, 'without a link for a path and without the unsubscribe line');
select is((public.send_notification(array[tests.get_user_id('bm-muted@example.com')], 'Muted', email => true)).emails_queued, 0,
  'a send of a muted category is not mailed');
select is((public.send_notification(array[tests.get_user_id('bm-one@example.com')], 'In-app only')).emails_queued, 0,
  'and without email => true nothing is mailed');

select tests.act_as('postgres');
select is((select (after ->> 'email')::boolean from public.audit_log
            where table_name = 'notification_broadcasts' and after ->> 'title' = 'Maintenance'), true,
  'the audit log says it went out by e-mail');

select * from finish();
rollback;
