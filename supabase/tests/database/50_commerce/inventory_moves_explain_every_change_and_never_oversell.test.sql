-- Inventory: a physical product gets a level at zero, a digital one none (unlimited). Only
-- the product's seller and commerce.manage read levels, moves and reservations, and change
-- stock, only through adjust_inventory / set_inventory with a reason; every change is an
-- append-only stock move. The checkout's private functions reserve all or nothing (lines of
-- one product summed), release, consume and restock once per reference, and refuse what
-- would make available negative with the exact message.
begin;
select plan(62);

select tests.create_user('inv-seller@example.com');
select tests.create_user('inv-other@example.com');
select tests.create_user('inv-buyer@example.com');
select tests.create_user('inv-staff@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('inv-seller@example.com'), 'Inventory shop', 'general'),
       (tests.get_user_id('inv-other@example.com'), 'Other shop', 'general');
select tests.grant_role('inv-seller@example.com', 'seller');
select tests.grant_role('inv-other@example.com', 'seller');
select tests.grant_role('inv-staff@example.com', 'staff');

create function pg_temp.product_of(title text) returns uuid language sql security definer as $$
  select id from public.products p where p.title = product_of.title
$$;
grant execute on function pg_temp.product_of(text) to authenticated, anon, service_role;
create function pg_temp.level_of(title text) returns text language sql security definer as $$
  select format('%s/%s/%s', l.on_hand, l.reserved, l.available) from public.inventory_levels l where l.product_id = pg_temp.product_of(title)
$$;
grant execute on function pg_temp.level_of(text) to authenticated, anon, service_role;

-- The seller's shipping profile and products: a lamp (physical), an e-book (digital, file uploaded).
select tests.authenticate_as(tests.get_user_id('inv-seller@example.com'));
insert into public.shipping_profiles (name, currency) values ('Standard', 'USD');
insert into public.products (title, price, currency, kind, shipping_profile_id, status)
select t, p, 'USD', 'physical', id, 'active' from public.shipping_profiles, (values ('Lamp', 2500), ('Chair', 9000)) v (t, p)
 where name = 'Standard' and shop_id = auth.uid();
insert into public.products (title, price, currency, kind) values ('E-book', 900, 'USD', 'digital');
select tests.clear_authentication();
insert into storage.objects (bucket_id, name, owner_id, metadata)
values ('product-files', tests.get_user_id('inv-seller@example.com') || '/' || pg_temp.product_of('E-book') || '/book.pdf',
        tests.get_user_id('inv-seller@example.com'), '{"mimetype": "application/pdf", "size": 1000}');
select tests.authenticate_as(tests.get_user_id('inv-seller@example.com'));
update public.products set digital_file_path = shop_id || '/' || id || '/book.pdf', status = 'active' where title = 'E-book';
select tests.clear_authentication();

select is(pg_temp.level_of('Lamp'), '0/0/0', 'a physical product gets a level at zero');
select is((select count(*)::integer from public.inventory_levels where product_id = pg_temp.product_of('E-book')), 0,
  'a digital product has no level (unlimited)');
select is((select in_stock from public.products where id = pg_temp.product_of('Lamp')), false, 'a physical product at zero is not in stock');
select is((select in_stock from public.products where id = pg_temp.product_of('E-book')), true, 'a digital product is always in stock');

-- Adjustments -----------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('inv-seller@example.com'));
select results_eq($$ select on_hand, reserved, available from public.adjust_inventory(pg_temp.product_of('Lamp'), 12, 'first delivery') $$,
  $$ values (12, 0, 12) $$, 'the seller adds stock with a reason');
select throws_ok($$ select public.adjust_inventory(pg_temp.product_of('Lamp'), 3, '  ') $$, '22023',
  'an adjustment needs a reason (1 to 500 characters)', 'an adjustment without a reason is refused');
select throws_ok($$ select public.adjust_inventory(pg_temp.product_of('Lamp'), 0, 'nothing') $$, '22023',
  'quantity_delta is a non-zero whole number', 'a zero adjustment is refused');
