-- What a bucket may hold, whichever way an object arrives. Storage checks allowed_mime_types
-- and file_size_limit on uploads only; a copy asks the insert policies with the source's
-- stored metadata (it has an eTag, a size and a mimetype) and a move asks the update
-- policies with the row's own, before Storage writes as itself. So the insert and update
-- policies of every bucket users write call private.object_content_allowed: the name's
-- extension must be a type the bucket accepts (never SVG in a public bucket), and stored
-- bytes must be of that type and within the size limit. The statements below are the ones
-- Storage runs as the caller: the permission check before an upload or when signing an
-- upload URL (metadata without an eTag), a copy's check (the source's stored metadata), and
-- a move's update.
begin;
select plan(12);

select tests.create_user('sc-owner@example.com');
select tests.create_user('sc-buyer@example.com');
select tests.create_user('sc-seller@example.com');

-- Stored metadata, as Storage keeps it for bytes it holds.
create function pg_temp.stored(mimetype text, size bigint) returns jsonb language sql as $$
  select jsonb_build_object('eTag', '"0cc175b9c0f1b6a831c399e269772661"', 'size', size, 'mimetype', mimetype,
                            'cacheControl', 'max-age=3600', 'lastModified', '2026-12-01T00:00:00.000Z',
                            'contentLength', size, 'httpStatusCode', 200)
$$;
-- An insert into storage.objects as Storage makes it for the caller: bucket, name, metadata.
create function pg_temp.put(bucket text, name text, metadata jsonb) returns text language sql as $$
  select format('insert into storage.objects (bucket_id, name, owner, metadata) values (%L, %L, auth.uid(), %L)',
                bucket, name, metadata)
$$;
-- A move as Storage checks it: the row renamed, and perhaps put into another bucket.
create function pg_temp.move(bucket text, name text, to_bucket text, to_name text) returns text language sql as $$
  select format('update storage.objects set bucket_id = %L, name = %L, version = %L where bucket_id = %L and name = %L',
                to_bucket, to_name, gen_random_uuid(), bucket, name)
$$;
grant execute on function pg_temp.stored(text, bigint), pg_temp.put(text, text, jsonb), pg_temp.move(text, text, text, text)
  to authenticated;

create temp table ids (who text primary key, id uuid);
insert into ids values ('owner', tests.get_user_id('sc-owner@example.com')),
                       ('order', tests.order_in('sc-buyer@example.com', 'sc-seller@example.com', 'in_progress'));
create function pg_temp.id(who text) returns text language sql security definer as $$ select id::text from pg_temp.ids where ids.who = id.who $$;
grant execute on function pg_temp.id(text) to authenticated;

-- The owner's existing files, uploaded through Storage.
insert into storage.objects (bucket_id, name, owner, metadata) values
  ('avatars', pg_temp.id('owner') || '/face.png', pg_temp.id('owner')::uuid, pg_temp.stored('image/png', 68)),
  ('avatars', pg_temp.id('owner') || '/wave.gif', pg_temp.id('owner')::uuid, pg_temp.stored('image/gif', 120)),
  ('textures', pg_temp.id('owner') || '/linen.png', pg_temp.id('owner')::uuid, pg_temp.stored('image/png', 68));

-- the extension's type ------------------------------------------------------------------
select results_eq(
  $$ select n, private.content_type_of('u/' || n)
       from unnest(array['a.png', 'a.JPG', 'a.jpeg', 'a.webp', 'a.gif', 'a.svg', 'a.pdf', 'a.zip', 'a.mp4', 'a.json',
                         'a.html', 'a.png.exe', 'png', '.png', 'a.tar.gz']) n $$,
  $$ values ('a.png', 'image/png'), ('a.JPG', 'image/jpeg'), ('a.jpeg', 'image/jpeg'), ('a.webp', 'image/webp'),
            ('a.gif', 'image/gif'), ('a.svg', 'image/svg+xml'), ('a.pdf', 'application/pdf'), ('a.zip', 'application/zip'),
            ('a.mp4', 'video/mp4'), ('a.json', 'application/json'), ('a.html', null), ('a.png.exe', null), ('png', null),
            ('.png', null), ('a.tar.gz', null) $$,
  'an object name declares its type by its extension; no extension, or one no bucket stores, declares none'
);
select is_empty(
  $$ select b.id || ' ' || t from storage.buckets b, unnest(b.allowed_mime_types) t
      where not exists (select 1 from unnest(array['png', 'jpg', 'webp', 'gif', 'svg', 'pdf', 'zip', 'mp4', 'json',
                                                   'webm', 'mov', 'txt', 'csv', 'docx', 'xlsx', 'pptx']) e
                         where private.content_type_of('x.' || e) = t) $$,
  'every type a bucket accepts has an extension that declares it'
);

