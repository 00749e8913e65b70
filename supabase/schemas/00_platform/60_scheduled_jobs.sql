-- Scheduled jobs. pg_cron runs them inside the database; work that needs code outside it
-- (calling Stripe) is an edge function, which a job starts by POSTing to it through pg_net
-- with the service-role key. The project URL and that key are read from Vault at run time,
-- so no migration, dump or cron.job row holds the key:
--
--   select vault.create_secret('https://<project-ref>.supabase.co', 'project_url');
--   select vault.create_secret('<service role key>', 'service_role_key');
--
-- (The Docker-less local stack stores its own after each reset and stands in for pg_net and
-- Vault; see sql/baseline.) Operators list the jobs and run one at once with
-- ops.scheduled_jobs() and ops.run_scheduled_job(), service role only (the admin CLI's
-- `jobs` command). pg_cron marks a job that calls a function as succeeded once the request is
-- queued; each call is therefore logged with its function, and scheduled_jobs() shows what the
-- function answered the latest one (from pg_net's net._http_response, kept six hours).

create table private.edge_function_calls (
  request_id bigint primary key,
  function_name text not null,
  called_at timestamptz not null default now()
);
create index edge_function_calls_function_idx on private.edge_function_calls (function_name, called_at desc);
comment on table private.edge_function_calls is
  'pg_net request ids of private.call_edge_function calls, by function; kept 7 days.';

create function private.call_edge_function(
  function_name text,
  body jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 120000
) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  project_url text;
  service_role_key text;
  request_id bigint;
begin
  if function_name is null or function_name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' then
    raise exception 'invalid edge function name: %', coalesce(function_name, 'null') using errcode = '22023';
  end if;
  if to_regnamespace('net') is null or to_regnamespace('vault') is null then
    raise exception 'calling edge functions needs the pg_net and supabase_vault extensions'
      using errcode = '55000';
  end if;
  select s.decrypted_secret into project_url from vault.decrypted_secrets s where s.name = 'project_url';
  select s.decrypted_secret into service_role_key from vault.decrypted_secrets s where s.name = 'service_role_key';
  if project_url is null or service_role_key is null then
    raise exception 'the Vault secrets project_url and service_role_key are not set'
      using errcode = '55000',
            hint = 'select vault.create_secret(''https://<project-ref>.supabase.co'', ''project_url''); '
                || 'select vault.create_secret(''<service role key>'', ''service_role_key'');';
  end if;
  request_id := net.http_post(
    url => rtrim(project_url, '/') || '/functions/v1/' || function_name,
    body => body,
    headers => jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || service_role_key),
    timeout_milliseconds => timeout_milliseconds
  );
  delete from private.edge_function_calls c where c.called_at < now() - interval '7 days';
  insert into private.edge_function_calls (request_id, function_name) values (request_id, function_name);
  return request_id;
end
$$;

comment on function private.call_edge_function(text, jsonb, integer) is
  'Queues a POST to an edge function with the service-role key (pg_net; sent when the transaction commits) and returns the request id, whose answer lands in net._http_response. URL and key come from Vault.';
revoke execute on function private.call_edge_function(text, jsonb, integer) from public;

-- pg_net's answer to a request, if it has one; a database without pg_net has none.
create function private.edge_function_answer(request_id bigint, out status_code integer, out error_msg text)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if request_id is null or to_regclass('net._http_response') is null then
    return;
  end if;
  execute 'select r.status_code, r.error_msg from net._http_response r where r.id = $1'
    into status_code, error_msg using request_id;
end
$$;
revoke execute on function private.edge_function_answer(bigint) from public;

create function ops.scheduled_jobs()
returns table (
  name text, schedule text, active boolean, command text,
  last_started_at timestamptz, last_finished_at timestamptz, last_status text, last_message text,
  edge_function text, last_call_at timestamptz, last_call_status integer, last_call_error text
)
language sql
stable
security definer
set search_path = ''
as $$
  select j.jobname::text, j.schedule::text, j.active, j.command::text,
         r.start_time, r.end_time, r.status::text, r.return_message::text,
         f.name, c.called_at, a.status_code, a.error_msg
    from cron.job j
    left join lateral (
      select d.start_time, d.end_time, d.status, d.return_message
        from cron.job_run_details d
       where d.jobid = j.jobid
       order by d.start_time desc nulls last
       limit 1
    ) r on true
    cross join lateral (select substring(j.command from 'call_edge_function\(''([a-z0-9_-]+)''') as name) f
    left join lateral (
      select ec.request_id, ec.called_at from private.edge_function_calls ec
       where ec.function_name = f.name
       order by ec.called_at desc
       limit 1
    ) c on true
    left join lateral private.edge_function_answer(c.request_id) a on true
   order by j.jobname
$$;
comment on function ops.scheduled_jobs() is
  'Every pg_cron job with its schedule and its last run; for a job that calls an edge function, also the answer to the latest call (HTTP status or pg_net''s error; null while pending or after pg_net forgot it). Service role only.';
revoke execute on function ops.scheduled_jobs() from public;
grant execute on function ops.scheduled_jobs() to service_role;

create function ops.run_scheduled_job(job_name text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  job_command text;
  result text;
begin
  -- A PTxyz message becomes the HTTP reason phrase as it is: it may name only a job name of
  -- the plain shape checked here, never arbitrary caller text.
  if job_name is null or job_name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' then
    raise exception 'a scheduled job''s name is lowercase letters, digits, - and _ (at most 63)'
      using errcode = '22023';
  end if;
  select j.command into job_command from cron.job j where j.jobname = job_name;
  if job_command is null then
    raise exception 'no scheduled job named %', job_name using errcode = 'PT404';
  end if;
  -- The job's own command, as pg_cron would run it; a select's first value is returned
  -- (a count of completed orders, a pg_net request id).
  execute job_command into result;
  return result;
end
$$;
comment on function ops.run_scheduled_job(text) is
  'Runs a pg_cron job''s command now, in the caller''s transaction, and returns its first value (the job keeps its schedule). Service role only: for operators and tests.';
revoke execute on function ops.run_scheduled_job(text) from public;
grant execute on function ops.run_scheduled_job(text) to service_role;
