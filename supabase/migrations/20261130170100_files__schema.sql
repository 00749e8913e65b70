-- The files domain's schema at the rebaseline: every file of supabase/schemas/85_files/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/85_files/10_user_files.sql
-- ======================================================================================

-- User files (004 "File Storage"): what a user keeps for themselves (images, videos,
-- documents), in the private user-files bucket (50 MiB per file; the types below), under
-- <user id>/<category>/<file>. Storage holds the bytes; public.files is the catalogue a client
-- lists, filters, sorts and pages through PostgREST. The two never disagree: the rows are
-- written only by a trigger on storage.objects, in the transaction that writes the object
-- (upload, replace, move, remove, emptying the bucket, account erasure), from what Storage
-- stored (its metadata: size, mimetype, eTag). A file is deleted through Storage
-- (storage.from('user-files').remove([path])), which removes its row; no client deletes a row.
-- Previews are Storage's image transformations (createSignedUrl or download with
-- transform: { width: 150, height: 150, resize: 'cover' }); download URLs with a chosen
-- lifetime, capped at 7 days, come from the files-download-url edge function
-- (docs/domains/files.md).

-- ---------------------------------------------------------------------------------------
-- The types each category takes (rows: reference data, 20261130170101_files__reference_data.sql).

create table private.file_types (
  content_type text primary key,
  category text not null constraint file_types_category check (category in ('image', 'video', 'document')),
  extension text not null unique constraint file_types_extension_format check (extension ~ '^[a-z0-9]+$'),
  constraint file_types_category_content_type_key unique (category, content_type)
);
comment on table private.file_types is
  'The content types user files may have, by category, and the extension a file of each type is stored under (private.content_type_of(extension) must name the type; the user-files bucket''s allowed_mime_types lists exactly these).';
grant select on private.file_types to service_role;

-- ---------------------------------------------------------------------------------------
-- The catalogue.

create table public.files (
  id uuid primary key,
  owner_id uuid not null references auth.users (id) on delete cascade,
  path text not null constraint files_path_key unique,
  category text not null,
  content_type text not null,
  original_name text not null constraint files_original_name_length check (char_length(original_name) between 1 and 255),
  size bigint not null constraint files_size_range check (size between 0 and 52428800),
  checksum text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint files_path_in_owner_folder check (path like owner_id::text || '/' || category || '/_%'),
  constraint files_type_in_category foreign key (category, content_type)
    references private.file_types (category, content_type)
);
comment on table public.files is
  'A user''s files in the user-files bucket, one row per object, written by the trigger on storage.objects only (private.sync_user_file). Read by the owner; deleted through Storage.';
comment on column public.files.id is 'The object''s id in storage.objects.';
comment on column public.files.path is 'The object name in user-files: <owner id>/<category>/<file>.';
comment on column public.files.original_name is
  'The name the file had on the user''s device: the upload''s metadata original_name, else the object''s file name.';
comment on column public.files.size is 'Bytes, as Storage stored them (metadata size); at most 50 MiB, the bucket''s limit.';
comment on column public.files.checksum is
  'Storage''s eTag of the bytes, without quotes: their MD5 for a single-part upload (an S3 multipart eTag ends -<parts>).';
create index files_owner_created_idx on public.files (owner_id, created_at desc);
create index files_owner_category_created_idx on public.files (owner_id, category, created_at desc);
create index files_category_content_type_idx on public.files (category, content_type);

alter table public.files enable row level security;
grant select on public.files to authenticated;
grant all on public.files to service_role;

