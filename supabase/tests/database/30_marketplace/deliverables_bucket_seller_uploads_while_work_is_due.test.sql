-- The deliverables bucket: files live under <order id>/. The seller uploads while work is
-- due (in_progress, revision_requested), not before payment nor after delivery; the buyer
-- and strangers never upload; both parties and managers read, strangers and anon do not;
-- nobody moves or removes a file (they are evidence). Folder names that are not order ids
-- are simply denied, never an error. submit_delivery accepts only uploaded files in the
-- order's own folder.
begin;
select plan(34);

select tests.create_user('dl-buyer@example.com');
select tests.create_user('dl-seller@example.com');
select tests.create_user('dl-stranger@example.com');
select tests.create_user('dl-admin@example.com');

select tests.clear_authentication();
select tests.grant_role('dl-admin@example.com', 'admin');

create function pg_temp.order_in(state text) returns uuid language sql as $$
  select tests.order_in('dl-buyer@example.com', 'dl-seller@example.com', state)
$$;

create temp table named_orders (state text primary key, id uuid not null);
insert into named_orders
  select s, pg_temp.order_in(s) from unnest(array['awaiting_payment', 'in_progress', 'revision_requested', 'delivered', 'completed']) s;
create function pg_temp.o(state text) returns uuid language sql security definer as $$
  select id from pg_temp.named_orders n where n.state = o.state
$$;
-- A file's path in an order's folder.
create function pg_temp.path(state text, file text) returns text language sql security definer as $$
  select pg_temp.o(state) || '/' || file
$$;
grant execute on function pg_temp.o(text), pg_temp.path(text, text) to authenticated, anon, service_role;

-- Something in the bucket that is not in an order folder (left by an operator, say).
insert into storage.objects (bucket_id, name) values ('deliverables', 'not-an-order/readme.txt');

-- uploads -------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('dl-seller@example.com'));
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', pg_temp.path('awaiting_payment', 'early.png'), auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'the seller cannot upload before payment'
);
select lives_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', pg_temp.path('in_progress', 'suit.png'), auth.uid()),
                                                                 ('deliverables', pg_temp.path('in_progress', 'photos/back.jpg'), auth.uid()) $$,
  'the seller uploads into the folder of an order in progress (subfolders included)'
);
select lives_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', pg_temp.path('revision_requested', 'v2.png'), auth.uid()) $$,
  'the seller uploads into the folder of an order awaiting a revision'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', pg_temp.path('delivered', 'late.png'), auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'the seller cannot upload once the order is delivered'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', pg_temp.path('completed', 'late.png'), auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'the seller cannot upload once the order is completed'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', 'not-a-uuid/file.png', auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'a folder that is not a uuid is denied, not an error'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', upper(pg_temp.path('in_progress', 'shout.png')), auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'an upper-case spelling of the order id is denied'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', 'loose.png', auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'a file outside any folder is denied'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', 'x/' || pg_temp.path('in_progress', 'nested.png'), auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'the order id must be the first folder'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', gen_random_uuid() || '/ghost.png', auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'the folder of an unknown order is denied'
);

select tests.authenticate_as(tests.get_user_id('dl-buyer@example.com'));
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', pg_temp.path('in_progress', 'buyer.png'), auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'the buyer cannot upload deliverables'
);
select tests.authenticate_as(tests.get_user_id('dl-stranger@example.com'));
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', pg_temp.path('in_progress', 'stranger.png'), auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'a stranger cannot upload deliverables'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('deliverables', pg_temp.path('in_progress', 'anon.png')) $$,
  '42501', 'new row violates row-level security policy for table "objects"', 'anon cannot upload deliverables'
);

