-- i18n (004; 00_platform/90_i18n.sql): anyone (anon too) reads the active languages and their
-- strings; a missing key falls back to the default language, flagged; a translation whose
-- source changed is stale; only i18n.manage writes (admins have it), each write audited with
-- who did it; the bulk upsert saves the valid keys and reports each invalid one (unknown
-- language, placeholders not those of the source, empty value, no source), or saves nothing
-- when asked all or nothing; coverage and the language pack; profiles' and e-mail templates'
-- locales must be known languages.
begin;
select plan(45);

-- Only the reference data's strings (a dev database may hold strings integration runs added).
delete from public.translation_strings where module not in ('common', 'auth', 'marketplace', 'orders', 'shop');

select tests.create_user('i18n-translator@example.com');
select tests.create_user('i18n-user@example.com');
select tests.grant_role('i18n-translator@example.com', 'admin');

-- Reference data: en default, ko active, others known but inactive.
select results_eq($$ select code, is_default from public.languages where active order by code $$,
  $$ values ('en', true), ('ko', false) $$, 'en (the default) and ko are active');
select ok((select count(*) from public.permissions where code = 'i18n.manage') = 1
          and exists (select 1 from public.role_permissions rp join public.roles r on r.id = rp.role_id
                       where r.name = 'admin' and rp.permission = 'i18n.manage'),
  'i18n.manage is registered and admins hold it');

-- Anon reads active languages and their strings only.
select tests.act_as('anon');
select results_eq($$ select code from public.languages order by code $$, $$ values ('en'), ('ko') $$,
  'anon lists the active languages only');
select is((select value from public.translation_strings where module = 'common' and key = 'save' and language = 'ko'), '저장',
  'anon reads a Korean string');
select is_empty($$ select 1 from public.translation_strings where language = 'fr' $$, 'nothing of an inactive language');

-- Fallback: orders.status.disputed has no Korean string.
select results_eq(
  $$ select value, language, is_fallback, is_stale from public.translation('ko', 'orders', 'status.disputed') $$,
  $$ values ('In dispute', 'en', true, false) $$, 'a key missing in ko is answered in en, flagged as fallback');
select results_eq(
  $$ select value, language, is_fallback from public.translation('ko', 'orders', 'status.paid') $$,
  $$ values ('결제 완료', 'ko', false) $$, 'a translated key in ko');
select throws_ok($$ select * from public.translation('ko', 'orders', 'status.lost') $$, 'PT404',
  'translation key not found', 'a key the default language lacks is not found');
select throws_ok($$ select * from public.translations('fr') $$, '22023', 'unknown language: fr',
  'anon cannot read an inactive language');
select throws_ok($$ select * from public.translations('French') $$, '22023',
  'a language is a code with an optional region (en, ko, pt-BR)', 'a malformed language is refused');
select throws_ok($$ select * from public.translations('ko', page_size => 101) $$, '22023',
  'page is 1 or more and page_size 1 to 100', 'page_size above 100 is refused');

-- Pages of a module, ordered, with the total on every row.
select results_eq(
  $$ select key, is_fallback, total_count from public.translations('ko', 'orders', 1, 2) $$,
  $$ values ('status.delivered', false, 4::bigint), ('status.disputed', true, 4::bigint) $$,
  'page 1 of the orders module, 2 a page, total 4');
select results_eq(
  $$ select key from public.translations('ko', 'orders', 2, 2) $$,
  $$ values ('status.paid'), ('status.shipped') $$, 'page 2');
select is((select count(*) from public.translations('ko'))::int, 20, 'the default page size is 20');

-- Writes: anon and a plain user are refused.
select throws_ok($$ insert into public.translation_strings (module, key, language, value) values ('common', 'x', 'en', 'X') $$,
  '42501', 'permission denied for table translation_strings', 'anon cannot write strings');
select tests.act_as('i18n-user@example.com');
select throws_ok($$ insert into public.translation_strings (module, key, language, value) values ('common', 'x', 'en', 'X') $$,
  '42501', 'new row violates row-level security policy for table "translation_strings"', 'a user without i18n.manage cannot write');
