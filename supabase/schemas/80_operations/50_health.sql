-- ---------------------------------------------------------------------------------------
-- Health, version and system stats: what the health function (functions/health) answers for
-- 003's GET /health, /health/detailed, /version and /admin/system/stats, and 004's
-- /api/admin/metrics/health (public.api_health). The staff reads need operations.read
-- (reference data: admin and staff); the service role (admin CLI) may call them too.

create function private.assert_operations_reader() returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not (private.is_service_role() or private.has_permission('operations.read')) then
    raise exception 'reading the platform''s health and figures needs the operations.read permission'
      using errcode = '42501';
  end if;
end
$$;
comment on function private.assert_operations_reader() is
  'Refuses (42501) a caller who neither holds operations.read nor is the service role.';
revoke execute on function private.assert_operations_reader() from public;
grant execute on function private.assert_operations_reader() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- The database's own health.

create function private.database_health() returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'status', 'up',
    'started_at', pg_catalog.pg_postmaster_start_time(),
    'uptime_seconds', floor(extract(epoch from now() - pg_catalog.pg_postmaster_start_time()))::bigint,
    'connections', (select count(*) from pg_catalog.pg_stat_activity a where a.backend_type = 'client backend'),
    'max_connections', pg_catalog.current_setting('max_connections')::integer,
    'connection_usage', round(
      (select count(*) from pg_catalog.pg_stat_activity a where a.backend_type = 'client backend')::numeric
        / pg_catalog.current_setting('max_connections')::integer, 3),
    'replication', (
      select case when count(*) = 0 then jsonb_build_object('replicas', 0, 'note', 'n/a: no replica streams from this database')
             else jsonb_build_object('replicas', count(*),
                    'max_replay_lag_seconds', max(extract(epoch from r.replay_lag)))
             end
        from pg_catalog.pg_stat_replication r),
    'longest_transaction_seconds', (
      select coalesce(round(max(extract(epoch from now() - a.xact_start))::numeric, 3), 0)
        from pg_catalog.pg_stat_activity a
       where a.xact_start is not null and a.pid <> pg_catalog.pg_backend_pid()
         and a.backend_type = 'client backend')
  )
$$;
comment on function private.database_health() is
  'The database''s health: up since the postmaster started (the uptime of every figure here), client '
  'connections against max_connections, replicas (n/a without any), the longest open transaction of another '
  'session. Read past RLS by its owner; callers are checked by the public RPCs that use it.';
revoke execute on function private.database_health() from public;

-- ---------------------------------------------------------------------------------------
-- 004 GET /api/admin/metrics/health: the API health figures over a window of the request log.

create function private.api_health(window_minutes integer default 60) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  since timestamptz;
  figures jsonb;
  by_class jsonb;
begin
  perform private.assert_operations_reader();
  if window_minutes is null or window_minutes < 1
     or window_minutes > extract(epoch from private.request_log_retention()) / 60 then
    raise exception 'window_minutes must be between 1 and % (the request log keeps 24 hours), got %',
      (extract(epoch from private.request_log_retention()) / 60)::integer, window_minutes
      using errcode = '22023';
  end if;
  since := now() - make_interval(mins => window_minutes);

  select jsonb_build_object(
           'requests', count(*),
           'errors_5xx', count(*) filter (where l.status >= 500),
           'errors_4xx', count(*) filter (where l.status between 400 and 499),
           'error_rate_5xx', case when count(*) = 0 then 0
                             else round((count(*) filter (where l.status >= 500))::numeric / count(*), 4) end,
           'error_rate_4xx', case when count(*) = 0 then 0
                             else round((count(*) filter (where l.status between 400 and 499))::numeric / count(*), 4) end,
           'avg_ms', round(coalesce(avg(l.duration_ms), 0)::numeric, 2),
           'p50_ms', round(coalesce(percentile_cont(0.5) within group (order by l.duration_ms), 0)::numeric, 2),
           'p95_ms', round(coalesce(percentile_cont(0.95) within group (order by l.duration_ms), 0)::numeric, 2),
           'p99_ms', round(coalesce(percentile_cont(0.99) within group (order by l.duration_ms), 0)::numeric, 2))
    into figures
    from private.request_log l
   where l.at >= since;

  select coalesce(jsonb_agg(c order by c ->> 'route_class'), '[]'::jsonb)
    into by_class
    from (
      select jsonb_build_object(
               'route_class', l.route_class,
               'requests', count(*),
               'errors_5xx', count(*) filter (where l.status >= 500),
               'errors_4xx', count(*) filter (where l.status between 400 and 499),
               'error_rate_5xx', round((count(*) filter (where l.status >= 500))::numeric / count(*), 4),
               'error_rate_4xx', round((count(*) filter (where l.status between 400 and 499))::numeric / count(*), 4),
               'avg_ms', round(avg(l.duration_ms)::numeric, 2),
               'p50_ms', round((percentile_cont(0.5) within group (order by l.duration_ms))::numeric, 2),
               'p95_ms', round((percentile_cont(0.95) within group (order by l.duration_ms))::numeric, 2),
               'p99_ms', round((percentile_cont(0.99) within group (order by l.duration_ms))::numeric, 2)) as c
        from private.request_log l
       where l.at >= since
       group by l.route_class
    ) classes;

  return jsonb_build_object(
    'window', jsonb_build_object('minutes', window_minutes, 'from', since, 'to', now()),
    'uptime_seconds', floor(extract(epoch from now() - pg_catalog.pg_postmaster_start_time()))::bigint,
    'started_at', pg_catalog.pg_postmaster_start_time(),
    'totals', figures,
    'by_route_class', by_class,
    'database', private.database_health()
  );
