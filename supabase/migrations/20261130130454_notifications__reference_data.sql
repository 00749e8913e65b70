-- Notifications' reference data: the permission to send and broadcast notifications and
-- manage announcements (notifications.manage, admin role), the categories, the event
-- catalogue (every event type the earlier domains emit, with its category, recipients and
-- in-app template), the settings the consumer reads, and the personal data the domain holds.

insert into public.permissions (code, description) values
  ('notifications.manage', 'Send notifications to users, broadcast them, manage templates and announcements');

insert into public.role_permissions (role_id, permission)
select id, 'notifications.manage' from public.roles where name = 'admin';

insert into public.notification_categories (key, description, critical, default_in_app, default_email, default_push, digestible) values
  ('security', 'Sign-ins, password and security changes to your account', true, true, true, false, false),
  ('payments', 'Payments held, released, refunded or disputed', true, true, true, false, false),
  ('orders', 'Your orders: requirements, delivery, revisions, completion, disputes', false, true, true, false, false),
  ('bids', 'Bids on your projects and what happened to your bids', false, true, true, false, false),
  ('messages', 'New messages in your threads', false, true, false, false, false),
  ('reviews', 'Reviews others wrote about you', false, true, true, false, false),
  ('marketplace', 'Your services and projects: suspensions, reinstatements, closures', false, true, true, false, false),
  ('operations', 'Notices for the platform''s operators (reconciliation differences, second payments)', false, true, true, false, false),
  ('system', 'Announcements and messages from the platform''s team', false, true, true, false, false);

