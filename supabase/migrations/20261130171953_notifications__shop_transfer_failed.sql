-- shop_transfer.failed (issue 17, the shop's transfer retries: 80_payments.sql) becomes a
-- notification, wired as the other shop events are (*_notifications__shop_events.sql): a rule
-- in the critical payments category (a seller's payout stopped: always delivered) to the event's
-- recipients, commerce staff and the seller, and its e-mail in English and Korean.

insert into private.notification_rules (event_type, category, recipient_rule, template_key, variables, title_template, body_template, action_url_template) values
  ('shop_transfer.failed', 'payments', 'recipients', 'shop_transfer.failed', '{amount,currency,amount_text,attempts,last_error}',
   'A payout of {{amount_text}} failed', 'The payout of shop order {{subject_id}} failed {{attempts}} times and is no longer retried: {{last_error}}.',
   '/seller/payouts');

insert into private.email_templates (key, locale, subject, html, text_body, variables) values
  ('shop_transfer.failed', 'en', 'A payout of {{amount_text}} failed',
   '<p>Hello {{recipient_name}},</p><p>The payout of {{amount_text}} for shop order {{subject_id}} failed {{attempts}} times and is no longer retried. The last error: {{last_error}}. Check the seller''s payout settings; staff can retry it once they are fixed.</p>',
   e'Hello {{recipient_name}},\n\nThe payout of {{amount_text}} for shop order {{subject_id}} failed {{attempts}} times and is no longer retried. The last error: {{last_error}}. Check the seller''s payout settings; staff can retry it once they are fixed.',
   array['amount_text', 'subject_id', 'attempts', 'last_error', 'recipient_name']),
  ('shop_transfer.failed', 'ko', '{{amount_text}} 정산 송금이 실패했습니다',
   '<p>안녕하세요.</p><p>상점 주문 {{subject_id}}의 {{amount_text}} 정산 송금이 {{attempts}}번 실패하여 더 이상 재시도하지 않습니다. 마지막 오류: {{last_error}}. 판매자의 정산 설정을 확인해 주세요. 설정이 고쳐지면 운영자가 다시 송금할 수 있습니다.</p>',
   e'안녕하세요.\n\n상점 주문 {{subject_id}}의 {{amount_text}} 정산 송금이 {{attempts}}번 실패하여 더 이상 재시도하지 않습니다. 마지막 오류: {{last_error}}. 판매자의 정산 설정을 확인해 주세요. 설정이 고쳐지면 운영자가 다시 송금할 수 있습니다.',
   array['amount_text', 'subject_id', 'attempts', 'last_error']);
