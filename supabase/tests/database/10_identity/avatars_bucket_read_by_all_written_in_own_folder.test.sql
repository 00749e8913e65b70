-- Avatars: owners write only under their own folder; everyone may read.
begin;
select plan(8);

select tests.create_user('avatar-owner@example.com');
select tests.create_user('avatar-stranger@example.com');

select tests.authenticate_as(tests.get_user_id('avatar-owner@example.com'));
select lives_ok(
  $$ insert into storage.objects (bucket_id, name, owner)
     values ('avatars', tests.get_user_id('avatar-owner@example.com') || '/face.png', auth.uid()) $$,
  'the owner uploads into their own folder'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('avatars', tests.get_user_id('avatar-stranger@example.com') || '/evil.png') $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'the owner cannot upload into another user''s folder'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('avatars', 'face.png') $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'an object outside any user folder is refused'
);

select tests.authenticate_as(tests.get_user_id('avatar-stranger@example.com'));
select is_empty(
  $$ delete from storage.objects
     where bucket_id = 'avatars' and name = tests.get_user_id('avatar-owner@example.com') || '/face.png'
     returning 1 $$,
  'a stranger cannot delete another user''s avatar'
);
select is_empty(
  $$ update storage.objects set name = auth.uid() || '/stolen.png'
     where name = tests.get_user_id('avatar-owner@example.com') || '/face.png'
     returning 1 $$,
  'a stranger cannot move another user''s avatar'
);
select is(
  (select count(*)::int from storage.objects
    where bucket_id = 'avatars' and name = tests.get_user_id('avatar-owner@example.com') || '/face.png'),
  1,
  'a signed-in stranger can see the avatar (the bucket is public)'
);

select tests.authenticate_as_anon();
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('avatars', tests.get_user_id('avatar-owner@example.com') || '/anon.png') $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'anon cannot upload avatars'
);

select tests.authenticate_as(tests.get_user_id('avatar-owner@example.com'));
select isnt_empty(
  $$ delete from storage.objects
     where bucket_id = 'avatars' and name = auth.uid() || '/face.png'
     returning 1 $$,
  'the owner deletes their own avatar'
);

select * from finish();
rollback;
