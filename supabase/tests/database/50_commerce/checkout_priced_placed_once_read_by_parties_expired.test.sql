-- Checkout: the preview prices a cart of two shops (per shop subtotal, shipping from each
-- shop's profile for the address, a platform coupon split by subtotal with the leftover unit
-- to the largest share, tax half up per shop order) and refuses precisely (empty cart, two
-- currencies, no address, another's address, a country a shop does not ship to, a coupon
-- that does not apply). Placing writes one checkout and one shop order per shop with
-- snapshots, reserves the stock, counts the coupon, empties the cart; a retry returns the
-- same checkout. Buyer, the shop's seller (their order only), staff read; another seller, a
-- stranger and anon do not. The state machine moves only as listed; expiry releases stock
-- and coupon once.
begin;
select plan(56);

select tests.create_user('ck-seller-a@example.com');
select tests.create_user('ck-seller-b@example.com');
select tests.create_user('ck-other-seller@example.com');
select tests.create_user('ck-buyer@example.com');
select tests.create_user('ck-stranger@example.com');
select tests.create_user('ck-staff@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('ck-seller-a@example.com'), 'Shop A', 'general'),
       (tests.get_user_id('ck-seller-b@example.com'), 'Shop B', 'general'),
       (tests.get_user_id('ck-other-seller@example.com'), 'Shop C', 'general');
select tests.grant_role('ck-seller-a@example.com', 'seller');
select tests.grant_role('ck-seller-b@example.com', 'seller');
select tests.grant_role('ck-other-seller@example.com', 'seller');
select tests.grant_role('ck-staff@example.com', 'staff');
insert into public.shipping_profiles (id, shop_id, name, currency) values
  ('00000000-0000-0000-0000-0000000000a1', tests.get_user_id('ck-seller-a@example.com'), 'Std', 'USD'),
  ('00000000-0000-0000-0000-0000000000b1', tests.get_user_id('ck-seller-b@example.com'), 'Std', 'USD'),
  ('00000000-0000-0000-0000-0000000000e1', tests.get_user_id('ck-seller-b@example.com'), 'Euro', 'EUR');
insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days) values
  ('00000000-0000-0000-0000-0000000000a1', 'US', 500, 100, 2, 5),
  ('00000000-0000-0000-0000-0000000000b1', '*', 700, 0, 3, 9),
  ('00000000-0000-0000-0000-0000000000e1', '*', 700, 0, 3, 9);
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status, sku) values
  ('00000000-0000-0000-0000-00000000a001', tests.get_user_id('ck-seller-a@example.com'), 'Lamp', 2500, 'USD', 'physical', '00000000-0000-0000-0000-0000000000a1', 'active', 'LAMP-1'),
  ('00000000-0000-0000-0000-00000000b001', tests.get_user_id('ck-seller-b@example.com'), 'Mug', 1999, 'USD', 'physical', '00000000-0000-0000-0000-0000000000b1', 'active', 'MUG-1'),
  ('00000000-0000-0000-0000-00000000e001', tests.get_user_id('ck-seller-b@example.com'), 'Euro mug', 1999, 'EUR', 'physical', '00000000-0000-0000-0000-0000000000e1', 'active', 'MUG-EU');
select private.move_stock(id, 'adjustment', 10, 0, 'stock', 'test') from public.products where sku in ('LAMP-1', 'MUG-1', 'MUG-EU');
insert into public.tax_rates (country_code, rate_bps) values ('US', 1000);
insert into public.addresses (id, user_id, full_name, address_line1, city, country_code) values
  ('00000000-0000-0000-0000-0000000000ad', tests.get_user_id('ck-buyer@example.com'), 'Buyer', '1 Main St', 'New York', 'US'),
  ('00000000-0000-0000-0000-0000000000de', tests.get_user_id('ck-buyer@example.com'), 'Buyer', '1 Hauptstr.', 'Berlin', 'DE'),
  ('00000000-0000-0000-0000-0000000000ff', tests.get_user_id('ck-stranger@example.com'), 'Stranger', '2 Main St', 'Boston', 'US');
insert into public.coupons (code, kind, percent_bps, usage_limit) values ('TENOFF', 'percentage', 1000, 5);
insert into public.coupons (code, shop_id, kind, amount, currency) values ('BSHOP', tests.get_user_id('ck-seller-b@example.com'), 'fixed', 300, 'USD');

