-- The platform domain's schema at the rebaseline: every file of supabase/schemas/00_platform/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/00_platform/00_privileges.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/00_platform/05_assurance.sql
-- ======================================================================================

-- The assurance-level rule (issue 14): a user who has a verified MFA factor (TOTP, or
-- recovery codes beside one) needs a two-factor session (aal2) for money-moving and authority
-- actions: payout onboarding, refunds, role assignment and permission grants, account
-- deletion, changing e-mail. Without a verified factor aal1 is enough. This file holds the one
-- rule; the RBAC guards (10_rbac.sql) call it, and the edge functions ask it as the caller
-- through public.has_required_aal() before calling the ops RPCs they act through
-- (functions/_shared/platform/assurance.ts). E-mail changes are Supabase Auth's, which
-- enforces the same rule itself (GoTrue's UserUpdate, 401 insufficient_aal).

create function private.has_required_aal() returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select auth.uid() is null
      or coalesce(auth.jwt() ->> 'aal', 'aal1') in ('aal2', 'aal3')
      or not exists (
        select 1 from auth.mfa_factors f
         where f.user_id = auth.uid() and f.status = 'verified'
      )
$$;
comment on function private.has_required_aal() is
  'Whether the request''s session is strong enough for a money-moving or authority action: '
  'true for an aal2 (or aal3) access token, for a user with no verified MFA factor, and for '
  'callers that are not a user (the service role, which vouches for its acting user). Reads '
  'the aal claim of the access token (auth.jwt()) and auth.mfa_factors, which the API roles '
  'cannot read: hence security definer. The body of the client RPC public.has_required_aal.';
revoke execute on function private.has_required_aal() from public;
grant execute on function private.has_required_aal() to authenticated, service_role;

create function public.has_required_aal() returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select private.has_required_aal()
$$;
comment on function public.has_required_aal() is
  'Whether the caller''s session may do money-moving and authority actions now: false when the '
  'caller has a verified MFA factor and the session is aal1 (verify the factor first).';
revoke execute on function public.has_required_aal() from public;
grant execute on function public.has_required_aal() to authenticated, service_role;

create function private.assert_required_aal() returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not private.has_required_aal() then
    raise exception 'this action needs a two-factor (aal2) session: verify your factor first'
      using errcode = '42501';
  end if;
end
$$;
comment on function private.assert_required_aal() is
  'Refuses (42501, PostgREST''s 403) a money-moving or authority action from an aal1 session '
  'of a user who has a verified MFA factor; see private.has_required_aal.';
revoke execute on function private.assert_required_aal() from public;
grant execute on function private.assert_required_aal() to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/00_platform/10_rbac.sql
-- ======================================================================================

-- RBAC (specifications 003 and 004): roles, a catalogue of permissions, grants of
-- permissions to roles, and assignments of roles to users that may expire. Policies ask
-- private.has_permission(); the access token carries role names only (see the hook below).

create table public.permissions (
  code text primary key
    constraint permissions_code_format check (code ~ '^[a-z][a-z0-9_]*\.[a-z_]+$'),
  description text not null default ''
);
comment on table public.permissions is 'The catalogue of permissions, as <resource>.<action>.';

create table public.roles (
  id uuid primary key default gen_random_uuid(),
  name text not null unique
    constraint roles_name_format check (name ~ '^[a-z][a-z0-9_]{1,39}$'),
  description text not null default '',
  is_system boolean not null default false,
  created_at timestamptz not null default now()
);
comment on table public.roles is 'Roles users can hold. System roles (admin, staff, seller, ...) cannot be deleted.';
comment on column public.roles.is_system is 'Set by migrations only; system roles back features and cannot be removed.';

create table public.role_permissions (
  role_id uuid not null references public.roles (id) on delete cascade,
  permission text not null references public.permissions (code) on delete cascade,
  primary key (role_id, permission)
);
create index role_permissions_permission_idx on public.role_permissions (permission);
comment on table public.role_permissions is 'Which permissions each role grants.';

create table public.user_roles (
  user_id uuid not null references auth.users (id) on delete cascade,
  role_id uuid not null references public.roles (id) on delete restrict,
  assigned_by uuid references auth.users (id) on delete set null,
  assigned_at timestamptz not null default now(),
  expires_at timestamptz,
  primary key (user_id, role_id),
  constraint user_roles_expiry_after_assignment check (expires_at is null or expires_at > assigned_at)
);
create index user_roles_role_id_idx on public.user_roles (role_id);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index user_roles_assigned_by_idx on public.user_roles (assigned_by) where assigned_by is not null;
comment on table public.user_roles is 'Role assignments; an assignment past expires_at grants nothing.';
comment on column public.user_roles.assigned_by is 'Who assigned the role: the caller, set by trigger; null for migrations and service tooling.';

-- The one statement of "an assignment that still grants": unexpired. Security invoker, so
-- whoever reads through it sees what the user_roles policies let them see.
create view private.active_user_roles with (security_invoker = true) as
select ur.* from public.user_roles ur
where ur.expires_at is null or ur.expires_at > now();
comment on view private.active_user_roles is 'Role assignments that grant their role now (no expiry, or expiring later).';

-- ---------------------------------------------------------------------------------------
-- Permission checks. Stable and security definer: policies call them once per statement
-- through (select ...), and they read the RBAC tables whatever the caller may see.
-- PL/pgSQL, not SQL: Postgres cannot inline a security definer function, and plans a SQL
-- function's body afresh on every statement that calls it, so each read under a policy naming
-- has_permission planned this chain (has_permission, user_has_permission, the
-- active_user_roles view, the join) again; PL/pgSQL keeps the plan for the session (PostgREST's
-- pooled connections), leaving one index lookup per statement. npm run bench -- profiles.

-- One definition of "holds a permission through an unexpired role", for a given user:
-- service-role functions acting for a user they are told about (acting_user) ask the same
-- question the policies ask for the caller.
create function private.user_has_permission(user_id uuid, permission text) returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (
    select 1
    from private.active_user_roles ur
    join public.role_permissions rp on rp.role_id = ur.role_id
    where ur.user_id = user_has_permission.user_id
      and rp.permission = user_has_permission.permission
  );
end
$$;
comment on function private.user_has_permission(uuid, text) is 'Whether a given user holds a permission through an unexpired role.';
grant execute on function private.user_has_permission(uuid, text) to service_role;

create function private.has_permission(permission text) returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return private.user_has_permission(auth.uid(), has_permission.permission);
end
$$;
comment on function private.has_permission(text) is
  'Whether the caller holds the permission through any unexpired role. What policies call.';

grant execute on function private.has_permission(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Effective permissions and the access report.

create function private.effective_permissions(target_user uuid default null)
returns table (permission text, granted_by_roles text[])
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  subject uuid := coalesce(target_user, auth.uid());
begin
  if subject is distinct from auth.uid()
     and not private.has_permission('users.read')
     and not private.is_service_role() then
    raise exception 'permission denied: users.read is required to see another user''s permissions'
      using errcode = '42501';
  end if;
  return query
    select rp.permission, array_agg(r.name order by r.name)
    from private.active_user_roles ur
    join public.roles r on r.id = ur.role_id
    join public.role_permissions rp on rp.role_id = ur.role_id
    where ur.user_id = subject
    group by rp.permission
    order by rp.permission;
end
$$;
comment on function private.effective_permissions(uuid) is
  'The body of the client RPC public.effective_permissions: security definer, in private so the API does not expose it.';
grant execute on function private.effective_permissions(uuid) to authenticated, service_role;

create function public.effective_permissions(target_user uuid default null)
returns table (permission text, granted_by_roles text[])
language sql
stable
security invoker
set search_path = ''
as $$
  select * from private.effective_permissions(target_user)
$$;
comment on function public.effective_permissions(uuid) is
  'Every permission a user holds (all unexpired roles merged) and the roles granting it. Self, users.read, or service_role.';

create function private.access_report()
returns table (user_id uuid, email text, roles text[], effective_permissions text[], access_level text)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not private.has_permission('audit.read') and not private.is_service_role() then
    raise exception 'permission denied: audit.read is required for the access report' using errcode = '42501';
  end if;
  return query
    select u.id,
           u.email::text,
           array_agg(distinct r.name order by r.name),
           array_remove(array_agg(distinct rp.permission order by rp.permission), null),
           case when bool_or(r.name = 'admin') then 'admin'
                when bool_or(r.name in ('staff', 'moderator')) then 'staff'
                else 'member' end
    from private.active_user_roles ur
    join auth.users u on u.id = ur.user_id
    join public.roles r on r.id = ur.role_id
    left join public.role_permissions rp on rp.role_id = ur.role_id
    group by u.id, u.email
    order by u.email;
end
$$;
comment on function private.access_report() is
  'The body of the client RPC public.access_report: security definer, in private so the API does not expose it.';
grant execute on function private.access_report() to authenticated, service_role;

create function public.access_report()
returns table (user_id uuid, email text, roles text[], effective_permissions text[], access_level text)
language sql
stable
security invoker
set search_path = ''
as $$
  select * from private.access_report()
$$;
comment on function public.access_report() is 'Who has access to what: every user holding an unexpired role. audit.read or service_role.';

grant execute on function public.effective_permissions(uuid), public.access_report() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Guards: assigned_by is the caller, and nobody hands out more than they hold.

create function private.guard_role_assignment() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  target_role uuid := case when tg_op = 'DELETE' then old.role_id else new.role_id end;
begin
  -- Only direct writes through the API are checked here; privileged functions (which run
  -- as their owner) check their own rules, e.g. review_seller_application.
  if current_user = 'authenticated' then
    -- Holding roles.manage is not enough to grant, or take away, a role with powers the
    -- caller lacks: a staff member with roles.manage cannot make themselves admin.
    if exists (
      select 1 from public.role_permissions rp
      where rp.role_id = target_role and not private.has_permission(rp.permission)
    ) then
      raise exception 'permission denied: you cannot assign or remove a role granting permissions you do not hold'
        using errcode = '42501';
    end if;
    -- Authority changes need a two-factor session from a user who has a factor (05_assurance.sql).
    perform private.assert_required_aal();
    if tg_op = 'INSERT' then
      new.assigned_by := auth.uid();
      new.assigned_at := now();
    elsif tg_op = 'UPDATE' then
      -- Changing an expiry does not rewrite who assigned the role, or when.
      new.assigned_by := old.assigned_by;
      new.assigned_at := old.assigned_at;
      new.user_id := old.user_id;
      new.role_id := old.role_id;
    end if;
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;
comment on function private.guard_role_assignment() is
  'Trigger on user_roles: records the assigner and refuses grants or removals beyond the caller''s own permissions, or from an aal1 session of a user with a verified MFA factor.';

create trigger user_roles_guard
  before insert or update or delete on public.user_roles
  for each row execute function private.guard_role_assignment();

-- Without this, a roles.manage holder could add any permission to a role they hold and so
-- hold it: granting or revoking a permission needs that permission, and system roles'
-- permissions are changed by migrations only.
create function private.guard_permission_grant() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  grant_row public.role_permissions := case when tg_op = 'DELETE' then old else new end;
begin
  if current_user = 'authenticated' then
    if exists (select 1 from public.roles r where r.id = grant_row.role_id and r.is_system) then
      raise exception 'permission denied: system roles'' permissions change only through migrations'
        using errcode = '42501';
    end if;
    if not private.has_permission(grant_row.permission) then
      raise exception 'permission denied: you cannot grant or revoke % without holding it', grant_row.permission
        using errcode = '42501';
    end if;
    perform private.assert_required_aal();
  end if;
  return grant_row;
end
$$;
comment on function private.guard_permission_grant() is
  'Trigger on role_permissions: API callers may grant or revoke only permissions they hold, never on system roles, and only from an aal2 session when they have a verified MFA factor.';

create trigger role_permissions_guard
  before insert or delete on public.role_permissions
  for each row execute function private.guard_permission_grant();

create function private.protect_system_roles() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.is_system and auth.uid() is not null then
    raise exception 'system role % cannot be changed or deleted', old.name using errcode = '42501';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;

create trigger roles_protect_system
  before update or delete on public.roles
  for each row execute function private.protect_system_roles();

-- ---------------------------------------------------------------------------------------
-- Policies: the catalogue is readable by signed-in users; changes need roles.manage.

alter table public.permissions enable row level security;
alter table public.roles enable row level security;
alter table public.role_permissions enable row level security;
alter table public.user_roles enable row level security;

grant select on public.permissions, public.roles, public.role_permissions, public.user_roles to authenticated;
grant insert (name, description), update (name, description), delete on public.roles to authenticated;
grant insert, delete on public.role_permissions to authenticated;
grant insert (user_id, role_id, expires_at), update (expires_at), delete on public.user_roles to authenticated;
grant all on public.permissions, public.roles, public.role_permissions, public.user_roles to service_role;

create policy "Signed-in users read the permission catalogue"
  on public.permissions for select to authenticated using (true);

create policy "Signed-in users read roles"
  on public.roles for select to authenticated using (true);
create policy "Role managers create roles"
  on public.roles for insert to authenticated with check ((select private.has_permission('roles.manage')));
create policy "Role managers update roles"
  on public.roles for update to authenticated
  using ((select private.has_permission('roles.manage'))) with check ((select private.has_permission('roles.manage')));
create policy "Role managers delete roles"
  on public.roles for delete to authenticated using ((select private.has_permission('roles.manage')));

create policy "Signed-in users read role grants"
  on public.role_permissions for select to authenticated using (true);
create policy "Role managers grant permissions to roles"
  on public.role_permissions for insert to authenticated with check ((select private.has_permission('roles.manage')));
create policy "Role managers revoke permissions from roles"
  on public.role_permissions for delete to authenticated using ((select private.has_permission('roles.manage')));

create policy "Users read their own roles; user readers read all"
  on public.user_roles for select to authenticated
  using (user_id = (select auth.uid()) or (select private.has_permission('users.read')));
create policy "Role managers assign roles"
  on public.user_roles for insert to authenticated with check ((select private.has_permission('roles.manage')));
create policy "Role managers change role expiry"
  on public.user_roles for update to authenticated
  using ((select private.has_permission('roles.manage'))) with check ((select private.has_permission('roles.manage')));
create policy "Role managers remove roles"
  on public.user_roles for delete to authenticated using ((select private.has_permission('roles.manage')));

-- ---------------------------------------------------------------------------------------
-- The custom access token hook: Supabase Auth calls it (as supabase_auth_admin) before
-- issuing every access token. It puts the user's unexpired role names into app_metadata,
-- which clients may read for display; authorization still goes through has_permission.

create function public.custom_access_token_hook(event jsonb) returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  claims jsonb := event -> 'claims';
  role_names jsonb;
begin
  select coalesce(jsonb_agg(r.name order by r.name), '[]'::jsonb)
    into role_names
    from private.active_user_roles ur
    join public.roles r on r.id = ur.role_id
   where ur.user_id = (event ->> 'user_id')::uuid;
  claims := jsonb_set(claims, '{app_metadata}', coalesce(claims -> 'app_metadata', '{}'::jsonb));
  claims := jsonb_set(claims, '{app_metadata,roles}', role_names);
  return jsonb_build_object('claims', claims);
end
$$;
comment on function public.custom_access_token_hook(jsonb) is
  'Supabase Auth hook: adds app_metadata.roles (unexpired role names) to every access token.';

grant usage on schema public to supabase_auth_admin;
grant execute on function public.custom_access_token_hook(jsonb) to supabase_auth_admin;
revoke execute on function public.custom_access_token_hook(jsonb) from authenticated, anon, public;
grant select on public.user_roles, public.roles to supabase_auth_admin;
grant usage on schema private to supabase_auth_admin;
grant select on private.active_user_roles to supabase_auth_admin;
create policy "Supabase Auth reads role assignments for tokens"
  on public.user_roles for select to supabase_auth_admin using (true);
create policy "Supabase Auth reads roles for tokens"
  on public.roles for select to supabase_auth_admin using (true);

-- ======================================================================================
-- supabase/schemas/00_platform/20_audit.sql
-- ======================================================================================

-- The audit log: who changed what, on which row, with the row before and after. Triggers
-- write it; nobody writes it directly, and nobody can change or delete an entry.

create table public.audit_log (
  id bigint generated always as identity primary key,
  actor_id uuid,
  actor_label text not null,
  action text not null,
  table_name text not null,
  row_id text,
  before jsonb,
  after jsonb,
  created_at timestamptz not null default now()
);
create index audit_log_created_at_idx on public.audit_log (created_at desc);
create index audit_log_actor_id_idx on public.audit_log (actor_id);
create index audit_log_table_row_idx on public.audit_log (table_name, row_id);

comment on table public.audit_log is 'Append-only record of privileged changes, written by private.audit_row_change().';
comment on column public.audit_log.actor_label is
  'The signed-in user''s id, or for service tooling the x-admin-actor request header (the operator), else the database role.';

alter table public.audit_log enable row level security;
grant select on public.audit_log to authenticated;
grant select on public.audit_log to service_role;

create policy "Auditors read the audit log"
  on public.audit_log for select to authenticated
  using ((select private.has_permission('audit.read')));

-- Who is acting: the JWT's user, or for the service role the operator named by the admin
-- CLI in the x-admin-actor header (PostgREST exposes request headers as a setting).
create function private.current_actor() returns table (actor_id uuid, actor_label text)
language sql
stable
set search_path = ''
as $$
  select auth.uid(),
         coalesce(
           auth.uid()::text,
           nullif(current_setting('request.headers', true), '')::jsonb ->> 'x-admin-actor',
           coalesce(auth.role(), session_user)
         )
$$;

create function private.audit_row_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor record;
  before_row jsonb := case when tg_op in ('UPDATE', 'DELETE') then to_jsonb(old) end;
  after_row jsonb := case when tg_op in ('INSERT', 'UPDATE') then to_jsonb(new) end;
  key_column text := coalesce(tg_argv[0], 'id');
  kept_columns text[] := tg_argv[1:];
begin
  -- Further arguments name the only columns worth keeping: the log outlives account
  -- deletion, so it should not hold personal data it does not need.
  if cardinality(kept_columns) > 0 then
    select jsonb_object_agg(key, value) into before_row from jsonb_each(before_row) where key = any(kept_columns);
    select jsonb_object_agg(key, value) into after_row from jsonb_each(after_row) where key = any(kept_columns);
  end if;
  if tg_op = 'UPDATE' and before_row = after_row then
    return null;
  end if;
  select * into actor from private.current_actor();
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (actor.actor_id, actor.actor_label, lower(tg_op), tg_table_name,
          coalesce(after_row, before_row) ->> key_column, before_row, after_row);
  return null;
end
$$;
comment on function private.audit_row_change() is
  'After-row trigger: appends the change to public.audit_log. Arguments: the column naming the row (default id), then optionally the only columns to record.';

create function private.refuse_audit_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'the audit log is append-only' using errcode = '42501';
end
$$;

create trigger audit_log_append_only
  before update or delete on public.audit_log
  for each row execute function private.refuse_audit_change();

create trigger roles_audit after insert or update or delete on public.roles
  for each row execute function private.audit_row_change();
create trigger role_permissions_audit after insert or update or delete on public.role_permissions
  for each row execute function private.audit_row_change('role_id');
create trigger user_roles_audit after insert or update or delete on public.user_roles
  for each row execute function private.audit_row_change('user_id');

-- ---------------------------------------------------------------------------------------

-- Admin actions that happen outside the database's tables (Supabase Auth bans through the
-- Auth admin API) are recorded by the tool that performs them, through this function, so
-- the audit log still holds every admin action. Only the service role may call it.

create function ops.record_admin_action(action text, table_name text, row_id text, before jsonb, after jsonb)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor record;
  entry_id bigint;
begin
  if not private.is_service_role() then
    raise exception 'permission denied: only service tooling records admin actions' using errcode = '42501';
  end if;
  if coalesce(trim(action), '') = '' or coalesce(trim(table_name), '') = '' then
    raise exception 'action and table_name are required' using errcode = '22023';
  end if;
  select * into actor from private.current_actor();
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (actor.actor_id, actor.actor_label, action, table_name, row_id, before, after)
  returning id into entry_id;
  return entry_id;
end
$$;

comment on function ops.record_admin_action(text, text, text, jsonb, jsonb) is
  'Appends an admin action done outside Postgres tables (e.g. an Auth ban) to the audit log; service_role only.';

grant execute on function ops.record_admin_action(text, text, text, jsonb, jsonb) to service_role;

-- ======================================================================================
-- supabase/schemas/00_platform/30_settings.sql
-- ======================================================================================

-- Platform settings: one row per key in public.platform_settings, changed by holders of
-- settings.manage and read by everyone. Every key is declared here, with its rule as a
-- check constraint; its default is the row the domain's reference-data migration inserts,
-- and nowhere else: code reads a setting through private.setting(), which refuses a key that
-- has no row instead of falling back to a second copy of the default.
--
--   signup_mode          "open" | "invite_only"        identity: who may sign up
--   commission_rate_bps  integer 0..5000               marketplace: snapshotted on new orders
--   auto_release_days    integer 1..90                 payments: days before automatic release
--   message_edit_window_minutes  integer 1..1440       messaging: how long a sender may edit a message
--   checkout_reservation_minutes integer 5..1440       commerce: how long a placed checkout holds its stock unpaid
--   product_review_edit_days     integer 1..365        commerce: how long an author may edit a product review

create table public.platform_settings (
  key text primary key constraint platform_settings_key_format check (key ~ '^[a-z_]+$'),
  value jsonb not null,
  updated_at timestamptz not null default now(),
  constraint platform_settings_signup_mode
    check (key <> 'signup_mode' or value in ('"open"', '"invite_only"')),
  constraint platform_settings_commission_rate
    check (key <> 'commission_rate_bps' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 0 and 5000
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric))),
  constraint platform_settings_auto_release_days
    check (key <> 'auto_release_days' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 1 and 90
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric))),
  constraint platform_settings_message_edit_window
    check (key <> 'message_edit_window_minutes' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 1 and 1440
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric))),
  constraint platform_settings_checkout_reservation_minutes
    check (key <> 'checkout_reservation_minutes' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 5 and 1440
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric))),
  constraint platform_settings_product_review_edit_days
    check (key <> 'product_review_edit_days' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 1 and 365
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric)))
);
comment on table public.platform_settings is 'Platform-wide switches, changed by holders of settings.manage.';
comment on constraint platform_settings_signup_mode on public.platform_settings is
  'signup_mode: "open", or "invite_only" (the before-user-created hook then requires an invite code).';
