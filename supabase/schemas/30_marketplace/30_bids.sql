-- Bids (000 "Bids"): a tailor's offer on an open project, one per tailor and project. The
-- designer sees every bid on their project, a tailor only their own. The tailor edits or
-- withdraws a pending bid; the designer rejects it, or accepts it through accept_bid(), which
-- takes the amount and duration the designer read and refuses if the bid has changed since
-- (ops.accept_bid, 50_orders.sql). An edit and an acceptance take the bid's row lock, and an
-- edit of a bid that is no longer pending is refused, so a bid cannot be re-priced under an
-- acceptance.

create table public.bids (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  tailor_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  amount bigint not null,
  duration_days integer not null constraint bids_duration_range check (duration_days between 1 and 365),
  message text not null default '' constraint bids_message_length check (char_length(message) <= 5000),
  status text not null default 'pending' constraint bids_status check (status in ('pending', 'accepted', 'rejected', 'withdrawn')),
  decided_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint bids_one_per_tailor unique (project_id, tailor_id),
  constraint bids_decided_consistent check ((status = 'pending') = (decided_at is null))
);
comment on table public.bids is
  'Tailors'' offers on projects (000 /projects/:id/bids, /bids). pending -> accepted | rejected | withdrawn, through functions only.';
comment on column public.bids.amount is 'Minor units of the project''s currency (a bid has no currency of its own).';
comment on column public.bids.status is 'Not client-writable: withdraw_bid(), reject_bid(), close_project() and accept_bid() move it.';

create index bids_tailor_idx on public.bids (tailor_id, status, created_at desc);
create index bids_project_status_idx on public.bids (project_id, status, created_at desc);

-- Whether the caller owns the project / has bid on it. Security definer so the projects and
-- bids policies can refer to each other without recursing through each other's policies.
create function private.owns_project(project uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.projects p where p.id = project and p.owner_id = (select auth.uid()))
$$;
create function private.has_bid_on(project uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.bids b where b.project_id = project and b.tailor_id = (select auth.uid()))
$$;
grant execute on function private.owns_project(uuid), private.has_bid_on(uuid) to authenticated;

-- New bids and edits: only on open projects, never on one's own, within the limits of the
-- project's currency; an edit only while the bid is pending (the update policy lets the tailor
-- reach their decided bids so that this says why). Security definer: a closed project is
-- invisible to the bidder, but the error must still say why.
create function private.check_bid() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  project public.projects;
begin
  if tg_op = 'UPDATE' and old.status <> 'pending' then
    raise exception 'bid % is %: only a pending bid can be edited', old.id, old.status using errcode = 'PT409';
  end if;
  select * into project from public.projects p where p.id = new.project_id;
  if not found then
    raise exception 'project % not found', new.project_id using errcode = 'PT404';
  end if;
  if tg_op = 'INSERT' and project.owner_id = new.tailor_id then
    raise exception 'you cannot bid on your own project' using errcode = '42501';
  end if;
  if project.status <> 'open' then
    raise exception 'project % is %: it no longer takes bids', project.id, project.status using errcode = 'PT409';
  end if;
  perform private.assert_money(new.amount, project.currency, 'bid amount');
  return new;
end
$$;

-- Named to fire before bids_check: an anonymous caller is told why, whatever the row.
create trigger bids_anonymous_refused before insert on public.bids
  for each row execute function private.refuse_anonymous('bid on projects');
create trigger bids_check before insert or update of amount, duration_days, message on public.bids
  for each row execute function private.check_bid();
create trigger bids_touch_updated_at before update on public.bids
  for each row execute function private.touch_updated_at();

create function private.count_project_bids() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.projects set bid_count = bid_count + 1 where id = new.project_id;
  return null;
end
$$;
create trigger bids_count after insert on public.bids
  for each row execute function private.count_project_bids();

alter table public.bids enable row level security;
grant select on public.bids to authenticated;
grant insert (project_id, amount, duration_days, message), update (amount, duration_days, message) on public.bids to authenticated;
grant all on public.bids to service_role;

create policy "Tailors read their bids, owners the bids on their projects, managers all"
  on public.bids for select to authenticated
  using (tailor_id = (select auth.uid()) or private.owns_project(project_id) or (select private.has_permission('marketplace.manage')));
create policy "Tailors bid for themselves" on public.bids for insert to authenticated
  with check (tailor_id = (select auth.uid()));
