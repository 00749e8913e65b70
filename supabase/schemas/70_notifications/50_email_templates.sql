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
