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
