-- Reviews and ratings: each party of a completed order reviews the other once; the author
-- and subject are derived, never supplied; reviews are public; authors edit for 14 days and
-- never delete; moderators hide and delete; profiles.rating_avg and review_count follow
-- every insert, edit, hide, restore and delete exactly.
begin;
select plan(41);

select tests.create_user('rv-seller@example.com');
select tests.create_user('rv-buyer1@example.com');
select tests.create_user('rv-buyer2@example.com');
select tests.create_user('rv-buyer3@example.com');
select tests.create_user('rv-stranger@example.com');
select tests.create_user('rv-moderator@example.com');

select tests.clear_authentication();
select tests.grant_role('rv-moderator@example.com', 'moderator');
insert into public.services (id, provider_id, title, category, is_published)
values ('00000000-0000-4000-a000-0000000000a1', tests.get_user_id('rv-seller@example.com'), 'Hemming', 'alterations', true);
insert into public.service_packages (id, service_id, name, price_amount, currency, delivery_days)
values ('00000000-0000-4000-b000-0000000000b1', '00000000-0000-4000-a000-0000000000a1', 'Basic', 2500, 'GBP', 5);

-- Orders through the real functions: ordered by the buyer, paid by the payments feature
-- (service role), delivered by the seller, approved by the buyer.
create function pg_temp.order_for(email text) returns uuid language sql security definer as $$
  select id from public.orders where buyer_id = tests.get_user_id(email) order by created_at, id limit 1
$$;
create function pg_temp.review_by(email text) returns uuid language sql security definer as $$
  select id from public.reviews where author_id = tests.get_user_id(email) order by created_at, id limit 1
$$;
create function pg_temp.place_order(email text) returns uuid language plpgsql as $$
declare
  o uuid;
begin
  perform tests.authenticate_as(tests.get_user_id(email));
  o := (public.order_service_package('00000000-0000-4000-b000-0000000000b1')).id;
  perform tests.clear_authentication();
  return o;
end
$$;
create function pg_temp.complete_order(o uuid) returns void language plpgsql as $$
declare
  buyer uuid := (select buyer_id from public.orders where id = o);
begin
  perform tests.authenticate_as_service_role();
  perform ops.record_order_payment(o);
  perform tests.authenticate_as(tests.get_user_id('rv-seller@example.com'));
  perform public.submit_delivery(o, 'Hemmed');
  perform tests.authenticate_as(buyer);
  perform public.approve_delivery(o);
  perform tests.clear_authentication();
end
$$;
create function pg_temp.rating_of(email text) returns table (rating_avg numeric, review_count integer) language sql security definer as $$
  select rating_avg, review_count from public.profiles where id = tests.get_user_id(email)
$$;
grant execute on all functions in schema pg_temp to anon, authenticated, service_role;

select pg_temp.complete_order(pg_temp.place_order('rv-buyer1@example.com'));
select pg_temp.complete_order(pg_temp.place_order('rv-buyer2@example.com'));
select pg_temp.complete_order(pg_temp.place_order('rv-buyer3@example.com'));
select pg_temp.place_order('rv-stranger@example.com'); -- awaiting payment: not reviewable yet

select results_eq(
  $$ select status, count(*)::int from public.orders where seller_id = tests.get_user_id('rv-seller@example.com') group by status order by status $$,
  $$ values ('awaiting_payment'::text, 1), ('completed', 3) $$,
  'three orders completed through payment, delivery and approval; one awaits payment'
);
select results_eq($$ select * from pg_temp.rating_of('rv-seller@example.com') $$, $$ values (null::numeric, 0) $$,
  'no reviews: no average, count 0');