-- The tailor reaches all their bids; private.check_bid refuses an edit of one that is no
-- longer pending (PT409), so a tailor whose edit lost the race to an acceptance learns why.
create policy "Tailors edit their pending bids" on public.bids for update to authenticated
  using (tailor_id = (select auth.uid()))
  with check (tailor_id = (select auth.uid()) and status = 'pending');

-- The projects read policy for signed-in users lives here, where bids exist: bidders keep
-- seeing the project they bid on after it closes or goes ahead.
create policy "Signed-in users read open projects, owners and bidders theirs, managers all"
  on public.projects for select to authenticated
  using (status = 'open' or owner_id = (select auth.uid()) or private.has_bid_on(id)
         or (select private.has_permission('marketplace.manage')));

-- ---------------------------------------------------------------------------------------

create function private.withdraw_bid(bid_id uuid) returns public.bids
language plpgsql
security definer
set search_path = ''
as $$
declare
  bid public.bids;
begin
  select * into bid from public.bids b where b.id = withdraw_bid.bid_id for update;
  if not found or bid.tailor_id is distinct from auth.uid() then
    raise exception 'bid % not found', withdraw_bid.bid_id using errcode = 'PT404';
  end if;
  if bid.status <> 'pending' then
    raise exception 'bid % is %, only a pending bid can be withdrawn', bid.id, bid.status using errcode = 'PT409';
  end if;
  update public.bids b set status = 'withdrawn', decided_at = now() where b.id = bid.id returning * into bid;
  perform private.emit_event('bid.withdrawn', 'bid', bid.id,
    array[(select owner_id from public.projects where id = bid.project_id)], jsonb_build_object('project_id', bid.project_id));
  return bid;
end
$$;
comment on function private.withdraw_bid(uuid) is
  'The body of the client RPC public.withdraw_bid: security definer, in private so the API does not expose it.';
grant execute on function private.withdraw_bid(uuid) to authenticated;

create function public.withdraw_bid(bid_id uuid) returns public.bids
language sql
security invoker
set search_path = ''
as $$
  select private.withdraw_bid(bid_id)
$$;
comment on function public.withdraw_bid(uuid) is 'The tailor takes back their pending bid (000 bids).';

create function private.reject_bid(bid_id uuid) returns public.bids
language plpgsql
security definer
set search_path = ''
as $$
declare
  bid public.bids;
begin
  select * into bid from public.bids b where b.id = reject_bid.bid_id for update;
  if not found or not (private.owns_project(bid.project_id) or private.has_permission('marketplace.manage')) then
    raise exception 'bid % not found', reject_bid.bid_id using errcode = 'PT404';
  end if;
  if bid.status <> 'pending' then
    raise exception 'bid % is %, only a pending bid can be rejected', bid.id, bid.status using errcode = 'PT409';
  end if;
  update public.bids b set status = 'rejected', decided_at = now() where b.id = bid.id returning * into bid;
  perform private.emit_event('bid.rejected', 'bid', bid.id, array[bid.tailor_id], jsonb_build_object('project_id', bid.project_id));
  return bid;
end
$$;
comment on function private.reject_bid(uuid) is
  'The body of the client RPC public.reject_bid: security definer, in private so the API does not expose it.';
grant execute on function private.reject_bid(uuid) to authenticated;

create function public.reject_bid(bid_id uuid) returns public.bids
language sql
security invoker
set search_path = ''
as $$
  select private.reject_bid(bid_id)
$$;
comment on function public.reject_bid(uuid) is 'The project owner declines a pending bid (000 POST /bids/:bidId/reject).';
grant execute on function public.withdraw_bid(uuid), public.reject_bid(uuid) to authenticated;

-- Closing a project turns its pending bids down.
create function private.reject_pending_bids_on_close() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  bidders uuid[];
begin
  with rejected as (
    update public.bids set status = 'rejected', decided_at = now()
     where project_id = new.id and status = 'pending'
    returning tailor_id
  )
  select coalesce(array_agg(tailor_id), '{}') into bidders from rejected;
  perform private.emit_event('project.closed', 'project', new.id, bidders);
  return null;
end
$$;
create trigger projects_reject_bids_on_close after update of status on public.projects
  for each row when (new.status = 'closed' and old.status = 'open')
  execute function private.reject_pending_bids_on_close();
