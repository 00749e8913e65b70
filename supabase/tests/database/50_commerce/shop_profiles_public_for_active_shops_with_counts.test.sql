-- The public shop profile (001 GET /sellers/:id): anon and every user read active shops'
-- profiles with rating, review, follower and active product counts; an inactive shop is
-- seen by its seller (and sellers.review holders) only; the counts are the shop's.
begin;
select plan(8);

select tests.create_user('sp-seller@example.com');
select tests.create_user('sp-closed@example.com');
select tests.create_user('sp-fan@example.com');
select tests.create_user('sp-stranger@example.com');
select tests.grant_role('sp-seller@example.com', 'seller');
insert into public.shops (id, shop_name, category, description, logo_path) values
  (tests.get_user_id('sp-seller@example.com'), 'Profile shop', 'general', 'Hand-thrown pots', tests.get_user_id('sp-seller@example.com') || '/logo.png'),
  (tests.get_user_id('sp-closed@example.com'), 'Closed profile shop', 'general', '', null);
update public.shops set is_active = false where shop_name = 'Closed profile shop';
select tests.get_user_id('sp-seller@example.com') as shop \gset
insert into public.shipping_profiles (id, shop_id, name, currency) values ('00000000-0000-0000-0000-0000000005c1', :'shop', 'Std', 'USD');
insert into public.products (shop_id, title, price, currency, kind, status, shipping_profile_id) values
  (:'shop', 'Pot 1', 1000, 'USD', 'physical', 'active', '00000000-0000-0000-0000-0000000005c1'),
  (:'shop', 'Pot 2', 1000, 'USD', 'physical', 'active', '00000000-0000-0000-0000-0000000005c1'),
  (:'shop', 'Pot 3', 1000, 'USD', 'physical', 'draft', '00000000-0000-0000-0000-0000000005c1');

select tests.act_as('sp-fan@example.com');
select public.follow_shop(:'shop');

select tests.act_as('anon');
select results_eq(
  format($$ select shop_name, description, logo_path, rating_avg, review_count, follower_count, product_count from public.shop_profiles where id = %L $$, :'shop'),
  format($$ values ('Profile shop'::text, 'Hand-thrown pots'::text, %L::text, null::numeric, 0, 1, 2) $$, :'shop' || '/logo.png'),
  'anon reads an active shop''s profile: name, description, logo, rating, counts (active products only)'
);
select is_empty($$ select 1 from public.shop_profiles where shop_name = 'Closed profile shop' $$, 'anon does not see an inactive shop');
select tests.act_as('sp-stranger@example.com');
select is((select product_count from public.shop_profiles where id = :'shop'), 2, 'a stranger sees the same count');
select is_empty($$ select 1 from public.shop_profiles where shop_name = 'Closed profile shop' $$, 'nor does a stranger');
select tests.act_as('sp-seller@example.com');
select is((select product_count from public.shop_profiles where id = :'shop'), 2, 'its seller, who reads their draft too, sees active products counted only');
select tests.act_as('sp-closed@example.com');
select is((select count(*)::integer from public.shop_profiles where shop_name = 'Closed profile shop'), 1, 'the seller of an inactive shop sees their own');
select throws_ok($$ update public.shop_profiles set follower_count = 10 $$, '42501', 'permission denied for view shop_profiles',
  'the profile is read-only');
select tests.clear_authentication();
select is((select c.reloptions from pg_class c where c.oid = 'public.shop_profiles'::regclass), array['security_invoker=true'],
  'the view runs with the caller''s rights');

select * from finish();
rollback;
