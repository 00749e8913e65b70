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
