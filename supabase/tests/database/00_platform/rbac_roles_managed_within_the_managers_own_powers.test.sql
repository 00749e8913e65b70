-- RBAC: signed-in users read the catalogue; only roles.manage holders change it, and
-- never beyond their own powers; expired assignments grant nothing; effective permissions
-- and the access report are for oneself, user readers and auditors only.
begin;
select plan(50);

select tests.create_user('rbac-member@example.com');
select tests.create_user('rbac-admin@example.com');
select tests.create_user('rbac-staff@example.com');
select tests.create_user('rbac-lead@example.com');
select tests.create_user('rbac-expired@example.com');
select tests.create_user('rbac-multi@example.com');
select tests.create_user('rbac-target@example.com');

-- As postgres (what migrations and service tooling are): the world the tests run in.
select tests.clear_authentication();
-- A custom role that can manage roles but nothing else: the "support lead" who is also staff.
insert into public.roles (name, description) values ('rbac_support_lead', 'Assigns support roles');
insert into public.role_permissions (role_id, permission)
  select id, 'roles.manage' from public.roles where name = 'rbac_support_lead';
-- A custom role without permissions, for the admin to delete.
insert into public.roles (name, description) values ('rbac_scratch', 'Disposable');

-- The member holds only the seller role: a plain user with one harmless role of their own.
select tests.grant_role('rbac-member@example.com', 'seller');
select tests.grant_role('rbac-admin@example.com', 'admin');
select tests.grant_role('rbac-staff@example.com', 'staff');
insert into public.user_roles (user_id, role_id)
  select tests.get_user_id('rbac-lead@example.com'), id from public.roles where name in ('staff', 'rbac_support_lead');
-- Staff until a minute ago.
insert into public.user_roles (user_id, role_id, assigned_at, expires_at)
  select tests.get_user_id('rbac-expired@example.com'), id, now() - interval '30 days', now() - interval '1 minute'
  from public.roles where name = 'staff';
-- content.moderate through two roles at once.
insert into public.user_roles (user_id, role_id)
  select tests.get_user_id('rbac-multi@example.com'), id from public.roles where name in ('staff', 'moderator');

-- anon ----------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.permissions $$, '42501', 'permission denied for table permissions',
  'anon cannot read the permission catalogue');
select throws_ok($$ select 1 from public.roles $$, '42501', 'permission denied for table roles',
  'anon cannot read roles');
select throws_ok($$ select 1 from public.user_roles $$, '42501', 'permission denied for table user_roles',
  'anon cannot read role assignments');
select is(private.has_permission('users.read'), false, 'anon holds no permission');

-- plain user ----------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('rbac-member@example.com'));
select is(
  (select count(*)::int from public.permissions
    where code in ('users.read', 'users.manage', 'roles.manage', 'sellers.review', 'invites.manage',
                   'audit.read', 'content.moderate', 'settings.manage', 'shop.sell')),
  9,
  'a signed-in user reads the whole permission catalogue'
);
select isnt_empty(
  $$ select 1 from public.role_permissions rp join public.roles r on r.id = rp.role_id
     where r.name = 'admin' and rp.permission = 'roles.manage' $$,
  'a signed-in user reads roles and which permissions they grant'
);
select throws_ok(
  $$ insert into public.roles (name) values ('rbac_mine') $$,
  '42501', 'new row violates row-level security policy for table "roles"', 'a plain user cannot create roles'
);
select is_empty(
  $$ update public.roles set description = 'mine' where name = 'rbac_scratch' returning id $$,
  'a plain user''s update of a role touches no row'
);
select is_empty(
  $$ delete from public.roles where name = 'rbac_scratch' returning id $$,
  'a plain user''s delete of a role touches no row'
);
-- A custom role and a permission the user holds: only their lack of roles.manage stands in
-- the way (a system role or a permission they lack would be refused by the grant guard first).
select throws_ok(
  $$ insert into public.role_permissions (role_id, permission)
     select id, 'shop.sell' from public.roles where name = 'rbac_scratch' $$,
  '42501', 'new row violates row-level security policy for table "role_permissions"',
  'a plain user cannot grant permissions to a role'
);
select is_empty(
  $$ delete from public.role_permissions where permission = 'shop.sell' returning role_id $$,
  'a plain user''s revocation of a role''s permission touches no row'
);
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select auth.uid(), id from public.roles where name = 'admin' $$,
  '42501', 'permission denied: you cannot assign or remove a role granting permissions you do not hold',
  'a plain user cannot make themselves admin'
);
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select auth.uid(), id from public.roles where name = 'rbac_scratch' $$,
  '42501', 'new row violates row-level security policy for table "user_roles"',
  'a plain user cannot assign even a role without permissions'
);
select is_empty(
  $$ update public.user_roles set expires_at = now() + interval '1 year' where user_id = auth.uid() returning role_id $$,
  'a plain user cannot change the expiry of their own roles'
);
select is_empty(
  $$ delete from public.user_roles where user_id = auth.uid() returning role_id $$,
  'a plain user cannot remove their own roles'
);
select results_eq(
  $$ select r.name from public.user_roles ur join public.roles r on r.id = ur.role_id where ur.user_id = auth.uid() $$,
  array['seller'],
  'a plain user reads their own role assignments'
);
select is_empty(
  $$ select 1 from public.user_roles where user_id <> auth.uid() $$,
  'a plain user reads no one else''s role assignments'
);
select ok(private.has_permission('shop.sell'), 'has_permission is true for a permission the user''s role grants');
select ok(not private.has_permission('users.read'), 'has_permission is false for a permission no role of theirs grants');
select results_eq(
  $$ select permission, granted_by_roles from public.effective_permissions() $$,
  $$ values ('shop.sell', array['seller']) $$,
  'a user reads their own effective permissions'
);
select throws_ok(
  $$ select * from public.effective_permissions(tests.get_user_id('rbac-admin@example.com')) $$,
  '42501', 'permission denied: users.read is required to see another user''s permissions',
  'a user without users.read cannot read another user''s permissions'
);
select throws_ok(
  $$ select * from public.access_report() $$,
  '42501', 'permission denied: audit.read is required for the access report',
  'a user without audit.read cannot read the access report'
);

