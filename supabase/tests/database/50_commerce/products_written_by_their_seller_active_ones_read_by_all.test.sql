-- Products: a seller (shop.sell, active shop) writes their own shop's products only; staff
-- (commerce.manage) any; anon and signed-in users read active products of active shops,
-- owners their drafts too. Price, currency, SKU, kind, the status machine and what an active
-- product needs are refused precisely; is_featured, published_at and in_stock are not
-- client-writable; product.published is emitted; a deactivated shop's products disappear.
begin;
select plan(52);

select tests.create_user('prod-seller@example.com');
select tests.create_user('prod-other@example.com');
select tests.create_user('prod-buyer@example.com');
select tests.create_user('prod-stranger@example.com');
select tests.create_user('prod-staff@example.com');
select tests.create_user('prod-lapsed@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('prod-seller@example.com'), 'Seller shop', 'general'),
       (tests.get_user_id('prod-other@example.com'), 'Other shop', 'general'),
       (tests.get_user_id('prod-lapsed@example.com'), 'Lapsed shop', 'general');
select tests.grant_role('prod-seller@example.com', 'seller');
select tests.grant_role('prod-other@example.com', 'seller');
select tests.grant_role('prod-staff@example.com', 'staff');
-- prod-lapsed has a shop but no seller role (shop.sell) any more.

create function pg_temp.product_of(title text) returns uuid language sql security definer as $$
  select id from public.products p where p.title = product_of.title
$$;
grant execute on function pg_temp.product_of(text) to authenticated, anon, service_role;
create function pg_temp.profile_of(email text) returns uuid language sql security definer as $$
  select id from public.shipping_profiles sp where sp.shop_id = tests.get_user_id(email) limit 1
$$;
grant execute on function pg_temp.profile_of(text) to authenticated, anon, service_role;

insert into public.shipping_profiles (shop_id, name, currency)
values (tests.get_user_id('prod-seller@example.com'), 'Standard', 'USD'),
       (tests.get_user_id('prod-other@example.com'), 'Standard', 'USD');

-- owner seller -------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('prod-seller@example.com'));
select lives_ok($$ insert into public.products (title, description, price, currency, sku, shipping_profile_id, status)
                   values ('Linen shirt', 'Washed linen', 4500, 'USD', 'SHIRT-1', pg_temp.profile_of('prod-seller@example.com'), 'active') $$,
  'the seller publishes a product in their shop');
select results_eq($$ select shop_id, status, in_stock, published_at is not null, is_featured from public.products where title = 'Linen shirt' $$,
  $$ values (tests.get_user_id('prod-seller@example.com'), 'active', false, true, false) $$,
  'it is theirs, active, published now, out of stock until stocked, not featured');
select lives_ok($$ insert into public.products (title, price, currency) values ('Draft hat', 1500, 'USD') $$, 'the seller keeps a draft');
select throws_ok($$ insert into public.products (title, price, currency, sku) values ('Second shirt', 4500, 'USD', 'SHIRT-1') $$,
  '23505', format('shop %s already has a product with this SKU (product %s)', tests.get_user_id('prod-seller@example.com'), pg_temp.product_of('Linen shirt')),
  'a SKU is unique within the shop, with a precise message');
select throws_ok($$ insert into public.products (title, price, currency) values ('Free shirt', 0, 'USD') $$,
  '22023', 'price must be a positive whole number of minor units of USD, not 0', 'a zero price is refused');
select throws_ok($$ insert into public.products (title, price, currency) values ('Debt shirt', -5, 'USD') $$,
  '22023', 'price must be a positive whole number of minor units of USD, not -5', 'a negative price is refused');
select throws_ok($$ insert into public.products (title, price, currency) values ('Gold shirt', 99999999999, 'USD') $$,
  '22023', format('price 99999999999 exceeds the maximum of %s minor units of USD', (select max_amount from public.currencies where code = 'USD')),
  'a price above the currency''s maximum is refused');
select throws_ok($$ insert into public.products (title, price, currency) values ('Odd shirt', 100, 'XXX') $$,
  '22023', 'currency XXX is not supported (see the currencies table)', 'an unknown currency is refused');
select throws_ok($$ insert into public.products (title, price, currency, kind) values ('Odd kind', 100, 'USD', 'service') $$,
  '23514', 'new row for relation "products" violates check constraint "products_kind"', 'a kind other than physical or digital is refused');
