-- Profile details: sign-up fills the private details from the sign-up metadata; only the
-- owner and user readers see them and only the owner edits them, within their formats;
-- owners pick their marketplace roles and interests but never their status or aggregates;
-- a deactivated account is hidden from everyone but its owner and staff.
begin;
select plan(44);

select tests.create_user('pd-owner@example.com',
  '{"first_name": "Ada", "last_name": "Lovelace", "phone": "+447700900123", "locale": "en-GB",
    "marketing_opt_in": true, "is_tailor": true}');
select tests.create_user('pd-plain@example.com');
select tests.create_user('pd-stranger@example.com');
select tests.create_user('pd-staff@example.com');
select tests.create_user('pd-admin@example.com');
select tests.create_user('pd-gone@example.com', '{"display_name": "Gone Girl"}');

select tests.clear_authentication();
select tests.grant_role('pd-staff@example.com', 'staff');
select tests.grant_role('pd-admin@example.com', 'admin');
update public.profiles set account_status = 'deactivated' where id = tests.get_user_id('pd-gone@example.com');

-- sign-up -------------------------------------------------------------------------------
select results_eq(
  $$ select display_name, is_tailor, is_designer from public.profiles where id = tests.get_user_id('pd-owner@example.com') $$,
  $$ values ('Ada Lovelace', true, false) $$,
  'sign-up builds the display name from first and last name and takes the marketplace roles'
);
select results_eq(
  $$ select first_name, last_name, phone, locale, marketing_opt_in, timezone
     from public.private_profiles where id = tests.get_user_id('pd-owner@example.com') $$,
  $$ values ('Ada', 'Lovelace', '+447700900123', 'en-GB', true, 'UTC') $$,
  'sign-up creates the private details from the sign-up metadata'
);
select results_eq(
  $$ select first_name, last_name, phone, locale, marketing_opt_in
     from public.private_profiles where id = tests.get_user_id('pd-plain@example.com') $$,
  $$ values ('', '', null::text, 'en', false) $$,
  'sign-up without metadata creates private details with the defaults'
);
select lives_ok(
  $$ insert into auth.users (instance_id, id, aud, role, phone, phone_confirmed_at, raw_app_meta_data,
                             raw_user_meta_data, created_at, updated_at)
     values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
             '14155550123', now(), '{"provider": "phone", "providers": ["phone"]}', '{}', now(), now()) $$,
  'a phone sign-up succeeds'
);

-- owner ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('pd-owner@example.com'));
select is(
  (select first_name from public.private_profiles where id = auth.uid()),
  'Ada',
  'the owner reads their private details'
);
select is_empty(
  $$ select 1 from public.private_profiles where id <> auth.uid() $$,
  'the owner reads no one else''s private details'
);
select lives_ok(
  $$ update public.private_profiles
        set phone = '+14155550123', gender = 'female', locale = 'fr', timezone = 'Europe/Paris',
            marketing_opt_in = false, preferences = '{"newsletter": "weekly"}'
      where id = auth.uid() $$,
  'the owner updates phone, gender, locale, time zone, consent and preferences'
);
select results_eq(
  $$ select phone, gender, locale, timezone, marketing_opt_in from public.private_profiles where id = auth.uid() $$,
  $$ values ('+14155550123', 'female', 'fr', 'Europe/Paris', false) $$,
  'the owner''s update is stored'
);
select throws_ok(
  $$ update public.private_profiles set phone = '0044 7700 900123' where id = auth.uid() $$,
  '23514', 'new row for relation "private_profiles" violates check constraint "private_profiles_phone_e164"',
  'a phone number not in E.164 is refused'
);
select throws_ok(
  $$ update public.private_profiles set timezone = 'Mars/Olympus_Mons' where id = auth.uid() $$,
  '22023', 'unknown time zone: Mars/Olympus_Mons', 'an unknown time zone is refused'
);
select throws_ok(
  $$ update public.private_profiles set locale = 'english' where id = auth.uid() $$,
  '23514', 'new row for relation "private_profiles" violates check constraint "private_profiles_locale_format"',
  'a malformed locale is refused'
);
select throws_ok(
  $$ update public.private_profiles set gender = 'robot' where id = auth.uid() $$,
  '23514', 'new row for relation "private_profiles" violates check constraint "private_profiles_gender"',
  'a gender outside the list is refused'
);
select throws_ok(
  $$ update public.private_profiles set preferences = '[1, 2]' where id = auth.uid() $$,
  '23514', 'new row for relation "private_profiles" violates check constraint "private_profiles_preferences_object"',
  'preferences must be an object'
);
select throws_ok(
  $$ update public.private_profiles set id = tests.get_user_id('pd-stranger@example.com') where id = auth.uid() $$,
  '42501', 'permission denied for table private_profiles', 'the owner cannot move their private details to another id'
);
select throws_ok(
  $$ insert into public.private_profiles (id) values (gen_random_uuid()) $$,
  '42501', 'permission denied for table private_profiles',
  'nobody inserts private details through the API: sign-up does'
);
select throws_ok(
  $$ delete from public.private_profiles where id = auth.uid() $$,
  '42501', 'permission denied for table private_profiles', 'nobody deletes private details through the API'
);
select lives_ok(
  $$ update public.profiles set is_designer = true, is_tailor = false, interests = array['bridal', 'denim']
      where id = auth.uid() $$,
  'the owner picks their marketplace roles and interests'
);
select results_eq(
  $$ select is_designer, is_tailor, interests from public.profiles where id = auth.uid() $$,
  $$ values (true, false, array['bridal', 'denim']) $$,
  'the marketplace roles and interests are stored'
);
select throws_ok(
  $$ update public.profiles set interests = array(select 'i' || g from generate_series(1, 21) g) where id = auth.uid() $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_interests_limit"',
  'more than 20 interests are refused'
);
select throws_ok(
  $$ update public.profiles set account_status = 'deactivated' where id = auth.uid() $$,
  '42501', 'permission denied: users.manage is required to change account_status',
  'the owner cannot set their account status'
);
select throws_ok(
  $$ update public.profiles set rating_avg = 5 where id = auth.uid() $$,
  '42501', 'permission denied for table profiles', 'the owner cannot set their rating'
);
select throws_ok(
  $$ update public.profiles set review_count = 1000 where id = auth.uid() $$,
  '42501', 'permission denied for table profiles', 'the owner cannot set their review count'
);
select throws_ok(
  $$ update public.profiles set follower_count = 1000000 where id = auth.uid() $$,
  '42501', 'permission denied for table profiles', 'the owner cannot set their follower count'
);

