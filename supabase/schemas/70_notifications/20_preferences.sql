-- Preferences (000 "preferences per category and channel"): a row per user, category and
-- channel the user changed; without a row the category's default applies. Critical
-- categories are always on (the RPC refuses switching them off, and the consumer ignores any
-- row). Users read their rows from the table and change them through
-- set_notification_preference, which validates the category and channel and says precisely
-- what it refuses.

create table public.notification_preferences (
  user_id uuid not null references auth.users (id) on delete cascade,
  category text not null references public.notification_categories (key) on delete cascade,
  channel text not null constraint notification_preferences_channel check (channel in ('in_app', 'email', 'push')),
  enabled boolean not null,
  -- E-mail only: whether the category's mail is a digest (true) or sent at once (false); null
  -- follows the category's default_email_digest. Ignored for a category that is not digestible.
  email_digest boolean,
  updated_at timestamptz not null default now(),
  primary key (user_id, category, channel),
  constraint notification_preferences_digest_email_only check (channel = 'email' or email_digest is null)
);
create index notification_preferences_category_idx on public.notification_preferences (category);
comment on table public.notification_preferences is
  'A user''s choice per notification category and channel; categories without a row follow their defaults.';

alter table public.notification_preferences enable row level security;
grant select on public.notification_preferences to authenticated;
grant all on public.notification_preferences to service_role;
create policy "Users read their notification preferences" on public.notification_preferences for select to authenticated
  using (user_id = (select auth.uid()));

