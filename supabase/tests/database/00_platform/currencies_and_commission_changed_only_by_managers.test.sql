-- Currencies and the commission rate: anyone reads them; nobody but the service role changes
-- currencies; only a settings.manage holder changes the commission, and only within 0-50%.
begin;
select plan(10);

select tests.create_user('cc-user@example.com');
select tests.create_user('cc-admin@example.com');
select tests.grant_role('cc-admin@example.com', 'admin');

select tests.authenticate_as_anon();
select isnt_empty($$ select 1 from public.currencies where code = 'EUR' $$, 'anon reads the currencies');
select throws_ok($$ insert into public.currencies (code, minor_units, max_amount, name) values ('XTS', 2, 100, 'Test') $$,
  '42501', 'permission denied for table currencies',
  'anon cannot add a currency');

select tests.authenticate_as(tests.get_user_id('cc-user@example.com'));
select results_eq($$ select minor_units from public.currencies where code in ('JPY', 'USD') order by code $$,
  $$ values (0::smallint), (2::smallint) $$, 'a signed-in user reads minor units per currency');
select throws_ok($$ update public.currencies set max_amount = 1 where code = 'USD' $$,
  '42501', 'permission denied for table currencies', 'a user cannot change a currency''s limit');
select throws_ok($$ delete from public.currencies where code = 'USD' $$,
  '42501', 'permission denied for table currencies',
  'a user cannot remove a currency');
select is_empty($$ update public.platform_settings set value = '0' where key = 'commission_rate_bps' returning 1 $$,
  'a user without settings.manage cannot change the commission');

select tests.authenticate_as(tests.get_user_id('cc-admin@example.com'));
select throws_ok($$ update public.platform_settings set value = '6000' where key = 'commission_rate_bps' $$,
  '23514', 'new row for relation "platform_settings" violates check constraint "platform_settings_commission_rate"',
  'a commission above 50% is refused');
select throws_ok($$ update public.platform_settings set value = '12.5' where key = 'commission_rate_bps' $$,
  '23514', 'new row for relation "platform_settings" violates check constraint "platform_settings_commission_rate"',
  'a fractional basis-point rate is refused');
select lives_ok($$ update public.platform_settings set value = '1500' where key = 'commission_rate_bps' $$,
  'an admin sets the commission to 15%');
select tests.clear_authentication();
select is(private.commission_rate_bps(), 1500, 'new orders snapshot the rate in force');

select * from finish();
rollback;