-- stranger ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('pd-stranger@example.com'));
select is_empty(
  $$ select 1 from public.private_profiles where id = tests.get_user_id('pd-owner@example.com') $$,
  'a stranger reads nothing of another user''s private details'
);
select is_empty(
  $$ update public.private_profiles set first_name = 'Mallory' where id = tests.get_user_id('pd-owner@example.com') returning id $$,
  'a stranger''s update of another user''s private details touches no row'
);
select is_empty(
  $$ update public.profiles set is_designer = false where id = tests.get_user_id('pd-owner@example.com') returning id $$,
  'a stranger cannot change another user''s marketplace roles'
);
select is_empty(
  $$ select 1 from public.profiles where id = tests.get_user_id('pd-gone@example.com') $$,
  'a stranger cannot see a deactivated profile'
);
select is_empty(
  $$ select 1 from public.public_profiles where id = tests.get_user_id('pd-gone@example.com') $$,
  'a deactivated profile is not in public_profiles either'
);

-- anon ----------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.private_profiles $$, '42501', 'permission denied for table private_profiles',
  'anon cannot read private details');
select is_empty(
  $$ select 1 from public.profiles where id = tests.get_user_id('pd-gone@example.com') $$,
  'anon cannot see a deactivated profile'
);
select is_empty(
  $$ select 1 from public.public_profiles where id = tests.get_user_id('pd-gone@example.com') $$,
  'anon does not find a deactivated profile in public_profiles'
);
select results_eq(
  $$ select display_name, is_designer, review_count from public.public_profiles where id = tests.get_user_id('pd-owner@example.com') $$,
  $$ values ('Ada Lovelace', true, 0) $$,
  'anon reads an active profile through public_profiles, aggregates included'
);

-- deactivated owner -------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('pd-gone@example.com'));
select is(
  (select account_status from public.profiles where id = auth.uid()),
  'deactivated',
  'a deactivated user still sees their own profile'
);
select throws_ok(
  $$ update public.profiles set account_status = 'active' where id = auth.uid() $$,
  '42501', 'permission denied: users.manage is required to change account_status',
  'a deactivated user cannot reactivate themselves'
);

-- staff (users.read) --------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('pd-staff@example.com'));
select results_eq(
  $$ select first_name, phone from public.private_profiles where id = tests.get_user_id('pd-owner@example.com') $$,
  $$ values ('Ada', '+14155550123') $$,
  'staff (users.read) read a user''s private details'
);
select is(
  (select display_name from public.profiles where id = tests.get_user_id('pd-gone@example.com')),
  'Gone Girl',
  'staff see a deactivated profile'
);
select is_empty(
  $$ update public.private_profiles set first_name = 'Staff' where id = tests.get_user_id('pd-owner@example.com') returning id $$,
  'staff read private details but do not edit them'
);
select is_empty(
  $$ update public.profiles set bio = 'edited by staff' where id = tests.get_user_id('pd-owner@example.com') returning id $$,
  'staff without users.manage do not edit other users'' profiles'
);

-- admin (users.manage) ------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('pd-admin@example.com'));
select isnt_empty(
  $$ update public.profiles set bio = 'Moderated' where id = tests.get_user_id('pd-owner@example.com') returning id $$,
  'a users.manage holder edits another user''s profile'
);
select lives_ok(
  $$ update public.profiles set account_status = 'deactivated' where id = tests.get_user_id('pd-stranger@example.com') $$,
  'a users.manage holder deactivates an account'
);

-- service tooling (the admin CLI) -------------------------------------------------------
select tests.authenticate_as_service_role();
select isnt_empty(
  $$ update public.profiles set account_status = 'deactivated' where id = tests.get_user_id('pd-stranger@example.com') returning id $$,
  'the service role (admin CLI) deactivates an account'
);
select isnt_empty(
  $$ update public.profiles set account_status = 'active' where id = tests.get_user_id('pd-gone@example.com') returning id $$,
  'the service role (admin CLI) reactivates an account'
);
select throws_ok(
  $$ update public.profiles set account_status = 'banned' where id = tests.get_user_id('pd-gone@example.com') $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_account_status"',
  'an account status outside active/deactivated is refused'
);
select tests.authenticate_as_anon();
select isnt_empty(
  $$ select 1 from public.public_profiles where id = tests.get_user_id('pd-gone@example.com') $$,
  'a reactivated profile is public again'
);

select * from finish();
rollback;
