-- Registries every domain extends, so cross-cutting duties cover what a new domain adds:
--
--   private.personal_data  each table column that names a user, and what account export and
--                          account deletion do with it (catalogue test: every column that
--                          references a user is registered, and its foreign key does what the
--                          registry says)
--   private.user_buckets   each Storage bucket, whose objects it holds (a folder per user,
--                          per order or per message thread) and what export and deletion do with them (catalogue
--                          test: every bucket is registered)
--   private.event_types    (50_events.sql) every domain event type
--   platform_settings      (30_settings.sql) every setting, its rule and one accessor
--
-- Rows are reference data: each domain registers its own in its reference-data migration.
-- Export and deletion read the registries (private.export_my_data, the body of the client RPC
-- public.export_my_data; ops.erase_account).

create table private.personal_data (
  relation text not null constraint personal_data_relation_qualified check (relation ~ '^[a-z_]+\.[a-z_]+$'),
  user_column text not null,
  matches text not null default 'user_id' constraint personal_data_matches check (matches in ('user_id', 'email')),
  -- For rows that name the user only through another table (a payment through its order):
  -- a predicate on the row (alias t) with $1 for the user's id; rows are exported when it holds.
  reached_through text,
  on_delete text not null constraint personal_data_on_delete check (on_delete in ('delete', 'anonymise', 'keep')),
  exported boolean not null,
  -- Columns about other people that an export leaves out (GDPR art. 15(4)): who reviewed an
  -- application, who assigned a role.
  omit_from_export text[] not null default '{}',
  reason text not null constraint personal_data_reason_present check (reason <> ''),
  primary key (relation, user_column)
);
comment on table private.personal_data is
  'Every column naming a user and what export and deletion do: delete (the row goes), anonymise (the column is nulled), keep (with the reason).';
comment on column private.personal_data.user_column is
  'The column naming the user (a uuid, or an e-mail when matches = email); for reached_through rows, the column the predicate starts from.';
comment on column private.personal_data.on_delete is
  'delete or anonymise: done by the column''s foreign key (on delete cascade / set null) or, without one, by ops.erase_account; keep: kept, for the reason given.';

create table private.user_buckets (
  bucket_id text primary key references storage.buckets (id) on delete cascade,
  folder text not null constraint user_buckets_folder check (folder in ('user', 'order', 'thread')),
  on_delete text not null constraint user_buckets_on_delete check (on_delete in ('delete', 'anonymise')),
  exported boolean not null,
  reason text not null constraint user_buckets_reason_present check (reason <> '')
);
comment on table private.user_buckets is
  'Every Storage bucket: objects live under <user id>/ (folder user), <order id>/ (folder order) or <thread id>/ (folder thread). On deletion a user''s folder is emptied (delete), or their objects in shared folders (order, thread) lose their owner (anonymise).';

grant select on private.personal_data, private.user_buckets to service_role;

-- What keeps an account from being erased: each domain holding deals between users (open
-- orders, money in escrow) registers a function that says what the user still has open, so
-- ops.erase_account refuses while anything is, naming it, without this domain knowing the
-- later ones' tables.
create table private.erasure_blockers (
  name text primary key constraint erasure_blockers_name_format check (name ~ '^[a-z_]+$'),
  -- (user_id uuid) returns text: null when nothing is open, else a phrase naming only ids,
  -- statuses and numbers ('2 open orders (<id>, <id>)'), joined into a PT409 message.
  check_function regprocedure not null,
  position integer not null unique,
  reason text not null constraint erasure_blockers_reason_present check (reason <> '')
);
comment on table private.erasure_blockers is
  'Checks ops.erase_account runs before erasing: each names what the user still has open (ids and numbers only), in position order.';
grant select on private.erasure_blockers to service_role;

-- ---------------------------------------------------------------------------------------
-- Export: everything the registries say is the caller's, as one document.

create function private.personal_rows(user_id uuid, user_email text) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  entry record;
  found_rows jsonb;
  result jsonb := '{}'::jsonb;
begin
  for entry in
    select pd.relation,
           string_agg(coalesce('(' || replace(pd.reached_through, '$1', quote_literal(user_id) || '::uuid') || ')',
                               format('t.%I = %L', pd.user_column,
                                      case pd.matches when 'email' then user_email else user_id::text end)),
                      ' or ') as predicate,
           (select coalesce(array_agg(distinct c), '{}') from private.personal_data o, unnest(o.omit_from_export) c
             where o.relation = pd.relation and o.exported) as omitted
      from private.personal_data pd
     where pd.exported
     group by pd.relation
     order by pd.relation
  loop
    execute format('select coalesce(jsonb_agg(to_jsonb(t) - %L::text[]), ''[]'') from %s t where %s',
                   entry.omitted, entry.relation, entry.predicate)
       into found_rows;
    result := result || jsonb_build_object(entry.relation, found_rows);
  end loop;
  return result;
end
$$;
comment on function private.personal_rows(uuid, text) is
  'Every exported row of the user, by table, as private.personal_data describes; the one implementation behind export_my_data.';

