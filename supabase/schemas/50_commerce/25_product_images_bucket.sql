-- Product photos: the public product-images bucket (Storage serves its objects by URL to
-- anyone; no select policy lists them), objects under <shop id>/<product id>/<file>, images
-- only (no SVG), at most 5 MiB (the bucket row, in the commerce reference data). Only the
-- product's seller (shop.sell, active shop) and commerce.manage write there. The
-- product_images table orders a product's photos and is read as the product is.

-- Whether the caller may write files of the product an object name points at:
-- <shop id>/<product id>/... with the product in that shop, and the caller its selling
-- owner or a commerce manager.
create function private.can_write_product_object(object_name text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.products p
     where p.id = private.try_uuid(split_part(object_name, '/', 2))
       and p.shop_id = private.try_uuid(split_part(object_name, '/', 1))
       and split_part(object_name, '/', 3) <> ''
       and ((p.shop_id = auth.uid() and private.sells_in_active_shop()) or private.can_manage_commerce())
  )
$$;
comment on function private.can_write_product_object(text) is
  'Whether the caller may write <shop id>/<product id>/<file>: the product is that shop''s, and the caller sells in it or holds commerce.manage.';
revoke execute on function private.can_write_product_object(text) from public;
grant execute on function private.can_write_product_object(text) to authenticated, service_role;

create policy "Sellers list their product images, managers all"
  on storage.objects for select to authenticated
  using (bucket_id = 'product-images'
         and ((storage.foldername(name))[1] = (select auth.uid())::text or (select private.can_manage_commerce())));

create policy "Sellers upload images of their products"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'product-images' and private.can_write_product_object(name)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Sellers replace images of their products"
  on storage.objects for update to authenticated
  using (bucket_id = 'product-images' and private.can_write_product_object(name))
  with check (bucket_id = 'product-images' and private.can_write_product_object(name)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Sellers delete images of their products"
  on storage.objects for delete to authenticated
  using (bucket_id = 'product-images' and private.can_write_product_object(name));

-- ---------------------------------------------------------------------------------------

create table public.product_images (
  id uuid primary key default gen_random_uuid(),
  product_id uuid not null references public.products (id) on delete cascade,
  path text not null,
  position integer not null default 0 constraint product_images_position_positive check (position >= 0),
  alt_text text not null default '' constraint product_images_alt_text_length check (char_length(alt_text) <= 300),
  created_at timestamptz not null default now(),
  constraint product_images_path_key unique (path)
);
comment on table public.product_images is
  'A product''s photos in the product-images bucket, in position order (the first is the cover); read as the product is, written by its seller or commerce.manage.';
comment on column public.product_images.path is
  'Object name in product-images: <shop id>/<product id>/<file>, the product''s own folder (checked by trigger).';
create index product_images_product_idx on public.product_images (product_id, position);

create function private.check_product_image() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  shop uuid;
begin
  select p.shop_id into shop from public.products p where p.id = new.product_id;
  if not found then
    raise exception 'product % not found', new.product_id using errcode = 'PT404';
  end if;
  if new.path not like shop::text || '/' || new.product_id::text || '/_%' then
    raise exception 'an image of product % lives under %/%/ in product-images', new.product_id, shop, new.product_id
      using errcode = '22023';
  end if;
  if private.content_type_of(new.path) is null or private.content_type_of(new.path) not like 'image/%'
     or private.content_type_of(new.path) = 'image/svg+xml' then
    raise exception 'a product image is a png, jpeg, webp or gif file' using errcode = '22023';
  end if;
  return new;
end
$$;
comment on function private.check_product_image() is
  'Trigger: the path is in the product''s folder <shop id>/<product id>/ and names an image type (no SVG).';
create trigger product_images_check before insert or update on public.product_images
  for each row execute function private.check_product_image();

alter table public.product_images enable row level security;
grant select on public.product_images to anon, authenticated;
grant insert (id, product_id, path, position, alt_text), update (position, alt_text), delete on public.product_images to authenticated;
grant all on public.product_images to service_role;

-- Read as the product is: the products policies decide inside the subquery.
create policy "Anyone reads images of active products" on public.product_images for select to anon
  using (product_id in (select p.id from public.products p where p.id = product_images.product_id));
create policy "Signed-in users read images of the products they see"
  on public.product_images for select to authenticated
  using (product_id in (select p.id from public.products p where p.id = product_images.product_id));
create policy "Sellers add images to their products, managers to any"
  on public.product_images for insert to authenticated
  with check (exists (select 1 from public.products p where p.id = product_id
                       and ((p.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                            or (select private.can_manage_commerce()))));
create policy "Sellers reorder images of their products, managers any"
  on public.product_images for update to authenticated
  using (exists (select 1 from public.products p where p.id = product_id
                  and ((p.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                       or (select private.can_manage_commerce()))))
  with check (exists (select 1 from public.products p where p.id = product_id
                       and ((p.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                            or (select private.can_manage_commerce()))));
create policy "Sellers remove images of their products, managers any"
  on public.product_images for delete to authenticated
  using (exists (select 1 from public.products p where p.id = product_id
                  and ((p.shop_id = (select auth.uid()) and (select private.sells_in_active_shop()))
                       or (select private.can_manage_commerce()))));
