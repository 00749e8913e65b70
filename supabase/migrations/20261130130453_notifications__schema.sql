-- The notifications domain's schema at the rebaseline: every file of supabase/schemas/70_notifications/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/70_notifications/10_catalogue.sql
-- ======================================================================================

-- Notifications (issue 16; 000 "Notification Center & Preferences", 003 "Notifications", 004
-- /notifications): what the domain events of private.domain_events become for people.
--
--   public.notification_categories  each category: whether it is critical (cannot be switched
--                                    off: security, payments), its default per channel, and
--                                    whether the e-mail channel may put it in a digest (its
--                                    window, template and default)
--   private.notification_rules       the event catalogue: for each event type, its category,
--                                    who it notifies and with which template
--
-- The channels are closed: in_app (the feed, public.notifications, live on the user's
-- Realtime topic), email (sent by the e-mail side of this domain, private.enqueue_email) and
-- push (a pluggable sender, private.send_push, absent by default; push is off in every
-- category's defaults).

create function private.notification_channels() returns text[]
language sql
immutable
set search_path = ''
as $$ select array['in_app', 'email', 'push'] $$;
comment on function private.notification_channels() is
  'The closed list of notification channels: in_app, email, push.';
grant execute on function private.notification_channels() to anon, authenticated, service_role;

create table public.notification_categories (
  key text primary key constraint notification_categories_key_format check (key ~ '^[a-z_]+$'),
  description text not null constraint notification_categories_description_present check (description <> ''),
  critical boolean not null default false,
  default_in_app boolean not null default true,
  default_email boolean not null default true,
  default_push boolean not null default false,
  digestible boolean not null default false,
  digest_window interval not null default interval '1 hour'
    constraint notification_categories_digest_window check (digest_window between interval '1 minute' and interval '1 day'),
  default_email_digest boolean not null default false,
  digest_template_key text,
  constraint notification_categories_critical_on check (not critical or (default_in_app and default_email)),
  constraint notification_categories_critical_not_digested check (not (critical and digestible)),
  constraint notification_categories_digest_default check (not default_email_digest or digestible),
  constraint notification_categories_digest_template check (digestible = (digest_template_key is not null))
);
comment on table public.notification_categories is
  'Notification categories (reference data): defaults per channel, critical ones (always delivered in-app and by e-mail), digest-able ones.';
comment on column public.notification_categories.critical is
  'Security and payment notices: a user cannot switch them off (set_notification_preference refuses).';
comment on column public.notification_categories.digestible is
  'The e-mail channel may gather this category into a digest (one mail per user and digest_window listing the notifications) instead of one mail per notification; never a critical category.';
comment on column public.notification_categories.digest_window is
  'The length of a digest window (1 minute to 1 day): a user''s e-mails of the category delivered within one window go out as one digest when it closes.';
comment on column public.notification_categories.default_email_digest is
  'Whether the category''s e-mail is a digest for users who did not choose (notification_preferences.email_digest).';
comment on column public.notification_categories.digest_template_key is
  'The e-mail template (private.email_templates) of the category''s digest; set exactly when the category is digestible.';

alter table public.notification_categories enable row level security;
grant select on public.notification_categories to anon, authenticated;
grant all on public.notification_categories to service_role;
create policy "Anyone reads notification categories" on public.notification_categories for select to anon, authenticated
  using (true);

create table private.notification_rules (
  event_type text primary key references private.event_types (event_type),
  category text not null references public.notification_categories (key),
  -- Who is notified: the event's own recipients (what the emitting domain chose), or the
  -- holders of a permission (admins for reconciliation differences).
  recipient_rule text not null default 'recipients'
    constraint notification_rules_recipient_rule check (recipient_rule ~ '^(recipients|permission:[a-z_]+\.[a-z_]+)$'),
  template_key text not null constraint notification_rules_template_key_format check (template_key ~ '^[a-z_]+\.[a-z_]+$'),
  -- The payload keys the event carries, which the templates may use as {{name}}.
  variables text[] not null default '{}',
  title_template text not null constraint notification_rules_title_present check (title_template <> ''),
  body_template text not null default '',
  action_url_template text
);
create index notification_rules_category_idx on private.notification_rules (category);
comment on table private.notification_rules is
  'The event catalogue: which category an event type notifies, whom (recipient_rule), and the in-app template (title, body, action URL with {{variable}} from the event''s payload). template_key names the e-mail template.';
comment on column private.notification_rules.variables is
  'Payload keys every event of this type carries (checked by ops.publish_event); templates may name only these, plus event_type and subject_id.';
grant select on private.notification_rules to service_role;

-- The {{names}} a template uses.
create function private.template_variables(template text) returns text[]
language sql
immutable
set search_path = ''
as $$
  select coalesce(array_agg(distinct m[1] order by m[1]), '{}')
    from regexp_matches(coalesce(template, ''), '\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}', 'g') m
$$;
comment on function private.template_variables(text) is 'The distinct {{variable}} names a template uses, sorted.';

-- A template filled from a payload: each {{name}} becomes the payload's value (text as is,
-- anything else as JSON), a missing one the empty string.
create function private.render_template(template text, variables jsonb) returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  name text;
  result text := template;