-- Preview -----------------------------------------------------------------------------------------
select tests.act_as('ck-buyer@example.com');
select throws_ok($$ select public.preview_checkout('00000000-0000-0000-0000-0000000000ad') $$, 'PT409',
  'the cart is empty: add products before checking out', 'an empty cart is refused');
select throws_ok($$ select public.checkout_cart('00000000-0000-0000-0000-0000000000ad') $$, 'PT409',
  'the cart is empty: add products before checking out', 'an empty cart is not placed');
select public.add_cart_item('00000000-0000-0000-0000-00000000a001', 2);
select public.add_cart_item('00000000-0000-0000-0000-00000000b001', 1);
select public.preview_checkout('00000000-0000-0000-0000-0000000000ad', 'tenoff') as preview \gset
select is((:'preview'::jsonb ->> 'items_subtotal')::bigint, 6999::bigint, 'items subtotal 2 x 2500 + 1999');
select is((:'preview'::jsonb ->> 'shipping_total')::bigint, 1300::bigint, 'shipping: shop A 500 + 100 for the second item, shop B 700');
select is((:'preview'::jsonb ->> 'discount_total')::bigint, 700::bigint, '10% of 6999 is 699.9: 700 (half up)');
select is(array(select (s ->> 'discount')::bigint from jsonb_array_elements(:'preview'::jsonb -> 'shops') s order by s ->> 'items_subtotal' desc),
  array[501, 199]::bigint[], 'the split: floor(700 x 5000/6999) = 500 and floor(700 x 1999/6999) = 199, the leftover unit to the largest share');
select is(array(select (s ->> 'tax')::bigint from jsonb_array_elements(:'preview'::jsonb -> 'shops') s order by s ->> 'items_subtotal' desc),
  array[510, 250]::bigint[], 'tax per shop: 10% of (5000 - 501 + 600) = 509.9 -> 510 and of (1999 - 199 + 700) = 250');
select is((:'preview'::jsonb ->> 'total')::bigint, 6999 - 700 + 1300 + 760::bigint, 'total = items - discount + shipping + tax');
select is(array(select (s ->> 'delivery_max_days')::integer from jsonb_array_elements(:'preview'::jsonb -> 'shops') s order by s ->> 'items_subtotal' desc),
  array[5, 9], 'each shop''s delivery estimate');
select is((select array_agg((x ->> 'discount')::bigint order by (x ->> 'shop_id')::uuid = tests.get_user_id('ck-seller-b@example.com'))
             from jsonb_array_elements(public.preview_checkout('00000000-0000-0000-0000-0000000000ad', 'BSHOP') -> 'shops') x),
  array[0, 300]::bigint[], 'a shop''s coupon discounts that shop''s order only');
select is((public.preview_checkout('00000000-0000-0000-0000-0000000000ad') ->> 'discount_total')::bigint, 0::bigint, 'no coupon, no discount');
select throws_ok($$ select public.preview_checkout() $$, '22023', 'an address is needed to ship physical products: give address_id',
  'physical products need an address');
select throws_ok($$ select public.preview_checkout('00000000-0000-0000-0000-0000000000ff') $$, 'PT404',
  'address 00000000-0000-0000-0000-0000000000ff not found', 'another user''s address is not found');
select throws_ok($$ select public.preview_checkout('00000000-0000-0000-0000-0000000000de') $$, 'PT409',
  format('shop %s does not ship to DE', tests.get_user_id('ck-seller-a@example.com')), 'a country a shop does not ship to');
select throws_ok($$ select public.preview_checkout('00000000-0000-0000-0000-0000000000ad', 'NOSUCH') $$, 'PT404',
  'no coupon has this code', 'an unknown coupon');
select throws_ok($$ select public.preview_checkout('00000000-0000-0000-0000-0000000000ad', null, '[{"product_id": "00000000-0000-0000-0000-00000000a001", "quantity": 0}]') $$,
  '22023', 'quantity must be a whole number from 1 to 10000, not 0', 'items with a zero quantity');
select throws_ok($$ select public.preview_checkout('00000000-0000-0000-0000-0000000000ad', null, '[{"product_id": "x"}]') $$,
  '22023', 'each item is {"product_id": <uuid>, "quantity": <whole number>}', 'malformed items');
select throws_ok($$ select public.preview_checkout('00000000-0000-0000-0000-0000000000ad', null,
  '[{"product_id": "00000000-0000-0000-0000-00000000a001", "quantity": 1}, {"product_id": "00000000-0000-0000-0000-00000000e001", "quantity": 1}]') $$,
  'PT409', 'the cart holds products in 2 currencies (EUR, USD): check out one currency at a time', 'a cart in two currencies');
