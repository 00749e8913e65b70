-- E-mail delivery log: one row per mail to send, written by private.enqueue_email (the
-- notifications consumer for the e-mail channel, the newsletter), claimed in batches by the
-- sender, notifications-send-email, through ops.claim_email_deliveries and settled by
-- ops.record_email_delivery. Lifecycle: queued -> sending -> sent, or -> failed (with the
-- error) and retried after a backoff until max attempts; a claim left 'sending' past its
-- visibility timeout (a crashed sender) is claimed again, so no mail is lost. The Message-ID
-- is derived from the row's id, so a mail sent twice after a crash is one message to the
-- receiving side.

create table public.email_deliveries (
  id uuid primary key default gen_random_uuid(),
  recipient_id uuid references auth.users (id) on delete cascade,
  -- Set for mail to an address without an account (the newsletter); for users the address is
  -- read from auth.users when the mail is claimed, so a changed address is honoured.
  to_address text constraint email_deliveries_to_address_format
    check (to_address is null or to_address ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  category text,
  template_key text not null,
  payload jsonb not null default '{}',
  event_id bigint references private.domain_events (id) on delete set null,
  idempotency_key text not null constraint email_deliveries_idempotency_key_unique unique,
  status text not null default 'queued'
    constraint email_deliveries_status check (status in ('queued', 'sending', 'sent', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz default now(),
  claim_id uuid,
  claimed_until timestamptz,
  last_error text,
  provider_message_id text,
  -- The one-click unsubscribe link's token (List-Unsubscribe): it mutes this category's mail.
  unsubscribe_token uuid not null default gen_random_uuid() constraint email_deliveries_unsubscribe_token_unique unique,
  created_at timestamptz not null default now(),
  sent_at timestamptz
);
comment on table public.email_deliveries is
  'Log of every e-mail the project sends: queued, sending, sent or failed (with the last error and attempts). Recipients read their own rows, notifications managers all; only the sender writes.';
comment on column public.email_deliveries.idempotency_key is
  'event:<event id>:<recipient>:<template> for event mail; one row per key, so a re-run consumer enqueues nothing twice.';
comment on column public.email_deliveries.next_attempt_at is
  'When a queued or failed delivery may next be claimed; null once sent or given up (failed after the last attempt).';
comment on column public.email_deliveries.claim_id is
  'The claim that holds a sending row; ops.record_email_delivery accepts only the current claim''s result.';
create index email_deliveries_due_idx on public.email_deliveries (next_attempt_at) where status in ('queued', 'failed');
create index email_deliveries_sending_idx on public.email_deliveries (claimed_until) where status = 'sending';
create index email_deliveries_recipient_idx on public.email_deliveries (recipient_id) where recipient_id is not null;
create index email_deliveries_event_idx on public.email_deliveries (event_id) where event_id is not null;

alter table public.email_deliveries enable row level security;
grant select on public.email_deliveries to authenticated;
grant all on public.email_deliveries to service_role;
create policy "Recipients and notification managers read e-mail deliveries"
  on public.email_deliveries for select to authenticated
  using (recipient_id = (select auth.uid()) or (select private.has_permission('notifications.manage')));

create function private.email_max_attempts() returns integer
language sql
immutable
set search_path = ''
as $$ select 6 $$;
comment on function private.email_max_attempts() is
  'Attempts before a delivery is given up (failed with next_attempt_at null); the backoff between them is 1, 4, 16, 64, 256 minutes.';

-- The insert both enqueue functions share: checks the template and the address, then one row
-- per idempotency key (a repeated key returns the first row's id and changes nothing).
create function private.queue_email_delivery(
  recipient uuid, address text, category text, template_key text, payload jsonb, event_id bigint, idempotency_key text
) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  delivery_id uuid;
begin
  if recipient is null and address is null then
    raise exception 'an e-mail needs a recipient or an address' using errcode = '22023';
  end if;
  if address is not null and address !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    raise exception 'not an e-mail address' using errcode = '22023';
  end if;
  if not exists (select from private.email_templates t where t.key = queue_email_delivery.template_key and t.locale = 'en') then
    raise exception 'no e-mail template %', coalesce(template_key, 'null') using errcode = '22023';
  end if;
  if idempotency_key is null then
    raise exception 'an e-mail needs an idempotency key' using errcode = '22023';
  end if;
  insert into public.email_deliveries (recipient_id, to_address, category, template_key, payload, event_id, idempotency_key)
  values (recipient, lower(address), category, template_key, coalesce(payload, '{}'), event_id, idempotency_key)
  on conflict on constraint email_deliveries_idempotency_key_unique do nothing
  returning id into delivery_id;
  if delivery_id is null then
    select d.id into delivery_id from public.email_deliveries d where d.idempotency_key = queue_email_delivery.idempotency_key;
  end if;
  return delivery_id;
end
$$;
revoke execute on function private.queue_email_delivery(uuid, text, text, text, jsonb, bigint, text) from public;

create function private.enqueue_email(recipient uuid, category text, template_key text, payload jsonb, event_id bigint)
returns uuid
language sql
security definer
set search_path = ''
as $$
  select private.queue_email_delivery(recipient, null, category, template_key, payload, event_id,
    'event:' || coalesce(event_id::text, 'null') || ':' || coalesce(recipient::text, 'null') || ':' || coalesce(template_key, 'null'))
$$;
comment on function private.enqueue_email(uuid, text, text, jsonb, bigint) is
  'The e-mail channel for the notifications consumer: queues the template''s mail to the user for an event, once per (event, recipient, template); a second call returns the first delivery''s id and changes nothing. The caller has checked the recipient''s preferences.';
revoke execute on function private.enqueue_email(uuid, text, text, jsonb, bigint) from public;
grant execute on function private.enqueue_email(uuid, text, text, jsonb, bigint) to service_role;

create function private.enqueue_email_to_address(
  address text, template_key text, payload jsonb, idempotency_key text, category text default null
) returns uuid
language sql
security definer
set search_path = ''
as $$
  select private.queue_email_delivery(null, address, category, template_key, payload, null, idempotency_key)
$$;
comment on function private.enqueue_email_to_address(text, text, jsonb, text, text) is
  'Queues a template''s mail to an address without an account (the newsletter), once per idempotency key.';
revoke execute on function private.enqueue_email_to_address(text, text, jsonb, text, text) from public;
grant execute on function private.enqueue_email_to_address(text, text, jsonb, text, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- The sender's side: claim a batch, then record each result.

create function ops.claim_email_deliveries(batch_size integer default 20, visibility_seconds integer default 300)
returns table (
  id uuid, claim_id uuid, attempt integer, to_address text, locale text, category text,
  template_key text, subject text, html text, text_body text, variables jsonb, unsubscribe_token uuid
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  claim uuid := gen_random_uuid();
begin
  if batch_size is null or batch_size not between 1 and 500 then
    raise exception 'batch_size must be between 1 and 500' using errcode = '22023';
  end if;
  if visibility_seconds is null or visibility_seconds not between 10 and 3600 then
    raise exception 'visibility_seconds must be between 10 and 3600' using errcode = '22023';
  end if;
  return query
  with due as (
    select d.id from public.email_deliveries d
     where ((d.status in ('queued', 'failed') and d.next_attempt_at <= now())
            or (d.status = 'sending' and d.claimed_until < now()))
       -- An address erased with its account (private.personal_data: anonymise) is never sent to.
       and (d.recipient_id is not null or d.to_address is not null)
     order by coalesce(d.next_attempt_at, d.claimed_until), d.created_at
     limit batch_size
     for update skip locked
  ), claimed as (
    update public.email_deliveries d
       set status = 'sending', claim_id = claim, attempts = d.attempts + 1,
           claimed_until = now() + make_interval(secs => visibility_seconds)
      from due where d.id = due.id
    returning d.*
  )
  select c.id, c.claim_id, c.attempts, coalesce(c.to_address, u.email::text), t.locale, c.category,
         c.template_key, t.subject, t.html, t.text_body,
         c.payload || jsonb_build_object(
           'recipient_name', coalesce(nullif(trim(coalesce(pp.first_name, '')), ''), 'there'),
           'category', c.category,
           'event_type', e.event_type,
           'subject_id', e.subject_id),
         c.unsubscribe_token
    from claimed c
    left join auth.users u on u.id = c.recipient_id
    left join public.private_profiles pp on pp.id = c.recipient_id
    left join private.domain_events e on e.id = c.event_id
    cross join lateral (
      select tt.* from private.email_templates tt
       where tt.key = c.template_key and tt.locale in (coalesce(pp.locale, 'en'), 'en')
       order by tt.locale = 'en'
       limit 1
    ) t;
end
$$;
comment on function ops.claim_email_deliveries(integer, integer) is
  'Claims up to batch_size due deliveries (queued, failed and due again, or sending past their visibility timeout) with for update skip locked, marks them sending under a new claim for visibility_seconds, and returns each with its address and its template in the recipient''s locale (else en). Service role only: the sender.';
revoke execute on function ops.claim_email_deliveries(integer, integer) from public;
grant execute on function ops.claim_email_deliveries(integer, integer) to service_role;

create function ops.record_email_delivery(
  delivery_id uuid, claim uuid, succeeded boolean, provider_message_id text default null, error text default null
) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  d public.email_deliveries;
begin
  select * into d from public.email_deliveries e where e.id = delivery_id for update;
  if not found then
    raise exception 'e-mail delivery % not found', delivery_id using errcode = 'PT404';
  end if;
  if d.status <> 'sending' or d.claim_id is distinct from claim then
    raise exception 'e-mail delivery % is % under another claim: its result is not recorded', delivery_id, d.status
      using errcode = 'PT409';
  end if;
  if succeeded then
    update public.email_deliveries e
       set status = 'sent', sent_at = now(), provider_message_id = record_email_delivery.provider_message_id,
           next_attempt_at = null, claimed_until = null, last_error = null
     where e.id = delivery_id;
    return 'sent';
  end if;
  update public.email_deliveries e
     set status = 'failed', claimed_until = null,
         last_error = left(coalesce(error, 'unknown error'), 2000),
         next_attempt_at = case when d.attempts >= private.email_max_attempts() then null
                                else now() + make_interval(mins => power(4, d.attempts - 1)::integer) end
   where e.id = delivery_id;
  return 'failed';
end
$$;
comment on function ops.record_email_delivery(uuid, uuid, boolean, text, text) is
  'Records the sender''s result for a claimed delivery: sent (with the provider''s message id), or failed with the error and retried after 4^(attempts-1) minutes until the last attempt. A result from a stale claim is refused (PT409). Service role only.';
revoke execute on function ops.record_email_delivery(uuid, uuid, boolean, text, text) from public;
grant execute on function ops.record_email_delivery(uuid, uuid, boolean, text, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- One-click unsubscribe (List-Unsubscribe, RFC 8058): a delivery's token switches its
-- category's e-mail off for its recipient, without signing in. Called by the
-- notifications-newsletter function, which serves the link.

create function ops.unsubscribe_email(token uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  d public.email_deliveries;
  cat public.notification_categories;
begin
  select * into d from public.email_deliveries e where e.unsubscribe_token = token;
  if found and d.recipient_id is null and d.category = 'newsletter' then
    -- A newsletter mail: the address leaves the newsletter (60_newsletter.sql).
    update public.newsletter_subscribers n set status = 'unsubscribed', unsubscribed_at = coalesce(n.unsubscribed_at, now())
     where n.email = d.to_address and n.status <> 'unsubscribed';
    return jsonb_build_object('category', 'newsletter', 'email', false);
  end if;
  if not found or d.recipient_id is null or d.category is null then
    raise exception 'unsubscribe link not found' using errcode = 'PT404';
  end if;
  select * into cat from public.notification_categories c where c.key = d.category;
  if cat.critical then
    raise exception 'notification category % is critical: its e-mail cannot be switched off', cat.key
      using errcode = 'PT409';
  end if;
  insert into public.notification_preferences as p (user_id, category, channel, enabled)
  values (d.recipient_id, d.category, 'email', false)
  on conflict (user_id, category, channel) do update set enabled = false, updated_at = now();
  return jsonb_build_object('category', d.category, 'email', false);
end
$$;
comment on function ops.unsubscribe_email(uuid) is
  'One-click unsubscribe from a mail''s List-Unsubscribe link: switches the delivery''s category off on the e-mail channel for its recipient, or takes a newsletter mail''s address off the newsletter (idempotent); refuses critical categories (PT409) and unknown tokens (PT404). Service role only: the notifications-unsubscribe function.';
revoke execute on function ops.unsubscribe_email(uuid) from public;
grant execute on function ops.unsubscribe_email(uuid) to service_role;

-- ---------------------------------------------------------------------------------------
-- email:sent (004 /notifications): once a user's mail is recorded sent, the user's private
-- topic user:<id> hears it (after commit, as push:received in 30_feed.sql).

create function private.broadcast_email_sent() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.send(
    jsonb_build_object('delivery_id', new.id, 'template_key', new.template_key, 'category', new.category,
                       'sent_at', new.sent_at),
    'email:sent', 'user:' || new.recipient_id::text, true);
  return null;
end
$$;
comment on function private.broadcast_email_sent() is
  'Broadcasts email:sent (delivery_id, template_key, category, sent_at) on the recipient''s private topic user:<id> when a delivery becomes sent.';

create trigger email_deliveries_broadcast_sent after update of status on public.email_deliveries
  for each row when (new.status = 'sent' and old.status <> 'sent' and new.recipient_id is not null)
  execute function private.broadcast_email_sent();

-- ---------------------------------------------------------------------------------------
-- Digests. The e-mail of a digestible category (notification_categories.digestible, the
-- user's notification_preferences.email_digest or the category's default) is not mailed per
-- notification: the consumer adds the delivery to the recipient's open digest for the
-- category, one per window of digest_window (aligned on the epoch: 10:00, 10:15, ... for 15
-- minutes) containing the moment of delivery. When the window has closed, one mail goes out
-- listing the count and the latest items (private.send_due_email_digests, run by the consumer).
--
-- Exactly once per (user, category, window): the digest row is unique on it; adding takes the
-- row `for share` and, should the digest already be closed (a delivery late for its window),
-- moves to the next window; closing takes due rows `for update skip locked` (a digest being
-- added to is closed by the next run) and queues the mail under the idempotency key
-- digest:<id>. Each included delivery points at its digest (notification_deliveries.digest_id),
-- the digest at its mail: nothing is lost or mailed twice.

create table private.email_digests (
  id bigint generated always as identity primary key,
  recipient_id uuid not null references auth.users (id) on delete cascade,
  category text not null references public.notification_categories (key) on delete cascade,
  window_start timestamptz not null,
  window_end timestamptz not null,
  closed_at timestamptz,
  email_delivery_id uuid references public.email_deliveries (id) on delete set null,
  created_at timestamptz not null default now(),
  constraint email_digests_once_per_window unique (recipient_id, category, window_start),
  constraint email_digests_window check (window_end > window_start)
);
create index email_digests_due_idx on private.email_digests (window_end) where closed_at is null;
create index email_digests_category_idx on private.email_digests (category);
create index email_digests_email_delivery_idx on private.email_digests (email_delivery_id) where email_delivery_id is not null;
comment on table private.email_digests is
  'One row per user, digest category and window: open until the window closes, then closed with the mail that listed its deliveries (email_delivery_id; null when nothing was left to list).';
grant select on private.email_digests to service_role;

alter table private.notification_deliveries add constraint notification_deliveries_digest_id_fkey
  foreign key (digest_id) references private.email_digests (id) on delete set null;

-- The start of the category's digest window that contains the moment.
create function private.email_digest_window(category text, moment timestamptz) returns timestamptz
language sql
stable
security definer
set search_path = ''
as $$
  select pg_catalog.date_bin(c.digest_window, moment, timestamptz '2000-01-01 00:00:00+00')
    from public.notification_categories c
   where c.key = email_digest_window.category and c.digestible
$$;
comment on function private.email_digest_window(text, timestamptz) is
  'The start of the digest window of a digestible category containing the moment (windows of digest_window aligned on 2000-01-01 UTC); null for a category without a digest.';

-- Adds an e-mail delivery (held locked by the consumer) to the recipient's open digest.
create function private.add_to_email_digest(delivery_id bigint, recipient uuid, category text) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  window_length interval;
  starts timestamptz;
  digest private.email_digests;
begin
  select c.digest_window into window_length from public.notification_categories c
   where c.key = add_to_email_digest.category and c.digestible and not c.critical;
  if not found then
    raise exception 'notification category % has no digest', category using errcode = '22023';
  end if;
  starts := private.email_digest_window(category, now());
  loop
    insert into private.email_digests (recipient_id, category, window_start, window_end)
    values (recipient, category, starts, starts + window_length)
    on conflict on constraint email_digests_once_per_window do nothing;
    -- A share lock: adders do not wait for each other, and the closer (for update skip locked)
    -- leaves the digest to its next run until this delivery's link is committed; a closer
    -- already holding it is waited for, and its closed_at then seen.
    select * into strict digest from private.email_digests d
     where d.recipient_id = recipient and d.category = add_to_email_digest.category and d.window_start = starts
       for share;
    exit when digest.closed_at is null;
    -- Closed already (this delivery came late for its window): the next window takes it.
    starts := digest.window_end;
  end loop;
  update private.notification_deliveries d set digest_id = digest.id where d.id = delivery_id;
  return digest.id;
end
$$;
comment on function private.add_to_email_digest(bigint, uuid, text) is
  'Puts an e-mail delivery into the recipient''s open digest of the category (the window containing now, or the next open one), creating the digest; returns its id.';

-- The mail of one closed digest: the count and the latest items (title, body, action URL,
-- when), newest first, from the events' in-app templates.
create function private.email_digest_payload(digest_id bigint, latest integer default 5) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  with items as (
    select jsonb_build_object(
             'title', private.render_template(r.title_template, v.variables),
             'body', private.render_template(r.body_template, v.variables),
             'action_url', private.render_template(r.action_url_template, v.variables),
             'event_type', e.event_type,
             'created_at', e.created_at) as item,
           row_number() over (order by e.created_at desc, e.id desc) as n
      from private.notification_deliveries nd
      join private.domain_events e on e.id = nd.event_id
      join private.notification_rules r on r.event_type = e.event_type
     cross join lateral (select e.payload || jsonb_build_object('event_type', e.event_type, 'subject_id', e.subject_id) as variables) v
     where nd.digest_id = email_digest_payload.digest_id
  )
  select jsonb_build_object(
           'count', (select count(*) from items),
           'items', coalesce((select jsonb_agg(i.item order by i.n) from items i where i.n <= latest), '[]'),
           'more', greatest((select count(*) from items) - latest, 0),
           'window_start', d.window_start,
           'window_end', d.window_end)
    from private.email_digests d
   where d.id = email_digest_payload.digest_id
$$;
comment on function private.email_digest_payload(bigint, integer) is
  'The variables of a digest mail: count, items (the latest, newest first: title, body, action_url, event_type, created_at), more (how many are not listed), window_start, window_end.';

-- Mails the digests whose window has closed (or, with flush, every open one of the
-- recipient, or of everyone when recipient is null). Returns how many it closed.
create function private.send_due_email_digests(
  batch_size integer default 500, flush boolean default false, recipient uuid default null
) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  digest private.email_digests;
  payload jsonb;
  mail uuid;
  closed integer := 0;
begin
  for digest in
    select d.* from private.email_digests d
     where d.closed_at is null
       and (d.window_end <= now() or (flush and (recipient is null or d.recipient_id = recipient)))
     order by d.window_end, d.id
     limit batch_size
       for update skip locked
  loop
    payload := private.email_digest_payload(digest.id);
    mail := null;
    if (payload ->> 'count')::integer > 0 then
      mail := private.queue_email_delivery(
        digest.recipient_id, null, digest.category,
        (select c.digest_template_key from public.notification_categories c where c.key = digest.category),
        payload, null, 'digest:' || digest.id);
    end if;
    update private.email_digests d set closed_at = now(), email_delivery_id = mail where d.id = digest.id;
    closed := closed + 1;
  end loop;
  return closed;
end
$$;
comment on function private.send_due_email_digests(integer, boolean, uuid) is
  'Closes up to batch_size digests whose window ended (skip locked; with flush, open ones too, of one recipient or all), queueing one mail each (idempotency key digest:<id>) with private.email_digest_payload; returns how many it closed.';

create function ops.flush_email_digests(recipient uuid default null) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  total integer := 0;
  closed integer;
begin
  loop
    closed := private.send_due_email_digests(500, true, recipient);
    total := total + closed;
    exit when closed < 500;
  end loop;
  return total;
end
$$;
comment on function ops.flush_email_digests(uuid) is
  'Mails every open digest now, without waiting for its window to close (of one recipient, or all when null); returns how many digests it closed. Service role only: operators and tests.';
revoke execute on function ops.flush_email_digests(uuid) from public;
grant execute on function ops.flush_email_digests(uuid) to service_role;
