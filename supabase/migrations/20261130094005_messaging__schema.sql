-- The messaging domain's schema at the rebaseline: every file of supabase/schemas/20_messaging/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/20_messaging/10_threads.sql
-- ======================================================================================

-- Message threads (000 "Messaging"): a conversation between participants, optionally about a
-- project or an order. This file holds the thread and who is in it; bid acceptance opens one
-- for designer and tailor (private.open_thread). Creating, leaving and muting are in
-- 15_membership.sql, messages in 20_messages.sql, read receipts in 30_read_receipts.sql, the
-- live side in 50_realtime.sql.

create table public.threads (
  id uuid primary key default gen_random_uuid(),
  subject text not null default '' constraint threads_subject_length check (char_length(subject) <= 200),
  project_id uuid,
  order_id uuid,
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  last_message_at timestamptz
);
comment on table public.threads is 'Conversations (000 /threads). Visible to their participants only.';
comment on column public.threads.project_id is
  'The project the thread is about, if any; its foreign key is declared with projects (marketplace sits above messaging).';
comment on column public.threads.order_id is
  'The order the thread is about, if any (set by private.create_order for the order''s own thread); its foreign key is declared with orders.';
comment on column public.threads.last_message_at is 'When the newest message was posted (private.post_message keeps it), for ordering a user''s threads.';
create index threads_project_idx on public.threads (project_id);
create index threads_order_idx on public.threads (order_id) where order_id is not null;
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index threads_created_by_idx on public.threads (created_by) where created_by is not null;

