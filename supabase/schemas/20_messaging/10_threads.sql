-- Message threads (000 "Messaging"): a conversation between participants, optionally about a
-- project or order. This file holds the thread and who is in it, which bid acceptance
-- needs (it opens a thread for designer and tailor); messages, typing and read receipts
-- build on it in the messaging feature.

create table public.threads (
  id uuid primary key default gen_random_uuid(),
  subject text not null default '' constraint threads_subject_length check (char_length(subject) <= 200),
  project_id uuid,
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  last_message_at timestamptz
);
comment on table public.threads is 'Conversations (000 /threads). Visible to their participants only.';
comment on column public.threads.project_id is
  'The project the thread is about, if any; its foreign key is declared with projects (marketplace sits above messaging).';
create index threads_project_idx on public.threads (project_id);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index threads_created_by_idx on public.threads (created_by) where created_by is not null;

create table public.thread_participants (
  thread_id uuid not null references public.threads (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  joined_at timestamptz not null default now(),
  last_read_at timestamptz,
  primary key (thread_id, user_id)
);
comment on table public.thread_participants is 'Who is in a thread; last_read_at carries read receipts.';
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
  'Whether the caller is in the thread. Security definer so participant policies do not recurse.';
grant execute on function private.is_thread_participant(uuid) to authenticated;

alter table public.threads enable row level security;
alter table public.thread_participants enable row level security;
grant select on public.threads, public.thread_participants to authenticated;
grant update (last_read_at) on public.thread_participants to authenticated;
grant all on public.threads, public.thread_participants to service_role;

create policy "Participants read their threads" on public.threads for select to authenticated
  using (private.is_thread_participant(id));
create policy "Participants see who else is in their threads" on public.thread_participants for select to authenticated
  using (private.is_thread_participant(thread_id));
create policy "Participants mark their threads read" on public.thread_participants for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

-- Opens a thread between the given users; used by functions that create deals.
create function private.open_thread(subject text, participants uuid[], project uuid default null) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  thread uuid;
begin
  insert into public.threads (subject, project_id, created_by) values (subject, project, auth.uid()) returning id into thread;
  insert into public.thread_participants (thread_id, user_id)
  select thread, p from (select distinct unnest(participants) p) ps where p is not null;
  return thread;
end
$$;
comment on function private.open_thread(text, uuid[], uuid) is 'Creates a thread with its participants in one step.';
