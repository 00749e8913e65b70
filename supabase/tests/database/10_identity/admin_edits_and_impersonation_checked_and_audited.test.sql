-- ops.admin_edit_user (003 PUT /users/{id}) and ops.record_impersonation (004 impersonate):
-- the acting staff member's permission decides (users.manage; users.impersonate, which only
-- admin holds by default), refusals are precise, and each action lands in the audit log with
-- the member as actor. Only the service role (the edge functions) calls them.
begin;
select plan(27);

select tests.create_user('ad-admin@example.com');
select tests.create_user('ad-admin2@example.com');
select tests.create_user('ad-staff@example.com');
select tests.create_user('ad-target@example.com', '{"first_name": "Tess", "last_name": "Target"}');
select tests.create_user('ad-other@example.com');
select tests.grant_role('ad-admin@example.com', 'admin');
select tests.grant_role('ad-admin2@example.com', 'admin');
select tests.grant_role('ad-staff@example.com', 'staff');
select tests.clear_authentication();

-- The permission: reference data, admin only.
select results_eq(
  $$ select r.name from public.role_permissions rp join public.roles r on r.id = rp.role_id
      where rp.permission = 'users.impersonate' order by r.name $$,
  $$ values ('admin') $$,
  'users.impersonate exists and only admin holds it by default'
);