-- avatars (public) ------------------------------------------------------------------------
select results_eq(
  $$ select what, tests.refusal('sc-owner@example.com', statement) from (values
       ('upload check, png', pg_temp.put('avatars', pg_temp.id('owner') || '/new.png', '{"mimetype": "image/png", "contentLength": 68}')),
       ('upload check, no metadata', pg_temp.put('avatars', pg_temp.id('owner') || '/bare.webp', null)),
       ('signing an upload URL', pg_temp.put('avatars', pg_temp.id('owner') || '/signed.png', '{"mimetype": "application/json", "contentLength": 2}')),
       ('upload check, svg name', pg_temp.put('avatars', pg_temp.id('owner') || '/new.svg', '{"mimetype": "image/svg+xml", "contentLength": 80}')),
       ('upload check, no extension', pg_temp.put('avatars', pg_temp.id('owner') || '/face', '{"mimetype": "image/png"}')),
       ('upload check, html', pg_temp.put('avatars', pg_temp.id('owner') || '/page.html', '{"mimetype": "text/html"}')),
       ('copy of a png', pg_temp.put('avatars', pg_temp.id('owner') || '/copy.png', pg_temp.stored('image/png', 68))),
       ('copy of a png, upper-case extension', pg_temp.put('avatars', pg_temp.id('owner') || '/COPY.PNG', pg_temp.stored('image/png', 68))),
       ('copy of an svg', pg_temp.put('avatars', pg_temp.id('owner') || '/copy.svg', pg_temp.stored('image/svg+xml', 80))),
       ('copy of an svg named png', pg_temp.put('avatars', pg_temp.id('owner') || '/copy.png', pg_temp.stored('image/svg+xml', 80))),
       ('copy of a pdf named png', pg_temp.put('avatars', pg_temp.id('owner') || '/copy.png', pg_temp.stored('application/pdf', 80))),
       ('copy over the size limit', pg_temp.put('avatars', pg_temp.id('owner') || '/big.png', pg_temp.stored('image/png', 2 * 1024 * 1024 + 1))),
       ('copy at the size limit', pg_temp.put('avatars', pg_temp.id('owner') || '/big.png', pg_temp.stored('image/png', 2 * 1024 * 1024))),
       ('copy without a size', pg_temp.put('avatars', pg_temp.id('owner') || '/nosize.png', pg_temp.stored('image/png', 68) - 'size')),
       ('copy without a type', pg_temp.put('avatars', pg_temp.id('owner') || '/notype.png', pg_temp.stored('image/png', 68) - 'mimetype')),
       ('move, renamed', pg_temp.move('avatars', pg_temp.id('owner') || '/face.png', 'avatars', pg_temp.id('owner') || '/me.png')),
       ('move to an svg name', pg_temp.move('avatars', pg_temp.id('owner') || '/face.png', 'avatars', pg_temp.id('owner') || '/me.svg')),
       ('move to another type''s name', pg_temp.move('avatars', pg_temp.id('owner') || '/face.png', 'avatars', pg_temp.id('owner') || '/me.gif'))
     ) t (what, statement) $$,
  $$ values ('upload check, png', null), ('upload check, no metadata', null), ('signing an upload URL', null),
            ('upload check, svg name', 'new row violates row-level security policy for table "objects"'),
            ('upload check, no extension', 'new row violates row-level security policy for table "objects"'),
            ('upload check, html', 'new row violates row-level security policy for table "objects"'),
            ('copy of a png', null), ('copy of a png, upper-case extension', null),
            ('copy of an svg', 'new row violates row-level security policy for table "objects"'),
            ('copy of an svg named png', 'new row violates row-level security policy for table "objects"'),
            ('copy of a pdf named png', 'new row violates row-level security policy for table "objects"'),
            ('copy over the size limit', 'new row violates row-level security policy for table "objects"'),
            ('copy at the size limit', null),
            ('copy without a size', 'new row violates row-level security policy for table "objects"'),
            ('copy without a type', 'new row violates row-level security policy for table "objects"'),
            ('move, renamed', null),
            ('move to an svg name', 'new row violates row-level security policy for table "objects"'),
            ('move to another type''s name', 'new row violates row-level security policy for table "objects"') $$,
  'avatars take an image whose name and stored type agree, within 2 MiB, by upload, copy or move; never SVG'
);

