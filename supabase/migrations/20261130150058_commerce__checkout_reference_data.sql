-- The checkout's reference data (carts, coupons, checkouts and shop orders, issue 17): how
-- long a placed checkout holds its stock (30 minutes), the shop order state machine's allowed
-- transitions, the event types the checkout emits, the personal data it holds and what
-- keeps an account with open shop orders from being erased.

insert into public.platform_settings (key, value) values ('checkout_reservation_minutes', '30');

-- The shop order state machine (private.shop_order_transitions, 70_checkouts.sql): who may move
-- a shop order from which status to which. admin = a holder of commerce.manage; system = the
-- payment webhook, the expiry job, carriers' confirmations.
insert into private.shop_order_transitions (from_status, to_status, actor) values
  ('awaiting_payment', 'paid', 'system'),
  ('awaiting_payment', 'cancelled', 'buyer'),
  ('awaiting_payment', 'cancelled', 'seller'),
  ('awaiting_payment', 'cancelled', 'admin'),
  ('awaiting_payment', 'cancelled', 'system'),
  ('paid', 'shipped', 'seller'),
  ('paid', 'shipped', 'admin'),
  ('paid', 'cancelled', 'buyer'),
  ('paid', 'cancelled', 'seller'),
  ('paid', 'cancelled', 'admin'),
  ('paid', 'refunded', 'admin'),
  ('paid', 'refunded', 'system'),
  ('shipped', 'delivered', 'seller'),
  ('shipped', 'delivered', 'admin'),
  ('shipped', 'delivered', 'system'),
  ('shipped', 'refunded', 'admin'),
  ('delivered', 'refunded', 'admin'),
  ('delivered', 'refunded', 'system');

-- Event types (private.event_types).
insert into private.event_types (event_type, domain, description) values
  ('checkout.placed', 'commerce', 'A buyer placed a checkout: one shop order per shop awaits payment (to the sellers)'),
  ('checkout.expired', 'commerce', 'An unpaid checkout expired or its payment failed: stock and coupon released (to the buyer)'),
  ('shop_order.paid', 'commerce', 'A shop order''s payment was confirmed'),
  ('shop_order.shipped', 'commerce', 'The seller shipped a shop order'),
  ('shop_order.delivered', 'commerce', 'A shop order was delivered'),
  ('shop_order.cancelled', 'commerce', 'A shop order was cancelled (by a party, staff, or expiry of its checkout)'),
  ('shop_order.refunded', 'commerce', 'A shop order''s payment was refunded');

-- Personal data (private.personal_data). The cart is the user's alone and goes with them;
-- checkouts, shop orders and coupon redemptions are the sellers' and the books' record too:
-- they stay, without the buyer (an open one blocks erasure, below).
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.carts', 'user_id', null, 'delete', true, '{}', 'the user''s cart'),
  ('public.cart_items', 'user_id', null, 'delete', true, '{}', 'the products in the user''s cart'),
  ('public.checkouts', 'buyer_id', null, 'anonymise', true, '{}',
   'a checkout is the sellers'' and the books'' record: it stays, without the buyer'),
  ('public.shop_orders', 'buyer_id', null, 'anonymise', true, '{}',
   'a shop order is the seller''s and the books'' record: it stays, without the buyer'),
  ('public.shop_orders', 'shop_id', null, 'anonymise', true, '{buyer_id,shipping_address}',
   'a shop order is the buyer''s record: it stays, without the shop; the seller''s export leaves out the buyer'),
  ('public.shop_order_items', 'shop_order_id',
   't.shop_order_id in (select o.id from public.shop_orders o where $1 in (o.buyer_id, o.shop_id))',
   'keep', true, '{}', 'the items of the user''s shop orders, as bought or as sold'),
  ('public.coupon_redemptions', 'user_id', null, 'anonymise', true, '{}',
   'a coupon''s use counts in its statistics: it stays, without the buyer'),
  ('public.coupons', 'shop_id', null, 'delete', true, '{}', 'the seller''s coupons (cascade with their shop)');

-- What keeps an account from being erased (private.erasure_blockers, read by ops.erase_account).
insert into private.erasure_blockers (name, check_function, position, reason) values
  ('open_shop_orders', 'private.open_shop_orders_blocking_erasure(uuid)', 45,
   'a shop order awaiting payment, paid or shipped has a buyer and a seller counting on it');
