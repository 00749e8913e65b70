-- Who may sit in a message thread about a deal (000 "Messaging (Designer ↔ Tailor)"): a thread
-- about a project admits its owner and the tailors who bid on it, and must include the owner;
-- a thread about an order admits its buyer and its seller. Messaging (a lower domain) does not
-- know projects or orders, so the rule is this trigger on its thread_participants, declared
-- beside the deals; it holds for public.create_thread and any other way a seat is made. It
-- runs after each row, once the statement's rows are all in, so the owner may be seated by
-- the same statement as the bidders.

create function private.check_deal_thread_seat() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  thread public.threads;
  project public.projects;
  deal public.orders;
begin
  select t.* into thread from public.threads t where t.id = new.thread_id;
  if thread.project_id is not null then
    select p.* into project from public.projects p where p.id = thread.project_id;
    if not found then
      raise exception 'project % not found', thread.project_id using errcode = 'PT404';
    end if;
    if new.user_id <> project.owner_id
       and not exists (select 1 from public.bids b where b.project_id = project.id and b.tailor_id = new.user_id) then
      raise exception 'user % may not join a thread about project %: only its owner and the tailors who bid on it may', new.user_id, project.id
        using errcode = '42501';
    end if;
    if not exists (select 1 from public.thread_participants tp where tp.thread_id = thread.id and tp.user_id = project.owner_id) then
      raise exception 'a thread about project % includes its owner', project.id using errcode = '22023';
    end if;
  end if;
  if thread.order_id is not null then
    select o.* into deal from public.orders o where o.id = thread.order_id;
    if not found then
      raise exception 'order % not found', thread.order_id using errcode = 'PT404';
    end if;
    if new.user_id is distinct from deal.buyer_id and new.user_id is distinct from deal.seller_id then
      raise exception 'user % may not join a thread about order %: only its buyer and its seller may', new.user_id, deal.id
        using errcode = '42501';
    end if;
  end if;
  return null;
end
$$;
comment on function private.check_deal_thread_seat() is
  'Refuses a seat in a thread about a project to anyone but its owner and its bidders (and a thread without the owner), and in a thread about an order to anyone but its two parties.';

create trigger thread_participants_deal_parties after insert on public.thread_participants
  for each row execute function private.check_deal_thread_seat();

-- A thread about a project or an order that does not exist: PT404 (as for one the caller
-- cannot see) rather than the foreign key's 23503.
create function private.check_deal_thread_subject() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.project_id is not null and not exists (select 1 from public.projects p where p.id = new.project_id) then
    raise exception 'project % not found', new.project_id using errcode = 'PT404';
  end if;
  if new.order_id is not null and not exists (select 1 from public.orders o where o.id = new.order_id) then
    raise exception 'order % not found', new.order_id using errcode = 'PT404';
  end if;
  return new;
end
$$;
comment on function private.check_deal_thread_subject() is
  'Refuses a thread about a project or an order that does not exist with PT404, before the foreign keys answer 23503.';

create trigger threads_deal_exists before insert or update of project_id, order_id on public.threads
  for each row execute function private.check_deal_thread_subject();
