-- Invoices of our own (004 invoices; 003 staff invoices), beside Stripe's subscription invoices
-- (mirrored next session through stripe_invoice_id). Staff holding billing.manage write
-- platform invoices; a seller (shop.sell) writes invoices in their own series (seller_id =
-- themselves). The customer reads their issued invoices, the seller theirs, managers all.
--
-- Lifecycle: draft -> issued -> paid | canceled. Only drafts are edited or deleted; an issued
-- invoice is corrected by a credit note (kind credit_note, credits_invoice_id), itself a
-- draft until issued. Overdue is not stored: an issued invoice past its due_at
-- (public.invoice_is_overdue, a computed field).
--
-- Numbers are assigned at issue, never to drafts (anchors §3.3, trap 13): YYYYMMDD-XXXX,
-- XXXX the 1-based position in the series, from one counter row per series
-- (private.invoice_number_counters) incremented in the issuing transaction: a rollback takes
-- the number back, concurrent issues queue on the row, so the numbers of a series are
-- consecutive without gaps. A series is the issue day (UTC) for platform invoices, and the day
-- and the seller for a seller's invoices (VAT Directive art. 226(2): one or more series).
-- Credit notes are numbered in the same series as invoices.
--
-- Rounding (all amounts are whole minor units of the invoice's currency, so 1 for KRW and JPY
-- is a won or yen, for USD a cent): a line is quantity x unit amount rounded half away from
-- zero to a whole minor unit; the tax is computed once on the subtotal (the sum of lines),
-- subtotal x tax_rate_bps / 10000, rounded the same way; total = subtotal + tax.

create table private.invoice_number_counters (
  series text primary key,
  last_number integer not null constraint invoice_number_counters_positive check (last_number between 1 and 9999)
);
comment on table private.invoice_number_counters is
  'One row per invoice series (YYYYMMDD, or YYYYMMDD:<seller id>): the last number issued in it. Incremented in the issuing transaction; never a sequence.';
grant select on private.invoice_number_counters to service_role;

create table public.invoices (
  id uuid primary key default gen_random_uuid(),
  kind text not null default 'invoice' constraint invoices_kind check (kind in ('invoice', 'credit_note')),
  credits_invoice_id uuid references public.invoices (id) on delete restrict,
  -- Kept with the books when an account goes: no foreign key to the user (as payments).
  customer_id uuid not null,
  customer_name text not null constraint invoices_customer_name_length check (char_length(trim(customer_name)) between 1 and 200),
  seller_id uuid,
  currency text not null references public.currencies (code),
  tax_rate_bps integer not null default 0 constraint invoices_tax_rate_range check (tax_rate_bps between 0 and 10000),
  due_days integer not null default 30 constraint invoices_due_days_range check (due_days between 0 and 365),
  notes text not null default '' constraint invoices_notes_length check (char_length(notes) <= 2000),
  status text not null default 'draft' constraint invoices_status check (status in ('draft', 'issued', 'paid', 'canceled')),
  number text,
  subtotal_amount bigint not null default 0 constraint invoices_subtotal_range check (subtotal_amount >= 0),
  tax_amount bigint generated always as (round(subtotal_amount::numeric * tax_rate_bps / 10000)::bigint) stored,
  total_amount bigint generated always as (subtotal_amount + round(subtotal_amount::numeric * tax_rate_bps / 10000)::bigint) stored,
  issued_at timestamptz,
  due_at timestamptz,
  paid_at timestamptz,
  canceled_at timestamptz,
  source_order_id uuid,
  stripe_invoice_id text constraint invoices_stripe_invoice_unique unique,
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint invoices_numbered_once_issued check ((number is null) = (status = 'draft')),
  constraint invoices_number_format check (number ~ '^[0-9]{8}-[0-9]{4}$'),
  constraint invoices_credit_note_references check ((kind = 'credit_note') = (credits_invoice_id is not null)),
  constraint invoices_credit_note_not_paid check (kind = 'invoice' or status in ('draft', 'issued'))
);
create unique index invoices_number_unique on public.invoices
  (coalesce(seller_id, '00000000-0000-0000-0000-000000000000'::uuid), number) where number is not null;
