-- Feature flags (000 POST /v1/admin/feature-flags; issue 19): staff holding flags.manage create,
-- change, toggle and delete flags through the table API (PostgREST), audited; clients read the
-- flags that apply to them through one RPC, public.my_feature_flags() -> {"<key>": true|false},
-- and hear every change on the public Realtime topic feature-flags (event flags:changed,
-- payload {key, action}) so they fetch it again.
--
-- Whether a flag is on for a caller (private.feature_flag_on):
--   1. off when the flag is disabled;
--   2. on for a user on its allow-list (public.feature_flag_users);
--   3. off when it names roles and the caller matches none: a role of public.roles the user
--      holds now (unexpired), 'authenticated' (any signed-in user) or 'anon' (no user);
--   4. rollout_percent of users: on when the user's bucket, a stable hash of user id and flag
--      key (private.feature_flag_bucket, 0..9999), is below rollout_percent x 100. The same user
--      always gets the same answer, each flag splits users independently, and raising the
--      percentage only adds users (the first 30% stay on at 50%). A caller without a user id
--      (anon) has no bucket: on only at 100%.

create table public.feature_flags (
  key text primary key
    constraint feature_flags_key_format check (key ~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' and char_length(key) <= 64),
  description text not null default '' constraint feature_flags_description_length check (char_length(description) <= 500),
  enabled boolean not null default false,
  roles text[] not null default '{}',
  rollout_percent smallint not null default 100 constraint feature_flags_rollout_percent_range check (rollout_percent between 0 and 100),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.feature_flags is
  'Feature flags (000 /v1/admin/feature-flags): on or off, for some roles, for a stable percentage of users, and for an allow-list (feature_flag_users). flags.manage writes; clients read theirs through my_feature_flags().';
comment on column public.feature_flags.key is 'Lowercase words with underscores, dot-separated (checkout.new_flow), at most 64 characters.';
comment on column public.feature_flags.roles is
  'Roles it applies to: names of public.roles, or anon (callers without a user) and authenticated (any signed-in user). Empty: everyone.';
comment on column public.feature_flags.rollout_percent is
  'Share of matching users it is on for (0-100), by a stable hash of user id and key; anon callers only at 100.';

create table public.feature_flag_users (
  flag_key text not null references public.feature_flags (key) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  added_at timestamptz not null default now(),
  primary key (flag_key, user_id)
);
create index feature_flag_users_user_id_idx on public.feature_flag_users (user_id);
comment on table public.feature_flag_users is 'Allow-list: users an enabled flag is on for whatever their roles and bucket.';

-- The refusals of a flag write, each 22023 with a message naming what is wrong, before the
-- column checks (which stay as the backstop).
create function private.check_feature_flag() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  unknown text[];
begin
  if new.key is null or new.key !~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$' or char_length(new.key) > 64 then
    raise exception 'a flag key is lowercase letters, digits and underscores, dot-separated (checkout.new_flow), at most 64 characters'
      using errcode = '22023';
  end if;
  if new.rollout_percent is null or new.rollout_percent not between 0 and 100 then
    raise exception 'rollout_percent of flag % is 0 to 100, not %', new.key, coalesce(new.rollout_percent::text, 'null')
      using errcode = '22023';
  end if;
  if new.roles is null or array_position(new.roles, null) is not null then
    raise exception 'roles of flag % is a list of role names', new.key using errcode = '22023';
  end if;
  select coalesce(array_agg(distinct r order by r), '{}') into unknown
    from unnest(new.roles) r
   where r not in ('anon', 'authenticated') and not exists (select 1 from public.roles x where x.name = r);
  if cardinality(unknown) > 0 then
    raise exception 'unknown role for flag %: %', new.key, array_to_string(unknown, ', ')
      using errcode = '22023', hint = 'Use names of public.roles, anon or authenticated.';
  end if;
  select coalesce(array_agg(distinct r order by r), '{}') into new.roles from unnest(new.roles) r;
  new.updated_at := now();
  return new;
end
$$;
comment on function private.check_feature_flag() is
  'Before a flag is written: its key''s form, rollout_percent 0-100, and roles that exist (or anon, authenticated), 22023 each; roles sorted and distinct.';

create trigger feature_flags_check before insert or update on public.feature_flags
  for each row execute function private.check_feature_flag();
create trigger feature_flags_audit after insert or update or delete on public.feature_flags
  for each row execute function private.audit_row_change('key');
create trigger feature_flag_users_audit after insert or update or delete on public.feature_flag_users
  for each row execute function private.audit_row_change('flag_key');

-- Live: every change is broadcast on the public topic feature-flags (anyone may listen: the
-- payload names the flag and what happened, never who it is on for), in the writing
-- transaction, so Realtime delivers it once the change commits. Clients refetch
-- my_feature_flags().
create function private.broadcast_feature_flag_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  changed jsonb;
  flag text;
begin
  if tg_op = 'DELETE' then changed := to_jsonb(old); else changed := to_jsonb(new); end if;
  flag := coalesce(changed ->> 'key', changed ->> 'flag_key');
  perform realtime.send(
    jsonb_build_object('key', flag,
                       'action', case when tg_table_name = 'feature_flag_users' then 'allow_list_changed'
                                      else lower(tg_op) end),
    'flags:changed', 'feature-flags', false);
  return null;
end
$$;
comment on function private.broadcast_feature_flag_change() is
  'After a flag or its allow-list changes: broadcasts flags:changed {key, action} on the public Realtime topic feature-flags.';

create trigger feature_flags_broadcast after insert or update or delete on public.feature_flags
  for each row execute function private.broadcast_feature_flag_change();
create trigger feature_flag_users_broadcast after insert or delete on public.feature_flag_users
  for each row execute function private.broadcast_feature_flag_change();

alter table public.feature_flags enable row level security;
grant select, insert (key, description, enabled, roles, rollout_percent),
  update (description, enabled, roles, rollout_percent), delete on public.feature_flags to authenticated;
grant all on public.feature_flags to service_role;

create policy "Flag managers read flags" on public.feature_flags for select to authenticated
  using ((select private.has_permission('flags.manage')));
create policy "Flag managers create flags" on public.feature_flags for insert to authenticated
  with check ((select private.has_permission('flags.manage')));
create policy "Flag managers change flags" on public.feature_flags for update to authenticated
  using ((select private.has_permission('flags.manage'))) with check ((select private.has_permission('flags.manage')));
create policy "Flag managers delete flags" on public.feature_flags for delete to authenticated
  using ((select private.has_permission('flags.manage')));

alter table public.feature_flag_users enable row level security;
grant select, insert (flag_key, user_id), delete on public.feature_flag_users to authenticated;
grant all on public.feature_flag_users to service_role;

create policy "Flag managers read allow-lists" on public.feature_flag_users for select to authenticated
  using ((select private.has_permission('flags.manage')));
create policy "Flag managers add to allow-lists" on public.feature_flag_users for insert to authenticated
  with check ((select private.has_permission('flags.manage')));
create policy "Flag managers remove from allow-lists" on public.feature_flag_users for delete to authenticated
  using ((select private.has_permission('flags.manage')));

-- ---------------------------------------------------------------------------------------
-- Evaluation.

-- The user's bucket for a flag, 0..9999: the first 32 bits of md5(user id ':' key). md5 is
-- stable across Postgres versions and machines (hashtext is not promised to be).
create function private.feature_flag_bucket(user_id uuid, flag_key text) returns integer
language sql
immutable
set search_path = ''
as $$
  select (('x' || pg_catalog.substr(pg_catalog.md5(user_id::text || ':' || flag_key), 1, 8))::bit(32)::bigint % 10000)::integer
$$;
comment on function private.feature_flag_bucket(uuid, text) is
  'A user''s stable bucket (0-9999) for a flag: md5 of user id and key; on when below rollout_percent x 100.';
revoke execute on function private.feature_flag_bucket(uuid, text) from public;
grant execute on function private.feature_flag_bucket(uuid, text) to service_role;

create function private.feature_flag_on(flag public.feature_flags, user_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select flag.enabled and (
    (user_id is not null and exists (select 1 from public.feature_flag_users a
                                      where a.flag_key = flag.key and a.user_id = feature_flag_on.user_id))
    or (
      (cardinality(flag.roles) = 0
       or (user_id is null and 'anon' = any (flag.roles))
       or (user_id is not null and 'authenticated' = any (flag.roles))
       or (user_id is not null and exists (select 1 from private.active_user_roles ur
                                            join public.roles r on r.id = ur.role_id
                                           where ur.user_id = feature_flag_on.user_id and r.name = any (flag.roles))))
      and (flag.rollout_percent = 100
           or (user_id is not null and private.feature_flag_bucket(user_id, flag.key) < flag.rollout_percent * 100))
    ))
$$;
comment on function private.feature_flag_on(public.feature_flags, uuid) is
  'Whether a flag is on for a user (null: an anonymous caller): enabled, and on the allow-list or (matching its roles and within its rollout).';
revoke execute on function private.feature_flag_on(public.feature_flags, uuid) from public;
grant execute on function private.feature_flag_on(public.feature_flags, uuid) to service_role;

create function private.my_feature_flags() returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_object_agg(f.key, private.feature_flag_on(f, auth.uid()) order by f.key), '{}')
    from public.feature_flags f
$$;
comment on function private.my_feature_flags() is 'Body of public.my_feature_flags.';
revoke execute on function private.my_feature_flags() from public;
grant execute on function private.my_feature_flags() to anon, authenticated, service_role;

create function public.my_feature_flags() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.my_feature_flags() $$;
revoke execute on function public.my_feature_flags() from public;
grant execute on function public.my_feature_flags() to anon, authenticated, service_role;
comment on function public.my_feature_flags() is
  'Every feature flag and whether it is on for the caller, {"<key>": true|false} (anon: the flags for anonymous callers). Refetch on a flags:changed broadcast on the public Realtime topic feature-flags.';
