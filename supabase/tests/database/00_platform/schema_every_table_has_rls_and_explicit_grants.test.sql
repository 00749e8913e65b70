-- The shape every table and function must have, whatever domain adds it.
begin;
select plan(11);

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

select * from finish();
rollback;
