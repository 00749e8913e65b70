-- Projects, their attached designs and requirements: anon sees nothing; the owner posts,
-- edits and closes while open, never writing status, bid counts or ownership; a stranger
-- reads open projects only; a bidder keeps reading what they bid on; a marketplace manager
-- reads everything. Bad money, dates and titles are refused with precise codes, and an
-- account's deletion takes its projects with it.
begin;
select plan(66);

select tests.create_user('proj-owner@example.com');
select tests.create_user('proj-stranger@example.com');
select tests.create_user('proj-bidder@example.com');
select tests.create_user('proj-admin@example.com');

select tests.clear_authentication();
select tests.grant_role('proj-admin@example.com', 'admin');

-- A private design for the owner and one for the stranger.
insert into public.designs (owner_id, title, pattern)
select tests.get_user_id(email), title,
       '{"version": 1, "units": "cm", "width": 100, "height": 100, "pieces": [{"name": "front", "points": [[0, 0], [10, 10]]}]}'
  from (values ('proj-owner@example.com', 'Owner jacket'), ('proj-stranger@example.com', 'Stranger coat')) d (email, title);

-- Ids by title (tests.project_of for projects), readable whoever the test is acting as.
create function pg_temp.design_of(title text) returns uuid language sql security definer as $$
  select id from public.designs d where d.title = design_of.title
$$;
grant execute on function pg_temp.design_of(text) to authenticated, anon, service_role;

-- anon ----------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.projects $$, '42501', 'permission denied for table projects',
  'anon cannot read projects');
select throws_ok($$ select 1 from public.project_designs $$, '42501', 'permission denied for table project_designs',
  'anon cannot read project designs');
select throws_ok($$ select 1 from public.project_requirements $$,
  '42501', 'permission denied for table project_requirements',
  'anon cannot read requirements');
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency) values ('Anon project', 1000, 'USD') $$,
  '42501', 'permission denied for table projects', 'anon cannot post projects'
);

-- owner ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('proj-owner@example.com'));
select lives_ok(
  $$ insert into public.projects (title, description, budget_amount, currency, deadline)
     values ('Wedding suit', 'A three-piece suit', 50000, 'EUR', current_date + 30) $$,
  'the owner posts a project'
);
select results_eq(
  $$ select owner_id, status, bid_count, currency from public.projects where id = tests.project_of('Wedding suit') $$,
  $$ values (tests.get_user_id('proj-owner@example.com'), 'open', 0, 'EUR') $$,
  'the project is the owner''s, open, with no bids'
);
select lives_ok(
  $$ insert into public.projects (title, budget_amount, currency) values ('Summer dress', 20000, 'USD'),
                                                                         ('Winter coat', 30000, 'USD') $$,
  'the owner posts more projects (deadline optional)'
);
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency, status) values ('Sneaky', 1000, 'USD', 'in_progress') $$,
  '42501', 'permission denied for table projects', 'the owner cannot set a project''s status'
);
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency, bid_count) values ('Sneaky', 1000, 'USD', 10) $$,
  '42501', 'permission denied for table projects', 'the owner cannot set a project''s bid count'
);
select throws_ok(
  $$ insert into public.projects (owner_id, title, budget_amount, currency)
     values (tests.get_user_id('proj-stranger@example.com'), 'For you', 1000, 'USD') $$,
  '42501', 'permission denied for table projects', 'a user cannot post a project on someone else''s behalf'
);
select throws_ok(
  $$ update public.projects set status = 'closed' where id = tests.project_of('Wedding suit') $$,
  '42501', 'permission denied for table projects', 'the owner cannot write status'
);
select throws_ok(
  $$ update public.projects set bid_count = 0 where id = tests.project_of('Wedding suit') $$,
  '42501', 'permission denied for table projects', 'the owner cannot write bid_count'
);
select throws_ok(
  $$ update public.projects set owner_id = tests.get_user_id('proj-stranger@example.com') where id = tests.project_of('Wedding suit') $$,
  '42501', 'permission denied for table projects', 'the owner cannot give a project away by writing owner_id'
);
select isnt_empty(
  $$ update public.projects set description = 'A three-piece wool suit', budget_amount = 60000, deadline = current_date + 60
      where id = tests.project_of('Wedding suit') returning id $$,
  'the owner edits their open project'
);

