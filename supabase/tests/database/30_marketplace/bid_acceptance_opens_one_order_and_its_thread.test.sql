-- Accepting a bid: only the service role runs accept_bid (the accept-bid edge function,
-- for the owner it has identified). One call accepts the bid, rejects the others, starts
-- the project, and opens an order with its price and commission snapshot, a thread for the
-- two parties, a timeline entry and domain events. A retry returns the same order; nothing
-- else can be accepted afterwards. The owner accepts the terms they read (amount and
-- duration): a bid edited since is refused with its terms now, and a bid once accepted can no
-- longer be edited, so the order's price is always the one accepted. (The race itself, an
-- edit and an acceptance at once, is raced in
-- tests/integration/30_marketplace/bids_edits_race_acceptance.test.ts.)
begin;
select plan(51);

select tests.create_user('acc-owner@example.com');
select tests.create_user('acc-tailor@example.com');
select tests.create_user('acc-tailor2@example.com');
select tests.create_user('acc-tailor3@example.com');
select tests.create_user('acc-stranger@example.com');

select tests.clear_authentication();
update public.platform_settings set value = '1250' where key = 'commission_rate_bps';

insert into public.projects (owner_id, title, budget_amount, currency)
select tests.get_user_id('acc-owner@example.com'), title, 20000, 'GBP'
  from (values ('Ball gown'), ('Morning coat'), ('Cape')) p (title);

-- Ids by title (tests.project_of, tests.bid_of) and the project's order, readable whoever the
-- test is acting as.
create function pg_temp.order_of(project_title text) returns public.orders language sql security definer as $$
  select * from public.orders o where o.project_id = tests.project_of(project_title)
$$;
grant execute on function pg_temp.order_of(text) to authenticated, anon, service_role;

select tests.authenticate_as(tests.get_user_id('acc-tailor@example.com'));
insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Ball gown'), 18550, 21);
select tests.authenticate_as(tests.get_user_id('acc-tailor2@example.com'));
insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Ball gown'), 19000, 14),
                                                                    (tests.project_of('Morning coat'), 15000, 10);
select tests.authenticate_as(tests.get_user_id('acc-tailor3@example.com'));
insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Ball gown'), 17000, 30);
select public.withdraw_bid(tests.bid_of('acc-tailor3@example.com', 'Ball gown'));
select tests.authenticate_as(tests.get_user_id('acc-owner@example.com'));
select public.reject_bid(tests.bid_of('acc-tailor2@example.com', 'Morning coat'));

-- who may run it ------------------------------------------------------------------------
select ok(
  not has_function_privilege('authenticated', tests.ops_function('accept_bid'), 'execute')
  and not has_function_privilege('anon', tests.ops_function('accept_bid'), 'execute')
  and has_function_privilege('service_role', tests.ops_function('accept_bid'), 'execute'),
  'accept_bid is executable by the service role only'
);
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Ball gown'), auth.uid(), 18550, 21) $$,
  '42501', 'permission denied for schema ops', 'the owner cannot call accept_bid directly'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Ball gown'), tests.get_user_id('acc-owner@example.com'), 18550, 21) $$,
  '42501', 'permission denied for schema ops', 'anon cannot call accept_bid'
);

-- refusals ------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Ball gown'), tests.get_user_id('acc-tailor2@example.com'), 18550, 21) $$,
  '42501', 'only the project''s owner may accept its bids', 'a bid is accepted only for the project''s owner'
);
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Ball gown'), null, 18550, 21) $$,
  '42501', 'only the project''s owner may accept its bids', 'a bid is not accepted for nobody'
);
select throws_ok(
  format($$ select ops.accept_bid(%L, tests.get_user_id('acc-owner@example.com'), 1000, 10) $$, unknown_id),
  'PT404', format('bid %s not found', unknown_id), 'an unknown bid is not found'
) from gen_random_uuid() unknown_id;
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor3@example.com', 'Ball gown'), tests.get_user_id('acc-owner@example.com'), 17000, 30) $$,
  'PT409', format('bid %s is withdrawn: only a pending bid can be accepted', tests.bid_of('acc-tailor3@example.com', 'Ball gown')),
  'a withdrawn bid cannot be accepted'
);
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor2@example.com', 'Morning coat'), tests.get_user_id('acc-owner@example.com'), 15000, 10) $$,
  'PT409', format('bid %s is rejected: only a pending bid can be accepted', tests.bid_of('acc-tailor2@example.com', 'Morning coat')),
  'a rejected bid cannot be accepted'
);

