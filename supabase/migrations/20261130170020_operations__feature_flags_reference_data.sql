-- The operations domain's feature flags (supabase/schemas/80_operations/60_feature_flags.sql):
-- the permission to create, change, toggle and delete them (admins; roles.manage may grant it
-- to another role), and the allow-list in the personal-data registry.

insert into public.permissions (code, description) values
  ('flags.manage', 'Create, change, toggle and delete feature flags and their allow-lists');

insert into public.role_permissions (role_id, permission)
select id, 'flags.manage' from public.roles where name = 'admin';

insert into private.personal_data (relation, user_column, on_delete, exported, omit_from_export, reason) values
  ('public.feature_flag_users', 'user_id', 'delete', true, '{}',
   'the flags staff turned on for the user: their allow-list entries go with them');
