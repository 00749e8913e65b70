-- Platform baseline: what Supabase Realtime keeps in the database for Postgres Changes
-- (supabase/realtime's tenant schema: the realtime.subscription table, its filter types, and
-- apply_rls/list_changes, which read the WAL through wal2json and decide per subscriber).
-- Same names, signatures, types and owners as hosted Supabase has them, written for the
-- Docker-less stack, whose Realtime stand-in (stack/realtime/postgres-changes.ts) inserts the
-- subscriptions and polls realtime.list_changes as Supabase Realtime does. Applied only here,
-- never by `supabase db push`; our migrations must not depend on anything below.
-- 40_realtime.sql (the messages table, realtime.send, the publication) is applied before it.

-- Types ---------------------------------------------------------------------------------

create type realtime.action as enum ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'ERROR');
alter type realtime.action owner to supabase_realtime_admin;

create type realtime.equality_op as enum (
  'eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in',
  'like', 'ilike', 'is', 'match', 'imatch', 'isdistinct'
);
alter type realtime.equality_op owner to supabase_realtime_admin;
comment on type realtime.equality_op is
  'Operators of a postgres_changes filter (`column=op.value`; `in` takes `(a,b)`; `not.` negates).';

create type realtime.user_defined_filter as (
  column_name text,
  op realtime.equality_op,
  value text,
  negate boolean
);
alter type realtime.user_defined_filter owner to supabase_realtime_admin;

create type realtime.wal_column as (
  name text,
  type_name text,
  type_oid oid,
  value jsonb,
  is_pkey boolean,
  is_selectable boolean
);
alter type realtime.wal_column owner to supabase_realtime_admin;

create type realtime.wal_rls as (
  wal jsonb,
  is_rls_enabled boolean,
  subscription_ids uuid[],
  errors text[]
);
alter type realtime.wal_rls owner to supabase_realtime_admin;
comment on type realtime.wal_rls is
  'One change as a group of subscribers may see it: the payload, and which subscriptions get it.';

-- Helpers -------------------------------------------------------------------------------

create function realtime.to_regrole(role_name text) returns regrole
language sql immutable as $$ select role_name::regrole $$;
alter function realtime.to_regrole(text) owner to supabase_realtime_admin;

create function realtime."cast"(val text, type_ regtype) returns jsonb
language plpgsql immutable as $$
declare
  result jsonb;
begin
  -- bytea stays the text wal2json wrote (its hex form), not a second encoding of it.
  if type_::text = 'bytea' then
    return pg_catalog.to_jsonb(val);
  end if;
  execute pg_catalog.format('select pg_catalog.to_jsonb(%L::%s)', val, type_::text) into result;
  return result;
end
$$;
alter function realtime."cast"(text, regtype) owner to supabase_realtime_admin;
comment on function realtime."cast"(text, regtype) is
  'The JSON value of a text value read as the given type (how a change''s values reach clients).';

create function realtime.check_equality_op(
  op realtime.equality_op, type_ regtype, val_1 text, val_2 text
) returns boolean
language plpgsql immutable as $$
begin
  return realtime.check_equality_op(op, type_, val_1, val_2, false);
end
$$;
alter function realtime.check_equality_op(realtime.equality_op, regtype, text, text)
  owner to supabase_realtime_admin;

create function realtime.check_equality_op(
  op realtime.equality_op, type_ regtype, val_1 text, val_2 text, negate boolean
) returns boolean
language plpgsql stable as $$
declare
  result boolean;
  symbol text;
