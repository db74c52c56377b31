-- A patient's consents (issue 10, rule 6), per scope: `record-sharing` (their record may be sent to
-- another facility: referrals) and `outreach` (reminders and education). Every change is appended,
-- never rewritten: who changed it (the patient, or staff on the patient's behalf), when and why. The
-- newest row of a scope (highest `seq`) is the current state. A patient with no row for a scope has
-- consented: consent is given at registration (activities/consent.ts reads it so).
create table patient_consents (
  seq integer generated always as identity primary key,
  patient_id text not null references patients (id),
  scope text not null check (scope in ('record-sharing', 'outreach')),
  granted boolean not null,
  changed_at timestamptz not null default now(),
  changed_by text not null,
  reason text
);
-- The current state of a scope: the newest row of (patient, scope).
create index patient_consents_current on patient_consents (patient_id, scope, seq desc);

-- (append_only() is 009_verification.sql's.)
create trigger patient_consents_no_update before update or delete on patient_consents
  for each row execute function append_only();
create trigger patient_consents_no_truncate before truncate on patient_consents
  for each statement execute function append_only();