-- bad input
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency) values ('Free work', 0, 'USD') $$,
  '22023', 'budget must be a positive whole number of minor units of USD, not 0', 'a zero budget is refused'
);
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency) values ('Negative', -100, 'USD') $$,
  '22023', 'budget must be a positive whole number of minor units of USD, not -100', 'a negative budget is refused'
);
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency)
     values ('Too rich', (select max_amount + 1 from public.currencies where code = 'USD'), 'USD') $$,
  '22023', 'budget 100000000 exceeds the maximum of 99999999 minor units of USD',
  'a budget above the currency''s max_amount is refused'
);
select lives_ok(
  $$ insert into public.projects (title, budget_amount, currency)
     values ('Just rich enough', (select max_amount from public.currencies where code = 'JPY'), 'JPY') $$,
  'a budget of exactly max_amount is accepted'
);
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency) values ('Doubloons', 1000, 'XDB') $$,
  '22023', 'currency XDB is not supported (see the currencies table)', 'an unknown currency is refused'
);
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency, deadline) values ('Too late', 1000, 'USD', current_date - 1) $$,
  '22023', format('the deadline %s is in the past', current_date - 1), 'a deadline in the past is refused'
);
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency) values ('ab', 1000, 'USD') $$,
  '23514', 'new row for relation "projects" violates check constraint "projects_title_length"',
  'a title shorter than 3 characters is refused'
);
select throws_ok(
  $$ update public.projects set budget_amount = 0 where id = tests.project_of('Wedding suit') $$,
  '22023', 'budget must be a positive whole number of minor units of EUR, not 0', 'an edit cannot zero the budget'
);
select throws_ok(
  $$ update public.projects set deadline = current_date - 1 where id = tests.project_of('Wedding suit') $$,
  '22023', format('the deadline %s is in the past', current_date - 1), 'an edit cannot move the deadline into the past'
);

-- designs and requirements
select lives_ok(
  $$ insert into public.project_designs (project_id, design_id) values (tests.project_of('Wedding suit'), pg_temp.design_of('Owner jacket')) $$,
  'the owner attaches their own design'
);
select throws_ok(
  $$ insert into public.project_designs (project_id, design_id) values (tests.project_of('Summer dress'), pg_temp.design_of('Stranger coat')) $$,
  '42501', format('design %s is not yours to attach to project %s', pg_temp.design_of('Stranger coat'), tests.project_of('Summer dress')),
  'the owner cannot attach someone else''s design'
);
select lives_ok(
  $$ insert into public.project_designs (project_id, design_id) values (tests.project_of('Summer dress'), pg_temp.design_of('Owner jacket')) $$,
  'the same design may be attached to a second project'
);
select isnt_empty(
  $$ delete from public.project_designs where project_id = tests.project_of('Summer dress') returning design_id $$,
  'the owner detaches a design from their open project'
);
select lives_ok(
  $$ insert into public.project_requirements (project_id, position, title, details)
     values (tests.project_of('Wedding suit'), 1, 'Wool', 'Super 120s'),
            (tests.project_of('Wedding suit'), 2, 'Lining', 'Silk'),
            (tests.project_of('Wedding suit'), 3, 'Buttons', 'Horn') $$,
  'the owner adds requirements'
);
select isnt_empty(
  $$ update public.project_requirements set details = 'Cupro' where project_id = tests.project_of('Wedding suit') and title = 'Lining' returning id $$,
  'the owner edits a requirement'
);
select isnt_empty(
  $$ delete from public.project_requirements where project_id = tests.project_of('Wedding suit') and title = 'Buttons' returning id $$,
  'the owner removes a requirement'
);
select throws_ok(
  $$ update public.project_requirements set project_id = tests.project_of('Summer dress') where title = 'Wool' $$,
  '42501', 'permission denied for table project_requirements', 'a requirement cannot be moved to another project'
);

