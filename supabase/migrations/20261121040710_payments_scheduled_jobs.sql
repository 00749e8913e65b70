-- The payments jobs that need Stripe, started by pg_cron through pg_net (migration
-- 20261121040700). Each only asks an edge function to do its work; the function is
-- idempotent, so a run that overlaps another, or a retried one, moves no money twice.
--
--   payments-release-due  every 5 minutes: payments-release { due: true } transfers every
--                         escrow due_releases() lists, which includes orders the
--                         payments-auto-complete job (every 15 minutes, 20261121040500)
--                         completed after auto_release_days.
--   payments-reconcile    daily at 03:30 UTC: payments-reconcile compares the ledger, the
--                         escrow rows and Stripe, records the run, and tells admins of any
--                         difference.

select cron.schedule('payments-release-due', '*/5 * * * *',
  $$select private.call_edge_function('payments-release', '{"due": true, "limit": 100}'::jsonb)$$);

select cron.schedule('payments-reconcile', '30 3 * * *',
  $$select private.call_edge_function('payments-reconcile', '{"triggered_by": "schedule"}'::jsonb)$$);
