-- The identity domain's schema at the rebaseline: every file of supabase/schemas/10_identity/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/10_identity/10_profiles.sql
-- ======================================================================================

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

-- ======================================================================================
-- supabase/schemas/10_identity/12_provider_avatars.sql
-- ======================================================================================

-- Identity: the profile picture of a user who signs in with an OAuth provider (000: "facebook
-- profile picture still not showing"). Supabase Auth writes the provider's profile into
-- auth.identities.identity_data when it links the identity (internal/api/provider/*.go,
-- Claims): Facebook and Google put the picture's URL in both avatar_url and picture, GitHub
-- and Kakao in avatar_url only. The first time an identity with a picture is linked, the
-- profile takes it as avatar_url, unless the user already has an avatar of their own
-- (avatar_path, an upload) or one from an earlier identity (avatar_url): a picture the user
-- chose or already sees is never replaced.

create function private.take_provider_avatar() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  picture text := coalesce(nullif(new.identity_data ->> 'avatar_url', ''), nullif(new.identity_data ->> 'picture', ''));
begin
  if new.provider in ('email', 'phone', 'anonymous') or picture is null
     or picture !~ '^https?://[^[:space:]]+$' or char_length(picture) > 2048 then
    return null;
  end if;
  update public.profiles p
     set avatar_url = picture
   where p.id = new.user_id and p.avatar_path is null and p.avatar_url is null;
  return null;
end
$$;
comment on function private.take_provider_avatar() is
  'Trigger on auth.identities: a new OAuth identity''s picture (identity_data avatar_url, else picture) becomes the profile''s avatar_url when the profile has no avatar yet. A URL that is not http(s) or longer than 2048 is ignored, never failing the sign-in.';

create trigger on_auth_identity_created_take_avatar
  after insert on auth.identities
  for each row execute function private.take_provider_avatar();

-- ======================================================================================
-- supabase/schemas/10_identity/15_avatars_bucket.sql
-- ======================================================================================

-- Avatars: a public bucket (anyone may fetch an avatar by its URL, which Storage serves
-- without asking the policies) whose objects only their owner may write. Object names start
-- with the owner's user id: <uid>/<file>. Listing is not public: a user lists, and reads the
-- rows of, their own folder only (a select policy on the whole bucket would let any client
-- enumerate every user's files; splinter's public_bucket_allows_listing). What is written must
-- be an image the bucket accepts, however it arrives (upload, copy or move):
-- private.object_content_allowed, supabase/schemas/00_platform/80_storage_content.sql.

create policy "Users list avatars in their own folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);

create policy "Users upload avatars into their own folder"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users replace avatars in their own folder"
  on storage.objects for update to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text)
  with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Users delete avatars in their own folder"
  on storage.objects for delete to authenticated
  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- ======================================================================================
-- supabase/schemas/10_identity/20_addresses.sql
-- ======================================================================================

-- Shipping addresses (001): owner-only, at most one default per user, country codes
-- validated against ISO 3166-1 alpha-2.

create table public.countries (
  code char(2) primary key constraint countries_code_format check (code ~ '^[A-Z]{2}$')
);
comment on table public.countries is 'ISO 3166-1 alpha-2 country codes accepted in addresses.';

alter table public.countries enable row level security;
grant select on public.countries to anon, authenticated, service_role;
create policy "Anyone reads the country list" on public.countries for select to anon, authenticated using (true);

create table public.addresses (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  label text not null default '' constraint addresses_label_length check (char_length(label) <= 40),
  full_name text not null constraint addresses_full_name_present check (char_length(trim(full_name)) between 1 and 120),
  address_line1 text not null constraint addresses_line1_present check (char_length(trim(address_line1)) between 1 and 200),
  address_line2 text not null default '' constraint addresses_line2_length check (char_length(address_line2) <= 200),
  city text not null constraint addresses_city_present check (char_length(trim(city)) between 1 and 100),
  region text not null default '' constraint addresses_region_length check (char_length(region) <= 100),
  postal_code text not null default '' constraint addresses_postal_code_format check (postal_code ~ '^[A-Za-z0-9 -]{0,12}$'),
  country_code char(2) not null references public.countries (code),
  phone text constraint addresses_phone_e164 check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  is_default boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.addresses is 'Shipping and return addresses; only their owner sees or changes them.';
comment on column public.addresses.is_default is 'At most one default per user (addresses_one_default_per_user); set_default_address() swaps atomically.';

create index addresses_user_id_idx on public.addresses (user_id);
create unique index addresses_one_default_per_user on public.addresses (user_id) where is_default;

create trigger addresses_touch_updated_at
  before update on public.addresses
  for each row execute function private.touch_updated_at();

alter table public.addresses enable row level security;
grant select, delete on public.addresses to authenticated;
grant insert (label, full_name, address_line1, address_line2, city, region, postal_code, country_code, phone, is_default),
      update (label, full_name, address_line1, address_line2, city, region, postal_code, country_code, phone, is_default)
  on public.addresses to authenticated;
grant all on public.addresses to service_role;

create policy "Owners read their addresses"
  on public.addresses for select to authenticated using (user_id = (select auth.uid()));
create policy "Owners add addresses"
  on public.addresses for insert to authenticated with check (user_id = (select auth.uid()));
create policy "Owners update their addresses"
  on public.addresses for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy "Owners delete their addresses"
  on public.addresses for delete to authenticated using (user_id = (select auth.uid()));

-- Make one address the default in one statement's worth of locking, so two concurrent
-- calls cannot leave two defaults or none.
create function public.set_default_address(address_id uuid) returns public.addresses
language plpgsql
set search_path = ''
as $$
declare
  result public.addresses;
begin
  perform 1 from public.addresses where user_id = auth.uid() for update;
  if not exists (select 1 from public.addresses where id = address_id and user_id = auth.uid()) then
    raise exception 'address % not found', address_id using errcode = 'PT404';
  end if;
  update public.addresses set is_default = false where user_id = auth.uid() and is_default and id <> address_id;
  update public.addresses set is_default = true where id = address_id returning * into result;
  return result;
end
$$;
comment on function public.set_default_address(uuid) is 'Makes the caller''s address the default, clearing the previous one atomically.';
grant execute on function public.set_default_address(uuid) to authenticated;

-- ======================================================================================
-- supabase/schemas/10_identity/30_sellers_and_shops.sql
-- ======================================================================================

-- Sellers (001): a user applies with their shop details; an admin (sellers.review)
-- approves or rejects. Approval opens the public shop and grants the seller role.

create table public.seller_applications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  shop_name text not null constraint seller_applications_shop_name_length check (char_length(trim(shop_name)) between 2 and 80),
  category text not null constraint seller_applications_category_present check (char_length(trim(category)) between 1 and 60),
  experience_level text not null default '' constraint seller_applications_experience_length check (char_length(experience_level) <= 120),
  monthly_revenue text not null default 'undisclosed'
    constraint seller_applications_revenue_band check (monthly_revenue in ('undisclosed', 'none', 'under_1000', '1000_5000', '5000_20000', 'over_20000')),
  platforms text[] not null default '{}' constraint seller_applications_platforms_limit check (cardinality(platforms) <= 20),
  social_links jsonb not null default '{}' constraint seller_applications_social_links_object check (jsonb_typeof(social_links) = 'object'),
  return_address jsonb not null
    constraint seller_applications_return_address check (
      jsonb_typeof(return_address) = 'object'
      and return_address ? 'full_name' and return_address ? 'address_line1'
      and return_address ? 'city' and return_address ? 'country_code'
    ),
  agreed_to_terms boolean not null constraint seller_applications_terms_accepted check (agreed_to_terms),
  status text not null default 'pending_verification'
    constraint seller_applications_status check (status in ('pending_verification', 'approved', 'rejected')),
  reviewed_by uuid references auth.users (id) on delete set null,
  reviewed_at timestamptz,
  rejection_reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint seller_applications_review_consistent check (
    (status = 'pending_verification') = (reviewed_at is null)
    and (status <> 'rejected' or rejection_reason is not null)
  )
);
comment on table public.seller_applications is
  'Applications to sell (001 POST /sellers/apply). Status moves pending_verification -> approved | rejected only through review_seller_application().';
comment on column public.seller_applications.status is 'Not client-writable: review_seller_application() is the only way to change it.';

-- One open application at a time; a rejected applicant may apply again.
create unique index seller_applications_one_pending on public.seller_applications (user_id)
  where status = 'pending_verification';
create index seller_applications_user_id_idx on public.seller_applications (user_id);
create index seller_applications_status_idx on public.seller_applications (status, created_at);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index seller_applications_reviewed_by_idx on public.seller_applications (reviewed_by) where reviewed_by is not null;

create trigger seller_applications_anonymous_refused before insert on public.seller_applications
  for each row execute function private.refuse_anonymous('apply to open a shop');
create trigger seller_applications_touch_updated_at
  before update on public.seller_applications
  for each row execute function private.touch_updated_at();

alter table public.seller_applications enable row level security;
grant select on public.seller_applications to authenticated;
grant insert (shop_name, category, experience_level, monthly_revenue, platforms, social_links, return_address, agreed_to_terms),
      update (shop_name, category, experience_level, monthly_revenue, platforms, social_links, return_address)
  on public.seller_applications to authenticated;
grant all on public.seller_applications to service_role;

create policy "Applicants and reviewers read applications"
  on public.seller_applications for select to authenticated
  using (user_id = (select auth.uid()) or (select private.has_permission('sellers.review')));
create policy "Users apply for themselves"
  on public.seller_applications for insert to authenticated
  with check (user_id = (select auth.uid()));
create policy "Applicants edit their pending application"
  on public.seller_applications for update to authenticated
  using (user_id = (select auth.uid()) and status = 'pending_verification')
  with check (user_id = (select auth.uid()) and status = 'pending_verification');

-- ---------------------------------------------------------------------------------------
-- Shops: the public face of an approved seller (001 GET /sellers/:id).

create table public.shops (
  id uuid primary key references public.profiles (id) on delete cascade,
  shop_name text not null constraint shops_shop_name_length check (char_length(trim(shop_name)) between 2 and 80),
  description text not null default '' constraint shops_description_length check (char_length(description) <= 2000),
  category text not null,
  logo_path text constraint shops_logo_path_owned check (logo_path is null or logo_path like id::text || '/%'),
  rating_avg numeric(3, 2) constraint shops_rating_range check (rating_avg between 1 and 5),
  review_count integer not null default 0 constraint shops_review_count_positive check (review_count >= 0),
  follower_count integer not null default 0 constraint shops_follower_count_positive check (follower_count >= 0),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.shops is 'Public shop profiles, created when a seller application is approved; id is the seller''s user id.';
comment on column public.shops.rating_avg is 'Kept by the product reviews feature.';
comment on column public.shops.follower_count is 'Kept by the follows feature.';
comment on column public.shops.is_active is 'Set by admins: an inactive shop is hidden from the public.';

create trigger shops_touch_updated_at before update on public.shops
  for each row execute function private.touch_updated_at();

alter table public.shops enable row level security;
grant select on public.shops to anon, authenticated;
grant update (shop_name, description, logo_path) on public.shops to authenticated;
grant all on public.shops to service_role;

create policy "Anyone reads active shops" on public.shops for select to anon using (is_active);
create policy "Signed-in users read active shops and their own"
  on public.shops for select to authenticated
  using (is_active or id = (select auth.uid()) or (select private.has_permission('sellers.review')));
create policy "Sellers edit their shop"
  on public.shops for update to authenticated
  using (id = (select auth.uid())) with check (id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- The review: the only way an application's status changes.

create function private.review_seller_application(application_id uuid, decision text, reason text default null)
returns public.seller_applications
language plpgsql
security definer
set search_path = ''
as $$
declare
  application public.seller_applications;
begin
  if not private.has_permission('sellers.review') and not private.is_service_role() then
    raise exception 'permission denied: sellers.review is required' using errcode = '42501';
  end if;
  if decision not in ('approved', 'rejected') then
    raise exception 'decision must be approved or rejected, not %', decision using errcode = '22023';
  end if;
  if decision = 'rejected' and coalesce(trim(reason), '') = '' then
    raise exception 'a rejection needs a reason' using errcode = '22023';
  end if;

  select * into application from public.seller_applications where id = application_id for update;
  if not found then
    raise exception 'seller application % not found', application_id using errcode = 'PT404';
  end if;
  if application.user_id = auth.uid() then
    raise exception 'permission denied: you cannot review your own application' using errcode = '42501';
  end if;
  if application.status <> 'pending_verification' then
    raise exception 'application % is already %', application_id, application.status using errcode = 'PT409';
  end if;

  update public.seller_applications
     set status = decision, reviewed_by = auth.uid(), reviewed_at = now(),
         rejection_reason = case when decision = 'rejected' then reason end
   where id = application_id
  returning * into application;

  if decision = 'approved' then
    insert into public.shops (id, shop_name, category)
    values (application.user_id, application.shop_name, application.category)
    on conflict (id) do update set shop_name = excluded.shop_name, category = excluded.category, is_active = true;
    insert into public.user_roles (user_id, role_id, assigned_by)
    select application.user_id, r.id, auth.uid() from public.roles r where r.name = 'seller'
    on conflict (user_id, role_id) do update set expires_at = null;
  end if;
  return application;
end
$$;
comment on function private.review_seller_application(uuid, text, text) is
  'The body of the client RPC public.review_seller_application: security definer, in private so the API does not expose it.';
grant execute on function private.review_seller_application(uuid, text, text) to authenticated, service_role;

create function public.review_seller_application(application_id uuid, decision text, reason text default null)
returns public.seller_applications
language sql
security invoker
set search_path = ''
as $$
  select private.review_seller_application(application_id, decision, reason)
$$;
comment on function public.review_seller_application(uuid, text, text) is
  'Approve or reject a pending seller application (sellers.review). Approval opens the shop and grants the seller role.';
revoke execute on function public.review_seller_application(uuid, text, text) from public;
grant execute on function public.review_seller_application(uuid, text, text) to authenticated, service_role;

-- The application's addresses and links are personal data: the log keeps the decision only.
create trigger seller_applications_audit_status
  after update of status on public.seller_applications
  for each row execute function private.audit_row_change('id', 'id', 'user_id', 'shop_name', 'status', 'reviewed_by', 'reviewed_at', 'rejection_reason');

-- ======================================================================================
-- supabase/schemas/10_identity/40_invites.sql
-- ======================================================================================

-- Invite-only sign-up (000: register with an optional invite code). When the platform
-- setting signup_mode is invite_only, Supabase Auth's before-user-created hook requires a
-- valid invite code in the sign-up metadata and counts its use atomically.

create table public.invite_codes (
  code text primary key constraint invite_codes_code_format check (code ~ '^[A-Za-z0-9_-]{8,64}$'),
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  note text not null default '',
  max_uses integer not null default 1 constraint invite_codes_max_uses_positive check (max_uses between 1 and 100000),
  use_count integer not null default 0,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  constraint invite_codes_use_count_within_limit check (use_count between 0 and max_uses)
);
comment on table public.invite_codes is 'Invite codes for invite-only sign-up; created by invites.manage holders.';
comment on column public.invite_codes.use_count is 'Counted by the before-user-created hook; never client-writable.';
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index invite_codes_created_by_idx on public.invite_codes (created_by) where created_by is not null;

create table public.invite_redemptions (
  id bigint generated always as identity primary key,
  code text not null references public.invite_codes (code) on delete cascade,
  email text,
  redeemed_at timestamptz not null default now()
);
create index invite_redemptions_code_idx on public.invite_redemptions (code);
comment on table public.invite_redemptions is 'Each use of an invite code, by e-mail (written by the sign-up hook).';
comment on column public.invite_redemptions.email is 'Who redeemed the code; null once they deleted their account (the use still counts).';

alter table public.invite_codes enable row level security;
alter table public.invite_redemptions enable row level security;
grant select, delete on public.invite_codes to authenticated;
grant insert (code, note, max_uses, expires_at), update (note, max_uses, expires_at, revoked_at) on public.invite_codes to authenticated;
grant select on public.invite_redemptions to authenticated;
grant all on public.invite_codes, public.invite_redemptions to service_role;

create policy "Invite managers read invites" on public.invite_codes for select to authenticated
  using ((select private.has_permission('invites.manage')));
create policy "Invite managers create invites" on public.invite_codes for insert to authenticated
  with check ((select private.has_permission('invites.manage')));
create policy "Invite managers change invites" on public.invite_codes for update to authenticated
  using ((select private.has_permission('invites.manage'))) with check ((select private.has_permission('invites.manage')));
create policy "Invite managers delete invites" on public.invite_codes for delete to authenticated
  using ((select private.has_permission('invites.manage')));
create policy "Invite managers read redemptions" on public.invite_redemptions for select to authenticated
  using ((select private.has_permission('invites.manage')));

create trigger invite_codes_audit after insert or update or delete on public.invite_codes
  for each row execute function private.audit_row_change('code');

-- ---------------------------------------------------------------------------------------
-- The hook. Supabase Auth calls it with { metadata, user } before inserting the user; an
-- { error } answer refuses the sign-up with that status and message.

create function public.before_user_created_hook(event jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  mode text;
  invite_code text := nullif(trim(event -> 'user' -> 'user_metadata' ->> 'invite_code'), '');
  email text := event -> 'user' ->> 'email';
  invite public.invite_codes;
begin
  mode := private.signup_mode();
  if mode = 'open' and invite_code is null then
    return '{}'::jsonb;
  end if;
  if invite_code is null then
    return jsonb_build_object('error', jsonb_build_object(
      'http_code', 403, 'message', 'Sign-up is by invitation only: an invite code is required.'));
  end if;

  -- One statement checks and counts, so concurrent sign-ups cannot overspend a code.
  update public.invite_codes
     set use_count = use_count + 1
   where code = invite_code
     and revoked_at is null
     and (expires_at is null or expires_at > now())
     and use_count < max_uses
  returning * into invite;

  if not found then
    select * into invite from public.invite_codes where code = invite_code;
    return jsonb_build_object('error', jsonb_build_object('http_code', 403, 'message',
      case
        when invite.code is null then 'The invite code is not valid.'
        when invite.revoked_at is not null then 'The invite code has been revoked.'
        when invite.expires_at <= now() then 'The invite code has expired.'
        else 'The invite code has been used up.'
      end));
  end if;

  insert into public.invite_redemptions (code, email) values (invite.code, coalesce(email, ''));
  return '{}'::jsonb;
end
$$;
comment on function public.before_user_created_hook(jsonb) is
  'Supabase Auth before-user-created hook: enforces invite-only sign-up and counts invite uses atomically.';

grant execute on function public.before_user_created_hook(jsonb) to supabase_auth_admin;
revoke execute on function public.before_user_created_hook(jsonb) from authenticated, anon, public;

-- ======================================================================================
-- supabase/schemas/10_identity/50_account_exports_bucket.sql
-- ======================================================================================

-- Account exports (GDPR access requests): a private bucket holding the JSON documents the
-- account-export function writes, one folder per user: <uid>/export-<timestamp>.json.
-- Only the service role writes here (the function, after checking who is asking), so users
-- get a select policy on their own folder and nothing else: an export cannot be planted,
-- altered or removed through the API, and nobody reads another user's export.

create policy "Users read exports in their own folder"
  on storage.objects for select to authenticated
  using (bucket_id = 'account-exports' and (storage.foldername(name))[1] = (select auth.uid())::text);

-- ======================================================================================
-- supabase/schemas/10_identity/60_admin_user_actions.sql
-- ======================================================================================

-- Identity: what staff do to another user's account through the edge functions
-- identity-admin-update-user (003 PUT /users/{id}) and identity-impersonate (004 POST
-- /admin/users/:id/impersonate). The functions act with the service role; these RPCs check
-- the acting staff member's permission, do the database's part and write the audit entry
-- with that member as the actor, in one transaction.

-- 003 PUT /users/{id}: profile fields, names and phone. E-mail and the sign-in phone live in
-- Supabase Auth (the function changes them through the Auth admin API before calling this);
-- they are named here so the one audit entry lists every field changed.
create function ops.admin_edit_user(acting_user uuid, user_id uuid, changes jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  allowed constant text[] := array['display_name', 'username', 'bio', 'first_name', 'last_name', 'phone', 'email'];
  unknown text;
  changed text[];
  result jsonb;
begin
  if acting_user is null or not private.user_has_permission(acting_user, 'users.manage') then
    raise exception 'permission denied: users.manage is required to edit users' using errcode = '42501';
  end if;
  if changes is null or jsonb_typeof(changes) <> 'object' or changes = '{}'::jsonb then
    raise exception 'changes must be a JSON object naming at least one field' using errcode = '22023';
  end if;
  select k into unknown from jsonb_object_keys(changes) k where k <> all (allowed) order by k limit 1;
  if unknown is not null then
    raise exception 'unknown field: % (fields: %)', unknown, array_to_string(allowed, ', ') using errcode = '22023';
  end if;
  if not exists (select 1 from auth.users u where u.id = admin_edit_user.user_id) then
    raise exception 'user % not found', user_id using errcode = 'PT404';
  end if;
  -- Checked here, before the function asks Auth to change them, so a taken address is a 409
  -- with nothing changed rather than a failure after the profile was written.
  if changes ? 'email' and exists (
       select 1 from auth.users u
        where lower(u.email) = lower(changes ->> 'email') and u.id <> admin_edit_user.user_id) then
    raise exception 'this e-mail address is already registered by another user' using errcode = '23505';
  end if;
  if changes ? 'phone' and changes ->> 'phone' is not null and exists (
       select 1 from auth.users u
        where u.phone = ltrim(changes ->> 'phone', '+') and u.id <> admin_edit_user.user_id) then
    raise exception 'this phone number is already registered by another user' using errcode = '23505';
  end if;

  update public.profiles p set
    display_name = case when changes ? 'display_name' then coalesce(changes ->> 'display_name', '') else p.display_name end,
    username = case when changes ? 'username' then changes ->> 'username' else p.username end,
    bio = case when changes ? 'bio' then coalesce(changes ->> 'bio', '') else p.bio end
   where p.id = admin_edit_user.user_id
     and (changes ?| array['display_name', 'username', 'bio']);
  update public.private_profiles pp set
    first_name = case when changes ? 'first_name' then coalesce(changes ->> 'first_name', '') else pp.first_name end,
    last_name = case when changes ? 'last_name' then coalesce(changes ->> 'last_name', '') else pp.last_name end,
    phone = case when changes ? 'phone' then changes ->> 'phone' else pp.phone end
   where pp.id = admin_edit_user.user_id
     and (changes ?| array['first_name', 'last_name', 'phone']);

  -- The log outlives account deletion: it records who changed which fields, not the values.
  select array_agg(k order by k) into changed from jsonb_object_keys(changes) k;
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (acting_user, acting_user::text, 'admin_edit_user', 'users', user_id::text, null,
          jsonb_build_object('fields', to_jsonb(changed)));

  select jsonb_build_object(
           'id', p.id, 'username', p.username, 'display_name', p.display_name, 'bio', p.bio,
           'first_name', pp.first_name, 'last_name', pp.last_name, 'phone', pp.phone)
    into result
    from public.profiles p join public.private_profiles pp on pp.id = p.id
   where p.id = admin_edit_user.user_id;
  return result;
end
$$;
comment on function ops.admin_edit_user(uuid, uuid, jsonb) is
  '003 PUT /users/{id}: a users.manage holder (acting_user) edits a user''s display_name, username, bio, first_name, last_name, phone; email is only recorded (Auth changes it). Refusals: 42501 without the permission, 22023 for an unknown field, 23514 for a value the columns refuse, PT404 for an unknown user, 23505 for an e-mail or phone another user has. Audited (admin_edit_user, the fields changed). Service role only.';
revoke execute on function ops.admin_edit_user(uuid, uuid, jsonb) from public;
grant execute on function ops.admin_edit_user(uuid, uuid, jsonb) to service_role;

-- 004 POST /admin/users/:id/impersonate: recorded before the function asks Auth for the
-- one-time sign-in link, so no link is ever made without its audit entry.
create function ops.record_impersonation(acting_user uuid, user_id uuid, reason text)
returns table (email text, audit_id bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  target_email text;
  entry_id bigint;
begin
  if acting_user is null or not private.user_has_permission(acting_user, 'users.impersonate') then
    raise exception 'permission denied: users.impersonate is required to impersonate users' using errcode = '42501';
  end if;
  if reason is null or trim(reason) = '' then
    raise exception 'a reason is required to impersonate a user' using errcode = '22023';
  end if;
  if char_length(reason) > 500 then
    raise exception 'the reason must be at most 500 characters' using errcode = '22023';
  end if;
  if acting_user = user_id then
    raise exception 'you cannot impersonate yourself' using errcode = '22023';
  end if;
  select u.email into target_email from auth.users u where u.id = record_impersonation.user_id;
  if not found then
    raise exception 'user % not found', user_id using errcode = 'PT404';
  end if;
  -- An admin's session could grant itself anything: nobody signs in as one.
  if private.user_has_permission(user_id, 'roles.manage') or private.user_has_permission(user_id, 'users.impersonate') then
    raise exception 'user % is an admin (holds roles.manage or users.impersonate): admins cannot be impersonated', user_id
      using errcode = '42501';
  end if;
  if coalesce(target_email, '') = '' then
    raise exception 'user % has no e-mail address: no sign-in link can be made for them', user_id using errcode = 'PT409';
  end if;
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (acting_user, acting_user::text, 'impersonate', 'users', user_id::text, null,
          jsonb_build_object('reason', trim(reason)))
  returning id into entry_id;
  return query select target_email, entry_id;
end
$$;
comment on function ops.record_impersonation(uuid, uuid, text) is
  '004 impersonation: checks users.impersonate (42501), a reason (22023), not oneself (22023), the user exists (PT404), is no admin (holds neither roles.manage nor users.impersonate: 42501) and has an e-mail (PT409); records who, whom and why in the audit log (impersonate) and answers the e-mail to send the link to. Service role only.';
revoke execute on function ops.record_impersonation(uuid, uuid, text) from public;
grant execute on function ops.record_impersonation(uuid, uuid, text) to service_role;
