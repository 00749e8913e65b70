-- Account exports (GDPR access requests): a private bucket holding the JSON documents the
-- account-export function writes, one folder per user: <uid>/export-<timestamp>.json.
-- Only the service role writes here (the function, after checking who is asking), so users
-- get a select policy on their own folder and nothing else: an export cannot be planted,
-- altered or removed through the API, and nobody reads another user's export.

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('account-exports', 'account-exports', false, 50 * 1024 * 1024, array['application/json'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

create policy "Users read exports in their own folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'account-exports' and (storage.foldername(name))[1] = (select auth.uid())::text);
