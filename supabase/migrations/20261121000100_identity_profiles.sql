-- Identity: one profile per auth user, created when Supabase Auth inserts the user.

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  username text unique
    constraint profiles_username_format check (username ~ '^[a-z0-9_]{3,30}$'),
  display_name text not null default ''
    constraint profiles_display_name_length check (char_length(display_name) <= 80),
  bio text not null default ''
    constraint profiles_bio_length check (char_length(bio) <= 2000),
  avatar_path text
    constraint profiles_avatar_path_owned check (avatar_path is null or avatar_path like id::text || '/%'),
  is_public boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.profiles is
  'The public face of a user: one row per auth.users row, created by on_auth_user_created.';
comment on column public.profiles.username is
  'Lowercase handle, 3-30 characters of a-z, 0-9 and underscore; null until chosen.';
comment on column public.profiles.avatar_path is
  'Object name in the avatars bucket; must sit under the owner''s own folder.';
comment on column public.profiles.is_public is
  'When false, only the owner (and admins) can read the profile.';

-- Profile listings read newest first.
create index profiles_created_at_idx on public.profiles (created_at desc);

alter table public.profiles enable row level security;

-- Owners edit their own profile but never its id or timestamps: column-level grants.
grant select on public.profiles to anon, authenticated;
grant update (username, display_name, bio, avatar_path, is_public) on public.profiles to authenticated;
grant all on public.profiles to service_role;

create policy "Public profiles are readable by anyone"
  on public.profiles for select to anon
  using (is_public);

create policy "Users read public profiles and their own"
  on public.profiles for select to authenticated
  using (is_public or id = (select auth.uid()));

create policy "Users update their own profile"
  on public.profiles for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Keep updated_at honest whatever the client sends.

create function private.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

comment on function private.touch_updated_at() is
  'Trigger: sets updated_at to the transaction time on every update.';

create trigger profiles_touch_updated_at
  before update on public.profiles
  for each row execute function private.touch_updated_at();

-- ---------------------------------------------------------------------------------------
-- Create the profile when Supabase Auth creates the user. Runs as the function owner
-- because the inserting role (supabase_auth_admin) has no rights on public.profiles.

create function private.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, display_name)
  values (
    new.id,
    left(coalesce(new.raw_user_meta_data ->> 'display_name', new.raw_user_meta_data ->> 'full_name', ''), 80)
  );
  return new;
end
$$;

comment on function private.handle_new_user() is
  'Trigger on auth.users: creates the matching public.profiles row, taking display_name from sign-up metadata.';

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.handle_new_user();
