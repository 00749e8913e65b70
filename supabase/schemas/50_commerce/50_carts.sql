-- Carts (003 /cart): one per user, items of any shops. Read under RLS by their owner only;
-- changed only through the client RPCs below, which check each change against the product
-- (active, of an active shop, not the caller's own) and its availability, and answer
-- precisely why not. Availability is checked again, and stock reserved, when the cart is
-- checked out (70_checkouts.sql): a cart holds no stock (anchors §2: reserving at add-to-cart
-- lets abandoned carts hold stock; checking only at add-to-cart oversells).
--
-- revision counts the cart's changes and checkout_id is the checkout placed from its current
-- contents: a retried or double-clicked checkout finds it there, under the cart row's lock,
-- and returns the same checkout (private.checkout_cart). Any change clears it.

create table public.carts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  revision bigint not null default 0,
  checkout_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint carts_one_per_user unique (user_id)
);
comment on table public.carts is 'A user''s cart (one each), created on first use; read by its owner, changed through the cart RPCs only.';
comment on column public.carts.revision is 'Incremented by every change of the cart''s items; part of the checkout''s idempotency key.';
comment on column public.carts.checkout_id is
  'The checkout placed from the cart''s current contents (the cart was emptied by it); a retried checkout returns it. Cleared by any later change. Foreign key in 70_checkouts.sql.';

create trigger carts_touch_updated_at before update on public.carts
  for each row execute function private.touch_updated_at();

alter table public.carts enable row level security;
grant select on public.carts to authenticated;
grant all on public.carts to service_role;
create policy "Owners read their cart" on public.carts for select to authenticated
  using (user_id = (select auth.uid()));

