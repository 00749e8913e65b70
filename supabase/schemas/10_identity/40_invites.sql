-- Invite-only sign-up (000: register with an optional invite code). When the platform
-- setting signup_mode is invite_only, Supabase Auth's before-user-created hook requires a
-- valid invite code in the sign-up metadata and counts its use atomically.

create table public.invite_codes (
  code text primary key constraint invite_codes_code_format check (code ~ '^[A-Za-z0-9_-]{8,64}$'),
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  note text not null default '',
  max_uses integer not null default 1 constraint invite_codes_max_uses_positive check (max_uses between 1 and 100000),
  use_count integer not null default 0,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  constraint invite_codes_use_count_within_limit check (use_count between 0 and max_uses)
);
comment on table public.invite_codes is 'Invite codes for invite-only sign-up; created by invites.manage holders.';
comment on column public.invite_codes.use_count is 'Counted by the before-user-created hook; never client-writable.';
-- Indexed where set: erasing an account clears the user from these rows (on delete set null).
create index invite_codes_created_by_idx on public.invite_codes (created_by) where created_by is not null;

create table public.invite_redemptions (
  id bigint generated always as identity primary key,
  code text not null references public.invite_codes (code) on delete cascade,
  email text,
  redeemed_at timestamptz not null default now()
);
create index invite_redemptions_code_idx on public.invite_redemptions (code);
comment on table public.invite_redemptions is 'Each use of an invite code, by e-mail (written by the sign-up hook).';
comment on column public.invite_redemptions.email is 'Who redeemed the code; null once they deleted their account (the use still counts).';

alter table public.invite_codes enable row level security;
alter table public.invite_redemptions enable row level security;
grant select, delete on public.invite_codes to authenticated;
grant insert (code, note, max_uses, expires_at), update (note, max_uses, expires_at, revoked_at) on public.invite_codes to authenticated;
grant select on public.invite_redemptions to authenticated;
grant all on public.invite_codes, public.invite_redemptions to service_role;

create policy "Invite managers read invites" on public.invite_codes for select to authenticated
  using ((select private.has_permission('invites.manage')));
create policy "Invite managers create invites" on public.invite_codes for insert to authenticated
  with check ((select private.has_permission('invites.manage')));
create policy "Invite managers change invites" on public.invite_codes for update to authenticated
  using ((select private.has_permission('invites.manage'))) with check ((select private.has_permission('invites.manage')));
create policy "Invite managers delete invites" on public.invite_codes for delete to authenticated
  using ((select private.has_permission('invites.manage')));
create policy "Invite managers read redemptions" on public.invite_redemptions for select to authenticated
  using ((select private.has_permission('invites.manage')));

create trigger invite_codes_audit after insert or update or delete on public.invite_codes
  for each row execute function private.audit_row_change('code');

-- ---------------------------------------------------------------------------------------
-- The hook. Supabase Auth calls it with { metadata, user } before inserting the user; an
-- { error } answer refuses the sign-up with that status and message.

create function public.before_user_created_hook(event jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  mode text;
  invite_code text := nullif(trim(event -> 'user' -> 'user_metadata' ->> 'invite_code'), '');
  email text := event -> 'user' ->> 'email';
  invite public.invite_codes;
begin
  mode := private.signup_mode();
  if mode = 'open' and invite_code is null then
    return '{}'::jsonb;
  end if;
  if invite_code is null then
    return jsonb_build_object('error', jsonb_build_object(
      'http_code', 403, 'message', 'Sign-up is by invitation only: an invite code is required.'));
  end if;

  -- One statement checks and counts, so concurrent sign-ups cannot overspend a code.
  update public.invite_codes
     set use_count = use_count + 1
   where code = invite_code
     and revoked_at is null
     and (expires_at is null or expires_at > now())
     and use_count < max_uses
  returning * into invite;

  if not found then
    select * into invite from public.invite_codes where code = invite_code;
    return jsonb_build_object('error', jsonb_build_object('http_code', 403, 'message',
      case
        when invite.code is null then 'The invite code is not valid.'
        when invite.revoked_at is not null then 'The invite code has been revoked.'
        when invite.expires_at <= now() then 'The invite code has expired.'
        else 'The invite code has been used up.'
      end));
  end if;

  insert into public.invite_redemptions (code, email) values (invite.code, coalesce(email, ''));
  return '{}'::jsonb;
end
$$;
comment on function public.before_user_created_hook(jsonb) is
  'Supabase Auth before-user-created hook: enforces invite-only sign-up and counts invite uses atomically.';

grant execute on function public.before_user_created_hook(jsonb) to supabase_auth_admin;
revoke execute on function public.before_user_created_hook(jsonb) from authenticated, anon, public;
