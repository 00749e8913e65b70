-- Announcements (000 "Newsletter & System Updates": admin announcements as an in-app banner):
-- holders of notifications.manage write them through the table (level, audience, a start
-- and an end); while active (starts_at <= now() < ends_at) each is readable by its audience
-- as a banner: everyone including anon for public ones, signed-in users for authenticated
-- ones, holders of a role for role ones. Managers read and change all of them. Every change
-- is written to the audit log.

create table public.announcements (
  id uuid primary key default gen_random_uuid(),
  level text not null default 'info' constraint announcements_level check (level in ('info', 'warning', 'critical')),
  audience text not null default 'public' constraint announcements_audience check (audience in ('public', 'authenticated', 'role')),
  audience_role text references public.roles (name) on update cascade on delete cascade,
  title text not null constraint announcements_title_length check (length(title) between 1 and 200),
  body text not null default '' constraint announcements_body_length check (length(body) <= 5000),
  action_url text constraint announcements_action_url check (action_url ~ '^(/|https://)\S*$' and length(action_url) <= 2000),
  starts_at timestamptz not null default now(),
  ends_at timestamptz not null,
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint announcements_role_given check ((audience = 'role') = (audience_role is not null)),
  constraint announcements_ends_after_start check (ends_at > starts_at)
);
create index announcements_active_idx on public.announcements (ends_at, starts_at);
create index announcements_audience_role_idx on public.announcements (audience_role) where audience_role is not null;
create index announcements_created_by_idx on public.announcements (created_by) where created_by is not null;
comment on table public.announcements is
  'Banners: a level (info, warning, critical), an audience (public: anyone, authenticated: signed-in users, role: holders of audience_role) and a window [starts_at, ends_at).';

create trigger announcements_touch_updated_at before update on public.announcements
  for each row execute function private.touch_updated_at();
create trigger announcements_audit after insert or update or delete on public.announcements
  for each row execute function private.audit_row_change('id');

-- Whether the caller holds a role by name (for role announcements).
create function private.has_role(role_name text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select from private.active_user_roles ur join public.roles r on r.id = ur.role_id
                  where ur.user_id = auth.uid() and r.name = role_name)
$$;
comment on function private.has_role(text) is 'Whether the caller holds this role (unexpired).';
grant execute on function private.has_role(text) to authenticated;

alter table public.announcements enable row level security;
grant select on public.announcements to anon, authenticated;
grant insert (level, audience, audience_role, title, body, action_url, starts_at, ends_at),
      update (level, audience, audience_role, title, body, action_url, starts_at, ends_at),
      delete on public.announcements to authenticated;
grant all on public.announcements to service_role;

create policy "Anyone reads active public announcements" on public.announcements for select to anon
  using (audience = 'public' and starts_at <= now() and ends_at > now());
create policy "Signed-in users read their active announcements, managers all" on public.announcements for select to authenticated
  using ((select private.has_permission('notifications.manage'))
         or (starts_at <= now() and ends_at > now()
             and (audience in ('public', 'authenticated') or (audience = 'role' and (select private.has_role(audience_role))))));
create policy "Notification managers create announcements" on public.announcements for insert to authenticated
  with check ((select private.has_permission('notifications.manage')));
create policy "Notification managers change announcements" on public.announcements for update to authenticated
  using ((select private.has_permission('notifications.manage')))
  with check ((select private.has_permission('notifications.manage')));
create policy "Notification managers delete announcements" on public.announcements for delete to authenticated
  using ((select private.has_permission('notifications.manage')));
