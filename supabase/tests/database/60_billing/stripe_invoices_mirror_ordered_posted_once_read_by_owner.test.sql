-- Stripe Billing's database side (70_stripe_billing.sql): the stripe_invoices mirror applies
-- invoice events in any order and repeated to the same row (status rank, then time, then id),
-- a paid invoice is posted to the ledger once (subscription_funding -> subscription_revenue) and
-- its Stripe fee once (subscription_revenue -> stripe_fees); users read their own invoices, staff
-- all, strangers and anon nothing, nobody writes; other customers' invoices and subscriptions
-- are acknowledged and ignored. ops.apply_billing_event notes its outcome on the stored event. The subscribe checks refuse precisely; the customer is recorded once.
begin;
select plan(29);

select tests.create_user('inv-owner@example.com');
select tests.create_user('inv-stranger@example.com');
select tests.create_user('inv-staff@example.com');
select tests.grant_role('inv-staff@example.com', 'staff');
select tests.clear_authentication();

insert into public.billing_customers (user_id, stripe_customer_id)
values (tests.get_user_id('inv-owner@example.com'), 'cus_INV');

create function pg_temp.ev(id text, t integer, status text, extra jsonb default '{}') returns jsonb
language sql as $$
  select jsonb_build_object('id', id, 'object', 'event', 'created', t, 'type', 'invoice.' || status,
    'data', jsonb_build_object('object', jsonb_build_object(
      'id', 'in_A', 'object', 'invoice', 'customer', 'cus_INV', 'status', status, 'currency', 'krw', 'created', 1000,
      'billing_reason', 'subscription_cycle', 'subtotal', 9900, 'total', 9900, 'amount_due', 9900,
      'amount_paid', case when status = 'paid' then 9900 else 0 end,
      'amount_remaining', case when status = 'paid' then 0 else 9900 end, 'period_start', 1000, 'period_end', 3600,
      'parent', jsonb_build_object('subscription_details', jsonb_build_object('subscription', 'sub_INV')),
      'lines', jsonb_build_object('data', jsonb_build_array(jsonb_build_object('description', '1 × Pro', 'amount', 9900,
        'period', jsonb_build_object('start', 1000, 'end', 3600))))) || extra))
$$;

create temp table events (n integer, event jsonb);
insert into events values
  (1, pg_temp.ev('evt_i1', 1000, 'draft')),
  (2, pg_temp.ev('evt_i2', 1000, 'open', '{"number": "INV-0001"}')),
  (3, pg_temp.ev('evt_i3', 1001, 'paid', '{"number": "INV-0001", "status_transitions": {"paid_at": 1001}}')),
  (4, pg_temp.ev('evt_i4', 1002, 'open', '{"number": "INV-0001"}'));

select is(private.apply_invoice_snapshot((select event from events where n = 3)), 'inserted, posted', 'paid first: inserted and posted');
select is(private.apply_invoice_snapshot((select event from events where n = 1)), 'stale', 'the draft after it is stale');
select is(private.apply_invoice_snapshot((select event from events where n = 2)), 'stale', 'the open after it is stale');
select is(private.apply_invoice_snapshot((select event from events where n = 4)), 'stale',
  'an open snapshot of a later second never moves a paid invoice back');
select is(private.apply_invoice_snapshot((select event from events where n = 3)), 'applied, posted', 'the same event again is idempotent');
select is((select row(status, number, amount_paid, user_id, stripe_subscription_id, currency)::text
             from public.stripe_invoices where stripe_invoice_id = 'in_A'),
  row('paid', 'INV-0001', 9900::bigint, tests.get_user_id('inv-owner@example.com'), 'sub_INV', 'KRW')::text,
  'the row has the paid invoice, its owner from billing_customers');
select is((select lines -> 0 ->> 'amount' from public.stripe_invoices where stripe_invoice_id = 'in_A'), '9900', 'its lines');
select is((select count(*)::integer from public.ledger_transactions where idempotency_key = 'subscription_invoice:in_A'), 1,
  'the paid invoice is posted once');
select is((select sum(e.amount)::bigint from public.ledger_entries e join public.ledger_accounts a on a.id = e.account_id
            join public.ledger_transactions t on t.id = e.transaction_id
           where t.idempotency_key = 'subscription_invoice:in_A' and a.kind = 'subscription_revenue'), 9900::bigint,
  'subscription_revenue received 9900');

-- Shuffled orders reach the same row.
select is((select count(*)::integer from (
  select distinct s from generate_series(1, 10) g, lateral (
    select (select string_agg(private.apply_invoice_snapshot(e.event), ',') from (select event from events order by random()) e) s) x) y) >= 1,
  true, 'shuffled deliveries run');
