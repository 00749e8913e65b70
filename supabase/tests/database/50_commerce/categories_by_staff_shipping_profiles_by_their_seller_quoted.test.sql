-- Categories are a tree managed by commerce.manage (staff), active ones read by everyone;
-- category_subtree gives a category and its descendants; no cycles. Shipping profiles and
-- their rates are read by everyone, written by the shop's seller and staff; shipping_quote
-- prices a parcel (country rate, else '*', free above the threshold) and refuses a country
-- the shop does not ship to with the exact message.
begin;
select plan(39);

select tests.create_user('ship-seller@example.com');
select tests.create_user('ship-other@example.com');
select tests.create_user('ship-buyer@example.com');
select tests.create_user('ship-staff@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('ship-seller@example.com'), 'Ship shop', 'general'),
       (tests.get_user_id('ship-other@example.com'), 'Other ship shop', 'general');
select tests.grant_role('ship-seller@example.com', 'seller');
select tests.grant_role('ship-other@example.com', 'seller');
select tests.grant_role('ship-staff@example.com', 'staff');

create function pg_temp.category_of(slug text) returns uuid language sql security definer as $$
  select id from public.product_categories c where c.slug = category_of.slug
$$;
grant execute on function pg_temp.category_of(text) to authenticated, anon, service_role;
create function pg_temp.profile_named(name text) returns uuid language sql security definer as $$
  select id from public.shipping_profiles sp where sp.name = profile_named.name
$$;
grant execute on function pg_temp.profile_named(text) to authenticated, anon, service_role;

-- Categories ----------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('ship-staff@example.com'));
select lives_ok($$ insert into public.product_categories (slug, name) values ('t-clothing', 'Clothing') $$, 'staff add a root category');
select lives_ok($$ insert into public.product_categories (slug, name, parent_id) values ('t-shirts', 'Shirts', pg_temp.category_of('t-clothing')),
                   ('t-coats', 'Coats', pg_temp.category_of('t-clothing')) $$, 'and children');
select lives_ok($$ insert into public.product_categories (slug, name, parent_id) values ('t-linen-shirts', 'Linen shirts', pg_temp.category_of('t-shirts')) $$,
  'and a grandchild');
select lives_ok($$ insert into public.product_categories (slug, name, is_active) values ('t-hidden', 'Hidden', false) $$, 'and an inactive one');
select set_eq($$ select private.category_subtree(pg_temp.category_of('t-clothing')) $$,
  $$ values (pg_temp.category_of('t-clothing')), (pg_temp.category_of('t-shirts')), (pg_temp.category_of('t-coats')), (pg_temp.category_of('t-linen-shirts')) $$,
  'the subtree holds the category and every descendant');
select set_eq($$ select private.category_subtree(pg_temp.category_of('t-shirts')) $$,
  $$ values (pg_temp.category_of('t-shirts')), (pg_temp.category_of('t-linen-shirts')) $$, 'a subtree of a child');
select throws_ok($$ update public.product_categories set parent_id = pg_temp.category_of('t-linen-shirts') where slug = 't-clothing' $$,
  '22023', format('category %s cannot move under %s: that is itself or one of its descendants', pg_temp.category_of('t-clothing'), pg_temp.category_of('t-linen-shirts')),
  'a category never moves under its own descendant');
select throws_ok($$ insert into public.product_categories (slug, name) values ('t-clothing', 'Clothing again') $$,
  '23505', 'duplicate key value violates unique constraint "product_categories_slug_key"', 'slugs are unique');
select throws_ok($$ insert into public.product_categories (slug, name) values ('Bad Slug', 'Bad') $$,
  '23514', 'new row for relation "product_categories" violates check constraint "product_categories_slug_format"', 'slugs are lowercase words and dashes');
select is((select count(*)::integer from public.product_categories where slug like 't-%'), 5, 'staff read inactive categories too');

select tests.authenticate_as(tests.get_user_id('ship-seller@example.com'));
select is((select count(*)::integer from public.product_categories where slug like 't-%'), 4, 'a seller reads the active categories');
select throws_ok($$ insert into public.product_categories (slug, name) values ('t-mine', 'Mine') $$,
  '42501', 'new row violates row-level security policy for table "product_categories"', 'a seller cannot add categories');
select is_empty($$ update public.product_categories set name = 'Renamed' where slug = 't-clothing' returning 1 $$, 'nor rename them');
select tests.authenticate_as_anon();
select is((select count(*)::integer from public.product_categories where slug like 't-%'), 4, 'anon reads the active categories');
select throws_ok($$ delete from public.product_categories $$, '42501', 'permission denied for table product_categories', 'anon cannot delete categories');
select tests.authenticate_as(tests.get_user_id('ship-staff@example.com'));
select throws_ok($$ delete from public.product_categories where slug = 't-clothing' $$,
  '23503', 'update or delete on table "product_categories" violates foreign key constraint "product_categories_parent_id_fkey" on table "product_categories"',
  'a category with children is not deleted');
select lives_ok($$ delete from public.product_categories where slug = 't-hidden' $$, 'staff delete a leaf');

-- Shipping profiles ---------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('ship-seller@example.com'));
select lives_ok($$ insert into public.shipping_profiles (name, currency) values ('Ship standard', 'USD') $$, 'the seller adds a profile');
select lives_ok($$ insert into public.shipping_rates (profile_id, country, first_item, additional_item, free_above, min_days, max_days)
                   values (pg_temp.profile_named('Ship standard'), 'KR', 3000, 500, 50000, 1, 3),
                          (pg_temp.profile_named('Ship standard'), '*', 8000, 1000, null, 5, 12) $$, 'with rates for KR and the rest of the world');