select throws_ok($$ select public.preview_checkout('00000000-0000-0000-0000-0000000000ad', null,
  '[{"product_id": "00000000-0000-0000-0000-00000000a001", "quantity": 6}, {"product_id": "00000000-0000-0000-0000-00000000a001", "quantity": 5}]') $$,
  'PT409', 'product 00000000-0000-0000-0000-00000000a001 has only 10 available, 11 requested', 'lines of one product are summed before the check');

-- Placing -----------------------------------------------------------------------------------------
select (public.checkout_cart('00000000-0000-0000-0000-0000000000ad', 'TENOFF')).id as checkout \gset
select is((select total from public.checkouts where id = :'checkout'), 6999 - 700 + 1300 + 760::bigint, 'the checkout holds the previewed total');
select is((select array_agg(status) from public.shop_orders where checkout_id = :'checkout'), array['awaiting_payment', 'awaiting_payment'],
  'one shop order per shop, awaiting payment');
select is((select array_agg(title || ' ' || sku || ' ' || unit_price || 'x' || quantity order by title) from public.shop_order_items),
  array['Lamp LAMP-1 2500x2', 'Mug MUG-1 1999x1'], 'items snapshot title, SKU, price and quantity');
select is((select count(*)::integer from public.shop_orders where shipping_address ->> 'city' = 'New York'), 2, 'the address is snapshotted');
select is((select count(*)::integer from public.cart_items), 0, 'the cart is emptied');
select is((public.checkout_cart('00000000-0000-0000-0000-0000000000ad', 'TENOFF')).id, :'checkout'::uuid, 'a retry returns the same checkout');
select is((select count(*)::integer from public.checkouts), 1, 'and places nothing more');
select tests.clear_authentication();
select is((select array_agg(reserved order by product_id) from public.inventory_levels l
            join public.products p on p.id = l.product_id where p.sku in ('LAMP-1', 'MUG-1')), array[2, 1], 'the stock is reserved');
select is((select expires_at - created_at from public.checkouts where id = :'checkout'), interval '30 minutes',
  'reserved for the checkout_reservation_minutes setting');
select is((select times_used from public.coupons where code = 'TENOFF'), 1, 'the coupon''s use is counted');
select is((select discount_amount || '/' || order_total from public.coupon_redemptions where checkout_id = :'checkout'), '700/8359', 'the redemption records discount and revenue');
select is((select count(*)::integer from private.domain_events where event_type = 'checkout.placed' and subject_id = :'checkout'::uuid
            and recipients @> array[tests.get_user_id('ck-seller-a@example.com'), tests.get_user_id('ck-seller-b@example.com')]), 1,
  'checkout.placed tells both sellers');

-- place_order with items and an idempotency key.
select tests.act_as('ck-buyer@example.com');
select (public.place_order('[{"product_id": "00000000-0000-0000-0000-00000000a001", "quantity": 1}]', '00000000-0000-0000-0000-0000000000ad',
  null, '00000000-0000-0000-0000-0000000000e7')).id as direct \gset
select is((public.place_order('[{"product_id": "00000000-0000-0000-0000-00000000a001", "quantity": 1}]', '00000000-0000-0000-0000-0000000000ad',
  null, '00000000-0000-0000-0000-0000000000e7')).id, :'direct'::uuid, 'place_order with the same idempotency key returns the same checkout');

-- Applying a coupon to a placed checkout.
select (public.place_order('[{"product_id": "00000000-0000-0000-0000-00000000b001", "quantity": 1}]', '00000000-0000-0000-0000-0000000000ad')).id as later \gset
select is((select total || '/' || discount_total || '/' || tax_total from public.apply_coupon(:'later', 'bshop')),
  (1999 - 300 + 700 + 240) || '/300/240', 'apply_coupon: a shop''s coupon taken off its order, tax recomputed on 1999 - 300 + 700 (239.9 -> 240)');
select is((select discount_amount || '/' || total from public.shop_orders where checkout_id = :'later'), '300/2639', 'the shop order follows');
select throws_ok(format($$ select public.apply_coupon(%L, 'TENOFF') $$, :'later'), 'PT409',
  format('checkout %s already has a coupon: one coupon per checkout', :'later'), 'one coupon per checkout');
select tests.act_as('ck-stranger@example.com');
select throws_ok(format($$ select public.apply_coupon(%L, 'TENOFF') $$, :'later'), 'PT404',
  format('checkout %s not found', :'later'), 'another buyer''s checkout is not found');
