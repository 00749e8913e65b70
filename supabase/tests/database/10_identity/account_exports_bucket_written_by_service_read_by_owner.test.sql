-- Account exports: only the service role writes; a user reads their own folder, nobody else's.
begin;
select plan(7);

select tests.create_user('export-owner@example.com');
select tests.create_user('export-stranger@example.com');

-- As the account-export function does, with the service role.
select tests.authenticate_as_service_role();
select lives_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('account-exports', tests.get_user_id('export-owner@example.com') || '/export-1.json') $$,
  'the service role writes an export'
);

select tests.authenticate_as(tests.get_user_id('export-owner@example.com'));
select is(
  (select count(*)::int from storage.objects
    where bucket_id = 'account-exports' and name = auth.uid() || '/export-1.json'),
  1,
  'the owner sees their export'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('account-exports', auth.uid() || '/forged.json') $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'the owner cannot write into their own export folder'
);
select is_empty(
  $$ update storage.objects set name = auth.uid() || '/renamed.json'
     where bucket_id = 'account-exports' and name = auth.uid() || '/export-1.json' returning 1 $$,
  'the owner cannot change an export'
);
select is_empty(
  $$ delete from storage.objects
     where bucket_id = 'account-exports' and name = auth.uid() || '/export-1.json' returning 1 $$,
  'the owner cannot delete an export (deleting the account does, with the service role)'
);

select tests.authenticate_as(tests.get_user_id('export-stranger@example.com'));
select is_empty(
  $$ select 1 from storage.objects where bucket_id = 'account-exports' $$,
  'a stranger sees no one else''s export'
);

select tests.authenticate_as_anon();
select is_empty(
  $$ select 1 from storage.objects where bucket_id = 'account-exports' $$,
  'anon sees no export'
);

select * from finish();
rollback;
