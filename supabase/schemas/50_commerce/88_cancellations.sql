-- Cancellation and refunds of paid shop orders (issue 17, "Orders, fulfilment, after-sales"):
-- the buyer cancels a paid order before shipment (full refund), the seller or staff with a
-- reason; staff refund any amount up to what is left (003 POST /payments/{id}/refund, partial
-- allowed). commerce-refund claims (ops.claim_shop_refund), calls Stripe with keys derived from
-- the refund's id (the seller's transfer reversed for their share first, then the refund), and
-- records it (ops.record_shop_refund): ledger, order status, restock, coupon release, once.

create table public.shop_refunds (
  id uuid primary key default gen_random_uuid(),
  shop_order_id uuid not null references public.shop_orders (id) on delete restrict,
  checkout_id uuid not null references public.checkouts (id) on delete restrict,
  amount bigint not null constraint shop_refunds_amount_positive check (amount > 0),
  currency text not null references public.currencies (code),
  -- What is taken back from the seller's transfer: the refund less the platform's share of it.
  reversal_amount bigint not null default 0 constraint shop_refunds_reversal_range check (reversal_amount between 0 and amount),
  cancels boolean not null,
  reason text not null constraint shop_refunds_reason_length check (char_length(reason) between 1 and 1000),
  actor text not null constraint shop_refunds_actor check (actor in ('buyer', 'seller', 'admin')),
  requested_by uuid references public.profiles (id) on delete set null,
  status text not null default 'requested' constraint shop_refunds_status check (status in ('requested', 'succeeded', 'failed')),
  stripe_refund_id text unique,
  stripe_reversal_id text,
  failure text,
  created_at timestamptz not null default now(),
  resolved_at timestamptz
);
comment on table public.shop_refunds is
  'Refunds of shop orders: claimed (requested), made in Stripe with keys shop_refund:<id> / shop_reversal:<id>, then succeeded (ledger shop_refund:<id>) or failed. cancels: a full refund that cancels (paid) or refunds (shipped, delivered) the order, restocking a cancelled one.';
create index shop_refunds_order_idx on public.shop_refunds (shop_order_id);
create index shop_refunds_checkout_idx on public.shop_refunds (checkout_id);
create index shop_refunds_requested_by_idx on public.shop_refunds (requested_by) where requested_by is not null;
create unique index shop_refunds_one_in_flight on public.shop_refunds (shop_order_id) where status = 'requested';
comment on index public.shop_refunds_one_in_flight is 'At most one refund of a shop order in flight: concurrent requests get PT409.';

alter table public.shop_refunds enable row level security;
grant select on public.shop_refunds to authenticated, service_role;
create policy "Parties read their shop orders' refunds; commerce staff read all" on public.shop_refunds for select to authenticated
  using ((select private.can_manage_commerce())
         or exists (select 1 from public.shop_orders o where o.id = shop_order_id
                       and (o.buyer_id = (select auth.uid()) or o.shop_id = (select auth.uid()))));

