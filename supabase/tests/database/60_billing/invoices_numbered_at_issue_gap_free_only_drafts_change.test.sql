-- Invoices: drafts by billing managers (or a seller in their own series), lines rounded half
-- away from zero to whole minor units, tax once on the subtotal; numbers YYYYMMDD-XXXX
-- assigned at issue only, consecutive per series, a rolled-back issue leaving no gap; only
-- drafts edited or deleted; issued ones corrected by credit notes no larger than the
-- invoice; paid and canceled final. Customers read their issued invoices, sellers theirs,
-- staff all; strangers and anon nothing.
begin;
select plan(43);

select tests.create_user('inv-staff@example.com');
select tests.grant_role('inv-staff@example.com', 'staff');
select tests.create_user('inv-customer@example.com');
select tests.create_user('inv-stranger@example.com');
select tests.create_user('inv-seller@example.com');
select tests.grant_role('inv-seller@example.com', 'seller');
select tests.clear_authentication();

create temp table today as
  select to_char((now() at time zone 'UTC')::date, 'YYYYMMDD') as day,
         coalesce((select last_number from private.invoice_number_counters
                    where series = to_char((now() at time zone 'UTC')::date, 'YYYYMMDD')), 0) as before;
grant select on today to public;
create function pg_temp.num(n integer) returns text language sql as $$
  select day || '-' || lpad((before + n)::text, 4, '0') from today $$;
create function pg_temp.inv(notes text) returns uuid language sql security definer as $$
  select id from public.invoices where notes = inv.notes $$;
grant execute on function pg_temp.num(integer), pg_temp.inv(text) to public;

-- Writers.
select tests.act_as('inv-stranger@example.com');
select throws_ok(format($$ select public.create_invoice(%L, 'KRW', '[{"description": "x", "quantity": 1, "unit_amount": 100}]') $$,
  tests.get_user_id('inv-customer@example.com')), '42501', 'writing this invoice needs billing.manage, or to be its seller',
  'a stranger cannot invoice');
select tests.act_as('inv-seller@example.com');
select throws_ok(format($$ select public.create_invoice(%L, 'KRW', '[{"description": "x", "quantity": 1, "unit_amount": 100}]') $$,
  tests.get_user_id('inv-customer@example.com')), '42501', 'writing this invoice needs billing.manage, or to be its seller',
  'a seller cannot write a platform invoice');

select tests.act_as('inv-staff@example.com');
select lives_ok(format($$ select public.create_invoice(%L, 'KRW',
  '[{"description": "디자인 상담", "quantity": 1.5, "unit_amount": 333}, {"description": "Pattern", "quantity": 3, "unit_amount": 1000}]',
  customer_name => '김민수', tax_rate_bps => 1000, due_days => 14, notes => 'first') $$, tests.get_user_id('inv-customer@example.com')),
  'staff create a draft in KRW for a Korean customer');
select results_eq($$ select line_amount from public.invoice_items where invoice_id = pg_temp.inv('first') order by position $$,
  array[500::bigint, 3000], 'a line is quantity x unit amount rounded half away from zero (1.5 x 333 = 499.5 -> 500)');
select results_eq($$ select subtotal_amount, tax_amount, total_amount, number, status from public.invoices where id = pg_temp.inv('first') $$,
  $$ values (3500::bigint, 350::bigint, 3850::bigint, null::text, 'draft'::text) $$, 'tax on the subtotal; a draft has no number');
select is((public.update_invoice(pg_temp.inv('first'), '{"items": [{"description": "A", "quantity": 1, "unit_amount": 3505}]}') ->> 'tax_amount')::bigint,
  351::bigint, 'tax 350.5 rounds to 351');
select is((public.update_invoice(pg_temp.inv('first'), '{"items": [{"description": "디자인 상담", "quantity": 1.5, "unit_amount": 333}, {"description": "Pattern", "quantity": 3, "unit_amount": 1000}]}') ->> 'total_amount')::bigint,
  3850::bigint, 'a draft''s lines are replaced');
