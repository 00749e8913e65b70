-- Design exports (000 POST /designs/:id/export): a private bucket holding the JSON, SVG and
-- PNG files the design-export function renders, at <owner id>/<design id>/<timestamp>.<ext>.
-- Only the service role writes here (the function, after checking the caller owns the design
-- or holds a share token for it), and hands out signed URLs; owners may also read their own
-- folder through the API. Nobody else reads, and nobody writes, through the API.

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('exports', 'exports', false, 20 * 1024 * 1024, array['application/json', 'image/svg+xml', 'image/png'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

create policy "Users read design exports in their own folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'exports' and (storage.foldername(name))[1] = (select auth.uid())::text);
