-- Identity: one profile per auth user, created when Supabase Auth inserts the user. The
-- public profile carries self-service marketplace roles (designer, tailor) and interests,
-- platform-owned account status and aggregates (no column grant, so clients cannot write
-- them); names, phone, locale, timezone, gender and marketing consent live in an owner-only
-- table; public_profiles is the read model other users see.

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
  avatar_url text
    constraint profiles_avatar_url_web check (avatar_url ~ '^https?://[^[:space:]]+$' and char_length(avatar_url) <= 2048),
  is_public boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  is_designer boolean not null default false,
  is_tailor boolean not null default false,
  interests text[] not null default '{}'
    constraint profiles_interests_limit check (cardinality(interests) <= 20),
  account_status text not null default 'active'
    constraint profiles_account_status check (account_status in ('active', 'deactivated')),
  rating_avg numeric(3, 2)
    constraint profiles_rating_range check (rating_avg between 1 and 5),
  review_count integer not null default 0 constraint profiles_review_count_positive check (review_count >= 0),
  follower_count integer not null default 0 constraint profiles_follower_count_positive check (follower_count >= 0)
);

comment on table public.profiles is
  'The public face of a user: one row per auth.users row, created by on_auth_user_created.';
comment on column public.profiles.username is
  'Lowercase handle, 3-30 characters of a-z, 0-9 and underscore; null until chosen.';
comment on column public.profiles.avatar_path is
  'Object name in the avatars bucket; must sit under the owner''s own folder.';
comment on column public.profiles.avatar_url is
  'A picture elsewhere on the web: the OAuth provider''s (Facebook, Google, GitHub, Kakao), taken at the first sign-in with it when the user had no avatar (12_provider_avatars.sql). avatar_path, when set, is shown instead.';
comment on column public.profiles.is_public is
  'When false, only the owner (and admins) can read the profile.';
comment on column public.profiles.is_designer is 'Marketplace role (000): the user commissions work. Self-service.';
comment on column public.profiles.is_tailor is 'Marketplace role (000): the user takes commissions. Self-service.';
comment on column public.profiles.account_status is
  'Set by users.manage holders and the admin CLI: deactivated accounts are hidden from everyone but themselves and staff.';
comment on column public.profiles.rating_avg is 'Average of reviews received; kept by the reviews feature.';
comment on column public.profiles.review_count is 'Reviews received; kept by the reviews feature.';
comment on column public.profiles.follower_count is 'Followers; kept by the follows feature.';

-- Profile listings read newest first.
create index profiles_created_at_idx on public.profiles (created_at desc);
create index profiles_is_tailor_idx on public.profiles (is_tailor) where is_tailor;

alter table public.profiles enable row level security;

-- Owners edit their own profile but never its id, timestamps, status or aggregates:
-- column-level grants.
grant select on public.profiles to anon, authenticated;
grant update (username, display_name, bio, avatar_path, avatar_url, is_public, is_designer, is_tailor, interests)
  on public.profiles to authenticated;
grant all on public.profiles to service_role;

-- Deactivated accounts disappear from public reads; staff still see every profile.
create policy "Active public profiles are readable by anyone"
  on public.profiles for select to anon
  using (is_public and account_status = 'active');

create policy "Users read active public profiles, their own, or any as staff"
  on public.profiles for select to authenticated
  using (
    (is_public and account_status = 'active')
    or id = (select auth.uid())
    or (select private.has_permission('users.read'))
  );

-- One UPDATE policy: the owner, or a user manager. Which columns, and account_status in
-- particular, stay with the column grants and private.guard_account_status.
create policy "Users update their own profile, user managers any"
  on public.profiles for update to authenticated
  using (id = (select auth.uid()) or (select private.has_permission('users.manage')))
  with check (id = (select auth.uid()) or (select private.has_permission('users.manage')));

create trigger profiles_touch_updated_at
  before update on public.profiles
  for each row execute function private.touch_updated_at();

-- account_status is writable through the API, but only by users.manage holders: the
-- owner's own update policy would otherwise let a deactivated user reactivate themselves.
grant update (account_status) on public.profiles to authenticated;

create function private.guard_account_status() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.account_status is distinct from old.account_status
     and current_user = 'authenticated'
     and not private.has_permission('users.manage') then
    raise exception 'permission denied: users.manage is required to change account_status' using errcode = '42501';
  end if;
  return new;
end
$$;

create trigger profiles_guard_account_status
  before update of account_status on public.profiles
  for each row execute function private.guard_account_status();

create trigger profiles_audit_status
  after update of account_status on public.profiles
  for each row execute function private.audit_row_change('id', 'id', 'username', 'account_status');

-- ---------------------------------------------------------------------------------------
-- Private details: only the owner (and user readers) ever see these.

