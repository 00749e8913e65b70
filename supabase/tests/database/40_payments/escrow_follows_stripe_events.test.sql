-- Pay-in and the webhook's SQL side: begin_payment's checks, events stored once by id,
-- processed by type, duplicates and unknown types acknowledged and ignored, and out-of-order
-- events never moving an escrow, an order, a chargeback or a seller account backwards.
begin;
select plan(35);

select tests.create_user('ev-buyer@example.com');
select tests.create_user('ev-seller@example.com');
select tests.create_user('ev-stranger@example.com');
select tests.clear_authentication();

create temp table ids as select tests.order_in('ev-buyer@example.com', 'ev-seller@example.com', 'awaiting_payment') as order_id;

create function pg_temp.oid() returns uuid language sql as $$ select order_id from ids $$;
create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('ev-' || who || '@example.com') $$;
create function pg_temp.ev(id text, type text, created bigint, object jsonb) returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'object', 'event', 'api_version', '2025-10-29.clover', 'created', created,
                            'livemode', false, 'type', type, 'data', jsonb_build_object('object', object))
$$;
create function pg_temp.process(event jsonb) returns text language sql as $$
  select case when duplicate then 'duplicate:' else '' end || outcome from ops.process_stripe_event(event)
$$;
create function pg_temp.pstatus() returns text language sql as $$ select status from public.payments where order_id = pg_temp.oid() $$;
create function pg_temp.ostatus() returns text language sql as $$ select status from public.orders where id = pg_temp.oid() $$;

-- ---------------------------------------------------------------------------------------
-- begin_payment

select throws_ok($$ select ops.begin_payment(pg_temp.oid(), pg_temp.uid('buyer')) $$,
  'PT409', format('the seller of order %s cannot receive payments yet: they must finish setting up payouts', pg_temp.oid()),
  'an order whose seller has no payment account cannot be paid');

select lives_ok($$ select ops.register_payment_account(pg_temp.uid('seller'), 'acct_1Seller', '{}') $$, 'the seller''s account is recorded');
select throws_ok($$ select ops.register_payment_account(pg_temp.uid('seller'), 'acct_2Other', '{}') $$,
  '23505', format('user %s already has Stripe account acct_1Seller', pg_temp.uid('seller')),
  'a second Stripe account for the same user is refused');
select is(pg_temp.process(pg_temp.ev('evt_acct2', 'account.updated', 2000,
  '{"id": "acct_1Seller", "object": "account", "charges_enabled": true, "payouts_enabled": true, "details_submitted": true, "capabilities": {"transfers": "active"}, "requirements": {"currently_due": []}}')),
  'applied', 'account.updated enables the seller''s account');
select is(pg_temp.process(pg_temp.ev('evt_acct1', 'account.updated', 1000,
  '{"id": "acct_1Seller", "object": "account", "charges_enabled": false, "payouts_enabled": false, "capabilities": {"transfers": "inactive"}, "requirements": {"currently_due": ["external_account"]}}')),
  'ignored: unknown account or older than what we have', 'an older account.updated arriving late changes nothing');
select ok((select can_receive_transfers from public.seller_payment_accounts where user_id = pg_temp.uid('seller')),
  'the seller can receive transfers');

select throws_ok($$ select ops.begin_payment(pg_temp.oid(), pg_temp.uid('seller')) $$,
  '42501', format('only the buyer pays for order %s', pg_temp.oid()),
  'the seller does not pay');
select throws_ok($$ select ops.begin_payment(pg_temp.oid(), pg_temp.uid('stranger')) $$,
  'PT404', format('order %s not found', pg_temp.oid()),
  'a stranger finds no order');
select throws_ok(format($$ select ops.begin_payment(%L, pg_temp.uid('buyer')) $$, unknown_id),
  'PT404', format('order %s not found', unknown_id),
  'an unknown order is not found') from gen_random_uuid() unknown_id;
select throws_ok($$ select ops.begin_payment(pg_temp.oid(), pg_temp.uid('buyer'), 'cash') $$,
  '22023', 'mode must be checkout or payment_intent',
  'an unknown mode is refused');

select is(ops.begin_payment(pg_temp.oid(), pg_temp.uid('buyer')) - 'order_id' - 'buyer_id' - 'seller_id' - 'title' - 'transfer_group' - 'idempotency_key',
  '{"existing": false, "mode": "checkout", "amount": 9000, "currency": "eur", "attempt": 1}'::jsonb,
  'the buyer starts a checkout for the order''s amount and currency');
select is(ops.begin_payment(pg_temp.oid(), pg_temp.uid('buyer')) ->> 'idempotency_key', 'checkout:' || pg_temp.oid() || ':1',
  'an attempt never recorded is retried with the same key');
select ops.record_payment_session(pg_temp.oid(), 1, 'cs_test_1', 'https://checkout.stripe.com/c/pay/cs_test_1', now() + interval '1 day');
select is(ops.begin_payment(pg_temp.oid(), pg_temp.uid('buyer')),
  '{"existing": true, "mode": "checkout", "checkout_session_id": "cs_test_1", "url": "https://checkout.stripe.com/c/pay/cs_test_1"}'::jsonb,
  'calling again returns the open session');
select throws_ok($$ select ops.begin_payment(pg_temp.oid(), pg_temp.uid('buyer'), 'payment_intent') $$,
  'PT409', format('order %s is being paid by checkout: finish or abandon that payment first', pg_temp.oid()),
  'a PaymentIntent is refused while a Checkout Session is open');
