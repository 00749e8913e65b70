-- The shape every table and function must have, whatever domain adds it. The second part
-- holds the database to the rules of Supabase's linter (splinter: the dashboard's Security and
-- Performance Advisors) that matter here, so a regression fails npm test rather than showing
-- up in the dashboard; docs/conventions.md ("Database linter") says which rules and why.
begin;
select plan(22);

select is_empty(
  $$ select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relrowsecurity $$,
  'every table in public has row-level security enabled'
);

select is_empty(
  $$ select schemaname || '.' || tablename || ': ' || policyname from pg_policies
     where schemaname = 'public' and 'public' = any(roles) $$,
  'every policy names its roles (to anon / to authenticated), none applies to public'
);

-- (storage.objects is the exception by design: one policy per bucket and operation.)
select is_empty(
  $$ select tablename || ' ' || cmd || ' ' || role from pg_policies, unnest(roles) as role
     where schemaname = 'public' and permissive = 'PERMISSIVE'
     group by tablename, cmd, role having count(*) > 1 $$,
  'every table in public has at most one permissive policy per operation and role'
);

select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('public', 'private', 'ops') and p.prosecdef
       and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%') $$,
  'every security definer function pins its search_path'
);

select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname in ('public', 'private', 'ops')
       and exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                   where a.grantee = 0 and a.privilege_type = 'EXECUTE') $$,
  'no function in public, private or ops is executable by PUBLIC: every grant is explicit'
);

-- Two API surfaces: ops holds the service-only RPCs, usable by the service role alone.
select ok(
  has_schema_privilege('service_role', 'ops', 'usage')
    and not has_schema_privilege('anon', 'ops', 'usage') and not has_schema_privilege('authenticated', 'ops', 'usage'),
  'the ops schema is usable by the service role and by no other API role'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace = 'ops'::regnamespace
        and (not has_function_privilege('service_role', p.oid, 'execute')
             or has_function_privilege('anon', p.oid, 'execute')
             or has_function_privilege('authenticated', p.oid, 'execute')) $$,
  'every ops function is executable by the service role and by neither anon nor authenticated'
);
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace = 'public'::regnamespace and 'acting_user' = any(p.proargnames) $$,
  'no public function takes an acting_user: an RPC that acts for a user it is told about belongs in ops'
);

select is_empty(
  $$ select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind = 'v'
       and not coalesce('security_invoker=true' = any(c.reloptions), false) $$,
  'every view in public is security_invoker'
);

select ok(
  not has_schema_privilege('anon', 'auth', 'create') and not has_table_privilege('authenticated', 'auth.users', 'select'),
  'the API roles cannot read auth.users or create objects in auth'
);

select is(
  (select count(*)::int from pg_publication where pubname = 'supabase_realtime'),
  1,
  'the supabase_realtime publication exists'
);

-- splinter's rules, our way -----------------------------------------------------------------

-- unindexed_foreign_keys: a foreign key without an index whose leading columns are its own
-- makes every delete of a referenced row (an account erasure setting authors to null, say)
-- scan the referencing table. Exempt: keys into reference tables whose rows no API role may
-- delete or re-key (currencies, countries, event types), where the index would only cost writes.
select is_empty(
  $$ select c.conrelid::regclass || ' ' || c.conname from pg_constraint c
      where c.contype = 'f' and c.connamespace in ('public'::regnamespace, 'private'::regnamespace, 'ops'::regnamespace)
        and c.confrelid not in ('public.currencies'::regclass, 'public.countries'::regclass, 'private.event_types'::regclass)
        and not exists (select 1 from pg_index i
                         where i.indrelid = c.conrelid and i.indisvalid
                           and (string_to_array(i.indkey::text, ' ')::smallint[])[1:cardinality(c.conkey)] = c.conkey) $$,
  'every foreign key has an index led by its columns (reference tables aside)'
);

-- extension_in_public: an extension's objects in public would be exposed through the API.
select is_empty(
  $$ select extname from pg_extension where extnamespace = 'public'::regnamespace $$,
  'no extension is installed in public'
);

-- auth_rls_initplan: auth.uid() and friends wrapped in a select are evaluated once per
-- statement, not once per row.
select is_empty(
  $$ select schemaname || '.' || tablename || ': ' || policyname from pg_policies
      where schemaname in ('public', 'private', 'storage')
        and exists (select 1 from unnest(array[qual, with_check]) e, unnest(array['auth.uid()', 'auth.jwt()', 'auth.role()', 'auth.email()']) f
                    where e like '%' || f || '%' and lower(e) not like '%select ' || f || '%') $$,
  'every policy calls auth.uid(), auth.jwt(), auth.role() and auth.email() through a select'
);

-- duplicate_index and no_primary_key.
select is_empty(
  $$ select schemaname || '.' || tablename || ': ' || string_agg(indexname, ', ') from pg_indexes
      where schemaname in ('public', 'private', 'ops')
      group by schemaname, tablename, replace(indexdef, indexname, '') having count(*) > 1 $$,
  'no table has two identical indexes'
);
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
      where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace) and c.relkind in ('r', 'p')
        and not exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'p') $$,
  'every table in public and private has a primary key'
);

