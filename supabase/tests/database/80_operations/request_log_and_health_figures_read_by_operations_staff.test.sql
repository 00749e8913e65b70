-- The request log and the health figures: only the service role writes the log (a malformed
-- entry writes nothing of its batch), rows older than 24 hours are pruned; staff holding
-- operations.read (and the service role) read the API health figures, detailed health and
-- system stats, nobody else; anyone reads the public platform status.
begin;
select plan(27);

select tests.create_user('rl-user@example.com');
select tests.create_user('rl-staff@example.com');
select tests.grant_role('rl-staff@example.com', 'staff');
select tests.create_user('rl-moderator@example.com');
select tests.grant_role('rl-moderator@example.com', 'moderator');

-- A known log: 10 rest requests (one 500, two 404) and 2 function requests, now; one rest
-- request 2 hours ago (outside a 60-minute window); one 25 hours ago (beyond retention).
delete from private.request_log;
select tests.act_as('service_role');
select is(ops.record_requests(jsonb_build_array(
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/countries', 'status', 200, 'duration_ms', 10, 'role', 'anon', 'tier', 'anonymous'),
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/countries', 'status', 200, 'duration_ms', 20, 'role', 'anon'),
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/countries', 'status', 200, 'duration_ms', 30, 'role', 'anon'),
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/countries', 'status', 200, 'duration_ms', 40, 'role', 'anon'),
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/countries', 'status', 200, 'duration_ms', 50, 'role', 'anon'),
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/countries', 'status', 200, 'duration_ms', 60, 'role', 'anon'),
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/countries', 'status', 200, 'duration_ms', 70, 'role', 'anon'),
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/nothing', 'status', 404, 'duration_ms', 80, 'role', 'anon'),
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'POST', 'path', '/rest/v1/rpc/x', 'status', 404, 'duration_ms', 90, 'role', 'authenticated'),
  jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'POST', 'path', '/rest/v1/rpc/y', 'status', 500, 'duration_ms', 100, 'role', 'service_role'),
  jsonb_build_object('source', 'functions', 'route_class', 'functions', 'method', 'POST', 'path', '/functions/v1/accept-bid', 'status', 201, 'duration_ms', 300),
  jsonb_build_object('source', 'functions', 'route_class', 'functions', 'method', 'POST', 'path', '/functions/v1/accept-bid', 'status', 503, 'duration_ms', 500),
  jsonb_build_object('at', now() - interval '2 hours', 'source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/countries', 'status', 500, 'duration_ms', 9999),
  jsonb_build_object('at', now() - interval '25 hours', 'source', 'gateway', 'route_class', 'auth', 'method', 'POST', 'path', '/auth/v1/token', 'status', 200, 'duration_ms', 5)
)), 14, 'the service role writes a batch of 14 request-log rows in one call');

select throws_ok($$ select ops.record_requests(jsonb_build_array(
    jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/a', 'status', 200, 'duration_ms', 1),
    jsonb_build_object('source', 'gateway', 'route_class', 'graphql', 'method', 'GET', 'path', '/graphql/v1', 'status', 200, 'duration_ms', 1))) $$,
  '22023', 'a request entry is malformed: new row for relation "request_log" violates check constraint "request_log_route_class"',
  'an unknown route class is refused');
select throws_ok($$ select ops.record_requests(jsonb_build_array(
    jsonb_build_object('source', 'gateway', 'route_class', 'rest', 'method', 'GET', 'path', '/rest/v1/a?select=secret', 'status', 200, 'duration_ms', 1))) $$,
  '22023', 'a request entry is malformed: new row for relation "request_log" violates check constraint "request_log_path"',
  'a path with a query string is refused');
select throws_ok($$ select ops.record_requests('{"not": "an array"}') $$,
  '22023', 'entries must be a JSON array of requests', 'entries that are not an array are refused');
select tests.clear_authentication();
select is((select count(*) from private.request_log), 14::bigint, 'a refused batch wrote nothing');

select tests.act_as('rl-user@example.com');
select throws_ok($$ select ops.record_requests('[]') $$, '42501', 'permission denied for schema ops',
  'a signed-in user cannot write the log');
