-- Sellers: a user applies for themselves (one open application at a time, terms accepted,
-- a complete return address) and may edit it until it is reviewed; only a sellers.review
-- holder who is not the applicant approves or rejects, once; approval opens the public
-- shop and grants the seller role; the shop owner edits their shop's face, never its
-- ratings or standing.
begin;
select plan(50);

select tests.create_user('sell-applicant@example.com');
select tests.create_user('sell-other@example.com');
select tests.create_user('sell-stranger@example.com');
select tests.create_user('sell-staff@example.com');
select tests.create_user('sell-reviewer@example.com');

select tests.clear_authentication();
select tests.grant_role('sell-reviewer@example.com', 'admin');
select tests.grant_role('sell-staff@example.com', 'staff');

-- Application ids, readable whoever the test is acting as.
create function pg_temp.application_of(email text) returns uuid language sql security definer as $$
  select id from public.seller_applications
   where user_id = tests.get_user_id(email) order by created_at desc, id limit 1
$$;
grant execute on function pg_temp.application_of(text) to authenticated, anon, service_role;

-- applicant -----------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('sell-applicant@example.com'));
select lives_ok(
  $$ insert into public.seller_applications
       (shop_name, category, experience_level, monthly_revenue, platforms, social_links, return_address, agreed_to_terms)
     values ('Stitch & Co', 'tailoring', '5 years', '1000_5000', array['etsy'], '{"instagram": "@stitchco"}',
             '{"full_name": "Ann Applicant", "address_line1": "1 Needle Lane", "city": "Leeds", "country_code": "GB"}', true) $$,
  'a user applies to sell'
);
select results_eq(
  $$ select user_id, status, reviewed_by, reviewed_at from public.seller_applications where user_id = auth.uid() $$,
  $$ values (tests.get_user_id('sell-applicant@example.com'), 'pending_verification', null::uuid, null::timestamptz) $$,
  'the application is the applicant''s, pending verification, unreviewed'
);
select throws_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms, status)
     values ('Sneaky', 'tailoring', '{"full_name": "A", "address_line1": "1", "city": "C", "country_code": "GB"}', true, 'approved') $$,
  '42501', 'permission denied for table seller_applications', 'an applicant cannot approve themselves by setting status'
);
select throws_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms, reviewed_by)
     values ('Sneaky', 'tailoring', '{"full_name": "A", "address_line1": "1", "city": "C", "country_code": "GB"}', true, auth.uid()) $$,
  '42501', 'permission denied for table seller_applications', 'an applicant cannot set reviewed_by'
);
select throws_ok(
  $$ insert into public.seller_applications (user_id, shop_name, category, return_address, agreed_to_terms)
     values (tests.get_user_id('sell-stranger@example.com'), 'For You', 'tailoring',
             '{"full_name": "A", "address_line1": "1", "city": "C", "country_code": "GB"}', true) $$,
  '42501', 'permission denied for table seller_applications', 'a user cannot apply on someone else''s behalf'
);
select throws_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms)
     values ('Stitch Again', 'tailoring', '{"full_name": "A", "address_line1": "1", "city": "C", "country_code": "GB"}', true) $$,
  '23505', 'duplicate key value violates unique constraint "seller_applications_one_pending"',
  'a second application while one is pending is refused'
);
select isnt_empty(
  $$ update public.seller_applications set shop_name = 'Stitch & Sons', platforms = array['etsy', 'depop']
      where user_id = auth.uid() returning id $$,
  'the applicant edits their pending application'
);
select throws_ok(
  $$ update public.seller_applications set status = 'approved' where user_id = auth.uid() $$,
  '42501', 'permission denied for table seller_applications',
  'the applicant cannot change the status of their application'
);
select throws_ok(
  $$ select public.review_seller_application(pg_temp.application_of('sell-applicant@example.com'), 'approved') $$,
  '42501', 'permission denied: sellers.review is required',
  'a plain user cannot review applications, their own included'
);
select is_empty(
  $$ select 1 from public.shops where id = auth.uid() $$,
  'no shop exists before approval'
);
select throws_ok(
  $$ insert into public.shops (id, shop_name, category) values (auth.uid(), 'My Own Shop', 'tailoring') $$,
  '42501', 'permission denied for table shops', 'a user cannot open a shop without an approved application'
);

