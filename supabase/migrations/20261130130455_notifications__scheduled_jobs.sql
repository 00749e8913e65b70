-- The notifications job, run by pg_cron:
--
--   notifications-consume  every minute: turns unprocessed domain events into deliveries per
--                          recipient and channel, sends the due ones (retrying failures with
--                          backoff) and prunes old processed events
--                          (private.consume_notification_events, 40_consumer.sql). Runs that
--                          overlap take different rows (skip locked) and send nothing twice.

select cron.schedule('notifications-consume', '* * * * *', 'select private.consume_notification_events()');
