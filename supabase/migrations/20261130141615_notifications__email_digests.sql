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

-- The digest mail lists the latest messages (items, newest first, and how many more) besides
-- the count; the template row itself belongs to the templates' migration
-- (*_notifications__email.sql), changed here where the digest's variables are defined.
update private.email_templates set
  html = '<p>Hello {{recipient_name}},</p><p>You have {{count}} new messages in your conversations.</p>'
      || '<ul>{{#items}}<li><a href="{{app_url}}{{action_url}}">{{title}}</a> {{body}}</li>{{/items}}</ul>'
      || '{{#more}}<p>And {{more}} more.</p>{{/more}}'
      || '<p style="font-size:small"><a href="{{unsubscribe_url}}">Stop e-mails about messages</a></p>',
  text_body = e'Hello {{recipient_name}},\n\nYou have {{count}} new messages in your conversations.\n\n'
      || e'{{#items}}- {{title}}: {{body}} {{app_url}}{{action_url}}\n{{/items}}'
      || e'{{#more}}And {{more}} more.\n{{/more}}'
      || e'\nStop e-mails about messages: {{unsubscribe_url}}',
  variables = '{recipient_name,count,items,more,title,body,action_url,app_url,unsubscribe_url}'
 where key = 'message.digest' and locale = 'en';
