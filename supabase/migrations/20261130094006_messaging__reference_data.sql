-- Messaging's registrations: the personal data threads hold.

insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, reason) values
  ('public.threads', 'created_by', null, 'anonymise', true, 'a thread stays for its other participants, without its creator'),
  ('public.threads', 'id', 't.id in (select tp.thread_id from public.thread_participants tp where tp.user_id = $1)', 'keep', true,
   'threads the user is in: they stay for the other participants'),
  ('public.thread_participants', 'user_id', null, 'delete', true, 'the user leaves every thread');
