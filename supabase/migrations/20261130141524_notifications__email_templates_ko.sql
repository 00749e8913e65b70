-- E-mail templates, continued: admin.notification (the mail of admin sends and broadcasts asked
-- with email => true: the title, the body, a link when the action URL is absolute, and the
-- unsubscribe line only for categories that can be switched off), and a Korean ('ko') version
-- of every key, so a user whose private_profiles.locale is 'ko' is mailed in Korean (the
-- sender picks the recipient's locale, else 'en'). The Korean mails greet without the name
-- ("안녕하세요."): the sender's fallback name is the English "there". Each declares exactly the
-- placeholders it uses, a subset of its 'en' version's, so the template check holds.

insert into private.email_templates (key, locale, subject, html, text_body, variables) values
  ('admin.notification', 'en', '{{title}}',
   '<p>Hello {{recipient_name}},</p><p>{{body}}</p>{{#link}}<p><a href="{{link}}">Open</a></p>{{/link}}'
   || '{{#can_unsubscribe}}<p style="font-size:small"><a href="{{unsubscribe_url}}">Stop these e-mails</a></p>{{/can_unsubscribe}}',
   e'Hello {{recipient_name}},\n\n{{body}}\n{{#link}}\nOpen: {{link}}\n{{/link}}'
   || e'{{#can_unsubscribe}}\nStop these e-mails: {{unsubscribe_url}}\n{{/can_unsubscribe}}',
   '{body,can_unsubscribe,link,recipient_name,title,unsubscribe_url}');

-- The Korean texts: subject and paragraph per key; the greeting and the unsubscribe line (when
-- the 'en' version has one) are added around them below.
create temporary table ko_texts (key text primary key, subject text not null, paragraph text not null);
insert into ko_texts (key, subject, paragraph) values
  ('bid.accepted', '입찰이 수락되었습니다',
   '좋은 소식입니다. 디자이너가 회원님의 입찰을 수락했습니다. 주문 {{order_id}}이(가) 열렸습니다. 작업을 시작하려면 디자이너와 요구 사항을 합의하세요.'),
  ('bid.rejected', '입찰이 선정되지 않았습니다', '디자이너가 다른 입찰을 선택했거나 회원님의 입찰을 거절했습니다.'),
  ('bid.withdrawn', '입찰이 철회되었습니다', '테일러가 회원님의 프로젝트에 대한 입찰을 철회했습니다.'),
  ('dispute.resolved', '분쟁이 해결되었습니다', '분쟁이 다음과 같이 해결되었습니다: {{resolution}}.'),
  ('message.created', '새 메시지', '대화에 새 메시지가 도착했습니다.'),
  ('order.awaiting_payment', '주문 {{subject_id}}: 결제 대기', '주문 {{subject_id}}의 상태가 {{from_status}}에서 {{to_status}}(으)로 바뀌었습니다.'),
  ('order.in_progress', '주문 {{subject_id}}: 진행 중', '주문 {{subject_id}}의 상태가 {{from_status}}에서 {{to_status}}(으)로 바뀌었습니다.'),
  ('order.delivered', '주문 {{subject_id}}: 납품됨', '주문 {{subject_id}}의 상태가 {{from_status}}에서 {{to_status}}(으)로 바뀌었습니다.'),
  ('order.revision_requested', '주문 {{subject_id}}: 수정 요청됨', '주문 {{subject_id}}의 상태가 {{from_status}}에서 {{to_status}}(으)로 바뀌었습니다.'),
  ('order.completed', '주문 {{subject_id}}: 완료됨', '주문 {{subject_id}}의 상태가 {{from_status}}에서 {{to_status}}(으)로 바뀌었습니다.'),
  ('order.disputed', '주문 {{subject_id}}: 분쟁 중', '주문 {{subject_id}}의 상태가 {{from_status}}에서 {{to_status}}(으)로 바뀌었습니다.'),
  ('order.cancelled', '주문 {{subject_id}}: 취소됨', '주문 {{subject_id}}의 상태가 {{from_status}}에서 {{to_status}}(으)로 바뀌었습니다.'),
  ('order.created', '새 주문', '새 주문이 생성되었습니다.'),
  ('order.requirements_approved', '요구 사항이 승인되었습니다', '한쪽 당사자가 주문의 요구 사항을 승인했습니다.'),
  ('order.requirements_changed', '요구 사항이 변경되었습니다', '주문의 요구 사항이 변경되었습니다. 양측이 다시 승인해야 합니다.'),
  ('payment.disputed', '지불 거절(차지백)이 접수되었습니다', '구매자의 은행이 지불 거절(차지백)을 접수했습니다.'),
  ('payment.held', '결제 금액이 에스크로에 보관되었습니다', '주문이 완료될 때까지 결제 금액은 에스크로에 안전하게 보관됩니다.'),
  ('payment.partially_refunded', '부분 환불 안내', '결제 금액의 일부가 환불되었습니다.'),
  ('payment.pending', '결제가 시작되었습니다', '주문에 대한 결제가 시작되었습니다.'),
  ('payment.refund_due', '환불이 진행 중입니다', '이 주문에 대해 회원님께 환불될 금액이 있습니다.'),
  ('payment.refunded', '주문 {{subject_id}}의 결제가 환불되었습니다', '주문 {{subject_id}}의 결제 금액이 구매자에게 전액 환불되었습니다.'),
  ('payment.released', '주문 {{subject_id}}의 대금이 지급되었습니다', '주문 {{subject_id}}의 에스크로 금액이 판매자에게 지급되었습니다.'),
  ('payment.second_payment', '환불이 필요한 중복 결제', '이미 결제가 완료된 주문에 두 번째 결제가 들어왔습니다. 환불해 주세요.'),
  ('payments.reconciliation_differences', '정산 대조에서 차이가 발견되었습니다',
   '확인한 주문 {{orders_checked}}건 중 {{orders_with_differences}}건이 Stripe 기록과 일치하지 않습니다.'),
  ('project.closed', '입찰하신 프로젝트가 마감되었습니다', '디자이너가 프로젝트의 입찰을 마감했습니다.'),
  ('review.created', '새 리뷰가 등록되었습니다', '별점 {{rating}}점짜리 리뷰를 받았습니다.'),
  ('service.reinstated', '서비스가 다시 게시되었습니다', '회원님의 서비스가 다시 목록에 게시되었습니다.'),
  ('service.suspended', '서비스가 일시 중지되었습니다', '마켓플레이스 관리자가 회원님의 서비스를 일시 중지했습니다.');

insert into private.email_templates (key, locale, subject, html, text_body, variables)
select k.key, 'ko', k.subject,
       '<p>안녕하세요.</p><p>' || k.paragraph || '</p>'
         || case when 'unsubscribe_url' = any (en.variables)
                 then '<p style="font-size:small"><a href="{{unsubscribe_url}}">이 알림 메일 수신 거부</a></p>' else '' end,
       e'안녕하세요.\n\n' || k.paragraph
         || case when 'unsubscribe_url' = any (en.variables) then e'\n\n이 알림 메일 수신 거부: {{unsubscribe_url}}' else '' end,
       private.email_template_placeholders(k.subject || ' ' || k.paragraph)
         || case when 'unsubscribe_url' = any (en.variables) then array['unsubscribe_url'] else '{}' end
  from ko_texts k
  join private.email_templates en on en.key = k.key and en.locale = 'en';

drop table ko_texts;

-- The four whose layout differs: the message digest (its items, as the 'en' version lists
-- them), the announcement, the admin mail, the newsletter confirmation.
insert into private.email_templates (key, locale, subject, html, text_body, variables) values
  ('message.digest', 'ko', '새 메시지 {{count}}개가 있습니다',
   '<p>안녕하세요.</p><p>대화에 읽지 않은 새 메시지가 {{count}}개 있습니다.</p>'
   || '<ul>{{#items}}<li><a href="{{app_url}}{{action_url}}">{{title}}</a> {{body}}</li>{{/items}}</ul>'
   || '{{#more}}<p>그 밖에 {{more}}개가 더 있습니다.</p>{{/more}}'
   || '<p style="font-size:small"><a href="{{unsubscribe_url}}">메시지 알림 메일 수신 거부</a></p>',
   e'안녕하세요.\n\n대화에 읽지 않은 새 메시지가 {{count}}개 있습니다.\n\n'
   || e'{{#items}}- {{title}}: {{body}} {{app_url}}{{action_url}}\n{{/items}}'
   || e'{{#more}}그 밖에 {{more}}개가 더 있습니다.\n{{/more}}'
   || e'\n메시지 알림 메일 수신 거부: {{unsubscribe_url}}',
   '{action_url,app_url,body,count,items,more,title,unsubscribe_url}'),
  ('announcement', 'ko', '{{title}}',
   '<p>안녕하세요.</p><p>{{body}}</p><p style="font-size:small"><a href="{{unsubscribe_url}}">수신 거부</a></p>',
   e'안녕하세요.\n\n{{body}}\n\n수신 거부: {{unsubscribe_url}}',
   '{body,title,unsubscribe_url}'),
  ('admin.notification', 'ko', '{{title}}',
   '<p>안녕하세요.</p><p>{{body}}</p>{{#link}}<p><a href="{{link}}">바로 가기</a></p>{{/link}}'
   || '{{#can_unsubscribe}}<p style="font-size:small"><a href="{{unsubscribe_url}}">이 알림 메일 수신 거부</a></p>{{/can_unsubscribe}}',
   e'안녕하세요.\n\n{{body}}\n{{#link}}\n바로 가기: {{link}}\n{{/link}}'
   || e'{{#can_unsubscribe}}\n이 알림 메일 수신 거부: {{unsubscribe_url}}\n{{/can_unsubscribe}}',
   '{body,can_unsubscribe,link,title,unsubscribe_url}'),
  ('newsletter.confirm', 'ko', '뉴스레터 구독을 확인해 주세요',
   '<p>안녕하세요.</p><p>이 주소로 뉴스레터를 받겠다는 요청이 있었습니다. 직접 요청하셨다면 '
   || '<a href="{{confirm_url}}">구독 확인</a>을 눌러 주세요. 이 링크는 24시간 동안 한 번만 사용할 수 있습니다.</p>'
   || '<p>요청하지 않으셨다면 이 메일을 무시하세요. 아무것도 발송되지 않습니다.</p>',
   e'안녕하세요.\n\n이 주소로 뉴스레터를 받겠다는 요청이 있었습니다. 직접 요청하셨다면 다음 링크에서 확인해 주세요: {{confirm_url}}\n'
   || e'이 링크는 24시간 동안 한 번만 사용할 수 있습니다.\n\n요청하지 않으셨다면 이 메일을 무시하세요. 아무것도 발송되지 않습니다.',
   '{confirm_url}');