-- invalid applications ------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('sell-other@example.com'));
select throws_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms)
     values ('Other Shop', 'knitwear', '{"full_name": "O", "address_line1": "2 Wool St", "city": "York", "country_code": "GB"}', false) $$,
  '23514', 'new row for relation "seller_applications" violates check constraint "seller_applications_terms_accepted"',
  'an application without accepting the terms is refused'
);
select throws_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms)
     values ('Other Shop', 'knitwear', '{"full_name": "O", "address_line1": "2 Wool St", "country_code": "GB"}', true) $$,
  '23514', 'new row for relation "seller_applications" violates check constraint "seller_applications_return_address"',
  'a return address without a city is refused'
);
select throws_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms)
     values ('Other Shop', 'knitwear', '"2 Wool St, York"', true) $$,
  '23514', 'new row for relation "seller_applications" violates check constraint "seller_applications_return_address"',
  'a return address that is not an object is refused'
);
select throws_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms, monthly_revenue)
     values ('Other Shop', 'knitwear', '{"full_name": "O", "address_line1": "2 Wool St", "city": "York", "country_code": "GB"}', true, 'lots') $$,
  '23514', 'new row for relation "seller_applications" violates check constraint "seller_applications_revenue_band"',
  'a revenue band outside the list is refused'
);
select lives_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms)
     values ('Other Shop', 'knitwear', '{"full_name": "O", "address_line1": "2 Wool St", "city": "York", "country_code": "GB"}', true) $$,
  'a complete application is accepted'
);

-- stranger and staff --------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('sell-stranger@example.com'));
select is_empty(
  $$ select 1 from public.seller_applications where user_id = tests.get_user_id('sell-applicant@example.com') $$,
  'a stranger cannot read another user''s application'
);
select is_empty(
  $$ update public.seller_applications set shop_name = 'Hijacked' where user_id = tests.get_user_id('sell-applicant@example.com') returning id $$,
  'a stranger''s update of another user''s application touches no row'
);
select tests.authenticate_as(tests.get_user_id('sell-staff@example.com'));
select is_empty(
  $$ select 1 from public.seller_applications where user_id = tests.get_user_id('sell-applicant@example.com') $$,
  'staff without sellers.review do not read applications'
);
select throws_ok(
  $$ select public.review_seller_application(pg_temp.application_of('sell-applicant@example.com'), 'approved') $$,
  '42501', 'permission denied: sellers.review is required', 'staff without sellers.review cannot review'
);

-- reviewer ------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('sell-reviewer@example.com'));
select is(
  (select count(*)::int from public.seller_applications
    where user_id in (tests.get_user_id('sell-applicant@example.com'), tests.get_user_id('sell-other@example.com'))),
  2,
  'a reviewer reads every application'
);
-- The reviewer applies too: holding sellers.review must not let them approve themselves.
insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms)
  values ('Reviewer Shop', 'tailoring', '{"full_name": "R", "address_line1": "3 Rd", "city": "Bath", "country_code": "GB"}', true);
select throws_ok(
  $$ select public.review_seller_application(pg_temp.application_of('sell-reviewer@example.com'), 'approved') $$,
  '42501', 'permission denied: you cannot review your own application', 'a reviewer cannot review their own application'
);
select throws_ok(
  $$ select public.review_seller_application(pg_temp.application_of('sell-applicant@example.com'), 'maybe') $$,
  '22023', 'decision must be approved or rejected, not maybe', 'a decision other than approved or rejected is refused'
);
select throws_ok(
  $$ select public.review_seller_application(pg_temp.application_of('sell-other@example.com'), 'rejected') $$,
  '22023', 'a rejection needs a reason', 'a rejection without a reason is refused'
);
select throws_ok(
  $$ select public.review_seller_application(pg_temp.application_of('sell-other@example.com'), 'rejected', '   ') $$,
  '22023', 'a rejection needs a reason', 'a rejection with a blank reason is refused'
);
select throws_ok(
  format($$ select public.review_seller_application(%L, 'approved') $$, unknown_id),
  'PT404', format('seller application %s not found', unknown_id),
  'reviewing an unknown application is refused as not found'
) from gen_random_uuid() unknown_id;
select results_eq(
  $$ select status, reviewed_by from public.review_seller_application(pg_temp.application_of('sell-applicant@example.com'), 'approved') $$,
  $$ values ('approved', tests.get_user_id('sell-reviewer@example.com')) $$,
  'a reviewer approves an application and is recorded as its reviewer'
);
select ok(
  (select reviewed_at is not null and rejection_reason is null from public.seller_applications
    where id = pg_temp.application_of('sell-applicant@example.com')),
  'the approval is dated and carries no rejection reason'
);
select results_eq(
  $$ select shop_name, category, is_active from public.shops where id = tests.get_user_id('sell-applicant@example.com') $$,
  $$ values ('Stitch & Sons', 'tailoring', true) $$,
  'approval opens the shop with the application''s (edited) name and category'
);
select isnt_empty(
  $$ select 1 from public.user_roles ur join public.roles r on r.id = ur.role_id
     where ur.user_id = tests.get_user_id('sell-applicant@example.com') and r.name = 'seller' and ur.expires_at is null $$,
  'approval grants the seller role'
);
select throws_ok(
  $$ select public.review_seller_application(pg_temp.application_of('sell-applicant@example.com'), 'rejected', 'changed my mind') $$,
  'PT409', format('application %s is already approved', pg_temp.application_of('sell-applicant@example.com')),
  'an application cannot be reviewed twice'
);
select results_eq(
  $$ select status, rejection_reason from public.review_seller_application(pg_temp.application_of('sell-other@example.com'), 'rejected', 'No photos of past work') $$,
  $$ values ('rejected', 'No photos of past work') $$,
  'a reviewer rejects an application with a reason'
);
select is_empty(
  $$ select 1 from public.shops where id = tests.get_user_id('sell-other@example.com') $$,
  'a rejection opens no shop'
);

