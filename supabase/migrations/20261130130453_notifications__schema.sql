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

-- ======================================================================================
-- supabase/schemas/70_notifications/50_email_templates.sql
-- ======================================================================================

-- E-mail templates: one per (key, locale), each with a subject, an HTML body and a text body
-- in Mustache syntax ({{name}} is HTML-escaped by the sender, notifications-send-email; triple
-- braces are refused, so nothing is ever inserted unescaped). A template may use only the
-- variables it declares, and a template that the event catalogue names
-- (private.notification_rules.template_key) may declare only the payload keys that rule says
-- its event carries (notification_rules.variables) and the sender's own variables
-- (private.email_standard_variables). A mail is rendered in the recipient's locale
-- (public.private_profiles.locale), falling back to 'en', which every key must have.

create table private.email_templates (
  key text not null constraint email_templates_key_format check (key ~ '^[a-z_]+(\.[a-z_]+)?$'),
  locale text not null default 'en' constraint email_templates_locale_format check (locale ~ '^[a-z]{2,3}(-[A-Z]{2})?$'),
  subject text not null constraint email_templates_subject_present check (subject <> ''),
  html text not null constraint email_templates_html_present check (html <> ''),
  text_body text not null constraint email_templates_text_present check (text_body <> ''),
  variables text[] not null default '{}',
  updated_at timestamptz not null default now(),
  primary key (key, locale)
);
comment on table private.email_templates is
  'E-mail templates per key and locale (Mustache: subject, html, text_body); variables lists every placeholder the bodies use, checked against the event''s payload keys.';
grant select on private.email_templates to service_role;

create function private.email_standard_variables() returns text[]
language sql
immutable
set search_path = ''
as $$
  select array['recipient_name', 'unsubscribe_url', 'app_url', 'category', 'event_type', 'subject_id', 'title', 'body', 'action_url']
$$;
comment on function private.email_standard_variables() is
  'Variables the sender supplies to every template, besides the payload: the recipient''s name, the one-click unsubscribe link, the app''s URL, the category, the event type and subject id, and the in-app title, body and action URL the consumer renders.';

