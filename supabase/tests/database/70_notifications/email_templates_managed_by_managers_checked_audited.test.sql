-- E-mail template management (003 "GET /admin/notifications/templates" and the writes): holders
-- of notifications.manage (an admin, or a role granted it) list, read, create, update and delete
-- templates; anon, users without it and strangers are refused (42501), changing nothing. Every
-- write passes the template check (escaped output, declared variables, variables the event
-- carries, an 'en' fallback) with a precise message, and is audited. An 'en' template that other
-- locales, the catalogue, the database itself or waiting mails rely on is not deleted (PT409).
-- Every key has an 'en' and a 'ko' version.
begin;
select plan(40);

select tests.create_user('et-admin@example.com');
select tests.grant_role('et-admin@example.com', 'admin');
select tests.create_user('et-manager@example.com');
insert into public.roles (name, description) values ('comms', 'Communications');
insert into public.role_permissions (role_id, permission)
select id, 'notifications.manage' from public.roles where name = 'comms';
select tests.grant_role('et-manager@example.com', 'comms');
select tests.create_user('et-user@example.com');
select tests.grant_role('et-user@example.com', 'seller');
select tests.create_user('et-stranger@example.com');

-- every key in en and ko -----------------------------------------------------------------------
select is_empty($$ select key from private.email_templates where locale = 'en'
                   except select key from private.email_templates where locale = 'ko' $$,
  'every template key has a Korean version');
select is_empty($$ select key from private.email_templates where locale = 'ko'
                   except select key from private.email_templates where locale = 'en' $$,
  'and every Korean one its en fallback');
select is_empty($$ select template_key from private.notification_rules
                   except select key from private.email_templates where locale = 'ko' $$,
  'every catalogued event''s template is in Korean');
select is_empty($$ select k.key from private.email_templates k join private.email_templates e on e.key = k.key and e.locale = 'en'
                    where k.locale = 'ko' and not k.variables <@ e.variables $$,
  'a Korean template uses only variables its en version declares');

-- refusals -------------------------------------------------------------------------------------
select tests.act_as('anon');
select throws_ok($$ select * from public.list_email_templates() $$, '42501',
  'permission denied for function list_email_templates', 'anon cannot list templates');
select throws_ok($$ select public.create_email_template('x.y', 'en', 's', 'h', 't', '{}') $$, '42501',
  'permission denied for function create_email_template', 'nor create one');
select tests.act_as('et-user@example.com');
select throws_ok($$ select * from public.list_email_templates() $$, '42501',
  'managing e-mail templates needs the notifications.manage permission', 'a seller without notifications.manage cannot list');
select throws_ok($$ select public.get_email_template('bid.accepted') $$, '42501',
  'managing e-mail templates needs the notifications.manage permission', 'nor read one');
select throws_ok($$ select public.update_email_template('bid.accepted', 'en', subject => 'Hacked') $$, '42501',
  'managing e-mail templates needs the notifications.manage permission', 'nor update one');
select tests.act_as('et-stranger@example.com');
select throws_ok($$ select public.create_email_template('promo.spring', 'en', 'Spring', '<p>Hi</p>', 'Hi', '{}') $$, '42501',
  'managing e-mail templates needs the notifications.manage permission', 'a stranger cannot create one');
select throws_ok($$ select public.delete_email_template('bid.accepted', 'ko') $$, '42501',
  'managing e-mail templates needs the notifications.manage permission', 'nor delete one');
select tests.act_as('postgres');
select is((select subject from private.email_templates where key = 'bid.accepted' and locale = 'en'), 'Your bid was accepted',
  'nothing changed');

-- reading --------------------------------------------------------------------------------------
select tests.act_as('et-manager@example.com');
select cmp_ok((select count(*)::integer from public.list_email_templates()), '>=', 64, 'a manager lists every template');
select results_eq($$ select locale from public.list_email_templates('bid.accepted') $$,
  $$ values ('en'), ('ko') $$, 'of one key, every locale');
select results_eq($$ select (t).subject, (t).event_types from (select public.get_email_template('bid.accepted', 'ko') t) x $$,
  $$ values ('입찰이 수락되었습니다', array['bid.accepted']) $$, 'one template with the events that use it');
select throws_ok($$ select public.get_email_template('bid.accepted', 'fr') $$, 'PT404',
  'e-mail template bid.accepted/fr not found', 'an unknown locale of a key is not found');
select throws_ok($$ select public.get_email_template('Bid Accepted', 'en') $$, '22023',
  'a template key is lowercase words and underscores with at most one dot, like bid.accepted', 'a malformed key is refused');
select throws_ok($$ select public.get_email_template('bid.accepted', 'Korean') $$, '22023',
  'a locale is a language code with an optional region (en, ko, pt-BR)', 'a malformed locale is refused');

-- bad templates --------------------------------------------------------------------------------
select throws_ok($$ select public.create_email_template('promo.spring', 'en', 'Spring', '<p>{{{body}}}</p>', 'x', '{body}') $$, '22023',
  'e-mail template promo.spring/en uses unescaped output ({{{ }} or {{& }}): every variable is HTML-escaped',
  'unescaped output is refused');
select throws_ok($$ select public.create_email_template('promo.spring', 'en', 'Spring {{season}}', '<p>Hi</p>', 'Hi', '{}') $$, '22023',
  'e-mail template promo.spring/en uses undeclared variables: season', 'an undeclared variable is refused');
