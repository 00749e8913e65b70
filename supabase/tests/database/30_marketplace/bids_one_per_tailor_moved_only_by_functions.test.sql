-- Bids: one per tailor and project, never on one's own project or a project that stopped
-- taking bids, always in the project's currency and within its limits. A tailor sees and
-- edits only their own pending bids; the project owner sees every bid on their project;
-- strangers and anon see none; managers see all. withdraw_bid and reject_bid move status,
-- nothing else does, and bid_count follows the bids received.
begin;
select plan(55);

select tests.create_user('bid-owner@example.com');
select tests.create_user('bid-tailor@example.com');
select tests.create_user('bid-tailor2@example.com');
select tests.create_user('bid-tailor3@example.com');
select tests.create_user('bid-stranger@example.com');
select tests.create_user('bid-admin@example.com');

select tests.clear_authentication();
select tests.grant_role('bid-admin@example.com', 'admin');

insert into public.projects (owner_id, title, budget_amount, currency)
select tests.get_user_id('bid-owner@example.com'), title, budget, currency
  from (values ('Kimono', 300000, 'JPY'), ('Closed cape', 10000, 'USD'), ('Busy blazer', 10000, 'USD'))
       p (title, budget, currency);
-- Ids by title (tests.project_of, tests.bid_of), readable whoever the test is acting as.

-- "Closed cape" stops taking bids; "Busy blazer" goes ahead with tailor3's bid.
select tests.authenticate_as(tests.get_user_id('bid-owner@example.com'));
select public.close_project(tests.project_of('Closed cape'));
select tests.authenticate_as(tests.get_user_id('bid-tailor3@example.com'));
insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Busy blazer'), 9000, 7);
select tests.authenticate_as_service_role();
select ops.accept_bid(tests.bid_of('bid-tailor3@example.com', 'Busy blazer'), tests.get_user_id('bid-owner@example.com'), 9000, 7);

-- anon ----------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.bids $$, '42501', 'permission denied for table bids', 'anon cannot read bids');
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Kimono'), 1000, 5) $$,
  '42501', 'permission denied for table bids', 'anon cannot bid'
);

-- a tailor bids -------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('bid-tailor@example.com'));
select lives_ok(
  $$ insert into public.bids (project_id, amount, duration_days, message) values (tests.project_of('Kimono'), 250000, 14, 'Silk, hand-sewn') $$,
  'a tailor bids on an open project'
);
select results_eq(
  $$ select tailor_id, amount, status, decided_at from public.bids where id = tests.bid_of('bid-tailor@example.com', 'Kimono') $$,
  $$ values (tests.get_user_id('bid-tailor@example.com'), 250000::bigint, 'pending', null::timestamptz) $$,
  'the bid is the tailor''s and pending'
);
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Kimono'), 240000, 10) $$,
  '23505', 'duplicate key value violates unique constraint "bids_one_per_tailor"',
  'a second bid by the same tailor on the same project is refused'
);
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days, currency) values (tests.project_of('Kimono'), 240000, 10, 'USD') $$,
  '42703', 'column "currency" of relation "bids" does not exist',
  'a bid has no currency of its own: its amount is in the project''s'
);
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days, status) values (tests.project_of('Kimono'), 240000, 10, 'accepted') $$,
  '42501', 'permission denied for table bids', 'a bidder cannot set the status'
);
select throws_ok(
  $$ insert into public.bids (project_id, tailor_id, amount, duration_days)
     values (tests.project_of('Kimono'), tests.get_user_id('bid-tailor2@example.com'), 240000, 10) $$,
  '42501', 'permission denied for table bids', 'a bidder cannot bid in someone else''s name'
);
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Closed cape'), 9000, 10) $$,
  'PT409', format('project %s is closed: it no longer takes bids', tests.project_of('Closed cape')),
  'a closed project takes no bids'
);
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Busy blazer'), 9000, 10) $$,
  'PT409', format('project %s is in_progress: it no longer takes bids', tests.project_of('Busy blazer')),
  'a project in progress takes no bids'
);
select throws_ok(
  format($$ insert into public.bids (project_id, amount, duration_days) values (%L, 9000, 10) $$, unknown_id),
  'PT404', format('project %s not found', unknown_id), 'a bid on an unknown project is not found'
) from gen_random_uuid() unknown_id;

