-- Orders (000 "Orders"): the deal between a buyer and a seller, created by accepting a bid
-- (kind project) or ordering a service package (kind service). Its status is a state
-- machine held in the database: private.order_transitions lists every allowed move and who
-- may make it, private.transition_order() is the only writer of orders.status, and every
-- move lands in the order's timeline (order_events) and the domain-event outbox.
--
--   awaiting_requirements --(both approve)--> awaiting_payment --(paid)--> in_progress
--   in_progress --(seller delivers)--> delivered --(buyer approves)--> completed
--   delivered --(buyer asks)--> revision_requested --(seller delivers)--> delivered
--   in_progress | delivered | revision_requested --(buyer)--> disputed --(admin)--> completed | cancelled
--   cancelled: either party before payment; seller or admin once paid (escrow refunds)

create table public.orders (
  id uuid primary key default gen_random_uuid(),
  kind text not null constraint orders_kind check (kind in ('project', 'service')),
  buyer_id uuid references public.profiles (id) on delete set null,
  seller_id uuid references public.profiles (id) on delete set null,
  project_id uuid references public.projects (id) on delete set null,
  bid_id uuid references public.bids (id) on delete set null,
  title text not null constraint orders_title_length check (char_length(trim(title)) between 1 and 200),
  price_amount bigint not null constraint orders_price_positive check (price_amount > 0),
  currency text not null references public.currencies (code),
  commission_rate_bps integer not null constraint orders_commission_range check (commission_rate_bps between 0 and 10000),
  duration_days integer constraint orders_duration_range check (duration_days between 1 and 365),
  revisions_allowed integer constraint orders_revisions_allowed_positive check (revisions_allowed >= 0),
  revisions_used integer not null default 0
    constraint orders_revisions_within_allowance check (revisions_used >= 0 and revisions_used <= coalesce(revisions_allowed, revisions_used)),
  status text not null default 'awaiting_requirements' constraint orders_status check (status in (
    'awaiting_requirements', 'awaiting_payment', 'in_progress', 'delivered', 'revision_requested',
    'completed', 'disputed', 'cancelled')),
  requirements_approved_by_buyer_at timestamptz,
  requirements_approved_by_seller_at timestamptz,
  thread_id uuid references public.threads (id) on delete set null,
  service_id uuid references public.services (id) on delete set null,
  package_id uuid references public.service_packages (id) on delete set null,
  client_request_id uuid,
  details jsonb not null default '{}'
    constraint orders_details_object check (jsonb_typeof(details) = 'object' and pg_column_size(details) <= 16384),
  metadata jsonb not null default '{}'
    constraint orders_metadata_object check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 16384),
  paid_at timestamptz,
  due_at timestamptz,
  delivered_at timestamptz,
  completed_at timestamptz,
  cancelled_at timestamptz,
  cancellation_reason text constraint orders_cancellation_reason_length check (char_length(cancellation_reason) <= 2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint orders_parties_distinct check (buyer_id <> seller_id),
  constraint orders_package_kind check (kind = 'service' or (service_id is null and package_id is null))
);
comment on table public.orders is
  'Deals (000 /orders, 002 /orders). Created by accept_bid() or order_service_package(); status changes only through private.transition_order().';
comment on column public.orders.price_amount is 'Price snapshot in minor units, taken from the bid or package when the order was created.';
comment on column public.orders.commission_rate_bps is 'The platform commission in force when the order was created, in basis points.';
comment on column public.orders.revisions_allowed is 'How many revisions the buyer may request; null means no limit.';
comment on column public.orders.details is 'What the buyer told the seller when ordering (service orders); set once.';
comment on column public.orders.metadata is 'Non-financial notes either party may edit (000 PATCH /orders/:id).';
comment on column public.orders.service_id is 'The service ordered (kind service); null once the service is deleted.';
comment on column public.orders.package_id is 'The package ordered (kind service); its price, delivery time and revisions were snapshotted.';
comment on column public.orders.client_request_id is
  'Idempotency key the buyer may send with order_service_package(): a retry with the same key returns the same order.';

