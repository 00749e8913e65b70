-- Services and packages: a provider drafts, prices and publishes their service; anyone (anon
-- too) reads published services and their active packages; strangers change nothing; prices
-- are checked against their currency with 22023; a marketplace manager sees drafts and
-- suspends a service, which the provider cannot undo.
begin;
select plan(45);

select tests.create_user('svc-provider@example.com');
select tests.create_user('svc-stranger@example.com');
select tests.create_user('svc-admin@example.com');

select tests.clear_authentication();
select tests.grant_role('svc-admin@example.com', 'admin');

create function pg_temp.service_of(email text) returns uuid language sql security definer as $$
  select id from public.services where provider_id = tests.get_user_id(email) order by created_at, id limit 1
$$;
create function pg_temp.package_named(package_name text) returns uuid language sql security definer as $$
  select p.id from public.service_packages p join public.services s on s.id = p.service_id
   where s.provider_id = tests.get_user_id('svc-provider@example.com') and p.name = package_name
$$;
grant execute on function pg_temp.service_of(text), pg_temp.package_named(text) to anon, authenticated, service_role;

-- provider ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('svc-provider@example.com'));
select lives_ok(
  $$ insert into public.services (title, description, category, tags)
     values ('Silk wedding dress alterations', 'Hemming, taking in and bustles for silk gowns', 'alterations', array['wedding', 'silk']) $$,
  'a provider drafts a service'
);
select results_eq(
  $$ select provider_id, is_published, suspended_at from public.services where id = pg_temp.service_of('svc-provider@example.com') $$,
  $$ values (tests.get_user_id('svc-provider@example.com'), false, null::timestamptz) $$,
  'the service is the provider''s, an unpublished draft, not suspended'
);
select throws_ok(
  $$ insert into public.services (provider_id, title, category) values (tests.get_user_id('svc-stranger@example.com'), 'For you', 'alterations') $$,
  '42501', 'permission denied for table services', 'a provider cannot publish in someone else''s name'
);
select throws_ok(
  $$ insert into public.services (title, category, suspended_at, suspension_reason) values ('Sneaky', 'alterations', null, 'x') $$,
  '42501', 'permission denied for table services', 'a provider cannot write moderation columns'
);
select throws_ok(
  $$ insert into public.services (title, category) values ('Bad category', 'Not A Slug') $$,
  '23514', 'new row for relation "services" violates check constraint "services_category_format"',
  'categories are lowercase slugs'
);
select throws_ok(
  $$ insert into public.services (title, category, cover_image_path) values ('Cover', 'alterations', 'someone-else/cover.png') $$,
  '23514', 'new row for relation "services" violates check constraint "services_cover_image_owned"',
  'a cover image must sit in the provider''s own folder'
);
select lives_ok(
  $$ insert into public.service_packages (service_id, name, price_amount, currency, delivery_days, revisions, features, position)
     values (pg_temp.service_of('svc-provider@example.com'), 'Basic', 5000, 'USD', 7, 1, array['Hem'], 0),
            (pg_temp.service_of('svc-provider@example.com'), 'Premium', 20000, 'USD', 14, null, array['Hem', 'Bustle', 'Steam'], 2) $$,
  'the provider prices the service with packages (revisions null: unlimited)'
);
select lives_ok(
  $$ insert into public.service_packages (service_id, name, price_amount, currency, delivery_days, is_active)
     values (pg_temp.service_of('svc-provider@example.com'), 'Retired', 3000, 'USD', 3, false) $$,
  'the provider adds an inactive package'
);
select throws_ok(
  $$ insert into public.service_packages (service_id, name, price_amount, currency, delivery_days)
     values (pg_temp.service_of('svc-provider@example.com'), 'Free', 0, 'USD', 7) $$,
  '22023', 'price must be a positive whole number of minor units of USD, not 0', 'a zero price is refused with 22023'
);
select throws_ok(
  $$ insert into public.service_packages (service_id, name, price_amount, currency, delivery_days)
     values (pg_temp.service_of('svc-provider@example.com'), 'Negative', -100, 'USD', 7) $$,
  '22023', 'price must be a positive whole number of minor units of USD, not -100',
  'a negative price is refused with 22023'
);
select throws_ok(
  $$ insert into public.service_packages (service_id, name, price_amount, currency, delivery_days)
     values (pg_temp.service_of('svc-provider@example.com'), 'Huge', 100000000, 'USD', 7) $$,
  '22023', 'price 100000000 exceeds the maximum of 99999999 minor units of USD',
  'a price over the currency''s limit is refused'
);
select throws_ok(
  $$ insert into public.service_packages (service_id, name, price_amount, currency, delivery_days)
     values (pg_temp.service_of('svc-provider@example.com'), 'Doubloons', 100, 'XYZ', 7) $$,
  '22023', 'currency XYZ is not supported (see the currencies table)', 'an unknown currency is refused'
);
select throws_ok(
  $$ insert into public.service_packages (service_id, name, price_amount, currency, delivery_days)
     values (pg_temp.service_of('svc-provider@example.com'), 'Instant', 100, 'USD', 0) $$,
  '23514', 'new row for relation "service_packages" violates check constraint "service_packages_delivery_days_range"',
  'delivery takes at least a day'
);
select throws_ok(
  $$ insert into public.service_packages (service_id, name, price_amount, currency, delivery_days, features)
     values (pg_temp.service_of('svc-provider@example.com'), 'Listy', 100, 'USD', 3, array_fill('x'::text, array[21])) $$,
  '23514', 'new row for relation "service_packages" violates check constraint "service_packages_features_valid"',
  'a package lists at most 20 features'
);