select lives_ok(format($$ select public.create_invoice(%L, 'USD', '[{"description": "Hours", "quantity": 2.333, "unit_amount": 150}]', notes => 'second') $$,
  tests.get_user_id('inv-customer@example.com')), 'and one in USD');
select is((select line_amount from public.invoice_items where invoice_id = pg_temp.inv('second')), 350::bigint,
  'in cents: 2.333 x 150 = 349.95 -> 350');
select lives_ok(format($$ select public.create_invoice(%L, 'KRW', '[{"description": "x", "quantity": 1, "unit_amount": 100}]', notes => 'third') $$,
  tests.get_user_id('inv-customer@example.com')), 'and a third');

select throws_ok(format($$ select public.create_invoice(%L, 'XYZ', '[{"description": "x", "quantity": 1, "unit_amount": 100}]') $$,
  tests.get_user_id('inv-customer@example.com')), '22023', 'currency XYZ is not supported (see the currencies table)', 'an unknown currency');
select throws_ok(format($$ select public.create_invoice(%L, 'KRW', '[{"description": "x", "quantity": 1, "unit_amount": 0}]') $$,
  tests.get_user_id('inv-customer@example.com')), '22023', 'a line''s unit amount must be a positive whole number of minor units of KRW, not 0',
  'a zero price');
select throws_ok(format($$ select public.create_invoice(%L, 'KRW', '[]') $$, tests.get_user_id('inv-customer@example.com')), '22023',
  'items are 1 to 200 lines of {description, quantity, unit_amount} (unit_amount in minor units)', 'no lines');
select throws_ok(format($$ select public.create_invoice(%L, 'KRW', '[{"description": "x", "quantity": 0.0001, "unit_amount": 100}]') $$,
  tests.get_user_id('inv-customer@example.com')), '22023', 'a line''s quantity is positive, below 1000000000, with at most 3 decimals',
  'a quantity with 4 decimals');
select tests.throws_like(format($$ select public.create_invoice(%L, 'KRW', '[{"description": "x", "quantity": 1, "unit_amount": 100}]') $$,
  gen_random_uuid()), 'PT404', 'customer % not found', 'an unknown customer');

-- The customer does not see drafts.
select tests.act_as('inv-customer@example.com');
select is_empty($$ select 1 from public.invoices $$, 'a customer reads no drafts');

-- Issue: consecutive numbers of the day's series; a rolled-back issue leaves no gap.
select tests.act_as('inv-staff@example.com');
select is(public.issue_invoice(pg_temp.inv('first')) ->> 'number', pg_temp.num(1), 'the first issue takes the next number of the day');
savepoint before_second;
select is(public.issue_invoice(pg_temp.inv('second')) ->> 'number', pg_temp.num(2), 'a second issue the one after');
rollback to savepoint before_second;
select is(public.issue_invoice(pg_temp.inv('third')) ->> 'number', pg_temp.num(2), 'a rolled-back issue gives its number back: no gap');
select is(public.issue_invoice(pg_temp.inv('second')) ->> 'number', pg_temp.num(3), 'and the next is consecutive');
select ok((select due_at = issued_at + interval '14 days' from public.invoices where id = pg_temp.inv('first')), 'due after its due days');
select tests.throws_like($$ select public.issue_invoice(pg_temp.inv('first')) $$, 'PT409', 'invoice % is already issued', 'issued once');

-- Only drafts change.
select tests.throws_like($$ select public.update_invoice(pg_temp.inv('first'), '{"notes": "changed"}') $$, 'PT409',
  'invoice %-0% is issued: only drafts are edited; correct it with a credit note', 'an issued invoice is not edited');
select tests.throws_like($$ select public.delete_invoice(pg_temp.inv('first')) $$, 'PT409',
  'invoice %-0% is issued: only drafts are deleted; correct it with a credit note', 'nor deleted');
select tests.act_as('postgres');
select tests.throws_like($$ insert into public.invoice_items (invoice_id, description, quantity, unit_amount) values (pg_temp.inv('first'), 'more', 1, 1) $$,
  'PT409', 'invoice %-0% is issued: only a draft''s lines change', 'nor its lines, even by the service');