-- The time-zone names Postgres knows, as pg_timezone_names lists them when the identity
-- reference-data migration fills this table (Debian's Postgres reads the system's tzdata).
-- Clients read it to offer a choice; private_profiles.timezone is checked against it.
create table public.time_zones (
  name text primary key
);
comment on table public.time_zones is
  'Time-zone names Postgres knows (pg_timezone_names when the migrations ran): what private_profiles.timezone accepts.';

alter table public.time_zones enable row level security;
grant select on public.time_zones to anon, authenticated, service_role;
create policy "Anyone reads the time-zone list" on public.time_zones for select to anon, authenticated using (true);

create table public.private_profiles (
  id uuid primary key references public.profiles (id) on delete cascade,
  first_name text not null default '' constraint private_profiles_first_name_length check (char_length(first_name) <= 80),
  last_name text not null default '' constraint private_profiles_last_name_length check (char_length(last_name) <= 80),
  phone text constraint private_profiles_phone_e164 check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  gender text constraint private_profiles_gender check (gender in ('female', 'male', 'non_binary', 'other', 'prefer_not_to_say')),
  locale text not null default 'en' constraint private_profiles_locale_format check (locale ~ '^[a-z]{2,3}(-[A-Z]{2})?$'),
  timezone text not null default 'UTC',
  marketing_opt_in boolean not null default false,
  preferences jsonb not null default '{}' constraint private_profiles_preferences_object check (jsonb_typeof(preferences) = 'object'),
  updated_at timestamptz not null default now()
);
comment on table public.private_profiles is 'Personal details seen only by their owner and by staff holding users.read.';
comment on column public.private_profiles.phone is 'E.164, e.g. +14155550123.';
comment on column public.private_profiles.timezone is 'An IANA zone name known to Postgres (pg_timezone_names; listed in public.time_zones).';

-- Time zones are checked against public.time_zones, a primary-key lookup, and never by
-- reading pg_timezone_names per row: that view reads every file of the time-zone database
-- from disk on each call (80 ms or more), which every sign-up paid while holding the new
-- user's row lock. A name missing from the list is looked up in pg_timezone_names after all
-- (private.is_time_zone_known_to_postgres), so a zone Postgres's tzdata gained after the list
-- was filled is accepted too: the rule is still "a name Postgres knows" (the reference-data
-- migration says what happens when tzdata drops a name).
create function private.is_time_zone_known_to_postgres(zone text) returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  -- Cheap first: what AT TIME ZONE cannot read is no zone (it also reads abbreviations and
  -- POSIX rules such as 'foo+3', which are no zone names: the full list decides those).
  perform pg_catalog.now() at time zone zone;
  return exists (select 1 from pg_catalog.pg_timezone_names t where t.name = zone);
exception when invalid_parameter_value then
  return false;
end
$$;
comment on function private.is_time_zone_known_to_postgres(text) is
  'Whether pg_timezone_names lists the name (slow: it reads the whole time-zone database). For names missing from public.time_zones only.';
grant execute on function private.is_time_zone_known_to_postgres(text) to authenticated, service_role;

create function private.check_timezone() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if not exists (select 1 from public.time_zones z where z.name = new.timezone)
     and not private.is_time_zone_known_to_postgres(new.timezone) then
    raise exception 'unknown time zone: %', new.timezone
      using errcode = '22023', hint = 'Use an IANA name such as Europe/Paris.';
  end if;
  return new;
end
$$;

create trigger private_profiles_check_timezone
  before insert or update of timezone on public.private_profiles
  for each row execute function private.check_timezone();

-- The locale is a known language (public.languages, or a region of one: en-GB), checked by
-- the platform's rule (00_platform/90_i18n.sql); 22023 'unknown language: fr-CA' otherwise.
create trigger private_profiles_check_locale
  before insert or update of locale on public.private_profiles
  for each row execute function private.check_known_locale('locale');

create trigger private_profiles_touch_updated_at
  before update on public.private_profiles
  for each row execute function private.touch_updated_at();

alter table public.private_profiles enable row level security;
grant select, update (first_name, last_name, phone, gender, locale, timezone, marketing_opt_in, preferences)
  on public.private_profiles to authenticated;
grant all on public.private_profiles to service_role;

create policy "Owners and user readers read private details"
  on public.private_profiles for select to authenticated
  using (id = (select auth.uid()) or (select private.has_permission('users.read')));

