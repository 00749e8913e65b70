-- Monthly statements (004 monthly statements; issue 18): per user and calendar month (UTC),
-- per currency, the opening balance, charges, payments, refunds and the closing balance, with
-- the month's entries. The owner reads theirs, billing.manage anyone's; the billing-
-- statement-pdf function renders the same data as a PDF in the private invoices bucket.
--
-- The balance is what the user owes the platform (negative: the platform owes the user), from
-- the sources my_payment_history reads plus the Stripe subscription invoices
-- (private.statement_entries); each entry has a charge, a payment and a refund column, and
-- closing = opening + charges - payments + refunds:
--   - our invoices (not drafts): charge +total when issued; payment +total when paid; a
--     canceled invoice's charge is taken back (charge -total when canceled);
--   - credit notes: charge -total when issued (the customer is credited);
--   - Stripe subscription invoices (stripe_invoices) finalized (open, paid, uncollectible):
--     charge +total when finalized (status_transitions.finalized_at, else created); payment
--     +amount_paid when paid; void ones are left out;
--   - escrow payments where the user is the buyer (public.payments), once paid: charge and
--     payment of the amount when paid (a purchase paid at once nets to zero); each succeeded
--     refund (payment_refunds): refund +amount and charge -amount (the purchase taken back),
--     which also nets to zero;
--   - refunds of Stripe subscription invoices: each refund's ledger posting (key
--     subscription_refund:<in_…>:<re_…>) at its posted_at: refund +amount and charge -amount,
--     so a refund in a later month lands in that month's statement, partial ones too;
--   - shop checkouts where the user is the buyer (shop_payments), once captured: charge and
--     payment of amount_captured at paid_at; each succeeded shop refund (shop_refunds, full or
--     partial) at resolved_at, each refund of its charge made in Stripe (shop_external_refunds)
--     when recorded, and a late payment's full refund at its ledger posting
--     (shop_late_refund:<checkout>): refund +amount and charge -amount;
-- so a month's closing is the next month's opening, and amounts of different currencies are
-- never added.

