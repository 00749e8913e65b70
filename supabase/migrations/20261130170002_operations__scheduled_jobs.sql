-- The operations jobs, run by pg_cron:
--
--   operations-prune-rate-limit-counters  every five minutes: counter rows whose hour ended
--                                         over two hours ago (subjects idle since) are deleted
--                                         (private.prune_rate_limit_counters, 10_rate_limits.sql),
--                                         so the table holds the subjects of the last three hours.

select cron.schedule('operations-prune-rate-limit-counters', '*/5 * * * *', 'select private.prune_rate_limit_counters()');
