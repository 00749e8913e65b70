-- The assurance-level rule: a user with a verified MFA factor needs an aal2 session to assign,
-- change or remove roles and to grant or revoke permissions; without a verified factor (none,
-- or only an unverified one) aal1 is enough. public.has_required_aal() answers the same rule
-- for the edge functions (payout onboarding, refunds, account deletion), as the caller.
begin;
select plan(33);

select tests.create_user('aal-admin-plain@example.com');
select tests.create_user('aal-admin-mfa@example.com');
select tests.create_user('aal-admin-pending@example.com');
select tests.create_user('aal-member-mfa@example.com');
select tests.create_user('aal-owner@example.com');
select tests.create_user('aal-stranger@example.com');
select tests.create_user('aal-target@example.com');

select tests.clear_authentication();
select tests.grant_role('aal-admin-plain@example.com', 'admin');
select tests.grant_role('aal-admin-mfa@example.com', 'admin');
select tests.grant_role('aal-admin-pending@example.com', 'admin');
select tests.add_verified_factor('aal-admin-mfa@example.com');
select tests.add_verified_factor('aal-member-mfa@example.com');
select tests.add_verified_factor('aal-owner@example.com');
-- An enrolment never verified is not a factor yet.
select tests.add_verified_factor('aal-admin-pending@example.com', 'unverified');
insert into public.roles (name, description) values ('aal_scratch', 'For permission grants');

-- ---------------------------------------------------------------------------------------
-- public.has_required_aal(): the rule as a caller asks it.

select tests.act_as('aal-owner@example.com');
select is(public.has_required_aal(), false, 'owner with a verified factor, aal1 session: not enough');
select tests.with_aal('aal2');
select is(public.has_required_aal(), true, 'owner with a verified factor, aal2 session: enough');
select tests.act_as('aal-stranger@example.com');
select is(public.has_required_aal(), true, 'a user without a factor: aal1 is enough (another user''s factor does not count)');
select tests.act_as('aal-admin-pending@example.com');
select is(public.has_required_aal(), true, 'an unverified factor does not raise the bar');
select tests.act_as('aal-admin-mfa@example.com');
select is(public.has_required_aal(), false, 'an admin with a verified factor at aal1: not enough');
select tests.act_as('service_role');
select is(public.has_required_aal(), true, 'the service role (vouching for its acting user) passes');
select tests.act_as('anon');
select throws_ok($$ select public.has_required_aal() $$, '42501',
  'permission denied for function has_required_aal', 'anon may not ask');
select throws_ok($$ select private.assert_required_aal() $$, '42501',
  'permission denied for function assert_required_aal', 'anon may not run the assertion');
select tests.act_as('aal-owner@example.com');
select throws_ok($$ select private.assert_required_aal() $$, '42501',
  'this action needs a two-factor (aal2) session: verify your factor first',
  'the assertion raises 42501 with the precise message at aal1');
select tests.with_aal('aal2');
select lives_ok($$ select private.assert_required_aal() $$, 'and passes at aal2');

-- ---------------------------------------------------------------------------------------
-- Role assignment (user_roles) and permission grants (role_permissions).

-- An admin without a factor: aal1 is enough.
select tests.act_as('aal-admin-plain@example.com');
select lives_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('aal-target@example.com'), id from public.roles where name = 'moderator' $$,
  'admin without a factor assigns a role at aal1');
select is(
  (select count(*)::int from public.user_roles ur join public.roles r on r.id = ur.role_id
    where ur.user_id = tests.get_user_id('aal-target@example.com') and r.name = 'moderator'),
  1, 'the role is assigned');
select lives_ok(
  $$ delete from public.user_roles
      where user_id = tests.get_user_id('aal-target@example.com')
        and role_id = (select id from public.roles where name = 'moderator') $$,
  'and removes it at aal1');

-- An admin with an unverified factor only: aal1 is enough.
select tests.act_as('aal-admin-pending@example.com');
select lives_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('aal-target@example.com'), id from public.roles where name = 'moderator' $$,
  'admin with an unverified factor assigns a role at aal1');

-- An admin with a verified factor at aal1: every change refused with the precise message.
select tests.act_as('aal-admin-mfa@example.com');
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('aal-target@example.com'), id from public.roles where name = 'staff' $$,
  '42501', 'this action needs a two-factor (aal2) session: verify your factor first',
  'admin with a factor cannot assign a role at aal1');
select throws_ok(
  $$ update public.user_roles set expires_at = now() + interval '1 day'
      where user_id = tests.get_user_id('aal-target@example.com') $$,
  '42501', 'this action needs a two-factor (aal2) session: verify your factor first',
  'nor change an expiry at aal1');
