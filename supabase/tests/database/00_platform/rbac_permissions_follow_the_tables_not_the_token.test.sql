-- private.has_permission decides from the RBAC tables at every statement, never from the
-- roles the access token names (app_metadata.roles, written by the access token hook when
-- the token was issued): a role granted mid-session works at once, a revoked one stops at
-- once, and a token that names roles its user does not hold (minted before a revocation, or
-- before the hook existed, or with app_metadata set by an admin) grants nothing by itself.
-- docs/domains/platform.md (RBAC) says why a token short-circuit was measured and left out.
begin;
select plan(10);

select tests.create_user('token-reader@example.com');
select tests.create_user('token-revoked@example.com');
select tests.create_user('token-hidden@example.com');
select tests.clear_authentication();
update public.profiles set is_public = false where id = tests.get_user_id('token-hidden@example.com');
select tests.grant_role('token-revoked@example.com', 'staff');

-- Signs in as the user with an access token whose app_metadata.roles says `roles`, as the
-- hook wrote it when the token was issued (null: a token without the claim).
create function pg_temp.signed_in_with(email text, roles jsonb) returns void language plpgsql as $$
begin
  perform tests.authenticate_as(tests.get_user_id(email));
  perform set_config('request.jwt.claims',
    case when roles is null then current_setting('request.jwt.claims')::jsonb #- '{app_metadata,roles}'
         else jsonb_set(current_setting('request.jwt.claims')::jsonb, '{app_metadata,roles}', roles) end::text,
    true);
end
$$;
grant execute on function pg_temp.signed_in_with(text, jsonb) to authenticated;

-- A user without roles: their token says so, and the tables agree.
select pg_temp.signed_in_with('token-reader@example.com', '[]');
select is(private.has_permission('users.read'), false, 'a user holding no role lacks users.read');
select is((select count(*) from public.profiles where id = tests.get_user_id('token-hidden@example.com')), 0::bigint,
  'and does not see another user''s private profile');

-- Granted staff mid-session: the token still says no roles; the tables decide.
select tests.clear_authentication();
select tests.grant_role('token-reader@example.com', 'staff');
select pg_temp.signed_in_with('token-reader@example.com', '[]');
select is(private.has_permission('users.read'), true,
  'a role granted after the token was issued grants its permissions at once, though the token says no roles');
select is((select count(*) from public.profiles where id = tests.get_user_id('token-hidden@example.com')), 1::bigint,
  'the new staff member reads the private profile with the same token');
select is((select count(*) from public.private_profiles where id = tests.get_user_id('token-hidden@example.com')), 1::bigint,
  'and its private details');

-- Revoked mid-session: the token still names staff; the tables decide.
select pg_temp.signed_in_with('token-revoked@example.com', '["staff"]');
select is(private.has_permission('users.read'), true, 'a staff member holds users.read');
select tests.clear_authentication();
delete from public.user_roles where user_id = tests.get_user_id('token-revoked@example.com');
select pg_temp.signed_in_with('token-revoked@example.com', '["staff"]');
select is(private.has_permission('users.read'), false,
  'a revoked role grants nothing at once, though the token still names it');
select is((select count(*) from public.profiles where id = tests.get_user_id('token-hidden@example.com')), 0::bigint,
  'the former staff member no longer sees the private profile');

-- A token naming a role its user never held grants nothing.
select pg_temp.signed_in_with('token-revoked@example.com', '["admin"]');
select is(private.has_permission('roles.manage'), false, 'a role named only in the token grants nothing');

-- A token without the claim (issued before the hook existed) is decided the same way.
select pg_temp.signed_in_with('token-reader@example.com', null);
select is(private.has_permission('users.read'), true, 'a token without app_metadata.roles: the tables decide');

select * from finish();
rollback;
