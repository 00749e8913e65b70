-- Projects (000 "Projects"): a designer's service request. Open projects are listed to every
-- signed-in user; the owner edits while the project is open and closes it to stop bids.
-- Status moves only through functions: close_project() here, accept_bid() and the order's
-- state machine later.

create table public.projects (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  title text not null constraint projects_title_length check (char_length(trim(title)) between 3 and 140),
  description text not null default '' constraint projects_description_length check (char_length(description) <= 10000),
  budget_amount bigint not null,
  currency text not null references public.currencies (code),
  deadline date,
  status text not null default 'open'
    constraint projects_status check (status in ('open', 'closed', 'in_progress', 'completed', 'cancelled')),
  bid_count integer not null default 0 constraint projects_bid_count_positive check (bid_count >= 0),
  search tsvector generated always as (to_tsvector('simple', title || ' ' || description)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  closed_at timestamptz
);
comment on table public.projects is
  'Service requests from designers (000 /projects). open -> closed by the owner; open -> in_progress by accept_bid(); then follows its order.';
comment on column public.projects.budget_amount is 'The designer''s budget in minor units of currency.';
comment on column public.projects.status is 'Not client-writable: close_project(), accept_bid() and the order state machine move it.';
comment on column public.projects.bid_count is 'Bids received, kept by a trigger on bids.';
comment on column public.projects.search is 'Full-text index over title and description (simple configuration, any language).';

-- Listing open projects newest first with a keyset cursor; budget filters within that.
create index projects_status_created_idx on public.projects (status, created_at desc, id desc);
create index projects_status_budget_idx on public.projects (status, currency, budget_amount);
create index projects_owner_idx on public.projects (owner_id, created_at desc);
create index projects_search_idx on public.projects using gin (search);

create function private.check_project() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform private.assert_money(new.budget_amount, new.currency, 'budget');
  -- Bids are in the project's currency: changing it would silently change every bid.
  if tg_op = 'UPDATE' and new.currency <> old.currency and old.bid_count > 0 then
    raise exception 'project % has bids in %: its currency cannot change', old.id, old.currency using errcode = 'PT409';
  end if;
  if new.deadline is not null and new.deadline < current_date
     and (tg_op = 'INSERT' or new.deadline is distinct from old.deadline) then
    raise exception 'the deadline % is in the past', new.deadline using errcode = '22023';
  end if;
  return new;
end
$$;

-- Named to fire before projects_check: an anonymous caller is told why, whatever the row.
create trigger projects_anonymous_refused before insert on public.projects
  for each row execute function private.refuse_anonymous('post projects');
create trigger projects_check before insert or update of budget_amount, currency, deadline on public.projects
  for each row execute function private.check_project();
create trigger projects_touch_updated_at before update on public.projects
  for each row execute function private.touch_updated_at();

alter table public.projects enable row level security;
grant select on public.projects to authenticated;
grant insert (title, description, budget_amount, currency, deadline),
      update (title, description, budget_amount, currency, deadline)
  on public.projects to authenticated;
grant all on public.projects to service_role;

-- Signed-in readers: see 30_bids.sql, which defines the policy once bids exist (bidders keep
-- seeing the project they bid on after it closes or goes ahead).
create policy "Users post their own projects" on public.projects for insert to authenticated
  with check (owner_id = (select auth.uid()));
create policy "Owners edit their open projects" on public.projects for update to authenticated
  using (owner_id = (select auth.uid()) and status = 'open')
  with check (owner_id = (select auth.uid()) and status = 'open');

-- ---------------------------------------------------------------------------------------
-- Designs attached to a project: readable by whoever may read the project.

create table public.project_designs (
  project_id uuid not null references public.projects (id) on delete cascade,
  -- Checked at commit, not per row: deleting an account cascades to its designs and to its
  -- projects in either order, and only the end state must hold no dangling attachment.
  design_id uuid not null references public.designs (id) on delete no action deferrable initially deferred,
  created_at timestamptz not null default now(),
  primary key (project_id, design_id)
);
comment on table public.project_designs is
  'Designs a project is about. Only the project owner''s own designs; a design in use cannot be deleted.';
create index project_designs_design_idx on public.project_designs (design_id);

create function private.check_project_design() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from public.designs d join public.projects p on p.owner_id = d.owner_id
                  where d.id = new.design_id and p.id = new.project_id) then
    raise exception 'design % is not yours to attach to project %', new.design_id, new.project_id using errcode = '42501';
  end if;
  return new;
end
$$;
create trigger project_designs_check before insert on public.project_designs
  for each row execute function private.check_project_design();

alter table public.project_designs enable row level security;
grant select, insert, delete on public.project_designs to authenticated;
grant all on public.project_designs to service_role;