create index invoices_customer_idx on public.invoices (customer_id, created_at desc);
create index invoices_seller_idx on public.invoices (seller_id, created_at desc) where seller_id is not null;
create index invoices_status_due_idx on public.invoices (status, due_at);
create index invoices_credits_idx on public.invoices (credits_invoice_id) where credits_invoice_id is not null;
create index invoices_created_by_idx on public.invoices (created_by) where created_by is not null;
comment on table public.invoices is
  'Our invoices and credit notes: draft -> issued (numbered YYYYMMDD-XXXX) -> paid | canceled. Only drafts change; issued ones are corrected by credit notes.';
comment on column public.invoices.number is 'YYYYMMDD-XXXX, assigned at issue from the series'' counter row (day, and seller when seller_id is set); null for drafts.';
comment on column public.invoices.tax_rate_bps is 'Tax percent in basis points (1000 = 10%), applied once to the subtotal, rounded half away from zero.';
comment on column public.invoices.customer_id is 'The invoiced user (no foreign key: invoices stay with the books after the account goes).';
comment on column public.invoices.seller_id is 'The seller invoicing, with their own number series; null for the platform''s invoices.';

create table public.invoice_items (
  id bigint generated always as identity primary key,
  invoice_id uuid not null references public.invoices (id) on delete cascade,
  position integer not null default 0,
  description text not null constraint invoice_items_description_length check (char_length(trim(description)) between 1 and 500),
  quantity numeric(12, 3) not null constraint invoice_items_quantity_positive check (quantity > 0),
  unit_amount bigint not null,
  line_amount bigint generated always as (round(quantity * unit_amount)::bigint) stored
);
create index invoice_items_invoice_idx on public.invoice_items (invoice_id, position, id);
comment on table public.invoice_items is 'An invoice''s lines; line_amount = quantity x unit_amount rounded half away from zero to a whole minor unit.';

create function public.invoice_is_overdue(invoice public.invoices) returns boolean
language sql
stable
security invoker
set search_path = ''
as $$ select invoice.status = 'issued' and invoice.kind = 'invoice' and invoice.due_at < now() $$;
comment on function public.invoice_is_overdue(public.invoices) is
  'Computed field (select=*,invoice_is_overdue): an issued, unpaid invoice past its due date.';
revoke execute on function public.invoice_is_overdue(public.invoices) from public;
grant execute on function public.invoice_is_overdue(public.invoices) to authenticated, service_role;

-- The table's own guard, whoever writes: only drafts change; status moves forward only.
create function private.guard_invoice() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    if old.status <> 'draft' then
      raise exception 'invoice % is %: only drafts are deleted', old.number, old.status using errcode = 'PT409';
    end if;
    return old;
  end if;
  if tg_op = 'INSERT' then
    if new.status <> 'draft' then
      raise exception 'an invoice starts as a draft' using errcode = '22023';
    end if;
    return new;
  end if;
  if old.status <> 'draft' and (new.customer_id, new.customer_name, new.seller_id, new.currency, new.tax_rate_bps, new.due_days,
        new.notes, new.subtotal_amount, new.number, new.issued_at, new.due_at, new.kind, new.credits_invoice_id)
      is distinct from (old.customer_id, old.customer_name, old.seller_id, old.currency, old.tax_rate_bps, old.due_days,
        old.notes, old.subtotal_amount, old.number, old.issued_at, old.due_at, old.kind, old.credits_invoice_id) then
    raise exception 'invoice % is %: only drafts are edited; correct it with a credit note', old.number, old.status
      using errcode = 'PT409';
  end if;
  if new.status <> old.status and not (
       (old.status = 'draft' and new.status = 'issued')
       or (old.status = 'issued' and new.status in ('paid', 'canceled'))) then
    raise exception 'invoice % is %: it cannot become %', coalesce(old.number, old.id::text), old.status, new.status
      using errcode = 'PT409';
  end if;
  return new;
end
$$;

create trigger invoices_guard before insert or update or delete on public.invoices
  for each row execute function private.guard_invoice();
create trigger invoices_touch_updated_at before update on public.invoices
  for each row execute function private.touch_updated_at();
