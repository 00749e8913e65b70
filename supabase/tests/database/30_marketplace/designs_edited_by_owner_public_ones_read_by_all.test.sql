-- Designs: the owner creates, reads, edits and deletes them; public ones are readable by
-- everyone (anon included), private ones by their owner and content moderators only; the
-- owner and lineage columns are not client-writable; patterns, tags and linked paths are
-- checked with precise errors.
begin;
select plan(27);

select tests.create_user('design-owner@example.com');
select tests.create_user('design-stranger@example.com');
select tests.create_user('design-admin@example.com');

select tests.clear_authentication();
select tests.grant_role('design-admin@example.com', 'admin');

create temporary table pattern_fixture as
  select '{"version": 1, "units": "cm", "width": 100, "height": 60,
           "pieces": [{"name": "front", "points": [[0, 0], [50, 0], [50, 50]]}]}'::jsonb as pattern;
grant select on pattern_fixture to authenticated, anon;

-- owner ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('design-owner@example.com'));
select lives_ok(
  $$ insert into public.designs (title, tags, pattern) select 'Private dress', array['evening', 'a-line'], pattern from pattern_fixture $$,
  'the owner saves a design'
);
select lives_ok(
  $$ insert into public.designs (title, visibility, pattern, file_paths)
     select 'Public skirt', 'public', pattern, array[auth.uid() || '/textures/linen.png'] from pattern_fixture $$,
  'the owner saves a public design linking a file in their own folder'
);
select is(
  (select owner_id from public.designs where title = 'Private dress'),
  tests.get_user_id('design-owner@example.com'),
  'a design belongs to the caller without them naming themselves'
);
select results_eq(
  $$ select title, visibility from public.designs order by title $$,
  $$ values ('Private dress', 'private'), ('Public skirt', 'public') $$,
  'the owner reads both their designs'
);
select isnt_empty(
  $$ update public.designs set title = 'Private gown', tags = array['evening'] where title = 'Private dress' returning id $$,
  'the owner edits title and tags'
);
select throws_ok(
  $$ update public.designs set owner_id = tests.get_user_id('design-stranger@example.com') where title = 'Private gown' $$,
  '42501', 'permission denied for table designs', 'owner_id is not client-writable'
);
select throws_ok(
  $$ update public.designs set duplicated_from = id where title = 'Private gown' $$,
  '42501', 'permission denied for table designs', 'duplicated_from is not client-writable'
);
select throws_ok(
  $$ insert into public.designs (owner_id, title, pattern)
     select tests.get_user_id('design-stranger@example.com'), 'Planted', pattern from pattern_fixture $$,
  '42501', 'permission denied for table designs', 'nobody creates a design for someone else'
);

