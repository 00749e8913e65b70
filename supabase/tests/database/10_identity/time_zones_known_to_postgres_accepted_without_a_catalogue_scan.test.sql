-- Time zones: public.time_zones lists exactly the names Postgres knows (pg_timezone_names) and
-- anyone may read it; private_profiles.timezone takes a listed name with a primary-key lookup
-- and never reads pg_timezone_names for it (that view loads the whole time-zone database, and
-- every sign-up used to pay for it); a name missing from the list that Postgres knows (a zone
-- its tzdata gained later) is still taken; what AT TIME ZONE reads but is no zone name (a POSIX
-- rule, an abbreviation) and what Postgres does not know are refused with 22023, as before.
begin;
select plan(14);

select tests.create_user('tz-owner@example.com');

select set_eq(
  $$ select name from public.time_zones $$,
  $$ select name from pg_catalog.pg_timezone_names $$,
  'the list is what pg_timezone_names lists'
);
select is(
  (select timezone from public.private_profiles where id = tests.get_user_id('tz-owner@example.com')),
  'UTC', 'sign-up stores UTC'
);

-- Calls of the catalogue fallback in this transaction (pg_stat_xact_user_functions).
set local track_functions = 'all';
create function pg_temp.fallback_calls() returns bigint language sql as $$
  select coalesce((select calls from pg_catalog.pg_stat_xact_user_functions
                    where schemaname = 'private' and funcname = 'is_time_zone_known_to_postgres'), 0)
$$;
grant execute on function pg_temp.fallback_calls() to authenticated;

select tests.authenticate_as(tests.get_user_id('tz-owner@example.com'));
select lives_ok(
  $$ update public.private_profiles set timezone = 'America/Argentina/Buenos_Aires' where id = auth.uid() $$,
  'the owner sets a listed zone'
);
select is(pg_temp.fallback_calls(), 0::bigint, 'a listed zone is taken without reading pg_timezone_names');
select throws_ok(
  $$ update public.private_profiles set timezone = 'Mars/Olympus_Mons' where id = auth.uid() $$,
  '22023', 'unknown time zone: Mars/Olympus_Mons', 'a name Postgres does not know is refused'
);
select throws_ok(
  $$ update public.private_profiles set timezone = 'foo+3' where id = auth.uid() $$,
  '22023', 'unknown time zone: foo+3', 'a POSIX rule AT TIME ZONE would read is no zone name: refused'
);
select throws_ok(
  $$ update public.private_profiles set timezone = 'PST' where id = auth.uid() $$,
  '22023', 'unknown time zone: PST', 'an abbreviation is no zone name: refused'
);
select throws_ok(
  $$ update public.private_profiles set timezone = '' where id = auth.uid() $$,
  '22023', 'unknown time zone: ', 'an empty name is refused'
);

-- A zone Postgres knows that the list lacks, as when tzdata gains one after the migration.
select tests.clear_authentication();
delete from public.time_zones where name = 'Asia/Tokyo';
select tests.authenticate_as(tests.get_user_id('tz-owner@example.com'));
select pg_temp.fallback_calls() as calls_before \gset
select lives_ok(
  $$ update public.private_profiles set timezone = 'Asia/Tokyo' where id = auth.uid() $$,
  'a zone Postgres knows but the list lacks is taken'
);
select is(pg_temp.fallback_calls(), :calls_before + 1::bigint, 'through the pg_timezone_names fallback');
select is(
  (select timezone from public.private_profiles where id = auth.uid()),
  'Asia/Tokyo', 'and stored'
);

select throws_ok(
  $$ insert into public.time_zones (name) values ('Mars/Olympus_Mons') $$,
  '42501', 'permission denied for table time_zones', 'users cannot add to the list'
);
select tests.authenticate_as_anon();
select ok(
  (select count(*) from public.time_zones where name in ('Europe/Paris', 'UTC')) = 2,
  'anyone reads the list'
);
select tests.authenticate_as_service_role();
select lives_ok(
  $$ update public.private_profiles set timezone = 'Europe/Paris' where id = tests.get_user_id('tz-owner@example.com') $$,
  'the service role sets a listed zone'
);

select * from finish();
rollback;