create policy "Owners read their files" on public.files for select to authenticated
  using (owner_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- The bucket: its objects' names, and its policies.

-- Whether an object name and what Storage says about its bytes fit the bucket's layout:
-- <owner>/<category>/<file>, the file's extension one of the category's types, and (when the
-- write declares or stored a type) that very type. PL/pgSQL, not SQL: the insert and update
-- policies call it on every upload, and a SQL function with a `set` clause is planned again in
-- every statement (docs/domains/platform.md, "Functions that policies call").
create function private.user_file_allowed(object_name text, metadata jsonb) returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  folders text[] := storage.foldername(object_name);
  declared_type text;
begin
  if coalesce(array_length(folders, 1), 0) <> 2 or private.try_uuid(folders[1]) is null then
    return false;
  end if;
  declared_type := private.content_type_of(object_name);
  return exists (select 1 from private.file_types t
                  where t.category = folders[2]
                    and t.content_type = declared_type
                    and (metadata ->> 'mimetype' is null or metadata ->> 'mimetype' = t.content_type));
end
$$;
comment on function private.user_file_allowed(text, jsonb) is
  'Whether an object name fits user-files: <user id>/<category>/<file> with an extension of one of the category''s types, and the declared or stored type (metadata mimetype) that same type.';
revoke execute on function private.user_file_allowed(text, jsonb) from public;
grant execute on function private.user_file_allowed(text, jsonb) to authenticated, service_role;

create policy "Owners read their user files"
  on storage.objects for select to authenticated
  using (bucket_id = 'user-files' and (storage.foldername(name))[1] = (select auth.uid())::text);

create policy "Owners upload user files into their folder"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'user-files' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.user_file_allowed(name, metadata)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Owners replace their user files"
  on storage.objects for update to authenticated
  using (bucket_id = 'user-files' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'user-files' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.user_file_allowed(name, metadata)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Owners delete their user files"
  on storage.objects for delete to authenticated
  using (bucket_id = 'user-files' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- ---------------------------------------------------------------------------------------
-- Keeping the catalogue in step with storage.objects.

-- Runs in the statement that writes the object, as whoever writes it (the caller, or Storage
-- itself for its final write of an upload): an object in user-files whose bytes are stored
-- (metadata with an eTag; Storage's permission probe before an upload has none) has its row,
-- with the object's id; an object that leaves the bucket or is deleted loses it. A row that
-- cannot be written (a name outside the layout, a type outside its category) fails the write.
create function private.sync_user_file() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  folders text[];
begin
  if tg_op in ('INSERT', 'UPDATE') and new.bucket_id = 'user-files' and new.metadata ? 'eTag' then
    folders := storage.foldername(new.name);
    if coalesce(array_length(folders, 1), 0) <> 2 or private.try_uuid(folders[1]) is null then
      raise exception 'a user file lives under <user id>/<category>/<file> in user-files'
        using errcode = '22023';
    end if;
    insert into public.files (id, owner_id, path, category, content_type, original_name, size, checksum, created_at)
    values (new.id, folders[1]::uuid, new.name, folders[2], new.metadata ->> 'mimetype',
            left(coalesce(nullif(trim(new.user_metadata ->> 'original_name'), ''), storage.filename(new.name)), 255),
            (new.metadata ->> 'size')::bigint, trim(both '"' from new.metadata ->> 'eTag'),
            coalesce(new.created_at, now()))
    on conflict (id) do update
      set owner_id = excluded.owner_id, path = excluded.path, category = excluded.category,
          content_type = excluded.content_type, original_name = excluded.original_name,
          size = excluded.size, checksum = excluded.checksum, updated_at = now();
  elsif tg_op in ('UPDATE', 'DELETE') and old.bucket_id = 'user-files' then
    delete from public.files f where f.id = old.id;
  end if;
  return null;
end
$$;
comment on function private.sync_user_file() is
  'Trigger on storage.objects: an object in user-files with stored bytes has its public.files row (upserted by object id from Storage''s metadata); one deleted or moved out of the bucket has none.';

create trigger user_files_sync
  after insert or update or delete on storage.objects
  for each row execute function private.sync_user_file();

-- ---------------------------------------------------------------------------------------
-- Before an upload: where the file goes, or exactly why it cannot.

create function private.prepare_file_upload(category text, original_name text, content_type text, size bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
  file_type private.file_types;
  accepted text;
begin
  if me is null then
    raise exception 'prepare_file_upload needs a signed-in user' using errcode = '42501';
  end if;
  if category is null or category not in ('image', 'video', 'document') then
    raise exception 'a file''s category is image, video or document' using errcode = '22023';
  end if;
  if original_name is null or char_length(trim(original_name)) not between 1 and 255 then
    raise exception 'a file''s original name has 1 to 255 characters' using errcode = '22023';
  end if;
  select * into file_type from private.file_types t
   where t.category = prepare_file_upload.category and t.content_type = prepare_file_upload.content_type;
  if not found then
    select string_agg(t.content_type, ', ' order by t.content_type) into accepted
      from private.file_types t where t.category = prepare_file_upload.category;
    raise exception 'a file of category % is one of: %', category, accepted using errcode = '22023';
  end if;
  if size is null or size < 1 or size > 52428800 then
    raise exception 'a file has 1 to 52428800 bytes (50 MiB), not %', coalesce(size::text, 'none')
      using errcode = '22023';
  end if;
  return jsonb_build_object(
    'bucket', 'user-files',
    'path', me::text || '/' || category || '/' || gen_random_uuid()::text || '.' || file_type.extension,
    'content_type', file_type.content_type,
    'max_size', 52428800);
end
$$;
comment on function private.prepare_file_upload(text, text, text, bigint) is
  'The body of the client RPC public.prepare_file_upload: security definer, in private so the API does not expose it.';
revoke execute on function private.prepare_file_upload(text, text, text, bigint) from public;
grant execute on function private.prepare_file_upload(text, text, text, bigint) to authenticated;

create function public.prepare_file_upload(category text, original_name text, content_type text, size bigint)
returns jsonb
language sql
security invoker
set search_path = ''
as $$
  select private.prepare_file_upload(category, original_name, content_type, size)
$$;
comment on function public.prepare_file_upload(text, text, text, bigint) is
  'Before uploading a user file: checks the category (image, video, document), the type against the category''s and the size (at most 50 MiB), each refused with a precise 22023, and answers where to upload it in user-files ({ bucket, path, content_type, max_size }). Upload there with Storage (upload or a signed upload URL), giving metadata { original_name }; the files row appears with the object.';
revoke execute on function public.prepare_file_upload(text, text, text, bigint) from public;
grant execute on function public.prepare_file_upload(text, text, text, bigint) to authenticated;