-- pattern, tags and paths ---------------------------------------------------------------
select throws_ok(
  $$ insert into public.designs (title, pattern) values ('Bad', '[1, 2]') $$,
  '22023', 'invalid pattern: pattern must be a JSON object', 'a pattern that is not an object is refused'
);
select throws_ok(
  $$ insert into public.designs (title, pattern) values ('Bad', '{"version": 2}') $$,
  '22023', 'invalid pattern: pattern.version must be 1', 'an unknown pattern version is refused'
);
select throws_ok(
  $$ insert into public.designs (title, pattern)
     values ('Bad', '{"version": 1, "units": "ft", "width": 10, "height": 10, "pieces": []}') $$,
  '22023', 'invalid pattern: pattern.units must be "mm", "cm" or "in"', 'unknown units are refused'
);
select throws_ok(
  $$ insert into public.designs (title, pattern)
     values ('Bad', '{"version": 1, "units": "mm", "width": 10, "height": 10,
                      "pieces": [{"name": "front", "points": [[0, 0], [1]]}]}') $$,
  '22023', 'invalid pattern: pattern.pieces[0].points[1] must be [x, y] with numbers',
  'a malformed point is named precisely'
);
select throws_ok(
  $$ insert into public.designs (title, pattern)
     values ('Bad', '{"version": 1, "units": "mm", "width": 10, "height": 10,
                      "pieces": [{"name": "front", "points": [[0, 0], [500, 0]]}]}') $$,
  '22023', 'invalid pattern: pattern.pieces[0].points[1] lies far outside the 10 x 10 canvas',
  'a point far off the canvas is refused'
);
select throws_ok(
  $$ update public.designs set pattern = '{"version": 1, "units": "mm", "width": 10, "height": 10,
       "pieces": [{"name": "front", "points": [[0, 0], [5, 5]], "fill": "red"}]}' where title = 'Private gown' $$,
  '22023', 'invalid pattern: pattern.pieces[0].fill must be a colour like #a0b1c2', 'an update is checked too'
);
select throws_ok(
  $$ insert into public.designs (title, tags, pattern) select 'Bad', array['Evening!'], pattern from pattern_fixture $$,
  '23514', 'new row for relation "designs" violates check constraint "designs_tags_valid"',
  'tags must be lowercase words'
);
select throws_ok(
  $$ insert into public.designs (title, pattern, file_paths)
     select 'Bad', pattern, array[tests.get_user_id('design-stranger@example.com') || '/theirs.png'] from pattern_fixture $$,
  '23514', 'new row for relation "designs" violates check constraint "designs_file_paths_owned"',
  'a linked path outside the owner''s folder is refused'
);
select throws_ok(
  $$ insert into public.designs (title, pattern, file_paths)
     select 'Bad', pattern, array[auth.uid() || '/../escape.png'] from pattern_fixture $$,
  '23514', 'new row for relation "designs" violates check constraint "designs_file_paths_owned"',
  'a linked path climbing out of the folder is refused'
);

-- stranger ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('design-stranger@example.com'));
select results_eq(
  $$ select title from public.designs where owner_id = tests.get_user_id('design-owner@example.com') $$,
  array['Public skirt'],
  'a stranger reads the public design only'
);
select is_empty(
  $$ update public.designs set title = 'Hijacked' where owner_id = tests.get_user_id('design-owner@example.com') returning id $$,
  'a stranger edits nothing, not even a public design'
);
select is_empty(
  $$ delete from public.designs where owner_id = tests.get_user_id('design-owner@example.com') returning id $$,
  'a stranger deletes nothing'
);

-- anon ----------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select results_eq(
  $$ select title from public.designs where owner_id = tests.get_user_id('design-owner@example.com') $$,
  array['Public skirt'],
  'anon reads public designs only'
);
select throws_ok(
  $$ insert into public.designs (title, pattern) select 'Anon', pattern from pattern_fixture $$,
  '42501', 'permission denied for table designs', 'anon cannot create designs'
);

-- admin (content.moderate) --------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('design-admin@example.com'));
select results_eq(
  $$ select title from public.designs where owner_id = tests.get_user_id('design-owner@example.com') order by title $$,
  array['Private gown', 'Public skirt'],
  'a moderator reads private designs too'
);
select is_empty(
  $$ update public.designs set title = 'Moderated' where owner_id = tests.get_user_id('design-owner@example.com') returning id $$,
  'a moderator does not edit other people''s designs'
);

-- owner again: delete, and the listing order the cursor relies on ------------------------
select tests.authenticate_as(tests.get_user_id('design-owner@example.com'));
select isnt_empty(
  $$ delete from public.designs where title = 'Private gown' returning id $$,
  'the owner deletes their design'
);
select results_eq(
  $$ select title from public.designs where owner_id = auth.uid() order by created_at desc, id desc $$,
  array['Public skirt'],
  'the deleted design is gone'
);
select ok(
  exists (select 1 from pg_indexes where indexname = 'designs_owner_created_idx'
          and indexdef like '%(owner_id, created_at DESC, id DESC)%'),
  'the owner listing (created_at desc, id desc) has its index for cursor pagination'
);

select * from finish();
rollback;