begin
  if template is null then
    return null;
  end if;
  foreach name in array private.template_variables(template) loop
    result := regexp_replace(result, '\{\{\s*' || name || '\s*\}\}',
                             replace(coalesce(variables ->> name, ''), '\', '\\'), 'g');
  end loop;
  return result;
end
$$;
comment on function private.render_template(text, jsonb) is
  'Fills a template''s {{variable}} from a JSON object (missing ones become empty).';

create function private.check_notification_rule() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  unknown text[];
begin
  select coalesce(array_agg(v order by v), '{}') into unknown
    from unnest(private.template_variables(new.title_template) || private.template_variables(new.body_template)
                || private.template_variables(new.action_url_template)) v
   where v <> all (new.variables || array['event_type', 'subject_id']);
  if cardinality(unknown) > 0 then
    raise exception 'the templates of % use variables the event does not carry: %', new.event_type, array_to_string(unknown, ', ')
      using errcode = '22023';
  end if;
  return new;
end
$$;
comment on function private.check_notification_rule() is
  'Refuses a catalogue row whose templates name a {{variable}} the event type does not declare.';

create trigger notification_rules_check before insert or update on private.notification_rules
  for each row execute function private.check_notification_rule();

-- ======================================================================================
-- supabase/schemas/70_notifications/20_preferences.sql
-- ======================================================================================

-- Preferences (000 "preferences per category and channel"): a row per user, category and
-- channel the user changed; without a row the category's default applies. Critical
-- categories are always on (the RPC refuses switching them off, and the consumer ignores any
-- row). Users read their rows from the table and change them through
-- set_notification_preference, which validates the category and channel and says precisely
-- what it refuses.

create table public.notification_preferences (
  user_id uuid not null references auth.users (id) on delete cascade,
  category text not null references public.notification_categories (key) on delete cascade,
  channel text not null constraint notification_preferences_channel check (channel in ('in_app', 'email', 'push')),
  enabled boolean not null,
  -- E-mail only: whether the category's mail is a digest (true) or sent at once (false); null
  -- follows the category's default_email_digest. Ignored for a category that is not digestible.
  email_digest boolean,
  updated_at timestamptz not null default now(),
  primary key (user_id, category, channel),
  constraint notification_preferences_digest_email_only check (channel = 'email' or email_digest is null)
);
create index notification_preferences_category_idx on public.notification_preferences (category);
comment on table public.notification_preferences is
  'A user''s choice per notification category and channel; categories without a row follow their defaults.';

alter table public.notification_preferences enable row level security;
grant select on public.notification_preferences to authenticated;
grant all on public.notification_preferences to service_role;
create policy "Users read their notification preferences" on public.notification_preferences for select to authenticated
  using (user_id = (select auth.uid()));

-- Whether a user gets a category on a channel: critical categories always on in-app and by
-- e-mail, else the user's row, else the category's default.
create function private.notification_enabled(user_id uuid, category text, channel text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select case
           when c.critical and channel in ('in_app', 'email') then true
           else coalesce(
             (select p.enabled from public.notification_preferences p
               where p.user_id = notification_enabled.user_id and p.category = c.key and p.channel = notification_enabled.channel),
             case channel when 'in_app' then c.default_in_app when 'email' then c.default_email else c.default_push end)
         end
    from public.notification_categories c
   where c.key = notification_enabled.category
$$;
comment on function private.notification_enabled(uuid, text, text) is
  'Whether the user receives this category on this channel: critical categories always (in-app, e-mail), else their preference, else the default; null for an unknown category.';
revoke execute on function private.notification_enabled(uuid, text, text) from public;
grant execute on function private.notification_enabled(uuid, text, text) to service_role;

-- Whether a user's e-mail of a category goes into a digest: a digestible category (never a
-- critical one), by the user's choice, else the category's default.
create function private.email_digest_enabled(user_id uuid, category text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select c.digestible and not c.critical and coalesce(
           (select p.email_digest from public.notification_preferences p
             where p.user_id = email_digest_enabled.user_id and p.category = c.key and p.channel = 'email'),
           c.default_email_digest)
    from public.notification_categories c
   where c.key = email_digest_enabled.category
$$;
comment on function private.email_digest_enabled(uuid, text) is
  'Whether the user''s e-mail of this category is gathered into a digest: a digestible, non-critical category, by their choice (notification_preferences.email_digest) or the category''s default_email_digest.';
revoke execute on function private.email_digest_enabled(uuid, text) from public;
grant execute on function private.email_digest_enabled(uuid, text) to service_role;

-- Body of public.set_notification_preference.
create function private.set_notification_preference(category text, channel text, enabled boolean)
returns public.notification_preferences
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  cat public.notification_categories;
  result public.notification_preferences;
begin
  if caller is null then
    raise exception 'sign in to change notification preferences' using errcode = '42501';
  end if;
  select * into cat from public.notification_categories c where c.key = set_notification_preference.category;
  if not found then
    raise exception 'unknown notification category: the categories are %',
      (select string_agg(c.key, ', ' order by c.key) from public.notification_categories c)
      using errcode = '22023';
  end if;
  if channel is null or channel <> all (private.notification_channels()) then
    raise exception 'unknown notification channel: the channels are in_app, email, push' using errcode = '22023';
  end if;
  if enabled is null then
    raise exception 'enabled must be true or false' using errcode = '22023';
  end if;
  if cat.critical and channel in ('in_app', 'email') and not enabled then
    raise exception 'notification category % is critical: it cannot be switched off in_app or by email', cat.key
      using errcode = '22023';
  end if;
  insert into public.notification_preferences as p (user_id, category, channel, enabled)
  values (caller, cat.key, set_notification_preference.channel, set_notification_preference.enabled)
  on conflict on constraint notification_preferences_pkey
    do update set enabled = excluded.enabled, updated_at = now()
  returning * into result;
  return result;
end
$$;
comment on function private.set_notification_preference(text, text, boolean) is
  'Body of public.set_notification_preference: validates category and channel, refuses switching off a critical category, upserts the caller''s row.';
revoke execute on function private.set_notification_preference(text, text, boolean) from public;
grant execute on function private.set_notification_preference(text, text, boolean) to authenticated;

create function public.set_notification_preference(category text, channel text, enabled boolean)
returns public.notification_preferences
language sql
security invoker
set search_path = ''
as $$ select private.set_notification_preference(category, channel, enabled) $$;
comment on function public.set_notification_preference(text, text, boolean) is
  'Switch a notification category on or off for one channel (in_app, email, push). Critical categories (security, payments) cannot be switched off.';
revoke execute on function public.set_notification_preference(text, text, boolean) from public;
grant execute on function public.set_notification_preference(text, text, boolean) to authenticated;

-- Body of public.set_email_digest.
create function private.set_email_digest(category text, digest boolean) returns public.notification_preferences
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  cat public.notification_categories;
  result public.notification_preferences;
begin
  if caller is null then
    raise exception 'sign in to change notification preferences' using errcode = '42501';
  end if;
  select * into cat from public.notification_categories c where c.key = set_email_digest.category;
  if not found then
    raise exception 'unknown notification category: the categories are %',
      (select string_agg(c.key, ', ' order by c.key) from public.notification_categories c)
      using errcode = '22023';
  end if;
  if digest is null then
    raise exception 'digest must be true or false' using errcode = '22023';
  end if;
  if not cat.digestible then
    raise exception 'notification category % has no digest: the categories with one are %', cat.key,
      coalesce((select string_agg(c.key, ', ' order by c.key) from public.notification_categories c where c.digestible), 'none')
      using errcode = '22023';
  end if;
  -- The row keeps the e-mail channel's effective on/off as it is.
  insert into public.notification_preferences as p (user_id, category, channel, enabled, email_digest)
  values (caller, cat.key, 'email', private.notification_enabled(caller, cat.key, 'email'), set_email_digest.digest)
  on conflict on constraint notification_preferences_pkey
    do update set email_digest = excluded.email_digest, updated_at = now()
  returning * into result;
  return result;
end
$$;
comment on function private.set_email_digest(text, boolean) is
  'Body of public.set_email_digest: validates the category (digestible), sets the caller''s email_digest on the e-mail row, keeping its on/off.';
revoke execute on function private.set_email_digest(text, boolean) from public;
grant execute on function private.set_email_digest(text, boolean) to authenticated;

create function public.set_email_digest(category text, digest boolean) returns public.notification_preferences
language sql
security invoker
set search_path = ''
as $$ select private.set_email_digest(category, digest) $$;
comment on function public.set_email_digest(text, boolean) is
  'Choose whether the e-mails of a digestible category (messages) come as one digest per window (true) or one mail each (false). Switching its e-mail off is set_notification_preference.';
revoke execute on function public.set_email_digest(text, boolean) from public;
grant execute on function public.set_email_digest(text, boolean) to authenticated;

-- Every category with the caller's effective setting per channel (000 GET preferences).
create function private.my_notification_preferences()
returns table (category text, description text, critical boolean, in_app boolean, email boolean, push boolean, email_digest boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select c.key, c.description, c.critical,
         private.notification_enabled(auth.uid(), c.key, 'in_app'),
         private.notification_enabled(auth.uid(), c.key, 'email'),
         private.notification_enabled(auth.uid(), c.key, 'push'),
         private.email_digest_enabled(auth.uid(), c.key)
    from public.notification_categories c
   where auth.uid() is not null
   order by c.key
$$;
comment on function private.my_notification_preferences() is
  'Body of public.my_notification_preferences: every category with the caller''s effective choice per channel, and whether its e-mail is a digest.';
revoke execute on function private.my_notification_preferences() from public;
grant execute on function private.my_notification_preferences() to authenticated;

create function public.my_notification_preferences()
returns table (category text, description text, critical boolean, in_app boolean, email boolean, push boolean, email_digest boolean)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.my_notification_preferences() $$;
comment on function public.my_notification_preferences() is
  'Every notification category with whether you receive it in-app, by e-mail and by push (your choice or the default; critical ones always), and whether its e-mail comes as a digest.';
revoke execute on function public.my_notification_preferences() from public;
grant execute on function public.my_notification_preferences() to authenticated;

-- ---------------------------------------------------------------------------------------
-- Quiet hours: a daily window, in the user's time zone (private_profiles.timezone), during
-- which the consumer holds e-mail and push deliveries of non-critical categories until the
-- window ends. In-app notifications are not held.

create table public.notification_quiet_hours (
  user_id uuid primary key references auth.users (id) on delete cascade,
  starts_at time not null,
  ends_at time not null,
  updated_at timestamptz not null default now(),
  constraint notification_quiet_hours_not_empty check (starts_at <> ends_at)
);
comment on table public.notification_quiet_hours is
  'A user''s daily quiet hours (local time in their profile''s time zone; ends_at before starts_at spans midnight): e-mail and push of non-critical categories wait until the end.';

alter table public.notification_quiet_hours enable row level security;
grant select on public.notification_quiet_hours to authenticated;
grant all on public.notification_quiet_hours to service_role;
create policy "Users read their quiet hours" on public.notification_quiet_hours for select to authenticated
  using (user_id = (select auth.uid()));

-- When the user's quiet hours that contain the moment end, or null outside them.
create function private.quiet_hours_end(user_id uuid, moment timestamptz) returns timestamptz
language sql
stable
security definer
set search_path = ''
as $$
  select case
           when (q.starts_at < q.ends_at and l.t >= q.starts_at and l.t < q.ends_at)
             or (q.starts_at > q.ends_at and l.t < q.ends_at)
             then (l.d + q.ends_at) at time zone l.zone
           when q.starts_at > q.ends_at and l.t >= q.starts_at
             then (l.d + 1 + q.ends_at) at time zone l.zone
         end
    from public.notification_quiet_hours q
   cross join lateral (select coalesce((select p.timezone from public.private_profiles p where p.id = q.user_id), 'UTC') as zone) z
   cross join lateral (select (moment at time zone z.zone)::time as t, (moment at time zone z.zone)::date as d, z.zone) l
   where q.user_id = quiet_hours_end.user_id
$$;
comment on function private.quiet_hours_end(uuid, timestamptz) is
  'The end of the user''s quiet hours containing the moment (their profile''s time zone), or null when the moment is outside them or they have none.';

-- Body of public.set_quiet_hours.
create function private.set_quiet_hours(starts_at time, ends_at time) returns public.notification_quiet_hours
language plpgsql
security definer
set search_path = ''
as $$
declare
  result public.notification_quiet_hours;
begin
  if auth.uid() is null then
    raise exception 'sign in to set quiet hours' using errcode = '42501';
  end if;
  if starts_at is null and ends_at is null then
    delete from public.notification_quiet_hours q where q.user_id = auth.uid();
    return null;
  end if;
  if starts_at is null or ends_at is null or starts_at = ends_at then
    raise exception 'quiet hours need a start and a different end (both null switches them off)' using errcode = '22023';
  end if;
  insert into public.notification_quiet_hours as q (user_id, starts_at, ends_at)
  values (auth.uid(), set_quiet_hours.starts_at, set_quiet_hours.ends_at)
  on conflict on constraint notification_quiet_hours_pkey
    do update set starts_at = excluded.starts_at, ends_at = excluded.ends_at, updated_at = now()
  returning * into result;
  return result;
end
$$;
comment on function private.set_quiet_hours(time, time) is
  'Body of public.set_quiet_hours: sets (or, with two nulls, clears) the caller''s quiet hours.';
revoke execute on function private.set_quiet_hours(time, time) from public;
grant execute on function private.set_quiet_hours(time, time) to authenticated;

create function public.set_quiet_hours(starts_at time, ends_at time) returns public.notification_quiet_hours
language sql
security invoker
set search_path = ''
as $$ select private.set_quiet_hours(starts_at, ends_at) $$;
comment on function public.set_quiet_hours(time, time) is
  'Set your quiet hours (local times in your profile''s time zone; an end before the start spans midnight), or clear them with two nulls. E-mail and push of non-critical categories wait until they end.';
revoke execute on function public.set_quiet_hours(time, time) from public;
grant execute on function public.set_quiet_hours(time, time) to authenticated;

-- ======================================================================================
-- supabase/schemas/70_notifications/30_feed.sql
-- ======================================================================================

-- The in-app feed (000 "Notification Center", 003 "Notifications"): one row per notification
-- a user received, written by the consumer (40_consumer.sql) and by admin sends. Clients read
-- their feed from the table (unread: read_at is null; a cursor on (created_at, id), newest
-- first, as notifications_feed_idx serves it), set read_at, seen_at or archived_at on their
-- own rows, and delete their own rows. mark_notification_read, mark_all_notifications_read and
-- unread_notification_count are RPCs for the one-call forms of 000 and 003.
--
-- Live delivery (004 /notifications): each new row is broadcast as push:received (and as
-- alert:triggered when its category is critical), and each
-- change of its read/seen/archived state as status:updated, on the private Realtime topic
-- user:<user id>, which only that user may join (the policy "Users hear their own user
-- topic", 20_messaging/50_realtime.sql). realtime.send writes in the transaction, so a
-- notification is heard only once it is committed.

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  category text not null references public.notification_categories (key),
  title text not null constraint notifications_title_present check (title <> ''),
  body text not null default '',
  action_url text,
  actor_id uuid references auth.users (id) on delete set null,
  payload jsonb not null default '{}',
  -- The domain event it came from (the outbox prunes events; the id stays as a reference),
  -- or null for an admin send.
  event_id bigint,
  event_type text,
  -- The admin send or broadcast it came from (foreign key declared with
  -- public.notification_broadcasts, 70_admin_send.sql), or null.
  broadcast_id uuid,
  created_at timestamptz not null default now(),
  read_at timestamptz,
  seen_at timestamptz,
  archived_at timestamptz,
  constraint notifications_one_per_event unique (event_id, user_id),
  constraint notifications_one_per_broadcast unique (broadcast_id, user_id)
);
create index notifications_feed_idx on public.notifications (user_id, created_at desc, id desc);
create index notifications_unread_idx on public.notifications (user_id) where read_at is null and archived_at is null;
create index notifications_category_idx on public.notifications (category);
create index notifications_actor_idx on public.notifications (actor_id) where actor_id is not null;
comment on table public.notifications is
  'A user''s in-app notifications, newest first; the owner reads, marks (read_at, seen_at, archived_at) and deletes their own.';
comment on column public.notifications.event_id is
  'The private.domain_events row this notification was made from (unique per user: one notification per event and recipient); null for admin sends.';

alter table public.notifications enable row level security;
grant select, delete on public.notifications to authenticated;
grant update (read_at, seen_at, archived_at) on public.notifications to authenticated;
grant all on public.notifications to service_role;

create policy "Users read their notifications" on public.notifications for select to authenticated
  using (user_id = (select auth.uid()));
create policy "Users mark their notifications" on public.notifications for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy "Users delete their notifications" on public.notifications for delete to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Live delivery on user:<id>.

create function private.broadcast_notification() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  message jsonb;
begin
  if tg_op = 'INSERT' then
    message := jsonb_build_object('id', new.id, 'category', new.category, 'title', new.title, 'body', new.body,
                                  'action_url', new.action_url, 'actor_id', new.actor_id, 'payload', new.payload,
                                  'event_type', new.event_type, 'broadcast_id', new.broadcast_id, 'created_at', new.created_at);
    perform realtime.send(message, 'push:received', 'user:' || new.user_id::text, true);
    -- A critical category (security, payments) is also an alert, for clients to surface at once.
    if exists (select from public.notification_categories c where c.key = new.category and c.critical) then
      perform realtime.send(message, 'alert:triggered', 'user:' || new.user_id::text, true);
    end if;
  elsif (old.read_at, old.seen_at, old.archived_at) is distinct from (new.read_at, new.seen_at, new.archived_at) then
    perform realtime.send(
      jsonb_build_object('id', new.id, 'read_at', new.read_at, 'seen_at', new.seen_at, 'archived_at', new.archived_at),
      'status:updated', 'user:' || new.user_id::text, true);
  end if;
  return null;
end
$$;
comment on function private.broadcast_notification() is
  'Broadcasts a new notification (push:received, and alert:triggered too for a critical category) and a change of its read/seen/archived state (status:updated) on the owner''s private topic user:<id>.';

create trigger notifications_broadcast after insert or update of read_at, seen_at, archived_at on public.notifications
  for each row execute function private.broadcast_notification();

-- ---------------------------------------------------------------------------------------
-- Client RPCs.

-- Body of public.mark_notification_read.
create function private.mark_notification_read(notification_id uuid) returns public.notifications
language plpgsql
security definer
set search_path = ''
as $$
declare
  n public.notifications;
begin
  if auth.uid() is null then
    raise exception 'sign in to mark notifications read' using errcode = '42501';
  end if;
  update public.notifications t set read_at = coalesce(t.read_at, now()), seen_at = coalesce(t.seen_at, now())
   where t.id = notification_id and t.user_id = auth.uid()
  returning * into n;
  if not found then
    raise exception 'notification % not found', notification_id using errcode = 'PT404';
  end if;
  return n;
end
$$;
comment on function private.mark_notification_read(uuid) is
  'Body of public.mark_notification_read: the caller''s notification only (another user''s is not found), idempotent.';
revoke execute on function private.mark_notification_read(uuid) from public;
grant execute on function private.mark_notification_read(uuid) to authenticated;

create function public.mark_notification_read(notification_id uuid) returns public.notifications
language sql
security invoker
set search_path = ''
as $$ select private.mark_notification_read(notification_id) $$;
comment on function public.mark_notification_read(uuid) is
  'Mark one of your notifications read (and seen). Another user''s notification is not found (404).';
revoke execute on function public.mark_notification_read(uuid) from public;
grant execute on function public.mark_notification_read(uuid) to authenticated;

-- Body of public.mark_all_notifications_read.
create function private.mark_all_notifications_read(category text default null) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  marked integer;
begin
  if auth.uid() is null then
    raise exception 'sign in to mark notifications read' using errcode = '42501';
  end if;
  if category is not null and not exists (select from public.notification_categories c where c.key = mark_all_notifications_read.category) then
    raise exception 'unknown notification category: the categories are %',
      (select string_agg(c.key, ', ' order by c.key) from public.notification_categories c)
      using errcode = '22023';
  end if;
  update public.notifications t set read_at = now(), seen_at = coalesce(t.seen_at, now())
   where t.user_id = auth.uid() and t.read_at is null
     and (mark_all_notifications_read.category is null or t.category = mark_all_notifications_read.category);
  get diagnostics marked = row_count;
  return marked;
end
$$;
comment on function private.mark_all_notifications_read(text) is
  'Body of public.mark_all_notifications_read: marks the caller''s unread notifications (of one category, if given) read; returns how many.';
revoke execute on function private.mark_all_notifications_read(text) from public;
grant execute on function private.mark_all_notifications_read(text) to authenticated;

create function public.mark_all_notifications_read(category text default null) returns integer
language sql
security invoker
set search_path = ''
as $$ select private.mark_all_notifications_read(category) $$;
comment on function public.mark_all_notifications_read(text) is
  'Mark all your unread notifications read, or those of one category; returns how many were marked.';
revoke execute on function public.mark_all_notifications_read(text) from public;
grant execute on function public.mark_all_notifications_read(text) to authenticated;

-- Body of public.unread_notification_count.
create function private.unread_notification_count() returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if auth.uid() is null then
    raise exception 'sign in to count your notifications' using errcode = '42501';
  end if;
  return (select count(*) from public.notifications t
           where t.user_id = auth.uid() and t.read_at is null and t.archived_at is null)::integer;
end
$$;
comment on function private.unread_notification_count() is
  'Body of public.unread_notification_count: the caller''s unread, unarchived notifications.';
revoke execute on function private.unread_notification_count() from public;
grant execute on function private.unread_notification_count() to authenticated;

create function public.unread_notification_count() returns integer
language sql
stable
security invoker
set search_path = ''
as $$ select private.unread_notification_count() $$;
comment on function public.unread_notification_count() is
  'How many of your notifications are unread (archived ones not counted): the badge of the notification center.';
revoke execute on function public.unread_notification_count() from public;
grant execute on function public.unread_notification_count() to authenticated;

-- ======================================================================================
-- supabase/schemas/70_notifications/40_consumer.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/70_notifications/45_internal_publish.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/70_notifications/50_email_templates.sql
-- ======================================================================================

-- E-mail templates: one per (key, locale), each with a subject, an HTML body and a text body
-- in Mustache syntax ({{name}} is HTML-escaped by the sender, notifications-send-email; triple
-- braces are refused, so nothing is ever inserted unescaped). A template may use only the
-- variables it declares, and a template that the event catalogue names
-- (private.notification_rules.template_key) may declare only the payload keys that rule says
-- its event carries (notification_rules.variables) and the sender's own variables
-- (private.email_standard_variables). A mail is rendered in the recipient's locale
-- (public.private_profiles.locale), falling back to 'en', which every key must have.

create table private.email_templates (
  key text not null constraint email_templates_key_format check (key ~ '^[a-z_]+(\.[a-z_]+)?$'),
  locale text not null default 'en' constraint email_templates_locale_format check (locale ~ '^[a-z]{2,3}(-[A-Z]{2})?$'),
  subject text not null constraint email_templates_subject_present check (subject <> ''),
  html text not null constraint email_templates_html_present check (html <> ''),
  text_body text not null constraint email_templates_text_present check (text_body <> ''),
  variables text[] not null default '{}',
  updated_at timestamptz not null default now(),
  primary key (key, locale)
);
comment on table private.email_templates is
  'E-mail templates per key and locale (Mustache: subject, html, text_body); variables lists every placeholder the bodies use, checked against the event''s payload keys.';
grant select on private.email_templates to service_role;

create function private.email_standard_variables() returns text[]
language sql
immutable
set search_path = ''
as $$
  select array['recipient_name', 'unsubscribe_url', 'app_url', 'category', 'event_type', 'subject_id', 'title', 'body', 'action_url', 'confirm_url']
$$;
comment on function private.email_standard_variables() is
  'Variables the sender supplies to every template, besides the payload: the recipient''s name, the one-click unsubscribe link, the app''s URL, the category, the event type and subject id, the in-app title, body and action URL the consumer renders, and a newsletter confirmation''s link.';

-- The placeholders a Mustache text uses: {{name}}, {{ name }}, sections {{#name}} {{^name}}
-- {{/name}}; triple braces and {{&name}} (unescaped output) are refused.
create function private.email_template_placeholders(body text) returns text[]
language sql
immutable
set search_path = ''
as $$
  select coalesce(array_agg(distinct m[1] order by m[1]), '{}')
    from regexp_matches(body, '\{\{\s*[#^/]?\s*([A-Za-z0-9_.]+)\s*\}\}', 'g') m
$$;

create function private.check_email_template() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  used text[];
  undeclared text[];
  rule record;
  unknown text[];
begin
  if new.subject ~ '\{\{\{|\{\{\s*&' or new.html ~ '\{\{\{|\{\{\s*&' or new.text_body ~ '\{\{\{|\{\{\s*&' then
    raise exception 'e-mail template %/% uses unescaped output ({{{ }} or {{& }}): every variable is HTML-escaped', new.key, new.locale
      using errcode = '22023';
  end if;
  used := private.email_template_placeholders(new.subject || ' ' || new.html || ' ' || new.text_body);
  select coalesce(array_agg(u order by u), '{}') into undeclared from unnest(used) u where u <> all (new.variables);
  if cardinality(undeclared) > 0 then
    raise exception 'e-mail template %/% uses undeclared variables: %', new.key, new.locale, array_to_string(undeclared, ', ')
      using errcode = '22023';
  end if;
  for rule in select r.event_type, r.variables from private.notification_rules r where r.template_key = new.key loop
    select coalesce(array_agg(v order by v), '{}') into unknown
      from unnest(new.variables) v
     where v <> all (rule.variables || private.email_standard_variables());
    if cardinality(unknown) > 0 then
      raise exception 'e-mail template %/%: variables % are not in the payload of % (%)', new.key, new.locale,
        array_to_string(unknown, ', '), rule.event_type, array_to_string(rule.variables, ', ')
        using errcode = '22023';
    end if;
  end loop;
  if new.locale <> 'en' then
    -- Locked (for share) so that a concurrent deletion of the 'en' version waits for this
    -- write and then sees this locale, or this write waits and then finds 'en' gone.
    perform from private.email_templates t where t.key = new.key and t.locale = 'en' for share;
    if not found then
      raise exception 'e-mail template %/% has no ''en'' version to fall back on', new.key, new.locale
        using errcode = '22023';
    end if;
  end if;
  new.updated_at := now();
  return new;
end
$$;
comment on function private.check_email_template() is
  'Refuses a template using unescaped output, a placeholder it does not declare, a variable its event''s payload lacks, or a locale without an ''en'' fallback.';

create trigger email_templates_check before insert or update on private.email_templates
  for each row execute function private.check_email_template();

-- A template's locale is a known language (public.languages, or a region of one), as profiles'
-- locales are, so every locale a recipient can have may get its template (22023 'unknown
-- language: xx' otherwise; private.check_known_locale, 00_platform/90_i18n.sql).
create trigger email_templates_check_locale before insert or update of locale on private.email_templates
  for each row execute function private.check_known_locale('locale');

create trigger email_templates_audit after insert or update or delete on private.email_templates
  for each row execute function private.audit_row_change('key', 'key', 'locale', 'subject', 'html', 'text_body', 'variables');

-- ---------------------------------------------------------------------------------------
-- Template management (003 "GET /admin/notifications/templates", and writing them): RPCs for
-- holders of notifications.manage (and the service role: the admin CLI), each write checked
-- by email_templates_check above and written to the audit log (email_templates_audit, row_id
-- the key, the locale in the row). Keys the sender or the catalogue rely on keep their 'en'
-- version: private.email_template_in_use says why one cannot be deleted.

create function private.email_builtin_template_keys() returns text[]
language sql
immutable
set search_path = ''
as $$ select array['admin.notification', 'announcement', 'message.digest', 'newsletter.confirm'] $$;
comment on function private.email_builtin_template_keys() is
  'Template keys the database queues itself (admin sends and broadcasts by e-mail, announcements, the message digest, newsletter confirmations); their ''en'' version cannot be deleted.';

create function private.require_template_manager() returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not (private.is_service_role() or private.has_permission('notifications.manage')) then
    raise exception 'managing e-mail templates needs the notifications.manage permission' using errcode = '42501';
  end if;
end
$$;
comment on function private.require_template_manager() is
  'Refuses (42501) a caller who neither holds notifications.manage nor is the service role.';
revoke execute on function private.require_template_manager() from public;
grant execute on function private.require_template_manager() to authenticated, service_role;

-- Checks a key and locale's form first, so the messages that name them hold no free text.
create function private.check_template_address(key text, locale text) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if key is null or key !~ '^[a-z_]+(\.[a-z_]+)?$' or length(key) > 100 then
    raise exception 'a template key is lowercase words and underscores with at most one dot, like bid.accepted'
      using errcode = '22023';
  end if;
  if locale is null or locale !~ '^[a-z]{2,3}(-[A-Z]{2})?$' then
    raise exception 'a locale is a language code with an optional region (en, ko, pt-BR)' using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_template_address(text, text) from public;
grant execute on function private.check_template_address(text, text) to authenticated, service_role;

-- Checks the content of a template being written, before the trigger's own checks.
create function private.check_template_content(subject text, html text, text_body text, variables text[]) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if coalesce(subject, '') = '' or length(subject) > 500 or subject ~ '[\r\n]' then
    raise exception 'a template''s subject is one line of 1 to 500 characters' using errcode = '22023';
  end if;
  if coalesce(html, '') = '' or length(html) > 100000 then
    raise exception 'a template''s HTML body is 1 to 100000 characters' using errcode = '22023';
  end if;
  if coalesce(text_body, '') = '' or length(text_body) > 100000 then
    raise exception 'a template''s text body is 1 to 100000 characters' using errcode = '22023';
  end if;
  if variables is null then
    raise exception 'declare the template''s variables (an empty list when it uses none)' using errcode = '22023';
  end if;
  if exists (select from unnest(variables) v where v is null or v !~ '^[A-Za-z0-9_.]+$') then
    raise exception 'a variable name is letters, digits, underscores and dots' using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_template_content(text, text, text, text[]) from public;
grant execute on function private.check_template_content(text, text, text, text[]) to authenticated, service_role;


-- What the template RPCs answer: a template with the event types whose mail it is.
create type public.email_template as (
  key text, locale text, subject text, html text, text_body text, variables text[], event_types text[],
  updated_at timestamptz
);
comment on type public.email_template is
  'An e-mail template as the admin RPCs answer it: key, locale, Mustache subject, html and text_body, the declared variables, and the event types of the catalogue whose mail it is.';

create function private.email_templates_of(key text, locale text) returns setof public.email_template
language sql
stable
security definer
set search_path = ''
as $$
  select t.key, t.locale, t.subject, t.html, t.text_body, t.variables,
         array(select r.event_type from private.notification_rules r where r.template_key = t.key order by r.event_type),
         t.updated_at
    from private.email_templates t
   where (email_templates_of.key is null or t.key = email_templates_of.key)
     and (email_templates_of.locale is null or t.locale = email_templates_of.locale)
   order by t.key, t.locale
$$;
comment on function private.email_templates_of(text, text) is
  'The templates of a key and locale (null: any), as public.email_template rows. No permission check: its callers check.';
revoke execute on function private.email_templates_of(text, text) from public;

-- Body of public.list_email_templates.
create function private.list_email_templates(key text default null, locale text default null)
returns setof public.email_template
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.require_template_manager();
  return query select * from private.email_templates_of(key, locale);
end
$$;
comment on function private.list_email_templates(text, text) is
  'Body of public.list_email_templates: the templates (of one key, of one locale) with the event types naming each key; notifications.manage or the service role.';
revoke execute on function private.list_email_templates(text, text) from public;
grant execute on function private.list_email_templates(text, text) to authenticated, service_role;

create function public.list_email_templates(key text default null, locale text default null)
returns setof public.email_template
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.list_email_templates(key, locale) $$;
comment on function public.list_email_templates(text, text) is
  'Admin (notifications.manage): the e-mail templates, optionally of one key or one locale, with the event types that use each (003 GET /admin/notifications/templates).';
revoke execute on function public.list_email_templates(text, text) from public;
grant execute on function public.list_email_templates(text, text) to authenticated, service_role;

-- Body of public.get_email_template.
create function private.get_email_template(key text, locale text default 'en') returns public.email_template
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found_template public.email_template;
begin
  perform private.require_template_manager();
  perform private.check_template_address(key, locale);
  select * into found_template from private.email_templates_of(key, locale);
  if not found then
    raise exception 'e-mail template %/% not found', key, locale using errcode = 'PT404';
  end if;
  return found_template;
end
$$;
comment on function private.get_email_template(text, text) is
  'Body of public.get_email_template: one template; PT404 when the key has no template in that locale.';
revoke execute on function private.get_email_template(text, text) from public;
grant execute on function private.get_email_template(text, text) to authenticated, service_role;

create function public.get_email_template(key text, locale text default 'en') returns public.email_template
language sql
stable
security invoker
set search_path = ''
as $$ select private.get_email_template(key, locale) $$;
comment on function public.get_email_template(text, text) is
  'Admin (notifications.manage): one e-mail template by key and locale (default en).';
revoke execute on function public.get_email_template(text, text) from public;
grant execute on function public.get_email_template(text, text) to authenticated, service_role;

-- Body of public.create_email_template.
create function private.create_email_template(
  key text, locale text, subject text, html text, text_body text, variables text[]
) returns public.email_template
language plpgsql
security definer
set search_path = ''
as $$
declare
  created public.email_template;
begin
  perform private.require_template_manager();
  perform private.check_template_address(key, locale);
  perform private.check_template_content(subject, html, text_body, variables);
  if exists (select from private.email_templates t where t.key = create_email_template.key and t.locale = create_email_template.locale) then
    raise exception 'e-mail template %/% already exists: update it instead', key, locale using errcode = '23505';
  end if;
  begin
    insert into private.email_templates (key, locale, subject, html, text_body, variables)
    values (key, locale, subject, html, text_body, array(select distinct v from unnest(variables) v order by v));
  exception when unique_violation then
    -- Created by a concurrent call since the check above.
    raise exception 'e-mail template %/% already exists: update it instead', key, locale using errcode = '23505';
  end;
  select * into created from private.email_templates_of(key, locale);
  return created;
end
$$;
comment on function private.create_email_template(text, text, text, text, text, text[]) is
  'Body of public.create_email_template: checks the caller, the key, locale and content, then inserts (the check trigger refuses unescaped output, undeclared variables, variables the event lacks, a locale without ''en''); 23505 when it exists.';
revoke execute on function private.create_email_template(text, text, text, text, text, text[]) from public;
grant execute on function private.create_email_template(text, text, text, text, text, text[]) to authenticated, service_role;

create function public.create_email_template(
  key text, locale text, subject text, html text, text_body text, variables text[]
) returns public.email_template
language sql
security invoker
set search_path = ''
as $$ select private.create_email_template(key, locale, subject, html, text_body, variables) $$;
comment on function public.create_email_template(text, text, text, text, text, text[]) is
  'Admin (notifications.manage): add an e-mail template for a key and locale (Mustache; every placeholder declared in variables; only variables the event''s payload carries; ''en'' first). Audited.';
revoke execute on function public.create_email_template(text, text, text, text, text, text[]) from public;
grant execute on function public.create_email_template(text, text, text, text, text, text[]) to authenticated, service_role;

-- Body of public.update_email_template.
create function private.update_email_template(
  key text, locale text, subject text default null, html text default null, text_body text default null,
  variables text[] default null
) returns public.email_template
language plpgsql
security definer
set search_path = ''
as $$
declare
  existing private.email_templates;
  updated public.email_template;
begin
  perform private.require_template_manager();
  perform private.check_template_address(key, locale);
  select * into existing from private.email_templates t
   where t.key = update_email_template.key and t.locale = update_email_template.locale
     for update;
  if not found then
    raise exception 'e-mail template %/% not found', key, locale using errcode = 'PT404';
  end if;
  perform private.check_template_content(coalesce(subject, existing.subject), coalesce(html, existing.html),
                                         coalesce(text_body, existing.text_body), coalesce(variables, existing.variables));
  update private.email_templates t
     set subject = coalesce(update_email_template.subject, t.subject),
         html = coalesce(update_email_template.html, t.html),
         text_body = coalesce(update_email_template.text_body, t.text_body),
         variables = case when update_email_template.variables is null then t.variables
                          else array(select distinct v from unnest(update_email_template.variables) v order by v) end
   where t.key = existing.key and t.locale = existing.locale;
  select * into updated from private.email_templates_of(key, locale);
  return updated;
end
$$;
comment on function private.update_email_template(text, text, text, text, text, text[]) is
  'Body of public.update_email_template: changes the given parts (null keeps a part), checked as a new template is; PT404 when it does not exist.';
revoke execute on function private.update_email_template(text, text, text, text, text, text[]) from public;
grant execute on function private.update_email_template(text, text, text, text, text, text[]) to authenticated, service_role;

create function public.update_email_template(
  key text, locale text, subject text default null, html text default null, text_body text default null,
  variables text[] default null
) returns public.email_template
language sql
security invoker
set search_path = ''
as $$ select private.update_email_template(key, locale, subject, html, text_body, variables) $$;
comment on function public.update_email_template(text, text, text, text, text, text[]) is
  'Admin (notifications.manage): change an e-mail template''s subject, HTML, text or variables (omitted parts stay), checked as on creation. Audited.';
revoke execute on function public.update_email_template(text, text, text, text, text, text[]) from public;
grant execute on function public.update_email_template(text, text, text, text, text, text[]) to authenticated, service_role;

-- Body of public.delete_email_template.
create function private.delete_email_template(key text, locale text) returns public.email_template
language plpgsql
security definer
set search_path = ''
as $$
declare
  deleted public.email_template;
  others text;
  rules text;
  waiting integer;
begin
  perform private.require_template_manager();
  perform private.check_template_address(key, locale);
  -- The row is locked first: a concurrent write of another locale (which locks 'en' for share
  -- in the check trigger) either commits before the checks below see it, or waits and then
  -- finds 'en' gone.
  perform from private.email_templates t
   where t.key = delete_email_template.key and t.locale = delete_email_template.locale
     for update;
  select * into deleted from private.email_templates_of(key, locale);
  if not found then
    raise exception 'e-mail template %/% not found', key, locale using errcode = 'PT404';
  end if;
  -- Every other locale falls back on 'en', so 'en' goes only when nothing relies on it.
  if locale = 'en' then
    select string_agg(t.locale, ', ' order by t.locale) into others
      from private.email_templates t where t.key = delete_email_template.key and t.locale <> 'en';
    if others is not null then
      raise exception 'e-mail template %/en is the fallback of its other locales (%): delete those first', key, others
        using errcode = 'PT409';
    end if;
    if cardinality(deleted.event_types) > 0 then
      raise exception 'e-mail template %/en is the mail of % in the event catalogue: it cannot be deleted', key,
        array_to_string(deleted.event_types, ', ') using errcode = 'PT409';
    end if;
    if key = any (private.email_builtin_template_keys()) then
      raise exception 'e-mail template %/en is queued by the database itself: it cannot be deleted', key
        using errcode = 'PT409';
    end if;
    select count(*) into waiting from public.email_deliveries d
     where d.template_key = delete_email_template.key
       and (d.status in ('queued', 'sending') or (d.status = 'failed' and d.next_attempt_at is not null));
    if waiting > 0 then
      raise exception 'e-mail template %/en has % mails waiting to be sent: it cannot be deleted yet', key, waiting
        using errcode = 'PT409';
    end if;
  end if;
  delete from private.email_templates t where t.key = delete_email_template.key and t.locale = delete_email_template.locale;
  return deleted;
end
$$;
comment on function private.delete_email_template(text, text) is
  'Body of public.delete_email_template: deletes a template and answers it; an ''en'' one is refused (PT409) while other locales fall back on it, the catalogue or the database names its key, or mails using it wait to be sent.';
revoke execute on function private.delete_email_template(text, text) from public;
grant execute on function private.delete_email_template(text, text) to authenticated, service_role;

create function public.delete_email_template(key text, locale text) returns public.email_template
language sql
security invoker
set search_path = ''
as $$ select private.delete_email_template(key, locale) $$;
comment on function public.delete_email_template(text, text) is
  'Admin (notifications.manage): delete an e-mail template (a locale other than en falls back on en; en itself only when nothing uses it). Audited.';
revoke execute on function public.delete_email_template(text, text) from public;
grant execute on function public.delete_email_template(text, text) to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/70_notifications/55_email_deliveries.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/70_notifications/60_newsletter.sql
-- ======================================================================================

-- The newsletter: anyone subscribes an address (anon allowed; public.subscribe_newsletter),
-- confirmed by a link mailed to it (double opt-in: a token valid 24 hours, used once), and
-- unsubscribed in one click by the List-Unsubscribe link of any newsletter mail (no sign-in;
-- ops.unsubscribe_email). An unsubscribed address may subscribe again, confirming again.
-- Requests are limited per address (3 an hour), so nobody can flood an inbox with
-- confirmation mail. Addresses are readable only by notifications managers. The links point
-- at the notifications-newsletter function, which calls these RPCs.

create table public.newsletter_subscribers (
  id uuid primary key default gen_random_uuid(),
  -- Null once erased with the account of that address (private.personal_data: anonymise).
  email text constraint newsletter_subscribers_email_unique unique
    constraint newsletter_subscribers_email_format check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and email = lower(email)),
  status text not null default 'pending'
    constraint newsletter_subscribers_status check (status in ('pending', 'subscribed', 'unsubscribed')),
  confirm_token uuid constraint newsletter_subscribers_confirm_token_unique unique,
  confirm_expires_at timestamptz,
  unsubscribe_token uuid not null default gen_random_uuid() constraint newsletter_subscribers_unsubscribe_token_unique unique,
  requests_in_window integer not null default 0,
  window_started_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  confirmed_at timestamptz,
  unsubscribed_at timestamptz
);
comment on table public.newsletter_subscribers is
  'Newsletter addresses: pending until the mailed link confirms them, subscribed, or unsubscribed (one click). Readable by notifications managers only.';
comment on column public.newsletter_subscribers.confirm_token is
  'The latest confirmation link''s token, kept after use so a second use is told apart from an unknown link.';
comment on column public.newsletter_subscribers.requests_in_window is
  'Subscribe requests for this address since window_started_at (an hour); the fourth in the hour is refused.';

alter table public.newsletter_subscribers enable row level security;
grant select on public.newsletter_subscribers to authenticated;
grant all on public.newsletter_subscribers to service_role;
create policy "Notifications managers read newsletter subscribers"
  on public.newsletter_subscribers for select to authenticated
  using ((select private.has_permission('notifications.manage')));

-- Body of public.subscribe_newsletter.
create function private.subscribe_newsletter(email text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  address text := lower(trim(email));
  s public.newsletter_subscribers;
  token uuid := gen_random_uuid();
begin
  if address is null or address !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' or length(address) > 254 then
    raise exception 'not an e-mail address' using errcode = '22023';
  end if;
  insert into public.newsletter_subscribers as n (email) values (address)
  on conflict on constraint newsletter_subscribers_email_unique do nothing;
  select * into s from public.newsletter_subscribers n where n.email = address for update;
  if s.window_started_at < now() - interval '1 hour' then
    s.requests_in_window := 0;
    s.window_started_at := now();
  end if;
  if s.requests_in_window >= 3 then
    -- PT429: PostgREST answers HTTP 429. The time to retry is in the message: a Retry-After
    -- header set with set_config('response.headers', …) would be rolled back with this refusal.
    raise exception 'too many newsletter requests for this address: try again after %',
      to_char((s.window_started_at + interval '1 hour') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      using errcode = 'PT429';
  end if;
  update public.newsletter_subscribers n
     set requests_in_window = s.requests_in_window + 1, window_started_at = s.window_started_at,
         status = case when n.status = 'subscribed' then 'subscribed' else 'pending' end,
         confirm_token = case when n.status = 'subscribed' then n.confirm_token else token end,
         confirm_expires_at = case when n.status = 'subscribed' then n.confirm_expires_at else now() + interval '24 hours' end
   where n.id = s.id;
  if s.status <> 'subscribed' then
    perform private.enqueue_email_to_address(address, 'newsletter.confirm', jsonb_build_object('confirm_token', token),
                                             'newsletter-confirm:' || token, 'newsletter');
  end if;
  -- The same answer whatever the address's state, so it tells nobody who is subscribed.
  return jsonb_build_object('email', address, 'confirmation', 'sent if not already subscribed');
end
$$;
comment on function private.subscribe_newsletter(text) is
  'Body of public.subscribe_newsletter: validates the address, limits requests to 3 an hour per address (PT429), and mails a confirmation link valid 24 hours unless the address is already subscribed.';
revoke execute on function private.subscribe_newsletter(text) from public;
grant execute on function private.subscribe_newsletter(text) to anon, authenticated, service_role;

create function public.subscribe_newsletter(email text) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.subscribe_newsletter(email) $$;
comment on function public.subscribe_newsletter(text) is
  'Subscribe an address to the newsletter (no sign-in needed): a confirmation link is mailed to it (double opt-in). At most 3 requests an hour per address.';
revoke execute on function public.subscribe_newsletter(text) from public;
grant execute on function public.subscribe_newsletter(text) to anon, authenticated, service_role;

-- Body of public.confirm_newsletter.
create function private.confirm_newsletter(token uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  s public.newsletter_subscribers;
begin
  select * into s from public.newsletter_subscribers n where n.confirm_token = token for update;
  if not found then
    raise exception 'confirmation link not found' using errcode = 'PT404';
  end if;
  if s.confirmed_at is not null and s.confirmed_at >= s.confirm_expires_at - interval '24 hours' then
    raise exception 'this confirmation link was already used' using errcode = 'PT409';
  end if;
  if s.confirm_expires_at < now() then
    raise exception 'this confirmation link expired at %: subscribe again',
      to_char(s.confirm_expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') using errcode = 'PT410';
  end if;
  update public.newsletter_subscribers n
     set status = 'subscribed', confirmed_at = now(), unsubscribed_at = null
   where n.id = s.id;
  return jsonb_build_object('status', 'subscribed');
end
$$;
comment on function private.confirm_newsletter(uuid) is
  'Body of public.confirm_newsletter: subscribes the address of a confirmation link; an unknown link is PT404, a used one PT409, an expired one PT410.';
revoke execute on function private.confirm_newsletter(uuid) from public;
grant execute on function private.confirm_newsletter(uuid) to anon, authenticated, service_role;

create function public.confirm_newsletter(token uuid) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.confirm_newsletter(token) $$;
comment on function public.confirm_newsletter(uuid) is
  'Confirm a newsletter subscription with the token of the mailed link (no sign-in). Each link works once, for 24 hours.';
revoke execute on function public.confirm_newsletter(uuid) from public;
grant execute on function public.confirm_newsletter(uuid) to anon, authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/70_notifications/70_admin_send.sql
-- ======================================================================================

-- Admin sends and broadcasts (003 "admin send to users", "broadcast to all with a user
-- filter"; 000 internal publish is 45_internal_publish.sql). Holders of notifications.manage
-- create a row of public.notification_broadcasts through send_notification (chosen users, at
-- most 1,000, delivered at once) or broadcast_notification (everyone matching a filter: roles,
-- locales, signed up before/after, subscribed to plans). A broadcast is fanned out in batches of users in id order,
-- each batch its own transaction, by the job notifications-fan-out
-- (private.run_broadcast_fan_out, a procedure that commits after every batch) or by
-- ops.fan_out_broadcasts (one batch per call); recipients_done and status show the progress.
-- Each user gets the notification once (unique per broadcast and user) unless they switched
-- the category off in-app. Asked with email => true, each recipient whose preferences let the
-- category reach them by e-mail (critical categories always) also gets the admin.notification
-- mail, queued in the same batch through private.queue_email_delivery under the key
-- broadcast:<id>:<user>, so a batch run again queues nothing twice. Creating and deleting a
-- broadcast is written to the audit log.

create table public.notification_broadcasts (
  id uuid primary key default gen_random_uuid(),
  created_by uuid references auth.users (id) on delete set null,
  category text not null default 'system' references public.notification_categories (key),
  title text not null constraint notification_broadcasts_title_length check (length(title) between 1 and 200),
  body text not null default '' constraint notification_broadcasts_body_length check (length(body) <= 5000),
  action_url text constraint notification_broadcasts_action_url check (action_url ~ '^(/|https://)\S*$' and length(action_url) <= 2000),
  -- The audience: chosen users (a send), or a filter (a broadcast; null = no condition).
  user_ids uuid[],
  roles text[],
  locales text[],
  signed_up_before timestamptz,
  signed_up_after timestamptz,
  -- Users with a live subscription (trialing, active, past_due, unpaid, paused) to one of these
  -- plans (60_billing's subscriptions).
  plan_ids uuid[],
  recipients_total integer not null default 0,
  recipients_done integer not null default 0,
  -- Also by e-mail (to recipients whose preferences allow it), and how many mails were queued.
  email boolean not null default false,
  emails_queued integer not null default 0,
  -- Fan-out cursor: the last user id handed a notification (users are taken in id order).
  last_user_id uuid,
  status text not null default 'pending' constraint notification_broadcasts_status check (status in ('pending', 'done')),
  created_at timestamptz not null default now(),
  finished_at timestamptz
);
create index notification_broadcasts_pending_idx on public.notification_broadcasts (created_at) where status = 'pending';
create index notification_broadcasts_category_idx on public.notification_broadcasts (category);
create index notification_broadcasts_created_by_idx on public.notification_broadcasts (created_by) where created_by is not null;
comment on table public.notification_broadcasts is
  'Admin sends (user_ids) and broadcasts (filters) of one notification, fanned out in batches; recipients_done / recipients_total is the progress.';
comment on column public.notification_broadcasts.recipients_total is
  'Users matching the audience when it was created (the fan-out takes users matching it as it goes).';

alter table public.notifications add constraint notifications_broadcast_id_fkey
  foreign key (broadcast_id) references public.notification_broadcasts (id) on delete set null;

create trigger notification_broadcasts_audit after insert or delete on public.notification_broadcasts
  for each row execute function private.audit_row_change('id', 'id', 'category', 'title', 'roles', 'locales',
    'signed_up_before', 'signed_up_after', 'plan_ids', 'user_ids', 'recipients_total', 'email', 'created_by');

alter table public.notification_broadcasts enable row level security;
grant select on public.notification_broadcasts to authenticated;
grant all on public.notification_broadcasts to service_role;
create policy "Notification managers read sends and broadcasts" on public.notification_broadcasts for select to authenticated
  using ((select private.has_permission('notifications.manage')));

-- The users a send or broadcast reaches after the cursor, in id order: existing,
-- non-anonymous users matching every condition it sets.
create function private.broadcast_audience(broadcast public.notification_broadcasts, after_user uuid, max_users integer)
returns setof uuid
-- plpgsql, not sql: the plan filter reads 60_billing's subscriptions, whose migration runs after
-- this domain's (a sql body is checked when the function is created).
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return query
  select u.id from auth.users u
   where (after_user is null or u.id > after_user)
     and not u.is_anonymous
     and u.deleted_at is null
     and (broadcast.user_ids is null or u.id = any (broadcast.user_ids))
     and (broadcast.signed_up_before is null or u.created_at < broadcast.signed_up_before)
     and (broadcast.signed_up_after is null or u.created_at >= broadcast.signed_up_after)
     and (broadcast.locales is null
          or exists (select from public.private_profiles p where p.id = u.id and p.locale = any (broadcast.locales)))
     and (broadcast.roles is null
          or exists (select from private.active_user_roles ur join public.roles r on r.id = ur.role_id
                      where ur.user_id = u.id and r.name = any (broadcast.roles)))
     and (broadcast.plan_ids is null
          or exists (select from public.subscriptions s
                      where s.user_id = u.id and s.plan_id = any (broadcast.plan_ids)
                        and s.status in ('trialing', 'active', 'past_due', 'unpaid', 'paused')))
   order by u.id
   limit max_users;
end
$$;
comment on function private.broadcast_audience(public.notification_broadcasts, uuid, integer) is
  'Up to max_users users of a send or broadcast after the cursor, in id order (existing, not anonymous, matching its user list and filters).';

-- One batch of one broadcast, which the caller holds locked; returns the users handled.
create function private.fan_out_broadcast_batch(broadcast public.notification_broadcasts, batch_size integer)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  targets uuid[];
  mailed integer := 0;
  mail jsonb;
begin
  targets := array(select private.broadcast_audience(broadcast, broadcast.last_user_id, batch_size));
  insert into public.notifications (user_id, category, title, body, action_url, actor_id, broadcast_id, payload)
  select t, broadcast.category, broadcast.title, broadcast.body, broadcast.action_url, broadcast.created_by, broadcast.id,
         jsonb_build_object('broadcast_id', broadcast.id)
    from unnest(targets) t
   where private.notification_enabled(t, broadcast.category, 'in_app')
  on conflict (broadcast_id, user_id) do nothing;
  if broadcast.email then
    -- The mail's link only when it is absolute (a path means nothing outside the app), and the
    -- unsubscribe line only for categories that can be switched off.
    mail := jsonb_build_object(
      'title', broadcast.title, 'body', broadcast.body, 'broadcast_id', broadcast.id,
      'link', case when broadcast.action_url ~ '^https://' then broadcast.action_url end,
      'can_unsubscribe', not (select c.critical from public.notification_categories c where c.key = broadcast.category));
    select count(private.queue_email_delivery(t, null, broadcast.category, 'admin.notification', mail, null,
                                              'broadcast:' || broadcast.id || ':' || t))
      into mailed
      from unnest(targets) t
      join auth.users u on u.id = t
     where u.email is not null
       and private.notification_enabled(t, broadcast.category, 'email');
  end if;
  update public.notification_broadcasts b
     set recipients_done = b.recipients_done + cardinality(targets),
         emails_queued = b.emails_queued + mailed,
         last_user_id = coalesce(targets[cardinality(targets)], b.last_user_id),
         status = case when cardinality(targets) < batch_size then 'done' else 'pending' end,
         finished_at = case when cardinality(targets) < batch_size then now() end
   where b.id = broadcast.id;
  return cardinality(targets);
end
$$;
comment on function private.fan_out_broadcast_batch(public.notification_broadcasts, integer) is
  'Gives the next batch_size users of a locked broadcast its notification (unless they switched the category off in-app) and, for an e-mail broadcast, queues its mail to those whose preferences allow e-mail (once per user: idempotency key broadcast:<id>:<user>), moves the cursor, marks it done after the last batch.';

-- Body of ops.fan_out_broadcasts and of each step of the job: one batch of the oldest
-- pending broadcast no other worker holds.
create function private.fan_out_broadcasts(batch_size integer default 5000) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  broadcast public.notification_broadcasts;
begin
  select * into broadcast from public.notification_broadcasts b
   where b.status = 'pending'
   order by b.created_at, b.id
   limit 1
     for update skip locked;
  if not found then
    return 0;
  end if;
  return private.fan_out_broadcast_batch(broadcast, batch_size);
end
$$;
comment on function private.fan_out_broadcasts(integer) is
  'Fans out one batch of the oldest pending broadcast no other worker holds (skip locked); returns the users handled, 0 when nothing is pending.';

create function ops.fan_out_broadcasts(batch_size integer default 5000) returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  if batch_size is null or batch_size not between 1 and 50000 then
    raise exception 'batch_size is 1 to 50000' using errcode = '22023';
  end if;
  return private.fan_out_broadcasts(batch_size);
end
$$;
comment on function ops.fan_out_broadcasts(integer) is
  'Fans out one batch (in its own transaction) of the oldest pending broadcast; returns the users handled, 0 when none is pending. Service role only: the admin CLI and tests.';
revoke execute on function ops.fan_out_broadcasts(integer) from public;
grant execute on function ops.fan_out_broadcasts(integer) to service_role;

-- No `set search_path` here: a procedure with a SET clause may not commit. Every name is
-- schema-qualified instead (pg_catalog is searched first whatever the path).
create procedure private.run_broadcast_fan_out(batch_size integer default 5000, max_seconds integer default 50)
language plpgsql
as $$
declare
  started timestamptz := pg_catalog.clock_timestamp();
begin
  while pg_catalog.clock_timestamp() < started + pg_catalog.make_interval(secs => max_seconds) loop
    exit when private.fan_out_broadcasts(batch_size) = 0;
    commit;
  end loop;
end
$$;
comment on procedure private.run_broadcast_fan_out(integer, integer) is
  'The notifications-fan-out job: batches of pending broadcasts, committing after each, for at most max_seconds.';

-- ---------------------------------------------------------------------------------------
-- Admin RPCs.

create function private.check_broadcast_content(category text, title text, action_url text) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  -- The admin CLI calls with the service-role key (the audit log names its operator).
  if not (private.is_service_role() or private.has_permission('notifications.manage')) then
    raise exception 'sending notifications needs the notifications.manage permission' using errcode = '42501';
  end if;
  if category is null or not exists (select from public.notification_categories c where c.key = check_broadcast_content.category) then
    raise exception 'unknown notification category: the categories are %',
      (select string_agg(c.key, ', ' order by c.key) from public.notification_categories c)
      using errcode = '22023';
  end if;
  if title is null or length(title) not between 1 and 200 then
    raise exception 'a notification''s title is 1 to 200 characters' using errcode = '22023';
  end if;
  if action_url is not null and (action_url !~ '^(/|https://)\S*$' or length(action_url) > 2000) then
    raise exception 'an action URL is a path (/...) or an https:// URL, without spaces, at most 2000 characters' using errcode = '22023';
  end if;
end
$$;
comment on function private.check_broadcast_content(text, text, text) is
  'The checks send_notification and broadcast_notification share: the caller''s permission (notifications.manage, or the service role), a known category, a title, an action URL.';

-- Body of public.send_notification.
create function private.send_notification(
  user_ids uuid[], title text, body text default '', category text default 'system', action_url text default null,
  email boolean default false
) returns public.notification_broadcasts
language plpgsql
security definer
set search_path = ''
as $$
declare
  broadcast public.notification_broadcasts;
  unknown_users integer;
begin
  perform private.check_broadcast_content(category, title, action_url);
  if user_ids is null or cardinality(user_ids) not between 1 and 1000 then
    raise exception 'send to 1 to 1000 users; broadcast_notification reaches more' using errcode = '22023';
  end if;
  select count(*) into unknown_users from unnest(user_ids) u
   where u is null or not exists (select from auth.users a where a.id = u);
  if unknown_users > 0 then
    raise exception '% of the users are not users', unknown_users using errcode = '22023';
  end if;
  insert into public.notification_broadcasts (created_by, category, title, body, action_url, email, user_ids, recipients_total)
  values (auth.uid(), category, title, coalesce(body, ''), action_url, coalesce(email, false),
          array(select distinct u from unnest(user_ids) u), (select count(distinct u) from unnest(user_ids) u))
  returning * into broadcast;
  perform private.fan_out_broadcast_batch(broadcast, 1001);
  select * into broadcast from public.notification_broadcasts b where b.id = broadcast.id;
  return broadcast;
end
$$;
comment on function private.send_notification(uuid[], text, text, text, text, boolean) is
  'Body of public.send_notification: checks, records the send and delivers it at once.';
revoke execute on function private.send_notification(uuid[], text, text, text, text, boolean) from public;
grant execute on function private.send_notification(uuid[], text, text, text, text, boolean) to authenticated, service_role;

create function public.send_notification(
  user_ids uuid[], title text, body text default '', category text default 'system', action_url text default null,
  email boolean default false
) returns public.notification_broadcasts
language sql
security invoker
set search_path = ''
as $$ select private.send_notification(user_ids, title, body, category, action_url, email) $$;
comment on function public.send_notification(uuid[], text, text, text, text, boolean) is
  'Admin (notifications.manage): send an in-app notification to chosen users (1 to 1000), at once; with email => true also by e-mail to those whose preferences allow it (critical categories always). Audited.';
revoke execute on function public.send_notification(uuid[], text, text, text, text, boolean) from public;
grant execute on function public.send_notification(uuid[], text, text, text, text, boolean) to authenticated, service_role;

-- Body of public.broadcast_notification.
create function private.broadcast_notification(
  title text, body text default '', category text default 'system', action_url text default null,
  roles text[] default null, locales text[] default null,
  signed_up_before timestamptz default null, signed_up_after timestamptz default null, email boolean default false,
  plans text[] default null
) returns public.notification_broadcasts
language plpgsql
security definer
set search_path = ''
as $$
declare
  broadcast public.notification_broadcasts;
  unknown_roles integer;
  unknown_plans text;
  plan_filter uuid[];
begin
  perform private.check_broadcast_content(category, title, action_url);
  select count(*) into unknown_roles from unnest(coalesce(roles, '{}')) r
   where not exists (select from public.roles x where x.name = r);
  if unknown_roles > 0 then
    raise exception '% of the roles do not exist', unknown_roles using errcode = '22023';
  end if;
  if exists (select from unnest(coalesce(locales, '{}')) l where l is null or l !~ '^[a-z]{2,3}(-[A-Z]{2})?$') then
    raise exception 'a locale is a language code with an optional region (en, pt-BR)' using errcode = '22023';
  end if;
  if signed_up_before is not null and signed_up_after is not null and signed_up_after >= signed_up_before then
    raise exception 'signed_up_after must be before signed_up_before' using errcode = '22023';
  end if;
  if cardinality(plans) > 0 then
    select string_agg(coalesce(x, 'null'), ', ' order by x) into unknown_plans from unnest(plans) x
     where not exists (select from public.plans p where p.slug = x and not p.is_free);
    if unknown_plans is not null then
      raise exception 'unknown plans: % (a plan filter names plans by slug; the free tier has no subscriptions)', unknown_plans
        using errcode = '22023';
    end if;
    plan_filter := array(select p.id from public.plans p where p.slug = any (plans) order by p.id);
  end if;
  insert into public.notification_broadcasts (created_by, category, title, body, action_url, roles, locales,
                                              signed_up_before, signed_up_after, plan_ids, email)
  values (auth.uid(), category, title, coalesce(body, ''), action_url, nullif(roles, '{}'), nullif(locales, '{}'),
          signed_up_before, signed_up_after, plan_filter, coalesce(email, false))
  returning * into broadcast;
  update public.notification_broadcasts b
     set recipients_total = (select count(*) from private.broadcast_audience(broadcast, null, null))
   where b.id = broadcast.id
  returning * into broadcast;
  return broadcast;
end
$$;
comment on function private.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[]) is
  'Body of public.broadcast_notification: checks the content and filter, records the broadcast with its audience''s size; the job fans it out.';
revoke execute on function private.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[]) from public;
grant execute on function private.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[])
  to authenticated, service_role;

create function public.broadcast_notification(
  title text, body text default '', category text default 'system', action_url text default null,
  roles text[] default null, locales text[] default null,
  signed_up_before timestamptz default null, signed_up_after timestamptz default null, email boolean default false,
  plans text[] default null
) returns public.notification_broadcasts
language sql
security invoker
set search_path = ''
as $$ select private.broadcast_notification(title, body, category, action_url, roles, locales, signed_up_before, signed_up_after, email, plans) $$;
comment on function public.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[]) is
  'Admin (notifications.manage): broadcast an in-app notification to every user, or those with one of the roles, one of the locales, signed up before/after a time, with a live subscription (trialing, active, past_due, unpaid, paused) to one of the plans (slugs); with email => true also by e-mail to those whose preferences allow it. Fanned out in batches by a job; read its progress from notification_broadcasts. Audited.';
revoke execute on function public.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[]) from public;
grant execute on function public.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[])
  to authenticated, service_role;

-- ======================================================================================
-- supabase/schemas/70_notifications/80_announcements.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/70_notifications/85_announcement_email.sql
-- ======================================================================================

-- Announcements by e-mail (000 "POST /v1/system/announcements – admin create (in-app banner +
-- optional email)"): a notifications manager e-mails an announcement, once, to every confirmed
-- newsletter subscriber and to every user whose preferences let the 'system' category reach
-- them by e-mail (private.notification_enabled). Each address or user gets it at most once per
-- announcement (the deliveries' idempotency keys), however often this is called.

-- Body of public.email_announcement.
create function private.email_announcement(announcement_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  a public.announcements;
  payload jsonb;
  users_queued integer;
  subscribers_queued integer;
begin
  if not private.has_permission('notifications.manage') then
    raise exception 'only notifications managers e-mail announcements' using errcode = '42501';
  end if;
  select * into a from public.announcements n where n.id = email_announcement.announcement_id;
  if not found then
    raise exception 'announcement % not found', announcement_id using errcode = 'PT404';
  end if;
  if a.ends_at <= now() then
    raise exception 'announcement % ended at %: it is not e-mailed', a.id,
      to_char(a.ends_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') using errcode = 'PT409';
  end if;
  if a.audience <> 'public' then
    raise exception 'announcement % is for % users only: only public announcements are e-mailed', a.id, a.audience
      using errcode = 'PT409';
  end if;
  payload := jsonb_build_object('title', a.title, 'body', a.body);
  insert into public.email_deliveries (recipient_id, category, template_key, payload, idempotency_key)
  select u.id, 'system', 'announcement', payload, 'announcement:' || a.id || ':' || u.id
    from auth.users u
   where u.email is not null and private.notification_enabled(u.id, 'system', 'email')
  on conflict on constraint email_deliveries_idempotency_key_unique do nothing;
  get diagnostics users_queued = row_count;
  insert into public.email_deliveries (to_address, category, template_key, payload, idempotency_key)
  select s.email, 'newsletter', 'announcement', payload, 'announcement:' || a.id || ':' || s.email
    from public.newsletter_subscribers s
   where s.status = 'subscribed' and s.email is not null
     -- A subscriber who is also a user hears it once, as a user.
     and not exists (select from auth.users u where lower(u.email) = s.email
                      and private.notification_enabled(u.id, 'system', 'email'))
  on conflict on constraint email_deliveries_idempotency_key_unique do nothing;
  get diagnostics subscribers_queued = row_count;
  return jsonb_build_object('users', users_queued, 'subscribers', subscribers_queued);
end
$$;
comment on function private.email_announcement(uuid) is
  'Body of public.email_announcement: queues the announcement''s mail for users whose system category is on by e-mail and for confirmed newsletter subscribers, once each; refuses non-managers (42501), unknown (PT404), ended or non-public announcements (PT409).';
revoke execute on function private.email_announcement(uuid) from public;
grant execute on function private.email_announcement(uuid) to authenticated;

create function public.email_announcement(announcement_id uuid) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.email_announcement(announcement_id) $$;
comment on function public.email_announcement(uuid) is
  'E-mail a public announcement to newsletter subscribers and to users who get system notices by e-mail, once each (notifications.manage). Answers how many mails were queued.';
revoke execute on function public.email_announcement(uuid) from public;
grant execute on function public.email_announcement(uuid) to authenticated;
