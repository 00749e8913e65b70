-- The request log's retention, run by pg_cron:
--
--   operations-prune-request-log  every 10 minutes: deletes request-log rows older than 24 hours
--                                 (private.prune_request_log), so the table stays bounded

select cron.schedule('operations-prune-request-log', '*/10 * * * *', 'select private.prune_request_log()');
