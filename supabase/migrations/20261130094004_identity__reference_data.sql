-- Identity's reference data: who may sign up (platform_settings.signup_mode), the ISO 3166
-- country list addresses use, the time-zone names private profiles use, and its buckets:
-- public avatars, and private account exports (each user's under <uid>/, written by the
-- account-export function).

insert into public.platform_settings (key, value) values ('signup_mode', '"open"');

insert into public.countries (code)
select unnest(string_to_array(
  'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ ' ||
  'CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR ' ||
  'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO ' ||
  'JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR ' ||
  'MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO ' ||
  'RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV ' ||
  'TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW', ' '));

-- The time-zone names private_profiles.timezone accepts: those Postgres knows now
-- (pg_timezone_names: Postgres's tzdata, which Debian's builds take from the system). When that
-- tzdata changes later, a name it gains is still accepted (private.check_timezone falls back
-- to pg_timezone_names for a name not listed here), only not listed; a name it loses (rare:
-- tzdata keeps retired zones as links, but a distribution may move some to another package,
-- as Debian's tzdata-legacy did) stays accepted until the list is refreshed. Running these
-- two statements again brings the list up to date.
insert into public.time_zones (name)
select name from pg_catalog.pg_timezone_names
on conflict (name) do nothing;
delete from public.time_zones z
where not exists (select 1 from pg_catalog.pg_timezone_names t where t.name = z.name);

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('avatars', 'avatars', true, 2 * 1024 * 1024, array['image/png', 'image/jpeg', 'image/webp', 'image/gif'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('account-exports', 'account-exports', false, 50 * 1024 * 1024, array['application/json'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

-- Personal data identity holds (private.personal_data: what export and deletion do).
insert into private.personal_data (relation, user_column, matches, on_delete, exported, omit_from_export, reason) values
  ('public.profiles', 'id', 'user_id', 'delete', true, '{}', 'the user''s public profile'),
  ('public.public_profiles', 'id', 'user_id', 'delete', false, '{}', 'a copy of the public columns of the user''s profile (the read model lists read), which the export carries as public.profiles'),
  ('public.private_profiles', 'id', 'user_id', 'delete', true, '{}', 'the user''s private details'),
  ('public.addresses', 'user_id', 'user_id', 'delete', true, '{}', 'the user''s addresses'),
  ('public.seller_applications', 'user_id', 'user_id', 'delete', true, '{reviewed_by}', 'the user''s applications to sell'),
  ('public.seller_applications', 'reviewed_by', 'user_id', 'anonymise', false, '{}', 'applications they reviewed stay, without them'),
  ('public.shops', 'id', 'user_id', 'delete', true, '{}', 'the user''s shop'),
  ('public.invite_codes', 'created_by', 'user_id', 'anonymise', true, '{}', 'codes they created keep working, without them'),
  ('public.invite_redemptions', 'email', 'email', 'anonymise', true, '{}', 'the use of a code still counts, without their e-mail');

-- Buckets identity holds (private.user_buckets).
insert into private.user_buckets (bucket_id, folder, on_delete, exported, reason) values
  ('avatars', 'user', 'delete', true, 'profile pictures under <user id>/'),
  ('account-exports', 'user', 'delete', false, 'the user''s own exports under <user id>/; an export does not contain earlier exports');
