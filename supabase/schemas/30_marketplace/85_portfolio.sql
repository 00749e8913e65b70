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
