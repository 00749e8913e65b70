-- The shop's catalogue (issue 17): product categories, a tree managed by staff
-- (commerce.manage, granted to admin and staff in the commerce reference data). Everyone,
-- anon included, reads the active categories; managers read and change all of them.

-- Whether the caller manages the shop (every product, category, coupon, order, inventory).
create function private.can_manage_commerce() returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select private.has_permission('commerce.manage')
$$;
comment on function private.can_manage_commerce() is
  'Whether the caller holds commerce.manage (staff and admins): every product, category and inventory level.';
revoke execute on function private.can_manage_commerce() from public;
grant execute on function private.can_manage_commerce() to anon, authenticated, service_role;

create table public.product_categories (
  id uuid primary key default gen_random_uuid(),
  parent_id uuid references public.product_categories (id) on delete restrict,
  slug text not null constraint product_categories_slug_format check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and char_length(slug) <= 80),
  name text not null constraint product_categories_name_length check (char_length(trim(name)) between 1 and 120),
  position integer not null default 0,
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint product_categories_slug_key unique (slug),
  constraint product_categories_not_own_parent check (parent_id is distinct from id)
);
comment on table public.product_categories is
  'Product categories (001/003), a tree: parent_id null at the roots. Managed by commerce.manage; active ones are public.';
comment on column public.product_categories.position is 'Order among siblings (ascending).';
comment on column public.product_categories.is_active is
  'An inactive category is hidden from the public with its products'' category link kept; its children stay as they are.';

create index product_categories_parent_idx on public.product_categories (parent_id, position) where parent_id is not null;

create trigger product_categories_touch_updated_at before update on public.product_categories
  for each row execute function private.touch_updated_at();

-- A category never becomes its own ancestor.
create function private.check_category_parent() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.parent_id is null then
    return new;
  end if;
  if not exists (select 1 from public.product_categories c where c.id = new.parent_id) then
    raise exception 'category % does not exist', new.parent_id using errcode = '22023';
  end if;
  if tg_op = 'UPDATE' and new.parent_id in (select private.category_subtree(new.id)) then
    raise exception 'category % cannot move under %: that is itself or one of its descendants', new.id, new.parent_id
      using errcode = '22023';
  end if;
  return new;
end
$$;
comment on function private.check_category_parent() is
  'Trigger: a category''s parent exists and is not the category itself or one of its descendants (22023).';

create trigger product_categories_check_parent before insert or update of parent_id on public.product_categories
  for each row execute function private.check_category_parent();

-- The category and every descendant (used by product filters: a category includes its
-- subcategories). Security definer: inactive categories count too, whoever asks.
create function private.category_subtree(category_id uuid) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  with recursive tree (id) as (
    select c.id from public.product_categories c where c.id = category_subtree.category_id
    union
    select c.id from public.product_categories c join tree t on c.parent_id = t.id
  )
  select id from tree
$$;
comment on function private.category_subtree(uuid) is
  'The category and all its descendants (empty when the category does not exist).';
revoke execute on function private.category_subtree(uuid) from public;
grant execute on function private.category_subtree(uuid) to anon, authenticated, service_role;

alter table public.product_categories enable row level security;
grant select on public.product_categories to anon, authenticated;
grant insert (id, parent_id, slug, name, position, is_active),
      update (parent_id, slug, name, position, is_active),
      delete
  on public.product_categories to authenticated;
grant all on public.product_categories to service_role;

create policy "Anyone reads active categories" on public.product_categories for select to anon using (is_active);
create policy "Signed-in users read active categories, managers all"
  on public.product_categories for select to authenticated
  using (is_active or (select private.can_manage_commerce()));
create policy "Managers add categories" on public.product_categories for insert to authenticated
  with check ((select private.can_manage_commerce()));
create policy "Managers change categories" on public.product_categories for update to authenticated
  using ((select private.can_manage_commerce())) with check ((select private.can_manage_commerce()));
create policy "Managers delete categories" on public.product_categories for delete to authenticated
  using ((select private.can_manage_commerce()));