insert into private.notification_rules (event_type, category, recipient_rule, template_key, variables, title_template, body_template, action_url_template) values
  ('message.created', 'messages', 'recipients', 'message.created', '{thread_id,seq,attachments}',
   'New message', 'You have a new message in a conversation.', '/messages/{{thread_id}}'),
  ('project.closed', 'marketplace', 'recipients', 'project.closed', '{}',
   'A project you bid on was closed', 'The designer closed the project to bids.', '/projects/{{subject_id}}'),
  ('bid.accepted', 'bids', 'recipients', 'bid.accepted', '{project_id,order_id}',
   'Your bid was accepted', 'The designer accepted your bid: an order was opened.', '/orders/{{order_id}}'),
  ('bid.rejected', 'bids', 'recipients', 'bid.rejected', '{}',
   'Your bid was not selected', 'The designer chose another bid or declined yours.', null),
  ('bid.withdrawn', 'bids', 'recipients', 'bid.withdrawn', '{project_id}',
   'A bid was withdrawn', 'A tailor withdrew their bid on your project.', '/projects/{{project_id}}'),
  ('order.created', 'orders', 'recipients', 'order.created', '{kind,price_amount,currency}',
   'New order', 'An order was opened.', '/orders/{{subject_id}}'),
  ('order.requirements_approved', 'orders', 'recipients', 'order.requirements_approved', '{}',
   'Requirements approved', 'A party approved the order''s requirements.', '/orders/{{subject_id}}'),
  ('order.requirements_changed', 'orders', 'recipients', 'order.requirements_changed', '{}',
   'Requirements changed', 'The order''s requirements changed: both parties approve them again.', '/orders/{{subject_id}}'),
  ('order.awaiting_payment', 'orders', 'recipients', 'order.awaiting_payment', '{from_status,to_status}',
   'Order awaiting payment', 'The requirements are approved; the order waits for payment.', '/orders/{{subject_id}}'),
  ('order.in_progress', 'orders', 'recipients', 'order.in_progress', '{from_status,to_status}',
   'Order in progress', 'The order is paid and the work has started.', '/orders/{{subject_id}}'),
  ('order.delivered', 'orders', 'recipients', 'order.delivered', '{from_status,to_status}',
   'Order delivered', 'The seller delivered the order.', '/orders/{{subject_id}}'),
  ('order.revision_requested', 'orders', 'recipients', 'order.revision_requested', '{from_status,to_status}',
   'Revision requested', 'The buyer asked for a revision.', '/orders/{{subject_id}}'),
  ('order.completed', 'orders', 'recipients', 'order.completed', '{from_status,to_status}',
   'Order completed', 'The order is complete.', '/orders/{{subject_id}}'),
  ('order.disputed', 'orders', 'recipients', 'order.disputed', '{from_status,to_status}',
   'Dispute opened', 'A dispute was opened on the order.', '/orders/{{subject_id}}'),
  ('order.cancelled', 'orders', 'recipients', 'order.cancelled', '{from_status,to_status}',
   'Order cancelled', 'The order was cancelled.', '/orders/{{subject_id}}'),
  ('dispute.resolved', 'orders', 'recipients', 'dispute.resolved', '{resolution,refund_amount}',
   'Dispute resolved', 'The dispute was resolved: {{resolution}}.', '/orders/{{subject_id}}'),
  ('service.suspended', 'marketplace', 'recipients', 'service.suspended', '{reason}',
   'Your service was suspended', 'A marketplace manager suspended your service.', '/services/{{subject_id}}'),
  ('service.reinstated', 'marketplace', 'recipients', 'service.reinstated', '{reason}',
   'Your service was reinstated', 'Your service is listed again.', '/services/{{subject_id}}'),
  ('review.created', 'reviews', 'recipients', 'review.created', '{order_id,rating}',
   'New review', 'You received a {{rating}}-star review.', '/orders/{{order_id}}'),
  ('payment.pending', 'payments', 'recipients', 'payment.pending', '{from_status,to_status}',
   'Payment started', 'A payment was started for the order.', '/orders/{{subject_id}}'),
  ('payment.held', 'payments', 'recipients', 'payment.held', '{from_status,to_status}',
   'Payment held in escrow', 'The payment is held in escrow until the order completes.', '/orders/{{subject_id}}'),
  ('payment.released', 'payments', 'recipients', 'payment.released', '{from_status,to_status}',
   'Payment released', 'The escrow was released to the seller.', '/orders/{{subject_id}}'),
  ('payment.partially_refunded', 'payments', 'recipients', 'payment.partially_refunded', '{from_status,to_status}',
   'Partial refund', 'Part of the payment was refunded.', '/orders/{{subject_id}}'),
  ('payment.refunded', 'payments', 'recipients', 'payment.refunded', '{from_status,to_status}',
   'Payment refunded', 'The payment was refunded in full.', '/orders/{{subject_id}}'),
  ('payment.disputed', 'payments', 'recipients', 'payment.disputed', '{from_status,to_status}',
   'Chargeback opened', 'The buyer''s bank opened a chargeback.', '/orders/{{subject_id}}'),
  ('payment.second_payment', 'operations', 'permission:marketplace.manage', 'payment.second_payment', '{payment_intent,amount}',
   'Second payment to refund', 'A second payment arrived for an already paid order; refund it.', '/admin/orders/{{subject_id}}'),
  ('payment.refund_due', 'payments', 'recipients', 'payment.refund_due', '{order_status}',
   'Refund on its way', 'A refund is owed to you for this order.', '/orders/{{subject_id}}'),
  ('payments.reconciliation_differences', 'operations', 'recipients', 'payments.reconciliation_differences',
   '{orders_checked,orders_with_differences,triggered_by}',
   'Reconciliation found differences', '{{orders_with_differences}} of {{orders_checked}} orders differ from Stripe.', '/admin/reconciliation/{{subject_id}}');

-- Personal data notifications hold (private.personal_data).
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.notification_preferences', 'user_id', null, 'delete', true, '{}', 'the user''s notification choices');
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.notifications', 'user_id', null, 'delete', true, '{actor_id}', 'the user''s notification feed'),
  ('public.notifications', 'actor_id', null, 'anonymise', false, '{}', 'who caused another user''s notification'),
  ('private.notification_deliveries', 'recipient_id', null, 'delete', false, '{}', 'the delivery log of the user''s notifications');

-- How long the notifications consumer keeps processed domain events (days).
insert into public.platform_settings (key, value) values ('notification_event_retention_days', '30');
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.notification_broadcasts', 'created_by', null, 'anonymise', false, '{}', 'the admin who sent a notification to others');
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.announcements', 'created_by', null, 'anonymise', false, '{}', 'the admin who wrote an announcement');
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.notification_quiet_hours', 'user_id', null, 'delete', true, '{}', 'the user''s quiet hours');
