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
