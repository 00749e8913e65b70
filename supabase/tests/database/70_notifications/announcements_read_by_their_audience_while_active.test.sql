-- Announcements: holders of notifications.manage create, change and delete them (audited);
-- while active, public ones are read by anyone including anon, authenticated ones by
-- signed-in users, role ones by holders of the role; ones not started or ended are read by
-- managers only. Bad input is refused by the table's rules.
begin;
select plan(16);

select tests.create_user('an-admin@example.com');
select tests.grant_role('an-admin@example.com', 'admin');
select tests.create_user('an-seller@example.com');
select tests.grant_role('an-seller@example.com', 'seller');
select tests.create_user('an-user@example.com');

select tests.act_as('an-user@example.com');
select throws_ok($$ insert into public.announcements (title, ends_at) values ('Mine', now() + interval '1 day') $$,
  '42501', 'new row violates row-level security policy for table "announcements"', 'a user cannot announce');

select tests.act_as('an-admin@example.com');
select lives_ok($$ insert into public.announcements (title, level, audience, starts_at, ends_at) values
  ('Public', 'info', 'public', now() - interval '1 hour', now() + interval '1 day'),
  ('Members', 'warning', 'authenticated', now() - interval '1 hour', now() + interval '1 day'),
  ('Later', 'info', 'public', now() + interval '1 day', now() + interval '2 days'),
  ('Over', 'info', 'public', now() - interval '2 days', now() - interval '1 day') $$, 'a manager announces');
select lives_ok($$ insert into public.announcements (title, level, audience, audience_role, ends_at) values
  ('Sellers', 'critical', 'role', 'seller', now() + interval '1 day') $$, 'to a role too');
select throws_ok($$ insert into public.announcements (title, audience, ends_at) values ('No role', 'role', now() + interval '1 day') $$,
  '23514', 'new row for relation "announcements" violates check constraint "announcements_role_given"', 'a role audience names its role');
select throws_ok($$ insert into public.announcements (title, level, ends_at) values ('Loud', 'shouting', now() + interval '1 day') $$,
  '23514', 'new row for relation "announcements" violates check constraint "announcements_level"', 'an unknown level is refused');
select throws_ok($$ insert into public.announcements (title, starts_at, ends_at) values ('Backwards', now(), now() - interval '1 hour') $$,
  '23514', 'new row for relation "announcements" violates check constraint "announcements_ends_after_start"', 'it ends after it starts');
select throws_ok($$ insert into public.announcements (title, audience, audience_role, ends_at) values ('Ghosts', 'role', 'ghost', now() + interval '1 day') $$,
  '23503', 'insert or update on table "announcements" violates foreign key constraint "announcements_audience_role_fkey"', 'a role that exists');
select results_eq($$ select title from public.announcements order by title $$,
  array['Later', 'Members', 'Over', 'Public', 'Sellers'], 'a manager reads them all');

select tests.act_as('anon');
select results_eq($$ select title from public.announcements order by title $$, array['Public'], 'anon reads the active public one');
select tests.act_as('an-user@example.com');
select results_eq($$ select title from public.announcements order by title $$, array['Members', 'Public'],
  'a signed-in user reads the active public and authenticated ones');
select is_empty($$ update public.announcements set title = 'Hijacked' returning id $$, 'and changes none');
select is_empty($$ delete from public.announcements returning id $$, 'nor deletes any');
select tests.act_as('an-seller@example.com');
select results_eq($$ select title from public.announcements order by title $$, array['Members', 'Public', 'Sellers'],
  'a seller reads the sellers'' one too');

select tests.act_as('an-admin@example.com');
select results_eq($$ update public.announcements set ends_at = now() - interval '1 minute', starts_at = now() - interval '1 hour'
                      where title = 'Public' returning title $$, array['Public'], 'a manager ends one early');
select tests.act_as('anon');
select is_empty($$ select 1 from public.announcements $$, 'anon no longer reads it');
select tests.act_as('postgres');
select is((select count(*)::integer from public.audit_log where table_name = 'announcements'
            and actor_id = tests.get_user_id('an-admin@example.com')), 6, 'every change is audited with its admin');

select * from finish();
rollback;
