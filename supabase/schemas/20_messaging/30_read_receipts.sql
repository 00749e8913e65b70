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