select tests.authenticate_as(tests.get_user_id('bid-tailor2@example.com'));
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Kimono'), 0, 10) $$,
  '22023', 'bid amount must be a positive whole number of minor units of JPY, not 0', 'a zero amount is refused'
);
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Kimono'), -1, 10) $$,
  '22023', 'bid amount must be a positive whole number of minor units of JPY, not -1', 'a negative amount is refused'
);
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days)
     values (tests.project_of('Kimono'), (select max_amount + 1 from public.currencies where code = 'JPY'), 10) $$,
  '22023', 'bid amount 100000000 exceeds the maximum of 99999999 minor units of JPY',
  'an amount above the currency''s maximum is refused'
);
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Kimono'), 1000, 0) $$,
  '23514', 'new row for relation "bids" violates check constraint "bids_duration_range"',
  'a duration of zero days is refused'
);
select lives_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Kimono'), 280000, 21) $$,
  'a second tailor bids on the same project'
);

-- the owner -----------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('bid-owner@example.com'));
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Kimono'), 1000, 5) $$,
  '42501', 'you cannot bid on your own project', 'the owner cannot bid on their own project'
);
select results_eq(
  $$ select tailor_id from public.bids where project_id = tests.project_of('Kimono') order by amount $$,
  $$ values (tests.get_user_id('bid-tailor@example.com')), (tests.get_user_id('bid-tailor2@example.com')) $$,
  'the owner sees every bid on their project'
);
select is_empty(
  $$ update public.bids set amount = 1 where project_id = tests.project_of('Kimono') returning id $$,
  'the owner cannot edit the bids on their project'
);
select throws_ok(
  $$ update public.bids set status = 'accepted' where id = tests.bid_of('bid-tailor@example.com', 'Kimono') $$,
  '42501', 'permission denied for table bids', 'the owner cannot accept a bid by writing its status'
);

-- the tailor, again ---------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('bid-tailor@example.com'));
select results_eq(
  $$ select tailor_id from public.bids $$,
  $$ values (tests.get_user_id('bid-tailor@example.com')) $$,
  'a tailor sees only their own bids'
);
select isnt_empty(
  $$ update public.bids set amount = 260000, duration_days = 10, message = 'Silk, hand-sewn, faster'
      where id = tests.bid_of('bid-tailor@example.com', 'Kimono') returning id $$,
  'a tailor edits their pending bid'
);
select tests.authenticate_as(tests.get_user_id('bid-owner@example.com'));
select throws_ok(
  $$ update public.projects set currency = 'USD' where id = tests.project_of('Kimono') $$,
  'PT409', format('project %s has bids in JPY: its currency cannot change', tests.project_of('Kimono')),
  'a project''s currency cannot change once it has bids (their amounts are in it)'
);
select tests.authenticate_as(tests.get_user_id('bid-tailor@example.com'));
select throws_ok(
  $$ update public.bids set amount = 0 where id = tests.bid_of('bid-tailor@example.com', 'Kimono') $$,
  '22023', 'bid amount must be a positive whole number of minor units of JPY, not 0', 'an edit cannot zero the amount'
);
select throws_ok(
  $$ update public.bids set status = 'withdrawn' where id = tests.bid_of('bid-tailor@example.com', 'Kimono') $$,
  '42501', 'permission denied for table bids', 'a tailor cannot write their bid''s status'
);
select throws_ok(
  $$ update public.bids set project_id = tests.project_of('Busy blazer') where id = tests.bid_of('bid-tailor@example.com', 'Kimono') $$,
  '42501', 'permission denied for table bids', 'a tailor cannot move their bid to another project'
);
select throws_ok(
  $$ update public.bids set project_id = tests.project_of('Busy blazer') where id = tests.bid_of('bid-tailor@example.com', 'Kimono') $$,
  '42501', 'permission denied for table bids', 'a tailor cannot move their bid to another project'
);
select is_empty(
  $$ update public.bids set amount = 1 where id = tests.bid_of('bid-tailor2@example.com', 'Kimono') returning id $$,
  'a tailor cannot edit another tailor''s bid'
);

-- strangers and managers ----------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('bid-stranger@example.com'));
select is_empty($$ select 1 from public.bids $$, 'a stranger sees no bids');
select is_empty(
  $$ update public.bids set amount = 1 returning id $$,
  'a stranger cannot edit bids'
);
select tests.authenticate_as(tests.get_user_id('bid-admin@example.com'));
select is(
  (select count(*)::int from public.bids where project_id in (tests.project_of('Kimono'), tests.project_of('Busy blazer'))),
  3,
  'a manager sees every bid'
);

