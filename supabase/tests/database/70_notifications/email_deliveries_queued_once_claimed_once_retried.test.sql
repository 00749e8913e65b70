-- The e-mail channel's SQL side: templates refuse placeholders they do not declare and
-- variables their event's payload lacks; enqueue_email is idempotent per (event, recipient,
-- template); a claim takes a delivery once until its visibility timeout; a failure is kept
-- with its error and retried after a backoff; a stale claim cannot record; recipients read
-- their own deliveries, managers all, strangers and anon none, and nobody but the service
-- role writes.
begin;
select plan(24);

select tests.create_user('em-owner@example.com');
select tests.create_user('em-stranger@example.com');
select tests.create_user('em-admin@example.com');
select tests.grant_role('em-admin@example.com', 'admin');
select tests.clear_authentication();

create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('em-' || who || '@example.com') $$;

-- ---------------------------------------------------------------------------------------
-- Templates

select throws_ok($$ insert into private.email_templates (key, subject, html, text_body, variables)
                    values ('test.undeclared', 'Hi {{who}}', '<p>{{who}}</p>', '{{who}}', '{}') $$,
  '22023', 'e-mail template test.undeclared/en uses undeclared variables: who',
  'a template using a placeholder it does not declare is refused');
select throws_ok($$ insert into private.email_templates (key, subject, html, text_body, variables)
                    values ('test.raw', 'Hi', '<p>{{{who}}}</p>', 'x', '{who}') $$,
  '22023', 'e-mail template test.raw/en uses unescaped output ({{{ }} or {{& }}): every variable is HTML-escaped',
  'a template with unescaped output is refused');
select throws_ok($$ insert into private.email_templates (key, locale, subject, html, text_body, variables)
                    values ('test.nofallback', 'fr', 'Salut', '<p>Salut</p>', 'Salut', '{}') $$,
  '22023', 'e-mail template test.nofallback/fr has no ''en'' version to fall back on',
  'a translation without an en template is refused');
select throws_ok(format($$ update private.email_templates set variables = variables || '{no_such_key}',
                                 text_body = text_body || ' {{no_such_key}}'
                           where key = %L and locale = 'en' $$, r.template_key),
  '22023', format('e-mail template %s/en: variables no_such_key are not in the payload of %s (%s)',
                  r.template_key, r.event_type, array_to_string(r.variables, ', ')),
  'a catalogued event''s template may not use a key its payload lacks')
  from private.notification_rules r where r.event_type = 'bid.accepted';
select ok(not exists (select from private.email_templates t where t.variables @> '{no_such_key}'), 'nothing changed');

insert into private.email_templates (key, subject, html, text_body, variables) values
  ('test.hello', 'Hello {{recipient_name}}', '<p>Hello {{name}}</p><a href="{{unsubscribe_url}}">unsubscribe</a>', 'Hello {{name}}',
   '{recipient_name,name,unsubscribe_url}');
insert into private.email_templates (key, locale, subject, html, text_body, variables) values
  ('test.hello', 'fr', 'Bonjour {{recipient_name}}', '<p>Bonjour {{name}}</p>', 'Bonjour {{name}}', '{recipient_name,name}');
update public.private_profiles set locale = 'fr', first_name = 'Owen' where id = pg_temp.uid('owner');

-- ---------------------------------------------------------------------------------------
-- enqueue_email

insert into private.domain_events (event_type, subject_type, subject_id, recipients, payload)
values ('message.created', 'message', gen_random_uuid(), array[pg_temp.uid('owner')], '{"name": "<b>x</b>"}');
create temp table ev as select max(id) as id from private.domain_events;

select throws_ok($$ select private.enqueue_email(pg_temp.uid('owner'), 'messages', 'test.missing', '{}', (select id from ev)) $$,
  '22023', 'no e-mail template test.missing', 'an unknown template is refused');
