-- The operations domain's schema at the rebaseline: every file of supabase/schemas/80_operations/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/80_operations/10_rate_limits.sql
-- ======================================================================================

-- Rate limits as data (issue 19; 002: authentication 5/min, API 100/min, uploads 10/min; 004:
-- standard users 60/min and 1,000/hour, premium 300/min and 10,000/hour, admins unlimited,
-- "adjustable via admin panel"). docs/domains/operations.md has the whole design.
--
--   rate_limit_tiers      who: anonymous (by address), standard, premium (from the user's
--                         plan), trusted (an operator's load-test or monitoring subject),
--                         staff and admin (unlimited)
--   rate_limit_classes    what: auth, api_read, api_write, upload, function
--   rate_limit_policies   the limit of a tier for a class, per minute and per hour
--   rate_limit_plan_tiers which plans make their subscribers premium
--   rate_limit_overrides  a tier an operator gives one user or one address
--   private.rate_limit_counters  fixed one-minute and one-hour windows, one row per subject
--                         and class holding both, counted by one insert ... on conflict statement
--
-- Staff holding operations.manage change them through the audited RPCs below; everyone reads
-- the tiers, classes and policies (a client may show its limits).

-- ---------------------------------------------------------------------------------------
-- Tiers and classes (reference data: the operations reference-data migration).

create table public.rate_limit_tiers (
  tier text primary key constraint rate_limit_tiers_tier_format check (tier ~ '^[a-z][a-z_]{1,30}$'),
  unlimited boolean not null default false,
  description text not null constraint rate_limit_tiers_description_present check (description <> '')
);
comment on table public.rate_limit_tiers is
  'Who a limit applies to. Unlimited tiers (trusted, staff, admin) have no policies and are never counted.';

create table public.rate_limit_classes (
  class text primary key constraint rate_limit_classes_class_format check (class ~ '^[a-z][a-z_]{1,30}$'),
  description text not null constraint rate_limit_classes_description_present check (description <> ''),
  enforced_by text not null constraint rate_limit_classes_enforced_by_present check (enforced_by <> '')
);
comment on table public.rate_limit_classes is
  'What is counted, with where it is enforced (auth: the access token hook and Auth''s own limits; api_write: the PostgREST pre-request hook; upload: the gateway (429 with the headers) in front of a storage.objects policy (403, the backstop on hosted Supabase); function: every edge function; api_read: the gateway, issue 19 part B).';

alter table public.rate_limit_tiers enable row level security;
alter table public.rate_limit_classes enable row level security;
grant select on public.rate_limit_tiers, public.rate_limit_classes to anon, authenticated;
grant all on public.rate_limit_tiers, public.rate_limit_classes to service_role;
create policy "Anyone reads rate limit tiers" on public.rate_limit_tiers for select to anon, authenticated using (true);
create policy "Anyone reads rate limit classes" on public.rate_limit_classes for select to anon, authenticated using (true);

-- ---------------------------------------------------------------------------------------
-- Policies: a limit per tier and class, per minute and per hour.

create table public.rate_limit_policies (
  tier text not null references public.rate_limit_tiers (tier),
  class text not null references public.rate_limit_classes (class),
  per_minute integer not null constraint rate_limit_policies_per_minute_positive check (per_minute > 0),
  per_hour integer not null constraint rate_limit_policies_per_hour_positive check (per_hour > 0),
  key text generated always as (tier || ':' || class) stored,
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now(),
  primary key (tier, class),
  constraint rate_limit_policies_hour_covers_minute check (per_hour >= per_minute)
);
create index rate_limit_policies_class_idx on public.rate_limit_policies (class);
create index rate_limit_policies_updated_by_idx on public.rate_limit_policies (updated_by) where updated_by is not null;
comment on table public.rate_limit_policies is
  'The limit of a tier for a class: at most per_minute requests in each clock minute and per_hour in each clock hour (fixed windows). Changed by staff through set_rate_limit (audited).';
comment on column public.rate_limit_policies.key is 'tier:class, the row''s name in the audit log.';

alter table public.rate_limit_policies enable row level security;
grant select on public.rate_limit_policies to anon, authenticated;
grant all on public.rate_limit_policies to service_role;
create policy "Anyone reads rate limit policies" on public.rate_limit_policies for select to anon, authenticated using (true);

create trigger rate_limit_policies_audit after insert or update or delete on public.rate_limit_policies
  for each row execute function private.audit_row_change('key', 'key', 'per_minute', 'per_hour');

-- ---------------------------------------------------------------------------------------
-- Which plans make their subscribers premium (a plan without a row: standard).

create table public.rate_limit_plan_tiers (
  plan_id uuid primary key references public.plans (id) on delete cascade,
  tier text not null references public.rate_limit_tiers (tier)
    constraint rate_limit_plan_tiers_tier_paid check (tier in ('standard', 'premium')),
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now()
);
create index rate_limit_plan_tiers_tier_idx on public.rate_limit_plan_tiers (tier);
create index rate_limit_plan_tiers_updated_by_idx on public.rate_limit_plan_tiers (updated_by) where updated_by is not null;
comment on table public.rate_limit_plan_tiers is
  'The rate limit tier a plan gives its subscribers (entitling subscriptions, as billing''s entitlements count them); plans without a row give standard.';

alter table public.rate_limit_plan_tiers enable row level security;
grant select on public.rate_limit_plan_tiers to anon, authenticated;
grant all on public.rate_limit_plan_tiers to service_role;
create policy "Anyone reads plan rate limit tiers" on public.rate_limit_plan_tiers for select to anon, authenticated using (true);

create trigger rate_limit_plan_tiers_audit after insert or update or delete on public.rate_limit_plan_tiers
  for each row execute function private.audit_row_change('plan_id', 'plan_id', 'tier');

-- ---------------------------------------------------------------------------------------
-- Overrides: a tier for one user or one address (a load-test account, a partner's server,
-- an abusive address held to anonymous), optionally until a time.

create table public.rate_limit_overrides (
  id bigint generated always as identity primary key,
  user_id uuid constraint rate_limit_overrides_user_unique unique references auth.users (id) on delete cascade,
  address inet constraint rate_limit_overrides_address_unique unique,
  tier text not null references public.rate_limit_tiers (tier),
  reason text not null constraint rate_limit_overrides_reason_length check (char_length(trim(reason)) between 1 and 500),
  expires_at timestamptz,
  set_by uuid references auth.users (id) on delete set null,
  set_at timestamptz not null default now(),
  constraint rate_limit_overrides_one_subject check (num_nonnulls(user_id, address) = 1)
);
create index rate_limit_overrides_tier_idx on public.rate_limit_overrides (tier);
create index rate_limit_overrides_set_by_idx on public.rate_limit_overrides (set_by) where set_by is not null;
comment on table public.rate_limit_overrides is
  'A tier an operator gives one user or one client address in place of the one they would have, until expires_at (null: until removed). Staff read them; set_rate_limit_override writes them (audited).';

alter table public.rate_limit_overrides enable row level security;
grant select on public.rate_limit_overrides to authenticated;
grant all on public.rate_limit_overrides to service_role;
create policy "Operations managers read rate limit overrides" on public.rate_limit_overrides for select to authenticated
  using ((select private.has_permission('operations.manage')));

create trigger rate_limit_overrides_audit after insert or update or delete on public.rate_limit_overrides
  for each row execute function private.audit_row_change('id', 'id', 'user_id', 'tier', 'reason', 'expires_at');

-- ---------------------------------------------------------------------------------------
-- The counters. A subject is a user id (signed in) or a client address (anon), as text.
-- Fixed windows: each request counts once in its clock minute and once in its clock hour, both
-- held by the subject's one row per class and incremented by one statement (insert ... on
-- conflict do update ... returning), so two requests never read the same count. A row whose
-- window has passed starts it again at 1; a request that raced a newer one (its clock read in
-- the older window, its update after the newer request's) counts in the row's window and never
-- moves it back. A refused request raises, which rolls its own increment back: the count stays
-- at the limit until the window ends. One row rather than one per window: one index entry to
-- find and lock, one tuple to update per request (docs/domains/operations.md, The counter).

create table private.rate_limit_counters (
  subject text not null,
  class text not null,
  minute_start timestamptz not null,
  minute_hits integer not null default 1,
  hour_start timestamptz not null,
  hour_hits integer not null default 1,
  primary key (subject, class)
);
create index rate_limit_counters_hour_start_idx on private.rate_limit_counters (hour_start);
comment on table private.rate_limit_counters is
  'Requests per subject (a user id, or a client address for anon) and class in the current fixed minute and hour (minute_start/minute_hits, hour_start/hour_hits). Rows whose hour ended over two hours ago are deleted every five minutes (operations-prune-rate-limit-counters).';
grant select, delete on private.rate_limit_counters to service_role;

-- ---------------------------------------------------------------------------------------
-- Who a request is, and its tier.

-- The client address of the current request: the first entry of X-Forwarded-For, which the
-- proxy in front of PostgREST sets (docs/domains/operations.md: trustworthy only behind it).
create function private.request_address() returns inet
language plpgsql
stable
set search_path = ''
as $$
declare
  forwarded text := nullif(current_setting('request.headers', true), '')::json ->> 'x-forwarded-for';
begin
  if forwarded is null then
    return null;
  end if;
  return trim(split_part(forwarded, ',', 1))::inet;
exception when invalid_text_representation then
  return null;
end
$$;
comment on function private.request_address() is
  'The client address of the request (the first X-Forwarded-For entry), null when absent or not an address.';
grant execute on function private.request_address() to anon, authenticated, service_role;

-- The tier of a user (null: anonymous, by address): an unexpired override, else admin or staff
-- by role, else premium when an entitling plan says so, else standard.
create function private.rate_limit_tier(user_id uuid, address inet) returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  result text;
begin
  -- The override, anonymous, the role and "no plan is premium" (then standard) in one
  -- statement: one executor run per request instead of three. Each term is an initplan that
  -- runs only when the ones before it answered null (coalesce stops at the first answer).
  select coalesce(
    (select o.tier from public.rate_limit_overrides o
      where (o.user_id = rate_limit_tier.user_id or o.address = rate_limit_tier.address)
        and (o.expires_at is null or o.expires_at > now())
      order by o.user_id is null
      limit 1),
    case when rate_limit_tier.user_id is null then 'anonymous' end,
    (select case when bool_or(r.name = 'admin') then 'admin' else 'staff' end
       from private.active_user_roles ur join public.roles r on r.id = ur.role_id
      where ur.user_id = rate_limit_tier.user_id and r.name in ('admin', 'staff')
     having count(*) > 0),
    case when not exists (select 1 from public.rate_limit_plan_tiers t where t.tier = 'premium') then 'standard' end)
  into result;
  if result is not null then
    return result;
  end if;
  -- Billing's entitling rule (private.entitling_plans: trialing or active, or past_due within
  -- the grace period, else the free tier), written out here: that SQL function is planned
  -- again on every call (about 1.3 ms), these statements once per connection (a few µs).
  if exists (select 1 from public.subscriptions s
              where s.user_id = rate_limit_tier.user_id
                and (s.status in ('trialing', 'active')
                     or (s.status = 'past_due'
                         and coalesce(s.current_period_end, s.stripe_updated_at) + private.billing_past_due_grace() > now()))) then
    if exists (select 1 from public.subscriptions s
                 join public.rate_limit_plan_tiers t on t.plan_id = s.plan_id and t.tier = 'premium'
                where s.user_id = rate_limit_tier.user_id
                  and (s.status in ('trialing', 'active')
                       or (s.status = 'past_due'
                           and coalesce(s.current_period_end, s.stripe_updated_at) + private.billing_past_due_grace() > now()))) then
      return 'premium';
    end if;
  elsif exists (select 1 from public.plans p join public.rate_limit_plan_tiers t on t.plan_id = p.id
                 where p.is_free and t.tier = 'premium') then
    return 'premium';
  end if;
  return 'standard';