select throws_ok(format($$ select public.adjust_inventory(%L, -13, 'broken') $$, pg_temp.product_of('Lamp')), 'PT409',
  format('product %s has 12 on hand and 0 reserved: on hand cannot go below the reserved units', pg_temp.product_of('Lamp')),
  'on hand never goes below zero');
select throws_ok(format($$ select public.adjust_inventory(%L, 5, 'ebooks') $$, pg_temp.product_of('E-book')), 'PT409',
  format('product %s is digital: it has no inventory', pg_temp.product_of('E-book')), 'a digital product has no inventory to adjust');
select results_eq($$ select on_hand, reorder_level from public.set_inventory(pg_temp.product_of('Lamp'), 10, 3, 'counted') $$,
  $$ values (10, 3) $$, 'set_inventory sets on hand (through an adjustment) and the reorder level');
select throws_ok($$ select public.set_inventory(pg_temp.product_of('Lamp'), 10) $$, '22023',
  'setting on_hand needs a reason (1 to 500 characters)', 'setting on hand needs a reason');
select results_eq($$ select on_hand, reorder_level from public.set_inventory(pg_temp.product_of('Lamp'), reorder_level => 2) $$,
  $$ values (10, 2) $$, 'the reorder level alone needs no reason (no stock moves)');
select results_eq(
  $$ select kind, on_hand_delta, reserved_delta, on_hand_after, reason, actor from public.stock_moves
      where product_id = pg_temp.product_of('Lamp') order by id $$,
  $$ values ('adjustment', 12, 0, 12, 'first delivery', tests.get_user_id('inv-seller@example.com')),
            ('adjustment', -2, 0, 10, 'counted', tests.get_user_id('inv-seller@example.com')) $$,
  'every change is a stock move with its reason and actor');
select throws_ok($$ update public.inventory_levels set on_hand = 100 $$, '42501', 'permission denied for table inventory_levels',
  'the seller cannot write a level directly');
select throws_ok($$ insert into public.stock_moves (product_id, kind, on_hand_delta, reserved_delta, on_hand_after, reserved_after)
                    values (pg_temp.product_of('Lamp'), 'adjustment', 1, 0, 11, 0) $$, '42501',
  'permission denied for table stock_moves', 'the seller cannot write stock moves');
select throws_ok($$ update public.stock_reservations set status = 'released' $$, '42501',
  'permission denied for table stock_reservations', 'the seller cannot write reservations');

-- Other seller, buyer, anon: nothing to read, nothing to change --------------------------------
select tests.authenticate_as(tests.get_user_id('inv-other@example.com'));
select is_empty($$ select 1 from public.inventory_levels where product_id = pg_temp.product_of('Lamp') $$, 'another seller reads no level');
select is_empty($$ select 1 from public.stock_moves where product_id = pg_temp.product_of('Lamp') $$, 'another seller reads no moves');
select throws_ok(format($$ select public.adjust_inventory(%L, 5, 'mine now') $$, pg_temp.product_of('Lamp')), 'PT404',
  format('product %s not found', pg_temp.product_of('Lamp')), 'another seller cannot adjust');
select throws_ok(format($$ select public.set_inventory(%L, 0, 0, 'gone') $$, pg_temp.product_of('Lamp')), 'PT404',
  format('product %s not found', pg_temp.product_of('Lamp')), 'another seller cannot set');
select tests.authenticate_as(tests.get_user_id('inv-buyer@example.com'));
select is_empty($$ select 1 from public.inventory_levels $$, 'a buyer reads no level');
select is_empty($$ select 1 from public.stock_reservations $$, 'a buyer reads no reservation');
select throws_ok(format($$ select public.adjust_inventory(%L, 5, 'free lamps') $$, pg_temp.product_of('Lamp')), 'PT404',
  format('product %s not found', pg_temp.product_of('Lamp')), 'a buyer cannot adjust');
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.inventory_levels $$, '42501', 'permission denied for table inventory_levels', 'anon reads no level');
select throws_ok($$ select public.adjust_inventory(pg_temp.product_of('Lamp'), 5, 'x') $$, '42501',
  'permission denied for function adjust_inventory', 'anon cannot adjust');
select throws_ok($$ select private.reserve_stock('[]', 'x', now()) $$, '42501', 'permission denied for function reserve_stock',
  'anon cannot reserve directly');
