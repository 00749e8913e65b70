-- ---------------------------------------------------------------------------------------
-- The request log: one row per API request, what 004's API health figures are computed from
-- (public.api_health, 50_health.sql). Written in batches, off the request path:
--   * the local gateway (stack/request-log.ts) buffers rows of rest, auth, storage and realtime
--     requests and inserts them through its pooled connection every second (or every 500 rows);
--   * the edge functions (functions/_shared/platform/request-log.ts, called from createHandler)
--     buffer one row per function request and send them through ops.record_requests, locally
--     and on hosted Supabase alike.
-- The gateway leaves /functions/v1 to the functions, so a function request is one row. Hosted
-- Supabase has no gateway of ours: its rest, auth, storage and realtime requests are in its own
-- logs (Logs Explorer, Logflare: edge_logs, postgrest_logs, auth_logs, ...), not in this table.
-- Bounded: rows older than 24 hours are deleted by the pg_cron job operations-prune-request-log
-- (private.prune_request_log, every 10 minutes).

create table private.request_log (
  id bigint generated always as identity primary key,
  at timestamptz not null,
  source text not null constraint request_log_source check (source in ('gateway', 'functions')),
  route_class text not null
    constraint request_log_route_class check (route_class in ('rest', 'auth', 'storage', 'functions', 'realtime')),
  method text not null constraint request_log_method check (method ~ '^[A-Z]{1,10}$'),
  path text not null constraint request_log_path check (path <> '' and length(path) <= 200 and path !~ '[?#]'),
  status smallint not null constraint request_log_status check (status between 100 and 599),
  duration_ms real not null constraint request_log_duration check (duration_ms >= 0),
  role text constraint request_log_role check (role in ('anon', 'authenticated', 'service_role')),
  tier text
);
comment on table private.request_log is
  'One row per API request (the gateway: rest, auth, storage, realtime; the edge functions: functions), '
  'for the API health figures. No user id, query string or token: a path template and the caller''s role '
  'and rate-limit tier only. Kept 24 hours (private.prune_request_log).';
comment on column private.request_log.path is
  'The route, never the request''s own values: /rest/v1/<table> or /rest/v1/rpc/<function>, a Storage path '
  'up to its bucket followed by *, ids replaced by :id, a function''s slug. No query string.';
comment on column private.request_log.tier is
  'The caller''s rate-limit tier as the writer knew it (anonymous, standard, premium, staff, admin), or null.';
create index request_log_at_idx on private.request_log (at);
grant select on private.request_log to service_role;

create function private.request_log_retention() returns interval
language sql
immutable
set search_path = ''
as $$
  select interval '24 hours'
$$;
comment on function private.request_log_retention() is
  'How long the request log keeps its rows; public.api_health answers windows up to this long.';
revoke execute on function private.request_log_retention() from public;

create function ops.record_requests(entries jsonb) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  written integer;
begin
  if entries is null or jsonb_typeof(entries) <> 'array' then
    raise exception 'entries must be a JSON array of requests' using errcode = '22023';
  end if;
  if jsonb_array_length(entries) > 5000 then
    raise exception 'at most 5000 requests per call, got %', jsonb_array_length(entries) using errcode = '22023';
  end if;
  insert into private.request_log (at, source, route_class, method, path, status, duration_ms, role, tier)
  select coalesce(e.at, now()), e.source, e.route_class, e.method, left(e.path, 200), e.status,
         greatest(e.duration_ms, 0), e.role, e.tier
    from jsonb_to_recordset(entries) as e(
      at timestamptz, source text, route_class text, method text, path text, status smallint,
      duration_ms real, role text, tier text
    );
  get diagnostics written = row_count;
  return written;
exception
  when check_violation or not_null_violation or invalid_text_representation
    or numeric_value_out_of_range or invalid_datetime_format then
    raise exception 'a request entry is malformed: %', sqlerrm using errcode = '22023';
end
$$;
comment on function ops.record_requests(jsonb) is
  'Appends a batch of request-log rows: [{at, source, route_class, method, path, status, duration_ms, role, tier}]. '
  'Called by the edge functions'' request log (and, with its own connection, the local gateway). 22023 for a '
  'malformed entry: nothing of the batch is written. Service role only.';
revoke execute on function ops.record_requests(jsonb) from public;
grant execute on function ops.record_requests(jsonb) to service_role;

create function private.prune_request_log() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  removed integer;
begin
  delete from private.request_log where at < now() - private.request_log_retention();
  get diagnostics removed = row_count;
  return removed;
end
$$;
comment on function private.prune_request_log() is
  'Deletes request-log rows older than the retention (24 hours); the pg_cron job operations-prune-request-log '
  'runs it every 10 minutes.';
revoke execute on function private.prune_request_log() from public;
