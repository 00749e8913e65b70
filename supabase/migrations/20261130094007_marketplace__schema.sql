-- The marketplace domain's schema at the rebaseline: every file of supabase/schemas/30_marketplace/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/30_marketplace/10_designs.sql
-- ======================================================================================

-- Designs (000 "Designs"): the parametric studio's output, a JSON pattern plus its metadata.
-- The owner does everything; public designs are readable by anyone; share links, exports
-- and duplication come in their own migrations.
--
-- A pattern (version 1) is
--   { "version": 1, "units": "mm" | "cm" | "in", "width": n, "height": n,
--     "pieces": [ { "name": "front", "points": [[x, y], ...], "closed": true,
--                   "fill": "#rrggbb"? } ],
--     "parameters": { "<name>": number, ... }? }
-- with coordinates in `units` inside the width x height canvas. Exports draw it.

create function private.pattern_problem(pattern jsonb) returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  piece jsonb;
  point jsonb;
  piece_no integer := 0;
  point_no integer;
  total_points integer := 0;
  width numeric;
  height numeric;
begin
  if pattern is null or jsonb_typeof(pattern) <> 'object' then
    return 'pattern must be a JSON object';
  end if;
  if pattern -> 'version' is distinct from '1'::jsonb then
    return 'pattern.version must be 1';
  end if;
  if coalesce(pattern ->> 'units', '') not in ('mm', 'cm', 'in') then
    return 'pattern.units must be "mm", "cm" or "in"';
  end if;
  if jsonb_typeof(pattern -> 'width') <> 'number' or jsonb_typeof(pattern -> 'height') <> 'number' then
    return 'pattern.width and pattern.height must be numbers';
  end if;
  width := (pattern ->> 'width')::numeric;
  height := (pattern ->> 'height')::numeric;
  if width <= 0 or height <= 0 or width > 100000 or height > 100000 then
    return 'pattern.width and pattern.height must be greater than 0 and at most 100000';
  end if;
  if pattern ? 'parameters' and (jsonb_typeof(pattern -> 'parameters') <> 'object'
     or exists (select 1 from jsonb_each(pattern -> 'parameters') p where jsonb_typeof(p.value) <> 'number')) then
    return 'pattern.parameters must be an object of numbers';
  end if;
  if jsonb_typeof(pattern -> 'pieces') is distinct from 'array'
     or jsonb_array_length(pattern -> 'pieces') not between 1 and 200 then
    return 'pattern.pieces must be an array of 1 to 200 pieces';
  end if;
  for piece in select value from jsonb_array_elements(pattern -> 'pieces') loop
    if jsonb_typeof(piece) <> 'object' then
      return format('pattern.pieces[%s] must be an object', piece_no);
    end if;
    if jsonb_typeof(piece -> 'name') is distinct from 'string' or char_length(piece ->> 'name') not between 1 and 80 then
      return format('pattern.pieces[%s].name must be a string of 1 to 80 characters', piece_no);
    end if;
    if piece ? 'closed' and jsonb_typeof(piece -> 'closed') <> 'boolean' then
      return format('pattern.pieces[%s].closed must be true or false', piece_no);
    end if;
    if piece ? 'fill' and coalesce(piece ->> 'fill', '') !~ '^#[0-9a-fA-F]{6}$' then
      return format('pattern.pieces[%s].fill must be a colour like #a0b1c2', piece_no);
    end if;
    if jsonb_typeof(piece -> 'points') is distinct from 'array'
       or jsonb_array_length(piece -> 'points') not between 2 and 5000 then
      return format('pattern.pieces[%s].points must be an array of 2 to 5000 points', piece_no);
    end if;
    point_no := 0;
    for point in select value from jsonb_array_elements(piece -> 'points') loop
      if jsonb_typeof(point) <> 'array' or jsonb_array_length(point) <> 2
         or jsonb_typeof(point -> 0) <> 'number' or jsonb_typeof(point -> 1) <> 'number' then
        return format('pattern.pieces[%s].points[%s] must be [x, y] with numbers', piece_no, point_no);
      end if;
      if (point ->> 0)::numeric not between -width and 2 * width or (point ->> 1)::numeric not between -height and 2 * height then
        return format('pattern.pieces[%s].points[%s] lies far outside the %s x %s canvas', piece_no, point_no, width, height);
      end if;
      point_no := point_no + 1;
    end loop;
    total_points := total_points + point_no;
    piece_no := piece_no + 1;
  end loop;
  if total_points > 50000 then
    return 'a pattern may have at most 50000 points in all';
  end if;
  return null;
end
$$;
comment on function private.pattern_problem(jsonb) is
  'What is wrong with a version-1 pattern document, or null when it is well-formed.';
grant execute on function private.pattern_problem(jsonb) to authenticated, service_role;

-- Tags: at most 20, each 1-32 characters of lowercase letters, digits, spaces and dashes.
create function private.tags_are_valid(tags text[]) returns boolean
language sql
immutable
set search_path = ''
as $$
  select cardinality(tags) <= 20
     and not exists (select 1 from unnest(tags) t where t is null or t !~ '^[a-z0-9][a-z0-9 -]{0,31}$')
$$;
grant execute on function private.tags_are_valid(text[]) to authenticated, service_role;

-- Object paths a row links to must sit in the owner's folder (<owner id>/...).
create function private.paths_in_folder(paths text[], folder uuid) returns boolean
language sql
immutable
set search_path = ''
as $$
  select not exists (select 1 from unnest(paths) p where p is null or p not like folder::text || '/%' or p like '%..%')
$$;
grant execute on function private.paths_in_folder(text[], uuid) to authenticated, service_role;

