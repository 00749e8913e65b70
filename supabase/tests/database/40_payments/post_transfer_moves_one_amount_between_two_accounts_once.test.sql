-- private.post_transfer: the two-legged posting every "from -> to, amount, key" rule uses.
-- The from account is debited (-amount), the to account credited (+amount); it posts through
-- post_ledger_transaction, so a repeat with the same legs returns the first transaction and
-- another posting under the same key is refused; a non-positive amount, a missing account or
-- one account on both sides is refused before anything is posted.
begin;
select plan(17);

select tests.create_user('pt-buyer@example.com');
select tests.create_user('pt-seller@example.com');
select tests.clear_authentication();

create temp table ids as select tests.order_in('pt-buyer@example.com', 'pt-seller@example.com', 'in_progress') as order_id;

create function pg_temp.acct(kind text) returns bigint language sql as $$
  select private.ledger_account(kind, 'EUR', (select order_id from ids))
$$;
create function pg_temp.legs(key text) returns text language sql as $$
  select string_agg(a.kind || ':' || e.amount, ' ' order by a.kind)
    from public.ledger_entries e join public.ledger_accounts a on a.id = e.account_id
    join public.ledger_transactions t on t.id = e.transaction_id
   where t.idempotency_key = key
$$;

-- Balanced, from -> to.
select lives_ok(
  $$ select private.post_transfer('test:move', 'a move', (select order_id from ids), pg_temp.acct('buyer_funding'), pg_temp.acct('escrow'), 9000) $$,
  'a transfer posts');
select is(pg_temp.legs('test:move'), 'buyer_funding:-9000 escrow:9000',
  'the from account is debited (-amount), the to account credited (+amount)');
select is((select description || '/' || order_id from public.ledger_transactions where idempotency_key = 'test:move'),
  'a move/' || (select order_id from ids), 'with its description and order');
select is((select sum(e.amount)::int from public.ledger_entries e join public.ledger_transactions t on t.id = e.transaction_id
            where t.idempotency_key = 'test:move'), 0, 'it balances');
select lives_ok($$ set constraints all immediate $$, 'and passes the balance check at once');
set constraints all deferred;

-- Idempotent: the same legs under the same key.
select is(
  private.post_transfer('test:move', 'described otherwise', (select order_id from ids), pg_temp.acct('buyer_funding'), pg_temp.acct('escrow'), 9000),
  (select id from public.ledger_transactions where idempotency_key = 'test:move'),
  'the same key with the same legs returns the first transaction');
select is((select count(*)::int from public.ledger_entries e join public.ledger_transactions t on t.id = e.transaction_id
            where t.idempotency_key = 'test:move'), 2, 'and posts nothing more');
select is(
  private.post_ledger_transaction('test:move', 'the same legs written out', (select order_id from ids), jsonb_build_array(
    jsonb_build_object('account_id', pg_temp.acct('escrow'), 'amount', 9000),
    jsonb_build_object('account_id', pg_temp.acct('buyer_funding'), 'amount', -9000))),
  (select id from public.ledger_transactions where idempotency_key = 'test:move'),
  'it is the posting post_ledger_transaction makes of the same two legs');

-- Another posting under the same key.
select throws_ok(
  $$ select private.post_transfer('test:move', 'a move', (select order_id from ids), pg_temp.acct('buyer_funding'), pg_temp.acct('escrow'), 100) $$,
  '23505', 'ledger transaction test:move was posted with other entries', 'the same key with another amount is refused');
select throws_ok(
  $$ select private.post_transfer('test:move', 'a move', (select order_id from ids), pg_temp.acct('buyer_funding'), pg_temp.acct('refunds'), 9000) $$,
  '23505', 'ledger transaction test:move was posted with other entries', 'the same key with another account is refused');
select throws_ok(
  $$ select private.post_transfer('test:move', 'a move', (select order_id from ids), pg_temp.acct('escrow'), pg_temp.acct('buyer_funding'), 9000) $$,
  '23505', 'ledger transaction test:move was posted with other entries', 'the same key the other way round is refused');

-- Refused before posting.
select throws_ok(
  $$ select private.post_transfer('test:zero', 'nothing', null, pg_temp.acct('escrow'), pg_temp.acct('refunds'), 0) $$,
  '22023', 'ledger transfer test:zero must move a positive amount, not 0', 'a transfer of nothing is refused');
select throws_ok(
  $$ select private.post_transfer('test:negative', 'backwards', null, pg_temp.acct('escrow'), pg_temp.acct('refunds'), -5) $$,
  '22023', 'ledger transfer test:negative must move a positive amount, not -5', 'a negative transfer is refused (swap the accounts)');
select throws_ok(
  $$ select private.post_transfer('test:no_amount', 'unknown', null, pg_temp.acct('escrow'), pg_temp.acct('refunds'), null) $$,
  '22023', 'ledger transfer test:no_amount must move a positive amount, not <NULL>', 'a transfer without an amount is refused');
select throws_ok(
  format($$ select private.post_transfer('test:self', 'in place', null, %s, %s, 100) $$, pg_temp.acct('escrow'), pg_temp.acct('escrow')),
  '22023', format('ledger transfer test:self moves money from account %s to itself', pg_temp.acct('escrow')),
  'a transfer from an account to itself is refused');
select throws_ok(
  $$ select private.post_transfer('test:nowhere', 'to nowhere', null, pg_temp.acct('escrow'), null, 100) $$,
  '22023', 'ledger transfer test:nowhere needs both a from and a to account', 'a transfer needs both accounts');
select is((select count(*)::int from public.ledger_transactions where idempotency_key in
            ('test:zero', 'test:negative', 'test:no_amount', 'test:self', 'test:nowhere')), 0, 'nothing refused was posted');

select * from finish();
rollback;