select throws_ok($$ select public.upsert_translations('[{"language": "en", "module": "common", "key": "x", "value": "X"}]') $$,
  '42501', 'permission denied: i18n.manage is required to write strings', 'nor upsert');
select throws_ok($$ select * from public.translation_coverage() $$,
  '42501', 'permission denied: i18n.manage is required to read the coverage report', 'nor read the coverage report');
select is_empty($$ update public.languages set active = true where code = 'fr' returning code $$,
  'nor activate a language (the row is not theirs to change)');

-- A translator's bulk upsert: valid keys saved, invalid ones reported.
select tests.act_as('i18n-translator@example.com');
create temp table upsert_result as
select public.upsert_translations($$[
  {"language": "ko", "module": "orders", "key": "status.disputed", "value": "분쟁 중"},
  {"language": "ko", "module": "auth", "key": "welcome", "value": "{user}님 환영합니다"},
  {"language": "ko", "module": "common", "key": "save", "value": "  "},
  {"language": "xx", "module": "common", "key": "save", "value": "Save"},
  {"language": "ko", "module": "common", "key": "nonexistent", "value": "없음"},
  {"language": "ko", "module": "marketplace", "key": "bids.count", "value": "입찰 {{count}}건"},
  {"language": "en", "module": "common", "key": "BAD KEY", "value": "x"},
  {"language": "en", "module": "common", "key": "back", "value": "Back"},
  {"language": "ko", "module": "common", "key": "back", "value": "뒤로"}
]$$::jsonb) as r;
grant select on upsert_result to authenticated;
select is((select (r ->> 'saved_count')::int from upsert_result), 3, 'three keys saved');
select results_eq(
  $$ select e ->> 'index', e ->> 'code', e ->> 'message' from upsert_result, jsonb_array_elements(r -> 'errors') e $$,
  $$ values ('1', 'placeholder_mismatch', 'placeholders of auth.welcome (ko) do not match the source: {name} expected, {user} given'),
            ('2', 'empty_value', 'the value of common.save (ko) is empty'),
            ('3', 'unknown_language', 'unknown language: xx'),
            ('4', 'missing_source', 'common.nonexistent has no en source string to translate'),
            ('5', 'placeholder_mismatch', 'placeholders of marketplace.bids.count (ko) do not match the source: {count} expected, {{count}} given'),
            ('6', 'invalid_key', 'new row for relation "translation_strings" violates check constraint "translation_strings_key_format"') $$,
  'each refused key reported with its index, code and message');
select is((select value from public.translation_strings where module = 'orders' and key = 'status.disputed' and language = 'ko'),
  '분쟁 중', 'a valid key was saved beside the refused ones');
select is((select value from public.translation_strings where module = 'common' and key = 'save' and language = 'ko'),
  '저장', 'a refused key kept its value');
select is((select updated_by from public.translation_strings where module = 'common' and key = 'back' and language = 'ko'),
  tests.get_user_id('i18n-translator@example.com'), 'updated_by is the translator');

-- All or nothing.
select throws_ok($$ select public.upsert_translations('[{"language": "ko", "module": "common", "key": "search", "value": "찾기"},
                                                        {"language": "ko", "module": "common", "key": "cancel", "value": ""}]', true) $$,
  '22023', '1 of 2 strings refused; nothing saved', 'all_or_nothing refuses the call when one key is refused');
select is((select value from public.translation_strings where module = 'common' and key = 'search' and language = 'ko'), '검색',
  'and saves nothing');
select throws_ok($$ select public.upsert_translations('{"language": "ko"}') $$, '22023',
  'entries is a non-empty array of {language, module, key, value}', 'entries must be an array');

-- Direct writes go through the same rule.
select throws_ok($$ update public.translation_strings set value = 'Hi {who}' where module = 'auth' and key = 'welcome' and language = 'ko' $$,
  '22023', 'placeholders of auth.welcome (ko) do not match the source: {name} expected, {who} given',
  'a direct update is checked too');

