-- Shop follows: a signed-in user follows an active shop that is not their own, once however
-- often they ask; unfollowing is idempotent too; shops.follower_count follows the rows; the
-- follower and the shop's seller read a follow, nobody else (staff included); anon and
-- anonymous users cannot follow; shop.followed reaches the seller once.
begin;
select plan(33);

select tests.create_user('fw-seller@example.com');
select tests.create_user('fw-other-seller@example.com');
select tests.create_user('fw-fan@example.com');
select tests.create_user('fw-fan2@example.com');
select tests.create_user('fw-stranger@example.com');
select tests.create_user('fw-staff@example.com');
select tests.grant_role('fw-staff@example.com', 'staff');
select tests.grant_role('fw-staff@example.com', 'admin');
insert into public.shops (id, shop_name, category) values
  (tests.get_user_id('fw-seller@example.com'), 'Follow shop', 'general'),
  (tests.get_user_id('fw-other-seller@example.com'), 'Closed shop', 'general');
update public.shops set is_active = false where shop_name = 'Closed shop';
select tests.get_user_id('fw-seller@example.com') as shop \gset
select tests.get_user_id('fw-other-seller@example.com') as closed \gset

create function pg_temp.followers(shop uuid) returns integer language sql security definer as $$
  select follower_count from public.shops where id = shop
$$;
create function pg_temp.events(shop uuid) returns integer language sql security definer as $$
  select count(*)::integer from private.domain_events where event_type = 'shop.followed' and subject_id = shop
$$;
grant execute on all functions in schema pg_temp to anon, authenticated, service_role;

-- following -----------------------------------------------------------------------------
select tests.act_as('fw-fan@example.com');
select is((public.follow_shop(:'shop')).user_id, tests.get_user_id('fw-fan@example.com'), 'a user follows a shop');
select is((public.follow_shop(:'shop')).shop_id, :'shop'::uuid, 'following again returns the same follow');
select is((select count(*)::integer from public.shop_follows), 1, 'one row however often they follow');
select is(pg_temp.followers(:'shop'), 1, 'the shop counts one follower');
select is(pg_temp.events(:'shop'), 1, 'shop.followed is emitted once, for the first follow only');
select tests.clear_authentication();
select results_eq(
  format($$ select recipients, payload from private.domain_events where event_type = 'shop.followed' and subject_id = %L $$, :'shop'),
  format($$ values (array[%L::uuid], jsonb_build_object('follower_id', %L::uuid)) $$, :'shop', tests.get_user_id('fw-fan@example.com')),
  'the event goes to the seller and names the follower'
);
select tests.act_as('fw-fan@example.com');
select throws_ok(format($$ select public.follow_shop(%L) $$, :'closed'), 'PT404',
  format('shop %s not found', :'closed'), 'an inactive shop is not found');
select throws_ok($$ select public.follow_shop('00000000-0000-0000-0000-00000000ffff') $$, 'PT404',
  'shop 00000000-0000-0000-0000-00000000ffff not found', 'an unknown shop');
select throws_ok($$ select public.follow_shop(null) $$, '22023', 'shop_id is required', 'no shop');

select tests.act_as('fw-seller@example.com');
select throws_ok(format($$ select public.follow_shop(%L) $$, :'shop'), 'PT409',
  'you cannot follow your own shop', 'a seller cannot follow their own shop');
select throws_ok($$ insert into public.shop_follows (user_id, shop_id) values (auth.uid(), auth.uid()) $$, '42501',
  'permission denied for table shop_follows', 'no direct inserts (the count and the checks are the RPC''s)');

select tests.act_as('fw-other-seller@example.com');
select throws_ok(format($$ select public.follow_shop(%L) $$, :'closed'), 'PT409',
  'you cannot follow your own shop', 'the seller of an inactive shop: their own shop still');

