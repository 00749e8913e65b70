-- User files: public.files is written only by the trigger on storage.objects, from what Storage
-- stored, so the catalogue and the bucket never disagree (an upload adds the row, a replacement
-- updates it, a move out of the bucket or a delete removes it, Storage's permission probe adds
-- nothing); only the owner reads their rows and objects, nobody writes the rows directly; the
-- bucket's layout and types per category hold for every write; prepare_file_upload refuses
-- each bad input precisely; the registries cover the bucket and the table; the bucket lists
-- exactly the types of private.file_types, each of which content_type_of names.
begin;
select plan(31);

select tests.create_user('uf-owner@example.com');
select tests.create_user('uf-stranger@example.com');
select tests.create_user('uf-staff@example.com');
insert into public.user_roles (user_id, role_id)
select tests.get_user_id('uf-staff@example.com'), r.id from public.roles r where r.name = 'admin';

create function pg_temp.stored(mimetype text, size bigint) returns jsonb language sql as $$
  select jsonb_build_object('eTag', '"0cc175b9c0f1b6a831c399e269772661"', 'size', size, 'mimetype', mimetype,
                            'cacheControl', 'no-cache', 'lastModified', '2026-12-01T00:00:00.000Z',
                            'contentLength', size, 'httpStatusCode', 200)
$$;
create function pg_temp.put(name text, metadata jsonb, user_metadata jsonb default '{}') returns text language sql as $$
  select format('insert into storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata) values (''user-files'', %L, auth.uid(), auth.uid()::text, %L, %L)',
                name, metadata, user_metadata)
$$;
grant execute on function pg_temp.stored(text, bigint), pg_temp.put(text, jsonb, jsonb) to authenticated;
create temp table ids (who text primary key, id uuid);
insert into ids values ('owner', tests.get_user_id('uf-owner@example.com'));
create function pg_temp.owner() returns text language sql security definer as $$ select id::text from pg_temp.ids where who = 'owner' $$;
grant execute on function pg_temp.owner() to authenticated, anon;
grant select on pg_temp.ids to authenticated, anon;

-- An upload, as Storage writes it for the owner: the row appears with Storage's metadata.
select tests.act_as('uf-owner@example.com');
select lives_ok(pg_temp.put(pg_temp.owner() || '/image/a.png', pg_temp.stored('image/png', 2048), '{"original_name": "Beach day.png"}'),
  'the owner uploads an image into <uid>/image/');
select results_eq(
  format('select category, content_type, original_name, size, checksum, owner_id::text from public.files where path = %L', pg_temp.owner() || '/image/a.png'),
  format('values (''image'', ''image/png'', ''Beach day.png'', 2048::bigint, ''0cc175b9c0f1b6a831c399e269772661'', %L)', pg_temp.owner()),
  'the files row has the category, type, original name, size and checksum Storage stored');
select is((select f.id from public.files f where f.path = pg_temp.owner() || '/image/a.png'),
          (select o.id from storage.objects o where o.bucket_id = 'user-files' and o.name = pg_temp.owner() || '/image/a.png'),
          'the row has the object''s id');

-- Storage's permission probe (declared type and length, no eTag) leaves no row.
select lives_ok(pg_temp.put(pg_temp.owner() || '/document/probe.pdf', '{"mimetype": "application/pdf", "contentLength": 10}'),
  'the permission probe passes the policies');
select is((select count(*)::int from public.files where path = pg_temp.owner() || '/document/probe.pdf'), 0,
  'a write without stored bytes (no eTag) makes no row');
select lives_ok(pg_temp.put(pg_temp.owner() || '/document/notes.pdf', pg_temp.stored('application/pdf', 10)),
  'a document upload');
select is((select original_name from public.files where path = pg_temp.owner() || '/document/notes.pdf'), 'notes.pdf',
  'without metadata original_name the row takes the file name');

-- A replacement updates the row; a delete through Storage removes it.
select lives_ok(format('update storage.objects set metadata = %L where bucket_id = ''user-files'' and name = %L',
                       pg_temp.stored('image/png', 4096), pg_temp.owner() || '/image/a.png'),
  'the owner replaces the image');
select is((select size from public.files where path = pg_temp.owner() || '/image/a.png'), 4096::bigint,
  'the row follows the replacement');
select lives_ok(format('delete from storage.objects where bucket_id = ''user-files'' and name = %L', pg_temp.owner() || '/document/notes.pdf'),
  'the owner deletes the document through Storage');
select is((select count(*)::int from public.files where path = pg_temp.owner() || '/document/notes.pdf'), 0,
  'the delete removed the row');

