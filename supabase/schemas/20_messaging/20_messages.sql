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
