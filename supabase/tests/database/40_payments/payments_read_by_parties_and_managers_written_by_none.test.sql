-- Who reads money: for every payments table and view, the order's buyer (owner), its seller
-- (counterparty), a stranger, anon and an admin (marketplace.manage). Nobody writes.
begin;
select plan(32);

select tests.create_user('pp-buyer@example.com');
select tests.create_user('pp-seller@example.com');
select tests.create_user('pp-stranger@example.com');
select tests.create_user('pp-admin@example.com');
select tests.clear_authentication();
select tests.grant_role('pp-admin@example.com', 'admin');

-- A paid, completed and released order: escrow, history, a refund, a chargeback, ledger
-- accounts for the order, the seller and the platform.
create temp table ids as select tests.order_in('pp-buyer@example.com', 'pp-seller@example.com', 'awaiting_payment') as order_id;
select user_id from ops.register_payment_account(tests.get_user_id('pp-seller@example.com'), 'acct_1PpSeller',
  '{"charges_enabled": true, "payouts_enabled": true, "capabilities": {"transfers": "active"}}');
select ops.begin_payment((select order_id from ids), tests.get_user_id('pp-buyer@example.com'), 'payment_intent') is not null;
select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_pp_pi', 'object', 'event', 'created', 1000,
  'type', 'payment_intent.succeeded', 'data', jsonb_build_object('object', jsonb_build_object('id', 'pi_pp', 'object', 'payment_intent',
  'amount_received', 9000, 'currency', 'eur', 'latest_charge', 'ch_pp', 'metadata', jsonb_build_object('order_id', (select order_id from ids))))));
select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_pp_dp', 'object', 'event', 'created', 1001,
  'type', 'charge.dispute.created', 'data', jsonb_build_object('object', jsonb_build_object('id', 'dp_pp', 'object', 'dispute',
  'amount', 100, 'currency', 'eur', 'charge', 'ch_pp', 'payment_intent', 'pi_pp', 'status', 'needs_response'))));
select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_pp_dp2', 'object', 'event', 'created', 1002,
  'type', 'charge.dispute.closed', 'data', jsonb_build_object('object', jsonb_build_object('id', 'dp_pp', 'object', 'dispute',
  'amount', 100, 'currency', 'eur', 'charge', 'ch_pp', 'payment_intent', 'pi_pp', 'status', 'won'))));
select (ops.claim_refund((select order_id from ids), tests.get_user_id('pp-admin@example.com'), 500, 'goodwill')) is not null;

-- Rows of each relation the actor sees.
create function pg_temp.seen(actor text) returns text language plpgsql as $$
declare
  result text;
begin
  if actor = 'anon' then
    perform tests.authenticate_as_anon();
  elsif actor = 'postgres' then
    perform tests.clear_authentication(); -- every row, whatever other suites left behind
  else
    perform tests.authenticate_as(tests.get_user_id('pp-' || actor || '@example.com'));
  end if;
  select concat_ws(',',
    (select count(*) from public.payments), (select count(*) from public.payment_status), (select count(*) from public.payment_history) > 0,
    (select count(*) from public.payment_refunds), (select count(*) from public.payment_chargebacks),
    (select count(*) from public.ledger_accounts where kind in ('escrow', 'buyer_funding', 'chargebacks')),
    (select count(*) from public.ledger_accounts where kind = 'platform_commission'),
    (select count(*) from public.ledger_entries) > 0, (select count(*) from public.ledger_transactions) > 0,
    (select count(*) from public.ledger_balances where kind = 'escrow'),
    (select count(*) from public.seller_payment_accounts), (select count(*) from public.stripe_events)) into result;
  perform tests.clear_authentication();
  return result;
exception when insufficient_privilege then
  perform tests.clear_authentication();
  return 'denied';
end
$$;
grant execute on function pg_temp.seen(text) to public;

-- payments, payment_status, history?, refunds, chargebacks, order accounts, commission account, entries?, transactions?,
-- escrow balances, seller accounts, stripe events
select is(pg_temp.seen('buyer'), '1,1,t,1,1,3,0,t,t,1,0,0', 'the buyer reads the order''s escrow and its accounts, not the platform''s');
select is(pg_temp.seen('seller'), '1,1,t,1,1,3,0,t,t,1,1,0', 'the seller reads the same and their own payment account');
select is(pg_temp.seen('stranger'), '0,0,f,0,0,0,0,f,f,0,0,0', 'a stranger reads nothing');
select is(pg_temp.seen('anon'), 'denied', 'anon may not read money at all');
select is(pg_temp.seen('admin'), pg_temp.seen('postgres'), 'an admin reads everything, Stripe events included');

-- The platform's entries are the admin's alone: the buyer sees only their order's accounts' entries.
select tests.authenticate_as(tests.get_user_id('pp-buyer@example.com'));
select is_empty($$ select 1 from public.ledger_entries e join public.ledger_accounts a on a.id = e.account_id
                   where a.kind in ('platform_commission', 'seller_payable', 'seller_transfers') $$,
  'the buyer reads no platform or seller entries');
select is_empty($$ select 1 from public.ledger_entries e where not exists (select 1 from public.ledger_accounts a where a.id = e.account_id) $$,
  'nor entries of accounts they cannot see');
select tests.clear_authentication();

-- Nobody writes: every write by every API role is refused for want of a grant (not by a
-- policy), whatever the row.
select is(tests.refusal(who, s), 'permission denied for table ' || substring(s from 'public\.(\w+)'), a || ': ' || s) from
  unnest(array['buyer', 'admin', 'service'], array['pp-buyer@example.com', 'pp-admin@example.com', 'service_role']) actor (a, who),
  unnest(array[
    'update public.payments set amount_refunded = 0',
    'insert into public.payment_refunds (order_id, amount, reason) select order_id, 1, ''x'' from public.payments',
    'update public.payment_history set note = ''x''',
    'insert into public.ledger_entries (transaction_id, account_id, amount, currency) values (1, 1, 1, ''EUR'')',
    'delete from public.ledger_transactions',
    'update public.seller_payment_accounts set payouts_enabled = true',
    'delete from public.stripe_events',
    'update public.payment_chargebacks set closed = true'
  ]) s;

select is(tests.refusal('pp-buyer@example.com', $$select ops.claim_release((select order_id from public.payments limit 1), auth.uid())$$),
  'permission denied for schema ops', 'a user cannot call the service-role functions directly');

select * from finish();
rollback;
