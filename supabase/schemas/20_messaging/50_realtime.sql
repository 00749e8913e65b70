-- The live side of messaging (000 "WebSocket: join user room, thread rooms; typing, read
-- receipts"; 004 /chat), on Supabase Realtime's private channels as hosted Supabase serves
-- them:
--
--   thread:<thread id>  a private channel per thread. Its participants (who have not left)
--                       join it, hear what the database broadcasts after each commit
--                       (message:new, message:edited, message:deleted, receipt:read,
--                       participant:left), send typing:indicator broadcasts
--                       ({ user_id, is_typing }) and track presence (who is online).
--   user:<user id>      a private channel per user, read by that user alone: thread:created
--                       when they are given a seat, thread:updated when a message arrives in a
--                       thread of theirs (their "user room").
--
-- Who may join and send is decided by the policies on realtime.messages below, which Realtime
-- evaluates with the caller's JWT and realtime.topic() set to the channel's topic (without the
-- realtime: prefix): SELECT at join (broadcast and presence read), INSERT at the first send or
-- presence track. Realtime caches both for the connection until the client sends a new access
-- token, so a participant who leaves keeps hearing the channel until they rejoin or refresh
-- their token. Any participant can send any event name on a thread's topic: clients take
-- messages and receipts from the database broadcasts (which carry meta.id) or the tables, and
-- only typing and presence from other clients.
--
-- The broadcasts are realtime.send (private = true) from triggers, so they are written in the
-- transaction that made the change and delivered by Realtime only once it commits.

-- The thread a private channel's topic names ('thread:<uuid>'), or null for any other topic.
create function private.thread_of_topic(topic text) returns uuid
language sql
immutable
set search_path = ''
as $$
  select case when topic ~ '^thread:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              then substr(topic, 8)::uuid end
$$;
comment on function private.thread_of_topic(text) is
  'The thread id in a Realtime topic named thread:<uuid> (lowercase, as uuid::text prints it), else null.';
grant execute on function private.thread_of_topic(text) to authenticated;

create function private.may_use_thread_topic(topic text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(private.is_active_thread_participant(private.thread_of_topic(topic)), false)
$$;
comment on function private.may_use_thread_topic(text) is
  'Whether the caller may join, and send typing and presence on, this Realtime topic: it names a thread they are in and have not left.';
grant execute on function private.may_use_thread_topic(text) to authenticated;

create policy "Participants join their threads' topics" on realtime.messages for select to authenticated
  using (realtime.messages.extension in ('broadcast', 'presence')
         and (select private.may_use_thread_topic((select realtime.topic()))));

create policy "Participants send typing and presence on their threads' topics" on realtime.messages for insert to authenticated
  with check (realtime.messages.extension in ('broadcast', 'presence')
              and (select private.may_use_thread_topic((select realtime.topic()))));

create policy "Users hear their own user topic" on realtime.messages for select to authenticated
  using (realtime.messages.extension = 'broadcast'
         and (select realtime.topic()) = 'user:' || (select auth.uid())::text);

-- ---------------------------------------------------------------------------------------
-- Broadcasts from the database.

create function private.broadcast_message_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  topic text := 'thread:' || new.thread_id::text;
  recipient uuid;
  message_count integer;
begin
  if tg_op = 'INSERT' then
    perform realtime.send(
      jsonb_build_object('message_id', new.id, 'thread_id', new.thread_id, 'seq', new.seq, 'sender_id', new.sender_id,
                         'content', new.body, 'attachments', to_jsonb(new.attachments), 'timestamp', new.created_at),
      'message:new', topic, true);
    select count(*)::integer into message_count from public.messages m where m.thread_id = new.thread_id;
    for recipient in
      select tp.user_id from public.thread_participants tp
       where tp.thread_id = new.thread_id and tp.left_at is null and tp.user_id is distinct from new.sender_id
    loop
      perform realtime.send(
        jsonb_build_object('thread_id', new.thread_id, 'message_count', message_count, 'last_message_id', new.id,
                           'last_message_at', new.created_at),
        'thread:updated', 'user:' || recipient::text, true);
    end loop;
  elsif new.deleted_at is not null and old.deleted_at is null then
    perform realtime.send(
      jsonb_build_object('message_id', new.id, 'thread_id', new.thread_id, 'seq', new.seq, 'deleted_at', new.deleted_at),
      'message:deleted', topic, true);
  elsif new.body is distinct from old.body then
    perform realtime.send(
      jsonb_build_object('message_id', new.id, 'thread_id', new.thread_id, 'seq', new.seq, 'new_content', new.body,
                         'edited_at', new.edited_at),
      'message:edited', topic, true);
  end if;
  return null;
end
$$;
comment on function private.broadcast_message_change() is
  'Broadcasts a new, edited or deleted message on its thread''s private topic (message:new, message:edited, message:deleted) and thread:updated on the other participants'' user topics.';

create trigger messages_broadcast after insert or update on public.messages
  for each row execute function private.broadcast_message_change();

create function private.broadcast_seat_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    perform realtime.send(jsonb_build_object('thread_id', new.thread_id, 'first_message_id', null),
                          'thread:created', 'user:' || new.user_id::text, true);
    return null;
  end if;
  if new.last_read_message_id is distinct from old.last_read_message_id and new.last_read_message_id is not null then
    perform realtime.send(
      jsonb_build_object('thread_id', new.thread_id, 'user_id', new.user_id, 'message_id', new.last_read_message_id,
                         'seq', (select m.seq from public.messages m where m.id = new.last_read_message_id),
                         'read_at', new.last_read_at),
      'receipt:read', 'thread:' || new.thread_id::text, true);
  end if;
  if new.left_at is not null and old.left_at is null then
    perform realtime.send(jsonb_build_object('thread_id', new.thread_id, 'user_id', new.user_id, 'left_at', new.left_at),
                          'participant:left', 'thread:' || new.thread_id::text, true);
  end if;
  return null;
end
$$;
comment on function private.broadcast_seat_change() is
  'Broadcasts thread:created on a new participant''s user topic, and receipt:read and participant:left on the thread''s topic.';

create trigger thread_participants_broadcast after insert or update on public.thread_participants
  for each row execute function private.broadcast_seat_change();