select throws_ok($$ insert into public.products (title, price, currency, category_id) values ('Lost', 100, 'USD', '00000000-0000-0000-0000-000000000009') $$,
  '22023', 'category 00000000-0000-0000-0000-000000000009 does not exist', 'an unknown category is refused');
select throws_ok($$ insert into public.products (title, price, currency, shipping_profile_id) values ('Borrowed', 100, 'USD', pg_temp.profile_of('prod-other@example.com')) $$,
  '22023', format('shipping profile %s is not one of shop %s''s profiles', pg_temp.profile_of('prod-other@example.com'), tests.get_user_id('prod-seller@example.com')),
  'another shop''s shipping profile is refused');
select throws_ok($$ insert into public.products (title, price, currency, shipping_profile_id) values ('Yen hat', 100, 'JPY', pg_temp.profile_of('prod-seller@example.com')) $$,
  '22023', format('shipping profile %s quotes in USD, the product is priced in JPY', pg_temp.profile_of('prod-seller@example.com')),
  'a profile in another currency is refused');
select throws_ok($$ update public.products set status = 'active' where title = 'Draft hat' $$,
  'PT409', format('product %s is physical: it needs a shipping profile of its shop to be active', pg_temp.product_of('Draft hat')),
  'a physical product without a shipping profile cannot be active');
select lives_ok($$ insert into public.products (title, price, currency, kind) values ('Pattern PDF', 700, 'USD', 'digital') $$, 'a digital draft');
select throws_ok($$ update public.products set status = 'active' where title = 'Pattern PDF' $$,
  'PT409', format('product %s is digital: its file must be uploaded to product-files before it is active', pg_temp.product_of('Pattern PDF')),
  'a digital product without its file cannot be active');
select throws_ok($$ update public.products set digital_file_path = 'elsewhere/file.pdf' where title = 'Pattern PDF' $$,
  '22023', format('a product''s file lives under %s/%s/ in the product-files bucket', tests.get_user_id('prod-seller@example.com'), pg_temp.product_of('Pattern PDF')),
  'the file lives in the product''s folder');
select throws_ok($$ update public.products set shipping_profile_id = pg_temp.profile_of('prod-seller@example.com') where title = 'Pattern PDF' $$,
  '22023', 'a digital product has no shipping profile', 'a digital product has no shipping profile');
select throws_ok($$ update public.products set is_featured = true where title = 'Linen shirt' $$,
  '42501', 'permission denied for table products', 'the seller cannot feature their product');
select throws_ok($$ update public.products set in_stock = true where title = 'Linen shirt' $$,
  '42501', 'permission denied for table products', 'the seller cannot claim stock');
select throws_ok($$ select public.set_product_featured(pg_temp.product_of('Linen shirt'), true) $$,
  '42501', 'permission denied: commerce.manage is required', 'nor through the RPC');
select lives_ok($$ update public.products set status = 'archived' where title = 'Linen shirt' $$, 'active -> archived');
select throws_ok($$ update public.products set status = 'active' where title = 'Linen shirt' $$,
  'PT409', format('product %s is archived: it cannot become active (draft -> active | archived, active -> draft | archived, archived -> draft)', pg_temp.product_of('Linen shirt')),
  'an archived product goes back through draft');
select lives_ok($$ update public.products set status = 'draft' where title = 'Linen shirt' $$, 'archived -> draft');
select lives_ok($$ update public.products set status = 'active', price = 4900 where title = 'Linen shirt' $$, 'draft -> active again, repriced');
select throws_ok($$ update public.products set status = 'bogus' where title = 'Linen shirt' $$,
  'PT409', format('product %s is active: it cannot become bogus (draft -> active | archived, active -> draft | archived, archived -> draft)', pg_temp.product_of('Linen shirt')),
  'an unknown status is refused');
select throws_ok($$ update public.products set kind = 'digital' where title = 'Linen shirt' $$,
  'PT409', format('product %s is active: only a draft changes kind', pg_temp.product_of('Linen shirt')), 'only a draft changes kind');
select is((select count(*)::integer from public.products where shop_id = tests.get_user_id('prod-seller@example.com')), 3,
  'the seller reads all their products, drafts too');
select lives_ok($$ delete from public.products where title = 'Pattern PDF' $$, 'the seller deletes a draft');
select is((select count(*)::integer from public.products where title = 'Linen shirt'), 1, 'an active product is not deleted by its seller (archive it)');
select lives_ok($$ delete from public.products where title = 'Linen shirt' $$, 'the delete runs');
select is((select count(*)::integer from public.products where title = 'Linen shirt'), 1, 'and removed nothing');

