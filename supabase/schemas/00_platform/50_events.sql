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
