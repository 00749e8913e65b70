-- The PostgREST pre-request hook (private.check_request), called as PostgREST calls it: after
-- the role and the request settings are set. Reads and the service role return at once; a
-- standard user's writes are counted (headers set, the 101st refused 429 with Retry-After);
-- premium, trusted, staff and admin tiers; an anonymous caller by address (none: not
-- counted); the one counter row per subject and class (a refusal leaves it at the limit, a
-- passed window starts again, a newer window is never moved back, the headers describe the
-- hour once it has fewer left, the prune job); maintenance refuses non-staff writes with 503
-- and never staff.
begin;
select plan(39);

select tests.create_user('hook-user@example.com');
select tests.create_user('hook-premium@example.com');
select tests.create_user('hook-staff@example.com');
select tests.create_user('hook-admin@example.com');
select tests.create_user('hook-load@example.com');
select tests.grant_role('hook-staff@example.com', 'staff');
select tests.grant_role('hook-admin@example.com', 'admin');

-- As PostgREST sets them for a request.
create function pg_temp.request(method text, forwarded text default null) returns void
language sql as $$
  select set_config('request.method', method, true),
         set_config('request.path', '/projects', true),
         set_config('request.headers', case when forwarded is null then '{}' else json_build_object('x-forwarded-for', forwarded)::text end, true),
         set_config('response.headers', '', true)
$$;
create function pg_temp.header(name text) returns text
language sql as $$
  select h ->> name from jsonb_array_elements(nullif(current_setting('response.headers', true), '')::jsonb) h where h ? name
$$;
-- n writes in a row by the acting caller; how many passed.
create function pg_temp.writes(n integer) returns integer
language plpgsql as $$
declare passed integer := 0;
begin
  for i in 1..n loop
    begin
      perform pg_temp.request('POST');
      perform private.check_request();
      passed := passed + 1;
    exception when sqlstate 'PGRST' then
      null;
    end;
  end loop;
  return passed;
end
$$;
grant execute on function pg_temp.request(text, text), pg_temp.header(text), pg_temp.writes(integer) to anon, authenticated, service_role;

-- Reads and the service role: nothing counted, no headers.
select tests.act_as('hook-user@example.com');
select pg_temp.request('GET');
select lives_ok($$ select private.check_request() $$, 'a GET returns at once');
select is(pg_temp.header('X-RateLimit-Limit'), null, 'with no headers');
select tests.act_as('service_role');
select pg_temp.request('POST');
select lives_ok($$ select private.check_request() $$, 'the service role''s write returns at once');
select is(pg_temp.header('X-RateLimit-Limit'), null, 'uncounted');

-- A standard user: the headers count down.
select tests.act_as('hook-user@example.com');
select pg_temp.request('POST');
select private.check_request();
select is(pg_temp.header('X-RateLimit-Limit'), '100', 'a standard user''s first write: limit 100');
select is(pg_temp.header('X-RateLimit-Remaining'), '99', 'remaining 99');
select ok(pg_temp.header('X-RateLimit-Reset')::integer between 1 and 60, 'reset within the minute');
select is(pg_temp.header('RateLimit-Policy'), '"api_write";q=100;w=60', 'the IETF policy field');
select pg_temp.request('PATCH');
select private.check_request();
select is(pg_temp.header('X-RateLimit-Remaining'), '98', 'the second write: 98 left');
select is(pg_temp.writes(98), 98, 'writes 3 to 100 pass');
select pg_temp.request('DELETE');
select tests.throws_like($$ select private.check_request() $$, 'PGRST',
  '{"code" : "PT429", "message" : "rate limit reached: 100 api_write requests per minute for the standard tier; retry in % s", "details" : null, "hint" : null}',
  'the 101st is refused (429, PT429), naming the limit, the tier and when to retry');
select tests.clear_authentication();
select is((select minute_hits from private.rate_limit_counters where subject = tests.get_user_id('hook-user@example.com')::text and class = 'api_write'),
  100, 'the refused write''s increment rolled back: the count stays at the limit');

-- Staff raise the standard limit: it takes effect at once.
select tests.act_as('hook-staff@example.com');
select public.set_rate_limit('standard', 'api_write', 102, 1000);
select tests.act_as('hook-user@example.com');
select is(pg_temp.writes(3), 2, 'after staff raise the limit to 102, two more writes pass');

-- Premium by plan.
select tests.clear_authentication();
insert into public.plans (slug, name) values ('hook-premium', 'Premium');
insert into public.plan_prices (plan_id, billing_period, currency, amount) select id, 'month', 'KRW', 9900 from public.plans where slug = 'hook-premium';
insert into public.subscriptions (user_id, plan_id, plan_price_id, plan_family, status, current_period_start, current_period_end,
                                  stripe_subscription_id, stripe_customer_id, stripe_updated_at, stripe_event_id, snapshot)
select tests.get_user_id('hook-premium@example.com'), p.id, pp.id, 'platform', 'active', now() - interval '1 day', now() + interval '29 days',
       'sub_hook_premium', 'cus_hook', now(), 'evt_hook', '{}'
  from public.plans p join public.plan_prices pp on pp.plan_id = p.id where p.slug = 'hook-premium';
select tests.act_as('hook-staff@example.com');
select is(public.set_plan_rate_limit_tier((select id from public.plans where slug = 'hook-premium'), 'premium'), 'premium', 'staff map the plan to premium');
select tests.act_as('hook-premium@example.com');
select pg_temp.request('POST');
select private.check_request();
select is(pg_temp.header('X-RateLimit-Limit'), '300', 'a subscriber''s write: the premium limit, 300');
select is(pg_temp.writes(299), 299, 'and 299 more pass');
select is(pg_temp.writes(1), 0, 'the 301st does not');

