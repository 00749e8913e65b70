-- The cross-cutting registries are complete: every column that names a user, every bucket
-- and every event type a function emits is registered, and what the registry says deletion
-- does is what the database does. Export and erasure read them.
begin;
select plan(26);

-- ---------------------------------------------------------------------------------------
-- Personal data: every column naming a user is registered.

select is_empty(
  $$ select c.conrelid::regclass::text || '.' || a.attname
       from pg_constraint c
       join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
      where c.contype = 'f' and c.confrelid in ('auth.users'::regclass, 'public.profiles'::regclass)
        and c.connamespace::regnamespace::text in ('public', 'private')
        and not exists (select 1 from private.personal_data pd
                         where pd.relation::regclass = c.conrelid and pd.user_column = a.attname) $$,
  'every column with a foreign key to auth.users or profiles is in private.personal_data'
);

-- Columns that name a user without a foreign key (the books, the outbox, the audit log) are
-- found by name: uuid columns called *_by, user/owner/actor/author/buyer/seller/tailor/
-- provider _id, recipients, and e-mail columns.
select is_empty(
  $$ select c.table_schema || '.' || c.table_name || '.' || c.column_name
       from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
      where c.table_schema in ('public', 'private') and t.table_type = 'BASE TABLE'
        and ((c.udt_name in ('uuid', '_uuid')
              and c.column_name ~ '(_by|^(user|owner|actor|author|buyer|seller|tailor|provider|subject)_id|^recipients)$'
              and not (c.table_name = 'domain_events' and c.column_name = 'subject_id'))
             or (c.data_type = 'text' and c.column_name ~ 'email'))
        and not exists (select 1 from private.personal_data pd
                         where pd.relation = c.table_schema || '.' || c.table_name and pd.user_column = c.column_name) $$,
  'every column that names a user by its name (uuid *_by, *_id of a person, recipients, e-mail) is in private.personal_data'
);

select is_empty(
  $$ select pd.relation || '.' || pd.user_column from private.personal_data pd
      where to_regclass(pd.relation) is null
         or not exists (select 1 from pg_attribute a where a.attrelid = to_regclass(pd.relation)
                         and a.attname = pd.user_column and not a.attisdropped) $$,
  'every registered relation and column exists'
);

-- What the registry says deletion does is what the foreign key does when auth.users goes.
select is_empty(
  $$ select pd.relation || '.' || pd.user_column || ' says ' || pd.on_delete || ', its key does ' || c.confdeltype::text
       from private.personal_data pd
       join pg_constraint c on c.conrelid = pd.relation::regclass and c.contype = 'f'
       join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey) and a.attname = pd.user_column
      where c.confrelid in ('auth.users'::regclass, 'public.profiles'::regclass)
        and not ((pd.on_delete = 'delete' and c.confdeltype = 'c') or (pd.on_delete = 'anonymise' and c.confdeltype = 'n')) $$,
  'a registered foreign key cascades where the registry says delete and sets null where it says anonymise (never blocks a deletion)'
);

select is_empty(
  $$ select pd.relation || '.' || pd.user_column from private.personal_data pd
      where pd.on_delete = 'anonymise' and pd.reached_through is null
        and not exists (select 1 from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
                         where c.contype = 'f' and c.conrelid = pd.relation::regclass and a.attname = pd.user_column)
        and exists (select 1 from pg_attribute a where a.attrelid = pd.relation::regclass and a.attname = pd.user_column and a.attnotnull) $$,
  'a column anonymised without a foreign key can be nulled'
);

select is_empty(
  $$ select relation || '.' || user_column from private.personal_data where reached_through is not null and reached_through !~ '\$1' $$,
  'every reached-through predicate names the user ($1)'
);

-- ---------------------------------------------------------------------------------------
-- Buckets and event types.

select is_empty(
  $$ select b.id from storage.buckets b where not exists (select 1 from private.user_buckets ub where ub.bucket_id = b.id) $$,
  'every Storage bucket is in private.user_buckets'
);

