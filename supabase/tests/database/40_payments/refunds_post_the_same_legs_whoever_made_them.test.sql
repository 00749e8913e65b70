-- Refunds are posted by one rule, private.post_refund, whoever made them: ours (claim_refund
-- then record_refund) and those made in Stripe's Dashboard (charge.refunded beyond ours,
-- record_external_refunds). For the same situation both post the same legs under
-- refund:<refund id>: before release escrow -> refunds; after release with nothing reversed,
-- platform_commission -> refunds; after release with the seller's share reversed (ours only:
-- a Dashboard refund reverses nothing), that share from seller_payable.
begin;
select plan(19);

select tests.create_user('rf-buyer@example.com');
select tests.create_user('rf-seller@example.com');
select tests.create_user('rf-admin@example.com');
select tests.clear_authentication();
select tests.grant_role('rf-admin@example.com', 'admin');

create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('rf-' || who || '@example.com') $$;
select user_id from ops.register_payment_account(pg_temp.uid('seller'), 'acct_1RfSeller',
  '{"charges_enabled": true, "payouts_enabled": true, "capabilities": {"transfers": "active"}}');

-- A completed order whose 9000 EUR (pi_<n>, ch_<n>) was captured through the webhook.
create function pg_temp.completed_order() returns uuid language plpgsql as $$
declare
  o uuid := tests.order_in('rf-buyer@example.com', 'rf-seller@example.com', 'awaiting_payment');
  n text := replace(o::text, '-', '');
  buyer uuid := pg_temp.uid('buyer');
  seller uuid := pg_temp.uid('seller');
begin
  perform ops.begin_payment(o, buyer, 'payment_intent');
  perform ops.process_stripe_event(jsonb_build_object('id', 'evt_pi_' || n, 'object', 'event', 'created', 1000,
    'type', 'payment_intent.succeeded', 'data', jsonb_build_object('object', jsonb_build_object(
      'id', 'pi_' || n, 'object', 'payment_intent', 'amount_received', 9000, 'currency', 'eur', 'latest_charge', 'ch_' || n,
      'metadata', jsonb_build_object('order_id', o)))));
  perform tests.authenticate_as(seller);
  perform public.submit_delivery(o, 'Done', '{}');
  perform tests.authenticate_as(buyer);
  perform public.approve_delivery(o);
  perform tests.clear_authentication();
  return o;
end
$$;
-- Released: 8100 transferred to the seller (tr_<n>), 900 commission.
create function pg_temp.released(o uuid) returns uuid language plpgsql as $$
begin
  perform ops.record_release(o, 'tr_' || replace(o::text, '-', ''),
                                (ops.claim_release(o, pg_temp.uid('buyer')) ->> 'amount')::bigint);
  return o;
end
$$;
-- An admin's refund, its reversal recorded if it has one, then Stripe's success.
create function pg_temp.our_refund(o uuid, amount bigint) returns uuid language plpgsql as $$
declare
  claim jsonb := ops.claim_refund(o, pg_temp.uid('admin'), amount, 'goodwill');
  refund uuid := (claim ->> 'refund_id')::uuid;
begin
  if (claim ->> 'reversal_amount')::bigint > 0 then
    perform ops.record_refund_reversal(refund, 'trr_' || refund);
  end if;
  perform ops.record_refund(refund, 're_' || refund, 'succeeded');
  return refund;
end
$$;
-- A refund made in Stripe's Dashboard: charge.refunded with Stripe's total refunded so far.
create function pg_temp.dashboard_refund(o uuid, total_refunded bigint) returns uuid language plpgsql as $$
declare
  n text := replace(o::text, '-', '');
  before uuid[] := array(select id from public.payment_refunds where order_id = o);
  outcome text;
  refund uuid;
begin
  select e.outcome into outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_chr_' || n || '_' || total_refunded,
    'object', 'event', 'created', 2000, 'type', 'charge.refunded', 'data', jsonb_build_object('object', jsonb_build_object(
      'id', 'ch_' || n, 'object', 'charge', 'amount', 9000, 'amount_refunded', total_refunded, 'currency', 'eur',
      'payment_intent', 'pi_' || n)))) e;
  select id into strict refund from public.payment_refunds where order_id = o and source = 'stripe' and id <> all (before);
  return refund;
end
$$;
create function pg_temp.legs(refund uuid) returns text language sql as $$
  select string_agg(a.kind || ':' || e.amount, ' ' order by a.kind)
    from public.ledger_entries e join public.ledger_accounts a on a.id = e.account_id
    join public.ledger_transactions t on t.id = e.transaction_id
   where t.idempotency_key = 'refund:' || refund
$$;
create function pg_temp.row_of(refund uuid) returns text language sql as $$
  select source || '/' || amount || '/' || reversal_amount || '/' || from_escrow || '/' || status from public.payment_refunds where id = refund
$$;

create temp table orders as
  select pg_temp.completed_order() as before_release, pg_temp.released(pg_temp.completed_order()) as after_release,
         pg_temp.released(pg_temp.completed_order()) as with_reversal;

-- ---------------------------------------------------------------------------------------
-- Before release: escrow -> refunds, from either caller.

create temp table before_release as
  select pg_temp.our_refund(before_release, 1000) as ours from orders;
alter table before_release add column dashboard uuid;
update before_release set dashboard = pg_temp.dashboard_refund((select before_release from orders), 2000);

select is(pg_temp.legs((select ours from before_release)), 'escrow:-1000 refunds:1000',
  'before release, our refund is posted escrow -> refunds');
select is(pg_temp.legs((select dashboard from before_release)), pg_temp.legs((select ours from before_release)),
  'and a Dashboard refund of the same amount the same way');
