-- Stripe Billing, the second part (70_stripe_billing.sql, 60_payment_history.sql, 10_plans.sql):
-- a staff refund of a subscription invoice is posted to the ledger once and balanced
-- (subscription_revenue -> subscription_refunds; a fee Stripe gives back stripe_fees ->
-- subscription_revenue), refused precisely for anyone else, an unknown invoice, something that
-- is not a refund, another currency or more than was paid; ops.subscription_reconciliation
-- reports a tampered mirror row; my_payment_history lists Stripe subscription invoices
-- (finalized ones, refunded shown as such) and shop payments beside invoices and escrow
-- payments with its filters and pages; a plan's proration behaviour is set by billing staff only
-- and reaches billing_change_target; an incomplete subscription does not refuse a new one but is
-- reported; billing_customer_of answers the user's customer.
begin;
select plan(33);

select tests.create_user('sr-owner@example.com');
select tests.create_user('sr-stranger@example.com');
select tests.create_user('sr-staff@example.com');
select tests.grant_role('sr-staff@example.com', 'staff');
select tests.clear_authentication();

insert into public.billing_customers (user_id, stripe_customer_id)
values (tests.get_user_id('sr-owner@example.com'), 'cus_SR');

create function pg_temp.inv(id text, t integer, status text, amount integer, extra jsonb default '{}') returns jsonb
language sql as $$
  select jsonb_build_object('id', 'evt_' || id || '_' || status, 'object', 'event', 'created', t, 'type', 'invoice.' || status,
    'data', jsonb_build_object('object', jsonb_build_object(
      'id', id, 'object', 'invoice', 'customer', 'cus_SR', 'status', status, 'currency', 'krw', 'created', t,
      'number', upper(id), 'billing_reason', 'subscription_cycle', 'subtotal', amount, 'total', amount, 'amount_due', amount,
      'amount_paid', case when status = 'paid' then amount else 0 end,
      'amount_remaining', case when status = 'paid' then 0 else amount end,
      'status_transitions', jsonb_build_object('paid_at', case when status = 'paid' then t end),
      'parent', jsonb_build_object('subscription_details', jsonb_build_object('subscription', 'sub_SR'))) || extra))
$$;
create function pg_temp.refund(id text, amount integer, currency text default 'krw', fee integer default 0) returns jsonb
language sql as $$
  select jsonb_build_object('id', id, 'object', 'refund', 'amount', amount, 'currency', currency, 'status', 'succeeded',
    'balance_transaction', jsonb_build_object('id', 'txn_' || id, 'fee', fee))
$$;

-- Three invoices: two paid (a month apart), one only finalized; a draft that never counts.
select private.apply_invoice_snapshot(pg_temp.inv('in_sr1', 1700000000, 'paid', 9900));
select private.apply_invoice_snapshot(pg_temp.inv('in_sr2', 1702600000, 'paid', 29900));
select private.apply_invoice_snapshot(pg_temp.inv('in_sr3', 1705200000, 'open', 29900));
select private.apply_invoice_snapshot(pg_temp.inv('in_sr4', 1705300000, 'draft', 100));

-- Refunds: billing staff only, precisely refused otherwise; posted once.
select throws_ok($$ select ops.record_subscription_refund(tests.get_user_id('sr-owner@example.com'), 'in_sr1', pg_temp.refund('re_sr1', 9900)) $$,
  '42501', 'refunding a subscription invoice needs the billing.manage permission', 'the subscriber may not record a refund');
select throws_ok($$ select ops.record_subscription_refund(tests.get_user_id('sr-staff@example.com'), 'in_nope', pg_temp.refund('re_sr1', 9900)) $$,
  'PT404', 'subscription invoice in_nope not found', 'an unknown invoice is refused');
select throws_ok($$ select ops.record_subscription_refund(tests.get_user_id('sr-staff@example.com'), 'in_sr1', '{"object": "charge", "id": "ch_1", "amount": 1}') $$,
  '22023', 'not a Stripe refund (object refund, id re_…, a positive amount)', 'something else than a refund is refused');
select throws_ok($$ select ops.record_subscription_refund(tests.get_user_id('sr-staff@example.com'), 'in_sr1', pg_temp.refund('re_sr1', 9900, 'usd')) $$,
  '22023', 'refund re_sr1 is in USD, invoice in_sr1 in KRW', 'a refund in another currency is refused');
select throws_ok($$ select ops.record_subscription_refund(tests.get_user_id('sr-staff@example.com'), 'in_sr1', pg_temp.refund('re_sr1', 9901)) $$,
  'PT409', 'refund re_sr1 of 9901 would refund more than invoice in_sr1 paid (9900 paid, 0 refunded)', 'more than was paid is refused');
