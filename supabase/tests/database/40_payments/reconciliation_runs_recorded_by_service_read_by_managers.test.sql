-- Reconciliation runs: only the service role records them, through record_reconciliation_run;
-- only marketplace managers read them; a run with differences tells every manager (and only
-- them), a clean run tells nobody; runs older than 90 days go.
begin;
select plan(32);

select tests.create_user('rr-buyer@example.com');
select tests.create_user('rr-admin@example.com');
select tests.create_user('rr-staff@example.com');
select tests.create_user('rr-lapsed-admin@example.com');
select tests.clear_authentication();
select tests.grant_role('rr-admin@example.com', 'admin');
select tests.grant_role('rr-staff@example.com', 'staff');
select tests.grant_role('rr-lapsed-admin@example.com', 'admin');
update public.user_roles set assigned_at = now() - interval '30 days', expires_at = now() - interval '1 day'
 where user_id = tests.get_user_id('rr-lapsed-admin@example.com');

create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('rr-' || who || '@example.com') $$;
grant execute on function pg_temp.uid(text) to public;

create temp table runs (label text primary key, id uuid);
grant all on runs to public;

-- ---------------------------------------------------------------------------------------
-- Who may record a run

select tests.authenticate_as(pg_temp.uid('admin'));
select throws_ok($$ select ops.record_reconciliation_run(now(), now(), 0, '[]', 'cli') $$,
  '42501', 'permission denied for schema ops',
  'a manager cannot record a run through the API');
select tests.authenticate_as(pg_temp.uid('buyer'));
select throws_ok($$ select ops.record_reconciliation_run(now(), now(), 0, '[]', 'cli') $$,
  '42501', 'permission denied for schema ops',
  'nor can a plain user');
select tests.authenticate_as_anon();
select throws_ok($$ select ops.record_reconciliation_run(now(), now(), 0, '[]', 'cli') $$,
  '42501', 'permission denied for schema ops',
  'nor anon');

select tests.authenticate_as_service_role();
select lives_ok(
  $$ insert into runs select 'clean', ops.record_reconciliation_run(now() - interval '2 seconds', now(), 3, '[]', 'schedule') $$,
  'the service role records a clean run');
select lives_ok(
  $$ insert into runs select 'differing', ops.record_reconciliation_run(now() - interval '2 seconds', now(), 3,
       jsonb_build_array(jsonb_build_object('order_id', gen_random_uuid(), 'currency', 'EUR', 'status', 'held',
                                            'problems', jsonb_build_array('Stripe refunded 1234 <> escrow 0'))),
       'cli') $$,
  'and a run with differences');
select tests.clear_authentication();

select is(
  (select row(orders_checked, orders_with_differences, differences, triggered_by)::text
     from public.payments_reconciliation_runs where id = (select id from runs where label = 'clean')),
  row(3, 0, '[]'::jsonb, 'schedule')::text,
  'a clean run is stored with its counts');
select is(
  (select orders_with_differences from public.payments_reconciliation_runs where id = (select id from runs where label = 'differing')),
  1,
  'orders_with_differences is counted from the differences themselves');

-- ---------------------------------------------------------------------------------------
-- Who is told

select is_empty(
  $$ select 1 from private.domain_events where subject_id = (select id from runs where label = 'clean') $$,
  'a clean run emits no event');
select is(
  (select count(*)::int from private.domain_events
    where event_type = 'payments.reconciliation_differences' and subject_type = 'payments_reconciliation_run'
      and subject_id = (select id from runs where label = 'differing')),
  1,
  'a run with differences emits payments.reconciliation_differences about the run');
select ok(
  (select pg_temp.uid('admin') = any(recipients) from private.domain_events where subject_id = (select id from runs where label = 'differing')),
  'the manager is told');
select ok(
  (select not (recipients && array[pg_temp.uid('buyer'), pg_temp.uid('staff'), pg_temp.uid('lapsed-admin')])
     from private.domain_events where subject_id = (select id from runs where label = 'differing')),
  'the plain user, staff without marketplace.manage and an admin whose role expired are not');
select is(
  (select array(select r from unnest(recipients) r order by r) from private.domain_events
    where subject_id = (select id from runs where label = 'differing')),
  array(select u.id from auth.users u where private.user_has_permission(u.id, 'marketplace.manage') order by u.id),
  'the recipients are exactly the users holding marketplace.manage');
select is(
  (select payload from private.domain_events where subject_id = (select id from runs where label = 'differing')),
  '{"orders_checked": 3, "orders_with_differences": 1, "triggered_by": "cli"}'::jsonb,
  'the event carries the run''s counts and who triggered it');