end
$$;
comment on function private.rate_limit_tier(uuid, inet) is
  'A subject''s tier: its unexpired override (the user''s before the address''s), else admin or staff by role, else premium when an entitling plan is mapped to premium, else standard (anonymous without a user).';
revoke execute on function private.rate_limit_tier(uuid, inet) from public;
grant execute on function private.rate_limit_tier(uuid, inet) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Counting one request.

-- Counts one request of a class for a subject of a tier and says whether it is within the
-- limit. The answer: tier, class, limit, remaining, reset (seconds until the window the
-- headers describe ends), window (60 or 3600: the one with fewer requests left), allowed, and
-- retry_after (seconds until the exceeded window ends) when refused. Unlimited tiers, tiers
-- without a policy for the class and a null subject (no user, no address: nothing to count by,
-- as GoTrue limits nothing without a forwarded address) answer { tier, unlimited: true } and
-- count nothing.
create function private.count_rate_limit(class text, tier text, subject text) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  limits public.rate_limit_policies;
  now_at timestamptz := pg_catalog.clock_timestamp();
  minute_start timestamptz := pg_catalog.date_trunc('minute', now_at);
  hour_start timestamptz := pg_catalog.date_trunc('hour', now_at);
  minute_hits integer;
  hour_hits integer;
  minute_reset integer;
  hour_reset integer;
  minute_left integer;
  hour_left integer;
