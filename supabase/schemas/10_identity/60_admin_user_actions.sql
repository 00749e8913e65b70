-- Identity: what staff do to another user's account through the edge functions
-- identity-admin-update-user (003 PUT /users/{id}) and identity-impersonate (004 POST
-- /admin/users/:id/impersonate). The functions act with the service role; these RPCs check
-- the acting staff member's permission, do the database's part and write the audit entry
-- with that member as the actor, in one transaction.

-- 003 PUT /users/{id}: profile fields, names and phone. E-mail and the sign-in phone live in
-- Supabase Auth (the function changes them through the Auth admin API before calling this);
-- they are named here so the one audit entry lists every field changed.
create function ops.admin_edit_user(acting_user uuid, user_id uuid, changes jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  allowed constant text[] := array['display_name', 'username', 'bio', 'first_name', 'last_name', 'phone', 'email'];
  unknown text;
  changed text[];
  result jsonb;
begin
  if acting_user is null or not private.user_has_permission(acting_user, 'users.manage') then
    raise exception 'permission denied: users.manage is required to edit users' using errcode = '42501';
  end if;
  if changes is null or jsonb_typeof(changes) <> 'object' or changes = '{}'::jsonb then
    raise exception 'changes must be a JSON object naming at least one field' using errcode = '22023';
  end if;
  select k into unknown from jsonb_object_keys(changes) k where k <> all (allowed) order by k limit 1;
  if unknown is not null then
    raise exception 'unknown field: % (fields: %)', unknown, array_to_string(allowed, ', ') using errcode = '22023';
  end if;
  if not exists (select 1 from auth.users u where u.id = admin_edit_user.user_id) then
    raise exception 'user % not found', user_id using errcode = 'PT404';
  end if;
  -- Checked here, before the function asks Auth to change them, so a taken address is a 409
  -- with nothing changed rather than a failure after the profile was written.
  if changes ? 'email' and exists (
       select 1 from auth.users u
        where lower(u.email) = lower(changes ->> 'email') and u.id <> admin_edit_user.user_id) then
    raise exception 'this e-mail address is already registered by another user' using errcode = '23505';
  end if;
  if changes ? 'phone' and changes ->> 'phone' is not null and exists (
       select 1 from auth.users u
        where u.phone = ltrim(changes ->> 'phone', '+') and u.id <> admin_edit_user.user_id) then
    raise exception 'this phone number is already registered by another user' using errcode = '23505';
  end if;

  update public.profiles p set
    display_name = case when changes ? 'display_name' then coalesce(changes ->> 'display_name', '') else p.display_name end,
    username = case when changes ? 'username' then changes ->> 'username' else p.username end,
    bio = case when changes ? 'bio' then coalesce(changes ->> 'bio', '') else p.bio end
   where p.id = admin_edit_user.user_id
     and (changes ?| array['display_name', 'username', 'bio']);
  update public.private_profiles pp set
    first_name = case when changes ? 'first_name' then coalesce(changes ->> 'first_name', '') else pp.first_name end,
    last_name = case when changes ? 'last_name' then coalesce(changes ->> 'last_name', '') else pp.last_name end,
    phone = case when changes ? 'phone' then changes ->> 'phone' else pp.phone end
   where pp.id = admin_edit_user.user_id
     and (changes ?| array['first_name', 'last_name', 'phone']);

  -- The log outlives account deletion: it records who changed which fields, not the values.
  select array_agg(k order by k) into changed from jsonb_object_keys(changes) k;
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (acting_user, acting_user::text, 'admin_edit_user', 'users', user_id::text, null,
          jsonb_build_object('fields', to_jsonb(changed)));

  select jsonb_build_object(
           'id', p.id, 'username', p.username, 'display_name', p.display_name, 'bio', p.bio,
           'first_name', pp.first_name, 'last_name', pp.last_name, 'phone', pp.phone)
    into result
    from public.profiles p join public.private_profiles pp on pp.id = p.id
   where p.id = admin_edit_user.user_id;
  return result;
end
$$;
comment on function ops.admin_edit_user(uuid, uuid, jsonb) is
  '003 PUT /users/{id}: a users.manage holder (acting_user) edits a user''s display_name, username, bio, first_name, last_name, phone; email is only recorded (Auth changes it). Refusals: 42501 without the permission, 22023 for an unknown field, 23514 for a value the columns refuse, PT404 for an unknown user, 23505 for an e-mail or phone another user has. Audited (admin_edit_user, the fields changed). Service role only.';
revoke execute on function ops.admin_edit_user(uuid, uuid, jsonb) from public;
grant execute on function ops.admin_edit_user(uuid, uuid, jsonb) to service_role;

-- 004 POST /admin/users/:id/impersonate: recorded before the function asks Auth for the
-- one-time sign-in link, so no link is ever made without its audit entry.
create function ops.record_impersonation(acting_user uuid, user_id uuid, reason text)
returns table (email text, audit_id bigint)
language plpgsql
security definer
set search_path = ''
as $$
declare
  target_email text;
  entry_id bigint;
begin
  if acting_user is null or not private.user_has_permission(acting_user, 'users.impersonate') then
    raise exception 'permission denied: users.impersonate is required to impersonate users' using errcode = '42501';
  end if;
  if reason is null or trim(reason) = '' then
    raise exception 'a reason is required to impersonate a user' using errcode = '22023';
  end if;
  if char_length(reason) > 500 then
    raise exception 'the reason must be at most 500 characters' using errcode = '22023';
  end if;
  if acting_user = user_id then
    raise exception 'you cannot impersonate yourself' using errcode = '22023';
  end if;
  select u.email into target_email from auth.users u where u.id = record_impersonation.user_id;
  if not found then
    raise exception 'user % not found', user_id using errcode = 'PT404';
  end if;
  -- An admin's session could grant itself anything: nobody signs in as one.
  if private.user_has_permission(user_id, 'roles.manage') or private.user_has_permission(user_id, 'users.impersonate') then
    raise exception 'user % is an admin (holds roles.manage or users.impersonate): admins cannot be impersonated', user_id
      using errcode = '42501';
  end if;
  if coalesce(target_email, '') = '' then
    raise exception 'user % has no e-mail address: no sign-in link can be made for them', user_id using errcode = 'PT409';
  end if;
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (acting_user, acting_user::text, 'impersonate', 'users', user_id::text, null,
          jsonb_build_object('reason', trim(reason)))
  returning id into entry_id;
  return query select target_email, entry_id;
end
$$;
comment on function ops.record_impersonation(uuid, uuid, text) is
  '004 impersonation: checks users.impersonate (42501), a reason (22023), not oneself (22023), the user exists (PT404), is no admin (holds neither roles.manage nor users.impersonate: 42501) and has an e-mail (PT409); records who, whom and why in the audit log (impersonate) and answers the e-mail to send the link to. Service role only.';
revoke execute on function ops.record_impersonation(uuid, uuid, text) from public;
grant execute on function ops.record_impersonation(uuid, uuid, text) to service_role;
