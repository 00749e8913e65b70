-- Release, refunds and dispute resolution: who may, in which state, never more than is
-- refundable, and one effect (one claim, one ledger posting) however often they are called
-- or confirmed (by the function and by the webhook). Then the automatic release.
begin;
select plan(59);

select tests.create_user('rr-buyer@example.com');
select tests.create_user('rr-seller@example.com');
select tests.create_user('rr-stranger@example.com');
select tests.create_user('rr-admin@example.com');
select tests.clear_authentication();
select tests.grant_role('rr-admin@example.com', 'admin');

create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('rr-' || who || '@example.com') $$;
select user_id from ops.register_payment_account(pg_temp.uid('seller'), 'acct_1RrSeller',
  '{"charges_enabled": true, "payouts_enabled": true, "capabilities": {"transfers": "active"}}');

-- An order in the given state whose payment (pi_<n>, ch_<n>) was captured: paid through the
-- webhook path rather than tests.order_in's direct record_order_payment.
create function pg_temp.paid_order(state text) returns uuid language plpgsql as $$
declare
  o uuid := tests.order_in('rr-buyer@example.com', 'rr-seller@example.com', 'awaiting_payment');
  n text := replace(o::text, '-', '');
  -- Looked up while still postgres: once authenticated, pg_temp functions are not executable.
  buyer uuid := pg_temp.uid('buyer');
  seller uuid := pg_temp.uid('seller');
begin
  perform ops.begin_payment(o, buyer, 'payment_intent');
  perform ops.process_stripe_event(jsonb_build_object('id', 'evt_pi_' || n, 'object', 'event', 'created', 1000,
    'type', 'payment_intent.succeeded', 'data', jsonb_build_object('object', jsonb_build_object(
      'id', 'pi_' || n, 'object', 'payment_intent', 'amount_received', 9000, 'currency', 'eur', 'latest_charge', 'ch_' || n,
      'metadata', jsonb_build_object('order_id', o)))));
  if state in ('delivered', 'completed', 'disputed') then
    perform tests.authenticate_as(seller);
    perform public.submit_delivery(o, 'Done', '{}');
  end if;
  perform tests.authenticate_as(buyer);
  if state = 'completed' then perform public.approve_delivery(o); end if;
  if state = 'disputed' then perform public.open_dispute(o, 'The delivery is not what we agreed'); end if;
  perform tests.clear_authentication();
  return o;
end
$$;
create function pg_temp.postings(o uuid, prefix text) returns int language sql as $$
  select count(*)::int from public.ledger_transactions where order_id = o and idempotency_key like prefix || ':%'
$$;

create temp table ids as select pg_temp.paid_order('in_progress') as working, pg_temp.paid_order('completed') as done,
  pg_temp.paid_order('disputed') as disputed, pg_temp.paid_order('in_progress') as cancelled,
  pg_temp.paid_order('in_progress') as by_policy;
create function pg_temp.id(which text) returns uuid language plpgsql as $$
declare r uuid; begin execute format('select %I from ids', which) into r; return r; end $$;

-- ---------------------------------------------------------------------------------------
-- Release

select throws_ok($$ select ops.claim_release(pg_temp.id('working'), pg_temp.uid('buyer')) $$,
  'PT409', format('order %s is in_progress: its escrow is released once the buyer approves the delivery', pg_temp.id('working')),
  'an order in progress is not released');
select throws_ok($$ select ops.claim_release(pg_temp.id('done'), pg_temp.uid('seller')) $$,
  '42501', format('only the buyer or an admin releases the escrow of order %s', pg_temp.id('done')),
  'the seller does not release');
select throws_ok($$ select ops.claim_release(pg_temp.id('done'), pg_temp.uid('stranger')) $$,
  'PT404', format('order %s not found', pg_temp.id('done')),
  'a stranger finds no order');
select throws_ok(format($$ select ops.claim_release(%L, pg_temp.uid('admin')) $$, unknown_id),
  'PT404', format('order %s not found', unknown_id),
  'an unknown order is not found') from gen_random_uuid() unknown_id;

select is(ops.claim_release(pg_temp.id('done'), pg_temp.uid('buyer')) - 'order_id',
  jsonb_build_object('state', 'claimed', 'amount', 8100, 'currency', 'eur', 'commission', 900, 'destination', 'acct_1RrSeller',
    'source_transaction', 'ch_' || replace(pg_temp.id('done')::text, '-', ''), 'payment_intent', 'pi_' || replace(pg_temp.id('done')::text, '-', ''),
    'transfer_group', 'order_' || pg_temp.id('done'), 'idempotency_key', 'transfer:' || pg_temp.id('done')),
  'the buyer of a completed order claims the release: price less 10% commission, from the charge');
