-- Billing's reference data: the billing.manage permission (admins and staff, as 003's staff
-- endpoints and the shop's commerce.manage), the limit kinds plans may set, the free tier,
-- the private invoices bucket, and the registries (personal data, bucket, erasure blocker).

insert into public.permissions (code, description) values
  ('billing.manage', 'Manage subscription plans, subscriptions and invoices');

insert into public.role_permissions (role_id, permission)
select id, 'billing.manage' from public.roles where name in ('admin', 'staff');

insert into public.billing_limit_kinds (key, description, enforced_by) values
  ('max_projects', 'Open and in-progress projects a user may have at once',
   'private.enforce_max_projects, a before-insert trigger on public.projects');

-- The free tier: its limits apply to every user without an entitling subscription. It ships
-- without limits (a key a plan does not list is unlimited), so existing users and the bench's
-- seeded designers keep working; staff set them with update_plan (e.g. {"max_projects": 3}).
insert into public.plans (slug, name, description, features, limits, is_free, position) values
  ('free', 'Free', 'For trying the platform', '[]', '{}', true, 0);

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('invoices', 'invoices', false, 10 * 1024 * 1024, array['application/pdf'])
on conflict (id) do update
  set public = excluded.public,
      file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

-- Personal data billing holds (private.personal_data). Invoices are the books: kept for
-- accounting and tax law (GDPR art. 17(3)(b)) and exported; subscriptions and the Stripe
-- customer link go with the account (a live subscription blocks erasure first).
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.billing_customers', 'user_id', null, 'delete', true, '{}', 'the user''s Stripe customer link'),
  ('public.subscriptions', 'user_id', null, 'delete', true, '{}', 'the user''s subscriptions (live ones block erasure)'),
  ('public.stripe_invoices', 'user_id', null, 'keep', true, '{snapshot}', 'the user''s Stripe subscription invoices: kept for accounting and tax law'),
  ('public.plans', 'created_by', null, 'anonymise', false, '{}', 'plans a staff member created stay, without them'),
  ('public.invoices', 'customer_id', null, 'keep', true, '{created_by}', 'invoices to the user: kept for accounting and tax law'),
  ('public.invoices', 'seller_id', null, 'keep', true, '{created_by}', 'invoices the seller issued: kept for accounting and tax law'),
  ('public.invoices', 'created_by', null, 'anonymise', false, '{}', 'invoices a staff member wrote stay, without them'),
  ('public.invoice_items', 'invoice_id', 't.invoice_id in (select i.id from public.invoices i where $1 in (i.customer_id, i.seller_id))',
   'keep', true, '{}', 'the lines of the user''s invoices: kept for accounting and tax law');

insert into private.user_buckets (bucket_id, folder, on_delete, exported, reason) values
  ('invoices', 'user', 'delete', true, 'invoice PDFs under <customer id>/, rendered again from the kept invoices when needed');

insert into private.erasure_blockers (name, check_function, position, reason) values
  ('live_subscriptions', 'private.subscriptions_blocking_erasure(uuid)', 60,
   'a live subscription must be cancelled in Stripe first, or it would go on charging');
