-- Paying a checkout (80_payments.sql) and fulfilling it (85_fulfilment.sql): the commission
-- rate resolves shop rule over category rule (nearest ancestor) over the platform default;
-- begin_shop_payment refuses another's checkout (PT404) and one not awaiting payment (PT409);
-- a completed session (through the webhook's dispatch) pays the checkout once: stock
-- consumed, shop orders paid with their commission, transfers due, the ledger's payment
-- balanced; a repeated completion changes nothing. Transfers are claimed once and recorded
-- once. Reads: payments by their buyer and staff; transfers by their seller and staff; not by
-- another seller, a stranger or anon; commission rules written by staff only. Ship and deliver
-- by the seller or staff with precise refusals.
begin;
select plan(39);

select tests.create_user('sp-seller-a@example.com');
select tests.create_user('sp-seller-b@example.com');
select tests.create_user('sp-buyer@example.com');
select tests.create_user('sp-stranger@example.com');
select tests.create_user('sp-staff@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('sp-seller-a@example.com'), 'Shop A', 'general'),
       (tests.get_user_id('sp-seller-b@example.com'), 'Shop B', 'general');
select tests.grant_role('sp-seller-a@example.com', 'seller');
select tests.grant_role('sp-seller-b@example.com', 'seller');
select tests.grant_role('sp-staff@example.com', 'staff');
insert into public.product_categories (id, parent_id, slug, name) values
  ('00000000-0000-0000-0000-0000000c0001', null, 'sp-home', 'Home'),
  ('00000000-0000-0000-0000-0000000c0002', '00000000-0000-0000-0000-0000000c0001', 'sp-lamps', 'Lamps');
insert into public.shipping_profiles (id, shop_id, name, currency) values
  ('00000000-0000-0000-0000-0000000000a1', tests.get_user_id('sp-seller-a@example.com'), 'Std', 'USD'),
  ('00000000-0000-0000-0000-0000000000b1', tests.get_user_id('sp-seller-b@example.com'), 'Std', 'USD');
insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days) values
  ('00000000-0000-0000-0000-0000000000a1', '*', 500, 0, 2, 5),
  ('00000000-0000-0000-0000-0000000000b1', '*', 700, 0, 3, 9);
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status, sku, category_id) values
  ('00000000-0000-0000-0000-00000000a001', tests.get_user_id('sp-seller-a@example.com'), 'Lamp', 2500, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000000a1', 'active', 'SP-LAMP', '00000000-0000-0000-0000-0000000c0002'),
  ('00000000-0000-0000-0000-00000000b001', tests.get_user_id('sp-seller-b@example.com'), 'Mug', 2000, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000000b1', 'active', 'SP-MUG', '00000000-0000-0000-0000-0000000c0002');
select private.move_stock(id, 'adjustment', 10, 0, 'stock', 'test') from public.products where sku in ('SP-LAMP', 'SP-MUG');
insert into public.addresses (id, user_id, full_name, address_line1, city, country_code) values
  ('00000000-0000-0000-0000-0000000000ad', tests.get_user_id('sp-buyer@example.com'), 'Buyer', '1 Main St', 'New York', 'US');

-- Commission rules ----------------------------------------------------------------------------
select tests.act_as('sp-seller-a@example.com');
select throws_ok($$ insert into public.commission_rules (shop_id, rate_bps) values (auth.uid(), 0) $$, '42501',
  'new row violates row-level security policy for table "commission_rules"', 'a seller cannot set their own commission');
select tests.act_as('sp-staff@example.com');
insert into public.commission_rules (category_id, rate_bps) values ('00000000-0000-0000-0000-0000000c0001', 800);
insert into public.commission_rules (shop_id, rate_bps) values (tests.get_user_id('sp-seller-b@example.com'), 300);
select throws_ok($$ insert into public.commission_rules (shop_id, category_id, rate_bps)
                    values (tests.get_user_id('sp-seller-a@example.com'), '00000000-0000-0000-0000-0000000c0001', 100) $$, '23514',
  'new row for relation "commission_rules" violates check constraint "commission_rules_one_scope"', 'a rule is for a shop or a category, not both');
select tests.act_as('postgres');
select is(private.commission_rate_for(tests.get_user_id('sp-seller-a@example.com'), '00000000-0000-0000-0000-0000000c0002'), 800,
  'no shop rule: the nearest category rule up the tree (the parent''s 800)');
select is(private.commission_rate_for(tests.get_user_id('sp-seller-b@example.com'), '00000000-0000-0000-0000-0000000c0002'), 300,
  'the shop''s rule wins over the category''s');
select is(private.commission_rate_for(tests.get_user_id('sp-seller-a@example.com'), null), private.commission_rate_bps(),
  'no rule: the platform default');
select tests.act_as('sp-seller-b@example.com');
select is((select count(*)::int from public.commission_rules), 1, 'a seller reads their shop''s rule only');
select tests.act_as('sp-stranger@example.com');
select is((select count(*)::int from public.commission_rules), 0, 'a stranger reads no rule');

-- Starting a payment --------------------------------------------------------------------------
select tests.act_as('sp-buyer@example.com');
select public.add_cart_item('00000000-0000-0000-0000-00000000a001', 2);
select public.add_cart_item('00000000-0000-0000-0000-00000000b001', 1);
select (public.checkout_cart('00000000-0000-0000-0000-0000000000ad')).id as checkout \gset
select tests.act_as('service_role');
select throws_ok(format($$ select ops.begin_shop_payment(%L, tests.get_user_id('sp-stranger@example.com')) $$, :'checkout'), 'PT404',
  format('checkout %s not found', :'checkout'), 'another user''s checkout is not found');
select ops.begin_shop_payment(:'checkout', tests.get_user_id('sp-buyer@example.com')) as started \gset
select is(:'started'::jsonb ->> 'idempotency_key', 'shop_checkout:' || :'checkout' || ':1', 'the first attempt''s key');
select is((:'started'::jsonb ->> 'amount')::bigint, (select total from public.checkouts where id = :'checkout'), 'the amount is the checkout''s');
select is(jsonb_array_length(:'started'::jsonb -> 'lines'), 2, 'one line per shop order');
select is(:'started'::jsonb ->> 'transfer_group', 'checkout_' || :'checkout', 'the transfer group names the checkout');
select ops.record_shop_payment_session(:'checkout', 1, 'cs_test_sp1', 'https://checkout.example/cs_test_sp1', now() + interval '30 minutes');
select is(ops.begin_shop_payment(:'checkout', tests.get_user_id('sp-buyer@example.com')),
  jsonb_build_object('existing', true, 'checkout_id', :'checkout', 'checkout_session_id', 'cs_test_sp1', 'url', 'https://checkout.example/cs_test_sp1'),
  'a second call returns the open session');

-- The webhook's completion, twice ----------------------------------------------------------------
select tests.act_as('postgres');
select jsonb_build_object('id', 'evt_sp_completed', 'object', 'event', 'type', 'checkout.session.completed',
  'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_test_sp1', 'object', 'checkout.session', 'payment_status', 'paid',
    'payment_intent', 'pi_sp1', 'amount_total', (select total from public.checkouts where id = :'checkout'), 'currency', 'usd',
    'client_reference_id', :'checkout', 'metadata', jsonb_build_object('checkout_id', :'checkout'))))::text as completed \gset