select throws_ok($$ insert into public.shipping_rates (profile_id, country, first_item, min_days, max_days)
                   values (pg_temp.profile_named('Ship standard'), 'ZZ', 100, 1, 2) $$,
  '22023', 'country ZZ is not an ISO 3166-1 alpha-2 code (see the countries table), or ''*'' for the rest of the world', 'an unknown country is refused');
select throws_ok($$ insert into public.shipping_rates (profile_id, country, first_item, min_days, max_days)
                   values (pg_temp.profile_named('Ship standard'), 'us', 100, 1, 2) $$,
  '22023', 'country us is not an ISO 3166-1 alpha-2 code (see the countries table), or ''*'' for the rest of the world', 'a lowercase code is refused');
select throws_ok($$ insert into public.shipping_rates (profile_id, country, first_item, min_days, max_days)
                   values (pg_temp.profile_named('Ship standard'), 'US', 100, 5, 2) $$,
  '23514', 'new row for relation "shipping_rates" violates check constraint "shipping_rates_days_ordered"', 'max_days is at least min_days');
select throws_ok($$ insert into public.shipping_rates (profile_id, country, first_item, min_days, max_days)
                   values (pg_temp.profile_named('Ship standard'), 'US', -1, 1, 2) $$,
  '23514', 'new row for relation "shipping_rates" violates check constraint "shipping_rates_first_item_positive"', 'amounts are not negative');
select throws_ok($$ insert into public.shipping_rates (profile_id, country, first_item, min_days, max_days)
                   values (pg_temp.profile_named('Ship standard'), 'US', 99999999999, 1, 2) $$,
  '22023', format('shipping amounts are at most %s minor units of USD', (select max_amount from public.currencies where code = 'USD')),
  'amounts stay within the currency''s maximum');

select tests.authenticate_as(tests.get_user_id('ship-other@example.com'));
select is((select count(*)::integer from public.shipping_rates where profile_id = pg_temp.profile_named('Ship standard')), 2,
  'another seller reads the rates (buyers compare shipping)');
select is_empty($$ update public.shipping_rates set first_item = 0 where profile_id = pg_temp.profile_named('Ship standard') returning 1 $$,
  'another seller cannot change them');
select throws_ok($$ insert into public.shipping_rates (profile_id, country, first_item, min_days, max_days)
                   values (pg_temp.profile_named('Ship standard'), 'JP', 0, 1, 2) $$,
  '42501', 'new row violates row-level security policy for table "shipping_rates"', 'nor add to them');
select throws_ok($$ insert into public.shipping_profiles (shop_id, name, currency) values (tests.get_user_id('ship-seller@example.com'), 'Planted', 'USD') $$,
  '42501', 'new row violates row-level security policy for table "shipping_profiles"', 'nor add profiles to another shop');
select tests.authenticate_as(tests.get_user_id('ship-buyer@example.com'));
select throws_ok($$ insert into public.shipping_profiles (name, currency) values ('Buyer ships', 'USD') $$,
  '42501', 'new row violates row-level security policy for table "shipping_profiles"', 'a buyer without a shop cannot add a profile');
select tests.authenticate_as_anon();
select is((select count(*)::integer from public.shipping_profiles where name = 'Ship standard'), 1, 'anon reads profiles');
select throws_ok($$ insert into public.shipping_profiles (name, currency) values ('Anon', 'USD') $$,
  '42501', 'permission denied for table shipping_profiles', 'anon cannot write profiles');
select tests.authenticate_as(tests.get_user_id('ship-staff@example.com'));
select lives_ok($$ update public.shipping_rates set min_days = 2 where profile_id = pg_temp.profile_named('Ship standard') and country = 'KR' $$,
  'staff change any shop''s rates');

-- Quotes --------------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq($$ select * from private.shipping_quote(pg_temp.profile_named('Ship standard'), 'KR', 3, 20000) $$,
  $$ values (4000::bigint, 2, 3) $$, 'KR: first item plus two additional');
select results_eq($$ select * from private.shipping_quote(pg_temp.profile_named('Ship standard'), 'KR', 3, 50000) $$,
  $$ values (0::bigint, 2, 3) $$, 'free from the threshold');
select results_eq($$ select * from private.shipping_quote(pg_temp.profile_named('Ship standard'), 'DE', 1, 50000) $$,
  $$ values (8000::bigint, 5, 12) $$, 'another country takes the ''*'' rate (no threshold)');
select tests.authenticate_as(tests.get_user_id('ship-seller@example.com'));
delete from public.shipping_rates where profile_id = pg_temp.profile_named('Ship standard') and country = '*';
select tests.authenticate_as_service_role();
select throws_ok($$ select * from private.shipping_quote(pg_temp.profile_named('Ship standard'), 'DE', 1, 100) $$,
  'PT409', format('shop %s does not ship to DE', tests.get_user_id('ship-seller@example.com')), 'a country without a rate is refused precisely');
select throws_ok($$ select * from private.shipping_quote(pg_temp.profile_named('Ship standard'), 'KR', 0, 100) $$,
  '22023', 'item_count must be at least 1, not 0', 'no items, no quote');
select throws_ok($$ select * from private.shipping_quote('00000000-0000-0000-0000-000000000009', 'KR', 1, 100) $$,
  'PT404', 'shipping profile 00000000-0000-0000-0000-000000000009 not found', 'an unknown profile is refused');
select tests.authenticate_as(tests.get_user_id('ship-buyer@example.com'));
select throws_ok($$ select * from private.shipping_quote(pg_temp.profile_named('Ship standard'), 'KR', 1, 100) $$,
  '42501', 'permission denied for function shipping_quote', 'clients do not call the quote directly');

select * from finish();
rollback;
