-- E-mailing an announcement: managers only; once per user whose 'system' e-mail is on and per
-- confirmed newsletter subscriber (not pending ones, not muted users), however often it is
-- called; ended, role-only and unknown announcements are refused precisely.
begin;
select plan(11);

select tests.create_user('an-reader@example.com');
select tests.create_user('an-muted@example.com');
select tests.create_user('an-admin@example.com');
select tests.grant_role('an-admin@example.com', 'admin');
select tests.clear_authentication();

insert into public.notification_preferences (user_id, category, channel, enabled)
values (tests.get_user_id('an-muted@example.com'), 'system', 'email', false);
insert into public.newsletter_subscribers (email, status, confirmed_at) values ('an-sub@example.com', 'subscribed', now());
insert into public.newsletter_subscribers (email, status) values ('an-pending@example.com', 'pending');

create temp table ann as
with a as (
  insert into public.announcements (title, body, audience, ends_at) values ('Maintenance <Sunday>', 'We pause at 2am.', 'public', now() + interval '1 day') returning id
), r as (
  insert into public.announcements (title, audience, audience_role, ends_at) values ('Admins only', 'role', 'admin', now() + interval '1 day') returning id
), e as (
  insert into public.announcements (title, audience, starts_at, ends_at) values ('Old', 'public', now() - interval '2 days', now() - interval '1 day') returning id
)
select (select id from a) as public_id, (select id from r) as role_id, (select id from e) as ended_id;
grant select on ann to public;

select tests.act_as('an-reader@example.com');
select throws_ok($$ select public.email_announcement((select public_id from ann)) $$, '42501',
  'only notifications managers e-mail announcements', 'a user cannot e-mail an announcement');

select tests.act_as('an-admin@example.com');
select tests.throws_like($$ select public.email_announcement((select ended_id from ann)) $$, 'PT409',
  'announcement % ended at %: it is not e-mailed', 'an ended announcement is refused');
select tests.throws_like($$ select public.email_announcement((select role_id from ann)) $$, 'PT409',
  'announcement % is for role users only: only public announcements are e-mailed', 'a role announcement is refused');
select tests.throws_like(format($$ select public.email_announcement(%L) $$, gen_random_uuid()), 'PT404',
  'announcement % not found', 'an unknown announcement is not found');
select ok((public.email_announcement((select public_id from ann)) ->> 'subscribers')::integer >= 1, 'a manager e-mails it');
select is(public.email_announcement((select public_id from ann)), '{"users": 0, "subscribers": 0}', 'a second call queues nothing');
select tests.clear_authentication();

select is((select count(*)::integer from public.email_deliveries where recipient_id = tests.get_user_id('an-reader@example.com') and template_key = 'announcement'),
  1, 'a user with system e-mail on gets it once');
select is((select count(*)::integer from public.email_deliveries where recipient_id = tests.get_user_id('an-muted@example.com') and template_key = 'announcement'),
  0, 'a user who muted system e-mail does not');
select is((select count(*)::integer from public.email_deliveries where to_address = 'an-sub@example.com' and template_key = 'announcement'),
  1, 'a confirmed subscriber gets it once');
select is((select count(*)::integer from public.email_deliveries where to_address = 'an-pending@example.com' and template_key = 'announcement'),
  0, 'an unconfirmed address does not');
select is((select payload from public.email_deliveries where to_address = 'an-sub@example.com' and template_key = 'announcement'),
  '{"body": "We pause at 2am.", "title": "Maintenance <Sunday>"}', 'the mail carries the title and body, escaped by the sender');

select * from finish();
rollback;
