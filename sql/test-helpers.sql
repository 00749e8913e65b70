-- pgTAP helpers shared by every suite in supabase/tests/database: make users the way
-- Supabase Auth does, and act as them the way PostgREST does (a transaction-local role and
-- request.jwt.claims). Installed into the test database before pg_prove runs; never a
-- migration, so nothing here reaches a deployed project.

create extension if not exists pgtap with schema extensions;

create schema if not exists tests;
grant usage on schema tests to anon, authenticated, service_role;

-- Creates an auth user (and, through the project's triggers, everything sign-up creates).
create or replace function tests.create_user(email text, user_metadata jsonb default '{}')
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  new_id uuid := gen_random_uuid();
begin
  insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                          raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
  values ('00000000-0000-0000-0000-000000000000', new_id, 'authenticated', 'authenticated', email, '',
          now(), '{"provider": "email", "providers": ["email"]}', user_metadata, now(), now());
  insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
  values (new_id, new_id, jsonb_build_object('sub', new_id, 'email', email), 'email', now(), now());
  return new_id;
end
$$;

-- The id of the user with this e-mail, readable whoever the test is acting as.
create or replace function tests.get_user_id(email text)
returns uuid
language sql
stable
security definer
set search_path = ''
as $$
  select u.id from auth.users u where u.email = get_user_id.email
$$;

-- Acts as a signed-in user for the rest of the transaction, with the claims Supabase Auth
-- would put in their access token.
create or replace function tests.authenticate_as(user_id uuid)
returns void
language plpgsql
as $$
declare
  claims jsonb;
begin
  -- Back to the session role first: the previous identity may not read auth.users.
  perform set_config('role', 'none', true);
  select jsonb_build_object(
           'sub', u.id, 'role', 'authenticated', 'aud', 'authenticated', 'email', u.email,
           'app_metadata', coalesce(u.raw_app_meta_data, '{}'),
           'user_metadata', coalesce(u.raw_user_meta_data, '{}'),
           'aal', 'aal1', 'session_id', gen_random_uuid(), 'is_anonymous', false)
    into claims
    from auth.users u
   where u.id = user_id;
  if claims is null then
    raise exception 'tests.authenticate_as: no user %', user_id;
  end if;
  perform set_config('request.jwt.claims', claims::text, true);
  perform set_config('role', 'authenticated', true);
end
$$;

create or replace function tests.authenticate_as_anon()
returns void
language plpgsql
as $$
begin
  perform set_config('request.jwt.claims', '{"role": "anon"}', true);
  perform set_config('role', 'anon', true);
end
$$;

create or replace function tests.authenticate_as_service_role()
returns void
language plpgsql
as $$
begin
  perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
  perform set_config('role', 'service_role', true);
end
$$;

-- Back to the session's own role (postgres) with no claims.
create or replace function tests.clear_authentication()
returns void
language plpgsql
as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', '', true);
end
$$;

-- Gives a user a role by name, as an operator would (run as postgres).
create or replace function tests.grant_role(email text, role_name text)
returns void
language sql
security definer
set search_path = ''
as $$
  insert into public.user_roles (user_id, role_id)
  select tests.get_user_id(email), r.id from public.roles r where r.name = role_name
$$;

-- Gives a user a verified TOTP factor, as Supabase Auth records one after its first
-- verification (run as postgres); returns the factor's id.
create or replace function tests.add_verified_factor(email text, factor_status text default 'verified')
returns uuid
language sql
security definer
set search_path = ''
as $$
  insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
  values (gen_random_uuid(), tests.get_user_id(email), 'authenticator ' || gen_random_uuid(), 'totp',
          factor_status::auth.factor_status, now(), now(), 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP')
  returning id
$$;

-- Sets the assurance level ('aal1' or 'aal2') of the access token the test acts with, as
-- an MFA verification would (after tests.act_as or tests.authenticate_as).
create or replace function tests.with_aal(aal text)
returns void
language sql
as $$
  select set_config('request.jwt.claims',
                    (coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
                       || jsonb_build_object('aal', aal))::text,
                    true)
$$;

-- Acts as one of a suite's cast for the rest of the transaction: 'anon', 'service_role',
-- 'postgres' (the session's own role, no claims) or a signed-in user named by e-mail.
create or replace function tests.act_as(who text)
returns void
language plpgsql
as $$
begin
  case who
    when 'anon' then perform tests.authenticate_as_anon();
    when 'service_role' then perform tests.authenticate_as_service_role();
    when 'postgres' then perform tests.clear_authentication();
    else perform tests.authenticate_as(tests.get_user_id(who));
  end case;
end
$$;

-- Why the database refused a statement run by who (as in tests.act_as): the error's
-- message, or null if the statement ran (its effects are then undone). Either way the
-- session is back to postgres afterwards. For checking many statements in one query, where
-- throws_ok would need one call each.
create or replace function tests.refusal(who text, statement text)
returns text
language plpgsql
as $$
declare
  message text;
begin
  begin
    perform tests.act_as(who);
    execute statement;
    raise exception using errcode = 'TOK00', message = 'ran';
  exception
    when sqlstate 'TOK00' then message := null;
    when others then message := sqlerrm;
  end;
  perform tests.clear_authentication();
  return message;
end
$$;

-- throws_ok for refusals whose message holds a value the test cannot know in advance (a
-- serial id): passes when the statement fails with this SQLSTATE and a message LIKE the
-- pattern. pgTAP's own throws_like checks the message only, not the SQLSTATE.
create or replace function tests.throws_like(statement text, expected_sqlstate char(5), message_pattern text, description text)
returns text
language plpgsql
as $$
begin
  execute statement;
  return extensions.ok(false, description) || E'\n' || extensions.diag(
    '      caught: no exception' || E'\n      wanted: ' || expected_sqlstate || ': like ' || message_pattern);
exception when others then
  if sqlstate = expected_sqlstate and sqlerrm like message_pattern then
    return extensions.ok(true, description);
  end if;
  return extensions.ok(false, description) || E'\n' || extensions.diag(
    '      caught: ' || sqlstate || ': ' || sqlerrm || E'\n      wanted: ' || expected_sqlstate || ': like ' || message_pattern);
end
$$;

-- The project with this title, readable whoever the test is acting as. Titles are unique
-- within a suite.
create or replace function tests.project_of(title text)
returns uuid
language sql
security definer
set search_path = ''
as $$
  select p.id from public.projects p where p.title = project_of.title
$$;

-- The bid the user with this e-mail made on the project with this title, readable whoever
-- the test is acting as.
create or replace function tests.bid_of(email text, project_title text)
returns uuid
language sql
security definer
set search_path = ''
as $$
  select b.id from public.bids b
   where b.tailor_id = tests.get_user_id(email) and b.project_id = tests.project_of(project_title)
$$;

-- A commission order between two users in the given status, reached through the real
-- functions: a project and a bid, accept_bid (service role), then each party's actions.
-- Leaves the session unauthenticated.
create or replace function tests.order_in(buyer_email text, seller_email text, state text)
returns uuid
language plpgsql
as $$
declare
  buyer uuid := tests.get_user_id(buyer_email);
  seller uuid := tests.get_user_id(seller_email);
  project uuid;
  bid uuid;
  o uuid;
  step text;
  steps text[] := case state
    when 'awaiting_requirements' then '{}'
    when 'awaiting_payment' then '{buyer:approve,seller:approve}'
    when 'in_progress' then '{buyer:approve,seller:approve,service:pay}'
    when 'delivered' then '{buyer:approve,seller:approve,service:pay,seller:deliver}'
    when 'revision_requested' then '{buyer:approve,seller:approve,service:pay,seller:deliver,buyer:revise}'
    when 'completed' then '{buyer:approve,seller:approve,service:pay,seller:deliver,buyer:accept}'
    when 'disputed' then '{buyer:approve,seller:approve,service:pay,buyer:dispute}'
    when 'cancelled' then '{buyer:cancel}'
  end;
begin
  if steps is null then
    raise exception 'tests.order_in: no way to reach %', state;
  end if;
  perform tests.clear_authentication();
  insert into public.projects (owner_id, title, budget_amount, currency)
    values (buyer, 'Order ' || state || ' ' || gen_random_uuid(), 10000, 'EUR') returning id into project;
  insert into public.bids (project_id, tailor_id, amount, duration_days)
    values (project, seller, 9000, 10) returning id into bid;
  perform tests.authenticate_as_service_role();
  select a.order_id into o from ops.accept_bid(bid, buyer, 9000, 10) a;
  foreach step in array steps loop
    case split_part(step, ':', 1)
      when 'buyer' then perform tests.authenticate_as(buyer);
      when 'seller' then perform tests.authenticate_as(seller);
      else perform tests.authenticate_as_service_role();
    end case;
    case split_part(step, ':', 2)
      when 'approve' then perform public.approve_requirements(o);
      when 'pay' then perform ops.record_order_payment(o);
      when 'deliver' then perform public.submit_delivery(o, 'First delivery', '{}');
      when 'revise' then perform public.request_revision(o, 'Longer, please');
      when 'accept' then perform public.approve_delivery(o);
      when 'dispute' then perform public.open_dispute(o, 'The work does not match the requirements');
      when 'cancel' then perform public.cancel_order(o, 'Plans changed');
    end case;
  end loop;
  perform tests.clear_authentication();
  if (select status from public.orders where id = o) is distinct from state then
    raise exception 'tests.order_in: order % is not %', o, state;
  end if;
  return o;
end
$$;

grant execute on all functions in schema tests to anon, authenticated, service_role;

-- The oid of a function in ops, found in the catalogue: a text like 'ops.accept_bid(uuid, uuid, bigint, integer)'
-- is resolved as the current role, which may have no usage on ops (anon, authenticated).
create or replace function tests.ops_function(name text)
returns oid
language sql
stable
security definer
set search_path = ''
as $$
  select p.oid from pg_catalog.pg_proc p where p.pronamespace = 'ops'::regnamespace and p.proname = ops_function.name
$$;
grant execute on function tests.ops_function(text) to anon, authenticated, service_role;