select is((select status from public.stripe_invoices where stripe_invoice_id = 'in_A'), 'paid', 'and end paid');
select is((select count(*)::integer from public.ledger_transactions where idempotency_key = 'subscription_invoice:in_A'), 1,
  'still posted once');

-- An upcoming invoice (no id) is ignored; a non-invoice is refused.
select is(private.apply_invoice_snapshot('{"id": "evt_up", "created": 1, "type": "invoice.upcoming", "data": {"object": {"object": "invoice", "status": "draft"}}}'),
  'ignored: an upcoming invoice has no id', 'invoice.upcoming has no id: ignored');
select throws_ok($$ select private.apply_invoice_snapshot('{"id": "evt_x", "created": 1, "data": {"object": {"object": "charge"}}}') $$,
  '22023', 'not a Stripe event carrying an invoice (id, created, data.object.object = invoice)', 'a non-invoice is refused');

-- Another integration's objects on the same Stripe account are acknowledged, not mirrored.
select is(private.apply_invoice_snapshot(jsonb_set(jsonb_set((select event from events where n = 3), '{data,object,customer}', '"cus_OTHER"'),
  '{data,object,id}', '"in_OTHER"')), 'ignored: not a customer or subscription of ours', 'a stranger customer''s invoice is ignored');
select is(ops.apply_billing_event(jsonb_build_object('id', 'evt_s', 'object', 'event', 'created', 1, 'type', 'customer.subscription.created',
    'data', jsonb_build_object('object', jsonb_build_object('id', 'sub_OTHER', 'object', 'subscription', 'customer', 'cus_OTHER',
      'status', 'active', 'items', jsonb_build_object('data', jsonb_build_array(jsonb_build_object('price', jsonb_build_object('id', 'price_OTHER')))))))),
  'ignored: subscription sub_OTHER names a price no plan has', 'a subscription of a price no plan has is ignored');

-- The fee: once, through ops.apply_billing_event, which notes the outcome on the stored event.
insert into public.stripe_events (id, type, created, payload) values ('evt_i3', 'invoice.paid', to_timestamp(1001), (select event from events where n = 3));
select is(ops.apply_billing_event((select event from events where n = 3),
  '{"charge": "ch_INV", "balance_transaction": {"fee": 317, "currency": "krw"}}'), 'applied, posted, fee posted', 'fee posted');
select is(ops.apply_billing_event((select event from events where n = 3),
  '{"charge": "ch_INV", "balance_transaction": {"fee": 317, "currency": "krw"}}'), 'applied, posted, fee posted', 'again: the same');
select is((select count(*)::integer from public.ledger_transactions where idempotency_key = 'fee:ch_INV'), 1, 'the fee is posted once');
select is((select outcome from public.stripe_events where id = 'evt_i3'), 'billing: applied, posted, fee posted', 'noted on the event');
select is(ops.apply_billing_event('{"id": "evt_o", "type": "charge.succeeded", "created": 1, "data": {"object": {}}}'),
  'ignored: not a billing event', 'other events are not billing''s');

-- Reads.
select tests.act_as('inv-owner@example.com');
select is((select count(*)::integer from public.stripe_invoices), 1, 'the owner reads their invoice');
select tests.act_as('inv-stranger@example.com');
select is((select count(*)::integer from public.stripe_invoices), 0, 'a stranger reads none');
select throws_ok($$ update public.stripe_invoices set status = 'void' $$, '42501', 'permission denied for table stripe_invoices',
  'nobody writes through the API');
select tests.act_as('inv-staff@example.com');
select is((select count(*)::integer from public.stripe_invoices where stripe_invoice_id = 'in_A'), 1, 'staff read all');
select tests.act_as('anon');
select throws_ok($$ select count(*) from public.stripe_invoices $$, '42501', 'permission denied for table stripe_invoices', 'anon reads nothing');
select tests.clear_authentication();

-- Subscribing: the refusals, and one customer per user.
select throws_ok(format($$ select ops.billing_subscribe_check(%L, gen_random_uuid()) $$, tests.get_user_id('inv-owner@example.com')),
  'PT404', null, 'an unknown price is 404');
select is(ops.register_billing_customer(tests.get_user_id('inv-owner@example.com'), 'cus_OTHER'), 'cus_INV',
  'a second registration keeps the first customer');
select throws_ok(format($$ select ops.register_billing_customer(%L, 'acct_1') $$, tests.get_user_id('inv-stranger@example.com')),
  '22023', 'not a Stripe customer id', 'a non-customer id is refused');

select * from finish();
rollback;
