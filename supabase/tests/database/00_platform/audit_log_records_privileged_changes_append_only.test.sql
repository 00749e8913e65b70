-- The audit log: privileged changes (role assignments, invite codes, seller reviews,
-- account status, settings) are recorded with who did it and the row before and after;
-- service tooling is named by the x-admin-actor header; entries can never be changed or
-- deleted, and only audit.read holders read them.
begin;
select plan(29);

select tests.create_user('audit-admin@example.com');
select tests.create_user('audit-staff@example.com');
select tests.create_user('audit-member@example.com');
select tests.create_user('audit-applicant@example.com');

select tests.clear_authentication();
select tests.grant_role('audit-admin@example.com', 'admin');
select tests.grant_role('audit-staff@example.com', 'staff');
insert into public.seller_applications (user_id, shop_name, category, return_address, agreed_to_terms)
  values (tests.get_user_id('audit-applicant@example.com'), 'Audit Atelier', 'tailoring',
          '{"full_name": "A", "address_line1": "1 Rue", "city": "Paris", "country_code": "FR"}', true);

-- The entries this transaction wrote, oldest first: the log is shared with everything else
-- that ran on this database, and created_at is the writing transaction's start time.
create function pg_temp.entries(tbl text, row_key text)
returns setof public.audit_log language sql as $$
  select * from public.audit_log where table_name = tbl and row_id = row_key and created_at = now() order by id
$$;

-- Changes by a signed-in admin --------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('audit-admin@example.com'));
select tests.grant_role('audit-member@example.com', 'moderator');
insert into public.invite_codes (code, note) values ('audit-code-0001', 'for the audit');
update public.platform_settings set value = '"invite_only"' where key = 'signup_mode';
do $$ begin
  perform public.review_seller_application(
    (select id from public.seller_applications where user_id = tests.get_user_id('audit-applicant@example.com')),
    'approved');
end $$;
select tests.clear_authentication();

select results_eq(
  $$ select actor_id, actor_label, action, after ->> 'role_id', before is null
     from pg_temp.entries('user_roles', tests.get_user_id('audit-member@example.com')::text) $$,
  $$ select tests.get_user_id('audit-admin@example.com'), tests.get_user_id('audit-admin@example.com')::text,
            'insert', id::text, true from public.roles where name = 'moderator' $$,
  'a role assignment is logged: the admin as actor, insert, the user as row, the assignment after'
);
select results_eq(
  $$ select actor_id, action, after ->> 'note', after ->> 'created_by'
     from pg_temp.entries('invite_codes', 'audit-code-0001') $$,
  $$ values (tests.get_user_id('audit-admin@example.com'), 'insert', 'for the audit', tests.get_user_id('audit-admin@example.com')::text) $$,
  'an invite code''s creation is logged under its code'
);
select results_eq(
  $$ select actor_id, action, before ->> 'value', after ->> 'value'
     from pg_temp.entries('platform_settings', 'signup_mode') $$,
  $$ values (tests.get_user_id('audit-admin@example.com'), 'update', 'open', 'invite_only') $$,
  'a setting change is logged with the value before and after'
);
select results_eq(
  $$ select actor_id, action, before ->> 'status', after ->> 'status', after ->> 'reviewed_by'
     from pg_temp.entries('seller_applications',
            (select id::text from public.seller_applications where user_id = tests.get_user_id('audit-applicant@example.com'))) $$,
  $$ values (tests.get_user_id('audit-admin@example.com'), 'update', 'pending_verification', 'approved',
             tests.get_user_id('audit-admin@example.com')::text) $$,
  'a seller review is logged with the status before and after'
);
select results_eq(
  $$ select actor_id, action from pg_temp.entries('user_roles', tests.get_user_id('audit-applicant@example.com')::text) $$,
  $$ values (tests.get_user_id('audit-admin@example.com'), 'insert') $$,
  'the seller role granted by the approval is logged under the reviewing admin'
);

-- Changes by service tooling ------------------------------------------------------------
select tests.authenticate_as_service_role();
select set_config('request.headers', '{"x-admin-actor": "ops@example.com"}', true);
update public.profiles set account_status = 'deactivated' where id = tests.get_user_id('audit-member@example.com');
select set_config('request.headers', '', true);
update public.profiles set account_status = 'active' where id = tests.get_user_id('audit-member@example.com');
select tests.clear_authentication();

select results_eq(
  $$ select actor_id, actor_label, action, before ->> 'account_status', after ->> 'account_status'
     from pg_temp.entries('profiles', tests.get_user_id('audit-member@example.com')::text) $$,
  $$ values (null::uuid, 'ops@example.com', 'update', 'active', 'deactivated'),
            (null::uuid, 'service_role', 'update', 'deactivated', 'active') $$,
  'account status changes are logged; the service role''s operator is named by x-admin-actor, else the role'
);

-- Only changes are logged: an update that changes nothing leaves no entry.
update public.profiles set account_status = 'active' where id = tests.get_user_id('audit-member@example.com');
select is(
  (select count(*)::int from pg_temp.entries('profiles', tests.get_user_id('audit-member@example.com')::text)),
  2,
  'an update that changes nothing is not logged'
);
-- Editing the rest of a profile is not a privileged change.
update public.profiles set bio = 'hello' where id = tests.get_user_id('audit-member@example.com');
select is(
  (select count(*)::int from pg_temp.entries('profiles', tests.get_user_id('audit-member@example.com')::text)),
  2,
  'ordinary profile edits are not logged'
);

