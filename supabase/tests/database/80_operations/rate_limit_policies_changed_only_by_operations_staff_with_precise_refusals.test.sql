-- Rate limit policies are data: everyone reads them; only holders of operations.manage (staff
-- and admin by default) change a limit, a plan's tier or a subject's override, through RPCs
-- that refuse unknown tiers and classes, zero and negative limits, an hourly limit below the
-- per-minute one and unlimited tiers, each with its own message; every change is audited.
begin;
select plan(27);

select tests.create_user('ops-staff@example.com');
select tests.create_user('ops-user@example.com');
select tests.grant_role('ops-staff@example.com', 'staff');

-- Reading.
select tests.act_as('anon');
select is((select count(*)::integer from public.rate_limit_policies where tier = 'standard'), 5, 'anon reads the standard tier''s five classes');
select is((select per_minute from public.rate_limit_policies where tier = 'standard' and class = 'api_write'), 100, 'standard writes: 100 a minute (002)');
select is((select per_hour from public.rate_limit_policies where tier = 'standard' and class = 'api_write'), 1000, 'and 1,000 an hour (004)');
select is((select per_minute from public.rate_limit_policies where tier = 'premium' and class = 'api_write'), 300, 'premium: 300 a minute (004)');
select is((select array_agg(tier order by tier) from public.rate_limit_tiers where unlimited), array['admin', 'staff', 'trusted'], 'admin, staff and trusted are unlimited');
select is((select array_agg(class order by class) from public.rate_limit_classes), array['api_read', 'api_write', 'auth', 'function', 'upload'], 'the five classes');
select throws_ok($$ select * from public.rate_limit_overrides $$, '42501', 'permission denied for table rate_limit_overrides', 'anon reads no overrides');
select throws_ok($$ select public.set_rate_limit('standard', 'api_write', 10, 100) $$, '42501',
  'permission denied for function set_rate_limit', 'anon cannot call the RPC');

-- A user without the permission.
select tests.act_as('ops-user@example.com');
select throws_ok($$ select public.set_rate_limit('standard', 'api_write', 10, 100) $$, '42501',
  'setting a rate limit needs the operations.manage permission', 'a user cannot set a limit');
select throws_ok($$ select public.set_maintenance_mode(true, 'x') $$, '42501',
  'turning maintenance mode on or off needs the operations.manage permission', 'nor turn maintenance on');
select throws_ok($$ update public.rate_limit_policies set per_minute = 1000 $$, '42501',
  'permission denied for table rate_limit_policies', 'nor write the table');

-- Staff: bad input, each refused precisely, nothing changed.
select tests.act_as('ops-staff@example.com');
select throws_ok($$ select public.set_rate_limit('gold', 'api_write', 10, 100) $$, '22023',
  'unknown rate limit tier gold: use one of admin, anonymous, premium, staff, standard, trusted', 'an unknown tier');
select throws_ok($$ select public.set_rate_limit('standard', 'graphql', 10, 100) $$, '22023',
  'unknown rate limit class graphql: use one of api_read, api_write, auth, function, upload', 'an unknown class');
select throws_ok($$ select public.set_rate_limit('standard', 'api_write', 0, 100) $$, '22023',
  'rate limits must be positive whole numbers: 0 per minute, 100 per hour refused', 'a zero limit');
select throws_ok($$ select public.set_rate_limit('standard', 'api_write', 10, -5) $$, '22023',
  'rate limits must be positive whole numbers: 10 per minute, -5 per hour refused', 'a negative limit');
select throws_ok($$ select public.set_rate_limit('standard', 'api_write', 50, 40) $$, '22023',
  'the hourly limit (40) must be at least the per-minute limit (50)', 'an hour below the minute');
select throws_ok($$ select public.set_rate_limit('admin', 'api_write', 10, 100) $$, '22023',
  'rate limit tier admin is unlimited: it has no limits to set', 'an unlimited tier');
select throws_ok($$ select public.set_plan_rate_limit_tier((select id from public.plans where is_free), 'trusted') $$, '22023',
  'a plan gives the standard or premium rate limit tier, not trusted', 'a plan gives standard or premium only');
select throws_ok($$ select public.set_rate_limit_override('trusted', 'load test', tests.get_user_id('ops-user@example.com'), '10.0.0.1') $$, '22023',
  'name one subject: a user_id or an address', 'an override names one subject');
select throws_ok($$ select public.set_rate_limit_override('trusted', 'load test', null, 'not-an-address') $$, '22023',
  'address not-an-address is not an IP address', 'an override''s address is an address');
select throws_ok($$ select public.set_rate_limit_override('platinum', 'load test', tests.get_user_id('ops-user@example.com')) $$, '22023',
  'unknown rate limit tier platinum: use one of admin, anonymous, premium, staff, standard, trusted', 'an override''s tier exists');

-- The table's own checks hold for the service role too.
select tests.act_as('service_role');
select throws_ok($$ update public.rate_limit_policies set per_minute = 0 where tier = 'standard' and class = 'upload' $$, '23514',
  'new row for relation "rate_limit_policies" violates check constraint "rate_limit_policies_per_minute_positive"', 'a zero limit is refused by the table');

-- Staff change a limit: it is the new limit, audited with the actor.
select tests.act_as('ops-staff@example.com');
select is((public.set_rate_limit('standard', 'upload', 20, 200)).per_minute, 20, 'staff set standard uploads to 20 a minute');
select is((select per_hour from public.rate_limit_policies where tier = 'standard' and class = 'upload'), 200, 'and 200 an hour');
select tests.clear_authentication();
select is((select (after ->> 'per_minute')::integer from public.audit_log
            where table_name = 'rate_limit_policies' and row_id = 'standard:upload' and actor_id = tests.get_user_id('ops-staff@example.com')),
          20, 'the change is in the audit log with its actor');

-- Overrides: one per subject, audited, removed with a null tier.
select tests.act_as('ops-staff@example.com');
select is((public.set_rate_limit_override('trusted', 'load test account', tests.get_user_id('ops-user@example.com'))).tier, 'trusted',
  'staff give a user the trusted tier');
select public.set_rate_limit_override(null, 'done', tests.get_user_id('ops-user@example.com'));
select is_empty($$ select 1 from public.rate_limit_overrides where user_id = tests.get_user_id('ops-user@example.com') $$, 'and take it back');

select * from finish();
rollback;