select throws_ok($$ select public.create_email_template('promo.spring', 'fr', 'Printemps', '<p>Salut</p>', 'Salut', '{}') $$, '22023',
  'e-mail template promo.spring/fr has no ''en'' version to fall back on', 'a locale before its en version is refused');
select throws_ok($$ select public.update_email_template('bid.accepted', 'fr', subject => 'Offre acceptée') $$, 'PT404',
  'e-mail template bid.accepted/fr not found', 'updating a template that does not exist is refused');
select throws_ok($$ select public.update_email_template('bid.accepted', 'en', variables => '{recipient_name,order_id,unsubscribe_url,amount}') $$, '22023',
  'e-mail template bid.accepted/en: variables amount are not in the payload of bid.accepted (project_id, order_id)',
  'a variable the event''s payload lacks is refused');
select throws_ok($$ select public.update_email_template('bid.accepted', 'en', subject => '') $$, '22023',
  'a template''s subject is one line of 1 to 500 characters', 'an empty subject is refused');
select throws_ok($$ select public.create_email_template('bid.accepted', 'ko', 'x', 'x', 'x', '{}') $$, '23505',
  'e-mail template bid.accepted/ko already exists: update it instead', 'creating one that exists is refused');
select throws_ok($$ select public.create_email_template('promo.spring', 'en', 'Spring', '<p>Hi</p>', 'Hi', null) $$, '22023',
  'declare the template''s variables (an empty list when it uses none)', 'variables must be declared');

-- writing --------------------------------------------------------------------------------------
select is((public.create_email_template('promo.spring', 'en', 'Spring {{season}}', '<p>{{season}} sale</p>', '{{season}} sale',
                                        '{season}')).variables, array['season'], 'a manager creates a template');
select is((public.create_email_template('promo.spring', 'ko', '{{season}} 세일', '<p>{{season}} 세일</p>', '{{season}} 세일',
                                        '{season}')).locale, 'ko', 'and its Korean version');
select is((public.update_email_template('bid.accepted', 'ko', subject => '입찰 수락 안내')).subject, '입찰 수락 안내',
  'updates a part, keeping the others');
select is((public.get_email_template('bid.accepted', 'ko')).html like '%{{order_id}}%', true, 'the html stayed');

-- deleting -------------------------------------------------------------------------------------
select throws_ok($$ select public.delete_email_template('promo.spring', 'en') $$, 'PT409',
  'e-mail template promo.spring/en is the fallback of its other locales (ko): delete those first',
  'an en template with other locales is not deleted');
select is((public.delete_email_template('promo.spring', 'ko')).locale, 'ko', 'a locale other than en is deleted');
select tests.act_as('postgres');
insert into public.email_deliveries (to_address, template_key, idempotency_key)
values ('someone@example.com', 'promo.spring', 'test:promo');
select tests.act_as('et-admin@example.com');
select throws_ok($$ select public.delete_email_template('promo.spring', 'en') $$, 'PT409',
  'e-mail template promo.spring/en has 1 mails waiting to be sent: it cannot be deleted yet',
  'an en template with mails waiting is not deleted');
select tests.act_as('postgres');
update public.email_deliveries set status = 'sent', next_attempt_at = null where idempotency_key = 'test:promo';
select tests.act_as('et-admin@example.com');
select is((public.delete_email_template('promo.spring', 'en')).key, 'promo.spring', 'then an admin deletes it');
select tests.act_as('postgres');
delete from private.email_templates where key = 'review.created' and locale = 'ko';
select tests.act_as('et-admin@example.com');
select throws_ok($$ select public.delete_email_template('review.created', 'en') $$, 'PT409',
  'e-mail template review.created/en is the mail of review.created in the event catalogue: it cannot be deleted',
  'an en template the catalogue names is not deleted');
select is((public.delete_email_template('announcement', 'ko')).locale, 'ko', 'the Korean announcement may go');
select throws_ok($$ select public.delete_email_template('announcement', 'en') $$, 'PT409',
  'e-mail template announcement/en is queued by the database itself: it cannot be deleted',
  'but not the en version the database queues');
select throws_ok($$ select public.delete_email_template('announcement', 'ko') $$, 'PT404',
  'e-mail template announcement/ko not found', 'a deleted template is not found');

-- audited --------------------------------------------------------------------------------------
select tests.act_as('postgres');
select results_eq(
  $$ select a.action, a.actor_id = tests.get_user_id('et-manager@example.com'), coalesce(a.after, a.before) ->> 'locale'
       from public.audit_log a where a.table_name = 'email_templates' and a.row_id = 'promo.spring' order by a.id $$,
  $$ values ('insert', true, 'en'), ('insert', true, 'ko'), ('delete', true, 'ko'), ('delete', false, 'en') $$,
  'creating and deleting are audited with who did it and the locale');
select results_eq(
  $$ select a.before ->> 'subject', a.after ->> 'subject' from public.audit_log a
      where a.table_name = 'email_templates' and a.row_id = 'bid.accepted' and a.action = 'update'
        and a.actor_id = tests.get_user_id('et-manager@example.com') $$,
  $$ values ('입찰이 수락되었습니다', '입찰 수락 안내') $$,
  'an update is audited with the before and after');

select * from finish();
rollback;