-- stranger ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('proj-stranger@example.com'));
select is(
  (select count(*)::int from public.projects where owner_id = tests.get_user_id('proj-owner@example.com')),
  4,
  'a stranger reads the owner''s open projects'
);
select results_eq(
  $$ select title from public.project_requirements where project_id = tests.project_of('Wedding suit') order by position $$,
  $$ values ('Wool'), ('Lining') $$,
  'a stranger reads the requirements of an open project'
);
select is(
  (select title from public.designs where id = pg_temp.design_of('Owner jacket')),
  'Owner jacket',
  'a stranger reads the private design attached to an open project'
);
select is_empty(
  $$ update public.projects set title = 'Hijacked' where id = tests.project_of('Wedding suit') returning id $$,
  'a stranger''s edit of another user''s project touches no row'
);
select is_empty(
  $$ update public.project_requirements set title = 'Hijacked' where project_id = tests.project_of('Wedding suit') returning id $$,
  'a stranger''s edit of another user''s requirements touches no row'
);
select is_empty(
  $$ delete from public.project_requirements where project_id = tests.project_of('Wedding suit') returning id $$,
  'a stranger cannot remove another user''s requirements'
);
select throws_ok(
  $$ insert into public.project_requirements (project_id, title) values (tests.project_of('Wedding suit'), 'Pink please') $$,
  '42501', 'new row violates row-level security policy for table "project_requirements"',
  'a stranger cannot add requirements to another user''s project'
);
-- The owner's own design (which the stranger reads, attached to an open project), so that
-- only the project being someone else's stands in the way.
select throws_ok(
  $$ insert into public.project_designs (project_id, design_id) values (tests.project_of('Summer dress'), pg_temp.design_of('Owner jacket')) $$,
  '42501', 'new row violates row-level security policy for table "project_designs"',
  'a stranger cannot attach designs to another user''s project, not even the owner''s own'
);
select is_empty(
  $$ delete from public.project_designs where project_id = tests.project_of('Wedding suit') returning design_id $$,
  'a stranger cannot detach designs from another user''s project'
);
select throws_ok(
  $$ select public.close_project(tests.project_of('Wedding suit')) $$,
  'PT404', format('project %s not found', tests.project_of('Wedding suit')),
  'a stranger cannot close another user''s project (not found)'
);
select throws_ok(
  format($$ select public.close_project(%L) $$, unknown_id),
  'PT404', format('project %s not found', unknown_id), 'closing an unknown project is not found'
) from gen_random_uuid() unknown_id;

-- bidders, closing ----------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('proj-bidder@example.com'));
insert into public.bids (project_id, amount, duration_days) values
  (tests.project_of('Wedding suit'), 55000, 30),
  (tests.project_of('Winter coat'), 25000, 20);

select tests.authenticate_as(tests.get_user_id('proj-owner@example.com'));
select results_eq(
  $$ select status from public.close_project(tests.project_of('Wedding suit')) $$,
  $$ values ('closed') $$,
  'the owner closes their project'
);
select ok(
  (select closed_at is not null from public.projects where id = tests.project_of('Wedding suit')),
  'closing stamps closed_at'
);
select throws_ok(
  $$ select public.close_project(tests.project_of('Wedding suit')) $$,
  'PT409', format('project %s is closed, only an open project can be closed', tests.project_of('Wedding suit')),
  'a project cannot be closed twice'
);
select results_eq(
  $$ select status from public.bids where project_id = tests.project_of('Wedding suit') $$,
  $$ values ('rejected') $$,
  'closing rejects the pending bids'
);
select is_empty(
  $$ update public.projects set title = 'Reopened' where id = tests.project_of('Wedding suit') returning id $$,
  'the owner can no longer edit a closed project'
);
select throws_ok(
  $$ insert into public.project_requirements (project_id, title) values (tests.project_of('Wedding suit'), 'Late idea') $$,
  'PT409', format('the requirements of project %s are settled: they change only while the project is open or awaiting approval', tests.project_of('Wedding suit')),
  'requirements of a closed project are settled'
);
select throws_ok(
  $$ insert into public.project_designs (project_id, design_id) values (tests.project_of('Wedding suit'), pg_temp.design_of('Owner jacket')) $$,
  '42501', 'new row violates row-level security policy for table "project_designs"',
  'the owner cannot attach designs to a closed project'
);