create table public.designs (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  title text not null constraint designs_title_length check (char_length(trim(title)) between 1 and 120),
  description text not null default '' constraint designs_description_length check (char_length(description) <= 5000),
  tags text[] not null default '{}' constraint designs_tags_valid check (private.tags_are_valid(tags)),
  visibility text not null default 'private' constraint designs_visibility check (visibility in ('private', 'public')),
  pattern jsonb not null constraint designs_pattern_size check (pg_column_size(pattern) <= 1024 * 1024),
  file_paths text[] not null default '{}'
    constraint designs_file_paths_owned check (cardinality(file_paths) <= 20 and private.paths_in_folder(file_paths, owner_id)),
  duplicated_from uuid references public.designs (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.designs is 'Parametric designs (000 POST/GET/PATCH/DELETE /designs). Owner-only unless public or shared.';
comment on column public.designs.pattern is 'A version-1 pattern document; see private.pattern_problem for its rules.';
comment on column public.designs.file_paths is 'Storage object paths (textures, exports) in the owner''s folder that this design links to.';
comment on column public.designs.duplicated_from is 'The design this one was copied from, if any.';

create index designs_owner_created_idx on public.designs (owner_id, created_at desc, id desc);
create index designs_public_created_idx on public.designs (created_at desc, id desc) where visibility = 'public';
create index designs_tags_idx on public.designs using gin (tags);
create index designs_duplicated_from_idx on public.designs (duplicated_from);

create function private.check_design_pattern() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  problem text := private.pattern_problem(new.pattern);
begin
  if problem is not null then
    raise exception 'invalid pattern: %', problem using errcode = '22023';
  end if;
  return new;
end
$$;

create trigger designs_check_pattern before insert or update of pattern on public.designs
  for each row execute function private.check_design_pattern();
create trigger designs_touch_updated_at before update on public.designs
  for each row execute function private.touch_updated_at();

alter table public.designs enable row level security;
grant select on public.designs to anon, authenticated;
grant insert (title, description, tags, visibility, pattern, file_paths),
      update (title, description, tags, visibility, pattern, file_paths),
      delete
  on public.designs to authenticated;
grant all on public.designs to service_role;

create policy "Anyone reads public designs" on public.designs for select to anon
  using (visibility = 'public');
-- Signed-in readers: see 20_projects.sql, which defines the policy once project_designs
-- exists (tailors read the designs attached to a project they can see).
create policy "Users create their own designs" on public.designs for insert to authenticated
  with check (owner_id = (select auth.uid()));
create policy "Owners edit their designs" on public.designs for update to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "Owners delete their designs" on public.designs for delete to authenticated
  using (owner_id = (select auth.uid()));

-- ======================================================================================
-- supabase/schemas/30_marketplace/20_projects.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/30_marketplace/30_bids.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/30_marketplace/40_services.sql
-- ======================================================================================

-- Services and packages (002 "Services API", "Orders API"): a provider publishes a service
-- with priced packages (Basic, Standard, Premium, ...); anyone, signed in or not, browses
-- published services and their active packages; a buyer orders a package
-- (55_service_orders.sql), which creates a service order (awaiting payment) with the package's price, currency, delivery time and
-- revisions snapshotted onto it. Marketplace managers see every service and may suspend
-- one (moderation), which the provider cannot undo.
--
-- Listing (002 GET /services), newest first with a keyset cursor on (created_at, id):
--   supabase.from('services')
--     .select('id, title, category, tags, cover_image_path, created_at, provider_id,
--              packages:service_packages(id, name, price_amount, currency, delivery_days, revisions, position)')
--     .eq('category', 'alterations')                          -- optional
--     .contains('tags', ['wedding'])                          -- optional
--     .textSearch('search', 'silk dress', { type: 'websearch', config: 'simple' })  -- optional
--     .or(`created_at.lt."${last.created_at}",and(created_at.eq."${last.created_at}",id.lt.${last.id})`)  -- next page (quote the timestamp)
--     .order('created_at', { ascending: false }).order('id', { ascending: false }).limit(20)
-- Price range: filter through an inner embed of the packages, which keeps the services with at
-- least one active package in range (RLS hides inactive packages from everyone but the provider):
--     .select('id, title, in_range:service_packages!inner(price_amount), packages:service_packages(*)')  -- alias twice: all packages shown
--     .eq('in_range.currency', 'USD').gte('in_range.price_amount', 5000).lte('in_range.price_amount', 20000)

-- ---------------------------------------------------------------------------------------
-- Validation helpers (immutable, used by check constraints and the generated search column).

create function private.package_features_are_valid(features text[]) returns boolean
language sql
immutable
set search_path = ''
as $$
  select cardinality(features) <= 20
     and not exists (select 1 from unnest(features) f where f is null or char_length(trim(f)) not between 1 and 120)
$$;
comment on function private.package_features_are_valid(text[]) is
  'What a package includes: at most 20 entries of 1 to 120 characters.';

-- array_to_string is only stable in general (element output functions), but immutable for text[].
create function private.service_search_document(title text, description text, tags text[]) returns tsvector
language sql
immutable
set search_path = ''
as $$
  select to_tsvector('simple'::regconfig, title || ' ' || description || ' ' || array_to_string(tags, ' '))
$$;
comment on function private.service_search_document(text, text, text[]) is
  'The full-text document of a service: title, description and tags (simple configuration, any language).';

grant execute on function private.package_features_are_valid(text[]), private.service_search_document(text, text, text[])
  to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Services.

create table public.services (
  id uuid primary key default gen_random_uuid(),
  provider_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  title text not null constraint services_title_length check (char_length(trim(title)) between 3 and 140),
  description text not null default '' constraint services_description_length check (char_length(description) <= 10000),
  category text not null constraint services_category_format check (category ~ '^[a-z0-9][a-z0-9_-]{0,59}$'),
  tags text[] not null default '{}' constraint services_tags_valid check (private.tags_are_valid(tags)),
  cover_image_path text
    constraint services_cover_image_owned check (cover_image_path is null or private.paths_in_folder(array[cover_image_path], provider_id)),
  is_published boolean not null default false,
  suspended_at timestamptz,
  suspended_by uuid references public.profiles (id) on delete set null,
  suspension_reason text constraint services_suspension_reason_length check (char_length(suspension_reason) <= 2000),
  search tsvector generated always as (private.service_search_document(title, description, tags)) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint services_suspension_consistent check ((suspended_at is null) = (suspension_reason is null))
);
comment on table public.services is
  'Services providers offer (002 /services). Listed publicly while published and not suspended; priced by service_packages.';
comment on column public.services.category is 'A lowercase slug (alterations, bespoke-suits, ...); the catalogue of categories is the clients'' concern.';
comment on column public.services.cover_image_path is 'Optional object path under the provider''s own folder (<provider id>/...).';
comment on column public.services.is_published is 'The provider''s switch: a draft (false) is seen by its provider and managers only.';
comment on column public.services.suspended_at is
  'Moderation: set by moderate_service() (marketplace.manage). A suspended service is hidden from the public whatever is_published says; the provider cannot lift it.';
comment on column public.services.search is 'Generated full-text document over title, description and tags: .textSearch(''search'', q, { config: ''simple'' }).';

-- The public listing: newest first, by category, by tag, by text.
create index services_listed_created_idx on public.services (created_at desc, id desc)
  where is_published and suspended_at is null;
create index services_listed_category_idx on public.services (category, created_at desc, id desc)
  where is_published and suspended_at is null;
create index services_provider_idx on public.services (provider_id, created_at desc);
create index services_tags_idx on public.services using gin (tags);
create index services_search_idx on public.services using gin (search);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index services_suspended_by_idx on public.services (suspended_by) where suspended_by is not null;

create trigger services_anonymous_refused before insert on public.services
  for each row execute function private.refuse_anonymous('sell services');
create trigger services_touch_updated_at before update on public.services
  for each row execute function private.touch_updated_at();

alter table public.services enable row level security;
grant select on public.services to anon, authenticated;
grant insert (title, description, category, tags, cover_image_path, is_published),
      update (title, description, category, tags, cover_image_path, is_published),
      delete
  on public.services to authenticated;
grant all on public.services to service_role;

create policy "Anyone reads listed services" on public.services for select to anon
  using (is_published and suspended_at is null);
create policy "Users read listed services, providers theirs, managers all" on public.services for select to authenticated
  using ((is_published and suspended_at is null) or provider_id = (select auth.uid())
         or (select private.has_permission('marketplace.manage')));
create policy "Providers publish their own services" on public.services for insert to authenticated
  with check (provider_id = (select auth.uid()));
create policy "Providers edit their services" on public.services for update to authenticated
  using (provider_id = (select auth.uid())) with check (provider_id = (select auth.uid()));
create policy "Providers delete their services" on public.services for delete to authenticated
  using (provider_id = (select auth.uid()));

create function private.is_service_provider(service uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.services s where s.id = service and s.provider_id = (select auth.uid()))
$$;
comment on function private.is_service_provider(uuid) is
  'Whether the caller provides the service, whatever the service''s visibility. Called by the packages policies.';

create function private.is_service_listed(service uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.services s where s.id = service and s.is_published and s.suspended_at is null)
$$;
comment on function private.is_service_listed(uuid) is 'Whether the service is published and not suspended.';
grant execute on function private.is_service_provider(uuid), private.is_service_listed(uuid) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Packages: the priced offers of a service.

create table public.service_packages (
  id uuid primary key default gen_random_uuid(),
  service_id uuid not null references public.services (id) on delete cascade,
  name text not null constraint service_packages_name_length check (char_length(trim(name)) between 1 and 60),
  description text not null default '' constraint service_packages_description_length check (char_length(description) <= 2000),
  price_amount bigint not null,
  currency text not null references public.currencies (code),
  delivery_days integer not null constraint service_packages_delivery_days_range check (delivery_days between 1 and 365),
  revisions integer default 1 constraint service_packages_revisions_range check (revisions between 0 and 100),
  features text[] not null default '{}' constraint service_packages_features_valid check (private.package_features_are_valid(features)),
  position smallint not null default 0 constraint service_packages_position_range check (position between 0 and 99),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.service_packages is
  'Priced offers of a service (002 GET /services/:id packages): the provider manages them; the public sees the active packages of listed services.';
comment on column public.service_packages.name is 'The tier as shown to buyers: Basic, Standard, Premium, or any name of the provider''s.';
comment on column public.service_packages.price_amount is 'Price in minor units of currency (checked by private.assert_money); snapshotted onto orders.';
comment on column public.service_packages.delivery_days is 'Days from payment to due delivery; becomes the order''s duration_days.';
comment on column public.service_packages.revisions is
  'Revisions included: 0 to 100, or null for unlimited (as orders.revisions_allowed). Defaults to 1.';
comment on column public.service_packages.features is 'What the package includes, one line each (at most 20 of 120 characters).';
comment on column public.service_packages.position is 'Display order within the service, ascending.';
comment on column public.service_packages.is_active is 'Inactive packages are hidden from buyers and cannot be ordered; orders already placed keep their snapshot.';

create index service_packages_service_idx on public.service_packages (service_id, position);
create index service_packages_price_idx on public.service_packages (currency, price_amount) where is_active;

create function private.check_service_package() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform private.assert_money(new.price_amount, new.currency, 'price');
  return new;
end
$$;
comment on function private.check_service_package() is 'Trigger: a precise 22023 for a bad price or currency before any constraint fires.';

create trigger service_packages_check before insert or update of price_amount, currency on public.service_packages
  for each row execute function private.check_service_package();
create trigger service_packages_touch_updated_at before update on public.service_packages
  for each row execute function private.touch_updated_at();

alter table public.service_packages enable row level security;
grant select on public.service_packages to anon, authenticated;
grant insert (service_id, name, description, price_amount, currency, delivery_days, revisions, features, position, is_active),
      update (name, description, price_amount, currency, delivery_days, revisions, features, position, is_active),
      delete
  on public.service_packages to authenticated;
grant all on public.service_packages to service_role;

create policy "Anyone reads active packages of listed services" on public.service_packages for select to anon
  using (is_active and private.is_service_listed(service_id));
create policy "Users read active listed packages, providers theirs, managers all" on public.service_packages
  for select to authenticated
  using ((is_active and private.is_service_listed(service_id)) or private.is_service_provider(service_id)
         or (select private.has_permission('marketplace.manage')));
create policy "Providers add packages to their services" on public.service_packages for insert to authenticated
  with check (private.is_service_provider(service_id));
create policy "Providers edit their packages" on public.service_packages for update to authenticated
  using (private.is_service_provider(service_id)) with check (private.is_service_provider(service_id));
create policy "Providers delete their packages" on public.service_packages for delete to authenticated
  using (private.is_service_provider(service_id));

-- ---------------------------------------------------------------------------------------
-- Moderation: suspend or reinstate a service (marketplace.manage).

create function private.moderate_service(service_id uuid, suspend boolean, reason text default null)
returns public.services
language plpgsql
security definer
set search_path = ''
as $$
declare
  s public.services;
begin
  if not private.has_permission('marketplace.manage') and not private.is_service_role() then
    raise exception 'permission denied: marketplace.manage is required' using errcode = '42501';
  end if;
  if suspend and coalesce(trim(reason), '') = '' then
    raise exception 'a suspension needs a reason' using errcode = '22023';
  end if;
  update public.services set
    suspended_at = case when suspend then coalesce(suspended_at, now()) end,
    suspended_by = case when suspend then auth.uid() end,
    suspension_reason = case when suspend then reason end
  where id = moderate_service.service_id
  returning * into s;
  if not found then
    raise exception 'service % not found', service_id using errcode = 'PT404';
  end if;
  perform private.emit_event(case when suspend then 'service.suspended' else 'service.reinstated' end,
    'service', s.id, array[s.provider_id], jsonb_build_object('reason', reason));
  return s;
end
$$;
comment on function private.moderate_service(uuid, boolean, text) is
  'The body of the client RPC public.moderate_service: security definer, in private so the API does not expose it.';
grant execute on function private.moderate_service(uuid, boolean, text) to authenticated, service_role;

create function public.moderate_service(service_id uuid, suspend boolean, reason text default null)
returns public.services
language sql
security invoker
set search_path = ''
as $$
  select private.moderate_service(service_id, suspend, reason)
$$;
comment on function public.moderate_service(uuid, boolean, text) is
  'Suspends (with a reason) or reinstates a service: moderation the provider cannot undo. marketplace.manage or the service role.';
grant execute on function public.moderate_service(uuid, boolean, text) to authenticated, service_role;

create trigger services_audit_moderation
  after update of suspended_at, suspension_reason on public.services
  for each row execute function private.audit_row_change('id', 'id', 'provider_id', 'suspended_at', 'suspended_by', 'suspension_reason');

-- ======================================================================================
-- supabase/schemas/30_marketplace/50_orders.sql
-- ======================================================================================

-- Orders (000 "Orders"): the deal between a buyer and a seller, created by accepting a bid
-- (kind project) or ordering a service package (kind service). Its status is a state
-- machine held in the database: private.order_transitions lists every allowed move and who
-- may make it, private.transition_order() is the only writer of orders.status, and every
-- move lands in the order's timeline (order_events) and the domain-event outbox.
--
--   awaiting_requirements --(both approve)--> awaiting_payment --(paid)--> in_progress
--   in_progress --(seller delivers)--> delivered --(buyer approves)--> completed
--   delivered --(buyer asks)--> revision_requested --(seller delivers)--> delivered
--   in_progress | delivered | revision_requested --(buyer)--> disputed --(admin)--> completed | cancelled
--   cancelled: either party before payment; seller or admin once paid (escrow refunds)

create table public.orders (
  id uuid primary key default gen_random_uuid(),
  kind text not null constraint orders_kind check (kind in ('project', 'service')),
  buyer_id uuid references public.profiles (id) on delete set null,
  seller_id uuid references public.profiles (id) on delete set null,
  project_id uuid references public.projects (id) on delete set null,
  bid_id uuid references public.bids (id) on delete set null,
  title text not null constraint orders_title_length check (char_length(trim(title)) between 1 and 200),
  price_amount bigint not null constraint orders_price_positive check (price_amount > 0),
  currency text not null references public.currencies (code),
  commission_rate_bps integer not null constraint orders_commission_range check (commission_rate_bps between 0 and 10000),
  duration_days integer constraint orders_duration_range check (duration_days between 1 and 365),
  revisions_allowed integer constraint orders_revisions_allowed_positive check (revisions_allowed >= 0),
  revisions_used integer not null default 0
    constraint orders_revisions_within_allowance check (revisions_used >= 0 and revisions_used <= coalesce(revisions_allowed, revisions_used)),
  status text not null default 'awaiting_requirements' constraint orders_status check (status in (
    'awaiting_requirements', 'awaiting_payment', 'in_progress', 'delivered', 'revision_requested',
    'completed', 'disputed', 'cancelled')),
  requirements_approved_by_buyer_at timestamptz,
  requirements_approved_by_seller_at timestamptz,
  thread_id uuid references public.threads (id) on delete set null,
  service_id uuid references public.services (id) on delete set null,
  package_id uuid references public.service_packages (id) on delete set null,
  client_request_id uuid,
  details jsonb not null default '{}'
    constraint orders_details_object check (jsonb_typeof(details) = 'object' and pg_column_size(details) <= 16384),
  metadata jsonb not null default '{}'
    constraint orders_metadata_object check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 16384),
  paid_at timestamptz,
  due_at timestamptz,
  delivered_at timestamptz,
  completed_at timestamptz,
  cancelled_at timestamptz,
  cancellation_reason text constraint orders_cancellation_reason_length check (char_length(cancellation_reason) <= 2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint orders_parties_distinct check (buyer_id <> seller_id),
  constraint orders_package_kind check (kind = 'service' or (service_id is null and package_id is null))
);
comment on table public.orders is
  'Deals (000 /orders, 002 /orders). Created by accept_bid() or order_service_package(); status changes only through private.transition_order().';
comment on column public.orders.price_amount is 'Price snapshot in minor units, taken from the bid or package when the order was created.';
comment on column public.orders.commission_rate_bps is 'The platform commission in force when the order was created, in basis points.';
comment on column public.orders.revisions_allowed is 'How many revisions the buyer may request; null means no limit.';
comment on column public.orders.details is 'What the buyer told the seller when ordering (service orders); set once.';
comment on column public.orders.metadata is 'Non-financial notes either party may edit (000 PATCH /orders/:id).';
comment on column public.orders.service_id is 'The service ordered (kind service); null once the service is deleted.';
comment on column public.orders.package_id is 'The package ordered (kind service); its price, delivery time and revisions were snapshotted.';
comment on column public.orders.client_request_id is
  'Idempotency key the buyer may send with order_service_package(): a retry with the same key returns the same order.';

-- One live order per project and per bid.
create unique index orders_project_unique on public.orders (project_id) where project_id is not null;
create unique index orders_bid_unique on public.orders (bid_id) where bid_id is not null;
create index orders_service_idx on public.orders (service_id);
create index orders_package_idx on public.orders (package_id);
-- A buyer's retried service order returns the first one (order_service_package's backstop).
create unique index orders_buyer_request_unique on public.orders (buyer_id, client_request_id)
  where client_request_id is not null;
create index orders_buyer_idx on public.orders (buyer_id, status, created_at desc);
create index orders_seller_idx on public.orders (seller_id, status, created_at desc);
create index orders_status_idx on public.orders (status, created_at desc);
create index orders_thread_idx on public.orders (thread_id);

-- A thread may be about an order (messaging sits below the marketplace, so the reference is
-- declared here, with its target). Who may sit in it: 95_deal_threads.sql.
alter table public.threads add constraint threads_order_id_fkey
  foreign key (order_id) references public.orders (id) on delete set null;

create trigger orders_touch_updated_at before update on public.orders
  for each row execute function private.touch_updated_at();

alter table public.orders enable row level security;
grant select on public.orders to authenticated;
grant update (metadata) on public.orders to authenticated;
grant all on public.orders to service_role;

create policy "Parties and managers read orders" on public.orders for select to authenticated
  using (buyer_id = (select auth.uid()) or seller_id = (select auth.uid()) or (select private.has_permission('marketplace.manage')));
create policy "Parties edit their orders' notes" on public.orders for update to authenticated
  using (buyer_id = (select auth.uid()) or seller_id = (select auth.uid()))
  with check (buyer_id = (select auth.uid()) or seller_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- The timeline: every transition and every party action on an order, append-only.

create table public.order_events (
  id bigint generated always as identity primary key,
  order_id uuid not null references public.orders (id) on delete cascade,
  event_type text not null constraint order_events_type check (event_type in (
    'created', 'status_changed', 'requirements_approved', 'requirements_changed', 'delivery_submitted',
    'revision_requested', 'dispute_opened', 'payment_recorded')),
  from_status text,
  to_status text,
  actor_id uuid references public.profiles (id) on delete set null,
  note text constraint order_events_note_length check (char_length(note) <= 5000),
  created_at timestamptz not null default now()
);
comment on table public.order_events is 'An order''s timeline: written by the order functions only, readable by whoever reads the order.';
create index order_events_order_idx on public.order_events (order_id, id);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index order_events_actor_idx on public.order_events (actor_id) where actor_id is not null;

alter table public.order_events enable row level security;
grant select on public.order_events to authenticated;
grant select on public.order_events to service_role;

create policy "Readers of an order read its timeline" on public.order_events for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));

-- ---------------------------------------------------------------------------------------
-- The state machine.

create table private.order_transitions (
  from_status text not null,
  to_status text not null,
  actor text not null constraint order_transitions_actor check (actor in ('buyer', 'seller', 'admin', 'system')),
  primary key (from_status, to_status, actor)
);
comment on table private.order_transitions is
  'Every allowed order status move and who may make it: a party (buyer, seller), an admin (marketplace.manage) or the system (service role: payments, schedules).';

-- Who the caller is to this order: any of buyer, seller, admin, system.
create function private.order_roles(o public.orders) returns text[]
language sql
stable
security definer
set search_path = ''
as $$
  select array_remove(array[
    case when o.buyer_id = auth.uid() then 'buyer' end,
    case when o.seller_id = auth.uid() then 'seller' end,
    case when private.has_permission('marketplace.manage') then 'admin' end,
    case when private.is_service_role() then 'system' end
  ], null)
$$;
comment on function private.order_roles(public.orders) is
  'The caller''s roles on an order. The service role acts as the system; scheduled jobs pass array[''system''] themselves.';

-- Locks an order for a change by the caller: unknown orders and orders the caller has no
-- part in are both "not found", so ids cannot be probed.
create function private.lock_order(order_id uuid) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
begin
  select * into o from public.orders where id = order_id for update;
  if not found or cardinality(private.order_roles(o)) = 0 then
    raise exception 'order % not found', order_id using errcode = 'PT404';
  end if;
  return o;
end
$$;

create function private.transition_order(
  order_id uuid, to_status text, roles text[], actor uuid default auth.uid(), note text default null
) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
  from_status text;
begin
  select * into o from public.orders where id = order_id for update;
  if not found then
    raise exception 'order % not found', order_id using errcode = 'PT404';
  end if;
  from_status := o.status;
  if not exists (select 1 from private.order_transitions t
                  where t.from_status = o.status and t.to_status = transition_order.to_status and t.actor = any(roles)) then
    if exists (select 1 from private.order_transitions t where t.from_status = o.status and t.to_status = transition_order.to_status) then
      raise exception 'order % is %: you may not move it to %', o.id, o.status, to_status using errcode = '42501';
    end if;
    raise exception 'order % is %: it cannot move to %', o.id, o.status, to_status using errcode = 'PT409';
  end if;
  -- A disputed order leaves that state only through the dispute's resolution, which marks
  -- the dispute resolved (and settles the money) before moving the order.
  if o.status = 'disputed' and exists (select 1 from public.disputes d where d.order_id = o.id and d.status = 'open') then
    raise exception 'order % is disputed: it moves only when an admin resolves the dispute', o.id using errcode = 'PT409';
  end if;

  update public.orders set
    status = to_status,
    paid_at = case when to_status = 'in_progress' and paid_at is null then now() else paid_at end,
    due_at = case when to_status = 'in_progress' and paid_at is null and duration_days is not null
                  then now() + make_interval(days => duration_days) else due_at end,
    delivered_at = case when to_status = 'delivered' then now() else delivered_at end,
    completed_at = case when to_status = 'completed' then now() else completed_at end,
    cancelled_at = case when to_status = 'cancelled' then now() else cancelled_at end,
    cancellation_reason = case when to_status = 'cancelled' then note else cancellation_reason end
  where id = o.id
  returning * into o;

  insert into public.order_events (order_id, event_type, from_status, to_status, actor_id, note)
  values (o.id, 'status_changed', from_status, to_status, actor, note);
  perform private.emit_event('order.' || to_status, 'order', o.id, array[o.buyer_id, o.seller_id],
    jsonb_build_object('from_status', from_status, 'to_status', to_status), actor);

  -- A project follows its order to the end.
  if o.project_id is not null and to_status in ('completed', 'cancelled') then
    update public.projects set status = to_status where id = o.project_id;
  end if;
  return o;
end
$$;
comment on function private.transition_order(uuid, text, text[], uuid, text) is
  'The only writer of orders.status: checks private.order_transitions for the caller''s roles, stamps times, records the timeline and the event.';

-- ---------------------------------------------------------------------------------------
-- Creating orders: one function for both kinds, so every order starts the same way.

create function private.create_order(
  kind text, buyer uuid, seller uuid, title text, price_amount bigint, currency text,
  duration_days integer, revisions_allowed integer, initial_status text,
  project uuid default null, bid uuid default null, details jsonb default '{}'
) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
  thread uuid;
begin
  perform private.assert_money(price_amount, currency, 'price');
  thread := private.open_thread(title, array[buyer, seller], project);
  insert into public.orders (kind, buyer_id, seller_id, project_id, bid_id, title, price_amount, currency,
                             commission_rate_bps, duration_days, revisions_allowed, status, thread_id, details)
  values (kind, buyer, seller, project, bid, title, price_amount, currency,
          private.commission_rate_bps(), duration_days, revisions_allowed, initial_status, thread, coalesce(details, '{}'))
  returning * into o;
  update public.threads t set order_id = o.id where t.id = thread;
  insert into public.order_events (order_id, event_type, to_status, actor_id) values (o.id, 'created', o.status, buyer);
  perform private.emit_event('order.created', 'order', o.id, array[buyer, seller],
    jsonb_build_object('kind', kind, 'price_amount', price_amount, 'currency', currency), buyer);
  return o;
end
$$;
comment on function private.create_order(text, uuid, uuid, text, bigint, text, integer, integer, text, uuid, uuid, jsonb) is
  'Creates an order with its price and commission snapshot, its message thread, timeline entry and event.';

-- ---------------------------------------------------------------------------------------
-- Bid acceptance (000 POST /bids/:bidId/accept), run by the accept-bid edge function for the
-- caller it has identified. Row locks make concurrent accepts of one project produce one
-- order; accepting the same bid again returns that order.
--
-- The owner accepts the terms they read: the caller passes the bid's amount and duration as
-- the owner saw them, and they are compared with the bid under its row lock. A tailor may
-- edit a pending bid, and an edit takes the same lock (bids_check refuses one once the bid is
-- decided), so either the edit commits first and the acceptance is refused (PT409, with the
-- bid's terms now) or the acceptance commits first and the edit is refused: the order's
-- price is always the one the owner accepted.

create function ops.accept_bid(bid_id uuid, acting_user uuid, amount bigint, duration_days integer)
returns table (order_id uuid, created boolean)
language plpgsql
security definer
set search_path = ''
as $$
declare
  bid public.bids;
  project public.projects;
  o public.orders;
  others uuid[];
begin
  if accept_bid.amount is null or accept_bid.duration_days is null then
    raise exception 'accepting a bid needs the amount and duration_days the owner accepts' using errcode = '22023';
  end if;
  select * into bid from public.bids b where b.id = accept_bid.bid_id;
  if not found then
    raise exception 'bid % not found', accept_bid.bid_id using errcode = 'PT404';
  end if;
  -- Project first, then bid: every accept locks in this order, so they queue, not deadlock.
  select * into project from public.projects p where p.id = bid.project_id for update;
  select * into bid from public.bids b where b.id = accept_bid.bid_id for update;
  if project.owner_id is distinct from acting_user then
    raise exception 'only the project''s owner may accept its bids' using errcode = '42501';
  end if;

  if bid.status = 'accepted' then
    -- A retry answers with the order, for the terms it was accepted at only.
    if (bid.amount, bid.duration_days) is distinct from (accept_bid.amount, accept_bid.duration_days) then
      raise exception 'bid % was accepted at % for % days, not % for % days (minor units of %)',
        bid.id, bid.amount, bid.duration_days, accept_bid.amount, accept_bid.duration_days, project.currency
        using errcode = 'PT409';
    end if;
    select * into o from public.orders where orders.bid_id = bid.id;
    return query select o.id, false;
    return;
  end if;
  if project.status <> 'open' then
    raise exception 'project % is %: it no longer accepts bids', project.id, project.status using errcode = 'PT409';
  end if;
  if bid.status <> 'pending' then
    raise exception 'bid % is %: only a pending bid can be accepted', bid.id, bid.status using errcode = 'PT409';
  end if;
  if (bid.amount, bid.duration_days) is distinct from (accept_bid.amount, accept_bid.duration_days) then
    raise exception 'bid % has changed: it now asks % for % days, not % for % days (minor units of %); read it again before accepting',
      bid.id, bid.amount, bid.duration_days, accept_bid.amount, accept_bid.duration_days, project.currency
      using errcode = 'PT409';
  end if;

  update public.bids set status = 'accepted', decided_at = now() where id = bid.id;
  with rejected as (
    update public.bids set status = 'rejected', decided_at = now()
     where project_id = project.id and status = 'pending' and id <> bid.id
    returning tailor_id
  )
  select coalesce(array_agg(tailor_id), '{}') into others from rejected;
  update public.projects set status = 'in_progress' where id = project.id;

  o := private.create_order('project', project.owner_id, bid.tailor_id, project.title, bid.amount, project.currency,
                            bid.duration_days, null, 'awaiting_requirements', project.id, bid.id);

  perform private.emit_event('bid.accepted', 'bid', bid.id, array[bid.tailor_id],
    jsonb_build_object('project_id', project.id, 'order_id', o.id), acting_user);
  if cardinality(others) > 0 then
    perform private.emit_event('bid.rejected', 'project', project.id, others, jsonb_build_object('reason', 'another bid was accepted'), acting_user);
  end if;
  return query select o.id, true;
end
$$;
comment on function ops.accept_bid(uuid, uuid, bigint, integer) is
  'Accepts a bid for acting_user (the project owner) at the amount and duration_days the owner accepted, refused (PT409) if the bid says otherwise now: bid accepted, others rejected, project in progress, order, thread and events, in one transaction. Service role only: the accept-bid function calls it.';
revoke execute on function ops.accept_bid(uuid, uuid, bigint, integer) from public;
grant execute on function ops.accept_bid(uuid, uuid, bigint, integer) to service_role;

-- ---------------------------------------------------------------------------------------
-- Requirements approval (000 POST /projects/:id/requirements/approve): each party approves
-- the project's requirements as they stand; when both have, the order awaits payment.

create function private.approve_requirements(order_id uuid) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
  roles text[] := private.order_roles(o);
begin
  -- State first, then party, as private.transition_order does: a wrong state is PT409 for all.
  if o.status <> 'awaiting_requirements' then
    raise exception 'order % is %: requirements are no longer open for approval', o.id, o.status using errcode = 'PT409';
  end if;
  if not (roles && array['buyer', 'seller']) then
    raise exception 'only the buyer and the seller approve requirements' using errcode = '42501';
  end if;
  update public.orders set
    requirements_approved_by_buyer_at = case when 'buyer' = any(roles) then coalesce(requirements_approved_by_buyer_at, now())
                                             else requirements_approved_by_buyer_at end,
    requirements_approved_by_seller_at = case when 'seller' = any(roles) then coalesce(requirements_approved_by_seller_at, now())
                                              else requirements_approved_by_seller_at end
  where id = o.id returning * into o;
  insert into public.order_events (order_id, event_type, actor_id) values (o.id, 'requirements_approved', auth.uid());
  perform private.emit_event('order.requirements_approved', 'order', o.id, array[o.buyer_id, o.seller_id]);
  if o.requirements_approved_by_buyer_at is not null and o.requirements_approved_by_seller_at is not null then
    o := private.transition_order(o.id, 'awaiting_payment', array['system'], auth.uid(), 'requirements approved by both parties');
  end if;
  return o;
end
$$;
comment on function private.approve_requirements(uuid) is
  'The body of the client RPC public.approve_requirements: security definer, in private so the API does not expose it.';
grant execute on function private.approve_requirements(uuid) to authenticated;

create function public.approve_requirements(order_id uuid) returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.approve_requirements(order_id)
$$;
comment on function public.approve_requirements(uuid) is
  'A party approves the requirements; the second approval moves the order to awaiting_payment.';

-- Requirements change only while a project is open or its order awaits approval; a change
-- withdraws both approvals, so each party approves what the requirements finally say.
create function private.guard_requirements_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  project uuid := coalesce(new.project_id, old.project_id);
  project_status text;
  o public.orders;
begin
  select status into project_status from public.projects where id = project;
  -- No project: it is being deleted (its owner's account with it) and the requirements go too.
  if project_status is null or project_status = 'open' then
    return coalesce(new, old);
  end if;
  select * into o from public.orders where project_id = project for update;
  if o.id is null or o.status <> 'awaiting_requirements' then
    raise exception 'the requirements of project % are settled: they change only while the project is open or awaiting approval', project
      using errcode = 'PT409';
  end if;
  update public.orders set requirements_approved_by_buyer_at = null, requirements_approved_by_seller_at = null where id = o.id;
  insert into public.order_events (order_id, event_type, actor_id) values (o.id, 'requirements_changed', auth.uid());
  perform private.emit_event('order.requirements_changed', 'order', o.id, array[o.buyer_id, o.seller_id]);
  return coalesce(new, old);
end
$$;
create trigger project_requirements_guard before insert or update or delete on public.project_requirements
  for each row execute function private.guard_requirements_change();

-- ---------------------------------------------------------------------------------------
-- Payment (awaiting_payment -> in_progress), for the payments feature only.

create function ops.record_order_payment(order_id uuid) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
begin
  select * into o from public.orders where id = order_id for update;
  if not found then
    raise exception 'order % not found', order_id using errcode = 'PT404';
  end if;
  if o.paid_at is not null then
    return o; -- a repeated confirmation changes nothing
  end if;
  insert into public.order_events (order_id, event_type, actor_id) values (o.id, 'payment_recorded', null);
  return private.transition_order(o.id, 'in_progress', array['system'], null, 'payment held in escrow');
end
$$;
comment on function ops.record_order_payment(uuid) is
  'Marks an order paid (funds held in escrow) and starts the work. Service role only; repeated calls return the order unchanged.';
revoke execute on function ops.record_order_payment(uuid) from public;
grant execute on function ops.record_order_payment(uuid) to service_role;

-- ---------------------------------------------------------------------------------------
-- Cancellation (000 POST /orders/:id/cancel), gated by private.order_transitions: either
-- party before payment; once paid, the seller (stepping back) or an admin; the buyer of a
-- paid order disputes instead.

create function private.cancel_order(order_id uuid, reason text) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
begin
  if coalesce(trim(reason), '') = '' then
    raise exception 'a cancellation needs a reason' using errcode = '22023';
  end if;
  return private.transition_order(o.id, 'cancelled', private.order_roles(o), auth.uid(), reason);
end
$$;
comment on function private.cancel_order(uuid, text) is
  'The body of the client RPC public.cancel_order: security definer, in private so the API does not expose it.';
grant execute on function private.cancel_order(uuid, text) to authenticated;

create function public.cancel_order(order_id uuid, reason text) returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.cancel_order(order_id, reason)
$$;
comment on function public.cancel_order(uuid, text) is 'Cancels an order if the caller may in its current state (see private.order_transitions).';

grant execute on function public.approve_requirements(uuid), public.cancel_order(uuid, text) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Account erasure waits for the user's open orders (registered in private.erasure_blockers
-- by the marketplace reference data): an order in progress has another party counting on it.

create function private.open_orders_blocking_erasure(user_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select case when count(*) > 0 then
           count(*) || case when count(*) = 1 then ' open order (' else ' open orders (' end
           || string_agg(o.id::text, ', ' order by o.created_at, o.id) filter (where o.n <= 5)
           || case when count(*) > 5 then ', …)' else ')' end
         end
    from (select o.id, o.created_at, row_number() over (order by o.created_at, o.id) as n
            from public.orders o
           where (o.buyer_id = open_orders_blocking_erasure.user_id or o.seller_id = open_orders_blocking_erasure.user_id)
             and o.status not in ('completed', 'cancelled')) o
$$;
comment on function private.open_orders_blocking_erasure(uuid) is
  'Erasure check: the user''s orders as buyer or seller that are neither completed nor cancelled, as ''N open orders (ids)'' (at most five ids), or null.';
grant execute on function private.open_orders_blocking_erasure(uuid) to service_role;

-- ======================================================================================
-- supabase/schemas/30_marketplace/55_service_orders.sql
-- ======================================================================================

-- Service orders (002 POST /orders): a buyer orders a service package; the order carries the
-- package's price, currency, delivery time and revisions as a snapshot. The orders table holds
-- the service columns (50_orders.sql); this file holds the function that creates such orders.

-- 002 POST /orders: the buyer orders a package. The order starts awaiting payment (service
-- orders have no requirements step); the payments feature creates the payment intent for it.
-- Exactly one effect per request id: concurrent calls with the same id queue on an advisory
-- lock and the later ones return the first one's order (the unique index is the backstop);
-- calls without a request id each create an order (a buyer may order a package twice).
create function private.order_service_package(package_id uuid, details jsonb default '{}', request_id uuid default null)
returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := auth.uid();
  pkg public.service_packages;
  svc public.services;
  o public.orders;
begin
  if buyer is null then
    raise exception 'sign in to order a service' using errcode = '42501';
  end if;
  perform private.assert_not_anonymous('order services');
  details := coalesce(details, '{}');
  if jsonb_typeof(details) <> 'object' then
    raise exception 'details must be a JSON object, not %', jsonb_typeof(details) using errcode = '22023';
  end if;
  if octet_length(details::text) > 8192 then
    raise exception 'details must be at most 8192 bytes of JSON' using errcode = '22023';
  end if;

  if request_id is not null then
    perform pg_advisory_xact_lock(hashtextextended('order_service_package:' || buyer::text || ':' || request_id::text, 0));
    select * into o from public.orders where buyer_id = buyer and client_request_id = request_id;
    if found then
      if o.package_id is distinct from order_service_package.package_id then
        raise exception 'request id % was already used for another order', request_id using errcode = '22023';
      end if;
      return o;
    end if;
  end if;

  -- Share locks: the package and its service cannot change price or visibility mid-order.
  select * into pkg from public.service_packages p where p.id = order_service_package.package_id for share;
  if not found then
    raise exception 'package % not found', package_id using errcode = 'PT404';
  end if;
  select * into svc from public.services s where s.id = pkg.service_id for share;
  if svc.provider_id = buyer then
    raise exception 'you cannot order your own service' using errcode = '42501';
  end if;
  if not svc.is_published or svc.suspended_at is not null then
    raise exception 'service % is not available for ordering', svc.id using errcode = 'PT409';
  end if;
  if not pkg.is_active then
    raise exception 'package % is no longer offered', pkg.id using errcode = 'PT409';
  end if;

  o := private.create_order('service', buyer, svc.provider_id, left(svc.title || ' — ' || pkg.name, 200),
                            pkg.price_amount, pkg.currency, pkg.delivery_days, pkg.revisions, 'awaiting_payment',
                            null, null, details);
  update public.orders set service_id = svc.id, package_id = pkg.id, client_request_id = request_id
   where id = o.id returning * into o;
  return o;
end
$$;
comment on function private.order_service_package(uuid, jsonb, uuid) is
  'The body of the client RPC public.order_service_package: security definer, in private so the API does not expose it.';
grant execute on function private.order_service_package(uuid, jsonb, uuid) to authenticated;

create function public.order_service_package(package_id uuid, details jsonb default '{}', request_id uuid default null)
returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.order_service_package(package_id, details, request_id)
$$;
comment on function public.order_service_package(uuid, jsonb, uuid) is
  '002 POST /orders: orders a package for the caller (price, currency, delivery days and revisions snapshotted), awaiting payment. Pass request_id to make retries return the same order.';
grant execute on function public.order_service_package(uuid, jsonb, uuid) to authenticated;

-- ======================================================================================
-- supabase/schemas/30_marketplace/60_deliveries.sql
-- ======================================================================================

-- Deliveries and disputes (000 "Deliverables lifecycle"): the seller submits proof and
-- files, the buyer approves or asks for a revision, or opens a dispute. Files live in the
-- private `deliverables` bucket under the order's id (<order id>/<file>): the seller of an
-- order in progress uploads, the two parties and marketplace managers read, nobody edits
-- or removes (they are the evidence a dispute is decided on).

-- Folder names are text and may be anything a client sends; only a uuid can name an order.
create function private.order_folder_role(folder text) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select case when o.seller_id = (select auth.uid()) then 'seller'
              when o.buyer_id = (select auth.uid()) then 'buyer' end
    from public.orders o where o.id = private.try_uuid(folder)
$$;
comment on function private.order_folder_role(text) is
  'buyer or seller when the folder names an order the caller is party to, else null.';

create function private.can_upload_deliverable(folder text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.orders o
                  where o.id = private.try_uuid(folder) and o.seller_id = (select auth.uid())
                    and o.status in ('in_progress', 'revision_requested'))
$$;
comment on function private.can_upload_deliverable(text) is
  'Whether the caller is the seller of the order the folder names, while work is due.';
grant execute on function private.order_folder_role(text), private.can_upload_deliverable(text) to authenticated;

create policy "Order parties and managers read deliverables"
  on storage.objects for select to authenticated
  using (bucket_id = 'deliverables'
         and (private.order_folder_role((storage.foldername(name))[1]) is not null
              or (select private.has_permission('marketplace.manage'))));
-- What the bucket takes (its types, SVG included as the bucket is private, within 50 MiB)
-- holds for copies too: private.object_content_allowed, 00_platform/80_storage_content.sql.
create policy "Sellers upload deliverables while work is due"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'deliverables' and private.can_upload_deliverable((storage.foldername(name))[1])
              and private.object_content_allowed(bucket_id, name, metadata));

-- ---------------------------------------------------------------------------------------

create table public.deliveries (
  id uuid primary key default gen_random_uuid(),
  order_id uuid not null references public.orders (id) on delete cascade,
  seller_id uuid references public.profiles (id) on delete set null,
  message text not null constraint deliveries_message_length check (char_length(trim(message)) between 1 and 5000),
  file_paths text[] not null default '{}'
    constraint deliveries_file_paths_in_order_folder check (cardinality(file_paths) <= 20 and private.paths_in_folder(file_paths, order_id)),
  status text not null default 'submitted' constraint deliveries_status check (status in ('submitted', 'approved', 'revision_requested')),
  response_note text constraint deliveries_response_note_length check (char_length(response_note) <= 5000),
  responded_at timestamptz,
  created_at timestamptz not null default now()
);
comment on table public.deliveries is
  'Work the seller submits (000 POST /orders/:id/deliveries): a message and files in the deliverables bucket. Written by functions only.';
create index deliveries_order_idx on public.deliveries (order_id, created_at desc);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index deliveries_seller_idx on public.deliveries (seller_id) where seller_id is not null;

alter table public.deliveries enable row level security;
grant select on public.deliveries to authenticated;
grant all on public.deliveries to service_role;
create policy "Readers of an order read its deliveries" on public.deliveries for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));

create table public.disputes (
  id uuid primary key default gen_random_uuid(),
  order_id uuid not null references public.orders (id) on delete cascade,
  opened_by uuid references public.profiles (id) on delete set null,
  reason text not null constraint disputes_reason_length check (char_length(trim(reason)) between 10 and 5000),
  status text not null default 'open' constraint disputes_status check (status in ('open', 'resolved')),
  resolution text constraint disputes_resolution check (resolution in ('refund', 'release')),
  resolution_note text,
  resolved_by uuid references public.profiles (id) on delete set null,
  resolved_at timestamptz,
  created_at timestamptz not null default now(),
  constraint disputes_resolution_consistent check ((status = 'resolved') = (resolution is not null and resolved_at is not null))
);
comment on table public.disputes is
  'Disputes the buyer opens (000 POST /orders/:id/dispute); an admin resolves them with a refund or a release (payments feature).';
create unique index disputes_one_open_per_order on public.disputes (order_id) where status = 'open';
create index disputes_status_idx on public.disputes (status, created_at);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index disputes_opened_by_idx on public.disputes (opened_by) where opened_by is not null;
create index disputes_resolved_by_idx on public.disputes (resolved_by) where resolved_by is not null;

alter table public.disputes enable row level security;
grant select on public.disputes to authenticated;
grant all on public.disputes to service_role;
create policy "Readers of an order read its disputes" on public.disputes for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));