select tests.throws_like($$ update public.invoices set tax_rate_bps = 0 where id = pg_temp.inv('first') $$, 'PT409',
  'invoice %-0% is issued: only drafts are edited; correct it with a credit note', 'the table itself refuses');
select tests.act_as('inv-staff@example.com');

-- Credit notes.
select lives_ok($$ select public.create_credit_note(pg_temp.inv('first'), '[{"description": "Refund Pattern", "quantity": 1, "unit_amount": 1000}]') $$,
  'a credit note for part of an issued invoice');
select is((select public.issue_invoice(id) ->> 'number' from public.invoices where credits_invoice_id = pg_temp.inv('first')), pg_temp.num(4),
  'is numbered in the same series when issued');
select lives_ok($$ select public.create_credit_note(pg_temp.inv('first')) $$, 'a full credit note after it is a draft');
select tests.throws_like($$ select public.issue_invoice((select id from public.invoices where credits_invoice_id = pg_temp.inv('first') and status = 'draft')) $$,
  'PT409', 'credit note of 3850 would credit invoice %-0001 beyond its total 3850 (1100 already credited)', 'but cannot credit more than the invoice');
select lives_ok($$ select public.delete_invoice((select id from public.invoices where credits_invoice_id = pg_temp.inv('first') and status = 'draft')) $$,
  'a draft credit note is deleted');

-- Status: paid and canceled are final.
select is(public.set_invoice_status(pg_temp.inv('first'), 'paid') ->> 'status', 'paid', 'an issued invoice is paid');
select is(public.set_invoice_status(pg_temp.inv('third'), 'canceled') ->> 'status', 'canceled', 'another canceled');
select tests.throws_like($$ select public.set_invoice_status(pg_temp.inv('third'), 'paid') $$, 'PT409',
  'invoice %-0002 is canceled: only an issued invoice becomes paid', 'a canceled invoice is not paid');
select ok(public.invoice_is_overdue(jsonb_populate_record(null::public.invoices,
  (select to_jsonb(i) || '{"due_at": "2000-01-01T00:00:00Z"}' from public.invoices i where i.id = pg_temp.inv('second')))),
  'an issued invoice past its due date is overdue');
select ok(not public.invoice_is_overdue(jsonb_populate_record(null::public.invoices,
  (select to_jsonb(i) || '{"due_at": "2000-01-01T00:00:00Z"}' from public.invoices i where i.id = pg_temp.inv('first')))),
  'a paid one is not');

-- A seller's own series.
select tests.act_as('inv-seller@example.com');
select is(public.issue_invoice((public.create_invoice(tests.get_user_id('inv-customer@example.com'), 'KRW',
  '[{"description": "Coat", "quantity": 1, "unit_amount": 50000}]', seller_id => auth.uid(), notes => 'seller') ->> 'id')::uuid) ->> 'number',
  (select day || '-0001' from today), 'a seller''s invoices start their own series');
select results_eq($$ select notes from public.invoices $$, array['seller'], 'a seller reads their invoices only');

-- Readers.
select tests.act_as('inv-customer@example.com');
select results_eq($$ select notes from public.invoices where kind = 'invoice' order by notes $$, array['first', 'second', 'seller', 'third'],
  'the customer reads their issued invoices');
select is((select count(*)::integer from public.invoice_items), 6, 'and their lines and their credit note''s');
select tests.act_as('inv-stranger@example.com');
select is_empty($$ select 1 from public.invoices union all select 1 from public.invoice_items $$, 'a stranger reads none');
select tests.act_as('anon');
select throws_ok($$ select 1 from public.invoices $$, '42501', 'permission denied for table invoices', 'anon reads nothing');

select tests.act_as('postgres');
select ok((select count(*) from public.audit_log where table_name = 'invoices' and actor_id = tests.get_user_id('inv-staff@example.com')) >= 8,
  'invoice changes are audited with their author');

select * from finish();
rollback;
