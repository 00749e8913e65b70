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

-- Personal data the marketplace holds (private.personal_data: what export and deletion do).
-- Deals (orders, their events, deliveries, disputes, reviews written) are the other party's
-- record too: they stay, without the user. What only the user owns goes with them.
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.designs', 'owner_id', null, 'delete', true, '{}', 'the user''s designs'),
  ('public.design_share_links', 'owner_id', null, 'delete', true, '{token_hash}', 'links to share the user''s designs'),
  ('public.projects', 'owner_id', null, 'delete', true, '{}', 'the user''s projects'),
  ('public.project_designs', 'project_id', 't.project_id in (select p.id from public.projects p where p.owner_id = $1)',
   'delete', true, '{}', 'designs attached to the user''s projects (cascade with the project)'),
  ('public.project_requirements', 'project_id', 't.project_id in (select p.id from public.projects p where p.owner_id = $1)',
   'delete', true, '{}', 'requirements of the user''s projects (cascade with the project)'),
  ('public.bids', 'tailor_id', null, 'delete', true, '{}', 'the user''s bids'),
  ('public.services', 'provider_id', null, 'delete', true, '{suspended_by}', 'the user''s services'),
  ('public.services', 'suspended_by', null, 'anonymise', false, '{}', 'services they moderated stay, without them'),
  ('public.service_packages', 'service_id', 't.service_id in (select s.id from public.services s where s.provider_id = $1)',
   'delete', true, '{}', 'packages of the user''s services (cascade with the service)'),
  ('public.orders', 'buyer_id', null, 'anonymise', true, '{}', 'an order is the seller''s record and the books'': it stays, without the buyer'),
  ('public.orders', 'seller_id', null, 'anonymise', true, '{}', 'an order is the buyer''s record and the books'': it stays, without the seller'),
  ('public.order_events', 'actor_id', null, 'anonymise', false, '{}', 'the timeline of an order stays, without who acted'),
  ('public.order_events', 'order_id', 't.order_id in (select o.id from public.orders o where $1 in (o.buyer_id, o.seller_id))',
   'keep', true, '{actor_id}', 'the timeline of the user''s orders'),
  ('public.deliveries', 'seller_id', null, 'anonymise', true, '{}', 'delivered work is the buyer''s record: it stays, without the seller'),
  ('public.disputes', 'opened_by', null, 'anonymise', true, '{resolved_by}', 'a dispute is part of the order''s record'),
  ('public.disputes', 'resolved_by', null, 'anonymise', false, '{}', 'disputes they resolved stay, without them'),
  ('public.textures', 'owner_id', null, 'delete', true, '{}', 'the user''s textures'),
  ('public.portfolio_items', 'owner_id', null, 'delete', true, '{}', 'the user''s portfolio'),
  ('public.reviews', 'author_id', null, 'anonymise', true, '{hidden_by}', 'reviews they wrote stay on the other party''s profile, without them'),
  ('public.reviews', 'subject_id', null, 'delete', true, '{hidden_by}', 'reviews about the user go with their profile'),
  ('public.reviews', 'hidden_by', null, 'anonymise', false, '{}', 'reviews they moderated stay, without them');

-- Buckets the marketplace holds (private.user_buckets).
insert into private.user_buckets (bucket_id, folder, on_delete, exported, reason) values
  ('exports', 'user', 'delete', true, 'design exports under <user id>/'),
  ('textures', 'user', 'delete', true, 'texture images under <user id>/'),
  ('portfolio', 'user', 'delete', true, 'portfolio images under <user id>/'),
  ('deliverables', 'order', 'anonymise', true,
   'delivered files under <order id>/ are the buyer''s record: they stay, without their uploader as owner');

-- Event types the marketplace emits (private.event_types).
insert into private.event_types (event_type, domain, description) values
  ('project.closed', 'marketplace', 'A designer closed their project to bids'),
  ('bid.accepted', 'marketplace', 'A designer accepted a bid: an order was created'),
  ('bid.rejected', 'marketplace', 'A bid was rejected, by the designer or because another was accepted'),
  ('bid.withdrawn', 'marketplace', 'A tailor withdrew their bid'),
  ('order.created', 'marketplace', 'An order was created (bid accepted or package ordered)'),
  ('order.requirements_approved', 'marketplace', 'A party approved the order''s requirements'),
  ('order.requirements_changed', 'marketplace', 'The requirements changed: both approvals were withdrawn'),
  ('order.awaiting_payment', 'marketplace', 'The order waits for the buyer''s payment'),
  ('order.in_progress', 'marketplace', 'The order is paid and the work has started'),
  ('order.delivered', 'marketplace', 'The seller delivered'),
  ('order.revision_requested', 'marketplace', 'The buyer asked for a revision'),
  ('order.completed', 'marketplace', 'The order is complete (approved, auto-completed or resolved)'),
  ('order.disputed', 'marketplace', 'The buyer opened a dispute'),
  ('order.cancelled', 'marketplace', 'The order was cancelled'),
  ('dispute.resolved', 'marketplace', 'An admin resolved a dispute'),
  ('service.suspended', 'marketplace', 'A marketplace manager suspended a service'),
  ('service.reinstated', 'marketplace', 'A marketplace manager reinstated a suspended service'),
  ('review.created', 'marketplace', 'A party reviewed the other after completion');

-- What keeps an account from being erased (private.erasure_blockers, read by ops.erase_account).
insert into private.erasure_blockers (name, check_function, position, reason) values
  ('open_orders', 'private.open_orders_blocking_erasure(uuid)', 10,
   'an order neither completed nor cancelled has another party counting on it');