create policy "Readers of a project read its designs list" on public.project_designs for select to authenticated
  using (exists (select 1 from public.projects p where p.id = project_id));
create policy "Owners attach designs to their open projects" on public.project_designs for insert to authenticated
  with check (exists (select 1 from public.projects p where p.id = project_id and p.owner_id = (select auth.uid()) and p.status = 'open'));
create policy "Owners detach designs from their open projects" on public.project_designs for delete to authenticated
  using (exists (select 1 from public.projects p where p.id = project_id and p.owner_id = (select auth.uid()) and p.status = 'open'));

-- A design attached to a project is readable by those who may read the project, even if
-- private: the tailor must see what they are bidding on.
create function private.design_attached_to_visible_project(design uuid) returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (select 1 from public.project_designs pd join public.projects p on p.id = pd.project_id where pd.design_id = design)
$$;
comment on function private.design_attached_to_visible_project(uuid) is
  'Security invoker on purpose: the projects policy decides which projects count.';
grant execute on function private.design_attached_to_visible_project(uuid) to authenticated;

-- A thread may be about a project (messaging sits below the marketplace, so the reference
-- is declared here, with its target).
alter table public.threads add constraint threads_project_id_fkey
  foreign key (project_id) references public.projects (id) on delete set null;

-- The designs read policy for signed-in users lives here, where project_designs exists.
create policy "Owners, everyone for public designs, and project readers read designs"
  on public.designs for select to authenticated
  using (owner_id = (select auth.uid()) or visibility = 'public'
         or (select private.has_permission('content.moderate'))
         or private.design_attached_to_visible_project(id));

-- ---------------------------------------------------------------------------------------
-- Requirements: the designer's list of what the work must meet. Editable while the project
-- is open or its order awaits requirement approval (50_orders.sql adds that rule and
-- resets approvals on change).

create table public.project_requirements (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null references public.projects (id) on delete cascade,
  position integer not null default 0 constraint project_requirements_position_range check (position between 0 and 1000),
  title text not null constraint project_requirements_title_length check (char_length(trim(title)) between 1 and 200),
  details text not null default '' constraint project_requirements_details_length check (char_length(details) <= 5000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.project_requirements is
  'What the work must meet (000 POST /projects/:id/requirements). Both parties approve them before payment.';
create index project_requirements_project_idx on public.project_requirements (project_id, position);

create trigger project_requirements_touch_updated_at before update on public.project_requirements
  for each row execute function private.touch_updated_at();

alter table public.project_requirements enable row level security;
grant select, delete on public.project_requirements to authenticated;
grant insert (project_id, position, title, details), update (position, title, details) on public.project_requirements to authenticated;
grant all on public.project_requirements to service_role;

create policy "Readers of a project read its requirements" on public.project_requirements for select to authenticated
  using (exists (select 1 from public.projects p where p.id = project_id));
create policy "Owners add requirements to their projects" on public.project_requirements for insert to authenticated
  with check (exists (select 1 from public.projects p where p.id = project_id and p.owner_id = (select auth.uid())));
create policy "Owners edit their projects' requirements" on public.project_requirements for update to authenticated
  using (exists (select 1 from public.projects p where p.id = project_id and p.owner_id = (select auth.uid())))
  with check (exists (select 1 from public.projects p where p.id = project_id and p.owner_id = (select auth.uid())));
create policy "Owners remove their projects' requirements" on public.project_requirements for delete to authenticated
  using (exists (select 1 from public.projects p where p.id = project_id and p.owner_id = (select auth.uid())));

-- ---------------------------------------------------------------------------------------

create function private.close_project(project_id uuid) returns public.projects
language plpgsql
security definer
set search_path = ''
as $$
declare
  project public.projects;
begin
  select * into project from public.projects p where p.id = close_project.project_id for update;
  if not found or (project.owner_id is distinct from auth.uid() and not private.has_permission('marketplace.manage')) then
    raise exception 'project % not found', close_project.project_id using errcode = 'PT404';
  end if;
  if project.status <> 'open' then
    raise exception 'project % is %, only an open project can be closed', project.id, project.status using errcode = 'PT409';
  end if;
  update public.projects p set status = 'closed', closed_at = now() where p.id = project.id returning * into project;
  return project;
end
$$;
comment on function private.close_project(uuid) is
  'The body of the client RPC public.close_project: security definer, in private so the API does not expose it.';
grant execute on function private.close_project(uuid) to authenticated;

create function public.close_project(project_id uuid) returns public.projects
language sql
security invoker
set search_path = ''
as $$
  select private.close_project(project_id)
$$;
comment on function public.close_project(uuid) is
  'Stops a project taking bids (000 POST /projects/:id/close); a trigger on projects rejects its pending bids.';
grant execute on function public.close_project(uuid) to authenticated;
