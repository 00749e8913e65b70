-- Monthly statements (monthly_statement): per currency, opening + charges - payments + refunds =
-- closing, from the user's invoices, credit notes, Stripe subscription invoices and their
-- refunds, escrow payments and shop checkouts and their refunds (the rule: docs/domains/billing.md "Monthly statements"). The owner reads theirs,
-- billing managers anyone's, a stranger and anon nobody's. The fixture, October 2026:
--
--   KRW  inv1   issued 09-10 10,000, paid 10-05         opening +10,000; payment 10,000
--        inv2   issued 10-12 20,000 (unpaid)            charge +20,000
--        cn     credit note of inv2 issued 10-20 5,000  charge -5,000
--        inv3   issued 10-15 3,000, canceled 10-25      charge +3,000, charge -3,000
--        in_sm  Stripe invoice finalized and paid 10-03 9,900   charge +9,900, payment 9,900
--        inv5   issued 11-02 1,000                      November
--        in_sm  refunded 4,000 on 11-05 (re_sm1)         November: refund +4,000, charge -4,000
--        a draft                                        never
--   USD  inv4   issued 10-01 15.00, paid 10-02          charge +1,500, payment 1,500
--        escrow paid 10-08 50.00, refunded 20.00 10-09  charge +5,000, payment 5,000; refund +2,000, charge -2,000
--        shop checkout paid 10-10 80.00                 charge +8,000, payment 8,000
--          its order refunded 30.00 10-11 (partial)     refund +3,000, charge -3,000
--          45.00 refunded 11-03, the last 5.00 in Stripe's Dashboard 11-04
--                                                       November: refund +5,000, charge -5,000
--        late shop payment 10-20 12.00 (checkout expired), refunded in full 10-21
--                                                       charge +1,200, payment 1,200; refund +1,200, charge -1,200
--
-- October KRW: opening 10,000; charges 20,000 - 5,000 + 3,000 - 3,000 + 9,900 = 24,900;
--   payments 10,000 + 9,900 = 19,900; refunds 0; closing 10,000 + 24,900 - 19,900 = 15,000
--   (what is owed: inv2 less its credit note).
-- October USD: opening 0; charges 1,500 + 5,000 - 2,000 + 8,000 - 3,000 + 1,200 - 1,200 = 9,500;
--   payments 1,500 + 5,000 + 8,000 + 1,200 = 15,700; refunds 2,000 + 3,000 + 1,200 = 6,200;
--   closing 0 + 9,500 - 15,700 + 6,200 = 0.
-- November KRW: opening 15,000 (October's closing), charges 1,000 - 4,000 = -3,000, refunds 4,000,
--   closing 16,000 (the refund of October's subscription invoice lands in November and nets to zero).
-- November USD: opening 0, charges -5,000, refunds 5,000, closing 0.
begin;
select plan(19);

select tests.create_user('sm-buyer@example.com');
select tests.create_user('sm-stranger@example.com');
select tests.create_user('sm-staff@example.com');
select tests.grant_role('sm-staff@example.com', 'staff');
update public.profiles set display_name = '김지민' where id = tests.get_user_id('sm-buyer@example.com');

-- Rows as they stand after their lives (the table guards and foreign keys off while seeding).
set local session_replication_role = replica;
insert into public.invoices (id, kind, credits_invoice_id, customer_id, customer_name, currency, status, number, subtotal_amount,
                             issued_at, due_at, paid_at, canceled_at)
values
  ('00000000-0000-4000-a000-000000000001', 'invoice', null, tests.get_user_id('sm-buyer@example.com'), '김지민', 'KRW', 'paid', '20260910-0001', 10000,
   '2026-09-10', '2026-10-10', '2026-10-05', null),
  ('00000000-0000-4000-a000-000000000002', 'invoice', null, tests.get_user_id('sm-buyer@example.com'), '김지민', 'KRW', 'issued', '20261012-0001', 20000,
   '2026-10-12', '2026-11-11', null, null),
  ('00000000-0000-4000-a000-000000000003', 'credit_note', '00000000-0000-4000-a000-000000000002', tests.get_user_id('sm-buyer@example.com'), '김지민',
   'KRW', 'issued', '20261020-0001', 5000, '2026-10-20', '2026-10-20', null, null),
  ('00000000-0000-4000-a000-000000000004', 'invoice', null, tests.get_user_id('sm-buyer@example.com'), '김지민', 'KRW', 'canceled', '20261015-0001', 3000,
   '2026-10-15', '2026-11-14', null, '2026-10-25'),
  ('00000000-0000-4000-a000-000000000005', 'invoice', null, tests.get_user_id('sm-buyer@example.com'), '김지민', 'USD', 'paid', '20261001-0001', 1500,
   '2026-10-01', '2026-10-31', '2026-10-02', null),
  ('00000000-0000-4000-a000-000000000006', 'invoice', null, tests.get_user_id('sm-buyer@example.com'), '김지민', 'KRW', 'issued', '20261102-0001', 1000,
   '2026-11-02', '2026-12-02', null, null);
insert into public.invoices (customer_id, customer_name, currency, subtotal_amount)
values (tests.get_user_id('sm-buyer@example.com'), '김지민', 'KRW', 777);
insert into public.stripe_invoices (stripe_invoice_id, user_id, stripe_customer_id, number, status, currency, total, amount_paid,
                                    paid_at, stripe_created_at, stripe_updated_at, stripe_event_id, snapshot)
values ('in_sm', tests.get_user_id('sm-buyer@example.com'), 'cus_sm', 'SM-0001', 'paid', 'KRW', 9900, 9900, '2026-10-03 12:00Z',
        '2026-10-03 11:00Z', '2026-10-03 12:00Z', 'evt_sm', jsonb_build_object('status_transitions', jsonb_build_object(
          'finalized_at', extract(epoch from timestamptz '2026-10-03 11:30Z'))));
insert into public.payments (order_id, buyer_id, currency, amount, commission_rate_bps, status, amount_captured, amount_refunded,
                             transfer_group, paid_at)
values ('00000000-0000-4000-b000-000000000001', tests.get_user_id('sm-buyer@example.com'), 'USD', 5000, 1000, 'partially_refunded',
        5000, 2000, 'order_sm', '2026-10-08');
insert into public.payment_refunds (order_id, amount, reason, status, updated_at)
values ('00000000-0000-4000-b000-000000000001', 2000, 'partly refunded', 'succeeded', '2026-10-09');
-- Shop: a checkout paid at once and its order refunded in two parts; a payment that arrived
-- after its checkout expired (late_refund_due), refunded in full below.
insert into public.checkouts (id, buyer_id, idempotency_key, currency, items_subtotal, shipping_total, discount_total, tax_total,
                              total, status, expires_at, paid_at)
values ('00000000-0000-4000-d000-000000000001', tests.get_user_id('sm-buyer@example.com'), 'request:sm-1', 'USD', 8000, 0, 0, 0,
        8000, 'paid', '2026-10-10 00:30Z', '2026-10-10 00:10Z'),
       ('00000000-0000-4000-d000-000000000002', tests.get_user_id('sm-buyer@example.com'), 'request:sm-2', 'USD', 1200, 0, 0, 0,
        1200, 'expired', '2026-10-20 00:30Z', null);
insert into public.shop_payments (checkout_id, amount, currency, status, amount_captured, amount_refunded, paid_at)
values ('00000000-0000-4000-d000-000000000001', 8000, 'USD', 'refunded', 8000, 8000, '2026-10-10 00:10Z'),
       ('00000000-0000-4000-d000-000000000002', 1200, 'USD', 'late_refund_due', 1200, 0, '2026-10-20 01:00Z');
insert into public.shop_refunds (shop_order_id, checkout_id, amount, currency, cancels, reason, actor, status, created_at, resolved_at)
values ('00000000-0000-4000-e000-000000000001', '00000000-0000-4000-d000-000000000001', 3000, 'USD', false, 'one item broken',
        'admin', 'succeeded', '2026-10-11', '2026-10-11 00:05Z'),
       ('00000000-0000-4000-e000-000000000001', '00000000-0000-4000-d000-000000000001', 4500, 'USD', false, 'most of the rest',
        'admin', 'succeeded', '2026-11-03', '2026-11-03 00:05Z'),
       ('00000000-0000-4000-e000-000000000001', '00000000-0000-4000-d000-000000000001', 100, 'USD', false, 'failed at Stripe',
        'admin', 'failed', '2026-11-04', '2026-11-04 00:05Z');
insert into public.shop_external_refunds (stripe_refund_id, checkout_id, amount, currency, created_at)
values ('re_sm_dashboard', '00000000-0000-4000-d000-000000000001', 500, 'USD', '2026-11-04 10:00Z');
set local session_replication_role = origin;

-- The refunds that post to the ledger, made through their functions, then dated: a partial
-- refund of October's subscription invoice on 11-05, and the late shop payment's on 10-21.
select is(ops.record_subscription_refund(tests.get_user_id('sm-staff@example.com'), 'in_sm',
  '{"object": "refund", "id": "re_sm1", "amount": 4000, "currency": "krw", "status": "succeeded"}') ->> 'amount_refunded', '4000',
  'a partial refund of the subscription invoice is posted');
select is(ops.record_shop_late_refund('00000000-0000-4000-d000-000000000002', 're_sm_late'), 'applied',
  'the late shop payment is refunded in full');
set local session_replication_role = replica;
update public.ledger_transactions set posted_at = '2026-11-05 09:00Z' where idempotency_key = 'subscription_refund:in_sm:re_sm1';
update public.ledger_transactions set posted_at = '2026-10-21 09:00Z' where idempotency_key = 'shop_late_refund:00000000-0000-4000-d000-000000000002';
set local session_replication_role = origin;

select tests.act_as('sm-buyer@example.com');
create temp table october as select public.monthly_statement('2026-10-15') as s;
grant select on october to public;
select is((select s ->> 'month' from october), '2026-10', 'the month containing the day asked');
select is((select s ->> 'customer_name' from october), '김지민', 'the customer''s name');
select is((select s -> 'currencies' -> 0 from october),
  '{"currency": "KRW", "opening_balance": 10000, "charges": 24900, "payments": 19900, "refunds": 0, "closing_balance": 15000}'::jsonb,
  'KRW: opening, charges, payments, refunds, closing');
select is((select s -> 'currencies' -> 1 from october),
  '{"currency": "USD", "opening_balance": 0, "charges": 9500, "payments": 15700, "refunds": 6200, "closing_balance": 0}'::jsonb,
  'USD apart: the escrow and shop purchases and their refunds net to zero');
select results_eq(
  $$ select e ->> 'kind', e ->> 'reference', (e ->> 'charge')::bigint, (e ->> 'payment')::bigint, (e ->> 'refund')::bigint
       from october, jsonb_array_elements(s -> 'entries') e $$,
  $$ values ('invoice', '20261001-0001', 1500::bigint, 0::bigint, 0::bigint),
            ('invoice_payment', '20261001-0001', 0, 1500, 0),
            ('subscription_invoice', 'SM-0001', 9900, 0, 0),
            ('subscription_payment', 'SM-0001', 0, 9900, 0),
            ('invoice_payment', '20260910-0001', 0, 10000, 0),
            ('escrow_payment', '00000000-0000-4000-b000-000000000001', 5000, 5000, 0),
            ('escrow_refund', '00000000-0000-4000-b000-000000000001', -2000, 0, 2000),
            ('shop_payment', '00000000-0000-4000-d000-000000000001', 8000, 8000, 0),
            ('shop_refund', '00000000-0000-4000-d000-000000000001', -3000, 0, 3000),
            ('invoice', '20261012-0001', 20000, 0, 0),
            ('invoice', '20261015-0001', 3000, 0, 0),
            ('credit_note', '20261020-0001', -5000, 0, 0),
            ('shop_payment', '00000000-0000-4000-d000-000000000002', 1200, 1200, 0),
            ('shop_refund', '00000000-0000-4000-d000-000000000002', -1200, 0, 1200),
            ('invoice_canceled', '20261015-0001', -3000, 0, 0) $$,
  'the month''s entries, oldest first; no draft, no failed refund, nothing of September or November');
select is((select public.monthly_statement('2026-11-01') -> 'currencies' -> 0),
  '{"currency": "KRW", "opening_balance": 15000, "charges": -3000, "payments": 0, "refunds": 4000, "closing_balance": 16000}'::jsonb,
  'November opens with October''s closing; the October invoice''s refund is in November and nets to zero');
select is((select public.monthly_statement('2026-11-01') -> 'currencies' -> 1),
  '{"currency": "USD", "opening_balance": 0, "charges": -5000, "payments": 0, "refunds": 5000, "closing_balance": 0}'::jsonb,
  'November USD: the rest of the shop order refunded, partly in Stripe''s Dashboard');
select results_eq(
  $$ select e ->> 'kind', e ->> 'reference', e ->> 'description', (e ->> 'charge')::bigint, (e ->> 'refund')::bigint, e ->> 'occurred_at'
       from jsonb_array_elements(public.monthly_statement('2026-11-01') -> 'entries') e $$,
  $$ values ('invoice', '20261102-0001', 'Invoice 20261102-0001', 1000::bigint, 0::bigint, '2026-11-02T00:00:00+00:00'),
            ('shop_refund', '00000000-0000-4000-d000-000000000001', 'Shop order refund', -4500, 4500, '2026-11-03T00:05:00+00:00'),
            ('shop_refund', '00000000-0000-4000-d000-000000000001', 'Shop order refunded in Stripe', -500, 500, '2026-11-04T10:00:00+00:00'),
            ('subscription_refund', 'SM-0001', 'Refund of subscription invoice SM-0001', -4000, 4000, '2026-11-05T09:00:00+00:00') $$,
  'November''s entries: each refund at the time it was made');
select tests.act_as('service_role');
select ops.record_subscription_refund(tests.get_user_id('sm-staff@example.com'), 'in_sm',
  '{"object": "refund", "id": "re_sm1", "amount": 4000, "currency": "krw", "status": "succeeded"}') ->> 'posted';
select tests.act_as('sm-buyer@example.com');
select ok((select count(*) from jsonb_array_elements(public.monthly_statement('2026-11-01') -> 'entries') e
        where e ->> 'kind' = 'subscription_refund') = 1,
  'the same refund recorded again is one entry');
select is((select public.monthly_statement('2026-08-01') -> 'currencies'), '[]'::jsonb, 'before anything: no currency');
select throws_ok($$ select public.monthly_statement('2999-01-01') $$, '22023', 'the month 2999-01 has not started',
  'no statement of a month to come');
select throws_ok($$ select public.monthly_statement(null) $$, '22023', 'a statement is for a month (any day of it, e.g. 2026-11-01)',
  'a month is needed');

select tests.act_as('sm-stranger@example.com');
select throws_ok(format($$ select public.monthly_statement('2026-10-01', %L) $$, tests.get_user_id('sm-buyer@example.com')),
  '42501', 'reading another user''s statement needs the billing.manage permission', 'a stranger reads no one else''s');
select is((select public.monthly_statement('2026-10-01') -> 'currencies'), '[]'::jsonb, 'and their own is empty');
select tests.act_as('sm-staff@example.com');
select is((select public.monthly_statement('2026-10-01', tests.get_user_id('sm-buyer@example.com')) -> 'currencies' -> 0 ->> 'closing_balance'),
  '15000', 'billing managers read anyone''s');
select tests.throws_like($$ select public.monthly_statement('2026-10-01', '00000000-0000-4000-c000-000000000000') $$,
  'PT404', 'user % not found', 'an unknown user');
select tests.act_as('anon');
select throws_ok($$ select public.monthly_statement('2026-10-01') $$, '42501', 'permission denied for function monthly_statement',
  'anon has none');

select * from finish();
rollback;
