-- The shop's money beside Stripe (80_payments.sql, 89_reconciliation.sql): Stripe's fee on a
-- checkout's charge is posted once as every sale's fee is (fee:<charge>, platform_commission ->
-- stripe_fees), from the charge's webhook or ops.record_shop_stripe_fee, refused precisely for
-- another charge, another currency or no payment; a transfer to a seller who cannot receive
-- transfers fails without Stripe (attempt counted, retry in 5 minutes), is due at once when the
-- seller can, a retry after Stripe refused gets its own key and waits twice as long, the 10th
-- failure gives up and tells staff and the seller; the ops list is read by staff and the seller
-- only; ops.shop_reconciliation finds nothing on a clean checkout and names a tampered amount
-- and a stale claim precisely. Service-only functions refuse signed-in users.
begin;
select plan(39);

select tests.create_user('sm-seller-a@example.com');
select tests.create_user('sm-seller-b@example.com');
select tests.create_user('sm-buyer@example.com');
select tests.create_user('sm-stranger@example.com');
select tests.create_user('sm-staff@example.com');
insert into public.shops (id, shop_name, category)
values (tests.get_user_id('sm-seller-a@example.com'), 'Money A', 'general'),
       (tests.get_user_id('sm-seller-b@example.com'), 'Money B', 'general');
select tests.grant_role('sm-seller-a@example.com', 'seller');
select tests.grant_role('sm-seller-b@example.com', 'seller');
select tests.grant_role('sm-staff@example.com', 'staff');
insert into public.shipping_profiles (id, shop_id, name, currency) values
  ('00000000-0000-0000-0000-0000000005a1', tests.get_user_id('sm-seller-a@example.com'), 'Std', 'USD'),
  ('00000000-0000-0000-0000-0000000005b1', tests.get_user_id('sm-seller-b@example.com'), 'Std', 'USD');
insert into public.shipping_rates (profile_id, country, first_item, additional_item, min_days, max_days) values
  ('00000000-0000-0000-0000-0000000005a1', '*', 500, 0, 2, 5),
  ('00000000-0000-0000-0000-0000000005b1', '*', 700, 0, 3, 9);
insert into public.products (id, shop_id, title, price, currency, kind, shipping_profile_id, status, sku) values
  ('00000000-0000-0000-0000-00000005a001', tests.get_user_id('sm-seller-a@example.com'), 'Lamp', 2500, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000005a1', 'active', 'SM-LAMP'),
  ('00000000-0000-0000-0000-00000005b001', tests.get_user_id('sm-seller-b@example.com'), 'Mug', 2000, 'USD', 'physical',
   '00000000-0000-0000-0000-0000000005b1', 'active', 'SM-MUG');
select private.move_stock(id, 'adjustment', 10, 0, 'stock', 'test') from public.products where sku in ('SM-LAMP', 'SM-MUG');
insert into public.addresses (id, user_id, full_name, address_line1, city, country_code) values
  ('00000000-0000-0000-0000-0000000005ad', tests.get_user_id('sm-buyer@example.com'), 'Buyer', '1 Main St', 'New York', 'US');
-- Seller A can receive transfers; seller B has not set up payouts.
insert into public.seller_payment_accounts (user_id, stripe_account_id, payouts_enabled, transfers_active)
values (tests.get_user_id('sm-seller-a@example.com'), 'acct_smA', true, true);

select tests.act_as('sm-buyer@example.com');
select public.add_cart_item('00000000-0000-0000-0000-00000005a001', 2);
select public.add_cart_item('00000000-0000-0000-0000-00000005b001', 1);
select (public.checkout_cart('00000000-0000-0000-0000-0000000005ad')).id as checkout \gset
select tests.act_as('service_role');
select ops.begin_shop_payment(:'checkout', tests.get_user_id('sm-buyer@example.com')) as started \gset
select ops.record_shop_payment_session(:'checkout', 1, 'cs_test_sm1', 'https://checkout.example/cs_test_sm1', now() + interval '30 minutes');
select tests.act_as('postgres');
select id as order_a from public.shop_orders
 where checkout_id = :'checkout' and shop_id = tests.get_user_id('sm-seller-a@example.com') \gset
select total as checkout_total from public.checkouts where id = :'checkout' \gset

-- The fee, from the charge's webhook (it may come before the completion) --------------------------
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_sm_charge', 'object', 'event',
  'type', 'charge.succeeded', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'ch_sm1', 'object', 'charge', 'status', 'succeeded',
    'payment_intent', 'pi_sm1', 'amount', :'checkout_total'::bigint, 'currency', 'usd',
    'metadata', jsonb_build_object('checkout_id', :'checkout'),
    'balance_transaction', jsonb_build_object('id', 'txn_sm1', 'object', 'balance_transaction', 'fee', 235, 'currency', 'usd')))))),
  'applied', 'the charge''s webhook posts its fee');
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_sm_completed', 'object', 'event',
  'type', 'checkout.session.completed', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'cs_test_sm1', 'object', 'checkout.session', 'payment_status', 'paid',
    'payment_intent', 'pi_sm1', 'amount_total', :'checkout_total'::bigint, 'currency', 'usd',
    'client_reference_id', :'checkout', 'metadata', jsonb_build_object('checkout_id', :'checkout')))))),
  'applied', 'the completion pays the checkout');
