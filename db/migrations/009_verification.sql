-- The regulator's people rules: a clinician carries a licence number, years of practice and the time
-- the licence was verified (null: unverified); a patient is real-name verified by an identity
-- verification record (a coordinator's check or an identity provider's signed webhook). Records are
-- only ever added: the newest is the patient's verification.
alter table clinicians
  add column licence_number text,
  add column years_of_practice integer check (years_of_practice between 0 and 80),
  add column verified_at timestamptz,
  add column verified_by text;

create table identity_verifications (
  id text primary key,
  patient_id text not null references patients (id),
  method text not null,
  source text not null check (source in ('coordinator', 'identity-provider')),
  verified_by text not null,
  verified_at timestamptz not null,
  reference text,
  created_at timestamptz not null default now()
);
create index identity_verifications_patient on identity_verifications (patient_id, verified_at desc);
-- One record per patient and reference: a redelivered webhook adds nothing (another patient may carry
-- the same reference: siblings verified with a parent's document).
create unique index identity_verifications_reference on identity_verifications (patient_id, source, reference) where reference is not null;

-- The tables that are evidence (verifications, signatures, consents, the audit log) are append-only:
-- their triggers refuse UPDATE, DELETE and TRUNCATE, whoever asks.
create function append_only() returns trigger language plpgsql as $$
begin
  raise exception '% is append-only: % is refused', tg_table_name, tg_op using errcode = 'insufficient_privilege';
end $$;
create trigger identity_verifications_append_only before update or delete on identity_verifications
  for each row execute function append_only();
create trigger identity_verifications_no_truncate before truncate on identity_verifications
  for each statement execute function append_only();
