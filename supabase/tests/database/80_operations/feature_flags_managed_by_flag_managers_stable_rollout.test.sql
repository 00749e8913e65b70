-- Feature flags (000 /v1/admin/feature-flags; 80_operations/60_feature_flags.sql): only
-- flags.manage writes and reads the table (admins hold it), each write audited and broadcast on
-- the public topic feature-flags; bad input (a rollout outside 0-100, an unknown role, a bad
-- key) refused with a precise error and nothing changed; my_feature_flags() answers each
-- caller (anon included) by enabled, allow-list, roles and a stable rollout hash: the same user
-- always the same answer, about 30% of 1,000 users at 30%, and raising to 50% keeps those on.
begin;
select plan(27);

-- No flags but this test's (a dev database may hold flags and broadcasts of integration runs).
delete from public.feature_flags;
delete from realtime.messages where topic = 'feature-flags';

select tests.create_user('ff-admin@example.com');
select tests.create_user('ff-user@example.com');
select tests.create_user('ff-seller@example.com');
select tests.create_user('ff-listed@example.com');
select tests.grant_role('ff-admin@example.com', 'admin');
select tests.grant_role('ff-seller@example.com', 'seller');

select ok(exists (select 1 from public.role_permissions rp join public.roles r on r.id = rp.role_id
                   where r.name = 'admin' and rp.permission = 'flags.manage'), 'admins hold flags.manage');

-- Nobody else writes or reads flags.
select tests.act_as('ff-user@example.com');
select throws_ok($$ insert into public.feature_flags (key, enabled) values ('new_checkout', true) $$, '42501',
  'new row violates row-level security policy for table "feature_flags"', 'a user cannot create a flag');
select tests.act_as('anon');
select throws_ok($$ insert into public.feature_flags (key, enabled) values ('new_checkout', true) $$, '42501',
  'permission denied for table feature_flags', 'anon cannot create a flag');
select is(public.my_feature_flags(), '{}'::jsonb, 'no flags yet');

-- The admin creates flags; bad input is refused precisely.
select tests.act_as('ff-admin@example.com');
select lives_ok($$ insert into public.feature_flags (key, description, enabled) values ('everyone.banner', 'A banner', true) $$,
  'an admin creates a flag');
select throws_ok($$ insert into public.feature_flags (key, enabled, rollout_percent) values ('big', true, 150) $$, '22023',
  'rollout_percent of flag big is 0 to 100, not 150', 'a rollout above 100 is refused');
select throws_ok($$ update public.feature_flags set rollout_percent = -1 where key = 'everyone.banner' $$, '22023',
  'rollout_percent of flag everyone.banner is 0 to 100, not -1', 'a negative rollout is refused');
select throws_ok($$ insert into public.feature_flags (key, roles) values ('for_ghosts', '{seller,ghost,wizard}') $$, '22023',
  'unknown role for flag for_ghosts: ghost, wizard', 'unknown roles are named');
select throws_ok($$ insert into public.feature_flags (key) values ('New Checkout!') $$, '22023',
  'a flag key is lowercase letters, digits and underscores, dot-separated (checkout.new_flow), at most 64 characters',
  'a bad key is refused');
select is((select rollout_percent from public.feature_flags where key = 'everyone.banner'), 100::smallint, 'nothing changed');

insert into public.feature_flags (key, enabled, roles) values ('sellers.tools', true, '{seller}');
insert into public.feature_flags (key, enabled, roles) values ('signed_in.only', true, '{authenticated}');
insert into public.feature_flags (key, enabled, roles) values ('anon.promo', true, '{anon}');
insert into public.feature_flags (key, enabled, rollout_percent) values ('beta.search', true, 0);
insert into public.feature_flags (key, enabled) values ('off.flag', false);
insert into public.feature_flag_users (flag_key, user_id) values ('beta.search', tests.get_user_id('ff-listed@example.com'));

select ok((select count(*) from public.audit_log where table_name = 'feature_flags'
            and actor_id = tests.get_user_id('ff-admin@example.com')) = 6, 'each flag created is audited with the admin');
select ok(exists (select 1 from public.audit_log where table_name = 'feature_flag_users' and row_id = 'beta.search'),
  'the allow-list change is audited');