-- acceptance ----------------------------------------------------------------------------
select results_eq(
  $$ select created from ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Ball gown'), tests.get_user_id('acc-owner@example.com'), 18550, 21) $$,
  $$ values (true) $$,
  'the owner''s acceptance creates an order'
);

select tests.clear_authentication();
update public.platform_settings set value = '2000' where key = 'commission_rate_bps';

select results_eq(
  $$ select tailor_id, status from public.bids where project_id = tests.project_of('Ball gown') order by amount $$,
  $$ values (tests.get_user_id('acc-tailor3@example.com'), 'withdrawn'),
            (tests.get_user_id('acc-tailor@example.com'), 'accepted'),
            (tests.get_user_id('acc-tailor2@example.com'), 'rejected') $$,
  'the bid is accepted, the other pending bid rejected, the withdrawn one left alone'
);
select ok(
  (select bool_and(decided_at is not null) from public.bids where project_id = tests.project_of('Ball gown')),
  'every decided bid is dated'
);
select is(
  (select status from public.projects where id = tests.project_of('Ball gown')),
  'in_progress',
  'the project is in progress'
);
select results_eq(
  $$ select kind, buyer_id, seller_id, bid_id, title, status, price_amount, currency, commission_rate_bps, duration_days,
            revisions_used, paid_at
       from pg_temp.order_of('Ball gown') $$,
  $$ values ('project', tests.get_user_id('acc-owner@example.com'), tests.get_user_id('acc-tailor@example.com'),
             tests.bid_of('acc-tailor@example.com', 'Ball gown'), 'Ball gown', 'awaiting_requirements',
             18550::bigint, 'GBP', 1250, 21, 0, null::timestamptz) $$,
  'the order snapshots the bid''s price, currency and duration and the commission then in force'
);
select results_eq(
  $$ select user_id from public.thread_participants where thread_id = (pg_temp.order_of('Ball gown')).thread_id order by user_id $$,
  $$ select unnest(array[tests.get_user_id('acc-owner@example.com'), tests.get_user_id('acc-tailor@example.com')]) u order by u $$,
  'the order''s thread has exactly the two parties'
);
select is(
  (select project_id from public.threads where id = (pg_temp.order_of('Ball gown')).thread_id),
  tests.project_of('Ball gown'),
  'the thread is about the project'
);
select is(
  (select order_id from public.threads where id = (pg_temp.order_of('Ball gown')).thread_id),
  (pg_temp.order_of('Ball gown')).id,
  'and names the order'
);
select results_eq(
  $$ select event_type, from_status, to_status, actor_id from public.order_events where order_id = (pg_temp.order_of('Ball gown')).id $$,
  $$ values ('created', null::text, 'awaiting_requirements', tests.get_user_id('acc-owner@example.com')) $$,
  'the timeline starts with one created entry by the buyer'
);
select results_eq(
  $$ select event_type, subject_type, subject_id, actor_id, recipients from private.domain_events
      where event_type in ('bid.accepted', 'bid.rejected', 'order.created')
        and (subject_id in (tests.project_of('Ball gown'), (pg_temp.order_of('Ball gown')).id)
             or subject_id in (select id from public.bids where project_id = tests.project_of('Ball gown')))
      order by event_type $$,
  $$ values ('bid.accepted', 'bid', tests.bid_of('acc-tailor@example.com', 'Ball gown'), tests.get_user_id('acc-owner@example.com'),
             array[tests.get_user_id('acc-tailor@example.com')]),
            ('bid.rejected', 'project', tests.project_of('Ball gown'), tests.get_user_id('acc-owner@example.com'),
             array[tests.get_user_id('acc-tailor2@example.com')]),
            ('order.created', 'order', (pg_temp.order_of('Ball gown')).id, tests.get_user_id('acc-owner@example.com'),
             array[tests.get_user_id('acc-tailor@example.com')]) $$,
  'events tell the winner, the other pending bidder, and the seller of the new order (never the acting owner)'
);
select is(
  (select payload ->> 'order_id' from private.domain_events where event_type = 'bid.accepted'
      and subject_id = tests.bid_of('acc-tailor@example.com', 'Ball gown')),
  (pg_temp.order_of('Ball gown')).id::text,
  'the bid.accepted event names the order'
);

