-- Announcements by e-mail (000 "POST /v1/system/announcements – admin create (in-app banner +
-- optional email)"): a notifications manager e-mails an announcement, once, to every confirmed
-- newsletter subscriber and to every user whose preferences let the 'system' category reach
-- them by e-mail (private.notification_enabled). Each address or user gets it at most once per
-- announcement (the deliveries' idempotency keys), however often this is called.

-- Body of public.email_announcement.
create function private.email_announcement(announcement_id uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  a public.announcements;
  payload jsonb;
  users_queued integer;
  subscribers_queued integer;
begin
  if not private.has_permission('notifications.manage') then
    raise exception 'only notifications managers e-mail announcements' using errcode = '42501';
  end if;
  select * into a from public.announcements n where n.id = email_announcement.announcement_id;
  if not found then
    raise exception 'announcement % not found', announcement_id using errcode = 'PT404';
  end if;
  if a.ends_at <= now() then
    raise exception 'announcement % ended at %: it is not e-mailed', a.id,
      to_char(a.ends_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') using errcode = 'PT409';
  end if;
  if a.audience <> 'public' then
    raise exception 'announcement % is for % users only: only public announcements are e-mailed', a.id, a.audience
      using errcode = 'PT409';
  end if;
  payload := jsonb_build_object('title', a.title, 'body', a.body);
  insert into public.email_deliveries (recipient_id, category, template_key, payload, idempotency_key)
  select u.id, 'system', 'announcement', payload, 'announcement:' || a.id || ':' || u.id
    from auth.users u
   where u.email is not null and private.notification_enabled(u.id, 'system', 'email')
  on conflict on constraint email_deliveries_idempotency_key_unique do nothing;
  get diagnostics users_queued = row_count;
  insert into public.email_deliveries (to_address, category, template_key, payload, idempotency_key)
  select s.email, 'newsletter', 'announcement', payload, 'announcement:' || a.id || ':' || s.email
    from public.newsletter_subscribers s
   where s.status = 'subscribed' and s.email is not null
     -- A subscriber who is also a user hears it once, as a user.
     and not exists (select from auth.users u where lower(u.email) = s.email
                      and private.notification_enabled(u.id, 'system', 'email'))
  on conflict on constraint email_deliveries_idempotency_key_unique do nothing;
  get diagnostics subscribers_queued = row_count;
  return jsonb_build_object('users', users_queued, 'subscribers', subscribers_queued);
end
$$;
comment on function private.email_announcement(uuid) is
  'Body of public.email_announcement: queues the announcement''s mail for users whose system category is on by e-mail and for confirmed newsletter subscribers, once each; refuses non-managers (42501), unknown (PT404), ended or non-public announcements (PT409).';
revoke execute on function private.email_announcement(uuid) from public;
grant execute on function private.email_announcement(uuid) to authenticated;

create function public.email_announcement(announcement_id uuid) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.email_announcement(announcement_id) $$;
comment on function public.email_announcement(uuid) is
  'E-mail a public announcement to newsletter subscribers and to users who get system notices by e-mail, once each (notifications.manage). Answers how many mails were queued.';
revoke execute on function public.email_announcement(uuid) from public;
grant execute on function public.email_announcement(uuid) to authenticated;