select throws_ok(
  $$ delete from public.user_roles where user_id = tests.get_user_id('aal-target@example.com') $$,
  '42501', 'this action needs a two-factor (aal2) session: verify your factor first',
  'nor remove a role at aal1');
select throws_ok(
  $$ insert into public.role_permissions (role_id, permission)
     select id, 'users.read' from public.roles where name = 'aal_scratch' $$,
  '42501', 'this action needs a two-factor (aal2) session: verify your factor first',
  'nor grant a permission to a role at aal1');
select tests.clear_authentication();
select is(
  (select count(*)::int from public.user_roles ur join public.roles r on r.id = ur.role_id
    where ur.user_id = tests.get_user_id('aal-target@example.com')),
  1, 'nothing changed: the target still holds only the moderator role, without expiry');

-- The same admin at aal2: allowed.
select tests.act_as('aal-admin-mfa@example.com');
select tests.with_aal('aal2');
select lives_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('aal-target@example.com'), id from public.roles where name = 'staff' $$,
  'admin with a factor assigns a role at aal2');
select lives_ok(
  $$ update public.user_roles set expires_at = now() + interval '1 day'
      where user_id = tests.get_user_id('aal-target@example.com') $$,
  'changes an expiry at aal2');
select lives_ok(
  $$ insert into public.role_permissions (role_id, permission)
     select id, 'users.read' from public.roles where name = 'aal_scratch' $$,
  'grants a permission at aal2');
select lives_ok(
  $$ delete from public.role_permissions
      where permission = 'users.read' and role_id = (select id from public.roles where name = 'aal_scratch') $$,
  'revokes it at aal2');
select lives_ok(
  $$ delete from public.user_roles
      where user_id = tests.get_user_id('aal-target@example.com')
        and role_id = (select id from public.roles where name = 'staff') $$,
  'removes a role at aal2');
select tests.clear_authentication();
select is(
  (select count(*)::int from public.user_roles ur join public.roles r on r.id = ur.role_id
    where ur.user_id = tests.get_user_id('aal-target@example.com') and r.name = 'staff'),
  0, 'the staff role came and went at aal2');
select is(
  (select assigned_by from public.user_roles ur join public.roles r on r.id = ur.role_id
    where ur.user_id = tests.get_user_id('aal-target@example.com') and r.name = 'moderator'),
  tests.get_user_id('aal-admin-pending@example.com'), 'assigned_by is still recorded as before');

-- A member with a factor at aal2 is still not a role manager: aal2 adds no power.
select tests.act_as('aal-member-mfa@example.com');
select tests.with_aal('aal2');
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('aal-member-mfa@example.com'), id from public.roles where name = 'admin' $$,
  '42501', 'permission denied: you cannot assign or remove a role granting permissions you do not hold',
  'aal2 grants nothing by itself');
select tests.with_aal('aal1');
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('aal-member-mfa@example.com'), id from public.roles where name = 'admin' $$,
  '42501', 'permission denied: you cannot assign or remove a role granting permissions you do not hold',
  'at aal1 the missing power is what the refusal names, not the session');

-- A stranger without a factor and without roles.manage: refused as before.
select tests.act_as('aal-stranger@example.com');
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('aal-stranger@example.com'), id from public.roles where name = 'seller' $$,
  '42501', 'permission denied: you cannot assign or remove a role granting permissions you do not hold',
  'a stranger assigns nothing');

-- Anon has no grant at all.
select tests.act_as('anon');
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id) values (gen_random_uuid(), gen_random_uuid()) $$,
  '42501', 'permission denied for table user_roles', 'anon writes no roles');

-- The service role (the admin CLI, vouching for its operator) is not asked for aal2.
select tests.act_as('service_role');
select lives_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('aal-owner@example.com'), id from public.roles where name = 'moderator' $$,
  'the service role assigns a role');

-- Recovery codes count as a verified factor like any other.
select tests.clear_authentication();
delete from auth.mfa_factors where user_id = tests.get_user_id('aal-owner@example.com');
select tests.act_as('aal-owner@example.com');
select is(public.has_required_aal(), true, 'the owner without factors again: aal1 is enough');
select tests.clear_authentication();
insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at)
values (gen_random_uuid(), tests.get_user_id('aal-owner@example.com'), 'Recovery codes', 'recovery_code', 'verified', now(), now());
select tests.act_as('aal-owner@example.com');
select is(public.has_required_aal(), false, 'a recovery-codes factor raises the bar too');

select * from finish();
rollback;
