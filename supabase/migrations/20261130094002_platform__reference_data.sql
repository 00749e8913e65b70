-- Reference data every deployment needs from the platform: the permission catalogue, the
-- system roles and what they grant, and the currencies amounts may be quoted in. Later
-- domains add their own permissions in their reference-data migrations.

insert into public.permissions (code, description) values
  ('users.read', 'See any user''s account, profile and roles'),
  ('users.manage', 'Deactivate, reactivate, ban and edit users'),
  ('users.impersonate', 'Sign in as another user through a one-time link, with a reason, audited and told to the user'),
  ('roles.manage', 'Create roles, grant permissions, assign roles'),
  ('sellers.review', 'Approve or reject seller applications'),
  ('invites.manage', 'Create and revoke invite codes'),
  ('audit.read', 'Read the audit log and the access report'),
  ('content.moderate', 'Hide or remove user content'),
  ('settings.manage', 'Change platform settings'),
  ('shop.sell', 'List products and run a shop');

insert into public.roles (name, description, is_system) values
  ('admin', 'Everything, including granting roles', true),
  ('staff', 'Customer support: read users, moderate content', true),
  ('moderator', 'Moderate content', true),
  ('seller', 'An approved seller with a shop', true);

insert into public.role_permissions (role_id, permission)
select r.id, p.code from public.roles r cross join public.permissions p where r.name = 'admin'
union all
select r.id, p from public.roles r, unnest(array['users.read', 'content.moderate', 'audit.read']) p where r.name = 'staff'
union all
select r.id, 'content.moderate' from public.roles r where r.name = 'moderator'
union all
select r.id, 'shop.sell' from public.roles r where r.name = 'seller';

insert into public.currencies (code, minor_units, max_amount, name) values
  ('USD', 2, 99999999, 'US dollar'),
  ('EUR', 2, 99999999, 'Euro'),
  ('GBP', 2, 99999999, 'Pound sterling'),
  ('CAD', 2, 99999999, 'Canadian dollar'),
  ('AUD', 2, 99999999, 'Australian dollar'),
  ('NZD', 2, 99999999, 'New Zealand dollar'),
  ('CHF', 2, 99999999, 'Swiss franc'),
  ('SEK', 2, 99999999, 'Swedish krona'),
  ('NOK', 2, 99999999, 'Norwegian krone'),
  ('DKK', 2, 99999999, 'Danish krone'),
  ('PLN', 2, 99999999, 'Polish zloty'),
  ('SGD', 2, 99999999, 'Singapore dollar'),
  ('HKD', 2, 99999999, 'Hong Kong dollar'),
  ('INR', 2, 99999999, 'Indian rupee'),
  ('MXN', 2, 99999999, 'Mexican peso'),
  ('BRL', 2, 99999999, 'Brazilian real'),
  ('JPY', 0, 99999999, 'Japanese yen'),
  ('KRW', 0, 99999999, 'South Korean won');

-- Personal data the platform holds (private.personal_data: what export and deletion do).
insert into private.personal_data (relation, user_column, on_delete, exported, omit_from_export, reason) values
  ('public.user_roles', 'user_id', 'delete', true, '{assigned_by}', 'the user''s roles go with them'),
  ('public.user_roles', 'assigned_by', 'anonymise', false, '{}', 'roles they assigned to others stay, without them'),
  ('public.audit_log', 'actor_id', 'keep', false, '{}',
   'append-only record of who changed what: kept as the platform''s legal record (GDPR art. 17(3)(b)); holds others'' data'),
  ('private.domain_events', 'actor_id', 'keep', false, '{}', 'the notifications outbox: consumed and pruned by notifications'),
  ('private.domain_events', 'recipients', 'keep', false, '{}', 'the notifications outbox: consumed and pruned by notifications');
