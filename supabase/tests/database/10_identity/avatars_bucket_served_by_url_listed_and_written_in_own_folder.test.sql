-- Avatars: owners write only under their own folder. Anyone fetches an avatar by its public
-- URL, which Storage serves without asking the policies; the rows (what listing returns) are
-- read by their owner only, so no client can enumerate the bucket. What may be written there
-- (images only, never SVG) is in storage_content_rule_holds_for_uploads_copies_and_moves.
begin;
select plan(12);

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
select is_empty(
  $$ select name from storage.objects where bucket_id = 'avatars' $$,
  'a signed-in stranger lists no one else''s avatars'
);
select tests.clear_authentication();
select ok(
  (select count(*) = 1 from storage.objects where bucket_id = 'avatars'
     and name = tests.get_user_id('avatar-owner@example.com') || '/face.png'),
  '(the avatar is there, as the superuser sees)'
);
select is_empty(
  $$ select 1 from pg_policies where schemaname = 'storage' and tablename = 'objects' and cmd in ('SELECT', 'ALL')
       and 'anon' = any(roles) and qual like '%avatars%' $$,
  'no policy lets anon read avatar rows: a public URL needs none'
);

select tests.authenticate_as_anon();
select is_empty(
  $$ select name from storage.objects where bucket_id = 'avatars' $$,
  'anon lists no avatars'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('avatars', tests.get_user_id('avatar-owner@example.com') || '/anon.png') $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'anon cannot upload avatars'
);

select tests.authenticate_as(tests.get_user_id('avatar-owner@example.com'));
select results_eq(
  $$ select name from storage.objects where bucket_id = 'avatars' $$,
  $$ values (tests.get_user_id('avatar-owner@example.com') || '/face.png') $$,
  'the owner lists their own avatars'
);
select isnt_empty(
  $$ delete from storage.objects
     where bucket_id = 'avatars' and name = auth.uid() || '/face.png'
     returning 1 $$,
  'the owner deletes their own avatar'
);

select * from finish();
rollback;
