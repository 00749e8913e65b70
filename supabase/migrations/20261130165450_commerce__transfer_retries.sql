-- Retrying the shop's failed seller transfers (issue 17; 80_payments.sql: attempts,
-- next_attempt_at, gave_up_at on shop_transfers, ops.due_shop_transfers): the event sent when a
-- transfer is given up, and the job that retries the due ones.
--
--   commerce-transfers-retry  every 5 minutes: commerce-retry-transfers { due: true } claims
--                             and makes every transfer ops.due_shop_transfers() lists, through
--                             pg_net (private.call_edge_function) as the payments jobs do.
--                             Claims (a one-minute lease under the payment row's lock) and
--                             keys per attempt make overlapping runs pay once.

insert into private.event_types (event_type, domain, description) values
  ('shop_transfer.failed', 'commerce',
   'A seller''s payout for a shop order failed 10 times and is no longer retried (to commerce staff and the seller)');

select cron.schedule('commerce-transfers-retry', '*/5 * * * *',
  $$select private.call_edge_function('commerce-retry-transfers', '{"due": true, "limit": 100}'::jsonb)$$);