begin
  select * into limits from public.rate_limit_policies p
   where p.tier = count_rate_limit.tier and p.class = count_rate_limit.class;
  if not found then
    if not exists (select 1 from public.rate_limit_classes c where c.class = count_rate_limit.class) then
      raise exception 'unknown rate limit class %', count_rate_limit.class using errcode = '22023';
    end if;
    return jsonb_build_object('tier', count_rate_limit.tier, 'unlimited', true);
  end if;
  if subject is null then
    return jsonb_build_object('tier', count_rate_limit.tier, 'unlimited', true);
  end if;
  -- The row's windows win over the request's own when newer (greatest): a request that waited
  -- for the row lock behind one of the next minute counts in that minute.
  insert into private.rate_limit_counters as c (subject, class, minute_start, minute_hits, hour_start, hour_hits)
  values (count_rate_limit.subject, count_rate_limit.class, minute_start, 1, hour_start, 1)
  on conflict on constraint rate_limit_counters_pkey do update
    set minute_start = greatest(c.minute_start, excluded.minute_start),
        minute_hits = case when excluded.minute_start > c.minute_start then 1 else c.minute_hits + 1 end,
        hour_start = greatest(c.hour_start, excluded.hour_start),
        hour_hits = case when excluded.hour_start > c.hour_start then 1 else c.hour_hits + 1 end
  returning c.minute_start, c.minute_hits, c.hour_start, c.hour_hits
  into minute_start, minute_hits, hour_start, hour_hits;
  minute_reset := greatest(1, ceil(extract(epoch from (minute_start + interval '1 minute' - now_at)))::integer);
  hour_reset := greatest(1, ceil(extract(epoch from (hour_start + interval '1 hour' - now_at)))::integer);
  minute_left := limits.per_minute - minute_hits;
  hour_left := limits.per_hour - hour_hits;
  if minute_left < 0 or hour_left < 0 then
    return jsonb_build_object(
      'tier', count_rate_limit.tier, 'class', count_rate_limit.class, 'allowed', false,
      'limit', case when hour_left < 0 then limits.per_hour else limits.per_minute end,
      'window', case when hour_left < 0 then 3600 else 60 end,
      'remaining', 0,
      'reset', case when hour_left < 0 then hour_reset else minute_reset end,
      'retry_after', case when hour_left < 0 then hour_reset else minute_reset end);
  end if;
  if hour_left < minute_left then
    return jsonb_build_object('tier', count_rate_limit.tier, 'class', count_rate_limit.class, 'allowed', true,
                              'limit', limits.per_hour, 'window', 3600, 'remaining', hour_left, 'reset', hour_reset);
  end if;
  return jsonb_build_object('tier', count_rate_limit.tier, 'class', count_rate_limit.class, 'allowed', true,
                            'limit', limits.per_minute, 'window', 60, 'remaining', minute_left, 'reset', minute_reset);
end
$$;
comment on function private.count_rate_limit(text, text, text) is
  'Counts one request of a class for a subject (a user id or a client address) of a tier in its minute and hour windows, in one statement, and answers the limit, remaining, reset and whether it is allowed (retry_after when not). Nothing is counted for a tier without a policy for the class or a null subject.';
revoke execute on function private.count_rate_limit(text, text, text) from public;
grant execute on function private.count_rate_limit(text, text, text) to anon, authenticated, service_role;

-- The whole check for one request of a class: the subject's tier, then its count. Unlimited
-- tiers are not counted.
create function private.hit_rate_limit(class text, user_id uuid, address inet) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  subject_tier text := private.rate_limit_tier(user_id, address);
begin
  if (select t.unlimited from public.rate_limit_tiers t where t.tier = subject_tier) then
    return jsonb_build_object('tier', subject_tier, 'unlimited', true);
  end if;
  return private.count_rate_limit(class, subject_tier, coalesce(user_id::text, host(address)));
end
$$;
comment on function private.hit_rate_limit(text, uuid, inet) is
  'Counts one request of a class for a user (or, without one, a client address) after finding its tier; see private.count_rate_limit for the answer.';
revoke execute on function private.hit_rate_limit(text, uuid, inet) from public;
grant execute on function private.hit_rate_limit(text, uuid, inet) to anon, authenticated, service_role;

