-- Messages: participants post text (up to 4000 characters) and their own attachments into a
-- thread they have not left; the sender edits within the edit window and deletes softly;
-- participants read a thread's messages newest first by seq, a participant who left only those
-- up to their leaving; every post records message.created for the others who have not muted
-- it; read receipts move forward only. Each refusal changes nothing.
begin;
select plan(48);

select tests.create_user('ms-designer@example.com');
select tests.create_user('ms-tailor@example.com');
select tests.create_user('ms-third@example.com');
select tests.create_user('ms-stranger@example.com');

create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('ms-' || who || '@example.com') $$;
grant execute on function pg_temp.uid(text) to authenticated, anon;

select tests.act_as('ms-designer@example.com');
create temp table fixture (name text primary key, id uuid not null);
grant select, insert on fixture to authenticated;
insert into fixture select 'thread', (public.create_thread(array[pg_temp.uid('tailor'), pg_temp.uid('third')], 'Suit')).id;
insert into fixture select 'other thread', (public.create_thread(array[pg_temp.uid('stranger')], 'Elsewhere')).id;
create function pg_temp.f(name text) returns uuid language sql as $$ select id from pg_temp.fixture where fixture.name = f.name $$;
grant execute on function pg_temp.f(text) to authenticated, anon;

-- posting ----------------------------------------------------------------------------------
insert into fixture select 'first', (public.post_message(pg_temp.f('thread'), 'Hello, can you make a suit?')).id;
select is((select body from public.messages where id = pg_temp.f('first')), 'Hello, can you make a suit?', 'a participant posts');
select is((select sender_id from public.messages where id = pg_temp.f('first')), pg_temp.uid('designer'), 'as its sender');
select tests.act_as('postgres');
select is((select last_message_at from public.threads where id = pg_temp.f('thread')),
          (select created_at from public.messages where id = pg_temp.f('first')), 'the thread''s last_message_at follows');
select results_eq(
  $$ select event_type, subject_id, actor_id, (select array_agg(r order by r) from unnest(recipients) r)
       from private.domain_events where subject_type = 'message' and subject_id = pg_temp.f('first') $$,
  $$ values ('message.created', pg_temp.f('first'), pg_temp.uid('designer'),
             (select array_agg(r order by r) from unnest(array[pg_temp.uid('tailor'), pg_temp.uid('third')]) r)) $$,
  'message.created names the other participants as recipients, never the sender'
);

select tests.act_as('ms-tailor@example.com');
update public.thread_participants set muted = true where thread_id = pg_temp.f('thread') and user_id = auth.uid();
select tests.act_as('ms-third@example.com');
insert into fixture select 'second', (public.post_message(pg_temp.f('thread'), 'I can.')).id;
select tests.act_as('postgres');
select is((select recipients from private.domain_events where subject_id = pg_temp.f('second')), array[pg_temp.uid('designer')],
  'a participant who muted the thread is left out of its events');

-- Counted within this suite's threads: other sessions may commit rows meanwhile.
create function pg_temp.suite_counts() returns table (messages bigint, events bigint) language sql as $$
  select (select count(*) from public.messages m where m.thread_id in (select id from pg_temp.fixture)),
         (select count(*) from private.domain_events e where e.event_type = 'message.created'
             and e.payload ->> 'thread_id' in (select id::text from pg_temp.fixture))
$$;
create temp table counts as select * from pg_temp.suite_counts();
grant select on counts to authenticated, anon;

