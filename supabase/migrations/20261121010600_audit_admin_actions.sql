-- Admin actions that happen outside the database's tables (Supabase Auth bans through the
-- Auth admin API) are recorded by the tool that performs them, through this function, so
-- the audit log still holds every admin action. Only the service role may call it.

create function public.record_admin_action(action text, table_name text, row_id text, before jsonb, after jsonb)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  actor record;
  entry_id bigint;
begin
  if coalesce(auth.role(), '') <> 'service_role' then
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

comment on function public.record_admin_action(text, text, text, jsonb, jsonb) is
  'Appends an admin action done outside Postgres tables (e.g. an Auth ban) to the audit log; service_role only.';

grant execute on function public.record_admin_action(text, text, text, jsonb, jsonb) to service_role;
