-- Designs, continued (000 POST /designs/:id/share and /duplicate): share links and copies.
--
-- A share link is a bearer token: 32 random bytes, base64url (43 characters). The database
-- keeps only its sha256 and the first 8 characters (so the owner can tell links apart); the
-- token itself is answered once, by create_design_share_link. Whoever holds an unrevoked,
-- unexpired token reads that one design through get_shared_design (anon included) and may
-- export it (the design-export function checks the token through the same RPC).
--
-- Listing one's own designs, newest first, with a cursor (designs_owner_created_idx):
--   from('designs').select().eq('owner_id', uid)
--     .order('created_at', { ascending: false }).order('id', { ascending: false }).limit(20)
--   next page: .or(`created_at.lt.${last.created_at},and(created_at.eq.${last.created_at},id.lt.${last.id})`)

create table public.design_share_links (
  id uuid primary key default gen_random_uuid(),
  design_id uuid not null references public.designs (id) on delete cascade,
  owner_id uuid not null references public.profiles (id) on delete cascade,
  token_hash bytea not null constraint design_share_links_token_hash_unique unique
    constraint design_share_links_token_hash_sha256 check (octet_length(token_hash) = 32),
  token_prefix text not null constraint design_share_links_token_prefix_format check (token_prefix ~ '^[A-Za-z0-9_-]{8}$'),
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  constraint design_share_links_expiry_after_creation check (expires_at is null or expires_at > created_at)
);
comment on table public.design_share_links is
  'Share links to a design (000 POST /designs/:id/share). Rows are written only by create_design_share_link and revoke_design_share_link.';
comment on column public.design_share_links.owner_id is 'The design''s owner when the link was made; who may list and revoke it.';
comment on column public.design_share_links.token_hash is 'sha256 of the token; the token itself is never stored, and the hash opens nothing.';
comment on column public.design_share_links.token_prefix is 'The first 8 characters of the token, to recognise a link in a list.';
comment on column public.design_share_links.expires_at is 'After this the link answers "share link expired"; null: never expires.';

create index design_share_links_owner_idx on public.design_share_links (owner_id, created_at desc);
create index design_share_links_design_idx on public.design_share_links (design_id);

alter table public.design_share_links enable row level security;
-- No insert, update or delete grant: links are made and revoked through the functions below.
-- The owner may read the hash (select('*') needs every column); it opens nothing by itself.
grant select on public.design_share_links to authenticated;
grant all on public.design_share_links to service_role;

create policy "Owners read their share links" on public.design_share_links for select to authenticated
  using (owner_id = (select auth.uid()));

-- ---------------------------------------------------------------------------------------
-- Making, revoking and using links.

create function private.share_token_hash(token text) returns bytea
language sql
immutable
set search_path = ''
as $$
  select extensions.digest(convert_to(token, 'UTF8'), 'sha256')
$$;
comment on function private.share_token_hash(text) is 'How a share token is stored: its sha256.';

create function private.create_design_share_link(design_id uuid, expires_at timestamptz default null)
returns table (id uuid, token text, token_prefix text, created_at timestamptz)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  design_owner uuid;
  new_token text;
  link public.design_share_links;
begin
  select d.owner_id into design_owner from public.designs d where d.id = create_design_share_link.design_id;
  -- A design the caller does not own is "not found" to them, whether or not it exists.
  if design_owner is null or design_owner is distinct from auth.uid() then
    raise exception 'design % not found', create_design_share_link.design_id using errcode = 'PT404';
  end if;
  if create_design_share_link.expires_at is not null and create_design_share_link.expires_at <= now() then
    raise exception 'expires_at must be in the future' using errcode = '22023';
  end if;
  if (select count(*) from public.design_share_links l
      where l.design_id = create_design_share_link.design_id and l.revoked_at is null) >= 50 then
    raise exception 'a design may have at most 50 active share links; revoke some first' using errcode = 'PT409';
  end if;
  new_token := rtrim(translate(encode(extensions.gen_random_bytes(32), 'base64'), '+/', '-_'), '=');
  insert into public.design_share_links (design_id, owner_id, token_hash, token_prefix, expires_at)
  values (create_design_share_link.design_id, design_owner, private.share_token_hash(new_token),
          left(new_token, 8), create_design_share_link.expires_at)
  returning * into link;
  return query select link.id, new_token, link.token_prefix, link.created_at;
