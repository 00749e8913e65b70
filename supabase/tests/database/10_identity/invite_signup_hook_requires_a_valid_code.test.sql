-- The before-user-created hook: in open mode anyone signs up; in invite_only mode a valid
-- invite code is required. A valid code is counted (and its redemption recorded) in either
-- mode; a used-up, expired, revoked or unknown code refuses the sign-up with its reason
-- and leaves the code's count alone. Only supabase_auth_admin calls the hook.
begin;
select plan(25);

select tests.clear_authentication();
insert into public.invite_codes (code, max_uses, use_count, expires_at, revoked_at) values
  ('hook-valid-0001', 2, 0, now() + interval '7 days', null),
  ('hook-usedup-0001', 1, 1, null, null),
  ('hook-expired-0001', 5, 0, now() - interval '1 minute', null),
  ('hook-revoked-0001', 5, 0, null, now() - interval '1 hour'),
  ('hook-open-0001', 1, 0, null, null);

-- Supabase Auth's before-user-created payload: { metadata, user }, the user not yet saved.
create function pg_temp.signup_event(email text, invite_code text default null) returns jsonb language sql as $$
  select jsonb_build_object(
    'metadata', jsonb_build_object('uuid', gen_random_uuid(), 'time', now(), 'name', 'before-user-created',
                                   'ip_address', '127.0.0.1'),
    'user', jsonb_build_object(
      'id', gen_random_uuid(), 'aud', 'authenticated', 'role', '', 'email', email, 'phone', '',
      'app_metadata', jsonb_build_object('provider', 'email', 'providers', jsonb_build_array('email')),
      'user_metadata', case when invite_code is null then '{}'::jsonb
                            else jsonb_build_object('invite_code', invite_code) end,
      'identities', '[]'::jsonb, 'created_at', now(), 'updated_at', now(), 'is_anonymous', false))
$$;

-- Calls the hook as Supabase Auth does (as supabase_auth_admin), keeping the answer in
-- tests.answer for the assertions that follow.
create function pg_temp.run_hook(event jsonb) returns void language plpgsql as $$
begin
  perform set_config('tests.event', event::text, true);
  set local role supabase_auth_admin;
  perform set_config('tests.answer',
    public.before_user_created_hook(current_setting('tests.event')::jsonb)::text, true);
  reset role;
end
$$;

create function pg_temp.use_count(code text) returns int language sql as $$
  select use_count from public.invite_codes where invite_codes.code = use_count.code
$$;

-- open mode -----------------------------------------------------------------------------
select pg_temp.run_hook(pg_temp.signup_event('open-no-code@example.com'));
select is(current_setting('tests.answer')::jsonb, '{}'::jsonb, 'open mode: a sign-up without a code is let through');

select pg_temp.run_hook(pg_temp.signup_event('open-with-code@example.com', 'hook-open-0001'));
select is(current_setting('tests.answer')::jsonb, '{}'::jsonb, 'open mode: a sign-up with a valid code is let through');
select is(pg_temp.use_count('hook-open-0001'), 1, 'open mode: a valid code is still counted');
select is(
  (select count(*)::int from public.invite_redemptions where code = 'hook-open-0001' and email = 'open-with-code@example.com'),
  1,
  'open mode: the redemption is recorded'
);

-- invite_only mode ----------------------------------------------------------------------
update public.platform_settings set value = '"invite_only"' where key = 'signup_mode';

select pg_temp.run_hook(pg_temp.signup_event('no-code@example.com'));
select is(
  current_setting('tests.answer')::jsonb -> 'error',
  '{"http_code": 403, "message": "Sign-up is by invitation only: an invite code is required."}'::jsonb,
  'invite_only: a sign-up without a code is refused with 403'
);
select pg_temp.run_hook(pg_temp.signup_event('blank-code@example.com', '   '));
select is(
  current_setting('tests.answer')::jsonb #>> '{error,message}',
  'Sign-up is by invitation only: an invite code is required.',
  'invite_only: a blank code counts as no code'
);