select throws_ok($$ select ops.claim_release(pg_temp.id('done'), pg_temp.uid('admin')) $$,
  'PT409', format('a release of order %s is in progress', pg_temp.id('done')),
  'a second claim while the first is in flight is refused: nothing goes to Stripe twice');
update public.payments set release_claimed_at = now() - interval '2 minutes' where order_id = pg_temp.id('done');
select is(ops.claim_release(pg_temp.id('done'), pg_temp.uid('buyer')) ->> 'idempotency_key', 'transfer:' || pg_temp.id('done'),
  'an expired claim is retried with the same key');

select is(ops.record_release(pg_temp.id('done'), 'tr_1', 8100), 'applied', 'the transfer is recorded');
select is(ops.record_release(pg_temp.id('done'), 'tr_1', 8100), 'ignored: already recorded', 'recording it again changes nothing');
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_tr_1', 'object', 'event', 'created', 2000,
    'type', 'transfer.created', 'data', jsonb_build_object('object', jsonb_build_object('id', 'tr_1', 'object', 'transfer',
    'amount', 8100, 'currency', 'eur', 'metadata', jsonb_build_object('order_id', pg_temp.id('done'))))))),
  'ignored: already recorded', 'and so does its transfer.created webhook');
select is(pg_temp.postings(pg_temp.id('done'), 'release') || '/' || pg_temp.postings(pg_temp.id('done'), 'transfer'), '1/1',
  'one release posting and one transfer posting');
select is(private.ledger_balance('escrow', 'EUR', pg_temp.id('done')), 0::bigint, 'the escrow is empty');
select is((select status from public.payments where order_id = pg_temp.id('done')), 'released', 'the escrow is released');
select is(ops.claim_release(pg_temp.id('done'), pg_temp.uid('buyer')) ->> 'state', 'released',
  'claiming a released order answers with the transfer, nothing to do');

-- ---------------------------------------------------------------------------------------
-- Refunds

select throws_ok($$ select ops.claim_refund(pg_temp.id('working'), pg_temp.uid('buyer'), null, 'changed my mind') $$,
  'PT409', format('order %s is in_progress: without an admin, only a paid order cancelled before delivery is refunded', pg_temp.id('working')),
  'a buyer cannot refund an order in progress');
select throws_ok($$ select ops.claim_refund(pg_temp.id('working'), pg_temp.uid('buyer'), 100, 'changed my mind') $$,
  '42501', 'only an admin chooses a refund amount',
  'only an admin chooses an amount');
select throws_ok($$ select ops.claim_refund(pg_temp.id('done'), pg_temp.uid('admin'), 9001, 'goodwill') $$,
  '22023', format('a refund of 9001 exceeds the 9000 EUR still refundable on order %s', pg_temp.id('done')),
  'a refund above the refundable is refused');
select throws_ok($$ select ops.claim_refund(pg_temp.id('done'), pg_temp.uid('stranger'), null, 'mine') $$,
  'PT404', format('order %s not found', pg_temp.id('done')),
  'a stranger finds no order');

-- After release: the seller's share of the refund (less its commission) is reversed.
create temp table r1 as select ops.claim_refund(pg_temp.id('done'), pg_temp.uid('admin'), 1000, 'goodwill') as claim;
select is((select (claim ->> 'amount')::int || '/' || (claim ->> 'reversal_amount')::int || '/' || (claim ->> 'transfer_id') from r1),
  '1000/900/tr_1', 'an admin''s partial refund after release reverses 900 of the seller''s transfer');
select throws_ok($$ select ops.claim_refund(pg_temp.id('done'), pg_temp.uid('admin'), 1000, 'again') $$,
  'PT409', format('a refund of order %s is in progress', pg_temp.id('done')),
  'a second refund while one is in flight is refused');
select is(ops.record_refund_reversal((select (claim ->> 'refund_id')::uuid from r1), 'trr_1'), 'applied', 'the reversal is recorded');
select is(ops.record_refund((select (claim ->> 'refund_id')::uuid from r1), 're_1', 'succeeded'), 'applied', 'the refund is recorded');
select is(ops.record_refund((select (claim ->> 'refund_id')::uuid from r1), 're_1', 'pending'), 'ignored: already succeeded',
  'a late pending status changes nothing');
select is(pg_temp.postings(pg_temp.id('done'), 'refund') || '/' || pg_temp.postings(pg_temp.id('done'), 'reversal'), '1/1',
  'one refund posting and one reversal posting');
select is((select status || '/' || amount_refunded || '/' || amount_reversed from public.payments where order_id = pg_temp.id('done')),
  'partially_refunded/1000/900', 'the escrow is partially refunded');
select is(private.ledger_balance('seller_transfers', 'EUR', null, pg_temp.uid('seller')), 7200::bigint,
  'the seller keeps 8100 - 900 transferred');

