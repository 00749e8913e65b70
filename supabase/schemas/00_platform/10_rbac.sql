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
