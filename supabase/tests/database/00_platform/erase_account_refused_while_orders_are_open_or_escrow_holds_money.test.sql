-- ops.erase_account refuses while the user still has deals running: orders neither completed
-- nor cancelled, as buyer or seller, and money held in escrow on their orders (the checks
-- registered in private.erasure_blockers by marketplace and payments). The refusal is PT409
-- and names only ids and amounts. Finished deals do not block. Only the service role erases.
begin;
select plan(14);

select tests.create_user('ea-buyer@example.com');
select tests.create_user('ea-seller@example.com');
select tests.create_user('ea-done@example.com');
select tests.create_user('ea-other@example.com');
select tests.create_user('ea-free@example.com');
select tests.clear_authentication();

create temp table o as
select tests.order_in('ea-buyer@example.com', 'ea-seller@example.com', 'in_progress') as in_progress,
       tests.order_in('ea-buyer@example.com', 'ea-seller@example.com', 'awaiting_requirements') as waiting,
       tests.order_in('ea-done@example.com', 'ea-other@example.com', 'completed') as completed,
       tests.order_in('ea-done@example.com', 'ea-other@example.com', 'cancelled') as cancelled;
grant select on o to service_role;
-- Orders made in one transaction share created_at: the message names them by (created_at, id).
create temp table open_ids as
select string_agg(x.id::text, ', ' order by x.created_at, x.id) as ids
  from public.orders x where x.id in ((select in_progress from o), (select waiting from o));
grant select on open_ids to service_role;

-- The registry holds both checks, in order.
select results_eq(
  $$ select name, check_function::text from private.erasure_blockers where name in ('open_orders', 'escrow_held') order by position $$,
  $$ values ('open_orders', 'private.open_orders_blocking_erasure(uuid)'), ('escrow_held', 'private.escrow_blocking_erasure(uuid)') $$,
  'marketplace and payments register their erasure checks (later domains add theirs)'
);

-- Open orders, no money yet.
select is(
  private.open_orders_blocking_erasure(tests.get_user_id('ea-buyer@example.com')),
  format('2 open orders (%s)', (select ids from open_ids)),
  'the buyer''s two open orders are named, oldest first'
);
select is(private.escrow_blocking_erasure(tests.get_user_id('ea-buyer@example.com')), null,
  'nothing is held in escrow before a payment is booked');
select is(private.open_orders_blocking_erasure(tests.get_user_id('ea-done@example.com')), null,
  'completed and cancelled orders are not open');

select tests.act_as('service_role');
select throws_ok(
  format($$ select * from ops.erase_account(%L) $$, tests.get_user_id('ea-buyer@example.com')),
  'PT409',
  format('account %s has 2 open orders (%s): finish or cancel them first',
         tests.get_user_id('ea-buyer@example.com'), (select ids from open_ids)),
  'the buyer with open orders is refused, naming them'
);
select throws_ok(
  format($$ select * from ops.erase_account(%L) $$, tests.get_user_id('ea-seller@example.com')),
  'PT409',
  format('account %s has 2 open orders (%s): finish or cancel them first',
         tests.get_user_id('ea-seller@example.com'), (select ids from open_ids)),
  'the seller with open orders is refused the same way'
);

-- Money in escrow: 150.00 EUR on the order in progress.
select tests.clear_authentication();
select private.post_transfer('test:erasure-escrow', 'held for the test', (select in_progress from o),
  private.ledger_account('buyer_funding', 'EUR', (select in_progress from o)),
  private.ledger_account('escrow', 'EUR', (select in_progress from o)), 15000);
select is(private.escrow_blocking_erasure(tests.get_user_id('ea-buyer@example.com')), '150.00 EUR held in escrow',
  'escrow held on the buyer''s order is stated in major units with its currency');

select tests.act_as('service_role');
select throws_ok(
  format($$ select * from ops.erase_account(%L) $$, tests.get_user_id('ea-buyer@example.com')),
  'PT409',
  format('account %s has 2 open orders (%s) and 150.00 EUR held in escrow: finish or cancel them first',
         tests.get_user_id('ea-buyer@example.com'), (select ids from open_ids)),
  'open orders and escrow are named together'
);

-- Escrow alone blocks too (a cancelled order whose refund is still due).
select tests.clear_authentication();
select private.post_transfer('test:erasure-escrow-cancelled', 'held on a cancelled order', (select cancelled from o),
  private.ledger_account('buyer_funding', 'EUR', (select cancelled from o)),
  private.ledger_account('escrow', 'EUR', (select cancelled from o)), 2550);
select tests.act_as('service_role');
select throws_ok(
  format($$ select * from ops.erase_account(%L) $$, tests.get_user_id('ea-done@example.com')),
  'PT409',
  format('account %s has 25.50 EUR held in escrow: finish or cancel them first', tests.get_user_id('ea-done@example.com')),
  'money held on a cancelled order blocks erasure until it is refunded'
);

-- Nothing open: erasure goes ahead.
select lives_ok(
  format($$ select * from ops.erase_account(%L) $$, tests.get_user_id('ea-free@example.com')),
  'a user with no open deal is erased'
);

-- More than five open orders: five ids, then an ellipsis.
select tests.clear_authentication();
select tests.order_in('ea-other@example.com', 'ea-free@example.com', 'awaiting_requirements') from generate_series(1, 5);
select matches(
  private.open_orders_blocking_erasure(tests.get_user_id('ea-free@example.com')),
  '^5 open orders \(([0-9a-f-]{36}, ){4}[0-9a-f-]{36}\)$',
  'five open orders are all named'
);
select tests.order_in('ea-other@example.com', 'ea-free@example.com', 'awaiting_requirements');
select matches(
  private.open_orders_blocking_erasure(tests.get_user_id('ea-free@example.com')),
  '^6 open orders \(([0-9a-f-]{36}, ){5}…\)$',
  'beyond five, the count says how many and five ids are named'
);

-- Only the service role runs the checks and erases.
select tests.act_as('ea-buyer@example.com');
select throws_ok(
  $$ select private.open_orders_blocking_erasure(auth.uid()) $$,
  '42501', 'permission denied for function open_orders_blocking_erasure',
  'a user cannot call the erasure checks'
);
select throws_ok(
  format($$ select * from ops.erase_account(%L) $$, tests.get_user_id('ea-buyer@example.com')),
  '42501', 'permission denied for schema ops',
  'a user cannot erase an account'
);

select * from finish();
rollback;
