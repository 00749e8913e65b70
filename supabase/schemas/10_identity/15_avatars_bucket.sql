-- Avatars: a public bucket (anyone may fetch an avatar by URL) whose objects only their
-- owner may write. Object names start with the owner's user id: <uid>/<file>.

create policy "Avatars are listed to everyone"
  on storage.objects for select to anon, authenticated
  using (bucket_id = 'avatars');

create policy "Users upload avatars into their own folder"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);

create policy "Users replace avatars in their own folder"
  on storage.objects for update to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);

create policy "Users delete avatars in their own folder"
  on storage.objects for delete to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);
