-- The order state machine, exhaustively: for every status an order can be in, a fresh
-- order is driven there through the real functions, and every public action is tried by the
-- buyer, the seller, a stranger, an admin (marketplace.manage) and the service role. An
-- action either succeeds, leaving the status private.order_transitions allows, or fails with
-- PT409 (not from this state), 42501 (this state, but not this caller; or no EXECUTE) or
-- PT404 (a stranger: the order does not exist for them). Then the rules around the moves:
-- requirement approvals, revision allowances, what clients may write, who reads what, the
-- timeline and the project following its order.
begin;
select plan(55);

select tests.create_user('sm-buyer@example.com');
select tests.create_user('sm-seller@example.com');
select tests.create_user('sm-stranger@example.com');
select tests.create_user('sm-admin@example.com');

select tests.clear_authentication();
select tests.grant_role('sm-admin@example.com', 'admin');

-- Acts as one of the cast: buyer, seller, stranger, admin (a user with marketplace.manage)
-- or service (the service role).
create function pg_temp.act_as(actor text) returns void language plpgsql as $$
begin
  if actor = 'service' then
    perform tests.authenticate_as_service_role();
  else
    perform tests.authenticate_as(tests.get_user_id('sm-' || actor || '@example.com'));
  end if;
end
$$;

-- Runs one public order action with valid arguments.
create function pg_temp.run_action(action text, order_id uuid) returns void language plpgsql as $$
begin
  case action
    when 'approve_requirements' then perform public.approve_requirements(order_id);
    when 'record_order_payment' then perform ops.record_order_payment(order_id);
    when 'submit_delivery' then perform public.submit_delivery(order_id, 'Here is the work', '{}');
    when 'approve_delivery' then perform public.approve_delivery(order_id);
    when 'request_revision' then perform public.request_revision(order_id, 'Shorter sleeves, please');
    when 'open_dispute' then perform public.open_dispute(order_id, 'The work does not match the requirements');
    when 'cancel_order' then perform public.cancel_order(order_id, 'Plans changed');
  end case;
end
$$;

create function pg_temp.order_in(state text) returns uuid language sql as $$
  select tests.order_in('sm-buyer@example.com', 'sm-seller@example.com', state)
$$;

-- What happens when actor tries action on order: 'ok:<resulting status>' or the SQLSTATE of
-- the refusal. Always rolled back, so one order serves every attempt.
create function pg_temp.attempt(actor text, action text, order_id uuid) returns text language plpgsql as $$
declare
  result text;
begin
  begin
    perform pg_temp.act_as(actor);
    perform pg_temp.run_action(action, order_id);
    perform tests.clear_authentication();
    raise exception using errcode = 'TOK00', message = (select status from public.orders o where o.id = order_id);
  exception
    when sqlstate 'TOK00' then result := 'ok:' || sqlerrm;
    when others then result := sqlstate;
  end;
  return result;
end
$$;

-- Every public action by every actor against one order in the given state.
create function pg_temp.matrix(state text)
returns table (action text, buyer text, seller text, stranger text, admin text, service text)
language plpgsql as $$
declare
  o uuid := pg_temp.order_in(state);
begin
  return query
  select a.action, pg_temp.attempt('buyer', a.action, o), pg_temp.attempt('seller', a.action, o),
         pg_temp.attempt('stranger', a.action, o), pg_temp.attempt('admin', a.action, o), pg_temp.attempt('service', a.action, o)
    from unnest(array['approve_requirements', 'record_order_payment', 'submit_delivery', 'approve_delivery',
                      'request_revision', 'open_dispute', 'cancel_order']) with ordinality a (action, n)
   order by a.n;
end
$$;

grant execute on all functions in schema pg_temp to authenticated, anon, service_role;

-- Orders the later tests share, by name.
create temp table named_orders (name text primary key, id uuid not null);
create function pg_temp.o(name text) returns uuid language sql security definer as $$
  select id from pg_temp.named_orders n where n.name = o.name
$$;
grant execute on function pg_temp.o(text) to authenticated, anon, service_role;

