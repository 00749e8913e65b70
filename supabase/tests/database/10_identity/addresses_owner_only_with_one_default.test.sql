-- Addresses: only their owner sees, adds, changes or deletes them; they always belong to
-- the caller; countries are ISO codes; a user has at most one default, and
-- set_default_address() moves it in one call, for the caller's own addresses only.
begin;
select plan(27);

select tests.create_user('addr-owner@example.com');
select tests.create_user('addr-stranger@example.com');
select tests.create_user('addr-staff@example.com');

select tests.clear_authentication();
select tests.grant_role('addr-staff@example.com', 'staff');
insert into public.addresses (user_id, label, full_name, address_line1, city, country_code, is_default)
  values (tests.get_user_id('addr-stranger@example.com'), 'home', 'Sam Stranger', '9 Side St', 'Lyon', 'FR', true);
-- The stranger's address id, for the owner to try (they cannot look it up themselves).
do $$ begin
  perform set_config('tests.stranger_address',
    (select id::text from public.addresses where user_id = tests.get_user_id('addr-stranger@example.com')), true);
end $$;

-- owner ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('addr-owner@example.com'));
select lives_ok(
  $$ insert into public.addresses (label, full_name, address_line1, city, postal_code, country_code, phone, is_default)
     values ('home', 'Olive Owner', '1 Main St', 'Springfield', '12345', 'US', '+14155550123', true) $$,
  'the owner adds an address, as their default'
);
select is(
  (select user_id from public.addresses where label = 'home' and full_name = 'Olive Owner'),
  tests.get_user_id('addr-owner@example.com'),
  'the address belongs to the caller without them naming themselves'
);
select lives_ok(
  $$ insert into public.addresses (label, full_name, address_line1, city, country_code)
     values ('work', 'Olive Owner', '2 Office Rd', 'Springfield', 'US') $$,
  'the owner adds a second, non-default address'
);
select throws_ok(
  $$ insert into public.addresses (label, full_name, address_line1, city, country_code, is_default)
     values ('cabin', 'Olive Owner', '3 Lake Rd', 'Springfield', 'US', true) $$,
  '23505', 'duplicate key value violates unique constraint "addresses_one_default_per_user"',
  'a second default address is refused'
);
select throws_ok(
  $$ insert into public.addresses (full_name, address_line1, city, country_code)
     values ('Olive Owner', '1 Nowhere', 'Atlantis', 'XX') $$,
  '23503', 'insert or update on table "addresses" violates foreign key constraint "addresses_country_code_fkey"',
  'an unknown country code is refused'
);
select throws_ok(
  $$ insert into public.addresses (full_name, address_line1, city, country_code)
     values ('Olive Owner', '1 Main St', 'Springfield', 'us') $$,
  '23503', 'insert or update on table "addresses" violates foreign key constraint "addresses_country_code_fkey"',
  'country codes are upper-case ISO codes'
);
select throws_ok(
  $$ insert into public.addresses (full_name, address_line1, city, country_code)
     values ('   ', '1 Main St', 'Springfield', 'US') $$,
  '23514', 'new row for relation "addresses" violates check constraint "addresses_full_name_present"',
  'a blank name is refused'
);
select throws_ok(
  $$ insert into public.addresses (full_name, address_line1, city, country_code, phone)
     values ('Olive Owner', '1 Main St', 'Springfield', 'US', '555-0123') $$,
  '23514', 'new row for relation "addresses" violates check constraint "addresses_phone_e164"',
  'a phone number not in E.164 is refused'
);
select throws_ok(
  $$ insert into public.addresses (user_id, full_name, address_line1, city, country_code)
     values (tests.get_user_id('addr-stranger@example.com'), 'Olive Owner', '1 Main St', 'Springfield', 'US') $$,
  '42501', 'permission denied for table addresses', 'the owner cannot add an address for someone else'
);
select throws_ok(
  $$ update public.addresses set user_id = tests.get_user_id('addr-stranger@example.com') where label = 'work' $$,
  '42501', 'permission denied for table addresses', 'the owner cannot hand an address to someone else'
);
select results_eq(
  $$ select label from public.addresses order by label $$,
  array['home', 'work'],
  'the owner reads their own addresses and no one else''s'
);
select isnt_empty(
  $$ update public.addresses set address_line2 = 'Suite 5', postal_code = 'SW1A 1AA' where label = 'work' returning id $$,
  'the owner updates their address'
);
select results_eq(
  $$ select (public.set_default_address(id)).label from public.addresses where label = 'work' $$,
  array['work'],
  'set_default_address returns the new default'
);
select results_eq(
  $$ select label from public.addresses where is_default $$,
  array['work'],
  'set_default_address moves the default: exactly one, the chosen address'
);
select results_eq(
  $$ select (public.set_default_address(id)).is_default from public.addresses where label = 'work' $$,
  array[true],
  'making the default address the default again keeps it'
);
select throws_ok(
  $$ select public.set_default_address(current_setting('tests.stranger_address')::uuid) $$,
  'PT404', format('address %s not found', current_setting('tests.stranger_address')),
  'set_default_address refuses another user''s address as not found'
);
select throws_ok(
  format($$ select public.set_default_address(%L) $$, unknown_id),
  'PT404', format('address %s not found', unknown_id), 'set_default_address refuses an unknown address'
) from gen_random_uuid() unknown_id;
select results_eq(
  $$ select label from public.addresses where is_default $$,
  array['work'],
  'the refused calls left the owner''s default alone'
);

-- stranger ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('addr-stranger@example.com'));
select is_empty(
  $$ select 1 from public.addresses where user_id = tests.get_user_id('addr-owner@example.com') $$,
  'a stranger reads none of another user''s addresses'
);
select is_empty(
  $$ update public.addresses set city = 'Elsewhere' where user_id = tests.get_user_id('addr-owner@example.com') returning id $$,
  'a stranger''s update of another user''s address touches no row'
);
select is_empty(
  $$ delete from public.addresses where user_id = tests.get_user_id('addr-owner@example.com') returning id $$,
  'a stranger''s delete of another user''s address touches no row'
);
select is(
  (select is_default from public.addresses where label = 'home'),
  true,
  'the owner''s set_default_address did not touch the stranger''s default'
);

-- staff ---------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('addr-staff@example.com'));
select is_empty(
  $$ select 1 from public.addresses where user_id = tests.get_user_id('addr-owner@example.com') $$,
  'staff do not read users'' addresses: they are owner-only'
);

-- anon ----------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.addresses $$, '42501', 'permission denied for table addresses',
  'anon cannot read addresses');
select throws_ok(
  $$ insert into public.addresses (full_name, address_line1, city, country_code) values ('A', '1 St', 'X', 'US') $$,
  '42501', 'permission denied for table addresses', 'anon cannot add addresses'
);
select throws_ok(
  $$ select public.set_default_address(gen_random_uuid()) $$,
  '42501', 'permission denied for function set_default_address', 'anon cannot call set_default_address'
);

-- owner deletes -------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('addr-owner@example.com'));
select isnt_empty(
  $$ delete from public.addresses where label = 'home' returning id $$,
  'the owner deletes their address'
);

select * from finish();
rollback;
