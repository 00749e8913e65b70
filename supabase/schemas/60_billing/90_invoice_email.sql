-- Sending an issued invoice by e-mail (003 "send invoice by e-mail", 004 invoices "send";
-- issue 18). The billing-send-invoice function calls ops.billing_send_invoice for staff
-- (billing.manage) or the invoice's seller, which records the send (invoice_sends: to,
-- by, when; audited) and emits invoice.sent to the customer in the same transaction; the
-- notifications consumer turns the event into the in-app notification and the e-mail (the
-- catalogue's rule: category payments, template invoice.sent), and the e-mail sender attaches
-- the invoice's PDF named in the event's payload (attachments), which the function renders
-- into the invoices bucket right after. One send per request id: the same request again
-- answers the first send and emits nothing. A draft is refused (PT409), so is a canceled one.

create table public.invoice_sends (
  id uuid primary key default gen_random_uuid(),
  invoice_id uuid not null references public.invoices (id) on delete restrict,
  -- The caller's idempotency key: one send per request.
  request_id uuid not null constraint invoice_sends_request_unique unique,
  -- The customer's address when sent; nulled when that account is erased (private.personal_data).
  to_address text,
  -- The staff member or seller who sent it (kept without them when their account goes).
  sent_by uuid references auth.users (id) on delete set null,
  sent_at timestamptz not null default now(),
  -- The outbox event (private.domain_events) the mail comes from; e-mail deliveries name it.
  event_id bigint
);
create index invoice_sends_invoice_idx on public.invoice_sends (invoice_id, sent_at desc);
create index invoice_sends_sent_by_idx on public.invoice_sends (sent_by) where sent_by is not null;
comment on table public.invoice_sends is
  'Each time an issued invoice was sent to its customer by e-mail: to which address, by whom, when, and the outbox event the mail comes from (email_deliveries.event_id). Written by ops.billing_send_invoice only; read by whoever reads the invoice.';
comment on column public.invoice_sends.sent_at is 'When the send was made (the mail is queued then; its delivery is the email_deliveries row of event_id).';

create trigger invoice_sends_audit after insert on public.invoice_sends
  for each row execute function private.audit_row_change('id', 'id', 'invoice_id', 'request_id', 'sent_by', 'event_id');

alter table public.invoice_sends enable row level security;
grant select on public.invoice_sends to authenticated;
grant all on public.invoice_sends to service_role;
create policy "Invoice readers read its sends" on public.invoice_sends for select to authenticated
  using ((select private.can_read_invoice(invoice_id)));

-- The PDF an invoice's mail attaches: where billing-invoice-pdf and billing-send-invoice store it.
create function private.invoice_pdf_path(invoice public.invoices) returns text
language sql
immutable
set search_path = ''
as $$ select invoice.customer_id || '/' || invoice.id || '.pdf' $$;
comment on function private.invoice_pdf_path(public.invoices) is
  'The path of an invoice''s PDF in the invoices bucket: <customer id>/<invoice id>.pdf.';

-- Minor units as a decimal amount with thousands separators, as the PDFs print it (12345, 2 -> 123.45).
create function private.format_minor_units(amount bigint, currency text) returns text
language sql
stable
set search_path = ''
as $$
  select case when c.minor_units = 0 then to_char(amount, 'FM999,999,999,999,999,990')
              else to_char(amount::numeric / 10 ^ c.minor_units,
                           'FM999,999,999,999,999,990.' || repeat('0', c.minor_units)) end
    from public.currencies c where c.code = currency
$$;
comment on function private.format_minor_units(bigint, text) is 'An amount in minor units as text with thousands separators and the currency''s decimals (385000 USD -> 3,850.00).';

create function ops.billing_send_invoice(acting_user uuid, invoice_id uuid, request_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
  sent public.invoice_sends;
  address text;
  event bigint;
begin
  if acting_user is null or request_id is null then
    raise exception 'a send names who sends it and a request id' using errcode = '22023';
  end if;
  -- The same request again: the first send, whatever happened since.
  select * into sent from public.invoice_sends s where s.request_id = billing_send_invoice.request_id;
  if found then
    if sent.invoice_id <> billing_send_invoice.invoice_id then
      raise exception 'request % already sent invoice %', request_id, sent.invoice_id using errcode = '23505';
    end if;
    return to_jsonb(sent) || jsonb_build_object('repeated', true);
  end if;
  select * into invoice from public.invoices i where i.id = billing_send_invoice.invoice_id for update;
  if not found or not (private.user_has_permission(acting_user, 'billing.manage')
                       or coalesce(invoice.seller_id = acting_user, false)) then
    raise exception 'invoice % not found', invoice_id using errcode = 'PT404';
  end if;
  if not private.user_has_permission(acting_user, 'billing.manage') and not private.user_has_permission(acting_user, 'shop.sell') then
    raise exception 'sending this invoice needs billing.manage, or to be its seller' using errcode = '42501';
  end if;
  if invoice.status = 'draft' then
    raise exception 'invoice % is a draft: issue it before sending it', invoice.id using errcode = 'PT409';
  end if;
  if invoice.status = 'canceled' then
    raise exception 'invoice % is canceled: only issued or paid invoices are sent', invoice.number using errcode = 'PT409';
  end if;
  select u.email into address from auth.users u where u.id = invoice.customer_id and u.deleted_at is null;
  if address is null then
    raise exception 'the customer of invoice % has no e-mail address (account gone or without one)', invoice.number
      using errcode = 'PT409';
  end if;
  perform private.emit_event('invoice.sent', 'invoice', invoice.id, array[invoice.customer_id],
    jsonb_build_object(
      'invoice_id', invoice.id, 'number', invoice.number, 'kind', invoice.kind, 'currency', invoice.currency,
      'total', invoice.total_amount, 'amount', private.format_minor_units(invoice.total_amount, invoice.currency),
      'due_date', to_char(invoice.due_at at time zone 'UTC', 'YYYY-MM-DD'),
      'attachments', jsonb_build_array(jsonb_build_object(
        'bucket', 'invoices', 'path', private.invoice_pdf_path(invoice),
        'filename', case when invoice.kind = 'credit_note' then 'credit-note-' else 'invoice-' end || invoice.number || '.pdf',
        'content_type', 'application/pdf'))),
    acting_user);
  select max(e.id) into event from private.domain_events e
   where e.event_type = 'invoice.sent' and e.subject_id = invoice.id;
  insert into public.invoice_sends (invoice_id, request_id, to_address, sent_by, event_id)
  values (invoice.id, billing_send_invoice.request_id, address, acting_user, event)
  returning * into sent;
  return to_jsonb(sent) || jsonb_build_object('repeated', false, 'number', invoice.number);
exception when unique_violation then
  -- A concurrent send of the same request committed first: answer it.
  select * into sent from public.invoice_sends s where s.request_id = billing_send_invoice.request_id;
  if sent.id is null then
    raise exception 'invoice % was being sent by a concurrent request: try again', invoice_id using errcode = 'PT409';
  end if;
  if sent.invoice_id <> billing_send_invoice.invoice_id then
    raise exception 'request % already sent invoice %', request_id, sent.invoice_id using errcode = '23505';
  end if;
  return to_jsonb(sent) || jsonb_build_object('repeated', true);
end
$$;
comment on function ops.billing_send_invoice(uuid, uuid, uuid) is
  'billing-send-invoice: records a send of an issued or paid invoice to its customer''s address (invoice_sends, audited) and emits invoice.sent with the PDF to attach; once per request_id (the same request answers the first send, repeated: true). PT404 an invoice the acting user may not send (billing.manage, or its seller), PT409 a draft, a canceled invoice or a customer without an address. Service role only.';
revoke execute on function ops.billing_send_invoice(uuid, uuid, uuid) from public;
grant execute on function ops.billing_send_invoice(uuid, uuid, uuid) to service_role;
