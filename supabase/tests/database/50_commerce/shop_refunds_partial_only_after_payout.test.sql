-- The rule for partial refunds of a shop order (ops.claim_shop_refund, 88_cancellations.sql):
-- staff may refund part of an order only once the seller's transfer is made, because a part
-- refunded before the payout would leave the transfer due at its full amount, paying the seller
-- money the buyer got back (the transfer is cancelled only by a full refund). Before the payout
-- (transfer due, or failed and waiting for a retry) a partial refund is refused PT409 "refund it
-- in full"; while the transfer is in flight anything is refused ("try again in a minute"); after
-- it, the part is taken back from the seller's transfer less the commission's share, and the
-- ledger and the payment agree.
begin;
select plan(10);

select tests.create_user('pr-seller@example.com');
select tests.create_user('pr-buyer@example.com');
select tests.create_user('pr-staff@example.com');
insert into public.shops (id, shop_name, category) values (tests.get_user_id('pr-seller@example.com'), 'Shop P', 'general');
select tests.grant_role('pr-seller@example.com', 'seller');
select tests.grant_role('pr-staff@example.com', 'staff');
insert into public.shipping_profiles (id, shop_id, name, currency) values
  ('00000000-0000-0000-0000-0000000000f1', tests.get_user_id('pr-seller@example.com'), 'Std', 'USD');
insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days) values
  ('00000000-0000-0000-0000-0000000000f1', '*', 500, 0, 2, 5);
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status, sku) values
  ('00000000-0000-0000-0000-00000000f001', tests.get_user_id('pr-seller@example.com'), 'Lamp', 4000, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000000f1', 'active', 'PR-LAMP');
select private.move_stock('00000000-0000-0000-0000-00000000f001', 'adjustment', 10, 0, 'stock', 'test');
insert into public.addresses (id, user_id, full_name, address_line1, city, country_code) values
  ('00000000-0000-0000-0000-0000000000b0', tests.get_user_id('pr-buyer@example.com'), 'Buyer', '1 Main St', 'New York', 'US');
insert into public.seller_payment_accounts (user_id, stripe_account_id, payouts_enabled, transfers_active)
values (tests.get_user_id('pr-seller@example.com'), 'acct_pr', true, true);

select tests.act_as('pr-buyer@example.com');
select (public.place_order('[{"product_id": "00000000-0000-0000-0000-00000000f001", "quantity": 1}]',
                           '00000000-0000-0000-0000-0000000000b0')).id as checkout \gset
select tests.act_as('postgres');
select id as order_id, total from public.shop_orders where checkout_id = :'checkout' \gset
select outcome as paid from ops.process_stripe_event(jsonb_build_object('id', 'evt_pr_paid', 'object', 'event',
  'type', 'checkout.session.completed', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_pr', 'payment_status', 'paid', 'payment_intent', 'pi_pr',
    'amount_total', :total, 'currency', 'usd', 'metadata', jsonb_build_object('checkout_id', :'checkout'))))) \gset
select is((select status from public.shop_orders where id = :'order_id'), 'paid', 'the order is paid, its transfer due');

-- Before the payout: only in full ------------------------------------------------------------------
select throws_ok(format($$ select ops.claim_shop_refund(%L, tests.get_user_id('pr-staff@example.com'), 1000, 'damaged') $$, :'order_id'),
  'PT409', format('shop order %s has not been paid out yet: refund it in full', :'order_id'),
  'staff cannot refund part of an order whose transfer is still due');

-- In flight: nothing ------------------------------------------------------------------------------
select is(jsonb_array_length(ops.claim_shop_transfers(:'checkout')), 1, 'the transfer is claimed (in flight)');
select throws_ok(format($$ select ops.claim_shop_refund(%L, tests.get_user_id('pr-staff@example.com'), null, 'damaged') $$, :'order_id'),
  'PT409', format('shop order %s is being paid out: try again in a minute', :'order_id'),
  'no refund while the transfer is in flight, even in full');

-- Failed and waiting for a retry: only in full ---------------------------------------------------------
select ops.abandon_shop_transfer(:'order_id', 'Stripe refused the transfer');
select throws_ok(format($$ select ops.claim_shop_refund(%L, tests.get_user_id('pr-staff@example.com'), 1000, 'damaged') $$, :'order_id'),
  'PT409', format('shop order %s has not been paid out yet: refund it in full', :'order_id'),
  'a failed transfer (to be retried) still refuses a partial refund');

-- Paid out: a part is taken back from the seller's transfer ----------------------------------------
select jsonb_array_length(ops.claim_shop_transfers(:'checkout')) as reclaimed \gset
select ops.record_shop_transfer(:'order_id', 'tr_pr', (select amount from public.shop_transfers where shop_order_id = :'order_id')) as recorded \gset
select ops.claim_shop_refund(:'order_id', tests.get_user_id('pr-staff@example.com'), 1000, 'damaged') as claim \gset
select is(:'claim'::jsonb ->> 'state', 'claimed', 'after the payout staff refund part of it');
select is((:'claim'::jsonb ->> 'reversal_amount')::bigint,
          1000 - (1000 * (select commission from public.shop_transfers where shop_order_id = :'order_id') + :total / 2) / :total,
  'the seller gives back the part less the commission''s share of it');
select is(ops.record_shop_refund((:'claim'::jsonb ->> 'refund_id')::uuid, 're_pr', 'trr_pr'), 'applied', 'recorded');
select results_eq(format($$ select o.status, p.status, p.amount_refunded from public.shop_orders o
                              join public.shop_payments p on p.checkout_id = o.checkout_id where o.id = %L $$, :'order_id'),
  $$ values ('paid', 'partially_refunded', 1000::bigint) $$, 'the order stays paid, its payment partially refunded');
select is(private.checkout_ledger_balance('refunds', 'USD', :'checkout'), 1000::bigint, 'the ledger holds the part refunded');

select * from finish();
rollback;
