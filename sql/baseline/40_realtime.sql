-- Platform baseline: what Supabase Realtime keeps in the database, with the signatures its
-- tenant migrations give them (supabase/realtime priv/repo/tenant_schema/realtime and
-- lib/realtime/tenants/repo/migrations): the messages table its authorization policies go on
-- and that broadcasts from the database are written to, realtime.topic(), realtime.send(),
-- realtime.send_binary() and realtime.broadcast_changes(), and the supabase_realtime
-- publication that feeds Postgres Changes. Applied only by the Docker-less stack; on hosted
-- Supabase, Realtime owns all of it. The daily partitions of realtime.messages are made (and
-- old ones dropped) by the running Realtime, here the stand-in (stack/realtime/messages.ts).

create schema if not exists realtime;
grant usage on schema realtime to postgres, anon, authenticated, service_role;

create table realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp not null default now(),
  inserted_at timestamp not null default now(),
  id uuid not null default gen_random_uuid(),
  binary_payload bytea,
  constraint messages_payload_exclusive check (payload is null or binary_payload is null) not valid,
  constraint messages_pkey primary key (id, inserted_at)
) partition by range (inserted_at);
create index messages_inserted_at_topic_index on only realtime.messages
  using btree (inserted_at desc, topic) where extension = 'broadcast' and private is true;
alter table realtime.messages enable row level security;
alter table realtime.messages owner to supabase_realtime_admin;
grant select, insert, update on realtime.messages to postgres, anon, authenticated, service_role;
comment on table realtime.messages is
  'Realtime''s messages: broadcasts sent from the database (realtime.send) and, in rolled-back transactions, the rows Realtime probes the policies with; partitioned by day by the running Realtime.';

create or replace function realtime.topic() returns text
language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')::text
$$;
alter function realtime.topic() owner to supabase_realtime_admin;
comment on function realtime.topic() is
  'The sub-topic of the channel being authorized (the channel name without realtime:), which Realtime sets while the policies on realtime.messages run.';

-- A failure (no partition for today, a policy refusing the insert) is a warning, never an
-- error: the caller's transaction goes on.
create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql as $$
declare
  generated_id uuid;
  final_payload jsonb;
begin
  begin
    generated_id := gen_random_uuid();
    if payload ? 'id' then
      final_payload := payload;
    else
      final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
    end if;
    execute format('set local realtime.topic to %L', topic);
    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (generated_id, final_payload, event, topic, private, 'broadcast');
  exception
    when others then
      raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end
$$;
alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
comment on function realtime.send(jsonb, text, text, boolean) is
  'Broadcasts payload as event to the channel topic (private by default) once the transaction commits; runs as the caller, so the insert policies on realtime.messages apply.';

create or replace function realtime.send_binary(payload bytea, event text, topic text, private boolean default true)
returns void
language plpgsql as $$
declare
  generated_id uuid;
begin
  begin
    generated_id := gen_random_uuid();
    execute format('set local realtime.topic to %L', topic);
    insert into realtime.messages (id, binary_payload, event, topic, private, extension)
    values (generated_id, payload, event, topic, private, 'broadcast');
  exception
    when others then
      raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end
$$;
alter function realtime.send_binary(bytea, text, text, boolean) owner to supabase_realtime_admin;
comment on function realtime.send_binary(bytea, text, text, boolean) is
  'realtime.send for a binary payload: subscribers receive the bytes as they are.';

create or replace function realtime.broadcast_changes(
  topic_name text,
  event_name text,
  operation text,
  table_name text,
  table_schema text,
  new record,
  old record,
  level text default 'ROW'
) returns void
language plpgsql as $$
declare
  row_data jsonb := '{}'::jsonb;
begin
  if level = 'STATEMENT' then
    raise exception 'function can only be triggered for each row, not for each statement';
  end if;
  if operation = 'INSERT' or operation = 'UPDATE' or operation = 'DELETE' then
    row_data := jsonb_build_object('old_record', old, 'record', new, 'operation', operation, 'table', table_name, 'schema', table_schema);
    perform realtime.send(row_data, event_name, topic_name);
  else
    raise exception 'Unexpected operation type: %', operation;
  end if;
exception
  when others then
    raise exception 'Failed to process the row: %', sqlerrm;
end
$$;
alter function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  owner to supabase_realtime_admin;
comment on function realtime.broadcast_changes(text, text, text, text, text, record, record, text) is
  'For row triggers: broadcasts {old_record, record, operation, table, schema} as event_name to the private topic topic_name.';

grant execute on function realtime.topic() to postgres, anon, authenticated, service_role;
grant execute on function realtime.send(jsonb, text, text, boolean)
  to postgres, anon, authenticated, service_role;
grant execute on function realtime.send_binary(bytea, text, text, boolean)
  to postgres, anon, authenticated, service_role;
grant execute on function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  to postgres, anon, authenticated, service_role;

do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;