create function private.personal_files(user_id uuid) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'bucket', o.bucket_id, 'name', o.name, 'size', (o.metadata ->> 'size')::bigint,
           'mimetype', o.metadata ->> 'mimetype', 'created_at', o.created_at)
         order by o.bucket_id, o.name), '[]')
    from storage.objects o
    join private.user_buckets b on b.bucket_id = o.bucket_id and b.exported
   where (b.folder = 'user' and o.name like user_id::text || '/%')
      or (b.folder in ('order', 'thread') and o.owner_id = user_id::text)
$$;
comment on function private.personal_files(uuid) is
  'The user''s objects in exported buckets: their own folders, and what they uploaded into shared (order and thread) folders.';

create function private.export_my_data() returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
  my_email text;
begin
  if me is null then
    raise exception 'export_my_data needs a signed-in user' using errcode = '42501';
  end if;
  select u.email into my_email from auth.users u where u.id = me;
  return jsonb_build_object('tables', private.personal_rows(me, my_email), 'files', private.personal_files(me));
end
$$;
comment on function private.export_my_data() is
  'The body of the client RPC public.export_my_data: security definer, in private so the API does not expose it.';
grant execute on function private.export_my_data() to authenticated;

create function public.export_my_data() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select private.export_my_data()
$$;
comment on function public.export_my_data() is
  'The caller''s personal data (GDPR access): every registered table''s rows naming them, and their files. The account-export function stores it with signed file URLs.';
grant execute on function public.export_my_data() to authenticated;

-- ---------------------------------------------------------------------------------------
-- Deletion: what the foreign keys cannot do. Rows and columns with a foreign key to the user
-- go with auth.users (cascade or set null, checked against the registry by the catalogue
-- test); this anonymises the columns without one, clears the user as owner of objects in
-- other people's folders, and names the folders the caller must empty through Storage.

create function private.erasure_blocker_says(check_function regprocedure, user_id uuid) returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  said text;
begin
  execute format('select %s($1)', check_function::oid::regproc) into said using user_id;
  return said;
end
$$;
comment on function private.erasure_blocker_says(regprocedure, uuid) is
  'Runs one registered erasure check (private.erasure_blockers) for the user: what it says is still open, or null.';

create function ops.erase_account(user_id uuid) returns table (bucket_id text, prefix text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  user_email text;
  entry record;
  open_items text;
begin
  select u.email into user_email from auth.users u where u.id = erase_account.user_id;
  if not found then
    raise exception 'user % not found', user_id using errcode = 'PT404';
  end if;
  -- The platform keeps an admin, who alone can grant roles. Checked here rather than by a
  -- trigger (the cascade from auth.users must always be able to remove user_roles rows);
  -- the lock makes two admins erasing at once take turns. The auth user itself is deleted
  -- afterwards through Auth's admin API, so two last admins can still both pass this check
  -- if each deletes its auth user in between: a window of one request.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('ops.erase_account: last admin'));
  if exists (select 1 from private.active_user_roles ur join public.roles r on r.id = ur.role_id
              where ur.user_id = erase_account.user_id and r.name = 'admin')
     and not exists (select 1 from private.active_user_roles ur join public.roles r on r.id = ur.role_id
                      where ur.user_id <> erase_account.user_id and r.name = 'admin') then
    raise exception 'the platform''s only admin cannot delete their account: make someone else admin first'
      using errcode = '42501';
  end if;
  -- Deals still running stay with their parties: refuse, naming what is open.
  select string_agg(open_item, ' and ' order by b.position) into open_items
    from private.erasure_blockers b,
         lateral private.erasure_blocker_says(b.check_function, erase_account.user_id) open_item
   where open_item is not null;
  if open_items is not null then
    raise exception 'account % has %: finish or cancel them first', user_id, open_items
      using errcode = 'PT409';
  end if;
  for entry in
    select pd.relation, pd.user_column, pd.matches
      from private.personal_data pd
     where pd.on_delete = 'anonymise' and pd.reached_through is null
       and not exists (
         select 1 from pg_catalog.pg_constraint c
           join pg_catalog.pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
          where c.contype = 'f' and c.conrelid = pd.relation::regclass and a.attname = pd.user_column)
  loop
    execute format('update %s set %I = null where %I::text = $1', entry.relation, entry.user_column, entry.user_column)
      using case entry.matches when 'email' then user_email else user_id::text end;
  end loop;
  update storage.objects o set owner = null, owner_id = null
    from private.user_buckets b
   where b.bucket_id = o.bucket_id and b.folder in ('order', 'thread') and b.on_delete = 'anonymise'
     and o.owner_id = user_id::text;
  return query
    select b.bucket_id, user_id::text || '/' from private.user_buckets b
     where b.folder = 'user' and b.on_delete = 'delete'
     order by b.bucket_id;
end
$$;
comment on function ops.erase_account(uuid) is
  'Account deletion''s database half, before the auth user is deleted: refuses the only admin (42501) and an account with deals still open (PT409, from private.erasure_blockers), anonymises registered columns without a foreign key, clears the user as owner of objects in order and thread folders, and returns the folders to empty. Service role only.';
grant execute on function ops.erase_account(uuid) to service_role;
