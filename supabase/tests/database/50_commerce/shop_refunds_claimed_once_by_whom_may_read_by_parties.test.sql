-- Shop refunds (88_cancellations.sql): who may claim what (the buyer a paid order before
-- shipment in full, the seller in full with a reason, staff any amount with a reason; a
-- stranger and another seller PT404), one claim in flight (PT409), recorded once (the order
-- cancelled and restocked, the ledger's shop_refund posting balanced, the payment refunded), a
-- refunded order answered with its refund. Reads: the buyer, the shop's seller and staff; not
-- another seller, a stranger or anon.
begin;
select plan(21);

select tests.create_user('sr-seller@example.com');
select tests.create_user('sr-other-seller@example.com');
select tests.create_user('sr-buyer@example.com');
select tests.create_user('sr-stranger@example.com');
select tests.create_user('sr-staff@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('sr-seller@example.com'), 'Shop R', 'general'),
       (tests.get_user_id('sr-other-seller@example.com'), 'Shop O', 'general');
select tests.grant_role('sr-seller@example.com', 'seller');
select tests.grant_role('sr-other-seller@example.com', 'seller');
select tests.grant_role('sr-staff@example.com', 'staff');
insert into public.shipping_profiles (id, shop_id, name, currency) values
  ('00000000-0000-0000-0000-0000000000c1', tests.get_user_id('sr-seller@example.com'), 'Std', 'USD');
insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days) values
  ('00000000-0000-0000-0000-0000000000c1', '*', 500, 0, 2, 5);
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status, sku) values
  ('00000000-0000-0000-0000-00000000c001', tests.get_user_id('sr-seller@example.com'), 'Vase', 4000, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000000c1', 'active', 'SR-VASE');
select private.move_stock('00000000-0000-0000-0000-00000000c001', 'adjustment', 10, 0, 'stock', 'test');
insert into public.addresses (id, user_id, full_name, address_line1, city, country_code) values
  ('00000000-0000-0000-0000-0000000000ad', tests.get_user_id('sr-buyer@example.com'), 'Buyer', '1 Main St', 'New York', 'US');
select tests.act_as('sr-buyer@example.com');
select (public.place_order('[{"product_id": "00000000-0000-0000-0000-00000000c001", "quantity": 2}]',
                           '00000000-0000-0000-0000-0000000000ad')).id as checkout \gset
select tests.act_as('postgres');
select id as order_id, total from public.shop_orders where checkout_id = :'checkout' \gset
-- Paid through the webhook's dispatch, then paid out (a recorded transfer).
select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_sr_paid', 'object', 'event',
  'type', 'checkout.session.completed', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_sr', 'payment_status', 'paid', 'payment_intent', 'pi_sr',
    'amount_total', :total, 'currency', 'usd', 'metadata', jsonb_build_object('checkout_id', :'checkout'))))) as paid_outcome \gset
insert into public.seller_payment_accounts (user_id, stripe_account_id, payouts_enabled, transfers_active)
values (tests.get_user_id('sr-seller@example.com'), 'acct_sr', true, true);
select ops.claim_shop_transfers(:'checkout') as transfer_claims \gset
select ops.record_shop_transfer(:'order_id', 'tr_sr', (select amount from public.shop_transfers where shop_order_id = :'order_id')) as transfer_outcome \gset
select is((select status from public.shop_orders where id = :'order_id'), 'paid', 'the order is paid and paid out');

-- Who may claim what ------------------------------------------------------------------------------
select throws_ok(format($$ select ops.claim_shop_refund(%L, tests.get_user_id('sr-stranger@example.com')) $$, :'order_id'), 'PT404',
  format('shop order %s not found', :'order_id'), 'a stranger cannot refund it');
select throws_ok(format($$ select ops.claim_shop_refund(%L, tests.get_user_id('sr-other-seller@example.com'), null, 'x') $$, :'order_id'), 'PT404',
  format('shop order %s not found', :'order_id'), 'another seller cannot refund it');
select throws_ok(format($$ select ops.claim_shop_refund(%L, tests.get_user_id('sr-buyer@example.com'), 100) $$, :'order_id'), '42501',
  'only staff refund part of a shop order: cancel it in full', 'the buyer cannot refund part of it');
select throws_ok(format($$ select ops.claim_shop_refund(%L, tests.get_user_id('sr-seller@example.com')) $$, :'order_id'), '22023',
  format('a reason is required to cancel or refund shop order %s', :'order_id'), 'the seller gives a reason');
select throws_ok(format($$ select ops.claim_shop_refund(%L, tests.get_user_id('sr-staff@example.com'), %s, 'too much') $$, :'order_id', :total + 1), '22023',
  format('the refund must be between 1 and %s (what is left of shop order %s), not %s', :total, :'order_id', :total + 1),
  'staff cannot refund more than is left');

-- One claim in flight, recorded once -----------------------------------------------------------
select ops.claim_shop_refund(:'order_id', tests.get_user_id('sr-buyer@example.com')) as claim \gset
select is(:'claim'::jsonb ->> 'reversal_amount', ((select amount from public.shop_transfers where shop_order_id = :'order_id'))::text,
  'a full refund reverses the seller''s whole share');
select throws_ok(format($$ select ops.claim_shop_refund(%L, tests.get_user_id('sr-buyer@example.com')) $$, :'order_id'), 'PT409',
  format('a refund of shop order %s is in progress', :'order_id'), 'a second claim while one is in flight');
select is(ops.record_shop_refund((:'claim'::jsonb ->> 'refund_id')::uuid, 're_sr', 'trr_sr'), 'applied', 'recorded');
select is(ops.record_shop_refund((:'claim'::jsonb ->> 'refund_id')::uuid, 're_sr', 'trr_sr'), 'ignored: already succeeded', 'recorded once');
select is((select status from public.shop_orders where id = :'order_id'), 'cancelled', 'the order is cancelled');
select is((select on_hand from public.inventory_levels where product_id = '00000000-0000-0000-0000-00000000c001'), 10, 'restocked');
select is(private.checkout_ledger_balance('refunds', 'USD', :'checkout'), :total::bigint, 'the refund is in the checkout''s refunds account');
select is(private.ledger_balance('seller_transfers', 'USD', null, tests.get_user_id('sr-seller@example.com')), 0::bigint,
  'the seller''s transfer is reversed');
select is((select status from public.shop_payments where checkout_id = :'checkout'), 'refunded', 'the payment is refunded');
select is(ops.claim_shop_refund(:'order_id', tests.get_user_id('sr-buyer@example.com')) ->> 'state', 'refunded',
  'asking again answers the refund');

-- Reads -----------------------------------------------------------------------------------------
select tests.act_as('sr-buyer@example.com');
select is((select count(*)::int from public.shop_refunds), 1, 'the buyer reads the refund');
select tests.act_as('sr-seller@example.com');
select is((select count(*)::int from public.shop_refunds), 1, 'the shop''s seller reads it');
select tests.act_as('sr-other-seller@example.com');
select is((select count(*)::int from public.shop_refunds), 0, 'another seller does not');
select tests.act_as('sr-staff@example.com');
select is((select count(*)::int from public.shop_refunds where shop_order_id = :'order_id'), 1, 'staff read it');
select tests.act_as('anon');
select throws_ok($$ select * from public.shop_refunds $$, '42501', 'permission denied for table shop_refunds', 'anon reads no refund');

select * from finish();
rollback;