-- public_bucket_allows_listing: a public bucket serves its objects by URL without any select
-- policy; one that lets a role read every row of the bucket lets any client list it. Broad
-- means splinter's: no condition, true, or nothing but the bucket's id.
select is_empty(
  $$ select b.id || ': ' || p.policyname from storage.buckets b, pg_policies p
      where b.public and p.schemaname = 'storage' and p.tablename = 'objects' and p.cmd in ('SELECT', 'ALL')
        and p.permissive = 'PERMISSIVE' and p.roles && array['public', 'anon', 'authenticated']::name[]
        and (p.qual is null
             or replace(replace(replace(lower(p.qual), ' ', ''), E'\n', ''), E'\t', '') in ('true', '(true)', '1=1', '(1=1)')
             or (regexp_match(p.qual, $re$\A\s*\(*\s*bucket_id\s*=\s*('(?:[^']|'')*')(\s*::\s*[[:alnum:]_\.]+)?\s*\)*\s*\Z$re$, 'i'))[1]
                = quote_literal(b.id)) $$,
  'no public bucket has a select policy broad enough to list it'
);

-- Content: what a public bucket serves inline it must never take as SVG, and every way of
-- writing an object is held to the bucket's types (see 00_platform/80_storage_content.sql).
select is_empty(
  $$ select id from storage.buckets
      where public and (coalesce(cardinality(allowed_mime_types), 0) = 0
                        or exists (select 1 from unnest(allowed_mime_types) t where t = 'image/svg+xml' or t like '%*%')) $$,
  'every public bucket lists the types it takes, none of them SVG or a wildcard'
);
select is_empty(
  $$ select policyname from pg_policies
      where schemaname = 'storage' and tablename = 'objects' and cmd in ('INSERT', 'UPDATE', 'ALL')
        and permissive = 'PERMISSIVE'
        and coalesce(with_check, '') not like '%private.object_content_allowed(bucket_id, name, metadata)%' $$,
  'every permissive insert and update policy on storage.objects checks the content (private.object_content_allowed; a restrictive one, the upload rate limit, only narrows them)'
);

-- anon_ and authenticated_security_definer_function_executable (0028, 0029): a security
-- definer function runs past RLS, so none the API roles may execute lives in a schema the API
-- exposes. A client RPC is a security invoker SQL function in public over its body, the
-- security definer function of the same name and arguments in private, which PostgREST does
-- not expose (docs/architecture.md, "Which kind of capability"). splinter reads the exposed
-- schemas (public, graphql_public, ops); this reads every schema but private (and tests, the
-- pgTAP helpers of sql/test-helpers.sql, installed in test databases only), so a schema exposed
-- later is held too.
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where p.prosecdef and n.nspname not in ('private', 'tests') and n.nspname !~ '^pg_(toast_)?temp_'
        and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute')) $$,
  'no security definer function outside private is executable by anon or authenticated'
);

-- The wrapper is the body's twin: the API (PostgREST's named arguments, the OpenAPI listing,
-- the generated types) sees exactly the signature, result and volatility the body has, and the
-- same roles may call both (an invoker wrapper needs execute on its body).
select is_empty(
  $$ select rpc || ': ' || problems from (
       select rpc.oid::regprocedure::text as rpc, concat_ws(', ',
              case when rpc.prosecdef or rpc.prolang <> (select oid from pg_language where lanname = 'sql')
                   then 'not a security invoker SQL function' end,
              case when rpc.prosrc !~ ('\mprivate\.' || rpc.proname || '\(') then 'does not call its body' end,
              case when pg_get_function_arguments(rpc.oid) <> pg_get_function_arguments(body.oid)
                   then 'arguments or defaults differ' end,
              case when pg_get_function_result(rpc.oid) <> pg_get_function_result(body.oid) then 'result differs' end,
              case when rpc.provolatile <> body.provolatile then 'volatility differs' end,
              case when not body.prosecdef then 'body is not security definer' end,
              case when exists (select 1 from unnest(array['anon', 'authenticated', 'service_role']) r
                                 where has_function_privilege(r, rpc.oid, 'execute')
                                       <> has_function_privilege(r, body.oid, 'execute'))
                   then 'executable by other roles than its body' end) as problems
         from pg_proc rpc
         join pg_proc body on body.pronamespace = 'private'::regnamespace and body.proname = rpc.proname
                          and body.proargtypes = rpc.proargtypes
        where rpc.pronamespace = 'public'::regnamespace) pairs
      where problems <> '' $$,
  'every client RPC in public with its body in private has the body''s arguments, defaults, result and volatility, and its callers'
);
select ok(
  (select bool_or(has_function_privilege('anon', rpc.oid, 'execute'))
          and bool_or(has_function_privilege('authenticated', rpc.oid, 'execute'))
     from pg_proc rpc
     join pg_proc body on body.pronamespace = 'private'::regnamespace and body.proname = rpc.proname
                      and body.proargtypes = rpc.proargtypes
    where rpc.pronamespace = 'public'::regnamespace),
  'the check above is not vacuous: RPCs anon and signed-in users call have their bodies in private'
);

select * from finish();
rollback;