-- reads ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('dl-seller@example.com'));
select results_eq(
  $$ select name from storage.objects where bucket_id = 'deliverables' order by name $$,
  $$ select unnest(array[pg_temp.path('in_progress', 'photos/back.jpg'), pg_temp.path('in_progress', 'suit.png'),
                         pg_temp.path('revision_requested', 'v2.png')]) n order by n $$,
  'the seller reads their orders'' files, and the non-order folder is skipped without error'
);
select tests.authenticate_as(tests.get_user_id('dl-buyer@example.com'));
select results_eq(
  $$ select name from storage.objects where bucket_id = 'deliverables' order by name $$,
  $$ select unnest(array[pg_temp.path('in_progress', 'photos/back.jpg'), pg_temp.path('in_progress', 'suit.png'),
                         pg_temp.path('revision_requested', 'v2.png')]) n order by n $$,
  'the buyer reads the files of their orders'
);
select tests.authenticate_as(tests.get_user_id('dl-stranger@example.com'));
select is_empty($$ select 1 from storage.objects where bucket_id = 'deliverables' $$, 'a stranger reads no deliverables');
select tests.authenticate_as_anon();
select is_empty($$ select 1 from storage.objects where bucket_id = 'deliverables' $$, 'anon reads no deliverables');
-- Every deliverable in the database (another suite's files may be there too), for comparison.
select tests.clear_authentication();
create temp table deliverables_before as select id, name from storage.objects where bucket_id = 'deliverables';
grant select on deliverables_before to authenticated;
select tests.authenticate_as(tests.get_user_id('dl-admin@example.com'));
select set_eq(
  $$ select id, name from storage.objects where bucket_id = 'deliverables' $$,
  $$ select id, name from deliverables_before $$,
  'a manager reads every deliverable'
);

-- nobody moves or removes files ---------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('dl-seller@example.com'));
select is_empty(
  $$ update storage.objects set name = pg_temp.path('in_progress', 'renamed.png')
      where bucket_id = 'deliverables' and name = pg_temp.path('in_progress', 'suit.png') returning 1 $$,
  'the seller cannot rename a deliverable'
);
select is_empty(
  $$ update storage.objects set metadata = '{"size": 1}' where bucket_id = 'deliverables' returning 1 $$,
  'the seller cannot change a deliverable'
);
select is_empty(
  $$ delete from storage.objects where bucket_id = 'deliverables' returning 1 $$,
  'the seller cannot delete deliverables'
);
select tests.authenticate_as(tests.get_user_id('dl-buyer@example.com'));
select is_empty(
  $$ delete from storage.objects where bucket_id = 'deliverables' returning 1 $$,
  'the buyer cannot delete deliverables'
);
select tests.authenticate_as(tests.get_user_id('dl-admin@example.com'));
select is_empty(
  $$ delete from storage.objects where bucket_id = 'deliverables' returning 1 $$,
  'a manager cannot delete deliverables'
);
select is_empty(
  $$ update storage.objects set name = 'moved/' || name where bucket_id = 'deliverables' returning 1 $$,
  'a manager cannot move deliverables'
);
select tests.clear_authentication();
select set_eq(
  $$ select id, name from storage.objects where bucket_id = 'deliverables' $$,
  $$ select id, name from deliverables_before $$,
  'every deliverable is still there, unchanged'
);

-- submit_delivery and its files ---------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('dl-seller@example.com'));
select throws_ok(
  $$ select public.submit_delivery(pg_temp.o('in_progress'), 'Done', array[pg_temp.path('revision_requested', 'v2.png')]) $$,
  '22023', format('delivery files must be in the order''s folder %s/ of the deliverables bucket', pg_temp.o('in_progress')),
  'a file from another order''s folder is refused'
);
select throws_ok(
  $$ select public.submit_delivery(pg_temp.o('in_progress'), 'Done', array['not-an-order/readme.txt']) $$,
  '22023', format('delivery files must be in the order''s folder %s/ of the deliverables bucket', pg_temp.o('in_progress')),
  'a file outside the order''s folder is refused'
);
select throws_ok(
  $$ select public.submit_delivery(pg_temp.o('in_progress'), 'Done', array[pg_temp.path('in_progress', '../' || pg_temp.o('revision_requested') || '/v2.png')]) $$,
  '22023', format('delivery files must be in the order''s folder %s/ of the deliverables bucket', pg_temp.o('in_progress')),
  'a path climbing out of the order''s folder is refused'
);
select throws_ok(
  $$ select public.submit_delivery(pg_temp.o('in_progress'), 'Done', array[pg_temp.path('in_progress', 'suit.png'), pg_temp.path('in_progress', 'missing.png')]) $$,
  '22023', format('file %s/missing.png has not been uploaded to the deliverables bucket', pg_temp.o('in_progress')),
  'a file that was never uploaded is refused'
);
select throws_ok(
  $$ select public.submit_delivery(pg_temp.o('in_progress'), '   ', array[pg_temp.path('in_progress', 'suit.png')]) $$,
  '23514', 'new row for relation "deliveries" violates check constraint "deliveries_message_length"',
  'a delivery needs a message'
);
select results_eq(
  $$ select file_paths, status from public.submit_delivery(pg_temp.o('in_progress'), 'The suit, front and back',
                                                          array[pg_temp.path('in_progress', 'suit.png'), pg_temp.path('in_progress', 'photos/back.jpg')]) $$,
  $$ values (array[pg_temp.path('in_progress', 'suit.png'), pg_temp.path('in_progress', 'photos/back.jpg')], 'submitted') $$,
  'the seller delivers uploaded files from the order''s folder'
);
select throws_ok(
  $$ insert into storage.objects (bucket_id, name, owner) values ('deliverables', pg_temp.path('in_progress', 'after.png'), auth.uid()) $$,
  '42501', 'new row violates row-level security policy for table "objects"',
  'after delivering, the seller can no longer upload'
);
select tests.authenticate_as(tests.get_user_id('dl-buyer@example.com'));
select results_eq(
  $$ select o.status, d.file_paths from public.orders o join public.deliveries d on d.order_id = o.id where o.id = pg_temp.o('in_progress') $$,
  $$ values ('delivered', array[pg_temp.path('in_progress', 'suit.png'), pg_temp.path('in_progress', 'photos/back.jpg')]) $$,
  'the buyer sees the order delivered with the files'
);
select tests.authenticate_as(tests.get_user_id('dl-seller@example.com'));
select results_eq(
  $$ select status from public.submit_delivery(pg_temp.o('revision_requested'), 'Version two', array[pg_temp.path('revision_requested', 'v2.png')]) $$,
  $$ values ('submitted') $$,
  'the seller delivers a revision with the file uploaded for it'
);

select * from finish();
rollback;