-- A public bucket never takes SVG, even if its settings are loosened.
update storage.buckets set allowed_mime_types = allowed_mime_types || '{image/svg+xml}' where id = 'avatars';
select is(
  tests.refusal('sc-owner@example.com', pg_temp.put('avatars', pg_temp.id('owner') || '/copy.svg', pg_temp.stored('image/svg+xml', 80))),
  'new row violates row-level security policy for table "objects"',
  'a public bucket refuses SVG even when its allowed types list it'
);
update storage.buckets set public = false where id = 'avatars';
select is(
  tests.refusal('sc-owner@example.com', pg_temp.put('avatars', pg_temp.id('owner') || '/copy.svg', pg_temp.stored('image/svg+xml', 80))),
  null,
  '(the same bucket, private and listing SVG, takes it: the refusal is the public bucket''s)'
);
update storage.buckets set public = true, allowed_mime_types = array_remove(allowed_mime_types, 'image/svg+xml') where id = 'avatars';

-- the bucket's own list decides ------------------------------------------------------------
update storage.buckets set allowed_mime_types = array_remove(allowed_mime_types, 'image/gif') where id = 'avatars';
select is(
  tests.refusal('sc-owner@example.com', pg_temp.put('avatars', pg_temp.id('owner') || '/copy.gif', pg_temp.stored('image/gif', 80))),
  'new row violates row-level security policy for table "objects"',
  'a type the bucket no longer lists is refused: the bucket row is the one list of types'
);
update storage.buckets set allowed_mime_types = allowed_mime_types || '{image/gif}' where id = 'avatars';

-- textures and portfolio (private, shown to others) -----------------------------------------
select results_eq(
  $$ select what, tests.refusal('sc-owner@example.com', statement) from (values
       ('textures: copy of a png', pg_temp.put('textures', pg_temp.id('owner') || '/silk.png', pg_temp.stored('image/png', 68))),
       ('textures: copy of a gif', pg_temp.put('textures', pg_temp.id('owner') || '/silk.gif', pg_temp.stored('image/gif', 68))),
       ('textures: copy of an svg', pg_temp.put('textures', pg_temp.id('owner') || '/silk.svg', pg_temp.stored('image/svg+xml', 80))),
       ('textures: copy over 5 MiB', pg_temp.put('textures', pg_temp.id('owner') || '/silk.png', pg_temp.stored('image/png', 5 * 1024 * 1024 + 1))),
       ('textures: upload check, svg name', pg_temp.put('textures', pg_temp.id('owner') || '/silk.svg', '{"mimetype": "image/svg+xml"}')),
       ('textures: move to an svg name', pg_temp.move('textures', pg_temp.id('owner') || '/linen.png', 'textures', pg_temp.id('owner') || '/linen.svg')),
       ('portfolio: copy of a jpeg', pg_temp.put('portfolio', pg_temp.id('owner') || '/look.jpg', pg_temp.stored('image/jpeg', 68))),
       ('portfolio: copy of an svg', pg_temp.put('portfolio', pg_temp.id('owner') || '/look.svg', pg_temp.stored('image/svg+xml', 80))),
       ('portfolio: copy of json named png', pg_temp.put('portfolio', pg_temp.id('owner') || '/look.png', pg_temp.stored('application/json', 80))),
       ('portfolio: copy over 10 MiB', pg_temp.put('portfolio', pg_temp.id('owner') || '/look.png', pg_temp.stored('image/png', 10 * 1024 * 1024 + 1)))
     ) t (what, statement) $$,
  $$ values ('textures: copy of a png', null),
            ('textures: copy of a gif', 'new row violates row-level security policy for table "objects"'),
            ('textures: copy of an svg', 'new row violates row-level security policy for table "objects"'),
            ('textures: copy over 5 MiB', 'new row violates row-level security policy for table "objects"'),
            ('textures: upload check, svg name', 'new row violates row-level security policy for table "objects"'),
            ('textures: move to an svg name', 'new row violates row-level security policy for table "objects"'),
            ('portfolio: copy of a jpeg', null),
            ('portfolio: copy of an svg', 'new row violates row-level security policy for table "objects"'),
            ('portfolio: copy of json named png', 'new row violates row-level security policy for table "objects"'),
            ('portfolio: copy over 10 MiB', 'new row violates row-level security policy for table "objects"') $$,
  'textures and portfolio take their own image types within their limits, by upload, copy or move'
);