-- writing -------------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('rv-buyer1@example.com'));
select lives_ok(
  $$ select public.review_order(pg_temp.order_for('rv-buyer1@example.com'), 5, 'Perfect hem') $$,
  'the buyer reviews the seller of their completed order'
);
select results_eq(
  $$ select author_id, subject_id, author_role, rating from public.reviews where id = pg_temp.review_by('rv-buyer1@example.com') $$,
  $$ values (tests.get_user_id('rv-buyer1@example.com'), tests.get_user_id('rv-seller@example.com'), 'buyer'::text, 5::smallint) $$,
  'author and subject are derived: the buyer about the seller'
);
select throws_ok(
  $$ select public.review_order(pg_temp.order_for('rv-buyer1@example.com'), 1) $$,
  '23505', 'duplicate key value violates unique constraint "reviews_one_per_author_and_order"',
  'a second review of the same order by the same author is refused'
);
select throws_ok(
  $$ insert into public.reviews (order_id, rating, subject_id, author_role) values (pg_temp.order_for('rv-buyer1@example.com'), 5, auth.uid(), 'seller') $$,
  '42501', 'permission denied for table reviews',
  'no direct inserts: the subject cannot be supplied (no reviewing yourself)'
);
select throws_ok(
  $$ insert into public.reviews (order_id, rating) values (pg_temp.order_for('rv-buyer1@example.com'), 5) $$,
  '42501', 'permission denied for table reviews',
  'no direct inserts even of the allowed fields: reviews are written by review_order()'
);
select throws_ok(
  $$ select public.review_order(pg_temp.order_for('rv-buyer2@example.com'), 1) $$,
  'PT404', format('order %s not found', pg_temp.order_for('rv-buyer2@example.com')),
  'reviewing someone else''s order: not found'
);
select throws_ok(
  format($$ select public.review_order(%L, 1) $$, unknown_id),
  'PT404', format('order %s not found', unknown_id), 'reviewing an unknown order: not found'
) from gen_random_uuid() unknown_id;

select tests.authenticate_as(tests.get_user_id('rv-stranger@example.com'));
select throws_ok(
  $$ select public.review_order(pg_temp.order_for('rv-stranger@example.com'), 5) $$,
  'PT409', format('order %s is awaiting_payment: reviews open once it is completed', pg_temp.order_for('rv-stranger@example.com')),
  'an order that is not completed cannot be reviewed'
);

select tests.authenticate_as(tests.get_user_id('rv-seller@example.com'));
select lives_ok(
  $$ select public.review_order(pg_temp.order_for('rv-buyer1@example.com'), 4, 'Clear instructions') $$,
  'the seller reviews the buyer of the same order'
);
select throws_ok(
  $$ select public.review_order(pg_temp.order_for('rv-buyer2@example.com'), 6) $$,
  '23514', 'new row for relation "reviews" violates check constraint "reviews_rating_range"', 'ratings are 1 to 5'
);
select throws_ok(
  $$ select public.review_order(pg_temp.order_for('rv-buyer2@example.com'), 3, repeat('x', 2001)) $$,
  '23514', 'new row for relation "reviews" violates check constraint "reviews_comment_length"',
  'comments are at most 2000 characters'
);
select results_eq($$ select * from pg_temp.rating_of('rv-buyer1@example.com') $$, $$ values (4.00::numeric, 1) $$,
  'the buyer''s own rating counts the seller''s review');

select tests.authenticate_as(tests.get_user_id('rv-buyer2@example.com'));
select public.review_order(pg_temp.order_for('rv-buyer2@example.com'), 4);
select tests.authenticate_as(tests.get_user_id('rv-buyer3@example.com'));
select public.review_order(pg_temp.order_for('rv-buyer3@example.com'), 2, 'Late');
select results_eq($$ select * from pg_temp.rating_of('rv-seller@example.com') $$, $$ values (3.67::numeric, 3) $$,
  'after 5, 4 and 2 the seller averages 3.67 over 3 reviews');

-- editing -------------------------------------------------------------------------------
select isnt_empty(
  $$ update public.reviews set rating = 3, comment = 'Late, but fixed' where id = pg_temp.review_by('rv-buyer3@example.com') returning id $$,
  'the author edits their review within the window'
);
select isnt((select edited_at from public.reviews where id = pg_temp.review_by('rv-buyer3@example.com')), null, 'the edit is stamped');
select results_eq($$ select * from pg_temp.rating_of('rv-seller@example.com') $$, $$ values (4.00::numeric, 3) $$,
  'the edit (2 -> 3) moves the average to 4.00');
select throws_ok(
  $$ update public.reviews set is_hidden = true where id = pg_temp.review_by('rv-buyer3@example.com') $$,
  '42501', 'permission denied for table reviews', 'the author cannot hide or unhide'
);
select throws_ok(
  $$ update public.reviews set order_id = pg_temp.order_for('rv-buyer2@example.com') where id = pg_temp.review_by('rv-buyer3@example.com') $$,
  '42501', 'permission denied for table reviews', 'the author cannot move the review to another order'
);
select is_empty(
  $$ delete from public.reviews where id = pg_temp.review_by('rv-buyer3@example.com') returning id $$,
  'the author cannot delete their review'
);

