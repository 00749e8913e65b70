-- Sending an issued invoice by e-mail (ops.billing_send_invoice, called by billing-send-invoice):
-- staff or the invoice's seller; recorded (to, by, when) and audited; invoice.sent emitted to
-- the customer with the PDF to attach; once per request id; a draft, a canceled invoice, a
-- customer without an address are refused; who reads the invoice reads its sends.
begin;
select plan(20);

select tests.create_user('is-customer@example.com');
select tests.create_user('is-staff@example.com');
select tests.grant_role('is-staff@example.com', 'staff');
select tests.create_user('is-seller@example.com');
select tests.grant_role('is-seller@example.com', 'seller');
select tests.create_user('is-other-seller@example.com');
select tests.grant_role('is-other-seller@example.com', 'seller');
select tests.create_user('is-stranger@example.com');

select tests.act_as('is-staff@example.com');
create temp table invs (name text primary key, id uuid);
grant select on invs to public;
insert into invs select 'issued', (public.create_invoice(tests.get_user_id('is-customer@example.com'), 'KRW',
  '[{"description": "디자인 상담", "quantity": 2, "unit_amount": 55000}]', tax_rate_bps => 1000) ->> 'id')::uuid;
insert into invs select 'draft', (public.create_invoice(tests.get_user_id('is-customer@example.com'), 'KRW',
  '[{"description": "Draft", "quantity": 1, "unit_amount": 1000}]') ->> 'id')::uuid;
insert into invs select 'canceled', (public.create_invoice(tests.get_user_id('is-customer@example.com'), 'USD',
  '[{"description": "Canceled", "quantity": 1, "unit_amount": 1000}]') ->> 'id')::uuid;
select public.issue_invoice(id) from invs where name in ('issued', 'canceled');
select public.set_invoice_status((select id from invs where name = 'canceled'), 'canceled');
select tests.act_as('is-seller@example.com');
insert into invs select 'seller', (public.create_invoice(tests.get_user_id('is-customer@example.com'), 'KRW',
  '[{"description": "Shop item", "quantity": 1, "unit_amount": 5000}]', seller_id => tests.get_user_id('is-seller@example.com')) ->> 'id')::uuid;
select public.issue_invoice((select id from invs where name = 'seller'));

select tests.act_as('service_role');
create temp table sent as
select ops.billing_send_invoice(tests.get_user_id('is-staff@example.com'), (select id from invs where name = 'issued'),
                                '00000000-0000-4000-a000-0000000000a1') as r;
grant select on sent to public;
select is((select r ->> 'to_address' from sent), 'is-customer@example.com', 'sent to the customer''s address');
select is((select (r ->> 'sent_by')::uuid from sent), tests.get_user_id('is-staff@example.com'), 'by the staff member');
select is((select r ->> 'repeated' from sent), 'false', 'a first send');
select tests.act_as('postgres');
select is((select jsonb_build_object('recipients', e.recipients, 'actor', e.actor_id, 'number', e.payload ->> 'number',
                                     'amount', e.payload ->> 'amount', 'attachments', e.payload -> 'attachments')
             from private.domain_events e where e.id = (select (r ->> 'event_id')::bigint from sent)),
  jsonb_build_object('recipients', array[tests.get_user_id('is-customer@example.com')], 'actor', tests.get_user_id('is-staff@example.com'),
    'number', (select number from public.invoices where id = (select id from invs where name = 'issued')), 'amount', '121,000',
    'attachments', jsonb_build_array(jsonb_build_object('bucket', 'invoices',
      'path', tests.get_user_id('is-customer@example.com') || '/' || (select id from invs where name = 'issued') || '.pdf',
      'filename', 'invoice-' || (select number from public.invoices where id = (select id from invs where name = 'issued')) || '.pdf',
      'content_type', 'application/pdf'))),
  'invoice.sent to the customer: its number, ₩121,000 (2 x 55,000 + 10%), the PDF to attach');
select is((select count(*)::integer from public.audit_log where table_name = 'invoice_sends'
             and row_id = (select r ->> 'id' from sent) and actor_id is null and after ->> 'sent_by' = tests.get_user_id('is-staff@example.com')::text),
  1, 'audited with who sent it');

-- The same request again: the first send, nothing emitted.
select tests.act_as('service_role');
select is((select ops.billing_send_invoice(tests.get_user_id('is-staff@example.com'), (select id from invs where name = 'issued'),
             '00000000-0000-4000-a000-0000000000a1') - 'repeated'), (select r - 'repeated' - 'number' from sent), 'a repeated request answers the first send');