select tests.authenticate_as(tests.get_user_id('inv-buyer@example.com'));
select throws_ok($$ select private.reserve_stock('[]', 'x', now()) $$, '42501', 'permission denied for function reserve_stock',
  'a signed-in user cannot reserve directly');

-- Staff: reads and adjusts every shop's stock -------------------------------------------------
select tests.authenticate_as(tests.get_user_id('inv-staff@example.com'));
select is((select count(*)::integer from public.inventory_levels where product_id in (pg_temp.product_of('Lamp'), pg_temp.product_of('Chair'))), 2,
  'staff read every level');
select results_eq($$ select on_hand from public.adjust_inventory(pg_temp.product_of('Chair'), 1, 'found one in the back', 'restock') $$,
  $$ values (1) $$, 'staff restock any product');
select throws_ok($$ select public.adjust_inventory(pg_temp.product_of('Chair'), -1, 'oops', 'restock') $$, '22023',
  'a restock adds stock: quantity_delta must be positive', 'a restock adds');

-- Reservations (as the checkout calls them: service role) ------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select product_id, quantity, status from private.reserve_stock(
       jsonb_build_array(jsonb_build_object('product_id', pg_temp.product_of('Lamp'), 'quantity', 2),
                         jsonb_build_object('product_id', pg_temp.product_of('E-book'), 'quantity', 1),
                         jsonb_build_object('product_id', pg_temp.product_of('Lamp'), 'quantity', 1)),
       'checkout:one', now() + interval '15 minutes') $$,
  $$ values (pg_temp.product_of('Lamp'), 3, 'active') $$,
  'lines of one product are summed into one reservation; the digital line needs none');
select is(pg_temp.level_of('Lamp'), '10/3/7', 'reserved rises, available falls');
select results_eq(
  $$ select product_id, quantity from private.reserve_stock(
       jsonb_build_array(jsonb_build_object('product_id', pg_temp.product_of('Lamp'), 'quantity', 5)),
       'checkout:one', now() + interval '15 minutes') $$,
  $$ values (pg_temp.product_of('Lamp'), 3) $$,
  'a repeat with the same reference reserves nothing and returns the first reservations');
select is(pg_temp.level_of('Lamp'), '10/3/7', 'the repeat held nothing more');
select throws_ok(
  format($$ select private.reserve_stock(jsonb_build_array(jsonb_build_object('product_id', %L, 'quantity', 5),
                                                            jsonb_build_object('product_id', %L, 'quantity', 4),
                                                            jsonb_build_object('product_id', %L, 'quantity', 1)),
                                         'checkout:two', now() + interval '15 minutes') $$,
         pg_temp.product_of('Lamp'), pg_temp.product_of('Lamp'), pg_temp.product_of('Chair')),
  'PT409', format('product %s has only 7 available, 9 requested', pg_temp.product_of('Lamp')),
  'two lines of one product are checked together (5 + 4 > 7), with the exact message');
select is(pg_temp.level_of('Chair'), '1/0/1', 'all or nothing: the chair line reserved nothing either');
select is((select count(*)::integer from public.stock_reservations where reference = 'checkout:two'), 0, 'no reservation remains of the refused checkout');
select throws_ok(
  $$ select private.reserve_stock('[{"product_id": "00000000-0000-0000-0000-000000000001", "quantity": 1}]', 'checkout:three', now() + interval '1 minute') $$,
  'PT404', 'product 00000000-0000-0000-0000-000000000001 not found', 'an unknown product is refused');
select throws_ok(
  format($$ select private.reserve_stock(jsonb_build_array(jsonb_build_object('product_id', %L, 'quantity', 0)), 'checkout:three', now() + interval '1 minute') $$,
         pg_temp.product_of('Lamp')),
  '22023', 'each line is {product_id: uuid, quantity: a whole number >= 1}', 'a quantity of zero is refused');
select throws_ok(
  format($$ select private.reserve_stock(jsonb_build_array(jsonb_build_object('product_id', %L, 'quantity', -2)), 'checkout:three', now() + interval '1 minute') $$,
         pg_temp.product_of('Lamp')),
  '22023', 'each line is {product_id: uuid, quantity: a whole number >= 1}', 'a negative quantity is refused');
