-- i18n (004 "Internationalization"): the languages the platform speaks and the UI strings in
-- each, for every client to read (anon too) and holders of i18n.manage to write.
--
--   public.languages            code (BCP 47: a language with an optional region, as profiles'
--                               and e-mail templates' locales are written), name, native name,
--                               active (offered to clients), is_default (exactly one: 'en')
--   public.translation_strings  one value per (module, key, language). A translation keeps
--                               source_digest, the SHA-256 of the default language's value it
--                               was written from (Shopify's translatableContentDigest), so a
--                               translation whose source changed since is visibly stale
--
-- Lower domains cannot see later ones, so this file is where profiles' locale (10_identity)
-- and e-mail templates' locale (70_notifications) are checked from: private.is_known_locale.
-- The rows (en default, ko, and the known but inactive languages) and a starter set of strings
-- are reference data (20261130094002_platform__reference_data.sql).

create table public.languages (
  code text primary key constraint languages_code_format check (code ~ '^[a-z]{2,3}(-[A-Z]{2})?$'),
  name text not null constraint languages_name_length check (char_length(trim(name)) between 1 and 80),
  native_name text not null constraint languages_native_name_length check (char_length(trim(native_name)) between 1 and 80),
  active boolean not null default false,
  is_default boolean not null default false,
  updated_at timestamptz not null default now(),
  constraint languages_default_is_active check (active or not is_default)
);
create unique index languages_one_default_idx on public.languages (is_default) where is_default;
comment on table public.languages is
  'Languages of the UI strings (004 GET /i18n/languages). Clients read the active ones; i18n.manage adds and (de)activates them. Exactly one is the default, the fallback of every string (migrations set it).';
comment on column public.languages.code is 'A BCP 47 tag as the platform writes locales: a language, optionally a region (en, ko, pt-BR).';
comment on column public.languages.active is 'Offered to clients (listed, readable by anon). An inactive language is still a known locale for profiles and templates.';

create trigger languages_touch_updated_at before update on public.languages
  for each row execute function private.touch_updated_at();
create trigger languages_audit after insert or update or delete on public.languages
  for each row execute function private.audit_row_change('code');

alter table public.languages enable row level security;
grant select on public.languages to anon, authenticated;
grant insert (code, name, native_name, active), update (name, native_name, active) on public.languages to authenticated;
grant all on public.languages to service_role;

create policy "Anyone reads the active languages" on public.languages for select to anon
  using (active);
create policy "Signed-in users read the active languages, translators all" on public.languages for select to authenticated
  using (active or (select private.has_permission('i18n.manage')));
create policy "Translators add languages" on public.languages for insert to authenticated
  with check ((select private.has_permission('i18n.manage')));
create policy "Translators change languages" on public.languages for update to authenticated
  using ((select private.has_permission('i18n.manage'))) with check ((select private.has_permission('i18n.manage')));

-- The default language's code: the one row with is_default (the reference data inserts en).
create function private.default_language() returns text
language sql
stable
security definer
set search_path = ''
as $$ select coalesce((select l.code from public.languages l where l.is_default), 'en') $$;
comment on function private.default_language() is 'The default language''s code (en): the fallback of every string and of e-mail templates.';
revoke execute on function private.default_language() from public;
grant execute on function private.default_language() to anon, authenticated, service_role;

-- A locale is known when public.languages has it, or has its language without the region
-- (en-GB is known through en). Security definer: inactive languages count, whatever the
-- caller may read.
create function private.is_known_locale(locale text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select locale is not null and exists (
    select 1 from public.languages l
     where l.code = locale
        or (locale ~ '^[a-z]{2,3}-[A-Z]{2}$' and l.code = pg_catalog.split_part(locale, '-', 1))
  )
$$;
comment on function private.is_known_locale(text) is
  'Whether a locale is a known language (public.languages, active or not), or a region of one (en-GB through en). What profiles'' and e-mail templates'' locales must be.';
revoke execute on function private.is_known_locale(text) from public;
grant execute on function private.is_known_locale(text) to anon, authenticated, service_role;

-- The rule for a locale column written by anyone: a well-formed locale of an unknown language is
-- refused with 22023; a malformed one is left to the column's own format check.
create function private.check_known_locale() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  locale text := pg_catalog.to_jsonb(new) ->> tg_argv[0];
begin
  if locale ~ '^[a-z]{2,3}(-[A-Z]{2})?$' and not private.is_known_locale(locale) then
    raise exception 'unknown language: %', locale
      using errcode = '22023', hint = 'Use a code of public.languages (en, ko), optionally with a region (en-GB).';
  end if;
  return new;
end
$$;
comment on function private.check_known_locale() is
  'Before-row trigger: the column named by the argument holds a known locale (private.is_known_locale), else 22023.';

-- ---------------------------------------------------------------------------------------
-- Strings.

create table public.translation_strings (
  module text not null constraint translation_strings_module_format check (module ~ '^[a-z][a-z0-9_]{0,39}$'),
  key text not null constraint translation_strings_key_format check (key ~ '^[a-z0-9_]+(\.[a-z0-9_]+)*$' and char_length(key) <= 120),
  language text not null references public.languages (code) on update cascade,
  value text not null constraint translation_strings_value_length check (char_length(value) between 1 and 10000),
  source_digest text,
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now(),
  primary key (module, key, language)
);
create index translation_strings_language_idx on public.translation_strings (language, module, key);
create index translation_strings_updated_by_idx on public.translation_strings (updated_by) where updated_by is not null;
comment on table public.translation_strings is
  'UI strings: one value per module, key and language (004 i18n). The default language''s rows are the sources; every other row translates one and records its digest.';
comment on column public.translation_strings.key is 'Dotted lowercase key within the module (save, errors.not_found).';
comment on column public.translation_strings.source_digest is
  'For a translation: sha256 (hex) of the default-language value it was written from, set by the trigger. It differs from the current source''s digest once the source changes: the translation is stale. Null on the default language''s rows.';
comment on column public.translation_strings.updated_by is 'Who last wrote the value (the caller; null for migrations and service tooling).';

-- The digest of a source string, as translation_strings.source_digest holds it.
create function private.i18n_digest(value text) returns text
language sql
immutable
set search_path = ''
as $$ select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(value, 'UTF8')), 'hex') $$;
comment on function private.i18n_digest(text) is 'sha256 (hex) of a string''s UTF-8 bytes: the source digest of translations.';
revoke execute on function private.i18n_digest(text) from public;
grant execute on function private.i18n_digest(text) to anon, authenticated, service_role;

-- The placeholders of a string, sorted and distinct: {name} (ICU/i18next single braces) and
-- {{name}} (Mustache, as the e-mail templates write them; spaces inside ignored) are different
-- placeholders, so a translation must use the very forms its source uses.
create function private.i18n_placeholders(value text) returns text[]
language sql
immutable
set search_path = ''
as $$
  select coalesce(pg_catalog.array_agg(distinct p order by p), '{}')
    from (select case when m[1] is not null then '{{' || m[1] || '}}' else '{' || m[2] || '}' end as p
            from pg_catalog.regexp_matches(value, '\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}', 'g') m) found
$$;
comment on function private.i18n_placeholders(text) is
  'The distinct placeholders of a string, sorted: {name} and {{name}} (normalised without inner spaces).';
revoke execute on function private.i18n_placeholders(text) from public;
grant execute on function private.i18n_placeholders(text) to anon, authenticated, service_role;

-- Every write of a string, by the API, the bulk RPC or a migration, passes here. Each refusal
-- is 22023 with a detail naming its kind (what upsert_translations reports per key).
create function private.check_translation_string() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  default_code text := private.default_language();
  source text;
  wanted text[];
  given text[];
begin
  if not exists (select 1 from public.languages l where l.code = new.language) then
    raise exception 'unknown language: %', new.language using errcode = '22023', detail = 'unknown_language';
  end if;
  if new.value is null or trim(new.value) = '' then
    raise exception 'the value of %.% (%) is empty', new.module, new.key, new.language
      using errcode = '22023', detail = 'empty_value';
  end if;
  if new.language = default_code then
    new.source_digest := null;
  else
    select s.value into source from public.translation_strings s
     where s.module = new.module and s.key = new.key and s.language = default_code;
    if source is null then
      raise exception '%.% has no % source string to translate', new.module, new.key, default_code
        using errcode = '22023', detail = 'missing_source';
    end if;
    wanted := private.i18n_placeholders(source);
    given := private.i18n_placeholders(new.value);
    if wanted is distinct from given then
      raise exception 'placeholders of %.% (%) do not match the source: % expected, % given', new.module, new.key,
        new.language, coalesce(nullif(array_to_string(wanted, ' '), ''), 'none'),
        coalesce(nullif(array_to_string(given, ' '), ''), 'none')
        using errcode = '22023', detail = 'placeholder_mismatch';
    end if;
    -- A new value translates the source as it is now; an unchanged value keeps its digest.
    if tg_op = 'INSERT' or new.value is distinct from old.value then
      new.source_digest := private.i18n_digest(source);
    else
      new.source_digest := old.source_digest;
    end if;
  end if;
  new.updated_by := auth.uid();
  new.updated_at := now();
  return new;
end
$$;
comment on function private.check_translation_string() is
  'Before insert or update of a string: a known language, a non-empty value, and for a translation a source in the default language whose placeholders it uses exactly; sets source_digest, updated_by and updated_at.';

create trigger translation_strings_check before insert or update on public.translation_strings
  for each row execute function private.check_translation_string();

-- A source string deleted takes its translations along: they would translate nothing.
create function private.delete_translations_of_source() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.language = private.default_language() then
    delete from public.translation_strings s where s.module = old.module and s.key = old.key and s.language <> old.language;
  end if;
  return null;
end
$$;
comment on function private.delete_translations_of_source() is
  'After a default-language string is deleted, its translations go too.';

create trigger translation_strings_delete_translations after delete on public.translation_strings
  for each row execute function private.delete_translations_of_source();
create trigger translation_strings_audit after insert or update or delete on public.translation_strings
  for each row execute function private.audit_row_change('key', 'module', 'key', 'language', 'value', 'source_digest');

alter table public.translation_strings enable row level security;
grant select on public.translation_strings to anon, authenticated;
grant insert (module, key, language, value), update (value), delete on public.translation_strings to authenticated;
grant all on public.translation_strings to service_role;

-- Whether a language is offered (active), for the read policies: one lookup per statement.
create function private.is_active_language(code text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$ select exists (select 1 from public.languages l where l.code = is_active_language.code and l.active) $$;
comment on function private.is_active_language(text) is 'Whether the language is active (offered to clients).';
revoke execute on function private.is_active_language(text) from public;
grant execute on function private.is_active_language(text) to anon, authenticated, service_role;

create policy "Anyone reads the strings of active languages" on public.translation_strings for select to anon
  using (private.is_active_language(language));
create policy "Signed-in users read the strings of active languages, translators all" on public.translation_strings
  for select to authenticated
  using ((select private.has_permission('i18n.manage')) or private.is_active_language(language));
create policy "Translators add strings" on public.translation_strings for insert to authenticated
  with check ((select private.has_permission('i18n.manage')));
create policy "Translators change strings" on public.translation_strings for update to authenticated
  using ((select private.has_permission('i18n.manage'))) with check ((select private.has_permission('i18n.manage')));
create policy "Translators delete strings" on public.translation_strings for delete to authenticated
  using ((select private.has_permission('i18n.manage')));

-- ---------------------------------------------------------------------------------------
-- Reads with fallback. The language a client asks for must be active (or the caller a
-- translator); a key it lacks is answered in the default language, flagged is_fallback.

create function private.assert_readable_language(language text) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if language is null or language !~ '^[a-z]{2,3}(-[A-Z]{2})?$' then
    raise exception 'a language is a code with an optional region (en, ko, pt-BR)' using errcode = '22023';
  end if;
  if not exists (select 1 from public.languages l
                  where l.code = language and (l.active or private.has_permission('i18n.manage') or private.is_service_role())) then
    raise exception 'unknown language: %', language using errcode = '22023';
  end if;
end
$$;
comment on function private.assert_readable_language(text) is
  'Refuses (22023) a malformed language code, or one that is not active (translators and the service role read inactive ones too).';
revoke execute on function private.assert_readable_language(text) from public;
grant execute on function private.assert_readable_language(text) to anon, authenticated, service_role;

-- Every source key (of a module), with the language's value or the default's.
create function private.strings_with_fallback(for_language text, in_module text)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean, updated_at timestamptz)
language sql
stable
security definer
set search_path = ''
as $$
  select s.module, s.key, coalesce(t.value, s.value), coalesce(t.language, s.language), t.value is null,
         t.value is not null and t.language <> s.language and t.source_digest is distinct from private.i18n_digest(s.value),
         coalesce(t.updated_at, s.updated_at)
    from public.translation_strings s
    left join public.translation_strings t
      on t.module = s.module and t.key = s.key and t.language = strings_with_fallback.for_language
   where s.language = private.default_language()
     and (strings_with_fallback.in_module is null or s.module = strings_with_fallback.in_module)
$$;
comment on function private.strings_with_fallback(text, text) is
  'Each default-language key (of one module, or all) with the language''s value, else the default''s (is_fallback); is_stale when the translation''s source digest is not the source''s. No check: its callers check.';
revoke execute on function private.strings_with_fallback(text, text) from public;

create function private.translations(for_language text, in_module text default null, page integer default 1, page_size integer default 20)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean,
               updated_at timestamptz, total_count bigint)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.assert_readable_language(for_language);
  if in_module is not null and in_module !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'a module is lowercase letters, digits and underscores' using errcode = '22023';
  end if;
  if page is null or page < 1 or page_size is null or page_size not between 1 and 100 then
    raise exception 'page is 1 or more and page_size 1 to 100' using errcode = '22023';
  end if;
  return query
    select f.module, f.key, f.value, f.language, f.is_fallback, f.is_stale, f.updated_at, count(*) over ()
      from private.strings_with_fallback(for_language, in_module) f
     order by f.module, f.key
     limit page_size offset (page - 1) * page_size;