select tests.act_as('ms-stranger@example.com');
select throws_ok(
  format($$ select public.post_message(%L, 'Let me in') $$, pg_temp.f('thread')),
  'PT404', format('thread %s not found', pg_temp.f('thread')), 'a stranger cannot post into a thread they are not in'
);
select tests.act_as('ms-designer@example.com');
select throws_ok(
  format($$ select public.post_message(%L, '') $$, pg_temp.f('thread')),
  '22023', 'a message needs text or an attachment', 'an empty message is refused'
);
select throws_ok(
  format($$ select public.post_message(%L, E' \n\t ') $$, pg_temp.f('thread')),
  '22023', 'a message needs text or an attachment', 'a blank message is refused'
);
select throws_ok(
  format($$ select public.post_message(%L, null) $$, pg_temp.f('thread')),
  '22023', 'a message needs text or an attachment', 'a message without a body is refused'
);
select throws_ok(
  format($$ select public.post_message(%L, repeat('x', 4001)) $$, pg_temp.f('thread')),
  '22023', 'a message is at most 4000 characters, this one has 4001', 'an overlong message is refused'
);
select lives_ok(
  format($$ select public.post_message(%L, repeat('x', 4000)) $$, pg_temp.f('thread')),
  'a message of exactly 4000 characters is taken'
);
select tests.act_as('postgres');
delete from public.messages where body = repeat('x', 4000);
delete from private.domain_events where event_type = 'message.created'
   and subject_id not in (pg_temp.f('first'), pg_temp.f('second'));

-- attachments: the sender's own files in the thread's folder --------------------------------
insert into storage.objects (bucket_id, name, owner, owner_id, metadata) values
  ('message-attachments', pg_temp.f('thread') || '/' || pg_temp.uid('designer') || '/sketch.png', pg_temp.uid('designer'),
   pg_temp.uid('designer')::text, '{"size": 10, "mimetype": "image/png"}'),
  ('message-attachments', pg_temp.f('other thread') || '/' || pg_temp.uid('designer') || '/elsewhere.png', pg_temp.uid('designer'),
   pg_temp.uid('designer')::text, '{"size": 10, "mimetype": "image/png"}'),
  ('message-attachments', pg_temp.f('thread') || '/' || pg_temp.uid('tailor') || '/theirs.png', pg_temp.uid('tailor'),
   pg_temp.uid('tailor')::text, '{"size": 10, "mimetype": "image/png"}');
select tests.act_as('ms-designer@example.com');
select throws_ok(
  format($$ select public.post_message(%L, 'See this', array[%L]) $$, pg_temp.f('thread'),
         pg_temp.f('other thread') || '/' || pg_temp.uid('designer') || '/elsewhere.png'),
  '22023', format('attachment 1 is not a file of thread %s: upload it under %s/%s/ first', pg_temp.f('thread'), pg_temp.f('thread'), pg_temp.uid('designer')),
  'an attachment from another thread is refused'
);
select throws_ok(
  format($$ select public.post_message(%L, 'See this', array[%L]) $$, pg_temp.f('thread'),
         pg_temp.f('thread') || '/' || pg_temp.uid('tailor') || '/theirs.png'),
  '22023', format('attachment 1 is not a file you uploaded to thread %s: upload it under %s/%s/ first', pg_temp.f('thread'), pg_temp.f('thread'), pg_temp.uid('designer')),
  'someone else''s file is refused'
);
select throws_ok(
  format($$ select public.post_message(%L, 'See this', array[%L]) $$, pg_temp.f('thread'),
         pg_temp.f('thread') || '/' || pg_temp.uid('designer') || '/missing.png'),
  '22023', format('attachment 1 is not a file you uploaded to thread %s: upload it under %s/%s/ first', pg_temp.f('thread'), pg_temp.f('thread'), pg_temp.uid('designer')),
  'a file never uploaded is refused'
);
select throws_ok(
  format($$ select public.post_message(%L, 'Twice', array[%L, %L]) $$, pg_temp.f('thread'),
         pg_temp.f('thread') || '/' || pg_temp.uid('designer') || '/sketch.png', pg_temp.f('thread') || '/' || pg_temp.uid('designer') || '/sketch.png'),
  '22023', 'a message lists each attachment once', 'the same file twice is refused'
);
select throws_ok(
  format($$ select public.post_message(%L, 'Many', array(select %L || g from generate_series(1, 11) g)) $$, pg_temp.f('thread'), pg_temp.f('thread') || '/x'),
  '22023', 'a message has at most 10 attachments, 11 were given', 'more than ten attachments are refused'
);
select tests.act_as('postgres');
select results_eq($$ select * from pg_temp.suite_counts() $$, $$ select * from counts $$,
  'no refused post left a message or an event');
select tests.act_as('ms-designer@example.com');
insert into fixture select 'with file', (public.post_message(pg_temp.f('thread'), '',
  array[pg_temp.f('thread') || '/' || pg_temp.uid('designer') || '/sketch.png'])).id;
