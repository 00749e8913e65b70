-- Reviews and ratings (000 "Reviews & Ratings"): once an order is completed, its buyer and
-- its seller may each review the other, once (POST /orders/:orderId/reviews). Reviews are
-- public (GET /users/:id/reviews); the author may edit the rating and comment for 14 days
-- and never delete; content.moderate holders hide reviews, which drops them from the
-- aggregates. profiles.rating_avg and review_count are recomputed from the table on every
-- change, under a row lock on the profile, so concurrent reviews never lose an update.
--
--   write:  supabase.rpc('review_order', { order_id, rating, comment })         -- author and subject derived
--   edit:   supabase.from('reviews').update({ rating, comment }).eq('id', id)   -- within 14 days
--   read:   supabase.from('reviews').select('id, rating, comment, author_role, author_id, created_at, edited_at')
--             .eq('subject_id', userId).order('created_at', { ascending: false }).order('id', { ascending: false })
--   totals: supabase.from('public_profiles').select('rating_avg, review_count').eq('id', userId)
--   hide:   supabase.rpc('moderate_review', { review_id, hidden: true, reason })

create table public.reviews (
  id uuid primary key default gen_random_uuid(),
  order_id uuid not null references public.orders (id) on delete cascade,
  author_id uuid references public.profiles (id) on delete set null,
  subject_id uuid not null references public.profiles (id) on delete cascade,
  author_role text not null constraint reviews_author_role check (author_role in ('buyer', 'seller')),
  rating smallint not null constraint reviews_rating_range check (rating between 1 and 5),
  comment text not null default '' constraint reviews_comment_length check (char_length(comment) <= 2000),
  is_hidden boolean not null default false,
  hidden_at timestamptz,
  hidden_by uuid references public.profiles (id) on delete set null,
  hidden_reason text constraint reviews_hidden_reason_length check (char_length(hidden_reason) <= 2000),
  created_at timestamptz not null default now(),
  edited_at timestamptz,
  constraint reviews_not_self check (author_id <> subject_id),
  constraint reviews_hidden_consistent check (is_hidden = (hidden_at is not null))
);
comment on table public.reviews is
  'Reviews between the parties of completed orders (000 /orders/:orderId/reviews, /users/:id/reviews). One per order and author; public unless hidden.';
comment on column public.reviews.author_id is 'The reviewer: the caller, set by trigger; null once their account is deleted (the review stays).';
comment on column public.reviews.subject_id is 'Who is reviewed: the order''s other party, derived by trigger, never client-supplied.';
comment on column public.reviews.author_role is 'Whether the author was the order''s buyer or its seller (so the subject was the other).';
comment on column public.reviews.edited_at is 'Last edit by the author; edits are allowed for 14 days after created_at.';
comment on column public.reviews.is_hidden is 'Set by moderate_review() (content.moderate): hidden reviews are seen only by their author and moderators, and do not count.';

create unique index reviews_one_per_author_and_order on public.reviews (order_id, author_id);
create index reviews_subject_idx on public.reviews (subject_id, created_at desc, id desc) where not is_hidden;
create index reviews_author_idx on public.reviews (author_id);
create index reviews_created_idx on public.reviews (created_at desc, id desc) where not is_hidden;
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index reviews_hidden_by_idx on public.reviews (hidden_by) where hidden_by is not null;

-- ---------------------------------------------------------------------------------------
-- Who may review: a party of a completed order, about the other party. A trigger before
-- insert, so that every way in (review_order() for users, service tooling) gets the same
-- checks, precise errors and derived author and subject.

create function private.prepare_review() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  o public.orders;
  caller uuid := auth.uid();