end
$$;
comment on function private.translations(text, text, integer, integer) is 'Body of public.translations.';
revoke execute on function private.translations(text, text, integer, integer) from public;
grant execute on function private.translations(text, text, integer, integer) to anon, authenticated, service_role;

create function public.translations(for_language text, in_module text default null, page integer default 1, page_size integer default 20)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean,
               updated_at timestamptz, total_count bigint)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.translations(for_language, in_module, page, page_size) $$;
revoke execute on function public.translations(text, text, integer, integer) from public;
grant execute on function public.translations(text, text, integer, integer) to anon, authenticated, service_role;
comment on function public.translations(text, text, integer, integer) is
  '004 GET /i18n/strings/{language}?module=: every key (of a module) in an active language, ordered by module and key, page 1.. of page_size 1-100 (default 20), total_count on every row; a key the language lacks comes in the default language with is_fallback, an outdated translation with is_stale. Anyone (anon too).';

create function private.translation(for_language text, in_module text, for_key text)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean, updated_at timestamptz)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.assert_readable_language(for_language);
  return query select * from private.strings_with_fallback(for_language, in_module) f
                where f.key = for_key;
  if not found then
    raise exception 'translation key not found' using errcode = 'PT404';
  end if;
end
$$;
comment on function private.translation(text, text, text) is 'Body of public.translation.';
revoke execute on function private.translation(text, text, text) from public;
grant execute on function private.translation(text, text, text) to anon, authenticated, service_role;

