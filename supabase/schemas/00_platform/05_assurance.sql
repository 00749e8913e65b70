-- The assurance-level rule (issue 14): a user who has a verified MFA factor (TOTP, or
-- recovery codes beside one) needs a two-factor session (aal2) for money-moving and authority
-- actions: payout onboarding, refunds, role assignment and permission grants, account
-- deletion, changing e-mail. Without a verified factor aal1 is enough. This file holds the one
-- rule; the RBAC guards (10_rbac.sql) call it, and the edge functions ask it as the caller
-- through public.has_required_aal() before calling the ops RPCs they act through
-- (functions/_shared/platform/assurance.ts). E-mail changes are Supabase Auth's, which
-- enforces the same rule itself (GoTrue's UserUpdate, 401 insufficient_aal).

create function private.has_required_aal() returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select auth.uid() is null
      or coalesce(auth.jwt() ->> 'aal', 'aal1') in ('aal2', 'aal3')
      or not exists (
        select 1 from auth.mfa_factors f
         where f.user_id = auth.uid() and f.status = 'verified'
      )
$$;
comment on function private.has_required_aal() is
  'Whether the request''s session is strong enough for a money-moving or authority action: '
  'true for an aal2 (or aal3) access token, for a user with no verified MFA factor, and for '
  'callers that are not a user (the service role, which vouches for its acting user). Reads '
  'the aal claim of the access token (auth.jwt()) and auth.mfa_factors, which the API roles '
  'cannot read: hence security definer. The body of the client RPC public.has_required_aal.';
revoke execute on function private.has_required_aal() from public;
grant execute on function private.has_required_aal() to authenticated, service_role;

create function public.has_required_aal() returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select private.has_required_aal()
$$;
comment on function public.has_required_aal() is
  'Whether the caller''s session may do money-moving and authority actions now: false when the '
  'caller has a verified MFA factor and the session is aal1 (verify the factor first).';
revoke execute on function public.has_required_aal() from public;
grant execute on function public.has_required_aal() to authenticated, service_role;

create function private.assert_required_aal() returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not private.has_required_aal() then
    raise exception 'this action needs a two-factor (aal2) session: verify your factor first'
      using errcode = '42501';
  end if;
end
$$;
comment on function private.assert_required_aal() is
  'Refuses (42501, PostgREST''s 403) a money-moving or authority action from an aal1 session '
  'of a user who has a verified MFA factor; see private.has_required_aal.';
revoke execute on function private.assert_required_aal() from public;
grant execute on function private.assert_required_aal() to authenticated, service_role;