-- By policy: the seller cancels a paid order before delivery; either party asks for the refund.
select set_config('test.cancelled', pg_temp.id('cancelled')::text, true);
select tests.authenticate_as(tests.get_user_id('rr-seller@example.com'));
select status from public.cancel_order(current_setting('test.cancelled')::uuid, 'Cannot do it after all');
select tests.clear_authentication();
select ok(pg_temp.id('cancelled') in (select ops.due_refunds()), 'it is due for a refund by policy');
create temp table r2 as select ops.claim_refund(pg_temp.id('cancelled'), pg_temp.uid('buyer'), null, 'order cancelled') as claim;
select is((select (claim ->> 'amount')::int || '/' || (claim ->> 'reversal_amount')::int from r2), '9000/0',
  'the buyer of a paid order cancelled before delivery is refunded in full, from escrow');
select is(ops.record_refund((select (claim ->> 'refund_id')::uuid from r2), 're_2', 'succeeded'), 'applied', 'recorded');
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_ch_ref', 'object', 'event', 'created', 3000,
    'type', 'charge.refunded', 'data', jsonb_build_object('object', jsonb_build_object('id', 'ch_' || replace(pg_temp.id('cancelled')::text, '-', ''),
    'object', 'charge', 'amount', 9000, 'amount_refunded', 9000, 'currency', 'eur',
    'payment_intent', 'pi_' || replace(pg_temp.id('cancelled')::text, '-', '')))))),
  'ignored: no refund beyond those recorded', 'charge.refunded for our own refund books nothing more');
select is((select status from public.payments where order_id = pg_temp.id('cancelled')) || '/' || private.ledger_balance('escrow', 'EUR', pg_temp.id('cancelled')),
  'refunded/0', 'the escrow is refunded and empty');
select throws_ok($$ select ops.claim_refund(pg_temp.id('cancelled'), pg_temp.uid('admin'), 1, 'more') $$,
  'PT409', format('order %s has nothing left to refund', pg_temp.id('cancelled')),
  'nothing is left to refund');
select ok(pg_temp.id('cancelled') not in (select ops.due_refunds()), 'and no longer due');

-- By policy, when nobody asks: the payments-refund-due job refunds as the system (acting_user null).
select set_config('test.by_policy', pg_temp.id('by_policy')::text, true);
select tests.authenticate_as(tests.get_user_id('rr-seller@example.com'));
select status from public.cancel_order(current_setting('test.by_policy')::uuid, 'Fabric no longer made');
select tests.clear_authentication();
select throws_ok($$ select ops.claim_refund(pg_temp.id('by_policy'), null, 100, 'order cancelled before delivery') $$,
  '42501', 'only an admin chooses a refund amount',
  'the system refunds in full, never an amount of its choosing');
select throws_ok($$ select ops.claim_refund(pg_temp.id('working'), null, null, 'order cancelled before delivery') $$,
  'PT409', format('order %s is in_progress: without an admin, only a paid order cancelled before delivery is refunded', pg_temp.id('working')),
  'nor an order still in progress');
select throws_ok(format($$ select ops.claim_refund(%L, null, null, 'order cancelled before delivery') $$, unknown_id),
  'PT404', format('order %s not found', unknown_id),
  'nor an unknown one') from gen_random_uuid() unknown_id;
create temp table r3 as select ops.claim_refund(pg_temp.id('by_policy'), null, null, 'order cancelled before delivery') as claim;
select is((select (claim ->> 'amount')::int || '/' || (claim ->> 'reversal_amount')::int from r3), '9000/0',
  'the system claims the whole payment back from escrow');
select ok(pg_temp.id('by_policy') not in (select ops.due_refunds()), 'a claimed refund is not due again while its lease runs');
update public.payment_refunds set claimed_at = now() - interval '2 minutes' where id = (select (claim ->> 'refund_id')::uuid from r3);
select ok(pg_temp.id('by_policy') in (select ops.due_refunds()), 'an abandoned claim is due again');
select is(ops.claim_refund(pg_temp.id('by_policy'), null, null, 'order cancelled before delivery') ->> 'idempotency_key',
  'refund:' || (select claim ->> 'refund_id' from r3), 'and is retried with the same refund and key');
select is(ops.record_refund((select (claim ->> 'refund_id')::uuid from r3), 're_3', 'failed'), 'applied', 'Stripe fails the refund');
select ok(pg_temp.id('by_policy') not in (select ops.due_refunds()), 'a refund Stripe failed is left to an admin, not retried by policy');
select ok(not has_function_privilege('authenticated', tests.ops_function('due_refunds'), 'execute')
          and has_function_privilege('service_role', tests.ops_function('due_refunds'), 'execute'),
  'only the service role lists due refunds');

