-- Billing's reference data for the invoice e-mail (90_invoice_email.sql): the event a send
-- emits (the notifications catalogue mails it with the PDF attached:
-- *_notifications__invoice_email.sql) and the personal data invoice_sends holds.

insert into private.event_types (event_type, domain, description) values
  ('invoice.sent', 'billing', 'Staff or the invoice''s seller sent an issued invoice to its customer by e-mail (to the customer, with the PDF)');

insert into private.personal_data (relation, user_column, matches, reached_through, on_delete, exported, omit_from_export, reason) values
  ('public.invoice_sends', 'to_address', 'email', null, 'anonymise', true, '{}',
   'the address the user''s invoices were mailed to: erased with the account, the record of the send stays with the books'),
  ('public.invoice_sends', 'sent_by', 'user_id', null, 'anonymise', false, '{}',
   'sends a staff member or seller made stay, without them');
