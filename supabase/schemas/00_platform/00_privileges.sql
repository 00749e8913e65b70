-- Private by default: nothing postgres creates in public is reachable by the API roles
-- until its schema file grants it, next to the object, on purpose.
-- Hosted Supabase grants all on new public objects to anon, authenticated and service_role;
-- these statements undo that for every object created after them.

alter default privileges for role postgres in schema public revoke all on tables from anon, authenticated, service_role;
alter default privileges for role postgres in schema public revoke all on sequences from anon, authenticated, service_role;
alter default privileges for role postgres in schema public revoke execute on functions from anon, authenticated, service_role;
-- Postgres lets every role execute new functions; per-schema defaults cannot take that back,
-- only the global default can.
alter default privileges for role postgres revoke execute on functions from public;

-- Helpers that policies call live here: not exposed through the API, executable only where
-- granted.
create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to anon, authenticated, service_role;

comment on schema private is
  'Permission helpers and internals called by policies and RPCs; not exposed by PostgREST.';

-- ---------------------------------------------------------------------------------------
-- Keep updated_at honest whatever the client sends: every domain's tables use it.

create function private.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

comment on function private.touch_updated_at() is
  'Trigger: sets updated_at to the transaction time on every update.';

-- ---------------------------------------------------------------------------------------
-- Two API surfaces. `public` is what clients call under RLS and auth.uid(). `ops` holds the
-- RPCs only the service role may call: edge functions, scheduled jobs and the admin CLI,
-- which vouch for the user they act for (acting_user). It is exposed through the API (so
-- supabase-js reaches it with .schema('ops')) but usable by the service role alone.

create schema if not exists ops;
revoke all on schema ops from public;
grant usage on schema ops to service_role;
alter default privileges for role postgres in schema ops revoke execute on functions from anon, authenticated;

comment on schema ops is
  'Service-role-only RPCs (edge functions, jobs, admin tooling); exposed through the API, usable by service_role alone.';

-- ---------------------------------------------------------------------------------------
-- Small helpers every domain uses.

-- Whether the request comes with the service-role key: edge functions, jobs and admin
-- tooling, which vouch for what they do.
-- PL/pgSQL, not SQL: policies, RPCs and the pre-request hook on every write call it
-- ("Functions that policies call", docs/domains/platform.md).
create function private.is_service_role() returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  return coalesce(auth.role(), '') = 'service_role';
end
$$;
comment on function private.is_service_role() is 'Whether the caller authenticated with the service-role key.';

-- Text from a client (an object's folder, a Stripe metadata field) as a uuid, or null when it
-- is not one in canonical form: a cast would raise instead. PL/pgSQL, not SQL: storage policies
-- call it on every upload (docs/domains/platform.md, "Functions that policies call").
create function private.try_uuid(value text) returns uuid
language plpgsql
immutable
set search_path = ''
as $$
begin
  if value ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    return value::uuid;
  end if;
  return null;
end
$$;
comment on function private.try_uuid(text) is 'The text as a uuid when it is one in canonical (lowercase) form, else null.';

grant execute on function private.is_service_role(), private.try_uuid(text) to anon, authenticated, service_role;

-- Anonymous users (supabase.auth.signInAnonymously): role authenticated, with the token's
-- is_anonymous claim true until they link an e-mail or phone. They may try the product (keep
-- designs, a profile) but not commit to anything with other people: post a project, bid,
-- sell, apply for a shop, order. Tables and RPCs where that happens refuse them with
-- private.refuse_anonymous (a before-insert trigger, so the refusal names what was refused
-- rather than failing an RLS check) or private.assert_not_anonymous.
create function private.is_anonymous() returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce((auth.jwt() ->> 'is_anonymous')::boolean, false)
$$;
comment on function private.is_anonymous() is
  'Whether the caller signed in anonymously (the access token''s is_anonymous claim); false for anon, the service role and linked accounts.';

create function private.assert_not_anonymous(what text) returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if private.is_anonymous() then
    raise exception 'anonymous users cannot %: add an e-mail address to your account first', what
      using errcode = '42501';
  end if;
end
$$;
comment on function private.assert_not_anonymous(text) is
  'Refuses an anonymous caller (42501) with a message naming what they tried (a fixed phrase from the caller code).';

create function private.refuse_anonymous() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform private.assert_not_anonymous(tg_argv[0]);
  return new;
end
$$;
comment on function private.refuse_anonymous() is
  'Before-insert trigger: refuses an anonymous caller; the argument is what they tried, e.g. ''bid on projects''.';

grant execute on function private.is_anonymous(), private.assert_not_anonymous(text) to anon, authenticated, service_role;
