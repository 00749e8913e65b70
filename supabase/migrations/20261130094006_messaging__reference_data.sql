-- Messaging's registrations: the personal data threads and messages hold, the
-- message-attachments bucket, the message.created event and the edit-window setting.

insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, reason) values
  ('public.threads', 'created_by', null, 'anonymise', true, 'a thread stays for its other participants, without its creator'),
  ('public.threads', 'id', 't.id in (select tp.thread_id from public.thread_participants tp where tp.user_id = $1)', 'keep', true,
   'threads the user is in: they stay for the other participants'),
  ('public.thread_participants', 'user_id', null, 'delete', true,
   'the user''s seats, with their read receipts, mute and leaving: the user leaves every thread'),
  ('public.messages', 'sender_id', null, 'anonymise', true,
   'the messages the user sent stay in the conversation the other participants had with them (an order''s thread is its record), no longer naming their sender');

-- The bucket of message attachments (its policies: supabase/schemas/20_messaging/60_message_attachments_bucket.sql).
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('message-attachments', 'message-attachments', false, 10 * 1024 * 1024,
        array['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'application/pdf'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

insert into private.user_buckets (bucket_id, folder, on_delete, exported, reason) values
  ('message-attachments', 'thread', 'anonymise', true,
   'files sent in a thread under <thread id>/<sender id>/ stay with the messages that list them, without their uploader as owner');

insert into private.event_types (event_type, domain, description) values
  ('message.created', 'messaging', 'A participant posted a message in a thread; recipients are the other participants who have not left or muted it');

insert into public.platform_settings (key, value) values ('message_edit_window_minutes', '15');
