-- Moving escrowed money: paying in, releasing to the seller, refunding the buyer, and
-- resolving the buyer's dispute. Each Stripe call is bracketed by two SQL calls made by an
-- edge function with the service role:
--
--   claim_*  (locks the escrow row, checks who and what state, reserves the amount, returns
--            the Stripe parameters and an idempotency key derived from our ids)
--   Stripe   (transfers.create / refunds.create / transfers.createReversal with that key)
--   record_* (records Stripe's answer and posts the ledger transaction, idempotent; the
--            webhook calls the same functions, so whichever arrives first books it once)
--
-- A claim is a one-minute lease: a concurrent second call is refused with PT409 and sends
-- nothing to Stripe; a retry after a crash (lease expired) makes the same request with the
-- same key, which Stripe answers with the object it already made. Every function here is
-- service-role only and takes acting_user, the caller the edge function identified.

-- ---------------------------------------------------------------------------------------
-- The buyer's dispute freezes the escrow while it is open (public.open_dispute opens it,
-- resolve_dispute below closes it).

create function private.sync_dispute_freeze() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.payments p set dispute_open = exists (
    select 1 from public.disputes d where d.order_id = new.order_id and d.status = 'open')
   where p.order_id = new.order_id;
  return null;
end
$$;
create trigger disputes_freeze_escrow after insert or update of status on public.disputes
  for each row execute function private.sync_dispute_freeze();

-- The order locked for a money action by acting_user: unknown orders and orders they have
-- no part in are both "not found". Returns the order, whether they are an admin, and whether
-- acting_user is null: the system (the auto-release and refund-due jobs), which finds any
-- order and is never an admin here. What the system may do is each caller's rule:
-- claim_release lets it release as an admin would, claim_refund refund by policy only;
-- begin_payment and resolve_dispute refuse it (only the buyer pays, only an admin resolves).
create function private.lock_order_for(order_id uuid, acting_user uuid, out o public.orders, out is_admin boolean,
                                       out is_system boolean)
language plpgsql
security definer
set search_path = ''
as $$
begin
  select * into o from public.orders where id = order_id for update;
  is_system := acting_user is null;
  is_admin := acting_user is not null and private.user_has_permission(acting_user, 'marketplace.manage');
  if o.id is null or not (is_system or is_admin or acting_user in (o.buyer_id, o.seller_id)) then
    raise exception 'order % not found', order_id using errcode = 'PT404';
  end if;
end
$$;