-- ---------------------------------------------------------------------------------------

create function private.submit_delivery(order_id uuid, message text, file_paths text[] default '{}')
returns public.deliveries
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
  delivery public.deliveries;
  missing text;
begin
  -- State first, then party, as private.transition_order does: a wrong state is PT409 for all.
  if o.status not in ('in_progress', 'revision_requested') then
    raise exception 'order % is %: no delivery is due', o.id, o.status using errcode = 'PT409';
  end if;
  if not ('seller' = any(private.order_roles(o))) then
    raise exception 'only the seller submits deliveries' using errcode = '42501';
  end if;
  if not private.paths_in_folder(coalesce(file_paths, '{}'), o.id) then
    raise exception 'delivery files must be in the order''s folder %/ of the deliverables bucket', o.id using errcode = '22023';
  end if;
  select p into missing from unnest(file_paths) p
   where not exists (select 1 from storage.objects so where so.bucket_id = 'deliverables' and so.name = p) limit 1;
  if missing is not null then
    raise exception 'file % has not been uploaded to the deliverables bucket', missing using errcode = '22023';
  end if;

  insert into public.deliveries (order_id, seller_id, message, file_paths)
  values (o.id, auth.uid(), message, coalesce(file_paths, '{}')) returning * into delivery;
  insert into public.order_events (order_id, event_type, actor_id, note) values (o.id, 'delivery_submitted', auth.uid(), message);
  perform private.transition_order(o.id, 'delivered', array['seller'], auth.uid());
  return delivery;
