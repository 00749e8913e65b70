-- Payment history (my_payment_history): the caller's issued invoices (credit notes negative,
-- overdue shown as such) and escrow payments as buyer, newest first, filtered by status and
-- date, paginated with a total; never drafts, never another user's. The invoices bucket: the
-- customer reads their own folder, billing managers all, nobody writes through the API.
-- The Stripe customer link: its user and billing managers read it.
begin;
select plan(17);

select tests.create_user('ph-buyer@example.com');
select tests.create_user('ph-seller@example.com');
select tests.create_user('ph-staff@example.com');
select tests.grant_role('ph-staff@example.com', 'staff');
select tests.create_user('ph-stranger@example.com');
-- An escrow payment of the buyer's (the row payments-initiate starts).
select private.lock_payment(tests.order_in('ph-buyer@example.com', 'ph-seller@example.com', 'in_progress'));

select tests.act_as('ph-staff@example.com');
create temp table invs as
select (public.create_invoice(tests.get_user_id('ph-buyer@example.com'), 'KRW',
          format('[{"description": "Item %s", "quantity": 1, "unit_amount": %s}]', n, n * 1000)::jsonb, notes => 'ph ' || n) ->> 'id')::uuid as id, n
  from generate_series(1, 4) n;
grant select on invs to public;
select public.issue_invoice(id) from invs where n <= 3;
select public.set_invoice_status((select id from invs where n = 2), 'paid');
select public.issue_invoice((public.create_credit_note((select id from invs where n = 1)) ->> 'id')::uuid);

select tests.act_as('ph-buyer@example.com');
select is((select count(*)::integer from public.my_payment_history()), 5, 'three invoices, a credit note and the escrow payment; not the draft');
select is((select max(total_count)::integer from public.my_payment_history(page_size => 2)), 5, 'every page carries the total');
select is((select count(*)::integer from public.my_payment_history(page_size => 2, page => 3)), 1, 'the last page holds the rest');
select results_eq($$ select kind from public.my_payment_history(with_status => 'paid') $$, array['invoice'], 'filtered by status');
select is((select amount from public.my_payment_history() where kind = 'credit_note'), -1000::bigint, 'a credit note counts negative');
select is((select count(*)::integer from public.my_payment_history() where kind = 'escrow_payment'), 1, 'the escrow payment is there');
select is((select count(*)::integer from public.my_payment_history(from_date => current_date + 1)), 0, 'nothing after today');
select is((select count(*)::integer from public.my_payment_history(from_date => current_date, to_date => current_date)), 5,
  'everything today, both ends inclusive');
select throws_ok($$ select * from public.my_payment_history(page_size => 500) $$, '22023', 'page is 1 or more and page_size 1 to 100',
  'a page is at most 100 rows');
select throws_ok($$ select * from public.my_payment_history(from_date => current_date, to_date => current_date - 1) $$, '22023',
  'to_date ' || (current_date - 1) || ' is before from_date ' || current_date, 'dates in order');
select tests.act_as('ph-stranger@example.com');
select is_empty($$ select * from public.my_payment_history() $$, 'a stranger sees nothing of it');
select tests.act_as('anon');
select throws_ok($$ select * from public.my_payment_history() $$, '42501', 'permission denied for function my_payment_history',
  'anon has no history');

-- The invoices bucket and the customer link.
select tests.act_as('postgres');
insert into storage.objects (bucket_id, name, owner_id) values
  ('invoices', tests.get_user_id('ph-buyer@example.com') || '/a.pdf', null),
  ('invoices', tests.get_user_id('ph-stranger@example.com') || '/b.pdf', null);
insert into public.billing_customers (user_id, stripe_customer_id) values (tests.get_user_id('ph-buyer@example.com'), 'cus_ph');
select tests.act_as('ph-buyer@example.com');
select results_eq($$ select name from storage.objects where bucket_id = 'invoices' $$,
  array[tests.get_user_id('ph-buyer@example.com') || '/a.pdf'], 'a customer reads their own invoice PDFs');
select throws_ok(format($$ insert into storage.objects (bucket_id, name) values ('invoices', '%s/fake.pdf') $$, tests.get_user_id('ph-buyer@example.com')),
  '42501', 'new row violates row-level security policy for table "objects"', 'and plants none');
select results_eq($$ select stripe_customer_id from public.billing_customers $$, array['cus_ph'], 'the user reads their customer link');
select tests.act_as('ph-staff@example.com');
select is((select count(*)::integer from storage.objects where bucket_id = 'invoices'), 2, 'billing managers read every PDF');
select tests.act_as('ph-stranger@example.com');
select is_empty($$ select 1 from public.billing_customers $$, 'a stranger reads no customer link');

select * from finish();
rollback;
