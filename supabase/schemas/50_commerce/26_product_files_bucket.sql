-- Digital goods: the private product-files bucket, <shop id>/<product id>/<file>, at most
-- 100 MiB (the bucket row, in the commerce reference data). The product's seller (shop.sell,
-- active shop) and commerce.manage write and read there; nobody else reads: a buyer gets a
-- signed URL made with the service role after payment (the checkout's fulfilment).

create policy "Sellers read files of their products, managers all"
  on storage.objects for select to authenticated
  using (bucket_id = 'product-files' and private.can_write_product_object(name));

create policy "Sellers upload files of their products"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'product-files' and private.can_write_product_object(name)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Sellers replace files of their products"
  on storage.objects for update to authenticated
  using (bucket_id = 'product-files' and private.can_write_product_object(name))
  with check (bucket_id = 'product-files' and private.can_write_product_object(name)
              and private.object_content_allowed(bucket_id, name, metadata));

create policy "Sellers delete files of their products"
  on storage.objects for delete to authenticated
  using (bucket_id = 'product-files' and private.can_write_product_object(name));
