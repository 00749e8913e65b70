-- The commerce domain's reference data: its permission (commerce.manage: every product,
-- category, coupon, inventory level and order of the shop; granted to admin and staff), its
-- buckets (product-images public, product-files private), the personal data it holds, its
-- event types and what keeps a seller from being erased.

insert into public.permissions (code, description) values
  ('commerce.manage', 'Manage the shop: every product, category, coupon, inventory level and order');

insert into public.role_permissions (role_id, permission)
select id, 'commerce.manage' from public.roles where name in ('admin', 'staff');

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('product-images', 'product-images', true, 5 * 1024 * 1024, array['image/png', 'image/jpeg', 'image/webp', 'image/gif'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('product-files', 'product-files', false, 100 * 1024 * 1024, array['application/pdf', 'application/zip', 'image/png',
  'image/jpeg', 'video/mp4', 'application/json'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

-- Buckets (private.user_buckets): both are under <shop id>/ = the seller's user id.
insert into private.user_buckets (bucket_id, folder, on_delete, exported, reason) values
  ('product-images', 'user', 'delete', true, 'photos of the seller''s products under <shop id = user id>/<product id>/'),
  ('product-files', 'user', 'delete', true, 'digital goods of the seller''s products under <shop id = user id>/<product id>/');

-- Personal data (private.personal_data). Products, shipping profiles and inventory belong to
-- the shop (shops.id = the seller's user id) and go with it (on delete cascade from shops).
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.products', 'shop_id', null, 'delete', true, '{}', 'the seller''s products (cascade with their shop)'),
  ('public.shipping_profiles', 'shop_id', null, 'delete', true, '{}', 'the seller''s shipping profiles (cascade with their shop)'),
  ('public.stock_moves', 'actor', null, 'anonymise', false, '{}',
   'stock moves they made stay in the stock book of the product, without them'),
  ('private.product_view_marks', 'user_id', null, 'delete', true, '{viewer}', 'which products the user viewed on which day (view counting)');

-- Event types (private.event_types).
insert into private.event_types (event_type, domain, description) values
  ('product.published', 'commerce', 'A product became active (first publication or again after a draft)'),
  ('stock.low', 'commerce', 'A product''s available stock fell to its reorder level');

-- What keeps a seller from being erased (private.erasure_blockers, read by ops.erase_account).
insert into private.erasure_blockers (name, check_function, position, reason) values
  ('held_stock', 'private.held_stock_blocking_erasure(uuid)', 40,
   'stock of the seller''s products is held for checkouts in flight: they are paid or released first');