-- A signed-in user cannot pass themselves off as an operator.
select tests.authenticate_as(tests.get_user_id('audit-admin@example.com'));
select set_config('request.headers', '{"x-admin-actor": "someone-else@example.com"}', true);
delete from public.user_roles ur using public.roles r
  where r.id = ur.role_id and r.name = 'moderator' and ur.user_id = tests.get_user_id('audit-member@example.com');
select set_config('request.headers', '', true);
select tests.clear_authentication();
select results_eq(
  $$ select actor_label, action, before ->> 'user_id', after is null
     from pg_temp.entries('user_roles', tests.get_user_id('audit-member@example.com')::text) where action = 'delete' $$,
  $$ values (tests.get_user_id('audit-admin@example.com')::text, 'delete',
             tests.get_user_id('audit-member@example.com')::text, true) $$,
  'a signed-in user is always logged as themselves, whatever x-admin-actor says; a delete keeps the row before'
);

-- Reading -------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.audit_log $$, '42501', 'permission denied for table audit_log',
  'anon cannot read the audit log');
select tests.authenticate_as(tests.get_user_id('audit-member@example.com'));
select is_empty($$ select 1 from public.audit_log $$, 'a plain user reads nothing of the audit log, not even entries about them');
select tests.authenticate_as(tests.get_user_id('audit-staff@example.com'));
select isnt_empty(
  $$ select 1 from public.audit_log where table_name = 'invite_codes' and row_id = 'audit-code-0001' $$,
  'staff (audit.read) read the audit log'
);
select tests.authenticate_as(tests.get_user_id('audit-admin@example.com'));
select isnt_empty(
  $$ select 1 from public.audit_log where table_name = 'platform_settings' and row_id = 'signup_mode' $$,
  'admins read the audit log'
);

-- Writing -------------------------------------------------------------------------------
select throws_ok(
  $$ insert into public.audit_log (actor_label, action, table_name) values ('x', 'insert', 'roles') $$,
  '42501', 'permission denied for table audit_log', 'nobody writes the audit log directly, not even an admin'
);
select throws_ok(
  $$ update public.audit_log set actor_label = 'nobody' where table_name = 'invite_codes' and row_id = 'audit-code-0001' $$,
  '42501', 'permission denied for table audit_log', 'an admin cannot rewrite an audit entry'
);
select throws_ok(
  $$ delete from public.audit_log where table_name = 'invite_codes' and row_id = 'audit-code-0001' $$,
  '42501', 'permission denied for table audit_log', 'an admin cannot delete an audit entry'
);
select tests.authenticate_as_service_role();
select throws_ok(
  $$ insert into public.audit_log (actor_label, action, table_name) values ('x', 'insert', 'roles') $$,
  '42501', 'permission denied for table audit_log', 'the service role cannot write the audit log directly'
);
select throws_ok(
  $$ update public.audit_log set actor_label = 'nobody' where table_name = 'invite_codes' and row_id = 'audit-code-0001' $$,
  '42501', 'permission denied for table audit_log', 'the service role cannot rewrite an audit entry'
);
select throws_ok(
  $$ delete from public.audit_log where table_name = 'invite_codes' and row_id = 'audit-code-0001' $$,
  '42501', 'permission denied for table audit_log', 'the service role cannot delete an audit entry'
);
select isnt_empty(
  $$ select 1 from public.audit_log where table_name = 'invite_codes' and row_id = 'audit-code-0001' $$,
  'the service role reads the audit log'
);
select tests.clear_authentication();
select throws_ok(
  $$ update public.audit_log set actor_label = 'nobody' where table_name = 'invite_codes' and row_id = 'audit-code-0001' $$,
  '42501', 'the audit log is append-only', 'even postgres cannot rewrite an audit entry: the log is append-only'
);
select throws_ok(
  $$ delete from public.audit_log where table_name = 'invite_codes' and row_id = 'audit-code-0001' $$,
  '42501', 'the audit log is append-only', 'even postgres cannot delete an audit entry'
);
select results_eq(
  $$ select actor_label from pg_temp.entries('invite_codes', 'audit-code-0001') $$,
  $$ select tests.get_user_id('audit-admin@example.com')::text $$,
  'the entry is as it was written'
);
select is(
  (select count(*)::int from public.audit_log where actor_label = 'x'),
  0,
  'no forged entry was written'
);

-- record_admin_action: service tooling records what it does outside the tables ---------
select tests.authenticate_as(tests.get_user_id('audit-admin@example.com'));
select throws_ok(
  $$ select ops.record_admin_action('ban', 'auth.users', 'x', '{}', '{}') $$,
  '42501', 'permission denied for schema ops',
  'a signed-in user, even an admin, cannot write audit entries'
);
select tests.authenticate_as_service_role();
select set_config('request.headers', '{"x-admin-actor": "ops@example.com"}', true);
select throws_ok(
  $$ select ops.record_admin_action('', 'auth.users', 'x', '{}', '{}') $$,
  '22023', 'action and table_name are required', 'an admin action needs a name'
);
select lives_ok(
  $$ select ops.record_admin_action('ban', 'auth.users', 'user-1', '{"banned_until": null}', '{"ban_duration": "24h"}') $$,
  'the service role records a ban'
);
select tests.clear_authentication();
select results_eq(
  $$ select actor_label, action, table_name, after ->> 'ban_duration' from public.audit_log
     where row_id = 'user-1' and created_at = now() $$,
  $$ values ('ops@example.com', 'ban', 'auth.users', '24h') $$,
  'the entry names the operator from x-admin-actor'
);

select is_empty(
  $$ select 1 from public.audit_log
     where table_name = 'seller_applications' and created_at = now()
       and (after ? 'return_address' or after ? 'social_links' or before ? 'return_address') $$,
  'the seller review entry keeps the decision, not the applicant''s address or links'
);

select * from finish();
rollback;