create policy "Owners update their private details"
  on public.private_profiles for update to authenticated
  using (id = (select auth.uid())) with check (id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Sign-up: when Supabase Auth creates the user, create both rows, taking names, phone and
-- marketplace roles from the sign-up metadata (003's register sends first_name, last_name,
-- phone). Runs as the function owner because the inserting role (supabase_auth_admin) has
-- no rights on these tables. Metadata is client input: values that do not fit are dropped
-- rather than failing the sign-up with a server error.

create function private.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  meta jsonb := coalesce(new.raw_user_meta_data, '{}');
  -- Supabase Auth stores phone numbers without the leading +.
  phone text := coalesce('+' || ltrim(nullif(new.phone, ''), '+'), meta ->> 'phone');
begin
  insert into public.profiles (id, display_name, is_designer, is_tailor)
  values (
    new.id,
    left(coalesce(meta ->> 'display_name', meta ->> 'full_name',
                  nullif(trim(concat_ws(' ', meta ->> 'first_name', meta ->> 'last_name')), ''), ''), 80),
    coalesce(meta -> 'is_designer' = 'true'::jsonb, false),
    coalesce(meta -> 'is_tailor' = 'true'::jsonb, false)
  );
  insert into public.private_profiles (id, first_name, last_name, phone, locale, marketing_opt_in)
  values (
    new.id,
    left(coalesce(meta ->> 'first_name', ''), 80),
    left(coalesce(meta ->> 'last_name', ''), 80),
    case when phone ~ '^\+[1-9][0-9]{6,14}$' then phone end,
    case when meta ->> 'locale' ~ '^[a-z]{2,3}(-[A-Z]{2})?$' and private.is_known_locale(meta ->> 'locale')
         then meta ->> 'locale' else 'en' end,
    coalesce(meta -> 'marketing_opt_in' = 'true'::jsonb, false)
  );
  return new;
end
$$;

comment on function private.handle_new_user() is
  'Trigger on auth.users: creates the public.profiles and public.private_profiles rows from the sign-up metadata.';

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.handle_new_user();

-- ---------------------------------------------------------------------------------------
-- The public read model: what anyone may see of a user, with the aggregates the
-- specifications show on public profiles, and what lists of profiles read. A table kept by a
-- trigger on profiles, holding only public, active profiles, so its one policy is "anyone":
-- a signed-in user's read plans no owner or staff terms. Read through a view under the
-- profiles policy, every signed-in request planned them (two initplans), about 0.1 ms of
-- Postgres CPU, a sixth of a 20-row list (docs/domains/identity.md, "Listing profiles").

create table public.public_profiles (
  id uuid primary key references public.profiles (id) on delete cascade,
  username text,
  display_name text not null,
  bio text not null,
  avatar_path text,
  is_designer boolean not null,
  is_tailor boolean not null,
  interests text[] not null,
  rating_avg numeric(3, 2),
  review_count integer not null,
  follower_count integer not null,
  created_at timestamptz not null,
  avatar_url text
);
comment on table public.public_profiles is
  'Public profile read model (000 GET /users/:id) and what lists of profiles read: the safe columns and aggregates of public, active profiles, kept by private.sync_public_profile in the statement that changes the profile.';
create index public_profiles_created_at_idx on public.public_profiles (created_at desc);
create index public_profiles_is_tailor_idx on public.public_profiles (created_at desc) where is_tailor;

alter table public.public_profiles enable row level security;
grant select on public.public_profiles to anon, authenticated, service_role;
create policy "Anyone reads public profiles" on public.public_profiles for select to anon, authenticated using (true);

-- After every change of a profile: a public, active profile has its row with the profile's
-- values, any other has none. Runs under the profile's row lock, so the two never disagree.
create function private.sync_public_profile() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.is_public and new.account_status = 'active' then
    insert into public.public_profiles (id, username, display_name, bio, avatar_path, is_designer, is_tailor, interests,
                                        rating_avg, review_count, follower_count, created_at, avatar_url)
    values (new.id, new.username, new.display_name, new.bio, new.avatar_path, new.is_designer, new.is_tailor, new.interests,
            new.rating_avg, new.review_count, new.follower_count, new.created_at, new.avatar_url)
    on conflict (id) do update
      set username = excluded.username, display_name = excluded.display_name, bio = excluded.bio,
          avatar_path = excluded.avatar_path, is_designer = excluded.is_designer, is_tailor = excluded.is_tailor,
          interests = excluded.interests, rating_avg = excluded.rating_avg, review_count = excluded.review_count,
          follower_count = excluded.follower_count, created_at = excluded.created_at, avatar_url = excluded.avatar_url;
  elsif tg_op = 'UPDATE' and old.is_public and old.account_status = 'active' then
    delete from public.public_profiles p where p.id = new.id;
  end if;
  return null;
end
$$;
comment on function private.sync_public_profile() is
  'Trigger on profiles: keeps public_profiles one row per public, active profile, with its values.';

create trigger profiles_sync_public_profile
  after insert or update on public.profiles
  for each row execute function private.sync_public_profile();
