-- Anonymous users (signInAnonymously: role authenticated, is_anonymous in the token) keep a
-- profile and designs of their own, but do not post projects, bid, sell services, apply for a
-- shop or order: each is refused with 42501 naming what was tried. The same user, once they
-- have linked an e-mail (is_anonymous false in their next token), may.
begin;
select plan(14);

select tests.create_user('anon-provider@example.com');
select tests.create_user('anon-owner@example.com');
select tests.clear_authentication();

-- An anonymous user as Supabase Auth creates one: no e-mail, is_anonymous, an identity-less row.
insert into auth.users (instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
                        created_at, updated_at, is_anonymous)
values ('00000000-0000-0000-0000-000000000000', 'a0000000-0000-4000-8000-00000000000a', 'authenticated', 'authenticated',
        null, null, '{}', '{}', now(), now(), true);

create function pg_temp.act_as_anonymous(anonymous boolean default true) returns void language plpgsql as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', jsonb_build_object(
    'sub', 'a0000000-0000-4000-8000-00000000000a', 'role', 'authenticated', 'aud', 'authenticated',
    'email', '', 'phone', '', 'app_metadata', '{}', 'user_metadata', '{}', 'aal', 'aal1',
    'is_anonymous', anonymous)::text, true);
  perform set_config('role', 'authenticated', true);
end
$$;

insert into public.projects (id, owner_id, title, budget_amount, currency)
values ('00000000-0000-4000-c000-000000000001', tests.get_user_id('anon-owner@example.com'), 'Linen shirt', 10000, 'EUR');
insert into public.services (id, provider_id, title, category, is_published)
values ('00000000-0000-4000-a000-0000000000a1', tests.get_user_id('anon-provider@example.com'), 'Hemming', 'alterations', true);
insert into public.service_packages (id, service_id, name, price_amount, currency, delivery_days, revisions, is_active)
values ('00000000-0000-4000-b000-0000000000b1', '00000000-0000-4000-a000-0000000000a1', 'Basic', 2000, 'EUR', 3, 1, true);

select is(private.is_anonymous(), false, 'no token: not anonymous');
select pg_temp.act_as_anonymous();
select is(private.is_anonymous(), true, 'the is_anonymous claim makes the caller anonymous');

-- What they may do: their own profile and designs.
select lives_ok(
  $$ update public.profiles set display_name = 'Guest' where id = auth.uid() $$,
  'an anonymous user edits their own profile'
);
select lives_ok(
  $$ insert into public.designs (title, pattern) values ('Try-out', '{"version": 1, "units": "mm", "width": 300, "height": 200, "pieces": [{"name": "sleeve", "points": [[0, 0], [100, 0], [100, 100]]}]}') $$,
  'an anonymous user keeps a design'
);

-- What they may not.
select throws_ok(
  $$ insert into public.projects (title, budget_amount, currency) values ('Wedding dress', 50000, 'EUR') $$,
  '42501', 'anonymous users cannot post projects: add an e-mail address to your account first',
  'an anonymous user cannot post a project'
);
select throws_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values ('00000000-0000-4000-c000-000000000001', 9000, 7) $$,
  '42501', 'anonymous users cannot bid on projects: add an e-mail address to your account first',
  'an anonymous user cannot bid'
);
select throws_ok(
  $$ insert into public.services (title, category) values ('Alterations', 'alterations') $$,
  '42501', 'anonymous users cannot sell services: add an e-mail address to your account first',
  'an anonymous user cannot offer a service'
);
select throws_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms)
     values ('Guest shop', 'tailoring', '{"full_name": "G", "address_line1": "1 Lane", "city": "Leeds", "country_code": "GB"}', true) $$,
  '42501', 'anonymous users cannot apply to open a shop: add an e-mail address to your account first',
  'an anonymous user cannot apply to open a shop'
);
select throws_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-0000000000b1') $$,
  '42501', 'anonymous users cannot order services: add an e-mail address to your account first',
  'an anonymous user cannot order (and so never pays)'
);
select is(
  (select count(*)::int from public.orders where buyer_id = 'a0000000-0000-4000-8000-00000000000a'),
  0, 'no order was made for the anonymous user'
);

-- Once linked (their next token says is_anonymous false), the same user may.
select tests.clear_authentication();
update auth.users set email = 'linked@example.com', is_anonymous = false where id = 'a0000000-0000-4000-8000-00000000000a';
select pg_temp.act_as_anonymous(false);
select lives_ok(
  $$ insert into public.bids (project_id, amount, duration_days) values ('00000000-0000-4000-c000-000000000001', 9000, 7) $$,
  'after linking an e-mail the user bids'
);
select lives_ok(
  $$ select public.order_service_package('00000000-0000-4000-b000-0000000000b1') $$,
  'after linking an e-mail the user orders'
);

-- Others are unaffected: a signed-in user with an e-mail, and the service role.
select tests.act_as('anon-owner@example.com');
select lives_ok(
  $$ insert into public.projects (title, budget_amount, currency) values ('Wool coat', 30000, 'EUR') $$,
  'a user with an e-mail posts a project'
);
select tests.act_as('service_role');
select is(private.is_anonymous(), false, 'the service role is never anonymous');

select * from finish();
rollback;
