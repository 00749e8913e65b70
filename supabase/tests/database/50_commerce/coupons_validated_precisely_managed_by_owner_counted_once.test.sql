-- Coupons: a seller manages their shop's coupons, commerce managers every coupon (platform
-- ones too); buyers, other sellers and anon read none. validate_coupon says precisely why a
-- code cannot be used; redemptions count under the coupon's lock and are released once; a
-- used coupon is deactivated, not deleted; usage statistics for the owner and staff only.
begin;
select plan(48);

select tests.create_user('cp-seller@example.com');
select tests.create_user('cp-other@example.com');
select tests.create_user('cp-buyer@example.com');
select tests.create_user('cp-buyer2@example.com');
select tests.create_user('cp-staff@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('cp-seller@example.com'), 'Coupon shop', 'general'),
       (tests.get_user_id('cp-other@example.com'), 'Other shop', 'general');
select tests.grant_role('cp-seller@example.com', 'seller');
select tests.grant_role('cp-other@example.com', 'seller');
select tests.grant_role('cp-staff@example.com', 'staff');

create function pg_temp.coupon(code text) returns uuid language sql security definer as $$
  select id from public.coupons c where c.code = coupon.code
$$;
grant execute on function pg_temp.coupon(text) to authenticated, anon, service_role;

-- Writing -----------------------------------------------------------------------------------
select tests.act_as('cp-seller@example.com');
insert into public.coupons (code, shop_id, kind, percent_bps, usage_limit, per_user_limit, is_public)
values ('SHOP10', tests.get_user_id('cp-seller@example.com'), 'percentage', 1000, 3, 1, true);
insert into public.coupons (code, shop_id, kind, amount, currency, min_order_amount)
values ('SHOP5USD', tests.get_user_id('cp-seller@example.com'), 'fixed', 500, 'USD', 2000);
select throws_ok($$ insert into public.coupons (code, kind, percent_bps) values ('PLATFORM1', 'percentage', 500) $$, '42501',
  'new row violates row-level security policy for table "coupons"', 'a seller cannot create a platform coupon');
select throws_ok(format($$ insert into public.coupons (code, shop_id, kind, percent_bps) values ('THEIRS', %L, 'percentage', 500) $$,
  tests.get_user_id('cp-other@example.com')), '42501',
  'new row violates row-level security policy for table "coupons"', 'a seller cannot create another shop''s coupon');
select throws_ok(format($$ insert into public.coupons (code, shop_id, kind, percent_bps) values ('shop10', %L, 'percentage', 500) $$,
  tests.get_user_id('cp-seller@example.com')), '23505',
  'duplicate key value violates unique constraint "coupons_code_unique"', 'codes are unique case-insensitively');
select throws_ok(format($$ insert into public.coupons (code, shop_id, kind, amount) values ('NOCUR', %L, 'fixed', 500) $$,
  tests.get_user_id('cp-seller@example.com')), '22023',
  'a coupon''s amount needs a currency', 'a fixed coupon needs its currency');
select throws_ok(format($$ insert into public.coupons (code, shop_id, kind, amount, currency) values ('NEG', %L, 'fixed', -5, 'USD') $$,
  tests.get_user_id('cp-seller@example.com')), '22023',
  'a coupon''s amount must be a positive whole number of minor units of USD, not -5', 'a negative amount is refused');
select throws_ok(format($$ insert into public.coupons (code, shop_id, kind, percent_bps) values ('a b', %L, 'percentage', 500) $$,
  tests.get_user_id('cp-seller@example.com')), '23514',
  'new row for relation "coupons" violates check constraint "coupons_code_format"', 'a code is letters, digits, - and _');
select throws_ok($$ update public.coupons set times_used = 3 $$, '42501', 'permission denied for table coupons',
  'times_used is not client-writable');
select tests.act_as('cp-staff@example.com');
insert into public.coupons (code, kind, percent_bps, usage_limit, is_public) values ('WELCOME', 'percentage', 2000, 5, true);
insert into public.coupons (code, kind, percent_bps, is_active) values ('OFF', 'percentage', 2000, false);
insert into public.coupons (code, kind, percent_bps, starts_at) values ('LATER', 'percentage', 2000, now() + interval '1 day');
insert into public.coupons (code, kind, percent_bps, ends_at, starts_at) values ('GONE', 'percentage', 2000, now() - interval '1 hour', now() - interval '1 day');
insert into public.coupons (code, kind, percent_bps, ends_at) values ('SOON', 'percentage', 1500, now() + interval '2 days');
insert into public.coupons (code, kind, amount, currency) values ('EUR5', 'fixed', 500, 'EUR');
select tests.clear_authentication();

-- Reading ---------------------------------------------------------------------------------------
select tests.act_as('cp-seller@example.com');
select is((select array_agg(code order by code) from public.coupons), array['SHOP10', 'SHOP5USD'], 'a seller reads their shop''s coupons only');
select tests.act_as('cp-other@example.com');
select is((select count(*)::integer from public.coupons), 0, 'another seller reads none of them');
select tests.act_as('cp-buyer@example.com');
select is((select count(*)::integer from public.coupons), 0, 'a buyer reads no coupon table rows');
select is((select array_agg(code order by code) from public.available_coupons()), array['SHOP10', 'WELCOME'],
  'a buyer lists the advertised coupons they can use (003 GET /coupons)');
select tests.act_as('anon');
select throws_ok($$ select count(*) from public.coupons $$, '42501', 'permission denied for table coupons', 'anon reads no coupons');
select throws_ok($$ select public.validate_coupon('WELCOME') $$, '42501', 'permission denied for function validate_coupon',
  'anon cannot validate a code');
select tests.act_as('cp-staff@example.com');
select is((select count(*)::integer from public.coupons where created_at = now()), 8, 'commerce managers read every coupon (this test''s: rows made in its transaction)');
select is((select array_agg(code order by code) from public.list_coupons(is_active => false)), array['OFF'], 'the admin list filters inactive');
select is((select array_agg(code order by code) from public.list_coupons(expiring_soon => true)), array['SOON'],
  'the admin list filters those ending within 7 days');

-- Validation ----------------------------------------------------------------------------------------
select tests.act_as('cp-buyer@example.com');
select is(public.validate_coupon('welcome', 10000, 'USD') ->> 'discount', '2000', 'a valid code, any case: 20% of 10000');
select is(public.validate_coupon('SHOP10', 1995) ->> 'discount', '200', 'a percentage discount is rounded half up (199.5 -> 200)');
select throws_ok($$ select public.validate_coupon('NOPE123') $$, 'PT404', 'no coupon has this code', 'an unknown code');
select throws_ok($$ select public.validate_coupon('x') $$, '22023', 'a coupon code is 3 to 40 letters, digits, - or _', 'a malformed code');
select throws_ok($$ select public.validate_coupon('OFF') $$, 'PT409', 'coupon OFF is inactive', 'an inactive coupon');
select tests.throws_like($$ select public.validate_coupon('LATER') $$, 'PT409', 'coupon LATER is not valid before %', 'a coupon not yet valid');
select tests.throws_like($$ select public.validate_coupon('GONE') $$, 'PT409', 'coupon GONE expired at %', 'an expired coupon');
select throws_ok($$ select public.validate_coupon('SHOP5USD', 1500, 'USD') $$, 'PT409',
  'coupon SHOP5USD needs an order total of at least 2000 USD (before shipping and tax), the order is 1500 USD', 'below the minimum, with both amounts');
select throws_ok($$ select public.validate_coupon('SHOP5USD', 5000, 'EUR') $$, 'PT409', 'coupon SHOP5USD is in USD, the order in EUR', 'the wrong currency');
select throws_ok(format($$ select public.validate_coupon('SHOP10', 5000, 'USD', %L) $$, tests.get_user_id('cp-other@example.com')), 'PT409',
  format('coupon SHOP10 is shop %s''s and this order has nothing from that shop', tests.get_user_id('cp-seller@example.com')), 'another shop''s coupon');
select tests.clear_authentication();

-- Redemptions: counted under the lock, never past the limits, released once ------------------------
-- Redemptions name a checkout (a foreign key): four placed by hand.
insert into public.checkouts (id, buyer_id, idempotency_key, currency, items_subtotal, shipping_total, discount_total, tax_total, total, expires_at)
select ('00000000-0000-0000-0000-00000000000' || n)::uuid, tests.get_user_id(case when n < 2 then 'cp-buyer@example.com' else 'cp-buyer2@example.com' end),
       'test:' || n, 'USD', 5000, 0, 500, 0, 4500, now() + interval '30 minutes'
  from generate_series(1, 4) n;
select lives_ok(format($$ select private.redeem_coupon(%L, %L, '00000000-0000-0000-0000-000000000001', 'USD', 5000, null, 500, 4500) $$,
  pg_temp.coupon('SHOP10'), tests.get_user_id('cp-buyer@example.com')), 'a buyer redeems SHOP10');
select throws_ok(format($$ select private.redeem_coupon(%L, %L, '00000000-0000-0000-0000-000000000002', 'USD', 5000, null, 500, 4500) $$,
  pg_temp.coupon('SHOP10'), tests.get_user_id('cp-buyer@example.com')), 'PT409',
  'coupon SHOP10 was already used 1 times by this buyer, its per-user limit', 'the per-user limit holds');
select lives_ok(format($$ select private.redeem_coupon(%L, %L, '00000000-0000-0000-0000-000000000002', 'USD', 5000, null, 500, 4500) $$,
  pg_temp.coupon('SHOP10'), tests.get_user_id('cp-buyer2@example.com')), 'another buyer redeems it');
update public.coupons set per_user_limit = null where code = 'SHOP10';
select lives_ok(format($$ select private.redeem_coupon(%L, %L, '00000000-0000-0000-0000-000000000003', 'USD', 5000, null, 500, 4500) $$,
  pg_temp.coupon('SHOP10'), tests.get_user_id('cp-buyer2@example.com')), 'the third use');
select throws_ok(format($$ select private.redeem_coupon(%L, %L, '00000000-0000-0000-0000-000000000004', 'USD', 5000, null, 500, 4500) $$,
  pg_temp.coupon('SHOP10'), tests.get_user_id('cp-buyer2@example.com')), 'PT409',
  'coupon SHOP10 has been used 3 times, its usage limit', 'the usage limit holds');
select is((select times_used from public.coupons where code = 'SHOP10'), 3, 'times_used counts the redemptions');

select tests.act_as('cp-buyer@example.com');
select is((select count(*)::integer from public.coupon_redemptions), 1, 'a buyer reads their own redemptions only');
select throws_ok($$ delete from public.coupon_redemptions $$, '42501', 'permission denied for table coupon_redemptions',
  'nobody writes redemptions directly');
select tests.act_as('cp-seller@example.com');
select is((select count(*)::integer from public.coupon_redemptions), 0, 'the coupon''s seller reads no redemption rows (the statistics only)');
select tests.act_as('cp-other@example.com');
select is((select count(*)::integer from public.coupon_redemptions), 0, 'another seller reads none');
select tests.act_as('cp-staff@example.com');
select is((select count(*)::integer from public.coupon_redemptions where created_at = now()), 3, 'commerce managers read every redemption (this test''s)');
select tests.act_as('anon');
select throws_ok($$ select count(*) from public.coupon_redemptions $$, '42501', 'permission denied for table coupon_redemptions',
  'anon reads no redemption');
select tests.act_as('cp-buyer@example.com');
select is((select array_agg(code) from public.available_coupons()), array['WELCOME'], 'an exhausted coupon is no longer listed');
select tests.act_as('cp-seller@example.com');
select results_eq(format($$ select currency, uses, distinct_users, discount_given, revenue from public.coupon_usage(%L) $$, pg_temp.coupon('SHOP10')),
  $$ values ('USD', 3::bigint, 2::bigint, 1500::bigint, 13500::bigint) $$, 'the seller reads the usage statistics');
select throws_ok($$ update public.coupons set usage_limit = 2 where code = 'SHOP10' $$, 'PT409',
  'coupon SHOP10 has been used 3 times: its usage limit cannot go below that', 'a usage limit cannot go below the uses');
select throws_ok($$ delete from public.coupons where code = 'SHOP10' $$, 'PT409',
  'coupon SHOP10 was used by 3 checkouts: deactivate it (is_active false) instead of deleting it', 'a used coupon is not deleted');
update public.coupons set is_active = false where code = 'SHOP10';
delete from public.coupons where code = 'SHOP5USD';
select is((select array_agg(code || ':' || is_active) from public.coupons), array['SHOP10:false'], 'it is deactivated; an unused one is deleted');
select tests.act_as('cp-other@example.com');
select throws_ok(format($$ select * from public.coupon_usage(%L) $$, pg_temp.coupon('SHOP10')), 'PT404',
  format('coupon %s not found', pg_temp.coupon('SHOP10')), 'another seller cannot read the statistics');
select tests.act_as('cp-staff@example.com');
select is((select uses from public.coupon_usage(pg_temp.coupon('SHOP10'))), 3::bigint, 'staff read every coupon''s statistics');
select tests.clear_authentication();

select is(private.release_coupon_redemptions('00000000-0000-0000-0000-000000000001'), 1, 'releasing a checkout''s coupon gives one use back');
select is(private.release_coupon_redemptions('00000000-0000-0000-0000-000000000001'), 0, 'a second release does nothing');
select is((select times_used from public.coupons where code = 'SHOP10'), 2, 'times_used counts active redemptions');

select * from finish();
rollback;
