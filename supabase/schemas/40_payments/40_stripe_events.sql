-- Stripe webhook events (DESIGN principle 5): the stripe-webhook function verifies the
-- signature on the raw body and hands the event to ops.process_stripe_event(), which
-- stores it by id and applies it in the same transaction. A duplicate delivery is
-- acknowledged and changes nothing; an event type we do not handle is stored and ignored;
-- events arriving out of order never move a payment, order, refund, chargeback or account
-- backwards (amounts only grow, terminal states stay, account data only from newer events).

create table public.stripe_events (
  id text primary key constraint stripe_events_id_format check (id ~ '^evt_[A-Za-z0-9_]+$'),
  type text not null constraint stripe_events_type_format check (type ~ '^[a-z_.]+$'),
  api_version text,
  livemode boolean not null default false,
  created timestamptz not null,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  outcome text
);
comment on table public.stripe_events is
  'Every Stripe event received, by id (duplicates are not stored twice), with what processing did with it. Read by marketplace managers.';
comment on column public.stripe_events.created is 'The event''s created time: the order in which Stripe''s view changed.';
comment on column public.stripe_events.outcome is 'applied, or ignored: <why> (unhandled type, unknown object, older than what we have, ...).';
create index stripe_events_type_idx on public.stripe_events (type, created);

alter table public.stripe_events enable row level security;
grant select on public.stripe_events to authenticated, service_role;
create policy "Marketplace managers read Stripe events" on public.stripe_events for select to authenticated
  using ((select private.has_permission('marketplace.manage')));

-- ---------------------------------------------------------------------------------------
-- Finding our payment for a Stripe object: by the order id we put in its metadata, checked
-- against the Stripe ids we recorded, else by those ids.

create function private.payment_for_stripe(order_hint text, payment_intent text, charge text) returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  found_order uuid;
begin
  if payment_intent is not null then
    select p.order_id into found_order from public.payments p where p.stripe_payment_intent_id = payment_intent;
  end if;
  if found_order is null and charge is not null then
    select p.order_id into found_order from public.payments p where p.stripe_charge_id = charge;
  end if;
  if found_order is null and private.try_uuid(order_hint) is not null then
    select p.order_id into found_order from public.payments p
     where p.order_id = private.try_uuid(order_hint)
       and (payment_intent is null or p.stripe_payment_intent_id is null or p.stripe_payment_intent_id = payment_intent);
  end if;
  return found_order;
end
$$;

-- ---------------------------------------------------------------------------------------
-- A payment confirmed: escrow holds the funds, the order starts (record_order_payment).

create function private.record_capture(order_id uuid, payment_intent text, charge text, amount bigint, currency text)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
  o public.orders;
begin
  if p.amount_captured > 0 then
    -- A second confirmation of the same payment fills in what the first lacked.
    if payment_intent is not distinct from p.stripe_payment_intent_id or p.stripe_payment_intent_id is null then
      update public.payments set stripe_payment_intent_id = coalesce(payments.stripe_payment_intent_id, payment_intent),
                                 stripe_charge_id = coalesce(payments.stripe_charge_id, charge)
       where payments.order_id = p.order_id;
      return 'ignored: already captured';
    end if;
    perform private.payment_note(p.order_id, 'second_payment', amount, payment_intent, null,
      'another payment succeeded for an order already paid: refund it in Stripe');
    perform private.emit_event('payment.second_payment', 'order', p.order_id, '{}',
      jsonb_build_object('payment_intent', payment_intent, 'amount', amount), null);
    return 'ignored: order already paid by ' || p.stripe_payment_intent_id;
  end if;
  if upper(currency) is distinct from p.currency or amount is null or amount <= 0 then
    perform private.payment_note(p.order_id, 'payment_mismatch', amount, payment_intent, null,
      format('Stripe captured %s %s for an order of %s %s', amount, upper(currency), p.amount, p.currency));
    return 'ignored: currency or amount does not match the order';
  end if;

  update public.payments set amount_captured = record_capture.amount, paid_at = now(),
         stripe_payment_intent_id = coalesce(payments.stripe_payment_intent_id, payment_intent),
         stripe_charge_id = coalesce(payments.stripe_charge_id, charge)
   where payments.order_id = p.order_id;
  perform private.post_transfer('payment:' || p.order_id, 'Buyer payment held in escrow', p.order_id,
    private.ledger_account('buyer_funding', p.currency, p.order_id), private.ledger_account('escrow', p.currency, p.order_id), amount);
  perform private.payment_note(p.order_id, 'captured', amount, coalesce(charge, payment_intent));

  select * into o from public.orders where id = p.order_id;
  if o.status = 'awaiting_payment' and amount >= p.amount then
    perform ops.record_order_payment(o.id);
    return 'applied';
  end if;
  if amount < p.amount then
    perform private.payment_note(p.order_id, 'payment_mismatch', amount, payment_intent, null, 'less than the order''s price was captured');
    return 'applied: underpaid, the order waits';
  end if;
  perform private.payment_note(p.order_id, 'paid_in_wrong_state', amount, payment_intent, null,
    format('the order was %s when its payment succeeded: refund it', o.status));
  perform private.emit_event('payment.refund_due', 'order', o.id, array[o.buyer_id], jsonb_build_object('order_status', o.status), null);
  return 'applied: order was ' || o.status || ', refund due';