-- retries and second attempts -----------------------------------------------------------
select tests.authenticate_as_service_role();
select results_eq(
  $$ select order_id, created from ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Ball gown'), tests.get_user_id('acc-owner@example.com'), 18550, 21) $$,
  $$ select (pg_temp.order_of('Ball gown')).id, false $$,
  'accepting the same bid again returns the same order, not created'
);
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Ball gown'), tests.get_user_id('acc-tailor2@example.com'), 18550, 21) $$,
  '42501', 'only the project''s owner may accept its bids', 'a retry for someone other than the owner is still refused'
);
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor2@example.com', 'Ball gown'), tests.get_user_id('acc-owner@example.com'), 19000, 14) $$,
  'PT409', format('project %s is in_progress: it no longer accepts bids', tests.project_of('Ball gown')),
  'another bid on the project cannot be accepted afterwards'
);
select tests.clear_authentication();
select is(
  (select count(*)::int from public.orders where project_id = tests.project_of('Ball gown')),
  1,
  'there is still exactly one order for the project'
);
select is(
  (select count(*)::int from public.threads where project_id = tests.project_of('Ball gown')),
  1,
  'and exactly one thread'
);
select is(
  (select count(*)::int from private.domain_events where event_type = 'order.created' and subject_id = (pg_temp.order_of('Ball gown')).id),
  1,
  'and the order was announced once'
);

-- the terms the owner accepts -----------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('acc-tailor@example.com'));
insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Cape'), 20000, 10);
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Cape'), tests.get_user_id('acc-owner@example.com'), null, 10) $$,
  '22023', 'accepting a bid needs the amount and duration_days the owner accepts',
  'a bid is not accepted without the amount the owner accepts'
);
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Cape'), tests.get_user_id('acc-owner@example.com'), 20000, null) $$,
  '22023', 'accepting a bid needs the amount and duration_days the owner accepts',
  'nor without the duration'
);

-- The owner read 20000 for 10 days; the tailor then re-prices the bid.
select tests.authenticate_as(tests.get_user_id('acc-tailor@example.com'));
update public.bids set amount = 99999 where id = tests.bid_of('acc-tailor@example.com', 'Cape');
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Cape'), tests.get_user_id('acc-owner@example.com'), 20000, 10) $$,
  'PT409',
  format('bid %s has changed: it now asks 99999 for 10 days, not 20000 for 10 days (minor units of GBP); read it again before accepting',
         tests.bid_of('acc-tailor@example.com', 'Cape')),
  'a bid re-priced since the owner read it is not accepted at its new price: refused, with the terms it has now'
);
select results_eq(
  $$ select b.status, b.amount, p.status, (select count(*)::int from public.orders o where o.project_id = p.id)
       from public.bids b join public.projects p on p.id = b.project_id where b.id = tests.bid_of('acc-tailor@example.com', 'Cape') $$,
  $$ values ('pending', 99999::bigint, 'open', 0) $$,
  'the refusal changes nothing: the bid is pending, the project open, no order'
);

-- A new duration alone is a change too.
select tests.authenticate_as(tests.get_user_id('acc-tailor@example.com'));
update public.bids set amount = 20000, duration_days = 12 where id = tests.bid_of('acc-tailor@example.com', 'Cape');
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Cape'), tests.get_user_id('acc-owner@example.com'), 20000, 10) $$,
  'PT409',
  format('bid %s has changed: it now asks 20000 for 12 days, not 20000 for 10 days (minor units of GBP); read it again before accepting',
         tests.bid_of('acc-tailor@example.com', 'Cape')),
  'a bid whose duration changed since the owner read it is refused too'
);

-- The owner reads it again and accepts what it says.
select results_eq(
  $$ select created from ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Cape'), tests.get_user_id('acc-owner@example.com'), 20000, 12) $$,
  $$ values (true) $$,
  'the owner accepts the terms the bid has now'
);
select results_eq(
  $$ select price_amount, duration_days from public.orders where bid_id = tests.bid_of('acc-tailor@example.com', 'Cape') $$,
  $$ values (20000::bigint, 12) $$,
  'the order is priced at the terms accepted'
);
select results_eq(
  $$ select created from ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Cape'), tests.get_user_id('acc-owner@example.com'), 20000, 12) $$,
  $$ values (false) $$,
  'a retry with the same terms returns the order'
);
select throws_ok(
  $$ select ops.accept_bid(tests.bid_of('acc-tailor@example.com', 'Cape'), tests.get_user_id('acc-owner@example.com'), 99999, 10) $$,
  'PT409',
  format('bid %s was accepted at 20000 for 12 days, not 99999 for 10 days (minor units of GBP)', tests.bid_of('acc-tailor@example.com', 'Cape')),
  'a retry with other terms is refused with the terms it was accepted at'
);