-- The matrix ----------------------------------------------------------------------------
--                        buyer    seller   stranger admin    service
select results_eq(
  $$ select * from pg_temp.matrix('awaiting_requirements') $$,
  $$ values
    ('approve_requirements', 'ok:awaiting_requirements', 'ok:awaiting_requirements', 'PT404', '42501', '42501'),
    ('record_order_payment', '42501', '42501', '42501', '42501', 'PT409'),
    ('submit_delivery',      'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('approve_delivery',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('request_revision',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('open_dispute',         'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('cancel_order',         'ok:cancelled', 'ok:cancelled', 'PT404', 'ok:cancelled', '42501') $$,
  'awaiting_requirements: each party approves (one approval leaves it waiting), either party or an admin cancels'
);
select results_eq(
  $$ select * from pg_temp.matrix('awaiting_payment') $$,
  $$ values
    ('approve_requirements', 'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('record_order_payment', '42501', '42501', '42501', '42501', 'ok:in_progress'),
    ('submit_delivery',      'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('approve_delivery',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('request_revision',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('open_dispute',         'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('cancel_order',         'ok:cancelled', 'ok:cancelled', 'PT404', 'ok:cancelled', '42501') $$,
  'awaiting_payment: the service role records payment, either party or an admin cancels'
);
select results_eq(
  $$ select * from pg_temp.matrix('in_progress') $$,
  $$ values
    ('approve_requirements', 'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('record_order_payment', '42501', '42501', '42501', '42501', 'ok:in_progress'),
    ('submit_delivery',      '42501', 'ok:delivered', 'PT404', '42501', '42501'),
    ('approve_delivery',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('request_revision',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('open_dispute',         'ok:disputed', '42501', 'PT404', '42501', '42501'),
    ('cancel_order',         '42501', 'ok:cancelled', 'PT404', 'ok:cancelled', '42501') $$,
  'in_progress: the seller delivers or steps back, the buyer disputes, an admin cancels; a repeated payment changes nothing'
);
select results_eq(
  $$ select * from pg_temp.matrix('delivered') $$,
  $$ values
    ('approve_requirements', 'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('record_order_payment', '42501', '42501', '42501', '42501', 'ok:delivered'),
    ('submit_delivery',      'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('approve_delivery',     'ok:completed', '42501', 'PT404', '42501', '42501'),
    ('request_revision',     'ok:revision_requested', '42501', 'PT404', '42501', '42501'),
    ('open_dispute',         'ok:disputed', '42501', 'PT404', '42501', '42501'),
    ('cancel_order',         'PT409', 'PT409', 'PT404', 'PT409', '42501') $$,
  'delivered: the buyer approves, asks for a revision or disputes; nobody cancels'
);
select results_eq(
  $$ select * from pg_temp.matrix('revision_requested') $$,
  $$ values
    ('approve_requirements', 'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('record_order_payment', '42501', '42501', '42501', '42501', 'ok:revision_requested'),
    ('submit_delivery',      '42501', 'ok:delivered', 'PT404', '42501', '42501'),
    ('approve_delivery',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('request_revision',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('open_dispute',         'ok:disputed', '42501', 'PT404', '42501', '42501'),
    ('cancel_order',         '42501', 'ok:cancelled', 'PT404', 'ok:cancelled', '42501') $$,
  'revision_requested: the seller delivers again or steps back, the buyer disputes, an admin cancels'
);
select results_eq(
  $$ select * from pg_temp.matrix('completed') $$,
  $$ values
    ('approve_requirements', 'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('record_order_payment', '42501', '42501', '42501', '42501', 'ok:completed'),
    ('submit_delivery',      'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('approve_delivery',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('request_revision',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('open_dispute',         'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('cancel_order',         'PT409', 'PT409', 'PT404', 'PT409', '42501') $$,
  'completed: final, nothing moves it'
);
select results_eq(
  $$ select * from pg_temp.matrix('disputed') $$,
  $$ values
    ('approve_requirements', 'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('record_order_payment', '42501', '42501', '42501', '42501', 'ok:disputed'),
    ('submit_delivery',      'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('approve_delivery',     '42501', '42501', 'PT404', 'PT409', '42501'),
    ('request_revision',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('open_dispute',         'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('cancel_order',         '42501', '42501', 'PT404', 'PT409', '42501') $$,
  'disputed: nothing moves it while the dispute is open, not even an admin''s approval or cancellation'
);
select results_eq(
  $$ select * from pg_temp.matrix('cancelled') $$,
  $$ values
    ('approve_requirements', 'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('record_order_payment', '42501', '42501', '42501', '42501', 'PT409'),
    ('submit_delivery',      'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('approve_delivery',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('request_revision',     'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('open_dispute',         'PT409', 'PT409', 'PT404', 'PT409', '42501'),
    ('cancel_order',         'PT409', 'PT409', 'PT404', 'PT409', '42501') $$,
  'cancelled: final, and a payment for a cancelled unpaid order is refused'
);

-- Requirements approval -----------------------------------------------------------------
insert into named_orders values ('reqs', pg_temp.order_in('awaiting_requirements'));
select pg_temp.act_as('buyer');
insert into public.project_requirements (project_id, position, title)
  select project_id, p, t from public.orders, (values (1, 'Fabric'), (2, 'Fit'), (3, 'Colour')) r (p, t)
   where id = pg_temp.o('reqs');
select results_eq(
  $$ select status, requirements_approved_by_buyer_at is not null, requirements_approved_by_seller_at is not null
       from public.approve_requirements(pg_temp.o('reqs')) $$,
  $$ values ('awaiting_requirements', true, false) $$,
  'the buyer approves the requirements; the order waits for the seller'
);
select results_eq(
  $$ select status from public.approve_requirements(pg_temp.o('reqs')) $$,
  $$ values ('awaiting_requirements') $$,
  'approving twice is harmless'
);
select isnt_empty(
  $$ update public.project_requirements set title = 'Fabric: linen' where title = 'Fabric'
        and project_id = (select project_id from public.orders where id = pg_temp.o('reqs')) returning id $$,
  'the buyer still edits the requirements while they await approval'
);
select results_eq(
  $$ select requirements_approved_by_buyer_at, requirements_approved_by_seller_at from public.orders where id = pg_temp.o('reqs') $$,
  $$ values (null::timestamptz, null::timestamptz) $$,
  'a change withdraws the buyer''s approval'
);
select pg_temp.act_as('seller');
select public.approve_requirements(pg_temp.o('reqs'));
select is_empty(
  $$ update public.project_requirements set title = 'Seller wish'
      where project_id = (select project_id from public.orders where id = pg_temp.o('reqs')) returning id $$,
  'the seller cannot change the requirements'
);
select pg_temp.act_as('buyer');
delete from public.project_requirements where title = 'Colour' and project_id = (select project_id from public.orders where id = pg_temp.o('reqs'));
select results_eq(
  $$ select requirements_approved_by_buyer_at, requirements_approved_by_seller_at from public.orders where id = pg_temp.o('reqs') $$,
  $$ values (null::timestamptz, null::timestamptz) $$,
  'a change withdraws the seller''s approval too'
);
select results_eq(
  $$ select event_type, actor_id from public.order_events where order_id = pg_temp.o('reqs') and event_type <> 'created' order by id $$,
  $$ values ('requirements_changed', tests.get_user_id('sm-buyer@example.com')),
            ('requirements_changed', tests.get_user_id('sm-buyer@example.com')),
            ('requirements_changed', tests.get_user_id('sm-buyer@example.com')),
            ('requirements_approved', tests.get_user_id('sm-buyer@example.com')),
            ('requirements_approved', tests.get_user_id('sm-buyer@example.com')),
            ('requirements_changed', tests.get_user_id('sm-buyer@example.com')),
            ('requirements_approved', tests.get_user_id('sm-seller@example.com')),
            ('requirements_changed', tests.get_user_id('sm-buyer@example.com')) $$,
  'every change and approval is on the timeline'
);
select public.approve_requirements(pg_temp.o('reqs'));
select pg_temp.act_as('seller');
select results_eq(
  $$ select status from public.approve_requirements(pg_temp.o('reqs')) $$,
  $$ values ('awaiting_payment') $$,
  'the second approval moves the order to awaiting_payment'
);
select pg_temp.act_as('buyer');
select throws_ok(
  $$ insert into public.project_requirements (project_id, title)
     select project_id, 'Afterthought' from public.orders where id = pg_temp.o('reqs') $$,
  'PT409', format('the requirements of project %s are settled: they change only while the project is open or awaiting approval', (select project_id from public.orders where id = pg_temp.o('reqs'))),
  'requirements cannot be added once both parties approved'
);
select throws_ok(
  $$ update public.project_requirements set title = 'Fit: slim'
      where project_id = (select project_id from public.orders where id = pg_temp.o('reqs')) $$,
  'PT409', format('the requirements of project %s are settled: they change only while the project is open or awaiting approval', (select project_id from public.orders where id = pg_temp.o('reqs'))),
  'requirements cannot be edited once both parties approved'
);
select throws_ok(
  $$ delete from public.project_requirements where project_id = (select project_id from public.orders where id = pg_temp.o('reqs')) $$,
  'PT409', format('the requirements of project %s are settled: they change only while the project is open or awaiting approval', (select project_id from public.orders where id = pg_temp.o('reqs'))),
  'requirements cannot be removed once both parties approved'
);

-- Payment -------------------------------------------------------------------------------
select pg_temp.act_as('service');
select ops.record_order_payment(pg_temp.o('reqs'));
select tests.clear_authentication();
select results_eq(
  $$ select status, paid_at is not null, due_at = paid_at + interval '10 days' from public.orders where id = pg_temp.o('reqs') $$,
  $$ values ('in_progress', true, true) $$,
  'payment starts the work: paid_at stamped, due after the bid''s duration'
);
select pg_temp.act_as('service');
select results_eq(
  $$ select status from ops.record_order_payment(pg_temp.o('reqs')) $$,
  $$ values ('in_progress') $$,
  'a repeated payment confirmation returns the order unchanged'
);
select is(
  (select count(*)::int from public.order_events where order_id = pg_temp.o('reqs') and event_type = 'payment_recorded'),
  1,
  'and records no second payment'
);
select throws_ok(
  format($$ select ops.record_order_payment(%L) $$, unknown_id),
  'PT404', format('order %s not found', unknown_id), 'a payment for an unknown order is not found'
) from gen_random_uuid() unknown_id;

-- Bad arguments -------------------------------------------------------------------------
select pg_temp.act_as('seller');
select throws_ok($$ select public.cancel_order(pg_temp.o('reqs'), '  ') $$, '22023', 'a cancellation needs a reason',
  'a cancellation needs a reason');
select pg_temp.act_as('buyer');
select throws_ok($$ select public.open_dispute(pg_temp.o('reqs'), 'bad') $$,
  '22023', 'a dispute needs a reason of at least 10 characters',
  'a dispute needs a reason of 10 characters');
select throws_ok(format($$ select public.approve_delivery(%L) $$, unknown_id),
  'PT404', format('order %s not found', unknown_id),
  'an unknown order is not found') from gen_random_uuid() unknown_id;

-- Revisions allowance -------------------------------------------------------------------
select tests.clear_authentication();
insert into named_orders values ('revisions', pg_temp.order_in('delivered'));
select tests.clear_authentication();
update public.orders set revisions_allowed = 1 where id = pg_temp.o('revisions');
select pg_temp.act_as('buyer');
select throws_ok(
  $$ select public.request_revision(pg_temp.o('revisions'), '') $$,
  '22023', 'a revision request needs a note saying what to change', 'a revision request needs a note'
);
select results_eq(
  $$ select status, revisions_used from public.request_revision(pg_temp.o('revisions'), 'Take in the waist') $$,
  $$ values ('revision_requested', 1) $$,
  'the buyer uses the one revision the order includes'
);
select pg_temp.act_as('seller');
select public.submit_delivery(pg_temp.o('revisions'), 'Waist taken in');
select pg_temp.act_as('buyer');
select throws_ok(
  $$ select public.request_revision(pg_temp.o('revisions'), 'And the sleeves') $$,
  'PT409', format('order %s has used all 1 revisions it includes', pg_temp.o('revisions')), 'no revision is left'
);
select results_eq(
  $$ select status from public.approve_delivery(pg_temp.o('revisions')) $$,
  $$ values ('completed') $$,
  'the buyer can still approve the delivery'
);
select set_eq(
  $$ select status, response_note, message from public.deliveries where order_id = pg_temp.o('revisions') $$,
  $$ values ('revision_requested', 'Take in the waist', 'First delivery'), ('approved', null::text, 'Waist taken in') $$,
  'each delivery records the buyer''s response'
);

-- What clients may write ----------------------------------------------------------------
select pg_temp.act_as('buyer');
select throws_ok(
  $$ update public.orders set status = 'completed' where id = pg_temp.o('reqs') $$,
  '42501', 'permission denied for table orders', 'the buyer cannot write the status'
);
select throws_ok(
  $$ update public.orders set price_amount = 1 where id = pg_temp.o('reqs') $$,
  '42501', 'permission denied for table orders', 'the buyer cannot write the price'
);
select throws_ok(
  $$ update public.orders set commission_rate_bps = 0, revisions_allowed = 99 where id = pg_temp.o('reqs') $$,
  '42501', 'permission denied for table orders', 'the buyer cannot write the commission or the revisions allowance'
);
select throws_ok(
  $$ insert into public.order_events (order_id, event_type) values (pg_temp.o('reqs'), 'status_changed') $$,
  '42501', 'permission denied for table order_events', 'the buyer cannot write the timeline'
);
select isnt_empty(
  $$ update public.orders set metadata = '{"fitting": "Tuesday"}' where id = pg_temp.o('reqs') returning id $$,
  'the buyer edits the order''s notes'
);
select pg_temp.act_as('seller');
select throws_ok(
  $$ update public.orders set status = 'delivered' where id = pg_temp.o('reqs') $$,
  '42501', 'permission denied for table orders', 'the seller cannot write the status'
);
select throws_ok(
  $$ update public.orders set paid_at = null where id = pg_temp.o('reqs') $$,
  '42501', 'permission denied for table orders', 'the seller cannot write payment times'
);
select isnt_empty(
  $$ update public.orders set metadata = '{"fitting": "Wednesday"}' where id = pg_temp.o('reqs') returning id $$,
  'the seller edits the order''s notes'
);
select pg_temp.act_as('stranger');
select is_empty(
  $$ update public.orders set metadata = '{"x": 1}' where id = pg_temp.o('reqs') returning id $$,
  'a stranger cannot edit an order''s notes'
);
select pg_temp.act_as('admin');
select is_empty(
  $$ update public.orders set metadata = '{"x": 1}' where id = pg_temp.o('reqs') returning id $$,
  'an admin does not edit the parties'' notes'
);

-- Who reads an order, its timeline, deliveries and disputes -----------------------------
select tests.clear_authentication();
insert into named_orders values ('evidence', pg_temp.order_in('delivered'));
select pg_temp.act_as('buyer');
select public.open_dispute(pg_temp.o('evidence'), 'The hem is uneven all around');
select pg_temp.act_as('stranger');
select is_empty($$ select 1 from public.orders where id = pg_temp.o('evidence') $$, 'a stranger cannot read the order');
select is_empty($$ select 1 from public.order_events where order_id = pg_temp.o('evidence') $$, 'a stranger cannot read its timeline');
select is_empty($$ select 1 from public.deliveries where order_id = pg_temp.o('evidence') $$, 'a stranger cannot read its deliveries');
select is_empty($$ select 1 from public.disputes where order_id = pg_temp.o('evidence') $$, 'a stranger cannot read its disputes');
select pg_temp.act_as('admin');
select results_eq(
  $$ select (select count(*)::int from public.orders where id = pg_temp.o('evidence')),
            (select count(*)::int from public.order_events where order_id = pg_temp.o('evidence')) > 0,
            (select count(*)::int from public.deliveries where order_id = pg_temp.o('evidence')),
            (select count(*)::int from public.disputes where order_id = pg_temp.o('evidence')) $$,
  $$ values (1, true, 1, 1) $$,
  'an admin reads the order, its timeline, its delivery and its dispute'
);
select pg_temp.act_as('seller');
select results_eq(
  $$ select (select count(*)::int from public.deliveries where order_id = pg_temp.o('evidence')),
            (select status || ':' || reason from public.disputes where order_id = pg_temp.o('evidence')) $$,
  $$ values (1, 'open:The hem is uneven all around') $$,
  'the seller reads the delivery and the dispute against them'
);
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.order_events $$, '42501', 'permission denied for table order_events',
  'anon cannot read timelines');
select throws_ok($$ select 1 from public.deliveries $$, '42501', 'permission denied for table deliveries',
  'anon cannot read deliveries');
select throws_ok($$ select 1 from public.disputes $$, '42501', 'permission denied for table disputes',
  'anon cannot read disputes');

-- The timeline and the project ----------------------------------------------------------
select tests.clear_authentication();
insert into named_orders values ('done', pg_temp.order_in('completed'));
insert into named_orders values ('dropped', pg_temp.order_in('cancelled'));
select tests.clear_authentication();
select results_eq(
  $$ select event_type, from_status, to_status, actor_id from public.order_events where order_id = pg_temp.o('done') order by id $$,
  $$ values
    ('created', null, 'awaiting_requirements', tests.get_user_id('sm-buyer@example.com')),
    ('requirements_approved', null, null, tests.get_user_id('sm-buyer@example.com')),
    ('requirements_approved', null, null, tests.get_user_id('sm-seller@example.com')),
    ('status_changed', 'awaiting_requirements', 'awaiting_payment', tests.get_user_id('sm-seller@example.com')),
    ('payment_recorded', null, null, null),
    ('status_changed', 'awaiting_payment', 'in_progress', null),
    ('delivery_submitted', null, null, tests.get_user_id('sm-seller@example.com')),
    ('status_changed', 'in_progress', 'delivered', tests.get_user_id('sm-seller@example.com')),
    ('status_changed', 'delivered', 'completed', tests.get_user_id('sm-buyer@example.com')) $$,
  'the timeline records every step, each transition with from, to and actor'
);
select results_eq(
  $$ select event_type, recipients from private.domain_events
      where subject_type = 'order' and subject_id = pg_temp.o('done') and event_type in ('order.delivered', 'order.completed') order by id $$,
  $$ values ('order.delivered', array[tests.get_user_id('sm-buyer@example.com')]),
            ('order.completed', array[tests.get_user_id('sm-seller@example.com')]) $$,
  'each transition tells the other party'
);
select results_eq(
  $$ select o.status, o.completed_at is not null, p.status from public.orders o join public.projects p on p.id = o.project_id
      where o.id = pg_temp.o('done') $$,
  $$ values ('completed', true, 'completed') $$,
  'completing the order completes its project'
);
select results_eq(
  $$ select o.status, o.cancelled_at is not null, o.cancellation_reason, p.status
       from public.orders o join public.projects p on p.id = o.project_id where o.id = pg_temp.o('dropped') $$,
  $$ values ('cancelled', true, 'Plans changed', 'cancelled') $$,
  'cancelling the order cancels its project and keeps the reason'
);
select results_eq(
  $$ select event_type, from_status, to_status, actor_id, note from public.order_events
      where order_id = pg_temp.o('dropped') and event_type = 'status_changed' $$,
  $$ values ('status_changed', 'awaiting_requirements', 'cancelled', tests.get_user_id('sm-buyer@example.com'), 'Plans changed') $$,
  'the cancellation is on the timeline with its actor and reason'
);

select * from finish();
rollback;
