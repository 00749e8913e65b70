-- Payments' reference data: how long a delivered order waits for its buyer before it is
-- completed and its escrow released.

insert into public.platform_settings (key, value) values ('auto_release_days', '14');
