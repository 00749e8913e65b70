-- Deliveries and disputes (000 "Deliverables lifecycle"): the seller submits proof and
-- files, the buyer approves or asks for a revision, or opens a dispute. Files live in the
-- private `deliverables` bucket under the order's id (<order id>/<file>): the seller of an
-- order in progress uploads, the two parties and marketplace managers read, nobody edits
-- or removes (they are the evidence a dispute is decided on).

-- Folder names are text and may be anything a client sends; only a uuid can name an order.
create function private.order_folder_role(folder text) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select case when o.seller_id = (select auth.uid()) then 'seller'
              when o.buyer_id = (select auth.uid()) then 'buyer' end
    from public.orders o where o.id = private.try_uuid(folder)
$$;
comment on function private.order_folder_role(text) is
  'buyer or seller when the folder names an order the caller is party to, else null.';

create function private.can_upload_deliverable(folder text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (select 1 from public.orders o
                  where o.id = private.try_uuid(folder) and o.seller_id = (select auth.uid())
                    and o.status in ('in_progress', 'revision_requested'))
$$;
comment on function private.can_upload_deliverable(text) is
  'Whether the caller is the seller of the order the folder names, while work is due.';
grant execute on function private.order_folder_role(text), private.can_upload_deliverable(text) to authenticated;

create policy "Order parties and managers read deliverables"
  on storage.objects for select to authenticated
  using (bucket_id = 'deliverables'
         and (private.order_folder_role((storage.foldername(name))[1]) is not null
              or (select private.has_permission('marketplace.manage'))));
-- What the bucket takes (its types, SVG included as the bucket is private, within 50 MiB)
-- holds for copies too: private.object_content_allowed, 00_platform/80_storage_content.sql.
create policy "Sellers upload deliverables while work is due"
  on storage.objects for insert to authenticated
  with check (bucket_id = 'deliverables' and private.can_upload_deliverable((storage.foldername(name))[1])
              and private.object_content_allowed(bucket_id, name, metadata));

-- ---------------------------------------------------------------------------------------

create table public.deliveries (
  id uuid primary key default gen_random_uuid(),
  order_id uuid not null references public.orders (id) on delete cascade,
  seller_id uuid references public.profiles (id) on delete set null,
  message text not null constraint deliveries_message_length check (char_length(trim(message)) between 1 and 5000),
  file_paths text[] not null default '{}'
    constraint deliveries_file_paths_in_order_folder check (cardinality(file_paths) <= 20 and private.paths_in_folder(file_paths, order_id)),
  status text not null default 'submitted' constraint deliveries_status check (status in ('submitted', 'approved', 'revision_requested')),
  response_note text constraint deliveries_response_note_length check (char_length(response_note) <= 5000),
  responded_at timestamptz,
  created_at timestamptz not null default now()
);
comment on table public.deliveries is
  'Work the seller submits (000 POST /orders/:id/deliveries): a message and files in the deliverables bucket. Written by functions only.';
create index deliveries_order_idx on public.deliveries (order_id, created_at desc);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index deliveries_seller_idx on public.deliveries (seller_id) where seller_id is not null;

alter table public.deliveries enable row level security;
grant select on public.deliveries to authenticated;
grant all on public.deliveries to service_role;
create policy "Readers of an order read its deliveries" on public.deliveries for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));

create table public.disputes (
  id uuid primary key default gen_random_uuid(),
  order_id uuid not null references public.orders (id) on delete cascade,
  opened_by uuid references public.profiles (id) on delete set null,
  reason text not null constraint disputes_reason_length check (char_length(trim(reason)) between 10 and 5000),
  status text not null default 'open' constraint disputes_status check (status in ('open', 'resolved')),
  resolution text constraint disputes_resolution check (resolution in ('refund', 'release')),
  resolution_note text,
  resolved_by uuid references public.profiles (id) on delete set null,
  resolved_at timestamptz,
  created_at timestamptz not null default now(),
  constraint disputes_resolution_consistent check ((status = 'resolved') = (resolution is not null and resolved_at is not null))
);
comment on table public.disputes is
  'Disputes the buyer opens (000 POST /orders/:id/dispute); an admin resolves them with a refund or a release (payments feature).';
create unique index disputes_one_open_per_order on public.disputes (order_id) where status = 'open';
create index disputes_status_idx on public.disputes (status, created_at);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index disputes_opened_by_idx on public.disputes (opened_by) where opened_by is not null;
create index disputes_resolved_by_idx on public.disputes (resolved_by) where resolved_by is not null;

alter table public.disputes enable row level security;
grant select on public.disputes to authenticated;
grant all on public.disputes to service_role;
create policy "Readers of an order read its disputes" on public.disputes for select to authenticated
  using (exists (select 1 from public.orders o where o.id = order_id));

-- ---------------------------------------------------------------------------------------

create function private.submit_delivery(order_id uuid, message text, file_paths text[] default '{}')
returns public.deliveries
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
  delivery public.deliveries;
  missing text;