select tests.act_as('postgres');
select is((select count(*)::integer from private.domain_events where event_type = 'invoice.sent'
             and subject_id = (select id from invs where name = 'issued')), 1, 'and emits nothing more');
select tests.act_as('service_role');
select throws_ok(format($$ select ops.billing_send_invoice(%L, %L, '00000000-0000-4000-a000-0000000000a1') $$,
    tests.get_user_id('is-staff@example.com'), (select id from invs where name = 'seller')),
  '23505', format('request 00000000-0000-4000-a000-0000000000a1 already sent invoice %s', (select id from invs where name = 'issued')),
  'a request id is one send of one invoice');
-- Another request is another send.
select isnt((select ops.billing_send_invoice(tests.get_user_id('is-staff@example.com'), (select id from invs where name = 'issued'),
             '00000000-0000-4000-a000-0000000000a2') ->> 'id'), (select r ->> 'id' from sent), 'a new request sends again');

-- The seller sends their own invoice, not another's; nobody else sends.
select is((select ops.billing_send_invoice(tests.get_user_id('is-seller@example.com'), (select id from invs where name = 'seller'),
             '00000000-0000-4000-a000-0000000000b1') ->> 'to_address'), 'is-customer@example.com', 'the seller sends their invoice');
select throws_ok(format($$ select ops.billing_send_invoice(%L, %L, gen_random_uuid()) $$,
    tests.get_user_id('is-other-seller@example.com'), (select id from invs where name = 'seller')),
  'PT404', format('invoice %s not found', (select id from invs where name = 'seller')), 'another seller: not found');
select throws_ok(format($$ select ops.billing_send_invoice(%L, %L, gen_random_uuid()) $$,
    tests.get_user_id('is-seller@example.com'), (select id from invs where name = 'issued')),
  'PT404', format('invoice %s not found', (select id from invs where name = 'issued')), 'a seller, the platform''s invoice: not found');
select throws_ok(format($$ select ops.billing_send_invoice(%L, %L, gen_random_uuid()) $$,
    tests.get_user_id('is-customer@example.com'), (select id from invs where name = 'issued')),
  'PT404', format('invoice %s not found', (select id from invs where name = 'issued')), 'the customer does not send it');

-- Refused states.
select throws_ok(format($$ select ops.billing_send_invoice(%L, %L, gen_random_uuid()) $$,
    tests.get_user_id('is-staff@example.com'), (select id from invs where name = 'draft')),
  'PT409', format('invoice %s is a draft: issue it before sending it', (select id from invs where name = 'draft')), 'a draft is not sent');
select throws_ok(format($$ select ops.billing_send_invoice(%L, %L, gen_random_uuid()) $$,
    tests.get_user_id('is-staff@example.com'), (select id from invs where name = 'canceled')),
  'PT409', format('invoice %s is canceled: only issued or paid invoices are sent', (select number from public.invoices where id = (select id from invs where name = 'canceled'))),
  'nor a canceled one');
select tests.act_as('postgres');
update auth.users set email = null where id = tests.get_user_id('is-customer@example.com');
select tests.act_as('service_role');
select throws_ok(format($$ select ops.billing_send_invoice(%L, %L, gen_random_uuid()) $$,
    tests.get_user_id('is-staff@example.com'), (select id from invs where name = 'issued')),
  'PT409', format('the customer of invoice %s has no e-mail address (account gone or without one)',
    (select number from public.invoices where id = (select id from invs where name = 'issued'))), 'nor to a customer without an address');
select tests.act_as('postgres');
update auth.users set email = 'is-customer@example.com' where id = (select customer_id from public.invoices where id = (select id from invs where name = 'issued'));

-- Reads.
select tests.act_as('is-customer@example.com');
select is((select count(*)::integer from public.invoice_sends), 3, 'the customer reads the sends of their invoices');
select tests.act_as('is-seller@example.com');
select is((select count(*)::integer from public.invoice_sends), 1, 'the seller those of theirs');
select tests.act_as('is-stranger@example.com');
select is_empty($$ select * from public.invoice_sends $$, 'a stranger none');
select throws_ok($$ insert into public.invoice_sends (invoice_id, request_id, to_address) values (gen_random_uuid(), gen_random_uuid(), 'x@example.com') $$,
  '42501', 'permission denied for table invoice_sends', 'nobody writes them through the API');

select * from finish();
rollback;