select throws_ok($$ select private.reserve_stock('[]', 'checkout:three', now() + interval '1 minute') $$,
  '22023', 'lines is a non-empty array of {product_id, quantity}', 'an empty checkout is refused');
select throws_ok(
  format($$ select private.reserve_stock(jsonb_build_array(jsonb_build_object('product_id', %L, 'quantity', 1)), 'checkout:three', now() - interval '1 minute') $$,
         pg_temp.product_of('Lamp')),
  '22023', 'a reservation expires in the future', 'a reservation already expired is refused');

-- Seller view of the reservation while it is active; set_inventory below the reserved units is refused.
select tests.authenticate_as(tests.get_user_id('inv-seller@example.com'));
select is((select count(*)::integer from public.stock_reservations where reference = 'checkout:one'), 1, 'the seller sees the reservation');
select throws_ok(format($$ select public.set_inventory(%L, 2, null, 'shrinkage') $$, pg_temp.product_of('Lamp')), 'PT409',
  format('product %s has 3 reserved: on hand cannot be set below it', pg_temp.product_of('Lamp')), 'on hand is never set below reserved');

-- Consume, release, restock: once each ---------------------------------------------------------
select tests.authenticate_as_service_role();
select is(private.consume_reservations('checkout:one'), 1, 'consuming turns the reservation into a sale');
select is(pg_temp.level_of('Lamp'), '7/0/7', 'a sale takes on hand and reserved down together');
select is(private.consume_reservations('checkout:one'), 0, 'a repeated consume does nothing');
select is(private.release_reservations('checkout:one', 'cancelled'), 0, 'a consumed reservation is not released');
select is(pg_temp.level_of('Lamp'), '7/0/7', 'nothing changed by the repeats');
select isnt_empty($$ select 1 from private.reserve_stock(jsonb_build_array(jsonb_build_object('product_id', pg_temp.product_of('Lamp'), 'quantity', 7)),
                                                         'checkout:four', now() + interval '15 minutes') $$,
  'the last 7 units are reserved');
select is((select in_stock from public.products where id = pg_temp.product_of('Lamp')), false, 'with nothing available the product is out of stock');
select is(private.release_reservations('checkout:four', 'payment failed'), 1, 'releasing gives the units back');
select is(private.release_reservations('checkout:four', 'payment failed'), 0, 'a repeated release does nothing');
select is(pg_temp.level_of('Lamp'), '7/0/7', 'released: available again');
select is((select in_stock from public.products where id = pg_temp.product_of('Lamp')), true, 'and in stock again');
select is(private.restock(pg_temp.product_of('Lamp'), 2, 'shop_order_item:abc'), 1, 'a return puts units back');
select is(private.restock(pg_temp.product_of('Lamp'), 2, 'shop_order_item:abc'), 0, 'once per reference');
select is(private.restock(pg_temp.product_of('E-book'), 1, 'shop_order_item:def'), 0, 'a digital product has nothing to restock');
select results_eq(
  $$ select kind, on_hand_delta, reserved_delta, on_hand_after, reserved_after from public.stock_moves
      where product_id = pg_temp.product_of('Lamp') and kind <> 'adjustment' order by id $$,
  $$ values ('reservation', 0, 3, 10, 3), ('sale', -3, -3, 7, 0), ('reservation', 0, 7, 7, 7), ('release', 0, -7, 7, 0), ('return', 2, 0, 9, 0) $$,
  'the moves explain every change');
select is((select sum(on_hand_delta)::integer from public.stock_moves where product_id = pg_temp.product_of('Lamp')),
          (select on_hand from public.inventory_levels where product_id = pg_temp.product_of('Lamp')), 'on hand is the sum of its moves');

select tests.clear_authentication();
select throws_ok($$ update public.stock_moves set reason = 'rewritten' $$, '42501', 'stock moves are append-only', 'moves are never rewritten');
select throws_ok(format($$ delete from public.stock_moves where product_id = %L $$, pg_temp.product_of('Lamp')), '42501',
  'stock moves are append-only', 'moves are never deleted');

select * from finish();
rollback;