select results_eq($$ select a.kind, e.amount from public.ledger_transactions t join public.ledger_entries e on e.transaction_id = t.id
                      join public.ledger_accounts a on a.id = e.account_id where t.idempotency_key = 'fee:ch_sm1' order by a.kind $$,
  $$ values ('platform_commission'::text, -235::bigint), ('stripe_fees', 235) $$,
  'fee:<charge>: the platform''s commission pays Stripe''s fee, as for a commission order');
select is((select (stripe_fee, stripe_charge_id)::text from public.shop_payments where checkout_id = :'checkout'), '(235,ch_sm1)',
  'the payment records the fee and its charge');
-- The same fee seen again: charge.updated (the webhook read its balance transaction), the function.
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_sm_charge_updated', 'object', 'event',
  'type', 'charge.updated', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'ch_sm1', 'object', 'charge', 'status', 'succeeded',
    'payment_intent', 'pi_sm1', 'metadata', jsonb_build_object('checkout_id', :'checkout'), 'balance_transaction', 'txn_sm1'))),
  jsonb_build_object('id', 'txn_sm1', 'object', 'balance_transaction', 'fee', 235, 'currency', 'usd'))),
  'ignored: already recorded', 'charge.updated with the same fee changes nothing');
select tests.act_as('service_role');
select is(ops.record_shop_stripe_fee(:'checkout', 'ch_sm1', '{"fee": 235, "currency": "usd"}'), 'ignored: already recorded',
  'the function finding it again changes nothing');
select is(ops.shop_fee_due(:'checkout'), null, 'no fee left to read');
select tests.act_as('postgres');
select is((select count(*)::int from public.ledger_transactions where idempotency_key = 'fee:ch_sm1'), 1, 'the fee is posted once');
select tests.act_as('service_role');
select throws_ok(format($$ select ops.record_shop_stripe_fee(%L, 'ch_other', '{"fee": 10, "currency": "usd"}') $$, :'checkout'), 'PT409',
  format('charge ch_other is not the payment of checkout %s (its charge is ch_sm1)', :'checkout'), 'another charge''s fee is refused');
select throws_ok(format($$ select ops.record_shop_stripe_fee(%L, 'ch_sm1', '{"fee": 10, "currency": "eur"}') $$, :'checkout'), '22023',
  format('the fee of charge ch_sm1 is in EUR, checkout %s is paid in USD', :'checkout'), 'a fee in another currency is refused');
select throws_ok($$ select ops.record_shop_stripe_fee('00000000-0000-0000-0000-0000000005ff', 'ch_x', '{"fee": 10, "currency": "usd"}') $$,
  'PT404', 'checkout 00000000-0000-0000-0000-0000000005ff has no payment', 'a checkout without a payment is not found');
select tests.act_as('postgres');
select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_sm_charge_other', 'object', 'event',
  'type', 'charge.updated', 'created', extract(epoch from now())::bigint,
  'data', jsonb_build_object('object', jsonb_build_object('id', 'ch_other', 'object', 'charge', 'status', 'succeeded',
    'metadata', jsonb_build_object('checkout_id', :'checkout'),
    'balance_transaction', jsonb_build_object('id', 'txn_other', 'fee', 99, 'currency', 'usd')))))),
  format('ignored: charge ch_other is not the payment of checkout %s (its charge is ch_sm1)', :'checkout'),
  'the webhook acknowledges another charge''s fee without posting it (Stripe must not retry)');

