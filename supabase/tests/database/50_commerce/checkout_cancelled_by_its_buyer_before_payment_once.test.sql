-- A buyer cancels their checkout before paying it (public.cancel_checkout, 88_cancellations.sql):
-- its shop orders cancelled by the buyer (a listed transition), stock and coupon released, the
-- checkout cancelled once (asking again answers the same checkout, nothing moves twice). Refused
-- precisely: anon, a stranger and the seller (PT404), a paid checkout (PT409: ask for a refund),
-- an expired one, one with a payment in progress. The three ways a checkout ends meet at its
-- lock: after a cancel the payment's completion is recorded as a late payment to refund and the
-- expiry does nothing; after a payment the cancel is refused; after the expiry too.
begin;
select plan(26);

select tests.create_user('cc-seller@example.com');
select tests.create_user('cc-buyer@example.com');
select tests.create_user('cc-stranger@example.com');
insert into public.shops (id, shop_name, category) values (tests.get_user_id('cc-seller@example.com'), 'Shop C', 'general');
select tests.grant_role('cc-seller@example.com', 'seller');
insert into public.shipping_profiles (id, shop_id, name, currency) values
  ('00000000-0000-0000-0000-0000000000d1', tests.get_user_id('cc-seller@example.com'), 'Std', 'USD');
insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days) values
  ('00000000-0000-0000-0000-0000000000d1', '*', 500, 0, 2, 5);
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status, sku) values
  ('00000000-0000-0000-0000-00000000d001', tests.get_user_id('cc-seller@example.com'), 'Bowl', 3000, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000000d1', 'active', 'CC-BOWL');
select private.move_stock('00000000-0000-0000-0000-00000000d001', 'adjustment', 10, 0, 'stock', 'test');
insert into public.coupons (code, kind, percent_bps, usage_limit) values ('CCTEN', 'percentage', 1000, 5);
insert into public.addresses (id, user_id, full_name, address_line1, city, country_code) values
  ('00000000-0000-0000-0000-0000000000ae', tests.get_user_id('cc-buyer@example.com'), 'Buyer', '1 Main St', 'New York', 'US');

create function pg_temp.place(quantity integer) returns uuid language sql as $$
  select (public.place_order(jsonb_build_array(jsonb_build_object('product_id', '00000000-0000-0000-0000-00000000d001', 'quantity', quantity)),
                             '00000000-0000-0000-0000-0000000000ae', 'CCTEN')).id
$$;
create function pg_temp.pay(checkout uuid, event_id text) returns text language sql as $$
  select outcome from ops.process_stripe_event(jsonb_build_object('id', event_id, 'object', 'event',
    'type', 'checkout.session.completed', 'created', extract(epoch from now())::bigint,
    'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_' || event_id, 'payment_status', 'paid',
      'payment_intent', 'pi_' || event_id, 'amount_total', (select total from public.checkouts where id = checkout), 'currency', 'usd',
      'metadata', jsonb_build_object('checkout_id', checkout)))))
$$;
grant execute on function pg_temp.place(integer) to authenticated;

select tests.act_as('cc-buyer@example.com');
select pg_temp.place(3) as checkout \gset
select tests.act_as('postgres');
select is((select available from public.inventory_levels where product_id = '00000000-0000-0000-0000-00000000d001'), 7, 'placing holds 3 units');
select is((select times_used from public.coupons where code = 'CCTEN'), 1, 'and counts the coupon');

-- Who may cancel --------------------------------------------------------------------------------
select tests.act_as('anon');
select throws_ok(format($$ select public.cancel_checkout(%L) $$, :'checkout'), '42501',
  'permission denied for function cancel_checkout', 'anon cannot cancel');
select tests.act_as('cc-stranger@example.com');
select throws_ok(format($$ select public.cancel_checkout(%L) $$, :'checkout'), 'PT404',
  format('checkout %s not found', :'checkout'), 'a stranger cannot cancel it');
select tests.act_as('cc-seller@example.com');
select throws_ok(format($$ select public.cancel_checkout(%L) $$, :'checkout'), 'PT404',
  format('checkout %s not found', :'checkout'), 'the seller cannot cancel the buyer''s checkout');
select tests.act_as('cc-buyer@example.com');
select throws_ok(format($$ select public.cancel_checkout(%L, repeat('x', 501)) $$, :'checkout'), '22023',
  'a cancellation reason has at most 500 characters', 'a reason over 500 characters is refused');