create trigger invoices_audit after insert or update or delete on public.invoices
  for each row execute function private.audit_row_change('id', 'id', 'kind', 'status', 'number', 'currency', 'total_amount', 'seller_id');

-- Lines change only on drafts, in the invoice's currency; the subtotal follows.
create function private.guard_invoice_item() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  invoice public.invoices;
  target uuid := case when tg_op = 'DELETE' then old.invoice_id else new.invoice_id end;
begin
  select * into invoice from public.invoices i where i.id = target;
  if tg_op = 'DELETE' and invoice.id is null then
    return old;  -- the invoice itself is being deleted (a draft: its guard allowed it)
  end if;
  if invoice.status <> 'draft' then
    raise exception 'invoice % is %: only a draft''s lines change', invoice.number, invoice.status using errcode = 'PT409';
  end if;
  if tg_op <> 'DELETE' then
    perform private.assert_money(new.unit_amount, invoice.currency, 'a line''s unit amount');
    return new;
  end if;
  return old;
end
$$;

create function private.sum_invoice_items() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.invoices i set subtotal_amount = coalesce((select sum(it.line_amount) from public.invoice_items it where it.invoice_id = i.id), 0)
   where i.id in (select invoice_id from changed) and i.status = 'draft';
  return null;
end
$$;

create trigger invoice_items_guard before insert or update or delete on public.invoice_items
  for each row execute function private.guard_invoice_item();
create trigger invoice_items_sum_insert after insert on public.invoice_items
  referencing new table as changed for each statement execute function private.sum_invoice_items();
create trigger invoice_items_sum_update after update on public.invoice_items
  referencing new table as changed for each statement execute function private.sum_invoice_items();
create trigger invoice_items_sum_delete after delete on public.invoice_items
  referencing old table as changed for each statement execute function private.sum_invoice_items();

alter table public.invoices enable row level security;
alter table public.invoice_items enable row level security;
grant select on public.invoices, public.invoice_items to authenticated;
grant all on public.invoices, public.invoice_items to service_role;

-- Whether the caller may read an invoice: its customer once issued, its seller, managers.
create function private.can_read_invoice(invoice_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select from public.invoices i where i.id = can_read_invoice.invoice_id
                   and ((i.customer_id = auth.uid() and i.status <> 'draft') or i.seller_id = auth.uid()))
         or private.has_permission('billing.manage')
$$;
comment on function private.can_read_invoice(uuid) is 'The customer of an issued invoice, its seller, billing.manage.';
grant execute on function private.can_read_invoice(uuid) to authenticated, service_role;

create policy "Customers read their issued invoices, sellers theirs, billing managers all" on public.invoices
  for select to authenticated
  using ((customer_id = (select auth.uid()) and status <> 'draft') or seller_id = (select auth.uid())
         or (select private.has_permission('billing.manage')));
create policy "Invoice readers read its lines" on public.invoice_items for select to authenticated
  using ((select private.can_read_invoice(invoice_id)));

-- ---------------------------------------------------------------------------------------
-- RPCs. Writers: billing.manage (any invoice), a seller (shop.sell) for their own series.

create function private.assert_invoice_writer(seller_id uuid) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if private.is_service_role() or private.has_permission('billing.manage') then
    return;
  end if;
  if seller_id is not null and seller_id = auth.uid() and private.has_permission('shop.sell') then
    return;
  end if;
  raise exception 'writing this invoice needs billing.manage, or to be its seller' using errcode = '42501';
end
$$;
comment on function private.assert_invoice_writer(uuid) is 'Raises 42501 unless the caller manages billing or is the invoice''s seller (shop.sell).';
grant execute on function private.assert_invoice_writer(uuid) to authenticated, service_role;

create function private.invoice_json(invoice_id uuid) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select to_jsonb(i) || jsonb_build_object(
           'is_overdue', public.invoice_is_overdue(i),
           'items', coalesce((select jsonb_agg(to_jsonb(it) - 'invoice_id' order by it.position, it.id)
                                from public.invoice_items it where it.invoice_id = i.id), '[]'))
    from public.invoices i where i.id = invoice_json.invoice_id