-- Once accepted, the tailor can no longer re-price it: the order keeps what was accepted.
select tests.authenticate_as(tests.get_user_id('acc-tailor@example.com'));
select throws_ok(
  $$ update public.bids set amount = 99999999 where id = tests.bid_of('acc-tailor@example.com', 'Cape') $$,
  'PT409', format('bid %s is accepted: only a pending bid can be edited', tests.bid_of('acc-tailor@example.com', 'Cape')),
  'an edit after the acceptance is refused, and the tailor is told why'
);
select results_eq(
  $$ select b.amount, o.price_amount from public.bids b join public.orders o on o.bid_id = b.id
      where b.id = tests.bid_of('acc-tailor@example.com', 'Cape') $$,
  $$ values (20000::bigint, 20000::bigint) $$,
  'the bid and its order still say what was accepted'
);

-- who sees the order and its thread -----------------------------------------------------
select tests.authenticate_as(tests.get_user_id('acc-owner@example.com'));
select isnt_empty($$ select 1 from public.orders where project_id = tests.project_of('Ball gown') $$, 'the buyer reads the order');
select is(
  (select count(*)::int from public.thread_participants tp join public.orders o on o.thread_id = tp.thread_id
    where o.project_id = tests.project_of('Ball gown')),
  2,
  'the buyer reads the thread''s participants'
);
select tests.authenticate_as(tests.get_user_id('acc-tailor@example.com'));
select isnt_empty($$ select 1 from public.orders where project_id = tests.project_of('Ball gown') $$, 'the seller reads the order');
select isnt_empty(
  $$ select 1 from public.threads where id = (pg_temp.order_of('Ball gown')).thread_id $$,
  'the seller reads the thread'
);
select is(
  (select count(*)::int from public.thread_participants where thread_id = (pg_temp.order_of('Ball gown')).thread_id),
  2,
  'the seller reads the thread''s participants'
);
select isnt_empty(
  $$ update public.thread_participants set muted = true
      where thread_id = (pg_temp.order_of('Ball gown')).thread_id and user_id = auth.uid() returning 1 $$,
  'a participant mutes the thread for themselves'
);
select is_empty(
  $$ update public.thread_participants set muted = true
      where thread_id = (pg_temp.order_of('Ball gown')).thread_id and user_id <> auth.uid() returning 1 $$,
  'a participant cannot mute the thread for the other party'
);
select throws_ok(
  $$ update public.thread_participants set user_id = tests.get_user_id('acc-stranger@example.com')
      where thread_id = (pg_temp.order_of('Ball gown')).thread_id and user_id = auth.uid() $$,
  '42501', 'permission denied for table thread_participants', 'a participant cannot hand their seat to someone else'
);

select tests.authenticate_as(tests.get_user_id('acc-tailor2@example.com'));
select is_empty(
  $$ select 1 from public.orders where project_id = tests.project_of('Ball gown') $$,
  'a rejected bidder does not read the order'
);
select is_empty(
  $$ select 1 from public.threads where id = (pg_temp.order_of('Ball gown')).thread_id $$,
  'a rejected bidder does not read the thread'
);
select tests.authenticate_as(tests.get_user_id('acc-stranger@example.com'));
select is_empty(
  $$ select 1 from public.threads where id = (pg_temp.order_of('Ball gown')).thread_id $$,
  'a stranger does not read the thread'
);
select is_empty(
  $$ select 1 from public.thread_participants where thread_id = (pg_temp.order_of('Ball gown')).thread_id $$,
  'a stranger does not see who is in the thread'
);
select is_empty(
  $$ select 1 from public.orders where project_id = tests.project_of('Ball gown') $$,
  'a stranger does not read the order'
);
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.threads $$, '42501', 'permission denied for table threads',
  'anon cannot read threads');
select throws_ok($$ select 1 from public.orders $$, '42501', 'permission denied for table orders',
  'anon cannot read orders');

select * from finish();
rollback;
