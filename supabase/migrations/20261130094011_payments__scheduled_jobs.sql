-- The payments jobs, run by pg_cron. Jobs that need Stripe only ask an edge function to do
-- their work, through pg_net (private.call_edge_function); the functions are idempotent, so
-- a run that overlaps another, or a retried one, moves no money twice.
--
--   payments-auto-complete  every 15 minutes: completes delivered orders older than
--                           auto_release_days with no dispute (in SQL)
--   payments-release-due    every 5 minutes: payments-release { due: true } transfers every
--                           escrow due_releases() lists
--   payments-refund-due     every 5 minutes: payments-refund { due: true } refunds, as the
--                           system, paid orders cancelled before delivery (due_refunds())
--   payments-reconcile      daily at 03:30 UTC: payments-reconcile compares the ledger, the
--                           escrow rows and Stripe, records the run, tells admins of differences

select cron.schedule('payments-auto-complete', '*/15 * * * *', 'select private.auto_complete_delivered_orders()');

select cron.schedule('payments-release-due', '*/5 * * * *',
  $$select private.call_edge_function('payments-release', '{"due": true, "limit": 100}'::jsonb)$$);

select cron.schedule('payments-refund-due', '*/5 * * * *',
  $$select private.call_edge_function('payments-refund', '{"due": true, "limit": 100}'::jsonb)$$);

select cron.schedule('payments-reconcile', '30 3 * * *',
  $$select private.call_edge_function('payments-reconcile', '{"triggered_by": "schedule"}'::jsonb)$$);