select is(pg_temp.row_of((select ours from before_release)) || ' ' || pg_temp.row_of((select dashboard from before_release)),
  'platform/1000/0/true/succeeded stripe/1000/0/true/succeeded', 'both from escrow, nothing reversed');
select is((select string_agg(t.description, ' / ' order by t.id) from public.ledger_transactions t, before_release b
            where t.idempotency_key in ('refund:' || b.ours, 'refund:' || b.dashboard)),
  'Refund to the buyer / Refund made in Stripe', 'each described by who made it');

-- ---------------------------------------------------------------------------------------
-- After release, nothing left to reverse (the whole transfer was reversed in Stripe):
-- the platform bears either refund.

select is((select outcome from ops.process_stripe_event(jsonb_build_object('id', 'evt_trr_after', 'object', 'event', 'created', 1500,
    'type', 'transfer.reversed', 'data', jsonb_build_object('object', jsonb_build_object(
      'id', 'tr_' || replace((select after_release from orders)::text, '-', ''), 'object', 'transfer',
      'amount', 8100, 'amount_reversed', 8100))))),
  'applied', 'the whole transfer is reversed in Stripe');
create temp table after_release as
  select pg_temp.our_refund(after_release, 700) as ours from orders;
alter table after_release add column dashboard uuid;
update after_release set dashboard = pg_temp.dashboard_refund((select after_release from orders), 1400);

select is(pg_temp.legs((select ours from after_release)), 'platform_commission:-700 refunds:700',
  'after release with nothing to reverse, our refund is posted platform_commission -> refunds');
select is(pg_temp.legs((select dashboard from after_release)), pg_temp.legs((select ours from after_release)),
  'and a Dashboard refund of the same amount the same way');
select is(pg_temp.row_of((select ours from after_release)) || ' ' || pg_temp.row_of((select dashboard from after_release)),
  'platform/700/0/false/succeeded stripe/700/0/false/succeeded',
  'both recorded as after the transfer (a Dashboard refund after release is not from escrow)');

-- ---------------------------------------------------------------------------------------
-- After release with the seller's share reversed (ours), and a Dashboard refund after it.

create temp table with_reversal as
  select pg_temp.our_refund(with_reversal, 2000) as ours from orders;
alter table with_reversal add column dashboard uuid;
update with_reversal set dashboard = pg_temp.dashboard_refund((select with_reversal from orders), 3000);

select is(pg_temp.row_of((select ours from with_reversal)), 'platform/2000/1800/false/succeeded',
  'our refund after release reverses the seller''s share, 2000 less its 10% commission');
select is(pg_temp.legs((select ours from with_reversal)), 'platform_commission:-200 refunds:2000 seller_payable:-1800',
  'and is posted seller_payable -> refunds for that share, platform_commission -> refunds for the rest');
select is((select string_agg(a.kind || ':' || e.amount, ' ' order by a.kind)
             from public.ledger_entries e join public.ledger_accounts a on a.id = e.account_id
             join public.ledger_transactions t on t.id = e.transaction_id, with_reversal w
            where t.idempotency_key = 'reversal:' || w.ours),
  'seller_payable:1800 seller_transfers:-1800', 'the reversal having moved that share seller_transfers -> seller_payable');
select is(private.ledger_balance('seller_payable', 'EUR', null, pg_temp.uid('seller')), 0::bigint,
  'so seller_payable is back to nothing');
select is(pg_temp.row_of((select dashboard from with_reversal)) || ' ' || pg_temp.legs((select dashboard from with_reversal)),
  'stripe/1000/0/false/succeeded platform_commission:-1000 refunds:1000',
  'a Dashboard refund reverses nothing: the platform bears it');

-- ---------------------------------------------------------------------------------------
-- The one poster: idempotent by its key, from the row.

select is(private.post_refund((select r from public.payment_refunds r where r.id = (select ours from with_reversal)),
                              (select p from public.payments p where p.order_id = (select with_reversal from orders))),
  (select id from public.ledger_transactions where idempotency_key = 'refund:' || (select ours from with_reversal)),
  'posting a refund again returns its transaction');
select throws_ok(
  $$ select private.post_refund((select jsonb_populate_record(r, '{"amount": 2001}') from public.payment_refunds r where r.id = (select ours from with_reversal)),
                                (select p from public.payments p where p.order_id = (select with_reversal from orders))) $$,
  '23505', format('ledger transaction refund:%s was posted with other entries', (select ours from with_reversal)),
  'the same refund with another amount is refused');
select throws_ok(
  $$ select private.post_refund((select r from public.payment_refunds r where r.id = (select ours from with_reversal)),
                                (select p from public.payments p where p.order_id = (select before_release from orders))) $$,
  '22023', format('refund %s is not a refund of order %s', (select ours from with_reversal), (select before_release from orders)),
  'a refund is posted against its own order only');
select is((select count(*)::int from public.ledger_transactions t join public.payment_refunds r on t.idempotency_key = 'refund:' || r.id
            where r.order_id in (select before_release from orders union all select after_release from orders
                                 union all select with_reversal from orders)), 6,
  'one posting per refund');

-- ---------------------------------------------------------------------------------------
-- The book agrees with the escrow rows.

select is((select amount_refunded from public.payments where order_id = (select with_reversal from orders)), 3000::bigint,
  'the escrow counts both refunds');
select is_empty($$ select order_id, problems from ops.payments_reconciliation(true)
                    where order_id in (select before_release from orders union all select after_release from orders
                                       union all select with_reversal from orders) $$,
  'reconciliation finds every refunded order consistent');

select * from finish();
rollback;
