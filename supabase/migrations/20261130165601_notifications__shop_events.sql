-- The shop's events become notifications (issue 17), wired as the marketplace's are: two
-- categories (shop: a buyer's shop orders and a seller's sales; inventory: low stock), a rule
-- per event type (category, the event's own recipients, the in-app title, body and link), and
-- an e-mail template per rule in English and Korean. Receipts and refunds are in the critical
-- payments category, as the marketplace's payment events are.
--
--   to the seller: checkout.placed (an order placed, awaiting payment), shop_sale.paid (a new
--                  order to fulfil), shop_sale.cancelled, shop_sale.refunded, stock.low (once per
--                  fall to the reorder level), shop.followed, product_review.created
--   to the buyer:  shop_order.paid (receipt), shop_order.shipped (carrier, tracking),
--                  shop_order.delivered (an invitation to review), shop_order.cancelled,
--                  shop_order.refunded, shop_order.download_ready, checkout.expired,
--                  checkout.late_payment

insert into public.notification_categories (key, description, critical, default_in_app, default_email, default_push, digestible) values
  ('shop', 'Your shop orders and sales: placed, paid, shipped, delivered, cancelled; downloads; followers', false, true, true, false, false),
  ('inventory', 'Stock of your products falling to their reorder level', false, true, true, false, false);

insert into private.notification_rules (event_type, category, recipient_rule, template_key, variables, title_template, body_template, action_url_template) values
  ('checkout.placed', 'shop', 'recipients', 'checkout.placed', '{}',
   'New order placed', 'A buyer placed an order in your shop; it awaits payment.', '/seller/orders'),
  ('checkout.expired', 'shop', 'recipients', 'checkout.expired', '{reason,total,currency,amount}',
   'Your checkout expired', 'Your checkout of {{amount}} was not paid in time ({{reason}}): nothing was charged.', '/checkouts/{{subject_id}}'),
  ('checkout.late_payment', 'payments', 'recipients', 'checkout.late_payment', '{status,amount}',
   'Your payment is being refunded', 'Your payment arrived after your checkout was {{status}}: it is refunded in full.', '/checkouts/{{subject_id}}'),
  ('shop_order.paid', 'payments', 'recipients', 'shop_order.paid', '{checkout_id,status,total,currency,amount,shop_name,reason,carrier,tracking_number,tracking_url}',
   'Receipt: {{amount}} paid to {{shop_name}}', 'Your order from {{shop_name}} is paid ({{amount}}). We will tell you when it ships.', '/shop/orders/{{subject_id}}'),
  ('shop_order.shipped', 'shop', 'recipients', 'shop_order.shipped', '{checkout_id,status,total,currency,amount,shop_name,reason,carrier,tracking_number,tracking_url}',
   'Your order from {{shop_name}} shipped', 'Carrier {{carrier}}, tracking number {{tracking_number}}.', '/shop/orders/{{subject_id}}'),
  ('shop_order.delivered', 'shop', 'recipients', 'shop_order.delivered', '{checkout_id,status,total,currency,amount,shop_name,reason,carrier,tracking_number,tracking_url}',
   'Your order from {{shop_name}} was delivered', 'How was it? Review what you bought.', '/shop/orders/{{subject_id}}/review'),
  ('shop_order.cancelled', 'shop', 'recipients', 'shop_order.cancelled', '{checkout_id,status,total,currency,amount,shop_name,reason,carrier,tracking_number,tracking_url}',
   'Your order from {{shop_name}} was cancelled', 'Reason: {{reason}}.', '/shop/orders/{{subject_id}}'),
  ('shop_order.refunded', 'payments', 'recipients', 'shop_order.refunded', '{checkout_id,status,total,currency,amount,shop_name,reason,carrier,tracking_number,tracking_url}',
   'Your order from {{shop_name}} was refunded', 'The payment for your order was refunded. Reason: {{reason}}.', '/shop/orders/{{subject_id}}'),
  ('shop_order.download_ready', 'shop', 'recipients', 'shop_order.download_ready', '{checkout_id,status,total,currency,amount,shop_name,reason,carrier,tracking_number,tracking_url,products,titles}',
   'Your download is ready', 'You can download {{titles}} now.', '/shop/orders/{{subject_id}}'),
  ('shop_sale.paid', 'shop', 'recipients', 'shop_sale.paid', '{checkout_id,status,total,currency,amount,shop_name,reason,carrier,tracking_number,tracking_url}',
   'New order to fulfil: {{amount}}', 'An order was paid: prepare and ship it.', '/seller/orders/{{subject_id}}'),
  ('shop_sale.cancelled', 'shop', 'recipients', 'shop_sale.cancelled', '{checkout_id,status,total,currency,amount,shop_name,reason,carrier,tracking_number,tracking_url}',
   'An order was cancelled', 'Order of {{amount}} cancelled. Reason: {{reason}}.', '/seller/orders/{{subject_id}}'),
  ('shop_sale.refunded', 'payments', 'recipients', 'shop_sale.refunded', '{checkout_id,status,total,currency,amount,shop_name,reason,carrier,tracking_number,tracking_url}',
   'An order was refunded', 'Order of {{amount}} refunded to the buyer. Reason: {{reason}}.', '/seller/orders/{{subject_id}}'),
  ('stock.low', 'inventory', 'recipients', 'stock.low', '{product_id,shop_id,title,available,reorder_level}',
   'Low stock: {{title}}', '{{available}} left, at or below your reorder level of {{reorder_level}}.', '/seller/inventory/{{product_id}}'),
  ('shop.followed', 'shop', 'recipients', 'shop.followed', '{follower_id}',
   'New follower', 'Someone started following your shop.', '/seller/followers'),
  ('product_review.created', 'reviews', 'recipients', 'product_review.created', '{product_id,rating}',
   'New product review', 'A buyer gave one of your products {{rating}} stars.', '/products/{{product_id}}');

-- The e-mails: a subject and a paragraph per key and language, between the greeting and (for
-- categories one can switch off) the unsubscribe line, as the other templates are laid out.
create temporary table shop_texts (key text primary key, en_subject text not null, en_paragraph text not null,
                                   ko_subject text not null, ko_paragraph text not null);
insert into shop_texts values
  ('checkout.placed', 'New order placed in your shop', 'A buyer placed an order in your shop. It awaits payment: we will tell you once it is paid.',
   '상점에 새 주문이 접수되었습니다', '구매자가 상점에 주문을 넣었습니다. 결제를 기다리는 중이며, 결제되면 알려 드립니다.'),
  ('checkout.expired', 'Your checkout expired', 'Your checkout of {{amount}} was not paid in time ({{reason}}). Nothing was charged and the items were released.',
   '결제 기한이 지났습니다', '{{amount}} 주문이 기한 안에 결제되지 않았습니다({{reason}}). 청구된 금액은 없으며 상품 예약이 해제되었습니다.'),
  ('checkout.late_payment', 'Your payment is being refunded', 'Your payment arrived after your checkout was {{status}}, so it is refunded to you in full.',
   '결제 금액이 환불됩니다', '주문이 {{status}} 상태가 된 뒤에 결제가 도착하여 전액 환불됩니다.'),
  ('shop_order.paid', 'Receipt: {{amount}} paid to {{shop_name}}',
   'Thank you: your order {{subject_id}} from {{shop_name}} is paid ({{amount}}). We will tell you when it ships.',
   '영수증: {{shop_name}}에 {{amount}} 결제 완료', '감사합니다. {{shop_name}}의 주문 {{subject_id}} 결제가 완료되었습니다({{amount}}). 발송되면 알려 드립니다.'),
  ('shop_order.shipped', 'Your order from {{shop_name}} has shipped',
   'Your order {{subject_id}} is on its way with {{carrier}}, tracking number {{tracking_number}}.{{#tracking_url}} Track it: {{tracking_url}}{{/tracking_url}}',
   '{{shop_name}}의 주문이 발송되었습니다',
   '주문 {{subject_id}}이(가) {{carrier}}(으)로 발송되었습니다. 운송장 번호: {{tracking_number}}.{{#tracking_url}} 배송 조회: {{tracking_url}}{{/tracking_url}}'),
  ('shop_order.delivered', 'Your order from {{shop_name}} was delivered',
   'Your order {{subject_id}} was delivered. How was it? Tell other buyers: review what you bought at {{app_url}}{{action_url}}',
   '{{shop_name}}의 주문이 배송 완료되었습니다',
   '주문 {{subject_id}}이(가) 배송 완료되었습니다. 어떠셨나요? 구매하신 상품의 리뷰를 남겨 주세요: {{app_url}}{{action_url}}'),
  ('shop_order.cancelled', 'Your order from {{shop_name}} was cancelled', 'Your order {{subject_id}} ({{amount}}) was cancelled. Reason: {{reason}}.',
   '{{shop_name}}의 주문이 취소되었습니다', '주문 {{subject_id}}({{amount}})이(가) 취소되었습니다. 사유: {{reason}}.'),
  ('shop_order.refunded', 'Your order from {{shop_name}} was refunded', 'The payment for your order {{subject_id}} was refunded. Reason: {{reason}}.',
   '{{shop_name}}의 주문이 환불되었습니다', '주문 {{subject_id}}의 결제 금액이 환불되었습니다. 사유: {{reason}}.'),
  ('shop_order.download_ready', 'Your download is ready', 'Your order {{subject_id}} from {{shop_name}} is paid: you can download {{titles}} now at {{app_url}}{{action_url}}',
   '다운로드가 준비되었습니다', '{{shop_name}}의 주문 {{subject_id}} 결제가 완료되었습니다. 지금 {{titles}}을(를) 다운로드할 수 있습니다: {{app_url}}{{action_url}}'),
  ('shop_sale.paid', 'New order to fulfil: {{amount}}', 'Order {{subject_id}} was paid ({{amount}}). Prepare it and mark it shipped with its tracking number.',
   '처리할 새 주문: {{amount}}', '주문 {{subject_id}}이(가) 결제되었습니다({{amount}}). 상품을 준비하고 운송장 번호와 함께 발송 처리해 주세요.'),
  ('shop_sale.cancelled', 'Order {{subject_id}} was cancelled', 'Order {{subject_id}} ({{amount}}) was cancelled. Reason: {{reason}}.',
   '주문 {{subject_id}}이(가) 취소되었습니다', '주문 {{subject_id}}({{amount}})이(가) 취소되었습니다. 사유: {{reason}}.'),
  ('shop_sale.refunded', 'Order {{subject_id}} was refunded', 'Order {{subject_id}} ({{amount}}) was refunded to the buyer. Reason: {{reason}}.',
   '주문 {{subject_id}}이(가) 환불되었습니다', '주문 {{subject_id}}({{amount}})이(가) 구매자에게 환불되었습니다. 사유: {{reason}}.'),
  ('stock.low', 'Low stock: {{title}}', '{{title}} has {{available}} left, at or below your reorder level of {{reorder_level}}. Restock it before it runs out.',
   '재고 부족: {{title}}', '{{title}}의 남은 수량이 {{available}}개로 재주문 기준 {{reorder_level}}개 이하입니다. 품절되기 전에 재고를 채워 주세요.'),
  ('shop.followed', 'Your shop has a new follower', 'Someone started following your shop.',
   '상점에 새 팔로워가 생겼습니다', '누군가 회원님의 상점을 팔로우하기 시작했습니다.'),
  ('product_review.created', 'A buyer reviewed your product', 'A buyer gave one of your products {{rating}} stars.',
   '구매자가 상품 리뷰를 남겼습니다', '구매자가 회원님의 상품에 별점 {{rating}}점을 주었습니다.');

insert into private.email_templates (key, locale, subject, html, text_body, variables)
select t.key, 'en', t.en_subject,
       '<p>Hello {{recipient_name}},</p><p>' || t.en_paragraph || '</p>'
         || case when c.critical then '' else '<p style="font-size:small"><a href="{{unsubscribe_url}}">Stop these e-mails</a></p>' end,
       'Hello {{recipient_name}},' || e'\n\n' || t.en_paragraph
         || case when c.critical then '' else e'\n\n' || 'Stop these e-mails: {{unsubscribe_url}}' end,
       private.email_template_placeholders(t.en_subject || ' ' || t.en_paragraph)
         || case when c.critical then array['recipient_name'] else array['recipient_name', 'unsubscribe_url'] end
  from shop_texts t
  join private.notification_rules r on r.template_key = t.key
  join public.notification_categories c on c.key = r.category;

insert into private.email_templates (key, locale, subject, html, text_body, variables)
select t.key, 'ko', t.ko_subject,
       '<p>안녕하세요.</p><p>' || t.ko_paragraph || '</p>'
         || case when c.critical then '' else '<p style="font-size:small"><a href="{{unsubscribe_url}}">이 알림 메일 수신 거부</a></p>' end,
       e'안녕하세요.\n\n' || t.ko_paragraph
         || case when c.critical then '' else e'\n\n이 알림 메일 수신 거부: {{unsubscribe_url}}' end,
       private.email_template_placeholders(t.ko_subject || ' ' || t.ko_paragraph)
         || case when c.critical then '{}'::text[] else array['unsubscribe_url'] end
  from shop_texts t
  join private.notification_rules r on r.template_key = t.key
  join public.notification_categories c on c.key = r.category;

drop table shop_texts;
