-- Textures: a private bucket of fabric swatches, <owner id>/<file>. Owners write only in their
-- own folder; a swatch is readable by its owner, and by every signed-in user once a public
-- row in public.textures names it. Storage itself refuses uploads over 5 MiB and anything but
-- PNG, JPEG and WebP images; the insert and update policies hold copies and moves to the same
-- rule (private.object_content_allowed, supabase/schemas/00_platform/80_storage_content.sql).

-- Whether a public texture row names this object. Security definer so that the storage
-- policy asks one indexed question (textures_storage_path_unique) instead of running the
-- textures policies too.
create function private.is_public_texture(object_name text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.textures t where t.storage_path = object_name and t.visibility = 'public')
$$;
comment on function private.is_public_texture(text) is
  'Whether the textures bucket object is the image of a public texture.';
grant execute on function private.is_public_texture(text) to authenticated, service_role;

create policy "Owners, and signed-in users for public textures, read texture images"
  on storage.objects for select to authenticated
  using (bucket_id = 'textures'
         and ((storage.foldername(name))[1] = (select auth.uid())::text or private.is_public_texture(name)));

create policy "Users upload texture images into their own folder"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'textures' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users replace texture images in their own folder"
  on storage.objects for update to authenticated
  using (bucket_id = 'textures' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'textures' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users delete texture images in their own folder"
  on storage.objects for delete to authenticated
  using (bucket_id = 'textures' and (storage.foldername(name))[1] = (select auth.uid())::text);
