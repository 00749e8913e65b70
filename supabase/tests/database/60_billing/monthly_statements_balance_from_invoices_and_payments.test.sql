-- Monthly statements (monthly_statement): per currency, opening + charges - payments + refunds =
-- closing, from the user's invoices, credit notes, Stripe subscription invoices and escrow
-- payments (the rule: docs/domains/billing.md "Monthly statements"). The owner reads theirs,
-- billing managers anyone's, a stranger and anon nobody's. The fixture, October 2026:
--
--   KRW  inv1   issued 09-10 10,000, paid 10-05         opening +10,000; payment 10,000
--        inv2   issued 10-12 20,000 (unpaid)            charge +20,000
--        cn     credit note of inv2 issued 10-20 5,000  charge -5,000
--        inv3   issued 10-15 3,000, canceled 10-25      charge +3,000, charge -3,000
--        in_sm  Stripe invoice finalized and paid 10-03 9,900   charge +9,900, payment 9,900
--        inv5   issued 11-02 1,000                      November
--        a draft                                        never
--   USD  inv4   issued 10-01 15.00, paid 10-02          charge +1,500, payment 1,500
--        escrow paid 10-08 50.00, refunded 20.00 10-09  charge +5,000, payment 5,000; refund +2,000, charge -2,000
--
-- October KRW: opening 10,000; charges 20,000 - 5,000 + 3,000 - 3,000 + 9,900 = 24,900;
--   payments 10,000 + 9,900 = 19,900; refunds 0; closing 10,000 + 24,900 - 19,900 = 15,000
--   (what is owed: inv2 less its credit note).
-- October USD: opening 0; charges 1,500 + 5,000 - 2,000 = 4,500; payments 6,500; refunds 2,000;
--   closing 0 + 4,500 - 6,500 + 2,000 = 0.
-- November KRW: opening 15,000 (October's closing), charges 1,000, closing 16,000.
begin;
select plan(15);

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
  '{"currency": "USD", "opening_balance": 0, "charges": 4500, "payments": 6500, "refunds": 2000, "closing_balance": 0}'::jsonb,
  'USD apart: the escrow purchase and its refund net to zero');
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
            ('invoice', '20261012-0001', 20000, 0, 0),
            ('invoice', '20261015-0001', 3000, 0, 0),
            ('credit_note', '20261020-0001', -5000, 0, 0),
            ('invoice_canceled', '20261015-0001', -3000, 0, 0) $$,
  'the month''s entries, oldest first; no draft, nothing of September or November');
select is((select public.monthly_statement('2026-11-01') -> 'currencies' -> 0),
  '{"currency": "KRW", "opening_balance": 15000, "charges": 1000, "payments": 0, "refunds": 0, "closing_balance": 16000}'::jsonb,
  'November opens with October''s closing');
select is((select public.monthly_statement('2026-11-01') -> 'currencies' -> 1 ->> 'opening_balance'), '0',
  'a currency without entries in the month still shows its balance');
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
