-- Refunds of a subscription invoice's charge made in Stripe's Dashboard
-- (ops.record_stripe_subscription_refund, 70_stripe_billing.sql; stripe-webhook finds the
-- invoice): posted as ours are (subscription_refund:<in_…>:<re_…>), once per refund id, also when
-- ours was posted first; a pending refund, an unknown invoice, more than was paid and another
-- currency are acknowledged as ignored with the reason, posting nothing; the stored event notes
-- the outcome; staff's own path still needs billing.manage; reconciliation agrees.
begin;
select plan(12);

select tests.create_user('xs-user@example.com');
select tests.create_user('xs-staff@example.com');
select tests.grant_role('xs-staff@example.com', 'staff');
insert into public.stripe_invoices (stripe_invoice_id, user_id, stripe_customer_id, number, status, currency, total, amount_paid,
                                    paid_at, stripe_created_at, stripe_updated_at, stripe_event_id, snapshot)
values ('in_xs', tests.get_user_id('xs-user@example.com'), 'cus_xs', 'XS-0001', 'paid', 'KRW', 9900, 9900, now(), now(), now(),
        'evt_xs', '{}');
select private.post_stripe_invoice_payment(jsonb_build_object('id', 'in_xs', 'status', 'paid', 'amount_paid', 9900, 'currency', 'krw'));
insert into public.stripe_events (id, type, created, payload) values
  ('evt_xs_refund', 'refund.created', now(), '{}'), ('evt_xs_again', 'refund.updated', now(), '{}');

select tests.act_as('service_role');
select is(ops.record_stripe_subscription_refund('evt_xs_refund', 'in_xs',
  '{"id": "re_xs_dash", "object": "refund", "amount": 2500, "currency": "krw", "status": "pending"}'),
  'ignored: refund pending', 'a pending refund waits');
select is(ops.record_stripe_subscription_refund('evt_xs_refund', 'in_xs',
  '{"id": "re_xs_dash", "object": "refund", "amount": 2500, "currency": "krw", "status": "succeeded", "balance_transaction": "txn_xs"}'),
  'refund posted', 'once succeeded it is posted');
select is(ops.record_stripe_subscription_refund('evt_xs_again', 'in_xs',
  '{"id": "re_xs_dash", "object": "refund", "amount": 2500, "currency": "krw", "status": "succeeded"}'),
  'refund posted', 'another event of the same refund answers the same');
select tests.act_as('postgres');
select results_eq($$ select a.kind, e.amount from public.ledger_transactions t join public.ledger_entries e on e.transaction_id = t.id
                      join public.ledger_accounts a on a.id = e.account_id where t.idempotency_key like 'subscription_refund:in_xs:%'
                     order by a.kind $$,
  $$ values ('subscription_refunds'::text, 2500::bigint), ('subscription_revenue', -2500) $$,
  'one posting, as our refunds''');
select is((select amount_refunded from public.stripe_invoices where stripe_invoice_id = 'in_xs'), 2500::bigint,
  'the mirror''s amount_refunded follows the ledger');
select is((select outcome from public.stripe_events where id = 'evt_xs_refund'), 'billing: refund posted', 'the event notes it');

-- Ours, posted by staff first, then its webhook: still one posting.
select tests.act_as('service_role');
select ops.record_subscription_refund(tests.get_user_id('xs-staff@example.com'), 'in_xs',
  '{"id": "re_xs_ours", "object": "refund", "amount": 1000, "currency": "krw", "status": "succeeded"}');
select is(ops.record_stripe_subscription_refund('evt_xs_again', 'in_xs',
  '{"id": "re_xs_ours", "object": "refund", "amount": 1000, "currency": "krw", "status": "succeeded"}'),
  'refund posted', 'our refund''s webhook after it');
select is((select count(*)::int from public.ledger_transactions where idempotency_key like 'subscription_refund:in_xs:%'), 2,
  'each refund posted once');

-- What the ledger cannot take is acknowledged with its reason.
select is(ops.record_stripe_subscription_refund('evt_xs_again', 'in_xs_unknown',
  '{"id": "re_xs_other", "object": "refund", "amount": 100, "currency": "krw", "status": "succeeded"}'),
  'ignored: subscription invoice in_xs_unknown not found', 'an invoice we do not mirror');
select is(ops.record_stripe_subscription_refund('evt_xs_again', 'in_xs',
  '{"id": "re_xs_much", "object": "refund", "amount": 9000, "currency": "krw", "status": "succeeded"}'),
  'ignored: refund re_xs_much of 9000 would refund more than invoice in_xs paid (9900 paid, 3500 refunded)', 'more than was paid');
select throws_ok($$ select ops.record_subscription_refund(tests.get_user_id('xs-user@example.com'), 'in_xs',
  '{"id": "re_xs_self", "object": "refund", "amount": 100, "currency": "krw", "status": "succeeded"}') $$,
  '42501', 'refunding a subscription invoice needs the billing.manage permission', 'our own path still needs billing.manage');
select is((select cardinality(problems) from ops.subscription_reconciliation() where stripe_invoice_id = 'in_xs'), 0,
  'reconciliation finds nothing');

select * from finish();
rollback;
