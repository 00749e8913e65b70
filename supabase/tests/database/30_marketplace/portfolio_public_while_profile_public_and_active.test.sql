-- Portfolio: the owner creates, edits, deletes and always reads their items; everyone else,
-- anon included, reads them (and their images) only while the owner's profile is public
-- and the account active; an item may link only the owner's own design.
begin;
select plan(22);

select tests.create_user('folio-owner@example.com');
select tests.create_user('folio-stranger@example.com');

select tests.authenticate_as(tests.get_user_id('folio-stranger@example.com'));
insert into public.designs (title, pattern) values ('Stranger design',
  '{"version": 1, "units": "cm", "width": 10, "height": 10, "pieces": [{"name": "a", "points": [[0, 0], [5, 5]]}]}');
-- Its id, for the owner to try (they cannot look up a private design of someone else's).
select set_config('tests.stranger_design', (select id::text from public.designs where title = 'Stranger design'), true);

select tests.authenticate_as(tests.get_user_id('folio-owner@example.com'));
insert into public.designs (title, pattern) values ('Owner design',
  '{"version": 1, "units": "cm", "width": 10, "height": 10, "pieces": [{"name": "a", "points": [[0, 0], [5, 5]]}]}');
insert into storage.objects (bucket_id, name) values ('portfolio', auth.uid() || '/gown.jpg');

-- owner -----------------------------------------------------------------------------------
select lives_ok(
  $$ insert into public.portfolio_items (title, description, image_paths, design_id, position)
     select 'Evening gown', 'Silk, hand-finished', array[auth.uid() || '/gown.jpg'], id, 1
       from public.designs where title = 'Owner design' $$,
  'the owner adds an item showing their own design'
);
select lives_ok(
  $$ insert into public.portfolio_items (title, position) values ('Linen suit', 0) $$,
  'the owner adds a second item'
);
select throws_ok(
  $$ insert into public.portfolio_items (title, design_id) values ('Not mine', current_setting('tests.stranger_design')::uuid) $$,
  '42501', format('design %s is not one of your designs', current_setting('tests.stranger_design')),
  'an item cannot link someone else''s design'
);
select throws_ok(
  format($$ insert into public.portfolio_items (title, design_id) values ('Unknown', %L) $$, unknown_id),
  '42501', format('design %s is not one of your designs', unknown_id), 'nor a design that does not exist'
) from gen_random_uuid() unknown_id;
select throws_ok(
  $$ insert into public.portfolio_items (title, image_paths) values ('Bad', array[tests.get_user_id('folio-stranger@example.com') || '/x.jpg']) $$,
  '23514', 'new row for relation "portfolio_items" violates check constraint "portfolio_items_image_paths_owned"',
  'images must be in the owner''s folder'
);
select throws_ok(
  $$ insert into public.portfolio_items (owner_id, title) values (tests.get_user_id('folio-stranger@example.com'), 'Planted') $$,
  '42501', 'permission denied for table portfolio_items', 'nobody adds items to someone else''s portfolio'
);
select throws_ok(
  $$ update public.portfolio_items set owner_id = tests.get_user_id('folio-stranger@example.com') $$,
  '42501', 'permission denied for table portfolio_items', 'owner_id is not client-writable'
);
select results_eq(
  $$ select title from public.portfolio_items where owner_id = auth.uid() order by position, created_at $$,
  array['Linen suit', 'Evening gown'],
  'the owner lists their items in display order'
);
select isnt_empty(
  $$ update public.portfolio_items set description = 'Irish linen', position = 2 where title = 'Linen suit' returning id $$,
  'the owner edits an item'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('portfolio', tests.get_user_id('folio-stranger@example.com') || '/planted.jpg') $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'the owner cannot upload into someone else''s portfolio folder'
);

-- public profile: everyone reads ----------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('folio-stranger@example.com'));
select results_eq(
  $$ select title from public.portfolio_items where owner_id = tests.get_user_id('folio-owner@example.com') order by position $$,
  array['Evening gown', 'Linen suit'],
  'a signed-in user reads a public profile''s portfolio'
);
select is_empty(
  $$ update public.portfolio_items set title = 'Defaced' where owner_id = tests.get_user_id('folio-owner@example.com') returning id $$,
  'but cannot edit it'
);
select is_empty(
  $$ delete from public.portfolio_items where owner_id = tests.get_user_id('folio-owner@example.com') returning id $$,
  'nor delete from it'
);
select tests.authenticate_as_anon();
select results_eq(
  $$ select count(*)::int from public.portfolio_items where owner_id = tests.get_user_id('folio-owner@example.com') $$,
  array[2],
  'anon reads a public profile''s portfolio'
);
select results_eq(
  $$ select name from storage.objects where bucket_id = 'portfolio' and name like tests.get_user_id('folio-owner@example.com') || '/%' $$,
  array[tests.get_user_id('folio-owner@example.com') || '/gown.jpg'],
  'and its images'
);
select throws_ok(
  $$ insert into public.portfolio_items (title) values ('Anon') $$,
  '42501', 'permission denied for table portfolio_items', 'anon cannot add items'
);

-- private profile: the owner only ---------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('folio-owner@example.com'));
update public.profiles set is_public = false where id = auth.uid();
select results_eq(
  $$ select count(*)::int from public.portfolio_items where owner_id = auth.uid() $$,
  array[2],
  'the owner still reads their portfolio with a private profile'
);
select tests.authenticate_as(tests.get_user_id('folio-stranger@example.com'));
select is_empty(
  $$ select 1 from public.portfolio_items where owner_id = tests.get_user_id('folio-owner@example.com') $$,
  'a signed-in user no longer reads a private profile''s portfolio'
);
select tests.authenticate_as_anon();
select is_empty(
  $$ select 1 from public.portfolio_items where owner_id = tests.get_user_id('folio-owner@example.com') $$,
  'nor does anon'
);
select is_empty(
  $$ select 1 from storage.objects where bucket_id = 'portfolio' and name like tests.get_user_id('folio-owner@example.com') || '/%' $$,
  'nor its images'
);

-- a deactivated account hides the portfolio too
select tests.clear_authentication();
update public.profiles set is_public = true, account_status = 'deactivated' where id = tests.get_user_id('folio-owner@example.com');
select tests.authenticate_as_anon();
select is_empty(
  $$ select 1 from public.portfolio_items where owner_id = tests.get_user_id('folio-owner@example.com') $$,
  'a deactivated account''s portfolio is hidden'
);

select tests.authenticate_as(tests.get_user_id('folio-owner@example.com'));
select isnt_empty(
  $$ delete from public.portfolio_items where title = 'Linen suit' returning id $$,
  'the owner deletes an item'
);

select * from finish();
rollback;