select is((select outcome from ops.process_stripe_event(:'completed'::jsonb)), 'applied', 'the completion pays the checkout');
select is((select status from public.checkouts where id = :'checkout'), 'paid', 'the checkout is paid');
select is(array(select status from public.shop_orders where checkout_id = :'checkout'), array['paid', 'paid'], 'both shop orders are paid');
select is(array(select commission_amount from public.shop_orders where checkout_id = :'checkout' order by items_subtotal desc),
  array[400, 60]::bigint[], 'commission: 8% (category) of 5000 and 3% (shop) of 2000');
select is(array(select status from public.stock_reservations where reference = 'checkout:' || :'checkout'), array['consumed', 'consumed'],
  'the reservations are consumed');
select is(private.checkout_ledger_balance('escrow', 'USD', :'checkout'), (select total from public.checkouts where id = :'checkout'),
  'the checkout''s escrow holds the payment');
select is((select count(*)::int from public.shop_transfers where checkout_id = :'checkout'), 2, 'two transfers are due');
-- The same completion under another event id (Stripe may send it again), then the same id.
select is((select outcome from ops.process_stripe_event(jsonb_set(:'completed'::jsonb, '{id}', '"evt_sp_completed_again"'))),
  'ignored: already captured', 'a second completion changes nothing');
