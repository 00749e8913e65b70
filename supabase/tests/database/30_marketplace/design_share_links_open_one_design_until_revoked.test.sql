-- Share links and duplication: only a design's owner makes, lists and revokes its links;
-- the token opens that one design for anyone, anon included, until it is revoked or
-- expires, with distinct errors; the table is written only through the functions.
-- duplicate_design copies one's own or a public design into a private copy of one's own.
begin;
select plan(30);

select tests.create_user('share-owner@example.com');
select tests.create_user('share-stranger@example.com');

create temporary table pattern_fixture as
  select '{"version": 1, "units": "mm", "width": 300, "height": 200,
           "pieces": [{"name": "sleeve", "points": [[0, 0], [100, 0], [100, 100]]}]}'::jsonb as pattern;
grant select on pattern_fixture to authenticated, anon;

select tests.authenticate_as(tests.get_user_id('share-owner@example.com'));
insert into public.designs (title, pattern, file_paths)
  select 'Secret coat', pattern, array[auth.uid() || '/coat.png'] from pattern_fixture;
insert into public.designs (title, pattern, visibility) select 'Open blouse', pattern, 'public' from pattern_fixture;
select set_config('tests.secret', (select id::text from public.designs where title = 'Secret coat'), true);
select set_config('tests.open', (select id::text from public.designs where title = 'Open blouse'), true);

-- owner makes links -----------------------------------------------------------------------
select set_config('tests.token', (select token from public.create_design_share_link(current_setting('tests.secret')::uuid)), true);
select matches(current_setting('tests.token'), '^[A-Za-z0-9_-]{43}$', 'the token is 32 random bytes in base64url');
select set_config('tests.token_to_revoke',
  (select token from public.create_design_share_link(current_setting('tests.secret')::uuid, now() + interval '1 day')), true);
select set_config('tests.token_to_expire',
  (select token from public.create_design_share_link(current_setting('tests.secret')::uuid, now() + interval '1 hour')), true);
select isnt(current_setting('tests.token'), current_setting('tests.token_to_revoke'), 'every link has its own token');
-- The link's id, for the stranger to try (they cannot look it up themselves).
select set_config('tests.token_link',
  (select id::text from public.design_share_links where token_hash = extensions.digest(current_setting('tests.token'), 'sha256')), true);

select results_eq(
  $$ select count(*)::int from public.design_share_links where design_id = current_setting('tests.secret')::uuid $$,
  array[3],
  'the owner lists their links'
);
select is(
  (select token_prefix from public.design_share_links
    where token_hash = extensions.digest(current_setting('tests.token'), 'sha256')),
  left(current_setting('tests.token'), 8),
  'only the sha256 and the first 8 characters are stored'
);
select is_empty(
  $$ select 1 from public.design_share_links where token_prefix = current_setting('tests.token') $$,
  'the token itself is stored nowhere'
);
select throws_ok(
  $$ select public.create_design_share_link(current_setting('tests.secret')::uuid, now() - interval '1 minute') $$,
  '22023', 'expires_at must be in the future', 'a link cannot be born expired'
);
select throws_ok(
  $$ insert into public.design_share_links (design_id, owner_id, token_hash, token_prefix)
     values (current_setting('tests.secret')::uuid, auth.uid(), extensions.digest('mine', 'sha256'), 'abcdefgh') $$,
  '42501', 'permission denied for table design_share_links',
  'links cannot be inserted directly (the token would be the caller''s choice)'
);
select throws_ok(
  $$ update public.design_share_links set revoked_at = null $$,
  '42501', 'permission denied for table design_share_links', 'links cannot be edited directly (no un-revoking)'
);
select lives_ok(
  $$ select public.revoke_design_share_link(
       (select id from public.design_share_links where token_hash = extensions.digest(current_setting('tests.token_to_revoke'), 'sha256'))) $$,
  'the owner revokes a link'
);

-- a link past its expiry (moved back in time as the platform would see it a day later)
select tests.clear_authentication();
update public.design_share_links set created_at = now() - interval '2 days', expires_at = now() - interval '1 day'
 where token_hash = extensions.digest(current_setting('tests.token_to_expire'), 'sha256');

