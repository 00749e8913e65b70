-- Service orders (002 POST /orders): a buyer orders a service package; the order carries the
-- package's price, currency, delivery time and revisions as a snapshot. The orders table holds
-- the service columns (50_orders.sql); this file holds the function that creates such orders.

-- 002 POST /orders: the buyer orders a package. The order starts awaiting payment (service
-- orders have no requirements step); the payments feature creates the payment intent for it.
-- Exactly one effect per request id: concurrent calls with the same id queue on an advisory
-- lock and the later ones return the first one's order (the unique index is the backstop);
-- calls without a request id each create an order (a buyer may order a package twice).
create function private.order_service_package(package_id uuid, details jsonb default '{}', request_id uuid default null)
returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  buyer uuid := auth.uid();
  pkg public.service_packages;
  svc public.services;
  o public.orders;
begin
  if buyer is null then
    raise exception 'sign in to order a service' using errcode = '42501';
  end if;
  perform private.assert_not_anonymous('order services');
  details := coalesce(details, '{}');
  if jsonb_typeof(details) <> 'object' then
    raise exception 'details must be a JSON object, not %', jsonb_typeof(details) using errcode = '22023';
  end if;
  if octet_length(details::text) > 8192 then
    raise exception 'details must be at most 8192 bytes of JSON' using errcode = '22023';
  end if;

  if request_id is not null then
    perform pg_advisory_xact_lock(hashtextextended('order_service_package:' || buyer::text || ':' || request_id::text, 0));
    select * into o from public.orders where buyer_id = buyer and client_request_id = request_id;
    if found then
      if o.package_id is distinct from order_service_package.package_id then
        raise exception 'request id % was already used for another order', request_id using errcode = '22023';
      end if;
      return o;
    end if;
  end if;

  -- Share locks: the package and its service cannot change price or visibility mid-order.
  select * into pkg from public.service_packages p where p.id = order_service_package.package_id for share;
  if not found then
    raise exception 'package % not found', package_id using errcode = 'PT404';
  end if;
  select * into svc from public.services s where s.id = pkg.service_id for share;
  if svc.provider_id = buyer then
    raise exception 'you cannot order your own service' using errcode = '42501';
  end if;
  if not svc.is_published or svc.suspended_at is not null then
    raise exception 'service % is not available for ordering', svc.id using errcode = 'PT409';
  end if;
  if not pkg.is_active then
    raise exception 'package % is no longer offered', pkg.id using errcode = 'PT409';
  end if;

  o := private.create_order('service', buyer, svc.provider_id, left(svc.title || ' — ' || pkg.name, 200),
                            pkg.price_amount, pkg.currency, pkg.delivery_days, pkg.revisions, 'awaiting_payment',
                            null, null, details);
  update public.orders set service_id = svc.id, package_id = pkg.id, client_request_id = request_id
   where id = o.id returning * into o;
  return o;
end
$$;
comment on function private.order_service_package(uuid, jsonb, uuid) is
  'The body of the client RPC public.order_service_package: security definer, in private so the API does not expose it.';
grant execute on function private.order_service_package(uuid, jsonb, uuid) to authenticated;

create function public.order_service_package(package_id uuid, details jsonb default '{}', request_id uuid default null)
returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.order_service_package(package_id, details, request_id)
$$;
comment on function public.order_service_package(uuid, jsonb, uuid) is
  '002 POST /orders: orders a package for the caller (price, currency, delivery days and revisions snapshotted), awaiting payment. Pass request_id to make retries return the same order.';
grant execute on function public.order_service_package(uuid, jsonb, uuid) to authenticated;
