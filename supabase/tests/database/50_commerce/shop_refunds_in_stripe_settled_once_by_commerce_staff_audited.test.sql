-- Refunds made in Stripe's Dashboard (88_cancellations.sql) are settled by commerce staff:
-- public.resolve_shop_external_refund(stripe_refund_id, resolution) closes an open row with a
-- note, once (resolved_at set, never again: PT409 naming when), audited (audit_log, action
-- resolve, its actor). Refused: anon (no execute), a signed-in user, the checkout's buyer, its
-- seller, a moderator (another staff role without commerce.manage), all 42501; an unknown
-- refund PT404; an empty, blank or too long note and a malformed refund id 22023. Staff and
-- admins (both hold commerce.manage) resolve; the service role (the admin CLI) too. Nothing
-- else changes: no money moves when a row is settled. Two resolutions racing are the
-- integration test's (shop_refund_made_in_stripe_settled_once_raced.test.ts).
begin;
select plan(28);

select tests.create_user('xs-seller@example.com');
select tests.create_user('xs-buyer@example.com');
select tests.create_user('xs-stranger@example.com');
select tests.create_user('xs-moderator@example.com');
select tests.create_user('xs-staff@example.com');
select tests.create_user('xs-admin@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('xs-seller@example.com'), 'Settle shop', 'general');
select tests.grant_role('xs-seller@example.com', 'seller');
select tests.grant_role('xs-moderator@example.com', 'moderator');
select tests.grant_role('xs-staff@example.com', 'staff');
select tests.grant_role('xs-admin@example.com', 'admin');
insert into public.shipping_profiles (id, shop_id, name, currency) values
  ('00000000-0000-0000-0000-0000000008a1', tests.get_user_id('xs-seller@example.com'), 'Std', 'USD');
insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days) values
  ('00000000-0000-0000-0000-0000000008a1', '*', 500, 0, 2, 5);
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status, sku) values
  ('00000000-0000-0000-0000-00000008a001', tests.get_user_id('xs-seller@example.com'), 'Vase', 3000, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000008a1', 'active', 'XS-VASE');
select private.move_stock(id, 'adjustment', 10, 0, 'stock', 'test') from public.products where sku = 'XS-VASE';
insert into public.addresses (id, user_id, full_name, address_line1, city, country_code) values
  ('00000000-0000-0000-0000-0000000008ad', tests.get_user_id('xs-buyer@example.com'), 'Buyer', '1 Main St', 'New York', 'US');

select tests.act_as('xs-buyer@example.com');
select public.add_cart_item('00000000-0000-0000-0000-00000008a001', 1);
select (public.checkout_cart('00000000-0000-0000-0000-0000000008ad')).id as checkout \gset
select tests.act_as('service_role');
select ops.begin_shop_payment(:'checkout', tests.get_user_id('xs-buyer@example.com')) as started \gset
select ops.record_shop_payment_session(:'checkout', 1, 'cs_test_xs1', 'https://checkout.example/cs_test_xs1', now() + interval '30 minutes');
select tests.act_as('postgres');
select total as checkout_total from public.checkouts where id = :'checkout' \gset
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_xs_completed', 'object', 'event',
  'type', 'checkout.session.completed', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_test_xs1', 'object', 'checkout.session', 'payment_status', 'paid',
    'payment_intent', 'pi_xs1', 'amount_total', :'checkout_total'::bigint, 'currency', 'usd',
    'client_reference_id', :'checkout', 'metadata', jsonb_build_object('checkout_id', :'checkout')))))),
  'applied', 'the completion pays the checkout');
-- Three refunds made in the Dashboard: one for staff, one for an admin, one for the service role.
select is(array_agg(outcome order by n), array_fill('applied: refunded in Stripe, borne by the platform, open for staff'::text, array[3]),
  'three refunds made in Stripe are recorded, open')
  from (select n, (select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_xs_ext_' || n, 'object', 'event',
          'type', 'refund.created', 'created', extract(epoch from now())::bigint,
          'data', jsonb_build_object('object', jsonb_build_object('id', 're_xs_ext' || n, 'object', 'refund', 'status', 'succeeded',
            'amount', 100 * n, 'currency', 'usd', 'charge', 'ch_xs1', 'payment_intent', 'pi_xs1', 'metadata', '{}'::jsonb))))) as outcome
          from generate_series(1, 3) n) events;
select count(*)::int as postings_before from public.ledger_transactions \gset
select (amount_refunded, status)::text as payment_before from public.shop_payments where checkout_id = :'checkout' \gset

-- Who may not ------------------------------------------------------------------------------------
select tests.act_as('anon');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', 'settled') $$,
  '42501', 'permission denied for function resolve_shop_external_refund', 'anon cannot call it');
select tests.act_as('xs-stranger@example.com');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', 'settled') $$,
  '42501', 'resolving a refund made in Stripe needs the commerce.manage permission', 'a signed-in user (a stranger) cannot');
select throws_ok($$ select private.resolve_shop_external_refund('re_xs_ext1', 'settled') $$,
  '42501', 'resolving a refund made in Stripe needs the commerce.manage permission', 'nor through the private body');
select tests.act_as('xs-buyer@example.com');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', 'settled') $$,
  '42501', 'resolving a refund made in Stripe needs the commerce.manage permission', 'the checkout''s buyer cannot');