comment on constraint platform_settings_commission_rate on public.platform_settings is
  'commission_rate_bps: the platform''s share of an order in basis points (1000 = 10%), 0 to 50%.';
comment on constraint platform_settings_auto_release_days on public.platform_settings is
  'auto_release_days: days after delivery without approval or dispute before escrow is released automatically (1 to 90).';
comment on constraint platform_settings_message_edit_window on public.platform_settings is
  'message_edit_window_minutes: how many minutes after posting a sender may still edit a message (1 to 1440).';
comment on constraint platform_settings_checkout_reservation_minutes on public.platform_settings is
  'checkout_reservation_minutes: how long a placed, unpaid checkout holds its stock reservations and coupon before the commerce-expire-checkouts job releases them (5 to 1440).';
comment on constraint platform_settings_product_review_edit_days on public.platform_settings is
  'product_review_edit_days: how many days after writing a product review its author may still change its rating and text (1 to 365).';

create trigger platform_settings_touch_updated_at before update on public.platform_settings
  for each row execute function private.touch_updated_at();
create trigger platform_settings_audit after insert or update or delete on public.platform_settings
  for each row execute function private.audit_row_change('key');

alter table public.platform_settings enable row level security;
grant select on public.platform_settings to anon, authenticated;
grant update (value) on public.platform_settings to authenticated;
grant all on public.platform_settings to service_role;

