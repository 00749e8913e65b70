-- The shop's notification events (issue 17): a shop order's status events go to its buyer
-- (shop_order.<status>), the seller hears their own (shop_sale.paid: a new order to fulfil,
-- shop_sale.cancelled, shop_sale.refunded), and the buyer of digital items hears that their
-- downloads are ready when the order is paid (private.transition_shop_order, 70_checkouts.sql).

insert into private.event_types (event_type, domain, description) values
  ('shop_order.download_ready', 'commerce', 'A paid shop order holds digital items: the buyer can download them (to the buyer)'),
  ('shop_sale.paid', 'commerce', 'A shop order was paid: the seller has a new order to fulfil (to the seller)'),
  ('shop_sale.cancelled', 'commerce', 'A shop order was cancelled (to the seller)'),
  ('shop_sale.refunded', 'commerce', 'A shop order''s payment was refunded (to the seller)');

update private.event_types set description = description || ' (to the buyer)'
 where event_type in ('shop_order.paid', 'shop_order.shipped', 'shop_order.delivered', 'shop_order.cancelled', 'shop_order.refunded');
