-- Escrow (000 GET /payments/:orderId): one payment row per order, the money's side of the
-- order. The platform charges the buyer (separate charges and transfers: one transfer_group
-- per order), holds the funds, and on release transfers the seller's share to their
-- connected account, keeping the commission snapshotted on the order.
--
-- Its status is derived from its amounts, which only grow, so it never moves backwards:
--
--   pending (nothing captured) -> held (captured) -> released (transferred)
--   held | released -> partially_refunded -> refunded (refunded = captured)
--   disputed: a freeze over any of these while the buyer's dispute or a Stripe chargeback
--             is open; release and refunds wait for it
--
-- Amounts and status change only through the functions of the payments schema files (security
-- definer, run by the service role); no API role may write the table.

create table public.payments (
  order_id uuid primary key references public.orders (id) on delete restrict,
  buyer_id uuid,
  seller_id uuid,
  currency text not null references public.currencies (code),
  amount bigint not null constraint payments_amount_positive check (amount > 0),
  commission_rate_bps integer not null constraint payments_commission_range check (commission_rate_bps between 0 and 10000),
  status text not null default 'pending' constraint payments_status check (status in (
    'pending', 'held', 'released', 'partially_refunded', 'refunded', 'disputed')),
  -- Freezes: the buyer's dispute (public.disputes) and an open Stripe chargeback.
  dispute_open boolean not null default false,
  chargeback_open boolean not null default false,
  -- Money, in minor units; each only grows.
  amount_captured bigint not null default 0 constraint payments_captured_range check (amount_captured >= 0),
  amount_refunded bigint not null default 0 constraint payments_refunded_range check (amount_refunded between 0 and amount_captured),
  amount_transferred bigint not null default 0 constraint payments_transferred_range check (amount_transferred >= 0),
  amount_reversed bigint not null default 0 constraint payments_reversed_range check (amount_reversed between 0 and amount_transferred),
  amount_charged_back bigint not null default 0 constraint payments_charged_back_range check (amount_charged_back >= 0),
  commission_amount bigint constraint payments_commission_amount_range check (commission_amount >= 0),
  -- The transfer a release claimed: what the seller receives (releasable less commission).
  release_amount bigint constraint payments_release_amount_positive check (release_amount > 0),
  -- Stripe objects.
  transfer_group text not null,
  payment_mode text constraint payments_mode check (payment_mode in ('checkout', 'payment_intent')),
  checkout_attempt integer not null default 0,
  stripe_checkout_session_id text,
  checkout_url text,
  checkout_expires_at timestamptz,
  stripe_payment_intent_id text constraint payments_payment_intent_unique unique,
  stripe_charge_id text constraint payments_charge_unique unique,
  stripe_transfer_id text constraint payments_transfer_unique unique,
  transfer_destination text,
  -- Release: claimed (a Stripe transfer is being made) and done.
  release_claimed_at timestamptz,
  release_due_at timestamptz,
  paid_at timestamptz,
  released_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.payments is
  'Escrow per order: what the buyer paid, refunds, the transfer to the seller, freezes, and the Stripe ids. Status is derived from the amounts; written by payment functions only.';
comment on column public.payments.transfer_group is 'Stripe transfer_group for the order''s charge and transfer: order_<order id>.';
comment on column public.payments.release_claimed_at is
  'When a release started (a Stripe transfer with key transfer:<order id> is in flight). A claim older than a minute may be retried with the same key.';
comment on column public.payments.release_due_at is 'When the order became due for an automatic release (auto-release job).';
create index payments_buyer_idx on public.payments (buyer_id);
create index payments_seller_idx on public.payments (seller_id);
create index payments_status_idx on public.payments (status);
create index payments_checkout_session_idx on public.payments (stripe_checkout_session_id) where stripe_checkout_session_id is not null;

create table public.payment_refunds (
  id uuid primary key default gen_random_uuid(),
  order_id uuid not null references public.payments (order_id) on delete restrict,
  amount bigint not null constraint payment_refunds_amount_positive check (amount > 0),
  -- The seller's share taken back from their transfer (0 before release).
  reversal_amount bigint not null default 0 constraint payment_refunds_reversal_range check (reversal_amount between 0 and amount),
  reason text not null constraint payment_refunds_reason_length check (char_length(reason) between 1 and 1000),
  -- requested: claimed, Stripe not yet answered; pending/succeeded/failed/canceled: Stripe's.
  status text not null default 'requested' constraint payment_refunds_status check (status in (
    'requested', 'pending', 'succeeded', 'failed', 'canceled')),
  source text not null default 'platform' constraint payment_refunds_source check (source in ('platform', 'stripe')),
  stripe_refund_id text constraint payment_refunds_stripe_id_unique unique,
  stripe_reversal_id text constraint payment_refunds_reversal_id_unique unique,
  reversal_recorded boolean not null default false,
  -- Claimed while the escrow still held the funds (true) or after the transfer (false).
  from_escrow boolean not null default true,
  requested_by uuid,
  claimed_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.payment_refunds is
  'Refunds of an order''s payment: by an admin, by policy (a paid order cancelled before delivery), by a dispute''s resolution, or made in Stripe directly (source stripe). Stripe keys: refund:<id>, reversal:<id>.';
create index payment_refunds_order_idx on public.payment_refunds (order_id, created_at);

create table public.payment_chargebacks (
  stripe_dispute_id text primary key,
  order_id uuid not null references public.payments (order_id) on delete restrict,
  amount bigint not null constraint payment_chargebacks_amount_positive check (amount > 0),
  currency text not null references public.currencies (code),
  reason text,
  status text not null,
  -- How the withdrawn amount was booked: from escrow, the rest borne by the platform.
  escrow_part bigint not null default 0,
  platform_part bigint not null default 0,
  closed boolean not null default false,
  stripe_updated_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.payment_chargebacks is
  'Stripe disputes (chargebacks) of an order''s charge: the disputed amount is frozen and booked to chargebacks until Stripe closes it.';
create index payment_chargebacks_order_idx on public.payment_chargebacks (order_id);

create table public.payment_history (
  id bigint generated always as identity primary key,
  order_id uuid not null references public.payments (order_id) on delete restrict,
  event text not null constraint payment_history_event_format check (event ~ '^[a-z_]+$'),
  from_status text,
  to_status text,
  amount bigint,
  stripe_object_id text,
  actor_id uuid,
  note text,
  created_at timestamptz not null default now()
);
comment on table public.payment_history is 'The escrow''s timeline: every status change and money event. Append-only, written by payment functions.';
create index payment_history_order_idx on public.payment_history (order_id, id);

create trigger payments_touch_updated_at before update on public.payments
  for each row execute function private.touch_updated_at();
create trigger payment_refunds_touch_updated_at before update on public.payment_refunds
  for each row execute function private.touch_updated_at();
create trigger payment_chargebacks_touch_updated_at before update on public.payment_chargebacks
  for each row execute function private.touch_updated_at();
create trigger payment_history_append_only before update or delete on public.payment_history
  for each row execute function private.append_only('the escrow''s history is only ever added to');

-- ---------------------------------------------------------------------------------------
-- The status, derived; amounts never shrink.

create function private.payment_status(p public.payments) returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when p.dispute_open or p.chargeback_open then 'disputed'
    when p.amount_captured = 0 then 'pending'
    when p.amount_refunded + p.amount_charged_back >= p.amount_captured then 'refunded'
    when p.amount_refunded > 0 then 'partially_refunded'
    when p.amount_transferred > 0 then 'released'
    else 'held' end
$$;
comment on function private.payment_status(public.payments) is 'An escrow''s status from its amounts and freezes.';

create function private.guard_payment() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' then
    if new.amount_captured < old.amount_captured or new.amount_refunded < old.amount_refunded
       or new.amount_transferred < old.amount_transferred or new.amount_reversed < old.amount_reversed
       or new.amount_charged_back < old.amount_charged_back then
      raise exception 'payment %: amounts never decrease', old.order_id using errcode = 'PT409';
    end if;
    if old.amount_captured > 0 and new.amount_captured <> old.amount_captured then
      raise exception 'payment %: the captured amount is recorded once', old.order_id using errcode = 'PT409';
    end if;
    if new.order_id <> old.order_id or new.currency <> old.currency or new.amount <> old.amount then
      raise exception 'payment %: its order, currency and amount are fixed', old.order_id using errcode = 'PT409';
    end if;
  end if;
  new.status := private.payment_status(new);
  return new;
end
$$;
create trigger payments_guard before insert or update on public.payments
  for each row execute function private.guard_payment();

create function private.payment_status_history() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' or new.status <> old.status then
    insert into public.payment_history (order_id, event, from_status, to_status)
    values (new.order_id, 'status_changed', case when tg_op = 'UPDATE' then old.status end, new.status);
    perform private.emit_event('payment.' || new.status, 'order', new.order_id, array[new.buyer_id, new.seller_id],
      jsonb_build_object('from_status', case when tg_op = 'UPDATE' then old.status end, 'to_status', new.status), null);
  end if;
  return null;
end
$$;
create trigger payments_status_history after insert or update on public.payments
  for each row execute function private.payment_status_history();

create function private.payment_note(order_id uuid, event text, amount bigint default null, stripe_object_id text default null,
                                     actor uuid default null, note text default null) returns void
language sql
security definer
set search_path = ''
as $$
  insert into public.payment_history (order_id, event, amount, stripe_object_id, actor_id, note)
  values (order_id, event, amount, stripe_object_id, actor, note)
$$;
comment on function private.payment_note(uuid, text, bigint, text, uuid, text) is 'Adds a money event to an escrow''s timeline.';

-- The order's payment row, created on first use with the order's price, currency and
-- commission snapshot, and locked for the caller's transaction.
create function private.lock_payment(order_id uuid) returns public.payments
language plpgsql
security definer
set search_path = ''
as $$
declare
  p public.payments;
  o public.orders;
begin
  -- Order first, then its payment, in every function: claim_release holds the order while it
  -- waits for the payment, and rows that reference the order (history, ledger) need a key
  -- share on it, so taking the payment first could deadlock.
  perform 1 from public.orders where id = lock_payment.order_id for update;
  select * into p from public.payments where payments.order_id = lock_payment.order_id for update;
  if found then
    return p;
  end if;
  select * into o from public.orders where id = lock_payment.order_id;
  if not found then
    raise exception 'order % not found', lock_payment.order_id using errcode = 'PT404';
  end if;
  insert into public.payments (order_id, buyer_id, seller_id, currency, amount, commission_rate_bps, transfer_group)
  values (o.id, o.buyer_id, o.seller_id, o.currency, o.price_amount, o.commission_rate_bps, 'order_' || o.id)
  on conflict on constraint payments_pkey do nothing;
  select * into p from public.payments where payments.order_id = lock_payment.order_id for update;
  return p;
end
$$;
comment on function private.lock_payment(uuid) is 'Locks an order''s escrow row, creating it (pending) from the order''s snapshot if needed.';

-- The commission on an amount at a rate, rounded half up.
create function private.commission_of(amount bigint, rate_bps integer) returns bigint
language sql
immutable
set search_path = ''
as $$
  select (amount * rate_bps + 5000) / 10000
$$;

grant execute on function private.payment_status(public.payments), private.payment_note(uuid, text, bigint, text, uuid, text),
  private.lock_payment(uuid), private.commission_of(bigint, integer) to service_role;

-- ---------------------------------------------------------------------------------------
-- Who reads escrow: both parties of the order and marketplace managers (through the order's
-- own policy); nobody writes through the API.

alter table public.payments enable row level security;
alter table public.payment_refunds enable row level security;
alter table public.payment_chargebacks enable row level security;
alter table public.payment_history enable row level security;
grant select on public.payments, public.payment_refunds, public.payment_chargebacks, public.payment_history
  to authenticated, service_role;

create policy "Readers of an order read its escrow" on public.payments for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));
create policy "Readers of an order read its refunds" on public.payment_refunds for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));
create policy "Readers of an order read its chargebacks" on public.payment_chargebacks for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));
create policy "Readers of an order read its escrow history" on public.payment_history for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));

