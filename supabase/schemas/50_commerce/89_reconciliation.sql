-- Reconciliation of the shop's money, the database's half (issue 17): per paid checkout, what
-- the shop_payments row, its shop_transfers and shop_refunds say, what the ledger says (derived
-- from entries only: the checkout's buyer_funding, escrow and refunds accounts, the
-- seller_transfers entries of each shop order's postings, the fee:<charge> posting) and every
-- disagreement between them. payments-reconcile adds Stripe's half
-- (functions/_shared/commerce/reconcile.ts): the payment intent's charge and fee, the transfers
-- of the transfer group checkout_<id> and the refunds of the payment intent, matched to these
-- rows by Stripe id. The postings each check must agree with: docs/payments/ledger-postings.md,
-- "Shop checkouts". Same window and paging as ops.payments_reconciliation (70_reconciliation.sql
-- of 40_payments): active_since, after_checkout_id, max_rows.

create function ops.shop_reconciliation(
  active_since timestamptz default null,
  after_checkout_id uuid default null,
  max_rows integer default null
)
returns table (
  checkout_id uuid, currency text, status text,
  stripe_payment_intent_id text, stripe_charge_id text, stripe_late_refund_id text,
  amount_captured bigint, amount_refunded bigint, stripe_fee bigint,
  ledger_captured bigint, ledger_refunded bigint, ledger_escrow bigint, ledger_fee bigint,
  transfers jsonb, refunds jsonb,
  problems text[]
)
language sql
stable
security definer
set search_path = ''
as $$
  with payments as (
    select p.* from public.shop_payments p
     where (p.amount_captured > 0 or p.status <> 'pending')
       and (after_checkout_id is null or p.checkout_id > after_checkout_id)
  ),
  orders as (
    -- Per shop order with a transfer row: what we say it was paid out and reversed, and the
    -- seller_transfers entries of its postings (shop_transfer:<order>, shop_refund:<refund>).
    select t.checkout_id, t.shop_order_id, t.amount, t.commission, t.stripe_transfer_id, t.transferred_at, t.claimed_at,
           t.cancelled_at,
           coalesce((select sum(r.reversal_amount) from public.shop_refunds r
                      where r.shop_order_id = t.shop_order_id and r.status = 'succeeded'), 0)::bigint as reversed,
           coalesce((select sum(e.amount) from public.ledger_transactions x
                       join public.ledger_entries e on e.transaction_id = x.id
                       join public.ledger_accounts a on a.id = e.account_id and a.kind = 'seller_transfers'
                      where x.idempotency_key = 'shop_transfer:' || t.shop_order_id
                         or x.idempotency_key in (select 'shop_refund:' || r.id from public.shop_refunds r
                                                   where r.shop_order_id = t.shop_order_id)), 0)::bigint as l_transferred
      from public.shop_transfers t
     where t.checkout_id in (select checkout_id from payments)
  ),
  figures as (
    select p.*,
           -private.checkout_ledger_balance('buyer_funding', p.currency, p.checkout_id) as l_captured,
           private.checkout_ledger_balance('refunds', p.currency, p.checkout_id) as l_refunded,
           private.checkout_ledger_balance('escrow', p.currency, p.checkout_id) as l_escrow,
           coalesce((select sum(e.amount) from public.ledger_transactions x
                       join public.ledger_entries e on e.transaction_id = x.id
                       join public.ledger_accounts a on a.id = e.account_id and a.kind = 'stripe_fees'
                      where x.idempotency_key = 'fee:' || p.stripe_charge_id), 0)::bigint as l_fee,
           -- What escrow must hold: the capture, less what was paid out (share and commission),
           -- refunds made before their order's payout, and a late payment's refund.
           p.amount_captured
             - coalesce((select sum(o.amount + o.commission) from orders o
                          where o.checkout_id = p.checkout_id and o.stripe_transfer_id is not null), 0)
             - coalesce((select sum(r.amount) from public.shop_refunds r
                           left join public.shop_transfers t on t.shop_order_id = r.shop_order_id
                          where r.checkout_id = p.checkout_id and r.status = 'succeeded'
                            and (t.transferred_at is null or t.transferred_at > r.resolved_at)), 0)
             - case when p.stripe_late_refund_id is not null then p.amount_captured else 0 end as expected_escrow,
           coalesce((select sum(r.amount) from public.shop_refunds r
                      where r.checkout_id = p.checkout_id and r.status = 'succeeded'), 0)
             + coalesce((select sum(x.amount) from public.shop_external_refunds x where x.checkout_id = p.checkout_id), 0)
             + case when p.stripe_late_refund_id is not null then p.amount_captured else 0 end as refunds_total,
           coalesce((select jsonb_agg(jsonb_build_object(
                        'shop_order_id', o.shop_order_id, 'amount', o.amount, 'stripe_transfer_id', o.stripe_transfer_id,
                        'reversed', o.reversed, 'cancelled', o.cancelled_at is not null) order by o.shop_order_id)
                       from orders o where o.checkout_id = p.checkout_id), '[]') as transfer_rows,
           coalesce((select jsonb_agg(jsonb_build_object(
                        'refund_id', r.id, 'shop_order_id', r.shop_order_id, 'amount', r.amount, 'status', r.status,
                        'stripe_refund_id', r.stripe_refund_id) order by r.created_at, r.id)
                       from public.shop_refunds r where r.checkout_id = p.checkout_id), '[]')
             -- Refunds made in Stripe (88_cancellations.sql): no shop order, named by their Stripe id.
             || coalesce((select jsonb_agg(jsonb_build_object(
                        'refund_id', x.stripe_refund_id, 'shop_order_id', null, 'amount', x.amount, 'status', 'succeeded',
                        'stripe_refund_id', x.stripe_refund_id, 'external', true) order by x.created_at, x.stripe_refund_id)
                       from public.shop_external_refunds x where x.checkout_id = p.checkout_id), '[]') as refund_rows
      from payments p
  ),
  checked as (
    select f.*, array_remove(array[
      case when f.l_captured <> f.amount_captured then 'ledger captured ' || f.l_captured || ' <> shop payment ' || f.amount_captured end,
      case when f.l_refunded <> f.amount_refunded then 'ledger refunded ' || f.l_refunded || ' <> shop payment ' || f.amount_refunded end,
      case when f.refunds_total <> f.amount_refunded
           then 'refunds recorded ' || f.refunds_total || ' <> shop payment refunded ' || f.amount_refunded end,
      case when f.l_escrow <> f.expected_escrow
           then 'escrow balance ' || f.l_escrow || ' <> captured less paid out less refunded before payout ' || f.expected_escrow end,
      case when f.stripe_fee is not null and f.l_fee <> f.stripe_fee then 'ledger fee ' || f.l_fee || ' <> shop payment fee ' || f.stripe_fee end,
      case when f.amount_captured > 0 and f.stripe_payment_intent_id is null then 'captured without a Stripe payment intent' end
    ] || array(
      select 'shop order ' || o.shop_order_id || ': ' || m from orders o,
        lateral unnest(array[
          case when o.l_transferred <> case when o.stripe_transfer_id is null then 0 else o.amount - o.reversed end
               then 'ledger transferred ' || o.l_transferred || ' <> shop transfer '
                    || case when o.stripe_transfer_id is null then 0 else o.amount - o.reversed end end,
          case when o.stripe_transfer_id is null and o.claimed_at < now() - interval '1 hour'
               then 'transfer claimed over an hour ago, never recorded' end
        ]) m
       where o.checkout_id = f.checkout_id and m is not null
       order by o.shop_order_id
    ) || array(
      select 'refund ' || r.id || ': claimed over an hour ago, never answered' from public.shop_refunds r
       where r.checkout_id = f.checkout_id and r.status = 'requested' and r.created_at < now() - interval '1 hour'
       order by r.id
    ), null) as problems
      from figures f
  )
  select c.checkout_id, c.currency, c.status, c.stripe_payment_intent_id, c.stripe_charge_id, c.stripe_late_refund_id,
         c.amount_captured, c.amount_refunded, c.stripe_fee,
         c.l_captured, c.l_refunded, c.l_escrow, c.l_fee, c.transfer_rows, c.refund_rows, c.problems
    from checked c
   where active_since is null or cardinality(c.problems) > 0
      or c.created_at >= active_since or c.paid_at >= active_since or c.updated_at >= active_since
      or exists (select 1 from orders o where o.checkout_id = c.checkout_id and o.transferred_at >= active_since)
      or exists (select 1 from public.shop_refunds r where r.checkout_id = c.checkout_id
                    and (r.created_at >= active_since or r.resolved_at >= active_since))
      or exists (select 1 from public.shop_external_refunds x where x.checkout_id = c.checkout_id and x.created_at >= active_since)
   order by c.checkout_id
   limit max_rows
$$;
comment on function ops.shop_reconciliation(timestamptz, uuid, integer) is
  'Per paid checkout: the shop payment''s amounts and Stripe ids, its transfers and refunds (jsonb), the ledger''s derived figures, and their disagreements; with active_since, only checkouts paid or changed since then and every one with a disagreement; in checkout id order, after after_checkout_id, max_rows at most. Service role only (payments-reconcile compares them with Stripe).';
revoke execute on function ops.shop_reconciliation(timestamptz, uuid, integer) from public;
grant execute on function ops.shop_reconciliation(timestamptz, uuid, integer) to service_role;