-- ---------------------------------------------------------------------------------------
-- Who reads runs

select tests.authenticate_as(pg_temp.uid('admin'));
select is(
  (select count(*)::int from public.payments_reconciliation_runs where id in (select id from runs)),
  2,
  'a manager reads the runs');
select tests.authenticate_as(pg_temp.uid('buyer'));
select is_empty($$ select 1 from public.payments_reconciliation_runs $$, 'a plain user reads none');
select tests.authenticate_as(pg_temp.uid('staff'));
select is_empty($$ select 1 from public.payments_reconciliation_runs $$, 'nor does staff without marketplace.manage');
select tests.authenticate_as(pg_temp.uid('lapsed-admin'));
select is_empty($$ select 1 from public.payments_reconciliation_runs $$, 'nor an admin whose role expired');
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.payments_reconciliation_runs $$,
  '42501', 'permission denied for table payments_reconciliation_runs',
  'anon may not read runs at all');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Nobody writes through the API, the service role included

select is(tests.refusal(who, s), 'permission denied for table payments_reconciliation_runs', a || ': ' || s) from
  unnest(array['admin', 'service'], array['rr-admin@example.com', 'service_role']) actor (a, who),
  unnest(array[
    $$insert into public.payments_reconciliation_runs (started_at, finished_at, orders_checked, orders_with_differences, triggered_by)
      values (now(), now(), 0, 0, 'forged')$$,
    'update public.payments_reconciliation_runs set differences = ''[]'', orders_with_differences = 0',
    'delete from public.payments_reconciliation_runs'
  ]) s;
select is(tests.refusal('anon', 'delete from public.payments_reconciliation_runs'), 'permission denied for table payments_reconciliation_runs',
  'anon: delete');

-- ---------------------------------------------------------------------------------------
-- What a run must look like

select tests.authenticate_as_service_role();
select throws_ok(
  $$ select ops.record_reconciliation_run(now(), now(), 1, '[{"order_id": "x", "currency": "EUR", "status": "held", "problems": ["p"]}]', 'cli') $$,
  '22023', 'each difference must be { order_id, currency, status, problems: [one or more strings] }',
  'a difference without an order id is refused');
select throws_ok(
  $$ select ops.record_reconciliation_run(now(), now(), 1,
       jsonb_build_array(jsonb_build_object('order_id', gen_random_uuid(), 'currency', 'EUR', 'status', 'held', 'problems', '[]'::jsonb)), 'cli') $$,
  '22023', 'each difference must be { order_id, currency, status, problems: [one or more strings] }',
  'a difference without problems is refused');
select throws_ok(
  $$ select ops.record_reconciliation_run(now(), now(), 0,
       jsonb_build_array(jsonb_build_object('order_id', gen_random_uuid(), 'currency', 'EUR', 'status', 'held', 'problems', '["p"]'::jsonb)), 'cli') $$,
  '23514', 'new row for relation "payments_reconciliation_runs" violates check constraint "payments_reconciliation_runs_differences_counted"',
  'more orders with differences than orders checked is refused');
select throws_ok($$ select ops.record_reconciliation_run(now(), now() - interval '1 minute', 0, '[]', 'cli') $$,
  '23514', 'new row for relation "payments_reconciliation_runs" violates check constraint "payments_reconciliation_runs_finished_after_start"',
  'a run cannot finish before it started');
select throws_ok($$ select ops.record_reconciliation_run(now(), now(), 0, '[]', 'Robert''); drop table x') $$,
  '23514', 'new row for relation "payments_reconciliation_runs" violates check constraint "payments_reconciliation_runs_triggered_by_format"',
  'triggered_by is a short lowercase word');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Old runs go

insert into public.payments_reconciliation_runs (started_at, finished_at, orders_checked, orders_with_differences, triggered_by)
values (now() - interval '91 days', now() - interval '91 days', 0, 0, 'retention-test'),
       (now() - interval '89 days', now() - interval '89 days', 0, 0, 'retention-test');
select tests.authenticate_as_service_role();
select lives_ok($$ select ops.record_reconciliation_run(now(), now(), 0, '[]', 'schedule') $$, 'recording another run');
select tests.clear_authentication();
select is(
  (select array_agg(extract(day from now() - finished_at)::int order by finished_at)
     from public.payments_reconciliation_runs where triggered_by = 'retention-test'),
  array[89],
  'drops the runs older than 90 days and keeps the rest');

select * from finish();
rollback;