$$;
comment on function private.invoice_json(uuid) is 'An invoice with is_overdue and its lines under "items".';
grant execute on function private.invoice_json(uuid) to authenticated, service_role;

-- Replaces a draft's lines with [{description, quantity, unit_amount}].
create function private.replace_invoice_items(invoice_id uuid, items jsonb) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if items is null or jsonb_typeof(items) <> 'array' or jsonb_array_length(items) not between 1 and 200
     or exists (select from jsonb_array_elements(items) e
                 where jsonb_typeof(e) <> 'object' or jsonb_typeof(e -> 'quantity') <> 'number'
                    or jsonb_typeof(e -> 'unit_amount') <> 'number' or jsonb_typeof(e -> 'description') <> 'string') then
    raise exception 'items are 1 to 200 lines of {description, quantity, unit_amount} (unit_amount in minor units)' using errcode = '22023';
  end if;
  if exists (select from jsonb_array_elements(items) e where (e ->> 'unit_amount') !~ '^-?[0-9]{1,18}$') then
    raise exception 'a line''s unit_amount is a whole number of minor units' using errcode = '22023';
  end if;
  if exists (select from jsonb_array_elements(items) e where (e ->> 'quantity')::numeric <= 0 or (e ->> 'quantity')::numeric >= 1000000000
               or (e ->> 'quantity')::numeric <> round((e ->> 'quantity')::numeric, 3)) then
    raise exception 'a line''s quantity is positive, below 1000000000, with at most 3 decimals' using errcode = '22023';
  end if;
  delete from public.invoice_items it where it.invoice_id = replace_invoice_items.invoice_id;
  insert into public.invoice_items (invoice_id, position, description, quantity, unit_amount)
  select replace_invoice_items.invoice_id, e.ordinality::integer, e.value ->> 'description', (e.value ->> 'quantity')::numeric,
         (e.value ->> 'unit_amount')::bigint
    from jsonb_array_elements(items) with ordinality e;
end
$$;
comment on function private.replace_invoice_items(uuid, jsonb) is 'Replaces a draft''s lines (create_invoice, update_invoice, create_credit_note).';
revoke execute on function private.replace_invoice_items(uuid, jsonb) from public;
grant execute on function private.replace_invoice_items(uuid, jsonb) to authenticated, service_role;

-- Body of public.create_invoice.
create function private.create_invoice(
  customer_id uuid, currency text, items jsonb, customer_name text default null, tax_rate_bps integer default 0,
  due_days integer default 30, seller_id uuid default null, notes text default ''
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice_id uuid;
  name text;
begin
  perform private.assert_invoice_writer(seller_id);
  select coalesce(nullif(trim(create_invoice.customer_name), ''), nullif(p.display_name, ''), p.username, u.email) into name
    from public.profiles p join auth.users u on u.id = p.id where p.id = create_invoice.customer_id;
  if not found then
    raise exception 'customer % not found', customer_id using errcode = 'PT404';
  end if;
  if not exists (select from public.currencies c where c.code = create_invoice.currency) then
    raise exception 'currency % is not supported (see the currencies table)', currency using errcode = '22023';
  end if;
  if name is null then
    raise exception 'customer % has no name: give customer_name', customer_id using errcode = '22023';
  end if;
  insert into public.invoices (customer_id, customer_name, seller_id, currency, tax_rate_bps, due_days, notes)
  values (create_invoice.customer_id, name, create_invoice.seller_id, create_invoice.currency,
          coalesce(create_invoice.tax_rate_bps, 0), coalesce(create_invoice.due_days, 30), coalesce(create_invoice.notes, ''))
  returning id into invoice_id;
  perform private.replace_invoice_items(invoice_id, items);
  return private.invoice_json(invoice_id);
end
$$;
comment on function private.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) is 'Body of public.create_invoice.';
revoke execute on function private.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) from public;
grant execute on function private.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) to authenticated, service_role;

