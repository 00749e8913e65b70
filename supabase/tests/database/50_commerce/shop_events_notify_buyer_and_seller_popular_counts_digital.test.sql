-- The shop's events become notifications (the catalogue's rules for the shop, 70_notifications)
-- for the right party with the right words: the seller hears of an order placed, then "a new order
-- to fulfil" when it is paid; the buyer gets a receipt, their download ready (a digital item),
-- the carrier and tracking when it ships and an invitation to review when it is delivered; low
-- stock reaches the seller once per fall to the reorder level, not on every sale. Every rule has
-- its e-mail template in English and Korean. "Popular" counts paid units of a digital product as
-- it counts a physical one's.
begin;
select plan(22);

select tests.create_user('sn-seller@example.com');
select tests.create_user('sn-buyer@example.com');
insert into public.shops (id, shop_name, category) values (tests.get_user_id('sn-seller@example.com'), 'Shop N', 'general');
select tests.grant_role('sn-seller@example.com', 'seller');
insert into public.shipping_profiles (id, shop_id, name, currency) values
  ('00000000-0000-0000-0000-0000000000e1', tests.get_user_id('sn-seller@example.com'), 'Std', 'USD');
insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days) values
  ('00000000-0000-0000-0000-0000000000e1', '*', 500, 0, 2, 5);
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status, sku) values
  ('00000000-0000-0000-0000-00000000e001', tests.get_user_id('sn-seller@example.com'), 'Mug', 1500, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000000e1', 'active', 'SN-MUG');
insert into public.products (id, shop_id, title, price, currency, kind, sku) values
  ('00000000-0000-0000-0000-00000000e002', tests.get_user_id('sn-seller@example.com'), 'Pattern', 700, 'USD', 'digital', 'SN-PAT');
insert into storage.objects (bucket_id, name, owner_id, metadata)
values ('product-files', tests.get_user_id('sn-seller@example.com') || '/00000000-0000-0000-0000-00000000e002/pattern.pdf',
        tests.get_user_id('sn-seller@example.com'), '{"mimetype": "application/pdf", "size": 1000}');
update public.products set digital_file_path = shop_id || '/' || id || '/pattern.pdf', status = 'active'
 where id = '00000000-0000-0000-0000-00000000e002';
select private.move_stock('00000000-0000-0000-0000-00000000e001', 'adjustment', 5, 0, 'stock', 'test');
update public.inventory_levels set reorder_level = 3 where product_id = '00000000-0000-0000-0000-00000000e001';
insert into public.addresses (id, user_id, full_name, address_line1, city, country_code) values
  ('00000000-0000-0000-0000-0000000000af', tests.get_user_id('sn-buyer@example.com'), 'Buyer', '1 Main St', 'New York', 'US');

create function pg_temp.place(items jsonb) returns uuid language sql as $$
  select (public.place_order(items, '00000000-0000-0000-0000-0000000000af')).id
$$;
grant execute on function pg_temp.place(jsonb) to authenticated;
create function pg_temp.pay(checkout uuid) returns text language sql as $$
  select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_' || replace(checkout::text, '-', ''), 'object', 'event',
    'type', 'checkout.session.completed', 'created', extract(epoch from now())::bigint,
    'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_' || replace(checkout::text, '-', ''), 'payment_status', 'paid',
      'payment_intent', 'pi_' || replace(checkout::text, '-', ''), 'amount_total', (select total from public.checkouts where id = checkout), 'currency', 'usd',
      'metadata', jsonb_build_object('checkout_id', checkout)))))
$$;
create function pg_temp.mug(quantity integer) returns jsonb language sql as $$
  select jsonb_build_array(jsonb_build_object('product_id', '00000000-0000-0000-0000-00000000e001', 'quantity', quantity))
$$;
grant execute on function pg_temp.mug(integer) to authenticated;
create function pg_temp.drain() returns integer language plpgsql as $$
declare n integer; total integer := 0;
begin
  loop
    n := private.consume_notification_events();
    total := total + n;
    exit when n = 0;
  end loop;
  return total;
end $$;

-- One mug and the digital pattern, paid ---------------------------------------------------------
select tests.act_as('sn-buyer@example.com');
select pg_temp.place(pg_temp.mug(1) || jsonb_build_array(jsonb_build_object('product_id', '00000000-0000-0000-0000-00000000e002',
                                                                         'quantity', 1))) as checkout \gset
select tests.act_as('postgres');
select id as order_id from public.shop_orders where checkout_id = :'checkout' \gset
select is(pg_temp.pay(:'checkout'), 'applied', 'the order is paid');
select results_eq($$ select title, popularity from public.search_products(seller_id => tests.get_user_id('sn-seller@example.com'), sort => 'popular')
                     order by title $$,
  $$ values ('Mug', 10::bigint), ('Pattern', 10::bigint) $$, 'popular counts the digital pattern''s sale as it counts the mug''s');

-- Shipped and delivered by the seller ----------------------------------------------------------
select tests.act_as('sn-seller@example.com');
select (public.ship_shop_order(:'order_id', 'UPS', '1Z999', 'https://ups.example/1Z999')).status as shipped \gset
select (public.deliver_shop_order(:'order_id')).status as delivered \gset
select tests.act_as('postgres');
select ok(pg_temp.drain() > 0, 'the consumer takes the shop''s events');