select tests.act_as('anon');
select throws_ok($$ select ops.record_requests('[]') $$, '42501', 'permission denied for schema ops',
  'anon cannot write the log');
select throws_ok($$ select * from private.request_log $$, '42501', 'permission denied for table request_log',
  'anon cannot read the log');

-- The figures over the last hour: 12 requests, 2 of them 5xx and 2 4xx.
select tests.act_as('rl-staff@example.com');
select is(public.api_health(60) -> 'totals' -> 'requests', '12'::jsonb, 'staff read 12 requests in the last hour');
select is(public.api_health(60) -> 'totals' -> 'errors_5xx', '2'::jsonb, 'two of them 5xx');
select is(public.api_health(60) -> 'totals' -> 'errors_4xx', '2'::jsonb, 'two of them 4xx');
select is(public.api_health(60) -> 'totals' ->> 'error_rate_5xx', '0.1667', 'the 5xx rate is 2/12');
select is(
  (select c from jsonb_array_elements(public.api_health(60) -> 'by_route_class') c where c ->> 'route_class' = 'rest'),
  jsonb_build_object('route_class', 'rest', 'requests', 10, 'errors_5xx', 1, 'errors_4xx', 2,
                     'error_rate_5xx', 0.1000, 'error_rate_4xx', 0.2000, 'avg_ms', 55.00,
                     'p50_ms', 55.00, 'p95_ms', 95.50, 'p99_ms', 99.10),
  'per route class: rest has its count, error rates, average and percentiles (interpolated)');
select is(public.api_health(180) -> 'totals' -> 'requests', '13'::jsonb, 'a three-hour window takes the older request in');
select ok((public.api_health() -> 'uptime_seconds')::bigint >= 0
          and (public.api_health() -> 'database' ->> 'max_connections')::integer > 0
          and (public.api_health() -> 'database' -> 'longest_transaction_seconds') is not null,
  'uptime and database health come with the figures');
select throws_ok($$ select public.api_health(0) $$, '22023',
  'window_minutes must be between 1 and 1440 (the request log keeps 24 hours), got 0', 'a zero window is refused');
select throws_ok($$ select public.api_health(1441) $$, '22023',
  'window_minutes must be between 1 and 1440 (the request log keeps 24 hours), got 1441', 'a window beyond retention is refused');
select ok(jsonb_typeof(public.health_details() -> 'scheduled_jobs') = 'array'
          and public.health_details() -> 'outbox' ? 'unprocessed_events'
          and public.health_details() -> 'scheduled_jobs' @> '[{"name": "operations-prune-request-log"}]',
  'staff read the detailed health: jobs (the log''s pruning among them) and the outbox lag');
select ok((public.system_stats(5) -> 'database' ->> 'size_bytes')::bigint > 0
          and jsonb_array_length(public.system_stats(5) -> 'tables') = 5
          and public.system_stats(5) -> 'statements' ? 'available',
  'staff read the system stats: size, the 5 largest tables, whether statements are available');
select throws_ok($$ select public.system_stats(0) $$, '22023', 'table_limit must be between 1 and 200, got 0',
  'a table limit of 0 is refused');

select tests.act_as('rl-user@example.com');
select throws_ok($$ select public.api_health(60) $$, '42501',
  'reading the platform''s health and figures needs the operations.read permission', 'a user cannot read the figures');
select throws_ok($$ select public.health_details() $$, '42501',
  'reading the platform''s health and figures needs the operations.read permission', 'nor the detailed health');
select tests.act_as('rl-moderator@example.com');
select throws_ok($$ select public.system_stats() $$, '42501',
  'reading the platform''s health and figures needs the operations.read permission', 'a moderator cannot read the stats');
select tests.act_as('anon');
select throws_ok($$ select public.api_health(60) $$, '42501', 'permission denied for function api_health',
  'anon cannot call the figures');
select is(public.platform_status() ->> 'database', 'up', 'anon reads the public platform status');

select tests.act_as('service_role');
select is(public.api_health(60) -> 'totals' -> 'requests', '12'::jsonb, 'the service role reads the figures too');

select tests.clear_authentication();
select is(private.prune_request_log(), 1, 'pruning removes the row older than 24 hours');

select * from finish();
rollback;