end
$$;
comment on function private.submit_delivery(uuid, text, text[]) is
  'The body of the client RPC public.submit_delivery: security definer, in private so the API does not expose it.';
grant execute on function private.submit_delivery(uuid, text, text[]) to authenticated;

create function public.submit_delivery(order_id uuid, message text, file_paths text[] default '{}')
returns public.deliveries
language sql
security invoker
set search_path = ''
as $$
  select private.submit_delivery(order_id, message, file_paths)
$$;
comment on function public.submit_delivery(uuid, text, text[]) is
  'The seller delivers: proof message and uploaded files; the order becomes delivered.';

create function private.approve_delivery(order_id uuid) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
begin
  o := private.transition_order(o.id, 'completed', private.order_roles(o), auth.uid(), 'delivery approved');
  update public.deliveries set status = 'approved', responded_at = now()
   where deliveries.order_id = o.id and deliveries.status = 'submitted';
  return o;
end
$$;
comment on function private.approve_delivery(uuid) is
  'The body of the client RPC public.approve_delivery: security definer, in private so the API does not expose it.';
grant execute on function private.approve_delivery(uuid) to authenticated;

create function public.approve_delivery(order_id uuid) returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.approve_delivery(order_id)
$$;
comment on function public.approve_delivery(uuid) is
  'The buyer accepts the latest delivery (000 POST /orders/:id/approve-delivery); the order completes and escrow may be released.';

