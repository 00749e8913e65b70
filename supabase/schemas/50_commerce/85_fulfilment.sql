-- Fulfilment of shop orders (issue 17, "Orders, fulfilment, after-sales"): the seller (or
-- commerce staff) marks a paid physical order shipped with its carrier and tracking, then
-- delivered. Digital items fulfil on payment: their buyer downloads the product file
-- (commerce-download, through private.can_download_product_file).

alter table public.shop_orders add column carrier text
  constraint shop_orders_carrier_length check (char_length(carrier) between 1 and 100);
alter table public.shop_orders add column tracking_number text
  constraint shop_orders_tracking_number_length check (char_length(tracking_number) between 1 and 100);
alter table public.shop_orders add column tracking_url text
  constraint shop_orders_tracking_url_format check (tracking_url ~ '^https://' and char_length(tracking_url) <= 2000);
comment on column public.shop_orders.carrier is 'Who carries the parcel, set by ship_shop_order (85_fulfilment.sql).';

-- Who acts on a shop order: 'seller' (its shop's selling owner), 'admin' (commerce.manage), or
-- refused 42501 (PT404 when the caller cannot read it at all).
create function private.shop_order_actor(o public.shop_orders) returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if private.can_manage_commerce() then
    return 'admin';
  end if;
  if o.shop_id = auth.uid() and private.sells_in_active_shop() then
    return 'seller';
  end if;
  if o.buyer_id = auth.uid() or o.shop_id = auth.uid() then
    raise exception 'only the seller of shop order % or staff may do this', o.id using errcode = '42501';
  end if;
  raise exception 'shop order % not found', o.id using errcode = 'PT404';
end
$$;
revoke execute on function private.shop_order_actor(public.shop_orders) from public;

create function private.ship_shop_order(order_id uuid, carrier text, tracking_number text, tracking_url text default null)
returns public.shop_orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.shop_orders;
  actor text;
begin
  select * into o from public.shop_orders x where x.id = ship_shop_order.order_id for update;
  if not found then
    raise exception 'shop order % not found', order_id using errcode = 'PT404';
  end if;
  actor := private.shop_order_actor(o);
  if exists (select 1 from public.shop_order_items i where i.shop_order_id = o.id and i.kind = 'physical') is false then
    raise exception 'shop order % holds only digital items: they are delivered by download', o.id using errcode = 'PT409';
  end if;
  if coalesce(btrim(carrier), '') = '' or coalesce(btrim(tracking_number), '') = '' then
    raise exception 'carrier and tracking_number are required to ship' using errcode = '22023';
  end if;
  if o.status <> 'paid' then
    raise exception 'shop order % is %: only a paid order can be shipped', o.id, o.status using errcode = 'PT409';
  end if;
  update public.shop_orders set carrier = btrim(ship_shop_order.carrier), tracking_number = btrim(ship_shop_order.tracking_number),
         tracking_url = ship_shop_order.tracking_url
   where id = o.id;
  perform private.transition_shop_order(o.id, 'shipped', actor);
  select * into o from public.shop_orders x where x.id = ship_shop_order.order_id;
  return o;
end
$$;
revoke execute on function private.ship_shop_order(uuid, text, text, text) from public;
grant execute on function private.ship_shop_order(uuid, text, text, text) to authenticated;

create function public.ship_shop_order(order_id uuid, carrier text, tracking_number text, tracking_url text default null)
returns public.shop_orders
language sql
security invoker
set search_path = ''
as $$
  select private.ship_shop_order(order_id, carrier, tracking_number, tracking_url)
$$;
comment on function public.ship_shop_order(uuid, text, text, text) is
  '001/003 ship an order: the seller or staff marks a paid shop order with physical items shipped, with carrier and tracking (https URL).';
revoke execute on function public.ship_shop_order(uuid, text, text, text) from public;
grant execute on function public.ship_shop_order(uuid, text, text, text) to authenticated;

create function private.deliver_shop_order(order_id uuid) returns public.shop_orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.shop_orders;
  actor text;
begin
  select * into o from public.shop_orders x where x.id = deliver_shop_order.order_id for update;
  if not found then
    raise exception 'shop order % not found', order_id using errcode = 'PT404';
  end if;
  actor := private.shop_order_actor(o);
  if o.status <> 'shipped' then
    raise exception 'shop order % is %: only a shipped order can be delivered', o.id, o.status using errcode = 'PT409';
  end if;
  perform private.transition_shop_order(o.id, 'delivered', actor);
  select * into o from public.shop_orders x where x.id = deliver_shop_order.order_id;
  return o;
end
$$;
revoke execute on function private.deliver_shop_order(uuid) from public;
grant execute on function private.deliver_shop_order(uuid) to authenticated;

create function public.deliver_shop_order(order_id uuid) returns public.shop_orders
language sql
security invoker
set search_path = ''
as $$
  select private.deliver_shop_order(order_id)
$$;
comment on function public.deliver_shop_order(uuid) is 'The seller or staff marks a shipped shop order delivered.';
revoke execute on function public.deliver_shop_order(uuid) from public;
grant execute on function public.deliver_shop_order(uuid) to authenticated;

-- Digital items: the buyer of a paid (shipped, delivered) shop order holding the product may
-- fetch its file; nobody else through this path (the seller reads it through the bucket's policy).
create function private.can_download_product_file(product_id uuid, user_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.shop_order_items i join public.shop_orders o on o.id = i.shop_order_id
     where i.product_id = can_download_product_file.product_id and i.kind = 'digital'
       and o.buyer_id = can_download_product_file.user_id and o.status in ('paid', 'shipped', 'delivered'))
$$;
comment on function private.can_download_product_file(uuid, uuid) is
  'Whether a user bought a digital product in a paid (not cancelled or refunded) shop order: commerce-download signs its file for them.';
revoke execute on function private.can_download_product_file(uuid, uuid) from public;
grant execute on function private.can_download_product_file(uuid, uuid) to service_role;
