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