-- Winter coat goes ahead: its bid is accepted (through the service role, as the accept-bid
-- function does).
select tests.authenticate_as_service_role();
select ops.accept_bid(b.id, tests.get_user_id('proj-owner@example.com'), b.amount, b.duration_days)
  from public.bids b where b.project_id = tests.project_of('Winter coat');

select tests.authenticate_as(tests.get_user_id('proj-stranger@example.com'));
select is_empty(
  $$ select 1 from public.projects where id in (tests.project_of('Wedding suit'), tests.project_of('Winter coat')) $$,
  'a stranger cannot read closed or in-progress projects'
);
select is_empty(
  $$ select 1 from public.project_requirements where project_id = tests.project_of('Wedding suit') $$,
  'a stranger cannot read the requirements of a closed project'
);
select is_empty(
  $$ select 1 from public.project_designs where project_id = tests.project_of('Wedding suit') $$,
  'a stranger cannot read the designs list of a closed project'
);
select is_empty(
  $$ select 1 from public.designs where id = pg_temp.design_of('Owner jacket') $$,
  'a private design attached only to a closed project is hidden from strangers again'
);

select tests.authenticate_as(tests.get_user_id('proj-bidder@example.com'));
select results_eq(
  $$ select title, status from public.projects where owner_id = tests.get_user_id('proj-owner@example.com') order by title $$,
  $$ values ('Just rich enough', 'open'), ('Summer dress', 'open'), ('Wedding suit', 'closed'), ('Winter coat', 'in_progress') $$,
  'a bidder still reads the projects they bid on after close or acceptance, and open ones'
);
select results_eq(
  $$ select title from public.project_requirements where project_id = tests.project_of('Wedding suit') order by position $$,
  $$ values ('Wool'), ('Lining') $$,
  'a bidder reads the requirements of a project they bid on after it closed'
);
select isnt_empty(
  $$ select 1 from public.designs where id = pg_temp.design_of('Owner jacket') $$,
  'a bidder reads the private design attached to a project they bid on'
);

-- managers ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('proj-admin@example.com'));
select ok(private.has_permission('marketplace.manage'), 'the admin holds marketplace.manage');
select is(
  (select count(*)::int from public.projects where owner_id = tests.get_user_id('proj-owner@example.com')),
  4,
  'a manager reads every project, closed and in progress included'
);
select is(
  (select count(*)::int from public.project_requirements where project_id = tests.project_of('Wedding suit')),
  2,
  'a manager reads the requirements of a closed project'
);
select isnt_empty(
  $$ select 1 from public.project_designs where project_id = tests.project_of('Wedding suit') $$,
  'a manager reads the designs list of a closed project'
);
select is_empty(
  $$ update public.projects set title = 'Admin edit' where id = tests.project_of('Summer dress') returning id $$,
  'a manager does not edit other users'' projects'
);
select results_eq(
  $$ select status from public.close_project(tests.project_of('Summer dress')) $$,
  $$ values ('closed') $$,
  'a manager closes a project'
);

-- A design in use cannot be deleted ------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('proj-owner@example.com'));
set constraints all immediate;
select throws_ok(
  $$ delete from public.designs where id = pg_temp.design_of('Owner jacket') $$,
  '23503', 'update or delete on table "designs" violates foreign key constraint "project_designs_design_id_fkey" on table "project_designs"',
  'a design attached to a project cannot be deleted'
);

-- Account deletion ---------------------------------------------------------------------
-- Deleting the owner's account (what the account-delete function does) takes their
-- projects, attached designs and requirements with it.
select tests.clear_authentication();
set constraints all deferred;
select lives_ok(
  $$ delete from auth.users where id = tests.get_user_id('proj-owner@example.com') $$,
  'an account with projects, requirements, attached designs and an order can be deleted'
);
select lives_ok(
  $$ set constraints all immediate $$,
  'no attachment is left dangling (the deferred check passes, as it must at commit)'
);
select is_empty(
  $$ select 1 from public.projects where title in ('Wedding suit', 'Summer dress', 'Winter coat', 'Just rich enough')
     union all select 1 from public.project_requirements where title in ('Wool', 'Lining')
     union all select 1 from public.designs where title = 'Owner jacket' $$,
  'the deleted owner''s projects, requirements and designs are gone'
);

select * from finish();
rollback;