-- after review --------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('sell-applicant@example.com'));
select is_empty(
  $$ update public.seller_applications set shop_name = 'Renamed Later' where user_id = auth.uid() returning id $$,
  'an approved application can no longer be edited by the applicant'
);
select ok(private.has_permission('shop.sell'), 'the approved seller holds shop.sell');
select tests.authenticate_as(tests.get_user_id('sell-other@example.com'));
select is(
  (select rejection_reason from public.seller_applications where user_id = auth.uid()),
  'No photos of past work',
  'the rejected applicant reads the reason'
);
select is_empty(
  $$ update public.seller_applications set shop_name = 'Other Shop Two' where user_id = auth.uid() returning id $$,
  'a rejected application can no longer be edited by the applicant'
);
select lives_ok(
  $$ insert into public.seller_applications (shop_name, category, return_address, agreed_to_terms)
     values ('Other Shop', 'knitwear', '{"full_name": "O", "address_line1": "2 Wool St", "city": "York", "country_code": "GB"}', true) $$,
  'a rejected applicant may apply again'
);

-- shops ---------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select is(
  (select shop_name from public.shops where id = tests.get_user_id('sell-applicant@example.com')),
  'Stitch & Sons',
  'anon reads an open shop'
);
select throws_ok($$ select 1 from public.seller_applications $$,
  '42501', 'permission denied for table seller_applications',
  'anon cannot read applications');
select throws_ok(
  $$ update public.shops set shop_name = 'Anon Shop' where id = tests.get_user_id('sell-applicant@example.com') $$,
  '42501', 'permission denied for table shops', 'anon cannot edit shops'
);

select tests.authenticate_as(tests.get_user_id('sell-applicant@example.com'));
select isnt_empty(
  $$ update public.shops set shop_name = 'Stitch & Daughters', description = 'Bespoke tailoring'
      where id = auth.uid() returning id $$,
  'the shop owner edits their shop''s name and description'
);
select throws_ok(
  $$ update public.shops set rating_avg = 5 where id = auth.uid() $$,
  '42501', 'permission denied for table shops', 'the shop owner cannot set their rating'
);
select throws_ok(
  $$ update public.shops set review_count = 999 where id = auth.uid() $$,
  '42501', 'permission denied for table shops', 'the shop owner cannot set their review count'
);
select throws_ok(
  $$ update public.shops set is_active = true where id = auth.uid() $$,
  '42501', 'permission denied for table shops', 'the shop owner cannot set whether their shop is active'
);
select throws_ok(
  $$ update public.shops set logo_path = tests.get_user_id('sell-stranger@example.com') || '/logo.png' where id = auth.uid() $$,
  '23514', 'new row for relation "shops" violates check constraint "shops_logo_path_owned"',
  'a logo outside the owner''s folder is refused'
);

select tests.authenticate_as(tests.get_user_id('sell-stranger@example.com'));
select is_empty(
  $$ update public.shops set shop_name = 'Stolen' where id = tests.get_user_id('sell-applicant@example.com') returning id $$,
  'a stranger''s edit of another user''s shop touches no row'
);

-- An inactive shop disappears from the public but not from its owner.
select tests.authenticate_as_service_role();
update public.shops set is_active = false where id = tests.get_user_id('sell-applicant@example.com');
select tests.authenticate_as_anon();
select is_empty(
  $$ select 1 from public.shops where id = tests.get_user_id('sell-applicant@example.com') $$,
  'anon cannot see an inactive shop'
);
select tests.authenticate_as(tests.get_user_id('sell-stranger@example.com'));
select is_empty(
  $$ select 1 from public.shops where id = tests.get_user_id('sell-applicant@example.com') $$,
  'a stranger cannot see an inactive shop'
);
select tests.authenticate_as(tests.get_user_id('sell-applicant@example.com'));
select isnt_empty(
  $$ select 1 from public.shops where id = auth.uid() $$,
  'the owner still sees their inactive shop'
);

select * from finish();
rollback;