end
$$;
comment on function private.api_health(integer) is
  'The body of the client RPC public.api_health: security definer, in private so the API does not expose it.';
revoke execute on function private.api_health(integer) from public;
grant execute on function private.api_health(integer) to authenticated, service_role;

create function public.api_health(window_minutes integer default 60) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.api_health(window_minutes)
$$;
comment on function public.api_health(integer) is
  '004 GET /api/admin/metrics/health: over the last window_minutes (1..1440) of the request log, requests, '
  '5xx and 4xx counts and rates, average and p50/p95/p99 latency in ms, in total and per route class (rest, '
  'auth, storage, functions, realtime); uptime (since the database server started); database health '
  '(connections against max_connections, replicas, the longest open transaction). operations.read.';
grant execute on function public.api_health(integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Public status and version: what GET /health and GET /version add to the functions' own.

create function private.platform_status() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  latest jsonb;
  maintenance jsonb;
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    execute 'select jsonb_build_object(''version'', m.version, ''name'', m.name)
               from supabase_migrations.schema_migrations m order by m.version desc limit 1'
      into latest;
  end if;
  -- The operations domain's maintenance switch (public.maintenance_status), when it is there.
  if to_regprocedure('public.maintenance_status()') is not null then
    execute 'select to_jsonb(m) from public.maintenance_status() m limit 1' into maintenance;
  end if;
  return jsonb_build_object('database', 'up', 'latest_migration', latest, 'maintenance', maintenance);
end
$$;
comment on function private.platform_status() is
  'The body of the client RPC public.platform_status: security definer, in private so the API does not expose it.';
revoke execute on function private.platform_status() from public;
grant execute on function private.platform_status() to anon, authenticated, service_role;

create function public.platform_status() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.platform_status()
$$;
comment on function public.platform_status() is
  'Public: the database is up, the latest migration applied (from supabase_migrations.schema_migrations, '
  'which the Supabase CLI writes here and on hosted projects) and the maintenance state '
  '(public.maintenance_status()). GET /health and GET /version report it.';
grant execute on function public.platform_status() to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- 003 GET /health/detailed: the database's part (the health function adds each service's
-- reachability and Stripe's).

create function private.health_details() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  jobs jsonb;
begin
  perform private.assert_operations_reader();
  select coalesce(jsonb_agg(jsonb_build_object(
           'name', j.name, 'schedule', j.schedule, 'active', j.active,
           'last_started_at', j.last_started_at, 'last_finished_at', j.last_finished_at,
           'last_status', j.last_status, 'last_call_status', j.last_call_status,
           'last_call_error', j.last_call_error) order by j.name), '[]'::jsonb)
    into jobs
    from ops.scheduled_jobs() j;
  return jsonb_build_object(
    'database', private.database_health(),
    'platform', private.platform_status(),
    'scheduled_jobs', jobs,
    'outbox', jsonb_build_object(
      'unprocessed_events', (select count(*) from private.domain_events e where e.processed_at is null),
      'oldest_unprocessed_seconds', (
        select coalesce(round(extract(epoch from now() - min(e.created_at))::numeric, 3), 0)
          from private.domain_events e where e.processed_at is null),
      'pending_notifications', (
        select count(*) from private.notification_deliveries d where d.status = 'pending'),
      'oldest_due_notification_seconds', (
        select coalesce(round(extract(epoch from now() - min(d.next_attempt_at))::numeric, 3), 0)
          from private.notification_deliveries d where d.status = 'pending' and d.next_attempt_at <= now()),
      'queued_emails', (
        select count(*) from public.email_deliveries m where m.status in ('queued', 'sending')),
      'oldest_queued_email_seconds', (
        select coalesce(round(extract(epoch from now() - min(m.created_at))::numeric, 3), 0)
          from public.email_deliveries m where m.status in ('queued', 'sending'))
    )
  );
end
$$;
comment on function private.health_details() is
  'The body of the client RPC public.health_details: security definer, in private so the API does not expose it.';
revoke execute on function private.health_details() from public;
grant execute on function private.health_details() to authenticated, service_role;

create function public.health_details() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.health_details()
$$;
comment on function public.health_details() is
  '003 GET /health/detailed, the database''s part: database health, latest migration and maintenance, every '
  'pg_cron job''s last run, and the outbox lag (domain events not yet consumed, notification deliveries '
  'and e-mails waiting, and how long the oldest has waited). operations.read.';
grant execute on function public.health_details() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- 003 GET /admin/system/stats.

create function private.system_stats(table_limit integer default 20) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  statements_schema text;
  statements jsonb;
  tables jsonb;
begin
  perform private.assert_operations_reader();
  if table_limit is null or table_limit < 1 or table_limit > 200 then
    raise exception 'table_limit must be between 1 and 200, got %', table_limit using errcode = '22023';
  end if;

  select coalesce(jsonb_agg(t order by (t ->> 'total_bytes')::bigint desc), '[]'::jsonb)
    into tables
    from (
      select jsonb_build_object(
               'schema', n.nspname, 'name', c.relname,
               'total_bytes', pg_catalog.pg_total_relation_size(c.oid),
               'table_bytes', pg_catalog.pg_relation_size(c.oid),
               'index_bytes', pg_catalog.pg_indexes_size(c.oid),
               'row_estimate', case when c.reltuples < 0 then null else c.reltuples::bigint end) as t
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p', 'm')
         and n.nspname in ('public', 'private', 'ops', 'auth', 'storage', 'realtime', 'cron')
       order by pg_catalog.pg_total_relation_size(c.oid) desc
       limit table_limit
    ) sized;

  select n.nspname into statements_schema
    from pg_catalog.pg_extension x join pg_catalog.pg_namespace n on n.oid = x.extnamespace
   where x.extname = 'pg_stat_statements';
  if statements_schema is null then
    statements := jsonb_build_object('available', false,
      'note', 'pg_stat_statements is not installed in this database (hosted Supabase has it; locally it is absent)');
  else
    begin
      execute format(
        'select coalesce(jsonb_agg(s), ''[]''::jsonb) from (
           select left(s.query, 500) as query, s.calls, round(s.mean_exec_time::numeric, 3) as mean_ms,
                  round(s.total_exec_time::numeric, 3) as total_ms, s.rows
             from %I.pg_stat_statements s
            order by s.mean_exec_time desc
            limit 10) s', statements_schema)
        into statements;
      statements := jsonb_build_object('available', true, 'slowest', statements);
    exception when others then
      statements := jsonb_build_object('available', false, 'note', 'pg_stat_statements cannot be read: ' || sqlerrm);
    end;
  end if;

  return jsonb_build_object(
    'database', jsonb_build_object(
      'name', current_database(),
      'size_bytes', pg_catalog.pg_database_size(current_database()),
      'version', pg_catalog.current_setting('server_version')),
    'connections', (
      select jsonb_build_object(
               'total', coalesce(sum(s.n), 0),
               'max', pg_catalog.current_setting('max_connections')::integer,
               'by_state', coalesce(jsonb_object_agg(s.state, s.n), '{}'::jsonb))
        from (select coalesce(a.state, 'unknown') as state, count(*) as n
                from pg_catalog.pg_stat_activity a
               where a.backend_type = 'client backend'
               group by 1) s
    ),
    'cache_hit_ratio', (
      select case when d.blks_hit + d.blks_read = 0 then null
                  else round(d.blks_hit::numeric / (d.blks_hit + d.blks_read), 4) end
        from pg_catalog.pg_stat_database d where d.datname = current_database()),
    'tables', tables,
    'statements', statements
  );
end
$$;
comment on function private.system_stats(integer) is
  'The body of the client RPC public.system_stats: security definer, in private so the API does not expose it.';
revoke execute on function private.system_stats(integer) from public;
grant execute on function private.system_stats(integer) to authenticated, service_role;

create function public.system_stats(table_limit integer default 20) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.system_stats(table_limit)
$$;
comment on function public.system_stats(integer) is
  '003 GET /admin/system/stats: database size and version, client connections by state against '
  'max_connections, the buffer cache hit ratio, the table_limit (1..200) largest tables with their sizes and '
  'row estimates, and the slowest statements by mean time when pg_stat_statements is installed (hosted '
  'Supabase; absent locally, and said so). operations.read.';
grant execute on function public.system_stats(integer) to authenticated, service_role;