-- expired assignment --------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('rbac-expired@example.com'));
select ok(not private.has_permission('users.read'), 'an expired role grants no permission');
select tests.clear_authentication();
select is_empty(
  $$ select 1 from private.active_user_roles where user_id = tests.get_user_id('rbac-expired@example.com') $$,
  'an expired role is not held (it is not among the active assignments)'
);
select tests.authenticate_as(tests.get_user_id('rbac-expired@example.com'));
select is_empty(
  $$ select * from public.effective_permissions() $$,
  'effective permissions leave out expired roles'
);

-- staff ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('rbac-staff@example.com'));
select isnt_empty(
  $$ select 1 from public.user_roles where user_id = tests.get_user_id('rbac-admin@example.com') $$,
  'staff (users.read) read every user''s role assignments'
);
select results_eq(
  $$ select permission from public.effective_permissions(tests.get_user_id('rbac-member@example.com')) $$,
  array['shop.sell'],
  'staff (users.read) read another user''s effective permissions'
);
select results_eq(
  $$ select permission, granted_by_roles from public.effective_permissions(tests.get_user_id('rbac-multi@example.com'))
     where permission = 'content.moderate' $$,
  $$ values ('content.moderate', array['moderator', 'staff']) $$,
  'a permission held through two roles is listed once, with both roles'
);
select is(
  (select count(*)::int from public.effective_permissions(tests.get_user_id('rbac-multi@example.com'))),
  (select count(distinct rp.permission)::int from public.role_permissions rp join public.roles r on r.id = rp.role_id
    where r.name in ('staff', 'moderator')),
  'effective permissions merge all roles: each permission of staff and moderator once (users.read, audit.read, content.moderate and the domains'' own, such as commerce.manage)'
);
select results_eq(
  $$ select roles, access_level from public.access_report() where user_id = tests.get_user_id('rbac-admin@example.com') $$,
  $$ values (array['admin'], 'admin') $$,
  'an auditor (audit.read) reads the access report'
);
select is_empty(
  $$ select 1 from public.access_report() where user_id = tests.get_user_id('rbac-expired@example.com') $$,
  'the access report leaves out users whose roles have all expired'
);
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('rbac-target@example.com'), id from public.roles where name = 'moderator' $$,
  '42501', 'new row violates row-level security policy for table "user_roles"',
  'staff without roles.manage cannot assign roles'
);