begin
  if op = 'isdistinct' then
    execute pg_catalog.format('select %L::%s %s %L::%s', val_1, type_::text,
      case when negate then 'is not distinct from' else 'is distinct from' end,
      val_2, type_::text) into result;
    return result;
  end if;
  if op = 'is' then
    if val_2 not in ('null', 'true', 'false', 'unknown') then
      raise exception 'invalid value for is filter: must be null, true, false, or unknown';
    end if;
    execute pg_catalog.format('select %L::%s %s %s', val_1, type_::text,
      case when negate then 'is not' else 'is' end, val_2) into result;
    return result;
  end if;
  symbol := case op
    when 'eq' then '=' when 'neq' then '!=' when 'lt' then '<' when 'lte' then '<='
    when 'gt' then '>' when 'gte' then '>=' when 'in' then '= any'
    when 'like' then 'like' when 'ilike' then 'ilike' when 'match' then '~' when 'imatch' then '~*'
  end;
  if symbol is null then
    raise exception 'unsupported equality operator: %', op::text;
  end if;
  execute pg_catalog.format('select %L::%s %s (%L::%s)', val_1, type_::text, symbol, val_2,
    case when op = 'in' then type_::text || '[]' else type_::text end) into result;
  return case when negate then not result else result end;
end
$$;
alter function realtime.check_equality_op(realtime.equality_op, regtype, text, text, boolean)
  owner to supabase_realtime_admin;
comment on function realtime.check_equality_op(realtime.equality_op, regtype, text, text, boolean) is
  'Whether val_1 op val_2 holds, both read as type_ (an array of it for `in`); negate for `not.`.';

create function realtime.is_visible_through_filters(
  columns realtime.wal_column[], filters realtime.user_defined_filter[]
) returns boolean
language sql stable as $$
  -- Every filter must hold; a filter on a column the change does not carry (a DELETE's
  -- non-key column without replica identity full) does not.
  select filters is null
    or pg_catalog.array_length(filters, 1) is null
    or coalesce(
      pg_catalog.count(c.name) = pg_catalog.count(*)
        and pg_catalog.bool_and(coalesce(realtime.check_equality_op(
          f.op, coalesce(c.type_oid::regtype, c.type_name::regtype), c.value #>> '{}', f.value,
          coalesce(f.negate, false)
        ), false)) filter (where c.name is not null),
      false
    )
  from pg_catalog.unnest(filters) f
  left join pg_catalog.unnest(columns) c on c.name = f.column_name
$$;
alter function realtime.is_visible_through_filters(realtime.wal_column[], realtime.user_defined_filter[])
  owner to supabase_realtime_admin;