-- Every event type a function emits by name is registered; those built from a status are
-- registered for every status they can take.
select is_empty(
  $$ select distinct t[1]
       from pg_proc p,
            regexp_matches(p.prosrc, 'emit_event\(\s*(case\s.*?\send|''[a-z_]+\.[a-z_]+'')', 'g') m,
            regexp_matches(m[1], '''([a-z_]+\.[a-z_]+)''', 'g') t
      where p.pronamespace::regnamespace::text in ('public', 'private', 'ops')
        and not exists (select 1 from private.event_types et where et.event_type = t[1]) $$,
  'every event type emitted by name (or chosen by a case) is in private.event_types'
);
select is_empty(
  $$ select 'order.' || t.to_status from private.order_transitions t
      where not exists (select 1 from private.event_types et where et.event_type = 'order.' || t.to_status) $$,
  'every order status an order can move to has its order.<status> event type'
);
select is_empty(
  $$ select 'payment.' || s from unnest(array['pending', 'held', 'released', 'partially_refunded', 'refunded', 'disputed']) s
      where not exists (select 1 from private.event_types et where et.event_type = 'payment.' || s) $$,
  'every escrow status has its payment.<status> event type'
);
select throws_ok(
  $$ select private.emit_event('order.teleported', 'order', gen_random_uuid(), '{}') $$,
  '23503', 'insert or update on table "domain_events" violates foreign key constraint "domain_events_event_type_fkey"',
  'the outbox refuses an event type nobody registered'
);