-- Every entry of a user's account, oldest first (see the header for the rule).
create function private.statement_entries(user_id uuid)
returns table (
  occurred_at timestamptz, kind text, reference text, description text, currency text,
  charge bigint, payment bigint, refund bigint
)
language sql
stable
security definer
set search_path = ''
as $$
  select e.* from (
    select i.issued_at, i.kind, i.number,
           case when i.kind = 'credit_note' then 'Credit note ' || i.number else 'Invoice ' || i.number end,
           i.currency, case when i.kind = 'credit_note' then -i.total_amount else i.total_amount end, 0::bigint, 0::bigint
      from public.invoices i
     where i.customer_id = statement_entries.user_id and i.status <> 'draft'
    union all
    select i.paid_at, 'invoice_payment', i.number, 'Payment of invoice ' || i.number, i.currency, 0, i.total_amount, 0
      from public.invoices i
     where i.customer_id = statement_entries.user_id and i.status = 'paid'
    union all
    select i.canceled_at, 'invoice_canceled', i.number, 'Invoice ' || i.number || ' canceled', i.currency, -i.total_amount, 0, 0
      from public.invoices i
     where i.customer_id = statement_entries.user_id and i.status = 'canceled'
    union all
    select coalesce(private.stripe_time(si.snapshot -> 'status_transitions' -> 'finalized_at'), si.stripe_created_at, si.created_at),
           'subscription_invoice', coalesce(si.number, si.stripe_invoice_id),
           'Subscription invoice ' || coalesce(si.number, si.stripe_invoice_id), si.currency, si.total, 0, 0
      from public.stripe_invoices si
     where si.user_id = statement_entries.user_id and si.status in ('open', 'paid', 'uncollectible')
    union all
    select coalesce(si.paid_at, si.updated_at), 'subscription_payment', coalesce(si.number, si.stripe_invoice_id),
           'Payment of subscription invoice ' || coalesce(si.number, si.stripe_invoice_id), si.currency, 0, si.amount_paid, 0
      from public.stripe_invoices si
     where si.user_id = statement_entries.user_id and si.status = 'paid' and si.amount_paid > 0
    union all
    select p.paid_at, 'escrow_payment', p.order_id::text, 'Order payment', p.currency, p.amount, p.amount, 0
      from public.payments p
     where p.buyer_id = statement_entries.user_id and p.paid_at is not null
    union all
    select r.updated_at, 'escrow_refund', r.order_id::text, 'Order refund', p.currency, -r.amount, 0, r.amount
      from public.payment_refunds r
      join public.payments p on p.order_id = r.order_id
     where p.buyer_id = statement_entries.user_id and r.status = 'succeeded'
    union all
    -- Refunds of subscription invoices, each at the time its ledger posting was made (keys
    -- subscription_refund:<in_…>:<re_…>, written by ops.record_subscription_refund): the ledger
    -- is the one home of when and how much, read through private.subscription_invoice_refunds
    -- (70_stripe_billing.sql; an index lookup per invoice); stripe_invoices.amount_refunded is
    -- only the sum, so it serves as the filter that keeps invoices never refunded out of it.
    select r.posted_at, 'subscription_refund', coalesce(si.number, si.stripe_invoice_id),
           'Refund of subscription invoice ' || coalesce(si.number, si.stripe_invoice_id), si.currency, -r.amount, 0, r.amount
      from public.stripe_invoices si
     cross join lateral private.subscription_invoice_refunds(si.stripe_invoice_id, si.currency) r
     where si.user_id = statement_entries.user_id and si.amount_refunded > 0
    union all
    -- Shop orders: the payment of each of the buyer's checkouts (one for all its shop orders),
    -- charged and paid at once when captured.
    select sp.paid_at, 'shop_payment', sp.checkout_id::text, 'Shop order payment', sp.currency,
           sp.amount_captured, sp.amount_captured, 0
      from public.shop_payments sp
      join public.checkouts c on c.id = sp.checkout_id
     where c.buyer_id = statement_entries.user_id and sp.paid_at is not null and sp.amount_captured > 0
    union all
    -- Each succeeded refund of one of the checkout's shop orders (full or partial), when it succeeded.
    select r.resolved_at, 'shop_refund', r.checkout_id::text, 'Shop order refund', r.currency, -r.amount, 0, r.amount
      from public.shop_refunds r
      join public.checkouts c on c.id = r.checkout_id
     where c.buyer_id = statement_entries.user_id and r.status = 'succeeded'
    union all
    -- A checkout's charge refunded in Stripe's Dashboard (shop_external_refunds, written once
    -- succeeded and posted as shop_external_refund:<re_…>), when it was recorded.
    select x.created_at, 'shop_refund', x.checkout_id::text, 'Shop order refunded in Stripe', x.currency, -x.amount, 0, x.amount
      from public.shop_external_refunds x
      join public.checkouts c on c.id = x.checkout_id
     where c.buyer_id = statement_entries.user_id
    union all
    -- A payment that arrived after its checkout expired, refunded in full: when its ledger
    -- posting (shop_late_refund:<checkout>, ops.record_shop_late_refund) was made.
    select t.posted_at, 'shop_refund', sp.checkout_id::text, 'Late shop payment refunded', sp.currency,
           -sp.amount_captured, 0, sp.amount_captured
      from public.shop_payments sp
      join public.checkouts c on c.id = sp.checkout_id
      join public.ledger_transactions t on t.idempotency_key = 'shop_late_refund:' || sp.checkout_id
     where c.buyer_id = statement_entries.user_id and sp.stripe_late_refund_id is not null
  ) e (occurred_at, kind, reference, description, currency, charge, payment, refund)
  where e.occurred_at is not null
  order by e.occurred_at, e.kind, e.reference
$$;
comment on function private.statement_entries(uuid) is
  'A user''s account entries (invoices, credit notes, Stripe subscription invoices and their refunds, escrow payments and refunds, shop payments and refunds) with charge, payment and refund amounts, oldest first: the rule of monthly statements.';
revoke execute on function private.statement_entries(uuid) from public;
grant execute on function private.statement_entries(uuid) to service_role;