create function realtime.build_prepared_statement_sql(
  prepared_statement_name text, entity regclass, columns realtime.wal_column[]
) returns text
language sql as $$
  -- "prepare <name> as select exists(select 1 from <entity> where <pk> = <value> and …)":
  -- run as a subscriber's role and claims, it says whether their policies show them the row.
  select 'prepare ' || prepared_statement_name || ' as select exists(select 1 from '
    || entity::text || ' where '
    || pg_catalog.string_agg(pg_catalog.quote_ident(c.name) || '=' || pg_catalog.quote_nullable(c.value #>> '{}'), ' and ')
    || ')'
  from pg_catalog.unnest(columns) c
  where c.is_pkey
  group by entity
$$;
alter function realtime.build_prepared_statement_sql(text, regclass, realtime.wal_column[])
  owner to supabase_realtime_admin;

create function realtime.wal2json_escape_identifier(name text) returns text
language sql immutable strict as $$
  select pg_catalog.regexp_replace(name, '([\\,.[:space:]])', '\\\1', 'g')
$$;
alter function realtime.wal2json_escape_identifier(text) owner to supabase_realtime_admin;
comment on function realtime.wal2json_escape_identifier(text) is
  'A name as wal2json''s add-tables option needs it: backslash before \, comma, dot and spaces.';

create function realtime.quote_wal2json(entity regclass) returns text
language sql immutable strict as $$
  select realtime.wal2json_escape_identifier(n.nspname::text) || '.'
    || realtime.wal2json_escape_identifier(c.relname::text)
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where c.oid = entity
$$;
alter function realtime.quote_wal2json(regclass) owner to supabase_realtime_admin;

-- Subscriptions -------------------------------------------------------------------------

create function realtime.subscription_check_filters() returns trigger
language plpgsql as $$
declare
  -- The columns the subscriber's role may select: the only ones a filter may name.
  visible text[] := coalesce((
    select pg_catalog.array_agg(a.attname order by a.attnum)
    from pg_catalog.pg_attribute a
    where a.attrelid = new.entity and a.attnum > 0 and not a.attisdropped
      and pg_catalog.has_column_privilege(new.claims ->> 'role', a.attrelid, a.attnum, 'SELECT')
  ), '{}');
  f realtime.user_defined_filter;
  col_type regtype;
  c text;
begin
  foreach f in array new.filters loop
    if not f.column_name = any(visible) then
      raise exception 'invalid column for filter %', f.column_name;
    end if;
    select a.atttypid::regtype into col_type
    from pg_catalog.pg_attribute a
    where a.attrelid = new.entity and a.attname = f.column_name;
    if col_type is null then
      raise exception 'failed to lookup type for column %', f.column_name;
    end if;
    if f.op = 'in' then
      if coalesce(pg_catalog.jsonb_array_length(realtime."cast"(f.value, (col_type::text || '[]')::regtype)), 0) > 100 then
        raise exception 'too many values for `in` filter. Maximum 100';
      end if;
    elsif f.op = 'is' then
      if f.value not in ('null', 'true', 'false', 'unknown') then
        raise exception 'invalid value for is filter: must be null, true, false, or unknown';
      end if;
      if f.value <> 'null' and col_type <> 'boolean'::regtype then
        raise exception 'is % filter requires a boolean column, got %', f.value, col_type::text;
      end if;
    elsif f.op in ('like', 'ilike') then
      if not exists (select 1 from pg_catalog.pg_operator where oprname = '~~' and oprleft = col_type) then
        raise exception 'operator % requires a text-compatible column type, got %', f.op::text, col_type::text;
      end if;
    elsif f.op in ('match', 'imatch') then
      if not exists (
        select 1 from pg_catalog.pg_operator
        where oprname = case when f.op = 'imatch' then '~*' else '~' end
          and oprleft = col_type and oprright = col_type and oprresult = 'boolean'::regtype
      ) then
        raise exception 'operator % requires a text-compatible column type, got %', f.op::text, col_type::text;
      end if;
      begin
        perform '' ~ f.value;
      exception when others then
        raise exception 'invalid regular expression for % filter: %', f.op::text, sqlerrm;
      end;
    else
      -- eq, neq, lt, lte, gt, gte, isdistinct: the value must read as the column's type.
      perform realtime."cast"(f.value, col_type);
    end if;
  end loop;
  foreach c in array coalesce(new.selected_columns, '{}') loop
    if not c = any(visible) then
      raise exception 'invalid column for select %', c;
    end if;
  end loop;
  -- One order, so the unique index sees the same filters given in another order as equal.
  new.filters := coalesce((
    select pg_catalog.array_agg(x order by x.column_name, x.op, x.value, x.negate)
    from pg_catalog.unnest(new.filters) x
  ), '{}');
  new.selected_columns := (select pg_catalog.array_agg(x order by x) from pg_catalog.unnest(new.selected_columns) x);
  return new;
end
$$;
alter function realtime.subscription_check_filters() owner to supabase_realtime_admin;
comment on function realtime.subscription_check_filters() is
  'Refuses a subscription whose filters name a column its role may not select or a value its type cannot read, and orders the filters.';

-- Columns in hosted Supabase's order (filters and claims_role were added last there).
create table realtime.subscription (
  id bigint generated always as identity constraint pk_subscription primary key,
  subscription_id uuid not null,
  entity regclass not null,
  claims jsonb not null,
  created_at timestamp not null default timezone('utc', now()),
  action_filter text default '*'
    constraint subscription_action_filter_check check (action_filter in ('*', 'INSERT', 'UPDATE', 'DELETE')),
  selected_columns text[],
  filters realtime.user_defined_filter[] not null default '{}',
  claims_role regrole not null generated always as (realtime.to_regrole(claims ->> 'role')) stored
);
alter table realtime.subscription owner to supabase_realtime_admin;
comment on table realtime.subscription is
  'One row per postgres_changes binding of a joined channel and table of the supabase_realtime publication it matches: its filters and the subscriber''s JWT claims, whose role and policies decide what it receives. Realtime writes and removes the rows.';
create index ix_realtime_subscription_entity on realtime.subscription (entity);
create unique index subscription_subscription_id_entity_filters_action_filter_selec
  on realtime.subscription (subscription_id, entity, filters, action_filter, coalesce(selected_columns, '{}'));
create trigger tr_check_filters before insert or update on realtime.subscription
  for each row execute function realtime.subscription_check_filters();
grant select on realtime.subscription to anon, authenticated, service_role;

-- Reading the WAL -----------------------------------------------------------------------

create function realtime.apply_rls(wal jsonb, max_record_bytes integer default (1024 * 1024))
returns setof realtime.wal_rls
language plpgsql as $$
declare
  entity_ regclass := (pg_catalog.quote_ident(wal ->> 'schema') || '.' || pg_catalog.quote_ident(wal ->> 'table'))::regclass;
  action realtime.action := case wal ->> 'action'
    when 'I' then 'INSERT' when 'U' then 'UPDATE' when 'D' then 'DELETE' else 'ERROR' end;
  is_rls_enabled boolean := (select relrowsecurity from pg_catalog.pg_class where oid = entity_);
  too_large boolean := pg_catalog.octet_length(wal::text) > max_record_bytes;
  subs realtime.subscription[] := (
    select pg_catalog.array_agg(s) from realtime.subscription s
    where s.entity = entity_ and (s.action_filter = '*' or s.action_filter = action::text)
  );
  columns realtime.wal_column[];
  old_columns realtime.wal_column[];
  working_role regrole;
  working_cols text[];
  visible uuid[];
  sub realtime.subscription;
  has_access boolean;
  output jsonb;
begin
  perform pg_catalog.set_config('role', null, true);

  -- The new row's columns and the old row's identity (its key, or every column under replica
  -- identity full), each value read as its column's type.
  select pg_catalog.array_agg((x ->> 'name', x ->> 'type', (x ->> 'typeoid')::oid,
      realtime."cast"((x -> 'value') #>> '{}', coalesce((x ->> 'typeoid')::regtype, (x ->> 'type')::regtype)),
      exists (select 1 from pg_catalog.jsonb_array_elements(wal -> 'pk') p where p ->> 'name' = x ->> 'name'),
      true)::realtime.wal_column)
    into columns from pg_catalog.jsonb_array_elements(wal -> 'columns') x;
  select pg_catalog.array_agg((x ->> 'name', x ->> 'type', (x ->> 'typeoid')::oid,
      realtime."cast"((x -> 'value') #>> '{}', coalesce((x ->> 'typeoid')::regtype, (x ->> 'type')::regtype)),
      exists (select 1 from pg_catalog.jsonb_array_elements(wal -> 'pk') p where p ->> 'name' = x ->> 'name'),
      true)::realtime.wal_column)
    into old_columns from pg_catalog.jsonb_array_elements(wal -> 'identity') x;

  for working_role in
    select r.claims_role from (select distinct s.claims_role from pg_catalog.unnest(subs) s) r
    order by r.claims_role::text
  loop
    select pg_catalog.array_agg((c.name, c.type_name, c.type_oid, c.value, c.is_pkey,
        pg_catalog.has_column_privilege(working_role, entity_, c.name, 'SELECT'))::realtime.wal_column)
      into columns from pg_catalog.unnest(columns) c;
    select pg_catalog.array_agg((c.name, c.type_name, c.type_oid, c.value, c.is_pkey,
        pg_catalog.has_column_privilege(working_role, entity_, c.name, 'SELECT'))::realtime.wal_column)
      into old_columns from pg_catalog.unnest(old_columns) c;

    if action <> 'DELETE' and not exists (select 1 from pg_catalog.unnest(columns) c where c.is_pkey)
       or action <> 'DELETE' and exists (select 1 from pg_catalog.unnest(columns) c where c.is_pkey and not c.is_selectable) then
      -- No key to look the row up by, or a key the role may not read: every subscription of
      -- the role is told so, with no data.
      for working_cols in
        select distinct s.selected_columns from pg_catalog.unnest(subs) s where s.claims_role = working_role
        order by 1
      loop
        return next (
          pg_catalog.jsonb_build_object('schema', wal ->> 'schema', 'table', wal ->> 'table', 'type', action),
          is_rls_enabled,
          (select pg_catalog.array_agg(s.subscription_id) from pg_catalog.unnest(subs) s
            where s.claims_role = working_role and s.selected_columns is not distinct from working_cols),
          case when not exists (select 1 from pg_catalog.unnest(columns) c where c.is_pkey)
            then array['Error 400: Bad Request, no primary key'] else array['Error 401: Unauthorized'] end
        )::realtime.wal_rls;
      end loop;
      continue;
    end if;

    if is_rls_enabled and action <> 'DELETE' then
      if exists (select 1 from pg_catalog.pg_prepared_statements where name = 'walrus_rls_stmt') then
        deallocate walrus_rls_stmt;
      end if;
      execute realtime.build_prepared_statement_sql('walrus_rls_stmt', entity_, columns);
    end if;

    -- Which of the role's subscriptions pass their filters and, for an insert or update
    -- under RLS, see the row as it is now with their own claims. A delete is not checked
    -- (the row is gone); its old record is cut to the key below.
    visible := '{}';
    for sub in
      select s.* from pg_catalog.unnest(subs) s
      where s.claims_role = working_role
        and (realtime.is_visible_through_filters(columns, s.filters)
          or action = 'DELETE' and realtime.is_visible_through_filters(old_columns, s.filters))
    loop
      if not is_rls_enabled or action = 'DELETE' then
        visible := visible || sub.subscription_id;
      else
        perform pg_catalog.set_config('role', pg_catalog.btrim(working_role::text, '"'), true),
          pg_catalog.set_config('request.jwt.claims', sub.claims::text, true);
        execute 'execute walrus_rls_stmt' into has_access;
        perform pg_catalog.set_config('role', null, true);
        if has_access then
          visible := visible || sub.subscription_id;
        end if;
      end if;
    end loop;
    perform pg_catalog.set_config('role', null, true);

    for working_cols in
      select distinct s.selected_columns from pg_catalog.unnest(subs) s where s.claims_role = working_role
      order by 1
    loop
      output := pg_catalog.jsonb_build_object(
        'schema', wal ->> 'schema',
        'table', wal ->> 'table',
        'type', action,
        'commit_timestamp', pg_catalog.to_char((wal ->> 'timestamp')::timestamptz at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'columns', (
          select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('name', a.attname, 'type', t.typname) order by a.attnum)
          from pg_catalog.pg_attribute a
          join pg_catalog.pg_type t on t.oid = a.atttypid
          where a.attrelid = entity_ and a.attnum > 0 and not a.attisdropped
            and pg_catalog.has_column_privilege(working_role, entity_, a.attname, 'SELECT')
            and (working_cols is null or a.attname = any(working_cols)
              or a.attnum in (select pg_catalog.unnest(conkey) from pg_catalog.pg_constraint where conrelid = entity_ and contype = 'p'))
        )
      );
      if action in ('INSERT', 'UPDATE') then
        -- An unchanged TOASTed value is missing from the new row: take it from the old one.
        output := output || pg_catalog.jsonb_build_object('record', (
          select pg_catalog.jsonb_object_agg(coalesce(c.name, o.name), case when c.name is null then o.value else c.value end)
          from pg_catalog.unnest(columns) c
          full join pg_catalog.unnest(old_columns) o on c.name = o.name
          where coalesce(c.is_selectable, o.is_selectable)
            and (working_cols is null or coalesce(c.name, o.name) = any(working_cols) or coalesce(c.is_pkey, o.is_pkey))
            and (not too_large or pg_catalog.octet_length(c.value::text) <= 64)
        ));
      end if;
      if action in ('UPDATE', 'DELETE') then
        output := output || pg_catalog.jsonb_build_object('old_record', (
          select pg_catalog.jsonb_object_agg(o.name, o.value)
          from pg_catalog.unnest(old_columns) o
          where o.is_selectable
            and (working_cols is null or o.name = any(working_cols) or o.is_pkey)
            and (not too_large or pg_catalog.octet_length(o.value::text) <= 64)
            and (action <> 'DELETE' or not is_rls_enabled or o.is_pkey)
        ));
      end if;
      return next (
        output,
        is_rls_enabled,
        coalesce((
          select pg_catalog.array_agg(s.subscription_id) from pg_catalog.unnest(subs) s
          where s.claims_role = working_role and s.selected_columns is not distinct from working_cols
            and s.subscription_id = any(visible)
        ), '{}'),
        case when too_large then array['Error 413: Payload Too Large'] else '{}' end
      )::realtime.wal_rls;
    end loop;
  end loop;
  perform pg_catalog.set_config('role', null, true);
end
$$;
alter function realtime.apply_rls(jsonb, integer) owner to supabase_realtime_admin;
comment on function realtime.apply_rls(jsonb, integer) is
  'One wal2json change as each group of subscribers (role, selected columns) may see it: columns their role cannot select dropped, inserts and updates delivered only to subscribers whose RLS policies show them the current row, deletes to every subscriber whose filters match, with the key only under RLS.';

create function realtime.list_changes(
  publication name, slot_name name, max_changes integer, max_record_bytes integer
) returns table (
  wal jsonb, is_rls_enabled boolean, subscription_ids uuid[], errors text[], slot_changes_count bigint
)
language sql
set log_min_messages to 'fatal'
as $$
  with pub as (
    select
      pg_catalog.concat_ws(',',
        case when pg_catalog.bool_or(p.pubinsert) then 'insert' end,
        case when pg_catalog.bool_or(p.pubupdate) then 'update' end,
        case when pg_catalog.bool_or(p.pubdelete) then 'delete' end) as actions,
      coalesce(pg_catalog.string_agg(
        realtime.quote_wal2json(pg_catalog.format('%I.%I', t.schemaname, t.tablename)::regclass), ','
      ) filter (where t.tablename is not null), '') as add_tables
    from pg_catalog.pg_publication p
    left join pg_catalog.pg_publication_tables t on t.pubname = p.pubname
    where p.pubname = publication
    group by p.pubname
  ),
  -- Consumes the slot once: committed transactions only, in commit order.
  changes as materialized (
    select x.data, pub.add_tables
    from pub, pg_catalog.pg_logical_slot_get_changes(
      slot_name, null, max_changes,
      'include-pk', 'true',
      'include-transaction', 'false',
      'include-timestamp', 'true',
      'include-type-oids', 'true',
      'format-version', '2',
      'actions', pub.actions,
      'add-tables', pub.add_tables
    ) x
  ),
  counted as (
    select pg_catalog.count(*)::bigint as n from changes where add_tables <> ''
  ),
  decided as (
    select r.wal, r.is_rls_enabled, r.subscription_ids, r.errors
    from changes, realtime.apply_rls(wal := changes.data::jsonb, max_record_bytes := max_record_bytes) r
    where changes.add_tables <> '' and r.subscription_ids[1] is not null
  )
  select d.wal, d.is_rls_enabled, d.subscription_ids, d.errors, counted.n from decided d, counted
  union all
  select null, null, null, null, counted.n from counted where not exists (select 1 from decided)
$$;
alter function realtime.list_changes(name, name, integer, integer) owner to supabase_realtime_admin;
comment on function realtime.list_changes(name, name, integer, integer) is
  'Takes up to max_changes committed changes to the publication''s tables from the wal2json slot and returns each as its subscribers see it (realtime.apply_rls); the last column counts what the slot gave, and a lone row of nulls says nothing was for anyone.';

grant execute on function
  realtime.to_regrole(text),
  realtime."cast"(text, regtype),
  realtime.check_equality_op(realtime.equality_op, regtype, text, text),
  realtime.check_equality_op(realtime.equality_op, regtype, text, text, boolean),
  realtime.is_visible_through_filters(realtime.wal_column[], realtime.user_defined_filter[]),
  realtime.build_prepared_statement_sql(text, regclass, realtime.wal_column[]),
  realtime.quote_wal2json(regclass),
  realtime.subscription_check_filters(),
  realtime.apply_rls(jsonb, integer)
to anon, authenticated, service_role;