begin
  if private.is_service_role() and new.author_id is not null then
    caller := new.author_id; -- service tooling may write on a party's behalf
  end if;
  select * into o from public.orders where id = new.order_id;
  if not found or caller is null or caller not in (o.buyer_id, o.seller_id) then
    raise exception 'order % not found', new.order_id using errcode = 'PT404';
  end if;
  if o.status <> 'completed' then
    raise exception 'order % is %: reviews open once it is completed', o.id, o.status using errcode = 'PT409';
  end if;
  new.author_id := caller;
  new.author_role := case when caller = o.buyer_id then 'buyer' else 'seller' end;
  new.subject_id := case when caller = o.buyer_id then o.seller_id else o.buyer_id end;
  if new.subject_id is null then
    raise exception 'the other party of order % no longer has an account', o.id using errcode = 'PT409';
  end if;
  new.is_hidden := false;
  new.hidden_at := null;
  new.hidden_by := null;
  new.hidden_reason := null;
  new.created_at := now();
  new.edited_at := null;
  return new;
end
$$;
comment on function private.prepare_review() is
  'Trigger: checks the caller is a party of the completed order (else PT404 / PT409) and derives author, role and subject.';

create trigger reviews_prepare before insert on public.reviews
  for each row execute function private.prepare_review();

create function private.stamp_review_edit() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.rating is distinct from old.rating or new.comment is distinct from old.comment then
    new.edited_at := now();
  end if;
  return new;
end
$$;
comment on function private.stamp_review_edit() is 'Trigger: records when the author last changed the rating or comment.';

create trigger reviews_stamp_edit before update on public.reviews
  for each row execute function private.stamp_review_edit();

-- ---------------------------------------------------------------------------------------
-- The aggregates. Recomputed from the table rather than incremented, so an edit, a hide or
-- a delete can never drift them; the profile row lock queues concurrent reviews of one
-- subject, and the recount (a new statement, so a new snapshot) sees every committed one.
-- The lock is FOR NO KEY UPDATE, not FOR UPDATE: each new review's foreign keys hold KEY
-- SHARE on the subject's profile, which FOR UPDATE would wait on, deadlocking two reviews.