-- The response headers of a counted request, as PostgREST's response.headers wants them (an
-- array of single-key objects): X-RateLimit-Limit/-Remaining/-Reset and the IETF draft's
-- RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-11).
-- PL/pgSQL, not SQL: a SQL function with set search_path is never inlined and is parsed and
-- planned again in every request's transaction (as measured for has_permission,
-- docs/domains/platform.md "Client RPCs"); PL/pgSQL keeps its plan per connection.
create function private.rate_limit_headers(hit jsonb) returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
  if not hit ? 'limit' then
    return '[]'::jsonb;
  end if;
  return jsonb_build_array(
    jsonb_build_object('X-RateLimit-Limit', hit ->> 'limit'),
    jsonb_build_object('X-RateLimit-Remaining', hit ->> 'remaining'),
    jsonb_build_object('X-RateLimit-Reset', hit ->> 'reset'),
    jsonb_build_object('RateLimit-Policy', format('"%s";q=%s;w=%s', hit ->> 'class', hit ->> 'limit', hit ->> 'window')),
    jsonb_build_object('RateLimit', format('"%s";r=%s;t=%s', hit ->> 'class', hit ->> 'remaining', hit ->> 'reset')));
end
$$;
comment on function private.rate_limit_headers(jsonb) is
  'The X-RateLimit-* and IETF RateLimit/RateLimit-Policy headers of a hit_rate_limit answer, as an array of single-key objects (PostgREST response.headers); [] when unlimited.';
grant execute on function private.rate_limit_headers(jsonb) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Staff RPCs (operations.manage), audited by the tables' triggers.

create function private.assert_operations_manager(what text) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not (private.is_service_role() or private.has_permission('operations.manage')) then
    raise exception '% needs the operations.manage permission', what using errcode = '42501';
  end if;
end
$$;
comment on function private.assert_operations_manager(text) is 'Raises 42501 unless the caller holds operations.manage or is the service role.';
revoke execute on function private.assert_operations_manager(text) from public;
grant execute on function private.assert_operations_manager(text) to authenticated, service_role;

create function private.assert_rate_limit_tier(tier text, limited boolean) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  unlimited boolean;
begin
  select t.unlimited into unlimited from public.rate_limit_tiers t where t.tier = assert_rate_limit_tier.tier;
  if not found then
    raise exception 'unknown rate limit tier %: use one of %', tier,
      (select string_agg(t.tier, ', ' order by t.tier) from public.rate_limit_tiers t) using errcode = '22023';
  end if;
  if limited and unlimited then
    raise exception 'rate limit tier % is unlimited: it has no limits to set', tier using errcode = '22023';
  end if;
end
$$;
comment on function private.assert_rate_limit_tier(text, boolean) is 'Raises 22023 for an unknown tier, or an unlimited one when limited is true.';
revoke execute on function private.assert_rate_limit_tier(text, boolean) from public;
grant execute on function private.assert_rate_limit_tier(text, boolean) to authenticated, service_role;

-- Body of public.set_rate_limit.
create function private.set_rate_limit(tier text, class text, per_minute integer, per_hour integer)
returns public.rate_limit_policies
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  result public.rate_limit_policies;
begin
  perform private.assert_operations_manager('setting a rate limit');
  perform private.assert_rate_limit_tier(tier, true);
  if not exists (select 1 from public.rate_limit_classes c where c.class = set_rate_limit.class) then
    raise exception 'unknown rate limit class %: use one of %', class,
      (select string_agg(c.class, ', ' order by c.class) from public.rate_limit_classes c) using errcode = '22023';
  end if;
  if per_minute is null or per_hour is null or per_minute <= 0 or per_hour <= 0 then
    raise exception 'rate limits must be positive whole numbers: % per minute, % per hour refused', per_minute, per_hour
      using errcode = '22023';
  end if;
  if per_hour < per_minute then
    raise exception 'the hourly limit (%) must be at least the per-minute limit (%)', per_hour, per_minute
      using errcode = '22023';
  end if;
  insert into public.rate_limit_policies as p (tier, class, per_minute, per_hour, updated_by)
  values (tier, class, per_minute, per_hour, auth.uid())
  on conflict on constraint rate_limit_policies_pkey do update
    set per_minute = excluded.per_minute, per_hour = excluded.per_hour,
        updated_by = excluded.updated_by, updated_at = now()
  returning * into result;
  return result;
end
$$;
comment on function private.set_rate_limit(text, text, integer, integer) is 'Body of public.set_rate_limit.';
revoke execute on function private.set_rate_limit(text, text, integer, integer) from public;
grant execute on function private.set_rate_limit(text, text, integer, integer) to authenticated, service_role;

create function public.set_rate_limit(tier text, class text, per_minute integer, per_hour integer)
returns public.rate_limit_policies
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.set_rate_limit(tier, class, per_minute, per_hour) $$;
comment on function public.set_rate_limit(text, text, integer, integer) is
  'Sets the limit of a tier for a class (per minute and per hour; operations.manage; audited). Takes effect with the next request.';
revoke execute on function public.set_rate_limit(text, text, integer, integer) from public;
grant execute on function public.set_rate_limit(text, text, integer, integer) to authenticated, service_role;

-- Body of public.set_plan_rate_limit_tier.
create function private.set_plan_rate_limit_tier(plan_id uuid, tier text) returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.assert_operations_manager('setting a plan''s rate limit tier');
  if tier is null or tier not in ('standard', 'premium') then
    raise exception 'a plan gives the standard or premium rate limit tier, not %', coalesce(tier, 'null')
      using errcode = '22023';
  end if;
  if not exists (select 1 from public.plans p where p.id = set_plan_rate_limit_tier.plan_id) then
    raise exception 'plan % not found', plan_id using errcode = 'PT404';
  end if;
  insert into public.rate_limit_plan_tiers as t (plan_id, tier, updated_by)
  values (plan_id, tier, auth.uid())
  on conflict on constraint rate_limit_plan_tiers_pkey do update set tier = excluded.tier, updated_by = excluded.updated_by, updated_at = now();
  return tier;
