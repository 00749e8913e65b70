-- The admin's subscription desk (004 admin subscriptions; issue 18): staff holding
-- billing.manage (or the service role: the admin CLI) list subscriptions with filters and read
-- their stats. Changing one (plan, pause, force cancel, refund) goes through Stripe by the
-- billing-manage-subscription function, which records each staff action in the audit log
-- through ops.record_billing_admin_action; the mirror then follows by webhook.
--
-- The stats' definitions (docs/domains/billing.md "Subscription stats", worked examples in
-- supabase/tests/database/60_billing/subscription_stats_worked_examples.test.sql):
--   - a subscription's monthly amount is its price's amount x quantity normalised to a month
--     from its Stripe price's recurring interval and interval_count (month/n, year/(12n),
--     week x 52/12/n, day x 365/12/n), less forever coupons only (Stripe's rule: once and
--     repeating coupons do not reduce MRR); exact (numeric), rounded once per currency to whole
--     minor units, half away from zero;
--   - a subscription counts in MRR at an instant t when it had started by t (Stripe's created,
--     else our row's), had not ended by t (ended_at), was not in its trial at t, never was only
--     incomplete, and, when it has not ended, its status now is active or past_due (past_due is
--     included, as Stripe does; paused, unpaid and trialing are not). The mirror keeps a
--     subscription's latest state, not its history: its plan, price and pause are taken as they
--     are now, so a plan change moves its whole MRR to the new price;
--   - MRR (per currency, never summed across currencies) at the end of the period; ARR = MRR x 12
--     (from the exact sum, rounded once);
--   - logo churn: customers (users) with at least one subscription counting at the start of the
--     period and none at its end, over the customers counting at the start (ChartMogul's
--     customer churn: who joined and left within the period is in neither);
--   - revenue churn (per currency): the start's MRR of the subscriptions counting at the start
--     and not at the end, over the MRR at the start (gross MRR churn without contraction, which
--     the mirror cannot see);
--   - plan mix: the subscriptions counting at the end per plan and currency, with their MRR and
--     their share of all counting subscriptions.

-- A subscription's monthly amount (exact, in minor units): see the header.
create function private.subscription_monthly_amount(sub public.subscriptions) returns numeric
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  price public.plan_prices;
  recurring jsonb := sub.snapshot -> 'items' -> 'data' -> 0 -> 'price' -> 'recurring';
  unit text;
  n numeric;
  factor numeric;
  monthly numeric;
  discount jsonb;
begin
  select * into price from public.plan_prices pp where pp.id = sub.plan_price_id;
  if price.id is null then
    return 0;
  end if;
  unit := coalesce(recurring ->> 'interval', price.billing_period);
  n := greatest(coalesce((recurring ->> 'interval_count')::numeric, 1), 1);
  factor := case unit when 'month' then 1 / n when 'year' then 1 / (12 * n)
                      when 'week' then 52 / (12 * n) when 'day' then 365 / (12 * n) else 0 end;
  monthly := price.amount * sub.quantity * factor;
  -- Forever coupons only: the subscription's discounts (expanded objects) and the older
  -- single discount field.
  for discount in
    select d from jsonb_array_elements(case when jsonb_typeof(sub.snapshot -> 'discounts') = 'array'
                                            then sub.snapshot -> 'discounts' else '[]' end) d
     where jsonb_typeof(d) = 'object'
    union all
    select sub.snapshot -> 'discount' where jsonb_typeof(sub.snapshot -> 'discount') = 'object'
  loop
    continue when discount -> 'coupon' ->> 'duration' is distinct from 'forever';
    if jsonb_typeof(discount -> 'coupon' -> 'percent_off') = 'number' then
      monthly := monthly * (1 - (discount -> 'coupon' ->> 'percent_off')::numeric / 100);
    elsif jsonb_typeof(discount -> 'coupon' -> 'amount_off') = 'number'
          and upper(discount -> 'coupon' ->> 'currency') = price.currency then
      monthly := monthly - (discount -> 'coupon' ->> 'amount_off')::numeric * factor;
    end if;
  end loop;
  return greatest(monthly, 0);
end
$$;
comment on function private.subscription_monthly_amount(public.subscriptions) is
  'MRR of one subscription, exact: price amount x quantity normalised to a month from its Stripe price''s interval and interval_count, less forever coupons (percent or amount off); 0 without a price.';
revoke execute on function private.subscription_monthly_amount(public.subscriptions) from public;
grant execute on function private.subscription_monthly_amount(public.subscriptions) to authenticated, service_role;

-- Whether a subscription counts in MRR at an instant: see the header.
create function private.subscription_counts_at(sub public.subscriptions, at timestamptz) returns boolean
language sql
stable
set search_path = ''
as $$
  select coalesce(sub.stripe_created_at, sub.created_at) <= at
     and (sub.ended_at is null or sub.ended_at > at)
     and not (sub.trial_end is not null and sub.trial_end > at
              and coalesce(sub.trial_start, sub.stripe_created_at, sub.created_at) <= at)
     and sub.status not in ('incomplete', 'incomplete_expired')
     and (sub.ended_at is not null or sub.status in ('active', 'past_due'))
$$;
comment on function private.subscription_counts_at(public.subscriptions, timestamptz) is
  'Whether a subscription counts in MRR at an instant: started, not ended, not in trial, ever paid, and (while not ended) active or past_due now.';
revoke execute on function private.subscription_counts_at(public.subscriptions, timestamptz) from public;
grant execute on function private.subscription_counts_at(public.subscriptions, timestamptz) to authenticated, service_role;

-- A rate as a fraction rounded to 4 decimals; null when there is nothing to divide by.
create function private.billing_rate(part numeric, whole numeric) returns numeric
language sql
immutable
set search_path = ''
as $$ select case when whole > 0 then round(part / whole, 4) end $$;
comment on function private.billing_rate(numeric, numeric) is 'part / whole rounded to 4 decimals (0.2500 = 25%); null when whole is 0.';

-- ---------------------------------------------------------------------------------------
-- Listing.

-- Body of public.admin_subscriptions.
create function private.admin_subscriptions(
  with_status text default null, plan text default null, user_query text default null,
  created_from date default null, created_to date default null, page integer default 1, page_size integer default 20
) returns table (
  id uuid, user_id uuid, email text, plan_id uuid, plan_slug text, plan_name text, status text,
  billing_period text, currency text, amount bigint, quantity integer, monthly_amount numeric,
  cancel_at_period_end boolean, current_period_end timestamptz, trial_end timestamptz, canceled_at timestamptz,
  ended_at timestamptz, cancellation_reason text, stripe_subscription_id text, created_at timestamptz,
  total_count bigint
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  plan_filter uuid;
begin
  perform private.assert_billing_manager('listing subscriptions');
  if page is null or page < 1 or page_size is null or page_size not between 1 and 100 then
    raise exception 'page is 1 or more and page_size 1 to 100' using errcode = '22023';
  end if;
  if with_status is not null and with_status not in (
       'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused') then
    raise exception 'unknown subscription status %: the statuses are incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused',
      with_status using errcode = '22023';
  end if;
  if created_from is not null and created_to is not null and created_to < created_from then
    raise exception 'created_to % is before created_from %', created_to, created_from using errcode = '22023';
  end if;
  if plan is not null then
    select p.id into plan_filter from public.plans p where p.slug = plan or p.id = private.try_uuid(plan);
    if plan_filter is null then
      raise exception 'plan % not found', plan using errcode = 'PT404';
    end if;
  end if;
  return query
  select s.id, s.user_id, u.email::text, s.plan_id, p.slug, p.name, s.status, pp.billing_period, pp.currency, pp.amount,
         s.quantity, round(private.subscription_monthly_amount(s), 2), s.cancel_at_period_end, s.current_period_end,
         s.trial_end, s.canceled_at, s.ended_at, s.cancellation_reason, s.stripe_subscription_id,
         coalesce(s.stripe_created_at, s.created_at), count(*) over ()
    from public.subscriptions s
    join public.plans p on p.id = s.plan_id
    left join public.plan_prices pp on pp.id = s.plan_price_id
    left join auth.users u on u.id = s.user_id
   where (with_status is null or s.status = with_status)
     and (plan_filter is null or s.plan_id = plan_filter)
     and (user_query is null or s.user_id = private.try_uuid(user_query)
          or u.email ilike '%' || replace(replace(replace(user_query, '\', '\\'), '%', '\%'), '_', '\_') || '%')
     and (created_from is null or coalesce(s.stripe_created_at, s.created_at) >= created_from::timestamptz)
     and (created_to is null or coalesce(s.stripe_created_at, s.created_at) < (created_to + 1)::timestamptz)
   order by coalesce(s.stripe_created_at, s.created_at) desc, s.id desc
   limit page_size offset (page - 1) * page_size;
end
$$;
comment on function private.admin_subscriptions(text, text, text, date, date, integer, integer) is 'Body of public.admin_subscriptions.';
revoke execute on function private.admin_subscriptions(text, text, text, date, date, integer, integer) from public;
grant execute on function private.admin_subscriptions(text, text, text, date, date, integer, integer) to authenticated, service_role;

create function public.admin_subscriptions(
  with_status text default null, plan text default null, user_query text default null,
  created_from date default null, created_to date default null, page integer default 1, page_size integer default 20
) returns table (
  id uuid, user_id uuid, email text, plan_id uuid, plan_slug text, plan_name text, status text,
  billing_period text, currency text, amount bigint, quantity integer, monthly_amount numeric,
  cancel_at_period_end boolean, current_period_end timestamptz, trial_end timestamptz, canceled_at timestamptz,
  ended_at timestamptz, cancellation_reason text, stripe_subscription_id text, created_at timestamptz,
  total_count bigint
)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.admin_subscriptions(with_status, plan, user_query, created_from, created_to, page, page_size) $$;
comment on function public.admin_subscriptions(text, text, text, date, date, integer, integer) is
  '004 admin subscription list (billing.manage): every subscription, newest first, filtered by status, plan (slug or id), user (id, or part of the e-mail address) and creation days (created_from, created_to inclusive, UTC); with the user''s e-mail, the plan, the price and its monthly amount; page and page_size (1-100), total_count on every row.';
revoke execute on function public.admin_subscriptions(text, text, text, date, date, integer, integer) from public;
grant execute on function public.admin_subscriptions(text, text, text, date, date, integer, integer) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- Stats (definitions in the header).

-- Body of public.subscription_stats.
create function private.subscription_stats(from_date date, to_date date) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  starts_at timestamptz;
  ends_at timestamptz;
  result jsonb;
begin
  perform private.assert_billing_manager('reading subscription stats');
  if from_date is null or to_date is null then
    raise exception 'a stats period has a from_date and a to_date' using errcode = '22023';
  end if;
  if to_date < from_date then
    raise exception 'to_date % is before from_date %', to_date, from_date using errcode = '22023';
  end if;
  if to_date - from_date > 3660 then
    raise exception 'a stats period is at most 10 years' using errcode = '22023';
  end if;
  starts_at := from_date::timestamptz;
  ends_at := (to_date + 1)::timestamptz;
  with subs as (
    select s.id, s.user_id, s.plan_id, s.status, s.ended_at, coalesce(s.stripe_created_at, s.created_at) as started,
           pp.currency, private.subscription_monthly_amount(s) as monthly,
           private.subscription_counts_at(s, starts_at) as at_start,
           private.subscription_counts_at(s, ends_at) as at_end,
           (s.trial_end is not null and s.trial_end > ends_at and coalesce(s.trial_start, s.stripe_created_at, s.created_at) <= ends_at
            and (s.ended_at is null or s.ended_at > ends_at)) as trialing_at_end
      from public.subscriptions s
      left join public.plan_prices pp on pp.id = s.plan_price_id
  ), per_currency as (
    select su.currency,
           sum(su.monthly) filter (where su.at_end) as mrr_end,
           sum(su.monthly) filter (where su.at_start) as mrr_start,
           sum(su.monthly) filter (where su.at_start and not su.at_end) as churned,
           count(*) filter (where su.at_end) as subscriptions_end
      from subs su where su.currency is not null
     group by su.currency
  ), customers as (
    select su.user_id, bool_or(su.at_start) as at_start, bool_or(su.at_end) as at_end from subs su group by su.user_id
  ), mix as (
    select su.plan_id, su.currency, count(*) as subscriptions, sum(su.monthly) as mrr
      from subs su where su.at_end group by su.plan_id, su.currency
  )
  select jsonb_build_object(
    'period', jsonb_build_object('from_date', from_date, 'to_date', to_date, 'starts_at', starts_at, 'ends_at', ends_at),
    'counts', jsonb_build_object(
      'active', (select count(*) from subs su where su.at_end),
      'trialing', (select count(*) from subs su where su.trialing_at_end),
      'new', (select count(*) from subs su where su.started >= starts_at and su.started < ends_at
                                           and su.status not in ('incomplete', 'incomplete_expired')),
      'canceled', (select count(*) from subs su where su.status = 'canceled' and su.ended_at >= starts_at and su.ended_at < ends_at),
      'by_status', coalesce((select jsonb_object_agg(x.status, x.n) from (
                     select su.status, count(*) as n from subs su group by su.status) x), '{}')),
    'currencies', coalesce((select jsonb_agg(jsonb_build_object(
        'currency', pc.currency,
        'mrr', round(coalesce(pc.mrr_end, 0))::bigint,
        'arr', round(coalesce(pc.mrr_end, 0) * 12)::bigint,
        'subscriptions', pc.subscriptions_end,
        'mrr_at_start', round(coalesce(pc.mrr_start, 0))::bigint,
        'revenue_churn', jsonb_build_object(
          'mrr_at_start', round(coalesce(pc.mrr_start, 0))::bigint,
          'churned_mrr', round(coalesce(pc.churned, 0))::bigint,
          'rate', private.billing_rate(coalesce(pc.churned, 0), coalesce(pc.mrr_start, 0))))
        order by pc.currency) from per_currency pc), '[]'),
    'logo_churn', (select jsonb_build_object(
        'customers_at_start', count(*) filter (where c.at_start),
        'churned', count(*) filter (where c.at_start and not c.at_end),
        'rate', private.billing_rate(count(*) filter (where c.at_start and not c.at_end), count(*) filter (where c.at_start)))
      from customers c),
    'plan_mix', coalesce((select jsonb_agg(jsonb_build_object(
        'plan_id', m.plan_id, 'slug', p.slug, 'name', p.name, 'currency', m.currency, 'subscriptions', m.subscriptions,
        'mrr', round(m.mrr)::bigint,
        'share', private.billing_rate(m.subscriptions, (select count(*) from subs su where su.at_end)))
        order by m.subscriptions desc, p.slug, m.currency)
      from mix m join public.plans p on p.id = m.plan_id), '[]'))
  into result;
  return result;
end
$$;
comment on function private.subscription_stats(date, date) is 'Body of public.subscription_stats.';
revoke execute on function private.subscription_stats(date, date) from public;
grant execute on function private.subscription_stats(date, date) to authenticated, service_role;

create function public.subscription_stats(from_date date, to_date date) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.subscription_stats(from_date, to_date) $$;
comment on function public.subscription_stats(date, date) is
  '004 admin subscription stats (billing.manage) for the UTC days from_date to to_date inclusive: counts (counting in MRR at the end, trialing, new, canceled, by status now), per currency MRR and ARR at the end and revenue churn, logo churn, plan mix. Definitions: docs/domains/billing.md "Subscription stats".';
revoke execute on function public.subscription_stats(date, date) from public;
grant execute on function public.subscription_stats(date, date) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------
-- The audit of staff actions made in Stripe (billing-manage-subscription): modify, force
-- cancel, refund. The change itself reaches the mirror by webhook; this records who asked.

create function ops.record_billing_admin_action(acting_user uuid, action text, subscription_id uuid, details jsonb default '{}')
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  entry_id bigint;
begin
  if acting_user is null or not private.user_has_permission(acting_user, 'billing.manage') then
    raise exception 'recording a subscription action needs the billing.manage permission' using errcode = '42501';
  end if;
  if action is null or action !~ '^[a-z_]{3,40}$' then
    raise exception 'an action is a lowercase word like force_cancel' using errcode = '22023';
  end if;
  if not exists (select from public.subscriptions s where s.id = subscription_id) then
    raise exception 'subscription % not found', subscription_id using errcode = 'PT404';
  end if;
  insert into public.audit_log (actor_id, actor_label, action, table_name, row_id, before, after)
  values (acting_user, acting_user::text, 'billing.' || action, 'subscriptions', subscription_id::text, null,
          coalesce(details, '{}'))
  returning id into entry_id;
  return entry_id;
end
$$;
comment on function ops.record_billing_admin_action(uuid, text, uuid, jsonb) is
  'Audit log entry (action billing.<action>, table subscriptions) for a staff change made in Stripe by billing-manage-subscription (change_plan, pause, resume, cancel_at_period_end, resume_renewal, force_cancel, refund); acting_user must hold billing.manage. Service role only.';
revoke execute on function ops.record_billing_admin_action(uuid, text, uuid, jsonb) from public;
grant execute on function ops.record_billing_admin_action(uuid, text, uuid, jsonb) to service_role;
