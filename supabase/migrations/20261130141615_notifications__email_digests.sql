-- Notifications: e-mail digests (supabase/schemas/70_notifications/55_email_deliveries.sql).
-- The messages category's e-mail is a digest by default: one mail per user and 15-minute
-- window listing its messages, with the message.digest template. The digests a user has are
-- personal data.

update public.notification_categories
   set digestible = true, digest_window = interval '15 minutes', default_email_digest = true,
       digest_template_key = 'message.digest'
 where key = 'messages';

insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('private.email_digests', 'recipient_id', null, 'delete', false, '{}', 'the user''s e-mail digests (which notifications went into which digest mail)');