-- Transfers: a seller who cannot receive fails without Stripe, retried with backoff --------------
select tests.act_as('service_role');
select ops.claim_shop_transfers(:'checkout') as claims \gset
select is((select jsonb_agg(c ->> 'idempotency_key') from jsonb_array_elements(:'claims'::jsonb) c),
  jsonb_build_array('shop_transfer:' || :'order_a'), 'only seller A''s transfer is claimed, with the first attempt''s key');
select tests.act_as('postgres');
select id as order_b, total - commission_amount as share_b from public.shop_orders
 where checkout_id = :'checkout' and shop_id = tests.get_user_id('sm-seller-b@example.com') \gset
select is((select (attempts, last_error, claimed_at is null, destination is null)::text from public.shop_transfers where shop_order_id = :'order_b'),
  '(1,"the seller cannot receive transfers yet",t,t)', 'seller B''s transfer failed once without calling Stripe');
select ok((select next_attempt_at between now() + interval '5 minutes' - interval '1 second' and now() + interval '5 minutes' + interval '1 second'
             from public.shop_transfers where shop_order_id = :'order_b'), 'its retry is due in 5 minutes');
select tests.act_as('service_role');
select is(jsonb_array_length(ops.claim_shop_transfers(:'checkout')), 0, 'nothing is due again at once');
select is(array(select ops.due_shop_transfers(100)), '{}'::uuid[], 'the retry job finds nothing due (A in flight, B waiting)');
select tests.act_as('postgres');
select is((select attempts from public.shop_transfers where shop_order_id = :'order_b'), 1, 'asking again counted no attempt');
-- Seller B finishes onboarding: due at once, without waiting out the backoff.
insert into public.seller_payment_accounts (user_id, stripe_account_id, payouts_enabled, transfers_active)
values (tests.get_user_id('sm-seller-b@example.com'), 'acct_smB', true, true);
select tests.act_as('service_role');
select is(array(select ops.due_shop_transfers(100)), array[:'checkout'::uuid], 'the checkout is due once seller B can receive');
select ops.claim_shop_transfers(:'checkout') as claims_b \gset
select is(:'claims_b'::jsonb -> 0 ->> 'idempotency_key', 'shop_transfer:' || :'order_b' || ':2', 'the retry has its own key (attempt 2)');
-- Stripe refuses it: counted, a new wait twice as long, not due though the seller can receive.
select ops.abandon_shop_transfer(:'order_b', 'insufficient funds in the source transaction');
select tests.act_as('postgres');
select is((select (attempts, claimed_at is null)::text from public.shop_transfers where shop_order_id = :'order_b'), '(2,t)',
  'the refusal is the second failed attempt, the claim dropped');
select ok((select next_attempt_at between now() + interval '10 minutes' - interval '1 second' and now() + interval '10 minutes' + interval '1 second'
             from public.shop_transfers where shop_order_id = :'order_b'), 'the next wait is 10 minutes');
select tests.act_as('service_role');
select is(array(select ops.due_shop_transfers(100)), '{}'::uuid[], 'not due before its time');
select tests.act_as('postgres');
update public.shop_transfers set next_attempt_at = now() - interval '1 second' where shop_order_id = :'order_b';
select tests.act_as('service_role');
select is(ops.claim_shop_transfers(:'checkout') -> 0 ->> 'idempotency_key', 'shop_transfer:' || :'order_b' || ':3',
  'once due, claimed with attempt 3''s key');
select is(array[private.shop_transfer_backoff(1), private.shop_transfer_backoff(2), private.shop_transfer_backoff(4),
                private.shop_transfer_backoff(9)],
  array[interval '5 minutes', interval '10 minutes', interval '40 minutes', interval '12 hours'], 'backoff: 5 minutes doubling, at most 12 hours');

-- The 10th failure gives up and tells staff and the seller --------------------------------------
select tests.act_as('postgres');
update public.shop_transfers set attempts = 9 where shop_order_id = :'order_b';
select tests.act_as('service_role');
select ops.abandon_shop_transfer(:'order_b', 'account closed');
select tests.act_as('postgres');
select is((select (attempts, gave_up_at is not null)::text from public.shop_transfers where shop_order_id = :'order_b'), '(10,t)',
  'the 10th failure gives up');
