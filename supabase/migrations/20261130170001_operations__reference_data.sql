-- Reference data of the operations domain (issue 19): the operations.manage permission, the
-- rate limit tiers, classes and default policies, the maintenance row, the personal-data
-- registry rows, the PostgREST pre-request hook, and the counters' pruning job.

insert into public.permissions (code, description) values
  ('operations.manage', 'Manage rate limits (policies, plan tiers, overrides) and maintenance mode');

insert into public.role_permissions (role_id, permission)
select id, 'operations.manage' from public.roles where name in ('admin', 'staff');

insert into public.rate_limit_tiers (tier, unlimited, description) values
  ('anonymous', false, 'Signed-out callers, counted by client address'),
  ('standard', false, 'Signed-in users without a premium plan'),
  ('premium', false, 'Users whose entitling plan is mapped to premium (rate_limit_plan_tiers)'),
  ('trusted', true, 'Subjects an operator exempts through an override (load tests, monitoring, a partner''s server)'),
  ('staff', true, 'Holders of the staff role'),
  ('admin', true, 'Holders of the admin role');

insert into public.rate_limit_classes (class, description, enforced_by) values
  ('auth', 'Sign-ins (access tokens issued other than by a refresh)',
   'public.operations_access_token_hook (the Auth custom access token hook), per user; Auth''s own per-address limits in config.toml [auth.rate_limit]'),
  ('api_read', 'Reads through the Data API (GET and HEAD)',
   'the API gateway in front of PostgREST (issue 19 part B): PostgREST runs reads read-only, where nothing can be counted'),
  ('api_write', 'Writes through the Data API (POST, PATCH, PUT, DELETE; RPCs that write)',
   'private.check_request, PostgREST''s pre-request hook'),
  ('upload', 'Objects uploaded to Storage',
   'the restrictive insert policy "Uploads within the rate limit" on storage.objects'),
  ('function', 'Edge function requests',
   'functions/_shared/platform/limits.ts through check_function_request, called by createHandler');

-- 002: authentication 5/min, API 100/min, uploads 10/min; 004: standard 1,000/hour, premium
-- 300/min and 10,000/hour. docs/domains/operations.md says how each number was chosen.
insert into public.rate_limit_policies (tier, class, per_minute, per_hour) values
  ('anonymous', 'auth', 5, 30),
  ('anonymous', 'api_read', 100, 1000),
  ('anonymous', 'api_write', 100, 1000),
  ('anonymous', 'upload', 10, 100),
  ('anonymous', 'function', 100, 1000),
  ('standard', 'auth', 5, 30),
  ('standard', 'api_read', 100, 1000),
  ('standard', 'api_write', 100, 1000),
  ('standard', 'upload', 10, 100),
  ('standard', 'function', 100, 1000),
  ('premium', 'auth', 5, 30),
  ('premium', 'api_read', 300, 10000),
  ('premium', 'api_write', 300, 10000),
  ('premium', 'upload', 30, 1000),
  ('premium', 'function', 300, 10000);

insert into public.maintenance_mode (id, enabled) values (true, false);

insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.rate_limit_overrides', 'user_id', null, 'delete', false, '{}', 'an operator''s setting about the user; goes with the account'),
  ('public.rate_limit_overrides', 'set_by', null, 'anonymise', false, '{}', 'overrides a staff member set stay, without them'),
  ('public.rate_limit_policies', 'updated_by', null, 'anonymise', false, '{}', 'limits a staff member set stay, without them'),
  ('public.rate_limit_plan_tiers', 'updated_by', null, 'anonymise', false, '{}', 'plan tiers a staff member set stay, without them'),
  ('public.maintenance_mode', 'updated_by', null, 'anonymise', false, '{}', 'the maintenance row a staff member changed stays, without them'),
  ('private.rate_limit_counters', 'subject', null, 'keep', false, '{}',
   'request counts of the current minute and hour by user id or address, no content; pruned every five minutes once the hour ended over two hours ago (operations-prune-rate-limit-counters), so gone within three hours of the last request');

-- PostgREST's pre-request hook: PostgREST reads pgrst.* settings of the role it connects as
-- (db-config, on by default, as on hosted Supabase) at start and on 'reload config'.
alter role authenticator set pgrst.db_pre_request = 'private.check_request';
notify pgrst, 'reload config';