create function public.create_invoice(
  customer_id uuid, currency text, items jsonb, customer_name text default null, tax_rate_bps integer default 0,
  due_days integer default 30, seller_id uuid default null, notes text default ''
) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.create_invoice(customer_id, currency, items, customer_name, tax_rate_bps, due_days, seller_id, notes) $$;
comment on function public.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) is
  '003 POST /invoices, 004 invoices: a draft invoice for a customer (billing.manage; or a seller for seller_id = themselves) with lines [{description, quantity, unit_amount}], tax percent in basis points and due days. No number until issued.';
revoke execute on function public.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) from public;
grant execute on function public.create_invoice(uuid, text, jsonb, text, integer, integer, uuid, text) to authenticated, service_role;

-- The draft an RPC changes, locked, after the caller's right to it.
create function private.lock_draft_invoice(invoice_id uuid, doing text) returns public.invoices
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
begin
  select * into invoice from public.invoices i where i.id = lock_draft_invoice.invoice_id for update;
  if not found or not (private.is_service_role() or private.has_permission('billing.manage')
                       or invoice.seller_id = auth.uid()) then
    raise exception 'invoice % not found', invoice_id using errcode = 'PT404';
  end if;
  perform private.assert_invoice_writer(invoice.seller_id);
  if doing is not null and invoice.status <> 'draft' then
    raise exception 'invoice % is %: only drafts are %; correct it with a credit note', invoice.number, invoice.status, doing
      using errcode = 'PT409';
  end if;
  return invoice;
end
$$;
comment on function private.lock_draft_invoice(uuid, text) is
  'Locks an invoice the caller may write (PT404 otherwise); when doing is given, refuses (PT409) unless it is a draft.';
revoke execute on function private.lock_draft_invoice(uuid, text) from public;
grant execute on function private.lock_draft_invoice(uuid, text) to authenticated, service_role;

