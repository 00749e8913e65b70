-- Reconciliation over a window. A daily run cannot ask Stripe about every payment ever made,
-- and need not: Stripe changes a charge (refund from the dashboard, chargeback) within months
-- of it, and our side changes a payment's row whenever anything happens to it. So
-- payments-reconcile asks for the payments created, paid or changed within the window
-- (180 days by default), plus every payment whose ledger and escrow rows disagree however old.
-- The function keeps its columns; active_since selects the window, and after_order_id and
-- max_rows page through it by order id inside the function (a security definer function is
-- never inlined, so a limit put on its result by the caller would not spare it any row).

drop function public.payments_reconciliation(boolean);

create function public.payments_reconciliation(
  only_problems boolean default false,
  active_since timestamptz default null,
  after_order_id uuid default null,
  max_rows integer default null
)
returns table (
  order_id uuid, currency text, status text,
  stripe_payment_intent_id text, stripe_charge_id text, stripe_transfer_id text,
  amount_captured bigint, amount_refunded bigint, amount_transferred bigint, amount_reversed bigint, amount_charged_back bigint,
  ledger_captured bigint, ledger_refunded bigint, ledger_transferred bigint, ledger_escrow bigint, ledger_chargebacks bigint,
  problems text[]
)
language sql
stable
security definer
set search_path = ''
as $$
  with figures as (
    select p.*,
           -private.ledger_balance('buyer_funding', p.currency, p.order_id) as l_captured,
           private.ledger_balance('refunds', p.currency, p.order_id) as l_refunded,
           private.ledger_balance('escrow', p.currency, p.order_id) as l_escrow,
           private.ledger_balance('chargebacks', p.currency, p.order_id) as l_chargebacks,
           coalesce((select sum(e.amount) from public.ledger_entries e
                       join public.ledger_transactions t on t.id = e.transaction_id
                       join public.ledger_accounts a on a.id = e.account_id
                      where t.order_id = p.order_id and a.kind = 'seller_transfers'), 0)::bigint as l_transferred,
           (select coalesce(sum(r.amount), 0) from public.payment_refunds r
             where r.order_id = p.order_id and r.status in ('requested', 'pending')) as in_flight
      from public.payments p
     where after_order_id is null or p.order_id > after_order_id
  ),
  checked as (
    select f.*, array_remove(array[
      case when f.l_captured <> f.amount_captured then 'ledger captured ' || f.l_captured || ' <> escrow ' || f.amount_captured end,
      case when f.l_refunded <> f.amount_refunded then 'ledger refunded ' || f.l_refunded || ' <> escrow ' || f.amount_refunded end,
      case when f.l_transferred <> f.amount_transferred - f.amount_reversed
           then 'ledger transferred ' || f.l_transferred || ' <> escrow ' || (f.amount_transferred - f.amount_reversed) end,
      case when f.amount_transferred = 0 and f.l_escrow <> f.amount_captured - f.amount_refunded - f.l_chargebacks
           then 'escrow balance ' || f.l_escrow || ' <> captured less refunded less chargebacks' end,
      case when f.amount_transferred > 0 and f.l_escrow <> (select coalesce(sum(r.amount), 0) from public.payment_refunds r
                                                              where r.order_id = f.order_id and r.from_escrow and r.status in ('requested', 'pending'))
           then 'escrow balance ' || f.l_escrow || ' left after release' end,
      case when f.amount_captured > 0 and f.stripe_payment_intent_id is null and f.stripe_charge_id is null then 'captured without a Stripe id' end,
      case when f.amount_transferred > 0 and f.stripe_transfer_id is null then 'transferred without a Stripe transfer id' end,
      case when f.release_claimed_at < now() - interval '1 hour' and f.stripe_transfer_id is null then 'release claimed over an hour ago, never recorded' end,
      case when f.in_flight > 0 and exists (select 1 from public.payment_refunds r where r.order_id = f.order_id
                                              and r.status = 'requested' and r.claimed_at < now() - interval '1 hour')
           then 'refund claimed over an hour ago, never answered' end
    ], null) as problems
      from figures f
  )
  select c.order_id, c.currency, c.status, c.stripe_payment_intent_id, c.stripe_charge_id, c.stripe_transfer_id,
         c.amount_captured, c.amount_refunded, c.amount_transferred, c.amount_reversed, c.amount_charged_back,
         c.l_captured, c.l_refunded, c.l_transferred, c.l_escrow, c.l_chargebacks, c.problems
    from checked c
   where (not only_problems or cardinality(c.problems) > 0)
     and (active_since is null or cardinality(c.problems) > 0
          or c.created_at >= active_since or c.paid_at >= active_since or c.updated_at >= active_since)
   order by c.order_id
   limit max_rows
$$;
comment on function public.payments_reconciliation(boolean, timestamptz, uuid, integer) is
  'Per order: escrow amounts and Stripe ids, the ledger''s derived figures, and their disagreements; with active_since, only payments created, paid or changed since then, and every one with a disagreement; in order id order, after after_order_id, max_rows at most. Service role only (payments-reconcile compares the Stripe ids with Stripe).';
revoke execute on function public.payments_reconciliation(boolean, timestamptz, uuid, integer) from public;
grant execute on function public.payments_reconciliation(boolean, timestamptz, uuid, integer) to service_role;
