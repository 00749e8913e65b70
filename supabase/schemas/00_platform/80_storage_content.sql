-- What a bucket may hold, checked in SQL by the insert and update policies on storage.objects
-- (each bucket's *_bucket.sql file), so that no way of writing an object lands content the
-- bucket refuses. Storage checks a bucket's allowed_mime_types and file_size_limit only on
-- uploads: a copy (POST /object/copy) asks the insert policies with the source's stored
-- metadata and a move (POST /object/move) asks the update policies with the row's own, and
-- then both write as Storage itself. Without this rule an SVG deliverable copied into the
-- public avatars bucket is served inline, scripts and all.
--
-- The rule, private.object_content_allowed(bucket, name, metadata):
--   - the file name has an extension, and it names a type (private.content_type_of) that the
--     bucket's allowed_mime_types accepts (the bucket row stays the one list of types);
--   - a public bucket never takes SVG, whatever its settings say: it would be served inline
--     from the project's own origin;
--   - when the metadata describes bytes Storage already holds (it has an eTag: a copy or a
--     move), their stored type must be the extension's and their size within the bucket's
--     file_size_limit. The permission check Storage makes before an upload (and when it
--     signs an upload URL) carries only the declared type and length, or the signing
--     request's own type; Storage itself checks an upload's type and size against the bucket.

-- The content type an object's name declares: the type of its extension, or null when it has
-- none or one this project does not store. One type per extension.
--
-- This function and object_content_allowed are PL/pgSQL, not SQL: every insert and update
-- policy on storage.objects calls them, and a SQL function with a `set` clause is planned again
-- in every statement (docs/domains/platform.md, "Functions that policies call").
create function private.content_type_of(object_name text) returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if position('.' in storage.filename(object_name)) > 1 then
    return ('{"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
       "svg": "image/svg+xml", "pdf": "application/pdf", "zip": "application/zip", "mp4": "video/mp4",
       "json": "application/json", "webm": "video/webm", "mov": "video/quicktime", "txt": "text/plain",
       "csv": "text/csv",
       "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
       "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
       "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}'::jsonb)
      ->> lower(storage.extension(object_name));
  end if;
  return null;
end
$$;
comment on function private.content_type_of(text) is
  'The content type an object name''s extension declares (png -> image/png, ...), or null: no extension, or one no bucket stores.';

-- Security definer: storage.buckets is not readable by the API roles.
create function private.object_content_allowed(bucket text, object_name text, metadata jsonb) returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  declared_type text := private.content_type_of(object_name);
begin
  if declared_type is null then
    return false;
  end if;
  return coalesce((
    select (coalesce(cardinality(b.allowed_mime_types), 0) = 0
            or declared_type = any (b.allowed_mime_types)
            or split_part(declared_type, '/', 1) || '/*' = any (b.allowed_mime_types))
       and not (b.public and declared_type = 'image/svg+xml')
       and (metadata is null or not metadata ? 'eTag'
            or (metadata ->> 'mimetype' = declared_type
                and jsonb_typeof(metadata -> 'size') = 'number'
                and (b.file_size_limit is null or (metadata ->> 'size')::numeric <= b.file_size_limit)))
      from storage.buckets b
     where b.id = bucket
  ), false);
end
$$;
comment on function private.object_content_allowed(text, text, jsonb) is
  'Whether an object may be written into the bucket: its extension''s type is one the bucket accepts (never SVG in a public bucket), and stored bytes (metadata with an eTag: a copy or a move) are of that type and within the size limit.';

grant execute on function private.content_type_of(text), private.object_content_allowed(text, text, jsonb)
  to anon, authenticated, service_role;
