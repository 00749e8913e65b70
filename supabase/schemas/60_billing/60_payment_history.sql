-- Payment history (004 GET /api/payment/history): one list of the caller's invoices (issued,
-- paid, canceled; credit notes as negative amounts), escrow payments (public.payments, where
-- they are the buyer), shop payments (public.shop_payments of their checkouts) and Stripe
-- subscription invoices (public.stripe_invoices, finalized ones), newest first, filtered by
-- status and date, paginated.

-- Body of public.my_payment_history.
create function private.my_payment_history(
  with_status text default null, from_date date default null, to_date date default null, page integer default 1,
  page_size integer default 20
) returns table (
  kind text, id text, reference text, description text, amount bigint, currency text, status text,
  occurred_at timestamptz, total_count bigint
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
begin
  if uid is null then
    raise exception 'sign in to read your payment history' using errcode = '42501';
  end if;
  if page is null or page < 1 or page_size is null or page_size not between 1 and 100 then
    raise exception 'page is 1 or more and page_size 1 to 100' using errcode = '22023';
  end if;
  if from_date is not null and to_date is not null and to_date < from_date then
    raise exception 'to_date % is before from_date %', to_date, from_date using errcode = '22023';
  end if;
  return query
  with entries as (
    select i.kind as kind, i.id::text as id, i.number as reference,
           case when i.kind = 'credit_note' then 'Credit note ' || i.number else 'Invoice ' || i.number end as description,
           case when i.kind = 'credit_note' then -i.total_amount else i.total_amount end as amount,
           i.currency, case when public.invoice_is_overdue(i) then 'overdue' else i.status end as status,
           coalesce(i.paid_at, i.canceled_at, i.issued_at) as occurred_at
      from public.invoices i
     where i.customer_id = uid and i.status <> 'draft'
    union all
    select 'escrow_payment', p.order_id::text, p.order_id::text, 'Order payment', p.amount, p.currency, p.status,
           coalesce(p.paid_at, p.created_at)
      from public.payments p
     where p.buyer_id = uid
    union all
    -- Shop orders: the payment of each of the buyer's checkouts (one for all its shop orders).
    select 'shop_payment', sp.checkout_id::text, sp.checkout_id::text, 'Shop order payment', sp.amount, sp.currency,
           sp.status, coalesce(sp.paid_at, sp.created_at)
      from public.shop_payments sp join public.checkouts c on c.id = sp.checkout_id
     where c.buyer_id = uid
    union all
    -- Stripe's subscription invoices, once finalized (a draft is not a charge yet): their Stripe
    -- status (open, paid, void, uncollectible), or refunded / partially_refunded after a refund.
    select 'subscription_invoice', si.stripe_invoice_id, coalesce(si.number, si.stripe_invoice_id),
           'Subscription invoice ' || coalesce(si.number, si.stripe_invoice_id), si.total, si.currency,
           case when si.amount_refunded > 0 and si.amount_refunded >= si.amount_paid then 'refunded'
                when si.amount_refunded > 0 then 'partially_refunded' else si.status end,
           coalesce(si.paid_at, si.stripe_created_at, si.created_at)
      from public.stripe_invoices si
     where si.user_id = uid and si.status <> 'draft'
  )
  select e.kind, e.id, e.reference, e.description, e.amount, e.currency, e.status, e.occurred_at, count(*) over ()
    from entries e
   where (with_status is null or e.status = with_status)
     and (from_date is null or e.occurred_at >= from_date::timestamptz)
     and (to_date is null or e.occurred_at < (to_date + 1)::timestamptz)
   order by e.occurred_at desc, e.id desc
   limit page_size offset (page - 1) * page_size;
end
$$;
comment on function private.my_payment_history(text, date, date, integer, integer) is 'Body of public.my_payment_history.';
revoke execute on function private.my_payment_history(text, date, date, integer, integer) from public;
grant execute on function private.my_payment_history(text, date, date, integer, integer) to authenticated;

create function public.my_payment_history(
  with_status text default null, from_date date default null, to_date date default null, page integer default 1,
  page_size integer default 20
) returns table (
  kind text, id text, reference text, description text, amount bigint, currency text, status text,
  occurred_at timestamptz, total_count bigint
)
language sql
stable
security invoker
set search_path = ''
as $$ select * from private.my_payment_history(with_status, from_date, to_date, page, page_size) $$;
comment on function public.my_payment_history(text, date, date, integer, integer) is
  '004 GET /api/payment/history: the caller''s invoices (issued, paid, canceled, overdue; credit notes negative), escrow payments and shop payments as buyer, and Stripe subscription invoices (kind subscription_invoice: open, paid, void, uncollectible, refunded, partially_refunded), newest first; with_status (any of those statuses) and date filters (from_date, to_date inclusive, UTC days); page and page_size (1-100); total_count on every row.';
revoke execute on function public.my_payment_history(text, date, date, integer, integer) from public;
grant execute on function public.my_payment_history(text, date, date, integer, integer) to authenticated;