create policy "Anyone reads platform settings" on public.platform_settings for select to anon, authenticated using (true);
create policy "Settings managers change settings"
  on public.platform_settings for update to authenticated
  using ((select private.has_permission('settings.manage')))
  with check ((select private.has_permission('settings.manage')));

-- ---------------------------------------------------------------------------------------
-- The one accessor, and typed readers for the settings code uses.

create function private.setting(setting_key text) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  setting_value jsonb;
begin
  select s.value into setting_value from public.platform_settings s where s.key = setting_key;
  if not found then
    raise exception 'platform setting % is not set', setting_key
      using errcode = '55000', hint = 'Its reference-data migration inserts it; restore the row in public.platform_settings.';
  end if;
  return setting_value;
end
$$;
comment on function private.setting(text) is
  'The value of a platform setting; raises 55000 when the row is missing (defaults live only in the reference data).';

create function private.commission_rate_bps() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('commission_rate_bps') #>> '{}')::integer
$$;
comment on function private.commission_rate_bps() is 'The commission rate in force, in basis points; snapshotted onto each new order.';

create function private.auto_release_days() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('auto_release_days') #>> '{}')::integer
$$;
comment on function private.auto_release_days() is
  'Days after delivery without approval or dispute before an order completes and its escrow is released.';

create function private.signup_mode() returns text
language sql
stable
security definer
set search_path = ''
as $$
  select private.setting('signup_mode') #>> '{}'
$$;
comment on function private.signup_mode() is 'open or invite_only: whether sign-up needs an invite code.';

create function private.message_edit_window_minutes() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('message_edit_window_minutes') #>> '{}')::integer
$$;
comment on function private.message_edit_window_minutes() is 'Minutes after posting during which a sender may edit a message (public.edit_message).';

create function private.checkout_reservation_minutes() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('checkout_reservation_minutes') #>> '{}')::integer
$$;
comment on function private.checkout_reservation_minutes() is
  'Minutes a placed checkout holds its stock and coupon unpaid (commerce: private.create_checkout sets expires_at from it).';

create function private.product_review_edit_days() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('product_review_edit_days') #>> '{}')::integer
$$;
comment on function private.product_review_edit_days() is
  'Days after writing a product review during which its author may edit it (commerce: product_reviews_check_edit).';

-- ======================================================================================
-- supabase/schemas/00_platform/40_money.sql
-- ======================================================================================

-- Money, as every domain that prices something quotes it: a currency from the currencies
-- table and an amount in integer minor units, never floats.