end
$$;
comment on function private.record_capture(uuid, text, text, bigint, text) is
  'Records a confirmed payment once: escrow holds it (ledger payment:<order>) and an order awaiting payment goes in progress.';

-- ---------------------------------------------------------------------------------------
-- charge.refunded: what Stripe refunded beyond the refunds we made (e.g. from the
-- Dashboard) is recorded as a refund of source stripe, succeeded, with nothing reversed
-- from the seller's transfer; the rest arrives through our own (record_refund). Both are
-- posted by private.post_refund (50_release_refund_dispute.sql), from the refund's row.

create function private.record_external_refunds(order_id uuid, charge jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
  ours bigint;
  extra bigint;
  refund public.payment_refunds;
begin
  select coalesce(sum(r.amount), 0) into ours from public.payment_refunds r
   where r.order_id = p.order_id and r.status in ('requested', 'pending');
  extra := (charge ->> 'amount_refunded')::bigint - p.amount_refunded - ours;
  if extra is null or extra <= 0 then
    return 'ignored: no refund beyond those recorded';
  end if;
  extra := least(extra, p.amount_captured - p.amount_refunded - p.amount_charged_back);
  if extra <= 0 then
    return 'ignored: nothing left to refund';
  end if;
  -- from_escrow as for our refunds: whether the escrow still held the funds (no transfer yet).
  -- Nothing is reversed (reversal_amount 0): before release the escrow gives it back; after,
  -- the platform bears it (an admin may reverse the seller's transfer in Stripe, which
  -- transfer.reversed then books back to the platform).
  insert into public.payment_refunds (order_id, amount, reason, status, source, from_escrow)
  values (p.order_id, extra, 'refunded in Stripe', 'succeeded', 'stripe', p.stripe_transfer_id is null) returning * into refund;
  update public.payments set amount_refunded = amount_refunded + extra where payments.order_id = p.order_id;
  perform private.post_refund(refund, p);
  perform private.payment_note(p.order_id, 'refunded_in_stripe', extra, charge ->> 'id');
  return 'applied';
end
$$;

-- transfer.reversed: reversals beyond ours (made in Stripe) go back to the platform.
create function private.record_external_reversals(order_id uuid, transfer jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments := private.lock_payment(order_id);
  pending bigint;
  extra bigint;
begin
  if p.stripe_transfer_id is distinct from transfer ->> 'id' then
    return 'ignored: not this order''s transfer';
  end if;
  select coalesce(sum(r.reversal_amount), 0) into pending from public.payment_refunds r
   where r.order_id = p.order_id and r.reversal_amount > 0 and not r.reversal_recorded and r.status in ('requested', 'pending', 'succeeded');
  extra := least((transfer ->> 'amount_reversed')::bigint - p.amount_reversed - pending, p.amount_transferred - p.amount_reversed);
  if extra is null or extra <= 0 then
    return 'ignored: no reversal beyond those recorded';
  end if;
  update public.payments set amount_reversed = amount_reversed + extra where payments.order_id = p.order_id;
  perform private.post_transfer(format('reversal:%s:%s', transfer ->> 'id', p.amount_reversed + extra), 'Transfer reversed in Stripe', p.order_id,
    private.ledger_account('seller_transfers', p.currency, null, p.seller_id), private.ledger_account('platform_commission', p.currency), extra);
  perform private.payment_note(p.order_id, 'reversed_in_stripe', extra, transfer ->> 'id');
  return 'applied';
end
$$;

-- ---------------------------------------------------------------------------------------
-- charge.dispute.*: a chargeback freezes the escrow and books the disputed amount (from
-- escrow as far as it holds it, the rest borne by the platform); won gives it back, lost
-- keeps it charged back. Closed chargebacks and older events change nothing.

create function private.apply_chargeback(dispute jsonb, event_created timestamptz) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  order_id uuid := private.payment_for_stripe(dispute #>> '{metadata,order_id}', dispute ->> 'payment_intent', dispute ->> 'charge');
  p public.payments;
  cb public.payment_chargebacks;
  new_status text := dispute ->> 'status';
  disputed bigint := (dispute ->> 'amount')::bigint;
  is_closed boolean := new_status in ('won', 'lost', 'warning_closed', 'prevented');
  escrow_balance bigint;
begin
  if order_id is null then
    return 'ignored: no payment for this charge';
  end if;
  p := private.lock_payment(order_id);
  select * into cb from public.payment_chargebacks c where c.stripe_dispute_id = dispute ->> 'id' for update;
  if found and (cb.closed or cb.stripe_updated_at > event_created) then
    return 'ignored: older than what we have';
  end if;
  if not found then
    escrow_balance := greatest(private.ledger_balance('escrow', p.currency, p.order_id), 0);
    insert into public.payment_chargebacks (stripe_dispute_id, order_id, amount, currency, reason, status,
                                            escrow_part, platform_part, stripe_updated_at)
    values (dispute ->> 'id', p.order_id, disputed, p.currency, dispute ->> 'reason', new_status,
            least(disputed, escrow_balance), disputed - least(disputed, escrow_balance), event_created)
    returning * into cb;
    perform private.post_ledger_transaction('chargeback:' || cb.stripe_dispute_id, 'Chargeback: disputed amount withdrawn', p.order_id,
      jsonb_build_array(
        jsonb_build_object('account_id', private.ledger_account('escrow', p.currency, p.order_id), 'amount', -cb.escrow_part),
        jsonb_build_object('account_id', private.ledger_account('platform_commission', p.currency), 'amount', -cb.platform_part),
        jsonb_build_object('account_id', private.ledger_account('chargebacks', p.currency, p.order_id), 'amount', cb.amount)));
    perform private.payment_note(p.order_id, 'chargeback_opened', disputed, cb.stripe_dispute_id, null, dispute ->> 'reason');
  end if;
  update public.payment_chargebacks set status = new_status, stripe_updated_at = event_created, closed = is_closed
   where stripe_dispute_id = cb.stripe_dispute_id;
  if is_closed then
    if new_status in ('won', 'warning_closed', 'prevented') then
      perform private.post_ledger_transaction('chargeback_won:' || cb.stripe_dispute_id, 'Chargeback won: amount returned', p.order_id,
        jsonb_build_array(
          jsonb_build_object('account_id', private.ledger_account('escrow', p.currency, p.order_id), 'amount', cb.escrow_part),
          jsonb_build_object('account_id', private.ledger_account('platform_commission', p.currency), 'amount', cb.platform_part),
          jsonb_build_object('account_id', private.ledger_account('chargebacks', p.currency, p.order_id), 'amount', -cb.amount)));
    else
      update public.payments set amount_charged_back = least(amount_charged_back + cb.amount, amount_captured - amount_refunded)
       where payments.order_id = p.order_id;
    end if;
    perform private.payment_note(p.order_id, 'chargeback_' || new_status, cb.amount, cb.stripe_dispute_id);
  end if;
  update public.payments set chargeback_open = exists (
    select 1 from public.payment_chargebacks c where c.order_id = p.order_id and not c.closed)
   where payments.order_id = p.order_id;
  return 'applied';
end
$$;

-- ---------------------------------------------------------------------------------------
-- Stripe's fee on a charge, once its balance transaction is known: paid from the commission.
-- One rule for every charge the platform takes for a sale (a commission order's escrow, a shop
-- checkout: 50_commerce/80_payments.sql calls it too): the platform bears the fee,
-- platform_commission -> stripe_fees, key fee:<charge id>, so whoever sees the fee first (a
-- webhook, a function that read the charge) posts it and the others change nothing.

create function private.post_stripe_fee(charge_id text, balance_transaction jsonb, order_id uuid default null) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  fee bigint := (balance_transaction ->> 'fee')::bigint;
  currency text := upper(balance_transaction ->> 'currency');
begin
  if charge_id is null or fee is null or fee <= 0 or not exists (select 1 from public.currencies c where c.code = currency) then
    return 'ignored: no fee';
  end if;
  perform private.post_transfer('fee:' || charge_id, 'Stripe processing fee', order_id,
    private.ledger_account('platform_commission', currency), private.ledger_account('stripe_fees', currency), fee);
  return 'applied';
end
$$;
comment on function private.post_stripe_fee(text, jsonb, uuid) is
  'Ledger: Stripe''s fee on a sale''s charge (its balance transaction''s fee and currency), platform_commission -> stripe_fees, key fee:<charge id>, once; order_id names the commission order, null for a shop checkout.';
revoke execute on function private.post_stripe_fee(text, jsonb, uuid) from public;
grant execute on function private.post_stripe_fee(text, jsonb, uuid) to service_role;

create function private.record_stripe_fee(charge jsonb, balance_transaction jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  order_id uuid := private.payment_for_stripe(charge #>> '{metadata,order_id}', charge ->> 'payment_intent', charge ->> 'id');
begin
  if order_id is null then
    return 'ignored: no payment for this charge';
  end if;
  return private.post_stripe_fee(charge ->> 'id', balance_transaction, order_id);
end
$$;

-- ---------------------------------------------------------------------------------------
-- The dispatcher.

create function private.apply_stripe_event(event jsonb, balance_transaction jsonb) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  object jsonb := event #> '{data,object}';
  created timestamptz := to_timestamp((event ->> 'created')::bigint);
  found_order uuid;
  refund_id uuid;
begin
  -- The shop's payments (50_commerce/80_payments.sql) name their checkout in the metadata.
  if object #>> '{metadata,checkout_id}' is not null then
    return private.apply_shop_stripe_event(event, balance_transaction);
  end if;
  case event ->> 'type'
    when 'checkout.session.completed', 'checkout.session.async_payment_succeeded' then
      found_order := private.payment_for_stripe(coalesce(object #>> '{metadata,order_id}', object ->> 'client_reference_id'),
                                             object ->> 'payment_intent', null);
      if found_order is null then return 'ignored: no payment for this session'; end if;
      if object ->> 'payment_status' <> 'paid' then
        perform private.lock_payment(found_order);
        update public.payments set stripe_payment_intent_id = coalesce(payments.stripe_payment_intent_id, object ->> 'payment_intent')
         where payments.order_id = found_order;
        perform private.payment_note(found_order, 'checkout_completed_unpaid', null, object ->> 'id');
        return 'applied: awaiting an asynchronous payment';
      end if;
      return private.record_capture(found_order, object ->> 'payment_intent', null, (object ->> 'amount_total')::bigint, object ->> 'currency');
    when 'payment_intent.succeeded' then
      found_order := private.payment_for_stripe(object #>> '{metadata,order_id}', object ->> 'id', object ->> 'latest_charge');
      if found_order is null then return 'ignored: no payment for this payment intent'; end if;
      return private.record_capture(found_order, object ->> 'id', object ->> 'latest_charge',
                                    (object ->> 'amount_received')::bigint, object ->> 'currency');
    when 'checkout.session.async_payment_failed', 'payment_intent.payment_failed' then
      found_order := private.payment_for_stripe(coalesce(object #>> '{metadata,order_id}', object ->> 'client_reference_id'),
        case when event ->> 'type' like 'payment_intent.%' then object ->> 'id' else object ->> 'payment_intent' end, null);
      if found_order is null then return 'ignored: no payment for this object'; end if;
      -- A failure never undoes a success that arrived first: it is only noted.
      perform private.payment_note(found_order, 'payment_failed', null, object ->> 'id', null,
        coalesce(object #>> '{last_payment_error,message}', 'the payment failed'));
      return 'applied';
    when 'charge.refunded' then
      found_order := private.payment_for_stripe(object #>> '{metadata,order_id}', object ->> 'payment_intent', object ->> 'id');
      if found_order is null then return 'ignored: no payment for this charge'; end if;
      -- Refunds listed on the charge (older API versions expand them) are ours or Stripe's.
      perform ops.record_refund(private.try_uuid(r #>> '{metadata,refund_id}'), r ->> 'id', r ->> 'status')
         from jsonb_array_elements(coalesce(object #> '{refunds,data}', '[]')) r
        where exists (select 1 from public.payment_refunds pr where pr.id = private.try_uuid(r #>> '{metadata,refund_id}'));
      return private.record_external_refunds(found_order, object);
    when 'refund.updated', 'refund.created' then
      select pr.id into refund_id from public.payment_refunds pr
       where pr.stripe_refund_id = object ->> 'id'
          or pr.id = private.try_uuid(object #>> '{metadata,refund_id}')
       limit 1;
      if refund_id is null then
        -- A shop checkout's charge refunded in Stripe (50_commerce/88_cancellations.sql).
        return coalesce(private.record_shop_external_refund(object), 'ignored: not a refund we made (charge.refunded records those)');
      end if;
      perform ops.record_refund(refund_id, object ->> 'id', object ->> 'status');
      return 'applied';
    when 'charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed' then
      return private.apply_chargeback(object, created);
    when 'transfer.created' then
      found_order := private.payment_for_stripe(object #>> '{metadata,order_id}', null, null);
      if found_order is null then return 'ignored: not an order''s transfer'; end if;
      return ops.record_release(found_order, object ->> 'id', (object ->> 'amount')::bigint);
    when 'transfer.reversed' then
      select p.order_id into found_order from public.payments p where p.stripe_transfer_id = object ->> 'id';
      if found_order is null then return 'ignored: not an order''s transfer'; end if;
      return private.record_external_reversals(found_order, object);
    when 'account.updated' then
      if private.apply_account_update(object, created) then
        return 'applied';
      end if;
      return 'ignored: unknown account or older than what we have';
    when 'charge.succeeded', 'charge.updated' then
      if jsonb_typeof(object -> 'balance_transaction') = 'object' then
        return private.record_stripe_fee(object, object -> 'balance_transaction');
      elsif balance_transaction is not null and balance_transaction ->> 'id' = object ->> 'balance_transaction' then
        return private.record_stripe_fee(object, balance_transaction);
      end if;
      return 'ignored: balance transaction not known yet';
    else
      return 'ignored: unhandled event type';
  end case;
end
$$;
comment on function private.apply_stripe_event(jsonb, jsonb) is 'Applies one Stripe event by type; answers applied or ignored: <why>.';

-- The webhook's one call: store by id, apply, mark processed, in one transaction. A failure
-- rolls back the storing too, so Stripe's retry processes the event again.
create function ops.process_stripe_event(event jsonb, balance_transaction jsonb default null)
returns table (event_id text, event_type text, duplicate boolean, outcome text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  stored text;
  result text;
begin
  if jsonb_typeof(event) is distinct from 'object' or event ->> 'object' is distinct from 'event'
     or coalesce(event ->> 'id', '') !~ '^evt_[A-Za-z0-9_]+$' or coalesce(event ->> 'type', '') !~ '^[a-z_.]+$'
     or coalesce(event ->> 'created', '') !~ '^[0-9]+$' or jsonb_typeof(event #> '{data,object}') is distinct from 'object' then
    raise exception 'not a Stripe event' using errcode = '22023';
  end if;
  insert into public.stripe_events (id, type, api_version, livemode, created, payload)
  values (event ->> 'id', event ->> 'type', event ->> 'api_version', coalesce((event ->> 'livemode')::boolean, false),
          to_timestamp((event ->> 'created')::bigint), event)
  on conflict (id) do nothing
  returning id into stored;
  if stored is null then
    return query select e.id, e.type, true, e.outcome from public.stripe_events e where e.id = event ->> 'id';
    return;
  end if;
  result := private.apply_stripe_event(event, balance_transaction);
  update public.stripe_events set processed_at = now(), outcome = result where id = stored;
  return query select stored, event ->> 'type', false, result;
end
$$;
comment on function ops.process_stripe_event(jsonb, jsonb) is
  'Stores a verified Stripe event by id and applies it once, in one transaction; duplicates answer duplicate = true. Service role only (stripe-webhook).';
revoke execute on function ops.process_stripe_event(jsonb, jsonb) from public;
grant execute on function ops.process_stripe_event(jsonb, jsonb) to service_role;
