-- Reconciliation, the database's half: per order, what the escrow row says (the Stripe ids
-- and the amounts Stripe confirmed), what the ledger says (derived from entries only), and
-- every disagreement between the two. The payments-reconcile edge function adds the Stripe
-- half (functions/payments-reconcile): it fetches each row's charge, transfer and refunds and
-- compares Stripe's amounts with the stripe_* columns here; the admin CLI's `reconcile` and
-- the daily job both call that function. Which postings each check must agree with:
-- docs/payments/ledger-postings.md.
--
-- Reconciliation over a window. A daily run cannot ask Stripe about every payment ever made,
-- and need not: Stripe changes a charge (refund from the dashboard, chargeback) within months
-- of it, and our side changes a payment's row whenever anything happens to it. So
-- payments-reconcile asks for the payments created, paid or changed within the window
-- (180 days by default), plus every payment whose ledger and escrow rows disagree however old.
-- The function keeps its columns; active_since selects the window, and after_order_id and
-- max_rows page through it by order id inside the function (a security definer function is
-- never inlined, so a limit put on its result by the caller would not spare it any row).

create function ops.payments_reconciliation(
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
comment on function ops.payments_reconciliation(boolean, timestamptz, uuid, integer) is
  'Per order: escrow amounts and Stripe ids, the ledger''s derived figures, and their disagreements; with active_since, only payments created, paid or changed since then, and every one with a disagreement; in order id order, after after_order_id, max_rows at most. Service role only (payments-reconcile compares the Stripe ids with Stripe).';
revoke execute on function ops.payments_reconciliation(boolean, timestamptz, uuid, integer) from public;
grant execute on function ops.payments_reconciliation(boolean, timestamptz, uuid, integer) to service_role;

-- ---------------------------------------------------------------------------------------

-- Scheduled reconciliation: the payments-reconcile edge function (called by pg_cron with the
-- service-role key, or by `npm run admin -- reconcile`) compares payments_reconciliation()
-- and Stripe order by order and records each run here through record_reconciliation_run(),
-- which tells the marketplace managers when a run found differences.

create table public.payments_reconciliation_runs (
  id uuid primary key default gen_random_uuid(),
  started_at timestamptz not null,
  finished_at timestamptz not null,
  orders_checked integer not null constraint payments_reconciliation_runs_orders_checked check (orders_checked >= 0),
  orders_with_differences integer not null,
  differences jsonb not null default '[]',
  triggered_by text not null
    constraint payments_reconciliation_runs_triggered_by_format check (triggered_by ~ '^[a-z][a-z0-9_-]{0,39}$'),
  constraint payments_reconciliation_runs_finished_after_start check (finished_at >= started_at),
  constraint payments_reconciliation_runs_differences_counted check (
    jsonb_typeof(differences) = 'array'
    and orders_with_differences = jsonb_array_length(differences)
    and orders_with_differences <= orders_checked)
);
comment on table public.payments_reconciliation_runs is
  'One row per reconciliation run (the ledger, the escrow records and Stripe, order by order), written by record_reconciliation_run() only. Read by marketplace managers. Runs are kept 90 days.';
comment on column public.payments_reconciliation_runs.started_at is
  'When the run began comparing, by the clock of the function that ran it (as finished_at, so the two are comparable).';
comment on column public.payments_reconciliation_runs.differences is
  'The orders with differences only: [{ "order_id", "currency", "status", "problems": ["Stripe refunded 1234 <> escrow 0", ...] }].';
comment on column public.payments_reconciliation_runs.triggered_by is
  'Who started the run: schedule (pg_cron), cli (npm run admin -- reconcile), or another lowercase word the caller chose.';
create index payments_reconciliation_runs_finished_at_idx on public.payments_reconciliation_runs (finished_at desc);

alter table public.payments_reconciliation_runs enable row level security;
-- Reads only: the service role too writes through record_reconciliation_run(), so a run's
-- counts always match its differences and the managers are always told.
grant select on public.payments_reconciliation_runs to authenticated, service_role;
create policy "Marketplace managers read reconciliation runs" on public.payments_reconciliation_runs
  for select to authenticated
  using ((select private.has_permission('marketplace.manage')));

-- ---------------------------------------------------------------------------------------
-- Recording a run

create function ops.record_reconciliation_run(
  started_at timestamptz, finished_at timestamptz, orders_checked integer, differences jsonb, triggered_by text
) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  run_id uuid;
  managers uuid[];
begin
  if jsonb_typeof(differences) is distinct from 'array' then
    raise exception 'differences must be a JSON array' using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_array_elements(differences) d
     where case when jsonb_typeof(d) = 'object' and jsonb_typeof(d -> 'problems') = 'array'
                then private.try_uuid(d ->> 'order_id') is null
                     or jsonb_typeof(d -> 'currency') is distinct from 'string'
                     or jsonb_typeof(d -> 'status') is distinct from 'string'
                     or jsonb_array_length(d -> 'problems') = 0
                     or exists (select 1 from jsonb_array_elements(d -> 'problems') p where jsonb_typeof(p) <> 'string')
                else true end
  ) then
    raise exception 'each difference must be { order_id, currency, status, problems: [one or more strings] }' using errcode = '22023';
  end if;

  insert into public.payments_reconciliation_runs
    (started_at, finished_at, orders_checked, orders_with_differences, differences, triggered_by)
  values (started_at, finished_at, orders_checked, jsonb_array_length(differences), differences, triggered_by)
  returning id into run_id;

  if jsonb_array_length(differences) > 0 then
    -- Every user holding marketplace.manage now: the join narrows user_roles to the roles
    -- that grant it, user_has_permission decides as the policies do (unexpired roles only).
    managers := array(select distinct ur.user_id from public.user_roles ur
                        join public.role_permissions rp on rp.role_id = ur.role_id and rp.permission = 'marketplace.manage'
                       where private.user_has_permission(ur.user_id, 'marketplace.manage'));
    perform private.emit_event('payments.reconciliation_differences', 'payments_reconciliation_run', run_id, managers,
      jsonb_build_object('orders_checked', orders_checked, 'orders_with_differences', jsonb_array_length(differences),
                         'triggered_by', triggered_by),
      null);
  end if;

  -- Runs are monitoring, not the book: the ledger is append-only and a run can be repeated
  -- at any time, while a schedule adds a row every few minutes or hours, each carrying up to
  -- every order's problems. 90 days shows when a difference appeared and whether it went;
  -- one still open is in the next run anyway. finished_at is indexed, so this is cheap.
  delete from public.payments_reconciliation_runs r where r.finished_at < now() - interval '90 days';

  return run_id;
end
$$;
comment on function ops.record_reconciliation_run(timestamptz, timestamptz, integer, jsonb, text) is
  'Records a reconciliation run (differences: the orders with problems only) and, when it found any, emits payments.reconciliation_differences to every marketplace manager; drops runs older than 90 days. Service role only (payments-reconcile).';
revoke execute on function ops.record_reconciliation_run(timestamptz, timestamptz, integer, jsonb, text) from public;
grant execute on function ops.record_reconciliation_run(timestamptz, timestamptz, integer, jsonb, text) to service_role;
