-- Reconciliation runs in the order they began (a day's result is its latest-begun finished run, and
-- only that run may cancel the exceptions it no longer finds); invoices for orders paid before 019.
alter table reconciliation_runs add column seq bigserial;
create index reconciliation_runs_day_seq on reconciliation_runs (day, seq);

insert into invoices (id, number, order_id, patient_id, status, items, payers, amount, channel)
select 'inv:' || p.order_id, invoice_number(), p.order_id, invoice_patient(p), 'issued', coalesce(invoice_items(p), '[]'),
       jsonb_build_object('self', p.amount, 'insurance', 0), p.amount, p.channel
from payments p
where p.status = 'paid' and not exists (select 1 from invoices i where i.order_id = p.order_id)
order by p.paid_at nulls last, p.order_id;