select is((select duplicate from ops.process_stripe_event(:'completed'::jsonb)), true, 'the same event is a duplicate');
select is((select count(*)::int from public.stock_moves m join public.stock_reservations r on m.reference = 'reservation:' || r.id
            where r.reference = 'checkout:' || :'checkout' and m.kind = 'sale'), 2, 'one sale move per product, once');
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_sp_expired', 'object', 'event',
  'type', 'checkout.session.expired', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_test_sp1', 'metadata', jsonb_build_object('checkout_id', :'checkout')))))),
  'ignored: the checkout is paid', 'an expiry after the payment changes nothing');

-- Transfers: claimed once, recorded once -----------------------------------------------------------
insert into public.seller_payment_accounts (user_id, stripe_account_id, payouts_enabled, transfers_active)
values (tests.get_user_id('sp-seller-a@example.com'), 'acct_spA', true, true),
       (tests.get_user_id('sp-seller-b@example.com'), 'acct_spB', true, true);
select tests.act_as('service_role');
select ops.claim_shop_transfers(:'checkout') as claims \gset
select is(jsonb_array_length(:'claims'::jsonb), 2, 'two transfers claimed');
select is(jsonb_array_length(ops.claim_shop_transfers(:'checkout')), 0, 'claims in flight are not claimed again');
select is(ops.record_shop_transfer((c ->> 'shop_order_id')::uuid, 'tr_sp_' || (c ->> 'destination'), (c ->> 'amount')::bigint), 'applied')
  from jsonb_array_elements(:'claims'::jsonb) c where c ->> 'destination' = 'acct_spA';
select is(ops.record_shop_transfer((c ->> 'shop_order_id')::uuid, 'tr_sp_acct_spA', (c ->> 'amount')::bigint), 'ignored: already recorded')
  from jsonb_array_elements(:'claims'::jsonb) c where c ->> 'destination' = 'acct_spA';
select tests.act_as('postgres');
select is(private.ledger_balance('seller_transfers', 'USD', null, tests.get_user_id('sp-seller-a@example.com')),
  (select total - commission_amount from public.shop_orders where checkout_id = :'checkout' and shop_id = tests.get_user_id('sp-seller-a@example.com')),
  'seller A''s transfers account holds their share less commission');

-- Reads ----------------------------------------------------------------------------------------------
select tests.act_as('sp-buyer@example.com');
select is((select status from public.my_shop_payments where checkout_id = :'checkout'), 'paid', 'the buyer reads their payment');
select tests.act_as('sp-seller-a@example.com');
select is((select count(*)::int from public.shop_transfers), 1, 'a seller reads their own transfer only');
select is((select count(*)::int from public.shop_payments), 0, 'a seller does not read the buyer''s payment');
select tests.act_as('sp-stranger@example.com');
select is((select count(*)::int from public.shop_payments) + (select count(*)::int from public.shop_transfers), 0, 'a stranger reads nothing');
select tests.act_as('sp-staff@example.com');
select is((select count(*)::int from public.my_shop_payments where checkout_id = :'checkout'), 1, 'staff read every payment');
select tests.act_as('anon');
select throws_ok($$ select * from public.shop_payments $$, '42501', 'permission denied for table shop_payments', 'anon reads no payment');

-- Fulfilment -----------------------------------------------------------------------------------------
select tests.act_as('postgres');
select id as order_a from public.shop_orders where checkout_id = :'checkout' and shop_id = tests.get_user_id('sp-seller-a@example.com') \gset
select tests.act_as('sp-seller-b@example.com');
select throws_ok(format($$ select public.ship_shop_order(%L, 'UPS', '1Z') $$, :'order_a'), 'PT404',
  format('shop order %s not found', :'order_a'), 'another seller cannot ship it');
select tests.act_as('sp-seller-a@example.com');
select throws_ok(format($$ select public.deliver_shop_order(%L) $$, :'order_a'), 'PT409',
  format('shop order %s is paid: only a shipped order can be delivered', :'order_a'), 'not delivered before it ships');
select is((public.ship_shop_order(:'order_a', 'UPS', '1Z999', 'https://ups.example/1Z999')).status, 'shipped', 'the seller ships it');
select throws_ok(format($$ select public.ship_shop_order(%L, 'UPS', '1Z') $$, :'order_a'), 'PT409',
  format('shop order %s is shipped: only a paid order can be shipped', :'order_a'), 'not shipped twice');

select * from finish();
rollback;
