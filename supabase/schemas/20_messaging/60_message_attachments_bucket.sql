-- Message attachments: a private bucket, <thread id>/<uploader id>/<file>. A participant who
-- has not left uploads into their own folder of the thread, then names the objects in
-- post_message. An attachment is read by the thread's participants while a live message lists
-- it (a participant who left: a message posted before they left), and by its uploader;
-- nobody else, whatever they know of the path. Storage itself refuses uploads over 10 MiB and
-- anything but PNG, JPEG, WebP and GIF images and PDF; the insert policy holds copies to the
-- same rule (private.object_content_allowed, supabase/schemas/00_platform/80_storage_content.sql).
-- Nobody replaces an object (no update policy); the uploader deletes their own.

-- The thread an attachment's name is filed under (<thread id>/…), or null.
create function private.thread_of_object(object_name text) returns uuid
language sql
immutable
set search_path = ''
as $$
  select case when split_part(object_name, '/', 1) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              then split_part(object_name, '/', 1)::uuid end
$$;
comment on function private.thread_of_object(text) is
  'The thread id a message-attachments object is filed under (its first folder), or null when that is not a uuid.';
grant execute on function private.thread_of_object(text) to authenticated, service_role;

create function private.may_read_message_attachment(object_name text, object_owner text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.thread_participants tp
     where tp.thread_id = private.thread_of_object(object_name) and tp.user_id = (select auth.uid())
       and (object_owner = tp.user_id::text
            or exists (select 1 from public.messages m
                        where m.thread_id = tp.thread_id and m.attachments @> array[object_name]
                          and m.deleted_at is null and (tp.left_at is null or m.created_at <= tp.left_at))))
$$;
comment on function private.may_read_message_attachment(text, text) is
  'Whether the caller may read a message-attachments object: they uploaded it and have a seat in its thread, or a live message they can read lists it.';
grant execute on function private.may_read_message_attachment(text, text) to authenticated;

create policy "Participants read the attachments of their threads' messages"
  on storage.objects for select to authenticated
  using (bucket_id = 'message-attachments' and private.may_read_message_attachment(name, owner_id));

create policy "Participants upload attachments into their own folder of a thread"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'message-attachments'
              and (storage.foldername(name))[2] = (select auth.uid())::text
              and private.is_active_thread_participant(private.thread_of_object(name))
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Uploaders delete their own attachments"
  on storage.objects for delete to authenticated
  using (bucket_id = 'message-attachments' and owner_id = (select auth.uid())::text
         and (storage.foldername(name))[2] = (select auth.uid())::text);
