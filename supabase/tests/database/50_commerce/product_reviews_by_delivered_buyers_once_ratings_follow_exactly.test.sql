-- Product reviews: only the buyer of a delivered shop order with the product reviews it,
-- once, with a rating from 1 to 5; the author edits it within product_review_edit_days and
-- is refused precisely after; moderators (content.moderate) hide with a reason; reviews are
-- public unless hidden; product_review_stats and the shop's rating_avg / review_count follow
-- every insert, edit, hide, restore and delete exactly; the author's deletion anonymises.
begin;
select plan(52);

select tests.create_user('pr-seller@example.com');
select tests.create_user('pr-buyer1@example.com');
select tests.create_user('pr-buyer2@example.com');
select tests.create_user('pr-waiting@example.com');
select tests.create_user('pr-stranger@example.com');
select tests.create_user('pr-staff@example.com');
select tests.grant_role('pr-staff@example.com', 'staff');
select tests.grant_role('pr-seller@example.com', 'seller');
insert into public.shops (id, shop_name, category) values (tests.get_user_id('pr-seller@example.com'), 'Review shop', 'general');
select tests.get_user_id('pr-seller@example.com') as shop \gset
insert into public.shipping_profiles (id, shop_id, name, currency) values ('00000000-0000-0000-0000-0000000000c1', :'shop', 'Std', 'USD');
insert into public.products (id, shop_id, title, price, currency, kind, status, shipping_profile_id) values
  ('00000000-0000-0000-0000-0000000000a1', :'shop', 'Vase A', 1500, 'USD', 'physical', 'active', '00000000-0000-0000-0000-0000000000c1'),
  ('00000000-0000-0000-0000-0000000000a2', :'shop', 'Vase B', 2500, 'USD', 'physical', 'active', '00000000-0000-0000-0000-0000000000c1');

-- A shop order of one product for a buyer, moved to a status as the payment and fulfilment
-- would (the fixture stands in for checkout and payment, which have their own tests).
create function pg_temp.order_of(email text, product uuid, to_status text) returns uuid language plpgsql security definer as $$
declare
  c uuid;
  o uuid;
  price bigint := (select p.price from public.products p where p.id = product);
begin
  insert into public.checkouts (buyer_id, idempotency_key, currency, items_subtotal, shipping_total, discount_total, tax_total, total, expires_at)
  values (tests.get_user_id(email), 'request:' || gen_random_uuid(), 'USD', price, 0, 0, 0, price, now() + interval '30 minutes')
  returning id into c;
  insert into public.shop_orders (checkout_id, shop_id, buyer_id, currency, items_subtotal, shipping_amount, discount_amount, tax_rate_bps, tax_amount, total)
  values (c, (select p.shop_id from public.products p where p.id = product), tests.get_user_id(email), 'USD', price, 0, 0, 0, 0, price)
  returning id into o;
  insert into public.shop_order_items (shop_order_id, product_id, title, kind, unit_price, quantity, line_total)
  values (o, product, 'item', 'physical', price, 1, price);
  if to_status in ('paid', 'shipped', 'delivered') then perform private.transition_shop_order(o, 'paid', 'system'); end if;
  if to_status in ('shipped', 'delivered') then perform private.transition_shop_order(o, 'shipped', 'seller'); end if;
  if to_status = 'delivered' then perform private.transition_shop_order(o, 'delivered', 'system'); end if;
  return o;
end
$$;
create function pg_temp.stats(product uuid) returns table (review_count integer, rating_avg numeric) language sql security definer as $$
  select review_count, rating_avg from public.product_review_stats where product_id = product
$$;
create function pg_temp.shop_rating() returns table (review_count integer, rating_avg numeric) language sql security definer as $$
  select review_count, rating_avg from public.shops where shop_name = 'Review shop'
$$;
create function pg_temp.review_by(email text, product uuid) returns uuid language sql security definer as $$
  select id from public.product_reviews where author_id = tests.get_user_id(email) and product_id = product
