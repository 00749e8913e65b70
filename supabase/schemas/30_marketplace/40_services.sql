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
