-- Inventory (003 inventory; issue 17): one level per physical product (on_hand, reserved,
-- available = on_hand - reserved, reorder_level). A digital product has no level: it is
-- never out of stock, and "no level row" means unlimited for digital products only (a
-- physical product gets its level, at zero, when it is created or becomes physical).
--
-- Every change of a level is a row of stock_moves (append-only), written in the same
-- statement sequence by private.move_stock, the one writer of levels, so the quantity is
-- always explainable: on_hand = the sum of on_hand_delta of its moves, reserved likewise.
-- Clients never write levels, moves or reservations: sellers and staff adjust through
-- adjust_inventory / set_inventory (a reason each), the checkout reserves, releases and
-- consumes through the private functions below, all or nothing, locking levels in product
-- id order, checking and changing availability in one statement under the row lock (anchors
-- trap 8), so available never goes negative under any concurrency.

create table public.inventory_levels (
  product_id uuid primary key references public.products (id) on delete cascade,
  on_hand integer not null default 0 constraint inventory_levels_on_hand_positive check (on_hand >= 0),
  reserved integer not null default 0 constraint inventory_levels_reserved_positive check (reserved >= 0),
  available integer generated always as (on_hand - reserved) stored,
  reorder_level integer not null default 0 constraint inventory_levels_reorder_level_positive check (reorder_level >= 0),
  updated_at timestamptz not null default now(),
  constraint inventory_levels_reserved_within_on_hand check (reserved <= on_hand)
);
comment on table public.inventory_levels is
  'Stock of a physical product (digital products have none: unlimited). Changed only through private.move_stock, each change a stock_moves row; read by the seller and commerce.manage.';
comment on column public.inventory_levels.reserved is
  'Units held for checkouts in flight (active stock_reservations); never set directly: reserve, release and consume move it.';
comment on column public.inventory_levels.reorder_level is 'At or below this available quantity the product is low on stock (list_low_stock, stock.low).';
create index inventory_levels_low_idx on public.inventory_levels (product_id) where available <= reorder_level;

create trigger inventory_levels_touch_updated_at before update on public.inventory_levels
  for each row execute function private.touch_updated_at();

create table public.stock_moves (
  id bigint generated always as identity primary key,
  product_id uuid not null references public.products (id) on delete cascade,
  kind text not null constraint stock_moves_kind check (kind in ('adjustment', 'reservation', 'release', 'sale', 'return', 'restock')),
  on_hand_delta integer not null,
  reserved_delta integer not null,
  on_hand_after integer not null,
  reserved_after integer not null,
  reason text constraint stock_moves_reason_length check (char_length(reason) <= 500),
  actor uuid references auth.users (id) on delete set null,
  reference text constraint stock_moves_reference_length check (char_length(reference) <= 200),
  created_at timestamptz not null default now(),
  constraint stock_moves_moves_something check (on_hand_delta <> 0 or reserved_delta <> 0)
);
comment on table public.stock_moves is
  'Append-only book of stock: every change of an inventory level with its kind, deltas, the level after, why, who and what for (reference: reservation:<id>, checkout:<id>, shop_order_item:<id>).';
comment on column public.stock_moves.actor is 'Who moved the stock (null for the system, or after the account was erased).';
create index stock_moves_product_idx on public.stock_moves (product_id, id);
create index stock_moves_reference_idx on public.stock_moves (reference) where reference is not null;
create index stock_moves_actor_idx on public.stock_moves (actor) where actor is not null;

