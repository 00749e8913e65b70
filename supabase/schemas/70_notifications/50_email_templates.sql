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
  select array['recipient_name', 'unsubscribe_url', 'app_url', 'category', 'event_type', 'subject_id', 'title', 'body', 'action_url', 'confirm_url']
$$;
comment on function private.email_standard_variables() is
  'Variables the sender supplies to every template, besides the payload: the recipient''s name, the one-click unsubscribe link, the app''s URL, the category, the event type and subject id, the in-app title, body and action URL the consumer renders, and a newsletter confirmation''s link.';

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
  if new.locale <> 'en' then
    -- Locked (for share) so that a concurrent deletion of the 'en' version waits for this
    -- write and then sees this locale, or this write waits and then finds 'en' gone.
    perform from private.email_templates t where t.key = new.key and t.locale = 'en' for share;
    if not found then
      raise exception 'e-mail template %/% has no ''en'' version to fall back on', new.key, new.locale
        using errcode = '22023';
    end if;
  end if;
  new.updated_at := now();
  return new;
end
$$;
comment on function private.check_email_template() is
  'Refuses a template using unescaped output, a placeholder it does not declare, a variable its event''s payload lacks, or a locale without an ''en'' fallback.';

create trigger email_templates_check before insert or update on private.email_templates
  for each row execute function private.check_email_template();