select is(ops.record_subscription_refund(tests.get_user_id('sr-staff@example.com'), 'in_sr1', pg_temp.refund('re_sr1', 4000)) ->> 'amount_refunded',
  '4000', 'a partial refund is recorded');
select is(ops.record_subscription_refund(tests.get_user_id('sr-staff@example.com'), 'in_sr1', pg_temp.refund('re_sr1', 4000)) ->> 'amount_refunded',
  '4000', 'the same refund again changes nothing');
select is((select count(*)::integer from public.ledger_transactions where idempotency_key = 'subscription_refund:in_sr1:re_sr1'), 1,
  'posted once');
select results_eq($$ select a.kind, e.amount from public.ledger_entries e join public.ledger_accounts a on a.id = e.account_id
                      join public.ledger_transactions t on t.id = e.transaction_id
                     where t.idempotency_key = 'subscription_refund:in_sr1:re_sr1' order by a.kind $$,
  $$ values ('subscription_refunds'::text, 4000::bigint), ('subscription_revenue', -4000::bigint) $$,
  'subscription_revenue -> subscription_refunds, balanced');
select is(ops.record_subscription_refund(tests.get_user_id('sr-staff@example.com'), 'in_sr1', pg_temp.refund('re_sr1b', 5900, 'krw', -100)) ->> 'amount_refunded',
  '9900', 'the rest refunded in a second refund');
select results_eq($$ select a.kind, e.amount from public.ledger_entries e join public.ledger_accounts a on a.id = e.account_id
                      join public.ledger_transactions t on t.id = e.transaction_id
                     where t.idempotency_key = 'subscription_refund_fee:re_sr1b' order by a.kind $$,
  $$ values ('stripe_fees'::text, -100::bigint), ('subscription_revenue', 100::bigint) $$,
  'a fee Stripe gives back goes from stripe_fees back to subscription_revenue');
select throws_ok($$ select ops.record_subscription_refund(tests.get_user_id('sr-staff@example.com'), 'in_sr1', pg_temp.refund('re_sr1c', 1)) $$,
  'PT409', 'refund re_sr1c of 1 would refund more than invoice in_sr1 paid (9900 paid, 9900 refunded)', 'nothing is left to refund');
select is((ops.record_subscription_refund(tests.get_user_id('sr-staff@example.com'), 'in_sr2',
             pg_temp.refund('re_sr2', 100) || '{"status": "pending"}') ->> 'posted')::boolean, false,
  'a pending refund is not posted yet');
select is((select amount_refunded from public.stripe_invoices where stripe_invoice_id = 'in_sr2'), 0::bigint, 'nor counted');
select is(private.apply_invoice_snapshot(pg_temp.inv('in_sr1', 1700000100, 'paid', 9900)), 'applied, posted',
  'a later invoice event is applied');
select is((select amount_refunded from public.stripe_invoices where stripe_invoice_id = 'in_sr1'), 9900::bigint,
  'and keeps what was refunded');

-- Reconciliation: the mirror against the ledger, a tampered row reported.
select is((select count(*)::integer from ops.subscription_reconciliation() where stripe_invoice_id like 'in_sr%'), 2,
  'the two paid invoices are reconciled (not the open one, not the draft)');
select is_empty($$ select * from ops.subscription_reconciliation() where stripe_invoice_id like 'in_sr%' and cardinality(problems) > 0 $$,
  'they agree with the ledger');
update public.stripe_invoices set amount_paid = 9950, amount_refunded = 9800 where stripe_invoice_id = 'in_sr1';
select is((select problems from ops.subscription_reconciliation() where stripe_invoice_id = 'in_sr1'),
  array['ledger paid 9900 <> invoice 9950', 'ledger refunded 9900 <> invoice 9800'], 'a tampered row is reported');
select is((select count(*)::integer from ops.subscription_reconciliation(active_since => now() + interval '1 day')
            where stripe_invoice_id like 'in_sr%'), 1, 'outside the window only the one with problems is kept');
update public.stripe_invoices set amount_paid = 9900, amount_refunded = 9900 where stripe_invoice_id = 'in_sr1';
select is((select count(*)::integer from ops.subscription_reconciliation(max_rows => 1)), 1, 'max_rows pages');

-- Payment history: Stripe invoices (finalized) and a shop payment beside the rest.
insert into public.checkouts (id, buyer_id, idempotency_key, currency, items_subtotal, shipping_total, discount_total, tax_total, total,
                              status, expires_at, paid_at)
values ('5a000000-0000-4000-8000-000000000001', tests.get_user_id('sr-owner@example.com'), 'sr-checkout', 'KRW', 15000, 0, 0, 0, 15000,
        'paid', now() + interval '1 hour', now());
