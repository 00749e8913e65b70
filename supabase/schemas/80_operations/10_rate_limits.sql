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
