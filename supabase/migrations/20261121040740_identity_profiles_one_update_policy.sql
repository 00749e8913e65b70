-- One UPDATE policy on profiles, as on every other table: the owner's (20261121000100) and
-- the user managers' (20261121010200) become one, so a reader sees in one place who may
-- update a profile. The same rows pass as before (permissive policies are or-ed); which
-- columns, and account_status in particular, stay with the column grants and
-- private.guard_account_status.

drop policy "Users update their own profile" on public.profiles;
drop policy "User managers update any profile" on public.profiles;

create policy "Users update their own profile, user managers any"
  on public.profiles for update to authenticated
  using (id = (select auth.uid()) or (select private.has_permission('users.manage')))
  with check (id = (select auth.uid()) or (select private.has_permission('users.manage')));
