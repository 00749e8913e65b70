-- The marketplace's reference data: its permissions (marketplace.manage: see every project,
-- bid and order, cancel and resolve; assets.manage: the pattern library and presets), the
-- commission rate in force (10%), the order state machine's allowed transitions, and its
-- buckets (deliverables under <order id>/, design exports, textures and portfolio images
-- under <uid>/).

insert into public.permissions (code, description) values
  ('marketplace.manage', 'See every project, bid and order; cancel orders and resolve disputes');

insert into public.role_permissions (role_id, permission)
select id, 'marketplace.manage' from public.roles where name = 'admin';

insert into public.permissions (code, description) values
  ('assets.manage', 'Edit the pattern library and garment presets');

insert into public.role_permissions (role_id, permission)
select id, 'assets.manage' from public.roles where name = 'admin';

insert into public.platform_settings (key, value) values ('commission_rate_bps', '1000');

-- The order state machine: which actor may move an order from which status to which.
insert into private.order_transitions (from_status, to_status, actor) values
  ('awaiting_requirements', 'awaiting_payment', 'system'),
  ('awaiting_requirements', 'cancelled', 'buyer'),
  ('awaiting_requirements', 'cancelled', 'seller'),
  ('awaiting_requirements', 'cancelled', 'admin'),
  ('awaiting_payment', 'in_progress', 'system'),
  ('awaiting_payment', 'cancelled', 'buyer'),
  ('awaiting_payment', 'cancelled', 'seller'),
  ('awaiting_payment', 'cancelled', 'admin'),
  ('awaiting_payment', 'cancelled', 'system'),
  ('in_progress', 'delivered', 'seller'),
  ('in_progress', 'disputed', 'buyer'),
  ('in_progress', 'cancelled', 'seller'),
  ('in_progress', 'cancelled', 'admin'),
  ('delivered', 'completed', 'buyer'),
  ('delivered', 'completed', 'system'),
  ('delivered', 'revision_requested', 'buyer'),
  ('delivered', 'disputed', 'buyer'),
  ('revision_requested', 'delivered', 'seller'),
  ('revision_requested', 'disputed', 'buyer'),
  ('revision_requested', 'cancelled', 'seller'),
  ('revision_requested', 'cancelled', 'admin'),
  ('disputed', 'completed', 'admin'),
  ('disputed', 'cancelled', 'admin');

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('deliverables', 'deliverables', false, 50 * 1024 * 1024, array[
  'image/png', 'image/jpeg', 'image/webp', 'image/svg+xml', 'application/pdf', 'application/zip', 'video/mp4', 'application/json'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('exports', 'exports', false, 20 * 1024 * 1024, array['application/json', 'image/svg+xml', 'image/png'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('textures', 'textures', false, 5 * 1024 * 1024, array['image/png', 'image/jpeg', 'image/webp'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('portfolio', 'portfolio', false, 10 * 1024 * 1024, array['image/png', 'image/jpeg', 'image/webp', 'image/gif'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;
