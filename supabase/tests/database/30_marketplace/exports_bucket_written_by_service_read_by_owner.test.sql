-- Design exports bucket: private; only the service role (the design-export function) writes;
-- an owner reads their own folder, nobody reads anyone else's, anon reads nothing.
begin;
select plan(8);

select tests.create_user('dexport-owner@example.com');
select tests.create_user('dexport-stranger@example.com');

select is(
  (select row(public, file_size_limit, allowed_mime_types)::text from storage.buckets where id = 'exports'),
  row(false, 20 * 1024 * 1024, array['application/json', 'image/svg+xml', 'image/png'])::text,
  'the exports bucket is private, 20 MiB, JSON, SVG and PNG'
);

select tests.authenticate_as_service_role();
select lives_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('exports', tests.get_user_id('dexport-owner@example.com') || '/d1/2026-01-01T00-00-00-000Z.png') $$,
  'the service role writes an export'
);

select tests.authenticate_as(tests.get_user_id('dexport-owner@example.com'));
select is(
  (select count(*)::int from storage.objects where bucket_id = 'exports' and name like auth.uid() || '/%'),
  1,
  'the owner sees their export'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('exports', auth.uid() || '/d1/forged.png') $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'the owner cannot write into their export folder'
);
select is_empty(
  $$ update storage.objects set name = auth.uid() || '/d1/renamed.png' where bucket_id = 'exports' returning 1 $$,
  'the owner cannot change an export'
);
select is_empty(
  $$ delete from storage.objects where bucket_id = 'exports' returning 1 $$,
  'the owner cannot delete an export'
);

select tests.authenticate_as(tests.get_user_id('dexport-stranger@example.com'));
select is_empty(
  $$ select 1 from storage.objects where bucket_id = 'exports' $$,
  'a stranger sees no one else''s export'
);

select tests.authenticate_as_anon();
select is_empty(
  $$ select 1 from storage.objects where bucket_id = 'exports' $$,
  'anon sees no export'
);

select * from finish();
rollback;
