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