-- moves between buckets: the destination's rule holds -----------------------------------------
select results_eq(
  $$ select what, tests.refusal('sc-owner@example.com', statement) from (values
       ('an avatar png into textures', pg_temp.move('avatars', pg_temp.id('owner') || '/face.png', 'textures', pg_temp.id('owner') || '/face.png')),
       ('an avatar gif into textures', pg_temp.move('avatars', pg_temp.id('owner') || '/wave.gif', 'textures', pg_temp.id('owner') || '/wave.gif')),
       ('a texture png into avatars', pg_temp.move('textures', pg_temp.id('owner') || '/linen.png', 'avatars', pg_temp.id('owner') || '/linen.png')),
       ('an avatar into deliverables', pg_temp.move('avatars', pg_temp.id('owner') || '/face.png', 'deliverables', pg_temp.id('order') || '/face.png'))
     ) t (what, statement) $$,
  $$ values ('an avatar png into textures', null),
            ('an avatar gif into textures', 'new row violates row-level security policy for table "objects"'),
            ('a texture png into avatars', null),
            ('an avatar into deliverables', 'new row violates row-level security policy for table "objects"') $$,
  'a move into another bucket must pass that bucket''s rule (textures take no GIF; nothing moves into deliverables)'
);

-- deliverables (private, the order's parties read) ---------------------------------------------
select results_eq(
  $$ select what, tests.refusal('sc-seller@example.com', statement) from (values
       ('an svg', pg_temp.put('deliverables', pg_temp.id('order') || '/pattern.svg', pg_temp.stored('image/svg+xml', 80))),
       ('a pdf', pg_temp.put('deliverables', pg_temp.id('order') || '/pattern.pdf', pg_temp.stored('application/pdf', 80))),
       ('a video', pg_temp.put('deliverables', pg_temp.id('order') || '/fitting.mp4', pg_temp.stored('video/mp4', 80))),
       ('html', pg_temp.put('deliverables', pg_temp.id('order') || '/page.html', pg_temp.stored('text/html', 80))),
       ('a gif', pg_temp.put('deliverables', pg_temp.id('order') || '/wave.gif', pg_temp.stored('image/gif', 80))),
       ('svg bytes named pdf', pg_temp.put('deliverables', pg_temp.id('order') || '/pattern.pdf', pg_temp.stored('image/svg+xml', 80))),
       ('over 50 MiB', pg_temp.put('deliverables', pg_temp.id('order') || '/big.zip', pg_temp.stored('application/zip', 50 * 1024 * 1024 + 1))),
       ('upload check, no extension', pg_temp.put('deliverables', pg_temp.id('order') || '/README', '{"mimetype": "text/plain"}'))
     ) t (what, statement) $$,
  $$ values ('an svg', null), ('a pdf', null), ('a video', null),
            ('html', 'new row violates row-level security policy for table "objects"'),
            ('a gif', 'new row violates row-level security policy for table "objects"'),
            ('svg bytes named pdf', 'new row violates row-level security policy for table "objects"'),
            ('over 50 MiB', 'new row violates row-level security policy for table "objects"'),
            ('upload check, no extension', 'new row violates row-level security policy for table "objects"') $$,
  'deliverables take SVG (a private bucket) and the other types they list, within 50 MiB, nothing else'
);

-- who: the content rule adds to the folder rules, it never replaces them -----------------------
select is(
  tests.refusal('sc-buyer@example.com', pg_temp.put('avatars', pg_temp.id('owner') || '/planted.png', pg_temp.stored('image/png', 68))),
  'new row violates row-level security policy for table "objects"',
  'an allowed file is still refused in another user''s folder'
);
select is(
  tests.refusal('anon', pg_temp.put('avatars', pg_temp.id('owner') || '/anon.png', pg_temp.stored('image/png', 68))),
  'new row violates row-level security policy for table "objects"',
  'and anon writes nothing'
);
select is(
  (select count(*)::int from storage.objects where owner = pg_temp.id('owner')::uuid),
  3,
  'nothing refused or tried above was kept: the owner still has their three files'
);

select * from finish();
rollback;