$$;
grant execute on all functions in schema pg_temp to anon, authenticated, service_role;

select pg_temp.order_of('pr-buyer1@example.com', '00000000-0000-0000-0000-0000000000a1', 'delivered') as order1 \gset
select pg_temp.order_of('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a1', 'delivered');
select pg_temp.order_of('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a2', 'delivered');
select pg_temp.order_of('pr-waiting@example.com', '00000000-0000-0000-0000-0000000000a1', 'shipped') as waiting \gset
-- buyer1 also has an order of B that was cancelled before delivery
select pg_temp.order_of('pr-buyer1@example.com', '00000000-0000-0000-0000-0000000000a2', 'awaiting_payment') as cancelled \gset
select private.transition_shop_order(:'cancelled', 'cancelled', 'buyer');

-- writing -------------------------------------------------------------------------------
select tests.act_as('pr-buyer1@example.com');
select lives_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', 4, 'Clear instructions') $$,
  'the buyer of a delivered order reviews the product');
select results_eq(
  $$ select author_id, shop_id, rating, body, is_hidden from public.product_reviews $$,
  format($$ values (%L::uuid, %L::uuid, 4::smallint, 'Clear instructions'::text, false) $$, tests.get_user_id('pr-buyer1@example.com'), :'shop'),
  'author and shop are derived'
);
select is((select shop_order_id from public.product_reviews), :'order1'::uuid, 'the delivered order that made them a buyer is recorded');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', 5) $$, '23505',
  'you have already reviewed product 00000000-0000-0000-0000-0000000000a1: edit that review instead', 'a second review is refused');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a2', 5) $$, '42501',
  'only a buyer of a delivered order of product 00000000-0000-0000-0000-0000000000a2 may review it',
  'a cancelled order makes no buyer');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', 0) $$, '22023',
  'a rating is a whole number from 1 to 5', 'rating 0');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', 6) $$, '22023',
  'a rating is a whole number from 1 to 5', 'rating 6');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', null) $$, '22023',
  'a rating is a whole number from 1 to 5', 'no rating');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000ff', 3) $$, 'PT404',
  'product 00000000-0000-0000-0000-0000000000ff not found', 'an unknown product');
select throws_ok($$ insert into public.product_reviews (product_id, shop_id, rating) values ('00000000-0000-0000-0000-0000000000a2', auth.uid(), 5) $$,
  '42501', 'permission denied for table product_reviews', 'no direct inserts');

select tests.act_as('pr-waiting@example.com');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', 5) $$, 'PT409',
  format('your shop order %s of product 00000000-0000-0000-0000-0000000000a1 is shipped: reviews open once it is delivered', :'waiting'),
  'a buyer whose order is not delivered yet is told so');
select tests.act_as('pr-stranger@example.com');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', 1) $$, '42501',
  'only a buyer of a delivered order of product 00000000-0000-0000-0000-0000000000a1 may review it', 'a stranger cannot review');
select tests.act_as('pr-seller@example.com');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', 5) $$, '42501',
  'only a buyer of a delivered order of product 00000000-0000-0000-0000-0000000000a1 may review it', 'the seller cannot review their own product');
select tests.act_as('anon');
select throws_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', 5) $$, '42501',
  'permission denied for function review_product', 'anon cannot review');

select tests.act_as('pr-buyer2@example.com');
select lives_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a1', 2) $$, 'a second buyer reviews A');
select lives_ok($$ select public.review_product('00000000-0000-0000-0000-0000000000a2', 5, 'Great') $$, '... and B');

select tests.clear_authentication();
select results_eq(
  $$ select recipients, payload ->> 'rating' from private.domain_events where event_type = 'product_review.created' order by id $$,
  format($$ values (array[%L::uuid], '4'::text), (array[%L::uuid], '2'), (array[%L::uuid], '5') $$, :'shop', :'shop', :'shop'),
  'each review tells the shop''s seller (product_review.created)'
);
select tests.act_as('pr-buyer2@example.com');