-- One live order per project and per bid.
create unique index orders_project_unique on public.orders (project_id) where project_id is not null;
create unique index orders_bid_unique on public.orders (bid_id) where bid_id is not null;
create index orders_service_idx on public.orders (service_id);
create index orders_package_idx on public.orders (package_id);
-- A buyer's retried service order returns the first one (order_service_package's backstop).
create unique index orders_buyer_request_unique on public.orders (buyer_id, client_request_id)
  where client_request_id is not null;
create index orders_buyer_idx on public.orders (buyer_id, status, created_at desc);
create index orders_seller_idx on public.orders (seller_id, status, created_at desc);
create index orders_status_idx on public.orders (status, created_at desc);
create index orders_thread_idx on public.orders (thread_id);

-- A thread may be about an order (messaging sits below the marketplace, so the reference is
-- declared here, with its target). Who may sit in it: 95_deal_threads.sql.
alter table public.threads add constraint threads_order_id_fkey
  foreign key (order_id) references public.orders (id) on delete set null;

create trigger orders_touch_updated_at before update on public.orders
  for each row execute function private.touch_updated_at();

alter table public.orders enable row level security;
grant select on public.orders to authenticated;
grant update (metadata) on public.orders to authenticated;
grant all on public.orders to service_role;

create policy "Parties and managers read orders" on public.orders for select to authenticated
  using (buyer_id = (select auth.uid()) or seller_id = (select auth.uid()) or (select private.has_permission('marketplace.manage')));
create policy "Parties edit their orders' notes" on public.orders for update to authenticated
  using (buyer_id = (select auth.uid()) or seller_id = (select auth.uid()))
  with check (buyer_id = (select auth.uid()) or seller_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- The timeline: every transition and every party action on an order, append-only.

create table public.order_events (
  id bigint generated always as identity primary key,
  order_id uuid not null references public.orders (id) on delete cascade,
  event_type text not null constraint order_events_type check (event_type in (
    'created', 'status_changed', 'requirements_approved', 'requirements_changed', 'delivery_submitted',
    'revision_requested', 'dispute_opened', 'payment_recorded')),
  from_status text,
  to_status text,
  actor_id uuid references public.profiles (id) on delete set null,
  note text constraint order_events_note_length check (char_length(note) <= 5000),
  created_at timestamptz not null default now()
);
comment on table public.order_events is 'An order''s timeline: written by the order functions only, readable by whoever reads the order.';
create index order_events_order_idx on public.order_events (order_id, id);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index order_events_actor_idx on public.order_events (actor_id) where actor_id is not null;

alter table public.order_events enable row level security;
grant select on public.order_events to authenticated;
grant select on public.order_events to service_role;

create policy "Readers of an order read its timeline" on public.order_events for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));

-- ---------------------------------------------------------------------------------------
-- The state machine.

create table private.order_transitions (
  from_status text not null,
  to_status text not null,
  actor text not null constraint order_transitions_actor check (actor in ('buyer', 'seller', 'admin', 'system')),
  primary key (from_status, to_status, actor)
);
comment on table private.order_transitions is
  'Every allowed order status move and who may make it: a party (buyer, seller), an admin (marketplace.manage) or the system (service role: payments, schedules).';

-- Who the caller is to this order: any of buyer, seller, admin, system.
create function private.order_roles(o public.orders) returns text[]
language sql
stable
security definer
set search_path = ''
as $$
  select array_remove(array[
    case when o.buyer_id = auth.uid() then 'buyer' end,
    case when o.seller_id = auth.uid() then 'seller' end,
    case when private.has_permission('marketplace.manage') then 'admin' end,
    case when private.is_service_role() then 'system' end
  ], null)
