-- Design exports (000 POST /designs/:id/export): a private bucket holding the JSON, SVG and
-- PNG files the design-export function renders, at <owner id>/<design id>/<timestamp>.<ext>.
-- Only the service role writes here (the function, after checking the caller owns the design
-- or holds a share token for it), and hands out signed URLs; owners may also read their own
-- folder through the API. Nobody else reads, and nobody writes, through the API.

create policy "Users read design exports in their own folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'exports' and (storage.foldername(name))[1] = (select auth.uid())::text);
