-- The operations jobs, run by pg_cron:
--
--   operations-prune-rate-limit-counters  every five minutes: counter rows of windows that
--                                         started over two hours ago are deleted
--                                         (private.prune_rate_limit_counters, 10_rate_limits.sql),
--                                         so the table holds about two hours of counts.

select cron.schedule('operations-prune-rate-limit-counters', '*/5 * * * *', 'select private.prune_rate_limit_counters()');
