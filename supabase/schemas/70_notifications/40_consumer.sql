-- The consumer of the event outbox (private.domain_events): the pg_cron job
-- notifications-consume runs `call private.run_notification_consumer()` every minute, which
-- loops batches of private.consume_notification_events' steps (each batch its own
-- transaction) for up to 50 seconds, so a backlog drains in one run.
--
-- 1. Expand: unprocessed events are taken oldest first, `for update skip locked`, so a second
--    worker running at the same time takes other events. Each event of a catalogued type
--    (private.notification_rules) gets one row in private.notification_deliveries per
--    recipient and channel the recipient receives (their preferences, critical categories
--    always), unique on (event, recipient, channel), e-mail and push of non-critical
--    categories held until the recipient's quiet hours end; then the event is marked
--    processed, in the same transaction. Event types without a rule are marked processed with nothing sent.
-- 2. Deliver: pending deliveries whose time has come are taken the same way (skip locked)
--    and sent: in_app inserts the notification (unique per event and user) and broadcasts it;
--    email calls private.enqueue_email, the e-mail side of this domain (its log and SMTP
--    sender retry the mail itself); push calls private.send_push, a pluggable sender no
--    migration installs (push is off in every category's defaults). A delivery that fails is
--    retried with exponential backoff (1, 2, 4, 8, 16 minutes) and recorded with its error;
--    after 6 attempts it stays failed, visible in the table, for an operator to retry.
--    The e-mail of a digest category (private.email_digest_enabled) joins the recipient's
--    open digest instead (private.add_to_email_digest); digests whose window closed are
--    mailed by private.send_due_email_digests (55_email_deliveries.sql) in the same loop.
-- 3. Prune: processed events older than notification_event_retention_days, with no delivery
--    still pending, are deleted (their deliveries with them; notifications keep event_id).
--
-- Exactly once per (event, recipient, channel): the expansion inserts `on conflict do
-- nothing` under the event's row lock, and a delivery is sent and marked sent in the
-- transaction that holds its row lock; a worker that skips a locked row never sees it
-- pending again once the holder commits.

alter table public.platform_settings add constraint platform_settings_notification_event_retention
  check (key <> 'notification_event_retention_days' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 1 and 365
         and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric)));
comment on constraint platform_settings_notification_event_retention on public.platform_settings is
  'notification_event_retention_days: days a processed domain event is kept before the notifications consumer prunes it (1 to 365).';

