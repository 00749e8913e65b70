-- private.lock_order_for: the one lock of an order for a money action. A party or an admin
-- finds the order, a stranger or an unknown id gets "not found"; acting_user null is the
-- system, which finds any order and is no admin. Each caller decides what the system may do:
-- claim_release lets it release as an admin would, claim_refund refund by policy only (in
-- full, an order cancelled before delivery), and begin_payment and resolve_dispute refuse it.
begin;
select plan(14);

select tests.create_user('lk-buyer@example.com');
select tests.create_user('lk-seller@example.com');
select tests.create_user('lk-stranger@example.com');
select tests.create_user('lk-admin@example.com');
select tests.clear_authentication();
select tests.grant_role('lk-admin@example.com', 'admin');

create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('lk-' || who || '@example.com') $$;
select user_id from ops.register_payment_account(pg_temp.uid('seller'), 'acct_1LkSeller',
  '{"charges_enabled": true, "payouts_enabled": true, "capabilities": {"transfers": "active"}}');

create temp table ids as select tests.order_in('lk-buyer@example.com', 'lk-seller@example.com', 'awaiting_payment') as unpaid,
  tests.order_in('lk-buyer@example.com', 'lk-seller@example.com', 'in_progress') as working,
  gen_random_uuid() as unknown;
create function pg_temp.id(which text) returns uuid language plpgsql as $$
declare r uuid; begin execute format('select %I from ids', which) into r; return r; end $$;
create function pg_temp.lock(which text, who text) returns text language sql as $$
  select ((l.o).id = pg_temp.id(which)) || '/' || l.is_admin || '/' || l.is_system
    from private.lock_order_for(pg_temp.id(which), case when who is not null then pg_temp.uid(who) end) l
$$;

-- Who finds the order.
select is(pg_temp.lock('working', 'buyer'), 'true/false/false', 'the buyer finds the order, as no admin');
select is(pg_temp.lock('working', 'seller'), 'true/false/false', 'so does the seller');
select is(pg_temp.lock('working', 'admin'), 'true/true/false', 'an admin finds it as an admin');
select is(pg_temp.lock('working', null), 'true/false/true', 'the system (null) finds it, as the system and no admin');
select throws_ok($$ select pg_temp.lock('working', 'stranger') $$,
  'PT404', format('order %s not found', pg_temp.id('working')), 'a stranger finds no order');
select throws_ok($$ select pg_temp.lock('unknown', null) $$,
  'PT404', format('order %s not found', pg_temp.id('unknown')), 'nor does the system find an unknown one');
select throws_ok($$ select pg_temp.lock('unknown', 'admin') $$,
  'PT404', format('order %s not found', pg_temp.id('unknown')), 'nor an admin');

-- What each caller lets the system do.
select throws_ok($$ select ops.begin_payment(pg_temp.id('unpaid'), null) $$,
  '42501', format('only the buyer pays for order %s', pg_temp.id('unpaid')), 'the system does not pay for an order');
select throws_ok($$ select ops.begin_payment(pg_temp.id('unknown'), null) $$,
  'PT404', format('order %s not found', pg_temp.id('unknown')), 'nor finds an unknown one to pay');
select throws_ok($$ select ops.resolve_dispute(pg_temp.id('working'), null, 'refund') $$,
  '42501', 'only an admin resolves disputes', 'the system does not resolve disputes');
select throws_ok($$ select ops.claim_release(pg_temp.id('working'), null) $$,
  'PT409', format('order %s is in_progress: its escrow is released once the buyer approves the delivery', pg_temp.id('working')),
  'the system may release as an admin would: it passes who-may and meets the same state rule');
select throws_ok($$ select ops.claim_release(pg_temp.id('unknown'), null) $$,
  'PT404', format('order %s not found', pg_temp.id('unknown')), 'the system releases no unknown order');
select throws_ok($$ select ops.claim_refund(pg_temp.id('working'), null, null, 'policy') $$,
  'PT409', format('order %s is in_progress: without an admin, only a paid order cancelled before delivery is refunded', pg_temp.id('working')),
  'the system refunds by policy only: it is no admin');
select throws_ok($$ select ops.claim_refund(pg_temp.id('working'), null, 100, 'policy') $$,
  '42501', 'only an admin chooses a refund amount', 'nor chooses an amount');

select * from finish();
rollback;