-- Claims a refund. acting_user: the buyer (a paid order, before shipment, in full), the seller
-- (paid or shipped, in full) or commerce.manage (any status after payment, any amount up to
-- what is left). A claim in flight answers PT409; a fully refunded order answers its refund.
create function ops.claim_shop_refund(shop_order_id uuid, acting_user uuid, amount bigint default null, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.shop_orders;
  p public.shop_payments;
  t public.shop_transfers;
  r public.shop_refunds;
  who text;
  refunded bigint;
  left_to_refund bigint;
  want bigint;
  reversal bigint := 0;
begin
  select * into o from public.shop_orders x where x.id = claim_shop_refund.shop_order_id for update;
  if not found then
    raise exception 'shop order % not found', shop_order_id using errcode = 'PT404';
  end if;
  who := case when private.user_has_permission(acting_user, 'commerce.manage') then 'admin'
              when o.shop_id = acting_user then 'seller'
              when o.buyer_id = acting_user then 'buyer' end;
  if who is null then
    raise exception 'shop order % not found', o.id using errcode = 'PT404';
  end if;
  if coalesce(btrim(reason), '') = '' and who <> 'buyer' then
    raise exception 'a reason is required to cancel or refund shop order %', o.id using errcode = '22023';
  end if;
  if exists (select 1 from public.shop_refunds x where x.shop_order_id = o.id and x.status = 'requested') then
    raise exception 'a refund of shop order % is in progress', o.id using errcode = 'PT409';
  end if;
  select * into p from public.shop_payments x where x.checkout_id = o.checkout_id;
  select coalesce(sum(x.amount), 0) into refunded from public.shop_refunds x where x.shop_order_id = o.id and x.status = 'succeeded';
  if o.status in ('cancelled', 'refunded') and refunded > 0 then
    select * into r from public.shop_refunds x where x.shop_order_id = o.id and x.status = 'succeeded' and x.cancels;
    return jsonb_build_object('state', 'refunded', 'refund_id', r.id, 'shop_order_id', o.id, 'amount', refunded,
                              'currency', lower(o.currency), 'status', o.status);
  end if;
  if o.status not in ('paid', 'shipped', 'delivered') or p.amount_captured is null or p.amount_captured = 0 then
    raise exception 'shop order % is %: only a paid order is cancelled or refunded', o.id, o.status using errcode = 'PT409';
  end if;
  if who = 'buyer' and o.status <> 'paid' then
    raise exception 'shop order % is %: the buyer cancels only before shipment', o.id, o.status using errcode = 'PT409';
  end if;
  if who = 'seller' and o.status = 'delivered' then
    raise exception 'shop order % is delivered: ask staff to refund it', o.id using errcode = 'PT409';
  end if;
  left_to_refund := o.total - refunded;
  want := coalesce(amount, left_to_refund);
  if who <> 'admin' and want <> left_to_refund then
    raise exception 'only staff refund part of a shop order: cancel it in full' using errcode = '42501';
  end if;
  if want <= 0 or want > left_to_refund then
    raise exception 'the refund must be between 1 and % (what is left of shop order %), not %', left_to_refund, o.id, want
      using errcode = '22023';
  end if;
  select * into t from public.shop_transfers x where x.shop_order_id = o.id;
  if t.stripe_transfer_id is not null then
    -- The seller gives back their share of the refund; the platform its commission's share.
    reversal := least(want - (want * t.commission + o.total / 2) / o.total,
                      t.amount - coalesce((select sum(x.reversal_amount) from public.shop_refunds x
                                            where x.shop_order_id = o.id and x.status = 'succeeded'), 0));
  elsif t.shop_order_id is not null and t.claimed_at > now() - interval '1 minute' then
    raise exception 'shop order % is being paid out: try again in a minute', o.id using errcode = 'PT409';
  elsif want <> left_to_refund then
    raise exception 'shop order % has not been paid out yet: refund it in full', o.id using errcode = 'PT409';
  end if;
  insert into public.shop_refunds (shop_order_id, checkout_id, amount, currency, reversal_amount, cancels, reason, actor, requested_by)
  values (o.id, o.checkout_id, want, o.currency, greatest(reversal, 0), want = left_to_refund,
          coalesce(nullif(btrim(reason), ''), 'cancelled by the buyer'), who, acting_user)
  returning * into r;
  return jsonb_build_object('state', 'claimed', 'refund_id', r.id, 'shop_order_id', o.id, 'amount', r.amount,
    'currency', lower(r.currency), 'payment_intent', p.stripe_payment_intent_id, 'reason', r.reason,
    'reversal_amount', r.reversal_amount, 'transfer_id', t.stripe_transfer_id,
    'idempotency_key', 'shop_refund:' || r.id, 'reversal_idempotency_key', 'shop_reversal:' || r.id);
end
$$;
comment on function ops.claim_shop_refund(uuid, uuid, bigint, text) is
  'Claims a cancellation or refund of a paid shop order for its buyer (before shipment, in full), its seller (in full) or commerce staff (any amount); PT409 while one is in flight. Service role only (commerce-refund).';

-- Records what Stripe did: once, under the order's lock. Posts shop_refund:<id> (from the
-- seller's transfers and the commission after payout, from the checkout's escrow before),
-- moves the order (cancelled from paid, with restock; refunded after shipment), releases the
-- coupon when the whole checkout is cancelled.
create function ops.record_shop_refund(refund_id uuid, stripe_refund_id text, stripe_reversal_id text default null)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.shop_refunds;
  o public.shop_orders;
  t public.shop_transfers;
  i record;
