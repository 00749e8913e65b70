-- Permission checks for a given user, not only the caller: service-role functions act for a
-- user they are told about (acting_user) and must ask the same question the policies ask.
-- One definition of "holds a permission through an unexpired role" serves both.

create function private.user_has_permission(user_id uuid, permission text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.user_roles ur
    join public.role_permissions rp on rp.role_id = ur.role_id
    where ur.user_id = user_has_permission.user_id
      and rp.permission = user_has_permission.permission
      and (ur.expires_at is null or ur.expires_at > now())
  )
$$;
comment on function private.user_has_permission(uuid, text) is 'Whether a given user holds a permission through an unexpired role.';
grant execute on function private.user_has_permission(uuid, text) to service_role;

create or replace function private.has_permission(permission text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select private.user_has_permission((select auth.uid()), has_permission.permission)
$$;