insert into public.shop_payments (checkout_id, amount, currency, status, amount_captured, paid_at)
values ('5a000000-0000-4000-8000-000000000001', 15000, 'KRW', 'paid', 15000, now());
select tests.act_as('sr-owner@example.com');
select results_eq($$ select kind, id, status, amount from public.my_payment_history() order by occurred_at, id $$,
  $$ values ('subscription_invoice'::text, 'in_sr1'::text, 'refunded'::text, 9900::bigint),
            ('subscription_invoice', 'in_sr2', 'paid', 29900::bigint),
            ('subscription_invoice', 'in_sr3', 'open', 29900::bigint),
            ('shop_payment', '5a000000-0000-4000-8000-000000000001', 'paid', 15000::bigint) $$,
  'the Stripe invoices (no draft) and the shop payment, each with its status');
select results_eq($$ select id from public.my_payment_history(with_status => 'paid') $$,
  array['5a000000-0000-4000-8000-000000000001', 'in_sr2'], 'filtered by status, newest first');
select results_eq($$ select id from public.my_payment_history(from_date => '2023-12-01', to_date => '2023-12-31') $$,
  array['in_sr2'], 'filtered by date (in_sr2 was paid on 2023-12-15)');
select results_eq($$ select id, total_count from public.my_payment_history(page => 2, page_size => 3) $$,
  $$ values ('in_sr1'::text, 4::bigint) $$, 'paginated with the total');
select tests.act_as('sr-stranger@example.com');
select is_empty($$ select * from public.my_payment_history() $$, 'a stranger sees none of it');

-- Proration behaviour: billing staff set it (audited by the plans trigger), nobody else.
select tests.act_as('sr-staff@example.com');
select public.create_plan('sr-pro', 'SR Pro', '{"prices": [{"billing_period": "month", "currency": "KRW", "amount": 9900}]}');
select is(public.update_plan((select id from public.plans where slug = 'sr-pro'), '{"proration_behavior": "create_prorations"}') ->> 'proration_behavior',
  'create_prorations', 'billing staff set a plan''s proration behaviour');
select throws_ok($$ select public.update_plan((select id from public.plans where slug = 'sr-pro'), '{"proration_behavior": "later"}') $$,
  '22023', 'proration_behavior is create_prorations, always_invoice or none', 'an unknown behaviour is refused');
select tests.act_as('sr-owner@example.com');
select throws_ok($$ select public.update_plan((select id from public.plans where slug = 'sr-pro'), '{"proration_behavior": "none"}') $$,
  '42501', 'changing a plan needs the billing.manage permission', 'a subscriber may not');
select tests.act_as('postgres');
select is((select after ->> 'proration_behavior' from public.audit_log where table_name = 'plans'
            and row_id = (select id::text from public.plans where slug = 'sr-pro') order by id desc limit 1),
  'create_prorations', 'the change is in the audit log');
update public.plan_prices set stripe_price_id = 'price_SR' where plan_id = (select id from public.plans where slug = 'sr-pro');
insert into public.subscriptions (user_id, plan_id, plan_price_id, plan_family, status, stripe_subscription_id, stripe_customer_id,
                                  stripe_updated_at, stripe_event_id, snapshot)
select tests.get_user_id('sr-owner@example.com'), p.id, (select id from public.plan_prices where plan_id = p.id), 'platform', 'incomplete',
       'sub_SRW', 'cus_SR', now(), 'evt_w', '{}'
  from public.plans p where p.slug = 'sr-pro';
select is(ops.billing_subscribe_check(tests.get_user_id('sr-owner@example.com'),
            (select id from public.plan_prices where stripe_price_id = 'price_SR')) ->> 'waiting_subscription', 'sub_SRW',
  'an incomplete subscription of the family does not refuse a new one, and is reported');
select tests.act_as('sr-staff@example.com');
select public.create_plan('sr-team', 'SR Team', '{"proration_behavior": "none", "prices": [{"billing_period": "month", "currency": "KRW", "amount": 29900}]}');
select tests.act_as('postgres');
update public.plan_prices set stripe_price_id = 'price_SRT' where plan_id = (select id from public.plans where slug = 'sr-team');
select is(ops.billing_change_target((select id from public.subscriptions where stripe_subscription_id = 'sub_SRW'),
            (select id from public.plan_prices where stripe_price_id = 'price_SRT')) ->> 'proration_behavior', 'none',
  'a plan change is prorated as the target plan says');
select is(ops.billing_customer_of(tests.get_user_id('sr-owner@example.com')), 'cus_SR', 'billing_customer_of answers the customer');

select * from finish();
rollback;