begin
  select * into r from public.shop_refunds x where x.id = record_shop_refund.refund_id;
  if not found then
    return 'ignored: no such refund';
  end if;
  select * into o from public.shop_orders x where x.id = r.shop_order_id for update;
  select * into r from public.shop_refunds x where x.id = record_shop_refund.refund_id for update;
  if r.status <> 'requested' then
    return 'ignored: already ' || r.status;
  end if;
  update public.shop_refunds set status = 'succeeded', stripe_refund_id = record_shop_refund.stripe_refund_id,
         stripe_reversal_id = record_shop_refund.stripe_reversal_id, resolved_at = now()
   where id = r.id;
  select * into t from public.shop_transfers x where x.shop_order_id = o.id for update;
  if t.stripe_transfer_id is not null then
    perform private.post_ledger_transaction('shop_refund:' || r.id, 'Shop order refunded: seller''s share reversed, commission returned', null,
      jsonb_build_array(
        jsonb_build_object('account_id', private.ledger_account('seller_transfers', r.currency, null, t.seller_id), 'amount', -r.reversal_amount),
        jsonb_build_object('account_id', private.ledger_account('platform_commission', r.currency), 'amount', -(r.amount - r.reversal_amount)),
        jsonb_build_object('account_id', private.checkout_ledger_account('refunds', r.currency, r.checkout_id), 'amount', r.amount)));
  else
    perform private.post_transfer('shop_refund:' || r.id, 'Shop order refunded before its payout', null,
      private.checkout_ledger_account('escrow', r.currency, r.checkout_id),
      private.checkout_ledger_account('refunds', r.currency, r.checkout_id), r.amount);
    if t.shop_order_id is not null and r.cancels then
      update public.shop_transfers set cancelled_at = now() where shop_order_id = o.id;
    end if;
  end if;
  update public.shop_payments set amount_refunded = amount_refunded + r.amount,
         status = case when amount_refunded + r.amount >= amount_captured then 'refunded' else 'partially_refunded' end
   where checkout_id = r.checkout_id;
  if r.cancels then
    if o.status = 'paid' then
      perform private.transition_shop_order(o.id, 'cancelled', r.actor, r.reason);
      for i in select x.id, x.product_id, x.quantity from public.shop_order_items x
                where x.shop_order_id = o.id and x.kind = 'physical' and x.product_id is not null order by x.product_id loop
        perform private.restock(i.product_id, i.quantity, 'shop_order_item:' || i.id);
      end loop;
    else
      perform private.transition_shop_order(o.id, 'refunded', case when r.actor = 'admin' then 'admin' else 'system' end, r.reason);
    end if;
    if not exists (select 1 from public.shop_orders x where x.checkout_id = r.checkout_id and x.status not in ('cancelled', 'refunded')) then
      perform private.release_coupon_redemptions(r.checkout_id);
    end if;
  end if;
  return 'applied';
end
$$;
comment on function ops.record_shop_refund(uuid, text, text) is
  'Records a claimed shop refund once: ledger shop_refund:<id>, the order cancelled (restocked) or refunded, coupon usage released when the whole checkout is cancelled. Service role only.';

create function ops.abandon_shop_refund(refund_id uuid, reason text) returns void
language sql
security definer
set search_path = ''
as $$
  update public.shop_refunds set status = 'failed', failure = left(reason, 1000), resolved_at = now()
   where id = abandon_shop_refund.refund_id and status = 'requested'
$$;
comment on function ops.abandon_shop_refund(uuid, text) is 'Marks a claimed shop refund failed when Stripe refused it. Service role only.';

revoke execute on function ops.claim_shop_refund(uuid, uuid, bigint, text), ops.record_shop_refund(uuid, text, text),
  ops.abandon_shop_refund(uuid, text) from public;