create table public.thread_participants (
  thread_id uuid not null references public.threads (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  joined_at timestamptz not null default now(),
  last_read_at timestamptz,
  last_read_message_id uuid,
  left_at timestamptz,
  muted boolean not null default false,
  primary key (thread_id, user_id)
);
comment on table public.thread_participants is
  'Who is in a thread (a seat per user), their read receipt, whether they left and whether they muted it.';
comment on column public.thread_participants.last_read_message_id is
  'The newest message the participant has read (their read receipt); moved forward only, by public.mark_thread_read. Its foreign key is declared with messages.';
comment on column public.thread_participants.last_read_at is 'When the participant last moved their read receipt.';
comment on column public.thread_participants.left_at is
  'When the participant left (public.leave_thread): they keep the messages up to then, and see, post and hear nothing after.';
comment on column public.thread_participants.muted is
  'The participant muted the thread: they are left out of its message.created events (no notifications); they still read it.';
create index thread_participants_user_idx on public.thread_participants (user_id, thread_id);

create function private.is_thread_participant(thread uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.thread_participants tp where tp.thread_id = thread and tp.user_id = (select auth.uid()))
$$;
comment on function private.is_thread_participant(uuid) is
  'Whether the caller has a seat in the thread, left or not (a participant who left still reads the history). Security definer so participant policies do not recurse.';
grant execute on function private.is_thread_participant(uuid) to authenticated;

create function private.is_active_thread_participant(thread uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.thread_participants tp
                  where tp.thread_id = thread and tp.user_id = (select auth.uid()) and tp.left_at is null)
$$;
comment on function private.is_active_thread_participant(uuid) is
  'Whether the caller is in the thread and has not left it: who may post, upload attachments and join its live topic.';
grant execute on function private.is_active_thread_participant(uuid) to authenticated;

alter table public.threads enable row level security;
alter table public.thread_participants enable row level security;
grant select on public.threads, public.thread_participants to authenticated;
grant update (muted) on public.thread_participants to authenticated;
grant all on public.threads, public.thread_participants to service_role;

create policy "Participants read their threads" on public.threads for select to authenticated
  using (private.is_thread_participant(id));
create policy "Participants see who else is in their threads" on public.thread_participants for select to authenticated
  using (private.is_thread_participant(thread_id));
-- Read receipts move through public.mark_thread_read (forward only), leaving through
-- public.leave_thread: the only column a participant writes directly is muted.
create policy "Participants mute their own seat" on public.thread_participants for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

-- Opens a thread between the given users; used by the functions that create deals
-- (private.create_order) and by public.create_thread. Who may sit in a thread about a project
-- or an order is checked by the marketplace's trigger on thread_participants
-- (supabase/schemas/30_marketplace/95_deal_threads.sql).
create function private.open_thread(subject text, participants uuid[], project uuid default null, about_order uuid default null)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  thread uuid;
begin
  insert into public.threads (subject, project_id, order_id, created_by)
  values (subject, project, about_order, auth.uid()) returning id into thread;
  insert into public.thread_participants (thread_id, user_id)
  select thread, p from (select distinct unnest(participants) p) ps where p is not null;
  return thread;
end
$$;
comment on function private.open_thread(text, uuid[], uuid, uuid) is
  'Creates a thread with its participants in one step (optionally about a project or an order).';

-- ======================================================================================
-- supabase/schemas/20_messaging/15_membership.sql
-- ======================================================================================

-- Thread membership (000 POST /v1/threads): a signed-in user opens a thread with the people
-- they name, optionally about a project or an order; a participant leaves (keeping the
-- history up to then) or mutes a thread (a column of their own seat, 10_threads.sql). Who may
-- sit in a thread about a project (its owner and its bidders) or an order (its two parties) is
-- the marketplace's rule, checked by its trigger on thread_participants
-- (supabase/schemas/30_marketplace/95_deal_threads.sql), so it holds for every way in.

create function private.create_thread(participants uuid[], subject text default '', project_id uuid default null,
                                      order_id uuid default null)
returns public.threads
language plpgsql
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
  others uuid[];
  unknown uuid;
  new_thread uuid;
  thread public.threads;
begin
  if me is null then
    raise exception 'create_thread needs a signed-in user' using errcode = '42501';
  end if;
  perform private.assert_not_anonymous('open a message thread');
  if project_id is not null and order_id is not null then
    raise exception 'a thread is about a project or an order, not both' using errcode = '22023';
  end if;
  others := array(select distinct p from unnest(coalesce(participants, '{}')) p where p is not null and p <> me);
  if cardinality(others) = 0 then
    raise exception 'a thread needs at least one participant besides you' using errcode = '22023';
  end if;
  if cardinality(others) > 49 then
    raise exception 'a thread has at most 50 participants, % were named', cardinality(others) + 1 using errcode = '22023';
  end if;
  select o into unknown from unnest(others) o
   where not exists (select 1 from public.profiles pr where pr.id = o) limit 1;
  if unknown is not null then
    raise exception 'user % not found', unknown using errcode = 'PT404';
  end if;
  if char_length(coalesce(create_thread.subject, '')) > 200 then
    raise exception 'a thread''s subject is at most 200 characters' using errcode = '22023';
  end if;
  new_thread := private.open_thread(coalesce(create_thread.subject, ''), me || others, create_thread.project_id,
                                    create_thread.order_id);
  select t.* into thread from public.threads t where t.id = new_thread;
  return thread;
end
$$;
comment on function private.create_thread(uuid[], text, uuid, uuid) is
  'The body of the client RPC public.create_thread: security definer, in private so the API does not expose it.';
grant execute on function private.create_thread(uuid[], text, uuid, uuid) to authenticated;

create function public.create_thread(participants uuid[], subject text default '', project_id uuid default null,
                                     order_id uuid default null)
returns public.threads
language sql
security invoker
set search_path = ''
as $$
  select private.create_thread(participants, subject, project_id, order_id)
$$;
comment on function public.create_thread(uuid[], text, uuid, uuid) is
  'Opens a thread between the caller and the users named (000 POST /v1/threads), optionally about a project (its owner and bidders only) or an order (its two parties only). 22023 for no one else, more than 50 people, both a project and an order; PT404 for an unknown user, project or order; 42501 for someone the project or order does not admit.';
grant execute on function public.create_thread(uuid[], text, uuid, uuid) to authenticated;

create function private.leave_thread(thread_id uuid) returns public.thread_participants
language plpgsql
security definer
set search_path = ''
as $$
declare
  seat public.thread_participants;
begin
  select tp.* into seat from public.thread_participants tp
   where tp.thread_id = leave_thread.thread_id and tp.user_id = auth.uid()
   for update;
  if not found then
    raise exception 'thread % not found', thread_id using errcode = 'PT404';
  end if;
  if seat.left_at is not null then
    return seat;
  end if;
  update public.thread_participants tp set left_at = now()
   where tp.thread_id = leave_thread.thread_id and tp.user_id = auth.uid()
  returning tp.* into seat;
  return seat;
end
$$;
comment on function private.leave_thread(uuid) is
  'The body of the client RPC public.leave_thread: security definer, in private so the API does not expose it.';
grant execute on function private.leave_thread(uuid) to authenticated;

create function public.leave_thread(thread_id uuid) returns public.thread_participants
language sql
security invoker
set search_path = ''
as $$
  select private.leave_thread(thread_id)
$$;
comment on function public.leave_thread(uuid) is
  'The caller leaves a thread: they keep its messages up to now and see, post and hear nothing after (their live topic is closed to them at their next join). Leaving again returns the same seat. PT404 when the caller has no seat.';
grant execute on function public.leave_thread(uuid) to authenticated;

-- ======================================================================================
-- supabase/schemas/20_messaging/20_messages.sql
-- ======================================================================================

-- Messages (000 GET/POST /v1/threads/:threadId/messages; 004 /chat message:new, message:edited,
-- message:deleted): text and attachments a participant posts into a thread, edited by their
-- sender within the message_edit_window_minutes setting, deleted softly (the row stays, its
-- content is removed). Participants read them under RLS, newest first by seq with a cursor
-- (.lt('seq', cursor)); a participant who left reads those posted up to their leaving.
-- Attachments are objects in the message-attachments bucket under <thread id>/<sender id>/
-- (60_message_attachments_bucket.sql). Writes go through the client RPCs below.

create table public.messages (
  id uuid primary key default gen_random_uuid(),
  seq bigint generated always as identity constraint messages_seq_unique unique,
  thread_id uuid not null references public.threads (id) on delete cascade,
  sender_id uuid references public.profiles (id) on delete set null,
  body text not null default '' constraint messages_body_length check (char_length(body) <= 4000),
  attachments text[] not null default '{}' constraint messages_attachments_count check (cardinality(attachments) <= 10),
  created_at timestamptz not null default now(),
  edited_at timestamptz,
  deleted_at timestamptz,
  constraint messages_deleted_have_no_content check (deleted_at is null or (body = '' and attachments = '{}'))
);
comment on table public.messages is
  'Messages of a thread (000 /v1/threads/:threadId/messages). Read by participants (up to their leaving); written through post_message, edit_message and delete_message.';
comment on column public.messages.seq is
  'The message''s place in the order of all messages: pages go backwards from the newest with .lt(''seq'', cursor); read receipts compare it.';
comment on column public.messages.attachments is
  'Object names in the message-attachments bucket, each under <thread id>/<sender id>/, uploaded by the sender before posting.';
comment on column public.messages.deleted_at is 'Set by delete_message: the row stays (the thread keeps its shape) and its body and attachments are removed.';
create index messages_thread_seq_idx on public.messages (thread_id, seq desc);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index messages_sender_idx on public.messages (sender_id) where sender_id is not null;
-- The attachments bucket's read policy asks which live message lists an object.
create index messages_attachments_idx on public.messages using gin (attachments);

alter table public.thread_participants add constraint thread_participants_last_read_message_id_fkey
  foreign key (last_read_message_id) references public.messages (id) on delete set null;
create index thread_participants_last_read_message_idx on public.thread_participants (last_read_message_id)
  where last_read_message_id is not null;

alter table public.messages enable row level security;
grant select on public.messages to authenticated;
grant all on public.messages to service_role;

create policy "Participants read their threads' messages, up to when they left" on public.messages for select to authenticated
  using (exists (select 1 from public.thread_participants tp
                  where tp.thread_id = messages.thread_id and tp.user_id = (select auth.uid())
                    and (tp.left_at is null or messages.created_at <= tp.left_at)));

-- ---------------------------------------------------------------------------------------
-- Checks shared by posting and editing.

-- The caller's seat in a thread they may post in, or a refusal: PT404 for a thread they are
-- not in (as for one that does not exist), PT409 once they left.
create function private.posting_seat(thread uuid) returns public.thread_participants
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  seat public.thread_participants;
begin
  select tp.* into seat from public.thread_participants tp where tp.thread_id = thread and tp.user_id = auth.uid();
  if not found then
    raise exception 'thread % not found', thread using errcode = 'PT404';
  end if;
  if seat.left_at is not null then
    raise exception 'you left thread %: you can no longer post in it', thread using errcode = 'PT409';
  end if;
  return seat;
end
$$;
comment on function private.posting_seat(uuid) is
  'The caller''s seat in a thread they may post in; PT404 when they have none, PT409 when they left.';

create function private.checked_message_body(body text, has_attachments boolean) returns text
language plpgsql
immutable
set search_path = ''
as $$
begin
  if char_length(coalesce(body, '')) > 4000 then
    raise exception 'a message is at most 4000 characters, this one has %', char_length(body) using errcode = '22023';
  end if;
  if btrim(coalesce(body, ''), E' \t\r\n') = '' and not has_attachments then
    raise exception 'a message needs text or an attachment' using errcode = '22023';
  end if;
  return coalesce(body, '');
end
$$;
comment on function private.checked_message_body(text, boolean) is
  'The body of a message as stored, or 22023: over 4000 characters, or blank without attachments.';

-- ---------------------------------------------------------------------------------------
-- Posting.

create function private.post_message(thread_id uuid, body text default '', attachments text[] default '{}')
returns public.messages
language plpgsql
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
  files text[] := coalesce(attachments, '{}');
  file text;
  n integer := 0;
  message public.messages;
begin
  perform private.posting_seat(thread_id);
  if cardinality(files) > 10 then
    raise exception 'a message has at most 10 attachments, % were given', cardinality(files) using errcode = '22023';
  end if;
  if cardinality(files) <> (select count(distinct f) from unnest(files) f) then
    raise exception 'a message lists each attachment once' using errcode = '22023';
  end if;
  foreach file in array files loop
    n := n + 1;
    if file is null or split_part(file, '/', 1) <> thread_id::text then
      raise exception 'attachment % is not a file of thread %: upload it under %/%/ first', n, thread_id, thread_id, me
        using errcode = '22023';
    end if;
    if split_part(file, '/', 2) <> me::text
       or not exists (select 1 from storage.objects o
                       where o.bucket_id = 'message-attachments' and o.name = file and o.owner_id = me::text) then
      raise exception 'attachment % is not a file you uploaded to thread %: upload it under %/%/ first', n, thread_id, thread_id, me
        using errcode = '22023';
    end if;
  end loop;
  insert into public.messages (thread_id, sender_id, body, attachments)
  values (thread_id, me, private.checked_message_body(body, cardinality(files) > 0), files)
  returning * into message;
  update public.threads t set last_message_at = greatest(t.last_message_at, message.created_at) where t.id = thread_id;
  perform private.emit_event('message.created', 'message', message.id,
    array(select tp.user_id from public.thread_participants tp
           where tp.thread_id = post_message.thread_id and tp.left_at is null and not tp.muted),
    jsonb_build_object('thread_id', thread_id, 'seq', message.seq, 'attachments', cardinality(files)), me);
  return message;
end
$$;
comment on function private.post_message(uuid, text, text[]) is
  'The body of the client RPC public.post_message: security definer, in private so the API does not expose it.';
grant execute on function private.post_message(uuid, text, text[]) to authenticated;

create function public.post_message(thread_id uuid, body text default '', attachments text[] default '{}')
returns public.messages
language sql
security invoker
set search_path = ''
as $$
  select private.post_message(thread_id, body, attachments)
$$;
comment on function public.post_message(uuid, text, text[]) is
  'Posts a message into a thread the caller is in (000 POST /v1/threads/:threadId/messages): text up to 4000 characters and up to 10 attachments already uploaded by the caller under message-attachments/<thread id>/<caller id>/. Emits message.created for the other participants who have not muted it; participants on the thread''s topic receive message:new. PT404 for a thread the caller is not in, PT409 once they left, 22023 for an empty or oversize message or a file that is not theirs in this thread.';
grant execute on function public.post_message(uuid, text, text[]) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Editing and deleting: the sender's own messages.

-- The message the caller may change, locked, or a refusal.
create function private.own_message_for_change(message_id uuid, action text) returns public.messages
language plpgsql
security definer
set search_path = ''
as $$
declare
  message public.messages;
begin
  select m.* into message from public.messages m
   where m.id = message_id
     and exists (select 1 from public.thread_participants tp
                  where tp.thread_id = m.thread_id and tp.user_id = auth.uid()
                    and (tp.left_at is null or m.created_at <= tp.left_at))
   for update of m;
  if not found then
    raise exception 'message % not found', message_id using errcode = 'PT404';
  end if;
  if message.sender_id is distinct from auth.uid() then
    raise exception 'message % was sent by someone else: only its sender may % it', message_id, action using errcode = '42501';
  end if;
  if message.deleted_at is not null then
    raise exception 'message % is deleted: it cannot be %', message_id, case action when 'edit' then 'edited' else 'deleted again' end
      using errcode = 'PT409';
  end if;
  return message;
end
$$;
comment on function private.own_message_for_change(uuid, text) is
  'The caller''s own live message, locked for an edit or a delete; PT404 when they cannot read it, 42501 when someone else sent it, PT409 when it is deleted.';

create function private.edit_message(message_id uuid, body text) returns public.messages
language plpgsql
security definer
set search_path = ''
as $$
declare
  message public.messages := private.own_message_for_change(message_id, 'edit');
  window_minutes integer := private.message_edit_window_minutes();
begin
  perform private.posting_seat(message.thread_id);
  if message.created_at < now() - make_interval(mins => window_minutes) then
    raise exception 'message % was sent more than % minutes ago: it can no longer be edited', message_id, window_minutes
      using errcode = 'PT409';
  end if;
  update public.messages m
     set body = private.checked_message_body(edit_message.body, cardinality(m.attachments) > 0), edited_at = now()
   where m.id = message_id
  returning m.* into message;
  return message;
end
$$;
comment on function private.edit_message(uuid, text) is
  'The body of the client RPC public.edit_message: security definer, in private so the API does not expose it.';
grant execute on function private.edit_message(uuid, text) to authenticated;

create function public.edit_message(message_id uuid, body text) returns public.messages
language sql
security invoker
set search_path = ''
as $$
  select private.edit_message(message_id, body)
$$;
comment on function public.edit_message(uuid, text) is
  'The sender replaces the text of their message within the message_edit_window_minutes setting (004 message:edited). PT404 for a message the caller cannot read, 42501 for someone else''s, PT409 after the window, once deleted or once the caller left; 22023 for an empty or oversize text.';
grant execute on function public.edit_message(uuid, text) to authenticated;

create function private.delete_message(message_id uuid) returns public.messages
language plpgsql
security definer
set search_path = ''
as $$
declare
  message public.messages := private.own_message_for_change(message_id, 'delete');
begin
  update public.messages m set body = '', attachments = '{}', deleted_at = now()
   where m.id = message_id
  returning m.* into message;
  return message;
end
$$;
comment on function private.delete_message(uuid) is
  'The body of the client RPC public.delete_message: security definer, in private so the API does not expose it.';
grant execute on function private.delete_message(uuid) to authenticated;

create function public.delete_message(message_id uuid) returns public.messages
language sql
security invoker
set search_path = ''
as $$
  select private.delete_message(message_id)
$$;
comment on function public.delete_message(uuid) is
  'The sender deletes their message (004 message:deleted): the row stays with its text and attachments removed and deleted_at set; the files themselves the sender removes through Storage (participants can no longer read them). PT404 for a message the caller cannot read, 42501 for someone else''s, PT409 when already deleted.';
grant execute on function public.delete_message(uuid) to authenticated;

-- ======================================================================================
-- supabase/schemas/20_messaging/30_read_receipts.sql
-- ======================================================================================

-- Read receipts (000 "WebSocket: … read receipts"): each participant's newest read message,
-- thread_participants.last_read_message_id, moved forward only. Two marks racing (two tabs, a
-- late request) never move it back: the update's condition compares the stored receipt's seq
-- with the new one, and Postgres re-evaluates it on the row a concurrent update left. The other
-- participants hear of it on the thread's topic (receipt:read, 50_realtime.sql).

create function private.mark_thread_read(thread_id uuid, message_id uuid) returns public.thread_participants
language plpgsql
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
  seat public.thread_participants;
  message public.messages;
begin
  select tp.* into seat from public.thread_participants tp where tp.thread_id = mark_thread_read.thread_id and tp.user_id = me;
  if not found then
    raise exception 'thread % not found', thread_id using errcode = 'PT404';
  end if;
  select m.* into message from public.messages m
   where m.id = message_id and m.thread_id = mark_thread_read.thread_id
     and (seat.left_at is null or m.created_at <= seat.left_at);
  if not found then
    raise exception 'message % not found in thread %', message_id, thread_id using errcode = 'PT404';
  end if;
  update public.thread_participants tp set last_read_message_id = message.id, last_read_at = now()
   where tp.thread_id = mark_thread_read.thread_id and tp.user_id = me
     and (tp.last_read_message_id is null
          or (select r.seq from public.messages r where r.id = tp.last_read_message_id) < message.seq)
  returning tp.* into seat;
  if not found then
    -- Already at or past this message: the receipt stays where it is.
    select tp.* into seat from public.thread_participants tp where tp.thread_id = mark_thread_read.thread_id and tp.user_id = me;
  end if;
  return seat;
end
$$;
comment on function private.mark_thread_read(uuid, uuid) is
  'The body of the client RPC public.mark_thread_read: security definer, in private so the API does not expose it.';
grant execute on function private.mark_thread_read(uuid, uuid) to authenticated;

create function public.mark_thread_read(thread_id uuid, message_id uuid) returns public.thread_participants
language sql
security invoker
set search_path = ''
as $$
  select private.mark_thread_read(thread_id, message_id)
$$;
comment on function public.mark_thread_read(uuid, uuid) is
  'The caller has read the thread up to this message: their read receipt moves forward to it (never back; an older message leaves it as it is) and the other participants on the thread''s topic receive receipt:read. Returns the caller''s seat. PT404 for a thread the caller is not in or a message not in it (or after they left).';
grant execute on function public.mark_thread_read(uuid, uuid) to authenticated;

-- ======================================================================================
-- supabase/schemas/20_messaging/40_thread_list.sql
-- ======================================================================================

-- The caller's threads (000 GET /v1/threads?mine=true): each with its newest message, the
-- number of messages from others after the caller's read receipt, and its participants with
-- their receipts, most recently active first, a page at a time (keyset: pass the last row's
-- activity_at and thread_id as the cursor). Security invoker: it reads only what the tables'
-- policies show the caller (a participant who left sees the thread as it was when they left).

create function public.list_my_threads(cursor_at timestamptz default null, cursor_id uuid default null,
                                       page_size integer default 20)
returns table (
  thread_id uuid, subject text, project_id uuid, order_id uuid, created_at timestamptz, activity_at timestamptz,
  left_at timestamptz, muted boolean, last_read_message_id uuid, unread_count integer, last_message jsonb,
  participants jsonb
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if page_size is null or page_size not between 1 and 100 then
    raise exception 'page_size is between 1 and 100' using errcode = '22023';
  end if;
  if (cursor_at is null) <> (cursor_id is null) then
    raise exception 'the cursor is the last row''s activity_at and thread_id, both or neither' using errcode = '22023';
  end if;
  return query
  select t.id, t.subject, t.project_id, t.order_id, t.created_at, coalesce(lm.created_at, t.created_at),
         me.left_at, me.muted, me.last_read_message_id,
         (select count(*)::integer from public.messages m
           where m.thread_id = t.id and m.deleted_at is null and m.sender_id is distinct from me.user_id
             and m.seq > coalesce((select r.seq from public.messages r where r.id = me.last_read_message_id), 0)),
         case when lm.id is not null then to_jsonb(lm) end,
         (select jsonb_agg(jsonb_build_object('user_id', tp.user_id, 'joined_at', tp.joined_at, 'left_at', tp.left_at,
                                              'last_read_message_id', tp.last_read_message_id)
                           order by tp.joined_at, tp.user_id)
            from public.thread_participants tp where tp.thread_id = t.id)
    from public.thread_participants me
    join public.threads t on t.id = me.thread_id
    left join lateral (select m.* from public.messages m where m.thread_id = t.id order by m.seq desc limit 1) lm on true
   where me.user_id = (select auth.uid())
     and (cursor_at is null
          or (coalesce(lm.created_at, t.created_at), t.id) < (cursor_at, cursor_id))
   order by coalesce(lm.created_at, t.created_at) desc, t.id desc
   limit page_size;
end
$$;
comment on function public.list_my_threads(timestamptz, uuid, integer) is
  'The caller''s threads, most recently active first (000 GET /v1/threads?mine=true): subject, what it is about, the caller''s seat (left_at, muted, read receipt), unread_count (others'' live messages after the receipt), last_message and participants with their receipts. page_size 1 to 100; the next page starts after the last row''s (activity_at, thread_id).';
grant execute on function public.list_my_threads(timestamptz, uuid, integer) to authenticated;

-- ======================================================================================
-- supabase/schemas/20_messaging/50_realtime.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/20_messaging/60_message_attachments_bucket.sql
-- ======================================================================================

-- Message attachments: a private bucket, <thread id>/<uploader id>/<file>. A participant who
-- has not left uploads into their own folder of the thread, then names the objects in
-- post_message. An attachment is read by the thread's participants while a live message lists
-- it (a participant who left: a message posted before they left), and by its uploader;
-- nobody else, whatever they know of the path. Storage itself refuses uploads over 10 MiB and
-- anything but PNG, JPEG, WebP and GIF images and PDF; the insert policy holds copies to the
-- same rule (private.object_content_allowed, supabase/schemas/00_platform/80_storage_content.sql).
-- Nobody replaces an object (no update policy); the uploader deletes their own.

-- The thread an attachment's name is filed under (<thread id>/…), or null.
create function private.thread_of_object(object_name text) returns uuid
language sql
immutable
set search_path = ''
as $$
  select case when split_part(object_name, '/', 1) ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              then split_part(object_name, '/', 1)::uuid end
$$;
comment on function private.thread_of_object(text) is
  'The thread id a message-attachments object is filed under (its first folder), or null when that is not a uuid.';
grant execute on function private.thread_of_object(text) to authenticated, service_role;

create function private.may_read_message_attachment(object_name text, object_owner text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.thread_participants tp
     where tp.thread_id = private.thread_of_object(object_name) and tp.user_id = (select auth.uid())
       and (object_owner = tp.user_id::text
            or exists (select 1 from public.messages m
                        where m.thread_id = tp.thread_id and m.attachments @> array[object_name]
                          and m.deleted_at is null and (tp.left_at is null or m.created_at <= tp.left_at))))
$$;
comment on function private.may_read_message_attachment(text, text) is
  'Whether the caller may read a message-attachments object: they uploaded it and have a seat in its thread, or a live message they can read lists it.';
grant execute on function private.may_read_message_attachment(text, text) to authenticated;

create policy "Participants read the attachments of their threads' messages"
  on storage.objects for select to authenticated
  using (bucket_id = 'message-attachments' and private.may_read_message_attachment(name, owner_id));

create policy "Participants upload attachments into their own folder of a thread"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'message-attachments'
              and (storage.foldername(name))[2] = (select auth.uid())::text
              and private.is_active_thread_participant(private.thread_of_object(name))
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Uploaders delete their own attachments"
  on storage.objects for delete to authenticated
  using (bucket_id = 'message-attachments' and owner_id = (select auth.uid())::text
         and (storage.foldername(name))[2] = (select auth.uid())::text);