-- aggregates ----------------------------------------------------------------------------
select results_eq($$ select * from pg_temp.stats('00000000-0000-0000-0000-0000000000a1') $$, $$ values (2, 3.00::numeric) $$,
  'product A: two reviews, mean 3');
select results_eq($$ select * from pg_temp.stats('00000000-0000-0000-0000-0000000000a2') $$, $$ values (1, 5.00::numeric) $$,
  'product B: one review, 5');
select results_eq($$ select * from pg_temp.shop_rating() $$, $$ values (3, 3.67::numeric) $$,
  'the shop: three reviews over its products, mean (4 + 2 + 5) / 3 = 3.67');
select tests.act_as('anon');
select results_eq($$ select rating_avg, review_count from public.shop_profiles where shop_name = 'Review shop' $$,
  $$ values (3.67::numeric, 3) $$, 'anon reads the shop''s rating and count on its profile');
select results_eq($$ select review_count, rating_avg from public.product_review_stats where product_id = '00000000-0000-0000-0000-0000000000a1' $$,
  $$ values (2, 3.00::numeric) $$, 'anon reads a product''s stats');
select is((select count(*)::integer from public.product_reviews), 3, 'anon reads the visible reviews');
select throws_ok($$ update public.product_review_stats set review_count = 100 $$, '42501',
  'permission denied for table product_review_stats', 'stats are not client-writable');

