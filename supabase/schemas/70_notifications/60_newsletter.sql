-- The newsletter: anyone subscribes an address (anon allowed; public.subscribe_newsletter),
-- confirmed by a link mailed to it (double opt-in: a token valid 24 hours, used once), and
-- unsubscribed in one click by the List-Unsubscribe link of any newsletter mail (no sign-in;
-- ops.unsubscribe_email). An unsubscribed address may subscribe again, confirming again.
-- Requests are limited per address (3 an hour), so nobody can flood an inbox with
-- confirmation mail. Addresses are readable only by notifications managers. The links point
-- at the notifications-newsletter function, which calls these RPCs.

create table public.newsletter_subscribers (
  id uuid primary key default gen_random_uuid(),
  -- Null once erased with the account of that address (private.personal_data: anonymise).
  email text constraint newsletter_subscribers_email_unique unique
    constraint newsletter_subscribers_email_format check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and email = lower(email)),
  status text not null default 'pending'
    constraint newsletter_subscribers_status check (status in ('pending', 'subscribed', 'unsubscribed')),
  confirm_token uuid constraint newsletter_subscribers_confirm_token_unique unique,
  confirm_expires_at timestamptz,
  unsubscribe_token uuid not null default gen_random_uuid() constraint newsletter_subscribers_unsubscribe_token_unique unique,
  requests_in_window integer not null default 0,
  window_started_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  confirmed_at timestamptz,
  unsubscribed_at timestamptz
);
comment on table public.newsletter_subscribers is
  'Newsletter addresses: pending until the mailed link confirms them, subscribed, or unsubscribed (one click). Readable by notifications managers only.';
comment on column public.newsletter_subscribers.confirm_token is
  'The latest confirmation link''s token, kept after use so a second use is told apart from an unknown link.';
comment on column public.newsletter_subscribers.requests_in_window is
  'Subscribe requests for this address since window_started_at (an hour); the fourth in the hour is refused.';

alter table public.newsletter_subscribers enable row level security;
grant select on public.newsletter_subscribers to authenticated;
grant all on public.newsletter_subscribers to service_role;
create policy "Notifications managers read newsletter subscribers"
  on public.newsletter_subscribers for select to authenticated
  using ((select private.has_permission('notifications.manage')));

-- Body of public.subscribe_newsletter.
create function private.subscribe_newsletter(email text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  address text := lower(trim(email));
  s public.newsletter_subscribers;
  token uuid := gen_random_uuid();
begin
  if address is null or address !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' or length(address) > 254 then
    raise exception 'not an e-mail address' using errcode = '22023';
  end if;
  insert into public.newsletter_subscribers as n (email) values (address)
  on conflict on constraint newsletter_subscribers_email_unique do nothing;
  select * into s from public.newsletter_subscribers n where n.email = address for update;
  if s.window_started_at < now() - interval '1 hour' then
    s.requests_in_window := 0;
    s.window_started_at := now();
  end if;
  if s.requests_in_window >= 3 then
    -- PT429: PostgREST answers HTTP 429. The time to retry is in the message: a Retry-After
    -- header set with set_config('response.headers', …) would be rolled back with this refusal.
    raise exception 'too many newsletter requests for this address: try again after %',
      to_char((s.window_started_at + interval '1 hour') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      using errcode = 'PT429';
  end if;
  update public.newsletter_subscribers n
     set requests_in_window = s.requests_in_window + 1, window_started_at = s.window_started_at,
         status = case when n.status = 'subscribed' then 'subscribed' else 'pending' end,
         confirm_token = case when n.status = 'subscribed' then n.confirm_token else token end,
         confirm_expires_at = case when n.status = 'subscribed' then n.confirm_expires_at else now() + interval '24 hours' end
   where n.id = s.id;
  if s.status <> 'subscribed' then
    perform private.enqueue_email_to_address(address, 'newsletter.confirm', jsonb_build_object('confirm_token', token),
                                             'newsletter-confirm:' || token, 'newsletter');
  end if;
  -- The same answer whatever the address's state, so it tells nobody who is subscribed.
  return jsonb_build_object('email', address, 'confirmation', 'sent if not already subscribed');
end
$$;
comment on function private.subscribe_newsletter(text) is
  'Body of public.subscribe_newsletter: validates the address, limits requests to 3 an hour per address (PT429), and mails a confirmation link valid 24 hours unless the address is already subscribed.';
revoke execute on function private.subscribe_newsletter(text) from public;
grant execute on function private.subscribe_newsletter(text) to anon, authenticated, service_role;

create function public.subscribe_newsletter(email text) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.subscribe_newsletter(email) $$;
comment on function public.subscribe_newsletter(text) is
  'Subscribe an address to the newsletter (no sign-in needed): a confirmation link is mailed to it (double opt-in). At most 3 requests an hour per address.';
revoke execute on function public.subscribe_newsletter(text) from public;
grant execute on function public.subscribe_newsletter(text) to anon, authenticated, service_role;

-- Body of public.confirm_newsletter.
create function private.confirm_newsletter(token uuid) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  s public.newsletter_subscribers;
begin
  select * into s from public.newsletter_subscribers n where n.confirm_token = token for update;
  if not found then
    raise exception 'confirmation link not found' using errcode = 'PT404';
  end if;
  if s.confirmed_at is not null and s.confirmed_at >= s.confirm_expires_at - interval '24 hours' then
    raise exception 'this confirmation link was already used' using errcode = 'PT409';
  end if;
  if s.confirm_expires_at < now() then
    raise exception 'this confirmation link expired at %: subscribe again',
      to_char(s.confirm_expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') using errcode = 'PT410';
  end if;
  update public.newsletter_subscribers n
     set status = 'subscribed', confirmed_at = now(), unsubscribed_at = null
   where n.id = s.id;
  return jsonb_build_object('status', 'subscribed');
end
$$;
comment on function private.confirm_newsletter(uuid) is
  'Body of public.confirm_newsletter: subscribes the address of a confirmation link; an unknown link is PT404, a used one PT409, an expired one PT410.';
revoke execute on function private.confirm_newsletter(uuid) from public;
grant execute on function private.confirm_newsletter(uuid) to anon, authenticated, service_role;

create function public.confirm_newsletter(token uuid) returns jsonb
language sql
security invoker
set search_path = ''
as $$ select private.confirm_newsletter(token) $$;
comment on function public.confirm_newsletter(uuid) is
  'Confirm a newsletter subscription with the token of the mailed link (no sign-in). Each link works once, for 24 hours.';
revoke execute on function public.confirm_newsletter(uuid) from public;
grant execute on function public.confirm_newsletter(uuid) to anon, authenticated, service_role;