-- ---------------------------------------------------------------------------------------
-- Currencies: the ISO 4217 codes we price in, with their minor-unit exponent and the
-- largest amount one deal may carry (Stripe's per-charge limit for most currencies).

create table public.currencies (
  code text primary key constraint currencies_code_format check (code ~ '^[A-Z]{3}$'),
  minor_units smallint not null constraint currencies_minor_units_range check (minor_units between 0 and 3),
  max_amount bigint not null constraint currencies_max_amount_positive check (max_amount > 0),
  name text not null
);
comment on table public.currencies is 'Currencies amounts may be quoted in. Amounts are bigint minor units (cents for USD, yen for JPY).';
comment on column public.currencies.max_amount is 'Largest amount, in minor units, one project, bid, package or order may carry.';

alter table public.currencies enable row level security;
grant select on public.currencies to anon, authenticated;
grant all on public.currencies to service_role;
create policy "Anyone reads currencies" on public.currencies for select to anon, authenticated using (true);

-- Checks an amount against its currency with a message a client can show; triggers call it
-- so that a bad amount fails before any constraint does, with 22023 and a precise message.
create function private.assert_money(amount bigint, currency text, what text default 'amount')
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  limit_amount bigint;
begin
  if currency is null then
    raise exception '% needs a currency', what using errcode = '22023';
  end if;
  select c.max_amount into limit_amount from public.currencies c where c.code = currency;
  if not found then
    raise exception 'currency % is not supported (see the currencies table)', currency using errcode = '22023';
  end if;
  if amount is null or amount <= 0 then
    raise exception '% must be a positive whole number of minor units of %, not %', what, currency, coalesce(amount::text, 'null')
      using errcode = '22023';
  end if;
  if amount > limit_amount then
    raise exception '% % exceeds the maximum of % minor units of %', what, amount, limit_amount, currency
      using errcode = '22023';
  end if;
end
$$;
comment on function private.assert_money(bigint, text, text) is
  'Raises 22023 with a precise message unless amount is a positive number of minor units within the currency''s limit.';
grant execute on function private.assert_money(bigint, text, text) to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/00_platform/50_events.sql
-- ======================================================================================

-- Domain events: an outbox written in the same transaction as the change it reports, read
-- by the notifications feature. Not exposed through the API. Every event type is registered
-- in private.event_types by the domain that emits it (its reference-data migration), so the
-- outbox refuses a type nobody declared and notifications know every type there is.

create table private.event_types (
  event_type text primary key constraint event_types_format check (event_type ~ '^[a-z_]+\.[a-z_]+$'),
  domain text not null,
  description text not null constraint event_types_description_present check (description <> '')
);
comment on table private.event_types is
  'Catalogue of domain event types: <subject>.<what happened>, the domain that emits it, and what it means.';
grant select on private.event_types to service_role;

create table private.domain_events (
  id bigint generated always as identity primary key,
  event_type text not null references private.event_types (event_type),
  subject_type text not null,
  subject_id uuid not null,
  actor_id uuid,
  recipients uuid[] not null default '{}',
  payload jsonb not null default '{}',
  created_at timestamptz not null default now(),
  processed_at timestamptz
);
comment on table private.domain_events is
  'Outbox of domain events (bid.accepted, order.delivered, ...) with the users to notify; consumed by notifications.';
create index domain_events_unprocessed_idx on private.domain_events (id) where processed_at is null;
create index domain_events_subject_idx on private.domain_events (subject_type, subject_id);
grant select, update (processed_at) on private.domain_events to service_role;

create function private.emit_event(
  event_type text, subject_type text, subject_id uuid, recipients uuid[], payload jsonb default '{}', actor uuid default auth.uid()
) returns void
language sql
security definer
set search_path = ''
as $$
  insert into private.domain_events (event_type, subject_type, subject_id, actor_id, recipients, payload)
  values (event_type, subject_type, subject_id, actor,
          array(select distinct r from unnest(recipients) r where r is not null and r is distinct from actor),
          coalesce(payload, '{}'))
$$;
comment on function private.emit_event(text, text, uuid, uuid[], jsonb, uuid) is
  'Records a domain event in the outbox, in the caller''s transaction, for the given recipients (never the actor).';

-- ======================================================================================
-- supabase/schemas/00_platform/60_scheduled_jobs.sql
-- ======================================================================================

-- Scheduled jobs. pg_cron runs them inside the database; work that needs code outside it
-- (calling Stripe) is an edge function, which a job starts by POSTing to it through pg_net
-- with the service-role key. The project URL and that key are read from Vault at run time,
-- so no migration, dump or cron.job row holds the key:
--
--   select vault.create_secret('https://<project-ref>.supabase.co', 'project_url');
--   select vault.create_secret('<service role key>', 'service_role_key');
--
-- (The Docker-less local stack stores its own after each reset and stands in for pg_net and
-- Vault; see sql/baseline.) Operators list the jobs and run one at once with
-- ops.scheduled_jobs() and ops.run_scheduled_job(), service role only (the admin CLI's
-- `jobs` command). pg_cron marks a job that calls a function as succeeded once the request is
-- queued; each call is therefore logged with its function, and scheduled_jobs() shows what the
-- function answered the latest one (from pg_net's net._http_response, kept six hours).

create table private.edge_function_calls (
  request_id bigint primary key,
  function_name text not null,
  called_at timestamptz not null default now()
);
create index edge_function_calls_function_idx on private.edge_function_calls (function_name, called_at desc);
comment on table private.edge_function_calls is
  'pg_net request ids of private.call_edge_function calls, by function; kept 7 days.';

create function private.call_edge_function(
  function_name text,
  body jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 120000
) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  project_url text;
  service_role_key text;
  request_id bigint;
begin
  if function_name is null or function_name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' then
    raise exception 'invalid edge function name: %', coalesce(function_name, 'null') using errcode = '22023';
  end if;
  if to_regnamespace('net') is null or to_regnamespace('vault') is null then
    raise exception 'calling edge functions needs the pg_net and supabase_vault extensions'
      using errcode = '55000';
  end if;
  select s.decrypted_secret into project_url from vault.decrypted_secrets s where s.name = 'project_url';
  select s.decrypted_secret into service_role_key from vault.decrypted_secrets s where s.name = 'service_role_key';
  if project_url is null or service_role_key is null then
    raise exception 'the Vault secrets project_url and service_role_key are not set'
      using errcode = '55000',
            hint = 'select vault.create_secret(''https://<project-ref>.supabase.co'', ''project_url''); '
                || 'select vault.create_secret(''<service role key>'', ''service_role_key'');';
  end if;
  request_id := net.http_post(
    url => rtrim(project_url, '/') || '/functions/v1/' || function_name,
    body => body,
    headers => jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || service_role_key),
    timeout_milliseconds => timeout_milliseconds
  );
  delete from private.edge_function_calls c where c.called_at < now() - interval '7 days';
  insert into private.edge_function_calls (request_id, function_name) values (request_id, function_name);
  return request_id;
end
$$;

comment on function private.call_edge_function(text, jsonb, integer) is
  'Queues a POST to an edge function with the service-role key (pg_net; sent when the transaction commits) and returns the request id, whose answer lands in net._http_response. URL and key come from Vault.';
revoke execute on function private.call_edge_function(text, jsonb, integer) from public;

-- pg_net's answer to a request, if it has one; a database without pg_net has none.
create function private.edge_function_answer(request_id bigint, out status_code integer, out error_msg text)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if request_id is null or to_regclass('net._http_response') is null then
    return;
  end if;
  execute 'select r.status_code, r.error_msg from net._http_response r where r.id = $1'
    into status_code, error_msg using request_id;
end
$$;
revoke execute on function private.edge_function_answer(bigint) from public;

create function ops.scheduled_jobs()
returns table (
  name text, schedule text, active boolean, command text,
  last_started_at timestamptz, last_finished_at timestamptz, last_status text, last_message text,
  edge_function text, last_call_at timestamptz, last_call_status integer, last_call_error text
)
language sql
stable
security definer
set search_path = ''
as $$
  select j.jobname::text, j.schedule::text, j.active, j.command::text,
         r.start_time, r.end_time, r.status::text, r.return_message::text,
         f.name, c.called_at, a.status_code, a.error_msg
    from cron.job j
    left join lateral (
      select d.start_time, d.end_time, d.status, d.return_message
        from cron.job_run_details d
       where d.jobid = j.jobid
       order by d.start_time desc nulls last
       limit 1
    ) r on true
    cross join lateral (select substring(j.command from 'call_edge_function\(''([a-z0-9_-]+)''') as name) f
    left join lateral (
      select ec.request_id, ec.called_at from private.edge_function_calls ec
       where ec.function_name = f.name
       order by ec.called_at desc
       limit 1
    ) c on true
    left join lateral private.edge_function_answer(c.request_id) a on true
   order by j.jobname
$$;
comment on function ops.scheduled_jobs() is
  'Every pg_cron job with its schedule and its last run; for a job that calls an edge function, also the answer to the latest call (HTTP status or pg_net''s error; null while pending or after pg_net forgot it). Service role only.';
revoke execute on function ops.scheduled_jobs() from public;
grant execute on function ops.scheduled_jobs() to service_role;

create function ops.run_scheduled_job(job_name text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  job_command text;
  result text;
begin
  -- A PTxyz message becomes the HTTP reason phrase as it is: it may name only a job name of
  -- the plain shape checked here, never arbitrary caller text.
  if job_name is null or job_name !~ '^[a-z0-9][a-z0-9_-]{0,62}$' then
    raise exception 'a scheduled job''s name is lowercase letters, digits, - and _ (at most 63)'
      using errcode = '22023';
  end if;
  select j.command into job_command from cron.job j where j.jobname = job_name;
  if job_command is null then
    raise exception 'no scheduled job named %', job_name using errcode = 'PT404';
  end if;
  -- The job's own command, as pg_cron would run it; a select's first value is returned
  -- (a count of completed orders, a pg_net request id).
  execute job_command into result;
  return result;
end
$$;
comment on function ops.run_scheduled_job(text) is
  'Runs a pg_cron job''s command now, in the caller''s transaction, and returns its first value (the job keeps its schedule). Service role only: for operators and tests.';
revoke execute on function ops.run_scheduled_job(text) from public;
grant execute on function ops.run_scheduled_job(text) to service_role;

-- ======================================================================================
-- supabase/schemas/00_platform/70_registries.sql
-- ======================================================================================

-- Registries every domain extends, so cross-cutting duties cover what a new domain adds:
--
--   private.personal_data  each table column that names a user, and what account export and
--                          account deletion do with it (catalogue test: every column that
--                          references a user is registered, and its foreign key does what the
--                          registry says)
--   private.user_buckets   each Storage bucket, whose objects it holds (a folder per user,
--                          per order or per message thread) and what export and deletion do with them (catalogue
--                          test: every bucket is registered)
--   private.event_types    (50_events.sql) every domain event type
--   platform_settings      (30_settings.sql) every setting, its rule and one accessor
--
-- Rows are reference data: each domain registers its own in its reference-data migration.
-- Export and deletion read the registries (private.export_my_data, the body of the client RPC
-- public.export_my_data; ops.erase_account).

create table private.personal_data (
  relation text not null constraint personal_data_relation_qualified check (relation ~ '^[a-z_]+\.[a-z_]+$'),
  user_column text not null,
  matches text not null default 'user_id' constraint personal_data_matches check (matches in ('user_id', 'email')),
  -- For rows that name the user only through another table (a payment through its order):
  -- a predicate on the row (alias t) with $1 for the user's id; rows are exported when it holds.
  reached_through text,
  on_delete text not null constraint personal_data_on_delete check (on_delete in ('delete', 'anonymise', 'keep')),
  exported boolean not null,
  -- Columns about other people that an export leaves out (GDPR art. 15(4)): who reviewed an
  -- application, who assigned a role.
  omit_from_export text[] not null default '{}',
  reason text not null constraint personal_data_reason_present check (reason <> ''),
  primary key (relation, user_column)
);
comment on table private.personal_data is
  'Every column naming a user and what export and deletion do: delete (the row goes), anonymise (the column is nulled), keep (with the reason).';
comment on column private.personal_data.user_column is
  'The column naming the user (a uuid, or an e-mail when matches = email); for reached_through rows, the column the predicate starts from.';
comment on column private.personal_data.on_delete is
  'delete or anonymise: done by the column''s foreign key (on delete cascade / set null) or, without one, by ops.erase_account; keep: kept, for the reason given.';

create table private.user_buckets (
  bucket_id text primary key references storage.buckets (id) on delete cascade,
  folder text not null constraint user_buckets_folder check (folder in ('user', 'order', 'thread')),
  on_delete text not null constraint user_buckets_on_delete check (on_delete in ('delete', 'anonymise')),
  exported boolean not null,
  reason text not null constraint user_buckets_reason_present check (reason <> '')
);
comment on table private.user_buckets is
  'Every Storage bucket: objects live under <user id>/ (folder user), <order id>/ (folder order) or <thread id>/ (folder thread). On deletion a user''s folder is emptied (delete), or their objects in shared folders (order, thread) lose their owner (anonymise).';

grant select on private.personal_data, private.user_buckets to service_role;

-- What keeps an account from being erased: each domain holding deals between users (open
-- orders, money in escrow) registers a function that says what the user still has open, so
-- ops.erase_account refuses while anything is, naming it, without this domain knowing the
-- later ones' tables.
create table private.erasure_blockers (
  name text primary key constraint erasure_blockers_name_format check (name ~ '^[a-z_]+$'),
  -- (user_id uuid) returns text: null when nothing is open, else a phrase naming only ids,
  -- statuses and numbers ('2 open orders (<id>, <id>)'), joined into a PT409 message.
  check_function regprocedure not null,
  position integer not null unique,
  reason text not null constraint erasure_blockers_reason_present check (reason <> '')
);
comment on table private.erasure_blockers is
  'Checks ops.erase_account runs before erasing: each names what the user still has open (ids and numbers only), in position order.';
grant select on private.erasure_blockers to service_role;

-- ---------------------------------------------------------------------------------------
-- Export: everything the registries say is the caller's, as one document.

create function private.personal_rows(user_id uuid, user_email text) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  entry record;
  found_rows jsonb;
  result jsonb := '{}'::jsonb;
begin
  for entry in
    select pd.relation,
           string_agg(coalesce('(' || replace(pd.reached_through, '$1', quote_literal(user_id) || '::uuid') || ')',
                               format('t.%I = %L', pd.user_column,
                                      case pd.matches when 'email' then user_email else user_id::text end)),
                      ' or ') as predicate,
           (select coalesce(array_agg(distinct c), '{}') from private.personal_data o, unnest(o.omit_from_export) c
             where o.relation = pd.relation and o.exported) as omitted
      from private.personal_data pd
     where pd.exported
     group by pd.relation
     order by pd.relation
  loop
    execute format('select coalesce(jsonb_agg(to_jsonb(t) - %L::text[]), ''[]'') from %s t where %s',
                   entry.omitted, entry.relation, entry.predicate)
       into found_rows;
    result := result || jsonb_build_object(entry.relation, found_rows);
  end loop;
  return result;
end
$$;
comment on function private.personal_rows(uuid, text) is
  'Every exported row of the user, by table, as private.personal_data describes; the one implementation behind export_my_data.';

create function private.personal_files(user_id uuid) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'bucket', o.bucket_id, 'name', o.name, 'size', (o.metadata ->> 'size')::bigint,
           'mimetype', o.metadata ->> 'mimetype', 'created_at', o.created_at)
         order by o.bucket_id, o.name), '[]')
    from storage.objects o
    join private.user_buckets b on b.bucket_id = o.bucket_id and b.exported
   where (b.folder = 'user' and o.name like user_id::text || '/%')
      or (b.folder in ('order', 'thread') and o.owner_id = user_id::text)
