-- Electronic invoices (电子发票, issue 13): one for every settled payment, issued in the transaction that
-- marks the order paid, whatever marked it (a journey's, prescription's, exam's or consultation's
-- projection); voided in the transaction that marks it refunded, and reissued for what remains when a
-- refund was partial. Numbers are never reused.
create sequence invoice_numbers;

create table invoices (
  id text primary key,
  number text not null unique,
  order_id text not null references payments (order_id),
  patient_id text references patients (id),
  status text not null check (status in ('issued', 'voided')),
  -- what was paid for: [{kind, code, name, quantity, unitPrice, amount}]
  items jsonb not null,
  -- amounts by payer, fen: {"self": n, "insurance": n}
  payers jsonb not null,
  amount integer not null,
  channel text,
  issued_at timestamptz not null default now(),
  voided_at timestamptz,
  -- the invoice this one replaces (a partial refund's reissue)
  replaces text references invoices (id)
);
create index invoices_patient on invoices (patient_id, issued_at desc);
create unique index invoices_one_issued on invoices (order_id) where status = 'issued';

create function invoice_number() returns text language sql as $$
  select 'INV' || to_char(now() at time zone 'Asia/Shanghai', 'YYYYMMDD') || lpad(nextval('invoice_numbers')::text, 8, '0')
$$;

-- The items of an order, from what it pays for.
create function invoice_items(o payments) returns jsonb language sql stable as $$
  select case o.subject_type
    when 'journey' then (
      select jsonb_build_array(jsonb_build_object('kind', 'registration', 'code', j.pathway_id, 'name', coalesce(t.body->>'name', j.pathway_id),
        'quantity', 1, 'unitPrice', o.amount, 'amount', o.amount))
      from journeys j left join pathway_templates t on t.id = j.pathway_id and t.version = j.pathway_version where j.id = o.subject_id)
    when 'prescription' then (
      select coalesce(jsonb_agg(jsonb_build_object('kind', 'drug', 'code', i->>'drugCode', 'name', i->>'name', 'quantity', (i->>'quantity')::int,
        'unitPrice', (i->>'unitPrice')::int, 'amount', (i->>'quantity')::int * (i->>'unitPrice')::int)), '[]')
      from prescriptions p, jsonb_array_elements(p.snapshot->'items') i where p.id = o.subject_id)
    when 'exam' then (
      select jsonb_build_array(jsonb_build_object('kind', 'exam', 'code', e.snapshot->>'code', 'name', e.snapshot->>'name', 'quantity', 1, 'unitPrice', o.amount, 'amount', o.amount))
      from exams e where e.id = o.subject_id)
    when 'consultation' then (
      select jsonb_build_array(jsonb_build_object('kind', 'consultation', 'code', c.snapshot->'template'->>'id', 'name', coalesce((select t.body->>'name' from consultation_templates t where t.id = c.snapshot->'template'->>'id' and t.version = (c.snapshot->'template'->>'version')::int), 'consultation'), 'quantity', 1, 'unitPrice', o.amount, 'amount', o.amount))
      from consultations c where c.id = o.subject_id)
  end
$$;

create function invoice_patient(o payments) returns text language sql stable as $$
  select coalesce(
    (select j.patient_id from journeys j where j.id = o.journey_id),
    (select p.patient_id from prescriptions p where o.subject_type = 'prescription' and p.id = o.subject_id),
    (select e.patient_id from exams e where o.subject_type = 'exam' and e.id = o.subject_id),
    (select c.patient_id from consultations c where o.subject_type = 'consultation' and c.id = o.subject_id))
$$;

-- Paid: issued once. Refunded: the issued invoice voided and, when the refund left something paid,
-- a new one issued for what remains (its items scaled to it as one line).
create function invoice_on_payment() returns trigger language plpgsql as $$
declare
  prior invoices;
  refunded integer;
begin
  if new.status = 'paid' and old.status is distinct from 'paid' then
    insert into invoices (id, number, order_id, patient_id, status, items, payers, amount, channel)
    values ('inv:' || new.order_id, invoice_number(), new.order_id, invoice_patient(new), 'issued', coalesce(invoice_items(new), '[]'),
            jsonb_build_object('self', new.amount, 'insurance', 0), new.amount, new.channel)
    on conflict do nothing;
  elsif new.status = 'refunded' and old.status is distinct from 'refunded' then
    update invoices set status = 'voided', voided_at = now() where order_id = new.order_id and status = 'issued' returning * into prior;
    refunded := coalesce((select amount from refunds where order_id = new.order_id), new.amount);
    if prior.id is not null and refunded < new.amount then
      insert into invoices (id, number, order_id, patient_id, status, items, payers, amount, channel, replaces)
      values (prior.id || ':r', invoice_number(), new.order_id, prior.patient_id, 'issued',
              jsonb_build_array(jsonb_build_object('kind', 'remainder', 'code', new.order_id, 'name', 'after refund', 'quantity', 1, 'unitPrice', new.amount - refunded, 'amount', new.amount - refunded)),
              jsonb_build_object('self', new.amount - refunded, 'insurance', 0), new.amount - refunded, new.channel, prior.id);
    end if;
  end if;
  return new;
end $$;
create trigger invoice_on_payment after update of status on payments for each row execute function invoice_on_payment();
