-- The notifications job, run by pg_cron:
--
--   notifications-consume  every minute: turns unprocessed domain events into deliveries per
--                          recipient and channel, sends the due ones (retrying failures with
--                          backoff), mails the e-mail digests whose window closed, in batches
--                          of 500 events committed one by one for up to 50 seconds, then
--                          prunes old processed events (private.run_notification_consumer,
--                          40_consumer.sql). Runs that overlap take different rows (skip
--                          locked) and send nothing twice. ops.run_scheduled_job runs the same
--                          batches in its caller's transaction.

select cron.schedule('notifications-consume', '* * * * *', 'call private.run_notification_consumer()');

-- notifications-fan-out  every minute: fans out pending admin broadcasts in batches of 5,000
--                        users, committing after each batch, for at most 50 seconds
--                        (private.run_broadcast_fan_out, 70_admin_send.sql). A procedure with
--                        transaction control: ops.run_scheduled_job cannot run it; operators
--                        use ops.fan_out_broadcasts (the admin CLI's notifications fan-out).

select cron.schedule('notifications-fan-out', '* * * * *', 'call private.run_broadcast_fan_out()');