select is((select recipients @> array[tests.get_user_id('sm-staff@example.com'), tests.get_user_id('sm-seller-b@example.com')]
             from private.domain_events where event_type = 'shop_transfer.failed' and subject_id = :'order_b'),
  true, 'shop_transfer.failed goes to commerce staff and the seller');
update public.shop_transfers set next_attempt_at = now() - interval '1 day' where shop_order_id = :'order_b';
select tests.act_as('service_role');
select is(array(select ops.due_shop_transfers(100)), '{}'::uuid[], 'a given-up transfer is never due again');
select tests.act_as('sm-seller-b@example.com');
select is((select (attempts, last_error)::text from public.shop_transfers_failing where shop_order_id = :'order_b'), '(10,"account closed")',
  'the seller reads their failing transfer in the ops list');
select tests.act_as('sm-staff@example.com');
select is((select count(*)::int from public.shop_transfers_failing where checkout_id = :'checkout'), 1, 'commerce staff read it');
select tests.act_as('sm-seller-a@example.com');
select is((select count(*)::int from public.shop_transfers_failing where checkout_id = :'checkout'), 0, 'another seller does not');
select tests.act_as('sm-stranger@example.com');
select is((select count(*)::int from public.shop_transfers_failing), 0, 'a stranger reads none');
select tests.act_as('anon');
select throws_ok($$ select * from public.shop_transfers_failing $$, '42501', 'permission denied for view shop_transfers_failing',
  'anon reads nothing');

-- Reconciliation, the database's half ------------------------------------------------------------
-- Seller B's staff-mended transfer: the give-up lifted, recorded at last; A's recorded too.
select tests.act_as('postgres');
update public.shop_transfers set gave_up_at = null, attempts = 2 where shop_order_id = :'order_b';
select total - commission_amount as share_a from public.shop_orders where id = :'order_a' \gset
select tests.act_as('service_role');
select ops.record_shop_transfer(:'order_a', 'tr_smA', :'share_a');
select ops.record_shop_transfer(:'order_b', 'tr_smB', :'share_b');
select is((select problems from ops.shop_reconciliation() where checkout_id = :'checkout'), '{}'::text[],
  'a paid and paid-out checkout reconciles');
select is((select (ledger_captured, ledger_escrow, ledger_fee, jsonb_array_length(transfers))::text from ops.shop_reconciliation()
            where checkout_id = :'checkout'), format('(%s,0,235,2)', :'checkout_total'),
  'the ledger''s figures: captured, escrow emptied by the payouts, the fee, two transfers');
select tests.act_as('postgres');
update public.shop_payments set amount_captured = amount_captured + 1 where checkout_id = :'checkout';
update public.shop_transfers set stripe_transfer_id = null, transferred_at = null, claimed_at = now() - interval '2 hours'
 where shop_order_id = :'order_b';
select tests.act_as('service_role');
select is((select problems from ops.shop_reconciliation() where checkout_id = :'checkout'), array[
  format('ledger captured %s <> shop payment %s', :'checkout_total', :'checkout_total'::bigint + 1),
  format('escrow balance 0 <> captured less paid out less refunded before payout %s', :'share_b'::bigint
         + (select commission_amount from public.shop_orders where id = :'order_b') + 1),
  format('shop order %s: ledger transferred %s <> shop transfer 0', :'order_b', :'share_b'),
  format('shop order %s: transfer claimed over an hour ago, never recorded', :'order_b')],
  'a tampered amount and a transfer row out of step with the ledger are named precisely');
select is((select count(*)::int from ops.shop_reconciliation(now() + interval '1 day') where checkout_id = :'checkout'), 1,
  'outside the window, a checkout with problems is still reported');

-- Service only ---------------------------------------------------------------------------------
select tests.act_as('sm-staff@example.com');
select throws_ok($$ select * from ops.shop_reconciliation() $$, '42501', 'permission denied for schema ops', 'staff cannot run reconciliation directly');
select tests.act_as('sm-seller-b@example.com');
select throws_ok($$ select ops.due_shop_transfers(1) $$, '42501', 'permission denied for schema ops', 'a seller cannot list due transfers');

select * from finish();
rollback;