select tests.act_as('ck-buyer@example.com');

-- Reading -----------------------------------------------------------------------------------------
select is((select count(*)::integer from public.shop_orders), 4, 'the buyer reads their shop orders');
select is((select count(*)::integer from public.shop_order_items), 4, 'and their items');
select tests.act_as('ck-seller-a@example.com');
select is((select count(*)::integer from public.shop_orders where shop_id = tests.get_user_id('ck-seller-a@example.com')), 2, 'shop A reads its orders');
select is((select count(*)::integer from public.shop_orders) + (select count(*)::integer from public.checkouts), 2,
  'shop A reads neither shop B''s order nor the checkout');
select tests.act_as('ck-other-seller@example.com');
select is((select count(*)::integer from public.shop_orders) + (select count(*)::integer from public.shop_order_items), 0, 'another seller reads nothing');
select tests.act_as('ck-stranger@example.com');
select is((select count(*)::integer from public.shop_orders) + (select count(*)::integer from public.checkouts), 0, 'a stranger reads nothing');
select tests.act_as('ck-staff@example.com');
select is((select count(*)::integer from public.shop_orders where created_at = now()) + (select count(*)::integer from public.checkouts where created_at = now()), 7,
  'staff read every order and checkout (this test''s: made in its transaction)');
select tests.act_as('anon');
select throws_ok($$ select count(*) from public.shop_orders $$, '42501', 'permission denied for table shop_orders', 'anon reads no order');
select tests.act_as('ck-buyer@example.com');
select throws_ok($$ update public.shop_orders set status = 'paid' $$, '42501', 'permission denied for table shop_orders', 'nobody writes orders directly');
select tests.clear_authentication();

-- The state machine -----------------------------------------------------------------------------
select throws_ok(format($$ select private.transition_shop_order(%L, 'shipped', 'seller') $$, (select id from public.shop_orders where checkout_id = :'direct')),
  'PT409', format('shop order %s is awaiting_payment: the seller cannot move it to shipped', (select id from public.shop_orders where checkout_id = :'direct')),
  'an unpaid order cannot ship');
select is((private.transition_shop_order((select id from public.shop_orders where checkout_id = :'direct'), 'paid', 'system')).status, 'paid',
  'the system marks it paid');

-- Expiry ----------------------------------------------------------------------------------------
update public.checkouts set expires_at = now() - interval '1 second' where id = :'checkout';
select ok(private.expire_checkouts() >= 1, 'the expiry job expires the unpaid checkouts past their window');
select is((select status from public.checkouts where id = :'checkout') || ' ' ||
          (select string_agg(distinct status, ',') from public.shop_orders where checkout_id = :'checkout'), 'expired cancelled',
  'its shop orders are cancelled');
select is((select array_agg(reserved order by product_id) from public.inventory_levels l
            join public.products p on p.id = l.product_id where p.sku in ('LAMP-1', 'MUG-1')), array[1, 1],
  'its stock is released (the paid direct order and the later one keep theirs)');
select is((select times_used from public.coupons where code = 'TENOFF'), 0, 'and its coupon');
select is(private.expire_checkout(:'checkout'), false, 'expiring again does nothing');

-- Export and erasure ---------------------------------------------------------------------------
select is(jsonb_array_length(private.personal_rows(tests.get_user_id('ck-buyer@example.com'), 'ck-buyer@example.com') -> 'public.shop_orders'), 4,
  'the buyer''s export holds their shop orders');
select is((select count(*)::integer from jsonb_array_elements(private.personal_rows(tests.get_user_id('ck-seller-a@example.com'), 'ck-seller-a@example.com') -> 'public.shop_orders') o
            where o ? 'buyer_id' or o ? 'shipping_address'), 0, 'the seller''s export of their shop''s orders leaves out the buyer and the address');
select throws_ok(format($$ select ops.erase_account(%L) $$, tests.get_user_id('ck-buyer@example.com')), 'PT409',
  format('account %s has 2 open shop orders (%s): finish or cancel them first', tests.get_user_id('ck-buyer@example.com'),
         (select string_agg(id::text, ', ' order by created_at, id) from public.shop_orders where checkout_id in (:'direct', :'later'))),
  'a buyer with a paid and an unpaid shop order is not erased');
select tests.throws_like(format($$ select ops.erase_account(%L) $$, tests.get_user_id('ck-seller-a@example.com')), 'PT409',
  '%1 open shop orders (%', 'nor is its seller');

select * from finish();
rollback;