create table public.cart_items (
  id uuid primary key default gen_random_uuid(),
  cart_id uuid not null references public.carts (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  product_id uuid not null references public.products (id) on delete cascade,
  quantity integer not null constraint cart_items_quantity_range check (quantity between 1 and 10000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint cart_items_one_line_per_product unique (cart_id, product_id)
);
comment on table public.cart_items is
  'A product and quantity in a user''s cart; user_id repeats the cart''s owner so the read policy needs no join. Written by the cart RPCs only.';

create index cart_items_user_idx on public.cart_items (user_id);
create index cart_items_product_idx on public.cart_items (product_id);

create trigger cart_items_touch_updated_at before update on public.cart_items
  for each row execute function private.touch_updated_at();

alter table public.cart_items enable row level security;
grant select on public.cart_items to authenticated;
grant all on public.cart_items to service_role;
create policy "Owners read their cart's items" on public.cart_items for select to authenticated
  using (user_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Whether a buyer may have this quantity of a product, with the precise refusal.

create function private.assert_purchasable(buyer uuid, product_id uuid, quantity integer) returns public.products
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  p public.products;
  shop_active boolean;
  left_available integer;
begin
  if quantity is null or quantity < 1 or quantity > 10000 then
    raise exception 'quantity must be a whole number from 1 to 10000, not %', coalesce(quantity::text, 'null')
      using errcode = '22023';
  end if;
  select * into p from public.products x where x.id = assert_purchasable.product_id;
  -- A draft is not public: it is answered as unknown, so drafts cannot be probed.
  if not found or p.status = 'draft' then
    raise exception 'product % not found', product_id using errcode = 'PT404';
  end if;
  if p.status <> 'active' then
    raise exception 'product % is %: only active products can be bought', p.id, p.status using errcode = 'PT409';
  end if;
  select s.is_active into shop_active from public.shops s where s.id = p.shop_id;
  if not coalesce(shop_active, false) then
    raise exception 'shop % is not selling: product % cannot be bought', p.shop_id, p.id using errcode = 'PT409';
  end if;
  if p.shop_id = buyer then
    raise exception 'product % is from your own shop: you cannot buy it', p.id using errcode = '42501';
  end if;
  -- Digital products have no inventory level: unlimited. A physical one without a level has
  -- none to sell.
  if p.kind = 'physical' then
    select l.available into left_available from public.inventory_levels l where l.product_id = p.id;
    left_available := coalesce(left_available, 0);
    if left_available < quantity then
      raise exception 'product % has only % available, % requested', p.id, left_available, quantity using errcode = 'PT409';
    end if;
  end if;
  return p;
end
$$;
comment on function private.assert_purchasable(uuid, uuid, integer) is
  'The product, if the buyer may have this quantity now: PT404 unknown or a draft, PT409 not active / shop not selling / not enough available (the reservation''s wording), 42501 their own shop, 22023 a bad quantity. Availability is a snapshot: the checkout''s reservation decides under lock.';
revoke execute on function private.assert_purchasable(uuid, uuid, integer) from public;

-- The caller's cart, created on first use, locked for update.
create function private.lock_cart(buyer uuid) returns public.carts
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.carts;
begin
  insert into public.carts (user_id) values (buyer) on conflict (user_id) do nothing;
  select * into c from public.carts x where x.user_id = buyer for update;
  return c;
end
$$;
comment on function private.lock_cart(uuid) is 'The user''s cart (created if missing), locked for update: cart changes and checkouts of one cart run one at a time.';
revoke execute on function private.lock_cart(uuid) from public;

-- Every change: a new revision, and the last checkout no longer matches the contents.
create function private.cart_changed(cart_id uuid) returns void
language sql
security definer
set search_path = ''
as $$
  update public.carts set revision = revision + 1, checkout_id = null where id = cart_id
$$;
revoke execute on function private.cart_changed(uuid) from public;

create function private.signed_in_buyer(what text) returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if auth.uid() is null then
    raise exception 'sign in to %', what using errcode = '42501';
  end if;
  perform private.assert_not_anonymous(what);
  return auth.uid();
end
$$;
comment on function private.signed_in_buyer(text) is 'The caller''s id; 42501 for anon and anonymous users (what names the action, a fixed phrase).';
revoke execute on function private.signed_in_buyer(text) from public;

-- ---------------------------------------------------------------------------------------
-- The cart RPCs.

create function private.add_cart_item(product_id uuid, quantity integer default 1) returns public.cart_items
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  c public.carts;
  item public.cart_items;
  already integer;
begin
  c := private.lock_cart(buyer);
  select x.quantity into already from public.cart_items x where x.cart_id = c.id and x.product_id = add_cart_item.product_id;
  perform private.assert_purchasable(buyer, product_id, quantity);
  if already is not null then
    perform private.assert_purchasable(buyer, product_id, already + quantity);
  end if;
  insert into public.cart_items (cart_id, user_id, product_id, quantity)
  values (c.id, buyer, add_cart_item.product_id, add_cart_item.quantity)
  on conflict on constraint cart_items_one_line_per_product do update set quantity = public.cart_items.quantity + excluded.quantity
  returning * into item;
  perform private.cart_changed(c.id);
  return item;
end
$$;
comment on function private.add_cart_item(uuid, integer) is
  'The body of the client RPC public.add_cart_item: security definer, in private so the API does not expose it.';
revoke execute on function private.add_cart_item(uuid, integer) from public;
grant execute on function private.add_cart_item(uuid, integer) to authenticated;

create function public.add_cart_item(product_id uuid, quantity integer default 1) returns public.cart_items
language sql
security invoker
set search_path = ''
as $$
  select private.add_cart_item(product_id, quantity)
$$;
comment on function public.add_cart_item(uuid, integer) is
  '003 POST /cart/items: adds a quantity of an active product to the caller''s cart (to its line if there is one), checked against what is available now.';
revoke execute on function public.add_cart_item(uuid, integer) from public;
grant execute on function public.add_cart_item(uuid, integer) to authenticated;

create function private.update_cart_item(item_id uuid, quantity integer) returns public.cart_items
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  c public.carts;
  item public.cart_items;
begin
  c := private.lock_cart(buyer);
  select * into item from public.cart_items x where x.id = item_id and x.cart_id = c.id;
  if not found then
    raise exception 'cart item % not found', item_id using errcode = 'PT404';
  end if;
  perform private.assert_purchasable(buyer, item.product_id, quantity);
  update public.cart_items set quantity = update_cart_item.quantity where id = item.id returning * into item;
  perform private.cart_changed(c.id);
  return item;
end
$$;
comment on function private.update_cart_item(uuid, integer) is
  'The body of the client RPC public.update_cart_item: security definer, in private so the API does not expose it.';
revoke execute on function private.update_cart_item(uuid, integer) from public;
grant execute on function private.update_cart_item(uuid, integer) to authenticated;

create function public.update_cart_item(item_id uuid, quantity integer) returns public.cart_items
language sql
security invoker
set search_path = ''
as $$
  select private.update_cart_item(item_id, quantity)
$$;
comment on function public.update_cart_item(uuid, integer) is
  '003 PUT /cart/items/{id}: sets the quantity of a line of the caller''s cart, checked against what is available now (remove a line with remove_cart_item).';
revoke execute on function public.update_cart_item(uuid, integer) from public;
grant execute on function public.update_cart_item(uuid, integer) to authenticated;

create function private.remove_cart_item(item_id uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  c public.carts;
begin
  c := private.lock_cart(buyer);
  delete from public.cart_items x where x.id = item_id and x.cart_id = c.id;
  if not found then
    raise exception 'cart item % not found', item_id using errcode = 'PT404';
  end if;
  perform private.cart_changed(c.id);
end
$$;
comment on function private.remove_cart_item(uuid) is
  'The body of the client RPC public.remove_cart_item: security definer, in private so the API does not expose it.';
revoke execute on function private.remove_cart_item(uuid) from public;
grant execute on function private.remove_cart_item(uuid) to authenticated;

create function public.remove_cart_item(item_id uuid) returns void
language sql
security invoker
set search_path = ''
as $$
  select private.remove_cart_item(item_id)
$$;
comment on function public.remove_cart_item(uuid) is '003 DELETE /cart/items/{id}: removes a line from the caller''s cart.';
revoke execute on function public.remove_cart_item(uuid) from public;
grant execute on function public.remove_cart_item(uuid) to authenticated;

create function private.clear_cart() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  c public.carts;
  removed integer;
begin
  c := private.lock_cart(buyer);
  delete from public.cart_items x where x.cart_id = c.id;
  get diagnostics removed = row_count;
  if removed > 0 then
    perform private.cart_changed(c.id);
  end if;
  return removed;
end
$$;
comment on function private.clear_cart() is
  'The body of the client RPC public.clear_cart: security definer, in private so the API does not expose it.';
revoke execute on function private.clear_cart() from public;
grant execute on function private.clear_cart() to authenticated;

create function public.clear_cart() returns integer
language sql
security invoker
set search_path = ''
as $$
  select private.clear_cart()
$$;
comment on function public.clear_cart() is '003 DELETE /cart: empties the caller''s cart; returns how many lines it removed.';
revoke execute on function public.clear_cart() from public;
grant execute on function public.clear_cart() to authenticated;

-- 003 GET /cart: the lines with today's prices and availability.
create function private.get_cart() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  buyer uuid := private.signed_in_buyer('use a cart');
  result jsonb;
begin
  select jsonb_build_object(
           'cart_id', c.id,
           'revision', coalesce(c.revision, 0),
           'items', coalesce((
             select jsonb_agg(jsonb_build_object(
                      'id', i.id, 'product_id', i.product_id, 'shop_id', p.shop_id, 'title', p.title, 'sku', p.sku,
                      'kind', p.kind, 'status', p.status, 'unit_price', p.price, 'currency', p.currency,
                      'quantity', i.quantity, 'line_total', p.price * i.quantity,
                      'available', case when p.kind = 'digital' then null else coalesce(l.available, 0) end,
                      'purchasable', p.status = 'active' and coalesce(s.is_active, false)
                                     and (p.kind = 'digital' or coalesce(l.available, 0) >= i.quantity))
                    order by i.created_at, i.id)
               from public.cart_items i
               join public.products p on p.id = i.product_id
               left join public.shops s on s.id = p.shop_id
               left join public.inventory_levels l on l.product_id = p.id
              where i.cart_id = c.id), '[]'::jsonb),
           'subtotals', coalesce((
             select jsonb_agg(jsonb_build_object('currency', p.currency, 'amount', sum_amount) order by p.currency)
               from (select p2.currency, sum(p2.price * i.quantity) as sum_amount
                       from public.cart_items i join public.products p2 on p2.id = i.product_id
                      where i.cart_id = c.id group by p2.currency) p), '[]'::jsonb))
    into result
    from (select buyer as user_id) me
    left join public.carts c on c.user_id = me.user_id;
  return result;
end
$$;
comment on function private.get_cart() is
  'The body of the client RPC public.get_cart: security definer, in private so the API does not expose it.';
revoke execute on function private.get_cart() from public;
grant execute on function private.get_cart() to authenticated;

create function public.get_cart() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.get_cart()
$$;
comment on function public.get_cart() is
  '003 GET /cart: the caller''s cart: { cart_id, revision, items: [{ id, product_id, shop_id, title, sku, kind, status, unit_price, currency, quantity, line_total, available, purchasable }], subtotals: [{ currency, amount }] } at today''s prices.';
revoke execute on function public.get_cart() from public;
grant execute on function public.get_cart() to authenticated;