end
$$;
comment on function private.set_plan_rate_limit_tier(uuid, text) is 'Body of public.set_plan_rate_limit_tier.';
revoke execute on function private.set_plan_rate_limit_tier(uuid, text) from public;
grant execute on function private.set_plan_rate_limit_tier(uuid, text) to authenticated, service_role;

create function public.set_plan_rate_limit_tier(plan_id uuid, tier text) returns text
language sql
volatile
security invoker
set search_path = ''
as $$ select private.set_plan_rate_limit_tier(plan_id, tier) $$;
comment on function public.set_plan_rate_limit_tier(uuid, text) is
  'Makes a plan''s subscribers premium (or standard again) for rate limits (operations.manage; audited).';
revoke execute on function public.set_plan_rate_limit_tier(uuid, text) from public;
grant execute on function public.set_plan_rate_limit_tier(uuid, text) to authenticated, service_role;

-- Body of public.set_rate_limit_override.
create function private.set_rate_limit_override(
  tier text, reason text, user_id uuid default null, address text default null, expires_at timestamptz default null
) returns public.rate_limit_overrides
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  subject_address inet;
  result public.rate_limit_overrides;
begin
  perform private.assert_operations_manager('setting a rate limit override');
  if num_nonnulls(user_id, address) <> 1 then
    raise exception 'name one subject: a user_id or an address' using errcode = '22023';
  end if;
  begin
    subject_address := address::inet;
  exception when invalid_text_representation then
    raise exception 'address % is not an IP address', address using errcode = '22023';
  end;
  if tier is null then
    delete from public.rate_limit_overrides o
     where o.user_id = set_rate_limit_override.user_id or o.address = subject_address;
    return null;
  end if;
  perform private.assert_rate_limit_tier(tier, false);
  if coalesce(char_length(trim(reason)), 0) not between 1 and 500 then
    raise exception 'an override needs a reason of 1 to 500 characters' using errcode = '22023';
  end if;
  if expires_at is not null and expires_at <= now() then
    raise exception 'expires_at must be in the future' using errcode = '22023';
  end if;
  if user_id is not null and not exists (select 1 from auth.users u where u.id = set_rate_limit_override.user_id) then
    raise exception 'user % not found', user_id using errcode = 'PT404';
  end if;
  delete from public.rate_limit_overrides o
   where o.user_id = set_rate_limit_override.user_id or o.address = subject_address;
  insert into public.rate_limit_overrides (user_id, address, tier, reason, expires_at, set_by)
  values (user_id, subject_address, tier, trim(reason), expires_at, auth.uid())
  returning * into result;
  return result;
end
$$;
comment on function private.set_rate_limit_override(text, text, uuid, text, timestamptz) is 'Body of public.set_rate_limit_override.';
revoke execute on function private.set_rate_limit_override(text, text, uuid, text, timestamptz) from public;
grant execute on function private.set_rate_limit_override(text, text, uuid, text, timestamptz) to authenticated, service_role;

create function public.set_rate_limit_override(
  tier text, reason text, user_id uuid default null, address text default null, expires_at timestamptz default null
) returns public.rate_limit_overrides
language sql
volatile
security invoker
set search_path = ''
as $$ select * from private.set_rate_limit_override(tier, reason, user_id, address, expires_at) $$;
comment on function public.set_rate_limit_override(text, text, uuid, text, timestamptz) is
  'Gives one user or one client address a rate limit tier (a load-test account: trusted; an abusive address: anonymous) until expires_at, or removes the override when tier is null (operations.manage; audited).';
revoke execute on function public.set_rate_limit_override(text, text, uuid, text, timestamptz) from public;
grant execute on function public.set_rate_limit_override(text, text, uuid, text, timestamptz) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Keeping the counters small: operations-prune-rate-limit-counters (every five minutes).

create function private.prune_rate_limit_counters() returns integer
language sql
volatile
security definer
set search_path = ''
as $$
  with gone as (
    -- The hour ended over two hours ago: it started over three hours ago (the index's terms).
    delete from private.rate_limit_counters c where c.hour_start < now() - interval '3 hours' returning 1
  )
  select count(*)::integer from gone
$$;
comment on function private.prune_rate_limit_counters() is
  'Deletes counter rows whose hour ended over two hours ago (a subject idle since); answers how many. Run by pg_cron every five minutes.';
revoke execute on function private.prune_rate_limit_counters() from public;
grant execute on function private.prune_rate_limit_counters() to service_role;

-- ======================================================================================
-- supabase/schemas/80_operations/20_maintenance.sql
-- ======================================================================================

-- Maintenance mode (003 "maintenance mode on and off with a message"): staff holding
-- operations.manage turn it on with a message and an optional end, and off (audited). While
-- it is on, writes by everyone but staff are refused with 503, the message and Retry-After:
-- through PostgREST by the pre-request hook (30_request_checks.sql), in the edge functions by
-- their shared check. Reads continue. Staff (the staff and admin roles, and whoever holds
-- operations.manage) are never refused, so whoever turned it on can turn it off.

create table public.maintenance_mode (
  id boolean primary key default true constraint maintenance_mode_one_row check (id),
  enabled boolean not null default false,
  message text not null default '' constraint maintenance_mode_message_length check (char_length(message) <= 500),
  ends_at timestamptz,
  started_at timestamptz,
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now(),
  constraint maintenance_mode_message_when_enabled check (not enabled or char_length(trim(message)) > 0)
);
create index maintenance_mode_updated_by_idx on public.maintenance_mode (updated_by) where updated_by is not null;
comment on table public.maintenance_mode is
  'The one row saying whether maintenance mode is on, its message and expected end. Changed through set_maintenance_mode (operations.manage; audited); read by anyone (maintenance_status()).';
comment on column public.maintenance_mode.ends_at is
  'When maintenance is expected to end (Retry-After counts down to it); null: unknown, Retry-After is private.maintenance_default_retry_after(). It does not switch the mode off by itself.';

alter table public.maintenance_mode enable row level security;
grant select on public.maintenance_mode to anon, authenticated;
grant all on public.maintenance_mode to service_role;
create policy "Anyone reads the maintenance mode" on public.maintenance_mode for select to anon, authenticated using (true);

create trigger maintenance_mode_audit after insert or update or delete on public.maintenance_mode
  for each row execute function private.audit_row_change('id', 'id', 'enabled', 'message', 'ends_at');

create function private.maintenance_default_retry_after() returns integer
language sql
immutable
set search_path = ''
as $$ select 300 $$;
comment on function private.maintenance_default_retry_after() is
  'Retry-After (seconds) of a maintenance refusal when no end time is set.';
grant execute on function private.maintenance_default_retry_after() to anon, authenticated, service_role;

-- The status as clients read it: enabled, message, ends_at, retry_after (seconds, while on).
create function private.maintenance_json(m public.maintenance_mode) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'enabled', coalesce(m.enabled, false),
    'message', case when m.enabled then m.message end,
    'started_at', case when m.enabled then m.started_at end,
    'ends_at', case when m.enabled then m.ends_at end,
    'retry_after', case when m.enabled then
      greatest(1, coalesce(ceil(extract(epoch from (m.ends_at - now())))::integer, private.maintenance_default_retry_after()))
    end)