-- withdraw_bid --------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('bid-tailor2@example.com'));
select throws_ok(
  $$ select public.withdraw_bid(tests.bid_of('bid-tailor@example.com', 'Kimono')) $$,
  'PT404', format('bid %s not found', tests.bid_of('bid-tailor@example.com', 'Kimono')),
  'a tailor cannot withdraw another tailor''s bid (not found)'
);
select tests.authenticate_as(tests.get_user_id('bid-owner@example.com'));
select throws_ok(
  $$ select public.withdraw_bid(tests.bid_of('bid-tailor@example.com', 'Kimono')) $$,
  'PT404', format('bid %s not found', tests.bid_of('bid-tailor@example.com', 'Kimono')),
  'the project owner cannot withdraw a bid (not found)'
);
select throws_ok(format($$ select public.withdraw_bid(%L) $$, unknown_id),
  'PT404', format('bid %s not found', unknown_id),
  'withdrawing an unknown bid is not found') from gen_random_uuid() unknown_id;

select tests.authenticate_as(tests.get_user_id('bid-tailor@example.com'));
select results_eq(
  $$ select status, decided_at is not null from public.withdraw_bid(tests.bid_of('bid-tailor@example.com', 'Kimono')) $$,
  $$ values ('withdrawn', true) $$,
  'a tailor withdraws their pending bid'
);
select throws_ok(
  $$ select public.withdraw_bid(tests.bid_of('bid-tailor@example.com', 'Kimono')) $$,
  'PT409', format('bid %s is withdrawn, only a pending bid can be withdrawn', tests.bid_of('bid-tailor@example.com', 'Kimono')),
  'a bid cannot be withdrawn twice'
);
select throws_ok(
  $$ update public.bids set amount = 1000 where id = tests.bid_of('bid-tailor@example.com', 'Kimono') $$,
  'PT409', format('bid %s is withdrawn: only a pending bid can be edited', tests.bid_of('bid-tailor@example.com', 'Kimono')),
  'a withdrawn bid can no longer be edited, and the tailor is told why'
);
select throws_ok(
  $$ select public.withdraw_bid(tests.bid_of('bid-tailor3@example.com', 'Busy blazer')) $$,
  'PT404', format('bid %s not found', tests.bid_of('bid-tailor3@example.com', 'Busy blazer')),
  'another tailor''s accepted bid is not found'
);
select tests.authenticate_as(tests.get_user_id('bid-tailor3@example.com'));
select throws_ok(
  $$ select public.withdraw_bid(tests.bid_of('bid-tailor3@example.com', 'Busy blazer')) $$,
  'PT409', format('bid %s is accepted, only a pending bid can be withdrawn', tests.bid_of('bid-tailor3@example.com', 'Busy blazer')),
  'an accepted bid cannot be withdrawn'
);

-- reject_bid ----------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('bid-tailor2@example.com'));
select throws_ok(
  $$ select public.reject_bid(tests.bid_of('bid-tailor2@example.com', 'Kimono')) $$,
  'PT404', format('bid %s not found', tests.bid_of('bid-tailor2@example.com', 'Kimono')),
  'a tailor cannot reject (their own) bid'
);
select tests.authenticate_as(tests.get_user_id('bid-stranger@example.com'));
select throws_ok(
  $$ select public.reject_bid(tests.bid_of('bid-tailor2@example.com', 'Kimono')) $$,
  'PT404', format('bid %s not found', tests.bid_of('bid-tailor2@example.com', 'Kimono')),
  'a stranger cannot reject a bid (not found)'
);
select tests.authenticate_as(tests.get_user_id('bid-owner@example.com'));
select throws_ok(format($$ select public.reject_bid(%L) $$, unknown_id),
  'PT404', format('bid %s not found', unknown_id),
  'rejecting an unknown bid is not found') from gen_random_uuid() unknown_id;