-- Unlimited: admin, staff, a trusted override.
select tests.act_as('hook-admin@example.com');
select is(pg_temp.writes(150), 150, 'an admin writes 150 times');
select is(pg_temp.header('X-RateLimit-Limit'), null, 'uncounted, no headers');
select tests.act_as('hook-staff@example.com');
select public.set_rate_limit_override('trusted', 'bench account', tests.get_user_id('hook-load@example.com'));
select tests.act_as('hook-load@example.com');
select is(pg_temp.writes(150), 150, 'a user with the trusted override writes 150 times');
select tests.clear_authentication();
select is((select count(*)::integer from private.rate_limit_counters where subject in (tests.get_user_id('hook-admin@example.com')::text, tests.get_user_id('hook-load@example.com')::text)),
  0, 'nothing counted for unlimited tiers');

-- Anonymous: by the first X-Forwarded-For address; without one, not counted.
select tests.act_as('anon');
select pg_temp.request('POST', '203.0.113.7, 10.0.0.1');
select private.check_request();
select is(pg_temp.header('X-RateLimit-Remaining'), '99', 'an anonymous write is counted for its address');
select tests.clear_authentication();
select is((select minute_hits from private.rate_limit_counters where subject = '203.0.113.7' and class = 'api_write'), 1, 'the first X-Forwarded-For entry');
select is((select count(*)::integer from private.rate_limit_counters where subject = '203.0.113.7'), 1, 'one row holds both windows');

-- The counter row (as the service's owner; standard api_write is 102 a minute, 1,000 an hour).
select tests.clear_authentication();
-- Windows that have passed start again at 1.
insert into private.rate_limit_counters (subject, class, minute_start, minute_hits, hour_start, hour_hits)
values ('counter-stale', 'api_write', date_trunc('minute', now()) - interval '2 minutes', 90,
        date_trunc('hour', now()) - interval '2 hours', 900);
select is(private.count_rate_limit('api_write', 'standard', 'counter-stale') ->> 'remaining', '101', 'a passed minute and hour start again');
select is((select array[minute_hits, hour_hits] from private.rate_limit_counters where subject = 'counter-stale'), array[1, 1],
  'both windows at 1');
select ok((select minute_start = date_trunc('minute', clock_timestamp()) and hour_start = date_trunc('hour', clock_timestamp())
             from private.rate_limit_counters where subject = 'counter-stale'), 'in the current minute and hour');
-- A request that read its clock in an older window than the row's (it raced a request of the
-- next minute and hour to the row lock) counts in the row's windows and never moves them back.
insert into private.rate_limit_counters (subject, class, minute_start, minute_hits, hour_start, hour_hits)
values ('counter-raced', 'api_write', date_trunc('minute', now()) + interval '1 minute', 5,
        date_trunc('hour', now()) + interval '1 hour', 995);
select is(private.count_rate_limit('api_write', 'standard', 'counter-raced') - 'reset',
  '{"tier": "standard", "class": "api_write", "allowed": true, "limit": 1000, "window": 3600, "remaining": 4}'::jsonb,
  'counted in the row''s newer windows; the headers describe the hour, which has fewer left');
select is((select array[minute_hits, hour_hits] from private.rate_limit_counters where subject = 'counter-raced'), array[6, 996],
  'both windows counted on');
select ok((select minute_start = date_trunc('minute', now()) + interval '1 minute' and hour_start = date_trunc('hour', now()) + interval '1 hour'
             from private.rate_limit_counters where subject = 'counter-raced'), 'and never moved back');
select is(private.count_rate_limit('function', 'standard', 'counter-raced') ->> 'remaining', '99', 'another class has its own row');
select is((select count(*)::integer from private.rate_limit_counters where subject = 'counter-raced'), 2, 'one row per subject and class');
-- The prune job: rows whose hour ended over two hours ago.
insert into private.rate_limit_counters (subject, class, minute_start, minute_hits, hour_start, hour_hits)
values ('counter-old', 'api_write', now() - interval '3 hours 1 minute', 1, now() - interval '3 hours 1 minute', 1),
       ('counter-recent', 'api_write', now() - interval '2 hours 59 minutes', 1, now() - interval '2 hours 59 minutes', 1);
select ok(private.prune_rate_limit_counters() >= 1, 'the prune job deletes');
select is((select array_agg(subject order by subject) from private.rate_limit_counters where subject like 'counter-%'),
  array['counter-raced', 'counter-raced', 'counter-recent', 'counter-stale'],
  'the row whose hour ended over two hours ago, not one whose hour ended less than two hours ago, nor current ones');
select tests.act_as('anon');
select pg_temp.request('POST');
select private.check_request();
select is(pg_temp.header('X-RateLimit-Limit'), null, 'without an address nothing is counted');

-- Maintenance: non-staff writes refused 503, reads continue, staff never locked out.
select tests.act_as('hook-staff@example.com');
select public.set_maintenance_mode(true, 'Database upgrade', now() + interval '10 minutes');
select tests.act_as('hook-premium@example.com');
select pg_temp.request('POST');
select tests.throws_like($$ select private.check_request() $$, 'PGRST',
  '{"code" : "PT503", "message" : "Database upgrade", "details" : "maintenance is expected to end at %", "hint" : "Reads continue; writes are back when maintenance ends"}',
  'a user''s write in maintenance: 503 with the message');
select pg_temp.request('GET');
select lives_ok($$ select private.check_request() $$, 'a read continues');
select tests.act_as('hook-staff@example.com');
select pg_temp.request('POST');
select lives_ok($$ select private.check_request() $$, 'staff write during maintenance');
select is((public.set_maintenance_mode(false)) ->> 'enabled', 'false', 'and turn it off');

select * from finish();
rollback;