end
$$;
comment on function private.create_design_share_link(uuid, timestamptz) is
  'The body of the client RPC public.create_design_share_link: security definer, in private so the API does not expose it.';
grant execute on function private.create_design_share_link(uuid, timestamptz) to authenticated;

create function public.create_design_share_link(design_id uuid, expires_at timestamptz default null)
returns table (id uuid, token text, token_prefix text, created_at timestamptz)
language sql
volatile
security invoker
set search_path = ''
as $$
  select * from private.create_design_share_link(design_id, expires_at)
$$;
comment on function public.create_design_share_link(uuid, timestamptz) is
  'Makes a share link to a design the caller owns; the only time the token is returned.';
grant execute on function public.create_design_share_link(uuid, timestamptz) to authenticated;

create function private.revoke_design_share_link(link_id uuid) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  update public.design_share_links l set revoked_at = coalesce(l.revoked_at, now())
   where l.id = link_id and l.owner_id = auth.uid();
  if not found then
    raise exception 'share link % not found', link_id using errcode = 'PT404';
  end if;
end
$$;
comment on function private.revoke_design_share_link(uuid) is
  'The body of the client RPC public.revoke_design_share_link: security definer, in private so the API does not expose it.';
grant execute on function private.revoke_design_share_link(uuid) to authenticated;

create function public.revoke_design_share_link(link_id uuid) returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.revoke_design_share_link(link_id)
$$;
comment on function public.revoke_design_share_link(uuid) is
  'Revokes one of the caller''s share links for good (revoking twice is harmless).';
grant execute on function public.revoke_design_share_link(uuid) to authenticated;

create function private.get_shared_design(token text) returns public.designs
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  link public.design_share_links;
  design public.designs;
begin
  select * into link from public.design_share_links l
   where l.token_hash = private.share_token_hash(coalesce(get_shared_design.token, ''));
  if not found or link.revoked_at is not null then
    raise exception 'share link not found or revoked' using errcode = 'PT404';
  end if;
  if link.expires_at is not null and link.expires_at <= now() then
    raise exception 'share link expired' using errcode = 'PT410',
      detail = format('The link expired at %s.', link.expires_at);
  end if;
  select * into design from public.designs d where d.id = link.design_id;
  return design;
end
$$;
comment on function private.get_shared_design(text) is
  'The body of the client RPC public.get_shared_design: security definer, in private so the API does not expose it.';
grant execute on function private.get_shared_design(text) to anon, authenticated, service_role;

create function public.get_shared_design(token text) returns public.designs
language sql
stable
security invoker
set search_path = ''
as $$
  select private.get_shared_design(token)
$$;
comment on function public.get_shared_design(text) is
  'The one design a share token opens. Unknown or revoked token: PT404 (HTTP 404); expired: PT410 "share link expired" (HTTP 410).';
grant execute on function public.get_shared_design(text) to anon, authenticated, service_role;

-- Copies a design the caller may read as its owner or because it is public (not through a
-- moderator's reach into private designs) into a new private design of theirs.
create function private.duplicate_design(design_id uuid) returns public.designs
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  source public.designs;
  copy public.designs;
  caller uuid := auth.uid();
begin
  if caller is null then
    raise exception 'permission denied: sign in to duplicate a design' using errcode = '42501';
  end if;
  select * into source from public.designs d
   where d.id = duplicate_design.design_id and (d.owner_id = caller or d.visibility = 'public');
  if not found then
    raise exception 'design % not found', duplicate_design.design_id using errcode = 'PT404';
  end if;
  insert into public.designs (owner_id, title, description, tags, visibility, pattern, file_paths, duplicated_from)
  values (caller, left(trim(source.title), 113) || ' (copy)', source.description, source.tags, 'private', source.pattern,
          -- Linked files live in the source owner's folder: only the owner's own copy keeps them.
          case when source.owner_id = caller then source.file_paths else '{}' end,
          source.id)
  returning * into copy;
  return copy;
end
$$;
comment on function private.duplicate_design(uuid) is
  'The body of the client RPC public.duplicate_design: security definer, in private so the API does not expose it.';
grant execute on function private.duplicate_design(uuid) to authenticated;

create function public.duplicate_design(design_id uuid) returns public.designs
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.duplicate_design(design_id)
$$;
comment on function public.duplicate_design(uuid) is
  'Copies the caller''s own design, or a public one, into a new private design of the caller''s, titled "... (copy)".';
grant execute on function public.duplicate_design(uuid) to authenticated;