select tests.clear_authentication();
select is((select count(*)::int from realtime.messages where topic = 'feature-flags' and event = 'flags:changed' and not private),
  7, 'every change is broadcast on the public topic feature-flags');
select results_eq($$ select payload - 'id' from realtime.messages where topic = 'feature-flags' and payload ->> 'key' = 'beta.search'
                     order by payload ->> 'action' $$,
  $$ values ('{"key": "beta.search", "action": "allow_list_changed"}'::jsonb), ('{"key": "beta.search", "action": "insert"}'::jsonb) $$,
  'the broadcasts name the flag and what changed, not who');

-- Who gets what.
select tests.act_as('anon');
select is(public.my_feature_flags(),
  '{"anon.promo": true, "beta.search": false, "everyone.banner": true, "off.flag": false, "sellers.tools": false, "signed_in.only": false}'::jsonb,
  'anon: flags for everyone and for anon');
select throws_ok($$ select * from public.feature_flags $$, '42501', 'permission denied for table feature_flags',
  'anon cannot read the flags table');
select tests.act_as('ff-user@example.com');
select is(public.my_feature_flags(),
  '{"anon.promo": false, "beta.search": false, "everyone.banner": true, "off.flag": false, "sellers.tools": false, "signed_in.only": true}'::jsonb,
  'a signed-in user');
select is_empty($$ select key from public.feature_flags $$, 'a user reads no flag rows');
select tests.act_as('ff-seller@example.com');
select is((public.my_feature_flags() ->> 'sellers.tools')::boolean, true, 'a seller gets the sellers'' flag');
select tests.act_as('ff-listed@example.com');
select is((public.my_feature_flags() ->> 'beta.search')::boolean, true, 'an allow-listed user gets a 0% flag');

-- Toggling.
select tests.act_as('ff-admin@example.com');
update public.feature_flags set enabled = false where key = 'everyone.banner';
select tests.act_as('ff-user@example.com');
select is((public.my_feature_flags() ->> 'everyone.banner')::boolean, false, 'toggled off, off for everyone');

-- The stable rollout over 1,000 users (ids fixed by their number).
select tests.clear_authentication();
create temp table cohort as
select n, md5('ff-cohort-' || n)::uuid as id from generate_series(1, 1000) n;
update public.feature_flags set rollout_percent = 30 where key = 'everyone.banner';
update public.feature_flags set enabled = true where key = 'everyone.banner';
create temp table at30 as
select c.id, private.feature_flag_on(f, c.id) as is_on from cohort c, public.feature_flags f where f.key = 'everyone.banner';
select ok((select count(*) from at30 where is_on) between 250 and 350,
  format('at 30%% about 30%% of 1,000 users are on (%s)', (select count(*) from at30 where is_on)));
select is((select count(*)::int from at30 a, public.feature_flags f
            where f.key = 'everyone.banner' and private.feature_flag_on(f, a.id) <> a.is_on), 0,
  'asked again, every user gets the same answer');
update public.feature_flags set rollout_percent = 50 where key = 'everyone.banner';
create temp table at50 as
select c.id, private.feature_flag_on(f, c.id) as is_on from cohort c, public.feature_flags f where f.key = 'everyone.banner';
select is((select count(*)::int from at30 a join at50 b using (id) where a.is_on and not b.is_on), 0,
  'raised to 50%, everyone on at 30% stays on');
select ok((select count(*) from at50 where is_on) between 430 and 570,
  format('at 50%% about half are on (%s)', (select count(*) from at50 where is_on)));
select isnt((select count(*) from cohort c where private.feature_flag_bucket(c.id, 'everyone.banner') < 3000),
            (select count(*) from cohort c where private.feature_flag_bucket(c.id, 'beta.search') < 3000
                                             and private.feature_flag_bucket(c.id, 'everyone.banner') < 3000),
  'each flag splits users independently (the key is in the hash)');

-- Deleting a flag takes its allow-list along.
select tests.act_as('ff-admin@example.com');
delete from public.feature_flags where key = 'beta.search';
select tests.clear_authentication();
select is_empty($$ select 1 from public.feature_flag_users where flag_key = 'beta.search' $$, 'a deleted flag leaves no allow-list');

select * from finish();
rollback;
