-- Profiles: created on sign-up; the owner reads and edits their own, never its id;
-- others see public profiles only; nobody inserts or deletes through the API.
begin;
select plan(20);

select tests.create_user('owner@example.com', '{"display_name": "Olive Owner"}');
select tests.create_user('stranger@example.com');
select tests.create_user('private@example.com');
update public.profiles set is_public = false where id = tests.get_user_id('private@example.com');

-- sign-up -----------------------------------------------------------------------------
select is(
  (select display_name from public.profiles where id = tests.get_user_id('owner@example.com')),
  'Olive Owner',
  'sign-up creates the profile with the display name from the sign-up metadata'
);

-- anon ----------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select results_eq(
  $$ select count(*)::int from public.profiles where id in (tests.get_user_id('owner@example.com'), tests.get_user_id('private@example.com')) $$,
  array[1],
  'anon reads public profiles but not private ones'
);
select throws_ok(
  $$ update public.profiles set bio = 'x' where id = tests.get_user_id('owner@example.com') $$,
  '42501', 'permission denied for table profiles', 'anon cannot update profiles'
);

-- owner ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('private@example.com'));
select is(
  (select count(*)::int from public.profiles where id = tests.get_user_id('private@example.com')),
  1,
  'the owner reads their own private profile'
);
select tests.authenticate_as(tests.get_user_id('owner@example.com'));
select lives_ok(
  $$ update public.profiles set display_name = 'Olive', bio = 'I sew', username = 'olive_owner' where id = tests.get_user_id('owner@example.com') $$,
  'the owner updates their display name, bio and username'
);
select is(
  (select username from public.profiles where id = tests.get_user_id('owner@example.com')),
  'olive_owner',
  'the owner''s update is stored'
);
select throws_ok(
  $$ update public.profiles set id = gen_random_uuid() where id = tests.get_user_id('owner@example.com') $$,
  '42501', 'permission denied for table profiles', 'the owner cannot change their profile''s id'
);
select throws_ok(
  $$ update public.profiles set created_at = now() - interval '1 year' where id = tests.get_user_id('owner@example.com') $$,
  '42501', 'permission denied for table profiles', 'the owner cannot backdate their profile'
);
select throws_ok(
  $$ insert into public.profiles (id) values (gen_random_uuid()) $$,
  '42501', 'permission denied for table profiles', 'nobody inserts profiles through the API: sign-up does'
);
select throws_ok(
  $$ delete from public.profiles where id = tests.get_user_id('owner@example.com') $$,
  '42501', 'permission denied for table profiles', 'nobody deletes profiles through the API: account deletion does'
);
select throws_ok(
  $$ update public.profiles set username = 'Not Valid!' where id = tests.get_user_id('owner@example.com') $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_username_format"',
  'a malformed username is refused by the check constraint'
);
select throws_ok(
  $$ update public.profiles set avatar_path = tests.get_user_id('stranger@example.com') || '/face.png' where id = tests.get_user_id('owner@example.com') $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_avatar_path_owned"',
  'an avatar path outside the owner''s folder is refused'
);

-- stranger ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('stranger@example.com'));
select is_empty(
  $$ select 1 from public.profiles where id = tests.get_user_id('private@example.com') $$,
  'a stranger cannot read a private profile'
);
select is(
  (select display_name from public.profiles where id = tests.get_user_id('owner@example.com')),
  'Olive',
  'a stranger reads a public profile'
);
select is_empty(
  $$ update public.profiles set bio = 'hacked' where id = tests.get_user_id('owner@example.com') returning id $$,
  'a stranger''s update of another profile touches no row'
);
select throws_ok(
  $$ update public.profiles set username = 'olive_owner' where id = tests.get_user_id('stranger@example.com') $$,
  '23505', 'duplicate key value violates unique constraint "profiles_username_key"',
  'a username already taken is refused'
);

-- service role and trigger bookkeeping ---------------------------------------------------
select tests.authenticate_as_service_role();
select is(
  (select bio from public.profiles where id = tests.get_user_id('owner@example.com')),
  'I sew',
  'the stranger''s attempted edit changed nothing'
);
select lives_ok(
  $$ update public.profiles set bio = 'moderated' where id = tests.get_user_id('owner@example.com') $$,
  'the service role may edit any profile'
);
select tests.clear_authentication();
select ok(
  (select updated_at >= created_at from public.profiles where id = tests.get_user_id('owner@example.com')),
  'updated_at is maintained by the trigger'
);
delete from auth.users where id = tests.get_user_id('stranger@example.com');
select is_empty(
  $$ select 1 from public.profiles where id = tests.get_user_id('stranger@example.com') $$,
  'deleting the auth user deletes the profile'
);

select * from finish();
rollback;
