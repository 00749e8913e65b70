-- Entitlements: what a user's plan allows. A user is entitled by a subscription that is
-- trialing or active, or past_due within the grace period after its period ended
-- (private.billing_past_due_grace); without one, the free tier's limits apply. Limits are
-- enforced in the database where they matter: max_projects on public.projects (30_marketplace:
-- a later domain may name an earlier one's table, so the trigger lives here).
-- A refused project is PT409 (HTTP 409): the caller's account is not in a state that allows
-- another project, as every other state refusal of the API; the message names the plan, the
-- limit and the count.

create function private.billing_past_due_grace() returns interval
language sql
immutable
set search_path = ''
as $$ select interval '7 days' $$;
comment on function private.billing_past_due_grace() is
  'How long after its period ended a past_due subscription still entitles its user (Stripe retries the payment meanwhile).';

-- The plans entitling a user now: their live subscriptions' plans, else the free tier.
create function private.entitling_plans(user_id uuid) returns setof public.plans
language sql
stable
security definer
set search_path = ''
as $$
  with subscribed as (
    select p.* from public.subscriptions s join public.plans p on p.id = s.plan_id
     where s.user_id = entitling_plans.user_id
       and (s.status in ('trialing', 'active')
            or (s.status = 'past_due' and coalesce(s.current_period_end, s.stripe_updated_at) + private.billing_past_due_grace() > now()))
  )
  select * from subscribed
  union all
  select p.* from public.plans p where p.is_free and not exists (select from subscribed)
$$;
comment on function private.entitling_plans(uuid) is
  'The plans whose limits apply to a user: those of their trialing, active or past_due-within-grace subscriptions, else the free tier.';
revoke execute on function private.entitling_plans(uuid) from public;
grant execute on function private.entitling_plans(uuid) to authenticated, service_role;

-- A user's limit: the largest any entitling plan gives, null when one of them does not list
-- the key (unlimited), 0 when no plan applies at all (no free tier row).
create function private.user_limit(user_id uuid, limit_key text) returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  result integer;
  plans_found integer;
  unlimited boolean;
begin
  if not exists (select from public.billing_limit_kinds k where k.key = limit_key) then
    raise exception 'unknown limit %', limit_key using errcode = '22023';
  end if;
  select count(*), bool_or(not (p.limits ? limit_key)), max((p.limits ->> limit_key)::integer)
    into plans_found, unlimited, result
    from private.entitling_plans(user_id) p;
  if plans_found = 0 then
    return 0;
  end if;
  return case when unlimited then null else result end;
end
$$;
comment on function private.user_limit(uuid, text) is
  'A user''s limit for a billing_limit_kinds key from their entitling plans (the largest; null = unlimited), else the free tier''s.';
revoke execute on function private.user_limit(uuid, text) from public;
grant execute on function private.user_limit(uuid, text) to authenticated, service_role;

-- Body of public.my_entitlements.
create function private.my_entitlements() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
begin
  if uid is null then
    raise exception 'sign in to read your entitlements' using errcode = '42501';
  end if;
  return jsonb_build_object(
    'plans', coalesce((select jsonb_agg(jsonb_build_object('id', p.id, 'slug', p.slug, 'name', p.name, 'is_free', p.is_free) order by p.slug)
                         from private.entitling_plans(uid) p), '[]'),
    'features', coalesce((select jsonb_agg(distinct f) from private.entitling_plans(uid) p, jsonb_array_elements_text(p.features) f), '[]'),
    'limits', coalesce((select jsonb_object_agg(k.key, private.user_limit(uid, k.key)) from public.billing_limit_kinds k), '{}'),
    'usage', jsonb_build_object('max_projects', (select count(*) from public.projects pr
                                                 where pr.owner_id = uid and pr.status in ('open', 'in_progress'))));
end
$$;
comment on function private.my_entitlements() is 'Body of public.my_entitlements.';
revoke execute on function private.my_entitlements() from public;
grant execute on function private.my_entitlements() to authenticated;

create function public.my_entitlements() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.my_entitlements() $$;
comment on function public.my_entitlements() is
  'The caller''s entitling plans, their features, each limit (null = unlimited) and current usage, for apps to show.';
revoke execute on function public.my_entitlements() from public;
grant execute on function public.my_entitlements() to authenticated;

-- max_projects: counts the owner's open and in-progress projects, under a per-owner lock so
-- two concurrent inserts cannot both pass.
create function private.enforce_max_projects() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  allowed integer;
  used integer;
  plan_names text;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('billing.max_projects:' || new.owner_id::text, 0));
  allowed := private.user_limit(new.owner_id, 'max_projects');
  if allowed is null then
    return new;
  end if;
  select count(*) into used from public.projects p
   where p.owner_id = new.owner_id and p.status in ('open', 'in_progress') and p.id <> new.id;
  if used >= allowed then
    select string_agg(p.slug, ', ' order by p.slug) into plan_names from private.entitling_plans(new.owner_id) p;
    raise exception 'plan % allows % open projects (max_projects) and you have %: close one or upgrade',
      coalesce(plan_names, 'none'), allowed, used using errcode = 'PT409';
  end if;
  return new;
end
$$;
comment on function private.enforce_max_projects() is
  'Refuses a project beyond the owner''s max_projects (open and in-progress projects) with PT409 naming the plan and the limit.';

create trigger projects_max_projects before insert on public.projects
  for each row execute function private.enforce_max_projects();