-- before publication -------------------------------------------------------------------
select tests.authenticate_as_anon();
select is_empty($$ select 1 from public.services where provider_id = tests.get_user_id('svc-provider@example.com') $$, 'anon does not see a draft');
select is_empty($$ select 1 from public.service_packages where service_id = pg_temp.service_of('svc-provider@example.com') $$, 'anon does not see a draft''s packages');
select tests.authenticate_as(tests.get_user_id('svc-stranger@example.com'));
select is_empty($$ select 1 from public.services where id = pg_temp.service_of('svc-provider@example.com') $$,
  'a stranger does not see a draft');
select tests.authenticate_as(tests.get_user_id('svc-admin@example.com'));
select is((select count(*)::int from public.services where id = pg_temp.service_of('svc-provider@example.com')), 1,
  'a marketplace manager sees drafts');
select is((select count(*)::int from public.service_packages where service_id = pg_temp.service_of('svc-provider@example.com')), 3,
  'a marketplace manager sees every package, inactive too');

select tests.authenticate_as(tests.get_user_id('svc-provider@example.com'));
select isnt_empty(
  $$ update public.services set is_published = true where id = pg_temp.service_of('svc-provider@example.com') returning id $$,
  'the provider publishes the service'
);

-- published ----------------------------------------------------------------------------
select tests.authenticate_as_anon();
select results_eq(
  $$ select title from public.services where provider_id = tests.get_user_id('svc-provider@example.com') $$,
  $$ values ('Silk wedding dress alterations'::text) $$,
  'anon reads the published service'
);
select results_eq(
  $$ select name, price_amount, revisions from public.service_packages where service_id = pg_temp.service_of('svc-provider@example.com') order by position $$,
  $$ values ('Basic'::text, 5000::bigint, 1), ('Premium', 20000, null) $$,
  'anon reads the active packages only, in position order'
);
select results_eq(
  $$ select title from public.services where provider_id = tests.get_user_id('svc-provider@example.com') and search @@ websearch_to_tsquery('simple', 'silk bustles') and tags @> array['wedding'] $$,
  $$ values ('Silk wedding dress alterations'::text) $$,
  'full-text search and tag filters find it'
);
select is_empty(
  $$ select 1 from public.services where provider_id = tests.get_user_id('svc-provider@example.com') and search @@ websearch_to_tsquery('simple', 'leather') $$,
  'a search for something else does not'
);
select results_eq(
  $$ select s.title from public.services s
      where s.provider_id = tests.get_user_id('svc-provider@example.com') and exists (select 1 from public.service_packages p
                     where p.service_id = s.id and p.currency = 'USD' and p.price_amount between 10000 and 30000) $$,
  $$ values ('Silk wedding dress alterations'::text) $$,
  'a price range through the packages finds it'
);
select throws_ok(
  $$ insert into public.services (title, category) values ('Anon service', 'alterations') $$,
  '42501', 'permission denied for table services', 'anon cannot publish'
);
select throws_ok(
  $$ update public.services set title = 'Defaced' where provider_id = tests.get_user_id('svc-provider@example.com') $$,
  '42501', 'permission denied for table services', 'anon cannot edit services'
);

