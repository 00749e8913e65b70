-- Ordering a service package: the buyer gets an order awaiting payment with the package's
-- price, currency, delivery time and revisions snapshotted; a retry with the same request id
-- returns the same order; own, unpublished, suspended, inactive and unknown packages are
-- refused with exact codes; the order then runs through payment, delivery and approval.
begin;
select plan(33);

select tests.create_user('so-provider@example.com');
select tests.create_user('so-buyer@example.com');
select tests.create_user('so-stranger@example.com');

select tests.clear_authentication();
create function pg_temp.the_order() returns uuid language sql security definer as $$
  select id from public.orders
   where client_request_id = 'c0000000-0000-4000-8000-000000000001' and buyer_id = tests.get_user_id('so-buyer@example.com')
$$;
grant execute on function pg_temp.the_order() to anon, authenticated, service_role;
insert into public.services (id, provider_id, title, category, is_published)
values ('00000000-0000-4000-a000-000000000001', tests.get_user_id('so-provider@example.com'), 'Suit tailoring', 'bespoke-suits', true),
       ('00000000-0000-4000-a000-000000000002', tests.get_user_id('so-provider@example.com'), 'Draft service', 'bespoke-suits', false);
insert into public.service_packages (id, service_id, name, price_amount, currency, delivery_days, revisions, is_active)
values ('00000000-0000-4000-b000-000000000001', '00000000-0000-4000-a000-000000000001', 'Standard', 45000, 'EUR', 21, 2, true),
       ('00000000-0000-4000-b000-000000000002', '00000000-0000-4000-a000-000000000001', 'Unlimited', 90000, 'EUR', 30, null, true),
       ('00000000-0000-4000-b000-000000000003', '00000000-0000-4000-a000-000000000001', 'Old', 10000, 'EUR', 7, 0, false),
       ('00000000-0000-4000-b000-000000000004', '00000000-0000-4000-a000-000000000002', 'Drafted', 10000, 'EUR', 7, 0, true);

-- buyer ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('so-buyer@example.com'));
select lives_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-000000000001', '{"chest_cm": 102}',
                                         'c0000000-0000-4000-8000-000000000001') $$,
  'a buyer orders a package'
);
select results_eq(
  $$ select kind, status, buyer_id, seller_id, price_amount, currency, duration_days, revisions_allowed,
            service_id, package_id, details, title
       from public.orders where id = pg_temp.the_order() $$,
  $$ values ('service'::text, 'awaiting_payment'::text, tests.get_user_id('so-buyer@example.com'), tests.get_user_id('so-provider@example.com'),
             45000::bigint, 'EUR'::text, 21, 2, '00000000-0000-4000-a000-000000000001'::uuid, '00000000-0000-4000-b000-000000000001'::uuid,
             '{"chest_cm": 102}'::jsonb, 'Suit tailoring — Standard'::text) $$,
  'the order awaits payment with the package''s price, currency, delivery days and revisions'
);
select is(
  (select o.thread_id is not null and exists (select 1 from public.order_events e where e.order_id = o.id and e.event_type = 'created')
     from public.orders o where o.id = pg_temp.the_order()),
  true, 'the order has its thread and its creation on the timeline'
);
select is(
  (public.order_service_package('00000000-0000-4000-b000-000000000001', '{"chest_cm": 102}', 'c0000000-0000-4000-8000-000000000001')).id,
  pg_temp.the_order(),
  'a retry with the same request id returns the same order'
);
select is(
  (select count(*)::int from public.orders where buyer_id = auth.uid()), 1, 'and creates nothing more'
);
select throws_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-000000000002', '{}', 'c0000000-0000-4000-8000-000000000001') $$,
  '22023', 'request id c0000000-0000-4000-8000-000000000001 was already used for another order',
  'a request id reused for another package is refused'
);
select is(
  (public.order_service_package('00000000-0000-4000-b000-000000000002')).revisions_allowed, null,
  'a package with unlimited revisions gives an order with no revision limit'
);
select is(
  (select count(*)::int from public.orders where buyer_id = auth.uid()), 2, 'without a request id each call is a new order'
);
select throws_ok(
  format($$ select public.order_service_package(%L) $$, unknown_id),
  'PT404', format('package %s not found', unknown_id), 'an unknown package is not found'
) from gen_random_uuid() unknown_id;
select throws_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-000000000003') $$,
  'PT409', 'package 00000000-0000-4000-b000-000000000003 is no longer offered', 'an inactive package cannot be ordered'
);
select throws_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-000000000004') $$,
  'PT409', 'service 00000000-0000-4000-a000-000000000002 is not available for ordering',
  'a package of an unpublished service cannot be ordered'
);
select throws_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-000000000001', '[1, 2]') $$,
  '22023', 'details must be a JSON object, not array', 'details must be an object'
);
select throws_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-000000000001', jsonb_build_object('notes', repeat('x', 9000))) $$,
  '22023', 'details must be at most 8192 bytes of JSON', 'details are bounded'
);
select throws_ok(
  $$ update public.orders set price_amount = 1 where buyer_id = auth.uid() $$,
  '42501', 'permission denied for table orders', 'the buyer cannot change the price snapshot'
);
select throws_ok(
  $$ update public.orders set package_id = '00000000-0000-4000-b000-000000000003' where buyer_id = auth.uid() $$,
  '42501', 'permission denied for table orders', 'the buyer cannot repoint the order at another package'
);

