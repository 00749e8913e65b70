-- Entitlements: a user's limits come from their trialing, active or past_due-within-grace
-- subscriptions' plans, else the free tier's. max_projects refuses the next open project with
-- PT409 naming the plan, the limit and the count; a closed project frees a place; a lapsed
-- subscription falls back to the free tier. my_entitlements shows it to the client.
begin;
select plan(17);

select tests.create_user('ent-free@example.com');
select tests.create_user('ent-pro@example.com');
select tests.clear_authentication();

-- The shipped free tier lists no limits (unlimited); staff set them.
update public.plans set limits = '{"max_projects": 3}' where is_free;
insert into public.plans (slug, name, features, limits) values
  ('ent-pro', 'Pro', '["Ten projects"]', '{"max_projects": 10}'),
  ('ent-unlimited', 'Unlimited', '[]', '{}');
insert into public.plan_prices (plan_id, billing_period, currency, amount)
select id, 'month', 'KRW', 9900 from public.plans where slug in ('ent-pro', 'ent-unlimited');

create function pg_temp.subscribe(email text, slug text, status text, period_end timestamptz) returns void
language sql as $$
  delete from public.subscriptions where user_id = tests.get_user_id(email);
  insert into public.subscriptions (user_id, plan_id, plan_price_id, plan_family, status, current_period_start, current_period_end,
                                    stripe_subscription_id, stripe_customer_id, stripe_updated_at, stripe_event_id, snapshot)
  select tests.get_user_id(email), p.id, pp.id, 'platform', status, period_end - interval '30 days', period_end,
         'sub_' || md5(email || slug || status), 'cus_x', now(), 'evt_x', '{}'
    from public.plans p join public.plan_prices pp on pp.plan_id = p.id where p.slug = subscribe.slug;
$$;

-- The free tier: 3 open projects.
select is(private.user_limit(tests.get_user_id('ent-free@example.com'), 'max_projects'), 3, 'without a subscription the free tier applies');
select tests.act_as('ent-free@example.com');
select lives_ok($$ insert into public.projects (title, budget_amount, currency) values ('Free one', 1000, 'KRW'), ('Free two', 1000, 'KRW'), ('Free three', 1000, 'KRW') $$,
  'a free user opens 3 projects');
select throws_ok($$ insert into public.projects (title, budget_amount, currency) values ('Free four', 1000, 'KRW') $$, 'PT409',
  'plan free allows 3 open projects (max_projects) and you have 3: close one or upgrade', 'the fourth is refused, naming the plan and the limit');
select lives_ok($$ select public.close_project(tests.project_of('Free one')) $$, 'closing one');
select lives_ok($$ insert into public.projects (title, budget_amount, currency) values ('Free four', 1000, 'KRW') $$, 'frees a place');
select is((public.my_entitlements() -> 'limits' ->> 'max_projects')::integer, 3, 'my_entitlements shows the limit');
select is(public.my_entitlements() -> 'usage' -> 'max_projects', '3'::jsonb, 'and the usage');
select is(public.my_entitlements() -> 'plans' -> 0 ->> 'slug', 'free', 'and the free tier as the plan');
select throws_ok($$ select private.user_limit(auth.uid(), 'max_seats') $$, '22023', 'unknown limit max_seats', 'an unknown limit is refused');

-- Pro: 10; past_due within the grace period still counts; beyond it, or canceled, the free tier.
select tests.clear_authentication();
select pg_temp.subscribe('ent-pro@example.com', 'ent-pro', 'active', now() + interval '20 days');
select is(private.user_limit(tests.get_user_id('ent-pro@example.com'), 'max_projects'), 10, 'an active subscription gives its plan''s limit');
select tests.act_as('ent-pro@example.com');
select lives_ok($$ insert into public.projects (title, budget_amount, currency)
                   select 'Pro ' || n, 1000, 'KRW' from generate_series(1, 10) n $$, 'a pro user opens 10 projects');
select throws_ok($$ insert into public.projects (title, budget_amount, currency) values ('Pro 11', 1000, 'KRW') $$, 'PT409',
  'plan ent-pro allows 10 open projects (max_projects) and you have 10: close one or upgrade', 'the eleventh is refused');
select is(public.my_entitlements() -> 'features', '["Ten projects"]'::jsonb, 'my_entitlements lists the plan''s features');
select tests.clear_authentication();
select pg_temp.subscribe('ent-pro@example.com', 'ent-pro', 'past_due', now() - interval '2 days');
select is(private.user_limit(tests.get_user_id('ent-pro@example.com'), 'max_projects'), 10, 'past_due within the grace period keeps the plan');
select pg_temp.subscribe('ent-pro@example.com', 'ent-pro', 'past_due', now() - interval '8 days');
select is(private.user_limit(tests.get_user_id('ent-pro@example.com'), 'max_projects'), 3, 'beyond it the free tier applies');
select pg_temp.subscribe('ent-pro@example.com', 'ent-unlimited', 'trialing', now() + interval '5 days');
select is(private.user_limit(tests.get_user_id('ent-pro@example.com'), 'max_projects'), null, 'a plan that does not list a limit is unlimited');

select tests.act_as('anon');
select throws_ok($$ select public.my_entitlements() $$, '42501', 'permission denied for function my_entitlements', 'anon has no entitlements');

select * from finish();
rollback;
