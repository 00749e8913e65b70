-- Platform baseline: the roles hosted Supabase creates before any migration runs.
-- Applied only by the Docker-less local stack (stack/), never by `supabase db push`:
-- on hosted Supabase and under `supabase start` these already exist.
-- Roles are cluster-wide, so every statement here is idempotent (db:reset reruns it).

do $$
declare
  r record;
begin
  for r in
    select * from (values
      -- name,                        login, bypassrls, superuser
      ('anon',                        false, false, false),
      ('authenticated',               false, false, false),
      ('service_role',                false, true,  false),
      ('authenticator',               true,  false, false),
      ('supabase_admin',              true,  true,  true),
      ('supabase_auth_admin',         true,  false, false),
      ('supabase_storage_admin',      true,  false, false),
      ('supabase_realtime_admin',     false, false, false),
      ('supabase_replication_admin',  true,  false, false),
      ('supabase_read_only_user',     true,  true,  false),
      ('dashboard_user',              false, false, false),
      ('pgbouncer',                   true,  false, false)
    ) as t(name, can_login, bypass, superuser)
  loop
    if not exists (select 1 from pg_roles where rolname = r.name) then
      execute format('create role %I %s %s %s noinherit',
        r.name,
        case when r.can_login then 'login' else 'nologin' end,
        case when r.bypass then 'bypassrls' else 'nobypassrls' end,
        case when r.superuser then 'superuser' else 'nosuperuser' end);
    end if;
  end loop;
end
$$;

-- The API roles: PostgREST connects as authenticator and switches to the role in the JWT.
alter role authenticator noinherit;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
grant supabase_auth_admin, supabase_storage_admin to postgres;

-- Local-only passwords; the stack binds to loopback.
alter role postgres with password 'postgres';
alter role authenticator with password 'postgres';
alter role supabase_auth_admin with password 'postgres';
alter role supabase_storage_admin with password 'postgres';
alter role supabase_admin with password 'postgres';

-- Hosted Supabase puts extensions on every role's search path.
alter role postgres set search_path = "$user", public, extensions;
alter role supabase_auth_admin set search_path = auth;
alter role supabase_storage_admin set search_path = storage;
