-- Account exports (GDPR access requests): a private bucket holding the JSON documents the
-- account-export function writes, one folder per user: <uid>/export-<timestamp>.json.
-- Only the service role writes here (the function, after checking who is asking), so users
-- get a select policy on their own folder and nothing else: an export cannot be planted,
-- altered or removed through the API, and nobody reads another user's export.

create policy "Users read exports in their own folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'account-exports' and (storage.foldername(name))[1] = (select auth.uid())::text);
