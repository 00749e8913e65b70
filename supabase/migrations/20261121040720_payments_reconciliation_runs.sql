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

create function public.record_reconciliation_run(
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
                then coalesce(d ->> 'order_id', '') !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
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
comment on function public.record_reconciliation_run(timestamptz, timestamptz, integer, jsonb, text) is
  'Records a reconciliation run (differences: the orders with problems only) and, when it found any, emits payments.reconciliation_differences to every marketplace manager; drops runs older than 90 days. Service role only (payments-reconcile).';
revoke execute on function public.record_reconciliation_run(timestamptz, timestamptz, integer, jsonb, text) from public;
grant execute on function public.record_reconciliation_run(timestamptz, timestamptz, integer, jsonb, text) to service_role;