select tests.authenticate_as(tests.get_user_id('rv-seller@example.com'));
select is_empty(
  $$ update public.reviews set rating = 5 where subject_id = auth.uid() returning id $$,
  'the subject cannot edit reviews about them'
);
select tests.authenticate_as(tests.get_user_id('rv-stranger@example.com'));
select is_empty(
  $$ update public.reviews set rating = 1 returning id $$,
  'a stranger cannot edit anyone''s review'
);
select throws_ok(
  $$ update public.profiles set rating_avg = 5, review_count = 100 where id = tests.get_user_id('rv-seller@example.com') $$,
  '42501', 'permission denied for table profiles', 'nobody writes the aggregates directly'
);

select tests.clear_authentication();
update public.reviews set created_at = now() - interval '15 days' where id = pg_temp.review_by('rv-buyer2@example.com');
select tests.authenticate_as(tests.get_user_id('rv-buyer2@example.com'));
select is_empty(
  $$ update public.reviews set rating = 1 where id = pg_temp.review_by('rv-buyer2@example.com') returning id $$,
  'after 14 days the review can no longer be edited'
);

-- reading -------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select results_eq(
  $$ select rating from public.reviews where subject_id = tests.get_user_id('rv-seller@example.com') order by rating $$,
  $$ values (3::smallint), (4::smallint), (5::smallint) $$,
  'anon reads the seller''s reviews'
);
select results_eq(
  $$ select rating_avg, review_count from public.public_profiles where id = tests.get_user_id('rv-seller@example.com') $$,
  $$ values (4.00::numeric, 3) $$,
  'anon reads the aggregates on the public profile'
);
select throws_ok(
  $$ select public.review_order(pg_temp.order_for('rv-buyer1@example.com'), 1) $$,
  '42501', 'permission denied for function review_order', 'anon cannot review'
);

-- moderation ----------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('rv-stranger@example.com'));
select throws_ok(
  $$ select public.moderate_review(pg_temp.review_by('rv-buyer3@example.com'), true, 'rude') $$,
  '42501', 'permission denied: content.moderate is required', 'a user without content.moderate cannot hide reviews'
);
select tests.authenticate_as(tests.get_user_id('rv-moderator@example.com'));
select throws_ok(
  $$ select public.moderate_review(pg_temp.review_by('rv-buyer3@example.com'), true, ' ') $$,
  '22023', 'hiding a review needs a reason', 'hiding needs a reason'
);
select lives_ok(
  $$ select public.moderate_review(pg_temp.review_by('rv-buyer3@example.com'), true, 'personal details in the comment') $$,
  'a moderator hides a review'
);
select results_eq($$ select * from pg_temp.rating_of('rv-seller@example.com') $$, $$ values (4.50::numeric, 2) $$,
  'the hidden review leaves the aggregates (5 and 4: 4.50 over 2)');
select tests.authenticate_as_anon();
select is((select count(*)::int from public.reviews where subject_id = tests.get_user_id('rv-seller@example.com')), 2,
  'anon no longer sees the hidden review');
select tests.authenticate_as(tests.get_user_id('rv-buyer3@example.com'));
select is((select is_hidden from public.reviews where id = pg_temp.review_by('rv-buyer3@example.com')), true,
  'its author still sees it, marked hidden');
select is_empty(
  $$ update public.reviews set rating = 5 where id = pg_temp.review_by('rv-buyer3@example.com') returning id $$,
  'a hidden review cannot be edited'
);
select tests.authenticate_as(tests.get_user_id('rv-buyer2@example.com'));
select is_empty($$ select 1 from public.reviews where id = pg_temp.review_by('rv-buyer3@example.com') $$,
  'other users do not see the hidden review');

select tests.authenticate_as(tests.get_user_id('rv-moderator@example.com'));
select lives_ok(
  $$ select public.moderate_review(pg_temp.review_by('rv-buyer3@example.com'), false) $$,
  'the moderator restores it'
);
select results_eq($$ select * from pg_temp.rating_of('rv-seller@example.com') $$, $$ values (4.00::numeric, 3) $$,
  'restored, it counts again');
select isnt_empty(
  $$ delete from public.reviews where id = pg_temp.review_by('rv-buyer1@example.com') returning id $$,
  'a moderator deletes a review'
);
select results_eq($$ select * from pg_temp.rating_of('rv-seller@example.com') $$, $$ values (3.50::numeric, 2) $$,
  'after the delete: 4 and 3, 3.50 over 2');
select results_eq($$ select * from pg_temp.rating_of('rv-buyer1@example.com') $$, $$ values (4.00::numeric, 1) $$,
  'the other party''s aggregates are untouched');

select * from finish();
rollback;
