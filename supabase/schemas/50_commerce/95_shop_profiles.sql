-- The public shop profile (001 GET /sellers/:id): a read model over public.shops with the
-- aggregates the other features keep. security_invoker, so the shops policies decide which
-- rows a caller sees: anon and every signed-in user the active shops, a seller also their
-- own inactive one, sellers.review holders every shop. Nothing here is stored twice:
--
--   rating_avg, review_count  shops' columns, kept by the product reviews (92_product_reviews.sql)
--   follower_count            shops' column, kept by the follows (90_follows.sql)
--   product_count             counted here: the shop's active products
--   logo_path                 the logo's object in the public avatars bucket, under the seller's
--                             folder (shops_logo_path_owned); its URL is
--                             supabase.storage.from('avatars').getPublicUrl(logo_path)
--
--   read: supabase.from('shop_profiles').select().eq('id', sellerId).maybeSingle()

create view public.shop_profiles with (security_invoker = true) as
select s.id,
       s.shop_name,
       s.description,
       s.category,
       s.logo_path,
       s.rating_avg,
       s.review_count,
       s.follower_count,
       (select count(*)::integer from public.products p where p.shop_id = s.id and p.status = 'active') as product_count,
       s.is_active,
       s.created_at
  from public.shops s;

comment on view public.shop_profiles is
  '001 GET /sellers/:id: a shop''s public profile with its rating (product reviews), review, follower and active product counts; rows as the shops policies allow (anon: active shops).';
comment on column public.shop_profiles.logo_path is
  'The logo in the public avatars bucket (<seller id>/...): supabase.storage.from(''avatars'').getPublicUrl(logo_path).';
comment on column public.shop_profiles.rating_avg is
  'The mean of the visible product reviews of the shop''s products (each review counts once), 2 decimals; null without reviews.';
comment on column public.shop_profiles.product_count is 'The shop''s active products.';

revoke all on public.shop_profiles from anon, authenticated;
grant select on public.shop_profiles to anon, authenticated, service_role;
