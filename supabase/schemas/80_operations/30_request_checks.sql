-- Where the limits and maintenance mode are enforced in the database:
--
--   private.check_request         PostgREST's pre-request hook (db-pre-request, set on the
--                                 authenticator role by the operations reference-data
--                                 migration): api_write and maintenance for PostgREST writes
--   check_function_request        what every edge function asks first (function class and
--                                 maintenance), functions/_shared/platform/limits.ts
--   "Uploads within the rate limit"  a restrictive insert policy on storage.objects (upload)
--
-- Refusals that must carry headers (429 with Retry-After and X-RateLimit-*, 503 with
-- Retry-After) are raised as PostgREST's PGRST form (message: the body as JSON, detail: status
-- and headers as JSON): set_config('response.headers', …) is rolled back with the refused
-- transaction, and a PTxyz raise cannot set headers. The body keeps PostgREST's shape
-- ({ code, message, details, hint }) with code PT429 or PT503, as a PTxyz raise would answer.

-- The 429 refusal of a counted request (a count_rate_limit answer with allowed false).
create function private.raise_rate_limited(hit jsonb) returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = json_build_object(
      'code', 'PT429',
      'message', format('rate limit reached: %s %s requests per %s for the %s tier; retry in %s s',
                        hit ->> 'limit', hit ->> 'class',
                        case when (hit ->> 'window')::integer = 3600 then 'hour' else 'minute' end,
                        hit ->> 'tier', hit ->> 'retry_after'),
      'details', null, 'hint', null)::text,
    detail = json_build_object(
      'status', 429, 'status_text', 'Too Many Requests',
      'headers', json_build_object(
        'Retry-After', hit ->> 'retry_after',
        'X-RateLimit-Limit', hit ->> 'limit',
        'X-RateLimit-Remaining', '0',
        'X-RateLimit-Reset', hit ->> 'reset',
        'RateLimit-Policy', format('"%s";q=%s;w=%s', hit ->> 'class', hit ->> 'limit', hit ->> 'window'),
        'RateLimit', format('"%s";r=0;t=%s', hit ->> 'class', hit ->> 'reset')))::text;
end
$$;
comment on function private.raise_rate_limited(jsonb) is
  'Raises PostgREST''s 429 for a refused count (PGRST form: body code PT429, Retry-After and the X-RateLimit-* headers).';
grant execute on function private.raise_rate_limited(jsonb) to anon, authenticated, service_role;

-- The 503 refusal while maintenance mode is on.
create function private.raise_in_maintenance(status jsonb) returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = json_build_object('code', 'PT503', 'message', status ->> 'message',
                                'details', case when status ->> 'ends_at' is not null
                                                then 'maintenance is expected to end at ' || (status ->> 'ends_at')
                                                else 'maintenance mode is on' end,
                                'hint', 'Reads continue; writes are back when maintenance ends')::text,
    detail = json_build_object('status', 503, 'status_text', 'Service Unavailable',
                               'headers', json_build_object('Retry-After', status ->> 'retry_after'))::text;
end
$$;
comment on function private.raise_in_maintenance(jsonb) is
  'Raises PostgREST''s 503 for a write refused in maintenance mode (PGRST form: body code PT503 with the message, Retry-After).';