-- The layout and the types per category hold for every write.
select throws_ok(pg_temp.put(pg_temp.owner() || '/image/clip.mp4', pg_temp.stored('video/mp4', 10)),
  '42501', 'new row violates row-level security policy for table "objects"', 'a video in the image folder is refused');
select throws_ok(pg_temp.put(pg_temp.owner() || '/image/fake.png', '{"mimetype": "video/mp4"}'),
  '42501', 'new row violates row-level security policy for table "objects"', 'a declared type other than the extension''s is refused');
select throws_ok(pg_temp.put(pg_temp.owner() || '/music/song.png', pg_temp.stored('image/png', 10)),
  '42501', 'new row violates row-level security policy for table "objects"', 'a folder that is no category is refused');
select throws_ok(pg_temp.put(pg_temp.owner() || '/image/x.svg', pg_temp.stored('image/svg+xml', 10)),
  '42501', 'new row violates row-level security policy for table "objects"', 'SVG is no user image type');

-- Others: the stranger neither writes into nor reads the owner's folder; nobody writes rows.
select tests.act_as('uf-stranger@example.com');
select throws_ok(pg_temp.put(pg_temp.owner() || '/image/planted.png', pg_temp.stored('image/png', 10)),
  '42501', 'new row violates row-level security policy for table "objects"', 'a stranger cannot upload into the owner''s folder');
select is_empty('select 1 from public.files', 'a stranger reads none of the owner''s rows');
select is_empty('select 1 from storage.objects where bucket_id = ''user-files''', 'a stranger reads none of the owner''s objects');
select tests.act_as('uf-staff@example.com');
select is_empty('select 1 from public.files', 'staff do not read users'' files either (they are the user''s own)');
select tests.act_as('anon');
select throws_ok('select * from public.files', '42501', 'permission denied for table files', 'anon cannot read files');
select tests.act_as('uf-owner@example.com');
select throws_ok(format('insert into public.files (id, owner_id, path, category, content_type, original_name, size, checksum) values (gen_random_uuid(), %L, %L, ''image'', ''image/png'', ''x'', 1, ''x'')',
                        pg_temp.owner(), pg_temp.owner() || '/image/forged.png'),
  '42501', 'permission denied for table files', 'the owner cannot write a row directly');
select throws_ok(format('delete from public.files where path = %L', pg_temp.owner() || '/image/a.png'),
  '42501', 'permission denied for table files', 'the owner cannot delete a row directly: deleting goes through Storage');
select results_eq('select count(*)::int from public.files', 'values (1)', 'the owner reads their one remaining file');

-- prepare_file_upload: where to upload, or exactly why not.
select ok((select public.prepare_file_upload('image', 'Beach day.png', 'image/png', 1000) ->> 'path')
          ~ ('^' || pg_temp.owner() || '/image/[0-9a-f-]{36}\.png$'), 'prepare_file_upload answers a path in the owner''s image folder');
select throws_ok($$select public.prepare_file_upload('music', 'a.mp3', 'audio/mpeg', 10)$$,
  '22023', 'a file''s category is image, video or document', 'an unknown category is refused');
select throws_ok($$select public.prepare_file_upload('image', 'clip.mp4', 'video/mp4', 10)$$,
  '22023', 'a file of category image is one of: image/gif, image/jpeg, image/png, image/webp', 'a type outside the category is refused');
select throws_ok($$select public.prepare_file_upload('video', 'big.mp4', 'video/mp4', 52428801)$$,
  '22023', 'a file has 1 to 52428800 bytes (50 MiB), not 52428801', 'a file over 50 MiB is refused');
select tests.act_as('anon');
select throws_ok($$select public.prepare_file_upload('image', 'a.png', 'image/png', 10)$$,
  '42501', 'permission denied for function prepare_file_upload', 'anon cannot prepare uploads');
select tests.act_as('postgres');

-- Registries and reference data.
select results_eq($$select folder, on_delete, exported from private.user_buckets where bucket_id = 'user-files'$$,
  $$values ('user', 'delete', true)$$, 'user-files is a per-user bucket, emptied on deletion and exported');
select is((select array(select unnest(allowed_mime_types) order by 1) from storage.buckets where id = 'user-files'),
          (select array_agg(content_type order by content_type) from private.file_types),
          'the bucket takes exactly the types of private.file_types');
select is_empty($$select t.extension from private.file_types t
                  where private.content_type_of('f.' || t.extension) is distinct from t.content_type$$,
  'content_type_of names each file type from its extension');

select * from finish();
rollback;
