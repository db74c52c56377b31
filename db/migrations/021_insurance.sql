-- Medical insurance (医保, issue 13): an order may be split between the patient's medical insurance
-- and the patient. The insurance gateway is asked first what it covers (pre-settlement), then settles
-- that part; the patient pays the rest (the self-paid part) through WeChat Pay or Alipay. A refund
-- reverses the insured part through the gateway and refunds the self-paid part through the provider.
-- One row per order: its split and where the insured part stands.
create table insurance_settlements (
  order_id text primary key references payments (order_id),
  -- pre-settled: the split is known; settling: the gateway is being asked to settle (a crash leaves it
  -- here, and the settlement call is made again); settled; reversed (refunded, or the order expired);
  -- voided: the order was paid in full another way, or left pending without being settled.
  status text not null check (status in ('pre-settled', 'settling', 'settled', 'reversed', 'voided')),
  total integer not null check (total >= 0),
  insured integer not null check (insured >= 0),
  self integer not null check (self >= 0),
  -- [{kind, code, name, amount, insured}], fen
  items jsonb not null,
  pre_settlement_id text not null,
  settlement_id text,
  reversal_id text,
  reversal_reason text,
  pre_settled_at timestamptz not null default now(),
  settled_at timestamptz,
  reversed_at timestamptz,
  -- Whether the insured part counts toward the order's payment: false once the provider took the whole
  -- amount after all (the insured part then reversed as the excess).
  counted boolean not null default true,
  check (insured + self = total)
);

-- The part of an order that medical insurance paid: settled and counted toward the order (reversed
-- since or not). What the provider took (or takes) is the rest. Used by invoices, reconciliation and
-- refunds alike.
create function insured_part(order_id text) returns integer language sql stable as $$
  select coalesce((select s.insured from insurance_settlements s where s.order_id = insured_part.order_id and s.settled_at is not null and s.counted), 0)
$$;
create index insurance_settlements_settled on insurance_settlements (settled_at) where settled_at is not null;
create index insurance_settlements_reversed on insurance_settlements (reversed_at) where reversed_at is not null;

-- The sandbox insurance gateway's own books (development and tests): each settlement and reversal it
-- was told of, once per order; its daily statement is made from them.
create table sandbox_insurance_ledger (
  kind text not null check (kind in ('settlement', 'reversal')),
  order_id text not null,
  reference text not null,
  amount integer not null,
  at timestamptz not null default now(),
  primary key (kind, order_id)
);
-- The sandbox gateway's coverage rules (one row; PUT /v1/sandbox/insurance-rules).
create table sandbox_insurance_rules (
  id boolean primary key default true check (id),
  rules jsonb not null,
  updated_at timestamptz not null default now()
);

-- A third kind of outbox row: an insured part to reverse because its order expired unpaid (the
-- transaction that marks it expired queues it; the dispatcher asks the gateway, at least once, keyed
-- by the order id).
alter table outbox drop constraint outbox_kind_check;
alter table outbox add constraint outbox_kind_check check (kind in ('notification', 'payment-request', 'insurance-reversal'));
alter table outbox drop constraint outbox_kind_target;
alter table outbox add constraint outbox_kind_target check ((kind in ('payment-request', 'insurance-reversal')) = (order_id is not null));

-- Invoices show the amounts by payer, and an order whose both parts were paid back is wholly refunded.
create or replace function invoice_on_payment() returns trigger language plpgsql as $$
declare
  prior invoices;
  insured integer;
  refunded integer;
begin
  insured := insured_part(new.order_id);
  if new.status = 'paid' and old.status is distinct from 'paid' then
    insert into invoices (id, number, order_id, patient_id, status, items, payers, amount, channel)
    values ('inv:' || new.order_id, invoice_number(), new.order_id, invoice_patient(new), 'issued', coalesce(invoice_items(new), '[]'),
            jsonb_build_object('self', new.amount - insured, 'insurance', insured), new.amount, new.channel)
    on conflict do nothing;
  elsif new.status = 'refunded' and old.status is distinct from 'refunded' then
    update invoices set status = 'voided', voided_at = now() where order_id = new.order_id and status = 'issued' returning * into prior;
    -- The provider's part as its refund record says (without one, a provider that keeps its own: all of
    -- it), and insurance's part when it was reversed.
    refunded := coalesce((select r.amount from refunds r where r.order_id = new.order_id), new.amount - insured)
      + case when exists (select 1 from insurance_settlements s where s.order_id = new.order_id and s.status = 'reversed') then insured else 0 end;
    if prior.id is not null and refunded < new.amount then
      insert into invoices (id, number, order_id, patient_id, status, items, payers, amount, channel, replaces)
      values (prior.id || ':r', invoice_number(), new.order_id, prior.patient_id, 'issued',
              jsonb_build_array(jsonb_build_object('kind', 'remainder', 'code', new.order_id, 'name', 'after refund', 'quantity', 1, 'unitPrice', new.amount - refunded, 'amount', new.amount - refunded)),
              jsonb_build_object('self', new.amount - refunded, 'insurance', 0), new.amount - refunded, new.channel, prior.id);
    end if;
  end if;
  return new;
end $$;