-- The escrow state a client shows (000 GET /payments/:orderId): one row per order the
-- caller may read, with the amounts still refundable and releasable.
create view public.payment_status with (security_invoker = true) as
  select p.order_id, p.status, p.currency, p.amount, p.amount_captured, p.amount_refunded, p.amount_transferred,
         p.amount_reversed, p.amount_charged_back, p.commission_rate_bps, p.commission_amount,
         greatest(p.amount_captured - p.amount_refunded - p.amount_charged_back, 0) as amount_refundable,
         p.dispute_open, p.chargeback_open, p.paid_at, p.released_at, p.updated_at
    from public.payments p;
comment on view public.payment_status is 'Escrow state per order (pending, held, released, partially_refunded, refunded, disputed); history in payment_history.';
grant select on public.payment_status to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Account erasure waits for money the platform holds in escrow on the user's orders, as buyer
-- or seller (registered in private.erasure_blockers by the payments reference data): a
-- cancelled order may still hold the buyer's money until its refund is made.

create function private.escrow_blocking_erasure(user_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select string_agg(round(h.held::numeric / power(10::numeric, c.minor_units), c.minor_units::integer) || ' ' || h.currency,
                    ' and ' order by h.currency) || ' held in escrow'
    from (select o.currency, sum(b.balance) as held
            from public.orders o
            cross join lateral (select private.ledger_balance('escrow', o.currency, o.id) as balance) b
           where (o.buyer_id = escrow_blocking_erasure.user_id or o.seller_id = escrow_blocking_erasure.user_id)
             and b.balance > 0
           group by o.currency) h
    join public.currencies c on c.code = h.currency
$$;
comment on function private.escrow_blocking_erasure(uuid) is
  'Erasure check: what escrow holds on the user''s orders, per currency in major units (''150.00 EUR held in escrow''), or null.';
grant execute on function private.escrow_blocking_erasure(uuid) to service_role;
