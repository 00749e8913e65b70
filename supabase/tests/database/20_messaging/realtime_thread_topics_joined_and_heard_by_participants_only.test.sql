-- The live side's rules in the database, checked the way Supabase Realtime asks them
-- (docs: Realtime Authorization): for a join it inserts a probe row per extension into
-- realtime.messages as the server, then, with the caller's role and claims and realtime.topic
-- set, selects it back (the SELECT policies decide); for a send or a presence track it inserts
-- as the caller (the INSERT policies decide). A thread's topic, thread:<id>, is joined and
-- written (broadcast and presence) by its participants who have not left; a user's topic,
-- user:<id>, is heard by that user alone; strangers, admins who are not in the thread and
-- anon get neither. Then what the database broadcasts, after each change, on which topic.
begin;
select plan(32);

select tests.create_user('rt-designer@example.com');
select tests.create_user('rt-tailor@example.com');
select tests.create_user('rt-stranger@example.com');
select tests.create_user('rt-admin@example.com');
select tests.grant_role('rt-admin@example.com', 'admin');

create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('rt-' || who || '@example.com') $$;
grant execute on function pg_temp.uid(text) to authenticated, anon;

select tests.act_as('rt-designer@example.com');
create temp table fixture (name text primary key, id uuid not null);
grant select, insert on fixture to authenticated, anon;
insert into fixture select 'thread', (public.create_thread(array[pg_temp.uid('tailor')], 'Live')).id;
select tests.act_as('postgres');
create function pg_temp.topic() returns text language sql as $$ select 'thread:' || (select id from pg_temp.fixture where name = 'thread') $$;
grant execute on function pg_temp.topic() to authenticated, anon;

-- Realtime's read check: may who read (join) topic for this extension?
create function pg_temp.can_read(who text, topic text, extension text) returns boolean language plpgsql as $$
declare
  probe uuid := gen_random_uuid();
  seen boolean;
begin
  perform tests.clear_authentication();
  insert into realtime.messages (id, topic, extension) values (probe, topic, extension);
  perform tests.act_as(who);
  perform set_config('realtime.topic', topic, true);
  select exists (select 1 from realtime.messages m where m.id = probe) into seen;
  perform tests.clear_authentication();
  perform set_config('realtime.topic', '', true);
  delete from realtime.messages m where m.id = probe;
  return seen;
end
$$;
-- Realtime's write check: may who send (broadcast) or track (presence) on topic?
create function pg_temp.can_write(who text, topic text, extension text) returns boolean language plpgsql as $$
declare
  allowed boolean;
begin
  begin
    perform tests.act_as(who);
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (topic, extension, event, payload, private)
    values (topic, extension, 'typing:indicator', '{"is_typing": true}', true);
    raise exception using errcode = 'TOK00';
  exception
    when sqlstate 'TOK00' then allowed := true;
    when insufficient_privilege then allowed := false;
  end;
  perform tests.clear_authentication();
  perform set_config('realtime.topic', '', true);
  return allowed;
end
$$;

-- joining a thread's topic -----------------------------------------------------------------
select ok(pg_temp.can_read('rt-designer@example.com', pg_temp.topic(), 'broadcast'), 'a participant joins the thread''s topic (broadcast)');
select ok(pg_temp.can_read('rt-tailor@example.com', pg_temp.topic(), 'presence'), 'and sees presence on it');
select ok(not pg_temp.can_read('rt-stranger@example.com', pg_temp.topic(), 'broadcast'), 'a stranger does not join it');
select ok(not pg_temp.can_read('rt-stranger@example.com', pg_temp.topic(), 'presence'), 'nor sees who is online in it');
select ok(not pg_temp.can_read('rt-admin@example.com', pg_temp.topic(), 'broadcast'), 'an admin who is not in it does not join it');
select ok(not pg_temp.can_read('anon', pg_temp.topic(), 'broadcast'), 'anon does not join it');
select ok(not pg_temp.can_read('rt-designer@example.com', upper(pg_temp.topic()), 'broadcast'), 'a topic spelled otherwise is another topic');
select ok(not pg_temp.can_read('rt-designer@example.com', 'thread:not-a-uuid', 'broadcast'), 'a malformed thread topic is denied, not an error');
select ok(not pg_temp.can_read('rt-designer@example.com', 'room-1', 'broadcast'), 'messaging opens no other topic');
select ok(not pg_temp.can_read('rt-designer@example.com', pg_temp.topic(), 'postgres_changes'), 'only broadcast and presence');

-- sending typing and presence --------------------------------------------------------------
select ok(pg_temp.can_write('rt-designer@example.com', pg_temp.topic(), 'broadcast'), 'a participant sends typing indicators on the thread''s topic');
select ok(pg_temp.can_write('rt-tailor@example.com', pg_temp.topic(), 'presence'), 'and tracks presence');
select ok(not pg_temp.can_write('rt-stranger@example.com', pg_temp.topic(), 'broadcast'), 'a stranger sends nothing there');
select ok(not pg_temp.can_write('rt-stranger@example.com', pg_temp.topic(), 'presence'), 'nor tracks presence');
select ok(not pg_temp.can_write('rt-admin@example.com', pg_temp.topic(), 'broadcast'), 'nor does an admin who is not in it');
select throws_ok(
  $$ select set_config('realtime.topic', pg_temp.topic(), true), tests.act_as('anon');
     insert into realtime.messages (topic, extension, event, payload, private) values (pg_temp.topic(), 'broadcast', 'typing:indicator', '{}', true) $$,
  '42501', 'new row violates row-level security policy for table "messages"', 'nor anon'
);
select tests.clear_authentication();