$$;
comment on function private.order_roles(public.orders) is
  'The caller''s roles on an order. The service role acts as the system; scheduled jobs pass array[''system''] themselves.';

-- Locks an order for a change by the caller: unknown orders and orders the caller has no
-- part in are both "not found", so ids cannot be probed.
create function private.lock_order(order_id uuid) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
begin
  select * into o from public.orders where id = order_id for update;
  if not found or cardinality(private.order_roles(o)) = 0 then
    raise exception 'order % not found', order_id using errcode = 'PT404';
  end if;
  return o;
end
$$;

create function private.transition_order(
  order_id uuid, to_status text, roles text[], actor uuid default auth.uid(), note text default null
) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
  from_status text;
begin
  select * into o from public.orders where id = order_id for update;
  if not found then
    raise exception 'order % not found', order_id using errcode = 'PT404';
  end if;
  from_status := o.status;
  if not exists (select 1 from private.order_transitions t
                  where t.from_status = o.status and t.to_status = transition_order.to_status and t.actor = any(roles)) then
    if exists (select 1 from private.order_transitions t where t.from_status = o.status and t.to_status = transition_order.to_status) then
      raise exception 'order % is %: you may not move it to %', o.id, o.status, to_status using errcode = '42501';
    end if;
    raise exception 'order % is %: it cannot move to %', o.id, o.status, to_status using errcode = 'PT409';
  end if;
  -- A disputed order leaves that state only through the dispute's resolution, which marks
  -- the dispute resolved (and settles the money) before moving the order.
  if o.status = 'disputed' and exists (select 1 from public.disputes d where d.order_id = o.id and d.status = 'open') then
    raise exception 'order % is disputed: it moves only when an admin resolves the dispute', o.id using errcode = 'PT409';
  end if;

  update public.orders set
    status = to_status,
    paid_at = case when to_status = 'in_progress' and paid_at is null then now() else paid_at end,
    due_at = case when to_status = 'in_progress' and paid_at is null and duration_days is not null
                  then now() + make_interval(days => duration_days) else due_at end,
    delivered_at = case when to_status = 'delivered' then now() else delivered_at end,
    completed_at = case when to_status = 'completed' then now() else completed_at end,
    cancelled_at = case when to_status = 'cancelled' then now() else cancelled_at end,
    cancellation_reason = case when to_status = 'cancelled' then note else cancellation_reason end
  where id = o.id
  returning * into o;

  insert into public.order_events (order_id, event_type, from_status, to_status, actor_id, note)
  values (o.id, 'status_changed', from_status, to_status, actor, note);
  perform private.emit_event('order.' || to_status, 'order', o.id, array[o.buyer_id, o.seller_id],
    jsonb_build_object('from_status', from_status, 'to_status', to_status), actor);

  -- A project follows its order to the end.
  if o.project_id is not null and to_status in ('completed', 'cancelled') then
    update public.projects set status = to_status where id = o.project_id;
  end if;
  return o;
end
$$;
comment on function private.transition_order(uuid, text, text[], uuid, text) is
  'The only writer of orders.status: checks private.order_transitions for the caller''s roles, stamps times, records the timeline and the event.';

-- ---------------------------------------------------------------------------------------
-- Creating orders: one function for both kinds, so every order starts the same way.

create function private.create_order(
  kind text, buyer uuid, seller uuid, title text, price_amount bigint, currency text,
  duration_days integer, revisions_allowed integer, initial_status text,
  project uuid default null, bid uuid default null, details jsonb default '{}'
) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
  thread uuid;
