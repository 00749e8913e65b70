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
