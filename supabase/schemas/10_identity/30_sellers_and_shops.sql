-- Sellers (001): a user applies with their shop details; an admin (sellers.review)
-- approves or rejects. Approval opens the public shop and grants the seller role.

create table public.seller_applications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  shop_name text not null constraint seller_applications_shop_name_length check (char_length(trim(shop_name)) between 2 and 80),
  category text not null constraint seller_applications_category_present check (char_length(trim(category)) between 1 and 60),
  experience_level text not null default '' constraint seller_applications_experience_length check (char_length(experience_level) <= 120),
  monthly_revenue text not null default 'undisclosed'
    constraint seller_applications_revenue_band check (monthly_revenue in ('undisclosed', 'none', 'under_1000', '1000_5000', '5000_20000', 'over_20000')),
  platforms text[] not null default '{}' constraint seller_applications_platforms_limit check (cardinality(platforms) <= 20),
  social_links jsonb not null default '{}' constraint seller_applications_social_links_object check (jsonb_typeof(social_links) = 'object'),
  return_address jsonb not null
    constraint seller_applications_return_address check (
      jsonb_typeof(return_address) = 'object'
      and return_address ? 'full_name' and return_address ? 'address_line1'
      and return_address ? 'city' and return_address ? 'country_code'
    ),
  agreed_to_terms boolean not null constraint seller_applications_terms_accepted check (agreed_to_terms),
  status text not null default 'pending_verification'
    constraint seller_applications_status check (status in ('pending_verification', 'approved', 'rejected')),
  reviewed_by uuid references auth.users (id) on delete set null,
  reviewed_at timestamptz,
  rejection_reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint seller_applications_review_consistent check (
    (status = 'pending_verification') = (reviewed_at is null)
    and (status <> 'rejected' or rejection_reason is not null)
  )
);
comment on table public.seller_applications is
  'Applications to sell (001 POST /sellers/apply). Status moves pending_verification -> approved | rejected only through review_seller_application().';
comment on column public.seller_applications.status is 'Not client-writable: review_seller_application() is the only way to change it.';

-- One open application at a time; a rejected applicant may apply again.
create unique index seller_applications_one_pending on public.seller_applications (user_id)
  where status = 'pending_verification';
create index seller_applications_user_id_idx on public.seller_applications (user_id);
create index seller_applications_status_idx on public.seller_applications (status, created_at);
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index seller_applications_reviewed_by_idx on public.seller_applications (reviewed_by) where reviewed_by is not null;

create trigger seller_applications_anonymous_refused before insert on public.seller_applications
  for each row execute function private.refuse_anonymous('apply to open a shop');
create trigger seller_applications_touch_updated_at
  before update on public.seller_applications
  for each row execute function private.touch_updated_at();

alter table public.seller_applications enable row level security;
grant select on public.seller_applications to authenticated;
grant insert (shop_name, category, experience_level, monthly_revenue, platforms, social_links, return_address, agreed_to_terms),
      update (shop_name, category, experience_level, monthly_revenue, platforms, social_links, return_address)
  on public.seller_applications to authenticated;
grant all on public.seller_applications to service_role;

create policy "Applicants and reviewers read applications"
  on public.seller_applications for select to authenticated
  using (user_id = (select auth.uid()) or (select private.has_permission('sellers.review')));
create policy "Users apply for themselves"
  on public.seller_applications for insert to authenticated
  with check (user_id = (select auth.uid()));
create policy "Applicants edit their pending application"
  on public.seller_applications for update to authenticated
  using (user_id = (select auth.uid()) and status = 'pending_verification')
  with check (user_id = (select auth.uid()) and status = 'pending_verification');

-- ---------------------------------------------------------------------------------------
-- Shops: the public face of an approved seller (001 GET /sellers/:id).