select tests.authenticate_as(tests.get_user_id('svc-stranger@example.com'));
select is((select count(*)::int from public.service_packages where service_id = pg_temp.service_of('svc-provider@example.com')), 2,
  'a signed-in stranger reads the active packages');
select is_empty(
  $$ update public.services set title = 'Defaced' where id = pg_temp.service_of('svc-provider@example.com') returning id $$,
  'a stranger cannot edit the service'
);
select is_empty(
  $$ update public.service_packages set price_amount = 1 where service_id = pg_temp.service_of('svc-provider@example.com') returning id $$,
  'a stranger cannot reprice its packages'
);
select is_empty(
  $$ delete from public.services where id = pg_temp.service_of('svc-provider@example.com') returning id $$,
  'a stranger cannot delete the service'
);
select throws_ok(
  $$ insert into public.service_packages (service_id, name, price_amount, currency, delivery_days)
     values (pg_temp.service_of('svc-provider@example.com'), 'Cheap', 100, 'USD', 1) $$,
  '42501', 'new row violates row-level security policy for table "service_packages"',
  'a stranger cannot add packages to someone else''s service'
);
select throws_ok(
  $$ select public.moderate_service(pg_temp.service_of('svc-provider@example.com'), true, 'spam') $$,
  '42501', 'permission denied: marketplace.manage is required', 'a stranger cannot suspend a service'
);

-- moderation ---------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('svc-admin@example.com'));
select throws_ok(
  $$ select public.moderate_service(pg_temp.service_of('svc-provider@example.com'), true, '') $$,
  '22023', 'a suspension needs a reason', 'a suspension needs a reason'
);
select throws_ok(
  format($$ select public.moderate_service(%L, true, 'spam') $$, unknown_id),
  'PT404', format('service %s not found', unknown_id), 'suspending an unknown service is not found'
) from gen_random_uuid() unknown_id;
select lives_ok(
  $$ select public.moderate_service(pg_temp.service_of('svc-provider@example.com'), true, 'counterfeit brand names') $$,
  'a marketplace manager suspends the service'
);
select tests.authenticate_as_anon();
select is_empty($$ select 1 from public.services where provider_id = tests.get_user_id('svc-provider@example.com') $$, 'anon no longer sees the suspended service');
select is_empty($$ select 1 from public.service_packages where service_id = pg_temp.service_of('svc-provider@example.com') $$, 'nor its packages');

select tests.authenticate_as(tests.get_user_id('svc-provider@example.com'));
select is((select suspension_reason from public.services where id = pg_temp.service_of('svc-provider@example.com')),
  'counterfeit brand names', 'the provider still sees their suspended service and why');
select throws_ok(
  $$ update public.services set suspended_at = null, suspension_reason = null where id = pg_temp.service_of('svc-provider@example.com') $$,
  '42501', 'permission denied for table services', 'the provider cannot lift a suspension'
);
select lives_ok(
  $$ update public.services set is_published = false where id = pg_temp.service_of('svc-provider@example.com');
     update public.services set is_published = true where id = pg_temp.service_of('svc-provider@example.com') $$,
  'the provider may toggle publication'
);
select tests.authenticate_as_anon();
select is_empty($$ select 1 from public.services where provider_id = tests.get_user_id('svc-provider@example.com') $$, 'republishing does not lift the suspension');

select tests.authenticate_as(tests.get_user_id('svc-admin@example.com'));
select lives_ok(
  $$ select public.moderate_service(pg_temp.service_of('svc-provider@example.com'), false) $$,
  'the manager reinstates the service'
);
select tests.authenticate_as_anon();
select is((select count(*)::int from public.services where provider_id = tests.get_user_id('svc-provider@example.com')), 1, 'anon sees the reinstated service again');

select tests.clear_authentication();
select is(
  (select count(*)::int from public.audit_log where table_name = 'services' and row_id = pg_temp.service_of('svc-provider@example.com')::text),
  2, 'suspension and reinstatement are in the audit log'
);

select * from finish();
rollback;
