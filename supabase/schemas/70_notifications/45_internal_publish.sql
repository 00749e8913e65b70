-- Internal publish (000 POST /v1/internal/events): a trusted caller (an edge function or an
-- operator, with the service-role key) writes a domain event of a catalogued type into the
-- outbox, where the consumer picks it up like any other. Validated against the catalogue:
-- the type must have a notification rule, and the payload must be an object carrying every
-- variable the type declares.

create function ops.publish_event(
  event_type text, subject_type text, subject_id uuid, recipients uuid[] default '{}',
  payload jsonb default '{}', actor_id uuid default null
) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  rule private.notification_rules;
  missing text[];
  unknown_users integer;
begin
  if event_type is null or event_type !~ '^[a-z_]+\.[a-z_]+$' then
    raise exception 'an event type is <subject>.<what happened>, lowercase letters and _' using errcode = '22023';
  end if;
  select * into rule from private.notification_rules r where r.event_type = publish_event.event_type;
  if not found then
    raise exception 'event type % is not in the notification catalogue', event_type using errcode = '22023';
  end if;
  if subject_type is null or subject_type !~ '^[a-z_]{1,63}$' then
    raise exception 'subject_type is lowercase letters and _ (at most 63)' using errcode = '22023';
  end if;
  if subject_id is null then
    raise exception 'subject_id is required' using errcode = '22023';
  end if;
  if payload is null or jsonb_typeof(payload) <> 'object' then
    raise exception 'payload must be a JSON object' using errcode = '22023';
  end if;
  select coalesce(array_agg(v order by v), '{}') into missing from unnest(rule.variables) v where not payload ? v;
  if cardinality(missing) > 0 then
    raise exception 'the payload of a % event lacks %', event_type, array_to_string(missing, ', ') using errcode = '22023';
  end if;
  select count(*) into unknown_users from unnest(coalesce(recipients, '{}')) r
   where r is null or not exists (select from auth.users u where u.id = r);
  if unknown_users > 0 then
    raise exception '% of the recipients are not users', unknown_users using errcode = '22023';
  end if;
  if actor_id is not null and not exists (select from auth.users u where u.id = publish_event.actor_id) then
    raise exception 'actor % is not a user', actor_id using errcode = '22023';
  end if;
  perform private.emit_event(event_type, subject_type, subject_id, coalesce(recipients, '{}'), payload, actor_id);
  -- The id emit_event's insert just drew, in this session.
  return currval(pg_catalog.pg_get_serial_sequence('private.domain_events', 'id'));
end
$$;
comment on function ops.publish_event(text, text, uuid, uuid[], jsonb, uuid) is
  'Writes a domain event of a catalogued type to the outbox for the notifications consumer (000 POST /v1/internal/events), after checking the type, subject, payload variables and recipients; returns the event id. Service role only.';
revoke execute on function ops.publish_event(text, text, uuid, uuid[], jsonb, uuid) from public;
grant execute on function ops.publish_event(text, text, uuid, uuid[], jsonb, uuid) to service_role;
