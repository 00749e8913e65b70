-- The invoice e-mail (issue 18; billing's 90_invoice_email.sql emits invoice.sent): the
-- catalogue's rule (category payments, which is critical: the mail and the in-app notice always
-- reach the customer, at once) and the invoice.sent template in English and Korean. The sender
-- attaches the PDF the event's payload names (attachments: bucket invoices, the invoice's path),
-- so the template only says it is attached. No unsubscribe line: the category is critical.

insert into private.notification_rules (event_type, category, recipient_rule, template_key, variables, title_template, body_template, action_url_template) values
  ('invoice.sent', 'payments', 'recipients', 'invoice.sent', '{invoice_id,number,kind,currency,total,amount,due_date,attachments}',
   'Invoice {{number}}', 'Invoice {{number}} for {{amount}} {{currency}} was sent to you; the PDF is attached to the e-mail.',
   '/invoices/{{invoice_id}}');

insert into private.email_templates (key, locale, subject, html, text_body, variables) values
  ('invoice.sent', 'en', 'Invoice {{number}}',
   '<p>Hello {{recipient_name}},</p><p>Please find attached invoice {{number}} for {{amount}} {{currency}}'
   || '{{#due_date}}, due on {{due_date}}{{/due_date}}.</p><p>The PDF is attached to this e-mail.</p>',
   e'Hello {{recipient_name}},\n\nPlease find attached invoice {{number}} for {{amount}} {{currency}}'
   || e'{{#due_date}}, due on {{due_date}}{{/due_date}}.\n\nThe PDF is attached to this e-mail.',
   '{recipient_name,number,amount,currency,due_date}'),
  ('invoice.sent', 'ko', '청구서 {{number}}',
   '<p>안녕하세요.</p><p>{{amount}} {{currency}} 금액의 청구서 {{number}}을(를) 보내드립니다'
   || '{{#due_date}} (납부 기한: {{due_date}}){{/due_date}}.</p><p>PDF 파일이 이 이메일에 첨부되어 있습니다.</p>',
   e'안녕하세요.\n\n{{amount}} {{currency}} 금액의 청구서 {{number}}을(를) 보내드립니다'
   || e'{{#due_date}} (납부 기한: {{due_date}}){{/due_date}}.\n\nPDF 파일이 이 이메일에 첨부되어 있습니다.',
   '{number,amount,currency,due_date}');