select pg_temp.run_hook(pg_temp.signup_event('first@example.com', 'hook-valid-0001'));
select is(current_setting('tests.answer')::jsonb, '{}'::jsonb, 'invite_only: a valid code lets the sign-up through');
select is(pg_temp.use_count('hook-valid-0001'), 1, 'the code''s use is counted');
select results_eq(
  $$ select email from public.invite_redemptions where code = 'hook-valid-0001' $$,
  array['first@example.com'],
  'the redemption is recorded with the new user''s e-mail'
);
select pg_temp.run_hook(pg_temp.signup_event('second@example.com', 'hook-valid-0001'));
select is(pg_temp.use_count('hook-valid-0001'), 2, 'a code with two uses can be used twice');
select pg_temp.run_hook(pg_temp.signup_event('third@example.com', 'hook-valid-0001'));
select is(
  current_setting('tests.answer')::jsonb -> 'error',
  '{"http_code": 403, "message": "The invite code has been used up."}'::jsonb,
  'a third use of a two-use code is refused: used up'
);
select is(pg_temp.use_count('hook-valid-0001'), 2, 'the refused use is not counted');
select is(
  (select count(*)::int from public.invite_redemptions where code = 'hook-valid-0001'),
  2,
  'the refused use is not recorded as a redemption'
);

select pg_temp.run_hook(pg_temp.signup_event('late@example.com', 'hook-usedup-0001'));
select is(
  current_setting('tests.answer')::jsonb #>> '{error,message}',
  'The invite code has been used up.',
  'a used-up code is refused'
);
select is(pg_temp.use_count('hook-usedup-0001'), 1, 'a used-up code''s count is unchanged');

select pg_temp.run_hook(pg_temp.signup_event('tardy@example.com', 'hook-expired-0001'));
select is(
  current_setting('tests.answer')::jsonb -> 'error',
  '{"http_code": 403, "message": "The invite code has expired."}'::jsonb,
  'an expired code is refused'
);
select is(pg_temp.use_count('hook-expired-0001'), 0, 'an expired code''s count is unchanged');

select pg_temp.run_hook(pg_temp.signup_event('revoked@example.com', 'hook-revoked-0001'));
select is(
  current_setting('tests.answer')::jsonb -> 'error',
  '{"http_code": 403, "message": "The invite code has been revoked."}'::jsonb,
  'a revoked code is refused'
);
select is(pg_temp.use_count('hook-revoked-0001'), 0, 'a revoked code''s count is unchanged');

select pg_temp.run_hook(pg_temp.signup_event('guess@example.com', 'hook-unknown-0001'));
select is(
  current_setting('tests.answer')::jsonb -> 'error',
  '{"http_code": 403, "message": "The invite code is not valid."}'::jsonb,
  'an unknown code is refused'
);
select is_empty(
  $$ select 1 from public.invite_redemptions
     where email in ('late@example.com', 'tardy@example.com', 'revoked@example.com', 'guess@example.com', 'no-code@example.com') $$,
  'refused sign-ups leave no redemption'
);

-- Back to open mode: a bad code is still refused rather than silently ignored.
update public.platform_settings set value = '"open"' where key = 'signup_mode';
select pg_temp.run_hook(pg_temp.signup_event('typo@example.com', 'hook-unknown-0001'));
select is(
  current_setting('tests.answer')::jsonb #>> '{error,message}',
  'The invite code is not valid.',
  'open mode: a sign-up naming an unknown code is refused, not silently let through'
);

-- Only Supabase Auth calls the hook ---------------------------------------------------
select tests.create_user('hook-caller@example.com');
select tests.authenticate_as(tests.get_user_id('hook-caller@example.com'));
select throws_ok(
  $$ select public.before_user_created_hook('{"user": {"user_metadata": {"invite_code": "hook-open-0001"}}}') $$,
  '42501', 'permission denied for function before_user_created_hook',
  'a signed-in user cannot call the sign-up hook (and spend invite codes)'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select public.before_user_created_hook('{"user": {"user_metadata": {"invite_code": "hook-open-0001"}}}') $$,
  '42501', 'permission denied for function before_user_created_hook', 'anon cannot call the sign-up hook'
);
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select public.before_user_created_hook('{"user": {"user_metadata": {"invite_code": "hook-open-0001"}}}') $$,
  '42501', 'permission denied for function before_user_created_hook',
  'the service role is not granted the sign-up hook either'
);

select * from finish();
rollback;
