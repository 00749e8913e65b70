-- The files domain's reference data: the types each category of user file takes (images,
-- videos, documents; private.file_types), the private user-files bucket that holds them (50 MiB
-- a file, exactly those types), and what account export and deletion do with them.

insert into private.file_types (content_type, category, extension) values
  ('image/png', 'image', 'png'),
  ('image/jpeg', 'image', 'jpg'),
  ('image/webp', 'image', 'webp'),
  ('image/gif', 'image', 'gif'),
  ('video/mp4', 'video', 'mp4'),
  ('video/webm', 'video', 'webm'),
  ('video/quicktime', 'video', 'mov'),
  ('application/pdf', 'document', 'pdf'),
  ('text/plain', 'document', 'txt'),
  ('text/csv', 'document', 'csv'),
  ('application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'document', 'docx'),
  ('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'document', 'xlsx'),
  ('application/vnd.openxmlformats-officedocument.presentationml.presentation', 'document', 'pptx');

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('user-files', 'user-files', false, 50 * 1024 * 1024,
        (select array_agg(content_type order by category, content_type) from private.file_types))
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

-- Buckets (private.user_buckets): a folder per user.
insert into private.user_buckets (bucket_id, folder, on_delete, exported, reason) values
  ('user-files', 'user', 'delete', true, 'the user''s own files (images, videos, documents) under <user id>/<category>/');

-- Personal data (private.personal_data): the catalogue goes with the user (on delete cascade),
-- and with each object Storage removes (the trigger on storage.objects).
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.files', 'owner_id', null, 'delete', true, '{}', 'the user''s files: names, types, sizes and checksums of what they uploaded');