-- Append-only: no update or delete, except what account erasure and product deletion do
-- through the foreign keys (actor set null, the product's moves going with it).
create function private.stock_moves_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new.actor is null and old.actor is not null
     and (new.id, new.product_id, new.kind, new.on_hand_delta, new.reserved_delta, new.on_hand_after, new.reserved_after,
          new.reason, new.reference, new.created_at)
         is not distinct from
         (old.id, old.product_id, old.kind, old.on_hand_delta, old.reserved_delta, old.on_hand_after, old.reserved_after,
          old.reason, old.reference, old.created_at) then
    return new;
  end if;
  if tg_op = 'DELETE' and not exists (select 1 from public.products p where p.id = old.product_id) then
    return old;
  end if;
  raise exception 'stock moves are append-only' using errcode = '42501';
end
$$;
comment on function private.stock_moves_append_only() is
  'Trigger: stock moves are never changed or removed (42501), but for the actor''s erasure and the deletion of their product.';
create trigger stock_moves_append_only before update or delete on public.stock_moves
  for each row execute function private.stock_moves_append_only();

create table public.stock_reservations (
  id uuid primary key default gen_random_uuid(),
  product_id uuid not null references public.products (id) on delete cascade,
  quantity integer not null constraint stock_reservations_quantity_positive check (quantity > 0),
  reference text not null constraint stock_reservations_reference_length check (char_length(reference) between 1 and 200),
  status text not null default 'active' constraint stock_reservations_status check (status in ('active', 'consumed', 'released')),
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  resolved_at timestamptz,
  constraint stock_reservations_resolved check ((status = 'active') = (resolved_at is null))
);
comment on table public.stock_reservations is
  'Units held for a checkout (reference checkout:<id>) until it is paid (consumed: a sale) or released (cancelled, failed, expired at expires_at by the checkout''s job).';
create index stock_reservations_reference_idx on public.stock_reservations (reference, product_id);
create index stock_reservations_product_idx on public.stock_reservations (product_id) where status = 'active';
create index stock_reservations_expiry_idx on public.stock_reservations (expires_at) where status = 'active';

-- ---------------------------------------------------------------------------------------
-- Read access: the seller of the product and commerce.manage. Nobody writes directly.

create function private.owns_product(product_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.products p where p.id = owns_product.product_id and p.shop_id = auth.uid())
$$;
comment on function private.owns_product(uuid) is 'Whether the caller''s shop owns the product.';
revoke execute on function private.owns_product(uuid) from public;
grant execute on function private.owns_product(uuid) to authenticated, service_role;

alter table public.inventory_levels enable row level security;
alter table public.stock_moves enable row level security;
alter table public.stock_reservations enable row level security;
grant select on public.inventory_levels, public.stock_moves, public.stock_reservations to authenticated;
grant all on public.inventory_levels, public.stock_moves, public.stock_reservations to service_role;

create policy "Sellers read their products' levels, managers all" on public.inventory_levels for select to authenticated
  using ((select private.can_manage_commerce()) or private.owns_product(product_id));
create policy "Sellers read their products' stock moves, managers all" on public.stock_moves for select to authenticated
  using ((select private.can_manage_commerce()) or private.owns_product(product_id));
create policy "Sellers read their products' reservations, managers all" on public.stock_reservations for select to authenticated
  using ((select private.can_manage_commerce()) or private.owns_product(product_id));

-- ---------------------------------------------------------------------------------------
-- The one writer of levels: applies the deltas when the result is valid (on_hand >= 0,
-- 0 <= reserved <= on_hand), records the move, and returns the level after; returns null
-- and changes nothing when it would not be (the caller raises its precise error). The
-- check and the change are one update under the row lock.

create function private.move_stock(
  product_id uuid, kind text, on_hand_delta integer, reserved_delta integer, reason text, reference text
) returns public.inventory_levels
language plpgsql
security definer
set search_path = ''
as $$
declare
  level public.inventory_levels;
begin
  update public.inventory_levels l
     set on_hand = l.on_hand + move_stock.on_hand_delta, reserved = l.reserved + move_stock.reserved_delta
   where l.product_id = move_stock.product_id
     and l.on_hand + move_stock.on_hand_delta >= 0
     and l.reserved + move_stock.reserved_delta >= 0
     and l.on_hand + move_stock.on_hand_delta >= l.reserved + move_stock.reserved_delta
  returning * into level;
  if not found then
    return null;
  end if;
  insert into public.stock_moves (product_id, kind, on_hand_delta, reserved_delta, on_hand_after, reserved_after, reason, actor, reference)
  values (move_stock.product_id, move_stock.kind, move_stock.on_hand_delta, move_stock.reserved_delta, level.on_hand, level.reserved,
          move_stock.reason, auth.uid(), move_stock.reference);
  return level;
end
$$;
comment on function private.move_stock(uuid, text, integer, integer, text, text) is
  'Applies a stock move to a level and records it; null (nothing changed) when on_hand or reserved would go negative or reserved above on_hand. The only writer of inventory_levels quantities.';
revoke execute on function private.move_stock(uuid, text, integer, integer, text, text) from public;
grant execute on function private.move_stock(uuid, text, integer, integer, text, text) to service_role;

-- Levels follow products: a physical product has one from its creation; in_stock follows
-- available; stock.low is emitted when available falls to the reorder level.
create function private.ensure_inventory_level() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.kind = 'physical' then
    insert into public.inventory_levels (product_id) values (new.id) on conflict (product_id) do nothing;
    update public.products p set in_stock = coalesce((select l.available > 0 from public.inventory_levels l where l.product_id = new.id), false)
     where p.id = new.id and p.in_stock is distinct from coalesce((select l.available > 0 from public.inventory_levels l where l.product_id = new.id), false);
  end if;
  return null;
end
$$;
comment on function private.ensure_inventory_level() is
  'Trigger: a physical product gets its inventory level (zero) and in_stock from it.';
create trigger products_ensure_inventory_level after insert or update of kind on public.products
  for each row execute function private.ensure_inventory_level();

create function private.follow_inventory_level() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  product public.products;
begin
  if (new.available > 0) is distinct from (old.available > 0) then
    update public.products p set in_stock = new.available > 0 where p.id = new.product_id;
  end if;
  if new.available <= new.reorder_level and old.available > old.reorder_level then
    select * into product from public.products p where p.id = new.product_id;
    perform private.emit_event('stock.low', 'product', new.product_id, array[product.shop_id],
                               jsonb_build_object('product_id', new.product_id, 'shop_id', product.shop_id, 'title', product.title,
                                                  'available', new.available, 'reorder_level', new.reorder_level),
                               null);
  end if;
  return null;
end
$$;
comment on function private.follow_inventory_level() is
  'Trigger: keeps products.in_stock (available > 0) and emits stock.low to the seller when available falls to the reorder level.';
create trigger inventory_levels_follow after update on public.inventory_levels
  for each row execute function private.follow_inventory_level();

-- ---------------------------------------------------------------------------------------
-- The checkout's side (service and definer callers only; the checkout helper calls these).

-- Reserves every line or none. Quantities are summed per product first (two lines of one
-- product are checked together), levels are locked in product id order (no deadlock between
-- two checkouts sharing products), and each check-and-hold is one update under the lock.
-- Digital products need no reservation. A second call with the same reference reserves
-- nothing and returns the reservations it made the first time.
create function private.reserve_stock(lines jsonb, reference text, expires_at timestamptz)
returns setof public.stock_reservations
language plpgsql
security definer
set search_path = ''
as $$
declare
  line record;
  product public.products;
  level public.inventory_levels;
  reservation public.stock_reservations;
begin
  if reference is null or char_length(reference) not between 1 and 200 then
    raise exception 'a reservation needs a reference of 1 to 200 characters' using errcode = '22023';
  end if;
  if expires_at is null or expires_at <= now() then
    raise exception 'a reservation expires in the future' using errcode = '22023';
  end if;
  if jsonb_typeof(lines) is distinct from 'array' or jsonb_array_length(lines) = 0 then
    raise exception 'lines is a non-empty array of {product_id, quantity}' using errcode = '22023';
  end if;
  if exists (select 1 from jsonb_array_elements(lines) e
              where jsonb_typeof(e) <> 'object' or private.try_uuid(e ->> 'product_id') is null
                 or jsonb_typeof(e -> 'quantity') <> 'number' or (e ->> 'quantity') !~ '^[0-9]{1,9}$'
                 or (e ->> 'quantity')::integer < 1) then
    raise exception 'each line is {product_id: uuid, quantity: a whole number >= 1}' using errcode = '22023';
  end if;

  -- One reservation per reference: a retry waits for the first and returns its result.
  perform pg_advisory_xact_lock(hashtextextended('stock_reservation:' || reference, 0));
  if exists (select 1 from public.stock_reservations r where r.reference = reserve_stock.reference) then
    return query select * from public.stock_reservations r where r.reference = reserve_stock.reference order by r.product_id;
    return;
  end if;

  for line in
    select (e ->> 'product_id')::uuid as product_id, sum((e ->> 'quantity')::integer)::integer as quantity
      from jsonb_array_elements(lines) e
     group by 1
     order by 1
  loop
    select * into product from public.products p where p.id = line.product_id;
    if not found then
      raise exception 'product % not found', line.product_id using errcode = 'PT404';
    end if;
    if product.status <> 'active' or product.shop_id = any (private.inactive_shop_ids()) then
      raise exception 'product % is not for sale', line.product_id using errcode = 'PT409';
    end if;
    if product.kind = 'digital' then
      continue;
    end if;
    insert into public.stock_reservations (product_id, quantity, reference, expires_at)
    values (line.product_id, line.quantity, reserve_stock.reference, reserve_stock.expires_at)
    returning * into reservation;
    level := private.move_stock(line.product_id, 'reservation', 0, line.quantity, 'reserved for ' || reserve_stock.reference,
                                'reservation:' || reservation.id);
    if level is null then
      raise exception 'product % has only % available, % requested', line.product_id,
        coalesce((select l.available from public.inventory_levels l where l.product_id = line.product_id), 0), line.quantity
        using errcode = 'PT409';
    end if;
    return next reservation;
  end loop;
end
$$;
comment on function private.reserve_stock(jsonb, text, timestamptz) is
  'Holds stock for a checkout: lines [{product_id, quantity}] summed per product, levels locked in product id order, all or nothing. PT409 ''product <id> has only <n> available, <m> requested''; PT409 ''product <id> is not for sale''; PT404 unknown product; 22023 bad lines. Digital products get no reservation. Idempotent per reference (returns the first call''s reservations).';
revoke execute on function private.reserve_stock(jsonb, text, timestamptz) from public;
grant execute on function private.reserve_stock(jsonb, text, timestamptz) to service_role;

-- The one loop over a reference's active reservations: each becomes released (reserved -=
-- quantity: stock back to available) or consumed (a sale: on_hand and reserved both drop),
-- with one move each, taken in product order under their row locks. Returns how many it
-- resolved: 0 on a repeat. A reservation past expires_at that no job has released yet is still
-- held, so it can be consumed (the expiry job is the checkout's).
create function private.resolve_reservations(reference text, to_status text, reason text) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  reservation public.stock_reservations;
  resolved integer := 0;
begin
  if to_status is null or to_status not in ('released', 'consumed') then
    raise exception 'a reservation is resolved as released or consumed, not %', coalesce(to_status, 'null') using errcode = '22023';
  end if;
  for reservation in
    select * from public.stock_reservations r
     where r.reference = resolve_reservations.reference and r.status = 'active'
     order by r.product_id, r.id
       for update
  loop
    update public.stock_reservations r set status = resolve_reservations.to_status, resolved_at = now() where r.id = reservation.id;
    if private.move_stock(reservation.product_id,
                          case to_status when 'released' then 'release' else 'sale' end,
                          case to_status when 'released' then 0 else -reservation.quantity end,
                          -reservation.quantity,
                          coalesce(nullif(trim(resolve_reservations.reason), ''), to_status),
                          'reservation:' || reservation.id) is null then
      raise exception 'inventory of product % holds less than reservation %', reservation.product_id, reservation.id
        using errcode = 'PT409';
    end if;
    resolved := resolved + 1;
  end loop;
  return resolved;
end
$$;
comment on function private.resolve_reservations(text, text, text) is
  'Resolves the active reservations of a reference: released (reserved -= quantity, a release move) or consumed (on_hand and reserved -= quantity, a sale move), with the reason; returns how many; 0 on a repeat. release_reservations and consume_reservations call it.';
revoke execute on function private.resolve_reservations(text, text, text) from public;
grant execute on function private.resolve_reservations(text, text, text) to service_role;

-- Active reservations of a reference become released (stock back to available).
create function private.release_reservations(reference text, reason text) returns integer
language sql
security definer
set search_path = ''
as $$
  select private.resolve_reservations(reference, 'released', coalesce(nullif(trim(reason), ''), 'released'))
$$;
comment on function private.release_reservations(text, text) is
  'Releases the active reservations of a reference (reserved -= quantity, a release move each, with the reason); returns how many; 0 on a repeat.';
revoke execute on function private.release_reservations(text, text) from public;
grant execute on function private.release_reservations(text, text) to service_role;

-- Active reservations of a reference become sales: on_hand and reserved both drop.
create function private.consume_reservations(reference text) returns integer
language sql
security definer
set search_path = ''
as $$
  select private.resolve_reservations(reference, 'consumed', 'sold')
$$;
comment on function private.consume_reservations(text) is
  'Turns the active reservations of a reference into sales (on_hand and reserved -= quantity, a sale move each); returns how many; 0 on a repeat.';
revoke execute on function private.consume_reservations(text) from public;
grant execute on function private.consume_reservations(text) to service_role;

-- A return or cancellation after a sale puts units back on hand, once per reference and
-- product. Returns 1 when it restocked, 0 on a repeat or for a digital product.
create function private.restock(product_id uuid, quantity integer, reference text) returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  if quantity is null or quantity < 1 then
    raise exception 'quantity must be at least 1, not %', coalesce(quantity::text, 'null') using errcode = '22023';
  end if;
  if reference is null or char_length(reference) not between 1 and 200 then
    raise exception 'a restock needs a reference of 1 to 200 characters' using errcode = '22023';
  end if;
  if not exists (select 1 from public.products p where p.id = restock.product_id) then
    raise exception 'product % not found', product_id using errcode = 'PT404';
  end if;
  -- The level's row lock serialises restocks of the product, so the repeat check holds.
  perform 1 from public.inventory_levels l where l.product_id = restock.product_id for update;
  if not found then
    return 0; -- digital: nothing to restock
  end if;
  if exists (select 1 from public.stock_moves m
              where m.reference = restock.reference and m.product_id = restock.product_id and m.kind = 'return') then
    return 0;
  end if;
  perform private.move_stock(restock.product_id, 'return', restock.quantity, 0, 'returned', restock.reference);
  return 1;
end
$$;
comment on function private.restock(uuid, integer, text) is
  'Puts quantity back on hand after a sale (a return move with the reference), once per reference and product; 1 when done, 0 on a repeat or for a digital product.';
revoke execute on function private.restock(uuid, integer, text) from public;
grant execute on function private.restock(uuid, integer, text) to service_role;

-- ---------------------------------------------------------------------------------------
-- The seller's and staff's side (003 inventory).

-- A level the caller may change: the selling owner's or any for commerce.manage; locked.
create function private.level_for_change(product_id uuid) returns public.inventory_levels
language plpgsql
security definer
set search_path = ''
as $$
declare
  product public.products;
  level public.inventory_levels;
begin
  select * into product from public.products p where p.id = level_for_change.product_id;
  if not found or not (product.shop_id = auth.uid() or private.can_manage_commerce() or private.is_service_role()) then
    raise exception 'product % not found', product_id using errcode = 'PT404';
  end if;
  if not (private.can_manage_commerce() or private.is_service_role() or private.sells_in_active_shop()) then
    raise exception 'permission denied: shop.sell and an active shop, or commerce.manage, are required' using errcode = '42501';
  end if;
  select * into level from public.inventory_levels l where l.product_id = level_for_change.product_id for update;
  if not found then
    raise exception 'product % is digital: it has no inventory', product_id using errcode = 'PT409';
  end if;
  return level;
end
$$;
comment on function private.level_for_change(uuid) is
  'The inventory level of a product the caller may change (its seller, commerce.manage, the service role), locked; PT404/42501/PT409 otherwise.';
revoke execute on function private.level_for_change(uuid) from public;
grant execute on function private.level_for_change(uuid) to authenticated, service_role;

create function private.adjust_inventory(product_id uuid, quantity_delta integer, reason text, kind text default 'adjustment')
returns public.inventory_levels
language plpgsql
security definer
set search_path = ''
as $$
declare
  level public.inventory_levels;
begin
  if quantity_delta is null or quantity_delta = 0 then
    raise exception 'quantity_delta is a non-zero whole number' using errcode = '22023';
  end if;
  if reason is null or char_length(trim(reason)) not between 1 and 500 then
    raise exception 'an adjustment needs a reason (1 to 500 characters)' using errcode = '22023';
  end if;
  if kind is null or kind not in ('adjustment', 'restock') then
    raise exception 'kind is adjustment or restock' using errcode = '22023';
  end if;
  if kind = 'restock' and quantity_delta < 0 then
    raise exception 'a restock adds stock: quantity_delta must be positive' using errcode = '22023';
  end if;
  level := private.level_for_change(product_id);
  if level.on_hand + quantity_delta < level.reserved then
    raise exception 'product % has % on hand and % reserved: on hand cannot go below the reserved units',
      product_id, level.on_hand, level.reserved using errcode = 'PT409';
  end if;
  return private.move_stock(product_id, kind, quantity_delta, 0, trim(reason), null);
end
$$;
comment on function private.adjust_inventory(uuid, integer, text, text) is 'Body of public.adjust_inventory.';
revoke execute on function private.adjust_inventory(uuid, integer, text, text) from public;
grant execute on function private.adjust_inventory(uuid, integer, text, text) to authenticated, service_role;

create function public.adjust_inventory(product_id uuid, quantity_delta integer, reason text, kind text default 'adjustment')
returns public.inventory_levels
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.adjust_inventory(product_id, quantity_delta, reason, kind)
$$;
comment on function public.adjust_inventory(uuid, integer, text, text) is
  'Adds (or removes, negative) units on hand with a reason (003 inventory adjustment), recorded as a stock move of kind adjustment or restock. The product''s seller or commerce.manage; PT409 when on hand would fall below the reserved units.';
revoke execute on function public.adjust_inventory(uuid, integer, text, text) from public;
grant execute on function public.adjust_inventory(uuid, integer, text, text) to authenticated, service_role;

-- 003 PUT /inventory/{id}: sets on hand (through an adjustment move of the difference) and
-- the reorder level. Reserved is never set: it is what checkouts hold, moved only by their
-- reservations, releases and sales.
create function private.set_inventory(product_id uuid, on_hand integer default null, reorder_level integer default null,
                                      reason text default null)
returns public.inventory_levels
language plpgsql
security definer
set search_path = ''
as $$
declare
  level public.inventory_levels;
begin
  if on_hand is null and reorder_level is null then
    raise exception 'set on_hand, reorder_level or both' using errcode = '22023';
  end if;
  if on_hand < 0 or reorder_level < 0 then
    raise exception 'on_hand and reorder_level are whole numbers >= 0' using errcode = '22023';
  end if;
  if on_hand is not null and (reason is null or char_length(trim(reason)) not between 1 and 500) then
    raise exception 'setting on_hand needs a reason (1 to 500 characters)' using errcode = '22023';
  end if;
  level := private.level_for_change(product_id);
  if reorder_level is not null and reorder_level <> level.reorder_level then
    update public.inventory_levels l set reorder_level = set_inventory.reorder_level
     where l.product_id = set_inventory.product_id returning * into level;
  end if;
  if on_hand is not null and on_hand <> level.on_hand then
    if on_hand < level.reserved then
      raise exception 'product % has % reserved: on hand cannot be set below it', product_id, level.reserved using errcode = 'PT409';
    end if;
    level := private.move_stock(product_id, 'adjustment', on_hand - level.on_hand, 0, trim(reason), null);
  end if;
  return level;
end
$$;
comment on function private.set_inventory(uuid, integer, integer, text) is 'Body of public.set_inventory.';
revoke execute on function private.set_inventory(uuid, integer, integer, text) from public;
grant execute on function private.set_inventory(uuid, integer, integer, text) to authenticated, service_role;

create function public.set_inventory(product_id uuid, on_hand integer default null, reorder_level integer default null,
                                     reason text default null)
returns public.inventory_levels
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.set_inventory(product_id, on_hand, reorder_level, reason)
$$;
comment on function public.set_inventory(uuid, integer, integer, text) is
  '003 PUT /inventory/{id}: sets on_hand (an adjustment move of the difference, with a reason) and/or reorder_level. Reserved is never set directly. PT409 below the reserved units.';
revoke execute on function public.set_inventory(uuid, integer, integer, text) from public;
grant execute on function public.set_inventory(uuid, integer, integer, text) to authenticated, service_role;

-- Low stock (003): levels at or below their reorder level; commerce.manage sees every shop's,
-- a seller their own.
create function private.list_low_stock() returns table (
  product_id uuid, shop_id uuid, title text, sku text, on_hand integer, reserved integer, available integer, reorder_level integer
)
language sql
stable
security definer
set search_path = ''
as $$
  select l.product_id, p.shop_id, p.title, p.sku, l.on_hand, l.reserved, l.available, l.reorder_level
    from public.inventory_levels l
    join public.products p on p.id = l.product_id
   where l.available <= l.reorder_level
     and p.status <> 'archived'
     and (private.can_manage_commerce() or private.is_service_role() or p.shop_id = auth.uid())
   order by l.available - l.reorder_level, p.title, l.product_id
$$;
comment on function private.list_low_stock() is 'Body of public.list_low_stock.';
revoke execute on function private.list_low_stock() from public;
grant execute on function private.list_low_stock() to authenticated, service_role;

create function public.list_low_stock() returns table (
  product_id uuid, shop_id uuid, title text, sku text, on_hand integer, reserved integer, available integer, reorder_level integer
)
language sql
stable
security invoker
set search_path = ''
as $$
  select * from private.list_low_stock()
$$;
comment on function public.list_low_stock() is
  '003 low-stock list: products (not archived) whose available is at or below their reorder level, lowest first; every shop''s for commerce.manage, the caller''s own otherwise.';
revoke execute on function public.list_low_stock() from public;
grant execute on function public.list_low_stock() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Erasure: a seller whose products hold stock for checkouts in flight is not erased until
-- those reservations are consumed or released (the buyers' checkouts count on them).

create function private.held_stock_blocking_erasure(user_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select count(*) || ' active stock reservations on their products (' || string_agg(distinct r.reference, ', ') || ')'
    from public.stock_reservations r
    join public.products p on p.id = r.product_id
   where p.shop_id = held_stock_blocking_erasure.user_id and r.status = 'active'
  having count(*) > 0
$$;
comment on function private.held_stock_blocking_erasure(uuid) is
  'Erasure blocker: the seller''s products hold stock for checkouts in flight (active reservations), named by reference.';
revoke execute on function private.held_stock_blocking_erasure(uuid) from public;
grant execute on function private.held_stock_blocking_erasure(uuid) to service_role;