create function private.request_revision(order_id uuid, note text) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
begin
  if coalesce(trim(note), '') = '' then
    raise exception 'a revision request needs a note saying what to change' using errcode = '22023';
  end if;
  if o.status = 'delivered' and o.revisions_allowed is not null and o.revisions_used >= o.revisions_allowed
     and 'buyer' = any(private.order_roles(o)) then
    raise exception 'order % has used all % revisions it includes', o.id, o.revisions_allowed using errcode = 'PT409';
  end if;
  o := private.transition_order(o.id, 'revision_requested', private.order_roles(o), auth.uid(), note);
  update public.orders set revisions_used = revisions_used + 1 where id = o.id returning * into o;
  update public.deliveries set status = 'revision_requested', response_note = note, responded_at = now()
   where deliveries.order_id = o.id and deliveries.status = 'submitted';
  insert into public.order_events (order_id, event_type, actor_id, note) values (o.id, 'revision_requested', auth.uid(), note);
  return o;
end
$$;
comment on function private.request_revision(uuid, text) is
  'The body of the client RPC public.request_revision: security definer, in private so the API does not expose it.';
grant execute on function private.request_revision(uuid, text) to authenticated;

create function public.request_revision(order_id uuid, note text) returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.request_revision(order_id, note)
$$;
comment on function public.request_revision(uuid, text) is
  'The buyer asks for changes to a delivery, within the revisions the order includes.';

create function private.open_dispute(order_id uuid, reason text) returns public.disputes
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
  dispute public.disputes;
begin
  if char_length(trim(coalesce(reason, ''))) < 10 then
    raise exception 'a dispute needs a reason of at least 10 characters' using errcode = '22023';
  end if;
  o := private.transition_order(o.id, 'disputed', private.order_roles(o), auth.uid(), reason);
  insert into public.disputes (order_id, opened_by, reason) values (o.id, auth.uid(), reason) returning * into dispute;
  insert into public.order_events (order_id, event_type, actor_id, note) values (o.id, 'dispute_opened', auth.uid(), reason);
  return dispute;
end
$$;
comment on function private.open_dispute(uuid, text) is
  'The body of the client RPC public.open_dispute: security definer, in private so the API does not expose it.';
grant execute on function private.open_dispute(uuid, text) to authenticated;

create function public.open_dispute(order_id uuid, reason text) returns public.disputes
language sql
security invoker
set search_path = ''
as $$
  select private.open_dispute(order_id, reason)
$$;
comment on function public.open_dispute(uuid, text) is
  'The buyer disputes an order in progress or delivered (000 POST /orders/:id/dispute); release is frozen until an admin resolves it.';

grant execute on function public.submit_delivery(uuid, text, text[]), public.approve_delivery(uuid),
  public.request_revision(uuid, text), public.open_dispute(uuid, text) to authenticated;

-- ======================================================================================
-- supabase/schemas/30_marketplace/70_design_sharing.sql
-- ======================================================================================

-- Designs, continued (000 POST /designs/:id/share and /duplicate): share links and copies.
--
-- A share link is a bearer token: 32 random bytes, base64url (43 characters). The database
-- keeps only its sha256 and the first 8 characters (so the owner can tell links apart); the
-- token itself is answered once, by create_design_share_link. Whoever holds an unrevoked,
-- unexpired token reads that one design through get_shared_design (anon included) and may
-- export it (the design-export function checks the token through the same RPC).
--
-- Listing one's own designs, newest first, with a cursor (designs_owner_created_idx):
--   from('designs').select().eq('owner_id', uid)
--     .order('created_at', { ascending: false }).order('id', { ascending: false }).limit(20)
--   next page: .or(`created_at.lt.${last.created_at},and(created_at.eq.${last.created_at},id.lt.${last.id})`)

create table public.design_share_links (
  id uuid primary key default gen_random_uuid(),
  design_id uuid not null references public.designs (id) on delete cascade,
  owner_id uuid not null references public.profiles (id) on delete cascade,
  token_hash bytea not null constraint design_share_links_token_hash_unique unique
    constraint design_share_links_token_hash_sha256 check (octet_length(token_hash) = 32),
  token_prefix text not null constraint design_share_links_token_prefix_format check (token_prefix ~ '^[A-Za-z0-9_-]{8}$'),
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  constraint design_share_links_expiry_after_creation check (expires_at is null or expires_at > created_at)
);
comment on table public.design_share_links is
  'Share links to a design (000 POST /designs/:id/share). Rows are written only by create_design_share_link and revoke_design_share_link.';
comment on column public.design_share_links.owner_id is 'The design''s owner when the link was made; who may list and revoke it.';
comment on column public.design_share_links.token_hash is 'sha256 of the token; the token itself is never stored, and the hash opens nothing.';
comment on column public.design_share_links.token_prefix is 'The first 8 characters of the token, to recognise a link in a list.';
comment on column public.design_share_links.expires_at is 'After this the link answers "share link expired"; null: never expires.';

create index design_share_links_owner_idx on public.design_share_links (owner_id, created_at desc);
create index design_share_links_design_idx on public.design_share_links (design_id);