-- Settings: every key code reads through private.setting() has its row (its default, from
-- reference data) and a rule (a check constraint on platform_settings naming it).
select is_empty(
  $$ select distinct m[1] from pg_proc p, regexp_matches(p.prosrc, 'private\.setting\(''([a-z_]+)''\)', 'g') m
      where not exists (select 1 from public.platform_settings s where s.key = m[1]) $$,
  'every setting read through private.setting() has its row in platform_settings'
);
select is_empty(
  $$ select s.key from public.platform_settings s
      where not exists (select 1 from pg_constraint c
                         where c.conrelid = 'public.platform_settings'::regclass and c.contype = 'c'
                           and pg_get_constraintdef(c.oid) like '%''' || s.key || '''%') $$,
  'every setting has a rule: a check constraint on platform_settings that names its key'
);

-- ---------------------------------------------------------------------------------------
-- Export reads the registry, for the caller only.

select tests.create_user('reg-owner@example.com');
select tests.create_user('reg-stranger@example.com');
insert into public.designs (owner_id, title, pattern) values (tests.get_user_id('reg-owner@example.com'), 'Owner''s coat', '{"version": 1, "units": "mm", "width": 300, "height": 200, "pieces": [{"name": "sleeve", "points": [[0, 0], [100, 0], [100, 100]]}]}');
insert into public.designs (owner_id, title, pattern) values (tests.get_user_id('reg-stranger@example.com'), 'Stranger''s coat', '{"version": 1, "units": "mm", "width": 300, "height": 200, "pieces": [{"name": "sleeve", "points": [[0, 0], [100, 0], [100, 100]]}]}');
insert into storage.objects (bucket_id, name, owner, owner_id, metadata)
values ('avatars', tests.get_user_id('reg-owner@example.com') || '/me.png', tests.get_user_id('reg-owner@example.com'),
        tests.get_user_id('reg-owner@example.com')::text, '{"size": 3, "mimetype": "image/png"}'),
       ('avatars', tests.get_user_id('reg-stranger@example.com') || '/me.png', tests.get_user_id('reg-stranger@example.com'),
        tests.get_user_id('reg-stranger@example.com')::text, '{"size": 3, "mimetype": "image/png"}');

create temporary table exported_tables as
  select count(distinct relation)::int as n from private.personal_data where exported;
grant select on exported_tables to authenticated;

select tests.authenticate_as_anon();
select throws_ok($$ select public.export_my_data() $$, '42501', 'permission denied for function export_my_data',
  'anon cannot export');

select tests.authenticate_as(tests.get_user_id('reg-owner@example.com'));
select is(
  (select jsonb_agg(d ->> 'title') from jsonb_array_elements(public.export_my_data() -> 'tables' -> 'public.designs') d),
  '["Owner''s coat"]'::jsonb,
  'the export holds the caller''s designs and not a stranger''s'
);
select is(
  (select jsonb_agg(f ->> 'name') from jsonb_array_elements(public.export_my_data() -> 'files') f),
  jsonb_build_array(tests.get_user_id('reg-owner@example.com') || '/me.png'),
  'the export lists the caller''s files and not a stranger''s'
);
select is(
  (select count(*)::int from jsonb_object_keys(public.export_my_data() -> 'tables')),
  (select n from exported_tables),
  'the export has a section for every exported table of the registry'
);
select ok(
  not (public.export_my_data() -> 'tables' -> 'public.profiles' -> 0 ? 'nonexistent')
    and (public.export_my_data() -> 'tables' -> 'public.profiles' -> 0 ->> 'id')::uuid = tests.get_user_id('reg-owner@example.com'),
  'the export holds the caller''s own profile'
);
select throws_ok($$ select * from ops.erase_account(tests.get_user_id('reg-owner@example.com')) $$, '42501',
  'permission denied for schema ops', 'a signed-in user cannot call the erasure RPC');

-- ---------------------------------------------------------------------------------------
-- Erasure: what the foreign keys cannot do, then the auth user's deletion does the rest.

select tests.clear_authentication();
insert into public.invite_codes (code, created_by) values ('REGCODE-1', null);
insert into public.invite_redemptions (code, email) values ('REGCODE-1', 'reg-owner@example.com');

select tests.authenticate_as_service_role();
select results_eq(
  $$ select bucket_id, prefix from ops.erase_account(tests.get_user_id('reg-owner@example.com')) $$,
  $$ select b.bucket_id, tests.get_user_id('reg-owner@example.com') || '/' from private.user_buckets b
      where b.folder = 'user' and b.on_delete = 'delete' order by b.bucket_id $$,
  'erasure names the user''s folder in every bucket that keeps files per user'
);
select is((select email from public.invite_redemptions where code = 'REGCODE-1'), null,
  'erasure anonymises what has no foreign key (the redemption''s e-mail), and the use still counts');
select throws_ok(format($$ select * from ops.erase_account(%L) $$, unknown_id), 'PT404', format('user %s not found', unknown_id),
  'erasure of an unknown user is refused') from gen_random_uuid() unknown_id;
select tests.clear_authentication();
delete from public.user_roles where role_id = (select id from public.roles where name = 'admin');
select tests.grant_role('reg-stranger@example.com', 'admin');
select tests.authenticate_as_service_role();
select throws_ok($$ select * from ops.erase_account(tests.get_user_id('reg-stranger@example.com')) $$, '42501',
  'the platform''s only admin cannot delete their account: make someone else admin first',
  'the only admin cannot be erased');
select tests.clear_authentication();
select tests.grant_role('reg-owner@example.com', 'admin');
select tests.authenticate_as_service_role();
select lives_ok($$ select * from ops.erase_account(tests.get_user_id('reg-stranger@example.com')) $$,
  'an admin can be erased while another admin remains');
select tests.clear_authentication();

delete from auth.users where id = tests.get_user_id('reg-owner@example.com');
select is((select count(*)::int from public.designs where title = 'Owner''s coat'), 0,
  'deleting the auth user removes what the registry says is deleted (their designs)');
select is((select count(*)::int from public.designs where title = 'Stranger''s coat'), 1,
  'and nobody else''s');

select * from finish();
rollback;
