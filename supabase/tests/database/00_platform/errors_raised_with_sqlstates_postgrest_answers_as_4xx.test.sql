-- The error convention (docs/architecture.md, "Errors"), read from the functions themselves:
-- every raise in public, private and ops names its SQLSTATE, and only SQLSTATEs that PostgREST
-- answers with the 4xx the refusal means: 22023 and 23514 (400), 42501 (403, 401 for anon),
-- 23505 (409), and PostgREST's PTxyz family for HTTP xyz: PT404 (not found), PT409 (wrong
-- state), PT410 (a share link expired), PT429 (a rate limit reached); PGRST (PostgREST's form
-- with the status and headers in its detail) only for the pre-request hook's 429 and 503
-- (80_operations/30_request_checks.sql). P0002 and 55000 are
-- answered 500 by PostgREST; 55000 stays only where the server itself is misconfigured (a
-- missing setting, Vault secret or extension), which no client can fix. The integration test
-- tests/integration/00_platform/rpc_catalogue_refusals_are_4xx.test.ts proves the same over HTTP.
begin;
select plan(3);

create temporary table raising as
select p.oid::regprocedure::text as function_name,
       (select count(*) from regexp_matches(p.prosrc, '\mraise\M(?!\s+(notice|warning|log|info|debug)\M)', 'gi')) as raises,
       array(select m[1] from regexp_matches(p.prosrc, '\merrcode\s*=\s*''([0-9A-Z]{5})''', 'gi') m)
         || array(select m[1] from regexp_matches(p.prosrc, '\mraise\s+sqlstate\s+''([0-9A-Z]{5})''', 'gi') m) as sqlstates
  from pg_proc p
  join pg_namespace n on n.oid = p.pronamespace
  join pg_language l on l.oid = p.prolang
 where n.nspname in ('public', 'private', 'ops')
   and l.lanname = 'plpgsql'
   and p.prosrc ~* '\mraise\M'
   and not exists (select 1 from pg_depend d
                    where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e');

select cmp_ok((select count(*)::int from raising), '>', 50,
  'the functions that raise are found (the checks below read them)');

select is_empty(
  $$ select function_name, raises, cardinality(sqlstates) from raising where raises <> cardinality(sqlstates) $$,
  'every raise names its SQLSTATE with "using errcode = ''…''" (a bare raise is P0001, no chosen code)');

select is_empty(
  $$ select function_name, sqlstate
       from raising, unnest(sqlstates) sqlstate
      where sqlstate not in ('22023', '23514', '23505', '42501', 'PT404', 'PT409', 'PT410', 'PT429')
        and not (sqlstate = '55000'
                 and function_name in ('private.setting(text)', 'private.call_edge_function(text,jsonb,integer)',
                                       -- a channel's sender is not installed (no client calls it:
                                       -- the consumer records the error on the delivery and retries)
                                       'private.send_notification_delivery(private.notification_deliveries)'))
        -- PostgREST's PGRST form, whose detail sets the status and headers: only the pre-request
        -- hook's 429 and 503, which must carry Retry-After (docs/architecture.md, Errors)
        and not (sqlstate = 'PGRST'
                 and function_name in ('private.raise_rate_limited(jsonb)', 'private.raise_in_maintenance(jsonb)')) $$,
  'every raise uses a SQLSTATE PostgREST answers with a 4xx; 55000 (a 500) only for the server''s own configuration');

select * from finish();
rollback;