begin
  perform private.assert_money(price_amount, currency, 'price');
  thread := private.open_thread(title, array[buyer, seller], project);
  insert into public.orders (kind, buyer_id, seller_id, project_id, bid_id, title, price_amount, currency,
                             commission_rate_bps, duration_days, revisions_allowed, status, thread_id, details)
  values (kind, buyer, seller, project, bid, title, price_amount, currency,
          private.commission_rate_bps(), duration_days, revisions_allowed, initial_status, thread, coalesce(details, '{}'))
  returning * into o;
  update public.threads t set order_id = o.id where t.id = thread;
  insert into public.order_events (order_id, event_type, to_status, actor_id) values (o.id, 'created', o.status, buyer);
  perform private.emit_event('order.created', 'order', o.id, array[buyer, seller],
    jsonb_build_object('kind', kind, 'price_amount', price_amount, 'currency', currency), buyer);
  return o;
end
$$;
comment on function private.create_order(text, uuid, uuid, text, bigint, text, integer, integer, text, uuid, uuid, jsonb) is
  'Creates an order with its price and commission snapshot, its message thread, timeline entry and event.';

-- ---------------------------------------------------------------------------------------
-- Bid acceptance (000 POST /bids/:bidId/accept), run by the accept-bid edge function for the
-- caller it has identified. Row locks make concurrent accepts of one project produce one
-- order; accepting the same bid again returns that order.
--
-- The owner accepts the terms they read: the caller passes the bid's amount and duration as
-- the owner saw them, and they are compared with the bid under its row lock. A tailor may
-- edit a pending bid, and an edit takes the same lock (bids_check refuses one once the bid is
-- decided), so either the edit commits first and the acceptance is refused (PT409, with the
-- bid's terms now) or the acceptance commits first and the edit is refused: the order's
-- price is always the one the owner accepted.

create function ops.accept_bid(bid_id uuid, acting_user uuid, amount bigint, duration_days integer)
returns table (order_id uuid, created boolean)
language plpgsql
security definer
set search_path = ''
as $$
declare
  bid public.bids;
  project public.projects;
  o public.orders;
  others uuid[];
begin
  if accept_bid.amount is null or accept_bid.duration_days is null then
    raise exception 'accepting a bid needs the amount and duration_days the owner accepts' using errcode = '22023';
  end if;
  select * into bid from public.bids b where b.id = accept_bid.bid_id;
  if not found then
    raise exception 'bid % not found', accept_bid.bid_id using errcode = 'PT404';
  end if;
  -- Project first, then bid: every accept locks in this order, so they queue, not deadlock.
  select * into project from public.projects p where p.id = bid.project_id for update;
  select * into bid from public.bids b where b.id = accept_bid.bid_id for update;
  if project.owner_id is distinct from acting_user then
    raise exception 'only the project''s owner may accept its bids' using errcode = '42501';
  end if;

  if bid.status = 'accepted' then
    -- A retry answers with the order, for the terms it was accepted at only.
    if (bid.amount, bid.duration_days) is distinct from (accept_bid.amount, accept_bid.duration_days) then
      raise exception 'bid % was accepted at % for % days, not % for % days (minor units of %)',
        bid.id, bid.amount, bid.duration_days, accept_bid.amount, accept_bid.duration_days, project.currency
        using errcode = 'PT409';
    end if;
    select * into o from public.orders where orders.bid_id = bid.id;
    return query select o.id, false;
    return;
  end if;
  if project.status <> 'open' then
    raise exception 'project % is %: it no longer accepts bids', project.id, project.status using errcode = 'PT409';
  end if;
  if bid.status <> 'pending' then
    raise exception 'bid % is %: only a pending bid can be accepted', bid.id, bid.status using errcode = 'PT409';
  end if;
  if (bid.amount, bid.duration_days) is distinct from (accept_bid.amount, accept_bid.duration_days) then
    raise exception 'bid % has changed: it now asks % for % days, not % for % days (minor units of %); read it again before accepting',
      bid.id, bid.amount, bid.duration_days, accept_bid.amount, accept_bid.duration_days, project.currency
      using errcode = 'PT409';
  end if;

  update public.bids set status = 'accepted', decided_at = now() where id = bid.id;
  with rejected as (
    update public.bids set status = 'rejected', decided_at = now()
     where project_id = project.id and status = 'pending' and id <> bid.id
    returning tailor_id
  )
  select coalesce(array_agg(tailor_id), '{}') into others from rejected;
  update public.projects set status = 'in_progress' where id = project.id;

  o := private.create_order('project', project.owner_id, bid.tailor_id, project.title, bid.amount, project.currency,
                            bid.duration_days, null, 'awaiting_requirements', project.id, bid.id);

  perform private.emit_event('bid.accepted', 'bid', bid.id, array[bid.tailor_id],
    jsonb_build_object('project_id', project.id, 'order_id', o.id), acting_user);
  if cardinality(others) > 0 then
    perform private.emit_event('bid.rejected', 'project', project.id, others, jsonb_build_object('reason', 'another bid was accepted'), acting_user);
  end if;
  return query select o.id, true;
end
$$;
comment on function ops.accept_bid(uuid, uuid, bigint, integer) is
  'Accepts a bid for acting_user (the project owner) at the amount and duration_days the owner accepted, refused (PT409) if the bid says otherwise now: bid accepted, others rejected, project in progress, order, thread and events, in one transaction. Service role only: the accept-bid function calls it.';
revoke execute on function ops.accept_bid(uuid, uuid, bigint, integer) from public;
grant execute on function ops.accept_bid(uuid, uuid, bigint, integer) to service_role;

-- ---------------------------------------------------------------------------------------
-- Requirements approval (000 POST /projects/:id/requirements/approve): each party approves
-- the project's requirements as they stand; when both have, the order awaits payment.

create function private.approve_requirements(order_id uuid) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
  roles text[] := private.order_roles(o);
begin
  -- State first, then party, as private.transition_order does: a wrong state is PT409 for all.
  if o.status <> 'awaiting_requirements' then
    raise exception 'order % is %: requirements are no longer open for approval', o.id, o.status using errcode = 'PT409';
  end if;
  if not (roles && array['buyer', 'seller']) then
    raise exception 'only the buyer and the seller approve requirements' using errcode = '42501';
  end if;
  update public.orders set
    requirements_approved_by_buyer_at = case when 'buyer' = any(roles) then coalesce(requirements_approved_by_buyer_at, now())
                                             else requirements_approved_by_buyer_at end,
    requirements_approved_by_seller_at = case when 'seller' = any(roles) then coalesce(requirements_approved_by_seller_at, now())
                                              else requirements_approved_by_seller_at end
  where id = o.id returning * into o;
  insert into public.order_events (order_id, event_type, actor_id) values (o.id, 'requirements_approved', auth.uid());
  perform private.emit_event('order.requirements_approved', 'order', o.id, array[o.buyer_id, o.seller_id]);
  if o.requirements_approved_by_buyer_at is not null and o.requirements_approved_by_seller_at is not null then
    o := private.transition_order(o.id, 'awaiting_payment', array['system'], auth.uid(), 'requirements approved by both parties');
  end if;
  return o;
end
$$;
comment on function private.approve_requirements(uuid) is
  'The body of the client RPC public.approve_requirements: security definer, in private so the API does not expose it.';
grant execute on function private.approve_requirements(uuid) to authenticated;

create function public.approve_requirements(order_id uuid) returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.approve_requirements(order_id)
$$;
comment on function public.approve_requirements(uuid) is
  'A party approves the requirements; the second approval moves the order to awaiting_payment.';

-- Requirements change only while a project is open or its order awaits approval; a change
-- withdraws both approvals, so each party approves what the requirements finally say.
create function private.guard_requirements_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  project uuid := coalesce(new.project_id, old.project_id);
  project_status text;
  o public.orders;
begin
  select status into project_status from public.projects where id = project;
  -- No project: it is being deleted (its owner's account with it) and the requirements go too.
  if project_status is null or project_status = 'open' then
    return coalesce(new, old);
  end if;
  select * into o from public.orders where project_id = project for update;
  if o.id is null or o.status <> 'awaiting_requirements' then
    raise exception 'the requirements of project % are settled: they change only while the project is open or awaiting approval', project
      using errcode = 'PT409';
  end if;
  update public.orders set requirements_approved_by_buyer_at = null, requirements_approved_by_seller_at = null where id = o.id;
  insert into public.order_events (order_id, event_type, actor_id) values (o.id, 'requirements_changed', auth.uid());
  perform private.emit_event('order.requirements_changed', 'order', o.id, array[o.buyer_id, o.seller_id]);
  return coalesce(new, old);
end
$$;
create trigger project_requirements_guard before insert or update or delete on public.project_requirements
  for each row execute function private.guard_requirements_change();

-- ---------------------------------------------------------------------------------------
-- Payment (awaiting_payment -> in_progress), for the payments feature only.

create function ops.record_order_payment(order_id uuid) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
begin
  select * into o from public.orders where id = order_id for update;
  if not found then
    raise exception 'order % not found', order_id using errcode = 'PT404';
  end if;
  if o.paid_at is not null then
    return o; -- a repeated confirmation changes nothing
  end if;
  insert into public.order_events (order_id, event_type, actor_id) values (o.id, 'payment_recorded', null);
  return private.transition_order(o.id, 'in_progress', array['system'], null, 'payment held in escrow');
end
$$;
comment on function ops.record_order_payment(uuid) is
  'Marks an order paid (funds held in escrow) and starts the work. Service role only; repeated calls return the order unchanged.';
revoke execute on function ops.record_order_payment(uuid) from public;
grant execute on function ops.record_order_payment(uuid) to service_role;

-- ---------------------------------------------------------------------------------------
-- Cancellation (000 POST /orders/:id/cancel), gated by private.order_transitions: either
-- party before payment; once paid, the seller (stepping back) or an admin; the buyer of a
-- paid order disputes instead.

create function private.cancel_order(order_id uuid, reason text) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
begin
  if coalesce(trim(reason), '') = '' then
    raise exception 'a cancellation needs a reason' using errcode = '22023';
  end if;
  return private.transition_order(o.id, 'cancelled', private.order_roles(o), auth.uid(), reason);
end
$$;
comment on function private.cancel_order(uuid, text) is
  'The body of the client RPC public.cancel_order: security definer, in private so the API does not expose it.';
grant execute on function private.cancel_order(uuid, text) to authenticated;

create function public.cancel_order(order_id uuid, reason text) returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.cancel_order(order_id, reason)
$$;
comment on function public.cancel_order(uuid, text) is 'Cancels an order if the caller may in its current state (see private.order_transitions).';

grant execute on function public.approve_requirements(uuid), public.cancel_order(uuid, text) to authenticated;

-- ---------------------------------------------------------------------------------------
-- Account erasure waits for the user's open orders (registered in private.erasure_blockers
-- by the marketplace reference data): an order in progress has another party counting on it.

create function private.open_orders_blocking_erasure(user_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select case when count(*) > 0 then
           count(*) || case when count(*) = 1 then ' open order (' else ' open orders (' end
           || string_agg(o.id::text, ', ' order by o.created_at, o.id) filter (where o.n <= 5)
           || case when count(*) > 5 then ', …)' else ')' end
         end
    from (select o.id, o.created_at, row_number() over (order by o.created_at, o.id) as n
            from public.orders o
           where (o.buyer_id = open_orders_blocking_erasure.user_id or o.seller_id = open_orders_blocking_erasure.user_id)
             and o.status not in ('completed', 'cancelled')) o
$$;
comment on function private.open_orders_blocking_erasure(uuid) is
  'Erasure check: the user''s orders as buyer or seller that are neither completed nor cancelled, as ''N open orders (ids)'' (at most five ids), or null.';
grant execute on function private.open_orders_blocking_erasure(uuid) to service_role;
