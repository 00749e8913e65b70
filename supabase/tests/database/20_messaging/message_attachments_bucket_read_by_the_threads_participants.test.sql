-- The message-attachments bucket: files live under <thread id>/<uploader id>/. A participant
-- who has not left uploads into their own folder of the thread (types and size as the bucket
-- lists, copies and moves included); the other participants read a file once a live message
-- lists it, the uploader always; a stranger, an admin who is not in the thread and anon never
-- do, whatever path they know; a deleted message's files are read by their uploader only;
-- nobody replaces a file; the uploader deletes their own.
begin;
select plan(22);

select tests.create_user('ma-designer@example.com');
select tests.create_user('ma-tailor@example.com');
select tests.create_user('ma-stranger@example.com');
select tests.create_user('ma-admin@example.com');
select tests.grant_role('ma-admin@example.com', 'admin');

create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('ma-' || who || '@example.com') $$;
grant execute on function pg_temp.uid(text) to authenticated, anon;

select tests.act_as('ma-designer@example.com');
create temp table fixture (name text primary key, id uuid not null);
grant select, insert on fixture to authenticated, anon;
insert into fixture select 'thread', (public.create_thread(array[pg_temp.uid('tailor')], 'Files')).id;
create function pg_temp.path(who text, file text) returns text language sql as $$
  select (select id from pg_temp.fixture where name = 'thread') || '/' || pg_temp.uid(who) || '/' || file
$$;
grant execute on function pg_temp.path(text, text) to authenticated, anon;

-- uploads ----------------------------------------------------------------------------------
select lives_ok(
  $$ insert into storage.objects (bucket_id, name, owner, owner_id) values ('message-attachments', pg_temp.path('designer', 'sketch.png'), auth.uid(), auth.uid()::text) $$,
  'a participant uploads into their own folder of the thread'
);
select lives_ok(
  $$ insert into storage.objects (bucket_id, name, owner, owner_id) values ('message-attachments', pg_temp.path('designer', 'brief.pdf'), auth.uid(), auth.uid()::text) $$,
  'a PDF too'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner, owner_id) values ('message-attachments', pg_temp.path('tailor', 'planted.png'), auth.uid(), auth.uid()::text) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'not into another participant''s folder'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner, owner_id) values ('message-attachments', pg_temp.path('designer', 'drawing.svg'), auth.uid(), auth.uid()::text) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'not a type the bucket does not list (SVG)'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner, owner_id, metadata) values ('message-attachments', pg_temp.path('designer', 'huge.png'), auth.uid(), auth.uid()::text,
       '{"eTag": "x", "size": 10485761, "mimetype": "image/png"}') $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'not a copy of stored bytes over 10 MiB'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner, owner_id, metadata) values ('message-attachments', pg_temp.path('designer', 'fake.png'), auth.uid(), auth.uid()::text,
       '{"eTag": "x", "size": 10, "mimetype": "application/zip"}') $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'not a copy whose stored type is not the name''s'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner, owner_id) values ('message-attachments', 'not-a-thread/' || auth.uid() || '/x.png', auth.uid(), auth.uid()::text) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'a folder that is not a thread is refused, not an error'
);
select tests.act_as('ma-stranger@example.com');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner, owner_id) values ('message-attachments', pg_temp.path('stranger', 'in.png'), auth.uid(), auth.uid()::text) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'a stranger uploads nothing into the thread'
);
select tests.act_as('anon');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('message-attachments', pg_temp.path('designer', 'anon.png')) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'nor does anon'
);

-- reading ----------------------------------------------------------------------------------
select tests.act_as('ma-tailor@example.com');
select is_empty($$ select 1 from storage.objects where bucket_id = 'message-attachments' $$,
  'the other participant reads no file before a message lists it');
select tests.act_as('ma-designer@example.com');
select is((select count(*)::int from storage.objects where bucket_id = 'message-attachments'), 2, 'the uploader reads their own');
insert into fixture select 'message', (public.post_message((select id from fixture where name = 'thread'), 'Here', array[pg_temp.path('designer', 'sketch.png')])).id;
select tests.act_as('ma-tailor@example.com');
select results_eq($$ select name from storage.objects where bucket_id = 'message-attachments' $$,
  $$ values (pg_temp.path('designer', 'sketch.png')) $$,
  'once posted, the other participant reads the attached file (and not the unsent one)');
select tests.act_as('ma-stranger@example.com');
select is_empty($$ select 1 from storage.objects where bucket_id = 'message-attachments' $$, 'a stranger reads none');
select tests.act_as('ma-admin@example.com');
select is_empty($$ select 1 from storage.objects where bucket_id = 'message-attachments' $$,
  'an admin who is not in the thread reads none');
select tests.act_as('anon');
select is_empty($$ select 1 from storage.objects where bucket_id = 'message-attachments' $$, 'anon reads none');

-- replacing and deleting -------------------------------------------------------------------
select tests.act_as('ma-designer@example.com');
select is_empty(
  $$ update storage.objects set metadata = '{}' where bucket_id = 'message-attachments' returning 1 $$,
  'nobody replaces a file (no update policy)'
);
select tests.act_as('ma-tailor@example.com');
select is_empty(
  $$ delete from storage.objects where bucket_id = 'message-attachments' returning 1 $$,
  'the other participant deletes nothing'
);
select tests.act_as('ma-designer@example.com');
select public.delete_message((select id from fixture where name = 'message'));
select tests.act_as('ma-tailor@example.com');
select is_empty($$ select 1 from storage.objects where bucket_id = 'message-attachments' $$,
  'once its message is deleted, the other participant no longer reads the file');
select tests.act_as('ma-designer@example.com');
select is((select count(*)::int from storage.objects where bucket_id = 'message-attachments'), 2, 'its uploader still does');
select results_eq(
  $$ with gone as (delete from storage.objects where bucket_id = 'message-attachments' returning name) select name from gone order by name $$,
  $$ select n from unnest(array[pg_temp.path('designer', 'sketch.png'), pg_temp.path('designer', 'brief.pdf')]) n order by n $$,
  'and deletes their files'
);

-- leaving ----------------------------------------------------------------------------------
select tests.act_as('ma-tailor@example.com');
select public.leave_thread((select id from fixture where name = 'thread'));
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner, owner_id) values ('message-attachments', pg_temp.path('tailor', 'late.png'), auth.uid(), auth.uid()::text) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'a participant who left uploads nothing'
);
select tests.act_as('postgres');
select is((select count(*)::int from storage.objects where bucket_id = 'message-attachments'
             and (name like (select id from fixture where name = 'thread') || '/%' or name like 'not-a-thread/%')),
          0, 'no refused upload left a file');

select * from finish();
rollback;
