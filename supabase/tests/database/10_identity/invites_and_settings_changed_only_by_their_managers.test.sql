-- Invite codes and platform settings: anyone reads the settings (the sign-up form needs
-- signup_mode) but only settings.manage holders change them; invite codes and their
-- redemptions are seen and managed by invites.manage holders only; nobody sets a code's
-- use count or creator by hand.
begin;
select plan(27);

select tests.create_user('inv-member@example.com');
select tests.create_user('inv-staff@example.com');
select tests.create_user('inv-admin@example.com');

select tests.clear_authentication();
select tests.grant_role('inv-admin@example.com', 'admin');
select tests.grant_role('inv-staff@example.com', 'staff');
insert into public.invite_codes (code, note) values ('inv-existing-01', 'made by the CLI');
insert into public.invite_redemptions (code, email) values ('inv-existing-01', 'someone@example.com');

-- anon ----------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select is(
  (select value from public.platform_settings where key = 'signup_mode'),
  '"open"'::jsonb,
  'anon reads signup_mode (the sign-up form shows the invite field from it)'
);
select throws_ok(
  $$ update public.platform_settings set value = '"invite_only"' where key = 'signup_mode' $$,
  '42501', 'permission denied for table platform_settings', 'anon cannot change settings'
);
select throws_ok($$ select 1 from public.invite_codes $$, '42501', 'permission denied for table invite_codes',
  'anon cannot read invite codes');
select throws_ok($$ select 1 from public.invite_redemptions $$,
  '42501', 'permission denied for table invite_redemptions',
  'anon cannot read redemptions');
select throws_ok(
  $$ insert into public.invite_codes (code) values ('anon-made-0001') $$,
  '42501', 'permission denied for table invite_codes', 'anon cannot create invite codes'
);

-- plain user ----------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('inv-member@example.com'));
select is_empty($$ select 1 from public.invite_codes $$, 'a plain user reads no invite codes');
select is_empty($$ select 1 from public.invite_redemptions $$, 'a plain user reads no redemptions');
select throws_ok(
  $$ insert into public.invite_codes (code) values ('member-made-01') $$,
  '42501', 'new row violates row-level security policy for table "invite_codes"',
  'a plain user cannot create invite codes'
);
select is_empty(
  $$ update public.invite_codes set max_uses = 100 where code = 'inv-existing-01' returning code $$,
  'a plain user''s update of an invite code touches no row'
);
select is_empty(
  $$ delete from public.invite_codes where code = 'inv-existing-01' returning code $$,
  'a plain user''s delete of an invite code touches no row'
);
select is_empty(
  $$ update public.platform_settings set value = '"invite_only"' where key = 'signup_mode' returning key $$,
  'a plain user''s change of signup_mode touches no row'
);
select throws_ok(
  $$ insert into public.platform_settings (key, value) values ('maintenance', 'true') $$,
  '42501', 'permission denied for table platform_settings', 'a plain user cannot add settings'
);

-- staff (no invites.manage, no settings.manage) ---------------------------------------
select tests.authenticate_as(tests.get_user_id('inv-staff@example.com'));
select is_empty($$ select 1 from public.invite_codes $$, 'staff without invites.manage read no invite codes');
select is_empty(
  $$ update public.platform_settings set value = '"invite_only"' where key = 'signup_mode' returning key $$,
  'staff without settings.manage cannot change signup_mode'
);

-- admin (invites.manage, settings.manage) ---------------------------------------------
select tests.authenticate_as(tests.get_user_id('inv-admin@example.com'));
select lives_ok(
  $$ insert into public.invite_codes (code, note, max_uses, expires_at)
     values ('admin-made-0001', 'for the tailors'' guild', 10, now() + interval '30 days') $$,
  'an invite manager creates an invite code'
);
select results_eq(
  $$ select created_by, use_count from public.invite_codes where code = 'admin-made-0001' $$,
  $$ values (tests.get_user_id('inv-admin@example.com'), 0) $$,
  'the new code records its creator and starts unused'
);
select throws_ok(
  $$ insert into public.invite_codes (code, created_by) values ('admin-made-0002', tests.get_user_id('inv-member@example.com')) $$,
  '42501', 'permission denied for table invite_codes', 'the creator cannot be written by the caller'
);
select throws_ok(
  $$ insert into public.invite_codes (code, use_count) values ('admin-made-0003', 0) $$,
  '42501', 'permission denied for table invite_codes', 'use_count cannot be set on insert'
);
select throws_ok(
  $$ update public.invite_codes set use_count = 0 where code = 'inv-existing-01' $$,
  '42501', 'permission denied for table invite_codes',
  'use_count cannot be reset, even by an invite manager: only the sign-up hook counts'
);
select throws_ok(
  $$ insert into public.invite_codes (code) values ('bad code!') $$,
  '23514', 'new row for relation "invite_codes" violates check constraint "invite_codes_code_format"',
  'a malformed code is refused'
);
select is(
  (select count(*)::int from public.invite_redemptions where code = 'inv-existing-01'),
  1,
  'an invite manager reads redemptions'
);
select isnt_empty(
  $$ update public.invite_codes set revoked_at = now() where code = 'inv-existing-01' returning code $$,
  'an invite manager revokes a code'
);
select isnt_empty(
  $$ delete from public.invite_codes where code = 'admin-made-0001' returning code $$,
  'an invite manager deletes a code'
);
select isnt_empty(
  $$ update public.platform_settings set value = '"invite_only"' where key = 'signup_mode' returning key $$,
  'a settings manager switches sign-up to invite_only'
);
select is(
  (select value from public.platform_settings where key = 'signup_mode'),
  '"invite_only"'::jsonb,
  'the new mode is stored'
);
select throws_ok(
  $$ update public.platform_settings set value = '"closed"' where key = 'signup_mode' $$,
  '23514', 'new row for relation "platform_settings" violates check constraint "platform_settings_signup_mode"',
  'signup_mode accepts only open or invite_only'
);
select throws_ok(
  $$ update public.platform_settings set key = 'other' where key = 'signup_mode' $$,
  '42501', 'permission denied for table platform_settings', 'a setting''s key cannot be renamed through the API'
);

select * from finish();
rollback;