$$;
comment on function private.maintenance_json(public.maintenance_mode) is
  'Maintenance status as JSON: enabled, and while on its message, started_at, ends_at and retry_after (seconds to ends_at, at least 1; the default without one).';
grant execute on function private.maintenance_json(public.maintenance_mode) to anon, authenticated, service_role;

create function public.maintenance_status() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.maintenance_json(m) from (select 1) one left join public.maintenance_mode m on m.id
$$;
comment on function public.maintenance_status() is
  'Whether maintenance mode is on: { enabled, message, started_at, ends_at, retry_after } (anyone, anon too).';
revoke execute on function public.maintenance_status() from public;
grant execute on function public.maintenance_status() to anon, authenticated, service_role;

-- Whether the caller is never refused by maintenance mode: the service role, the staff and
-- admin roles, and holders of operations.manage.
create function private.bypasses_maintenance(tier text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select private.is_service_role() or tier in ('staff', 'admin') or private.has_permission('operations.manage')
$$;
comment on function private.bypasses_maintenance(text) is
  'Whether a caller of this rate limit tier is let through maintenance mode: the service role, staff and admin, holders of operations.manage.';
revoke execute on function private.bypasses_maintenance(text) from public;
grant execute on function private.bypasses_maintenance(text) to anon, authenticated, service_role;

-- Body of public.set_maintenance_mode.
create function private.set_maintenance_mode(enabled boolean, message text default null, ends_at timestamptz default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  result public.maintenance_mode;
begin
  perform private.assert_operations_manager('turning maintenance mode on or off');
  if enabled is null then
    raise exception 'say whether maintenance mode is on (true) or off (false)' using errcode = '22023';
  end if;
  if enabled then
    if coalesce(char_length(trim(message)), 0) not between 1 and 500 then
      raise exception 'maintenance mode needs a message of 1 to 500 characters' using errcode = '22023';
    end if;
    if ends_at is not null and ends_at <= now() then
      raise exception 'the end of maintenance must be in the future' using errcode = '22023';
    end if;
  end if;
  insert into public.maintenance_mode as m (id, enabled, message, ends_at, started_at, updated_by)
  values (true, enabled, case when enabled then trim(message) else '' end,
          case when enabled then ends_at end, case when enabled then now() end, auth.uid())
  on conflict on constraint maintenance_mode_pkey do update
    set enabled = excluded.enabled, message = excluded.message, ends_at = excluded.ends_at,
        started_at = case when m.enabled and excluded.enabled then m.started_at else excluded.started_at end,
        updated_by = excluded.updated_by, updated_at = now()
  returning * into result;
  return private.maintenance_json(result);
end
$$;
comment on function private.set_maintenance_mode(boolean, text, timestamptz) is 'Body of public.set_maintenance_mode.';
revoke execute on function private.set_maintenance_mode(boolean, text, timestamptz) from public;
grant execute on function private.set_maintenance_mode(boolean, text, timestamptz) to authenticated, service_role;

create function public.set_maintenance_mode(enabled boolean, message text default null, ends_at timestamptz default null)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$ select private.set_maintenance_mode(enabled, message, ends_at) $$;
comment on function public.set_maintenance_mode(boolean, text, timestamptz) is
  'Turns maintenance mode on (with a message and an optional expected end) or off (operations.manage; audited); answers the new status.';
revoke execute on function public.set_maintenance_mode(boolean, text, timestamptz) from public;
grant execute on function public.set_maintenance_mode(boolean, text, timestamptz) to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/80_operations/30_request_checks.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/80_operations/40_auth_limits.sql
-- ======================================================================================

-- The auth class (002: authentication 5/min). Supabase Auth's own limits (config.toml
-- [auth.rate_limit]) are per address and per 5 minutes with bursts of 30 (GoTrue's
-- apilimiter: tollbooth limiters with SetBurst(30)), so no setting of them refuses the 6th
-- sign-in within a minute. Auth calls the custom access token hook for every token it issues,
-- with the grant's authentication_method: this hook counts each sign-in (every method but
-- token_refresh and a second factor's verification) of the user in the auth class of their
-- tier and refuses past the limit with 429, then adds the roles claim as the platform's hook
-- does. config.toml's [auth.hook.custom_access_token] names it.

-- Counts a sign-in of a user (the auth class); answers the count_rate_limit answer.
create function private.count_sign_in(user_id uuid) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  subject_tier text := private.rate_limit_tier(user_id, null);
begin
  if user_id is null or (select t.unlimited from public.rate_limit_tiers t where t.tier = subject_tier) then
    return jsonb_build_object('tier', subject_tier, 'unlimited', true);
  end if;
  return private.count_rate_limit('auth', subject_tier, user_id::text);
end
$$;
comment on function private.count_sign_in(uuid) is
  'Counts one sign-in of a user in the auth class of their tier (unlimited tiers: nothing counted).';
revoke execute on function private.count_sign_in(uuid) from public;
grant execute on function private.count_sign_in(uuid) to supabase_auth_admin, service_role;

create function public.operations_access_token_hook(event jsonb) returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  method text := coalesce(event ->> 'authentication_method', '');
  hit jsonb;
begin
  if method <> 'token_refresh' and method <> 'totp' and method not like 'mfa/%' then
    hit := private.count_sign_in((event ->> 'user_id')::uuid);
    if (hit ->> 'allowed')::boolean is false then
      return jsonb_build_object('error', jsonb_build_object(
        'http_code', 429,
        'message', format('Too many sign-ins: %s per %s; retry in %s seconds', hit ->> 'limit',
                          case when (hit ->> 'window')::integer = 3600 then 'hour' else 'minute' end,
                          hit ->> 'retry_after')));
    end if;
  end if;
  return public.custom_access_token_hook(event);
end
$$;
comment on function public.operations_access_token_hook(jsonb) is
  'Supabase Auth custom access token hook: refuses (429) a sign-in past the auth class limit of the user''s tier, then adds app_metadata.roles (public.custom_access_token_hook).';
revoke execute on function public.operations_access_token_hook(jsonb) from public, anon, authenticated;
grant execute on function public.operations_access_token_hook(jsonb) to supabase_auth_admin;

-- ======================================================================================
-- supabase/schemas/80_operations/40_request_log.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/80_operations/50_health.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/80_operations/60_feature_flags.sql
-- ======================================================================================

-- Feature flags (000 POST /v1/admin/feature-flags; issue 19): staff holding flags.manage create,
-- change, toggle and delete flags through the table API (PostgREST), audited; clients read the
-- flags that apply to them through one RPC, public.my_feature_flags() -> {"<key>": true|false},
-- and hear every change on the public Realtime topic feature-flags (event flags:changed,
-- payload {key, action}) so they fetch it again.
--
-- Whether a flag is on for a caller (private.feature_flag_on):
--   1. off when the flag is disabled;
--   2. on for a user on its allow-list (public.feature_flag_users);
--   3. off when it names roles and the caller matches none: a role of public.roles the user
--      holds now (unexpired), 'authenticated' (any signed-in user) or 'anon' (no user);
--   4. rollout_percent of users: on when the user's bucket, a stable hash of user id and flag
--      key (private.feature_flag_bucket, 0..9999), is below rollout_percent x 100. The same user
--      always gets the same answer, each flag splits users independently, and raising the
--      percentage only adds users (the first 30% stay on at 50%). A caller without a user id
--      (anon) has no bucket: on only at 100%.

create table public.feature_flags (
  key text primary key
    constraint feature_flags_key_format check (key ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' and char_length(key) <= 64),
  description text not null default '' constraint feature_flags_description_length check (char_length(description) <= 500),
  enabled boolean not null default false,
  roles text[] not null default '{}',
  rollout_percent smallint not null default 100 constraint feature_flags_rollout_percent_range check (rollout_percent between 0 and 100),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.feature_flags is
  'Feature flags (000 /v1/admin/feature-flags): on or off, for some roles, for a stable percentage of users, and for an allow-list (feature_flag_users). flags.manage writes; clients read theirs through my_feature_flags().';
comment on column public.feature_flags.key is 'Lowercase words with underscores, dot-separated (checkout.new_flow), at most 64 characters.';
comment on column public.feature_flags.roles is
  'Roles it applies to: names of public.roles, or anon (callers without a user) and authenticated (any signed-in user). Empty: everyone.';
comment on column public.feature_flags.rollout_percent is
  'Share of matching users it is on for (0-100), by a stable hash of user id and key; anon callers only at 100.';

create table public.feature_flag_users (
  flag_key text not null references public.feature_flags (key) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  added_at timestamptz not null default now(),
  primary key (flag_key, user_id)
);
create index feature_flag_users_user_id_idx on public.feature_flag_users (user_id);
comment on table public.feature_flag_users is 'Allow-list: users an enabled flag is on for whatever their roles and bucket.';

-- The refusals of a flag write, each 22023 with a message naming what is wrong, before the
-- column checks (which stay as the backstop).
create function private.check_feature_flag() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  unknown text[];
begin
  if new.key is null or new.key !~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' or char_length(new.key) > 64 then
    raise exception 'a flag key is lowercase letters, digits and underscores, dot-separated (checkout.new_flow), at most 64 characters'
      using errcode = '22023';
  end if;
  if new.rollout_percent is null or new.rollout_percent not between 0 and 100 then
    raise exception 'rollout_percent of flag % is 0 to 100, not %', new.key, coalesce(new.rollout_percent::text, 'null')
      using errcode = '22023';
  end if;
  if new.roles is null or array_position(new.roles, null) is not null then
    raise exception 'roles of flag % is a list of role names', new.key using errcode = '22023';
  end if;
  select coalesce(array_agg(distinct r order by r), '{}') into unknown
    from unnest(new.roles) r
   where r not in ('anon', 'authenticated') and not exists (select 1 from public.roles x where x.name = r);
  if cardinality(unknown) > 0 then
    raise exception 'unknown role for flag %: %', new.key, array_to_string(unknown, ', ')
      using errcode = '22023', hint = 'Use names of public.roles, anon or authenticated.';
  end if;
  select coalesce(array_agg(distinct r order by r), '{}') into new.roles from unnest(new.roles) r;
  new.updated_at := now();
  return new;
end
$$;
comment on function private.check_feature_flag() is
  'Before a flag is written: its key''s form, rollout_percent 0-100, and roles that exist (or anon, authenticated), 22023 each; roles sorted and distinct.';

create trigger feature_flags_check before insert or update on public.feature_flags
  for each row execute function private.check_feature_flag();
create trigger feature_flags_audit after insert or update or delete on public.feature_flags
  for each row execute function private.audit_row_change('key');
create trigger feature_flag_users_audit after insert or update or delete on public.feature_flag_users
  for each row execute function private.audit_row_change('flag_key');

-- Live: every change is broadcast on the public topic feature-flags (anyone may listen: the
-- payload names the flag and what happened, never who it is on for), in the writing
-- transaction, so Realtime delivers it once the change commits. Clients refetch
-- my_feature_flags().
create function private.broadcast_feature_flag_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  changed jsonb;
  flag text;
begin
  if tg_op = 'DELETE' then changed := to_jsonb(old); else changed := to_jsonb(new); end if;
  flag := coalesce(changed ->> 'key', changed ->> 'flag_key');
  perform realtime.send(
    jsonb_build_object('key', flag,
                       'action', case when tg_table_name = 'feature_flag_users' then 'allow_list_changed'
                                      else lower(tg_op) end),
    'flags:changed', 'feature-flags', false);
  return null;
end
$$;
comment on function private.broadcast_feature_flag_change() is
  'After a flag or its allow-list changes: broadcasts flags:changed {key, action} on the public Realtime topic feature-flags.';

create trigger feature_flags_broadcast after insert or update or delete on public.feature_flags
  for each row execute function private.broadcast_feature_flag_change();
create trigger feature_flag_users_broadcast after insert or delete on public.feature_flag_users
  for each row execute function private.broadcast_feature_flag_change();

alter table public.feature_flags enable row level security;
grant select, insert (key, description, enabled, roles, rollout_percent),
  update (description, enabled, roles, rollout_percent), delete on public.feature_flags to authenticated;
grant all on public.feature_flags to service_role;

create policy "Flag managers read flags" on public.feature_flags for select to authenticated
  using ((select private.has_permission('flags.manage')));
create policy "Flag managers create flags" on public.feature_flags for insert to authenticated
  with check ((select private.has_permission('flags.manage')));
create policy "Flag managers change flags" on public.feature_flags for update to authenticated
  using ((select private.has_permission('flags.manage'))) with check ((select private.has_permission('flags.manage')));
create policy "Flag managers delete flags" on public.feature_flags for delete to authenticated
  using ((select private.has_permission('flags.manage')));

alter table public.feature_flag_users enable row level security;
grant select, insert (flag_key, user_id), delete on public.feature_flag_users to authenticated;
grant all on public.feature_flag_users to service_role;

create policy "Flag managers read allow-lists" on public.feature_flag_users for select to authenticated
  using ((select private.has_permission('flags.manage')));
create policy "Flag managers add to allow-lists" on public.feature_flag_users for insert to authenticated
  with check ((select private.has_permission('flags.manage')));
create policy "Flag managers remove from allow-lists" on public.feature_flag_users for delete to authenticated
  using ((select private.has_permission('flags.manage')));

-- ---------------------------------------------------------------------------------------
-- Evaluation.

-- The user's bucket for a flag, 0..9999: the first 32 bits of md5(user id ':' key). md5 is
-- stable across Postgres versions and machines (hashtext is not promised to be).
create function private.feature_flag_bucket(user_id uuid, flag_key text) returns integer
language sql
immutable
set search_path = ''
as $$
  select (('x' || pg_catalog.substr(pg_catalog.md5(user_id::text || ':' || flag_key), 1, 8))::bit(32)::bigint % 10000)::integer
$$;
comment on function private.feature_flag_bucket(uuid, text) is
  'A user''s stable bucket (0-9999) for a flag: md5 of user id and key; on when below rollout_percent x 100.';
revoke execute on function private.feature_flag_bucket(uuid, text) from public;
grant execute on function private.feature_flag_bucket(uuid, text) to service_role;

create function private.feature_flag_on(flag public.feature_flags, user_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select flag.enabled and (
    (user_id is not null and exists (select 1 from public.feature_flag_users a
                                      where a.flag_key = flag.key and a.user_id = feature_flag_on.user_id))
    or (
      (cardinality(flag.roles) = 0
       or (user_id is null and 'anon' = any (flag.roles))
       or (user_id is not null and 'authenticated' = any (flag.roles))
       or (user_id is not null and exists (select 1 from private.active_user_roles ur
                                            join public.roles r on r.id = ur.role_id
                                           where ur.user_id = feature_flag_on.user_id and r.name = any (flag.roles))))
      and (flag.rollout_percent = 100
           or (user_id is not null and private.feature_flag_bucket(user_id, flag.key) < flag.rollout_percent * 100))
    ))
$$;
comment on function private.feature_flag_on(public.feature_flags, uuid) is
  'Whether a flag is on for a user (null: an anonymous caller): enabled, and on the allow-list or (matching its roles and within its rollout).';
revoke execute on function private.feature_flag_on(public.feature_flags, uuid) from public;
grant execute on function private.feature_flag_on(public.feature_flags, uuid) to service_role;

create function private.my_feature_flags() returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_object_agg(f.key, private.feature_flag_on(f, auth.uid()) order by f.key), '{}')
    from public.feature_flags f
$$;
comment on function private.my_feature_flags() is 'Body of public.my_feature_flags.';
revoke execute on function private.my_feature_flags() from public;
grant execute on function private.my_feature_flags() to anon, authenticated, service_role;

create function public.my_feature_flags() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.my_feature_flags() $$;
revoke execute on function public.my_feature_flags() from public;
grant execute on function public.my_feature_flags() to anon, authenticated, service_role;
comment on function public.my_feature_flags() is
  'Every feature flag and whether it is on for the caller, {"<key>": true|false} (anon: the flags for anonymous callers). Refetch on a flags:changed broadcast on the public Realtime topic feature-flags.';
