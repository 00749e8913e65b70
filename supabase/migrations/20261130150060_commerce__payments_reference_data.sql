-- The shop's payment, fulfilment and refund reference data (issue 17, 80_payments.sql,
-- 85_fulfilment.sql, 88_cancellations.sql): the event a late payment emits and the personal data the payment rows hold.

insert into private.event_types (event_type, domain, description) values
  ('checkout.late_payment', 'commerce', 'A payment arrived after its checkout had expired: it is refunded in full (to the buyer)');

-- Personal data (private.personal_data). Payments and transfers are the books' record: they
-- stay; the payment is the buyer's through their checkout, the transfer the seller's.
insert into private.personal_data (relation, user_column, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.shop_payments', 'checkout_id',
   't.checkout_id in (select c.id from public.checkouts c where c.buyer_id = $1)',
   'keep', true, '{}', 'the payments of the user''s checkouts: the books'' record, it stays (the checkout loses its buyer)'),
  ('public.shop_transfers', 'seller_id', null, 'keep', true, '{}',
   'what was paid out to the seller: the books'' record, it stays'),
  ('public.commission_rules', 'shop_id', null, 'delete', true, '{}', 'the shop''s commission rate (cascade with the shop)'),
  ('public.shop_refunds', 'requested_by', null, 'anonymise', true, '{}',
   'refunds the user asked for: the books'' record, it stays without them');