begin
  -- State first, then party, as private.transition_order does: a wrong state is PT409 for all.
  if o.status not in ('in_progress', 'revision_requested') then
    raise exception 'order % is %: no delivery is due', o.id, o.status using errcode = 'PT409';
  end if;
  if not ('seller' = any(private.order_roles(o))) then
    raise exception 'only the seller submits deliveries' using errcode = '42501';
  end if;
  if not private.paths_in_folder(coalesce(file_paths, '{}'), o.id) then
    raise exception 'delivery files must be in the order''s folder %/ of the deliverables bucket', o.id using errcode = '22023';
  end if;
  select p into missing from unnest(file_paths) p
   where not exists (select 1 from storage.objects so where so.bucket_id = 'deliverables' and so.name = p) limit 1;
  if missing is not null then
    raise exception 'file % has not been uploaded to the deliverables bucket', missing using errcode = '22023';
  end if;

  insert into public.deliveries (order_id, seller_id, message, file_paths)
  values (o.id, auth.uid(), message, coalesce(file_paths, '{}')) returning * into delivery;
  insert into public.order_events (order_id, event_type, actor_id, note) values (o.id, 'delivery_submitted', auth.uid(), message);
  perform private.transition_order(o.id, 'delivered', array['seller'], auth.uid());
  return delivery;
end
$$;
comment on function private.submit_delivery(uuid, text, text[]) is
  'The body of the client RPC public.submit_delivery: security definer, in private so the API does not expose it.';
grant execute on function private.submit_delivery(uuid, text, text[]) to authenticated;

create function public.submit_delivery(order_id uuid, message text, file_paths text[] default '{}')
returns public.deliveries
language sql
security invoker
set search_path = ''
as $$
  select private.submit_delivery(order_id, message, file_paths)
$$;
comment on function public.submit_delivery(uuid, text, text[]) is
  'The seller delivers: proof message and uploaded files; the order becomes delivered.';

create function private.approve_delivery(order_id uuid) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
begin
  o := private.transition_order(o.id, 'completed', private.order_roles(o), auth.uid(), 'delivery approved');
  update public.deliveries set status = 'approved', responded_at = now()
   where deliveries.order_id = o.id and deliveries.status = 'submitted';
  return o;
end
$$;
comment on function private.approve_delivery(uuid) is
  'The body of the client RPC public.approve_delivery: security definer, in private so the API does not expose it.';
grant execute on function private.approve_delivery(uuid) to authenticated;

create function public.approve_delivery(order_id uuid) returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.approve_delivery(order_id)
$$;
comment on function public.approve_delivery(uuid) is
  'The buyer accepts the latest delivery (000 POST /orders/:id/approve-delivery); the order completes and escrow may be released.';

create function private.request_revision(order_id uuid, note text) returns public.orders
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
begin
  if coalesce(trim(note), '') = '' then
    raise exception 'a revision request needs a note saying what to change' using errcode = '22023';
  end if;
  if o.status = 'delivered' and o.revisions_allowed is not null and o.revisions_used >= o.revisions_allowed
     and 'buyer' = any(private.order_roles(o)) then
    raise exception 'order % has used all % revisions it includes', o.id, o.revisions_allowed using errcode = 'PT409';
  end if;
  o := private.transition_order(o.id, 'revision_requested', private.order_roles(o), auth.uid(), note);
  update public.orders set revisions_used = revisions_used + 1 where id = o.id returning * into o;
  update public.deliveries set status = 'revision_requested', response_note = note, responded_at = now()
   where deliveries.order_id = o.id and deliveries.status = 'submitted';
  insert into public.order_events (order_id, event_type, actor_id, note) values (o.id, 'revision_requested', auth.uid(), note);
  return o;
end
$$;
comment on function private.request_revision(uuid, text) is
  'The body of the client RPC public.request_revision: security definer, in private so the API does not expose it.';
grant execute on function private.request_revision(uuid, text) to authenticated;

create function public.request_revision(order_id uuid, note text) returns public.orders
language sql
security invoker
set search_path = ''
as $$
  select private.request_revision(order_id, note)
$$;
comment on function public.request_revision(uuid, text) is
  'The buyer asks for changes to a delivery, within the revisions the order includes.';

create function private.open_dispute(order_id uuid, reason text) returns public.disputes
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders := private.lock_order(order_id);
  dispute public.disputes;
begin
  if char_length(trim(coalesce(reason, ''))) < 10 then
    raise exception 'a dispute needs a reason of at least 10 characters' using errcode = '22023';
  end if;
  o := private.transition_order(o.id, 'disputed', private.order_roles(o), auth.uid(), reason);
  insert into public.disputes (order_id, opened_by, reason) values (o.id, auth.uid(), reason) returning * into dispute;
  insert into public.order_events (order_id, event_type, actor_id, note) values (o.id, 'dispute_opened', auth.uid(), reason);
  return dispute;
end
$$;
comment on function private.open_dispute(uuid, text) is
  'The body of the client RPC public.open_dispute: security definer, in private so the API does not expose it.';
grant execute on function private.open_dispute(uuid, text) to authenticated;

create function public.open_dispute(order_id uuid, reason text) returns public.disputes
language sql
security invoker
set search_path = ''
as $$
  select private.open_dispute(order_id, reason)
$$;
comment on function public.open_dispute(uuid, text) is
  'The buyer disputes an order in progress or delivered (000 POST /orders/:id/dispute); release is frozen until an admin resolves it.';

grant execute on function public.submit_delivery(uuid, text, text[]), public.approve_delivery(uuid),
  public.request_revision(uuid, text), public.open_dispute(uuid, text) to authenticated;