select tests.clear_authentication();
select is((select count(*)::integer from private.domain_events where event_type = 'product.published' and subject_id = pg_temp.product_of('Linen shirt')), 2,
  'product.published is emitted at each publication');

-- other seller --------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('prod-other@example.com'));
select is_empty($$ select 1 from public.products where title = 'Draft hat' $$, 'another seller does not see the draft');
select is((select count(*)::integer from public.products where title = 'Linen shirt'), 1, 'another seller sees the active product');
select is_empty($$ update public.products set price = 1 where title = 'Linen shirt' returning 1 $$, 'another seller cannot change it');
select throws_ok($$ insert into public.products (shop_id, title, price, currency) values (tests.get_user_id('prod-seller@example.com'), 'Planted', 100, 'USD') $$,
  '42501', 'new row violates row-level security policy for table "products"', 'another seller cannot add to the shop');
select throws_ok($$ update public.products set shop_id = tests.get_user_id('prod-other@example.com') where title = 'Linen shirt' $$,
  '42501', 'permission denied for table products', 'shop_id is not writable');

-- buyer, stranger, a seller who lost shop.sell, anon ------------------------------------------
select tests.authenticate_as(tests.get_user_id('prod-buyer@example.com'));
select results_eq($$ select title from public.products where shop_id = tests.get_user_id('prod-seller@example.com') $$,
  $$ values ('Linen shirt') $$, 'a buyer reads active products only');
select throws_ok($$ insert into public.products (title, price, currency) values ('Buyer stuff', 100, 'USD') $$,
  '42501', 'new row violates row-level security policy for table "products"', 'a buyer without a shop cannot sell');
select tests.authenticate_as(tests.get_user_id('prod-lapsed@example.com'));
select throws_ok($$ insert into public.products (title, price, currency) values ('Lapsed stuff', 100, 'USD') $$,
  '42501', 'new row violates row-level security policy for table "products"', 'a shop owner without shop.sell cannot sell');
select tests.authenticate_as(tests.get_user_id('prod-stranger@example.com'));
select is_empty($$ delete from public.products returning 1 $$, 'a stranger deletes nothing');
select tests.authenticate_as_anon();
select results_eq($$ select title from public.products where shop_id = tests.get_user_id('prod-seller@example.com') $$,
  $$ values ('Linen shirt') $$, 'anon reads active products');
select throws_ok($$ insert into public.products (title, price, currency) values ('Anon stuff', 100, 'USD') $$,
  '42501', 'permission denied for table products', 'anon cannot write products');
select results_eq($$ select title from public.search_products(seller_id => tests.get_user_id('prod-seller@example.com')) $$,
  $$ values ('Linen shirt') $$, 'anon lists it through search_products');

-- staff ---------------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('prod-staff@example.com'));
select is((select count(*)::integer from public.products where shop_id = tests.get_user_id('prod-seller@example.com')), 2, 'staff read drafts too');
select lives_ok($$ update public.products set title = 'Linen shirt (moderated)' where title = 'Linen shirt' $$, 'staff edit any product');
select lives_ok($$ select public.set_product_featured(pg_temp.product_of('Linen shirt (moderated)'), true) $$, 'staff feature a product');
select results_eq($$ select title from public.search_products(featured_only => true, seller_id => tests.get_user_id('prod-seller@example.com')) $$,
  $$ values ('Linen shirt (moderated)') $$, 'the featured list holds it');
select throws_ok($$ select public.set_product_featured('00000000-0000-0000-0000-000000000009', true) $$,
  'PT404', 'product 00000000-0000-0000-0000-000000000009 not found', 'featuring an unknown product is refused');

-- A deactivated shop's products disappear from the public.
select tests.clear_authentication();
update public.shops set is_active = false where id = tests.get_user_id('prod-seller@example.com');
select tests.authenticate_as_anon();
select is_empty($$ select 1 from public.products where shop_id = tests.get_user_id('prod-seller@example.com') $$,
  'anon no longer sees a deactivated shop''s products');
select tests.authenticate_as(tests.get_user_id('prod-seller@example.com'));
select is((select count(*)::integer from public.products where shop_id = tests.get_user_id('prod-seller@example.com')), 2, 'its seller still reads them');
select is_empty($$ update public.products set price = 1 returning 1 $$, 'but no longer changes them');

select * from finish();
rollback;
