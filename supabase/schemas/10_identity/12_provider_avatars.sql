-- Identity: the profile picture of a user who signs in with an OAuth provider (000: "facebook
-- profile picture still not showing"). Supabase Auth writes the provider's profile into
-- auth.identities.identity_data when it links the identity (internal/api/provider/*.go,
-- Claims): Facebook and Google put the picture's URL in both avatar_url and picture, GitHub
-- and Kakao in avatar_url only. The first time an identity with a picture is linked, the
-- profile takes it as avatar_url, unless the user already has an avatar of their own
-- (avatar_path, an upload) or one from an earlier identity (avatar_url): a picture the user
-- chose or already sees is never replaced.

create function private.take_provider_avatar() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  picture text := coalesce(nullif(new.identity_data ->> 'avatar_url', ''), nullif(new.identity_data ->> 'picture', ''));
begin
  if new.provider in ('email', 'phone', 'anonymous') or picture is null
     or picture !~ '^https?://[^[:space:]]+$' or char_length(picture) > 2048 then
    return null;
  end if;
  update public.profiles p
     set avatar_url = picture
   where p.id = new.user_id and p.avatar_path is null and p.avatar_url is null;
  return null;
end
$$;
comment on function private.take_provider_avatar() is
  'Trigger on auth.identities: a new OAuth identity''s picture (identity_data avatar_url, else picture) becomes the profile''s avatar_url when the profile has no avatar yet. A URL that is not http(s) or longer than 2048 is ignored, never failing the sign-in.';

create trigger on_auth_identity_created_take_avatar
  after insert on auth.identities
  for each row execute function private.take_provider_avatar();
