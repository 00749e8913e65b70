-- The refunds of a subscription invoice (private.subscription_invoice_refunds, 70_stripe_billing.sql)
-- are found through ledger_transactions_subscription_refund_invoice_idx, not by scanning the
-- ledger: the helper's own body, planned with its arguments as parameters (a generic plan, as
-- Postgres plans a SQL function's body), reads that index on a ledger of 20,000 postings; it is
-- the one place that spells the match (the reconciliation's sum and the statements call it);
-- and it answers exactly an invoice's subscription_refund postings in its currency: not an
-- invoice whose id starts with the same characters, not a returned fee, not another currency.
begin;
select plan(9);

select has_index('public', 'ledger_transactions', 'ledger_transactions_subscription_refund_invoice_idx',
  'the subscription refund postings are indexed by invoice id');

-- A ledger of 20,000 postings, 1 in 100 a subscription refund. Inserted as rows (the balance is
-- checked at commit, and this test rolls back) with their two entries.
create function pg_temp.post(key text, from_account bigint, to_account bigint, amount bigint, currency text) returns void
language sql as $$
  with t as (
    insert into public.ledger_transactions (idempotency_key, description, entries_digest) values (key, 'test', 'test') returning id
  )
  insert into public.ledger_entries (transaction_id, account_id, amount, currency)
  select t.id, x.account, x.amount, post.currency from t, (values (from_account, -amount), (to_account, amount)) x (account, amount)
$$;
select pg_temp.post(case when g % 100 = 0 then 'subscription_refund:in_many' || g || ':re_many' || g else 'payment:many' || g end,
                    private.ledger_account(case when g % 100 = 0 then 'subscription_revenue' else 'stripe_fees' end, 'KRW'),
                    private.ledger_account(case when g % 100 = 0 then 'subscription_refunds' else 'platform_commission' end, 'KRW'),
                    100, 'KRW')
  from generate_series(1, 20000) g;
select pg_temp.post('subscription_refund:in_A:re_1', private.ledger_account('subscription_revenue', 'KRW'),
                    private.ledger_account('subscription_refunds', 'KRW'), 4000, 'KRW');
select pg_temp.post('subscription_refund:in_A:re_2', private.ledger_account('subscription_revenue', 'KRW'),
                    private.ledger_account('subscription_refunds', 'KRW'), 1500, 'KRW');
select pg_temp.post('subscription_refund_fee:re_2', private.ledger_account('stripe_fees', 'KRW'),
                    private.ledger_account('subscription_revenue', 'KRW'), 30, 'KRW');
select pg_temp.post('subscription_refund:in_AB:re_3', private.ledger_account('subscription_revenue', 'KRW'),
                    private.ledger_account('subscription_refunds', 'KRW'), 700, 'KRW');
select pg_temp.post('subscription_refund:in_A:re_4', private.ledger_account('subscription_revenue', 'USD'),
                    private.ledger_account('subscription_refunds', 'USD'), 9, 'USD');
analyze public.ledger_transactions;
analyze public.ledger_entries;

select is((select array_agg(r.amount order by r.amount) from private.subscription_invoice_refunds('in_A', 'KRW') r),
  array[1500, 4000]::bigint[], 'in_A''s refunds in KRW: its two subscription_refund postings, not in_AB''s, the fee or the USD one');
select is((select array_agg(r.amount) from private.subscription_invoice_refunds('in_A', 'USD') r), array[9]::bigint[],
  'in_A''s refund in USD is found in USD only');
select is(private.subscription_invoice_ledger_refunded('in_A', 'KRW'), 5500::bigint, 'the reconciliation''s sum reads the same refunds');
select is((select count(*)::integer from private.subscription_invoice_refunds('in_none', 'KRW')), 0, 'an invoice never refunded has none');

-- The helper's body as a prepared statement with its arguments as $1 and $2, planned generically.
create function pg_temp.plan_of_refunds_lookup() returns text
language plpgsql as $$
declare
  body text := (select p.prosrc from pg_proc p where p.oid = 'private.subscription_invoice_refunds(text, text)'::regprocedure);
  line text;
  plan text := '';
begin
  body := replace(replace(body, 'subscription_invoice_refunds.stripe_invoice_id', '$1'), 'subscription_invoice_refunds.currency', '$2');
  execute 'prepare refunds_lookup(text, text) as ' || body;
  set local plan_cache_mode = force_generic_plan;
  for line in execute 'explain (costs off) execute refunds_lookup(''in_A'', ''KRW'')' loop
    plan := plan || line || E'\n';
  end loop;
  deallocate refunds_lookup;
  return plan;
end
$$;
select matches(pg_temp.plan_of_refunds_lookup(), 'Index Scan using ledger_transactions_subscription_refund_invoice_idx on ledger_transactions',
  'the lookup reads the partial index on the invoice id');
select doesnt_match(pg_temp.plan_of_refunds_lookup(), 'Seq Scan on ledger_(transactions|entries)',
  'and scans neither ledger_transactions nor ledger_entries');

-- One definition: the two readers call the helper, and no other function spells the match.
select is((select array_agg(p.oid::regprocedure::text order by p.oid::regprocedure::text) from pg_proc p
            where p.prosrc like '%private.subscription_invoice_refunds(%' and p.pronamespace <> pg_my_temp_schema()),
  array['private.statement_entries(uuid)', 'private.subscription_invoice_ledger_refunded(text,text)'],
  'the reconciliation''s sum and the statements read the refunds through the helper');
select is((select array_agg(p.oid::regprocedure::text order by p.oid::regprocedure::text) from pg_proc p
            where p.prosrc ~ $re$(starts_with|like|split_part)\([^;]*subscription_refund:$re$ and p.pronamespace <> pg_my_temp_schema()),
  array['private.subscription_invoice_refunds(text,text)'],
  'no other function matches subscription_refund keys itself');

select * from finish();
rollback;