$$;
comment on function private.personal_files(uuid) is
  'The user''s objects in exported buckets: their own folders, and what they uploaded into shared (order and thread) folders.';

create function private.export_my_data() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
  my_email text;
begin
  if me is null then
    raise exception 'export_my_data needs a signed-in user' using errcode = '42501';
  end if;
  select u.email into my_email from auth.users u where u.id = me;
  return jsonb_build_object('tables', private.personal_rows(me, my_email), 'files', private.personal_files(me));
end
$$;
comment on function private.export_my_data() is
  'The body of the client RPC public.export_my_data: security definer, in private so the API does not expose it.';
grant execute on function private.export_my_data() to authenticated;

create function public.export_my_data() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.export_my_data()
$$;
comment on function public.export_my_data() is
  'The caller''s personal data (GDPR access): every registered table''s rows naming them, and their files. The account-export function stores it with signed file URLs.';
grant execute on function public.export_my_data() to authenticated;

-- ---------------------------------------------------------------------------------------
-- Deletion: what the foreign keys cannot do. Rows and columns with a foreign key to the user
-- go with auth.users (cascade or set null, checked against the registry by the catalogue
-- test); this anonymises the columns without one, clears the user as owner of objects in
-- other people's folders, and names the folders the caller must empty through Storage.

create function private.erasure_blocker_says(check_function regprocedure, user_id uuid) returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  said text;
begin
  execute format('select %s($1)', check_function::oid::regproc) into said using user_id;
  return said;
end
$$;
comment on function private.erasure_blocker_says(regprocedure, uuid) is
  'Runs one registered erasure check (private.erasure_blockers) for the user: what it says is still open, or null.';

create function ops.erase_account(user_id uuid) returns table (bucket_id text, prefix text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  user_email text;
  entry record;
  open_items text;
begin
  select u.email into user_email from auth.users u where u.id = erase_account.user_id;
  if not found then
    raise exception 'user % not found', user_id using errcode = 'PT404';
  end if;
  -- The platform keeps an admin, who alone can grant roles. Checked here rather than by a
  -- trigger (the cascade from auth.users must always be able to remove user_roles rows);
  -- the lock makes two admins erasing at once take turns. The auth user itself is deleted
  -- afterwards through Auth's admin API, so two last admins can still both pass this check
  -- if each deletes its auth user in between: a window of one request.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('ops.erase_account: last admin'));
  if exists (select 1 from private.active_user_roles ur join public.roles r on r.id = ur.role_id
              where ur.user_id = erase_account.user_id and r.name = 'admin')
     and not exists (select 1 from private.active_user_roles ur join public.roles r on r.id = ur.role_id
                      where ur.user_id <> erase_account.user_id and r.name = 'admin') then
    raise exception 'the platform''s only admin cannot delete their account: make someone else admin first'
      using errcode = '42501';
  end if;
  -- Deals still running stay with their parties: refuse, naming what is open.
  select string_agg(open_item, ' and ' order by b.position) into open_items
    from private.erasure_blockers b,
         lateral private.erasure_blocker_says(b.check_function, erase_account.user_id) open_item
   where open_item is not null;
  if open_items is not null then
    raise exception 'account % has %: finish or cancel them first', user_id, open_items
      using errcode = 'PT409';
  end if;
  for entry in
    select pd.relation, pd.user_column, pd.matches
      from private.personal_data pd
     where pd.on_delete = 'anonymise' and pd.reached_through is null
       and not exists (
         select 1 from pg_catalog.pg_constraint c
           join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
          where c.contype = 'f' and c.conrelid = pd.relation::regclass and a.attname = pd.user_column)
  loop
    execute format('update %s set %I = null where %I::text = $1', entry.relation, entry.user_column, entry.user_column)
      using case entry.matches when 'email' then user_email else user_id::text end;
  end loop;
  update storage.objects o set owner = null, owner_id = null
    from private.user_buckets b
   where b.bucket_id = o.bucket_id and b.folder in ('order', 'thread') and b.on_delete = 'anonymise'
     and o.owner_id = user_id::text;
  return query
    select b.bucket_id, user_id::text || '/' from private.user_buckets b
     where b.folder = 'user' and b.on_delete = 'delete'
     order by b.bucket_id;
end
$$;
comment on function ops.erase_account(uuid) is
  'Account deletion''s database half, before the auth user is deleted: refuses the only admin (42501) and an account with deals still open (PT409, from private.erasure_blockers), anonymises registered columns without a foreign key, clears the user as owner of objects in order and thread folders, and returns the folders to empty. Service role only.';
grant execute on function ops.erase_account(uuid) to service_role;

-- ======================================================================================
-- supabase/schemas/00_platform/80_storage_content.sql
-- ======================================================================================

