-- Threads: a signed-in user opens one with the people they name (a project's thread admits
-- its owner and its bidders and must include the owner; an order's its two parties); only
-- participants read a thread and its seats; a participant mutes their own seat and nobody
-- else's, leaves (keeping their seat, once), and sees their threads listed newest activity
-- first with the last message, unread count and participants, a page at a time.
begin;
select plan(41);

select tests.create_user('th-designer@example.com');
select tests.create_user('th-tailor@example.com');
select tests.create_user('th-bidder@example.com');
select tests.create_user('th-bidder2@example.com');
select tests.create_user('th-stranger@example.com');
select tests.create_user('th-admin@example.com');
select tests.grant_role('th-admin@example.com', 'admin');

create function pg_temp.uid(who text) returns uuid language sql as $$ select tests.get_user_id('th-' || who || '@example.com') $$;
grant execute on function pg_temp.uid(text) to authenticated, anon;

-- A project of the designer's with a bid from th-bidder; an order between designer and tailor.
insert into public.projects (owner_id, title, budget_amount, currency)
  values (pg_temp.uid('designer'), 'Thread coat', 10000, 'EUR');
insert into public.bids (project_id, tailor_id, amount, duration_days)
  values (tests.project_of('Thread coat'), pg_temp.uid('bidder'), 9000, 10),
         (tests.project_of('Thread coat'), pg_temp.uid('bidder2'), 9500, 12);
create temp table fixture as
  select tests.order_in('th-designer@example.com', 'th-tailor@example.com', 'awaiting_requirements') as order_id;
create function pg_temp.order_id() returns uuid language sql security definer as $$ select order_id from pg_temp.fixture $$;
grant execute on function pg_temp.order_id() to authenticated, anon;

create function pg_temp.thread(subject text) returns uuid language sql security definer as $$
  select id from public.threads t where t.subject = thread.subject
$$;
grant execute on function pg_temp.thread(text) to authenticated, anon;

-- opening ----------------------------------------------------------------------------------
select tests.act_as('th-designer@example.com');
select isnt((public.create_thread(array[pg_temp.uid('tailor')], 'Fabric question')).id, null, 'a user opens a thread with someone');
select is((select count(*)::int from public.thread_participants where thread_id = pg_temp.thread('Fabric question')), 2,
  'both have a seat');
select is(
  (select created_by from public.threads where subject = 'Fabric question'), pg_temp.uid('designer'),
  'the thread names its creator'
);
select lives_ok(
  $$ select public.create_thread(array[pg_temp.uid('bidder')], 'About your bid', tests.project_of('Thread coat')) $$,
  'the project''s owner opens a thread with a tailor who bid on it'
);
select throws_ok(
  format($$ select public.create_thread(array[%L::uuid], 'Hello', %L::uuid) $$, pg_temp.uid('stranger'), tests.project_of('Thread coat')),
  '42501', format('user %s may not join a thread about project %s: only its owner and the tailors who bid on it may',
                  pg_temp.uid('stranger'), tests.project_of('Thread coat')),
  'a thread about a project admits no one who has not bid on it'
);
select lives_ok(
  $$ select public.create_thread(array[pg_temp.uid('tailor')], 'Order chat', order_id => pg_temp.order_id()) $$,
  'a party opens a thread about their order with the other party'
);
select throws_ok(
  format($$ select public.create_thread(array[%L::uuid], 'Hello', order_id => %L::uuid) $$, pg_temp.uid('bidder'), pg_temp.order_id()),
  '42501', format('user %s may not join a thread about order %s: only its buyer and its seller may', pg_temp.uid('bidder'), pg_temp.order_id()),
  'a thread about an order admits only its two parties'
);
select throws_ok(
  $$ select public.create_thread(array[pg_temp.uid('tailor')], 'Both', tests.project_of('Thread coat'), pg_temp.order_id()) $$,
  '22023', 'a thread is about a project or an order, not both', 'a thread is about one deal at most'
);
select throws_ok(
  $$ select public.create_thread(array[pg_temp.uid('designer')], 'Alone') $$,
  '22023', 'a thread needs at least one participant besides you', 'a thread with only the caller is refused'
);
select throws_ok(
  $$ select public.create_thread('{}', 'Alone') $$,
  '22023', 'a thread needs at least one participant besides you', 'a thread with no one is refused'
);
select throws_ok(
  format($$ select public.create_thread(array[%L::uuid], 'Ghost') $$, '00000000-0000-0000-0000-000000000001'),
  'PT404', 'user 00000000-0000-0000-0000-000000000001 not found', 'a thread with an unknown user is refused'
);
select throws_ok(
  format($$ select public.create_thread(array[pg_temp.uid('tailor')], 'About', %L::uuid) $$, '00000000-0000-0000-0000-000000000002'),
  'PT404', 'project 00000000-0000-0000-0000-000000000002 not found', 'a thread about an unknown project is refused'
);
select throws_ok(
  format($$ select public.create_thread(array[pg_temp.uid('tailor')], 'About', order_id => %L::uuid) $$, '00000000-0000-0000-0000-000000000003'),
  'PT404', 'order 00000000-0000-0000-0000-000000000003 not found', 'a thread about an unknown order is refused'
);
select throws_ok(
  $$ select public.create_thread(array[pg_temp.uid('tailor')], repeat('s', 201)) $$,
  '22023', 'a thread''s subject is at most 200 characters', 'an overlong subject is refused'
);
select throws_ok(
  $$ select public.create_thread(array(select gen_random_uuid() from generate_series(1, 50)), 'Crowd') $$,
  '22023', 'a thread has at most 50 participants, 51 were named', 'a crowd is refused'
);
select tests.act_as('th-bidder@example.com');
select throws_ok(
  format($$ select public.create_thread(array[%L::uuid], 'Bidders only', %L::uuid) $$, pg_temp.uid('bidder2'), tests.project_of('Thread coat')),
  '22023', format('a thread about project %s includes its owner', tests.project_of('Thread coat')),
  'bidders cannot open a thread about a project without its owner'
);
select tests.act_as('th-stranger@example.com');
select set_config('request.jwt.claims', (current_setting('request.jwt.claims')::jsonb || '{"is_anonymous": true}')::text, true);
select throws_ok($$ select public.create_thread(array[pg_temp.uid('tailor')], 'Anon') $$, '42501',
  'anonymous users cannot open a message thread: add an e-mail address to your account first',
  'an anonymous user (is_anonymous claim) opens no thread');
select tests.act_as('anon');
select throws_ok($$ select public.create_thread(array[pg_temp.uid('tailor')], 'Anon') $$, '42501',
  'permission denied for function create_thread', 'anon cannot open threads');
select tests.act_as('postgres');
select is((select count(*)::int from public.threads where subject in ('Hello', 'Both', 'Alone', 'Ghost', 'About', 'Crowd', 'Anon', 'Bidders only')
             and created_by in (select id from auth.users where email like 'th-%@example.com')), 0,
  'no refused thread left anything behind');
select is((select count(*)::int from public.threads where order_id = pg_temp.order_id()), 2,
  'the order''s own thread (opened by bid acceptance) and the one opened about it both name the order');

-- reading ----------------------------------------------------------------------------------

select tests.act_as('th-tailor@example.com');
select is((select count(*)::int from public.threads where id = pg_temp.thread('Fabric question')), 1, 'a participant reads the thread');
select is((select count(*)::int from public.thread_participants where thread_id = pg_temp.thread('Fabric question')), 2,
  'and sees who is in it');
select tests.act_as('th-stranger@example.com');
select is_empty($$ select 1 from public.threads where id = pg_temp.thread('Fabric question') $$, 'a stranger does not read it');
select is_empty($$ select 1 from public.thread_participants where thread_id = pg_temp.thread('Fabric question') $$,
  'nor its seats');
select tests.act_as('th-admin@example.com');
select is_empty($$ select 1 from public.threads where id = pg_temp.thread('Fabric question') $$,
  'an admin who is not in it does not read it either: conversations are private');
select tests.act_as('anon');
select throws_ok($$ select 1 from public.threads $$, '42501', 'permission denied for table threads', 'anon reads no threads');

-- muting -----------------------------------------------------------------------------------
select tests.act_as('th-tailor@example.com');
select results_eq(
  $$ update public.thread_participants set muted = true where thread_id = pg_temp.thread('Fabric question') returning user_id $$,
  $$ values (pg_temp.uid('tailor')) $$,
  'a participant mutes the thread for themselves only (the other seat is not theirs to change)'
);
select throws_ok(
  $$ update public.thread_participants set left_at = null where thread_id = pg_temp.thread('Fabric question') $$,
  '42501', 'permission denied for table thread_participants', 'leaving is not a column a participant writes'
);
select throws_ok(
  $$ update public.thread_participants set last_read_message_id = null where thread_id = pg_temp.thread('Fabric question') $$,
  '42501', 'permission denied for table thread_participants', 'nor is the read receipt (mark_thread_read moves it)'
);

-- leaving ----------------------------------------------------------------------------------
select tests.act_as('th-tailor@example.com');
select isnt((public.leave_thread(pg_temp.thread('Fabric question'))).left_at, null, 'a participant leaves');
select is(
  (public.leave_thread(pg_temp.thread('Fabric question'))).left_at,
  (select left_at from public.thread_participants where thread_id = pg_temp.thread('Fabric question') and user_id = auth.uid()),
  'leaving again changes nothing'
);
select is((select count(*)::int from public.threads where id = pg_temp.thread('Fabric question')), 1,
  'a participant who left still reads the thread (its history)');
select tests.act_as('th-stranger@example.com');
select throws_ok(
  format($$ select public.leave_thread(%L) $$, pg_temp.thread('Fabric question')),
  'PT404', format('thread %s not found', pg_temp.thread('Fabric question')), 'a stranger cannot leave a thread they are not in'
);

-- listing ----------------------------------------------------------------------------------
select tests.act_as('th-designer@example.com');
select public.post_message(pg_temp.thread('Order chat'), 'First in order chat');
select tests.act_as('th-tailor@example.com');
select public.post_message(pg_temp.thread('Order chat'), 'Reply in order chat');
select public.post_message(pg_temp.thread('Order chat'), 'Another reply');
-- One transaction has one now(): the other threads are made older than the messages.
select tests.act_as('postgres');
update public.threads set created_at = created_at - interval '1 hour' where id <> pg_temp.thread('Order chat');
update public.threads set created_at = created_at - interval '2 hours' where id = pg_temp.thread('Order chat');
select tests.act_as('th-designer@example.com');
select is(
  (select count(*)::int from public.list_my_threads()), 4, 'the designer lists their four threads'
);
select is(
  (select subject from public.list_my_threads() limit 1), 'Order chat', 'the thread with the newest message comes first'
);
select is(
  (select unread_count from public.list_my_threads() where subject = 'Order chat'), 2,
  'its unread count is the other party''s two messages'
);
select is(
  (select last_message ->> 'body' from public.list_my_threads() where subject = 'Order chat'), 'Another reply',
  'with its last message'
);
select is(
  (select jsonb_array_length(participants) from public.list_my_threads() where subject = 'Order chat'), 2,
  'and its participants'
);
select is(
  (select array_agg(thread_id) from (
     select p2.thread_id from public.list_my_threads(page_size => 2) p1
       cross join lateral (select * from public.list_my_threads(p1.activity_at, p1.thread_id, 2)) p2
      where p1.thread_id = (select thread_id from public.list_my_threads(page_size => 2) offset 1 limit 1)) x),
  (select array_agg(thread_id) from (select thread_id from public.list_my_threads() offset 2) y),
  'the next page starts after the cursor and holds the rest'
);
select throws_ok($$ select * from public.list_my_threads(page_size => 0) $$, '22023', 'page_size is between 1 and 100',
  'a page of nothing is refused');
select throws_ok($$ select * from public.list_my_threads(now(), null) $$, '22023',
  'the cursor is the last row''s activity_at and thread_id, both or neither', 'half a cursor is refused');

select * from finish();
rollback;
