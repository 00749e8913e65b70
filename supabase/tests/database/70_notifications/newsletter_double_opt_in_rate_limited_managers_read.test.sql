-- The newsletter: anon subscribes (a malformed address refused), a confirmation mail is queued
-- once per request, at most 3 requests an hour per address (PT429, HTTP 429); the link confirms
-- once (a second use PT409, an expired one PT410, an unknown one PT404, nothing changed); the mails'
-- unsubscribe token takes the address off; a new request resubscribes; only notifications
-- managers read the addresses.
begin;
select plan(17);

select tests.create_user('nl-admin@example.com');
select tests.create_user('nl-user@example.com');
select tests.grant_role('nl-admin@example.com', 'admin');
select tests.clear_authentication();

select tests.act_as('anon');
select throws_ok($$ select public.subscribe_newsletter('not an address') $$, '22023', 'not an e-mail address',
  'a malformed address is refused');
select is(public.subscribe_newsletter(' Reader@Example.com ') ->> 'email', 'reader@example.com', 'anon subscribes; the address is normalised');
select throws_ok($$ select * from public.newsletter_subscribers $$, '42501', 'permission denied for table newsletter_subscribers',
  'anon reads no subscriber');
select tests.clear_authentication();

select is((select status from public.newsletter_subscribers where email = 'reader@example.com'), 'pending', 'the address waits for confirmation');
select is((select count(*)::integer from public.email_deliveries where to_address = 'reader@example.com' and template_key = 'newsletter.confirm'),
  1, 'a confirmation mail is queued');

select tests.act_as('nl-user@example.com');
select is((select count(*)::integer from public.newsletter_subscribers), 0, 'a signed-in user reads no subscriber');
select tests.act_as('nl-admin@example.com');
select is((select count(*)::integer from public.newsletter_subscribers where email = 'reader@example.com'), 1, 'a notifications manager reads them');
select tests.clear_authentication();

select public.subscribe_newsletter('reader@example.com');
select public.subscribe_newsletter('reader@example.com');
select tests.throws_like($$ select public.subscribe_newsletter('reader@example.com') $$, 'PT429',
  'too many newsletter requests for this address: try again after %', 'the fourth request in an hour is refused');
select is((select count(*)::integer from public.email_deliveries where to_address = 'reader@example.com'), 3, 'and queues no mail');

create temp table tok as select confirm_token from public.newsletter_subscribers where email = 'reader@example.com';
grant select on tok to public;
select throws_ok(format($$ select public.confirm_newsletter(%L) $$, gen_random_uuid()), 'PT404', 'confirmation link not found',
  'an unknown link is refused');
update public.newsletter_subscribers set confirm_expires_at = now() - interval '1 second' where email = 'reader@example.com';
select tests.throws_like(format($$ select public.confirm_newsletter(%L) $$, (select confirm_token from tok)), 'PT410',
  'this confirmation link expired at %: subscribe again', 'an expired link is refused');
select is((select status from public.newsletter_subscribers where email = 'reader@example.com'), 'pending', 'nothing changed');
update public.newsletter_subscribers set confirm_expires_at = now() + interval '1 hour' where email = 'reader@example.com';

select tests.act_as('anon');
select is(public.confirm_newsletter((select confirm_token from tok)), '{"status": "subscribed"}', 'the link confirms, without signing in');
select throws_ok(format($$ select public.confirm_newsletter(%L) $$, (select confirm_token from tok)), 'PT409',
  'this confirmation link was already used', 'a used link is refused');
select tests.clear_authentication();

select is(ops.unsubscribe_email((select unsubscribe_token from public.email_deliveries where to_address = 'reader@example.com' limit 1)),
  '{"email": false, "category": "newsletter"}', 'a newsletter mail''s token unsubscribes');
select is((select status from public.newsletter_subscribers where email = 'reader@example.com'), 'unsubscribed', 'the address is off the newsletter');

update public.newsletter_subscribers set window_started_at = now() - interval '2 hours' where email = 'reader@example.com';
select public.subscribe_newsletter('reader@example.com');
select is((select status from public.newsletter_subscribers where email = 'reader@example.com'), 'pending', 'a new request resubscribes, pending confirmation');

select * from finish();
rollback;