select is((select attachments from public.messages where id = pg_temp.f('with file')),
  array[pg_temp.f('thread') || '/' || pg_temp.uid('designer') || '/sketch.png'], 'a message of just an attachment is taken');

-- reading ----------------------------------------------------------------------------------
select tests.act_as('ms-tailor@example.com');
select results_eq(
  format($$ select id from public.messages where thread_id = %L order by seq desc limit 2 $$, pg_temp.f('thread')),
  $$ values (pg_temp.f('with file')), (pg_temp.f('second')) $$,
  'a participant reads the newest page, newest first'
);
select results_eq(
  format($$ select id from public.messages where thread_id = %L and seq < (select seq from public.messages where id = %L) order by seq desc limit 2 $$,
         pg_temp.f('thread'), pg_temp.f('second')),
  $$ values (pg_temp.f('first')) $$,
  'and the page before it from the cursor'
);
select tests.act_as('ms-stranger@example.com');
select is_empty(format($$ select 1 from public.messages where thread_id = %L $$, pg_temp.f('thread')), 'a stranger reads none of it');
select tests.act_as('anon');
select throws_ok($$ select 1 from public.messages $$, '42501', 'permission denied for table messages', 'anon reads no messages');
select tests.act_as('ms-designer@example.com');
select throws_ok(
  format($$ insert into public.messages (thread_id, body) values (%L, 'direct') $$, pg_temp.f('thread')),
  '42501', 'permission denied for table messages', 'messages are not inserted directly'
);
select throws_ok(
  format($$ update public.messages set body = 'direct' where id = %L $$, pg_temp.f('first')),
  '42501', 'permission denied for table messages', 'nor updated directly'
);

-- editing ----------------------------------------------------------------------------------
select tests.act_as('ms-designer@example.com');
select is((public.edit_message(pg_temp.f('first'), 'Hello, can you make a grey suit?')).body, 'Hello, can you make a grey suit?',
  'the sender edits their message');
select isnt((select edited_at from public.messages where id = pg_temp.f('first')), null, 'which is marked edited');
select throws_ok(
  format($$ select public.edit_message(%L, 'Mine now') $$, pg_temp.f('second')),
  '42501', format('message %s was sent by someone else: only its sender may edit it', pg_temp.f('second')),
  'nobody edits someone else''s message'
);
select throws_ok(
  format($$ select public.edit_message(%L, '  ') $$, pg_temp.f('first')),
  '22023', 'a message needs text or an attachment', 'an edit cannot empty a message'
);
select lives_ok(format($$ select public.edit_message(%L, '') $$, pg_temp.f('with file')),
  'a message with an attachment may lose its text');
select tests.act_as('ms-stranger@example.com');
select throws_ok(
  format($$ select public.edit_message(%L, 'Hi') $$, pg_temp.f('first')),
  'PT404', format('message %s not found', pg_temp.f('first')), 'a stranger cannot find the message to edit'
);
select tests.act_as('postgres');
update public.messages set created_at = now() - interval '16 minutes' where id = pg_temp.f('first');
select tests.act_as('ms-designer@example.com');
select throws_ok(
  format($$ select public.edit_message(%L, 'Too late') $$, pg_temp.f('first')),
  'PT409', format('message %s was sent more than 15 minutes ago: it can no longer be edited', pg_temp.f('first')),
  'past the edit window (message_edit_window_minutes, 15) the message stays as it is'
);
select tests.act_as('postgres');
update public.platform_settings set value = '30' where key = 'message_edit_window_minutes';
select tests.act_as('ms-designer@example.com');
select lives_ok(format($$ select public.edit_message(%L, 'Hello, can you make a navy suit?') $$, pg_temp.f('first')),
  'the window is a setting: at 30 minutes the edit goes through');
select is((select body from public.messages where id = pg_temp.f('first')), 'Hello, can you make a navy suit?', 'and is stored');

