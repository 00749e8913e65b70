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