-- The placeholders a Mustache text uses: {{name}}, {{ name }}, sections {{#name}} {{^name}}
-- {{/name}}; triple braces and {{&name}} (unescaped output) are refused.
create function private.email_template_placeholders(body text) returns text[]
language sql
immutable
set search_path = ''
as $$
  select coalesce(array_agg(distinct m[1] order by m[1]), '{}')
    from regexp_matches(body, '\{\{\s*[#^/]?\s*([A-Za-z0-9_.]+)\s*\}\}', 'g') m
$$;

create function private.check_email_template() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  used text[];
  undeclared text[];
  rule record;
  unknown text[];
begin
  if new.subject ~ '\{\{\{|\{\{\s*&' or new.html ~ '\{\{\{|\{\{\s*&' or new.text_body ~ '\{\{\{|\{\{\s*&' then
    raise exception 'e-mail template %/% uses unescaped output ({{{ }} or {{& }}): every variable is HTML-escaped', new.key, new.locale
      using errcode = '22023';
  end if;
  used := private.email_template_placeholders(new.subject || ' ' || new.html || ' ' || new.text_body);
  select coalesce(array_agg(u order by u), '{}') into undeclared from unnest(used) u where u <> all (new.variables);
  if cardinality(undeclared) > 0 then
    raise exception 'e-mail template %/% uses undeclared variables: %', new.key, new.locale, array_to_string(undeclared, ', ')
      using errcode = '22023';
  end if;
  for rule in select r.event_type, r.variables from private.notification_rules r where r.template_key = new.key loop
    select coalesce(array_agg(v order by v), '{}') into unknown
      from unnest(new.variables) v
     where v <> all (rule.variables || private.email_standard_variables());
    if cardinality(unknown) > 0 then
      raise exception 'e-mail template %/%: variables % are not in the payload of % (%)', new.key, new.locale,
        array_to_string(unknown, ', '), rule.event_type, array_to_string(rule.variables, ', ')
        using errcode = '22023';
    end if;
  end loop;
  if new.locale <> 'en' and not exists (select from private.email_templates t where t.key = new.key and t.locale = 'en') then
    raise exception 'e-mail template %/% has no ''en'' version to fall back on', new.key, new.locale
      using errcode = '22023';
  end if;
  new.updated_at := now();
  return new;
end
$$;
comment on function private.check_email_template() is
  'Refuses a template using unescaped output, a placeholder it does not declare, a variable its event''s payload lacks, or a locale without an ''en'' fallback.';

create trigger email_templates_check before insert or update on private.email_templates
  for each row execute function private.check_email_template();

-- ======================================================================================
-- supabase/schemas/70_notifications/55_email_deliveries.sql
-- ======================================================================================

-- E-mail delivery log: one row per mail to send, written by private.enqueue_email (the
-- notifications consumer for the e-mail channel, the newsletter), claimed in batches by the
-- sender, notifications-send-email, through ops.claim_email_deliveries and settled by
-- ops.record_email_delivery. Lifecycle: queued -> sending -> sent, or -> failed (with the
-- error) and retried after a backoff until max attempts; a claim left 'sending' past its
-- visibility timeout (a crashed sender) is claimed again, so no mail is lost. The Message-ID
-- is derived from the row's id, so a mail sent twice after a crash is one message to the
-- receiving side.

create table public.email_deliveries (
  id uuid primary key default gen_random_uuid(),
  recipient_id uuid references auth.users (id) on delete cascade,
  -- Set for mail to an address without an account (the newsletter); for users the address is
  -- read from auth.users when the mail is claimed, so a changed address is honoured.
  to_address text constraint email_deliveries_to_address_format
    check (to_address is null or to_address ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  category text,
  template_key text not null,
  payload jsonb not null default '{}',
  event_id bigint references private.domain_events (id) on delete set null,
  idempotency_key text not null constraint email_deliveries_idempotency_key_unique unique,
  status text not null default 'queued'
    constraint email_deliveries_status check (status in ('queued', 'sending', 'sent', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz default now(),
  claim_id uuid,
  claimed_until timestamptz,
  last_error text,
  provider_message_id text,
  -- The one-click unsubscribe link's token (List-Unsubscribe): it mutes this category's mail.
  unsubscribe_token uuid not null default gen_random_uuid() constraint email_deliveries_unsubscribe_token_unique unique,
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  constraint email_deliveries_has_recipient check (recipient_id is not null or to_address is not null)
);
comment on table public.email_deliveries is
  'Log of every e-mail the project sends: queued, sending, sent or failed (with the last error and attempts). Recipients read their own rows, notifications managers all; only the sender writes.';
comment on column public.email_deliveries.idempotency_key is
  'event:<event id>:<recipient>:<template> for event mail; one row per key, so a re-run consumer enqueues nothing twice.';
comment on column public.email_deliveries.next_attempt_at is
  'When a queued or failed delivery may next be claimed; null once sent or given up (failed after the last attempt).';
comment on column public.email_deliveries.claim_id is
  'The claim that holds a sending row; ops.record_email_delivery accepts only the current claim''s result.';
create index email_deliveries_due_idx on public.email_deliveries (next_attempt_at) where status in ('queued', 'failed');
create index email_deliveries_sending_idx on public.email_deliveries (claimed_until) where status = 'sending';
create index email_deliveries_recipient_idx on public.email_deliveries (recipient_id) where recipient_id is not null;
create index email_deliveries_event_idx on public.email_deliveries (event_id) where event_id is not null;

alter table public.email_deliveries enable row level security;
grant select on public.email_deliveries to authenticated;
grant all on public.email_deliveries to service_role;
create policy "Recipients and notification managers read e-mail deliveries"
  on public.email_deliveries for select to authenticated
  using (recipient_id = (select auth.uid()) or (select private.has_permission('notifications.manage')));

create function private.email_max_attempts() returns integer
language sql
immutable
set search_path = ''
as $$ select 6 $$;
comment on function private.email_max_attempts() is
  'Attempts before a delivery is given up (failed with next_attempt_at null); the backoff between them is 1, 4, 16, 64, 256 minutes.';

-- The insert both enqueue functions share: checks the template and the address, then one row
-- per idempotency key (a repeated key returns the first row's id and changes nothing).
create function private.queue_email_delivery(
  recipient uuid, address text, category text, template_key text, payload jsonb, event_id bigint, idempotency_key text
) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  delivery_id uuid;
begin
  if recipient is null and address is null then
    raise exception 'an e-mail needs a recipient or an address' using errcode = '22023';
  end if;
  if address is not null and address !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    raise exception 'not an e-mail address' using errcode = '22023';
  end if;
  if not exists (select from private.email_templates t where t.key = queue_email_delivery.template_key and t.locale = 'en') then
    raise exception 'no e-mail template %', coalesce(template_key, 'null') using errcode = '22023';
  end if;
  if idempotency_key is null then
    raise exception 'an e-mail needs an idempotency key' using errcode = '22023';
  end if;
  insert into public.email_deliveries (recipient_id, to_address, category, template_key, payload, event_id, idempotency_key)
  values (recipient, lower(address), category, template_key, coalesce(payload, '{}'), event_id, idempotency_key)
  on conflict on constraint email_deliveries_idempotency_key_unique do nothing
  returning id into delivery_id;
  if delivery_id is null then
    select d.id into delivery_id from public.email_deliveries d where d.idempotency_key = queue_email_delivery.idempotency_key;
  end if;
  return delivery_id;
end
$$;
revoke execute on function private.queue_email_delivery(uuid, text, text, text, jsonb, bigint, text) from public;

create function private.enqueue_email(recipient uuid, category text, template_key text, payload jsonb, event_id bigint)
returns uuid
language sql
security definer
set search_path = ''
as $$
  select private.queue_email_delivery(recipient, null, category, template_key, payload, event_id,
    'event:' || coalesce(event_id::text, 'null') || ':' || coalesce(recipient::text, 'null') || ':' || coalesce(template_key, 'null'))
$$;
comment on function private.enqueue_email(uuid, text, text, jsonb, bigint) is
  'The e-mail channel for the notifications consumer: queues the template''s mail to the user for an event, once per (event, recipient, template); a second call returns the first delivery''s id and changes nothing. The caller has checked the recipient''s preferences.';
revoke execute on function private.enqueue_email(uuid, text, text, jsonb, bigint) from public;
grant execute on function private.enqueue_email(uuid, text, text, jsonb, bigint) to service_role;

create function private.enqueue_email_to_address(
  address text, template_key text, payload jsonb, idempotency_key text, category text default null
) returns uuid
language sql
security definer
set search_path = ''
as $$
  select private.queue_email_delivery(null, address, category, template_key, payload, null, idempotency_key)
$$;
comment on function private.enqueue_email_to_address(text, text, jsonb, text, text) is
  'Queues a template''s mail to an address without an account (the newsletter), once per idempotency key.';
revoke execute on function private.enqueue_email_to_address(text, text, jsonb, text, text) from public;
grant execute on function private.enqueue_email_to_address(text, text, jsonb, text, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- The sender's side: claim a batch, then record each result.

create function ops.claim_email_deliveries(batch_size integer default 20, visibility_seconds integer default 300)
returns table (
  id uuid, claim_id uuid, attempt integer, to_address text, locale text, category text,
  template_key text, subject text, html text, text_body text, variables jsonb, unsubscribe_token uuid
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  claim uuid := gen_random_uuid();
begin
  if batch_size is null or batch_size not between 1 and 500 then
    raise exception 'batch_size must be between 1 and 500' using errcode = '22023';
  end if;
  if visibility_seconds is null or visibility_seconds not between 10 and 3600 then
    raise exception 'visibility_seconds must be between 10 and 3600' using errcode = '22023';
  end if;
  return query
  with due as (
    select d.id from public.email_deliveries d
     where (d.status in ('queued', 'failed') and d.next_attempt_at <= now())
        or (d.status = 'sending' and d.claimed_until < now())
     order by coalesce(d.next_attempt_at, d.claimed_until), d.created_at
     limit batch_size
     for update skip locked
  ), claimed as (
    update public.email_deliveries d
       set status = 'sending', claim_id = claim, attempts = d.attempts + 1,
           claimed_until = now() + make_interval(secs => visibility_seconds)
      from due where d.id = due.id
    returning d.*
  )
  select c.id, c.claim_id, c.attempts, coalesce(c.to_address, u.email::text), t.locale, c.category,
         c.template_key, t.subject, t.html, t.text_body,
         c.payload || jsonb_build_object(
           'recipient_name', coalesce(nullif(trim(coalesce(pp.first_name, '')), ''), 'there'),
           'category', c.category,
           'event_type', e.event_type,
           'subject_id', e.subject_id),
         c.unsubscribe_token
    from claimed c
    left join auth.users u on u.id = c.recipient_id
    left join public.private_profiles pp on pp.id = c.recipient_id
    left join private.domain_events e on e.id = c.event_id
    cross join lateral (
      select tt.* from private.email_templates tt
       where tt.key = c.template_key and tt.locale in (coalesce(pp.locale, 'en'), 'en')
       order by tt.locale = 'en'
       limit 1
    ) t;
end
$$;
comment on function ops.claim_email_deliveries(integer, integer) is
  'Claims up to batch_size due deliveries (queued, failed and due again, or sending past their visibility timeout) with for update skip locked, marks them sending under a new claim for visibility_seconds, and returns each with its address and its template in the recipient''s locale (else en). Service role only: the sender.';
revoke execute on function ops.claim_email_deliveries(integer, integer) from public;
grant execute on function ops.claim_email_deliveries(integer, integer) to service_role;

create function ops.record_email_delivery(
  delivery_id uuid, claim uuid, succeeded boolean, provider_message_id text default null, error text default null
) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  d public.email_deliveries;
begin
  select * into d from public.email_deliveries e where e.id = delivery_id for update;
  if not found then
    raise exception 'e-mail delivery % not found', delivery_id using errcode = 'PT404';
  end if;
  if d.status <> 'sending' or d.claim_id is distinct from claim then
    raise exception 'e-mail delivery % is % under another claim: its result is not recorded', delivery_id, d.status
      using errcode = 'PT409';
  end if;
  if succeeded then
    update public.email_deliveries e
       set status = 'sent', sent_at = now(), provider_message_id = record_email_delivery.provider_message_id,
           next_attempt_at = null, claimed_until = null, last_error = null
     where e.id = delivery_id;
    return 'sent';
  end if;
  update public.email_deliveries e
     set status = 'failed', claimed_until = null,
         last_error = left(coalesce(error, 'unknown error'), 2000),
         next_attempt_at = case when d.attempts >= private.email_max_attempts() then null
                                else now() + make_interval(mins => power(4, d.attempts - 1)::integer) end
   where e.id = delivery_id;
  return 'failed';
end
$$;
comment on function ops.record_email_delivery(uuid, uuid, boolean, text, text) is
  'Records the sender''s result for a claimed delivery: sent (with the provider''s message id), or failed with the error and retried after 4^(attempts-1) minutes until the last attempt. A result from a stale claim is refused (PT409). Service role only.';
revoke execute on function ops.record_email_delivery(uuid, uuid, boolean, text, text) from public;
grant execute on function ops.record_email_delivery(uuid, uuid, boolean, text, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- One-click unsubscribe (List-Unsubscribe, RFC 8058): a delivery's token switches its
-- category's e-mail off for its recipient, without signing in. Called by the
-- notifications-newsletter function, which serves the link.

create function ops.unsubscribe_email(token uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  d public.email_deliveries;
  cat public.notification_categories;
begin
  select * into d from public.email_deliveries e where e.unsubscribe_token = token;
  if not found or d.recipient_id is null or d.category is null then
    raise exception 'unsubscribe link not found' using errcode = 'PT404';
  end if;
  select * into cat from public.notification_categories c where c.key = d.category;
  if cat.critical then
    raise exception 'notification category % is critical: its e-mail cannot be switched off', cat.key
      using errcode = 'PT409';
  end if;
  insert into public.notification_preferences as p (user_id, category, channel, enabled)
  values (d.recipient_id, d.category, 'email', false)
  on conflict (user_id, category, channel) do update set enabled = false, updated_at = now();
  return jsonb_build_object('category', d.category, 'email', false);
end
$$;
comment on function ops.unsubscribe_email(uuid) is
  'One-click unsubscribe from a mail''s List-Unsubscribe link: switches the delivery''s category off on the e-mail channel for its recipient (idempotent); refuses critical categories (PT409) and unknown tokens (PT404). Service role only: the notifications-newsletter function.';
revoke execute on function ops.unsubscribe_email(uuid) from public;
grant execute on function ops.unsubscribe_email(uuid) to service_role;