alter table public.design_share_links enable row level security;
-- No insert, update or delete grant: links are made and revoked through the functions below.
-- The owner may read the hash (select('*') needs every column); it opens nothing by itself.
grant select on public.design_share_links to authenticated;
grant all on public.design_share_links to service_role;

create policy "Owners read their share links" on public.design_share_links for select to authenticated
  using (owner_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Making, revoking and using links.

create function private.share_token_hash(token text) returns bytea
language sql
immutable
set search_path = ''
as $$
  select extensions.digest(convert_to(token, 'UTF8'), 'sha256')
$$;
comment on function private.share_token_hash(text) is 'How a share token is stored: its sha256.';

create function private.create_design_share_link(design_id uuid, expires_at timestamptz default null)
returns table (id uuid, token text, token_prefix text, created_at timestamptz)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  design_owner uuid;
  new_token text;
  link public.design_share_links;
begin
  select d.owner_id into design_owner from public.designs d where d.id = create_design_share_link.design_id;
  -- A design the caller does not own is "not found" to them, whether or not it exists.
  if design_owner is null or design_owner is distinct from auth.uid() then
    raise exception 'design % not found', create_design_share_link.design_id using errcode = 'PT404';
  end if;
  if create_design_share_link.expires_at is not null and create_design_share_link.expires_at <= now() then
    raise exception 'expires_at must be in the future' using errcode = '22023';
  end if;
  if (select count(*) from public.design_share_links l
      where l.design_id = create_design_share_link.design_id and l.revoked_at is null) >= 50 then
    raise exception 'a design may have at most 50 active share links; revoke some first' using errcode = 'PT409';
  end if;
  new_token := rtrim(translate(encode(extensions.gen_random_bytes(32), 'base64'), '+/', '-_'), '=');
  insert into public.design_share_links (design_id, owner_id, token_hash, token_prefix, expires_at)
  values (create_design_share_link.design_id, design_owner, private.share_token_hash(new_token),
          left(new_token, 8), create_design_share_link.expires_at)
  returning * into link;
  return query select link.id, new_token, link.token_prefix, link.created_at;
end
$$;
comment on function private.create_design_share_link(uuid, timestamptz) is
  'The body of the client RPC public.create_design_share_link: security definer, in private so the API does not expose it.';
grant execute on function private.create_design_share_link(uuid, timestamptz) to authenticated;

create function public.create_design_share_link(design_id uuid, expires_at timestamptz default null)
returns table (id uuid, token text, token_prefix text, created_at timestamptz)
language sql
volatile
security invoker
set search_path = ''
as $$
  select * from private.create_design_share_link(design_id, expires_at)
$$;
comment on function public.create_design_share_link(uuid, timestamptz) is
  'Makes a share link to a design the caller owns; the only time the token is returned.';
grant execute on function public.create_design_share_link(uuid, timestamptz) to authenticated;

create function private.revoke_design_share_link(link_id uuid) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  update public.design_share_links l set revoked_at = coalesce(l.revoked_at, now())
   where l.id = link_id and l.owner_id = auth.uid();
  if not found then
    raise exception 'share link % not found', link_id using errcode = 'PT404';
  end if;
end
$$;
comment on function private.revoke_design_share_link(uuid) is
  'The body of the client RPC public.revoke_design_share_link: security definer, in private so the API does not expose it.';
grant execute on function private.revoke_design_share_link(uuid) to authenticated;

create function public.revoke_design_share_link(link_id uuid) returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.revoke_design_share_link(link_id)
$$;
comment on function public.revoke_design_share_link(uuid) is
  'Revokes one of the caller''s share links for good (revoking twice is harmless).';
grant execute on function public.revoke_design_share_link(uuid) to authenticated;

create function private.get_shared_design(token text) returns public.designs
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  link public.design_share_links;
  design public.designs;
begin
  select * into link from public.design_share_links l
   where l.token_hash = private.share_token_hash(coalesce(get_shared_design.token, ''));
  if not found or link.revoked_at is not null then
    raise exception 'share link not found or revoked' using errcode = 'PT404';
  end if;
  if link.expires_at is not null and link.expires_at <= now() then
    raise exception 'share link expired' using errcode = 'PT410',
      detail = format('The link expired at %s.', link.expires_at);
  end if;
  select * into design from public.designs d where d.id = link.design_id;
  return design;
end
$$;
comment on function private.get_shared_design(text) is
  'The body of the client RPC public.get_shared_design: security definer, in private so the API does not expose it.';
grant execute on function private.get_shared_design(text) to anon, authenticated, service_role;

create function public.get_shared_design(token text) returns public.designs
language sql
stable
security invoker
set search_path = ''
as $$
  select private.get_shared_design(token)
$$;
comment on function public.get_shared_design(text) is
  'The one design a share token opens. Unknown or revoked token: PT404 (HTTP 404); expired: PT410 "share link expired" (HTTP 410).';
grant execute on function public.get_shared_design(text) to anon, authenticated, service_role;

-- Copies a design the caller may read as its owner or because it is public (not through a
-- moderator's reach into private designs) into a new private design of theirs.
create function private.duplicate_design(design_id uuid) returns public.designs
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  source public.designs;
  copy public.designs;
  caller uuid := auth.uid();
begin
  if caller is null then
    raise exception 'permission denied: sign in to duplicate a design' using errcode = '42501';
  end if;
  select * into source from public.designs d
   where d.id = duplicate_design.design_id and (d.owner_id = caller or d.visibility = 'public');
  if not found then
    raise exception 'design % not found', duplicate_design.design_id using errcode = 'PT404';
  end if;
  insert into public.designs (owner_id, title, description, tags, visibility, pattern, file_paths, duplicated_from)
  values (caller, left(trim(source.title), 113) || ' (copy)', source.description, source.tags, 'private', source.pattern,
          -- Linked files live in the source owner's folder: only the owner's own copy keeps them.
          case when source.owner_id = caller then source.file_paths else '{}' end,
          source.id)
  returning * into copy;
  return copy;
end
$$;
comment on function private.duplicate_design(uuid) is
  'The body of the client RPC public.duplicate_design: security definer, in private so the API does not expose it.';
grant execute on function private.duplicate_design(uuid) to authenticated;

create function public.duplicate_design(design_id uuid) returns public.designs
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.duplicate_design(design_id)
$$;
comment on function public.duplicate_design(uuid) is
  'Copies the caller''s own design, or a public one, into a new private design of the caller''s, titled "... (copy)".';
grant execute on function public.duplicate_design(uuid) to authenticated;

-- ======================================================================================
-- supabase/schemas/30_marketplace/71_exports_bucket.sql
-- ======================================================================================

-- Design exports (000 POST /designs/:id/export): a private bucket holding the JSON, SVG and
-- PNG files the design-export function renders, at <owner id>/<design id>/<timestamp>.<ext>.
-- Only the service role writes here (the function, after checking the caller owns the design
-- or holds a share token for it), and hands out signed URLs; owners may also read their own
-- folder through the API. Nobody else reads, and nobody writes, through the API.

create policy "Users read design exports in their own folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'exports' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- ======================================================================================
-- supabase/schemas/30_marketplace/80_assets.sql
-- ======================================================================================

-- Assets & textures (000 "Assets & Textures"): the pattern library studio users start from,
-- their fabric textures (swatch images in the textures bucket, see 81_textures_bucket.sql), and
-- garment presets. The library and presets are the platform's: readable by every signed-in
-- user, edited by holders of assets.manage. Textures are their owner's: public ones are
-- readable by every signed-in user, private ones by their owner only.

-- ---------------------------------------------------------------------------------------
-- Pattern library (GET /assets/patterns?category=).

create table public.pattern_library (
  id uuid primary key default gen_random_uuid(),
  category text not null constraint pattern_library_category_format check (category ~ '^[a-z][a-z0-9_-]{0,39}$'),
  name text not null constraint pattern_library_name_length check (char_length(trim(name)) between 1 and 120),
  description text not null default '' constraint pattern_library_description_length check (char_length(description) <= 5000),
  tags text[] not null default '{}' constraint pattern_library_tags_valid check (private.tags_are_valid(tags)),
  pattern jsonb not null constraint pattern_library_pattern_size check (pg_column_size(pattern) <= 1024 * 1024),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint pattern_library_category_name_unique unique (category, name)
);
comment on table public.pattern_library is
  'Library patterns by category (000 GET /assets/patterns). Read by signed-in users, edited by assets.manage holders.';
comment on column public.pattern_library.category is 'Lowercase slug (dresses, tops, sleeves, ...); list with .eq(''category'', ...).';
comment on column public.pattern_library.pattern is 'A version-1 pattern document, checked like designs.pattern.';

create trigger pattern_library_check_pattern before insert or update of pattern on public.pattern_library
  for each row execute function private.check_design_pattern();
create trigger pattern_library_touch_updated_at before update on public.pattern_library
  for each row execute function private.touch_updated_at();

alter table public.pattern_library enable row level security;
grant select on public.pattern_library to authenticated;
grant insert (category, name, description, tags, pattern),
      update (category, name, description, tags, pattern),
      delete
  on public.pattern_library to authenticated;
grant all on public.pattern_library to service_role;

-- Reference data for every signed-in user, as currencies are for everyone.
create policy "Signed-in users read the pattern library" on public.pattern_library for select to authenticated
  using (true);
create policy "Asset managers add library patterns" on public.pattern_library for insert to authenticated
  with check ((select private.has_permission('assets.manage')));
create policy "Asset managers edit library patterns" on public.pattern_library for update to authenticated
  using ((select private.has_permission('assets.manage'))) with check ((select private.has_permission('assets.manage')));
create policy "Asset managers remove library patterns" on public.pattern_library for delete to authenticated
  using ((select private.has_permission('assets.manage')));

-- ---------------------------------------------------------------------------------------
-- Garment presets (GET /assets/presets): named sets of measurements the studio starts from.

create function private.is_object_of_numbers(value jsonb, max_keys integer) returns boolean
language sql
immutable
set search_path = ''
as $$
  select jsonb_typeof(value) = 'object'
     and (select count(*) from jsonb_object_keys(value)) <= max_keys
     and not exists (select 1 from jsonb_each(value) e
                     where jsonb_typeof(e.value) <> 'number' or (e.value #>> '{}')::numeric <= 0
                        or e.key !~ '^[a-z][a-z0-9_]{0,39}$')
$$;
comment on function private.is_object_of_numbers(jsonb, integer) is
  'Whether value is an object of at most max_keys snake_case names to positive numbers.';
grant execute on function private.is_object_of_numbers(jsonb, integer) to authenticated, service_role;

create table public.garment_presets (
  id uuid primary key default gen_random_uuid(),
  category text not null constraint garment_presets_category_format check (category ~ '^[a-z][a-z0-9_-]{0,39}$'),
  name text not null constraint garment_presets_name_length check (char_length(trim(name)) between 1 and 120),
  description text not null default '' constraint garment_presets_description_length check (char_length(description) <= 2000),
  units text not null default 'cm' constraint garment_presets_units check (units in ('mm', 'cm', 'in')),
  measurements jsonb not null default '{}'
    constraint garment_presets_measurements_numbers check (private.is_object_of_numbers(measurements, 100)),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint garment_presets_category_name_unique unique (category, name)
);
comment on table public.garment_presets is
  'Garment presets (000 GET /assets/presets): measurements by name. Read by signed-in users, edited by assets.manage holders.';
comment on column public.garment_presets.measurements is 'An object of positive numbers in `units`, e.g. {"chest": 96, "waist": 80}.';

create trigger garment_presets_touch_updated_at before update on public.garment_presets
  for each row execute function private.touch_updated_at();

alter table public.garment_presets enable row level security;
grant select on public.garment_presets to authenticated;
grant insert (category, name, description, units, measurements),
      update (category, name, description, units, measurements),
      delete
  on public.garment_presets to authenticated;
grant all on public.garment_presets to service_role;

create policy "Signed-in users read garment presets" on public.garment_presets for select to authenticated
  using (true);
create policy "Asset managers add garment presets" on public.garment_presets for insert to authenticated
  with check ((select private.has_permission('assets.manage')));
create policy "Asset managers edit garment presets" on public.garment_presets for update to authenticated
  using ((select private.has_permission('assets.manage'))) with check ((select private.has_permission('assets.manage')));
create policy "Asset managers remove garment presets" on public.garment_presets for delete to authenticated
  using ((select private.has_permission('assets.manage')));

-- ---------------------------------------------------------------------------------------
-- Fabric textures (POST /assets/textures, GET /assets/textures?mine=|public=): upload the
-- swatch to textures/<uid>/..., then insert the row naming it.

create table public.textures (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  name text not null constraint textures_name_length check (char_length(trim(name)) between 1 and 120),
  storage_path text not null constraint textures_storage_path_unique unique,
  visibility text not null default 'private' constraint textures_visibility check (visibility in ('private', 'public')),
  tags text[] not null default '{}' constraint textures_tags_valid check (private.tags_are_valid(tags)),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint textures_storage_path_owned check (private.paths_in_folder(array[storage_path], owner_id))
);
comment on table public.textures is
  'Fabric textures (000 POST/GET /assets/textures): a swatch image in the textures bucket plus its metadata.';
comment on column public.textures.storage_path is 'Object name in the textures bucket, under the owner''s folder (<owner id>/...).';
comment on column public.textures.visibility is 'public: every signed-in user may read the row and the image; private: the owner only.';

create index textures_owner_created_idx on public.textures (owner_id, created_at desc);
create index textures_public_created_idx on public.textures (created_at desc) where visibility = 'public';

create trigger textures_touch_updated_at before update on public.textures
  for each row execute function private.touch_updated_at();

alter table public.textures enable row level security;
grant select on public.textures to authenticated;
-- The path is set once: moving a row to another object would leave the policy on the old one.
grant insert (name, storage_path, visibility, tags), update (name, visibility, tags), delete
  on public.textures to authenticated;
grant all on public.textures to service_role;

create policy "Owners, and everyone signed in for public textures, read textures"
  on public.textures for select to authenticated
  using (owner_id = (select auth.uid()) or visibility = 'public');
create policy "Users add their own textures" on public.textures for insert to authenticated
  with check (owner_id = (select auth.uid()));
create policy "Owners edit their textures" on public.textures for update to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "Owners delete their textures" on public.textures for delete to authenticated
  using (owner_id = (select auth.uid()));

-- ======================================================================================
-- supabase/schemas/30_marketplace/81_textures_bucket.sql
-- ======================================================================================

-- Textures: a private bucket of fabric swatches, <owner id>/<file>. Owners write only in their
-- own folder; a swatch is readable by its owner, and by every signed-in user once a public
-- row in public.textures names it. Storage itself refuses uploads over 5 MiB and anything but
-- PNG, JPEG and WebP images; the insert and update policies hold copies and moves to the same
-- rule (private.object_content_allowed, supabase/schemas/00_platform/80_storage_content.sql).

-- Whether a public texture row names this object. Security definer so that the storage
-- policy asks one indexed question (textures_storage_path_unique) instead of running the
-- textures policies too.
create function private.is_public_texture(object_name text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.textures t where t.storage_path = object_name and t.visibility = 'public')
$$;
comment on function private.is_public_texture(text) is
  'Whether the textures bucket object is the image of a public texture.';
grant execute on function private.is_public_texture(text) to authenticated, service_role;

create policy "Owners, and signed-in users for public textures, read texture images"
  on storage.objects for select to authenticated
  using (bucket_id = 'textures'
         and ((storage.foldername(name))[1] = (select auth.uid())::text or private.is_public_texture(name)));

create policy "Users upload texture images into their own folder"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'textures' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users replace texture images in their own folder"
  on storage.objects for update to authenticated
  using (bucket_id = 'textures' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'textures' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users delete texture images in their own folder"
  on storage.objects for delete to authenticated
  using (bucket_id = 'textures' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- ======================================================================================
-- supabase/schemas/30_marketplace/85_portfolio.sql
-- ======================================================================================

-- Portfolio (000 GET/POST/PATCH/DELETE /portfolio): work a user shows on their profile. An
-- item is readable by everyone, anon included, while its owner's profile is visible to the
-- public (profiles.is_public and an active account, as the profiles policies decide), and
-- always by its owner. Images sit in the owner's folder of the portfolio bucket (next
-- migration); an item may point at one of the owner's designs.

create function private.profile_is_public(profile_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.profiles p where p.id = profile_id and p.is_public and p.account_status = 'active')
$$;
comment on function private.profile_is_public(uuid) is
  'Whether anyone may see this user''s public face: a public profile of an active account.';
grant execute on function private.profile_is_public(uuid) to anon, authenticated, service_role;

create table public.portfolio_items (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  title text not null constraint portfolio_items_title_length check (char_length(trim(title)) between 1 and 120),
  description text not null default '' constraint portfolio_items_description_length check (char_length(description) <= 5000),
  image_paths text[] not null default '{}'
    constraint portfolio_items_image_paths_owned check (cardinality(image_paths) <= 10 and private.paths_in_folder(image_paths, owner_id)),
  design_id uuid references public.designs (id) on delete set null,
  position integer not null default 0 constraint portfolio_items_position_range check (position between 0 and 10000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.portfolio_items is
  'Portfolio items (000 /portfolio). Public while the owner''s profile is public; always visible to the owner.';
comment on column public.portfolio_items.image_paths is 'Object names in the portfolio bucket, under the owner''s folder.';
comment on column public.portfolio_items.design_id is 'One of the owner''s own designs, if the item shows one.';
comment on column public.portfolio_items.position is 'Display order, ascending; ties by created_at.';

create index portfolio_items_owner_position_idx on public.portfolio_items (owner_id, position, created_at);
create index portfolio_items_design_idx on public.portfolio_items (design_id);

-- A design linked from a portfolio must be the owner's: otherwise a portfolio could point
-- readers at (and confirm the existence of) someone else's private design.
create function private.check_portfolio_design() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.design_id is not null
     and not exists (select 1 from public.designs d where d.id = new.design_id and d.owner_id = new.owner_id) then
    raise exception 'design % is not one of your designs', new.design_id using errcode = '42501';
  end if;
  return new;
end
$$;

create trigger portfolio_items_check_design before insert or update of design_id, owner_id on public.portfolio_items
  for each row execute function private.check_portfolio_design();
create trigger portfolio_items_touch_updated_at before update on public.portfolio_items
  for each row execute function private.touch_updated_at();

alter table public.portfolio_items enable row level security;
grant select on public.portfolio_items to anon, authenticated;
grant insert (title, description, image_paths, design_id, position),
      update (title, description, image_paths, design_id, position),
      delete
  on public.portfolio_items to authenticated;
grant all on public.portfolio_items to service_role;

create policy "Anyone reads portfolios of public profiles" on public.portfolio_items for select to anon
  using (private.profile_is_public(owner_id));
create policy "Owners, and everyone for public profiles, read portfolio items"
  on public.portfolio_items for select to authenticated
  using (owner_id = (select auth.uid()) or private.profile_is_public(owner_id));
create policy "Users add items to their own portfolio" on public.portfolio_items for insert to authenticated
  with check (owner_id = (select auth.uid()));
create policy "Owners edit their portfolio items" on public.portfolio_items for update to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "Owners delete their portfolio items" on public.portfolio_items for delete to authenticated
  using (owner_id = (select auth.uid()));

-- ======================================================================================
-- supabase/schemas/30_marketplace/86_portfolio_bucket.sql
-- ======================================================================================

-- Portfolio images: a private bucket, <owner id>/<file>, readable as the portfolio is: by
-- everyone (anon included, through signed URLs) while the owner's profile is public, and
-- always by the owner. A public bucket would serve a hidden profile's images to anyone
-- holding a URL. Owners write only in their own folder; images only (no SVG), at most 10 MiB,
-- however they arrive: Storage checks uploads, the insert and update policies check copies and
-- moves too (private.object_content_allowed, supabase/schemas/00_platform/80_storage_content.sql).

-- The first folder of an object name as a user id, or null when it is not one.
create function private.folder_owner(object_name text) returns uuid
language sql
immutable
set search_path = ''
as $$
  select private.try_uuid(split_part(object_name, '/', 1))
$$;
comment on function private.folder_owner(text) is 'The user id an object name starts with (<uid>/...), or null.';
grant execute on function private.folder_owner(text) to anon, authenticated, service_role;

create policy "Anyone reads portfolio images of public profiles"
  on storage.objects for select to anon
  using (bucket_id = 'portfolio' and private.profile_is_public(private.folder_owner(name)));

create policy "Owners, and everyone for public profiles, read portfolio images"
  on storage.objects for select to authenticated
  using (bucket_id = 'portfolio'
         and ((storage.foldername(name))[1] = (select auth.uid())::text
              or private.profile_is_public(private.folder_owner(name))));

create policy "Users upload portfolio images into their own folder"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'portfolio' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users replace portfolio images in their own folder"
  on storage.objects for update to authenticated
  using (bucket_id = 'portfolio' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'portfolio' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users delete portfolio images in their own folder"
  on storage.objects for delete to authenticated
  using (bucket_id = 'portfolio' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- ======================================================================================
-- supabase/schemas/30_marketplace/90_reviews.sql
-- ======================================================================================

-- Reviews and ratings (000 "Reviews & Ratings"): once an order is completed, its buyer and
-- its seller may each review the other, once (POST /orders/:orderId/reviews). Reviews are
-- public (GET /users/:id/reviews); the author may edit the rating and comment for 14 days
-- and never delete; content.moderate holders hide reviews, which drops them from the
-- aggregates. profiles.rating_avg and review_count are recomputed from the table on every
-- change, under a row lock on the profile, so concurrent reviews never lose an update.
--
--   write:  supabase.rpc('review_order', { order_id, rating, comment })         -- author and subject derived
--   edit:   supabase.from('reviews').update({ rating, comment }).eq('id', id)   -- within 14 days
--   read:   supabase.from('reviews').select('id, rating, comment, author_role, author_id, created_at, edited_at')
--             .eq('subject_id', userId).order('created_at', { ascending: false }).order('id', { ascending: false })
--   totals: supabase.from('public_profiles').select('rating_avg, review_count').eq('id', userId)
--   hide:   supabase.rpc('moderate_review', { review_id, hidden: true, reason })

create table public.reviews (
  id uuid primary key default gen_random_uuid(),
  order_id uuid not null references public.orders (id) on delete cascade,
  author_id uuid references public.profiles (id) on delete set null,
  subject_id uuid not null references public.profiles (id) on delete cascade,
  author_role text not null constraint reviews_author_role check (author_role in ('buyer', 'seller')),
  rating smallint not null constraint reviews_rating_range check (rating between 1 and 5),
  comment text not null default '' constraint reviews_comment_length check (char_length(comment) <= 2000),
  is_hidden boolean not null default false,
  hidden_at timestamptz,
  hidden_by uuid references public.profiles (id) on delete set null,
  hidden_reason text constraint reviews_hidden_reason_length check (char_length(hidden_reason) <= 2000),
  created_at timestamptz not null default now(),
  edited_at timestamptz,
  constraint reviews_not_self check (author_id <> subject_id),
  constraint reviews_hidden_consistent check (is_hidden = (hidden_at is not null))
);
comment on table public.reviews is
  'Reviews between the parties of completed orders (000 /orders/:orderId/reviews, /users/:id/reviews). One per order and author; public unless hidden.';
comment on column public.reviews.author_id is 'The reviewer: the caller, set by trigger; null once their account is deleted (the review stays).';
comment on column public.reviews.subject_id is 'Who is reviewed: the order''s other party, derived by trigger, never client-supplied.';
comment on column public.reviews.author_role is 'Whether the author was the order''s buyer or its seller (so the subject was the other).';
comment on column public.reviews.edited_at is 'Last edit by the author; edits are allowed for 14 days after created_at.';
comment on column public.reviews.is_hidden is 'Set by moderate_review() (content.moderate): hidden reviews are seen only by their author and moderators, and do not count.';

create unique index reviews_one_per_author_and_order on public.reviews (order_id, author_id);
create index reviews_subject_idx on public.reviews (subject_id, created_at desc, id desc) where not is_hidden;
create index reviews_author_idx on public.reviews (author_id);
create index reviews_created_idx on public.reviews (created_at desc, id desc) where not is_hidden;
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index reviews_hidden_by_idx on public.reviews (hidden_by) where hidden_by is not null;

-- ---------------------------------------------------------------------------------------
-- Who may review: a party of a completed order, about the other party. A trigger before
-- insert, so that every way in (review_order() for users, service tooling) gets the same
-- checks, precise errors and derived author and subject.

create function private.prepare_review() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
  caller uuid := auth.uid();
begin
  if private.is_service_role() and new.author_id is not null then
    caller := new.author_id; -- service tooling may write on a party's behalf
  end if;
  select * into o from public.orders where id = new.order_id;
  if not found or caller is null or caller not in (o.buyer_id, o.seller_id) then
    raise exception 'order % not found', new.order_id using errcode = 'PT404';
  end if;
  if o.status <> 'completed' then
    raise exception 'order % is %: reviews open once it is completed', o.id, o.status using errcode = 'PT409';
  end if;
  new.author_id := caller;
  new.author_role := case when caller = o.buyer_id then 'buyer' else 'seller' end;
  new.subject_id := case when caller = o.buyer_id then o.seller_id else o.buyer_id end;
  if new.subject_id is null then
    raise exception 'the other party of order % no longer has an account', o.id using errcode = 'PT409';
  end if;
  new.is_hidden := false;
  new.hidden_at := null;
  new.hidden_by := null;
  new.hidden_reason := null;
  new.created_at := now();
  new.edited_at := null;
  return new;
end
$$;
comment on function private.prepare_review() is
  'Trigger: checks the caller is a party of the completed order (else PT404 / PT409) and derives author, role and subject.';

create trigger reviews_prepare before insert on public.reviews
  for each row execute function private.prepare_review();

create function private.stamp_review_edit() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.rating is distinct from old.rating or new.comment is distinct from old.comment then
    new.edited_at := now();
  end if;
  return new;
end
$$;
comment on function private.stamp_review_edit() is 'Trigger: records when the author last changed the rating or comment.';

create trigger reviews_stamp_edit before update on public.reviews
  for each row execute function private.stamp_review_edit();

-- ---------------------------------------------------------------------------------------
-- The aggregates. Recomputed from the table rather than incremented, so an edit, a hide or
-- a delete can never drift them; the profile row lock queues concurrent reviews of one
-- subject, and the recount (a new statement, so a new snapshot) sees every committed one.
-- The lock is FOR NO KEY UPDATE, not FOR UPDATE: each new review's foreign keys hold KEY
-- SHARE on the subject's profile, which FOR UPDATE would wait on, deadlocking two reviews.

create function private.refresh_rating(subject uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform 1 from public.profiles where id = subject for no key update;
  update public.profiles p set
    review_count = agg.n,
    rating_avg = case when agg.n = 0 then null else round(agg.avg_rating, 2) end
  from (select count(*)::integer n, avg(r.rating) avg_rating
          from public.reviews r where r.subject_id = subject and not r.is_hidden) agg
  where p.id = subject;
end
$$;
comment on function private.refresh_rating(uuid) is
  'Recounts a user''s visible reviews into profiles.review_count and rating_avg (2 decimals), under a lock on the profile.';

create function private.reviews_refresh_rating() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform private.refresh_rating(old.subject_id);
  end if;
  if tg_op in ('INSERT', 'UPDATE') and (tg_op = 'INSERT' or new.subject_id is distinct from old.subject_id) then
    perform private.refresh_rating(new.subject_id);
  end if;
  return null;
end
$$;
comment on function private.reviews_refresh_rating() is 'Trigger: keeps the subject''s rating aggregates exact.';

create trigger reviews_refresh_rating_on_insert_or_delete after insert or delete on public.reviews
  for each row execute function private.reviews_refresh_rating();
create trigger reviews_refresh_rating_on_update after update of rating, is_hidden, subject_id on public.reviews
  for each row execute function private.reviews_refresh_rating();

-- ---------------------------------------------------------------------------------------
-- Access.

alter table public.reviews enable row level security;
grant select on public.reviews to anon, authenticated;
grant update (rating, comment), delete on public.reviews to authenticated;
grant all on public.reviews to service_role;

create policy "Anyone reads visible reviews" on public.reviews for select to anon
  using (not is_hidden);
create policy "Users read visible reviews, authors theirs, moderators all" on public.reviews for select to authenticated
  using (not is_hidden or author_id = (select auth.uid()) or (select private.has_permission('content.moderate')));
create policy "Authors edit their visible reviews for 14 days" on public.reviews for update to authenticated
  using (author_id = (select auth.uid()) and not is_hidden and created_at > now() - interval '14 days')
  with check (author_id = (select auth.uid()) and not is_hidden);
create policy "Moderators delete reviews" on public.reviews for delete to authenticated
  using ((select private.has_permission('content.moderate')));

-- 000 POST /orders/:orderId/reviews. An RPC rather than an insert so that the API's shape
-- is exactly what the caller decides (order, rating, comment): author, role and subject are
-- derived by private.prepare_review().
create function private.review_order(order_id uuid, rating integer, comment text default '')
returns public.reviews
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.reviews;
begin
  if auth.uid() is null then
    raise exception 'sign in to review an order' using errcode = '42501';
  end if;
  insert into public.reviews (order_id, rating, comment)
  values (review_order.order_id, review_order.rating, coalesce(review_order.comment, ''))
  returning * into r;
  return r;
end
$$;
comment on function private.review_order(uuid, integer, text) is
  'The body of the client RPC public.review_order: security definer, in private so the API does not expose it.';
grant execute on function private.review_order(uuid, integer, text) to authenticated;

create function public.review_order(order_id uuid, rating integer, comment text default '')
returns public.reviews
language sql
security invoker
set search_path = ''
as $$
  select private.review_order(order_id, rating, comment)
$$;
comment on function public.review_order(uuid, integer, text) is
  'A party of a completed order reviews the other party, once: PT404 unless the caller is a party, PT409 until completed, 23505 the second time.';
grant execute on function public.review_order(uuid, integer, text) to authenticated;

create function private.moderate_review(review_id uuid, hidden boolean, reason text default null)
returns public.reviews
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.reviews;
begin
  if not private.has_permission('content.moderate') and not private.is_service_role() then
    raise exception 'permission denied: content.moderate is required' using errcode = '42501';
  end if;
  if hidden and coalesce(trim(reason), '') = '' then
    raise exception 'hiding a review needs a reason' using errcode = '22023';
  end if;
  update public.reviews set
    is_hidden = hidden,
    hidden_at = case when hidden then coalesce(hidden_at, now()) end,
    hidden_by = case when hidden then auth.uid() end,
    hidden_reason = case when hidden then reason end
  where id = review_id
  returning * into r;
  if not found then
    raise exception 'review % not found', review_id using errcode = 'PT404';
  end if;
  return r;
end
$$;
comment on function private.moderate_review(uuid, boolean, text) is
  'The body of the client RPC public.moderate_review: security definer, in private so the API does not expose it.';
grant execute on function private.moderate_review(uuid, boolean, text) to authenticated, service_role;

create function public.moderate_review(review_id uuid, hidden boolean, reason text default null)
returns public.reviews
language sql
security invoker
set search_path = ''
as $$
  select private.moderate_review(review_id, hidden, reason)
$$;
comment on function public.moderate_review(uuid, boolean, text) is
  'Hides (with a reason) or restores a review; hidden reviews leave the subject''s aggregates. content.moderate or the service role.';
grant execute on function public.moderate_review(uuid, boolean, text) to authenticated, service_role;

create trigger reviews_audit_moderation
  after update of is_hidden on public.reviews
  for each row execute function private.audit_row_change('id', 'id', 'order_id', 'subject_id', 'is_hidden', 'hidden_by', 'hidden_reason');
create trigger reviews_audit_delete
  after delete on public.reviews
  for each row execute function private.audit_row_change('id', 'id', 'order_id', 'subject_id', 'rating', 'is_hidden');

-- The other party of a completed order hears about the review.
create function private.announce_review() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.emit_event('review.created', 'review', new.id, array[new.subject_id],
    jsonb_build_object('order_id', new.order_id, 'rating', new.rating), new.author_id);
  return null;
end
$$;
create trigger reviews_announce after insert on public.reviews
  for each row execute function private.announce_review();

-- ======================================================================================
-- supabase/schemas/30_marketplace/95_deal_threads.sql
-- ======================================================================================

-- Who may sit in a message thread about a deal (000 "Messaging (Designer ↔ Tailor)"): a thread
-- about a project admits its owner and the tailors who bid on it, and must include the owner;
-- a thread about an order admits its buyer and its seller. Messaging (a lower domain) does not
-- know projects or orders, so the rule is this trigger on its thread_participants, declared
-- beside the deals; it holds for public.create_thread and any other way a seat is made. It
-- runs after each row, once the statement's rows are all in, so the owner may be seated by
-- the same statement as the bidders.

create function private.check_deal_thread_seat() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  thread public.threads;
  project public.projects;
  deal public.orders;
begin
  select t.* into thread from public.threads t where t.id = new.thread_id;
  if thread.project_id is not null then
    select p.* into project from public.projects p where p.id = thread.project_id;
    if not found then
      raise exception 'project % not found', thread.project_id using errcode = 'PT404';
    end if;
    if new.user_id <> project.owner_id
       and not exists (select 1 from public.bids b where b.project_id = project.id and b.tailor_id = new.user_id) then
      raise exception 'user % may not join a thread about project %: only its owner and the tailors who bid on it may', new.user_id, project.id
        using errcode = '42501';
    end if;
    if not exists (select 1 from public.thread_participants tp where tp.thread_id = thread.id and tp.user_id = project.owner_id) then
      raise exception 'a thread about project % includes its owner', project.id using errcode = '22023';
    end if;
  end if;
  if thread.order_id is not null then
    select o.* into deal from public.orders o where o.id = thread.order_id;
    if not found then
      raise exception 'order % not found', thread.order_id using errcode = 'PT404';
    end if;
    if new.user_id is distinct from deal.buyer_id and new.user_id is distinct from deal.seller_id then
      raise exception 'user % may not join a thread about order %: only its buyer and its seller may', new.user_id, deal.id
        using errcode = '42501';
    end if;
  end if;
  return null;
end
$$;
comment on function private.check_deal_thread_seat() is
  'Refuses a seat in a thread about a project to anyone but its owner and its bidders (and a thread without the owner), and in a thread about an order to anyone but its two parties.';

create trigger thread_participants_deal_parties after insert on public.thread_participants
  for each row execute function private.check_deal_thread_seat();

-- A thread about a project or an order that does not exist: PT404 (as for one the caller
-- cannot see) rather than the foreign key's 23503.
create function private.check_deal_thread_subject() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.project_id is not null and not exists (select 1 from public.projects p where p.id = new.project_id) then
    raise exception 'project % not found', new.project_id using errcode = 'PT404';
  end if;
  if new.order_id is not null and not exists (select 1 from public.orders o where o.id = new.order_id) then
    raise exception 'order % not found', new.order_id using errcode = 'PT404';
  end if;
  return new;
end
$$;
comment on function private.check_deal_thread_subject() is
  'Refuses a thread about a project or an order that does not exist with PT404, before the foreign keys answer 23503.';

create trigger threads_deal_exists before insert or update of project_id, order_id on public.threads
  for each row execute function private.check_deal_thread_subject();