-- What a bucket may hold, checked in SQL by the insert and update policies on storage.objects
-- (each bucket's *_bucket.sql file), so that no way of writing an object lands content the
-- bucket refuses. Storage checks a bucket's allowed_mime_types and file_size_limit only on
-- uploads: a copy (POST /object/copy) asks the insert policies with the source's stored
-- metadata and a move (POST /object/move) asks the update policies with the row's own, and
-- then both write as Storage itself. Without this rule an SVG deliverable copied into the
-- public avatars bucket is served inline, scripts and all.
--
-- The rule, private.object_content_allowed(bucket, name, metadata):
--   - the file name has an extension, and it names a type (private.content_type_of) that the
--     bucket's allowed_mime_types accepts (the bucket row stays the one list of types);
--   - a public bucket never takes SVG, whatever its settings say: it would be served inline
--     from the project's own origin;
--   - when the metadata describes bytes Storage already holds (it has an eTag: a copy or a
--     move), their stored type must be the extension's and their size within the bucket's
--     file_size_limit. The permission check Storage makes before an upload (and when it
--     signs an upload URL) carries only the declared type and length, or the signing
--     request's own type; Storage itself checks an upload's type and size against the bucket.

-- The content type an object's name declares: the type of its extension, or null when it has
-- none or one this project does not store. One type per extension.
--
-- This function and object_content_allowed are PL/pgSQL, not SQL: every insert and update
-- policy on storage.objects calls them, and a SQL function with a `set` clause is planned again
-- in every statement (docs/domains/platform.md, "Functions that policies call").
create function private.content_type_of(object_name text) returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if position('.' in storage.filename(object_name)) > 1 then
    return ('{"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
       "svg": "image/svg+xml", "pdf": "application/pdf", "zip": "application/zip", "mp4": "video/mp4",
       "json": "application/json", "webm": "video/webm", "mov": "video/quicktime", "txt": "text/plain",
       "csv": "text/csv",
       "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
       "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
       "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}'::jsonb)
      ->> lower(storage.extension(object_name));
  end if;
  return null;
end
$$;
comment on function private.content_type_of(text) is
  'The content type an object name''s extension declares (png -> image/png, ...), or null: no extension, or one no bucket stores.';

-- Security definer: storage.buckets is not readable by the API roles.
create function private.object_content_allowed(bucket text, object_name text, metadata jsonb) returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  declared_type text := private.content_type_of(object_name);
begin
  if declared_type is null then
    return false;
  end if;
  return coalesce((
    select (coalesce(cardinality(b.allowed_mime_types), 0) = 0
            or declared_type = any (b.allowed_mime_types)
            or split_part(declared_type, '/', 1) || '/*' = any (b.allowed_mime_types))
       and not (b.public and declared_type = 'image/svg+xml')
       and (metadata is null or not metadata ? 'eTag'
            or (metadata ->> 'mimetype' = declared_type
                and jsonb_typeof(metadata -> 'size') = 'number'
                and (b.file_size_limit is null or (metadata ->> 'size')::numeric <= b.file_size_limit)))
      from storage.buckets b
     where b.id = bucket
  ), false);
end
$$;
comment on function private.object_content_allowed(text, text, jsonb) is
  'Whether an object may be written into the bucket: its extension''s type is one the bucket accepts (never SVG in a public bucket), and stored bytes (metadata with an eTag: a copy or a move) are of that type and within the size limit.';

grant execute on function private.content_type_of(text), private.object_content_allowed(text, text, jsonb)
  to anon, authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/00_platform/90_i18n.sql
-- ======================================================================================

-- i18n (004 "Internationalization"): the languages the platform speaks and the UI strings in
-- each, for every client to read (anon too) and holders of i18n.manage to write.
--
--   public.languages            code (BCP 47: a language with an optional region, as profiles'
--                               and e-mail templates' locales are written), name, native name,
--                               active (offered to clients), is_default (exactly one: 'en')
--   public.translation_strings  one value per (module, key, language). A translation keeps
--                               source_digest, the SHA-256 of the default language's value it
--                               was written from (Shopify's translatableContentDigest), so a
--                               translation whose source changed since is visibly stale
--
-- Lower domains cannot see later ones, so this file is where profiles' locale (10_identity)
-- and e-mail templates' locale (70_notifications) are checked from: private.is_known_locale.
-- The rows (en default, ko, and the known but inactive languages) and a starter set of strings
-- are reference data (20261130094002_platform__reference_data.sql).

create table public.languages (
  code text primary key constraint languages_code_format check (code ~ '^[a-z]{2,3}(-[A-Z]{2})?$'),
  name text not null constraint languages_name_length check (char_length(trim(name)) between 1 and 80),
  native_name text not null constraint languages_native_name_length check (char_length(trim(native_name)) between 1 and 80),
  active boolean not null default false,
  is_default boolean not null default false,
  updated_at timestamptz not null default now(),
  constraint languages_default_is_active check (active or not is_default)
);
create unique index languages_one_default_idx on public.languages (is_default) where is_default;
comment on table public.languages is
  'Languages of the UI strings (004 GET /i18n/languages). Clients read the active ones; i18n.manage adds and (de)activates them. Exactly one is the default, the fallback of every string (migrations set it).';
comment on column public.languages.code is 'A BCP 47 tag as the platform writes locales: a language, optionally a region (en, ko, pt-BR).';
comment on column public.languages.active is 'Offered to clients (listed, readable by anon). An inactive language is still a known locale for profiles and templates.';

create trigger languages_touch_updated_at before update on public.languages
  for each row execute function private.touch_updated_at();
create trigger languages_audit after insert or update or delete on public.languages
  for each row execute function private.audit_row_change('code');

alter table public.languages enable row level security;
grant select on public.languages to anon, authenticated;
grant insert (code, name, native_name, active), update (name, native_name, active) on public.languages to authenticated;
grant all on public.languages to service_role;

create policy "Anyone reads the active languages" on public.languages for select to anon
  using (active);
create policy "Signed-in users read the active languages, translators all" on public.languages for select to authenticated
  using (active or (select private.has_permission('i18n.manage')));
create policy "Translators add languages" on public.languages for insert to authenticated
  with check ((select private.has_permission('i18n.manage')));
create policy "Translators change languages" on public.languages for update to authenticated
  using ((select private.has_permission('i18n.manage'))) with check ((select private.has_permission('i18n.manage')));

-- The default language's code: the one row with is_default (the reference data inserts en).
create function private.default_language() returns text
language sql
stable
security definer
set search_path = ''
as $$ select coalesce((select l.code from public.languages l where l.is_default), 'en') $$;
comment on function private.default_language() is 'The default language''s code (en): the fallback of every string and of e-mail templates.';
revoke execute on function private.default_language() from public;
grant execute on function private.default_language() to anon, authenticated, service_role;

-- A locale is known when public.languages has it, or has its language without the region
-- (en-GB is known through en). Security definer: inactive languages count, whatever the
-- caller may read.
create function private.is_known_locale(locale text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select locale is not null and exists (
    select 1 from public.languages l
     where l.code = locale
        or (locale ~ '^[a-z]{2,3}-[A-Z]{2}$' and l.code = pg_catalog.split_part(locale, '-', 1))
  )
$$;
comment on function private.is_known_locale(text) is
  'Whether a locale is a known language (public.languages, active or not), or a region of one (en-GB through en). What profiles'' and e-mail templates'' locales must be.';
revoke execute on function private.is_known_locale(text) from public;
grant execute on function private.is_known_locale(text) to anon, authenticated, service_role;

-- The rule for a locale column written by anyone: a well-formed locale of an unknown language is
-- refused with 22023; a malformed one is left to the column's own format check.
create function private.check_known_locale() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  locale text := pg_catalog.to_jsonb(new) ->> tg_argv[0];
begin
  if locale ~ '^[a-z]{2,3}(-[A-Z]{2})?$' and not private.is_known_locale(locale) then
    raise exception 'unknown language: %', locale
      using errcode = '22023', hint = 'Use a code of public.languages (en, ko), optionally with a region (en-GB).';
  end if;
  return new;
end
$$;
comment on function private.check_known_locale() is
  'Before-row trigger: the column named by the argument holds a known locale (private.is_known_locale), else 22023.';

-- ---------------------------------------------------------------------------------------
-- Strings.

create table public.translation_strings (
  module text not null constraint translation_strings_module_format check (module ~ '^[a-z][a-z0-9_]{0,39}$'),
  key text not null constraint translation_strings_key_format check (key ~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$' and char_length(key) <= 120),
  language text not null references public.languages (code) on update cascade,
  value text not null constraint translation_strings_value_length check (char_length(value) between 1 and 10000),
  source_digest text,
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now(),
  primary key (module, key, language)
);
create index translation_strings_language_idx on public.translation_strings (language, module, key);
create index translation_strings_updated_by_idx on public.translation_strings (updated_by) where updated_by is not null;
comment on table public.translation_strings is
  'UI strings: one value per module, key and language (004 i18n). The default language''s rows are the sources; every other row translates one and records its digest.';
comment on column public.translation_strings.key is 'Dotted lowercase key within the module (save, errors.not_found).';
comment on column public.translation_strings.source_digest is
  'For a translation: sha256 (hex) of the default-language value it was written from, set by the trigger. It differs from the current source''s digest once the source changes: the translation is stale. Null on the default language''s rows.';
comment on column public.translation_strings.updated_by is 'Who last wrote the value (the caller; null for migrations and service tooling).';

-- The digest of a source string, as translation_strings.source_digest holds it.
create function private.i18n_digest(value text) returns text
language sql
immutable
set search_path = ''
as $$ select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(value, 'UTF8')), 'hex') $$;
comment on function private.i18n_digest(text) is 'sha256 (hex) of a string''s UTF-8 bytes: the source digest of translations.';
revoke execute on function private.i18n_digest(text) from public;
grant execute on function private.i18n_digest(text) to anon, authenticated, service_role;

-- The placeholders of a string, sorted and distinct: {name} (ICU/i18next single braces) and
-- {{name}} (Mustache, as the e-mail templates write them; spaces inside ignored) are different
-- placeholders, so a translation must use the very forms its source uses.
create function private.i18n_placeholders(value text) returns text[]
language sql
immutable
set search_path = ''
as $$
  select coalesce(pg_catalog.array_agg(distinct p order by p), '{}')
    from (select case when m[1] is not null then '{{' || m[1] || '}}' else '{' || m[2] || '}' end as p
            from pg_catalog.regexp_matches(value, '\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}', 'g') m) found
$$;
comment on function private.i18n_placeholders(text) is
  'The distinct placeholders of a string, sorted: {name} and {{name}} (normalised without inner spaces).';
revoke execute on function private.i18n_placeholders(text) from public;
grant execute on function private.i18n_placeholders(text) to anon, authenticated, service_role;

-- Every write of a string, by the API, the bulk RPC or a migration, passes here. Each refusal
-- is 22023 with a detail naming its kind (what upsert_translations reports per key).
create function private.check_translation_string() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  default_code text := private.default_language();
  source text;
  wanted text[];
  given text[];
begin
  if not exists (select 1 from public.languages l where l.code = new.language) then
    raise exception 'unknown language: %', new.language using errcode = '22023', detail = 'unknown_language';
  end if;
  if new.value is null or trim(new.value) = '' then
    raise exception 'the value of %.% (%) is empty', new.module, new.key, new.language
      using errcode = '22023', detail = 'empty_value';
  end if;
  if new.language = default_code then
    new.source_digest := null;
  else
    select s.value into source from public.translation_strings s
     where s.module = new.module and s.key = new.key and s.language = default_code;
    if source is null then
      raise exception '%.% has no % source string to translate', new.module, new.key, default_code
        using errcode = '22023', detail = 'missing_source';
    end if;
    wanted := private.i18n_placeholders(source);
    given := private.i18n_placeholders(new.value);
    if wanted is distinct from given then
      raise exception 'placeholders of %.% (%) do not match the source: % expected, % given', new.module, new.key,
        new.language, coalesce(nullif(array_to_string(wanted, ' '), ''), 'none'),
        coalesce(nullif(array_to_string(given, ' '), ''), 'none')
        using errcode = '22023', detail = 'placeholder_mismatch';
    end if;
    -- A new value translates the source as it is now; an unchanged value keeps its digest.
    if tg_op = 'INSERT' or new.value is distinct from old.value then
      new.source_digest := private.i18n_digest(source);
    else
      new.source_digest := old.source_digest;
    end if;
  end if;
  new.updated_by := auth.uid();
  new.updated_at := now();
  return new;
end
$$;
comment on function private.check_translation_string() is
  'Before insert or update of a string: a known language, a non-empty value, and for a translation a source in the default language whose placeholders it uses exactly; sets source_digest, updated_by and updated_at.';

create trigger translation_strings_check before insert or update on public.translation_strings
  for each row execute function private.check_translation_string();

-- A source string deleted takes its translations along: they would translate nothing.
create function private.delete_translations_of_source() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.language = private.default_language() then
    delete from public.translation_strings s where s.module = old.module and s.key = old.key and s.language <> old.language;
  end if;
  return null;
end
$$;
comment on function private.delete_translations_of_source() is
  'After a default-language string is deleted, its translations go too.';

create trigger translation_strings_delete_translations after delete on public.translation_strings
  for each row execute function private.delete_translations_of_source();
create trigger translation_strings_audit after insert or update or delete on public.translation_strings
  for each row execute function private.audit_row_change('key', 'module', 'key', 'language', 'value', 'source_digest');

alter table public.translation_strings enable row level security;
grant select on public.translation_strings to anon, authenticated;
grant insert (module, key, language, value), update (value), delete on public.translation_strings to authenticated;
grant all on public.translation_strings to service_role;

-- Whether a language is offered (active), for the read policies: one lookup per statement.
create function private.is_active_language(code text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$ select exists (select 1 from public.languages l where l.code = is_active_language.code and l.active) $$;
comment on function private.is_active_language(text) is 'Whether the language is active (offered to clients).';
revoke execute on function private.is_active_language(text) from public;
grant execute on function private.is_active_language(text) to anon, authenticated, service_role;

create policy "Anyone reads the strings of active languages" on public.translation_strings for select to anon
  using (private.is_active_language(language));
create policy "Signed-in users read the strings of active languages, translators all" on public.translation_strings
  for select to authenticated
  using ((select private.has_permission('i18n.manage')) or private.is_active_language(language));
create policy "Translators add strings" on public.translation_strings for insert to authenticated
  with check ((select private.has_permission('i18n.manage')));
create policy "Translators change strings" on public.translation_strings for update to authenticated
  using ((select private.has_permission('i18n.manage'))) with check ((select private.has_permission('i18n.manage')));
create policy "Translators delete strings" on public.translation_strings for delete to authenticated
  using ((select private.has_permission('i18n.manage')));

-- ---------------------------------------------------------------------------------------
-- Reads with fallback. The language a client asks for must be active (or the caller a
-- translator); a key it lacks is answered in the default language, flagged is_fallback.

create function private.assert_readable_language(language text) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if language is null or language !~ '^[a-z]{2,3}(-[A-Z]{2})?$' then
    raise exception 'a language is a code with an optional region (en, ko, pt-BR)' using errcode = '22023';
  end if;
  if not exists (select 1 from public.languages l
                  where l.code = language and (l.active or private.has_permission('i18n.manage') or private.is_service_role())) then
    raise exception 'unknown language: %', language using errcode = '22023';
  end if;
end
$$;
comment on function private.assert_readable_language(text) is
  'Refuses (22023) a malformed language code, or one that is not active (translators and the service role read inactive ones too).';
revoke execute on function private.assert_readable_language(text) from public;
grant execute on function private.assert_readable_language(text) to anon, authenticated, service_role;

-- Every source key (of a module), with the language's value or the default's.
create function private.strings_with_fallback(for_language text, in_module text)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean, updated_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
  select s.module, s.key, coalesce(t.value, s.value), coalesce(t.language, s.language), t.value is null,
         t.value is not null and t.language <> s.language and t.source_digest is distinct from private.i18n_digest(s.value),
         coalesce(t.updated_at, s.updated_at)
    from public.translation_strings s
    left join public.translation_strings t
      on t.module = s.module and t.key = s.key and t.language = strings_with_fallback.for_language
   where s.language = private.default_language()
     and (strings_with_fallback.in_module is null or s.module = strings_with_fallback.in_module)
$$;
comment on function private.strings_with_fallback(text, text) is
  'Each default-language key (of one module, or all) with the language''s value, else the default''s (is_fallback); is_stale when the translation''s source digest is not the source''s. No check: its callers check.';
revoke execute on function private.strings_with_fallback(text, text) from public;

create function private.translations(for_language text, in_module text default null, page integer default 1, page_size integer default 20)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean,
               updated_at timestamptz, total_count bigint)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.assert_readable_language(for_language);
  if in_module is not null and in_module !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'a module is lowercase letters, digits and underscores' using errcode = '22023';
  end if;
  if page is null or page < 1 or page_size is null or page_size not between 1 and 100 then
    raise exception 'page is 1 or more and page_size 1 to 100' using errcode = '22023';
  end if;
  return query
    select f.module, f.key, f.value, f.language, f.is_fallback, f.is_stale, f.updated_at, count(*) over ()
      from private.strings_with_fallback(for_language, in_module) f
     order by f.module, f.key
     limit page_size offset (page - 1) * page_size;
end
$$;
comment on function private.translations(text, text, integer, integer) is 'Body of public.translations.';
revoke execute on function private.translations(text, text, integer, integer) from public;
grant execute on function private.translations(text, text, integer, integer) to anon, authenticated, service_role;

create function public.translations(for_language text, in_module text default null, page integer default 1, page_size integer default 20)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean,
               updated_at timestamptz, total_count bigint)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.translations(for_language, in_module, page, page_size) $$;
revoke execute on function public.translations(text, text, integer, integer) from public;
grant execute on function public.translations(text, text, integer, integer) to anon, authenticated, service_role;
comment on function public.translations(text, text, integer, integer) is
  '004 GET /i18n/strings/{language}?module=: every key (of a module) in an active language, ordered by module and key, page 1.. of page_size 1-100 (default 20), total_count on every row; a key the language lacks comes in the default language with is_fallback, an outdated translation with is_stale. Anyone (anon too).';

create function private.translation(for_language text, in_module text, for_key text)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean, updated_at timestamptz)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.assert_readable_language(for_language);
  return query select * from private.strings_with_fallback(for_language, in_module) f
                where f.key = for_key;
  if not found then
    raise exception 'translation key not found' using errcode = 'PT404';
  end if;
end
$$;
comment on function private.translation(text, text, text) is 'Body of public.translation.';
revoke execute on function private.translation(text, text, text) from public;
grant execute on function private.translation(text, text, text) to anon, authenticated, service_role;

create function public.translation(for_language text, in_module text, for_key text)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean, updated_at timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.translation(for_language, in_module, for_key) $$;
revoke execute on function public.translation(text, text, text) from public;
grant execute on function public.translation(text, text, text) to anon, authenticated, service_role;
comment on function public.translation(text, text, text) is
  '004 GET /i18n/strings/{language}/{key}: one key of a module in an active language, or in the default language (is_fallback) when not translated; 404 for a key the default language lacks. Anyone (anon too).';

-- ---------------------------------------------------------------------------------------
-- Bulk upsert: many keys in one call, each its own savepoint, so valid keys are saved and
-- invalid ones reported with the trigger's refusal; all_or_nothing refuses the whole call
-- (22023, the errors in the detail) when any key is refused.

create function private.upsert_translations(entries jsonb, all_or_nothing boolean default false) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  entry jsonb;
  item_no integer := 0;
  saved jsonb := '[]';
  errors jsonb := '[]';
  err_kind text;
  err_message text;
  err_state text;
  err_constraint text;
begin
  if not (private.has_permission('i18n.manage') or private.is_service_role()) then
    raise exception 'permission denied: i18n.manage is required to write strings' using errcode = '42501';
  end if;
  if entries is null or jsonb_typeof(entries) <> 'array' or jsonb_array_length(entries) = 0 then
    raise exception 'entries is a non-empty array of {language, module, key, value}' using errcode = '22023';
  end if;
  if jsonb_array_length(entries) > 1000 then
    raise exception 'at most 1000 entries in one call, not %', jsonb_array_length(entries) using errcode = '22023';
  end if;
  for entry in select e from jsonb_array_elements(entries) e loop
    item_no := item_no + 1;
    begin
      if jsonb_typeof(entry) <> 'object'
         or jsonb_typeof(entry -> 'language') is distinct from 'string' or jsonb_typeof(entry -> 'module') is distinct from 'string'
         or jsonb_typeof(entry -> 'key') is distinct from 'string' or jsonb_typeof(entry -> 'value') is distinct from 'string' then
        raise exception 'entry % is not {language, module, key, value} with string values', item_no
          using errcode = '22023', detail = 'invalid_entry';
      end if;
      insert into public.translation_strings as s (module, key, language, value)
      values (entry ->> 'module', entry ->> 'key', entry ->> 'language', entry ->> 'value')
      on conflict (module, key, language) do update set value = excluded.value;
      saved := saved || jsonb_build_array(jsonb_build_object(
        'module', entry ->> 'module', 'key', entry ->> 'key', 'language', entry ->> 'language'));
    -- The refusals of a value (the trigger's 22023, the columns' checks); anything else is
    -- not the caller's mistake and fails the call.
    exception when invalid_parameter_value or check_violation or string_data_right_truncation or not_null_violation
                   or foreign_key_violation then
      get stacked diagnostics err_message = message_text, err_state = returned_sqlstate, err_kind = pg_exception_detail,
                              err_constraint = constraint_name;
      err_kind := case when err_state = '22023' and coalesce(err_kind, '') ~ '^[a-z_]+$' then err_kind
                       when err_constraint = 'translation_strings_module_format' then 'invalid_module'
                       when err_constraint = 'translation_strings_key_format' then 'invalid_key'
                       when err_constraint = 'translation_strings_value_length' then 'invalid_value'
                       else 'invalid_entry' end;
      errors := errors || jsonb_build_array(jsonb_build_object(
        'index', item_no - 1, 'module', entry ->> 'module', 'key', entry ->> 'key', 'language', entry ->> 'language',
        'code', err_kind, 'message', err_message));
    end;
  end loop;
  if all_or_nothing and jsonb_array_length(errors) > 0 then
    raise exception '% of % strings refused; nothing saved', jsonb_array_length(errors), jsonb_array_length(entries)
      using errcode = '22023', detail = errors::text;
  end if;
  return jsonb_build_object('saved', saved, 'errors', errors,
                            'saved_count', jsonb_array_length(saved), 'error_count', jsonb_array_length(errors));
end
$$;
comment on function private.upsert_translations(jsonb, boolean) is 'Body of public.upsert_translations.';
revoke execute on function private.upsert_translations(jsonb, boolean) from public;
grant execute on function private.upsert_translations(jsonb, boolean) to authenticated, service_role;

create function public.upsert_translations(entries jsonb, all_or_nothing boolean default false) returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$ select private.upsert_translations(entries, all_or_nothing) $$;
revoke execute on function public.upsert_translations(jsonb, boolean) from public;
grant execute on function public.upsert_translations(jsonb, boolean) to authenticated, service_role;
comment on function public.upsert_translations(jsonb, boolean) is
  '004 PUT /admin/i18n/strings (i18n.manage): inserts or updates many strings [{language, module, key, value}] in one call. Each is saved or reported in errors with its index and a code (unknown_language, empty_value, missing_source, placeholder_mismatch, invalid_key, invalid_module, invalid_value, invalid_entry); with all_or_nothing any error refuses the call (22023, errors in details). Answers {saved, errors, saved_count, error_count}.';

-- ---------------------------------------------------------------------------------------
-- Coverage and the language pack.

create function private.translation_coverage()
returns table (language text, name text, active boolean, is_default boolean, total_keys bigint, translated bigint,
               stale bigint, missing bigint, coverage_percent numeric, up_to_date_percent numeric,
               missing_keys text[], stale_keys text[])
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not (private.has_permission('i18n.manage') or private.is_service_role()) then
    raise exception 'permission denied: i18n.manage is required to read the coverage report' using errcode = '42501';
  end if;
  return query
    select l.code, l.name, l.active, l.is_default, count(f.key),
           count(f.key) filter (where not f.is_fallback),
           count(f.key) filter (where f.is_stale),
           count(f.key) filter (where f.is_fallback),
           case when count(f.key) = 0 then 100.0
                else round(100.0 * count(f.key) filter (where not f.is_fallback) / count(f.key), 1) end,
           case when count(f.key) = 0 then 100.0
                else round(100.0 * count(f.key) filter (where not f.is_fallback and not f.is_stale) / count(f.key), 1) end,
           coalesce(array_agg(f.module || '.' || f.key order by f.module, f.key) filter (where f.is_fallback), '{}'),
           coalesce(array_agg(f.module || '.' || f.key order by f.module, f.key) filter (where f.is_stale), '{}')
      from public.languages l
      left join lateral private.strings_with_fallback(l.code, null) f on true
     group by l.code, l.name, l.active, l.is_default
     order by l.is_default desc, l.code;
end
$$;
comment on function private.translation_coverage() is 'Body of public.translation_coverage.';
revoke execute on function private.translation_coverage() from public;
grant execute on function private.translation_coverage() to authenticated, service_role;

create function public.translation_coverage()
returns table (language text, name text, active boolean, is_default boolean, total_keys bigint, translated bigint,
               stale bigint, missing bigint, coverage_percent numeric, up_to_date_percent numeric,
               missing_keys text[], stale_keys text[])
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.translation_coverage() $$;
revoke execute on function public.translation_coverage() from public;
grant execute on function public.translation_coverage() to authenticated, service_role;
comment on function public.translation_coverage() is
  '004 GET /admin/i18n/coverage (i18n.manage): per language, of the default language''s keys: translated, stale (source changed since), missing; coverage_percent (translated) and up_to_date_percent (translated and not stale), with the missing and stale keys as module.key.';

create function private.language_pack(for_language text, in_module text default null, flat boolean default false) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  strings jsonb;
begin
  perform private.assert_readable_language(for_language);
  if in_module is not null and in_module !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'a module is lowercase letters, digits and underscores' using errcode = '22023';
  end if;
  if coalesce(flat, false) then
    select coalesce(jsonb_object_agg(f.module || '.' || f.key, f.value), '{}') into strings
      from private.strings_with_fallback(for_language, in_module) f;
  else
    select coalesce(jsonb_object_agg(m.module, m.keys), '{}') into strings
      from (select f.module, jsonb_object_agg(f.key, f.value) as keys
              from private.strings_with_fallback(for_language, in_module) f
             group by f.module) m;
  end if;
  return jsonb_build_object(
    'language', for_language,
    'default_language', private.default_language(),
    'format', case when coalesce(flat, false) then 'flat' else 'nested' end,
    'generated_at', now(),
    'strings', strings,
    'fallback_keys', (select coalesce(jsonb_agg(f.module || '.' || f.key order by f.module, f.key), '[]')
                        from private.strings_with_fallback(for_language, in_module) f
                       where f.is_fallback));
end
$$;
comment on function private.language_pack(text, text, boolean) is 'Body of public.language_pack.';
revoke execute on function private.language_pack(text, text, boolean) from public;
grant execute on function private.language_pack(text, text, boolean) to anon, authenticated, service_role;

create function public.language_pack(for_language text, in_module text default null, flat boolean default false) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.language_pack(for_language, in_module, flat) $$;
revoke execute on function public.language_pack(text, text, boolean) from public;
grant execute on function public.language_pack(text, text, boolean) to anon, authenticated, service_role;
comment on function public.language_pack(text, text, boolean) is
  '004 GET /i18n/export/{language}: the whole language (or one module) as one JSON document: {language, default_language, format, generated_at, strings, fallback_keys}; strings nested {module: {key: value}} or, with flat, {"module.key": value}; missing keys carry the default language''s value and are listed in fallback_keys. Anyone (anon too), active languages.';
