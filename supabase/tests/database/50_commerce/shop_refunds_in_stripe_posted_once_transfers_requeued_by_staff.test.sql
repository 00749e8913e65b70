-- Issue 17's money corners (88_cancellations.sql, 80_payments.sql): a checkout's charge refunded
-- in Stripe (the Dashboard) is posted once per refund id when its refund.created /
-- refund.updated succeeded webhook arrives, against the platform (platform_commission -> the
-- checkout's refunds; no transfer reversed, escrow untouched), listed for commerce staff only;
-- our own refunds (shop_refund_id in their metadata, or recorded under their id) are never
-- posted again; reconciliation then finds nothing. Commerce staff requeue a given-up transfer
-- (next attempt now, attempts kept, audited), a transfer not given up is refused PT409, the
-- seller and a stranger 42501, anon cannot call it. A payment session is not recorded for a
-- checkout no longer awaiting payment (PT409).
begin;
select plan(27);

select tests.create_user('xr-seller-a@example.com');
select tests.create_user('xr-seller-b@example.com');
select tests.create_user('xr-buyer@example.com');
select tests.create_user('xr-stranger@example.com');
select tests.create_user('xr-staff@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('xr-seller-a@example.com'), 'Refund A', 'general'),
       (tests.get_user_id('xr-seller-b@example.com'), 'Refund B', 'general');
select tests.grant_role('xr-seller-a@example.com', 'seller');
select tests.grant_role('xr-seller-b@example.com', 'seller');
select tests.grant_role('xr-staff@example.com', 'staff');
insert into public.shipping_profiles (id, shop_id, name, currency) values
  ('00000000-0000-0000-0000-0000000007a1', tests.get_user_id('xr-seller-a@example.com'), 'Std', 'USD'),
  ('00000000-0000-0000-0000-0000000007b1', tests.get_user_id('xr-seller-b@example.com'), 'Std', 'USD');
insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days) values
  ('00000000-0000-0000-0000-0000000007a1', '*', 500, 0, 2, 5),
  ('00000000-0000-0000-0000-0000000007b1', '*', 700, 0, 3, 9);
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status, sku) values
  ('00000000-0000-0000-0000-00000007a001', tests.get_user_id('xr-seller-a@example.com'), 'Lamp', 2500, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000007a1', 'active', 'XR-LAMP'),
  ('00000000-0000-0000-0000-00000007b001', tests.get_user_id('xr-seller-b@example.com'), 'Mug', 2000, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000007b1', 'active', 'XR-MUG');
select private.move_stock(id, 'adjustment', 10, 0, 'stock', 'test') from public.products where sku in ('XR-LAMP', 'XR-MUG');
insert into public.addresses (id, user_id, full_name, address_line1, city, country_code) values
  ('00000000-0000-0000-0000-0000000007ad', tests.get_user_id('xr-buyer@example.com'), 'Buyer', '1 Main St', 'New York', 'US');
-- Seller A can receive transfers; seller B cannot.
insert into public.seller_payment_accounts (user_id, stripe_account_id, payouts_enabled, transfers_active)
values (tests.get_user_id('xr-seller-a@example.com'), 'acct_xrA', true, true);

select tests.act_as('xr-buyer@example.com');
select public.add_cart_item('00000000-0000-0000-0000-00000007a001', 2);
select public.add_cart_item('00000000-0000-0000-0000-00000007b001', 1);
select (public.checkout_cart('00000000-0000-0000-0000-0000000007ad')).id as checkout \gset
select tests.act_as('service_role');
select ops.begin_shop_payment(:'checkout', tests.get_user_id('xr-buyer@example.com')) as started \gset
select ops.record_shop_payment_session(:'checkout', 1, 'cs_test_xr1', 'https://checkout.example/cs_test_xr1', now() + interval '30 minutes');
select tests.act_as('postgres');
select id as order_a from public.shop_orders
 where checkout_id = :'checkout' and shop_id = tests.get_user_id('xr-seller-a@example.com') \gset
select id as order_b from public.shop_orders
 where checkout_id = :'checkout' and shop_id = tests.get_user_id('xr-seller-b@example.com') \gset
select total as checkout_total from public.checkouts where id = :'checkout' \gset
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_xr_completed', 'object', 'event',
  'type', 'checkout.session.completed', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_test_xr1', 'object', 'checkout.session', 'payment_status', 'paid',
    'payment_intent', 'pi_xr1', 'amount_total', :'checkout_total'::bigint, 'currency', 'usd',
    'client_reference_id', :'checkout', 'metadata', jsonb_build_object('checkout_id', :'checkout')))))),
  'applied', 'the completion pays the checkout');

