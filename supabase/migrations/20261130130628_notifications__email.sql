-- The e-mail channel's reference data: a template for every event in the catalogue
-- (private.notification_rules.template_key), written from its in-app title and body, then
-- richer ones for the events people act on (bid accepted, order status, payment released and
-- refunded) and the templates no event names (message digest, announcement); the personal data
-- the delivery log holds; and the sender's schedule (notifications-send-email every minute,
-- through pg_net as the payments jobs call theirs).

insert into private.email_templates (key, locale, subject, html, text_body, variables)
select r.template_key, 'en', r.title_template,
       '<p>Hello {{recipient_name}},</p><p>' || coalesce(nullif(r.body_template, ''), r.title_template) || '</p>'
         || case when c.critical then '' else '<p style="font-size:small"><a href="{{unsubscribe_url}}">Stop these e-mails</a></p>' end,
       'Hello {{recipient_name}},' || e'\n\n' || coalesce(nullif(r.body_template, ''), r.title_template)
         || case when c.critical then '' else e'\n\n' || 'Stop these e-mails: {{unsubscribe_url}}' end,
       private.email_template_placeholders(r.title_template || ' ' || r.body_template)
         || case when c.critical then array['recipient_name'] else array['recipient_name', 'unsubscribe_url'] end
  from private.notification_rules r
  join public.notification_categories c on c.key = r.category
on conflict (key, locale) do nothing;

update private.email_templates set
  subject = 'Your bid was accepted',
  html = '<p>Hello {{recipient_name}},</p><p>Good news: the designer accepted your bid. Order {{order_id}} is open; '
      || 'agree on the requirements with the designer to start.</p>'
      || '<p style="font-size:small"><a href="{{unsubscribe_url}}">Stop e-mails about bids</a></p>',
  text_body = e'Hello {{recipient_name}},\n\nGood news: the designer accepted your bid. Order {{order_id}} is open; '
      || e'agree on the requirements with the designer to start.\n\nStop e-mails about bids: {{unsubscribe_url}}',
  variables = '{recipient_name,order_id,unsubscribe_url}'
 where key = 'bid.accepted' and locale = 'en';

update private.email_templates set
  subject = 'Order ' || split_part(key, '.', 2) || ': {{subject_id}}',
  html = '<p>Hello {{recipient_name}},</p><p>Order {{subject_id}} moved from {{from_status}} to {{to_status}}.</p>'
      || '<p style="font-size:small"><a href="{{unsubscribe_url}}">Stop e-mails about orders</a></p>',
  text_body = e'Hello {{recipient_name}},\n\nOrder {{subject_id}} moved from {{from_status}} to {{to_status}}.\n\n'
      || 'Stop e-mails about orders: {{unsubscribe_url}}',
  variables = '{recipient_name,subject_id,from_status,to_status,unsubscribe_url}'
 where key in ('order.awaiting_payment', 'order.in_progress', 'order.delivered', 'order.revision_requested',
               'order.completed', 'order.disputed', 'order.cancelled') and locale = 'en';

update private.email_templates set
  subject = case key when 'payment.released' then 'Payment released for order {{subject_id}}'
                     else 'Payment refunded for order {{subject_id}}' end,
  html = '<p>Hello {{recipient_name}},</p><p>'
      || case key when 'payment.released' then 'The escrow of order {{subject_id}} was released to the seller.'
                  else 'The payment for order {{subject_id}} was refunded in full to the buyer.' end
      || '</p>',
  text_body = e'Hello {{recipient_name}},\n\n'
      || case key when 'payment.released' then 'The escrow of order {{subject_id}} was released to the seller.'
                  else 'The payment for order {{subject_id}} was refunded in full to the buyer.' end,
  variables = '{recipient_name,subject_id}'
 where key in ('payment.released', 'payment.refunded') and locale = 'en';

insert into private.email_templates (key, locale, subject, html, text_body, variables) values
  ('message.digest', 'en', 'You have {{count}} new messages',
   '<p>Hello {{recipient_name}},</p><p>You have {{count}} new messages in your conversations.</p>'
   || '<p style="font-size:small"><a href="{{unsubscribe_url}}">Stop e-mails about messages</a></p>',
   e'Hello {{recipient_name}},\n\nYou have {{count}} new messages in your conversations.\n\nStop e-mails about messages: {{unsubscribe_url}}',
   '{recipient_name,count,unsubscribe_url}'),
  ('announcement', 'en', '{{title}}',
   '<p>Hello {{recipient_name}},</p><p>{{body}}</p><p style="font-size:small"><a href="{{unsubscribe_url}}">Unsubscribe</a></p>',
   e'Hello {{recipient_name}},\n\n{{body}}\n\nUnsubscribe: {{unsubscribe_url}}',
   '{recipient_name,title,body,unsubscribe_url}'),
  ('newsletter.confirm', 'en', 'Confirm your newsletter subscription',
   '<p>Hello,</p><p>Someone asked to send this address our newsletter. If it was you, confirm: '
   || '<a href="{{confirm_url}}">Confirm my subscription</a>. The link works once, for 24 hours.</p>'
   || '<p>If it was not you, ignore this mail: nothing will be sent.</p>',
   e'Hello,\n\nSomeone asked to send this address our newsletter. If it was you, confirm: {{confirm_url}}\n'
   || e'The link works once, for 24 hours.\n\nIf it was not you, ignore this mail: nothing will be sent.',
   '{confirm_url}');

-- Personal data the e-mail channel holds (private.personal_data).
insert into private.personal_data (relation, user_column, matches, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.email_deliveries', 'recipient_id', 'user_id', null, 'delete', true, '{}', 'the e-mails sent to the user and their delivery status'),
  ('public.email_deliveries', 'to_address', 'email', null, 'anonymise', true, '{}', 'mail sent to the user''s address without their account (newsletter confirmations): the address is erased, the log entry stays'),
  ('public.newsletter_subscribers', 'email', 'email', null, 'anonymise', true, '{}', 'the user''s newsletter subscription, by address: the address is erased, so nothing is sent to it again');

-- The sender: every minute, notifications-send-email claims and sends the due deliveries.
select cron.schedule('notifications-send-email', '* * * * *',
  $$select private.call_edge_function('notifications-send-email', '{"limit": 100}'::jsonb)$$);