-- stranger ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('share-stranger@example.com'));
select is_empty(
  $$ select 1 from public.design_share_links $$,
  'a stranger sees no one else''s links'
);
select throws_ok(
  $$ select public.create_design_share_link(current_setting('tests.secret')::uuid) $$,
  'PT404', format('design %s not found', current_setting('tests.secret')),
  'a stranger cannot share someone else''s design'
);
select throws_ok(
  $$ select public.create_design_share_link(current_setting('tests.open')::uuid) $$,
  'PT404', format('design %s not found', current_setting('tests.open')), 'not even a public one'
);
select throws_ok(
  $$ select public.revoke_design_share_link(current_setting('tests.token_link')::uuid) $$,
  'PT404', format('share link %s not found', current_setting('tests.token_link')),
  'a stranger cannot revoke the owner''s link'
);
select is_empty(
  $$ select 1 from public.designs where id = current_setting('tests.secret')::uuid $$,
  'without the token the private design stays hidden'
);
select is(
  (select title from public.get_shared_design(current_setting('tests.token'))),
  'Secret coat',
  'with a valid token a signed-in stranger reads the design'
);

-- anon ----------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select results_eq(
  $$ select id, title from public.get_shared_design(current_setting('tests.token')) $$,
  $$ select current_setting('tests.secret')::uuid, 'Secret coat'::text $$,
  'with a valid token anon reads exactly that design'
);
select throws_ok(
  $$ select public.get_shared_design(current_setting('tests.token_to_revoke')) $$,
  'PT404', 'share link not found or revoked', 'a revoked token opens nothing'
);
select throws_ok(
  $$ select public.get_shared_design(current_setting('tests.token_to_expire')) $$,
  'PT410', 'share link expired', 'an expired token says so'
);
select throws_ok(
  $$ select public.get_shared_design('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA') $$,
  'PT404', 'share link not found or revoked', 'an unknown token opens nothing'
);
select throws_ok(
  $$ select public.get_shared_design(null) $$,
  'PT404', 'share link not found or revoked', 'a missing token opens nothing'
);
select throws_ok(
  $$ select public.create_design_share_link(current_setting('tests.secret')::uuid) $$,
  '42501', 'permission denied for function create_design_share_link', 'anon cannot make links'
);
select throws_ok(
  $$ select public.duplicate_design(current_setting('tests.open')::uuid) $$,
  '42501', 'permission denied for function duplicate_design', 'anon cannot duplicate'
);

-- duplication -----------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('share-stranger@example.com'));
select throws_ok(
  $$ select public.duplicate_design(current_setting('tests.secret')::uuid) $$,
  'PT404', format('design %s not found', current_setting('tests.secret')), 'a stranger cannot copy a private design'
);
select results_eq(
  $$ select title, visibility, owner_id, duplicated_from, file_paths
       from public.duplicate_design(current_setting('tests.open')::uuid) $$,
  $$ select 'Open blouse (copy)'::text, 'private'::text, tests.get_user_id('share-stranger@example.com'),
            current_setting('tests.open')::uuid, '{}'::text[] $$,
  'a stranger copies a public design into a private design of their own'
);
select is(
  (select pattern from public.designs where title = 'Open blouse (copy)'),
  (select pattern from pattern_fixture),
  'the copy has the same pattern'
);

select tests.authenticate_as(tests.get_user_id('share-owner@example.com'));
select results_eq(
  $$ select title, duplicated_from, file_paths from public.duplicate_design(current_setting('tests.secret')::uuid) $$,
  $$ select 'Secret coat (copy)'::text, current_setting('tests.secret')::uuid, array[auth.uid() || '/coat.png'] $$,
  'the owner copies their private design, keeping the files in their own folder'
);
select lives_ok(
  $$ update public.designs set title = repeat('x', 120) where id = current_setting('tests.secret')::uuid $$,
  'a title at the length limit'
);
select is(
  char_length((public.duplicate_design(current_setting('tests.secret')::uuid)).title),
  120,
  'a copy of a long title still fits'
);
select is_empty(
  $$ select 1 from public.designs where title = 'Open blouse (copy)' $$,
  'the stranger''s copy is private to them'
);

-- deleting the design takes its links with it
delete from public.designs where id = current_setting('tests.secret')::uuid;
select throws_ok(
  $$ select public.get_shared_design(current_setting('tests.token')) $$,
  'PT404', 'share link not found or revoked', 'a deleted design''s links open nothing'
);

select * from finish();
rollback;