-- deleting ---------------------------------------------------------------------------------
select tests.act_as('ms-designer@example.com');
select throws_ok(
  format($$ select public.delete_message(%L) $$, pg_temp.f('second')),
  '42501', format('message %s was sent by someone else: only its sender may delete it', pg_temp.f('second')),
  'nobody deletes someone else''s message'
);
select results_eq(
  format($$ select body, attachments, deleted_at is not null from public.delete_message(%L) $$, pg_temp.f('with file')),
  $$ values ('', '{}'::text[], true) $$,
  'the sender deletes their message: the row stays, its text and attachments removed'
);
select throws_ok(
  format($$ select public.delete_message(%L) $$, pg_temp.f('with file')),
  'PT409', format('message %s is deleted: it cannot be deleted again', pg_temp.f('with file')), 'a message is deleted once'
);
select throws_ok(
  format($$ select public.edit_message(%L, 'Back') $$, pg_temp.f('with file')),
  'PT409', format('message %s is deleted: it cannot be edited', pg_temp.f('with file')), 'a deleted message is not edited back'
);

-- read receipts ----------------------------------------------------------------------------
select tests.act_as('ms-tailor@example.com');
select is((public.mark_thread_read(pg_temp.f('thread'), pg_temp.f('second'))).last_read_message_id, pg_temp.f('second'),
  'a participant marks the thread read up to a message');
select is((public.mark_thread_read(pg_temp.f('thread'), pg_temp.f('first'))).last_read_message_id, pg_temp.f('second'),
  'marking an older message read leaves the receipt where it is');
select is((public.mark_thread_read(pg_temp.f('thread'), pg_temp.f('with file'))).last_read_message_id, pg_temp.f('with file'),
  'a newer one moves it forward');
select throws_ok(
  format($$ select public.mark_thread_read(%L, %L) $$, pg_temp.f('other thread'), pg_temp.f('first')),
  'PT404', format('thread %s not found', pg_temp.f('other thread')), 'a receipt in a thread one is not in is refused'
);
select tests.act_as('ms-stranger@example.com');
select throws_ok(
  format($$ select public.mark_thread_read(%L, %L) $$, pg_temp.f('other thread'), pg_temp.f('first')),
  'PT404', format('message %s not found in thread %s', pg_temp.f('first'), pg_temp.f('other thread')),
  'a receipt for another thread''s message is refused'
);

-- leaving ----------------------------------------------------------------------------------
select tests.act_as('ms-third@example.com');
select public.leave_thread(pg_temp.f('thread'));
select tests.act_as('postgres');
-- One transaction has one now(): what came before the leaving is made older than it.
update public.messages set created_at = created_at - interval '2 minutes' where thread_id = pg_temp.f('thread');
update public.thread_participants set left_at = left_at - interval '1 minute' where user_id = pg_temp.uid('third');
select tests.act_as('ms-designer@example.com');
insert into fixture select 'after leaving', (public.post_message(pg_temp.f('thread'), 'Third has gone')).id;
select tests.act_as('postgres');
select is((select recipients from private.domain_events where subject_id = pg_temp.f('after leaving')), '{}'::uuid[],
  'a participant who left gets no events (and the other muted)');
select tests.act_as('ms-third@example.com');
select is(
  (select count(*)::int from public.messages where thread_id = pg_temp.f('thread')), 3,
  'a participant who left still reads the messages up to their leaving'
);
select is_empty(format($$ select 1 from public.messages where id = %L $$, pg_temp.f('after leaving')),
  'and nothing after');
select throws_ok(
  format($$ select public.post_message(%L, 'Wait') $$, pg_temp.f('thread')),
  'PT409', format('you left thread %s: you can no longer post in it', pg_temp.f('thread')), 'nor posts'
);
select throws_ok(
  format($$ select public.edit_message(%L, 'Edit after leaving') $$, pg_temp.f('second')),
  'PT409', format('you left thread %s: you can no longer post in it', pg_temp.f('thread')), 'nor edits'
);
select throws_ok(
  format($$ select public.mark_thread_read(%L, %L) $$, pg_temp.f('thread'), pg_temp.f('after leaving')),
  'PT404', format('message %s not found in thread %s', pg_temp.f('after leaving'), pg_temp.f('thread')),
  'nor marks read what came after'
);

select * from finish();
rollback;
