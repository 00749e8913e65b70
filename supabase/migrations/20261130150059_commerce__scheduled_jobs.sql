-- The commerce jobs, run by pg_cron:
--
--   commerce-expire-checkouts  every minute: unpaid checkouts past their expires_at (placement
--                              + checkout_reservation_minutes) expire: their shop orders are
--                              cancelled, their stock reservations and coupon usage released
--                              (private.expire_checkouts, 70_checkouts.sql; 500 at a time,
--                              skipping rows another run holds, so overlapping runs share the
--                              work and release nothing twice).

select cron.schedule('commerce-expire-checkouts', '* * * * *', 'select private.expire_checkouts(500)');
