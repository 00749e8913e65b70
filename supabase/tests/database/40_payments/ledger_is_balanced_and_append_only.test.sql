-- The ledger: every transaction balances per currency (checked at commit), posting is
-- idempotent by key, posted entries and transactions can be neither changed nor removed by
-- any role (postgres and service_role included), and balances are sums of entries.
begin;
select plan(16);

select tests.create_user('lg-buyer@example.com');
select tests.create_user('lg-seller@example.com');
select tests.clear_authentication();

create temp table ids as select tests.order_in('lg-buyer@example.com', 'lg-seller@example.com', 'in_progress') as order_id;
grant select on ids to public;

create function pg_temp.acct(kind text, user_email text default null) returns bigint language sql as $$
  select private.ledger_account(kind, 'EUR',
    case when kind in ('buyer_funding', 'escrow', 'refunds', 'chargebacks') then (select order_id from ids) end,
    case when user_email is not null then tests.get_user_id(user_email) end)
$$;

-- A balanced posting.
select lives_ok(
  $$ select private.post_ledger_transaction('test:pay', 'payment', (select order_id from ids), jsonb_build_array(
       jsonb_build_object('account_id', pg_temp.acct('buyer_funding'), 'amount', -9000),
       jsonb_build_object('account_id', pg_temp.acct('escrow'), 'amount', 9000))) $$,
  'a balanced transaction posts');

select is(
  private.post_ledger_transaction('test:pay', 'payment', (select order_id from ids), jsonb_build_array(
    jsonb_build_object('account_id', pg_temp.acct('escrow'), 'amount', 9000),
    jsonb_build_object('account_id', pg_temp.acct('buyer_funding'), 'amount', -9000))),
  (select id from public.ledger_transactions where idempotency_key = 'test:pay'),
  'the same key with the same entries (in any order) returns the first transaction');
select is((select count(*)::int from public.ledger_entries e join public.ledger_transactions t on t.id = e.transaction_id
            where t.idempotency_key = 'test:pay'), 2, 'and posts nothing more');

select throws_ok(
  $$ select private.post_ledger_transaction('test:pay', 'payment', (select order_id from ids), jsonb_build_array(
       jsonb_build_object('account_id', pg_temp.acct('buyer_funding'), 'amount', -100),
       jsonb_build_object('account_id', pg_temp.acct('escrow'), 'amount', 100))) $$,
  '23505', 'ledger transaction test:pay was posted with other entries', 'the same key with other entries is refused');

-- Unbalanced: refused at commit (the constraint trigger is deferred). Posted first, then
-- checked by setting the constraints immediate: set immediate before posting, the check would
-- run as soon as the transaction row is inserted, before its entries, and refuse any posting
-- as having no entries.
select tests.throws_like(
  $$ select private.post_ledger_transaction('test:unbalanced', 'bad', null, jsonb_build_array(
       jsonb_build_object('account_id', pg_temp.acct('escrow'), 'amount', 100),
       jsonb_build_object('account_id', pg_temp.acct('refunds'), 'amount', -99)));
     set constraints all immediate $$,
  '23514', 'ledger transaction % does not balance in EUR', 'an unbalanced transaction is refused');
set constraints all deferred;

select throws_ok(
  $$ select private.post_ledger_transaction('test:single', 'bad', null, jsonb_build_array(
       jsonb_build_object('account_id', pg_temp.acct('escrow'), 'amount', 100))) $$,
  '22023', 'ledger transaction test:single needs at least two non-zero entries', 'a transaction needs two entries');

select tests.throws_like(
  $$ set constraints all immediate;
     insert into public.ledger_transactions (idempotency_key, description, entries_digest) values ('test:empty', 'bad', 'x') $$,
  '23514', 'ledger transaction % needs at least two entries',
  'a transaction without entries is refused, even inserted directly');
set constraints all deferred;

-- Every transaction in the book sums to zero per currency.
select is_empty(
  $$ select e.transaction_id, e.currency from public.ledger_entries e group by 1, 2 having sum(e.amount) <> 0 $$,
  'every transaction sums to zero per currency');

-- Append-only, for postgres (the owner) and the service role alike.
select throws_ok($$ update public.ledger_entries set amount = 1 $$,
  '42501', 'ledger_entries is append-only: posted ledger records are never changed or removed (post a correcting transaction)',
  'postgres cannot update entries');
select throws_ok($$ delete from public.ledger_transactions $$,
  '42501', 'ledger_transactions is append-only: posted ledger records are never changed or removed (post a correcting transaction)',
  'postgres cannot delete transactions');
select throws_ok($$ set constraints all immediate; truncate public.ledger_entries cascade $$,
  '42501', 'ledger_entries is append-only: posted ledger records are never changed or removed (post a correcting transaction)',
  'postgres cannot truncate entries');
select throws_ok($$ delete from public.ledger_accounts $$,
  '42501', 'ledger_accounts is append-only: posted ledger records are never changed or removed (post a correcting transaction)',
  'postgres cannot delete accounts');

select tests.authenticate_as_service_role();
select throws_ok($$ update public.ledger_entries set amount = 1 $$,
  '42501', 'permission denied for table ledger_entries',
  'service_role cannot update entries');
select throws_ok(
  $$ insert into public.ledger_transactions (idempotency_key, description, entries_digest) values ('x', 'x', 'x') $$,
  '42501', 'permission denied for table ledger_transactions', 'service_role cannot insert transactions directly');
select tests.clear_authentication();

-- Balances are derived.
select is(private.ledger_balance('escrow', 'EUR', (select order_id from ids)), 9000::bigint, 'the escrow balance is the sum of its entries');
select is((select balance from public.ledger_balances where account_id = pg_temp.acct('buyer_funding')), -9000::bigint,
  'ledger_balances shows the same sums');

select * from finish();
rollback;