-- a staff member who may manage roles ------------------------------------------------
select tests.authenticate_as(tests.get_user_id('rbac-lead@example.com'));
select lives_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('rbac-target@example.com'), id from public.roles where name = 'moderator' $$,
  'a roles.manage holder assigns a role whose permissions they hold'
);
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select auth.uid(), id from public.roles where name = 'admin' $$,
  '42501', 'permission denied: you cannot assign or remove a role granting permissions you do not hold',
  'a roles.manage holder cannot make themselves admin'
);
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id)
     select tests.get_user_id('rbac-target@example.com'), id from public.roles where name = 'admin' $$,
  '42501', 'permission denied: you cannot assign or remove a role granting permissions you do not hold',
  'a roles.manage holder cannot hand out admin'
);
select throws_ok(
  $$ delete from public.user_roles ur using public.roles r
     where r.id = ur.role_id and r.name = 'admin' and ur.user_id = tests.get_user_id('rbac-admin@example.com') $$,
  '42501', 'permission denied: you cannot assign or remove a role granting permissions you do not hold',
  'a roles.manage holder cannot remove an admin''s role'
);
select throws_ok(
  $$ update public.user_roles set expires_at = now() + interval '1 hour'
     where user_id = tests.get_user_id('rbac-admin@example.com') $$,
  '42501', 'permission denied: you cannot assign or remove a role granting permissions you do not hold',
  'a roles.manage holder cannot put an expiry on an admin''s role'
);
select throws_ok(
  $$ insert into public.role_permissions (role_id, permission)
     select id, 'settings.manage' from public.roles where name = 'rbac_support_lead' $$,
  '42501', 'permission denied: you cannot grant or revoke settings.manage without holding it',
  'a roles.manage holder cannot grant a role a permission they do not hold'
);

-- admin ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('rbac-admin@example.com'));
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id, assigned_by)
     select tests.get_user_id('rbac-member@example.com'), id, tests.get_user_id('rbac-member@example.com')
     from public.roles where name = 'staff' $$,
  '42501', 'permission denied for table user_roles', 'assigned_by cannot be written by the caller'
);
select lives_ok(
  $$ insert into public.user_roles (user_id, role_id, expires_at)
     select tests.get_user_id('rbac-member@example.com'), id, now() + interval '30 days'
     from public.roles where name = 'staff' $$,
  'an admin assigns a role with an expiry'
);
select results_eq(
  $$ select ur.assigned_by, ur.assigned_at = now() from public.user_roles ur join public.roles r on r.id = ur.role_id
     where ur.user_id = tests.get_user_id('rbac-member@example.com') and r.name = 'staff' $$,
  $$ values (tests.get_user_id('rbac-admin@example.com'), true) $$,
  'assigned_by and assigned_at are forced to the assigning admin and now'
);
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id, expires_at)
     select tests.get_user_id('rbac-target@example.com'), id, now() - interval '1 day'
     from public.roles where name = 'staff' $$,
  '23514', 'new row for relation "user_roles" violates check constraint "user_roles_expiry_after_assignment"',
  'an expiry before the assignment is refused'
);
select lives_ok(
  $$ insert into public.roles (name, description) values ('rbac_curator', 'Curates content') $$,
  'an admin creates a role'
);
select lives_ok(
  $$ insert into public.role_permissions (role_id, permission)
     select id, 'content.moderate' from public.roles where name = 'rbac_curator' $$,
  'an admin grants a permission to a role'
);
select throws_ok(
  $$ insert into public.role_permissions (role_id, permission)
     select id, 'users.manage' from public.roles where name = 'seller' $$,
  '42501', 'permission denied: system roles'' permissions change only through migrations',
  'a system role''s permissions cannot be changed through the API, even by an admin'
);
select throws_ok(
  $$ delete from public.roles where name = 'moderator' $$,
  '42501', 'system role moderator cannot be changed or deleted',
  'a system role cannot be deleted through the API, even by an admin'
);
select throws_ok(
  $$ update public.roles set description = 'renamed' where name = 'staff' $$,
  '42501', 'system role staff cannot be changed or deleted',
  'a system role cannot be changed through the API, even by an admin'
);
select isnt_empty(
  $$ delete from public.roles where name = 'rbac_scratch' returning id $$,
  'an admin deletes a custom role'
);
select lives_ok(
  $$ delete from public.user_roles ur using public.roles r
     where r.id = ur.role_id and r.name = 'moderator' and ur.user_id = tests.get_user_id('rbac-target@example.com') $$,
  'an admin removes a role assignment'
);

-- constraints ---------------------------------------------------------------------------
select tests.clear_authentication();
select throws_ok(
  $$ insert into public.user_roles (user_id, role_id, assigned_at, expires_at)
     select tests.get_user_id('rbac-target@example.com'), id, now(), now()
     from public.roles where name = 'seller' $$,
  '23514', 'new row for relation "user_roles" violates check constraint "user_roles_expiry_after_assignment"',
  'user_roles_expiry_after_assignment: expires_at must be after assigned_at'
);

select * from finish();
rollback;
