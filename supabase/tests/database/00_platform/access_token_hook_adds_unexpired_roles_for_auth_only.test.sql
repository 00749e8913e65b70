-- The custom access token hook: Supabase Auth (supabase_auth_admin) gets the user's
-- unexpired role names, sorted, in app_metadata.roles; every other claim passes through
-- untouched; nobody else can call it.
begin;
select plan(10);

select tests.create_user('hook-holder@example.com');
select tests.create_user('hook-nobody@example.com');

select tests.clear_authentication();
insert into public.user_roles (user_id, role_id)
  select tests.get_user_id('hook-holder@example.com'), id from public.roles where name in ('staff', 'seller');
insert into public.user_roles (user_id, role_id, assigned_at, expires_at)
  select tests.get_user_id('hook-holder@example.com'), id, now() - interval '30 days', now() - interval '1 minute'
  from public.roles where name = 'moderator';

-- The event as Supabase Auth sends it. supabase_auth_admin cannot call the tests helpers,
-- so the events are built here and handed over in transaction-local settings.
create function pg_temp.token_event(email text) returns jsonb language sql as $$
  select jsonb_build_object(
    'user_id', tests.get_user_id(email),
    'claims', jsonb_build_object(
      'aud', 'authenticated', 'exp', 1893456000, 'iat', 1893452400, 'iss', 'http://127.0.0.1:54321/auth/v1',
      'sub', tests.get_user_id(email), 'email', email, 'phone', '', 'role', 'authenticated',
      'aal', 'aal1', 'amr', jsonb_build_array(jsonb_build_object('method', 'password', 'timestamp', 1893452400)),
      'session_id', gen_random_uuid(), 'is_anonymous', false,
      'app_metadata', jsonb_build_object('provider', 'email', 'providers', jsonb_build_array('email')),
      'user_metadata', jsonb_build_object('display_name', email)),
    'authentication_method', 'password')
$$;
do $$ begin
  perform set_config('tests.holder_event', pg_temp.token_event('hook-holder@example.com')::text, true);
  perform set_config('tests.nobody_event', pg_temp.token_event('hook-nobody@example.com')::text, true);
end $$;

-- As Supabase Auth ---------------------------------------------------------------------
set local role supabase_auth_admin;
do $$ begin
  perform set_config('tests.holder_result',
    public.custom_access_token_hook(current_setting('tests.holder_event')::jsonb)::text, true);
  perform set_config('tests.nobody_result',
    public.custom_access_token_hook(current_setting('tests.nobody_event')::jsonb)::text, true);
end $$;
reset role;

select is(
  current_setting('tests.holder_result')::jsonb #> '{claims,app_metadata,roles}',
  '["seller", "staff"]'::jsonb,
  'app_metadata.roles lists the user''s unexpired roles by name, sorted; the expired one is left out'
);
select is(
  (current_setting('tests.holder_result')::jsonb #> '{claims,app_metadata}') - 'roles',
  current_setting('tests.holder_event')::jsonb #> '{claims,app_metadata}',
  'the other app_metadata keys (provider, providers) are kept'
);
select is(
  (current_setting('tests.holder_result')::jsonb -> 'claims') - 'app_metadata',
  (current_setting('tests.holder_event')::jsonb -> 'claims') - 'app_metadata',
  'every other claim (sub, role, aud, exp, amr, session_id, user_metadata, ...) is untouched'
);
select is(
  (select array_agg(k order by k) from jsonb_object_keys(current_setting('tests.holder_result')::jsonb) k),
  array['claims'],
  'the answer is { claims } only, as Supabase Auth expects'
);
select is(
  current_setting('tests.nobody_result')::jsonb #> '{claims,app_metadata,roles}',
  '[]'::jsonb,
  'a user without roles gets an empty roles list'
);
select is(
  current_setting('tests.nobody_result')::jsonb #>> '{claims,app_metadata,provider}',
  'email',
  'a user without roles keeps their app_metadata'
);

-- A token without app_metadata at all still gets one.
set local role supabase_auth_admin;
do $$ begin
  perform set_config('tests.bare_result',
    public.custom_access_token_hook(
      jsonb_set(current_setting('tests.holder_event')::jsonb, '{claims}',
                (current_setting('tests.holder_event')::jsonb -> 'claims') - 'app_metadata'))::text, true);
end $$;
reset role;
select is(
  current_setting('tests.bare_result')::jsonb #> '{claims,app_metadata}',
  '{"roles": ["seller", "staff"]}'::jsonb,
  'claims without app_metadata get one holding the roles'
);

-- Nobody else ---------------------------------------------------------------------------
select tests.authenticate_as(tests.get_user_id('hook-nobody@example.com'));
select throws_ok(
  $$ select public.custom_access_token_hook(current_setting('tests.holder_event')::jsonb) $$,
  '42501', 'permission denied for function custom_access_token_hook',
  'a signed-in user cannot call the token hook (and mint themselves roles to display)'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select public.custom_access_token_hook(current_setting('tests.holder_event')::jsonb) $$,
  '42501', 'permission denied for function custom_access_token_hook', 'anon cannot call the token hook'
);
select tests.clear_authentication();
select ok(
  not has_function_privilege('service_role', 'public.custom_access_token_hook(jsonb)', 'execute'),
  'the service role is not granted the token hook either: only supabase_auth_admin is'
);

select * from finish();
rollback;
