-- Shop follows (issue 17 "Social"; 001 POST /sellers/:id/follow, unfollow): a signed-in user
-- follows an active shop that is not their own. Following is idempotent (a second follow is
-- the same one follow) and so is unfollowing. shops.follower_count is kept by a trigger in
-- the same transaction as the row, as an increment or decrement of the shop row
-- (`follower_count = follower_count ± 1`): the row lock that update takes queues concurrent
-- follows of one shop, so the count equals the rows under any concurrency. The FK check of
-- a new follow holds KEY SHARE on the shop, which the count's update (FOR NO KEY UPDATE)
-- does not wait on, so two follows never deadlock.
--
-- Who sees a follow: the follower (their followed shops) and the shop's seller (their
-- followers); nobody else, staff included: who follows whom is the follower's personal
-- data, the public sees only the count (shop_profiles, 95_shop_profiles.sql), and support
-- reads rows with the service role.
--
--   follow:    supabase.rpc('follow_shop', { shop_id })      -- idempotent; returns the follow
--   unfollow:  supabase.rpc('unfollow_shop', { shop_id })    -- true if a follow was removed
--   mine:      supabase.from('shop_follows').select('created_at, shop:shop_profiles(*)')
--                .eq('user_id', uid).order('created_at', { ascending: false })
--   followers: supabase.from('shop_follows').select('user_id, created_at').eq('shop_id', uid)  -- the seller

create table public.shop_follows (
  user_id uuid not null references public.profiles (id) on delete cascade,
  shop_id uuid not null references public.shops (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (user_id, shop_id),
  constraint shop_follows_not_own_shop check (user_id <> shop_id)
);
comment on table public.shop_follows is
  'Who follows which shop (001 /sellers/:id/follow): one row per follower and shop; written through follow_shop / unfollow_shop; read by the follower and the shop''s seller.';

-- The primary key serves "my followed shops" (user_id first); this one a shop's followers.
create index shop_follows_shop_idx on public.shop_follows (shop_id, created_at desc);

-- ---------------------------------------------------------------------------------------
-- The count: one increment or decrement of the shop row per follow row inserted or
-- deleted, in the same transaction. The update's row lock serialises concurrent follows of
-- one shop; a follow that was already there inserts nothing, so counts nothing.

create function private.shop_follows_count() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.shops set follower_count = follower_count + 1 where id = new.shop_id;
  elsif tg_op = 'DELETE' then
    update public.shops set follower_count = follower_count - 1 where id = old.shop_id;
  end if;
  return null;
end
$$;
comment on function private.shop_follows_count() is
  'Trigger: shops.follower_count + 1 for each follow inserted, - 1 for each deleted, in the same transaction (the shop row lock serialises).';

create trigger shop_follows_count after insert or delete on public.shop_follows
  for each row execute function private.shop_follows_count();

-- Following and unfollowing are client RPCs: the caller is the follower, the shop is
-- checked (exists, visible, active, not one's own) with a precise error each.

alter table public.shop_follows enable row level security;
grant select on public.shop_follows to authenticated;
grant all on public.shop_follows to service_role;

create policy "Followers and the followed shop's seller read follows" on public.shop_follows for select to authenticated
  using (user_id = (select auth.uid()) or shop_id = (select auth.uid()));

-- 001 POST /sellers/:id/follow.
create function private.follow_shop(shop_id uuid)
returns public.shop_follows
language plpgsql
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
  s public.shops;
  f public.shop_follows;
begin
  if me is null then
    raise exception 'sign in to follow a shop' using errcode = '42501';
  end if;
  perform private.assert_not_anonymous('follow shops');
  if follow_shop.shop_id is null then
    raise exception 'shop_id is required' using errcode = '22023';
  end if;
  select * into s from public.shops x where x.id = follow_shop.shop_id;
  if not found or (not s.is_active and s.id <> me) then
    raise exception 'shop % not found', follow_shop.shop_id using errcode = 'PT404';
  end if;
  if s.id = me then
    raise exception 'you cannot follow your own shop' using errcode = 'PT409';
  end if;
  if not s.is_active then
    raise exception 'shop % is inactive: it cannot be followed', s.id using errcode = 'PT409';
  end if;
  insert into public.shop_follows (user_id, shop_id) values (me, s.id)
  on conflict on constraint shop_follows_pkey do nothing
  returning * into f;
  if found then
    perform private.emit_event('shop.followed', 'shop', s.id, array[s.id], jsonb_build_object('follower_id', me), me);
  else
    select * into f from public.shop_follows x where x.user_id = me and x.shop_id = s.id;
  end if;
  return f;
end
$$;
comment on function private.follow_shop(uuid) is
  'The body of the client RPC public.follow_shop: security definer, in private so the API does not expose it.';
revoke execute on function private.follow_shop(uuid) from public;
grant execute on function private.follow_shop(uuid) to authenticated;

create function public.follow_shop(shop_id uuid)
returns public.shop_follows
language sql
security invoker
set search_path = ''
as $$
  select private.follow_shop(shop_id)
$$;
comment on function public.follow_shop(uuid) is
  '001 POST /sellers/:id/follow: the caller follows an active shop, not their own; idempotent (a second call returns the same follow and counts nothing). PT404 unknown or inactive shop, PT409 one''s own shop, 42501 anonymous.';
revoke execute on function public.follow_shop(uuid) from public;
grant execute on function public.follow_shop(uuid) to authenticated;

-- 001 unfollow (DELETE /sellers/:id/follow). Allowed whatever the shop's state, so a user
-- can always leave a shop that was deactivated after they followed it.
create function private.unfollow_shop(shop_id uuid)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  me uuid := auth.uid();
begin
  if me is null then
    raise exception 'sign in to unfollow a shop' using errcode = '42501';
  end if;
  if unfollow_shop.shop_id is null then
    raise exception 'shop_id is required' using errcode = '22023';
  end if;
  delete from public.shop_follows x where x.user_id = me and x.shop_id = unfollow_shop.shop_id;
  return found;
end
$$;
comment on function private.unfollow_shop(uuid) is
  'The body of the client RPC public.unfollow_shop: security definer, in private so the API does not expose it.';
revoke execute on function private.unfollow_shop(uuid) from public;
grant execute on function private.unfollow_shop(uuid) to authenticated;

create function public.unfollow_shop(shop_id uuid)
returns boolean
language sql
security invoker
set search_path = ''
as $$
  select private.unfollow_shop(shop_id)
$$;
comment on function public.unfollow_shop(uuid) is
  '001 unfollow: removes the caller''s follow of the shop; true if there was one, false if not (idempotent).';
revoke execute on function public.unfollow_shop(uuid) from public;
grant execute on function public.unfollow_shop(uuid) to authenticated;
