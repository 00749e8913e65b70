-- Listing profiles as other users see them goes through public_profiles (docs/api-map.md). Its
-- filter (is_public and account_status = 'active') is leakproof, so Postgres applies it before
-- the profiles policy, and the policy's caller terms (id = (select auth.uid()) and
-- (select private.has_permission('users.read'))) never execute: the listing costs a signed-in
-- user about what it costs the service role (npm run bench -- profiles). Read straight from
-- the table, the same listing runs both initplans as soon as it passes a private row. The plan
-- is asserted, not timed; the rows each caller gets are asserted beside it.
begin;
select plan(10);

select tests.create_user('ppl-reader@example.com');
select tests.create_user('ppl-public@example.com');
select tests.create_user('ppl-private@example.com');
select tests.create_user('ppl-gone@example.com');
select tests.create_user('ppl-staff@example.com');
select tests.grant_role('ppl-staff@example.com', 'staff');
-- Newest first: the private and the deactivated profile come before the public one, so a
-- listing passes them on its way.
update public.profiles set created_at = now() + interval '3 seconds', is_public = false
 where id = tests.get_user_id('ppl-private@example.com');
update public.profiles set created_at = now() + interval '2 seconds', account_status = 'deactivated'
 where id = tests.get_user_id('ppl-gone@example.com');
update public.profiles set created_at = now() + interval '1 second'
 where id = tests.get_user_id('ppl-public@example.com');

-- The plan as the caller runs it, without timings: EXPLAIN ANALYZE marks a plan node it never
-- ran "(never executed)".
create function pg_temp.plan_of(query text) returns text
language plpgsql
as $$
declare
  line text;
  plan text := '';
begin
  for line in execute 'explain (analyze, costs off, timing off, summary off) ' || query loop
    plan := plan || line || E'\n';
  end loop;
  return plan;
end
$$;
create function pg_temp.initplans(plan text, executed boolean) returns integer
language sql
as $$
  select count(*)::integer
    from regexp_matches(plan, 'InitPlan \d+ \(returns \$\d+\)\n\s*->  Result \(([^)]*)\)', 'g') as m
   where (m[1] = 'never executed') <> executed
$$;
grant execute on function pg_temp.plan_of(text), pg_temp.initplans(text, boolean) to anon, authenticated;

select tests.authenticate_as(tests.get_user_id('ppl-reader@example.com'));
select is(
  pg_temp.initplans(pg_temp.plan_of(
    'select id from public.public_profiles order by created_at desc limit 3'), executed => false),
  2,
  'through public_profiles, the policy''s owner and staff initplans are planned but never executed'
);
select is(
  pg_temp.initplans(pg_temp.plan_of(
    'select id from public.public_profiles order by created_at desc limit 3'), executed => true),
  0,
  'through public_profiles, no initplan runs although the listing passes a private and a deactivated profile'
);
select is(
  pg_temp.initplans(pg_temp.plan_of(
    'select id from public.profiles order by created_at desc limit 3'), executed => true),
  2,
  'straight from the table, the first private row makes the policy run both initplans'
);
select results_eq(
  $$ select id from public.public_profiles order by created_at desc limit 1 $$,
  $$ values (tests.get_user_id('ppl-public@example.com')) $$,
  'a signed-in user lists the public profile first: the newer private and deactivated ones are not in the listing'
);

select tests.authenticate_as(tests.get_user_id('ppl-private@example.com'));
select is(
  (select count(*)::integer from public.public_profiles where id = tests.get_user_id('ppl-private@example.com')),
  0,
  'the owner of a private profile does not find it in the public listing'
);
select is(
  (select count(*)::integer from public.profiles where id = tests.get_user_id('ppl-private@example.com')),
  1,
  'the owner reads their private profile from the table'
);

select tests.authenticate_as(tests.get_user_id('ppl-staff@example.com'));
select is(
  (select count(*)::integer from public.public_profiles
    where id in (tests.get_user_id('ppl-private@example.com'), tests.get_user_id('ppl-gone@example.com'))),
  0,
  'staff find neither the private nor the deactivated profile in the public listing'
);
select is(
  (select count(*)::integer from public.profiles
    where id in (tests.get_user_id('ppl-private@example.com'), tests.get_user_id('ppl-gone@example.com'))),
  2,
  'staff (users.read) read both from the table'
);

select tests.authenticate_as_anon();
select is(
  (select count(*)::integer from public.public_profiles
    where id in (tests.get_user_id('ppl-private@example.com'), tests.get_user_id('ppl-gone@example.com'))),
  0,
  'anon finds neither the private nor the deactivated profile in the listing'
);
select results_eq(
  $$ select id from public.public_profiles order by created_at desc limit 1 $$,
  $$ values (tests.get_user_id('ppl-public@example.com')) $$,
  'anon lists the same public profile first'
);

select * from finish();
rollback;