select tests.act_as('fw-fan2@example.com');
select lives_ok(format($$ select public.follow_shop(%L) $$, :'shop'), 'a second user follows');
select is(pg_temp.followers(:'shop'), 2, 'the shop counts two followers');

-- anonymous callers --------------------------------------------------------------------
select tests.act_as('anon');
select throws_ok(format($$ select public.follow_shop(%L) $$, :'shop'), '42501',
  'permission denied for function follow_shop', 'anon cannot follow');
select throws_ok($$ select count(*) from public.shop_follows $$, '42501',
  'permission denied for table shop_follows', 'anon reads no follows');
select tests.act_as('fw-stranger@example.com');
select set_config('request.jwt.claims', (current_setting('request.jwt.claims')::jsonb || '{"is_anonymous": true}')::text, true);
select throws_ok(format($$ select public.follow_shop(%L) $$, :'shop'), '42501',
  'anonymous users cannot follow shops: add an e-mail address to your account first', 'an anonymous user cannot follow');

-- reading -------------------------------------------------------------------------------
select tests.act_as('fw-fan@example.com');
select results_eq($$ select shop_id from public.shop_follows $$, format($$ values (%L::uuid) $$, :'shop'),
  'the follower reads their own follow only');
select tests.act_as('fw-seller@example.com');
select results_eq($$ select user_id from public.shop_follows order by user_id $$,
  format($$ select unnest(array[%L, %L]::uuid[]) order by 1 $$, tests.get_user_id('fw-fan@example.com'), tests.get_user_id('fw-fan2@example.com')),
  'the seller reads their shop''s followers');
select tests.act_as('fw-stranger@example.com');
select is_empty($$ select 1 from public.shop_follows $$, 'a stranger reads no follows');
select tests.act_as('fw-staff@example.com');
select is_empty($$ select 1 from public.shop_follows $$, 'staff read no follows either: who follows whom is the follower''s');
select is((select follower_count from public.shop_profiles where id = :'shop'), 2, '... but everyone sees the count');
select throws_ok(format($$ update public.shop_follows set created_at = now() where shop_id = %L $$, :'shop'), '42501',
  'permission denied for table shop_follows', 'no one updates a follow');
select throws_ok($$ update public.shops set follower_count = 1000 $$, '42501',
  'permission denied for table shops', 'the count is not client-writable');

-- unfollowing ---------------------------------------------------------------------------
select tests.act_as('fw-fan@example.com');
select is(public.unfollow_shop(:'shop'), true, 'unfollowing removes the follow');
select is(public.unfollow_shop(:'shop'), false, 'unfollowing again is a no-op');
select is(pg_temp.followers(:'shop'), 1, 'the count drops once');
select is(public.unfollow_shop('00000000-0000-0000-0000-00000000ffff'), false, 'unfollowing a shop never followed: false');
select throws_ok($$ delete from public.shop_follows $$, '42501', 'permission denied for table shop_follows',
  'no direct deletes');
select tests.act_as('anon');
select throws_ok(format($$ select public.unfollow_shop(%L) $$, :'shop'), '42501',
  'permission denied for function unfollow_shop', 'anon cannot unfollow');

-- a shop deactivated after being followed: the follow stays and can be left
select tests.clear_authentication();
update public.shops set is_active = false where id = :'shop';
select tests.act_as('fw-fan2@example.com');
select is(public.unfollow_shop(:'shop'), true, 'a follower leaves a shop that was deactivated');
select is(pg_temp.followers(:'shop'), 0, 'the count is back to 0');

-- account deletion: the follower's rows go, and the count with them
select tests.clear_authentication();
update public.shops set is_active = true where id = :'shop';
select tests.act_as('fw-fan@example.com');
select public.follow_shop(:'shop');
select tests.clear_authentication();
delete from auth.users where email = 'fw-fan@example.com';
select is(pg_temp.followers(:'shop'), 0, 'a deleted follower''s follow goes, and the count follows');

select * from finish();
rollback;