-- editing -------------------------------------------------------------------------------
select tests.act_as('pr-buyer2@example.com');
select lives_ok(format($$ update public.product_reviews set rating = 4, body = 'Better on reread' where id = %L $$,
  pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a1')), 'the author edits within the window');
select isnt((select edited_at from public.product_reviews where id = pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a1')),
  null, 'the edit is stamped');
select results_eq($$ select * from pg_temp.stats('00000000-0000-0000-0000-0000000000a1') $$, $$ values (2, 4.00::numeric) $$,
  'the edit moves the product''s mean');
select results_eq($$ select * from pg_temp.shop_rating() $$, $$ values (3, 4.33::numeric) $$, '... and the shop''s');
select throws_ok(format($$ update public.product_reviews set rating = 9 where id = %L $$,
  pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a1')), '22023',
  'a rating is a whole number from 1 to 5', 'an edit to rating 9 is refused');
select throws_ok(format($$ update public.product_reviews set author_id = auth.uid(), shop_id = auth.uid() where id = %L $$,
  pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a1')), '42501',
  'permission denied for table product_reviews', 'only rating and body are editable');
select tests.act_as('pr-stranger@example.com');
select is_empty(format($$ update public.product_reviews set rating = 1 where id = %L returning id $$,
  pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a1')), 'a stranger edits nothing');
select tests.act_as('pr-seller@example.com');
select is_empty(format($$ update public.product_reviews set rating = 5 where id = %L returning id $$,
  pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a1')), 'the seller edits nothing');

-- after the window (31 days ago, with the 30-day setting)
select tests.clear_authentication();
update public.product_reviews set created_at = now() - interval '31 days' where id = pg_temp.review_by('pr-buyer1@example.com', '00000000-0000-0000-0000-0000000000a1');
select tests.act_as('pr-buyer1@example.com');
select throws_ok(format($$ update public.product_reviews set body = 'Late' where id = %L $$, pg_temp.review_by('pr-buyer1@example.com', '00000000-0000-0000-0000-0000000000a1')),
  'PT409', format('review %s was written on %s: reviews can be edited for 30 days',
                  pg_temp.review_by('pr-buyer1@example.com', '00000000-0000-0000-0000-0000000000a1'), (now() - interval '31 days')::date),
  'an edit after the window is refused precisely');
select tests.clear_authentication();
update public.platform_settings set value = '60' where key = 'product_review_edit_days';
select tests.act_as('pr-buyer1@example.com');
select lives_ok(format($$ update public.product_reviews set body = 'Late but allowed' where id = %L $$,
  pg_temp.review_by('pr-buyer1@example.com', '00000000-0000-0000-0000-0000000000a1')), 'the window is the platform setting');

-- moderation ----------------------------------------------------------------------------
select tests.act_as('pr-buyer1@example.com');
select throws_ok(format($$ select public.moderate_product_review(%L, true, 'spam') $$,
  pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a2')), '42501',
  'permission denied: content.moderate is required', 'a user cannot moderate');
select tests.act_as('pr-staff@example.com');
select throws_ok(format($$ select public.moderate_product_review(%L, true, ' ') $$,
  pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a2')), '22023',
  'hiding a review needs a reason', 'hiding needs a reason');
select throws_ok($$ select public.moderate_product_review('00000000-0000-0000-0000-0000000000ff', true, 'spam') $$, 'PT404',
  'product review 00000000-0000-0000-0000-0000000000ff not found', 'an unknown review');
select is((public.moderate_product_review(pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a2'), true, 'off-topic')).hidden_by,
  tests.get_user_id('pr-staff@example.com'), 'staff (content.moderate) hide a review, recorded as theirs');
select is((select count(*)::integer from public.product_reviews), 3, 'moderators still read the hidden review');
select results_eq($$ select * from pg_temp.stats('00000000-0000-0000-0000-0000000000a2') $$, $$ values (0, null::numeric) $$,
  'a hidden review leaves the product''s stats');
select results_eq($$ select * from pg_temp.shop_rating() $$, $$ values (2, 4.00::numeric) $$, '... and the shop''s rating');
select tests.act_as('anon');
select is((select count(*)::integer from public.product_reviews), 2, 'anon no longer reads it');
select tests.act_as('pr-buyer2@example.com');
select is((select count(*)::integer from public.product_reviews where is_hidden), 1, 'its author still reads it');
select is_empty(format($$ update public.product_reviews set rating = 1 where id = %L returning id $$,
  pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a2')), 'but cannot edit it while hidden');
select tests.act_as('pr-staff@example.com');
select lives_ok(format($$ select public.moderate_product_review(%L, false) $$, pg_temp.review_by('pr-buyer2@example.com', '00000000-0000-0000-0000-0000000000a2')),
  'staff restore it');
select results_eq($$ select * from pg_temp.shop_rating() $$, $$ values (3, 4.33::numeric) $$, 'restored: it counts again');

-- a deactivated shop: its reviews leave the public with its products ---------------------
select tests.clear_authentication();
update public.shops set is_active = false where id = :'shop';
select tests.act_as('anon');
select is((select count(*)::integer from public.product_reviews), 0, 'anon reads no review of a deactivated shop');
select tests.act_as('pr-stranger@example.com');
select is((select count(*)::integer from public.product_reviews), 0, 'nor does a stranger');
select tests.act_as('pr-seller@example.com');
select is((select count(*)::integer from public.product_reviews), 3, 'its seller still reads them');
select tests.clear_authentication();
update public.shops set is_active = true where id = :'shop';

-- deletion ------------------------------------------------------------------------------
select tests.act_as('pr-buyer2@example.com');
select is_empty($$ delete from public.product_reviews returning id $$, 'an author cannot delete their review');
select tests.clear_authentication();
delete from auth.users where email = 'pr-buyer1@example.com';
select results_eq($$ select author_id is null, rating from public.product_reviews where shop_order_id = $$ || quote_literal(:'order1'),
  $$ values (true, 4::smallint) $$, 'a deleted author''s review stays, anonymised');
select results_eq($$ select * from pg_temp.shop_rating() $$, $$ values (3, 4.33::numeric) $$, '... and still counts');

select * from finish();
rollback;
