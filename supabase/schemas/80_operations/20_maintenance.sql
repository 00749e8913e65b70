-- Maintenance mode (003 "maintenance mode on and off with a message"): staff holding
-- operations.manage turn it on with a message and an optional end, and off (audited). While
-- it is on, writes by everyone but staff are refused with 503, the message and Retry-After:
-- through PostgREST by the pre-request hook (30_request_checks.sql), in the edge functions by
-- their shared check. Reads continue. Staff (the staff and admin roles, and whoever holds
-- operations.manage) are never refused, so whoever turned it on can turn it off.

create table public.maintenance_mode (
  id boolean primary key default true constraint maintenance_mode_one_row check (id),
  enabled boolean not null default false,
  message text not null default '' constraint maintenance_mode_message_length check (char_length(message) <= 500),
  ends_at timestamptz,
  started_at timestamptz,
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now(),
  constraint maintenance_mode_message_when_enabled check (not enabled or char_length(trim(message)) > 0)
);
create index maintenance_mode_updated_by_idx on public.maintenance_mode (updated_by) where updated_by is not null;
comment on table public.maintenance_mode is
  'The one row saying whether maintenance mode is on, its message and expected end. Changed through set_maintenance_mode (operations.manage; audited); read by anyone (maintenance_status()).';
comment on column public.maintenance_mode.ends_at is
  'When maintenance is expected to end (Retry-After counts down to it); null: unknown, Retry-After is private.maintenance_default_retry_after(). It does not switch the mode off by itself.';

alter table public.maintenance_mode enable row level security;
grant select on public.maintenance_mode to anon, authenticated;
grant all on public.maintenance_mode to service_role;
create policy "Anyone reads the maintenance mode" on public.maintenance_mode for select to anon, authenticated using (true);

create trigger maintenance_mode_audit after insert or update or delete on public.maintenance_mode
  for each row execute function private.audit_row_change('id', 'id', 'enabled', 'message', 'ends_at');

create function private.maintenance_default_retry_after() returns integer
language sql
immutable
set search_path = ''
as $$ select 300 $$;
comment on function private.maintenance_default_retry_after() is
  'Retry-After (seconds) of a maintenance refusal when no end time is set.';
grant execute on function private.maintenance_default_retry_after() to anon, authenticated, service_role;

-- The status as clients read it: enabled, message, ends_at, retry_after (seconds, while on).
create function private.maintenance_json(m public.maintenance_mode) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'enabled', coalesce(m.enabled, false),
    'message', case when m.enabled then m.message end,
    'started_at', case when m.enabled then m.started_at end,
    'ends_at', case when m.enabled then m.ends_at end,
    'retry_after', case when m.enabled then
      greatest(1, coalesce(ceil(extract(epoch from (m.ends_at - now())))::integer, private.maintenance_default_retry_after()))
    end)
$$;
comment on function private.maintenance_json(public.maintenance_mode) is
  'Maintenance status as JSON: enabled, and while on its message, started_at, ends_at and retry_after (seconds to ends_at, at least 1; the default without one).';
grant execute on function private.maintenance_json(public.maintenance_mode) to anon, authenticated, service_role;

create function public.maintenance_status() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.maintenance_json(m) from (select 1) one left join public.maintenance_mode m on m.id
$$;
comment on function public.maintenance_status() is
  'Whether maintenance mode is on: { enabled, message, started_at, ends_at, retry_after } (anyone, anon too).';
revoke execute on function public.maintenance_status() from public;
grant execute on function public.maintenance_status() to anon, authenticated, service_role;

-- Whether the caller is never refused by maintenance mode: the service role, the staff and
-- admin roles, and holders of operations.manage.
create function private.bypasses_maintenance(tier text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select private.is_service_role() or tier in ('staff', 'admin') or private.has_permission('operations.manage')
$$;
comment on function private.bypasses_maintenance(text) is
  'Whether a caller of this rate limit tier is let through maintenance mode: the service role, staff and admin, holders of operations.manage.';
revoke execute on function private.bypasses_maintenance(text) from public;
grant execute on function private.bypasses_maintenance(text) to anon, authenticated, service_role;

-- Body of public.set_maintenance_mode.
create function private.set_maintenance_mode(enabled boolean, message text default null, ends_at timestamptz default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  result public.maintenance_mode;
begin
  perform private.assert_operations_manager('turning maintenance mode on or off');
  if enabled is null then
    raise exception 'say whether maintenance mode is on (true) or off (false)' using errcode = '22023';
  end if;
  if enabled then
    if coalesce(char_length(trim(message)), 0) not between 1 and 500 then
      raise exception 'maintenance mode needs a message of 1 to 500 characters' using errcode = '22023';
    end if;
    if ends_at is not null and ends_at <= now() then
      raise exception 'the end of maintenance must be in the future' using errcode = '22023';
    end if;
  end if;
  insert into public.maintenance_mode as m (id, enabled, message, ends_at, started_at, updated_by)
  values (true, enabled, case when enabled then trim(message) else '' end,
          case when enabled then ends_at end, case when enabled then now() end, auth.uid())
  on conflict on constraint maintenance_mode_pkey do update
    set enabled = excluded.enabled, message = excluded.message, ends_at = excluded.ends_at,
        started_at = case when m.enabled and excluded.enabled then m.started_at else excluded.started_at end,
        updated_by = excluded.updated_by, updated_at = now()
  returning * into result;
  return private.maintenance_json(result);
end
$$;
comment on function private.set_maintenance_mode(boolean, text, timestamptz) is 'Body of public.set_maintenance_mode.';
revoke execute on function private.set_maintenance_mode(boolean, text, timestamptz) from public;
grant execute on function private.set_maintenance_mode(boolean, text, timestamptz) to authenticated, service_role;

create function public.set_maintenance_mode(enabled boolean, message text default null, ends_at timestamptz default null)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$ select private.set_maintenance_mode(enabled, message, ends_at) $$;
comment on function public.set_maintenance_mode(boolean, text, timestamptz) is
  'Turns maintenance mode on (with a message and an optional expected end) or off (operations.manage; audited); answers the new status.';
revoke execute on function public.set_maintenance_mode(boolean, text, timestamptz) from public;
grant execute on function public.set_maintenance_mode(boolean, text, timestamptz) to authenticated, service_role;
