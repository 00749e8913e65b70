-- Tax rates: read by everyone, written by commerce managers only; the rate for an address is
-- its region's, else its country's, else 0; tax is rounded half up to a whole minor unit
-- (the worked examples of 55_tax_rates.sql).
begin;
select plan(17);

select tests.create_user('tax-staff@example.com');
select tests.create_user('tax-seller@example.com');
select tests.create_user('tax-buyer@example.com');
select tests.grant_role('tax-staff@example.com', 'staff');
select tests.grant_role('tax-seller@example.com', 'seller');

-- Worked examples.
select is(private.tax_amount(1999, 1900), 380::bigint, '1999 at 19% is 379.81: 380');
select is(private.tax_amount(1050, 1000), 105::bigint, '1050 at 10% is 105 exactly');
select is(private.tax_amount(25, 1000), 3::bigint, '25 at 10% is 2.5: half up to 3');
select is(private.tax_amount(24, 1000), 2::bigint, '24 at 10% is 2.4: 2');
select is(private.tax_amount(5099, 1000), 510::bigint, '5099 at 10% is 509.9: 510');
select is(private.tax_amount(123456, 0), 0::bigint, 'a zero rate taxes nothing');
select is(private.tax_amount(0, 1900), 0::bigint, 'nothing taxable, no tax');

-- Staff manage rates.
select tests.authenticate_as(tests.get_user_id('tax-staff@example.com'));
insert into public.tax_rates (country_code, region, rate_bps, name) values
  ('US', '', 500, 'US federal stand-in'), ('US', 'California', 725, 'CA'), ('DE', '', 1900, 'MwSt');
update public.tax_rates set rate_bps = 800 where country_code = 'US' and region = 'California';
select tests.clear_authentication();

select is(private.tax_rate_bps('US', 'california'), 800, 'a region''s rate applies, matched case-insensitively');
select is(private.tax_rate_bps('US', 'Texas'), 500, 'a region without its own rate takes the country''s');
select is(private.tax_rate_bps('de', ''), 1900, 'the country''s rate');
select is(private.tax_rate_bps('FR', ''), 0, 'a country without a rate: no tax');

-- Everyone reads; nobody else writes.
select tests.act_as('anon');
select is((select count(*)::integer from public.tax_rates where created_at = now()), 3, 'anon reads the rates');
select tests.act_as('tax-buyer@example.com');
select is((select count(*)::integer from public.tax_rates where created_at = now()), 3, 'a signed-in user reads the rates');
select throws_ok($$ insert into public.tax_rates (country_code, rate_bps) values ('FR', 2000) $$, '42501',
  'new row violates row-level security policy for table "tax_rates"', 'a buyer cannot add a rate');
select tests.act_as('tax-seller@example.com');
update public.tax_rates set rate_bps = 0;
delete from public.tax_rates;
select tests.clear_authentication();
select is((select sum(rate_bps)::integer from public.tax_rates where created_at = now()), 500 + 800 + 1900, 'a seller''s update and delete touch nothing');
select tests.act_as('tax-staff@example.com');
select throws_ok($$ insert into public.tax_rates (country_code, rate_bps) values ('US', 600) $$, '23505',
  'duplicate key value violates unique constraint "tax_rates_country_region_unique"', 'one rate per country and region');
select throws_ok($$ insert into public.tax_rates (country_code, rate_bps) values ('FR', 10001) $$, '23514',
  'new row for relation "tax_rates" violates check constraint "tax_rates_rate_range"', 'a rate is 0 to 10000 basis points');
select tests.clear_authentication();

select * from finish();
rollback;
