-- Payments' reference data: how long a delivered order waits for its buyer before it is
-- completed and its escrow released.

insert into public.platform_settings (key, value) values ('auto_release_days', '14');

-- Personal data payments hold (private.personal_data). Escrow, refunds and the ledger are
-- the books: kept for accounting and tax law (GDPR art. 17(3)(b)), and exported.
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.seller_payment_accounts', 'user_id', null, 'delete', true, '{}', 'the user''s payout account link'),
  ('public.ledger_accounts', 'user_id', null, 'keep', true, '{}', 'the books: kept for accounting and tax law'),
  ('public.payments', 'buyer_id', null, 'keep', true, '{}', 'the escrow record: kept for accounting and tax law'),
  ('public.payments', 'seller_id', null, 'keep', true, '{}', 'the escrow record: kept for accounting and tax law'),
  ('public.payment_refunds', 'requested_by', null, 'keep', false, '{}', 'the refund record: kept for accounting and tax law'),
  ('public.payment_refunds', 'order_id', 't.order_id in (select o.id from public.orders o where $1 in (o.buyer_id, o.seller_id))',
   'keep', true, '{requested_by}', 'refunds of the user''s orders'),
  ('public.payment_chargebacks', 'order_id', 't.order_id in (select o.id from public.orders o where $1 in (o.buyer_id, o.seller_id))',
   'keep', true, '{}', 'chargebacks of the user''s orders'),
  ('public.payment_history', 'actor_id', null, 'keep', false, '{}', 'the escrow''s history: kept for accounting and tax law'),
  ('public.payment_history', 'order_id', 't.order_id in (select o.id from public.orders o where $1 in (o.buyer_id, o.seller_id))',
   'keep', true, '{actor_id}', 'the history of the user''s payments');

-- Event types payments emit (private.event_types).
insert into private.event_types (event_type, domain, description) values
  ('payment.pending', 'payments', 'A payment was started for an order'),
  ('payment.held', 'payments', 'The buyer''s money is held in escrow'),
  ('payment.released', 'payments', 'The escrow was transferred to the seller'),
  ('payment.partially_refunded', 'payments', 'Part of the payment was refunded to the buyer'),
  ('payment.refunded', 'payments', 'The payment was refunded in full'),
  ('payment.disputed', 'payments', 'The buyer''s bank opened a chargeback'),
  ('payment.second_payment', 'payments', 'A second payment arrived for an already paid order: an admin refunds it'),
  ('payment.refund_due', 'payments', 'A refund is owed to the buyer'),
  ('payments.reconciliation_differences', 'payments', 'A reconciliation run found the books and Stripe disagree');

-- What keeps an account from being erased (private.erasure_blockers, read by ops.erase_account).
insert into private.erasure_blockers (name, check_function, position, reason) values
  ('escrow_held', 'private.escrow_blocking_erasure(uuid)', 20,
   'money held in escrow on the user''s orders must be released or refunded first');