-- ---------------------------------------------------------------------------------------
-- Disputes

select is((select status from public.payments where order_id = pg_temp.id('disputed')), 'disputed', 'the buyer''s dispute freezes the escrow');
update public.orders set status = 'completed' where id = pg_temp.id('disputed'); -- even were the order completed by mistake
select throws_ok($$ select ops.claim_release(pg_temp.id('disputed'), pg_temp.uid('admin')) $$,
  'PT409', format('order %s is disputed: its escrow is frozen until an admin resolves the dispute', pg_temp.id('disputed')),
  'a disputed escrow is not released');
update public.orders set status = 'disputed' where id = pg_temp.id('disputed');
select throws_ok($$ select ops.claim_refund(pg_temp.id('disputed'), pg_temp.uid('admin'), 100, 'x') $$,
  'PT409', format('order %s is disputed: it is refunded through the dispute''s resolution', pg_temp.id('disputed')),
  'nor refunded outside the resolution');
select throws_ok($$ select ops.resolve_dispute(pg_temp.id('disputed'), pg_temp.uid('buyer'), 'refund') $$,
  '42501', 'only an admin resolves disputes',
  'only an admin resolves a dispute');
select throws_ok($$ select ops.resolve_dispute(pg_temp.id('disputed'), pg_temp.uid('admin'), 'release', 9000) $$,
  '22023', 'a release must leave something to release: refund_amount 9000 is not less than the 9000 refundable',
  'a release must leave something to release');

create temp table res as select ops.resolve_dispute(pg_temp.id('disputed'), pg_temp.uid('admin'), 'release', 3000, 'split') as r;
select is((select (r ->> 'order_status') || '/' || (r #>> '{refund,amount}') || '/' || (r #>> '{release,amount}') from res),
  'completed/3000/5400', 'a split release: 3000 back to the buyer, the rest less commission to the seller');
select is((select status || '/' || resolution from public.disputes where order_id = pg_temp.id('disputed')), 'resolved/release',
  'the dispute is resolved');
select throws_ok($$ select ops.resolve_dispute(pg_temp.id('disputed'), pg_temp.uid('admin'), 'refund') $$,
  'PT409', format('order %s has no open dispute', pg_temp.id('disputed')),
  'a resolved dispute is not resolved again');

-- ---------------------------------------------------------------------------------------
-- The book agrees with the escrow rows

select is_empty($$ select order_id, problems from ops.payments_reconciliation(true) where order_id in (select done from ids union all select cancelled from ids) $$,
  'reconciliation finds the released-then-refunded and the cancelled-then-refunded orders consistent');
select is((select ledger_transferred from ops.payments_reconciliation() where order_id = pg_temp.id('done')), 7200::bigint,
  'reconciliation derives the net transfer from the ledger');
select is((select count(*)::int from ops.payments_reconciliation(false, now() + interval '1 day')
            where order_id in (select done from ids union all select cancelled from ids)), 0,
  'a window after an order''s last activity leaves it out');
select is((select count(*)::int from ops.payments_reconciliation(false, null, null, 2)), 2, 'max_rows is a page size');
select is((select array_agg(order_id order by order_id) from ops.payments_reconciliation(false, null, (select order_id from public.payments order by order_id limit 1), 1000)),
          (select array_agg(order_id order by order_id) from public.payments where order_id > (select order_id from public.payments order by order_id limit 1)),
  'the next page starts after after_order_id');
-- A disagreement made by hand, past the escrow guards (replica mode skips triggers), dated a year ago.
set local session_replication_role = replica;
update public.payments set amount_captured = amount_captured + 1, updated_at = now() - interval '1 year'
 where order_id = pg_temp.id('working');
select is((select problems from ops.payments_reconciliation(false, now() + interval '1 day') where order_id = pg_temp.id('working')),
  array['ledger captured 9000 <> escrow 9001', 'escrow balance 9000 <> captured less refunded less chargebacks'],
  'an order whose ledger and escrow disagree is always in, however old');
update public.payments set amount_captured = amount_captured - 1 where order_id = pg_temp.id('working');
set local session_replication_role = origin;

-- ---------------------------------------------------------------------------------------
-- Automatic release

update public.orders set delivered_at = now() - interval '15 days' where status = 'delivered';
create temp table auto as select pg_temp.paid_order('delivered') as o;
update public.orders set delivered_at = now() - interval '15 days' where id = (select o from auto);
select ok(private.auto_complete_delivered_orders() >= 1, 'the job completes delivered orders older than auto_release_days');
select is((select status from public.orders where id = (select o from auto)) || '/' ||
          ((select o from auto) in (select ops.due_releases())), 'completed/true',
  'the order is completed and its escrow due for release');

select * from finish();
rollback;
