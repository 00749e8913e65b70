-- Avatars: a public bucket (anyone may fetch an avatar by its URL, which Storage serves
-- without asking the policies) whose objects only their owner may write. Object names start
-- with the owner's user id: <uid>/<file>. Listing is not public: a user lists, and reads the
-- rows of, their own folder only (a select policy on the whole bucket would let any client
-- enumerate every user's files; splinter's public_bucket_allows_listing). What is written must
-- be an image the bucket accepts, however it arrives (upload, copy or move):
-- private.object_content_allowed, supabase/schemas/00_platform/80_storage_content.sql.

create policy "Users list avatars in their own folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);

create policy "Users upload avatars into their own folder"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users replace avatars in their own folder"
  on storage.objects for update to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users delete avatars in their own folder"
  on storage.objects for delete to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);
