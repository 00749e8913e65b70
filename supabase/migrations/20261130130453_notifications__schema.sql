-- The notifications domain's schema at the rebaseline: every file of supabase/schemas/70_notifications/, in path
-- order, as they stood before the first deploy. The schema files are the definitions to read and
-- change; later changes reach the database as new migrations (npm run db:diff -- <name>).

-- ======================================================================================
-- supabase/schemas/70_notifications/10_catalogue.sql
-- ======================================================================================

-- Notifications (issue 16; 000 "Notification Center & Preferences", 003 "Notifications", 004
-- /notifications): what the domain events of private.domain_events become for people.
--
--   public.notification_categories  each category: whether it is critical (cannot be switched
--                                    off: security, payments), its default per channel, and
--                                    whether the e-mail channel may put it in a digest
--   private.notification_rules       the event catalogue: for each event type, its category,
--                                    who it notifies and with which template
--
-- The channels are closed: in_app (the feed, public.notifications, live on the user's
-- Realtime topic), email (sent by the e-mail side of this domain, private.enqueue_email) and
-- push (a pluggable sender, private.send_push, absent by default; push is off in every
-- category's defaults).

create function private.notification_channels() returns text[]
language sql
immutable
set search_path = ''
as $$ select array['in_app', 'email', 'push'] $$;
comment on function private.notification_channels() is
  'The closed list of notification channels: in_app, email, push.';
grant execute on function private.notification_channels() to anon, authenticated, service_role;

create table public.notification_categories (
  key text primary key constraint notification_categories_key_format check (key ~ '^[a-z_]+$'),
  description text not null constraint notification_categories_description_present check (description <> ''),
  critical boolean not null default false,
  default_in_app boolean not null default true,
  default_email boolean not null default true,
  default_push boolean not null default false,
  digestible boolean not null default false,
  constraint notification_categories_critical_on check (not critical or (default_in_app and default_email))
);
comment on table public.notification_categories is
  'Notification categories (reference data): defaults per channel, critical ones (always delivered in-app and by e-mail), digest-able ones.';
comment on column public.notification_categories.critical is
  'Security and payment notices: a user cannot switch them off (set_notification_preference refuses).';
comment on column public.notification_categories.digestible is
  'The e-mail channel may gather this category into a periodic digest instead of one mail per notification.';

alter table public.notification_categories enable row level security;
grant select on public.notification_categories to anon, authenticated;
grant all on public.notification_categories to service_role;
create policy "Anyone reads notification categories" on public.notification_categories for select to anon, authenticated
  using (true);

create table private.notification_rules (
  event_type text primary key references private.event_types (event_type),
  category text not null references public.notification_categories (key),
  -- Who is notified: the event's own recipients (what the emitting domain chose), or the
  -- holders of a permission (admins for reconciliation differences).
  recipient_rule text not null default 'recipients'
    constraint notification_rules_recipient_rule check (recipient_rule ~ '^(recipients|permission:[a-z_]+\.[a-z_]+)$'),
  template_key text not null constraint notification_rules_template_key_format check (template_key ~ '^[a-z_]+\.[a-z_]+$'),
  -- The payload keys the event carries, which the templates may use as {{name}}.
  variables text[] not null default '{}',
  title_template text not null constraint notification_rules_title_present check (title_template <> ''),
  body_template text not null default '',
  action_url_template text
);
create index notification_rules_category_idx on private.notification_rules (category);
comment on table private.notification_rules is
  'The event catalogue: which category an event type notifies, whom (recipient_rule), and the in-app template (title, body, action URL with {{variable}} from the event''s payload). template_key names the e-mail template.';
comment on column private.notification_rules.variables is
  'Payload keys every event of this type carries (checked by ops.publish_event); templates may name only these, plus event_type and subject_id.';
grant select on private.notification_rules to service_role;

-- The {{names}} a template uses.
create function private.template_variables(template text) returns text[]
language sql
immutable
set search_path = ''
as $$
  select coalesce(array_agg(distinct m[1] order by m[1]), '{}')
    from regexp_matches(coalesce(template, ''), '\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}', 'g') m
$$;
comment on function private.template_variables(text) is 'The distinct {{variable}} names a template uses, sorted.';

-- A template filled from a payload: each {{name}} becomes the payload's value (text as is,
-- anything else as JSON), a missing one the empty string.
create function private.render_template(template text, variables jsonb) returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  name text;
  result text := template;
begin
  if template is null then
    return null;
  end if;
  foreach name in array private.template_variables(template) loop
    result := regexp_replace(result, '\{\{\s*' || name || '\s*\}\}',
                             replace(coalesce(variables ->> name, ''), '\', '\\'), 'g');
  end loop;
  return result;
end
$$;
comment on function private.render_template(text, jsonb) is
  'Fills a template''s {{variable}} from a JSON object (missing ones become empty).';

create function private.check_notification_rule() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  unknown text[];
begin
  select coalesce(array_agg(v order by v), '{}') into unknown
    from unnest(private.template_variables(new.title_template) || private.template_variables(new.body_template)
                || private.template_variables(new.action_url_template)) v
   where v <> all (new.variables || array['event_type', 'subject_id']);
  if cardinality(unknown) > 0 then
    raise exception 'the templates of % use variables the event does not carry: %', new.event_type, array_to_string(unknown, ', ')
      using errcode = '22023';
  end if;
  return new;
end
$$;
comment on function private.check_notification_rule() is
  'Refuses a catalogue row whose templates name a {{variable}} the event type does not declare.';

create trigger notification_rules_check before insert or update on private.notification_rules
  for each row execute function private.check_notification_rule();

-- ======================================================================================
-- supabase/schemas/70_notifications/20_preferences.sql
-- ======================================================================================

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
  on conflict (user_id, category, channel)
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