create function private.refresh_rating(subject uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform 1 from public.profiles where id = subject for no key update;
  update public.profiles p set
    review_count = agg.n,
    rating_avg = case when agg.n = 0 then null else round(agg.avg_rating, 2) end
  from (select count(*)::integer n, avg(r.rating) avg_rating
          from public.reviews r where r.subject_id = subject and not r.is_hidden) agg
  where p.id = subject;
end
$$;
comment on function private.refresh_rating(uuid) is
  'Recounts a user''s visible reviews into profiles.review_count and rating_avg (2 decimals), under a lock on the profile.';

create function private.reviews_refresh_rating() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform private.refresh_rating(old.subject_id);
  end if;
  if tg_op in ('INSERT', 'UPDATE') and (tg_op = 'INSERT' or new.subject_id is distinct from old.subject_id) then
    perform private.refresh_rating(new.subject_id);
  end if;
  return null;
end
$$;
comment on function private.reviews_refresh_rating() is 'Trigger: keeps the subject''s rating aggregates exact.';

create trigger reviews_refresh_rating_on_insert_or_delete after insert or delete on public.reviews
  for each row execute function private.reviews_refresh_rating();
create trigger reviews_refresh_rating_on_update after update of rating, is_hidden, subject_id on public.reviews
  for each row execute function private.reviews_refresh_rating();

-- ---------------------------------------------------------------------------------------
-- Access.

alter table public.reviews enable row level security;
grant select on public.reviews to anon, authenticated;
grant update (rating, comment), delete on public.reviews to authenticated;
grant all on public.reviews to service_role;

create policy "Anyone reads visible reviews" on public.reviews for select to anon
  using (not is_hidden);
create policy "Users read visible reviews, authors theirs, moderators all" on public.reviews for select to authenticated
  using (not is_hidden or author_id = (select auth.uid()) or (select private.has_permission('content.moderate')));
create policy "Authors edit their visible reviews for 14 days" on public.reviews for update to authenticated
  using (author_id = (select auth.uid()) and not is_hidden and created_at > now() - interval '14 days')
  with check (author_id = (select auth.uid()) and not is_hidden);
create policy "Moderators delete reviews" on public.reviews for delete to authenticated
  using ((select private.has_permission('content.moderate')));

-- 000 POST /orders/:orderId/reviews. An RPC rather than an insert so that the API's shape
-- is exactly what the caller decides (order, rating, comment): author, role and subject are
-- derived by private.prepare_review().
create function private.review_order(order_id uuid, rating integer, comment text default '')
returns public.reviews
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.reviews;
begin
  if auth.uid() is null then
    raise exception 'sign in to review an order' using errcode = '42501';
  end if;
  insert into public.reviews (order_id, rating, comment)
  values (review_order.order_id, review_order.rating, coalesce(review_order.comment, ''))
  returning * into r;
  return r;
end
$$;
comment on function private.review_order(uuid, integer, text) is
  'The body of the client RPC public.review_order: security definer, in private so the API does not expose it.';
grant execute on function private.review_order(uuid, integer, text) to authenticated;

create function public.review_order(order_id uuid, rating integer, comment text default '')
returns public.reviews
language sql
security invoker
set search_path = ''
as $$
  select private.review_order(order_id, rating, comment)
$$;
comment on function public.review_order(uuid, integer, text) is
  'A party of a completed order reviews the other party, once: PT404 unless the caller is a party, PT409 until completed, 23505 the second time.';
grant execute on function public.review_order(uuid, integer, text) to authenticated;

create function private.moderate_review(review_id uuid, hidden boolean, reason text default null)
returns public.reviews
language plpgsql
security definer
set search_path = ''
as $$
declare
  r public.reviews;
begin
  if not private.has_permission('content.moderate') and not private.is_service_role() then
    raise exception 'permission denied: content.moderate is required' using errcode = '42501';
  end if;
  if hidden and coalesce(trim(reason), '') = '' then
    raise exception 'hiding a review needs a reason' using errcode = '22023';
  end if;
  update public.reviews set
    is_hidden = hidden,
    hidden_at = case when hidden then coalesce(hidden_at, now()) end,
    hidden_by = case when hidden then auth.uid() end,
    hidden_reason = case when hidden then reason end
  where id = review_id
  returning * into r;
  if not found then
    raise exception 'review % not found', review_id using errcode = 'PT404';
  end if;
  return r;
end
$$;
comment on function private.moderate_review(uuid, boolean, text) is
  'The body of the client RPC public.moderate_review: security definer, in private so the API does not expose it.';
grant execute on function private.moderate_review(uuid, boolean, text) to authenticated, service_role;

create function public.moderate_review(review_id uuid, hidden boolean, reason text default null)
returns public.reviews
language sql
security invoker
set search_path = ''
as $$
  select private.moderate_review(review_id, hidden, reason)
$$;
comment on function public.moderate_review(uuid, boolean, text) is
  'Hides (with a reason) or restores a review; hidden reviews leave the subject''s aggregates. content.moderate or the service role.';
grant execute on function public.moderate_review(uuid, boolean, text) to authenticated, service_role;

create trigger reviews_audit_moderation
  after update of is_hidden on public.reviews
  for each row execute function private.audit_row_change('id', 'id', 'order_id', 'subject_id', 'is_hidden', 'hidden_by', 'hidden_reason');
create trigger reviews_audit_delete
  after delete on public.reviews
  for each row execute function private.audit_row_change('id', 'id', 'order_id', 'subject_id', 'rating', 'is_hidden');

-- The other party of a completed order hears about the review.
create function private.announce_review() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.emit_event('review.created', 'review', new.id, array[new.subject_id],
    jsonb_build_object('order_id', new.order_id, 'rating', new.rating), new.author_id);
  return null;
end
$$;
create trigger reviews_announce after insert on public.reviews
  for each row execute function private.announce_review();
