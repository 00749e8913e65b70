-- Automatic release: a delivered order the buyer neither approves nor disputes within
-- platform_settings.auto_release_days is completed by the system, and its escrow becomes
-- due for release.
--
-- Postgres cannot call Stripe, so the work is split in two:
--   1. pg_cron runs private.auto_complete_delivered_orders() every 15 minutes: it completes
--      such orders (the 'system' transition delivered -> completed) and stamps
--      payments.release_due_at.
--   2. ops.due_releases() lists every escrow due for release: completed orders whose
--      escrow is held (or partly refunded), not frozen, not transferred, with no live
--      claim; auto-completed ones and those whose buyer approved but never called
--      payments-release. The payments-release function, called with the service role key
--      and { "due": true }, claims and transfers each (same claim_release/record_release as
--      a buyer's call, key transfer:<order id>, so a release happens once whoever starts it).
--      The payments-release-due job (pg_cron through pg_net, every 5 minutes) calls it,
--      hosted and locally alike (the Docker-less stack stands in for pg_net).

create function private.auto_complete_delivered_orders() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  days integer := private.auto_release_days();
  o record;
  completed integer := 0;
begin
  for o in
    select ord.id from public.orders ord
     where ord.status = 'delivered' and ord.delivered_at < now() - make_interval(days => days)
       and not exists (select 1 from public.disputes d where d.order_id = ord.id and d.status = 'open')
     order by ord.delivered_at
     limit 500
     for update skip locked
  loop
    perform private.transition_order(o.id, 'completed', array['system'], null,
                                     format('completed automatically %s days after delivery', days));
    update public.payments p set release_due_at = now() where p.order_id = o.id and p.release_due_at is null;
    completed := completed + 1;
  end loop;
  return completed;
end
$$;
comment on function private.auto_complete_delivered_orders() is
  'Completes delivered orders older than auto_release_days with no open dispute (pg_cron, every 15 minutes); their escrow becomes due for release.';

create function ops.due_releases(max_rows integer default 100) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select p.order_id from public.payments p join public.orders o on o.id = p.order_id
   where o.status = 'completed' and p.status in ('held', 'partially_refunded') and p.stripe_transfer_id is null
     and not p.dispute_open and not p.chargeback_open
     and (p.release_claimed_at is null or p.release_claimed_at < now() - interval '1 minute')
   order by coalesce(p.release_due_at, o.completed_at)
   limit greatest(least(max_rows, 1000), 1)
$$;
comment on function ops.due_releases(integer) is
  'Orders whose escrow is due for release and not being released: what payments-release { "due": true } works through. Service role only.';
revoke execute on function ops.due_releases(integer) from public;
grant execute on function ops.due_releases(integer) to service_role;
grant execute on function private.auto_complete_delivered_orders() to service_role;
