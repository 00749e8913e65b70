-- Demo data for local development (`npm start`, `supabase db reset`). Never run against a
-- deployed project. Every demo account signs in with the password Demo-Password-1.

insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
                        confirmation_token, recovery_token, email_change_token_new, email_change)
select '00000000-0000-0000-0000-000000000000', id, 'authenticated', 'authenticated', email,
       extensions.crypt('Demo-Password-1', extensions.gen_salt('bf', 10)), now(),
       '{"provider": "email", "providers": ["email"]}', jsonb_build_object('display_name', display_name),
       now(), now(), '', '', '', ''
from (values
  ('00000000-0000-4000-a000-000000000001'::uuid, 'designer@example.com', 'Dana Designer'),
  ('00000000-0000-4000-a000-000000000002'::uuid, 'tailor@example.com', 'Theo Tailor'),
  ('00000000-0000-4000-a000-000000000003'::uuid, 'buyer@example.com', 'Bea Buyer')
) as demo(id, email, display_name);

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
select u.id, u.id, jsonb_build_object('sub', u.id, 'email', u.email, 'email_verified', true), 'email', now(), now(), now()
from auth.users u
where u.email in ('designer@example.com', 'tailor@example.com', 'buyer@example.com');

-- The sign-up trigger created the profiles; give them handles and bios.
update public.profiles p
set username = demo.username, bio = demo.bio
from (values
  ('00000000-0000-4000-a000-000000000001'::uuid, 'dana_designs', 'Parametric eveningwear patterns.'),
  ('00000000-0000-4000-a000-000000000002'::uuid, 'theo_tailors', 'Bespoke tailoring, 20 years at the bench.'),
  ('00000000-0000-4000-a000-000000000003'::uuid, 'bea_buys', '')
) as demo(id, username, bio)
where p.id = demo.id;
