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
  updated_at timestamptz not null default now(),
  primary key (user_id, category, channel)
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

-- Every category with the caller's effective setting per channel (000 GET preferences).
create function private.my_notification_preferences()
returns table (category text, description text, critical boolean, in_app boolean, email boolean, push boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select c.key, c.description, c.critical,
         private.notification_enabled(auth.uid(), c.key, 'in_app'),
         private.notification_enabled(auth.uid(), c.key, 'email'),
         private.notification_enabled(auth.uid(), c.key, 'push')
    from public.notification_categories c
   where auth.uid() is not null
   order by c.key
$$;
comment on function private.my_notification_preferences() is
  'Body of public.my_notification_preferences: every category with the caller''s effective choice per channel.';
revoke execute on function private.my_notification_preferences() from public;
grant execute on function private.my_notification_preferences() to authenticated;

create function public.my_notification_preferences()
returns table (category text, description text, critical boolean, in_app boolean, email boolean, push boolean)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.my_notification_preferences() $$;
comment on function public.my_notification_preferences() is
  'Every notification category with whether you receive it in-app, by e-mail and by push (your choice or the default; critical ones always).';
revoke execute on function public.my_notification_preferences() from public;
grant execute on function public.my_notification_preferences() to authenticated;