select results_eq(format($$ select event_type, title, body, action_url from public.notifications
                             where user_id = tests.get_user_id('sn-seller@example.com') order by event_id $$),
  format($$ values ('checkout.placed', 'New order placed', 'A buyer placed an order in your shop; it awaits payment.', '/seller/orders'),
                   ('shop_sale.paid', 'New order to fulfil: 27.00 USD', 'An order was paid: prepare and ship it.', '/seller/orders/%s') $$,
         :'order_id'),
  'the seller hears of the order placed, then of a new order to fulfil when it is paid (not of their own shipping)');
select results_eq(format($$ select event_type, title from public.notifications
                             where user_id = tests.get_user_id('sn-buyer@example.com') order by event_id $$),
  $$ values ('shop_order.paid', 'Receipt: 27.00 USD paid to Shop N'),
            ('shop_order.download_ready', 'Your download is ready'),
            ('shop_order.shipped', 'Your order from Shop N shipped'),
            ('shop_order.delivered', 'Your order from Shop N was delivered') $$,
  'the buyer gets the receipt, the download, the shipping and the delivery');
select is((select body from public.notifications where event_type = 'shop_order.shipped' and user_id = tests.get_user_id('sn-buyer@example.com')),
  'Carrier UPS, tracking number 1Z999.', 'the shipping notice names the carrier and tracking number');
select is((select payload ->> 'tracking_url' from public.notifications where event_type = 'shop_order.shipped' and user_id = tests.get_user_id('sn-buyer@example.com')),
  'https://ups.example/1Z999', 'and carries the tracking URL');
select is((select action_url from public.notifications where event_type = 'shop_order.delivered' and user_id = tests.get_user_id('sn-buyer@example.com')),
  '/shop/orders/' || :'order_id' || '/review', 'the delivery invites a review');
select is((select body from public.notifications where event_type = 'shop_order.download_ready' and user_id = tests.get_user_id('sn-buyer@example.com')),
  'You can download Pattern now.', 'the download notice names the digital item');
select is((select category from public.notifications where event_type = 'shop_order.paid' and user_id = tests.get_user_id('sn-buyer@example.com')), 'payments',
  'the receipt is a payments notification (critical: always delivered)');
select results_eq(format($$ select template_key from public.email_deliveries where recipient_id = tests.get_user_id('sn-buyer@example.com')
                             order by template_key $$),
  $$ values ('shop_order.delivered'), ('shop_order.download_ready'), ('shop_order.paid'), ('shop_order.shipped') $$,
  'the buyer is mailed each of them');
select is((select count(*)::integer from public.email_deliveries where recipient_id = tests.get_user_id('sn-seller@example.com')), 2,
  'the seller is mailed the order placed and the order to fulfil');

-- Low stock: once per fall to the reorder level --------------------------------------------------
select is((select available from public.inventory_levels where product_id = '00000000-0000-0000-0000-00000000e001'), 4, '4 mugs left');
select tests.act_as('sn-buyer@example.com');
select pg_temp.place(pg_temp.mug(1)) as second \gset
select tests.act_as('postgres');
select is(pg_temp.pay(:'second'), 'applied', 'a second mug is sold: 3 left, the reorder level');
select tests.act_as('sn-buyer@example.com');
select pg_temp.place(pg_temp.mug(1)) as third \gset
select tests.act_as('postgres');
select is(pg_temp.pay(:'third'), 'applied', 'a third: 2 left');
select is((select count(*)::integer from private.domain_events where event_type = 'stock.low'
            and subject_id = '00000000-0000-0000-0000-00000000e001'), 1, 'low stock is told once, not on every sale below the level');
select tests.act_as('sn-seller@example.com');
select (public.adjust_inventory('00000000-0000-0000-0000-00000000e001', 5, 'restocked')).available as restocked \gset
select tests.act_as('sn-buyer@example.com');
select pg_temp.place(pg_temp.mug(4)) as fourth \gset
select tests.act_as('postgres');
select is((select count(*)::integer from private.domain_events where event_type = 'stock.low'
            and subject_id = '00000000-0000-0000-0000-00000000e001'), 2, 'restocked, then down to the level again: told again');
select ok(pg_temp.drain() > 0, 'the consumer takes them');
select results_eq(format($$ select title, body, category from public.notifications
                             where user_id = tests.get_user_id('sn-seller@example.com') and event_type = 'stock.low' order by created_at $$),
  $$ values ('Low stock: Mug', '3 left, at or below your reorder level of 3.', 'inventory'),
            ('Low stock: Mug', '3 left, at or below your reorder level of 3.', 'inventory') $$,
  'the seller''s low-stock notices');
select is((select count(*)::integer from public.notifications
            where user_id = tests.get_user_id('sn-buyer@example.com') and event_type like 'stock.%'), 0, 'the buyer hears nothing of stock');

-- Every shop rule has its e-mail in English and Korean ------------------------------------------
select is_empty($$ select r.template_key, l.locale from private.notification_rules r
                     cross join (values ('en'), ('ko')) l (locale)
                    where r.event_type in (select event_type from private.event_types where domain = 'commerce')
                      and not exists (select 1 from private.email_templates t where t.key = r.template_key and t.locale = l.locale) $$,
  'every commerce rule has an en and a ko template');
select is_empty($$ select e.event_type from private.event_types e
                    where e.domain = 'commerce' and e.event_type <> 'product.published'
                      and not exists (select 1 from private.notification_rules r where r.event_type = e.event_type) $$,
  'every commerce event with recipients has a rule (product.published has none yet)');

select * from finish();
rollback;
