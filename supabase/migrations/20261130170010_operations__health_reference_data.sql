-- The operations domain's health and figures (supabase/schemas/80_operations/50_health.sql):
-- the permission to read them (detailed health, system stats, the API health figures),
-- granted to admin and staff.

insert into public.permissions (code, description) values
  ('operations.read', 'Read the platform''s detailed health, system stats and API health figures');

insert into public.role_permissions (role_id, permission)
select id, 'operations.read' from public.roles where name in ('admin', 'staff');
