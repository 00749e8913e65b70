-- Notifications (issue 16; 000 "Notification Center & Preferences", 003 "Notifications", 004
-- /notifications): what the domain events of private.domain_events become for people.
--
--   public.notification_categories  each category: whether it is critical (cannot be switched
--                                    off: security, payments), its default per channel, and
--                                    whether the e-mail channel may put it in a digest (its
--                                    window, template and default)
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
  digest_window interval not null default interval '1 hour'
    constraint notification_categories_digest_window check (digest_window between interval '1 minute' and interval '1 day'),
  default_email_digest boolean not null default false,
  digest_template_key text,
  constraint notification_categories_critical_on check (not critical or (default_in_app and default_email)),
  constraint notification_categories_critical_not_digested check (not (critical and digestible)),
  constraint notification_categories_digest_default check (not default_email_digest or digestible),
  constraint notification_categories_digest_template check (digestible = (digest_template_key is not null))
);
comment on table public.notification_categories is
  'Notification categories (reference data): defaults per channel, critical ones (always delivered in-app and by e-mail), digest-able ones.';
comment on column public.notification_categories.critical is
  'Security and payment notices: a user cannot switch them off (set_notification_preference refuses).';
comment on column public.notification_categories.digestible is
  'The e-mail channel may gather this category into a digest (one mail per user and digest_window listing the notifications) instead of one mail per notification; never a critical category.';
comment on column public.notification_categories.digest_window is
  'The length of a digest window (1 minute to 1 day): a user''s e-mails of the category delivered within one window go out as one digest when it closes.';
comment on column public.notification_categories.default_email_digest is
  'Whether the category''s e-mail is a digest for users who did not choose (notification_preferences.email_digest).';
comment on column public.notification_categories.digest_template_key is
  'The e-mail template (private.email_templates) of the category''s digest; set exactly when the category is digestible.';

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
