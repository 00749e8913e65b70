-- Carts: one per user, read by their owner only, changed through the cart RPCs, each change
-- checked against the product (active, of a selling shop, not the buyer's own) and what is
-- available now, with the precise refusal.
begin;
select plan(24);

select tests.create_user('ct-seller@example.com');
select tests.create_user('ct-buyer@example.com');
select tests.create_user('ct-stranger@example.com');
select tests.create_user('ct-staff@example.com');
insert into public.shops (id, shop_name, category) values (tests.get_user_id('ct-seller@example.com'), 'Cart shop', 'general');
select tests.grant_role('ct-seller@example.com', 'seller');
select tests.grant_role('ct-staff@example.com', 'staff');
insert into public.shipping_profiles (id, shop_id, name, currency)
values ('00000000-0000-0000-0000-0000000000c1', tests.get_user_id('ct-seller@example.com'), 'Std', 'USD');
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status) values
  ('00000000-0000-0000-0000-00000000c001', tests.get_user_id('ct-seller@example.com'), 'Vase', 3000, 'USD', 'physical', '00000000-0000-0000-0000-0000000000c1', 'active'),
  ('00000000-0000-0000-0000-00000000c002', tests.get_user_id('ct-seller@example.com'), 'Draft', 3000, 'USD', 'physical', '00000000-0000-0000-0000-0000000000c1', 'draft'),
  ('00000000-0000-0000-0000-00000000c003', tests.get_user_id('ct-seller@example.com'), 'Old', 3000, 'USD', 'physical', '00000000-0000-0000-0000-0000000000c1', 'active');
update public.products set status = 'archived' where title = 'Old';
select private.move_stock('00000000-0000-0000-0000-00000000c001', 'adjustment', 4, 0, 'stock', 'test');

select tests.act_as('ct-buyer@example.com');
select is((public.add_cart_item('00000000-0000-0000-0000-00000000c001', 2)).quantity, 2, 'a buyer adds a product');
select is((public.add_cart_item('00000000-0000-0000-0000-00000000c001', 1)).quantity, 3, 'adding it again adds to its line');
select throws_ok($$ select public.add_cart_item('00000000-0000-0000-0000-00000000c001', 2) $$, 'PT409',
  'product 00000000-0000-0000-0000-00000000c001 has only 4 available, 5 requested', 'beyond what is available: the precise message');
select throws_ok($$ select public.add_cart_item('00000000-0000-0000-0000-00000000c001', 0) $$, '22023',
  'quantity must be a whole number from 1 to 10000, not 0', 'a quantity of 0');
select throws_ok($$ select public.add_cart_item('00000000-0000-0000-0000-00000000c001', -1) $$, '22023',
  'quantity must be a whole number from 1 to 10000, not -1', 'a negative quantity');
select throws_ok($$ select public.add_cart_item('00000000-0000-0000-0000-00000000c002') $$, 'PT404',
  'product 00000000-0000-0000-0000-00000000c002 not found', 'a draft is not found');
select throws_ok($$ select public.add_cart_item('00000000-0000-0000-0000-00000000c003') $$, 'PT409',
  'product 00000000-0000-0000-0000-00000000c003 is archived: only active products can be bought', 'an archived product');
select throws_ok($$ select public.add_cart_item('00000000-0000-0000-0000-00000000cfff') $$, 'PT404',
  'product 00000000-0000-0000-0000-00000000cfff not found', 'an unknown product');
select is((select count(*)::integer from public.cart_items), 1, 'the buyer reads their cart''s line');
select is((public.get_cart() -> 'subtotals' -> 0 ->> 'amount'), '9000', 'get_cart prices it at today''s price');
select is((public.get_cart() -> 'items' -> 0 ->> 'available'), '4', 'get_cart shows what is available');
select is((public.update_cart_item((select id from public.cart_items), 4)).quantity, 4, 'the buyer sets a quantity');
select throws_ok(format($$ select public.update_cart_item(%L, 5) $$, (select id from public.cart_items)), 'PT409',
  'product 00000000-0000-0000-0000-00000000c001 has only 4 available, 5 requested', 'an update beyond what is available');

select tests.act_as('ct-seller@example.com');
select throws_ok($$ select public.add_cart_item('00000000-0000-0000-0000-00000000c001') $$, '42501',
  'product 00000000-0000-0000-0000-00000000c001 is from your own shop: you cannot buy it', 'a seller cannot buy from their own shop');
select is((select count(*)::integer from public.cart_items), 0, 'the seller reads nobody''s cart');

select tests.act_as('ct-stranger@example.com');
select is((select count(*)::integer from public.cart_items) + (select count(*)::integer from public.carts), 0, 'a stranger reads no cart');
select tests.clear_authentication();
select id as buyer_item from public.cart_items c where c.user_id = tests.get_user_id('ct-buyer@example.com') \gset
select tests.act_as('ct-stranger@example.com');
select throws_ok(format($$ select public.update_cart_item(%L, 1) $$, :'buyer_item'),
  'PT404', format('cart item %s not found', :'buyer_item'), 'a stranger cannot change another''s line');
select tests.act_as('ct-staff@example.com');
select is((select count(*)::integer from public.cart_items), 0, 'staff read no cart either (a cart is the user''s alone)');
select tests.act_as('anon');
select throws_ok($$ select count(*) from public.cart_items $$, '42501', 'permission denied for table cart_items', 'anon reads no cart');
select throws_ok($$ select public.add_cart_item('00000000-0000-0000-0000-00000000c001') $$, '42501',
  'permission denied for function add_cart_item', 'anon cannot add to a cart');

-- A shop that stops selling: its products cannot be added.
select tests.clear_authentication();
update public.shops set is_active = false where id = tests.get_user_id('ct-seller@example.com');
select tests.act_as('ct-stranger@example.com');
select throws_ok($$ select public.add_cart_item('00000000-0000-0000-0000-00000000c001') $$, 'PT409',
  format('shop %s is not selling: product 00000000-0000-0000-0000-00000000c001 cannot be bought', tests.get_user_id('ct-seller@example.com')),
  'a product of an inactive shop');

select tests.act_as('ct-buyer@example.com');
select lives_ok(format($$ select public.remove_cart_item(%L) $$, (select id from public.cart_items)), 'the buyer removes a line');
select throws_ok(format($$ select public.remove_cart_item(%L) $$, '00000000-0000-0000-0000-00000000dead'), 'PT404',
  'cart item 00000000-0000-0000-0000-00000000dead not found', 'removing an unknown line');
select is(public.clear_cart(), 0, 'clearing an empty cart removes nothing');
select tests.clear_authentication();

select * from finish();
rollback;