select throws_ok(
  $$ select public.reject_bid(tests.bid_of('bid-tailor@example.com', 'Kimono')) $$,
  'PT409', format('bid %s is withdrawn, only a pending bid can be rejected', tests.bid_of('bid-tailor@example.com', 'Kimono')),
  'a withdrawn bid cannot be rejected'
);
select throws_ok(
  $$ select public.reject_bid(tests.bid_of('bid-tailor3@example.com', 'Busy blazer')) $$,
  'PT409', format('bid %s is accepted, only a pending bid can be rejected', tests.bid_of('bid-tailor3@example.com', 'Busy blazer')),
  'an accepted bid cannot be rejected'
);
select results_eq(
  $$ select status, decided_at is not null from public.reject_bid(tests.bid_of('bid-tailor2@example.com', 'Kimono')) $$,
  $$ values ('rejected', true) $$,
  'the owner rejects a pending bid'
);
select throws_ok(
  $$ select public.reject_bid(tests.bid_of('bid-tailor2@example.com', 'Kimono')) $$,
  'PT409', format('bid %s is rejected, only a pending bid can be rejected', tests.bid_of('bid-tailor2@example.com', 'Kimono')),
  'a bid cannot be rejected twice'
);
select tests.authenticate_as(tests.get_user_id('bid-tailor2@example.com'));
select throws_ok(
  $$ select public.withdraw_bid(tests.bid_of('bid-tailor2@example.com', 'Kimono')) $$,
  'PT409', format('bid %s is rejected, only a pending bid can be withdrawn', tests.bid_of('bid-tailor2@example.com', 'Kimono')),
  'a rejected bid cannot be withdrawn'
);
select throws_ok(
  $$ update public.bids set message = 'Cheaper now' where id = tests.bid_of('bid-tailor2@example.com', 'Kimono') $$,
  'PT409', format('bid %s is rejected: only a pending bid can be edited', tests.bid_of('bid-tailor2@example.com', 'Kimono')),
  'a rejected bid can no longer be edited (its message neither)'
);
select isnt_empty(
  $$ select 1 from public.bids where id = tests.bid_of('bid-tailor2@example.com', 'Kimono') $$,
  'a tailor still sees their rejected bid'
);
select tests.authenticate_as(tests.get_user_id('bid-tailor3@example.com'));
select throws_ok(
  $$ update public.bids set duration_days = 3 where id = tests.bid_of('bid-tailor3@example.com', 'Busy blazer') $$,
  'PT409', format('bid %s is accepted: only a pending bid can be edited', tests.bid_of('bid-tailor3@example.com', 'Busy blazer')),
  'an accepted bid can no longer be edited: its order keeps the terms accepted'
);

-- a manager rejects ---------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('bid-stranger@example.com'));
insert into public.bids (project_id, amount, duration_days) values (tests.project_of('Kimono'), 200000, 30);
select tests.authenticate_as(tests.get_user_id('bid-admin@example.com'));
select results_eq(
  $$ select status from public.reject_bid(tests.bid_of('bid-stranger@example.com', 'Kimono')) $$,
  $$ values ('rejected') $$,
  'a manager rejects a bid'
);

-- events and counts ---------------------------------------------------------------------
select tests.clear_authentication();
select results_eq(
  $$ select event_type, subject_id, actor_id, recipients from private.domain_events
      where subject_type = 'bid' and subject_id in (tests.bid_of('bid-tailor@example.com', 'Kimono'),
                                                    tests.bid_of('bid-tailor2@example.com', 'Kimono'))
      order by id $$,
  $$ values ('bid.withdrawn', tests.bid_of('bid-tailor@example.com', 'Kimono'), tests.get_user_id('bid-tailor@example.com'),
             array[tests.get_user_id('bid-owner@example.com')]),
            ('bid.rejected', tests.bid_of('bid-tailor2@example.com', 'Kimono'), tests.get_user_id('bid-owner@example.com'),
             array[tests.get_user_id('bid-tailor2@example.com')]) $$,
  'withdrawing tells the owner, rejecting tells the tailor'
);
select results_eq(
  $$ select title, bid_count from public.projects where owner_id = tests.get_user_id('bid-owner@example.com') order by title $$,
  $$ values ('Busy blazer', 1), ('Closed cape', 0), ('Kimono', 3) $$,
  'bid_count counts the bids each project received (refused bids are not counted)'
);
select is(
  (select bid_count from public.projects where id = tests.project_of('Kimono')),
  (select count(*)::int from public.bids where project_id = tests.project_of('Kimono')),
  'bid_count matches the bids on the project, withdrawn and rejected included'
);
select results_eq(
  $$ select status from public.bids where project_id = tests.project_of('Kimono') order by amount $$,
  $$ values ('rejected'), ('withdrawn'), ('rejected') $$,
  'every bid on the project ended where its function put it'
);

select * from finish();
rollback;
