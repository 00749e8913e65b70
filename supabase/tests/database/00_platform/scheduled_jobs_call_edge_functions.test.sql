-- Scheduled jobs: which exist and when they run; only the service role lists them or runs
-- one at once; a job that needs Stripe queues one pg_net POST to its edge function with the
-- service-role key from Vault, and says precisely what is missing when it cannot.
begin;
select plan(19);

select tests.create_user('jobs-user@example.com');
select tests.create_user('jobs-admin@example.com');
select tests.grant_role('jobs-admin@example.com', 'admin');

-- Every domain's jobs, as postgres reads them (the service role has no access to cron).
create temporary table all_jobs as select jobname from cron.job;
grant select on all_jobs to service_role;

select is(
  (select string_agg(jobname || ' ' || schedule, ', ' order by jobname) from cron.job where jobname like 'payments-%'),
  'payments-auto-complete */15 * * * *, payments-reconcile 30 3 * * *, payments-refund-due */5 * * * *, payments-release-due */5 * * * *',
  'the payments jobs are scheduled: auto-completion, due releases and refunds, reconciliation');

-- Who may list and run jobs.
select tests.authenticate_as_anon();
select throws_ok($$select * from ops.scheduled_jobs()$$, '42501', 'permission denied for schema ops',
  'anon cannot list jobs');
select throws_ok($$select ops.run_scheduled_job('payments-release-due')$$,
  '42501', 'permission denied for schema ops',
  'anon cannot run a job');
select tests.authenticate_as(tests.get_user_id('jobs-user@example.com'));
select throws_ok($$select ops.run_scheduled_job('payments-release-due')$$,
  '42501', 'permission denied for schema ops',
  'a user cannot run a job');
select tests.authenticate_as(tests.get_user_id('jobs-admin@example.com'));
select throws_ok($$select * from ops.scheduled_jobs()$$, '42501', 'permission denied for schema ops',
  'an admin''s session cannot list jobs either (operators use the service role)');
select throws_ok($$select private.call_edge_function('payments-release')$$,
  '42501', 'permission denied for function call_edge_function',
  'a client cannot call an edge function with the service-role key');

select tests.authenticate_as_service_role();
select is((select count(*)::integer from ops.scheduled_jobs()), (select count(*)::integer from all_jobs), 'the service role lists every job');
select throws_ok($$select ops.run_scheduled_job(E'x\r\nSet-Cookie: a=b')$$, '22023',
  'a scheduled job''s name is lowercase letters, digits, - and _ (at most 63)',
  'a job name of another shape is refused before it could reach a message');
select throws_ok($$select ops.run_scheduled_job('no-such-job')$$, 'PT404', 'no scheduled job named no-such-job',
  'an unknown job is refused by name');

-- Running payments-release-due queues exactly one POST, sent when the transaction commits.
create temp table queued as select ops.run_scheduled_job('payments-release-due')::bigint as id;
select isnt((select id from queued), null, 'the service role runs payments-release-due at once and gets the request id');
select tests.clear_authentication();
select is((select q.url from net.http_request_queue q where q.id = (select id from queued)),
          (select rtrim(decrypted_secret, '/') from vault.decrypted_secrets where name = 'project_url') || '/functions/v1/payments-release',
          'the request goes to payments-release at the project URL from Vault');
select is((select convert_from(q.body, 'UTF8')::jsonb from net.http_request_queue q where q.id = (select id from queued)),
          '{"due": true, "limit": 100}'::jsonb, 'asking it to release what is due, 100 at most');
select is((select q.headers ->> 'Authorization' from net.http_request_queue q where q.id = (select id from queued)),
          'Bearer ' || (select decrypted_secret from vault.decrypted_secrets where name = 'service_role_key'),
          'with the service-role key from Vault');
select is((select count(*)::integer from net.http_request_queue q where q.xmin = pg_current_xact_id()::xid), 1,
  'and nothing else is queued by this transaction');
select is((select function_name from private.edge_function_calls where request_id = (select id from queued)), 'payments-release',
  'the call is logged with its function');
select is((select edge_function || ' pending: ' || (last_call_status is null) from ops.scheduled_jobs() where name = 'payments-release-due'),
  'payments-release pending: true', 'the job listing shows its function and that its latest call awaits an answer');

-- What goes wrong is said precisely.
select throws_ok($$select private.call_edge_function('../admin')$$, '22023', 'invalid edge function name: ../admin',
  'a function name that is not a plain slug is refused');
delete from vault.secrets where name = 'service_role_key';
select throws_ok($$select private.call_edge_function('payments-release')$$,
  '55000', 'the Vault secrets project_url and service_role_key are not set',
  'a project without the Vault secrets is told which');
select throws_ok($$select ops.run_scheduled_job('payments-reconcile')$$,
  '55000', 'the Vault secrets project_url and service_role_key are not set',
  'so is an operator running the reconcile job');

select * from finish();
rollback;