create function private.notification_event_retention_days() returns integer
language sql
stable
security definer
set search_path = ''
as $$ select (private.setting('notification_event_retention_days') #>> '{}')::integer $$;
comment on function private.notification_event_retention_days() is 'Days processed domain events are kept (platform setting).';

create table private.notification_deliveries (
  id bigint generated always as identity primary key,
  event_id bigint not null references private.domain_events (id) on delete cascade,
  recipient_id uuid not null references auth.users (id) on delete cascade,
  channel text not null constraint notification_deliveries_channel check (channel in ('in_app', 'email', 'push')),
  status text not null default 'pending'
    constraint notification_deliveries_status check (status in ('pending', 'sent', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text,
  notification_id uuid references public.notifications (id) on delete set null,
  -- An e-mail delivery of a digest category: the digest it went into (foreign key
  -- notification_deliveries_digest_id_fkey declared with private.email_digests,
  -- 55_email_deliveries.sql).
  digest_id bigint,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  constraint notification_deliveries_once unique (event_id, recipient_id, channel)
);
create index notification_deliveries_due_idx on private.notification_deliveries (next_attempt_at, id) where status = 'pending';
create index notification_deliveries_recipient_idx on private.notification_deliveries (recipient_id);
create index notification_deliveries_digest_idx on private.notification_deliveries (digest_id) where digest_id is not null;
create index notification_deliveries_notification_idx on private.notification_deliveries (notification_id)
  where notification_id is not null;
comment on table private.notification_deliveries is
  'One row per (domain event, recipient, channel) the consumer decided to send: pending, sent or failed, with attempts, the next attempt and the last error.';
grant select on private.notification_deliveries to service_role;

-- Who an event notifies under its rule: the event's recipients (existing users only), or
-- the current holders of the rule's permission.
create function private.event_recipients(event private.domain_events, recipient_rule text) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select u.id from auth.users u
   where recipient_rule = 'recipients' and u.id = any (event.recipients)
  union
  select distinct ur.user_id
    from private.active_user_roles ur
    join public.role_permissions rp on rp.role_id = ur.role_id
   where recipient_rule like 'permission:%' and rp.permission = substr(recipient_rule, 12)
     and ur.user_id is distinct from event.actor_id
$$;
comment on function private.event_recipients(private.domain_events, text) is
  'The users an event notifies: its own recipients (who still exist) for rule recipients, or the holders of the permission for rule permission:<code> (never the actor).';

-- Sends one pending delivery, which the caller holds locked. Raises on failure.
create function private.send_notification_delivery(delivery private.notification_deliveries) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  event private.domain_events;
  rule private.notification_rules;
  variables jsonb;
  notification_id uuid;
  push_sender regprocedure;
begin
  select * into strict event from private.domain_events e where e.id = delivery.event_id;
  select * into strict rule from private.notification_rules r where r.event_type = event.event_type;
  variables := event.payload || jsonb_build_object('event_type', event.event_type, 'subject_id', event.subject_id);
  case delivery.channel
    when 'in_app' then
      insert into public.notifications (user_id, category, title, body, action_url, actor_id, payload, event_id, event_type, created_at)
      values (delivery.recipient_id, rule.category, private.render_template(rule.title_template, variables),
              private.render_template(rule.body_template, variables), private.render_template(rule.action_url_template, variables),
              event.actor_id, event.payload, event.id, event.event_type, event.created_at)
      on conflict (event_id, user_id) do nothing
      returning id into notification_id;
    when 'email' then
      -- A digest category: the delivery joins the recipient's open digest, mailed when its
      -- window closes (private.send_due_email_digests).
      if private.email_digest_enabled(delivery.recipient_id, rule.category) then
        perform private.add_to_email_digest(delivery.id, delivery.recipient_id, rule.category);
        return null;
      end if;
      perform private.enqueue_email(
        delivery.recipient_id, rule.category, rule.template_key,
        variables || jsonb_build_object('title', private.render_template(rule.title_template, variables),
                                        'body', private.render_template(rule.body_template, variables),
                                        'action_url', private.render_template(rule.action_url_template, variables)),
        event.id);
    when 'push' then
      -- The pluggable sender, looked up at run time: no migration installs one.
      push_sender := to_regprocedure('private.send_push(uuid, text, text, text, jsonb)');
      if push_sender is null then
        raise exception 'no push sender: private.send_push(uuid, text, text, text, jsonb) is not installed'
          using errcode = '55000';
      end if;
      execute format('select %s($1, $2, $3, $4, $5)', push_sender::regproc)
        using delivery.recipient_id, rule.category, private.render_template(rule.title_template, variables),
              private.render_template(rule.body_template, variables), variables;
  end case;
  return notification_id;
end
$$;
comment on function private.send_notification_delivery(private.notification_deliveries) is
  'Sends one delivery on its channel: in_app inserts the notification (once per event and user), email calls private.enqueue_email (or, for a digest category, adds it to the recipient''s open digest), push private.send_push; raises when the channel''s sender fails or is missing.';

create function private.deliver_notifications(batch_size integer default 500) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  delivery private.notification_deliveries;
  sent_id uuid;
  delivered integer := 0;
begin
  for delivery in
    select d.* from private.notification_deliveries d
     where d.status = 'pending' and d.next_attempt_at <= now()
     order by d.next_attempt_at, d.id
     limit batch_size
       for update skip locked
  loop
    begin
      sent_id := private.send_notification_delivery(delivery);
      update private.notification_deliveries d
         set status = 'sent', attempts = d.attempts + 1, delivered_at = now(), last_error = null, notification_id = sent_id
       where d.id = delivery.id;
      delivered := delivered + 1;
    exception when others then
      update private.notification_deliveries d
         set attempts = d.attempts + 1,
             status = case when d.attempts + 1 >= 6 then 'failed' else 'pending' end,
             next_attempt_at = now() + make_interval(mins => power(2, d.attempts)::integer),
             last_error = left(sqlstate || ': ' || sqlerrm, 1000)
       where d.id = delivery.id;
    end;
  end loop;
  return delivered;
end
$$;
comment on function private.deliver_notifications(integer) is
  'Sends up to batch_size due pending deliveries (skip locked); a failure is retried after 1, 2, 4, 8, 16 minutes and left failed after 6 attempts. Returns how many were sent.';

create function private.expand_notification_events(batch_size integer default 500) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  event private.domain_events;
  rule private.notification_rules;
  critical boolean;
  expanded integer := 0;
begin
  for event in
    select e.* from private.domain_events e
     where e.processed_at is null
     order by e.id
     limit batch_size
       for update skip locked
  loop
    select * into rule from private.notification_rules r where r.event_type = event.event_type;
    if found then
      select c.critical into critical from public.notification_categories c where c.key = rule.category;
      -- E-mail and push of a non-critical category wait for the end of the recipient's
      -- quiet hours.
      insert into private.notification_deliveries (event_id, recipient_id, channel, next_attempt_at)
      select event.id, r.id, ch.channel,
             case when ch.channel in ('email', 'push') and not critical
                  then coalesce(private.quiet_hours_end(r.id, now()), now()) else now() end
        from private.event_recipients(event, rule.recipient_rule) r(id)
       cross join unnest(private.notification_channels()) ch(channel)
       where private.notification_enabled(r.id, rule.category, ch.channel)
      on conflict (event_id, recipient_id, channel) do nothing;
    end if;
    update private.domain_events e set processed_at = now() where e.id = event.id;
    expanded := expanded + 1;
  end loop;
  return expanded;
end
$$;
comment on function private.expand_notification_events(integer) is
  'Turns up to batch_size unprocessed domain events (skip locked) into deliveries per recipient and enabled channel, and marks them processed. Returns how many events it took.';

create function private.prune_notification_events() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  pruned integer;
begin
  delete from private.domain_events e
   where e.processed_at < now() - make_interval(days => private.notification_event_retention_days())
     and not exists (select from private.notification_deliveries d where d.event_id = e.id and d.status = 'pending');
  get diagnostics pruned = row_count;
  return pruned;
end
$$;
comment on function private.prune_notification_events() is
  'Deletes processed domain events older than notification_event_retention_days that have no pending delivery; returns how many.';

create function private.consume_notification_events(batch_size integer default 500) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  expanded integer;
begin
  expanded := private.expand_notification_events(batch_size);
  perform private.deliver_notifications(batch_size * 4);
  perform private.send_due_email_digests(batch_size);
  perform private.prune_notification_events();
  return expanded;
end
$$;
comment on function private.consume_notification_events(integer) is
  'One batch of the consumer: expands up to batch_size events, sends due deliveries, mails the digests whose window closed, prunes old processed events; returns how many events it took. Safe to run in parallel. The job loops batches: private.run_notification_consumer.';
revoke execute on function private.consume_notification_events(integer) from public;
grant execute on function private.consume_notification_events(integer) to service_role;

-- The notifications-consume job: batches until nothing is left or the time budget is spent, so
-- a backlog drains in one run. Called by pg_cron's top-level `call`, it commits after each
-- batch (each batch its own transaction, its locks released); called inside a transaction
-- (ops.run_scheduled_job, which runs a job's command in its function), where a commit is not
-- allowed, it runs the same batches in the caller's transaction (so does a CALL inside an
-- explicit transaction block). No `set search_path` (a procedure with a
-- SET clause may not commit): every name is schema-qualified.
create procedure private.run_notification_consumer(
  inout events integer default null, batch_size integer default 500, max_seconds integer default 50
)
language plpgsql
as $$
declare
  started timestamptz := pg_catalog.clock_timestamp();
  call_stack text;
  top_level boolean;
  expanded integer;
  delivered integer;
  digests integer;
begin
  get diagnostics call_stack = pg_context;
  -- A commit is allowed only to a CALL that began its own transaction (now() is its statement's
  -- start) and that no function called (the call stack holds this procedure only).
  top_level := pg_catalog.strpos(call_stack, pg_catalog.chr(10)) = 0 and pg_catalog.now() = pg_catalog.statement_timestamp();
  events := 0;
  loop
    expanded := private.expand_notification_events(batch_size);
    delivered := private.deliver_notifications(batch_size * 4);
    digests := private.send_due_email_digests(batch_size);
    events := events + expanded;
    if top_level then
      commit;
    end if;
    exit when (expanded = 0 and delivered = 0 and digests = 0)
           or pg_catalog.clock_timestamp() >= started + pg_catalog.make_interval(secs => max_seconds);
  end loop;
  perform private.prune_notification_events();
end
$$;
comment on procedure private.run_notification_consumer(integer, integer, integer) is
  'The notifications-consume job: loops consumer batches (expand, deliver, close digests) of batch_size events, committing after each when called at the top level (pg_cron), until nothing is due or max_seconds pass; then prunes. events returns how many events it took.';
revoke execute on procedure private.run_notification_consumer(integer, integer, integer) from public;
grant execute on procedure private.run_notification_consumer(integer, integer, integer) to service_role;