-- ---------------------------------------------------------------------------------------
-- Pay-in (payments-initiate): the buyer of an order awaiting payment, whose seller can
-- receive transfers. Amount and currency come from the order. An open Checkout Session (or
-- the order's PaymentIntent) is returned as it is; otherwise a new attempt number gives the
-- idempotency key checkout:<order>:<attempt> (payment_intent:<order>:<attempt>).

create function ops.begin_payment(order_id uuid, acting_user uuid, mode text default 'checkout') returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  locked record := private.lock_order_for(order_id, acting_user);
  o public.orders := locked.o;
  p public.payments;
  account public.seller_payment_accounts;
  attempt integer;
begin
  if mode is null or mode not in ('checkout', 'payment_intent') then
    raise exception 'mode must be checkout or payment_intent' using errcode = '22023';
  end if;
  if o.buyer_id is distinct from acting_user then
    raise exception 'only the buyer pays for order %', o.id using errcode = '42501';
  end if;
  if o.status <> 'awaiting_payment' then
    raise exception 'order % is %: only an order awaiting payment can be paid', o.id, o.status using errcode = 'PT409';
  end if;
  select * into account from public.seller_payment_accounts a where a.user_id = o.seller_id;
  if not coalesce(account.can_receive_transfers, false) then
    raise exception 'the seller of order % cannot receive payments yet: they must finish setting up payouts', o.id
      using errcode = 'PT409';
  end if;
  p := private.lock_payment(o.id);
  if p.amount_captured > 0 then
    raise exception 'order % is already paid', o.id using errcode = 'PT409';
  end if;
  if p.payment_mode is not null and p.payment_mode <> mode
     and (p.stripe_payment_intent_id is not null or p.checkout_expires_at > now()) then
    raise exception 'order % is being paid by %: finish or abandon that payment first', o.id, p.payment_mode using errcode = 'PT409';
  end if;

  if mode = 'checkout' and p.stripe_checkout_session_id is not null and p.checkout_expires_at > now() + interval '1 minute' then
    return jsonb_build_object('existing', true, 'mode', mode, 'checkout_session_id', p.stripe_checkout_session_id, 'url', p.checkout_url);
  end if;
  if mode = 'payment_intent' and p.stripe_payment_intent_id is not null then
    return jsonb_build_object('existing', true, 'mode', mode, 'payment_intent_id', p.stripe_payment_intent_id);
  end if;

  -- A new attempt, unless the last one was claimed and never recorded (a crash or a
  -- concurrent call): that one is retried with the same key.
  attempt := case when p.checkout_attempt > 0 and p.stripe_checkout_session_id is null and p.stripe_payment_intent_id is null
                  and p.payment_mode = mode then p.checkout_attempt else p.checkout_attempt + 1 end;
  update public.payments set payment_mode = mode, checkout_attempt = attempt, stripe_checkout_session_id = null,
                             checkout_url = null, checkout_expires_at = null
   where payments.order_id = o.id;
  perform private.payment_note(o.id, 'payment_started', p.amount, null, acting_user, mode || ' attempt ' || attempt);
  return jsonb_build_object(
    'existing', false, 'mode', mode, 'order_id', o.id, 'title', o.title, 'amount', p.amount, 'currency', lower(p.currency),
    'attempt', attempt, 'transfer_group', p.transfer_group, 'buyer_id', o.buyer_id, 'seller_id', o.seller_id,
    'idempotency_key', case mode when 'checkout' then 'checkout:' else 'payment_intent:' end || o.id || ':' || attempt);
end
$$;
comment on function ops.begin_payment(uuid, uuid, text) is
  'Starts (or returns) the payment of an order for its buyer: the order''s amount, currency, transfer group and the idempotency key of this attempt. Service role only (payments-initiate).';

create function ops.record_payment_session(order_id uuid, attempt integer, checkout_session_id text default null,
                                              url text default null, expires_at timestamptz default null,
                                              payment_intent_id text default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments;
begin
  select * into p from public.payments where payments.order_id = record_payment_session.order_id for update;
  if not found then
    raise exception 'order % has no payment', order_id using errcode = 'PT404';
  end if;
  if p.checkout_attempt <> attempt then
    return; -- a later attempt has started
  end if;
  update public.payments set
    stripe_checkout_session_id = coalesce(checkout_session_id, payments.stripe_checkout_session_id),
    checkout_url = coalesce(url, payments.checkout_url),
    checkout_expires_at = coalesce(expires_at, payments.checkout_expires_at),
    stripe_payment_intent_id = case when payments.amount_captured = 0 then coalesce(payment_intent_id, payments.stripe_payment_intent_id)
                                    else payments.stripe_payment_intent_id end
   where payments.order_id = p.order_id;
end
$$;
comment on function ops.record_payment_session(uuid, integer, text, text, timestamptz, text) is
  'Records the Checkout Session or PaymentIntent made for a payment attempt. Service role only.';

-- ---------------------------------------------------------------------------------------
-- Release: price less refunds less commission, to the seller's connected account, with
-- source_transaction = the charge, key transfer:<order id>. The buyer (once the order is
-- completed), an admin, or the system (acting_user null: the auto-release path).

create function ops.claim_release(order_id uuid, acting_user uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  locked record := private.lock_order_for(order_id, acting_user);
  o public.orders := locked.o;
  p public.payments;
  account public.seller_payment_accounts;
  reserved bigint;
  releasable bigint;
  commission bigint;
begin
  -- The system (auto-release) releases as an admin would.
  if not (locked.is_system or locked.is_admin or o.buyer_id = acting_user) then
    raise exception 'only the buyer or an admin releases the escrow of order %', o.id using errcode = '42501';
  end if;
  p := private.lock_payment(o.id);
  if p.stripe_transfer_id is not null then
    return jsonb_build_object('state', 'released', 'order_id', o.id, 'transfer_id', p.stripe_transfer_id,
                              'amount', p.amount_transferred, 'currency', lower(p.currency), 'commission', p.commission_amount);
  end if;
  if o.status = 'disputed' or p.dispute_open then
    raise exception 'order % is disputed: its escrow is frozen until an admin resolves the dispute', o.id using errcode = 'PT409';
  end if;
  if p.chargeback_open then
    raise exception 'order % has an open chargeback: its escrow is frozen until Stripe closes it', o.id using errcode = 'PT409';
  end if;
  if o.status <> 'completed' then
    raise exception 'order % is %: its escrow is released once the buyer approves the delivery', o.id, o.status using errcode = 'PT409';
  end if;
  if p.amount_captured = 0 then
    raise exception 'order % has not been paid', o.id using errcode = 'PT409';
  end if;
  if p.release_claimed_at > now() - interval '1 minute' then
    raise exception 'a release of order % is in progress', o.id using errcode = 'PT409';
  end if;
  select * into account from public.seller_payment_accounts a where a.user_id = o.seller_id;
  if not coalesce(account.can_receive_transfers, false) then
    raise exception 'the seller of order % cannot receive transfers yet', o.id using errcode = 'PT409';
  end if;

  if p.release_claimed_at is null then
    select coalesce(sum(r.amount), 0) into reserved from public.payment_refunds r
     where r.order_id = p.order_id and r.status in ('requested', 'pending');
    releasable := p.amount_captured - p.amount_refunded - p.amount_charged_back - reserved;
    commission := private.commission_of(releasable, p.commission_rate_bps);
    if releasable - commission <= 0 then
      raise exception 'order % has nothing left to release', o.id using errcode = 'PT409';
    end if;
    update public.payments set release_claimed_at = now(), commission_amount = commission, release_amount = releasable - commission,
                               transfer_destination = account.stripe_account_id
     where payments.order_id = p.order_id returning * into p;
    perform private.payment_note(p.order_id, 'release_claimed', p.release_amount, null, acting_user);
  else
    -- An expired claim: the same transfer again, same key (Stripe answers with the first).
    update public.payments set release_claimed_at = now() where payments.order_id = p.order_id returning * into p;
  end if;
  return jsonb_build_object(
    'state', 'claimed', 'order_id', p.order_id, 'amount', p.release_amount, 'currency', lower(p.currency),
    'commission', p.commission_amount, 'destination', p.transfer_destination, 'source_transaction', p.stripe_charge_id,
    'payment_intent', p.stripe_payment_intent_id, 'transfer_group', p.transfer_group,
    'idempotency_key', 'transfer:' || p.order_id);
end
$$;
comment on function ops.claim_release(uuid, uuid) is
  'Claims the release of an order''s escrow (buyer of a completed order, admin, or null = system) and returns the transfer to make. Service role only.';

create function ops.record_release(order_id uuid, transfer_id text, amount bigint) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
begin
  if p.stripe_transfer_id = transfer_id then
    return 'ignored: already recorded';
  end if;
  if p.stripe_transfer_id is not null then
    perform private.payment_note(p.order_id, 'unexpected_transfer', amount, transfer_id, null, 'a second transfer for an order already released');
    return 'ignored: the order was released by ' || p.stripe_transfer_id;
  end if;
  if p.release_claimed_at is null or p.release_amount is distinct from amount then
    perform private.payment_note(p.order_id, 'unexpected_transfer', amount, transfer_id, null, 'a transfer no release claimed');
    return 'ignored: no release of this amount was claimed';
  end if;
  update public.payments set amount_transferred = record_release.amount, stripe_transfer_id = transfer_id, released_at = now()
   where payments.order_id = p.order_id;
  perform private.post_ledger_transaction('release:' || p.order_id, 'Escrow released: seller''s share and commission', p.order_id,
    jsonb_build_array(
      jsonb_build_object('account_id', private.ledger_account('escrow', p.currency, p.order_id), 'amount', -(amount + p.commission_amount)),
      jsonb_build_object('account_id', private.ledger_account('seller_payable', p.currency, null, p.seller_id), 'amount', amount),
      jsonb_build_object('account_id', private.ledger_account('platform_commission', p.currency), 'amount', p.commission_amount)));
  perform private.post_transfer('transfer:' || p.order_id, 'Transfer to the seller''s connected account', p.order_id,
    private.ledger_account('seller_payable', p.currency, null, p.seller_id),
    private.ledger_account('seller_transfers', p.currency, null, p.seller_id), amount);
  perform private.payment_note(p.order_id, 'released', amount, transfer_id);
  return 'applied';
end
$$;
comment on function ops.record_release(uuid, text, bigint) is
  'Records the transfer of a claimed release once (by payments-release or transfer.created) and posts release:<order> and transfer:<order>.';

create function ops.abandon_release(order_id uuid, reason text) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
begin
  if p.stripe_transfer_id is null and p.release_claimed_at is not null then
    update public.payments set release_claimed_at = null where payments.order_id = p.order_id;
    perform private.payment_note(p.order_id, 'release_failed', p.release_amount, null, null, left(reason, 1000));
  end if;
end
$$;
comment on function ops.abandon_release(uuid, text) is 'Drops a release claim Stripe refused, so it can be claimed again. Service role only.';

-- ---------------------------------------------------------------------------------------
-- Refunds: by an admin (any amount up to what is refundable), or by policy — either party
-- of a paid order cancelled before delivery, in full. Never more than captured less
-- refunded (less charged back, less refunds in flight). After the release, the seller's
-- share of the refund (amount less its commission) is reversed from their transfer.

create function private.create_refund(p public.payments, amount bigint, reason text, actor uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  in_flight public.payment_refunds;
  pending bigint;
  refundable bigint;
  reversal bigint := 0;
  pending_reversals bigint;
  refund public.payment_refunds;
begin
  if p.amount_captured = 0 then
    raise exception 'order % has not been paid: there is nothing to refund', p.order_id using errcode = 'PT409';
  end if;
  if p.chargeback_open then
    raise exception 'order % has an open chargeback: refunds wait until Stripe closes it', p.order_id using errcode = 'PT409';
  end if;
  if p.release_claimed_at is not null and p.stripe_transfer_id is null then
    raise exception 'a release of order % is in progress', p.order_id using errcode = 'PT409';
  end if;
  select * into in_flight from public.payment_refunds r where r.order_id = p.order_id and r.status = 'requested'
   order by r.created_at limit 1;
  if found then
    if in_flight.claimed_at > now() - interval '1 minute' or (amount is not null and amount <> in_flight.amount) then
      raise exception 'a refund of order % is in progress', p.order_id using errcode = 'PT409';
    end if;
    update public.payment_refunds set claimed_at = now() where id = in_flight.id returning * into refund;
  else
    select coalesce(sum(r.amount), 0) into pending from public.payment_refunds r where r.order_id = p.order_id and r.status = 'pending';
    refundable := p.amount_captured - p.amount_refunded - p.amount_charged_back - pending;
    if refundable <= 0 then
      raise exception 'order % has nothing left to refund', p.order_id using errcode = 'PT409';
    end if;
    amount := coalesce(amount, refundable);
    if amount <= 0 then
      raise exception 'a refund must be a positive number of minor units, not %', amount using errcode = '22023';
    end if;
    if amount > refundable then
      raise exception 'a refund of % exceeds the % % still refundable on order %', amount, refundable, p.currency, p.order_id
        using errcode = '22023';
    end if;
    if p.stripe_transfer_id is not null then
      select coalesce(sum(r.reversal_amount), 0) into pending_reversals from public.payment_refunds r
       where r.order_id = p.order_id and not r.reversal_recorded and r.reversal_amount > 0 and r.status in ('requested', 'pending', 'succeeded');
      reversal := greatest(least(amount - private.commission_of(amount, p.commission_rate_bps),
                                 p.amount_transferred - p.amount_reversed - pending_reversals), 0);
    end if;
    insert into public.payment_refunds (order_id, amount, reversal_amount, reason, requested_by, from_escrow)
    values (p.order_id, amount, reversal, coalesce(nullif(trim(reason), ''), 'refund'), actor, p.stripe_transfer_id is null)
    returning * into refund;
    perform private.payment_note(p.order_id, 'refund_requested', amount, null, actor, refund.reason);
  end if;
  return jsonb_build_object(
    'refund_id', refund.id, 'order_id', p.order_id, 'amount', refund.amount, 'currency', lower(p.currency),
    'payment_intent', p.stripe_payment_intent_id, 'charge', p.stripe_charge_id, 'reason', refund.reason,
    'reversal_amount', refund.reversal_amount, 'transfer_id', case when refund.reversal_amount > 0 then p.stripe_transfer_id end,
    'idempotency_key', 'refund:' || refund.id, 'reversal_idempotency_key', 'reversal:' || refund.id);
end
$$;

create function ops.claim_refund(order_id uuid, acting_user uuid, amount bigint default null, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- The system (acting_user null: the refund-due job) refunds by policy only: it is no admin.
  locked record := private.lock_order_for(order_id, acting_user);
  o public.orders := locked.o;
  is_admin boolean := locked.is_admin;
begin
  if amount is not null and not is_admin then
    raise exception 'only an admin chooses a refund amount' using errcode = '42501';
  end if;
  if o.status = 'disputed' then
    raise exception 'order % is disputed: it is refunded through the dispute''s resolution', o.id using errcode = 'PT409';
  end if;
  if not is_admin and not (o.status = 'cancelled' and o.delivered_at is null) then
    raise exception 'order % is %: without an admin, only a paid order cancelled before delivery is refunded', o.id, o.status
      using errcode = 'PT409';
  end if;
  if coalesce(trim(reason), '') = '' then
    raise exception 'a refund needs a reason' using errcode = '22023';
  end if;
  return private.create_refund(private.lock_payment(o.id), amount, reason, acting_user);
end
$$;
comment on function ops.claim_refund(uuid, uuid, bigint, text) is
  'Claims a refund of an order''s payment (admin: any amount up to the refundable; a party, or the system when acting_user is null: in full, of a paid order cancelled before delivery) and returns the Stripe refund (and reversal) to make. Service role only.';

-- A succeeded refund's ledger posting, refund:<refund id>, for every refund whoever made it:
-- ours (record_refund) and those made in Stripe's Dashboard (record_external_refunds, in
-- 40_stripe_events.sql). The legs follow from the refund's row alone:
--
--   from_escrow (no transfer yet when it was claimed)   escrow -> refunds, amount
--   after release                                       seller_payable -> refunds, reversal_amount
--                                                       platform_commission -> refunds, amount - reversal_amount
--
-- After release the seller's share comes back through seller_payable, which the reversal of
-- their transfer (reversal:<refund id>, seller_transfers -> seller_payable) fills; the rest
-- (the commission on the refund, or all of it when nothing is reversed, as for a refund made
-- in Stripe) the platform bears. One transaction of three legs (a zero leg is dropped), so
-- the key stays one per refund. The caller holds the payment's lock and updates its amounts.
create function private.post_refund(refund public.payment_refunds, p public.payments) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  description text := case when refund.source = 'stripe' then 'Refund made in Stripe' else 'Refund to the buyer' end;
begin
  if refund.order_id is distinct from p.order_id then
    raise exception 'refund % is not a refund of order %', refund.id, p.order_id using errcode = '22023';
  end if;
  if refund.from_escrow then
    return private.post_transfer('refund:' || refund.id, description, p.order_id,
      private.ledger_account('escrow', p.currency, p.order_id), private.ledger_account('refunds', p.currency, p.order_id), refund.amount);
  end if;
  return private.post_ledger_transaction('refund:' || refund.id, description, p.order_id, jsonb_build_array(
    jsonb_build_object('account_id', private.ledger_account('seller_payable', p.currency, null, p.seller_id), 'amount', -refund.reversal_amount),
    jsonb_build_object('account_id', private.ledger_account('platform_commission', p.currency), 'amount', -(refund.amount - refund.reversal_amount)),
    jsonb_build_object('account_id', private.ledger_account('refunds', p.currency, p.order_id), 'amount', refund.amount)));
end
$$;
comment on function private.post_refund(public.payment_refunds, public.payments) is
  'Posts a succeeded refund, refund:<id>: from escrow before release; after it, the reversed seller''s share from seller_payable and the rest from platform_commission. Called by record_refund and record_external_refunds.';

-- Stripe's answer about a refund (from payments-refund or refund.updated): requested ->
-- pending -> succeeded | failed | canceled, never back. Success books it.
create function ops.record_refund(refund_id uuid, stripe_refund_id text, status text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.payment_refunds;
  p public.payments;
  new_status text := case when status in ('succeeded', 'failed', 'canceled') then status else 'pending' end;
begin
  select * into r from public.payment_refunds where id = refund_id for update;
  if not found then
    raise exception 'refund % not found', refund_id using errcode = 'PT404';
  end if;
  if r.stripe_refund_id is not null and stripe_refund_id is not null and r.stripe_refund_id <> stripe_refund_id then
    return 'ignored: another Stripe refund';
  end if;
  if r.status in ('succeeded', 'failed', 'canceled') or (r.status = 'pending' and new_status = 'pending') then
    update public.payment_refunds set stripe_refund_id = coalesce(payment_refunds.stripe_refund_id, record_refund.stripe_refund_id)
     where id = r.id;
    return 'ignored: already ' || r.status;
  end if;
  p := private.lock_payment(r.order_id);
  update public.payment_refunds set status = new_status,
         stripe_refund_id = coalesce(payment_refunds.stripe_refund_id, record_refund.stripe_refund_id)
   where id = r.id;
  if new_status = 'succeeded' then
    update public.payments set amount_refunded = amount_refunded + r.amount where payments.order_id = p.order_id;
    perform private.post_refund(r, p);
    perform private.payment_note(p.order_id, 'refunded', r.amount, stripe_refund_id);
  elsif new_status in ('failed', 'canceled') then
    perform private.payment_note(p.order_id, 'refund_failed', r.amount, stripe_refund_id, null, 'Stripe: ' || status);
  end if;
  return 'applied';
end
$$;
comment on function ops.record_refund(uuid, text, text) is
  'Records Stripe''s status of a refund, monotonically; succeeded posts refund:<id> once. Service role only.';

create function ops.record_refund_reversal(refund_id uuid, stripe_reversal_id text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.payment_refunds;
  p public.payments;
begin
  select * into r from public.payment_refunds where id = refund_id for update;
  if not found then
    raise exception 'refund % not found', refund_id using errcode = 'PT404';
  end if;
  if r.reversal_recorded or r.reversal_amount = 0 then
    return 'ignored: nothing to record';
  end if;
  p := private.lock_payment(r.order_id);
  update public.payment_refunds set reversal_recorded = true, stripe_reversal_id = record_refund_reversal.stripe_reversal_id where id = r.id;
  update public.payments set amount_reversed = amount_reversed + r.reversal_amount where payments.order_id = p.order_id;
  perform private.post_transfer('reversal:' || r.id, 'Seller''s share of a refund reversed from their transfer', p.order_id,
    private.ledger_account('seller_transfers', p.currency, null, p.seller_id),
    private.ledger_account('seller_payable', p.currency, null, p.seller_id), r.reversal_amount);
  perform private.payment_note(p.order_id, 'transfer_reversed', r.reversal_amount, stripe_reversal_id);
  return 'applied';
end
$$;
comment on function ops.record_refund_reversal(uuid, text) is
  'Records the transfer reversal of a refund after release once, posting reversal:<refund id>. Service role only.';

create function ops.abandon_refund(refund_id uuid, reason text) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.payment_refunds;
begin
  select * into r from public.payment_refunds where id = refund_id for update;
  if found and r.status = 'requested' and r.stripe_refund_id is null then
    update public.payment_refunds set status = 'failed' where id = r.id;
    perform private.payment_note(r.order_id, 'refund_failed', r.amount, null, null, left(reason, 1000));
  end if;
end
$$;
comment on function ops.abandon_refund(uuid, text) is 'Marks a claimed refund failed when Stripe refused it. Service role only.';

-- ---------------------------------------------------------------------------------------
-- Resolving the buyer's dispute (admin): the dispute is marked resolved first, then the
-- order leaves `disputed` (refund -> cancelled, release -> completed), then the money
-- claims are returned for payments-resolve-dispute to carry out: a refund (refund: all that
-- is refundable unless refund_amount says less; release: refund_amount, if any, to the buyer)
-- and, for release, the transfer of the rest.

create function ops.resolve_dispute(order_id uuid, acting_user uuid, resolution text, refund_amount bigint default null,
                                       note text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  locked record := private.lock_order_for(order_id, acting_user);
  o public.orders := locked.o;
  d public.disputes;
  p public.payments;
  refund jsonb;
  release jsonb;
begin
  if not locked.is_admin then
    raise exception 'only an admin resolves disputes' using errcode = '42501';
  end if;
  if resolution is null or resolution not in ('refund', 'release') then
    raise exception 'resolution must be refund or release' using errcode = '22023';
  end if;
  if refund_amount is not null and refund_amount < 0 then
    raise exception 'refund_amount must be a positive number of minor units' using errcode = '22023';
  end if;
  select * into d from public.disputes where disputes.order_id = o.id and status = 'open' for update;
  if not found then
    raise exception 'order % has no open dispute', o.id using errcode = 'PT409';
  end if;
  p := private.lock_payment(o.id);
  if resolution = 'release' and refund_amount is not null
     and refund_amount >= p.amount_captured - p.amount_refunded - p.amount_charged_back then
    raise exception 'a release must leave something to release: refund_amount % is not less than the % refundable',
      refund_amount, p.amount_captured - p.amount_refunded - p.amount_charged_back using errcode = '22023';
  end if;

  update public.disputes set status = 'resolved', resolution = resolve_dispute.resolution, resolution_note = note,
                             resolved_by = acting_user, resolved_at = now()
   where id = d.id;
  perform private.transition_order(o.id, case resolution when 'refund' then 'cancelled' else 'completed' end,
                                   array['admin'], acting_user, coalesce(note, 'dispute resolved: ' || resolution));
  perform private.emit_event('dispute.resolved', 'order', o.id, array[o.buyer_id, o.seller_id],
    jsonb_build_object('resolution', resolution, 'refund_amount', refund_amount), acting_user);

  p := private.lock_payment(o.id);
  if p.amount_captured > 0 and (resolution = 'refund' or coalesce(refund_amount, 0) > 0) then
    refund := private.create_refund(p, refund_amount,
                                    'dispute resolved: ' || resolution, acting_user);
  end if;
  if resolution = 'release' and p.amount_captured > 0 then
    release := ops.claim_release(o.id, acting_user);
  end if;
  return jsonb_build_object('dispute_id', d.id, 'order_id', o.id, 'resolution', resolution,
                            'order_status', (select status from public.orders where id = o.id), 'refund', refund, 'release', release);
end
$$;
comment on function ops.resolve_dispute(uuid, uuid, text, bigint, text) is
  'An admin resolves an order''s open dispute: dispute resolved, order completed (release) or cancelled (refund), and the refund/release claims to carry out. Service role only.';

revoke execute on function ops.begin_payment(uuid, uuid, text),
  ops.record_payment_session(uuid, integer, text, text, timestamptz, text),
  ops.claim_release(uuid, uuid), ops.record_release(uuid, text, bigint), ops.abandon_release(uuid, text),
  ops.claim_refund(uuid, uuid, bigint, text), ops.record_refund(uuid, text, text),
  ops.record_refund_reversal(uuid, text), ops.abandon_refund(uuid, text),
  ops.resolve_dispute(uuid, uuid, text, bigint, text) from public;
grant execute on function ops.begin_payment(uuid, uuid, text),
  ops.record_payment_session(uuid, integer, text, text, timestamptz, text),
  ops.claim_release(uuid, uuid), ops.record_release(uuid, text, bigint), ops.abandon_release(uuid, text),
  ops.claim_refund(uuid, uuid, bigint, text), ops.record_refund(uuid, text, text),
  ops.record_refund_reversal(uuid, text), ops.abandon_refund(uuid, text),
  ops.resolve_dispute(uuid, uuid, text, bigint, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- Refund by policy: a paid order cancelled before delivery (by its seller, or an admin) gives
-- the buyer their money back without anyone asking. Either party may still ask at once
-- (payments-refund { order_id, reason }); otherwise the payments-refund-due job (every 5
-- minutes) calls payments-refund { due: true } with the service role, which refunds, as the
-- system, every escrow due_refunds() lists: in full, through the same claim_refund /
-- record_refund as a party's call (key refund:<refund id>), so it happens once whoever starts it.
--
-- Left to an admin: orders that went through a dispute (its resolution moves the money), and
-- orders whose refund Stripe failed or canceled (retrying a card that refuses is not a policy).

create function ops.due_refunds(max_rows integer default 100) returns setof uuid
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
comment on function ops.due_refunds(integer) is
  'Orders cancelled before delivery whose captured payment is not yet (being) refunded: what payments-refund { "due": true } works through. Service role only.';
revoke execute on function ops.due_refunds(integer) from public;
grant execute on function ops.due_refunds(integer) to service_role;
