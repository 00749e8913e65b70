-- Assets: the pattern library and garment presets are read by every signed-in user and
-- edited only by assets.manage holders (admins); textures belong to their owner, public ones
-- are read by every signed-in user, and so are their images in the textures bucket.
begin;
select plan(30);

select tests.create_user('asset-owner@example.com');
select tests.create_user('asset-stranger@example.com');
select tests.create_user('asset-admin@example.com');

select tests.clear_authentication();
select tests.grant_role('asset-admin@example.com', 'admin');

select ok(
  exists (select 1 from public.role_permissions rp join public.roles r on r.id = rp.role_id
          where r.name = 'admin' and rp.permission = 'assets.manage'),
  'admins hold assets.manage'
);

-- pattern library and presets: admin ------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('asset-admin@example.com'));
select lives_ok(
  $$ insert into public.pattern_library (category, name, pattern)
     values ('tests-dresses', 'Shift dress', '{"version": 1, "units": "cm", "width": 100, "height": 120,
             "pieces": [{"name": "front", "points": [[0, 0], [50, 0], [50, 100]]}]}') $$,
  'an admin adds a library pattern'
);
select throws_ok(
  $$ insert into public.pattern_library (category, name, pattern) values ('tests-dresses', 'Broken', '{"version": 1}') $$,
  '22023', 'invalid pattern: pattern.units must be "mm", "cm" or "in"', 'library patterns are checked like designs'
);
select throws_ok(
  $$ insert into public.pattern_library (category, name, pattern)
     select 'Dresses!', 'Bad category', pattern from public.pattern_library where name = 'Shift dress' $$,
  '23514', 'new row for relation "pattern_library" violates check constraint "pattern_library_category_format"',
  'categories are lowercase slugs'
);
select lives_ok(
  $$ insert into public.garment_presets (category, name, units, measurements)
     values ('tests-tops', 'Medium shirt', 'cm', '{"chest": 96, "waist": 82, "sleeve_length": 63}') $$,
  'an admin adds a garment preset'
);
select throws_ok(
  $$ insert into public.garment_presets (category, name, measurements) values ('tests-tops', 'Bad', '{"chest": "big"}') $$,
  '23514', 'new row for relation "garment_presets" violates check constraint "garment_presets_measurements_numbers"',
  'measurements are positive numbers'
);

-- signed-in user ----------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('asset-stranger@example.com'));
select results_eq(
  $$ select name from public.pattern_library where category = 'tests-dresses' $$,
  array['Shift dress'],
  'a signed-in user lists the library by category'
);
select results_eq(
  $$ select name from public.garment_presets where category = 'tests-tops' $$,
  array['Medium shirt'],
  'a signed-in user reads presets'
);
select throws_ok(
  $$ insert into public.pattern_library (category, name, pattern)
     select 'tests-dresses', 'Mine', pattern from public.pattern_library where name = 'Shift dress' $$,
  '42501', 'new row violates row-level security policy for table "pattern_library"', 'a user cannot add to the library'
);
select is_empty(
  $$ update public.pattern_library set name = 'Renamed' where category = 'tests-dresses' returning id $$,
  'a user cannot edit the library'
);
select is_empty(
  $$ delete from public.garment_presets where category = 'tests-tops' returning id $$,
  'a user cannot remove presets'
);
select throws_ok(
  $$ insert into public.garment_presets (category, name) values ('tests-tops', 'Mine') $$,
  '42501', 'new row violates row-level security policy for table "garment_presets"', 'a user cannot add presets'
);

-- anon ------------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok(
  $$ select 1 from public.pattern_library $$,
  '42501', 'permission denied for table pattern_library', 'anon cannot read the library'
);
select throws_ok(
  $$ select 1 from public.textures $$,
  '42501', 'permission denied for table textures', 'anon cannot read textures'
);

-- textures: owner -------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('asset-owner@example.com'));
insert into storage.objects (bucket_id, name) values
  ('textures', auth.uid() || '/linen.png'), ('textures', auth.uid() || '/silk.png');
select lives_ok(
  $$ insert into public.textures (name, storage_path, visibility) values
       ('Linen', auth.uid() || '/linen.png', 'public'),
       ('Silk', auth.uid() || '/silk.png', 'private') $$,
  'the owner adds a public and a private texture'
);
select throws_ok(
  $$ insert into public.textures (name, storage_path) values ('Stolen', tests.get_user_id('asset-stranger@example.com') || '/x.png') $$,
  '23514', 'new row for relation "textures" violates check constraint "textures_storage_path_owned"',
  'a texture''s image must be in the owner''s folder'
);
select throws_ok(
  $$ update public.textures set storage_path = auth.uid() || '/other.png' where name = 'Silk' $$,
  '42501', 'permission denied for table textures', 'the image path is set once'
);
select throws_ok(
  $$ update public.textures set owner_id = tests.get_user_id('asset-stranger@example.com') where name = 'Silk' $$,
  '42501', 'permission denied for table textures', 'owner_id is not client-writable'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('textures', tests.get_user_id('asset-stranger@example.com') || '/planted.png') $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'the owner cannot upload into someone else''s texture folder'
);
select results_eq(
  $$ select name from public.textures where owner_id = auth.uid() order by name $$,
  array['Linen', 'Silk'],
  'the owner reads both their textures'
);

-- textures: stranger ------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('asset-stranger@example.com'));
select results_eq(
  $$ select name from public.textures where owner_id = tests.get_user_id('asset-owner@example.com') $$,
  array['Linen'],
  'a signed-in stranger reads the public texture only'
);
select results_eq(
  $$ select name from storage.objects where bucket_id = 'textures' and name like tests.get_user_id('asset-owner@example.com') || '/%' $$,
  array[tests.get_user_id('asset-owner@example.com') || '/linen.png'],
  'and the public texture''s image only'
);
select is_empty(
  $$ update public.textures set name = 'Mine now' where owner_id = tests.get_user_id('asset-owner@example.com') returning id $$,
  'a stranger cannot edit a public texture'
);
select is_empty(
  $$ delete from storage.objects where bucket_id = 'textures' and name like tests.get_user_id('asset-owner@example.com') || '/%' returning 1 $$,
  'a stranger cannot delete texture images'
);
select lives_ok(
  $$ insert into storage.objects (bucket_id, name) values ('textures', auth.uid() || '/wool.png') $$,
  'a user uploads into their own texture folder'
);

-- textures: owner makes the public one private ---------------------------------------------
select tests.authenticate_as(tests.get_user_id('asset-owner@example.com'));
select isnt_empty(
  $$ update public.textures set visibility = 'private' where name = 'Linen' returning id $$,
  'the owner makes a texture private'
);
select tests.authenticate_as(tests.get_user_id('asset-stranger@example.com'));
select is_empty(
  $$ select 1 from storage.objects where bucket_id = 'textures' and name like tests.get_user_id('asset-owner@example.com') || '/%' $$,
  'its image is no longer readable by others'
);
select tests.authenticate_as_anon();
select is_empty(
  $$ select 1 from storage.objects where bucket_id = 'textures' $$,
  'anon reads no texture image'
);

-- the admin reads public textures like anyone, not private ones ---------------------------
select tests.authenticate_as(tests.get_user_id('asset-admin@example.com'));
select is_empty(
  $$ select 1 from public.textures where owner_id = tests.get_user_id('asset-owner@example.com') $$,
  'private textures stay private, even to admins'
);
select isnt_empty(
  $$ delete from public.pattern_library where category = 'tests-dresses' returning id $$,
  'an admin removes a library pattern'
);

select * from finish();
rollback;