-- admin_edit_user ------------------------------------------------------------------------
select tests.act_as('service_role');
select is(
  ops.admin_edit_user(tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com'),
    '{"display_name": "Tess T.", "username": "tess_t", "bio": "Tailor", "first_name": "Tessa", "last_name": "Target", "phone": "+14155550123", "email": "tess@example.com"}'),
  jsonb_build_object('id', tests.get_user_id('ad-target@example.com'), 'username', 'tess_t', 'display_name', 'Tess T.',
    'bio', 'Tailor', 'first_name', 'Tessa', 'last_name', 'Target', 'phone', '+14155550123'),
  'a users.manage holder edits profile fields, names and phone; the answer is the profile as it now is'
);
select results_eq(
  $$ select actor_id, actor_label, action, table_name, row_id, before, after from public.audit_log
      where action = 'admin_edit_user' $$,
  $$ values (tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-admin@example.com')::text, 'admin_edit_user', 'users',
             tests.get_user_id('ad-target@example.com')::text, null::jsonb,
             '{"fields": ["bio", "display_name", "email", "first_name", "last_name", "phone", "username"]}'::jsonb) $$,
  'the edit is audited with who did it and which fields (not the values: the log outlives deletion)'
);
select lives_ok(
  format($$ select ops.admin_edit_user(%L, %L, '{"bio": "Only the bio"}') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  'a single field may be edited'
);
select is(
  (select display_name || '|' || bio from public.profiles where id = tests.get_user_id('ad-target@example.com')),
  'Tess T.|Only the bio', 'fields not named are left as they are'
);
select throws_ok(
  format($$ select ops.admin_edit_user(%L, %L, '{"bio": "x"}') $$, tests.get_user_id('ad-staff@example.com'), tests.get_user_id('ad-target@example.com')),
  '42501', 'permission denied: users.manage is required to edit users',
  'staff (users.read only) cannot edit users'
);
select throws_ok(
  format($$ select ops.admin_edit_user(%L, %L, '{"account_status": "active"}') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  '22023', 'unknown field: account_status (fields: display_name, username, bio, first_name, last_name, phone, email)',
  'a field outside the list is refused'
);
select throws_ok(
  format($$ select ops.admin_edit_user(%L, %L, '{}') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  '22023', 'changes must be a JSON object naming at least one field',
  'an empty change is refused'
);
select throws_ok(
  format($$ select ops.admin_edit_user(%L, '00000000-0000-4000-8000-00000000dead', '{"bio": "x"}') $$, tests.get_user_id('ad-admin@example.com')),
  'PT404', 'user 00000000-0000-4000-8000-00000000dead not found',
  'an unknown user is 404'
);
select throws_ok(
  format($$ select ops.admin_edit_user(%L, %L, '{"phone": "555"}') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  '23514', 'new row for relation "private_profiles" violates check constraint "private_profiles_phone_e164"',
  'a phone number that is not E.164 is refused by the column''s rule'
);
select throws_ok(
  format($$ select ops.admin_edit_user(%L, %L, '{"email": "AD-OTHER@example.com"}') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  '23505', 'this e-mail address is already registered by another user',
  'an e-mail another user has is refused, whatever its case'
);
select tests.clear_authentication();
update auth.users set phone = '14155550999' where id = tests.get_user_id('ad-other@example.com');
select tests.act_as('service_role');
select throws_ok(
  format($$ select ops.admin_edit_user(%L, %L, '{"phone": "+14155550999"}') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  '23505', 'this phone number is already registered by another user',
  'a phone another user signs in with is refused'
);
select is((select count(*)::int from public.audit_log where action = 'admin_edit_user'), 2,
  'refused edits leave no audit entry');

-- record_impersonation -------------------------------------------------------------------
select results_eq(
  format($$ select email from ops.record_impersonation(%L, %L, 'Ticket 4711: cannot see orders') $$,
         tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  $$ values ('ad-target@example.com') $$,
  'an admin impersonates a user; the answer is the e-mail to send the link to'
);
select results_eq(
  $$ select actor_id, action, table_name, row_id, after from public.audit_log where action = 'impersonate' $$,
  $$ values (tests.get_user_id('ad-admin@example.com'), 'impersonate', 'users', tests.get_user_id('ad-target@example.com')::text,
             '{"reason": "Ticket 4711: cannot see orders"}'::jsonb) $$,
  'the impersonation is audited with who, whom and why'
);
select throws_ok(
  format($$ select * from ops.record_impersonation(%L, %L, 'curious') $$, tests.get_user_id('ad-staff@example.com'), tests.get_user_id('ad-target@example.com')),
  '42501', 'permission denied: users.impersonate is required to impersonate users',
  'staff cannot impersonate'
);
select throws_ok(
  format($$ select * from ops.record_impersonation(%L, %L, '   ') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  '22023', 'a reason is required to impersonate a user',
  'a blank reason is refused'
);
select throws_ok(
  format($$ select * from ops.record_impersonation(%L, %L, null) $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  '22023', 'a reason is required to impersonate a user',
  'a missing reason is refused'
);
select throws_ok(
  format($$ select * from ops.record_impersonation(%L, %L, repeat('x', 501)) $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  '22023', 'the reason must be at most 500 characters',
  'an overlong reason is refused'
);
select throws_ok(
  format($$ select * from ops.record_impersonation(%L, %L, 'testing') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-admin@example.com')),
  '22023', 'you cannot impersonate yourself',
  'nobody impersonates themselves'
);
select throws_ok(
  format($$ select * from ops.record_impersonation(%L, %L, 'testing') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-admin2@example.com')),
  '42501', format('user %s is an admin (holds roles.manage or users.impersonate): admins cannot be impersonated', tests.get_user_id('ad-admin2@example.com')),
  'an admin cannot be impersonated'
);
select throws_ok(
  format($$ select * from ops.record_impersonation(%L, '00000000-0000-4000-8000-00000000dead', 'testing') $$, tests.get_user_id('ad-admin@example.com')),
  'PT404', 'user 00000000-0000-4000-8000-00000000dead not found',
  'an unknown user is 404'
);
select tests.clear_authentication();
insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at, is_anonymous)
values ('00000000-0000-0000-0000-000000000000', 'a0000000-0000-4000-8000-0000000000ad', 'authenticated', 'authenticated', null, '{}', '{}', now(), now(), true);
select tests.act_as('service_role');
select throws_ok(
  format($$ select * from ops.record_impersonation(%L, 'a0000000-0000-4000-8000-0000000000ad', 'testing') $$, tests.get_user_id('ad-admin@example.com')),
  'PT409', 'user a0000000-0000-4000-8000-0000000000ad has no e-mail address: no sign-in link can be made for them',
  'a user without an e-mail (anonymous) cannot be sent a link'
);
select is((select count(*)::int from public.audit_log where action = 'impersonate'), 1,
  'refused impersonations leave no audit entry');

-- Only the service role calls them.
select tests.act_as('ad-admin@example.com');
select throws_ok(
  format($$ select ops.admin_edit_user(auth.uid(), %L, '{"bio": "x"}') $$, tests.get_user_id('ad-target@example.com')),
  '42501', 'permission denied for schema ops', 'a signed-in admin cannot call admin_edit_user directly'
);
select throws_ok(
  format($$ select * from ops.record_impersonation(auth.uid(), %L, 'x') $$, tests.get_user_id('ad-target@example.com')),
  '42501', 'permission denied for schema ops', 'nor record_impersonation'
);
select tests.act_as('anon');
select throws_ok(
  format($$ select * from ops.record_impersonation(%L, %L, 'x') $$, tests.get_user_id('ad-admin@example.com'), tests.get_user_id('ad-target@example.com')),
  '42501', 'permission denied for schema ops', 'anon cannot either'
);

select * from finish();
rollback;
