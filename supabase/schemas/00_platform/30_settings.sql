-- Platform settings: one row per key in public.platform_settings, changed by holders of
-- settings.manage and read by everyone. Every key is declared here, with its rule as a
-- check constraint; its default is the row the domain's reference-data migration inserts,
-- and nowhere else: code reads a setting through private.setting(), which refuses a key that
-- has no row instead of falling back to a second copy of the default.
--
--   signup_mode          "open" | "invite_only"        identity: who may sign up
--   commission_rate_bps  integer 0..5000               marketplace: snapshotted on new orders
--   auto_release_days    integer 1..90                 payments: days before automatic release
--   message_edit_window_minutes  integer 1..1440       messaging: how long a sender may edit a message
--   checkout_reservation_minutes integer 5..1440       commerce: how long a placed checkout holds its stock unpaid
--   product_review_edit_days     integer 1..365        commerce: how long an author may edit a product review

create table public.platform_settings (
  key text primary key constraint platform_settings_key_format check (key ~ '^[a-z_]+$'),
  value jsonb not null,
  updated_at timestamptz not null default now(),
  constraint platform_settings_signup_mode
    check (key <> 'signup_mode' or value in ('"open"', '"invite_only"')),
  constraint platform_settings_commission_rate
    check (key <> 'commission_rate_bps' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 0 and 5000
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric))),
  constraint platform_settings_auto_release_days
    check (key <> 'auto_release_days' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 1 and 90
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric))),
  constraint platform_settings_message_edit_window
    check (key <> 'message_edit_window_minutes' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 1 and 1440
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric))),
  constraint platform_settings_checkout_reservation_minutes
    check (key <> 'checkout_reservation_minutes' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 5 and 1440
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric))),
  constraint platform_settings_product_review_edit_days
    check (key <> 'product_review_edit_days' or (jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric between 1 and 365
           and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric)))
);
comment on table public.platform_settings is 'Platform-wide switches, changed by holders of settings.manage.';
comment on constraint platform_settings_signup_mode on public.platform_settings is
  'signup_mode: "open", or "invite_only" (the before-user-created hook then requires an invite code).';
comment on constraint platform_settings_commission_rate on public.platform_settings is
  'commission_rate_bps: the platform''s share of an order in basis points (1000 = 10%), 0 to 50%.';
comment on constraint platform_settings_auto_release_days on public.platform_settings is
  'auto_release_days: days after delivery without approval or dispute before escrow is released automatically (1 to 90).';
comment on constraint platform_settings_message_edit_window on public.platform_settings is
  'message_edit_window_minutes: how many minutes after posting a sender may still edit a message (1 to 1440).';
comment on constraint platform_settings_checkout_reservation_minutes on public.platform_settings is
  'checkout_reservation_minutes: how long a placed, unpaid checkout holds its stock reservations and coupon before the commerce-expire-checkouts job releases them (5 to 1440).';
comment on constraint platform_settings_product_review_edit_days on public.platform_settings is
  'product_review_edit_days: how many days after writing a product review its author may still change its rating and text (1 to 365).';

create trigger platform_settings_touch_updated_at before update on public.platform_settings
  for each row execute function private.touch_updated_at();
create trigger platform_settings_audit after insert or update or delete on public.platform_settings
  for each row execute function private.audit_row_change('key');

alter table public.platform_settings enable row level security;
grant select on public.platform_settings to anon, authenticated;
grant update (value) on public.platform_settings to authenticated;
grant all on public.platform_settings to service_role;

create policy "Anyone reads platform settings" on public.platform_settings for select to anon, authenticated using (true);
create policy "Settings managers change settings"
  on public.platform_settings for update to authenticated
  using ((select private.has_permission('settings.manage')))
  with check ((select private.has_permission('settings.manage')));

-- ---------------------------------------------------------------------------------------
-- The one accessor, and typed readers for the settings code uses.

create function private.setting(setting_key text) returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  setting_value jsonb;
begin
  select s.value into setting_value from public.platform_settings s where s.key = setting_key;
  if not found then
    raise exception 'platform setting % is not set', setting_key
      using errcode = '55000', hint = 'Its reference-data migration inserts it; restore the row in public.platform_settings.';
  end if;
  return setting_value;
end
$$;
comment on function private.setting(text) is
  'The value of a platform setting; raises 55000 when the row is missing (defaults live only in the reference data).';

create function private.commission_rate_bps() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('commission_rate_bps') #>> '{}')::integer
$$;
comment on function private.commission_rate_bps() is 'The commission rate in force, in basis points; snapshotted onto each new order.';

create function private.auto_release_days() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('auto_release_days') #>> '{}')::integer
$$;
comment on function private.auto_release_days() is
  'Days after delivery without approval or dispute before an order completes and its escrow is released.';

create function private.signup_mode() returns text
language sql
stable
security definer
set search_path = ''
as $$
  select private.setting('signup_mode') #>> '{}'
$$;
comment on function private.signup_mode() is 'open or invite_only: whether sign-up needs an invite code.';

create function private.message_edit_window_minutes() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('message_edit_window_minutes') #>> '{}')::integer
$$;
comment on function private.message_edit_window_minutes() is 'Minutes after posting during which a sender may edit a message (public.edit_message).';

create function private.checkout_reservation_minutes() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('checkout_reservation_minutes') #>> '{}')::integer
$$;
comment on function private.checkout_reservation_minutes() is
  'Minutes a placed checkout holds its stock and coupon unpaid (commerce: private.create_checkout sets expires_at from it).';

create function private.product_review_edit_days() returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select (private.setting('product_review_edit_days') #>> '{}')::integer
$$;
comment on function private.product_review_edit_days() is
  'Days after writing a product review during which its author may edit it (commerce: product_reviews_check_edit).';
