-- Refund by policy: a paid order cancelled before delivery (by its seller, or an admin) gives
-- the buyer their money back without anyone asking. Either party may still ask at once
-- (payments-refund { order_id, reason }); otherwise the payments-refund-due job (every 5
-- minutes) calls payments-refund { due: true } with the service role, which refunds, as the
-- system, every escrow due_refunds() lists: in full, through the same claim_refund /
-- record_refund as a party's call (key refund:<refund id>), so it happens once whoever starts it.
--
-- Left to an admin: orders that went through a dispute (its resolution moves the money), and
-- orders whose refund Stripe failed or canceled (retrying a card that refuses is not a policy).

create or replace function public.claim_refund(order_id uuid, acting_user uuid, amount bigint default null, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
  is_admin boolean := false;
  locked record;
begin
  if acting_user is null then
    -- The system, refunding by policy.
    select * into o from public.orders where id = order_id for update;
    if not found then
      raise exception 'order % not found', order_id using errcode = 'P0002';
    end if;
  else
    locked := private.lock_order_for(order_id, acting_user);
    o := locked.o;
    is_admin := locked.is_admin;
  end if;
  if amount is not null and not is_admin then
    raise exception 'only an admin chooses a refund amount' using errcode = '42501';
  end if;
  if o.status = 'disputed' then
    raise exception 'order % is disputed: it is refunded through the dispute''s resolution', o.id using errcode = '55000';
  end if;
  if not is_admin and not (o.status = 'cancelled' and o.delivered_at is null) then
    raise exception 'order % is %: without an admin, only a paid order cancelled before delivery is refunded', o.id, o.status
      using errcode = '55000';
  end if;
  if coalesce(trim(reason), '') = '' then
    raise exception 'a refund needs a reason' using errcode = '22023';
  end if;
  return private.create_refund(private.lock_payment(o.id), amount, reason, acting_user);
end
$$;
comment on function public.claim_refund(uuid, uuid, bigint, text) is
  'Claims a refund of an order''s payment (admin: any amount up to the refundable; a party, or the system when acting_user is null: in full, of a paid order cancelled before delivery) and returns the Stripe refund (and reversal) to make. Service role only.';

create function public.due_refunds(max_rows integer default 100) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select p.order_id from public.payments p join public.orders o on o.id = p.order_id
   where o.status = 'cancelled' and o.delivered_at is null
     and p.amount_captured - p.amount_refunded - p.amount_charged_back > 0
     and p.stripe_transfer_id is null and p.release_claimed_at is null
     and not p.dispute_open and not p.chargeback_open
     and not exists (select 1 from public.disputes d where d.order_id = o.id)
     -- A refund on its way, or one Stripe refused: nothing to do here. A claim older than
     -- its one-minute lease was abandoned mid-way and is taken up again (same key).
     and not exists (select 1 from public.payment_refunds r where r.order_id = p.order_id
                       and (r.status in ('pending', 'failed', 'canceled')
                            or (r.status = 'requested' and r.claimed_at > now() - interval '1 minute')))
   order by o.cancelled_at
   limit greatest(least(max_rows, 1000), 1)
$$;
comment on function public.due_refunds(integer) is
  'Orders cancelled before delivery whose captured payment is not yet (being) refunded: what payments-refund { "due": true } works through. Service role only.';
revoke execute on function public.due_refunds(integer) from public;
grant execute on function public.due_refunds(integer) to service_role;

select cron.schedule('payments-refund-due', '*/5 * * * *',
  $$select private.call_edge_function('payments-refund', '{"due": true, "limit": 100}'::jsonb)$$);
