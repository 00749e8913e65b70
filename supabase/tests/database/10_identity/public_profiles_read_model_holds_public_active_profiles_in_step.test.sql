-- public_profiles, the read model lists of profiles read: exactly the public, active profiles,
-- with their values, in step with every change of a profile (the trigger runs in the same
-- statement), readable by anyone, written by nobody but the trigger. Its policy plans nothing
-- about the caller, so a signed-in list costs what the service role's does (npm run bench --
-- profiles; docs/domains/identity.md, "Listing profiles").
begin;
select plan(19);

select tests.create_user('pp-public@example.com', '{"display_name": "Pat Public"}');
select tests.create_user('pp-private@example.com');
select tests.create_user('pp-gone@example.com');
select tests.create_user('pp-staff@example.com');
select tests.grant_role('pp-staff@example.com', 'staff');
update public.profiles set is_public = false where id = tests.get_user_id('pp-private@example.com');
update public.profiles set account_status = 'deactivated' where id = tests.get_user_id('pp-gone@example.com');

create function pg_temp.listed(email text) returns boolean
language sql
as $$ select exists (select 1 from public.public_profiles where id = tests.get_user_id(email)) $$;
create function pg_temp.explain_lines(query text) returns setof text
language plpgsql
as $$ begin return query execute 'explain (costs off) ' || query; end $$;
grant execute on function pg_temp.listed(text), pg_temp.explain_lines(text) to anon, authenticated;

-- What it holds ----------------------------------------------------------------------------
select is(
  (select count(*)::integer from public.public_profiles p
    where not exists (select 1 from public.profiles f where f.id = p.id and f.is_public and f.account_status = 'active')),
  0, 'every row is a public, active profile'
);
select is(
  (select count(*)::integer from public.profiles f
    where f.is_public and f.account_status = 'active' and not exists (select 1 from public.public_profiles p where p.id = f.id)),
  0, 'every public, active profile has its row (sign-up wrote it)'
);
select ok(pg_temp.listed('pp-public@example.com') and not pg_temp.listed('pp-private@example.com')
          and not pg_temp.listed('pp-gone@example.com'),
  'a public profile is listed; a private and a deactivated one are not');

-- Who reads it -----------------------------------------------------------------------------
select tests.authenticate_as_anon();
select is((select display_name from public.public_profiles where id = tests.get_user_id('pp-public@example.com')),
  'Pat Public', 'anon reads a public profile');
select ok(not pg_temp.listed('pp-private@example.com'), 'anon does not find a private profile');
select tests.authenticate_as(tests.get_user_id('pp-private@example.com'));
select ok(not pg_temp.listed('pp-private@example.com'), 'the owner of a private profile does not find it in the public list either');
select tests.authenticate_as(tests.get_user_id('pp-staff@example.com'));
select ok(not pg_temp.listed('pp-gone@example.com'), 'staff find no deactivated profile in it (they read profiles for that)');
select tests.authenticate_as(tests.get_user_id('pp-public@example.com'));
select unalike(
  (select string_agg(line, E'\n') from pg_temp.explain_lines('select id from public.public_profiles order by created_at desc limit 20') line),
  '%Plan%', 'a signed-in list plans no initplan or subplan: the policy is "anyone"'
);

-- Nobody writes it but the trigger ---------------------------------------------------------
select throws_ok(
  $$ update public.public_profiles set display_name = 'Forged' where id = tests.get_user_id('pp-public@example.com') $$,
  '42501', 'permission denied for table public_profiles', 'its own owner cannot write the read model'
);
select throws_ok(
  $$ insert into public.public_profiles (id, display_name, bio, is_designer, is_tailor, interests, review_count, follower_count, created_at)
     values (tests.get_user_id('pp-private@example.com'), 'x', '', false, false, '{}', 0, 0, now()) $$,
  '42501', 'permission denied for table public_profiles', 'nobody lists a private profile by inserting it'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ delete from public.public_profiles $$,
  '42501', 'permission denied for table public_profiles', 'anon cannot delete from it'
);

-- In step with profiles ---------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('pp-public@example.com'));
update public.profiles set display_name = 'Pat P.', bio = 'Tailor in Seoul', is_tailor = true
 where id = tests.get_user_id('pp-public@example.com');
select results_eq(
  $$ select display_name, bio, is_tailor from public.public_profiles where id = tests.get_user_id('pp-public@example.com') $$,
  $$ values ('Pat P.', 'Tailor in Seoul', true) $$,
  'the owner''s edit is in the read model in the same statement'
);
update public.profiles set is_public = false where id = tests.get_user_id('pp-public@example.com');
select ok(not pg_temp.listed('pp-public@example.com'), 'made private, the profile leaves the list');
update public.profiles set is_public = true where id = tests.get_user_id('pp-public@example.com');
select results_eq(
  $$ select display_name, is_tailor from public.public_profiles where id = tests.get_user_id('pp-public@example.com') $$,
  $$ values ('Pat P.', true) $$,
  'made public again, it is back with its values'
);
select tests.clear_authentication();
update public.profiles set account_status = 'deactivated' where id = tests.get_user_id('pp-public@example.com');
select ok(not pg_temp.listed('pp-public@example.com'), 'deactivated, it leaves the list');
update public.profiles set account_status = 'active' where id = tests.get_user_id('pp-public@example.com');
select ok(pg_temp.listed('pp-public@example.com'), 'reactivated, it is back');
update public.profiles set review_count = 3, rating_avg = 4.33, follower_count = 7
 where id = tests.get_user_id('pp-public@example.com');
select results_eq(
  $$ select review_count, rating_avg, follower_count from public.public_profiles where id = tests.get_user_id('pp-public@example.com') $$,
  $$ values (3, 4.33::numeric(3, 2), 7) $$,
  'the aggregates the reviews and follows features keep follow'
);
select is(
  (select count(*)::integer from public.public_profiles where id = tests.get_user_id('pp-public@example.com')),
  1, 'one row per profile, however often it changes'
);
delete from auth.users where id = tests.get_user_id('pp-public@example.com');
select is(
  (select count(*)::integer from public.public_profiles p where not exists (select 1 from public.profiles f where f.id = p.id)),
  0, 'an erased account takes its row with it'
);

select * from finish();
rollback;