-- provider ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('so-provider@example.com'));
select throws_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-000000000001') $$,
  '42501', 'you cannot order your own service', 'a provider cannot order their own service'
);
select is((select count(*)::int from public.orders where seller_id = auth.uid()), 2, 'the provider sees the orders as seller');
select lives_ok(
  $$ update public.service_packages set price_amount = 50000 where id = '00000000-0000-4000-b000-000000000001' $$,
  'the provider reprices the package'
);
select is(
  (select price_amount from public.orders where id = pg_temp.the_order()), 45000::bigint,
  'orders already placed keep their snapshot price'
);

-- stranger and anon ---------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('so-stranger@example.com'));
select is_empty($$ select 1 from public.orders $$, 'a stranger sees none of the orders');
select isnt(
  (public.order_service_package('00000000-0000-4000-b000-000000000001', '{}', 'c0000000-0000-4000-8000-000000000001')).buyer_id,
  tests.get_user_id('so-buyer@example.com'),
  'request ids are scoped to their buyer: another buyer using the same id gets an order of their own'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-000000000001') $$,
  '42501', 'permission denied for function order_service_package', 'anon cannot order'
);

-- suspension ----------------------------------------------------------------------------
select tests.clear_authentication();
update public.services set suspended_at = now(), suspension_reason = 'test' where id = '00000000-0000-4000-a000-000000000001';
select tests.authenticate_as(tests.get_user_id('so-buyer@example.com'));
select throws_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-000000000001') $$,
  'PT409', 'service 00000000-0000-4000-a000-000000000001 is not available for ordering',
  'a suspended service cannot be ordered'
);
select tests.clear_authentication();
update public.services set suspended_at = null, suspension_reason = null where id = '00000000-0000-4000-a000-000000000001';

-- the order's life ----------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('so-provider@example.com'));
select throws_ok(
  $$ select public.submit_delivery(pg_temp.the_order(), 'done') $$,
  'PT409', format('order %s is awaiting_payment: no delivery is due', pg_temp.the_order()), 'no delivery before payment'
);
select tests.authenticate_as(tests.get_user_id('so-buyer@example.com'));
select throws_ok(
  $$ select ops.record_order_payment(pg_temp.the_order()) $$,
  '42501', 'permission denied for schema ops', 'a buyer cannot mark their own order paid'
);
select tests.authenticate_as_service_role();
select is(
  (ops.record_order_payment(pg_temp.the_order())).status,
  'in_progress', 'the payments feature records the payment'
);
select is(
  (select due_at::date from public.orders where id = pg_temp.the_order()),
  (now() + interval '21 days')::date, 'the order is due after the package''s delivery days'
);
select tests.authenticate_as(tests.get_user_id('so-provider@example.com'));
select lives_ok(
  $$ select public.submit_delivery(pg_temp.the_order(), 'Your suit is ready') $$,
  'the provider delivers'
);
select tests.authenticate_as(tests.get_user_id('so-buyer@example.com'));
select is(
  (public.request_revision(pg_temp.the_order(), 'Shorten the sleeves')).revisions_used,
  1, 'the buyer uses one of the two revisions the package includes'
);
select tests.authenticate_as(tests.get_user_id('so-provider@example.com'));
select lives_ok(
  $$ select public.submit_delivery(pg_temp.the_order(), 'Sleeves shortened') $$,
  'the provider delivers again'
);
select tests.authenticate_as(tests.get_user_id('so-buyer@example.com'));
select is(
  (public.approve_delivery(pg_temp.the_order())).status,
  'completed', 'the buyer approves and the order completes'
);

-- deleting the service keeps the order ----------------------------------------------------
select tests.authenticate_as(tests.get_user_id('so-provider@example.com'));
select lives_ok(
  $$ delete from public.services where id = '00000000-0000-4000-a000-000000000001' $$,
  'the provider deletes the service'
);
select results_eq(
  $$ select service_id, package_id, price_amount from public.orders where id = pg_temp.the_order() $$,
  $$ values (null::uuid, null::uuid, 45000::bigint) $$,
  'the order outlives it with its snapshot'
);

select * from finish();
rollback;