-- Body of public.update_invoice.
create function private.update_invoice(invoice_id uuid, fields jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  unknown text;
begin
  perform private.lock_draft_invoice(invoice_id, 'edited');
  if fields is null or jsonb_typeof(fields) <> 'object' then
    raise exception 'invoice fields are a JSON object' using errcode = '22023';
  end if;
  select string_agg(k, ', ' order by k) into unknown from jsonb_object_keys(fields) k
   where k not in ('customer_name', 'currency', 'tax_rate_bps', 'due_days', 'notes', 'items');
  if unknown is not null then
    raise exception 'unknown invoice fields: % (a draft has customer_name, currency, tax_rate_bps, due_days, notes, items)', unknown
      using errcode = '22023';
  end if;
  if fields ? 'currency' and not exists (select from public.currencies c where c.code = fields ->> 'currency') then
    raise exception 'currency % is not supported (see the currencies table)', fields ->> 'currency' using errcode = '22023';
  end if;
  begin
    update public.invoices i set
      customer_name = coalesce(fields ->> 'customer_name', i.customer_name),
      currency = coalesce(fields ->> 'currency', i.currency),
      tax_rate_bps = coalesce((fields ->> 'tax_rate_bps')::integer, i.tax_rate_bps),
      due_days = coalesce((fields ->> 'due_days')::integer, i.due_days),
      notes = coalesce(fields ->> 'notes', i.notes)
    where i.id = update_invoice.invoice_id;
  exception when invalid_text_representation or numeric_value_out_of_range then
    raise exception 'tax_rate_bps and due_days are whole numbers' using errcode = '22023';
  end;
  if fields ? 'items' then
    perform private.replace_invoice_items(invoice_id, fields -> 'items');
  elsif fields ? 'currency' then
    -- The lines are checked again against the new currency's limit.
    update public.invoice_items it set unit_amount = it.unit_amount where it.invoice_id = update_invoice.invoice_id;
  end if;
  return private.invoice_json(invoice_id);
end
$$;
comment on function private.update_invoice(uuid, jsonb) is 'Body of public.update_invoice.';
revoke execute on function private.update_invoice(uuid, jsonb) from public;
grant execute on function private.update_invoice(uuid, jsonb) to authenticated, service_role;

create function public.update_invoice(invoice_id uuid, fields jsonb) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.update_invoice(invoice_id, fields) $$;
comment on function public.update_invoice(uuid, jsonb) is
  '003 PUT /invoices/{id}: changes a draft (customer_name, currency, tax_rate_bps, due_days, notes; items replaces the lines). Issued invoices are refused: correct them with a credit note.';
revoke execute on function public.update_invoice(uuid, jsonb) from public;
grant execute on function public.update_invoice(uuid, jsonb) to authenticated, service_role;

-- Body of public.delete_invoice.
create function private.delete_invoice(invoice_id uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.lock_draft_invoice(invoice_id, 'deleted');
  delete from public.invoices where id = invoice_id;
end
$$;
comment on function private.delete_invoice(uuid) is 'Body of public.delete_invoice.';
revoke execute on function private.delete_invoice(uuid) from public;
grant execute on function private.delete_invoice(uuid) to authenticated, service_role;

create function public.delete_invoice(invoice_id uuid) returns void
language sql
security invoker
set search_path = ''
as $$ select private.delete_invoice(invoice_id) $$;
comment on function public.delete_invoice(uuid) is '004 DELETE /invoices/{id}: deletes a draft; issued invoices are refused (PT409).';
revoke execute on function public.delete_invoice(uuid) from public;
grant execute on function public.delete_invoice(uuid) to authenticated, service_role;

-- The next number of a series, in the caller's transaction (see the header).
create function private.next_invoice_number(issued_on date, seller_id uuid) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  series text := to_char(issued_on, 'YYYYMMDD') || coalesce(':' || seller_id::text, '');
  position integer;
begin
  insert into private.invoice_number_counters as c (series, last_number) values (series, 1)
  on conflict on constraint invoice_number_counters_pkey do update set last_number = c.last_number + 1
  returning c.last_number into position;
  return to_char(issued_on, 'YYYYMMDD') || '-' || lpad(position::text, 4, '0');
exception when check_violation then
  raise exception 'invoice series % is full: 9999 numbers a day', series using errcode = 'PT409';
end
$$;
comment on function private.next_invoice_number(date, uuid) is
  'Takes the next number of the series (the day, and the seller) from its counter row: gap-free because the row update commits or rolls back with the issue.';
revoke execute on function private.next_invoice_number(date, uuid) from public;
grant execute on function private.next_invoice_number(date, uuid) to service_role;

-- Body of public.issue_invoice.
create function private.issue_invoice(invoice_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
  credited public.invoices;
  already_credited bigint;
  issued timestamptz := now();
begin
  invoice := private.lock_draft_invoice(invoice_id, null);
  if invoice.status <> 'draft' then
    raise exception 'invoice % is already %', invoice.number, invoice.status using errcode = 'PT409';
  end if;
  if invoice.total_amount <= 0 then
    raise exception 'invoice % has no lines: nothing to issue', invoice.id using errcode = 'PT409';
  end if;
  if invoice.kind = 'credit_note' then
    select * into credited from public.invoices i where i.id = invoice.credits_invoice_id for update;
    if credited.status not in ('issued', 'paid') then
      raise exception 'invoice % is %: only issued or paid invoices are credited', coalesce(credited.number, credited.id::text), credited.status
        using errcode = 'PT409';
    end if;
    select coalesce(sum(i.total_amount), 0) into already_credited from public.invoices i
     where i.credits_invoice_id = credited.id and i.status = 'issued';
    if already_credited + invoice.total_amount > credited.total_amount then
      raise exception 'credit note of % would credit invoice % beyond its total % (% already credited)',
        invoice.total_amount, credited.number, credited.total_amount, already_credited using errcode = 'PT409';
    end if;
  end if;
  update public.invoices i
     set status = 'issued',
         number = private.next_invoice_number((issued at time zone 'UTC')::date, invoice.seller_id),
         issued_at = issued,
         due_at = issued + make_interval(days => invoice.due_days)
   where i.id = invoice.id;
  return private.invoice_json(invoice.id);
end
$$;
comment on function private.issue_invoice(uuid) is 'Body of public.issue_invoice.';
revoke execute on function private.issue_invoice(uuid) from public;
grant execute on function private.issue_invoice(uuid) to authenticated, service_role;

create function public.issue_invoice(invoice_id uuid) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.issue_invoice(invoice_id) $$;
comment on function public.issue_invoice(uuid) is
  'Issues a draft invoice or credit note: numbers it YYYYMMDD-XXXX in its series (the UTC day, and the seller), gap-free, and sets its due date. A credit note may not credit more than its invoice''s total.';
revoke execute on function public.issue_invoice(uuid) from public;
grant execute on function public.issue_invoice(uuid) to authenticated, service_role;

-- Body of public.set_invoice_status.
create function private.set_invoice_status(invoice_id uuid, status text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
begin
  invoice := private.lock_draft_invoice(invoice_id, null);
  if status is null or status not in ('paid', 'canceled') then
    raise exception 'an invoice''s status is set to paid or canceled' using errcode = '22023';
  end if;
  if invoice.kind = 'credit_note' then
    raise exception 'credit note % is neither paid nor canceled: issue another to correct it', invoice.number using errcode = 'PT409';
  end if;
  if invoice.status <> 'issued' then
    raise exception 'invoice % is %: only an issued invoice becomes %', coalesce(invoice.number, invoice.id::text), invoice.status, status
      using errcode = 'PT409';
  end if;
  update public.invoices i
     set status = set_invoice_status.status,
         paid_at = case when set_invoice_status.status = 'paid' then now() end,
         canceled_at = case when set_invoice_status.status = 'canceled' then now() end
   where i.id = invoice.id;
  return private.invoice_json(invoice.id);
end
$$;
comment on function private.set_invoice_status(uuid, text) is 'Body of public.set_invoice_status.';
revoke execute on function private.set_invoice_status(uuid, text) from public;
grant execute on function private.set_invoice_status(uuid, text) to authenticated, service_role;

create function public.set_invoice_status(invoice_id uuid, status text) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.set_invoice_status(invoice_id, status) $$;
comment on function public.set_invoice_status(uuid, text) is
  'An issued invoice becomes paid (recorded by hand; Stripe-paid ones follow the webhook next session) or canceled. Paid and canceled invoices are final.';
revoke execute on function public.set_invoice_status(uuid, text) from public;
grant execute on function public.set_invoice_status(uuid, text) to authenticated, service_role;

-- Body of public.create_credit_note.
create function private.create_credit_note(invoice_id uuid, items jsonb default null) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  invoice public.invoices;
  note_id uuid;
begin
  invoice := private.lock_draft_invoice(invoice_id, null);
  if invoice.kind <> 'invoice' or invoice.status not in ('issued', 'paid') then
    raise exception 'invoice % is % %: only issued or paid invoices are credited', coalesce(invoice.number, invoice.id::text),
      invoice.status, invoice.kind using errcode = 'PT409';
  end if;
  insert into public.invoices (kind, credits_invoice_id, customer_id, customer_name, seller_id, currency, tax_rate_bps, due_days,
                               notes)
  values ('credit_note', invoice.id, invoice.customer_id, invoice.customer_name, invoice.seller_id, invoice.currency,
          invoice.tax_rate_bps, 0, 'Credit note for invoice ' || invoice.number)
  returning id into note_id;
  perform private.replace_invoice_items(note_id, coalesce(items, (
    select jsonb_agg(jsonb_build_object('description', it.description, 'quantity', it.quantity, 'unit_amount', it.unit_amount)
                     order by it.position, it.id)
      from public.invoice_items it where it.invoice_id = invoice.id)));
  return private.invoice_json(note_id);
end
$$;
comment on function private.create_credit_note(uuid, jsonb) is 'Body of public.create_credit_note.';
revoke execute on function private.create_credit_note(uuid, jsonb) from public;
grant execute on function private.create_credit_note(uuid, jsonb) to authenticated, service_role;

create function public.create_credit_note(invoice_id uuid, items jsonb default null) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.create_credit_note(invoice_id, items) $$;
comment on function public.create_credit_note(uuid, jsonb) is
  'A draft credit note correcting an issued or paid invoice: the lines given (amounts credited, positive), or all its lines; issue it with issue_invoice.';
revoke execute on function public.create_credit_note(uuid, jsonb) from public;
grant execute on function public.create_credit_note(uuid, jsonb) to authenticated, service_role;