-- Cancelled once --------------------------------------------------------------------------------
select is((public.cancel_checkout(:'checkout', 'changed my mind')).status, 'cancelled', 'the buyer cancels the checkout');
select tests.act_as('postgres');
select results_eq(format($$ select status, cancellation_reason from public.shop_orders where checkout_id = %L $$, :'checkout'),
  $$ values ('cancelled', 'changed my mind') $$, 'its shop order is cancelled with the buyer''s reason');
select is((select available from public.inventory_levels where product_id = '00000000-0000-0000-0000-00000000d001'), 10, 'the stock is released');
select is((select string_agg(status, ',') from public.stock_reservations where reference = 'checkout:' || :'checkout'), 'released',
  'its reservation is released');
select is((select times_used from public.coupons where code = 'CCTEN'), 0, 'the coupon''s use is given back');
select ok((select cancelled_at is not null and expired_at is null from public.checkouts where id = :'checkout'), 'cancelled_at is stamped');
select tests.act_as('cc-buyer@example.com');
select is((public.cancel_checkout(:'checkout')).status, 'cancelled', 'asking again answers the cancelled checkout');
select tests.act_as('postgres');
select is((select count(*)::integer from public.stock_moves where reference like 'reservation:%'
            and product_id = '00000000-0000-0000-0000-00000000d001' and kind = 'release'), 1, 'and releases nothing twice');
select is((select count(*)::integer from private.domain_events where event_type = 'shop_sale.cancelled'
            and payload ->> 'checkout_id' = :'checkout' and recipients = array[tests.get_user_id('cc-seller@example.com')]), 1,
  'the seller is told once (the buyer, who cancelled, is not)');

-- The other outcomes find it decided ----------------------------------------------------------------
select is(private.expire_checkout(:'checkout'), false, 'the expiry job finds nothing to expire');
select is(pg_temp.pay(:'checkout', 'evt_cc_late'), 'applied: checkout was cancelled, refund due',
  'a payment completed after the cancel is recorded to be refunded');
select is((select status from public.shop_payments where checkout_id = :'checkout'), 'late_refund_due', 'its payment is due a refund');
select is((select status from public.checkouts where id = :'checkout'), 'cancelled', 'the checkout stays cancelled');
select is((select available from public.inventory_levels where product_id = '00000000-0000-0000-0000-00000000d001'), 10, 'nothing is sold');

-- A paid checkout: ask for a refund -----------------------------------------------------------------
select tests.act_as('cc-buyer@example.com');
select pg_temp.place(1) as paid_checkout \gset
select tests.act_as('postgres');
select is(pg_temp.pay(:'paid_checkout', 'evt_cc_paid'), 'applied', 'a second checkout is paid');
select tests.act_as('cc-buyer@example.com');
select throws_ok(format($$ select public.cancel_checkout(%L) $$, :'paid_checkout'), 'PT409',
  format('checkout %s is paid: it cannot be cancelled, ask for a refund of its shop orders instead', :'paid_checkout'),
  'a paid checkout is not cancelled: the buyer asks for a refund');

-- An expired checkout -------------------------------------------------------------------------------
select pg_temp.place(1) as expired_checkout \gset
select tests.act_as('postgres');
select is(private.expire_checkout(:'expired_checkout'), true, 'a third checkout expires');
select tests.act_as('cc-buyer@example.com');
select throws_ok(format($$ select public.cancel_checkout(%L) $$, :'expired_checkout'), 'PT409',
  format('checkout %s expired at %s: its stock and coupon were already released', :'expired_checkout',
         (select expired_at from public.checkouts where id = :'expired_checkout')),
  'an expired checkout is not cancelled');

-- A payment in progress -----------------------------------------------------------------------------
select pg_temp.place(1) as processing_checkout \gset
select tests.act_as('postgres');
select ops.begin_shop_payment(:'processing_checkout', tests.get_user_id('cc-buyer@example.com')) ->> 'attempt' as attempt \gset
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_cc_async', 'object', 'event',
    'type', 'checkout.session.completed', 'created', extract(epoch from now())::bigint,
    'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_cc_async', 'payment_status', 'unpaid',
      'payment_intent', 'pi_cc_async', 'amount_total', 1, 'currency', 'usd',
      'metadata', jsonb_build_object('checkout_id', :'processing_checkout')))))),
  'applied: awaiting an asynchronous payment', 'a bank debit is processing');
select tests.act_as('cc-buyer@example.com');
select throws_ok(format($$ select public.cancel_checkout(%L) $$, :'processing_checkout'), 'PT409',
  format('checkout %s has a payment in progress: wait for it, then ask for a refund if it goes through', :'processing_checkout'),
  'a checkout whose payment is processing is not cancelled');

select * from finish();
rollback;