-- 3. A session for a checkout no longer awaiting payment -------------------------------------------
select throws_ok(format($$ select ops.record_shop_payment_session(%L, 2, 'cs_test_xr_late') $$, :'checkout'),
  'PT409', format('checkout %s is paid: payment session cs_test_xr_late is not recorded, expire it', :'checkout'),
  'a session made for a paid checkout is refused, naming it');
select is((select stripe_checkout_session_id from public.shop_payments where checkout_id = :'checkout'), 'cs_test_xr1',
  'the paid checkout keeps its session');
select throws_ok($$ select ops.record_shop_payment_session('00000000-0000-0000-0000-00000000dead', 1, 'cs_test_none') $$,
  'PT404', 'checkout 00000000-0000-0000-0000-00000000dead not found', 'an unknown checkout is not found');

-- 1. Refunds: ours first ----------------------------------------------------------------------------
select total as order_a_total from public.shop_orders where id = :'order_a' \gset
select ops.claim_shop_refund(:'order_a', tests.get_user_id('xr-staff@example.com'), null, 'damaged') ->> 'refund_id' as ours \gset
-- Its webhook before the function recorded it: named by its metadata, not posted.
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_xr_ours_created', 'object', 'event',
  'type', 'refund.created', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 're_xr_ours', 'object', 'refund', 'status', 'succeeded',
    'amount', :'order_a_total'::bigint, 'currency', 'usd', 'charge', 'ch_xr1', 'payment_intent', 'pi_xr1',
    'metadata', jsonb_build_object('shop_order_id', :'order_a', 'shop_refund_id', :'ours')))))),
  'ignored: a refund we made (commerce-refund records it)', 'our refund''s webhook ahead of the function posts nothing');
select ops.record_shop_refund(:'ours', 're_xr_ours');
-- Again after, without metadata (as charge.refunded-era events may): its id is ours.
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_xr_ours_updated', 'object', 'event',
  'type', 'refund.updated', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 're_xr_ours', 'object', 'refund', 'status', 'succeeded',
    'amount', :'order_a_total'::bigint, 'currency', 'usd', 'charge', 'ch_xr1', 'payment_intent', 'pi_xr1', 'metadata', '{}'::jsonb))))),
  'ignored: a refund we made (commerce-refund records it)', 'our recorded refund is not posted again');
select is((select count(*)::int from public.ledger_transactions
            where idempotency_key in ('shop_refund:' || :'ours', 'shop_external_refund:re_xr_ours')), 1,
  'our refund is posted once, under its own key');

-- A Dashboard refund: pending first, then succeeded, then delivered again.
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_xr_ext_created', 'object', 'event',
  'type', 'refund.created', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 're_xr_ext', 'object', 'refund', 'status', 'pending',
    'amount', 700, 'currency', 'usd', 'charge', 'ch_xr1', 'payment_intent', 'pi_xr1', 'metadata', '{}'::jsonb))))),
  'ignored: refund pending', 'a pending refund made in Stripe waits');
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_xr_ext_updated', 'object', 'event',
  'type', 'refund.updated', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 're_xr_ext', 'object', 'refund', 'status', 'succeeded',
    'amount', 700, 'currency', 'usd', 'charge', 'ch_xr1', 'payment_intent', 'pi_xr1', 'reason', 'requested_by_customer',
    'metadata', '{}'::jsonb))))),
  'applied: refunded in Stripe, borne by the platform, open for staff', 'once succeeded it is recorded');
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_xr_ext_updated_again', 'object', 'event',
  'type', 'refund.updated', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 're_xr_ext', 'object', 'refund', 'status', 'succeeded',
    'amount', 700, 'currency', 'usd', 'charge', 'ch_xr1', 'payment_intent', 'pi_xr1', 'metadata', '{}'::jsonb))))),
  'ignored: already recorded', 'another event of the same refund changes nothing');