create function public.translation(for_language text, in_module text, for_key text)
returns table (module text, key text, value text, language text, is_fallback boolean, is_stale boolean, updated_at timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.translation(for_language, in_module, for_key) $$;
revoke execute on function public.translation(text, text, text) from public;
grant execute on function public.translation(text, text, text) to anon, authenticated, service_role;
comment on function public.translation(text, text, text) is
  '004 GET /i18n/strings/{language}/{key}: one key of a module in an active language, or in the default language (is_fallback) when not translated; 404 for a key the default language lacks. Anyone (anon too).';

-- ---------------------------------------------------------------------------------------
-- Bulk upsert: many keys in one call, each its own savepoint, so valid keys are saved and
-- invalid ones reported with the trigger's refusal; all_or_nothing refuses the whole call
-- (22023, the errors in the detail) when any key is refused.

create function private.upsert_translations(entries jsonb, all_or_nothing boolean default false) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  entry jsonb;
  item_no integer := 0;
  saved jsonb := '[]';
  errors jsonb := '[]';
  err_kind text;
  err_message text;
  err_state text;
  err_constraint text;
begin
  if not (private.has_permission('i18n.manage') or private.is_service_role()) then
    raise exception 'permission denied: i18n.manage is required to write strings' using errcode = '42501';
  end if;
  if entries is null or jsonb_typeof(entries) <> 'array' or jsonb_array_length(entries) = 0 then
    raise exception 'entries is a non-empty array of {language, module, key, value}' using errcode = '22023';
  end if;
  if jsonb_array_length(entries) > 1000 then
    raise exception 'at most 1000 entries in one call, not %', jsonb_array_length(entries) using errcode = '22023';
  end if;
  for entry in select e from jsonb_array_elements(entries) e loop
    item_no := item_no + 1;
    begin
      if jsonb_typeof(entry) <> 'object'
         or jsonb_typeof(entry -> 'language') is distinct from 'string' or jsonb_typeof(entry -> 'module') is distinct from 'string'
         or jsonb_typeof(entry -> 'key') is distinct from 'string' or jsonb_typeof(entry -> 'value') is distinct from 'string' then
        raise exception 'entry % is not {language, module, key, value} with string values', item_no
          using errcode = '22023', detail = 'invalid_entry';
      end if;
      insert into public.translation_strings as s (module, key, language, value)
      values (entry ->> 'module', entry ->> 'key', entry ->> 'language', entry ->> 'value')
      on conflict (module, key, language) do update set value = excluded.value;
      saved := saved || jsonb_build_array(jsonb_build_object(
        'module', entry ->> 'module', 'key', entry ->> 'key', 'language', entry ->> 'language'));
    -- The refusals of a value (the trigger's 22023, the columns' checks); anything else is
    -- not the caller's mistake and fails the call.
    exception when invalid_parameter_value or check_violation or string_data_right_truncation or not_null_violation
                   or foreign_key_violation then
      get stacked diagnostics err_message = message_text, err_state = returned_sqlstate, err_kind = pg_exception_detail,
                              err_constraint = constraint_name;
      err_kind := case when err_state = '22023' and coalesce(err_kind, '') ~ '^[a-z_]+$' then err_kind
                       when err_constraint = 'translation_strings_module_format' then 'invalid_module'
                       when err_constraint = 'translation_strings_key_format' then 'invalid_key'
                       when err_constraint = 'translation_strings_value_length' then 'invalid_value'
                       else 'invalid_entry' end;
      errors := errors || jsonb_build_array(jsonb_build_object(
        'index', item_no - 1, 'module', entry ->> 'module', 'key', entry ->> 'key', 'language', entry ->> 'language',
        'code', err_kind, 'message', err_message));
    end;
  end loop;
  if all_or_nothing and jsonb_array_length(errors) > 0 then
    raise exception '% of % strings refused; nothing saved', jsonb_array_length(errors), jsonb_array_length(entries)
      using errcode = '22023', detail = errors::text;
  end if;
  return jsonb_build_object('saved', saved, 'errors', errors,
                            'saved_count', jsonb_array_length(saved), 'error_count', jsonb_array_length(errors));
end
$$;
comment on function private.upsert_translations(jsonb, boolean) is 'Body of public.upsert_translations.';
revoke execute on function private.upsert_translations(jsonb, boolean) from public;
grant execute on function private.upsert_translations(jsonb, boolean) to authenticated, service_role;

create function public.upsert_translations(entries jsonb, all_or_nothing boolean default false) returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$ select private.upsert_translations(entries, all_or_nothing) $$;
revoke execute on function public.upsert_translations(jsonb, boolean) from public;
grant execute on function public.upsert_translations(jsonb, boolean) to authenticated, service_role;
comment on function public.upsert_translations(jsonb, boolean) is
  '004 PUT /admin/i18n/strings (i18n.manage): inserts or updates many strings [{language, module, key, value}] in one call. Each is saved or reported in errors with its index and a code (unknown_language, empty_value, missing_source, placeholder_mismatch, invalid_key, invalid_module, invalid_value, invalid_entry); with all_or_nothing any error refuses the call (22023, errors in details). Answers {saved, errors, saved_count, error_count}.';

-- ---------------------------------------------------------------------------------------
-- Coverage and the language pack.

create function private.translation_coverage()
returns table (language text, name text, active boolean, is_default boolean, total_keys bigint, translated bigint,
               stale bigint, missing bigint, coverage_percent numeric, up_to_date_percent numeric,
               missing_keys text[], stale_keys text[])
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not (private.has_permission('i18n.manage') or private.is_service_role()) then
    raise exception 'permission denied: i18n.manage is required to read the coverage report' using errcode = '42501';
  end if;
  return query
    select l.code, l.name, l.active, l.is_default, count(f.key),
           count(f.key) filter (where not f.is_fallback),
           count(f.key) filter (where f.is_stale),
           count(f.key) filter (where f.is_fallback),
           case when count(f.key) = 0 then 100.0
                else round(100.0 * count(f.key) filter (where not f.is_fallback) / count(f.key), 1) end,
           case when count(f.key) = 0 then 100.0
                else round(100.0 * count(f.key) filter (where not f.is_fallback and not f.is_stale) / count(f.key), 1) end,
           coalesce(array_agg(f.module || '.' || f.key order by f.module, f.key) filter (where f.is_fallback), '{}'),
           coalesce(array_agg(f.module || '.' || f.key order by f.module, f.key) filter (where f.is_stale), '{}')
      from public.languages l
      left join lateral private.strings_with_fallback(l.code, null) f on true
     group by l.code, l.name, l.active, l.is_default
     order by l.is_default desc, l.code;
end
$$;
comment on function private.translation_coverage() is 'Body of public.translation_coverage.';
revoke execute on function private.translation_coverage() from public;
grant execute on function private.translation_coverage() to authenticated, service_role;

create function public.translation_coverage()
returns table (language text, name text, active boolean, is_default boolean, total_keys bigint, translated bigint,
               stale bigint, missing bigint, coverage_percent numeric, up_to_date_percent numeric,
               missing_keys text[], stale_keys text[])
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.translation_coverage() $$;
revoke execute on function public.translation_coverage() from public;
grant execute on function public.translation_coverage() to authenticated, service_role;
comment on function public.translation_coverage() is
  '004 GET /admin/i18n/coverage (i18n.manage): per language, of the default language''s keys: translated, stale (source changed since), missing; coverage_percent (translated) and up_to_date_percent (translated and not stale), with the missing and stale keys as module.key.';

create function private.language_pack(for_language text, in_module text default null, flat boolean default false) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  strings jsonb;
begin
  perform private.assert_readable_language(for_language);
  if in_module is not null and in_module !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'a module is lowercase letters, digits and underscores' using errcode = '22023';
  end if;
  if coalesce(flat, false) then
    select coalesce(jsonb_object_agg(f.module || '.' || f.key, f.value), '{}') into strings
      from private.strings_with_fallback(for_language, in_module) f;
  else
    select coalesce(jsonb_object_agg(m.module, m.keys), '{}') into strings
      from (select f.module, jsonb_object_agg(f.key, f.value) as keys
              from private.strings_with_fallback(for_language, in_module) f
             group by f.module) m;
  end if;
  return jsonb_build_object(
    'language', for_language,
    'default_language', private.default_language(),
    'format', case when coalesce(flat, false) then 'flat' else 'nested' end,
    'generated_at', now(),
    'strings', strings,
    'fallback_keys', (select coalesce(jsonb_agg(f.module || '.' || f.key order by f.module, f.key), '[]')
                        from private.strings_with_fallback(for_language, in_module) f
                       where f.is_fallback));
end
$$;
comment on function private.language_pack(text, text, boolean) is 'Body of public.language_pack.';
revoke execute on function private.language_pack(text, text, boolean) from public;
grant execute on function private.language_pack(text, text, boolean) to anon, authenticated, service_role;

create function public.language_pack(for_language text, in_module text default null, flat boolean default false) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.language_pack(for_language, in_module, flat) $$;
revoke execute on function public.language_pack(text, text, boolean) from public;
grant execute on function public.language_pack(text, text, boolean) to anon, authenticated, service_role;
comment on function public.language_pack(text, text, boolean) is
  '004 GET /i18n/export/{language}: the whole language (or one module) as one JSON document: {language, default_language, format, generated_at, strings, fallback_keys}; strings nested {module: {key: value}} or, with flat, {"module.key": value}; missing keys carry the default language''s value and are listed in fallback_keys. Anyone (anon too), active languages.';