grant execute on function ops.claim_shop_refund(uuid, uuid, bigint, text), ops.record_shop_refund(uuid, text, text),
  ops.abandon_shop_refund(uuid, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- The buyer cancels a checkout before paying it (003 order cancel before payment): what the
-- expiry does (shop orders cancelled, coupon and stock released), with status cancelled, the
-- buyer as the actor of each shop order's transition and their reason. Under the checkout's
-- lock, which the payment's capture (private.apply_shop_capture) and the expiry
-- (private.expire_checkout) take too, so a cancel, a payment and an expiry racing end in
-- exactly one outcome: the first to lock decides, the others find it decided. Once cancelled,
-- asking again answers the same checkout. A payment recorded first refuses the cancel (the buyer
-- asks for a refund instead, commerce-refund); a payment that reaches Stripe after the cancel is
-- refunded in full as a payment after expiry is (late_refund_due). commerce-checkout-cancel
-- calls this, then expires the open Stripe Checkout Session so the buyer cannot pay it.
create function private.cancel_checkout(checkout_id uuid, reason text default null) returns public.checkouts
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('cancel a checkout');
  co public.checkouts;
  p public.shop_payments;
  why text := coalesce(nullif(btrim(reason), ''), 'cancelled by the buyer before payment');
begin
  if char_length(why) > 500 then
    raise exception 'a cancellation reason has at most 500 characters' using errcode = '22023';
  end if;
  select * into co from public.checkouts x where x.id = cancel_checkout.checkout_id for update;
  if not found or co.buyer_id is distinct from buyer then
    raise exception 'checkout % not found', checkout_id using errcode = 'PT404';
  end if;
  if co.status = 'cancelled' then
    return co;
  end if;
  if co.status = 'paid' then
    raise exception 'checkout % is paid: it cannot be cancelled, ask for a refund of its shop orders instead', co.id
      using errcode = 'PT409';
  end if;
  if co.status = 'expired' then
    raise exception 'checkout % expired at %: its stock and coupon were already released', co.id, co.expired_at
      using errcode = 'PT409';
  end if;
  select * into p from public.shop_payments x where x.checkout_id = co.id;
  if p.status = 'pending' and p.stripe_payment_intent_id is not null then
    -- Stripe completed the session with a payment still processing (a bank debit): its outcome decides.
    raise exception 'checkout % has a payment in progress: wait for it, then ask for a refund if it goes through', co.id
      using errcode = 'PT409';
  end if;
  return private.close_unpaid_checkout(co.id, 'cancelled', 'buyer', why);
end
$$;
comment on function private.cancel_checkout(uuid, text) is
  'The body of the client RPC public.cancel_checkout: security definer, in private so the API does not expose it.';
revoke execute on function private.cancel_checkout(uuid, text) from public;
grant execute on function private.cancel_checkout(uuid, text) to authenticated;

create function public.cancel_checkout(checkout_id uuid, reason text default null) returns public.checkouts
language sql
security invoker
set search_path = ''
as $$
  select private.cancel_checkout(checkout_id, reason)
$$;
comment on function public.cancel_checkout(uuid, text) is
  'The buyer cancels their checkout before paying it: its shop orders cancelled, stock and coupon released, status cancelled; asking again answers the same checkout. PT404 another''s checkout, PT409 once paid (ask for a refund), expired, or with a payment in progress. commerce-checkout-cancel also expires its open Stripe Checkout Session.';
revoke execute on function public.cancel_checkout(uuid, text) from public;
grant execute on function public.cancel_checkout(uuid, text) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Refunds made outside our API (Stripe's Dashboard, another integration) of a checkout's
-- charge. The refund.created / refund.updated webhook (private.apply_stripe_event,
-- 40_payments/40_stripe_events.sql) brings them here once succeeded; ours are not (a shop
-- refund names shop_refund_id in its metadata or is recorded under its Stripe id, the late
-- payment's refund names checkout_id). The rule: a refund made in Stripe is not ours to split
-- between shop orders, so it is posted against the platform, platform_commission -> the
-- checkout's refunds account, key shop_external_refund:<re_…>; the escrow is untouched (what is
-- still to be paid out is paid out) and no transfer is reversed automatically. The row stays
-- open for commerce staff (resolved_at null): they decide whether to reverse the seller's
-- transfer (transfer.reversed books it back) or cancel the order.

create table public.shop_external_refunds (
  stripe_refund_id text primary key constraint shop_external_refunds_id_format check (stripe_refund_id ~ '^re_[A-Za-z0-9_]+$'),
  checkout_id uuid not null references public.checkouts (id) on delete restrict,
  amount bigint not null constraint shop_external_refunds_amount_positive check (amount > 0),
  currency text not null references public.currencies (code),
  stripe_charge_id text,
  reason text,
  created_at timestamptz not null default now(),
  resolved_at timestamptz,
  resolution text constraint shop_external_refunds_resolution_length check (char_length(resolution) between 1 and 1000),
  constraint shop_external_refunds_resolved_with_note check ((resolved_at is null) = (resolution is null))
);
comment on table public.shop_external_refunds is
  'Refunds of a checkout''s charge made in Stripe, not through commerce-refund: posted once against the platform (shop_external_refund:<re_…>, platform_commission -> the checkout''s refunds), no transfer reversed; open (resolved_at null) until commerce staff settle it with resolve_shop_external_refund. Commerce staff read them.';
comment on column public.shop_external_refunds.resolved_at is
  'When commerce staff settled the refund (resolve_shop_external_refund), set once; null while open.';
comment on column public.shop_external_refunds.resolution is
  'Staff''s note of how the refund was settled (a transfer reversed in Stripe, the order cancelled, borne by the platform): 1-1000 characters, set with resolved_at.';
create index shop_external_refunds_checkout_idx on public.shop_external_refunds (checkout_id);
create index shop_external_refunds_open_idx on public.shop_external_refunds (created_at) where resolved_at is null;

alter table public.shop_external_refunds enable row level security;
grant select on public.shop_external_refunds to authenticated, service_role;
create policy "Commerce staff read refunds made in Stripe" on public.shop_external_refunds for select to authenticated
  using ((select private.can_manage_commerce()));

create function private.record_shop_external_refund(refund jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.shop_payments;
  refunded bigint := (refund ->> 'amount')::bigint;
  inserted text;
begin
  select * into p from public.shop_payments x
   where x.stripe_payment_intent_id = refund ->> 'payment_intent'
      or (refund ->> 'charge' is not null and x.stripe_charge_id = refund ->> 'charge')
   limit 1;
  if not found then
    return null;
  end if;
  if refund #>> '{metadata,shop_refund_id}' is not null or refund #>> '{metadata,checkout_id}' is not null
     or p.stripe_late_refund_id = refund ->> 'id'
     or exists (select 1 from public.shop_refunds r where r.stripe_refund_id = refund ->> 'id') then
    return 'ignored: a refund we made (commerce-refund records it)';
  end if;
  if refund ->> 'status' is distinct from 'succeeded' then
    return 'ignored: refund ' || coalesce(refund ->> 'status', 'without a status');
  end if;
  if coalesce(refund ->> 'id', '') !~ '^re_[A-Za-z0-9_]+$' or refunded is null or refunded <= 0
     or upper(refund ->> 'currency') is distinct from p.currency then
    return 'ignored: not a refund of this checkout''s payment';
  end if;
  select * into p from public.shop_payments x where x.checkout_id = p.checkout_id for update;
  insert into public.shop_external_refunds (stripe_refund_id, checkout_id, amount, currency, stripe_charge_id, reason)
  values (refund ->> 'id', p.checkout_id, refunded, p.currency, refund ->> 'charge', refund ->> 'reason')
  on conflict (stripe_refund_id) do nothing
  returning stripe_refund_id into inserted;
  if inserted is null then
    return 'ignored: already recorded';
  end if;
  refunded := least(refunded, p.amount_captured - p.amount_refunded);
  if refunded > 0 then
    update public.shop_external_refunds x set amount = refunded where x.stripe_refund_id = inserted;
    update public.shop_payments set amount_refunded = shop_payments.amount_refunded + refunded,
           status = case when shop_payments.status in ('paid', 'partially_refunded', 'refunded')
                         then case when shop_payments.amount_refunded + refunded >= shop_payments.amount_captured then 'refunded'
                                   else 'partially_refunded' end
                         else shop_payments.status end
     where shop_payments.checkout_id = p.checkout_id;
    perform private.post_transfer('shop_external_refund:' || inserted, 'Checkout refunded in Stripe, borne by the platform', null,
      private.ledger_account('platform_commission', p.currency), private.checkout_ledger_account('refunds', p.currency, p.checkout_id),
      refunded);
  else
    delete from public.shop_external_refunds where stripe_refund_id = inserted;
    return 'ignored: nothing left to refund';
  end if;
  return 'applied: refunded in Stripe, borne by the platform, open for staff';
end
$$;
comment on function private.record_shop_external_refund(jsonb) is
  'refund.created / refund.updated of a checkout''s charge made outside commerce-refund: once succeeded, recorded (shop_external_refunds) and posted against the platform (shop_external_refund:<re_…>); null when the refund is of no checkout''s payment; ours are ignored.';
revoke execute on function private.record_shop_external_refund(jsonb) from public;
grant execute on function private.record_shop_external_refund(jsonb) to service_role;

-- Commerce staff settle a refund made in Stripe once they have decided what it means (reversed
-- a seller's transfer in Stripe, cancelled the order, or left it with the platform): the row is
-- closed with their note, once. The row's lock makes two resolutions at once one: the second
-- waits, then finds it resolved (PT409). No money moves here: the refund was posted when it was
-- recorded, and a reversal made in Stripe books itself (transfer.reversed). Audited
-- (public.audit_log, action resolve). The service role (the admin CLI, naming its operator in
-- x-admin-actor) may resolve too.
create function private.resolve_shop_external_refund(stripe_refund_id text, resolution text)
returns public.shop_external_refunds
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.shop_external_refunds;
  note text := regexp_replace(resolution, '^\s+|\s+$', '', 'g');
  actor record;
begin
  if not private.can_manage_commerce() and not private.is_service_role() then
    raise exception 'resolving a refund made in Stripe needs the commerce.manage permission' using errcode = '42501';
  end if;
  if coalesce(stripe_refund_id, '') !~ '^re_[A-Za-z0-9_]+$' then
    raise exception 'stripe_refund_id must be a Stripe refund id (re_…)' using errcode = '22023';
  end if;
  if coalesce(char_length(note), 0) not between 1 and 1000 then
    raise exception 'a resolution of 1 to 1000 characters is required (got %)', coalesce(char_length(note), 0)
      using errcode = '22023';
  end if;
  select * into r from public.shop_external_refunds x
   where x.stripe_refund_id = resolve_shop_external_refund.stripe_refund_id for update;
  if not found then
    raise exception 'refund % made in Stripe not found', stripe_refund_id using errcode = 'PT404';
  end if;
  if r.resolved_at is not null then
    raise exception 'refund % made in Stripe was already resolved at %', r.stripe_refund_id,
      to_char(r.resolved_at at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      using errcode = 'PT409';
  end if;
  update public.shop_external_refunds x set resolved_at = now(), resolution = note
   where x.stripe_refund_id = r.stripe_refund_id
  returning * into r;
  select * into actor from private.current_actor();
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (actor.actor_id, actor.actor_label, 'resolve', 'shop_external_refunds', r.stripe_refund_id,
          jsonb_build_object('resolved_at', null, 'resolution', null, 'checkout_id', r.checkout_id, 'amount', r.amount, 'currency', r.currency),
          jsonb_build_object('resolved_at', r.resolved_at, 'resolution', r.resolution));
  return r;
end
$$;
comment on function private.resolve_shop_external_refund(text, text) is
  'Body of public.resolve_shop_external_refund: commerce staff (or the service role) close an open refund made in Stripe with a note, once, under the row''s lock; audited.';
revoke execute on function private.resolve_shop_external_refund(text, text) from public;
grant execute on function private.resolve_shop_external_refund(text, text) to authenticated, service_role;

create function public.resolve_shop_external_refund(stripe_refund_id text, resolution text)
returns public.shop_external_refunds
language sql
security invoker
set search_path = ''
as $$
  select private.resolve_shop_external_refund(stripe_refund_id, resolution)
$$;
comment on function public.resolve_shop_external_refund(text, text) is
  'Commerce staff settle a refund made in Stripe''s Dashboard: resolved_at now and their note (1-1000 characters), once, audited; answers the row. 42501 without commerce.manage, 22023 no refund id or a note that is empty or too long, PT404 unknown refund, PT409 already resolved (when).';
revoke execute on function public.resolve_shop_external_refund(text, text) from public, anon;
grant execute on function public.resolve_shop_external_refund(text, text) to authenticated, service_role;