select results_eq($$ select a.kind, e.amount from public.ledger_transactions t join public.ledger_entries e on e.transaction_id = t.id
                      join public.ledger_accounts a on a.id = e.account_id where t.idempotency_key = 'shop_external_refund:re_xr_ext'
                     order by a.kind $$,
  $$ values ('platform_commission'::text, -700::bigint), ('refunds', 700) $$,
  'shop_external_refund:<re>: the platform bears it, into the checkout''s refunds account');
select is((select (amount_refunded, status)::text from public.shop_payments where checkout_id = :'checkout'),
  format('(%s,partially_refunded)', :'order_a_total'::bigint + 700),
  'the payment counts both refunds');
select is((select count(*)::int from public.ledger_transactions where idempotency_key like 'shop_external_refund:re_xr_%'), 1,
  'posted once');
select is((select count(*)::int from public.shop_transfers where shop_order_id = :'order_b' and cancelled_at is not null), 0,
  'the other order''s transfer is not cancelled by it (nothing reversed, escrow untouched)');
select is((select cardinality(problems) from ops.shop_reconciliation() where checkout_id = :'checkout'), 0,
  'reconciliation finds nothing');
select is((select r from ops.shop_reconciliation() c, jsonb_array_elements(c.refunds) r
            where c.checkout_id = :'checkout' and r ->> 'stripe_refund_id' = 're_xr_ext'),
  '{"amount": 700, "status": "succeeded", "external": true, "refund_id": "re_xr_ext", "shop_order_id": null, "stripe_refund_id": "re_xr_ext"}'::jsonb,
  'it is among the checkout''s refunds for Stripe''s half to match');
-- Who sees the list.
select tests.act_as('xr-staff@example.com');
select is((select count(*)::int from public.shop_external_refunds where checkout_id = :'checkout'), 1, 'commerce staff read it');
select tests.act_as('xr-buyer@example.com');
select is((select count(*)::int from public.shop_external_refunds), 0, 'the buyer does not');
select tests.act_as('xr-seller-a@example.com');
select is((select count(*)::int from public.shop_external_refunds), 0, 'the seller does not');

-- 2. Requeueing a given-up transfer -------------------------------------------------------------------
select tests.act_as('postgres');
select private.fail_shop_transfer(:'order_b', 'the seller cannot receive transfers yet') from generate_series(1, 10);
select ok((select gave_up_at is not null and attempts = 10 from public.shop_transfers where shop_order_id = :'order_b'),
  'seller B''s transfer gave up at the 10th failure');
select tests.act_as('xr-seller-b@example.com');
select throws_ok(format($$ select public.requeue_shop_transfer(%L) $$, :'order_b'),
  '42501', 'requeueing a shop transfer needs the commerce.manage permission', 'the seller cannot requeue it');
select tests.act_as('xr-stranger@example.com');
select throws_ok(format($$ select public.requeue_shop_transfer(%L) $$, :'order_b'),
  '42501', 'requeueing a shop transfer needs the commerce.manage permission', 'a stranger cannot');
select tests.act_as('anon');
select throws_ok(format($$ select public.requeue_shop_transfer(%L) $$, :'order_b'),
  '42501', 'permission denied for function requeue_shop_transfer', 'anon cannot call it');
select tests.act_as('xr-staff@example.com');
select throws_ok(format($$ select public.requeue_shop_transfer(%L) $$, :'order_a'),
  'PT409', format('the transfer of shop order %s is cancelled: only a given-up transfer is requeued', :'order_a'),
  'a transfer not given up (here: cancelled by its order''s refund) is refused');
select is((select (attempts, gave_up_at is null, next_attempt_at <= now())::text from public.requeue_shop_transfer(:'order_b')),
  '(10,t,t)', 'staff requeue it: next attempt now, attempts kept');
select tests.act_as('postgres');
select ok((select private.shop_transfer_due(t) from public.shop_transfers t where shop_order_id = :'order_b'),
  'it is due again');
select is((select (action, actor_id, before ->> 'attempts')::text from public.audit_log
            where table_name = 'shop_transfers' and row_id = :'order_b'),
  format('(requeue,%s,10)', tests.get_user_id('xr-staff@example.com')), 'the requeue is audited with its actor');

select * from finish();
rollback;
