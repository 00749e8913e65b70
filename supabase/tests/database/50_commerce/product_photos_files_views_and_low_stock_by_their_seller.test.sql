-- Photos and files of products: only the product's seller (and staff) write objects under
-- <shop id>/<product id>/ in product-images (public by URL, images only) and product-files
-- (private: nobody but the seller and staff reads); product_images rows are read as their
-- product is. Views count once per viewer and day, never the seller's own; popular ranks by
-- views and sales. The low-stock list shows a seller their own products, staff all, and
-- stock.low is emitted once when available falls to the reorder level. A seller whose stock
-- is held for checkouts in flight is not erased.
begin;
select plan(36);

select tests.create_user('photo-seller@example.com');
select tests.create_user('photo-other@example.com');
select tests.create_user('photo-buyer@example.com');
select tests.create_user('photo-staff@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('photo-seller@example.com'), 'Photo shop', 'general'),
       (tests.get_user_id('photo-other@example.com'), 'Other photo shop', 'general');
select tests.grant_role('photo-seller@example.com', 'seller');
select tests.grant_role('photo-other@example.com', 'seller');
select tests.grant_role('photo-staff@example.com', 'staff');

create function pg_temp.product_of(title text) returns uuid language sql security definer as $$
  select id from public.products p where p.title = product_of.title
$$;
grant execute on function pg_temp.product_of(text) to authenticated, anon, service_role;
create function pg_temp.folder(title text) returns text language sql security definer as $$
  select p.shop_id || '/' || p.id || '/' from public.products p where p.title = folder.title
$$;
grant execute on function pg_temp.folder(text) to authenticated, anon, service_role;

select tests.authenticate_as(tests.get_user_id('photo-seller@example.com'));
insert into public.shipping_profiles (name, currency) values ('Photo standard', 'USD');
insert into public.products (title, price, currency, shipping_profile_id, status)
select v.t, v.p, 'USD', sp.id, 'active' from public.shipping_profiles sp, (values ('가죽 가방을 팝니다', 3000), ('Wool scarf', 2000)) v (t, p)
 where sp.shop_id = auth.uid();
insert into public.products (title, price, currency, kind) values ('Sewing e-book', 900, 'USD', 'digital');

-- Objects ---------------------------------------------------------------------------------------
select lives_ok($$ insert into storage.objects (bucket_id, name, owner) values ('product-images', pg_temp.folder('Wool scarf') || 'front.png', auth.uid()) $$,
  'the seller uploads a photo into the product''s folder');
select throws_ok($$ insert into storage.objects (bucket_id, name, owner) values ('product-images', pg_temp.folder('Wool scarf') || 'front.svg', auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'no SVG in the public bucket');
select throws_ok($$ insert into storage.objects (bucket_id, name, owner) values ('product-images', auth.uid() || '/00000000-0000-0000-0000-000000000009/x.png', auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'not under a product that is not theirs');
select lives_ok($$ insert into storage.objects (bucket_id, name, owner) values ('product-files', pg_temp.folder('Sewing e-book') || 'book.pdf', auth.uid()) $$,
  'the seller uploads the digital file');
select lives_ok($$ update public.products set digital_file_path = pg_temp.folder('Sewing e-book') || 'book.pdf', status = 'active' where title = 'Sewing e-book' $$,
  'with its file uploaded the digital product goes active');
select lives_ok($$ insert into public.product_images (product_id, path, position) values (pg_temp.product_of('Wool scarf'), pg_temp.folder('Wool scarf') || 'front.png', 0) $$,
  'the seller lists the photo on the product');
select throws_ok($$ insert into public.product_images (product_id, path) values (pg_temp.product_of('Wool scarf'), pg_temp.folder('Sewing e-book') || 'b.png') $$,
  '22023', format('an image of product %s lives under %s/%s/ in product-images', pg_temp.product_of('Wool scarf'), auth.uid(), pg_temp.product_of('Wool scarf')),
  'a photo row points into its own product''s folder');
select throws_ok($$ insert into public.product_images (product_id, path) values (pg_temp.product_of('Wool scarf'), pg_temp.folder('Wool scarf') || 'doc.pdf') $$,
  '22023', 'a product image is a png, jpeg, webp or gif file', 'a photo is an image');

select tests.authenticate_as(tests.get_user_id('photo-other@example.com'));
select throws_ok($$ insert into storage.objects (bucket_id, name, owner) values ('product-images', pg_temp.folder('Wool scarf') || 'fake.png', auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'another seller cannot upload into the product''s folder');
select is_empty($$ delete from storage.objects where bucket_id in ('product-images', 'product-files') and name like pg_temp.folder('Wool scarf') || '%' returning 1 $$,
  'nor delete its photos');
select is_empty($$ select 1 from storage.objects where bucket_id = 'product-files' and name like pg_temp.folder('Sewing e-book') || '%' $$,
  'nor read its digital file');
select throws_ok($$ insert into public.product_images (product_id, path) values (pg_temp.product_of('Wool scarf'), pg_temp.folder('Wool scarf') || 'fake.png') $$,
  '42501', 'new row violates row-level security policy for table "product_images"', 'nor list photos on it');
select tests.authenticate_as(tests.get_user_id('photo-buyer@example.com'));
select is_empty($$ select 1 from storage.objects where bucket_id = 'product-files' $$, 'a buyer reads no digital file before paying');
select results_eq($$ select position from public.product_images where product_id = pg_temp.product_of('Wool scarf') $$, $$ values (0) $$,
  'a buyer reads the photos of an active product');
select tests.authenticate_as_anon();
select results_eq($$ select position from public.product_images where product_id = pg_temp.product_of('Wool scarf') $$, $$ values (0) $$,
  'so does anon');
select is_empty($$ select 1 from storage.objects where bucket_id = 'product-images' $$, 'anon lists no objects (served by URL only)');
select tests.authenticate_as(tests.get_user_id('photo-staff@example.com'));
select isnt_empty($$ select 1 from storage.objects where bucket_id = 'product-files' and name like pg_temp.folder('Sewing e-book') || '%' $$,
  'staff read the digital file');

-- Search and views ------------------------------------------------------------------------------
select tests.clear_authentication();
insert into private.product_view_marks (product_id, day, viewer, user_id)
values (pg_temp.product_of('Wool scarf'), current_date - 3, tests.get_user_id('photo-buyer@example.com')::text, tests.get_user_id('photo-buyer@example.com'));
select tests.authenticate_as_anon();
select results_eq($$ select title from public.search_products(q => '가방', seller_id => tests.get_user_id('photo-seller@example.com')) $$,
  $$ values ('가죽 가방을 팝니다') $$, 'a Korean noun finds the title where a particle sticks to it (prefix search)');
select is(private.prefix_tsquery('가방 & !red:*'), $$'가방':* & 'red':*$$::tsquery, 'query operators are taken as spaces');
select is(public.record_product_view(pg_temp.product_of('Wool scarf')), true, 'anon''s first view counts');
select is(public.record_product_view(pg_temp.product_of('Wool scarf')), false, 'the same anonymous viewer counts once a day');
select tests.clear_authentication();
select is((select count(*)::integer from private.product_view_marks where product_id = pg_temp.product_of('Wool scarf') and day < current_date), 0,
  'the first view of the day cleared the marks of earlier days');
select tests.authenticate_as_anon();
select tests.authenticate_as(tests.get_user_id('photo-buyer@example.com'));
select is(public.record_product_view(pg_temp.product_of('Wool scarf')), true, 'a buyer''s first view counts');
select is(public.record_product_view(pg_temp.product_of('Wool scarf')), false, 'once a day');
select tests.authenticate_as(tests.get_user_id('photo-seller@example.com'));
select is(public.record_product_view(pg_temp.product_of('Wool scarf')), false, 'the seller''s own views do not count');
select tests.authenticate_as(tests.get_user_id('photo-buyer@example.com'));
select results_eq($$ select title, popularity from public.search_products(seller_id => tests.get_user_id('photo-seller@example.com'), sort => 'popular', of_kind => 'physical') $$,
  $$ values ('Wool scarf', 2::bigint), ('가죽 가방을 팝니다', 0::bigint) $$, 'popular ranks by views');
select throws_ok($$ select public.record_product_view('00000000-0000-0000-0000-000000000009') $$,
  'PT404', 'product 00000000-0000-0000-0000-000000000009 not found', 'an unknown product has no views');

-- Low stock --------------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('photo-seller@example.com'));
select lives_ok($$ select public.set_inventory(pg_temp.product_of('Wool scarf'), 5, 2, 'counted') $$, 'the seller stocks 5, reorder at 2');
select lives_ok($$ select public.set_inventory(pg_temp.product_of('가죽 가방을 팝니다'), 10, 1, 'counted') $$, 'and 10 bags, reorder at 1');
select lives_ok($$ select public.adjust_inventory(pg_temp.product_of('Wool scarf'), -3, 'moth damage') $$, 'three scarves go');
select results_eq($$ select title, available, reorder_level from public.list_low_stock() $$, $$ values ('Wool scarf', 2, 2) $$,
  'the seller''s low-stock list');
select tests.clear_authentication();
select is((select count(*)::integer from private.domain_events where event_type = 'stock.low' and subject_id = pg_temp.product_of('Wool scarf')
            and recipients = array[tests.get_user_id('photo-seller@example.com')]), 1, 'stock.low told the seller once');
select tests.authenticate_as(tests.get_user_id('photo-other@example.com'));
select is_empty($$ select 1 from public.list_low_stock() where shop_id = tests.get_user_id('photo-seller@example.com') $$, 'another seller does not see it');
select tests.authenticate_as(tests.get_user_id('photo-staff@example.com'));
select isnt_empty($$ select 1 from public.list_low_stock() where product_id = pg_temp.product_of('Wool scarf') $$, 'staff see every shop''s');

-- Erasure ------------------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select lives_ok($$ select private.reserve_stock(jsonb_build_array(jsonb_build_object('product_id', pg_temp.product_of('Wool scarf'), 'quantity', 1)),
                                               'checkout:photo', now() + interval '15 minutes') $$, 'a checkout holds a scarf');
select is(private.held_stock_blocking_erasure(tests.get_user_id('photo-seller@example.com')), '1 active stock reservations on their products (checkout:photo)',
  'the seller is not erased while stock is held for a checkout');

select * from finish();
rollback;
