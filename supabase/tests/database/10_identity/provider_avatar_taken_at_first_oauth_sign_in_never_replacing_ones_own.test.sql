-- 000 "facebook profile picture still not showing": when Supabase Auth links an OAuth identity,
-- the profile takes the provider's picture (identity_data avatar_url, else picture) as
-- avatar_url, unless the user already has an avatar (an upload in avatar_path, or a picture
-- from an earlier identity). Rows are written as Supabase Auth writes them on a Facebook
-- sign-up: auth.users with the provider's claims as user metadata, then auth.identities with
-- the same claims (internal/api/provider/facebook.go: avatar_url and picture both hold the
-- picture's URL).
begin;
select plan(11);

create function pg_temp.oauth_sign_up(user_id uuid, provider text, identity_data jsonb) returns void language plpgsql as $$
begin
  insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                          raw_app_meta_data, raw_user_meta_data, created_at, updated_at, is_anonymous)
  values ('00000000-0000-0000-0000-000000000000', user_id, 'authenticated', 'authenticated', identity_data ->> 'email', '',
          now(), jsonb_build_object('provider', provider, 'providers', jsonb_build_array(provider)), identity_data, now(), now(), false);
  insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
  values (identity_data ->> 'sub', user_id, identity_data, provider, now(), now(), now());
end
$$;

-- Facebook, exactly the keys GoTrue's facebookProvider.GetUserData and the callback write.
select pg_temp.oauth_sign_up('f0000000-0000-4000-8000-000000000001', 'facebook', $json${
  "iss": "https://graph.facebook.com/me?fields=email,first_name,last_name,name,picture",
  "sub": "10229876543210987",
  "name": "Ada Lovelace",
  "email": "ada.fb@example.com",
  "picture": "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10229876543210987&height=50&width=50&ext=1767225600&hash=AbZ",
  "nickname": "Ada Lovelace",
  "slug": "Ada Lovelace",
  "full_name": "Ada Lovelace",
  "avatar_url": "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10229876543210987&height=50&width=50&ext=1767225600&hash=AbZ",
  "provider_id": "10229876543210987",
  "email_verified": true,
  "phone_verified": false
}$json$);
select is(
  (select avatar_url from public.profiles where id = 'f0000000-0000-4000-8000-000000000001'),
  'https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10229876543210987&height=50&width=50&ext=1767225600&hash=AbZ',
  'a Facebook sign-up''s picture becomes the profile''s avatar'
);
select is(
  (select display_name from public.profiles where id = 'f0000000-0000-4000-8000-000000000001'),
  'Ada Lovelace', 'the name comes from the same claims (full_name)'
);

-- Google (avatar_url and picture), GitHub and Kakao (avatar_url only).
select pg_temp.oauth_sign_up('f0000000-0000-4000-8000-000000000002', 'google', '{
  "iss": "https://www.googleapis.com/userinfo/v2/me", "sub": "112233445566778899001", "name": "Grace Hopper",
  "email": "grace@example.com", "picture": "https://lh3.googleusercontent.com/a/ACg8ocK=s96-c",
  "full_name": "Grace Hopper", "avatar_url": "https://lh3.googleusercontent.com/a/ACg8ocK=s96-c",
  "provider_id": "112233445566778899001", "email_verified": true, "phone_verified": false}');
select pg_temp.oauth_sign_up('f0000000-0000-4000-8000-000000000003', 'github', '{
  "iss": "https://api.github.com", "sub": "583231", "name": "Octo Cat", "email": "octo@example.com",
  "user_name": "octocat", "full_name": "Octo Cat", "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
  "provider_id": "583231", "preferred_username": "octocat", "email_verified": true, "phone_verified": false}');
select pg_temp.oauth_sign_up('f0000000-0000-4000-8000-000000000004', 'kakao', '{
  "iss": "https://kapi.kakao.com", "sub": "3141592653", "name": "Kim", "email": "kim@example.com",
  "user_name": "Kim", "full_name": "Kim", "avatar_url": "http://k.kakaocdn.net/dn/abc/img_640x640.jpg",
  "provider_id": "3141592653", "preferred_username": "Kim", "email_verified": true, "phone_verified": false}');
select results_eq(
  $$ select avatar_url from public.profiles where id in ('f0000000-0000-4000-8000-000000000002', 'f0000000-0000-4000-8000-000000000003', 'f0000000-0000-4000-8000-000000000004') order by id $$,
  $$ values ('https://lh3.googleusercontent.com/a/ACg8ocK=s96-c'), ('https://avatars.githubusercontent.com/u/583231?v=4'), ('http://k.kakaocdn.net/dn/abc/img_640x640.jpg') $$,
  'Google, GitHub and Kakao pictures are taken the same way'
);

-- Never replacing an avatar the user has: a second identity leaves the first picture.
insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
values ('583999', 'f0000000-0000-4000-8000-000000000001',
        '{"sub": "583999", "avatar_url": "https://avatars.githubusercontent.com/u/583999?v=4", "email": "ada.fb@example.com"}', 'github', now(), now(), now());
select is(
  (select avatar_url from public.profiles where id = 'f0000000-0000-4000-8000-000000000001'),
  'https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10229876543210987&height=50&width=50&ext=1767225600&hash=AbZ',
  'linking another provider later keeps the picture the user already has'
);

-- nor an uploaded one.
select tests.create_user('uploader@example.com');
update public.profiles set avatar_path = tests.get_user_id('uploader@example.com') || '/me.png'
 where id = tests.get_user_id('uploader@example.com');
insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
values ('10220000000000001', tests.get_user_id('uploader@example.com'),
        '{"sub": "10220000000000001", "picture": "https://platform-lookaside.fbsbx.com/p.jpg", "avatar_url": "https://platform-lookaside.fbsbx.com/p.jpg"}',
        'facebook', now(), now(), now());
select is(
  (select avatar_url from public.profiles where id = tests.get_user_id('uploader@example.com')), null,
  'a user with an uploaded avatar keeps it: the provider''s picture is not taken'
);

-- Password sign-ups and pictures that are no web URL change nothing, and never fail the sign-in.
select tests.create_user('plain@example.com');
select is((select avatar_url from public.profiles where id = tests.get_user_id('plain@example.com')), null,
  'an e-mail sign-up has no provider picture');
select lives_ok(
  $$ select pg_temp.oauth_sign_up('f0000000-0000-4000-8000-000000000005', 'facebook',
       '{"sub": "1", "email": "odd@example.com", "avatar_url": "javascript:alert(1)", "picture": "javascript:alert(1)"}') $$,
  'a picture that is no http(s) URL does not fail the sign-up'
);
select is((select avatar_url from public.profiles where id = 'f0000000-0000-4000-8000-000000000005'), null,
  'and is not taken');

-- The owner may remove or replace it; the column refuses what is no web URL.
select tests.authenticate_as('f0000000-0000-4000-8000-000000000002');
select lives_ok(
  $$ update public.profiles set avatar_url = null where id = auth.uid() $$,
  'the owner removes the provider''s picture'
);
select throws_ok(
  $$ update public.profiles set avatar_url = 'data:image/png;base64,AAAA' where id = auth.uid() $$,
  '23514', 'new row for relation "profiles" violates check constraint "profiles_avatar_url_web"',
  'avatar_url must be an http(s) URL'
);
select tests.authenticate_as_anon();
select is(
  (select avatar_url from public.public_profiles where id = 'f0000000-0000-4000-8000-000000000003'),
  'https://avatars.githubusercontent.com/u/583231?v=4',
  'anyone reads the picture on the public profile'
);

select * from finish();
rollback;