select throws_ok($$ select private.enqueue_email_to_address('not-an-address', 'test.hello', '{}', 'k1') $$,
  '22023', 'not an e-mail address', 'a malformed address is refused');

create temp table d1 as select private.enqueue_email(pg_temp.uid('owner'), 'messages', 'test.hello', '{"name": "<b>x</b>"}', (select id from ev)) as id;
grant select on d1 to public;
select is(private.enqueue_email(pg_temp.uid('owner'), 'messages', 'test.hello', '{"name": "other"}', (select id from ev)),
  (select id from d1), 'enqueueing the same event, recipient and template again returns the first delivery');
select is((select count(*)::integer from public.email_deliveries where event_id = (select id from ev)), 1, 'one delivery for it');
select is((select status from public.email_deliveries where id = (select id from d1)), 'queued', 'it is queued');

-- ---------------------------------------------------------------------------------------
-- Who reads the log, who writes it

select tests.act_as('em-owner@example.com');
select is((select count(*)::integer from public.email_deliveries), 1, 'the recipient reads their delivery');
select tests.act_as('em-stranger@example.com');
select is((select count(*)::integer from public.email_deliveries), 0, 'a stranger reads none');
select throws_ok($$ update public.email_deliveries set status = 'sent' $$, '42501', 'permission denied for table email_deliveries',
  'a signed-in user cannot change the log');
select tests.act_as('em-admin@example.com');
select ok((select count(*)::integer from public.email_deliveries where id = (select id from d1)) = 1, 'a notifications manager reads it');
select tests.act_as('anon');
select throws_ok($$ select * from public.email_deliveries $$, '42501', 'permission denied for table email_deliveries',
  'anon reads nothing');
select throws_ok($$ select * from ops.claim_email_deliveries() $$, '42501', 'permission denied for schema ops',
  'only the service role claims');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------
-- Claim, fail, retry, record

update public.email_deliveries set next_attempt_at = now() - interval '1 second' where id <> (select id from d1) and status in ('queued', 'failed');
create temp table c1 as select * from ops.claim_email_deliveries(500, 60) where id = (select id from d1);
select is((select subject || '|' || locale || '|' || to_address || '|' || (variables ->> 'recipient_name') from c1),
  'Bonjour {{recipient_name}}|fr|em-owner@example.com|Owen', 'the claim gives the address and the template in the recipient''s locale');
select is((select count(*)::integer from ops.claim_email_deliveries(500, 60) where id = (select id from d1)), 0,
  'a claimed delivery is not claimed again within its visibility timeout');

select is(ops.record_email_delivery((select id from c1), (select claim_id from c1), false, null, 'connect ECONNREFUSED 127.0.0.1:1'),
  'failed', 'a failure is recorded');
select is((select status || '|' || attempts || '|' || last_error || '|' || (next_attempt_at > now() + interval '50 seconds')
             from public.email_deliveries where id = (select id from d1)),
  'failed|1|connect ECONNREFUSED 127.0.0.1:1|true', 'with its error, the attempt, and a retry a minute later');
select tests.throws_like(format($$ select ops.record_email_delivery(%L, %L, true, 'x', null) $$, (select id from c1), (select claim_id from c1)),
  'PT409', 'e-mail delivery % is failed under another claim: its result is not recorded', 'a settled claim cannot record again');

update public.email_deliveries set next_attempt_at = now() where id = (select id from d1);
create temp table c2 as select * from ops.claim_email_deliveries(500, 60) where id = (select id from d1);
select is((select attempt from c2), 2, 'the failed delivery is claimed again when due, as attempt 2');
select is(ops.record_email_delivery((select id from c2), (select claim_id from c2), true, '<msg@x>', null), 'sent', 'and sent');
select is((select status || '|' || provider_message_id || '|' || (next_attempt_at is null) from public.email_deliveries where id = (select id from d1)),
  'sent|<msg@x>|true', 'a sent delivery keeps the provider''s id and is never due again');

select * from finish();
rollback;