-- user topics ------------------------------------------------------------------------------
select ok(pg_temp.can_read('rt-tailor@example.com', 'user:' || pg_temp.uid('tailor'), 'broadcast'), 'a user hears their own user topic');
select ok(not pg_temp.can_read('rt-designer@example.com', 'user:' || pg_temp.uid('tailor'), 'broadcast'), 'and nobody else''s');
select ok(not pg_temp.can_write('rt-tailor@example.com', 'user:' || pg_temp.uid('tailor'), 'broadcast'), 'only the database writes to it');

-- leaving closes the topic -----------------------------------------------------------------
select tests.act_as('rt-tailor@example.com');
select public.leave_thread((select id from fixture where name = 'thread'));
select tests.clear_authentication();
select ok(not pg_temp.can_read('rt-tailor@example.com', pg_temp.topic(), 'broadcast'), 'a participant who left no longer joins the thread''s topic');
select ok(not pg_temp.can_write('rt-tailor@example.com', pg_temp.topic(), 'presence'), 'nor tracks presence on it');
select ok(pg_temp.can_read('rt-designer@example.com', pg_temp.topic(), 'broadcast'), 'the others still do');

-- what the database broadcasts -------------------------------------------------------------
select tests.clear_authentication();
delete from realtime.messages;
update public.thread_participants set left_at = null where user_id = pg_temp.uid('tailor');
select tests.act_as('rt-designer@example.com');
insert into fixture select 'message', (public.post_message((select id from fixture where name = 'thread'), 'Hello live')).id;
select tests.clear_authentication();
select results_eq(
  $$ select topic, event, private, payload ->> 'content', (payload ->> 'message_id')::uuid, (payload ->> 'sender_id')::uuid
       from realtime.messages where topic like 'thread:%' $$,
  $$ values (pg_temp.topic(), 'message:new', true, 'Hello live', (select id from fixture where name = 'message'), pg_temp.uid('designer')) $$,
  'a new message is broadcast privately on its thread''s topic (message:new)'
);
select results_eq(
  $$ select topic, event, (payload ->> 'thread_id')::uuid, (payload ->> 'message_count')::int from realtime.messages where topic like 'user:%' $$,
  $$ values ('user:' || pg_temp.uid('tailor'), 'thread:updated', (select id from fixture where name = 'thread'), 1) $$,
  'and thread:updated on the other participant''s user topic'
);
delete from realtime.messages;
select tests.act_as('rt-designer@example.com');
select public.edit_message((select id from fixture where name = 'message'), 'Hello, edited');
select tests.clear_authentication();
select results_eq(
  $$ select topic, event, payload ->> 'new_content' from realtime.messages $$,
  $$ values (pg_temp.topic(), 'message:edited', 'Hello, edited') $$,
  'an edit is broadcast (message:edited)'
);
delete from realtime.messages;
select tests.act_as('rt-designer@example.com');
select public.delete_message((select id from fixture where name = 'message'));
select tests.clear_authentication();
select results_eq(
  $$ select topic, event, (payload ->> 'message_id')::uuid, payload ? 'content' from realtime.messages $$,
  $$ values (pg_temp.topic(), 'message:deleted', (select id from fixture where name = 'message'), false) $$,
  'a deletion is broadcast (message:deleted), without the content'
);
delete from realtime.messages;
select tests.act_as('rt-designer@example.com');
insert into fixture select 'second', (public.post_message((select id from fixture where name = 'thread'), 'Again')).id;
select tests.act_as('rt-tailor@example.com');
select public.mark_thread_read((select id from fixture where name = 'thread'), (select id from fixture where name = 'second'));
select tests.clear_authentication();
select results_eq(
  $$ select event, (payload ->> 'user_id')::uuid, (payload ->> 'message_id')::uuid from realtime.messages where event = 'receipt:read' $$,
  $$ values ('receipt:read', pg_temp.uid('tailor'), (select id from fixture where name = 'second')) $$,
  'a read receipt is broadcast on the thread''s topic (receipt:read)'
);
delete from realtime.messages;
select tests.act_as('rt-tailor@example.com');
select public.mark_thread_read((select id from fixture where name = 'thread'), (select id from fixture where name = 'message'));
select tests.clear_authentication();
select is_empty($$ select 1 from realtime.messages $$, 'a receipt that does not move broadcasts nothing');
select tests.act_as('rt-tailor@example.com');
select public.leave_thread((select id from fixture where name = 'thread'));
select tests.clear_authentication();
select results_eq(
  $$ select topic, event, (payload ->> 'user_id')::uuid from realtime.messages $$,
  $$ values (pg_temp.topic(), 'participant:left', pg_temp.uid('tailor')) $$,
  'leaving is broadcast (participant:left)'
);
delete from realtime.messages;
select tests.act_as('rt-stranger@example.com');
insert into fixture select 'new thread', (public.create_thread(array[pg_temp.uid('designer')], 'Hi')).id;
select tests.clear_authentication();
select set_eq(
  $$ select topic, event, (payload ->> 'thread_id')::uuid from realtime.messages $$,
  $$ values ('user:' || pg_temp.uid('designer'), 'thread:created', (select id from fixture where name = 'new thread')),
            ('user:' || pg_temp.uid('stranger'), 'thread:created', (select id from fixture where name = 'new thread')) $$,
  'a new thread is announced on each participant''s user topic (thread:created)'
);
delete from realtime.messages;
select tests.act_as('rt-designer@example.com');
select throws_ok(
  format($$ select public.post_message(%L, '') $$, (select id from fixture where name = 'new thread')),
  '22023', 'a message needs text or an attachment', 'a refused post'
);
select tests.clear_authentication();
select is_empty($$ select 1 from realtime.messages $$, 'broadcasts nothing');

select * from finish();
rollback;