select is(pg_temp.pstatus(), 'pending', 'the escrow is pending');

-- ---------------------------------------------------------------------------------------
-- Events

select is(pg_temp.process(pg_temp.ev('evt_cs_done', 'checkout.session.completed', 3000, jsonb_build_object(
  'id', 'cs_test_1', 'object', 'checkout.session', 'amount_total', 9000, 'currency', 'eur', 'payment_status', 'paid',
  'payment_intent', 'pi_1', 'client_reference_id', pg_temp.oid(), 'metadata', jsonb_build_object('order_id', pg_temp.oid())))),
  'applied', 'checkout.session.completed is applied');
select is(pg_temp.pstatus(), 'held', 'the escrow holds the payment');
select is(pg_temp.ostatus(), 'in_progress', 'the order is in progress (record_order_payment)');
select is(private.ledger_balance('escrow', 'EUR', pg_temp.oid()), 9000::bigint, 'the ledger''s escrow holds 9000');

select is(pg_temp.process(pg_temp.ev('evt_cs_done', 'checkout.session.completed', 3000, jsonb_build_object(
  'id', 'cs_test_1', 'object', 'checkout.session', 'amount_total', 9000, 'currency', 'eur', 'payment_status', 'paid',
  'payment_intent', 'pi_1', 'metadata', jsonb_build_object('order_id', pg_temp.oid())))),
  'duplicate:applied', 'a duplicate delivery is acknowledged as a duplicate');
select is(pg_temp.process(pg_temp.ev('evt_pi_ok', 'payment_intent.succeeded', 3001, jsonb_build_object(
  'id', 'pi_1', 'object', 'payment_intent', 'amount', 9000, 'amount_received', 9000, 'currency', 'eur', 'status', 'succeeded',
  'latest_charge', 'ch_1', 'metadata', jsonb_build_object('order_id', pg_temp.oid())))),
  'ignored: already captured', 'payment_intent.succeeded after the session only fills in the charge');
select is((select stripe_charge_id from public.payments where order_id = pg_temp.oid()), 'ch_1', 'the charge id is recorded');
select is((select count(*)::int from public.ledger_transactions where order_id = pg_temp.oid()), 1, 'one posting for the payment');

select is(pg_temp.process(pg_temp.ev('evt_pi_fail', 'payment_intent.payment_failed', 2500, jsonb_build_object(
  'id', 'pi_1', 'object', 'payment_intent', 'amount', 9000, 'currency', 'eur', 'status', 'requires_payment_method',
  'last_payment_error', jsonb_build_object('message', 'Your card was declined.'), 'metadata', jsonb_build_object('order_id', pg_temp.oid())))),
  'applied', 'a payment failure arriving late is noted');
select is(pg_temp.pstatus() || '/' || pg_temp.ostatus(), 'held/in_progress', 'and moves neither the escrow nor the order back');

select is(pg_temp.process(pg_temp.ev('evt_unknown', 'customer.created', 3002, '{"id": "cus_1", "object": "customer"}')),
  'ignored: unhandled event type', 'an unhandled type is stored and ignored');
select is((select count(*)::int from public.stripe_events where id in ('evt_unknown', 'evt_cs_done')), 2, 'events are stored once by id');
select throws_ok($$ select ops.process_stripe_event('{"id": "nope"}') $$, '22023', 'not a Stripe event',
  'something that is not an event is refused');

-- Chargeback: freezes and books, won gives back, a late update changes nothing.
select is(pg_temp.process(pg_temp.ev('evt_dp1', 'charge.dispute.created', 4000,
  '{"id": "dp_1", "object": "dispute", "amount": 9000, "currency": "eur", "charge": "ch_1", "payment_intent": "pi_1", "status": "needs_response", "reason": "fraudulent"}')),
  'applied', 'charge.dispute.created is applied');
select is(pg_temp.pstatus() || '/' || private.ledger_balance('chargebacks', 'EUR', pg_temp.oid()), 'disputed/9000',
  'the escrow is frozen and the disputed amount booked to chargebacks');
select is(pg_temp.process(pg_temp.ev('evt_dp3', 'charge.dispute.closed', 4200,
  '{"id": "dp_1", "object": "dispute", "amount": 9000, "currency": "eur", "charge": "ch_1", "payment_intent": "pi_1", "status": "won", "reason": "fraudulent"}')),
  'applied', 'charge.dispute.closed (won) is applied');
select is(pg_temp.process(pg_temp.ev('evt_dp2', 'charge.dispute.updated', 4100,
  '{"id": "dp_1", "object": "dispute", "amount": 9000, "currency": "eur", "charge": "ch_1", "payment_intent": "pi_1", "status": "under_review", "reason": "fraudulent"}')),
  'ignored: older than what we have', 'an update arriving after the close changes nothing');
select is(pg_temp.pstatus() || '/' || private.ledger_balance('escrow', 'EUR', pg_temp.oid()), 'held/9000',
  'the won chargeback unfreezes the escrow and returns the amount to it');

-- The escrow's history is a record: nobody rewrites it, not even postgres.
select throws_ok($$ update public.payment_history set event = 'rewritten' where order_id = pg_temp.oid() $$,
  '42501', 'payment_history is append-only: the escrow''s history is only ever added to',
  'the escrow''s history cannot be changed');
select throws_ok($$ delete from public.payment_history where order_id = pg_temp.oid() $$,
  '42501', 'payment_history is append-only: the escrow''s history is only ever added to',
  'the escrow''s history cannot be deleted');

select * from finish();
rollback;