create table public.shops (
  id uuid primary key references public.profiles (id) on delete cascade,
  shop_name text not null constraint shops_shop_name_length check (char_length(trim(shop_name)) between 2 and 80),
  description text not null default '' constraint shops_description_length check (char_length(description) <= 2000),
  category text not null,
  logo_path text constraint shops_logo_path_owned check (logo_path is null or logo_path like id::text || '/%'),
  rating_avg numeric(3, 2) constraint shops_rating_range check (rating_avg between 1 and 5),
  review_count integer not null default 0 constraint shops_review_count_positive check (review_count >= 0),
  follower_count integer not null default 0 constraint shops_follower_count_positive check (follower_count >= 0),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.shops is 'Public shop profiles, created when a seller application is approved; id is the seller''s user id.';
comment on column public.shops.rating_avg is 'Kept by the product reviews feature.';
comment on column public.shops.follower_count is 'Kept by the follows feature.';
comment on column public.shops.is_active is 'Set by admins: an inactive shop is hidden from the public.';

create trigger shops_touch_updated_at before update on public.shops
  for each row execute function private.touch_updated_at();

alter table public.shops enable row level security;
grant select on public.shops to anon, authenticated;
grant update (shop_name, description, logo_path) on public.shops to authenticated;
grant all on public.shops to service_role;

create policy "Anyone reads active shops" on public.shops for select to anon using (is_active);
create policy "Signed-in users read active shops and their own"
  on public.shops for select to authenticated
  using (is_active or id = (select auth.uid()) or (select private.has_permission('sellers.review')));
create policy "Sellers edit their shop"
  on public.shops for update to authenticated
  using (id = (select auth.uid())) with check (id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- The review: the only way an application's status changes.

create function private.review_seller_application(application_id uuid, decision text, reason text default null)
returns public.seller_applications
language plpgsql
security definer
set search_path = ''
as $$
declare
  application public.seller_applications;
begin
  if not private.has_permission('sellers.review') and not private.is_service_role() then
    raise exception 'permission denied: sellers.review is required' using errcode = '42501';
  end if;
  if decision not in ('approved', 'rejected') then
    raise exception 'decision must be approved or rejected, not %', decision using errcode = '22023';
  end if;
  if decision = 'rejected' and coalesce(trim(reason), '') = '' then
    raise exception 'a rejection needs a reason' using errcode = '22023';
  end if;

  select * into application from public.seller_applications where id = application_id for update;
  if not found then
    raise exception 'seller application % not found', application_id using errcode = 'PT404';
  end if;
  if application.user_id = auth.uid() then
    raise exception 'permission denied: you cannot review your own application' using errcode = '42501';
  end if;
  if application.status <> 'pending_verification' then
    raise exception 'application % is already %', application_id, application.status using errcode = 'PT409';
  end if;

  update public.seller_applications
     set status = decision, reviewed_by = auth.uid(), reviewed_at = now(),
         rejection_reason = case when decision = 'rejected' then reason end
   where id = application_id
  returning * into application;

  if decision = 'approved' then
    insert into public.shops (id, shop_name, category)
    values (application.user_id, application.shop_name, application.category)
    on conflict (id) do update set shop_name = excluded.shop_name, category = excluded.category, is_active = true;
    insert into public.user_roles (user_id, role_id, assigned_by)
    select application.user_id, r.id, auth.uid() from public.roles r where r.name = 'seller'
    on conflict (user_id, role_id) do update set expires_at = null;
  end if;
  return application;
end
$$;
comment on function private.review_seller_application(uuid, text, text) is
  'The body of the client RPC public.review_seller_application: security definer, in private so the API does not expose it.';
grant execute on function private.review_seller_application(uuid, text, text) to authenticated, service_role;

create function public.review_seller_application(application_id uuid, decision text, reason text default null)
returns public.seller_applications
language sql
security invoker
set search_path = ''
as $$
  select private.review_seller_application(application_id, decision, reason)
$$;
comment on function public.review_seller_application(uuid, text, text) is
  'Approve or reject a pending seller application (sellers.review). Approval opens the shop and grants the seller role.';
revoke execute on function public.review_seller_application(uuid, text, text) from public;
grant execute on function public.review_seller_application(uuid, text, text) to authenticated, service_role;

-- The application's addresses and links are personal data: the log keeps the decision only.
create trigger seller_applications_audit_status
  after update of status on public.seller_applications
  for each row execute function private.audit_row_change('id', 'id', 'user_id', 'shop_name', 'status', 'reviewed_by', 'reviewed_at', 'rejection_reason');