select tests.act_as('xs-seller@example.com');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', 'settled') $$,
  '42501', 'resolving a refund made in Stripe needs the commerce.manage permission', 'the seller cannot');
select tests.act_as('xs-moderator@example.com');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', 'settled') $$,
  '42501', 'resolving a refund made in Stripe needs the commerce.manage permission', 'a moderator (staff role without commerce.manage) cannot');
-- They refused before reading anything: an unknown refund gets the same answer, not a 404.
select tests.act_as('xs-seller@example.com');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_nowhere', 'settled') $$,
  '42501', 'resolving a refund made in Stripe needs the commerce.manage permission', 'a refusal says nothing of whether the refund exists');
select tests.act_as('postgres');
select is((select count(*)::int from public.shop_external_refunds where checkout_id = :'checkout' and resolved_at is null), 3,
  'all three are still open');

-- Bad input, unknown refund ----------------------------------------------------------------------
select tests.act_as('xs-staff@example.com');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', '') $$,
  '22023', 'a resolution of 1 to 1000 characters is required (got 0)', 'an empty note is refused');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', E'  \n ') $$,
  '22023', 'a resolution of 1 to 1000 characters is required (got 0)', 'a blank note is refused');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', null) $$,
  '22023', 'a resolution of 1 to 1000 characters is required (got 0)', 'no note is refused');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', repeat('x', 1001)) $$,
  '22023', 'a resolution of 1 to 1000 characters is required (got 1001)', 'a note over 1000 characters is refused');
select throws_ok($$ select public.resolve_shop_external_refund('ch_xs1', 'settled') $$,
  '22023', 'stripe_refund_id must be a Stripe refund id (re_…)', 'a malformed refund id is refused');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_nowhere', 'settled') $$,
  'PT404', 'refund re_xs_nowhere made in Stripe not found', 'an unknown refund is not found');

-- Staff settle one; again is refused, naming when -------------------------------------------------
select is((select (stripe_refund_id, resolved_at = now(), resolution)::text
             from public.resolve_shop_external_refund('re_xs_ext1', '  Reversed the seller''s transfer tr_1 in Stripe; order kept.  ')),
  '(re_xs_ext1,t,"Reversed the seller''s transfer tr_1 in Stripe; order kept.")',
  'commerce staff resolve it: resolved now, the note kept (trimmed)');
select throws_ok($$ select public.resolve_shop_external_refund('re_xs_ext1', 'again') $$,
  'PT409', format('refund re_xs_ext1 made in Stripe was already resolved at %s',
                  to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
  'a second resolution is refused, saying when it was resolved');
select is((select resolution from public.shop_external_refunds where stripe_refund_id = 're_xs_ext1'),
  'Reversed the seller''s transfer tr_1 in Stripe; order kept.', 'the first note stays');

-- An admin holds commerce.manage too; the service role (the admin CLI) may as well.
select tests.act_as('xs-admin@example.com');
select is((select (resolved_at is not null, char_length(resolution))::text
             from public.resolve_shop_external_refund('re_xs_ext2', repeat('y', 1000))),
  '(t,1000)', 'an admin resolves another, with a note of exactly 1000 characters');
select tests.act_as('service_role');
select is((select resolution from public.resolve_shop_external_refund('re_xs_ext3', 'borne by the platform')),
  'borne by the platform', 'the service role resolves the third');

-- Audited; nothing else moved; the constraint holds the pair --------------------------------------
select tests.act_as('postgres');
select results_eq($$ select row_id, action, actor_id, after ->> 'resolution' is not null, (before ->> 'amount')::bigint
                       from public.audit_log where table_name = 'shop_external_refunds' order by row_id $$,
  format($$ values ('re_xs_ext1'::text, 'resolve'::text, %L::uuid, true, 100::bigint), ('re_xs_ext2', 'resolve', %L::uuid, true, 200),
                   ('re_xs_ext3', 'resolve', null::uuid, true, 300) $$,
         tests.get_user_id('xs-staff@example.com'), tests.get_user_id('xs-admin@example.com')),
  'each resolution is audited once, with its actor (the service role''s has none: its label names it)');
select is((select actor_label from public.audit_log where table_name = 'shop_external_refunds' and row_id = 're_xs_ext3'),
  'service_role', 'the service role''s entry is labelled');
select is((select count(*)::int from public.ledger_transactions), :postings_before, 'settling posts nothing');
select is((select (amount_refunded, status)::text from public.shop_payments where checkout_id = :'checkout'), :'payment_before',
  'the payment is unchanged');
select throws_ok($$ update public.shop_external_refunds set resolution = null where stripe_refund_id = 're_xs_ext1' $$,
  '23514', null, 'a resolved refund keeps its note (resolved_at and resolution go together)');
select tests.act_as('xs-staff@example.com');
select is((select count(*)::int from public.shop_external_refunds where checkout_id = :'checkout' and resolved_at is not null), 3,
  'staff read all three resolved');
select throws_ok($$ update public.shop_external_refunds set resolved_at = null where stripe_refund_id = 're_xs_ext1' $$,
  '42501', 'permission denied for table shop_external_refunds', 'staff cannot reopen a row by writing the table');

select * from finish();
rollback;
