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
