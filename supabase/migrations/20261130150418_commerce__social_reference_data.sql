-- The shop's social side (issue 17: follows, product reviews, shop profiles): the event types
-- it emits, the personal data it holds and how long an author may edit a product review.

-- Event types (private.event_types).
insert into private.event_types (event_type, domain, description) values
  ('shop.followed', 'commerce', 'A user followed a shop (to the shop''s seller; payload: follower_id)'),
  ('product_review.created', 'commerce', 'A buyer reviewed a product (to the shop''s seller; payload: product_id, rating)');

-- Personal data (private.personal_data). A follow is the follower's and goes with them (and
-- with the shop). A review stays on the product and in its ratings without its author, as
-- the marketplace's reviews do.
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.shop_follows', 'user_id', null, 'delete', true, '{}', 'the shops the user follows'),
  ('public.shop_follows', 'shop_id', null, 'delete', false, '{}',
   'who follows the seller''s shop is each follower''s data (the seller sees them in the app, the public only the count); the rows go with the shop'),
  ('public.product_reviews', 'author_id', null, 'anonymise', true, '{hidden_by}',
   'product reviews they wrote stay on the product and in its rating, without them'),
  ('public.product_reviews', 'shop_id', null, 'delete', true, '{hidden_by}',
   'reviews of the seller''s products go with their shop (cascade)'),
  ('public.product_reviews', 'hidden_by', null, 'anonymise', false, '{}', 'product reviews they moderated stay, without them');

-- How long an author may edit a product review (rule: platform_settings_product_review_edit_days).
insert into public.platform_settings (key, value) values ('product_review_edit_days', '30');