-- Body of public.monthly_statement.
create function private.monthly_statement(month date, user_id uuid default null) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
  target uuid := coalesce(monthly_statement.user_id, auth.uid());
  starts_at timestamptz;
  ends_at timestamptz;
  name text;
begin
  if uid is null and not private.is_service_role() then
    raise exception 'sign in to read a statement' using errcode = '42501';
  end if;
  if target is null then
    raise exception 'name the user whose statement to read' using errcode = '22023';
  end if;
  if target is distinct from uid and not (private.is_service_role() or private.has_permission('billing.manage')) then
    raise exception 'reading another user''s statement needs the billing.manage permission' using errcode = '42501';
  end if;
  if month is null then
    raise exception 'a statement is for a month (any day of it, e.g. 2026-11-01)' using errcode = '22023';
  end if;
  starts_at := date_trunc('month', month)::date::timestamptz;
  ends_at := (date_trunc('month', month) + interval '1 month')::date::timestamptz;
  if starts_at > now() then
    raise exception 'the month % has not started', to_char(starts_at at time zone 'UTC', 'YYYY-MM') using errcode = '22023';
  end if;
  select coalesce(nullif(trim(pp.first_name || ' ' || pp.last_name), ''), nullif(p.display_name, ''), p.username)
    into name
    from public.profiles p left join public.private_profiles pp on pp.id = p.id where p.id = target;
  if not found and not exists (select from public.invoices i where i.customer_id = target) then
    raise exception 'user % not found', target using errcode = 'PT404';
  end if;
  return (
    with entries as (select * from private.statement_entries(target)),
    per_currency as (
      select e.currency,
             coalesce(sum(e.charge - e.payment + e.refund) filter (where e.occurred_at < starts_at), 0) as opening,
             coalesce(sum(e.charge) filter (where e.occurred_at >= starts_at and e.occurred_at < ends_at), 0) as charges,
             coalesce(sum(e.payment) filter (where e.occurred_at >= starts_at and e.occurred_at < ends_at), 0) as payments,
             coalesce(sum(e.refund) filter (where e.occurred_at >= starts_at and e.occurred_at < ends_at), 0) as refunds
        from entries e where e.occurred_at < ends_at
       group by e.currency
    )
    select jsonb_build_object(
      'user_id', target,
      'customer_name', coalesce(name, ''),
      'month', to_char(starts_at at time zone 'UTC', 'YYYY-MM'),
      'starts_at', starts_at,
      'ends_at', ends_at,
      'currencies', coalesce((select jsonb_agg(jsonb_build_object(
          'currency', pc.currency, 'opening_balance', pc.opening, 'charges', pc.charges, 'payments', pc.payments,
          'refunds', pc.refunds, 'closing_balance', pc.opening + pc.charges - pc.payments + pc.refunds) order by pc.currency)
        from per_currency pc), '[]'),
      'entries', coalesce((select jsonb_agg(jsonb_build_object(
          'occurred_at', e.occurred_at, 'kind', e.kind, 'reference', e.reference, 'description', e.description,
          'currency', e.currency, 'charge', e.charge, 'payment', e.payment, 'refund', e.refund)
          order by e.occurred_at, e.kind, e.reference)
        from entries e where e.occurred_at >= starts_at and e.occurred_at < ends_at), '[]'))
  );
end
$$;
comment on function private.monthly_statement(date, uuid) is 'Body of public.monthly_statement.';
revoke execute on function private.monthly_statement(date, uuid) from public;
grant execute on function private.monthly_statement(date, uuid) to authenticated, service_role;

create function public.monthly_statement(month date, user_id uuid default null) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$ select private.monthly_statement(month, user_id) $$;
comment on function public.monthly_statement(date, uuid) is
  '004 monthly statement: for the UTC calendar month containing month, per currency the opening balance, charges, payments, refunds and closing balance, and the month''s entries; the caller''s own, or (billing.manage) any user''s. The rule: docs/domains/billing.md "Monthly statements".';
revoke execute on function public.monthly_statement(date, uuid) from public;
grant execute on function public.monthly_statement(date, uuid) to authenticated, service_role;