-- A template's locale is a known language (public.languages, or a region of one), as profiles'
-- locales are, so every locale a recipient can have may get its template (22023 'unknown
-- language: xx' otherwise; private.check_known_locale, 00_platform/90_i18n.sql).
create trigger email_templates_check_locale before insert or update of locale on private.email_templates
  for each row execute function private.check_known_locale('locale');

create trigger email_templates_audit after insert or update or delete on private.email_templates
  for each row execute function private.audit_row_change('key', 'key', 'locale', 'subject', 'html', 'text_body', 'variables');

-- ---------------------------------------------------------------------------------------
-- Template management (003 "GET /admin/notifications/templates", and writing them): RPCs for
-- holders of notifications.manage (and the service role: the admin CLI), each write checked
-- by email_templates_check above and written to the audit log (email_templates_audit, row_id
-- the key, the locale in the row). Keys the sender or the catalogue rely on keep their 'en'
-- version: private.email_template_in_use says why one cannot be deleted.

create function private.email_builtin_template_keys() returns text[]
language sql
immutable
set search_path = ''
as $$ select array['admin.notification', 'announcement', 'message.digest', 'newsletter.confirm'] $$;
comment on function private.email_builtin_template_keys() is
  'Template keys the database queues itself (admin sends and broadcasts by e-mail, announcements, the message digest, newsletter confirmations); their ''en'' version cannot be deleted.';

create function private.require_template_manager() returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not (private.is_service_role() or private.has_permission('notifications.manage')) then
    raise exception 'managing e-mail templates needs the notifications.manage permission' using errcode = '42501';
  end if;
end
$$;
comment on function private.require_template_manager() is
  'Refuses (42501) a caller who neither holds notifications.manage nor is the service role.';
revoke execute on function private.require_template_manager() from public;
grant execute on function private.require_template_manager() to authenticated, service_role;

-- Checks a key and locale's form first, so the messages that name them hold no free text.
create function private.check_template_address(key text, locale text) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if key is null or key !~ '^[a-z_]+(\.[a-z_]+)?$' or length(key) > 100 then
    raise exception 'a template key is lowercase words and underscores with at most one dot, like bid.accepted'
      using errcode = '22023';
  end if;
  if locale is null or locale !~ '^[a-z]{2,3}(-[A-Z]{2})?$' then
    raise exception 'a locale is a language code with an optional region (en, ko, pt-BR)' using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_template_address(text, text) from public;
grant execute on function private.check_template_address(text, text) to authenticated, service_role;

-- Checks the content of a template being written, before the trigger's own checks.
create function private.check_template_content(subject text, html text, text_body text, variables text[]) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if coalesce(subject, '') = '' or length(subject) > 500 or subject ~ '[\r\n]' then
    raise exception 'a template''s subject is one line of 1 to 500 characters' using errcode = '22023';
  end if;
  if coalesce(html, '') = '' or length(html) > 100000 then
    raise exception 'a template''s HTML body is 1 to 100000 characters' using errcode = '22023';
  end if;
  if coalesce(text_body, '') = '' or length(text_body) > 100000 then
    raise exception 'a template''s text body is 1 to 100000 characters' using errcode = '22023';
  end if;
  if variables is null then
    raise exception 'declare the template''s variables (an empty list when it uses none)' using errcode = '22023';
  end if;
  if exists (select from unnest(variables) v where v is null or v !~ '^[A-Za-z0-9_.]+$') then
    raise exception 'a variable name is letters, digits, underscores and dots' using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_template_content(text, text, text, text[]) from public;
grant execute on function private.check_template_content(text, text, text, text[]) to authenticated, service_role;


-- What the template RPCs answer: a template with the event types whose mail it is.
create type public.email_template as (
  key text, locale text, subject text, html text, text_body text, variables text[], event_types text[],
  updated_at timestamptz
);
comment on type public.email_template is
  'An e-mail template as the admin RPCs answer it: key, locale, Mustache subject, html and text_body, the declared variables, and the event types of the catalogue whose mail it is.';

create function private.email_templates_of(key text, locale text) returns setof public.email_template
language sql
stable
security definer
set search_path = ''
as $$
  select t.key, t.locale, t.subject, t.html, t.text_body, t.variables,
         array(select r.event_type from private.notification_rules r where r.template_key = t.key order by r.event_type),
         t.updated_at
    from private.email_templates t
   where (email_templates_of.key is null or t.key = email_templates_of.key)
     and (email_templates_of.locale is null or t.locale = email_templates_of.locale)
   order by t.key, t.locale
$$;
comment on function private.email_templates_of(text, text) is
  'The templates of a key and locale (null: any), as public.email_template rows. No permission check: its callers check.';
revoke execute on function private.email_templates_of(text, text) from public;

-- Body of public.list_email_templates.
create function private.list_email_templates(key text default null, locale text default null)
returns setof public.email_template
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.require_template_manager();
  return query select * from private.email_templates_of(key, locale);
end
$$;
comment on function private.list_email_templates(text, text) is
  'Body of public.list_email_templates: the templates (of one key, of one locale) with the event types naming each key; notifications.manage or the service role.';
revoke execute on function private.list_email_templates(text, text) from public;
grant execute on function private.list_email_templates(text, text) to authenticated, service_role;

create function public.list_email_templates(key text default null, locale text default null)
returns setof public.email_template
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.list_email_templates(key, locale) $$;
comment on function public.list_email_templates(text, text) is
  'Admin (notifications.manage): the e-mail templates, optionally of one key or one locale, with the event types that use each (003 GET /admin/notifications/templates).';
revoke execute on function public.list_email_templates(text, text) from public;
grant execute on function public.list_email_templates(text, text) to authenticated, service_role;

-- Body of public.get_email_template.
create function private.get_email_template(key text, locale text default 'en') returns public.email_template
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found_template public.email_template;
begin
  perform private.require_template_manager();
  perform private.check_template_address(key, locale);
  select * into found_template from private.email_templates_of(key, locale);
  if not found then
    raise exception 'e-mail template %/% not found', key, locale using errcode = 'PT404';
  end if;
  return found_template;
end
$$;
comment on function private.get_email_template(text, text) is
  'Body of public.get_email_template: one template; PT404 when the key has no template in that locale.';
revoke execute on function private.get_email_template(text, text) from public;
grant execute on function private.get_email_template(text, text) to authenticated, service_role;

create function public.get_email_template(key text, locale text default 'en') returns public.email_template
language sql
stable
security invoker
set search_path = ''
as $$ select private.get_email_template(key, locale) $$;
comment on function public.get_email_template(text, text) is
  'Admin (notifications.manage): one e-mail template by key and locale (default en).';
revoke execute on function public.get_email_template(text, text) from public;
grant execute on function public.get_email_template(text, text) to authenticated, service_role;

-- Body of public.create_email_template.
create function private.create_email_template(
  key text, locale text, subject text, html text, text_body text, variables text[]
) returns public.email_template
language plpgsql
security definer
set search_path = ''
as $$
declare
  created public.email_template;
begin
  perform private.require_template_manager();
  perform private.check_template_address(key, locale);
  perform private.check_template_content(subject, html, text_body, variables);
  if exists (select from private.email_templates t where t.key = create_email_template.key and t.locale = create_email_template.locale) then
    raise exception 'e-mail template %/% already exists: update it instead', key, locale using errcode = '23505';
  end if;
  begin
    insert into private.email_templates (key, locale, subject, html, text_body, variables)
    values (key, locale, subject, html, text_body, array(select distinct v from unnest(variables) v order by v));
  exception when unique_violation then
    -- Created by a concurrent call since the check above.
    raise exception 'e-mail template %/% already exists: update it instead', key, locale using errcode = '23505';
  end;
  select * into created from private.email_templates_of(key, locale);
  return created;
end
$$;
comment on function private.create_email_template(text, text, text, text, text, text[]) is
  'Body of public.create_email_template: checks the caller, the key, locale and content, then inserts (the check trigger refuses unescaped output, undeclared variables, variables the event lacks, a locale without ''en''); 23505 when it exists.';
revoke execute on function private.create_email_template(text, text, text, text, text, text[]) from public;
grant execute on function private.create_email_template(text, text, text, text, text, text[]) to authenticated, service_role;

create function public.create_email_template(
  key text, locale text, subject text, html text, text_body text, variables text[]
) returns public.email_template
language sql
security invoker
set search_path = ''
as $$ select private.create_email_template(key, locale, subject, html, text_body, variables) $$;
comment on function public.create_email_template(text, text, text, text, text, text[]) is
  'Admin (notifications.manage): add an e-mail template for a key and locale (Mustache; every placeholder declared in variables; only variables the event''s payload carries; ''en'' first). Audited.';
revoke execute on function public.create_email_template(text, text, text, text, text, text[]) from public;
grant execute on function public.create_email_template(text, text, text, text, text, text[]) to authenticated, service_role;

-- Body of public.update_email_template.
create function private.update_email_template(
  key text, locale text, subject text default null, html text default null, text_body text default null,
  variables text[] default null
) returns public.email_template
language plpgsql
security definer
set search_path = ''
as $$
declare
  existing private.email_templates;
  updated public.email_template;
begin
  perform private.require_template_manager();
  perform private.check_template_address(key, locale);
  select * into existing from private.email_templates t
   where t.key = update_email_template.key and t.locale = update_email_template.locale
     for update;
  if not found then
    raise exception 'e-mail template %/% not found', key, locale using errcode = 'PT404';
  end if;
  perform private.check_template_content(coalesce(subject, existing.subject), coalesce(html, existing.html),
                                         coalesce(text_body, existing.text_body), coalesce(variables, existing.variables));
  update private.email_templates t
     set subject = coalesce(update_email_template.subject, t.subject),
         html = coalesce(update_email_template.html, t.html),
         text_body = coalesce(update_email_template.text_body, t.text_body),
         variables = case when update_email_template.variables is null then t.variables
                          else array(select distinct v from unnest(update_email_template.variables) v order by v) end
   where t.key = existing.key and t.locale = existing.locale;
  select * into updated from private.email_templates_of(key, locale);
  return updated;
end
$$;
comment on function private.update_email_template(text, text, text, text, text, text[]) is
  'Body of public.update_email_template: changes the given parts (null keeps a part), checked as a new template is; PT404 when it does not exist.';
revoke execute on function private.update_email_template(text, text, text, text, text, text[]) from public;
grant execute on function private.update_email_template(text, text, text, text, text, text[]) to authenticated, service_role;

create function public.update_email_template(
  key text, locale text, subject text default null, html text default null, text_body text default null,
  variables text[] default null
) returns public.email_template
language sql
security invoker
set search_path = ''
as $$ select private.update_email_template(key, locale, subject, html, text_body, variables) $$;
comment on function public.update_email_template(text, text, text, text, text, text[]) is
  'Admin (notifications.manage): change an e-mail template''s subject, HTML, text or variables (omitted parts stay), checked as on creation. Audited.';
revoke execute on function public.update_email_template(text, text, text, text, text, text[]) from public;
grant execute on function public.update_email_template(text, text, text, text, text, text[]) to authenticated, service_role;

-- Body of public.delete_email_template.
create function private.delete_email_template(key text, locale text) returns public.email_template
language plpgsql
security definer
set search_path = ''
as $$
declare
  deleted public.email_template;
  others text;
  rules text;
  waiting integer;
begin
  perform private.require_template_manager();
  perform private.check_template_address(key, locale);
  -- The row is locked first: a concurrent write of another locale (which locks 'en' for share
  -- in the check trigger) either commits before the checks below see it, or waits and then
  -- finds 'en' gone.
  perform from private.email_templates t
   where t.key = delete_email_template.key and t.locale = delete_email_template.locale
     for update;
  select * into deleted from private.email_templates_of(key, locale);
  if not found then
    raise exception 'e-mail template %/% not found', key, locale using errcode = 'PT404';
  end if;
  -- Every other locale falls back on 'en', so 'en' goes only when nothing relies on it.
  if locale = 'en' then
    select string_agg(t.locale, ', ' order by t.locale) into others
      from private.email_templates t where t.key = delete_email_template.key and t.locale <> 'en';
    if others is not null then
      raise exception 'e-mail template %/en is the fallback of its other locales (%): delete those first', key, others
        using errcode = 'PT409';
    end if;
    if cardinality(deleted.event_types) > 0 then
      raise exception 'e-mail template %/en is the mail of % in the event catalogue: it cannot be deleted', key,
        array_to_string(deleted.event_types, ', ') using errcode = 'PT409';
    end if;
    if key = any (private.email_builtin_template_keys()) then
      raise exception 'e-mail template %/en is queued by the database itself: it cannot be deleted', key
        using errcode = 'PT409';
    end if;
    select count(*) into waiting from public.email_deliveries d
     where d.template_key = delete_email_template.key
       and (d.status in ('queued', 'sending') or (d.status = 'failed' and d.next_attempt_at is not null));
    if waiting > 0 then
      raise exception 'e-mail template %/en has % mails waiting to be sent: it cannot be deleted yet', key, waiting
        using errcode = 'PT409';
    end if;
  end if;
  delete from private.email_templates t where t.key = delete_email_template.key and t.locale = delete_email_template.locale;
  return deleted;
end
$$;
comment on function private.delete_email_template(text, text) is
  'Body of public.delete_email_template: deletes a template and answers it; an ''en'' one is refused (PT409) while other locales fall back on it, the catalogue or the database names its key, or mails using it wait to be sent.';
revoke execute on function private.delete_email_template(text, text) from public;
grant execute on function private.delete_email_template(text, text) to authenticated, service_role;

create function public.delete_email_template(key text, locale text) returns public.email_template
language sql
security invoker
set search_path = ''
as $$ select private.delete_email_template(key, locale) $$;
comment on function public.delete_email_template(text, text) is
  'Admin (notifications.manage): delete an e-mail template (a locale other than en falls back on en; en itself only when nothing uses it). Audited.';
revoke execute on function public.delete_email_template(text, text) from public;
grant execute on function public.delete_email_template(text, text) to authenticated, service_role;
