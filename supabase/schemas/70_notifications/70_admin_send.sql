-- Admin sends and broadcasts (003 "admin send to users", "broadcast to all with a user
-- filter"; 000 internal publish is 45_internal_publish.sql). Holders of notifications.manage
-- create a row of public.notification_broadcasts through send_notification (chosen users, at
-- most 1,000, delivered at once) or broadcast_notification (everyone matching a filter: roles,
-- locales, signed up before/after, subscribed to plans). A broadcast is fanned out in batches of users in id order,
-- each batch its own transaction, by the job notifications-fan-out
-- (private.run_broadcast_fan_out, a procedure that commits after every batch) or by
-- ops.fan_out_broadcasts (one batch per call); recipients_done and status show the progress.
-- Each user gets the notification once (unique per broadcast and user) unless they switched
-- the category off in-app. Asked with email => true, each recipient whose preferences let the
-- category reach them by e-mail (critical categories always) also gets the admin.notification
-- mail, queued in the same batch through private.queue_email_delivery under the key
-- broadcast:<id>:<user>, so a batch run again queues nothing twice. Creating and deleting a
-- broadcast is written to the audit log.

create table public.notification_broadcasts (
  id uuid primary key default gen_random_uuid(),
  created_by uuid references auth.users (id) on delete set null,
  category text not null default 'system' references public.notification_categories (key),
  title text not null constraint notification_broadcasts_title_length check (length(title) between 1 and 200),
  body text not null default '' constraint notification_broadcasts_body_length check (length(body) <= 5000),
  action_url text constraint notification_broadcasts_action_url check (action_url ~ '^(/|https://)\S*$' and length(action_url) <= 2000),
  -- The audience: chosen users (a send), or a filter (a broadcast; null = no condition).
  user_ids uuid[],
  roles text[],
  locales text[],
  signed_up_before timestamptz,
  signed_up_after timestamptz,
  -- Users with a live subscription (trialing, active, past_due, unpaid, paused) to one of these
  -- plans (60_billing's subscriptions).
  plan_ids uuid[],
  recipients_total integer not null default 0,
  recipients_done integer not null default 0,
  -- Also by e-mail (to recipients whose preferences allow it), and how many mails were queued.
  email boolean not null default false,
  emails_queued integer not null default 0,
  -- Fan-out cursor: the last user id handed a notification (users are taken in id order).
  last_user_id uuid,
  status text not null default 'pending' constraint notification_broadcasts_status check (status in ('pending', 'done')),
  created_at timestamptz not null default now(),
  finished_at timestamptz
);
create index notification_broadcasts_pending_idx on public.notification_broadcasts (created_at) where status = 'pending';
create index notification_broadcasts_category_idx on public.notification_broadcasts (category);
create index notification_broadcasts_created_by_idx on public.notification_broadcasts (created_by) where created_by is not null;
comment on table public.notification_broadcasts is
  'Admin sends (user_ids) and broadcasts (filters) of one notification, fanned out in batches; recipients_done / recipients_total is the progress.';
comment on column public.notification_broadcasts.recipients_total is
  'Users matching the audience when it was created (the fan-out takes users matching it as it goes).';

alter table public.notifications add constraint notifications_broadcast_id_fkey
  foreign key (broadcast_id) references public.notification_broadcasts (id) on delete set null;

create trigger notification_broadcasts_audit after insert or delete on public.notification_broadcasts
  for each row execute function private.audit_row_change('id', 'id', 'category', 'title', 'roles', 'locales',
    'signed_up_before', 'signed_up_after', 'plan_ids', 'user_ids', 'recipients_total', 'email', 'created_by');

alter table public.notification_broadcasts enable row level security;
grant select on public.notification_broadcasts to authenticated;
grant all on public.notification_broadcasts to service_role;
create policy "Notification managers read sends and broadcasts" on public.notification_broadcasts for select to authenticated
  using ((select private.has_permission('notifications.manage')));

-- The users a send or broadcast reaches after the cursor, in id order: existing,
-- non-anonymous users matching every condition it sets.
create function private.broadcast_audience(broadcast public.notification_broadcasts, after_user uuid, max_users integer)
returns setof uuid
-- plpgsql, not sql: the plan filter reads 60_billing's subscriptions, whose migration runs after
-- this domain's (a sql body is checked when the function is created).
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return query
  select u.id from auth.users u
   where (after_user is null or u.id > after_user)
     and not u.is_anonymous
     and u.deleted_at is null
     and (broadcast.user_ids is null or u.id = any (broadcast.user_ids))
     and (broadcast.signed_up_before is null or u.created_at < broadcast.signed_up_before)
     and (broadcast.signed_up_after is null or u.created_at >= broadcast.signed_up_after)
     and (broadcast.locales is null
          or exists (select from public.private_profiles p where p.id = u.id and p.locale = any (broadcast.locales)))
     and (broadcast.roles is null
          or exists (select from private.active_user_roles ur join public.roles r on r.id = ur.role_id
                      where ur.user_id = u.id and r.name = any (broadcast.roles)))
     and (broadcast.plan_ids is null
          or exists (select from public.subscriptions s
                      where s.user_id = u.id and s.plan_id = any (broadcast.plan_ids)
                        and s.status in ('trialing', 'active', 'past_due', 'unpaid', 'paused')))
   order by u.id
   limit max_users;
end
$$;
comment on function private.broadcast_audience(public.notification_broadcasts, uuid, integer) is
  'Up to max_users users of a send or broadcast after the cursor, in id order (existing, not anonymous, matching its user list and filters).';

-- One batch of one broadcast, which the caller holds locked; returns the users handled.
create function private.fan_out_broadcast_batch(broadcast public.notification_broadcasts, batch_size integer)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  targets uuid[];
  mailed integer := 0;
  mail jsonb;
begin
  targets := array(select private.broadcast_audience(broadcast, broadcast.last_user_id, batch_size));
  insert into public.notifications (user_id, category, title, body, action_url, actor_id, broadcast_id, payload)
  select t, broadcast.category, broadcast.title, broadcast.body, broadcast.action_url, broadcast.created_by, broadcast.id,
         jsonb_build_object('broadcast_id', broadcast.id)
    from unnest(targets) t
   where private.notification_enabled(t, broadcast.category, 'in_app')
  on conflict (broadcast_id, user_id) do nothing;
  if broadcast.email then
    -- The mail's link only when it is absolute (a path means nothing outside the app), and the
    -- unsubscribe line only for categories that can be switched off.
    mail := jsonb_build_object(
      'title', broadcast.title, 'body', broadcast.body, 'broadcast_id', broadcast.id,
      'link', case when broadcast.action_url ~ '^https://' then broadcast.action_url end,
      'can_unsubscribe', not (select c.critical from public.notification_categories c where c.key = broadcast.category));
    select count(private.queue_email_delivery(t, null, broadcast.category, 'admin.notification', mail, null,
                                              'broadcast:' || broadcast.id || ':' || t))
      into mailed
      from unnest(targets) t
      join auth.users u on u.id = t
     where u.email is not null
       and private.notification_enabled(t, broadcast.category, 'email');
  end if;
  update public.notification_broadcasts b
     set recipients_done = b.recipients_done + cardinality(targets),
         emails_queued = b.emails_queued + mailed,
         last_user_id = coalesce(targets[cardinality(targets)], b.last_user_id),
         status = case when cardinality(targets) < batch_size then 'done' else 'pending' end,
         finished_at = case when cardinality(targets) < batch_size then now() end
   where b.id = broadcast.id;
  return cardinality(targets);
end
$$;
comment on function private.fan_out_broadcast_batch(public.notification_broadcasts, integer) is
  'Gives the next batch_size users of a locked broadcast its notification (unless they switched the category off in-app) and, for an e-mail broadcast, queues its mail to those whose preferences allow e-mail (once per user: idempotency key broadcast:<id>:<user>), moves the cursor, marks it done after the last batch.';

-- Body of ops.fan_out_broadcasts and of each step of the job: one batch of the oldest
-- pending broadcast no other worker holds.
create function private.fan_out_broadcasts(batch_size integer default 5000) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  broadcast public.notification_broadcasts;
begin
  select * into broadcast from public.notification_broadcasts b
   where b.status = 'pending'
   order by b.created_at, b.id
   limit 1
     for update skip locked;
  if not found then
    return 0;
  end if;
  return private.fan_out_broadcast_batch(broadcast, batch_size);
end
$$;
comment on function private.fan_out_broadcasts(integer) is
  'Fans out one batch of the oldest pending broadcast no other worker holds (skip locked); returns the users handled, 0 when nothing is pending.';

create function ops.fan_out_broadcasts(batch_size integer default 5000) returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  if batch_size is null or batch_size not between 1 and 50000 then
    raise exception 'batch_size is 1 to 50000' using errcode = '22023';
  end if;
  return private.fan_out_broadcasts(batch_size);
end
$$;
comment on function ops.fan_out_broadcasts(integer) is
  'Fans out one batch (in its own transaction) of the oldest pending broadcast; returns the users handled, 0 when none is pending. Service role only: the admin CLI and tests.';
revoke execute on function ops.fan_out_broadcasts(integer) from public;
grant execute on function ops.fan_out_broadcasts(integer) to service_role;

-- No `set search_path` here: a procedure with a SET clause may not commit. Every name is
-- schema-qualified instead (pg_catalog is searched first whatever the path).
create procedure private.run_broadcast_fan_out(batch_size integer default 5000, max_seconds integer default 50)
language plpgsql
as $$
declare
  started timestamptz := pg_catalog.clock_timestamp();
begin
  while pg_catalog.clock_timestamp() < started + pg_catalog.make_interval(secs => max_seconds) loop
    exit when private.fan_out_broadcasts(batch_size) = 0;
    commit;
  end loop;
end
$$;
comment on procedure private.run_broadcast_fan_out(integer, integer) is
  'The notifications-fan-out job: batches of pending broadcasts, committing after each, for at most max_seconds.';

-- ---------------------------------------------------------------------------------------
-- Admin RPCs.

create function private.check_broadcast_content(category text, title text, action_url text) returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  -- The admin CLI calls with the service-role key (the audit log names its operator).
  if not (private.is_service_role() or private.has_permission('notifications.manage')) then
    raise exception 'sending notifications needs the notifications.manage permission' using errcode = '42501';
  end if;
  if category is null or not exists (select from public.notification_categories c where c.key = check_broadcast_content.category) then
    raise exception 'unknown notification category: the categories are %',
      (select string_agg(c.key, ', ' order by c.key) from public.notification_categories c)
      using errcode = '22023';
  end if;
  if title is null or length(title) not between 1 and 200 then
    raise exception 'a notification''s title is 1 to 200 characters' using errcode = '22023';
  end if;
  if action_url is not null and (action_url !~ '^(/|https://)\S*$' or length(action_url) > 2000) then
    raise exception 'an action URL is a path (/...) or an https:// URL, without spaces, at most 2000 characters' using errcode = '22023';
  end if;
end
$$;
comment on function private.check_broadcast_content(text, text, text) is
  'The checks send_notification and broadcast_notification share: the caller''s permission (notifications.manage, or the service role), a known category, a title, an action URL.';

-- Body of public.send_notification.
create function private.send_notification(
  user_ids uuid[], title text, body text default '', category text default 'system', action_url text default null,
  email boolean default false
) returns public.notification_broadcasts
language plpgsql
security definer
set search_path = ''
as $$
declare
  broadcast public.notification_broadcasts;
  unknown_users integer;
begin
  perform private.check_broadcast_content(category, title, action_url);
  if user_ids is null or cardinality(user_ids) not between 1 and 1000 then
    raise exception 'send to 1 to 1000 users; broadcast_notification reaches more' using errcode = '22023';
  end if;
  select count(*) into unknown_users from unnest(user_ids) u
   where u is null or not exists (select from auth.users a where a.id = u);
  if unknown_users > 0 then
    raise exception '% of the users are not users', unknown_users using errcode = '22023';
  end if;
  insert into public.notification_broadcasts (created_by, category, title, body, action_url, email, user_ids, recipients_total)
  values (auth.uid(), category, title, coalesce(body, ''), action_url, coalesce(email, false),
          array(select distinct u from unnest(user_ids) u), (select count(distinct u) from unnest(user_ids) u))
  returning * into broadcast;
  perform private.fan_out_broadcast_batch(broadcast, 1001);
  select * into broadcast from public.notification_broadcasts b where b.id = broadcast.id;
  return broadcast;
end
$$;
comment on function private.send_notification(uuid[], text, text, text, text, boolean) is
  'Body of public.send_notification: checks, records the send and delivers it at once.';
revoke execute on function private.send_notification(uuid[], text, text, text, text, boolean) from public;
grant execute on function private.send_notification(uuid[], text, text, text, text, boolean) to authenticated, service_role;

create function public.send_notification(
  user_ids uuid[], title text, body text default '', category text default 'system', action_url text default null,
  email boolean default false
) returns public.notification_broadcasts
language sql
security invoker
set search_path = ''
as $$ select private.send_notification(user_ids, title, body, category, action_url, email) $$;
comment on function public.send_notification(uuid[], text, text, text, text, boolean) is
  'Admin (notifications.manage): send an in-app notification to chosen users (1 to 1000), at once; with email => true also by e-mail to those whose preferences allow it (critical categories always). Audited.';
revoke execute on function public.send_notification(uuid[], text, text, text, text, boolean) from public;
grant execute on function public.send_notification(uuid[], text, text, text, text, boolean) to authenticated, service_role;

-- Body of public.broadcast_notification.
create function private.broadcast_notification(
  title text, body text default '', category text default 'system', action_url text default null,
  roles text[] default null, locales text[] default null,
  signed_up_before timestamptz default null, signed_up_after timestamptz default null, email boolean default false,
  plans text[] default null
) returns public.notification_broadcasts
language plpgsql
security definer
set search_path = ''
as $$
declare
  broadcast public.notification_broadcasts;
  unknown_roles integer;
  unknown_plans text;
  plan_filter uuid[];
begin
  perform private.check_broadcast_content(category, title, action_url);
  select count(*) into unknown_roles from unnest(coalesce(roles, '{}')) r
   where not exists (select from public.roles x where x.name = r);
  if unknown_roles > 0 then
    raise exception '% of the roles do not exist', unknown_roles using errcode = '22023';
  end if;
  if exists (select from unnest(coalesce(locales, '{}')) l where l is null or l !~ '^[a-z]{2,3}(-[A-Z]{2})?$') then
    raise exception 'a locale is a language code with an optional region (en, pt-BR)' using errcode = '22023';
  end if;
  if signed_up_before is not null and signed_up_after is not null and signed_up_after >= signed_up_before then
    raise exception 'signed_up_after must be before signed_up_before' using errcode = '22023';
  end if;
  if cardinality(plans) > 0 then
    select string_agg(coalesce(x, 'null'), ', ' order by x) into unknown_plans from unnest(plans) x
     where not exists (select from public.plans p where p.slug = x and not p.is_free);
    if unknown_plans is not null then
      raise exception 'unknown plans: % (a plan filter names plans by slug; the free tier has no subscriptions)', unknown_plans
        using errcode = '22023';
    end if;
    plan_filter := array(select p.id from public.plans p where p.slug = any (plans) order by p.id);
  end if;
  insert into public.notification_broadcasts (created_by, category, title, body, action_url, roles, locales,
                                              signed_up_before, signed_up_after, plan_ids, email)
  values (auth.uid(), category, title, coalesce(body, ''), action_url, nullif(roles, '{}'), nullif(locales, '{}'),
          signed_up_before, signed_up_after, plan_filter, coalesce(email, false))
  returning * into broadcast;
  update public.notification_broadcasts b
     set recipients_total = (select count(*) from private.broadcast_audience(broadcast, null, null))
   where b.id = broadcast.id
  returning * into broadcast;
  return broadcast;
end
$$;
comment on function private.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[]) is
  'Body of public.broadcast_notification: checks the content and filter, records the broadcast with its audience''s size; the job fans it out.';
revoke execute on function private.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[]) from public;
grant execute on function private.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[])
  to authenticated, service_role;

create function public.broadcast_notification(
  title text, body text default '', category text default 'system', action_url text default null,
  roles text[] default null, locales text[] default null,
  signed_up_before timestamptz default null, signed_up_after timestamptz default null, email boolean default false,
  plans text[] default null
) returns public.notification_broadcasts
language sql
security invoker
set search_path = ''
as $$ select private.broadcast_notification(title, body, category, action_url, roles, locales, signed_up_before, signed_up_after, email, plans) $$;
comment on function public.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[]) is
  'Admin (notifications.manage): broadcast an in-app notification to every user, or those with one of the roles, one of the locales, signed up before/after a time, with a live subscription (trialing, active, past_due, unpaid, paused) to one of the plans (slugs); with email => true also by e-mail to those whose preferences allow it. Fanned out in batches by a job; read its progress from notification_broadcasts. Audited.';
revoke execute on function public.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[]) from public;
grant execute on function public.broadcast_notification(text, text, text, text, text[], text[], timestamptz, timestamptz, boolean, text[])
  to authenticated, service_role;
