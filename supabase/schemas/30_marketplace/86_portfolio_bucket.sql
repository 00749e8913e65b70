-- Portfolio images: a private bucket, <owner id>/<file>, readable as the portfolio is: by
-- everyone (anon included, through signed URLs) while the owner's profile is public, and
-- always by the owner. A public bucket would serve a hidden profile's images to anyone
-- holding a URL. Owners write only in their own folder; images only (no SVG), at most 10 MiB,
-- however they arrive: Storage checks uploads, the insert and update policies check copies and
-- moves too (private.object_content_allowed, supabase/schemas/00_platform/80_storage_content.sql).

-- The first folder of an object name as a user id, or null when it is not one.
create function private.folder_owner(object_name text) returns uuid
language sql
immutable
set search_path = ''
as $$
  select private.try_uuid(split_part(object_name, '/', 1))
$$;
comment on function private.folder_owner(text) is 'The user id an object name starts with (<uid>/...), or null.';
grant execute on function private.folder_owner(text) to anon, authenticated, service_role;

create policy "Anyone reads portfolio images of public profiles"
  on storage.objects for select to anon
  using (bucket_id = 'portfolio' and private.profile_is_public(private.folder_owner(name)));

create policy "Owners, and everyone for public profiles, read portfolio images"
  on storage.objects for select to authenticated
  using (bucket_id = 'portfolio'
         and ((storage.foldername(name))[1] = (select auth.uid())::text
              or private.profile_is_public(private.folder_owner(name))));

create policy "Users upload portfolio images into their own folder"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'portfolio' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users replace portfolio images in their own folder"
  on storage.objects for update to authenticated
  using (bucket_id = 'portfolio' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'portfolio' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users delete portfolio images in their own folder"
  on storage.objects for delete to authenticated
  using (bucket_id = 'portfolio' and (storage.foldername(name))[1] = (select auth.uid())::text);