-- Whether a user gets a category on a channel: critical categories always on in-app and by
-- e-mail, else the user's row, else the category's default.
create function private.notification_enabled(user_id uuid, category text, channel text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select case
           when c.critical and channel in ('in_app', 'email') then true
           else coalesce(
             (select p.enabled from public.notification_preferences p
               where p.user_id = notification_enabled.user_id and p.category = c.key and p.channel = notification_enabled.channel),
             case channel when 'in_app' then c.default_in_app when 'email' then c.default_email else c.default_push end)
         end
    from public.notification_categories c
   where c.key = notification_enabled.category
$$;
comment on function private.notification_enabled(uuid, text, text) is
  'Whether the user receives this category on this channel: critical categories always (in-app, e-mail), else their preference, else the default; null for an unknown category.';
revoke execute on function private.notification_enabled(uuid, text, text) from public;
grant execute on function private.notification_enabled(uuid, text, text) to service_role;

-- Whether a user's e-mail of a category goes into a digest: a digestible category (never a
-- critical one), by the user's choice, else the category's default.
create function private.email_digest_enabled(user_id uuid, category text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select c.digestible and not c.critical and coalesce(
           (select p.email_digest from public.notification_preferences p
             where p.user_id = email_digest_enabled.user_id and p.category = c.key and p.channel = 'email'),
           c.default_email_digest)
    from public.notification_categories c
   where c.key = email_digest_enabled.category
$$;
comment on function private.email_digest_enabled(uuid, text) is
  'Whether the user''s e-mail of this category is gathered into a digest: a digestible, non-critical category, by their choice (notification_preferences.email_digest) or the category''s default_email_digest.';
revoke execute on function private.email_digest_enabled(uuid, text) from public;
grant execute on function private.email_digest_enabled(uuid, text) to service_role;

-- Body of public.set_notification_preference.
create function private.set_notification_preference(category text, channel text, enabled boolean)
returns public.notification_preferences
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  cat public.notification_categories;
  result public.notification_preferences;
begin
  if caller is null then
    raise exception 'sign in to change notification preferences' using errcode = '42501';
  end if;
  select * into cat from public.notification_categories c where c.key = set_notification_preference.category;
  if not found then
    raise exception 'unknown notification category: the categories are %',
      (select string_agg(c.key, ', ' order by c.key) from public.notification_categories c)
      using errcode = '22023';
  end if;
  if channel is null or channel <> all (private.notification_channels()) then
    raise exception 'unknown notification channel: the channels are in_app, email, push' using errcode = '22023';
  end if;
  if enabled is null then
    raise exception 'enabled must be true or false' using errcode = '22023';
  end if;
  if cat.critical and channel in ('in_app', 'email') and not enabled then
    raise exception 'notification category % is critical: it cannot be switched off in_app or by email', cat.key
      using errcode = '22023';
  end if;
  insert into public.notification_preferences as p (user_id, category, channel, enabled)
  values (caller, cat.key, set_notification_preference.channel, set_notification_preference.enabled)
  on conflict on constraint notification_preferences_pkey
    do update set enabled = excluded.enabled, updated_at = now()
  returning * into result;
  return result;
end
$$;
comment on function private.set_notification_preference(text, text, boolean) is
  'Body of public.set_notification_preference: validates category and channel, refuses switching off a critical category, upserts the caller''s row.';
revoke execute on function private.set_notification_preference(text, text, boolean) from public;
grant execute on function private.set_notification_preference(text, text, boolean) to authenticated;

create function public.set_notification_preference(category text, channel text, enabled boolean)
returns public.notification_preferences
language sql
security invoker
set search_path = ''
as $$ select private.set_notification_preference(category, channel, enabled) $$;
comment on function public.set_notification_preference(text, text, boolean) is
  'Switch a notification category on or off for one channel (in_app, email, push). Critical categories (security, payments) cannot be switched off.';
revoke execute on function public.set_notification_preference(text, text, boolean) from public;
grant execute on function public.set_notification_preference(text, text, boolean) to authenticated;

-- Body of public.set_email_digest.
create function private.set_email_digest(category text, digest boolean) returns public.notification_preferences
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller uuid := auth.uid();
  cat public.notification_categories;
  result public.notification_preferences;
begin
  if caller is null then
    raise exception 'sign in to change notification preferences' using errcode = '42501';
  end if;
  select * into cat from public.notification_categories c where c.key = set_email_digest.category;
  if not found then
    raise exception 'unknown notification category: the categories are %',
      (select string_agg(c.key, ', ' order by c.key) from public.notification_categories c)
      using errcode = '22023';
  end if;
  if digest is null then
    raise exception 'digest must be true or false' using errcode = '22023';
  end if;
  if not cat.digestible then
    raise exception 'notification category % has no digest: the categories with one are %', cat.key,
      coalesce((select string_agg(c.key, ', ' order by c.key) from public.notification_categories c where c.digestible), 'none')
      using errcode = '22023';
  end if;
  -- The row keeps the e-mail channel's effective on/off as it is.
  insert into public.notification_preferences as p (user_id, category, channel, enabled, email_digest)
  values (caller, cat.key, 'email', private.notification_enabled(caller, cat.key, 'email'), set_email_digest.digest)
  on conflict on constraint notification_preferences_pkey
    do update set email_digest = excluded.email_digest, updated_at = now()
  returning * into result;
  return result;
end
$$;
comment on function private.set_email_digest(text, boolean) is
  'Body of public.set_email_digest: validates the category (digestible), sets the caller''s email_digest on the e-mail row, keeping its on/off.';
revoke execute on function private.set_email_digest(text, boolean) from public;
grant execute on function private.set_email_digest(text, boolean) to authenticated;

create function public.set_email_digest(category text, digest boolean) returns public.notification_preferences
language sql
security invoker
set search_path = ''
as $$ select private.set_email_digest(category, digest) $$;
comment on function public.set_email_digest(text, boolean) is
  'Choose whether the e-mails of a digestible category (messages) come as one digest per window (true) or one mail each (false). Switching its e-mail off is set_notification_preference.';
revoke execute on function public.set_email_digest(text, boolean) from public;
grant execute on function public.set_email_digest(text, boolean) to authenticated;

-- Every category with the caller's effective setting per channel (000 GET preferences).
create function private.my_notification_preferences()
returns table (category text, description text, critical boolean, in_app boolean, email boolean, push boolean, email_digest boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select c.key, c.description, c.critical,
         private.notification_enabled(auth.uid(), c.key, 'in_app'),
         private.notification_enabled(auth.uid(), c.key, 'email'),
         private.notification_enabled(auth.uid(), c.key, 'push'),
         private.email_digest_enabled(auth.uid(), c.key)
    from public.notification_categories c
   where auth.uid() is not null
   order by c.key
$$;
comment on function private.my_notification_preferences() is
  'Body of public.my_notification_preferences: every category with the caller''s effective choice per channel, and whether its e-mail is a digest.';
revoke execute on function private.my_notification_preferences() from public;
grant execute on function private.my_notification_preferences() to authenticated;

create function public.my_notification_preferences()
returns table (category text, description text, critical boolean, in_app boolean, email boolean, push boolean, email_digest boolean)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.my_notification_preferences() $$;
comment on function public.my_notification_preferences() is
  'Every notification category with whether you receive it in-app, by e-mail and by push (your choice or the default; critical ones always), and whether its e-mail comes as a digest.';
revoke execute on function public.my_notification_preferences() from public;
grant execute on function public.my_notification_preferences() to authenticated;

-- ---------------------------------------------------------------------------------------
-- Quiet hours: a daily window, in the user's time zone (private_profiles.timezone), during
-- which the consumer holds e-mail and push deliveries of non-critical categories until the
-- window ends. In-app notifications are not held.

create table public.notification_quiet_hours (
  user_id uuid primary key references auth.users (id) on delete cascade,
  starts_at time not null,
  ends_at time not null,
  updated_at timestamptz not null default now(),
  constraint notification_quiet_hours_not_empty check (starts_at <> ends_at)
);
comment on table public.notification_quiet_hours is
  'A user''s daily quiet hours (local time in their profile''s time zone; ends_at before starts_at spans midnight): e-mail and push of non-critical categories wait until the end.';

alter table public.notification_quiet_hours enable row level security;
grant select on public.notification_quiet_hours to authenticated;
grant all on public.notification_quiet_hours to service_role;
create policy "Users read their quiet hours" on public.notification_quiet_hours for select to authenticated
  using (user_id = (select auth.uid()));

-- When the user's quiet hours that contain the moment end, or null outside them.
create function private.quiet_hours_end(user_id uuid, moment timestamptz) returns timestamptz
language sql
stable
security definer
set search_path = ''
as $$
  select case
           when (q.starts_at < q.ends_at and l.t >= q.starts_at and l.t < q.ends_at)
             or (q.starts_at > q.ends_at and l.t < q.ends_at)
             then (l.d + q.ends_at) at time zone l.zone
           when q.starts_at > q.ends_at and l.t >= q.starts_at
             then (l.d + 1 + q.ends_at) at time zone l.zone
         end
    from public.notification_quiet_hours q
   cross join lateral (select coalesce((select p.timezone from public.private_profiles p where p.id = q.user_id), 'UTC') as zone) z
   cross join lateral (select (moment at time zone z.zone)::time as t, (moment at time zone z.zone)::date as d, z.zone) l
   where q.user_id = quiet_hours_end.user_id
$$;
comment on function private.quiet_hours_end(uuid, timestamptz) is
  'The end of the user''s quiet hours containing the moment (their profile''s time zone), or null when the moment is outside them or they have none.';

-- Body of public.set_quiet_hours.
create function private.set_quiet_hours(starts_at time, ends_at time) returns public.notification_quiet_hours
language plpgsql
security definer
set search_path = ''
as $$
declare
  result public.notification_quiet_hours;
begin
  if auth.uid() is null then
    raise exception 'sign in to set quiet hours' using errcode = '42501';
  end if;
  if starts_at is null and ends_at is null then
    delete from public.notification_quiet_hours q where q.user_id = auth.uid();
    return null;
  end if;
  if starts_at is null or ends_at is null or starts_at = ends_at then
    raise exception 'quiet hours need a start and a different end (both null switches them off)' using errcode = '22023';
  end if;
  insert into public.notification_quiet_hours as q (user_id, starts_at, ends_at)
  values (auth.uid(), set_quiet_hours.starts_at, set_quiet_hours.ends_at)
  on conflict on constraint notification_quiet_hours_pkey
    do update set starts_at = excluded.starts_at, ends_at = excluded.ends_at, updated_at = now()
  returning * into result;
  return result;
end
$$;
comment on function private.set_quiet_hours(time, time) is
  'Body of public.set_quiet_hours: sets (or, with two nulls, clears) the caller''s quiet hours.';
revoke execute on function private.set_quiet_hours(time, time) from public;
grant execute on function private.set_quiet_hours(time, time) to authenticated;

create function public.set_quiet_hours(starts_at time, ends_at time) returns public.notification_quiet_hours
language sql
security invoker
set search_path = ''
as $$ select private.set_quiet_hours(starts_at, ends_at) $$;
comment on function public.set_quiet_hours(time, time) is
  'Set your quiet hours (local times in your profile''s time zone; an end before the start spans midnight), or clear them with two nulls. E-mail and push of non-critical categories wait until they end.';
revoke execute on function public.set_quiet_hours(time, time) from public;
grant execute on function public.set_quiet_hours(time, time) to authenticated;