grant execute on function private.raise_in_maintenance(jsonb) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- PostgREST's pre-request hook. It runs in every request's transaction after the role is set:
-- GET and HEAD (and stable RPCs called by POST) run read-only, where nothing can be counted, so
-- they return at once (reads are the gateway's, issue 19 part B). The service role returns at
-- once too. Every other request: maintenance first, then the api_write count of the caller's
-- tier (unlimited tiers: nothing counted), and the headers on the answer.
create function private.check_request() returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid;
  address inet;
  subject_tier text;
  maintenance public.maintenance_mode;
  hit jsonb;
begin
  if current_setting('request.method', true) in ('GET', 'HEAD')
     or current_setting('transaction_read_only') = 'on'
     or private.is_service_role()
     or current_setting('request.path', true) = '/rpc/check_function_request' then
    return;
  end if;
  caller := auth.uid();
  if caller is null then
    address := private.request_address();
  end if;
  subject_tier := private.rate_limit_tier(caller, address);
  select * into maintenance from public.maintenance_mode m where m.enabled;
  if found and not private.bypasses_maintenance(subject_tier) then
    perform private.raise_in_maintenance(private.maintenance_json(maintenance));
  end if;
  if (select t.unlimited from public.rate_limit_tiers t where t.tier = subject_tier) then
    return;
  end if;
  hit := private.count_rate_limit('api_write', subject_tier, coalesce(caller::text, host(address)));
  if (hit ->> 'allowed')::boolean is false then
    perform private.raise_rate_limited(hit);
  end if;
  perform set_config('response.headers', private.rate_limit_headers(hit)::text, true);
end
$$;
comment on function private.check_request() is
  'PostgREST db-pre-request hook: for writes by anyone but the service role, refuses 503 in maintenance mode (staff excepted) and counts api_write for the caller''s tier (429 past the limit), setting X-RateLimit-* and RateLimit headers. Reads return at once.';
revoke execute on function private.check_request() from public;
grant execute on function private.check_request() to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- The edge functions' check: one call per request, as the caller (their JWT, or the anon key
-- with the client's X-Forwarded-For passed on). Answers what the function does:
--   { status: 200, headers } go on, adding the headers to the answer
--   { status: 429, message, retry_after, headers } refuse (rate_limited)
--   { status: 503, message, retry_after, headers } refuse (maintenance: writes by non-staff)
-- headers: the X-RateLimit-* and RateLimit fields as one object ({} when unlimited).
-- The pre-request hook leaves this RPC alone (it counts the function class, not api_write).

-- Body of public.check_function_request.
create function private.check_function_request(function_name text, method text) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  address inet;
  subject_tier text;
  maintenance public.maintenance_mode;
  status jsonb;
  hit jsonb;
  headers jsonb;
begin
  if function_name is null or function_name !~ '^[a-z][a-z0-9-]{1,62}$' then
    raise exception 'function_name must be a function slug' using errcode = '22023';
  end if;
  if caller is null then
    address := private.request_address();
  end if;
  subject_tier := private.rate_limit_tier(caller, address);
  if upper(coalesce(method, 'POST')) not in ('GET', 'HEAD') then
    select * into maintenance from public.maintenance_mode m where m.enabled;
    if found and not private.bypasses_maintenance(subject_tier) then
      status := private.maintenance_json(maintenance);
      return jsonb_build_object('status', 503, 'message', status ->> 'message', 'retry_after', status -> 'retry_after',
                                'headers', jsonb_build_object('Retry-After', status ->> 'retry_after'));
    end if;
  end if;
  if (select t.unlimited from public.rate_limit_tiers t where t.tier = subject_tier) then
    return jsonb_build_object('status', 200, 'headers', '{}'::jsonb);
  end if;
  hit := private.count_rate_limit('function', subject_tier, coalesce(caller::text, host(address)));
  select coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb) into headers
    from jsonb_array_elements(private.rate_limit_headers(hit)) h, jsonb_each(h) e;
  if (hit ->> 'allowed')::boolean is false then
    return jsonb_build_object(
      'status', 429, 'retry_after', hit -> 'retry_after',
      'message', format('rate limit reached: %s function requests per %s for the %s tier; retry in %s s',
                        hit ->> 'limit', case when (hit ->> 'window')::integer = 3600 then 'hour' else 'minute' end,
                        subject_tier, hit ->> 'retry_after'),
      'headers', headers || jsonb_build_object('Retry-After', hit ->> 'retry_after', 'X-RateLimit-Remaining', '0'));
  end if;
  return jsonb_build_object('status', 200, 'headers', headers);
end
$$;
comment on function private.check_function_request(text, text) is 'Body of public.check_function_request.';
revoke execute on function private.check_function_request(text, text) from public;
grant execute on function private.check_function_request(text, text) to anon, authenticated, service_role;

create function public.check_function_request(function_name text, method text) returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$ select private.check_function_request(function_name, method) $$;
comment on function public.check_function_request(text, text) is
  'What an edge function asks before it works: counts the caller''s function request (429 past the limit) and refuses writes by non-staff in maintenance mode (503); answers status, headers, message and retry_after.';
revoke execute on function public.check_function_request(text, text) from public;
grant execute on function public.check_function_request(text, text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Uploads: the upload class, counted once per insert into storage.objects by a signed-in user
-- (anon uploads nothing: no bucket lets it). A restrictive policy, so it narrows what every
-- bucket's own insert policy allows and works the same on hosted Supabase; past the limit
-- the insert is refused as any policy refusal is (Storage's 403 "new row violates row-level
-- security policy"). Storage answers a policy refusal itself, so no 429 or headers can come
-- from here: the gateway counts uploads first and answers 429 with them (stack/read-limits.ts;
-- Kong's rate-limiting plugin when self-hosted), and this policy is the backstop where no
-- gateway of ours stands, as on hosted Supabase (docs/domains/operations.md, Uploads).

create function private.upload_allowed() returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  subject_tier text;
begin
  if caller is null then
    return true;
  end if;
  subject_tier := private.rate_limit_tier(caller, null);
  if (select t.unlimited from public.rate_limit_tiers t where t.tier = subject_tier) then
    return true;
  end if;
  return coalesce((private.count_rate_limit('upload', subject_tier, caller::text) ->> 'allowed')::boolean, true);
end
$$;
comment on function private.upload_allowed() is
  'Counts one upload by the signed-in caller (the upload class of their tier) and says whether it is within the limit; true for unlimited tiers and callers without a user.';
revoke execute on function private.upload_allowed() from public;
grant execute on function private.upload_allowed() to authenticated, service_role;

create policy "Uploads within the rate limit" on storage.objects as restrictive for insert to authenticated
  with check ((select private.upload_allowed()));