-- Stale: the source changes; the Korean translation is now stale until rewritten.
update public.translation_strings set value = 'Welcome back, {name}! Good to see you.' where module = 'auth' and key = 'welcome' and language = 'en';
select results_eq($$ select is_stale, is_fallback from public.translation('ko', 'auth', 'welcome') $$,
  $$ values (true, false) $$, 'a translation of a changed source is stale');
select results_eq($$ select language, stale_keys, missing_keys from public.translation_coverage() where language = 'ko' $$,
  $$ values ('ko', array['auth.welcome'], '{}'::text[]) $$, 'the coverage report lists the stale key, and nothing missing now');
select is((select coverage_percent from public.translation_coverage() where language = 'ko'), 100.0, 'ko: 100% translated');
select is((select up_to_date_percent from public.translation_coverage() where language = 'ko'), 95.5, 'ko: 95.5% up to date (21 of 22)');
select is((select coverage_percent from public.translation_coverage() where language = 'ja'), 0.0, 'ja: nothing translated');
update public.translation_strings set value = '{name}님, 다시 오신 것을 환영합니다. 반가워요!' where module = 'auth' and key = 'welcome' and language = 'ko';
select results_eq($$ select is_stale from public.translation('ko', 'auth', 'welcome') $$, $$ values (false) $$,
  'rewritten, it is current again');

-- Audited with the translator.
select ok(exists (select 1 from public.audit_log a where a.table_name = 'translation_strings' and a.row_id = 'welcome'
                   and a.actor_id = tests.get_user_id('i18n-translator@example.com') and a.after ->> 'language' = 'ko'),
  'writes are in the audit log with the translator');

-- Languages: a translator adds and activates one; the default stays active.
insert into public.languages (code, name, native_name) values ('it', 'Italian', 'Italiano');
update public.languages set active = true where code = 'it';
select ok(exists (select 1 from public.audit_log where table_name = 'languages' and row_id = 'it' and action = 'update'),
  'a language change is audited');
select throws_ok($$ update public.languages set active = false where code = 'en' $$, '23514',
  'new row for relation "languages" violates check constraint "languages_default_is_active"', 'the default cannot be deactivated');

-- Language pack: nested by module, or flat, with the fallback keys listed.
select tests.act_as('anon');
select is((public.language_pack('ko') -> 'strings' -> 'common' ->> 'back'), '뒤로', 'nested: strings.common.back');
select is((public.language_pack('ko', flat => true) -> 'strings' ->> 'orders.status.disputed'), '분쟁 중', 'flat: "orders.status.disputed"');
select is((public.language_pack('it') -> 'fallback_keys') -> 0, '"auth.sign_in"'::jsonb,
  'a new language falls back everywhere, and says which keys');
select is((public.language_pack('it', 'shop') -> 'strings' -> 'shop' ->> 'checkout'), 'Checkout', 'one module, in the default language');

-- Locales: profiles and templates name known languages.
select tests.act_as('i18n-user@example.com');
select throws_ok($$ update public.private_profiles set locale = 'xx' where id = auth.uid() $$, '22023',
  'unknown language: xx', 'a profile cannot take an unknown language');
update public.private_profiles set locale = 'en-GB' where id = auth.uid();
select is((select locale from public.private_profiles where id = auth.uid()), 'en-GB', 'a region of a known language is a known locale');
select tests.clear_authentication();
select tests.create_user('i18n-signup@example.com', '{"locale": "tlh"}');
select is((select locale from public.private_profiles where id = tests.get_user_id('i18n-signup@example.com')),
  'en', 'a sign-up with an unknown locale gets en, and the sign-up goes through');
select throws_ok($$ insert into private.email_templates (key, locale, subject, html, text_body) values ('announcement', 'xx', 's', 'h', 't') $$,
  '22023', 'unknown language: xx', 'an e-mail template cannot be in an unknown language');

select * from finish();
rollback;
